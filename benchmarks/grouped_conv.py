"""Training throughput of the mini CaffeNet: GroupedConv2D (split + concat) vs Keras Conv2D(groups=2).

    python benchmarks/grouped_conv.py [--batch 128] [--steps 40] [--repeats 3]

Both variants are the same network (same kernels, same padding) built by
``repro.models.caffenet.build_caffenet``; the Keras variant swaps the layer
class for ``keras.layers.Conv2D(groups=g, padding="same")``. Prints images/s
of one SGD step (forward + backward + update, traced with tf.function) as
the median over repeats, and the machine load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

# repro first: importing it pins Keras to the TensorFlow backend
from repro.models import caffenet
from repro.models.caffenet import build_caffenet
from repro.models.specs import caffenet_mini
from repro.schedule import Schedule
from repro.train import make_train_step

import keras
import tensorflow as tf


def keras_grouped_conv(filters, kernel_size, *, groups, strides, padding, kernel_initializer, bias_initializer,
                       name):
    assert padding in (0, (kernel_size - 1) // 2)
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same" if padding else "valid",
                               groups=groups, kernel_initializer=kernel_initializer,
                               bias_initializer=bias_initializer, name=name)


def throughput(model: keras.Model, batch: int, steps: int, repeats: int) -> float:
    schedule = Schedule(base_lr=0.01, length=steps, step_size=steps, batch_size=batch, eval_every=steps)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, schedule)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=batch)
    for _ in range(3):
        float(step(x, y, y, tf.constant(1.0)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            float(step(x, y, y, tf.constant(1.0)))
        rates.append(steps * batch / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--widths", default="16,32,48,48,32,128,128", help="mini CaffeNet widths (the mini preset)")
    args = parser.parse_args()
    spec = caffenet_mini(10, widths=tuple(int(w) for w in args.widths.split(",")))
    split = throughput(build_caffenet(spec, seed=0), args.batch, args.steps, args.repeats)
    original = caffenet.GroupedConv2D
    caffenet.GroupedConv2D = keras_grouped_conv
    try:
        grouped = throughput(build_caffenet(spec, seed=0), args.batch, args.steps, args.repeats)
    finally:
        caffenet.GroupedConv2D = original
    print(f"| implementation | images/s (batch {args.batch}, widths {args.widths}) |")
    print("|---|---|")
    print(f"| repro GroupedConv2D (split, conv, concat) | {split:,.0f} |")
    print(f"| keras Conv2D(groups=2) | {grouped:,.0f} |")
    print(f"\nspeed-up {split / grouped:.1f}x; load average {os.getloadavg()[0]:.2f}; "
          f"tensorflow {tf.__version__}, keras {keras.__version__}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
