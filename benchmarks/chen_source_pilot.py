"""Pilot P1 of the Chen mini redesign (papers/chen2022/README.md, "Redesign pilots"): does the 96-px source converge?

    python benchmarks/chen_source_pilot.py [--out /tmp/chen-pilots] [--epochs 15 30]

Trains the mini source (Fashion-MNIST, 1,000 per class, the paper's SGD and
StepLR x0.1 at E/3 and 2E/3, batch 128) at the mini's input side (96 px, the
28-px images resized to fill it) for each E, one process per
E at once, one thread each; prints the validation accuracy and training loss
per epoch, the convergence test of the rule, and the rule's choice. Measures
convergence and capacity only: nothing is fine-tuned.
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
from dataclasses import replace
from pathlib import Path

RISE, LOSS_BAND, SAME = 0.005, 0.05, 0.01  # the rule's thresholds (fractions)


def train_source(job: tuple[int, str]) -> list[dict]:
    """The source of ``epochs`` epochs at the mini input side; its metrics.csv rows."""
    epochs, out = job
    from repro.quiet import quiet_libraries
    from repro.threads import pin_threads

    quiet_libraries()
    pin_threads(1)
    from repro.chen2022 import mini_data
    from repro.chen2022.protocol import MINI, network, official_sgd
    from repro.train import train

    scale = replace(MINI, pretrain=official_sgd(0.1, epochs, 128, step_every=epochs // 3))
    data, _ = mini_data.source_data(scale, None)
    run_dir = Path(out) / f"source-{scale.image_size}px-{scale.fit}-e{epochs}"
    train(network(scale, scale.source_classes).build(0), data, scale.pretrain.resolve(data.n_train), run_dir,
          data_seed=0, save_epoch_weights=True)
    with (run_dir / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def converged(rows: list[dict], epochs: int) -> bool:
    """Over the last lr phase: validation accuracy rises < RISE from its first epoch to its best, and the last
    training loss lies within LOSS_BAND of the phase's first."""
    phase = [r for r in rows if float(r["epoch"]) > 2 * (epochs // 3)]
    accuracy = [float(r["val_acc"]) for r in phase]
    loss = [float(r["train_loss"]) for r in phase]
    return max(accuracy) - accuracy[0] < RISE and abs(loss[-1] - loss[0]) <= LOSS_BAND * loss[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/chen-pilots", help="run directories")
    parser.add_argument("--epochs", type=int, nargs="+", default=[15, 30])
    args = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(len(args.epochs)) as pool:
        curves = dict(zip(args.epochs, pool.map(train_source, [(e, args.out) for e in args.epochs])))
    best = {e: max(float(r["val_acc"]) for r in rows) for e, rows in curves.items()}
    for epochs, rows in curves.items():
        print(f"E = {epochs}: epoch: val acc % / train loss  "
              + ", ".join(f"{float(r['epoch']):.0f}: {100 * float(r['val_acc']):.1f}/{float(r['train_loss']):.3f}"
                          for r in rows))
        print(f"  best {100 * best[epochs]:.1f}%, converged: {converged(rows, epochs)}")
    ok = [e for e in sorted(curves) if converged(curves[e], e)
          and all(abs(best[e] - best[o]) <= SAME for o in curves if o != e)]
    print(f"rule's choice: E = {ok[0]}" if ok else f"rule's choice: E = {max(curves)} (not converged)")


if __name__ == "__main__":
    main()
