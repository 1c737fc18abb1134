"""``repro tune``: run the hyper-parameter searches a paper's protocol declares, with keras-tuner.

Each :class:`repro.registry.Search` (declared in the paper's protocol
module) is a keras-tuner grid search (:func:`repro.tuning.choose_best`) over
its candidate values. A trial trains the runs of its value, with what they
need, through the one executor (:func:`repro.runner.ensure`; finished runs
are found again) and scores them by the search's objective. Under
``<out>/<paper>/<scale>/tune``:

* ``<search>/tuner/``: the keras-tuner project; a rerun reloads the
  finished trials instead of asking again, retries the trial that was
  interrupted, and that trial's interrupted run resumes from its checkpoint;
* ``<search>/<hparam>=<value>/``: one TensorBoard HParams session per
  trial (its hyper-parameter values and the objective scalar), below one
  ``hparams_config`` at ``tune/`` declaring every search of the paper at the
  scale, so ``tensorboard --logdir <out>/<paper>/<scale>/tune`` shows the
  trials in the HParams tab.

The chosen value of each search and the scores of all its values go to
``<out>/<paper>/<scale>/tuned.json`` (:func:`repro.tuning.record_tuned`),
which ``repro run`` reads.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from repro.errors import ReproError
from repro.registry import Paper, Search
from repro.runner import clean_failed, ensure, missing_parents, workspace_for
from repro.store import read_result
from repro.tuning import TUNED_FILE, choose_best, record_tuned, search_score
from repro.workspace import Workspace, say

TUNE_DIR = "tune"
SESSION_FIELDS = ("search", "experiment", "arm", "condition", "target")


def objective_tag(search: Search) -> str:
    """The scalar tag of a search's objective in its trials' TensorBoard sessions."""
    return f"objective/{search.objective.metric}"


def trial_dir(log_root: Path, search: Search, value) -> Path:
    """The TensorBoard session directory of one trial: ``<log root>/<search>/<hparam>=<value>``."""
    return log_root / search.name / f"{search.hparam}={value}"


def write_hparams_config(log_root: Path, searches: Sequence[Search]) -> None:
    """One ``hparams_config`` at ``log_root``: the searches' fields and hyper-parameters, their objectives.

    TensorBoard reads a single experiment per log directory, so it declares
    every search of the paper at the scale (the same for every ``repro tune``
    of that paper and scale).
    """
    domains = {name: {_field(s, name) for s in searches} for name in SESSION_FIELDS}
    for search in searches:
        domains.setdefault(search.hparam, set()).update(search.values)
    hparams = [hp.HParam(name, hp.Discrete(sorted(values))) for name, values in domains.items()]
    metrics = {objective_tag(s): f"{s.objective.metric} ({s.objective.direction}, on {s.objective.split})"
               for s in searches}
    log_root.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(log_root))
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=[hp.Metric(tag, display_name=name) for tag, name in metrics.items()])
    writer.close()


def write_trial(log_root: Path, search: Search, value, score: float) -> None:
    """One trial's HParams session: its values (``trial_id`` = ``<search> <hparam>=<value>``) and its objective.

    The session directory is rewritten, so a trial asked again after an
    interruption leaves one session, not two.
    """
    directory = trial_dir(log_root, search, value)
    shutil.rmtree(directory, ignore_errors=True)
    writer = tf.summary.create_file_writer(str(directory))
    with writer.as_default():
        hp.hparams({**{name: _field(search, name) for name in SESSION_FIELDS}, search.hparam: value},
                   trial_id=f"{search.name} {search.hparam}={value}")
        tf.summary.scalar(objective_tag(search), score, step=0)
    writer.close()


def _field(search: Search, name: str) -> str:
    return search.name if name == "search" else getattr(search, name)


def search_command(paper: str, search: Search, scale: str, data_dir: str | None) -> str:
    """The command that runs ``search`` alone (recorded in ``tuned.json``)."""
    return (f"repro tune {paper} {search.experiment} --scale {scale} --only '^{search.name}$'"
            + (f" --data-dir {data_dir}" if data_dir else ""))


def tune(paper: Paper, searches: Sequence[Search], scale: str, out: Path, data_dir: str | None = None,
         printer: Callable[[str], None] = say) -> dict:
    """Run ``searches`` of ``paper`` at ``scale``; record and return ``{search name: chosen value}``."""
    workspace = workspace_for(paper, scale, out, data_dir, printer)
    created = missing_parents(workspace.scale_dir)
    try:
        return _search(workspace, searches, printer, data_dir)
    except (ReproError, OSError):
        clean_failed(workspace, [key for s in searches for keys in s.trials.values() for key in keys], created)
        raise


def _search(workspace: Workspace, searches: Sequence[Search], printer: Callable[[str], None],
            data_dir: str | None) -> dict:
    paper, scale = workspace.paper, workspace.scale
    log_root = workspace.scale_dir / TUNE_DIR
    write_hparams_config(log_root, paper.searches(scale))
    total = sum(len(s.values) for s in searches)
    printer(f"{paper.key} / {scale}: {len(searches)} searches, {total} trials -> {log_root}")
    count, started, chosen = [0], time.time(), {}

    def report(search: Search, value, text: str) -> None:
        count[0] += 1
        printer(f"[{count[0]:>3}/{total}] {search.name} {search.hparam}={value}  {text}")

    for search in searches:
        objective = search.objective
        printer(f"{search.name}: {search.arm} ({search.condition}) on {search.target}, {search.hparam} in "
                f"{list(search.values)}, objective {objective.direction} mean {objective.metric} on {objective.split}")

        def run_trial(value, search=search) -> float:
            trial_started, keys = time.time(), search.trials[value]
            trained = [key for key in keys if read_result(workspace.run_dir(key)) is None]
            for key in trained:
                printer(f"      training {key}")
            score = search_score(search, value, lambda key: ensure([key], workspace)[key])
            write_trial(log_root, search, value, score)
            report(search, value, f"{objective.metric}={score:.4f}  {len(keys)} runs ({len(trained)} trained) "
                                  f"{time.time() - trial_started:6.1f}s")
            return score

        best, scores = choose_best(
            log_root / search.name, search.hparam, search.values, run_trial, objective.metric, objective.direction,
            reloaded=lambda value, score, search=search: report(
                search, value, f"{search.objective.metric}={score:.4f}  reloaded (finished trial)"))
        record_tuned(workspace.scale_dir, paper.key, scale, search, best, scores,
                     search_command(paper.key, search, scale, data_dir))
        chosen[search.name] = best
        printer(f"      chosen {search.hparam}={best}")
    printer(f"done: {len(searches)} searches in {(time.time() - started) / 60:.1f} min; "
            f"chosen values in {workspace.scale_dir / TUNED_FILE}")
    return chosen
