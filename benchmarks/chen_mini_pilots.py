"""Calibration pilot behind the Chen mini scale (papers/chen2022/README.md, "Pilots").

    python benchmarks/chen_mini_pilots.py

Prints the trace time and the mean time of one SGD step (10 steps after the
first) of the torchvision-style ResNet with the [3, 4, 6, 3] bottleneck layout
on 32x32 grayscale inputs, for the CIFAR stem (3x3/1, no pool: layer1 runs
at 32x32) and the ImageNet stem (7x7/2 + max-pool: layer1 at 8x8, the path
the paper's CIFAR fine-tuning takes), at widths 4 and 8 and batches 32 and 128.
"""
from __future__ import annotations

import time

import numpy as np

# repro first: importing it pins Keras to the TensorFlow backend
from repro.models.resnet import resnet
from repro.schedule import Schedule
from repro.train import trainer

import tensorflow as tf

CELLS = ((8, "cifar", 128), (8, "cifar", 32), (4, "cifar", 32), (8, "imagenet", 128), (8, "imagenet", 32))


def timed_steps(step, side: int, batch: int) -> tuple[float, float]:
    """(seconds of the first, traced call of the training ``step``; mean seconds of the next 10) on random
    ``batch`` x ``side`` x ``side`` x 1 images."""
    x = np.random.default_rng(0).random((batch, side, side, 1), np.float32)
    y = np.arange(batch) % 10
    started = time.time()
    step(x, y, y, tf.constant(1.0))
    traced = time.time() - started
    started = time.time()
    for _ in range(10):
        float(step(x, y, y, tf.constant(1.0)))
    return traced, (time.time() - started) / 10


def step_cost(width: int, stem: str, batch: int) -> tuple[float, float]:
    """(seconds of the first, traced step; mean seconds of the next 10 steps)."""
    model = resnet((32, 32, 1), 10, width=width, stem=stem)
    schedule = Schedule(base_lr=0.1, length=10, step_size=100, batch_size=batch, eval_every=10,
                        weight_decay=1e-4, bias_lr_mult=1.0, decay_biases=True, top_k=1)
    _, step = trainer(model, schedule)
    return timed_steps(step, 32, batch)


def main() -> None:
    print("| width | stem | batch | first step (trace) | step |")
    print("|---|---|---|---|---|")
    for width, stem, batch in CELLS:
        traced, seconds = step_cost(width, stem, batch)
        print(f"| {width} | {stem} | {batch} | {traced:.1f} s | {1000 * seconds:.0f} ms |")


if __name__ == "__main__":
    main()
