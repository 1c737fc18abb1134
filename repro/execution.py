"""Where and how the training step executes: ``tf.distribute`` strategy, mixed precision, XLA.

``repro run`` (and ``repro tune``) take three options that change how a run
is computed, never what the protocol is:

* ``--strategy default | mirrored | multi_worker_mirrored``:
  TensorFlow's default (one device); ``MirroredStrategy`` over every local
  GPU (or every logical CPU device where there is no GPU); or
  ``MultiWorkerMirroredStrategy`` over the cluster described by the standard
  ``TF_CONFIG`` environment variable, every worker running the same command.
  The global batch is the protocol's: each of the R replicas computes the
  loss of its ``B / R`` examples divided by ``B``, the gradients are summed
  across replicas (Keras' optimizer all-reduces them), so one step is the
  single-device step up to the order of floating-point sums
  (:func:`repro.train.make_train_step`).
* ``--mixed-precision off | float16 | bfloat16``: the Keras global dtype
  policy ``mixed_<dtype>`` (layers compute in the low precision, variables
  stay float32, the loss is taken on float32 logits); ``float16`` adds
  Keras' dynamic loss scaling (:class:`keras.optimizers.LossScaleOptimizer`).
* ``--jit-compile``: the forward and backward pass of the training step are
  compiled by XLA (``tf.function(jit_compile=True)``).

Models, optimizers and checkpoints are created and restored inside the
strategy's scope: :func:`use_execution` enters it for the whole command.
Under ``multi_worker_mirrored`` only the chief (task ``chief``, or
``worker`` 0 where there is no chief) writes into the results directory.
Every other worker runs the same grid in a private mirror of it
(``<out>/.workers/<task>``), copied from the chief's files at start so it
makes the same skip and resume decisions, and deleted at the end; this is
how Keras' own callbacks treat non-chief workers.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import keras
import tensorflow as tf

from repro.errors import BadArgument, ReproError

from repro.options import PRECISIONS, STRATEGIES

WORKERS_DIR = ".workers"


@dataclass(frozen=True)
class Execution:
    """The execution settings of a command and the strategy built from them."""

    strategy_name: str = "default"
    precision: str = "off"
    jit_compile: bool = False
    strategy: tf.distribute.Strategy = field(default_factory=tf.distribute.get_strategy, compare=False)
    task: tuple[str, int] | None = None  # (task type, index) under multi_worker_mirrored
    is_chief: bool = True  # writes the results: every process but the non-chief workers of a cluster

    @property
    def replicas(self) -> int:
        """Number of replicas the global batch is split over."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def distributed(self) -> bool:
        """True when the training step runs through ``strategy.run`` (any strategy but the default)."""
        return self.strategy_name != "default"

    def output_root(self, out: Path) -> Path:
        """Where this process writes: ``out`` for the chief, ``<out>/.workers/<task>`` for other workers."""
        if self.is_chief:
            return Path(out)
        task_type, index = self.task
        return Path(out) / WORKERS_DIR / f"{task_type}-{index}"

    def describe(self) -> dict:
        """The settings as recorded next to a run's results."""
        return dict(strategy=self.strategy_name, replicas=self.replicas, mixed_precision=self.precision,
                    jit_compile=self.jit_compile, task="-" if self.task is None else f"{self.task[0]}:{self.task[1]}")


_current: list[Execution] = []


def current() -> Execution:
    """The execution settings in force (the default strategy, float32, no XLA outside :func:`use_execution`)."""
    return _current[-1] if _current else Execution()


def _cluster_spec() -> dict:
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as exc:
        raise BadArgument(f"TF_CONFIG is not valid JSON ({exc})") from exc
    return config


def _task_of(config: dict) -> tuple[str, int]:
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    if "type" not in task or "index" not in task or not cluster:
        raise BadArgument("--strategy multi_worker_mirrored needs TF_CONFIG with 'cluster' and 'task' "
                          '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                          '"task": {"type": "worker", "index": 0}})')
    task_type, index = str(task["type"]), int(task["index"])
    if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
        raise BadArgument(f"TF_CONFIG task {task_type}:{index} is not in its cluster {sorted(cluster)}")
    return task_type, index


def _is_chief(task: tuple[str, int], config: dict) -> bool:
    task_type, index = task
    has_chief = "chief" in (config.get("cluster") or {})
    return task_type == "chief" or (not has_chief and task_type == "worker" and index == 0)


def _mirror_chief_files(out: Path, mirror: Path) -> None:
    """Copy the chief's results tree (without other workers' mirrors) into ``mirror``, replacing it."""
    shutil.rmtree(mirror, ignore_errors=True)
    mirror.mkdir(parents=True)
    if Path(out).is_dir():
        for entry in Path(out).iterdir():
            if entry.name == WORKERS_DIR:
                continue
            target = mirror / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, ignore=shutil.ignore_patterns(".lock"))
            else:
                shutil.copy2(entry, target)


def _build_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        cross_device_ops = None if gpus else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextmanager
def use_execution(strategy: str = "default", mixed_precision: str = "off", jit_compile: bool = False,
                  out: Path | None = None) -> Iterator[Execution]:
    """Build the strategy, set the dtype policy, and enter the strategy's scope for the block.

    With ``multi_worker_mirrored`` and a results root ``out``, a non-chief
    worker's mirror of ``out`` is prepared first (before the strategy
    connects the workers, so the chief cannot have started writing) and
    removed at the end. The previous dtype policy is restored on exit.
    """
    if strategy not in STRATEGIES:
        raise BadArgument(f"unknown --strategy {strategy!r}; accepted: {', '.join(STRATEGIES)}")
    if mixed_precision not in PRECISIONS:
        raise BadArgument(f"unknown --mixed-precision {mixed_precision!r}; accepted: {', '.join(PRECISIONS)}")
    task, chief = None, True
    if strategy == "multi_worker_mirrored":
        config = _cluster_spec()
        task = _task_of(config)
        chief = _is_chief(task, config)
    mirror = None
    if not chief and out is not None:
        mirror = Path(out) / WORKERS_DIR / f"{task[0]}-{task[1]}"
        _mirror_chief_files(Path(out), mirror)
    try:
        built = _build_strategy(strategy)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise ReproError(f"cannot build the {strategy} strategy: {exc}") from exc
    execution = Execution(strategy, mixed_precision, jit_compile, built, task, chief)
    previous_policy = keras.config.dtype_policy()
    if mixed_precision != "off":
        keras.config.set_dtype_policy(f"mixed_{mixed_precision}")
    _current.append(execution)
    try:
        with built.scope():
            yield execution
    finally:
        _current.pop()
        keras.config.set_dtype_policy(previous_policy)
        if mirror is not None:
            shutil.rmtree(mirror, ignore_errors=True)
            try:
                mirror.parent.rmdir()  # the last worker out removes .workers
            except OSError:
                pass


def execution_from_args(args: argparse.Namespace):
    """:func:`use_execution` with a command's parsed options and results root."""
    return use_execution(args.strategy, args.mixed_precision, args.jit_compile, getattr(args, "out", None))
