"""Choosing a hyper-parameter among values whose runs the grid already trains, with keras-tuner.

Where a protocol trains every value and then keeps "the better one"
(Neyshabur et al. 2020 train each arm at lr 0.1 and 0.02), the choice is a
keras-tuner grid search whose trials do not train: a trial's objective is
read from the finished runs of that value (``objective(value)``, which may
train them first through :meth:`repro.runner.RunContext.ensure`). The
tuner's directory (``oracle.json``, one ``trial_*`` folder per value) lives
inside the choosing run's directory, so a rerun reloads the finished trials
instead of asking again, and ``keras_tuner`` tools can inspect the search.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Sequence

import keras_tuner as kt


class _RecordedRuns(kt.engine.base_tuner.BaseTuner):
    """A tuner whose trial objective comes from a callback instead of fitting a model."""

    def __init__(self, name: str, objective_name: str, objective: Callable[[object], float], **kwargs):
        super().__init__(**kwargs)
        self._name, self._objective_name, self._objective = name, objective_name, objective
        self.failure: BaseException | None = None

    def run_trial(self, trial, **kwargs):
        try:
            return {self._objective_name: float(self._objective(trial.hyperparameters.get(self._name)))}
        except BaseException as exc:  # keras-tuner would log it and raise its own RuntimeError
            self.failure = exc
            raise


def choose_best(directory: Path, name: str, values: Sequence, objective: Callable[[object], float],
                objective_name: str = "score", direction: str = "max") -> tuple[object, dict]:
    """The value of ``name`` with the best ``objective`` by keras-tuner grid search, and every trial's score.

    Ties go to the value listed first. If a trial fails, its exception is
    raised and the tuner directory removed, so a rerun asks every value again.
    """
    hyperparameters = kt.HyperParameters()
    hyperparameters.Choice(name, list(values), ordered=False)
    oracle = kt.oracles.GridSearchOracle(objective=kt.Objective(objective_name, direction),
                                         hyperparameters=hyperparameters, max_trials=len(values),
                                         max_consecutive_failed_trials=1)
    tuner = _RecordedRuns(name, objective_name, objective, oracle=oracle, directory=str(directory),
                          project_name="tuner", overwrite=False)
    try:
        tuner.search(verbose=0)
    except RuntimeError:
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
