"""The one executor: every :class:`~repro.runs.TrainRun` of every paper is trained the same way.

    data -> model -> transfer -> train -> save -> result

1. ``data``: ``run.data.load(data_dir)`` (cached per command);
2. ``model``: the worker model of ``run.model`` holding the initialisation of
   ``run.seeds.init``, with ``run.frozen`` layers fixed;
3. ``transfer``: :func:`repro.transfer.transfer` of the first ``n`` modules
   (``run.model.modules(model)``) from the source run's checkpoint;
4. ``train``: :func:`repro.train.train` with the schedule resolved against the
   training set (and its chosen learning rate, if the protocol searches it),
   the run's probe, epoch checkpoints if asked, resumable;
5. ``save``: ``final.weights.h5`` (atomically), the resumable checkpoint removed.

The result (``result.json``, and the run's CSV row through its
experiment's columns) holds the training's metrics under one set of names
(:data:`TRAIN_METRICS`). A run declared ``same_as`` another returns that
run's result. An :class:`~repro.runs.AnalysisRun` calls its function with
the workspace, which serves the finished input runs.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from repro.errors import NonFiniteLoss
from repro.files import write_json
from repro.runs import ALL_BUT_LAST, AnalysisRun, Run, TrainRun, analysis_function
from repro.schedule import Chosen, Schedule
from repro.store import CHECKPOINT, CONFIG_FILE, FINAL_WEIGHTS
from repro.train import train
from repro.transfer import transfer
from repro.weightfiles import save_weights
from repro.workspace import Workspace

START_FILE = "start.json"
TRAIN_METRICS = (
    "lr", "acc_final", "acc_final_mean", "acc_max", "acc_top_k_mean", "n_evals", "best_step", "best_epoch",
    "train_loss_final", "train_loss_first_half", "train_acc_mean", "epochs", "steps", "n_train", "seconds", "reused",
)
"""What every training run reports: the nominal lr it used, the last evaluation accuracy, the mean of
the last ``final_k`` and of the ``top_k`` best, the best, the step and epoch of the best evaluation, the
training loss at the end and its mean over the first half, the eval-mode training accuracy averaged over
the evaluations, the length, the training set's size, the time, and the
run whose result it reused (empty when it trained)."""


def execute(run: Run, workspace: Workspace) -> dict:
    """Run ``run`` (its dependencies finished) and return its result."""
    if isinstance(run, TrainRun):
        return train_run(run, workspace)
    if isinstance(run, AnalysisRun):
        started = time.time()
        run_dir = workspace.run_dir(run.key)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, dict(
            run=run.to_config(), paper=home_paper(run, workspace), scale=workspace.scale,
            inputs={need.key: workspace.trained_key(need.key) for need in run.inputs}))
        result = analysis_function(run.function)(run, workspace)
        return {**result, "seconds": round(time.time() - started, 2)}
    raise TypeError(f"cannot execute {type(run).__name__}")


def home_paper(run: Run, workspace: Workspace) -> str:
    """The paper whose tree holds ``run``: its home's, or the command's."""
    return run.home.split("/")[0] if run.home else workspace.paper.key


def train_run(run: TrainRun, workspace: Workspace) -> dict:
    """Train one run (module docstring) and return its metrics."""
    if run.same_as is not None:
        key = workspace.resolve_run(run.same_as)
        result = workspace.result(key)
        return {**result, "reused": result.get("reused") or key}
    schedule, lr_origin = run.schedule, "protocol"
    if isinstance(schedule.base_lr, Chosen):
        value, lr_origin = workspace.chosen(schedule.base_lr.search)
        schedule = schedule.with_lr(value)
    data, data_config = workspace.data(run.data)
    model = workspace.fresh(run.model, run.seeds.init, run.frozen)
    record = _transfer(run, model, workspace)
    schedule = schedule.resolve(data.n_train)
    run_dir = workspace.run_dir(run.key)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, dict(
        run=run.to_config(), paper=home_paper(run, workspace), scale=workspace.scale,
        model=run.model.describe(), data=data_config, schedule=schedule.to_config(),
        lr=dict(nominal=float(schedule.base_lr), actual=float(schedule.base_lr) * schedule.lr_scale,
                origin=lr_origin),
        transfer=record.to_config() if record is not None else dict(mode="none", n_transferred=0),
        seeds=dict(init=run.seeds.init, data=run.seeds.data)))
    hook, start = None, {}
    if run.probe is not None:
        start = _start(run, model, data, run_dir)
        hook = run.probe.make(model)
    started = time.time()
    try:
        trained = train(model, data, schedule, run_dir, data_seed=run.seeds.data,
                        save_epoch_weights=run.save_epochs, progress=workspace.throttled(), hook=hook)
    except NonFiniteLoss as diverged:
        if not run.may_diverge:
            raise
        (run_dir / CHECKPOINT).unlink(missing_ok=True)
        return diverged_result(schedule, diverged.step, data.n_train, time.time() - started)
    save_weights(model, run_dir / FINAL_WEIGHTS)
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    per_epoch = schedule.steps_per_epoch
    summary = run.probe.summary(run_dir) if run.probe is not None and hasattr(run.probe, "summary") else {}
    return dict(
        lr=float(schedule.base_lr), acc_final=trained.acc_final, acc_final_mean=trained.acc_final_mean,
        acc_max=trained.acc_max,
        acc_top_k_mean=trained.acc_top_k_mean, n_evals=trained.n_evals, best_step=trained.best_step,
        best_epoch=trained.best_step // per_epoch, train_loss_final=trained.train_loss_final,
        train_loss_first_half=_first_half_loss(run_dir, schedule.max_iter), train_acc_mean=trained.train_acc_mean,
        epochs=trained.steps // per_epoch, steps=trained.steps, n_train=data.n_train, seconds=trained.seconds,
        reused="",
        **start, **summary)


def diverged_result(schedule: Schedule, step: int, n_train: int, seconds: float) -> dict:
    """The result of a run whose training loss became non-finite at update ``step``: its length and rate, the
    step, and no accuracy or loss (NaN), so that no mean over runs hides it."""
    nan = float("nan")
    return dict(lr=float(schedule.base_lr), **{name: nan for name in (
        "acc_final", "acc_final_mean", "acc_max", "acc_top_k_mean", "train_loss_final", "train_loss_first_half",
        "train_acc_mean")}, n_evals=0, best_step="", best_epoch="", epochs=step // schedule.steps_per_epoch,
        steps=step, n_train=n_train, seconds=round(seconds, 2), reused="", diverged_step=step)


def _transfer(run: TrainRun, model, workspace: Workspace):
    """Apply the run's transfer to ``model`` in place; the record for config.json (None without one)."""
    spec = run.transfer
    if spec is None:
        return None
    modules = list(run.model.modules(model))
    n = len(modules) - 1 if spec.n == ALL_BUT_LAST else spec.n
    source = None
    if spec.source is not None:
        source_run = workspace.run(spec.source)
        source = workspace.loaded(source_run.model, workspace.weights(spec.source, spec.checkpoint))
    record = transfer(model, modules, n, spec.mode, source)
    if spec.source is None:
        return record
    return replace(record, source=dict(run=spec.source, checkpoint=spec.checkpoint,
                                       weights=str(workspace.weights(spec.source, spec.checkpoint))))


def _start(run: TrainRun, model, data, run_dir: Path) -> dict:
    """The probe's measurements at the start of training, computed once and kept in ``start.json``
    (a resumed run reads them back instead of measuring a half-trained network)."""
    measure = getattr(run.probe, "start", None)
    if measure is None:
        return {}
    path = run_dir / START_FILE
    if not path.exists():
        write_json(path, measure(model, data))
    return json.loads(path.read_text())


def _first_half_loss(run_dir: Path, max_iter: int) -> "float | str":
    """The mean training loss of the evaluations in the first half of the run (its early optimisation)."""
    with (run_dir / "metrics.csv").open(newline="") as handle:
        losses = [float(r["train_loss"]) for r in csv.DictReader(handle) if int(r["step"]) <= max_iter // 2]
    return float(np.mean(losses)) if losses else ""
