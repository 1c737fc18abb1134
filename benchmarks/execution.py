"""Training-step throughput under the execution options of ``repro run`` (repro/execution.py) on this machine.

    python benchmarks/execution.py [--batch 128] [--steps 30] [--repeats 3] > benchmarks/results/execution.md

For the mini networks of the suite (the Yosinski mini CaffeNet, the Chen
mini ResNet-50 layout at width 8, the official LeNet of Liu et al.), times
one SGD step of :func:`repro.train.trainer` (forward, backward, update) at
every execution setting: float32, ``--mixed-precision bfloat16`` and
``float16``, ``--jit-compile``, both together, and ``--strategy mirrored``
(over this machine's one CPU device: the cost of the distributed path
alone). Prints a Markdown table of images/s (median over repeats) and the
speed-up over float32, with the load averages before and after each row.
On a CPU these say nothing about a GPU; they show that every option runs
and what it costs here.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from datetime import datetime, timezone

import numpy as np

# repro first: importing it pins Keras to the TensorFlow backend
from repro.execution import use_execution
from repro.schedule import Schedule
from repro.train import distribute_batch, reset_optimizer, trainer

import keras

SETTINGS = (
    ("float32", dict()),
    ("bfloat16", dict(mixed_precision="bfloat16")),
    ("float16", dict(mixed_precision="float16")),
    ("XLA", dict(jit_compile=True)),
    ("XLA + bfloat16", dict(mixed_precision="bfloat16", jit_compile=True)),
    ("mirrored (1 device)", dict(strategy="mirrored")),
)


def build(name: str) -> keras.Model:
    """One of the suite's mini networks at 32x32x1 (LeNet at its 28x28x1), random init."""
    if name == "caffenet":
        from repro.models.specs import caffenet_mini

        return caffenet_mini(10).build(seed=0)
    if name == "resnet":
        from repro.models.resnet import resnet

        return resnet(input_shape=(32, 32, 1), num_classes=10, width=8, stem="imagenet", seed=0)
    from repro.models.lenet import lenet

    return lenet(seed=0)


def throughput(name: str, batch: int, steps: int, repeats: int, **execution) -> float:
    """Median images/s of the training step of network ``name`` under ``execution``."""
    with use_execution(**execution):
        model = build(name)
        shape = tuple(model.input_shape[1:])
        schedule = Schedule(base_lr=0.01, length=steps, step_size=steps, batch_size=batch, eval_every=steps)
        optimizer, step = trainer(model, schedule)
        reset_optimizer(optimizer)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(batch, *shape)).astype(np.float32)
        y = rng.integers(0, 10, size=batch)
        arguments = distribute_batch((x, y, y), 1.0)
        for _ in range(3):
            float(step(*arguments))
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                loss = step(*arguments)
            float(loss)
            rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["caffenet", "resnet", "lenet"])
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"`python benchmarks/execution.py --batch {args.batch} --steps {args.steps} --repeats {args.repeats}` "
          f"at {commit}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, TensorFlow {__import__('tensorflow').__version__}, Keras {keras.__version__}\n")
    print("| network | setting | images/s | vs float32 | load before | load after |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        baseline = None
        for label, execution in SETTINGS:
            before = _load()
            rate = throughput(name, args.batch, args.steps, args.repeats, **execution)
            baseline = baseline or rate
            print(f"| {name} | {label} | {rate:,.0f} | {rate / baseline:.2f}x | {before} | {_load()} |", flush=True)


if __name__ == "__main__":
    main()
