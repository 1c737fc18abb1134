"""Pre-trained source models shared by every paper that needs the same one.

A source model (Neyshabur et al.'s ImageNet model P, a Fashion-MNIST
network that several papers fine-tune from) is a :class:`SourceModel`: a
stable key, how to build the network, its training data and its schedule.
It is trained once per output directory and scale, into
``<out>/sources/<scale>/<key>/``, with a weights file at every epoch
(``checkpoints/epoch-000.weights.h5`` is the random initialisation, the
paper's checkpoint 0), ``final.weights.h5``, ``config.json``,
``metrics.csv`` and TensorBoard events. Any paper's run that names the same
key finds it there; concurrent shards wait on the run directory's lock
instead of training it twice (:func:`repro.runner.ensure_run`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import repro  # noqa: F401
import keras

from repro.runner import FINAL_WEIGHTS, RunContext, ensure_run
from repro.runs import derive_seed, write_json
from repro.train import SGDSchedule, TrainData, train


@dataclass(frozen=True)
class SourceModel:
    """A source network: key, builder, data, schedule; ``config`` records what the key stands for."""

    key: str
    build: Callable[[int], keras.Model]  # init seed -> freshly initialised model
    data: Callable[[RunContext], TrainData]
    schedule: SGDSchedule
    seed: int = 0
    config: dict = field(default_factory=dict)

    def epoch_weights(self, context: RunContext, epoch: int) -> Path:
        """The weights file of checkpoint ``epoch`` (0 = the random initialisation)."""
        return context.source_dir(self.key) / "checkpoints" / f"epoch-{epoch:03d}.weights.h5"


def ensure_source(context: RunContext, source: SourceModel) -> Path:
    """The directory of the trained ``source``, training it (or resuming it) first if needed."""
    run_dir = context.source_dir(source.key)

    def execute() -> dict:
        context.printer(f"      pre-training the shared source model {source.key} -> {run_dir}")
        init_seed, data_seed = derive_seed(source.key, source.seed, "init"), derive_seed(source.key, source.seed, "data")
        model = source.build(init_seed)
        write_json(run_dir / "config.json", dict(
            source=source.key, seeds=dict(run=source.seed, init=init_seed, data=data_seed),
            schedule=asdict(source.schedule), **source.config))
        result = train(model, source.data(context), source.schedule, run_dir, data_seed=data_seed,
                       save_epoch_weights=True, progress=context.throttled())
        model.save_weights(run_dir / FINAL_WEIGHTS)
        (run_dir / "checkpoint.npz").unlink(missing_ok=True)
        return asdict(result)

    ensure_run(run_dir, execute, require=(FINAL_WEIGHTS,))
    return run_dir
