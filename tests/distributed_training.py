"""A short training run under an execution setting, for the distribution tests (run as a script or imported).

``python tests/distributed_training.py OUT STRATEGY [PRECISION] [--jit] [--logical-cpus K]``
trains :func:`small_model` for :data:`STEPS` SGD steps with
:func:`repro.train.train` inside :func:`repro.execution.use_execution` and
saves the final weights and the metrics to ``OUT/final.npz``. With
``--logical-cpus K`` the host CPU is split into K logical devices first
(``mirrored`` then has K replicas). Under ``multi_worker_mirrored`` the
cluster comes from ``TF_CONFIG``; only the chief saves.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

STEPS = 6
BATCH = 8
SEED = 5


def dataset():
    """Fixed random 8x8x1 images of 4 classes (64 training, 32 validation)."""
    from repro.train import TrainData

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(96, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 4, size=96).astype(np.int64)
    return TrainData(x[:64], y[:64], x[64:], y[64:], crop_pad=1, mirror=True, eval_batch=16)


def small_model():
    """A conv + dense net without BatchNorm or dropout (its replicas compute exactly what one device does)."""
    import keras

    keras.utils.set_random_seed(SEED)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(4, name="fc"),
    ])


def schedule():
    from repro.schedule import Schedule

    return Schedule(base_lr=0.05, length=STEPS, step_size=3, batch_size=BATCH, eval_every=3, weight_decay=5e-3)


def train_under(out: Path, strategy: str, precision: str = "off", jit_compile: bool = False) -> dict:
    """Train the small model under the given execution; return its final weights and metrics (saved by the chief)."""
    from repro.execution import use_execution
    from repro.train import train

    with use_execution(strategy, precision, jit_compile) as execution:
        model = small_model()
        run_dir = out / "run"
        result = train(model, dataset(), schedule(), run_dir, data_seed=SEED)
        weights = [np.asarray(v.numpy(), dtype=np.float32) for v in model.trainable_variables]
        summary = dict(replicas=execution.replicas, chief=execution.is_chief, train_loss=result.train_loss_final,
                       val_acc=result.acc_final)
    if summary["chief"]:
        np.savez(out / "final.npz", *weights)
        (out / "summary.json").write_text(json.dumps(summary))
    return dict(weights=weights, **summary)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("strategy")
    parser.add_argument("precision", nargs="?", default="off")
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--logical-cpus", type=int, default=1)
    args = parser.parse_args()
    import repro  # noqa: F401
    import tensorflow as tf

    if args.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    args.out.mkdir(parents=True, exist_ok=True)
    train_under(args.out, args.strategy, args.precision, args.jit)


if __name__ == "__main__":
    main()
