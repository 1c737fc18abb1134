"""Pilot P2 of the Chen mini redesign (papers/chen2022/README.md, "Redesign pilots"): does fine-tuning converge?

    python benchmarks/chen_finetune_pilot.py [--source DIR] [--out /tmp/chen-pilots]

Fine-tunes the P1 source (``chen_source_pilot.py``'s run directory: its
best-validation epoch is theta_A) on MNIST targets of N = 300, 1,200 and 3,000
images at the mini's fine-tuning side (64 px) and batch 18, every layer with a
new classifier (the official SGD, lr 0.01, cosine), for 100 epochs, and N =
3,000 for 50 epochs; two processes of one thread each. Prints per cell the
test accuracy curve's summary, the best epoch, and the share of the move after
it, delta = D(theta_FB, theta_last) / D(theta_A, theta_last) with D the mean
absolute difference over every conv kernel (no T is computed), and the rule's
test. Measures convergence only.
"""
from __future__ import annotations

import argparse
import csv
import math
import multiprocessing
from dataclasses import replace
from pathlib import Path

CELLS = ((300, 100), (1200, 100), (3000, 100), (3000, 50))
WORKER_CELLS = (((3000, 100),), ((3000, 50), (1200, 100), (300, 100)))  # two workers, about equal work
TEST_PER_CLASS = (350, 500)  # MNIST-5k's per-class test slice (disjoint from every training slice)
DELTA_LIMIT, LAST = 0.10, 10  # the rule: delta <= 0.10; the mean of the last 10 epochs


def best_source_epoch(source: Path) -> int:
    rows = list(csv.DictReader((source / "metrics.csv").open()))
    return int(float(max(rows, key=lambda r: float(r["val_acc"]))["epoch"]))


def finetune(job: tuple[tuple[tuple[int, int], ...], str, str]) -> list[str]:
    """Train the worker's cells (``(N, epochs)``) into ``out``; their run directories."""
    cells, source, out = job
    from repro.quiet import quiet_libraries
    from repro.threads import pin_threads

    quiet_libraries()
    pin_threads(1)
    from repro.chen2022 import mini_data
    from repro.chen2022.protocol import MINI, Target, network
    from repro.store import epoch_weights
    from repro.train import train
    from repro.transfer import transfer
    from repro.weightfiles import load_weights

    done = []
    for n, epochs in cells:
        target = Target(f"mnist-n{n}", "mnist5k", (0, n // 10), TEST_PER_CLASS, 10)
        data, _ = mini_data.target_data(MINI, target, None)
        source_model = network(MINI, 10).build(0)
        load_weights(source_model, epoch_weights(Path(source), best_source_epoch(Path(source))))
        spec = network(MINI, target.classes, target.size(MINI))
        model = spec.build(1)
        modules = list(spec.modules(model))
        transfer(model, modules, len(modules) - 1, "finetune", source_model)
        run_dir = Path(out) / f"finetune-mnist-n{n}-e{epochs}"
        schedule = replace(MINI.finetune, length=epochs).resolve(data.n_train)
        train(model, data, schedule, run_dir, data_seed=1, save_epoch_weights=True)
        done.append(str(run_dir))
    return done


def conv_kernels(path: Path, model) -> "np.ndarray":
    """Every conv kernel of the weights file ``path`` (loaded into ``model``), flattened into one vector."""
    import keras
    import numpy as np

    from repro.weightfiles import load_weights

    load_weights(model, path)
    return np.concatenate([layer.kernel.numpy().ravel() for layer in model.layers
                           if isinstance(layer, keras.layers.Conv2D)])


def summary(run_dir: Path, source: Path, n_test: int) -> dict:
    import numpy as np

    from repro.chen2022.protocol import MINI, network
    from repro.store import epoch_weights

    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    accuracy = [float(r["val_acc"]) for r in rows]
    epochs = len(rows)
    best = int(np.argmax(accuracy)) + 1
    last_mean = float(np.mean(accuracy[-LAST:]))
    se = math.sqrt(last_mean * (1 - last_mean) / n_test)
    model = network(MINI, 10, 64).build(0)  # one network; each weights file is loaded into it in turn
    theta_a = conv_kernels(epoch_weights(source, best_source_epoch(source)), model)
    theta_fb = conv_kernels(epoch_weights(run_dir, best), model)
    theta_last = conv_kernels(epoch_weights(run_dir, epochs), model)
    delta = float(np.mean(np.abs(theta_fb - theta_last)) / np.mean(np.abs(theta_a - theta_last)))
    late = best > epochs / 2 or accuracy[best - 1] - last_mean <= se
    return dict(epochs=epochs, best=best, best_acc=accuracy[best - 1], final=accuracy[-1], last_mean=last_mean, se=se,
                loss_first=float(rows[0]["train_loss"]), loss_last=float(rows[-1]["train_loss"]), delta=delta,
                converged=late and delta <= DELTA_LIMIT, seconds=float(rows[-1]["seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="/tmp/chen-pilots/source-96px-bilinear-e30", help="P1's run directory")
    parser.add_argument("--out", default="/tmp/chen-pilots", help="run directories")
    args = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(len(WORKER_CELLS)) as pool:
        pool.map(finetune, [(cells, args.source, args.out) for cells in WORKER_CELLS])
    print("| N | epochs | best test acc (epoch) | final | mean of last 10 (se) | training loss epoch 1 -> last "
          "| delta | converged | seconds |\n|---|---|---|---|---|---|---|---|---|")
    for n, epochs in CELLS:
        s = summary(Path(args.out) / f"finetune-mnist-n{n}-e{epochs}", Path(args.source), 10 * (TEST_PER_CLASS[1]
                                                                                                - TEST_PER_CLASS[0]))
        print(f"| {n:,} | {epochs} | {100 * s['best_acc']:.1f} ({s['best']}) | {100 * s['final']:.1f} "
              f"| {100 * s['last_mean']:.1f} ({100 * s['se']:.1f}) | {s['loss_first']:.3f} -> {s['loss_last']:.4f} "
              f"| {s['delta']:.3f} | {'yes' if s['converged'] else 'no'} | {s['seconds']:.0f} |")


if __name__ == "__main__":
    main()
