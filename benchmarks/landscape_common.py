"""Shared pieces of benchmarks/landscape.py: models, data, machine facts, timing.

Not a test module: nothing here asserts a speed. Every figure the benchmarks
print is measured by the command that prints it (see benchmarks/README.md).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
import subprocess
import time
from typing import Callable, Iterator, Sequence

import numpy as np

# repro first: importing it pins Keras to the TensorFlow backend
from repro.data.arrays import load_arrays
from repro.models.resnet import resnet
from repro.models.specs import caffenet_mini

import keras
import tensorflow as tf

MODELS = ("caffenet", "resnet", "lenet")


# --------------------------------------------------------------------------- models


def build_model(name: str, seed: int = 0) -> keras.Model:
    """``caffenet``: caffenet_mini(10).build(seed); ``resnet``: the width-16 cifar-stem ResNet-50 layout at 32x32x1;
    ``lenet``: LeNet-5 at 32x32x1 (the network of the curvature author's HVP timing).
    """
    if name == "caffenet":
        return caffenet_mini(10).build(seed=seed)
    if name == "resnet":
        return resnet(input_shape=(32, 32, 1), num_classes=10, width=16, stem="cifar", seed=seed)
    if name == "lenet":  # functional: repro.similarity.feature_taps needs model.input
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((32, 32, 1), name="image")
        x = keras.layers.Conv2D(6, 5, activation="relu", name="conv1")(inputs)
        x = keras.layers.MaxPooling2D(name="pool1")(x)
        x = keras.layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
        x = keras.layers.MaxPooling2D(name="pool2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(120, activation="relu", name="fc1")(x)
        x = keras.layers.Dense(84, activation="relu", name="fc2")(x)
        return keras.Model(inputs, keras.layers.Dense(10, name="fc3")(x), name="lenet")
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


# --------------------------------------------------------------------------- data


def fashion_mnist(split: str, n: "int | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` Fashion-MNIST examples of ``split`` at 32x32x1 (repro.data.arrays.load_arrays)."""
    x, y = load_arrays("fashion_mnist", split)
    if n is not None:
        if n > len(x):
            raise ValueError(f"asked for {n} examples, {split} has {len(x)}")
        x, y = x[:n], y[:n]
    return np.array(x, copy=True), np.array(y, copy=True)


def tensor_batches(x: np.ndarray, y: np.ndarray, batch_size: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """A fixed, re-iterable list of (x, y) tensor batches (the evaluation set of an analysis)."""
    return [
        (tf.constant(x[i : i + batch_size]), tf.constant(y[i : i + batch_size])) for i in range(0, len(x), batch_size)
    ]


# --------------------------------------------------------------------------- machine facts


def load_average() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def uptime_line() -> str:
    """The output of ``uptime`` (machine load while measuring)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"load average: {load_average()}"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def source_state() -> str:
    """The commit of the repository and the files under repro/ that differ from it (read-only git)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "repro"], capture_output=True, text=True, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in changed if line.strip()]
    return f"commit {commit}" + (f", with uncommitted changes to {', '.join(changed)}" if changed else ", clean repro/")


def environment() -> str:
    """Markdown lines: date, host CPU, cores, versions, source state, load."""
    return "\n".join(
        [
            f"- source: {source_state()}",
            f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores; "
            f"TF threads intra={tf.config.threading.get_intra_op_parallelism_threads()} "
            f"inter={tf.config.threading.get_inter_op_parallelism_threads()} (0 = all cores)",
            f"- Python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}, numpy {np.__version__}",
            f"- uptime at start: `{uptime_line()}`",
        ]
    )


# --------------------------------------------------------------------------- timing


def seconds(function: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleaved(functions: "dict[str, Callable[[], object]]", rounds: int) -> dict[str, np.ndarray]:
    """Seconds of each function, called in turn ``rounds`` times (round r calls every function once).

    Interleaving makes the per-round ratios robust to load that drifts on a
    shared machine: both terms of a ratio are measured seconds apart.
    """
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(seconds(function))
    return {name: np.array(values) for name, values in times.items()}


def median_ratio(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float, float]:
    """Median, min and max over rounds of the per-round ratio numerator / denominator."""
    ratios = numerator / denominator
    return float(np.median(ratios)), float(ratios.min()), float(ratios.max())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def stage(label: str) -> Iterator[None]:
    """Print progress (with the load) to stderr, so stdout holds only the Markdown report."""
    import sys

    start = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {label} (load {load_average()})", file=sys.stderr, flush=True)
    yield
    print(f"[{time.strftime('%H:%M:%S')}]   done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
