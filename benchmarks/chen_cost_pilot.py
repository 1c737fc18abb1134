"""Pilot P0 of the Chen mini redesign (papers/chen2022/README.md, "Redesign pilots"): the cost of a step.

    python benchmarks/chen_cost_pilot.py [--processes 2]

Each of ``--processes`` worker processes (one TensorFlow thread each, all at
once: the default ``--jobs 2`` regime) times one SGD step of the width-8
torchvision-style ResNet (ImageNet stem, [3, 4, 6, 3] bottlenecks, grayscale)
at each (input side, batch) cell, as the mean of 10 steps after the traced
first, and a forward pass over 1,000 images. Prints one table row per cell
with the workers' mean. Measures cost only.
"""
from __future__ import annotations

import argparse
import multiprocessing
import time

CELLS = ((32, 32), (64, 18), (64, 128), (96, 128), (128, 128))
EVAL_IMAGES, EVAL_BATCH = 1_000, 250


def measure(_: int) -> dict:
    """``{(side, batch): (trace s, step s, forward over 1,000 images s)}`` in this process, one thread."""
    import numpy as np

    from repro.quiet import quiet_libraries
    from repro.threads import pin_threads

    quiet_libraries()
    pin_threads(1)
    import tensorflow as tf

    from chen_mini_pilots import timed_steps  # this directory: the first mini's step timing
    from repro.chen2022.protocol import official_sgd
    from repro.models.resnet import resnet
    from repro.train import trainer

    out = {}
    for side, batch in CELLS:
        model = resnet((side, side, 1), 10, width=8, stem="imagenet")
        _, step = trainer(model, official_sgd(0.01, 100, batch).resolve(10 * batch))  # the fine-tuning SGD
        traced, seconds = timed_steps(step, side, batch)
        forward = tf.function(lambda images: model(images, training=False))
        images = np.random.default_rng(1).random((EVAL_BATCH, side, side, 1), np.float32)
        forward(images)
        started = time.time()
        for _ in range(EVAL_IMAGES // EVAL_BATCH):
            forward(images).numpy()
        out[(side, batch)] = (traced, seconds, time.time() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="worker processes timed at once")
    args = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = pool.map(measure, range(args.processes))
    print(f"| input | batch | first step (trace) | step | forward, {EVAL_IMAGES:,} images |")
    print("|---|---|---|---|---|")
    for cell in CELLS:
        traced, step, forward = (sum(r[cell][i] for r in results) / len(results) for i in range(3))
        print(f"| {cell[0]} | {cell[1]} | {traced:.1f} s | {1000 * step:.0f} ms | {forward:.2f} s |")


if __name__ == "__main__":
    main()
