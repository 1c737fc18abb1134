"""Calibration pilots behind the Liu mini scale (papers/liu2019/README.md, "Pilots").

    python benchmarks/liu_mini_pilots.py [--out /tmp/liu-pilots]

Prints, for the code's LeNet at 28x28 on this machine:

* the cost of one traced SGD step at batch 64 and of one forward pass;
* the cost of the Exp L-C probe on conv2 (variation of loss and
  beta-smoothness at K = 100 and 20, the gradient norm);
* the test accuracy every 90 steps of a 900-step random-init run on the
  600-image MNIST target (``lenet.py``'s 100 epochs), which shows how long
  the random arm stays at chance;
* the held-out accuracy of a 60-epoch Fashion-MNIST source of 170 images
  per class, every 260 steps.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

# repro first: importing it pins Keras to the TensorFlow backend
from repro.data import splits
from repro.data.arrays import load_arrays
from repro.landscape.smoothness import beta_smoothness, gradient_norm, variation_of_loss
from repro.models.lenet import lenet
from repro.schedule import Schedule
from repro.train import TrainData, train, trainer

import tensorflow as tf


def schedule(iterations: int, eval_every: int) -> Schedule:
    """lenet.py's SGD: lr 0.01 constant, momentum 0.9, weight decay 5e-4 on every parameter, batch 64;
    ``iterations`` steps, evaluated every ``eval_every``."""
    return Schedule(base_lr=0.01, batch_size=64, length=iterations, policy="constant", eval_every=eval_every,
                    weight_decay=5e-4, bias_lr_mult=1.0, decay_biases=True, top_k=1)


def timed(fn, repeats: int) -> float:
    fn()
    started = time.time()
    for _ in range(repeats):
        fn()
    return (time.time() - started) / repeats


def costs() -> None:
    model = lenet(10, seed=1)
    _, step = trainer(model, schedule(1, 1))
    x = np.random.default_rng(0).random((64, 28, 28, 1), np.float32) - 0.5
    y = np.arange(64) % 10
    forward = tf.function(lambda images: model(images, training=False))
    print(f"SGD step, batch 64: {1000 * timed(lambda: step(x, y, y, tf.constant(1.0)), 100):.1f} ms")
    print(f"forward, batch 64: {1000 * timed(lambda: forward(x), 100):.1f} ms")
    batch = [(x, y)]
    for k in (100, 20):
        seconds = timed(lambda: variation_of_loss(model, batch, include="conv2/kernel", steps=k), 3)
        print(f"variation of loss on conv2, K = {k}: {seconds:.2f} s")
        seconds = timed(lambda: beta_smoothness(model, batch, include="conv2/kernel", steps=k), 2)
        print(f"beta-smoothness on conv2, K = {k}: {seconds:.2f} s")
    print(f"gradient norm, all parameters: {timed(lambda: gradient_norm(model, batch), 10):.3f} s")


def curves(out: Path) -> None:
    x, y = load_arrays("mnist5k", "train", image_size=28)
    target = _task(x, y, 0, 60, *splits.per_class_slice(x, y, 60, 210))
    _train_curve("random init on mnist600, 100 epochs", target, 900, 90, out / "random-mnist600", seed=1)
    fx, fy = load_arrays("fashion_mnist", "train", image_size=28)
    source = _task(fx, fy, 0, 170, *splits.per_class_slice(*load_arrays("fashion_mnist", "test", image_size=28), 0, 100))
    _train_curve("Fashion-MNIST source, 60 epochs", source, 1560, 260, out / "fashion-source", seed=2)


def _task(x, y, start: int, stop: int, x_val, y_val) -> TrainData:
    """Per-class slice [start, stop) for training, the given validation images; lenet.py's x / 255 - 0.5."""
    train_x, train_y = splits.per_class_slice(x, y, start, stop)
    return TrainData(train_x - 0.5, train_y, x_val - 0.5, y_val)


def _train_curve(label: str, data: TrainData, steps: int, every: int, run_dir: Path, seed: int) -> None:
    import csv

    result = train(lenet(10, seed=seed), data, schedule(steps, every), run_dir, data_seed=1)
    print(f"{label}: final {100 * result.acc_final:.1f}% in {result.seconds:.0f} s")
    with (run_dir / "metrics.csv").open() as handle:
        print("  " + ", ".join(f"{r['step']}: {100 * float(r['val_acc']):.1f}" for r in csv.DictReader(handle)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/liu-pilots"), help="run directories of the curves")
    args = parser.parse_args()
    costs()
    curves(args.out)


if __name__ == "__main__":
    main()
