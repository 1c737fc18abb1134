"""TensorBoard HParams over a run grid.

The grid's run ``figures`` (``<out>/<paper>/<scale>/runs/figures``, see
:mod:`repro.events`) gets one ``hparams_config`` declaring the grid's axes
(``experiment`` and every axis an experiment of the paper names) and
metrics; every run writes its own values with ``hp.hparams`` into its run
directory (trial id = run key), so the HParams
tab shows the grid as a table, parallel coordinates and scatter plots next
to the scalar curves. An axis whose values are not all numbers is declared
as text; a run without an axis (only the reduced-data runs have a data size) leaves it out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

METRICS = (("eval/accuracy", "evaluation top-1"), ("eval/loss", "evaluation loss"), ("train/loss", "training loss"))


def grid_axes(paper, runs: Sequence) -> dict[str, bool]:
    """The grid's axes (``experiment`` and every axis an experiment of ``paper`` names that some run of ``runs``
    has), each with whether all its values are numbers (otherwise it is declared, and written, as text)."""
    names = ["experiment"]
    for experiment in paper.experiments:
        names += [a for a in experiment.axes if a not in names]
    present = [name for name in names if any(name in _values(r) for r in runs)]
    return {name: all(_is_number(_values(r)[name]) for r in runs if name in _values(r)) for name in present}


def _values(run) -> dict:
    return dict(run.axes, experiment=run.experiment)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value, numeric: bool):
    return value if numeric else str(value)


def write_grid_config(runs_dir: Path, axes: dict[str, bool], runs: Sequence) -> None:
    """Declare the grid's hyper-parameter axes and metrics at the TensorBoard root."""
    if not runs:
        return
    hparams = [hp.HParam(name, hp.Discrete(sorted({_cell(_values(r)[name], numeric) for r in runs
                                                   if name in _values(r)})))
               for name, numeric in axes.items()]
    runs_dir.mkdir(parents=True, exist_ok=True)
    with tf.summary.create_file_writer(str(runs_dir)).as_default():
        hp.hparams_config(hparams=hparams, metrics=[hp.Metric(tag, display_name=name) for tag, name in METRICS])


def write_run_hparams(tb_dir: Path, run, axes: dict[str, bool]) -> None:
    """Record one run's values on the grid axes (trial id = run key)."""
    values = _values(run)
    with tf.summary.create_file_writer(str(tb_dir)).as_default():
        hp.hparams({name: _cell(values[name], numeric) for name, numeric in axes.items() if name in values},
                   trial_id=run.key)
