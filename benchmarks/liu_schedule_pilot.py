"""Pilot G of the Liu mini scale: does random init converge on the mini target under fine-tune.py's schedule shape?

    python benchmarks/liu_schedule_pilot.py [--out /tmp/liu-schedule-pilot] [--seeds 1 2 3]

Random-init LeNet on the mini target (papers/liu2019/README.md, "Pilot G"),
batch 64, SGD lr 0.01 momentum 0.9 weight decay 5e-4, lr x0.1 after half the
run (fine-tune.py's twostage shape), 200 and 400 epochs, one run per seed.
Prints the training accuracy (eval mode, the 600 images) and test accuracy
at every 10% of each run, and the rule's choice. Measures convergence only.
"""
from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

# repro first: importing it pins Keras to the TensorFlow backend
from repro.liu2019 import tasks
from repro.liu2019.protocol import MINI, two_stage
from repro.models.lenet import lenet
from repro.train import train

LENGTHS = (200, 400)  # epochs; lr x0.1 after half
CONVERGED = 0.95  # final training accuracy of every seed
PLATEAU = 0.01  # largest change over the last 20% of the run


def schedule(epochs: int, n_train: int):
    """fine-tune.py's two-stage shape for ``epochs`` epochs, each evaluation also on the training images."""
    return replace(two_stage(epochs, n_train // 64), train_eval_examples=n_train).resolve(n_train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/liu-schedule-pilot"), help="run directories")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    data, _ = tasks.target_data(MINI, MINI.generalization.target, None)
    chosen = None
    for epochs in LENGTHS:
        converged = True
        for seed in args.seeds:
            run_dir = args.out / f"e{epochs}-s{seed}"
            train(lenet(10, seed=seed), data, schedule(epochs, len(data.x_train)), run_dir, data_seed=seed)
            with (run_dir / "metrics.csv").open() as handle:
                rows = list(csv.DictReader(handle))
            train_acc = [float(r["train_acc"]) for r in rows]
            curve = ", ".join(f"{float(r['epoch']):.0f}: {100 * float(r['train_acc']):.1f}/{100 * float(r['val_acc']):.1f}"
                              for r in rows)
            ok = train_acc[-1] >= CONVERGED and abs(train_acc[-1] - train_acc[-3]) < PLATEAU
            converged &= ok
            print(f"{epochs} epochs, seed {seed}: epoch: train/test % {curve}  -> {'converged' if ok else 'not'}",
                  flush=True)
        if converged and chosen is None:
            chosen = epochs
    print(f"rule's choice: {chosen or LENGTHS[-1]} epochs" + ("" if chosen else " (no schedule converged every seed)"))


if __name__ == "__main__":
    main()
