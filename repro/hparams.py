"""TensorBoard HParams over a run grid.

The grid root (``<out>/<paper>/<scale>/runs``) gets one ``hparams_config``
declaring the grid's axes (condition, n, split, source, target, experiment)
and metrics; every run writes its own values with ``hp.hparams`` into its
``tb`` directory, so the HParams tab shows the grid as a table, parallel
coordinates and scatter plots next to the scalar curves.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import repro  # noqa: F401
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from repro.runs import RunSpec

AXES = ("experiment", "condition", "n", "split", "source", "target")
METRICS = (("eval/accuracy", "validation top-1"), ("eval/loss", "validation loss"), ("train/loss", "training loss"))


def write_grid_config(runs_dir: Path, specs: Sequence[RunSpec]) -> None:
    """Declare the grid's hyper-parameter axes and metrics at the TensorBoard root."""
    if not specs:
        return
    hparams = []
    for axis in AXES:
        values = sorted({getattr(s, axis) for s in specs})
        hparams.append(hp.HParam(axis, hp.Discrete(values)))
    runs_dir.mkdir(parents=True, exist_ok=True)
    with tf.summary.create_file_writer(str(runs_dir)).as_default():
        hp.hparams_config(hparams=hparams, metrics=[hp.Metric(tag, display_name=name) for tag, name in METRICS])


def write_run_hparams(tb_dir: Path, spec: RunSpec) -> None:
    """Record one run's values on the grid axes (trial id = run key)."""
    with tf.summary.create_file_writer(str(tb_dir)).as_default():
        hp.hparams({axis: getattr(spec, axis) for axis in AXES}, trial_id=spec.run_key)
