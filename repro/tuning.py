"""Choosing a hyper-parameter among values whose runs the grid already trains, with keras-tuner.

Where a protocol trains every value and then keeps "the better one"
(e.g. each arm trained at lr 0.1 and at 0.02), the choice is a
keras-tuner grid search whose trials do not train: a trial's objective is
read from the finished runs of that value (``objective(value)``, which may
train them first through :func:`repro.runner.ensure`). The
tuner's directory (``oracle.json``, one ``trial_*`` folder per value) lives
in the searching run's directory (the grid's choice) or in
``<scale>/tune/<search>`` (``repro tune``), so a rerun reloads the finished
trials instead of asking again, and ``keras_tuner`` tools can inspect the search.

The values ``repro tune`` chose are kept in ``<out>/<paper>/<scale>/tuned.json``
(:func:`read_tuned`, :func:`record_tuned`), which ``repro run`` reads.

Inside a grid, a search's choice is an analysis run (:func:`choose`) whose
key is the search's name and whose inputs are the runs of every trial; a
run at "the chosen value" declares it (:class:`repro.schedule.Chosen`).
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import keras_tuner as kt

from repro.errors import ReproError
from repro.registry import Search
from repro.runs import AnalysisRun
from repro.files import locked, write_json

TUNED_FILE = "tuned.json"


class _ValuesOracle(kt.Oracle):
    """A grid over one hyper-parameter's values, in their listed order, whose only state is its trials.

    keras-tuner's ``GridSearchOracle`` keeps its ordering of trials in memory
    and fails with a ``KeyError`` when a search reloaded in a new process
    finishes its first trial (keras-team/keras-tuner#1055); here the next
    value is the first one no trial holds yet, so a reloaded search (and the
    interrupted trial keras-tuner asks again) continues where it stopped.
    """

    def populate_space(self, trial_id):
        (hyperparameter,) = self.hyperparameters.space
        tried = {trial.hyperparameters.get(hyperparameter.name) for trial in self.trials.values()}
        for value in hyperparameter.values:
            if value not in tried:
                return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": {hyperparameter.name: value}}
        return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}


class _RecordedRuns(kt.engine.base_tuner.BaseTuner):
    """A tuner whose trial objective comes from a callback instead of fitting a model."""

    def __init__(self, name: str, objective_name: str, objective: Callable[[object], float], **kwargs):
        super().__init__(**kwargs)
        self._name, self._objective_name, self._objective = name, objective_name, objective
        self.failure: BaseException | None = None

    def run_trial(self, trial, **kwargs):
        try:
            return {self._objective_name: float(self._objective(trial.hyperparameters.get(self._name)))}
        except Exception as exc:  # keras-tuner would print its traceback and raise its own RuntimeError
            self.failure = exc
            raise kt.errors.FatalError(str(exc)) from exc


def choose_best(directory: Path, name: str, values: Sequence, objective: Callable[[object], float],
                objective_name: str = "score", direction: str = "max",
                reloaded: Callable[[object, float], None] | None = None) -> tuple[object, dict]:
    """The value of ``name`` with the best ``objective`` by keras-tuner grid search, and every trial's score.

    Ties go to the value listed first. ``reloaded(value, score)`` is told of
    every trial a previous search finished (the tuner reloads it instead of
    calling ``objective``); a trial interrupted by Ctrl-C is asked again. If
    a trial fails, its exception is raised and the tuner directory removed,
    so a rerun asks every value again.
    """
    hyperparameters = kt.HyperParameters()
    hyperparameters.Choice(name, list(values), ordered=False)
    oracle = _ValuesOracle(objective=kt.Objective(objective_name, direction), hyperparameters=hyperparameters,
                           max_trials=len(values), max_consecutive_failed_trials=1)
    tuner = _RecordedRuns(name, objective_name, objective, oracle=oracle, directory=str(directory),
                          project_name="tuner", overwrite=False)
    if reloaded is not None:
        for trial in oracle.trials.values():
            if trial.status == kt.engine.trial.TrialStatus.COMPLETED and trial.score is not None:
                reloaded(trial.hyperparameters.get(name), float(trial.score))
    try:
        tuner.search(verbose=0)
    except (RuntimeError, kt.errors.FatalError):
        shutil.rmtree(Path(directory) / "tuner", ignore_errors=True)
        if tuner.failure is not None:
            raise tuner.failure from None
        raise
    trials = [t for t in oracle.trials.values() if t.score is not None]
    scores = {t.hyperparameters.get(name): float(t.score) for t in trials}
    if set(scores) != set(values):
        raise ValueError(f"tuner trials for {name} in {directory} scored {sorted(scores)}, expected {list(values)}")
    sign = 1 if direction == "max" else -1
    best = max(values, key=lambda v: (sign * scores[v], -list(values).index(v)))
    return best, scores


def search_score(search: Search, value, result: Callable[[str], dict]) -> float:
    """A trial's objective: the mean of ``search.objective.metric`` over the results of the runs of ``value``.

    ``result(run_key)`` gives a run's result, training it first if needed
    (:func:`repro.runner.ensure`). A value one of whose runs diverged (``diverged_step``) scores the worst
    possible, whatever its other runs did.
    """
    results = [result(key) for key in search.trials[value]]
    if any(r.get("diverged_step") not in (None, "") for r in results):
        return -math.inf if search.objective.direction == "max" else math.inf  # a value that diverged is the worst
    return float(np.mean([float(r[search.objective.metric]) for r in results]))


@dataclass(frozen=True)
class Tuned:
    """A value ``repro tune`` chose: the value, the score of every candidate, and the command that chose it."""

    value: object
    scores: dict
    command: str


def read_tuned(scale_dir: Path, search: Search) -> Tuned | None:
    """The value recorded for ``search`` in ``<scale_dir>/tuned.json``, or None if it has none.

    :class:`ReproError` if the entry was written for another declaration of
    the search (other candidates, runs or objective) or names a value that
    is not a candidate.
    """
    path = Path(scale_dir) / TUNED_FILE
    entry = _load(path).get("searches", {}).get(search.name)
    if entry is None:
        return None
    declaration = search.declaration()
    if {key: entry.get(key) for key in declaration} != declaration or entry.get("chosen") not in search.values:
        raise ReproError(f"{path} holds search {search.name} for another declaration or with a value that is not "
                         f"a candidate of {search.values}: rerun `{entry.get('command', 'repro tune')}` "
                         f"or delete its entry")
    scores = entry.get("scores", {})
    return Tuned(entry["chosen"], {v: scores.get(str(v)) for v in search.values}, entry.get("command", ""))


def record_tuned(scale_dir: Path, paper: str, scale: str, search: Search, best, scores: dict, command: str) -> None:
    """Write (or replace) ``search``'s entry of ``<scale_dir>/tuned.json`` atomically, keeping the other entries.

    The read-modify-write holds the scale's lock (:func:`repro.files.locked`),
    so two ``repro tune`` commands on different searches keep both entries.
    """
    path = Path(scale_dir) / TUNED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / ".lock"):
        payload = _load(path)
        payload.update(paper=paper, scale=scale)
        payload.setdefault("searches", {})[search.name] = dict(
            search.declaration(), chosen=best, scores={str(v): scores[v] for v in search.values}, command=command)
        write_json(path, payload)


def _load(path: Path) -> dict:
    """``tuned.json`` as a dict (empty if there is none); :class:`ReproError` if it is not valid JSON."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReproError(f"{path} is not valid JSON ({exc}): fix it, or delete it and rerun `repro tune`") from exc


def choose(run: AnalysisRun, workspace) -> dict:
    """The grid's choice run of the search ``run.params``: the value ``repro tune`` recorded in ``tuned.json`` if
    there is one, otherwise a keras-tuner grid search (:func:`choose_best`) over the finished runs of every
    candidate, with the tuner's directory in ``<run dir>/tuner``. Its result holds ``chosen_<hparam>`` and the score
    of every candidate (``score_<hparam><value>``)."""
    search: Search = run.params
    tuned = read_tuned(workspace.scale_dir, search)
    if tuned is not None:
        best, scores, provenance = tuned.value, tuned.scores, {"chosen_by": "tuned.json"}
    else:
        best, scores = choose_best(workspace.run_dir(run.key), search.hparam, search.values,
                                   lambda value: search_score(search, value, workspace.result),
                                   search.objective.metric, search.objective.direction)
        provenance = {}
    return {f"chosen_{search.hparam}": best, **{f"score_{search.hparam}{_text(v)}": scores[v] for v in search.values},
            **provenance}


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)
