"""What a Neyshabur mini grid costs at other lengths (papers/neyshabur2020/README.md, "Pilots of the converged mini").

    python benchmarks/neyshabur_grid_cost.py [--results results/neyshabur2020/mini] [--epochs 10 20 40 80]
        [--worker-seconds-per-epoch S]

Prices each design from the committed mini grid's own measurements: the seconds per training epoch of its
trained runs (each run's ``seconds`` over its ``epochs``; that grid ran in one process, before ``--jobs``)
and the seconds of its analyses, which do not depend on the length. A design is the mini protocol with the target runs'
length set to E epochs (drops at 30, 60, 90 % of it) and, for the converged designs, the paper's three
block-shuffle seeds; the runs it trains are counted from the protocol itself (runs that reuse another's
result train nothing). One process takes the worker-minutes (the committed grid: its wall time is printed as
a check); ``--jobs 2`` divides them by 1.88, the speed-up the Yosinski mini grid measured on this machine
(82.7 min at ``--jobs 1``, 44 min at ``--jobs 2``). With ``--worker-seconds-per-epoch S`` the training is priced
instead at S seconds per epoch on each of two workers (a worker's rate beside a second one, as a pilot measured
it): wall = epochs x S / 2.
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

from repro.neyshabur2020 import protocol
from repro.runs import TrainRun

JOBS2_SPEEDUP = 82.7 / 44  # the Yosinski mini grid, --jobs 1 against --jobs 2 on this 2-core machine (README)


def measured(results: Path) -> tuple[float, float, float]:
    """Seconds per training epoch, seconds of the analyses, and the grid's wall time, from a results tree."""
    train_seconds = epochs = analysis_seconds = 0.0
    for path in sorted(results.glob("*.csv")):
        if path.name.startswith("comparison"):
            continue
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("reused") in ("True", "true") or not row.get("seconds"):
                    continue
                if row.get("epochs"):
                    train_seconds += float(row["seconds"])
                    epochs += float(row["epochs"])
                else:
                    analysis_seconds += float(row["seconds"])
    wall = json.loads((results / "run_summary.json").read_text())["seconds"]
    return train_seconds / epochs, analysis_seconds, wall


def design(epochs: int | None, shuffle_seeds: tuple[int, ...]) -> protocol.Scale:
    """The mini scale with the target runs at ``epochs`` (None: as committed) and these block-shuffle seeds."""
    scale = protocol.MINI
    if epochs is not None:
        scale = replace(scale, schedule=replace(scale.schedule, length=epochs,
                                                milestones=protocol.domainnet_milestones(epochs)))
    return replace(scale, shuffle_seeds=shuffle_seeds)


def trained_epochs(scale: protocol.Scale) -> tuple[int, float]:
    """The target runs the scale trains (P excluded) and their epochs in all."""
    saved = protocol.SCALES["mini"]
    protocol.SCALES["mini"] = scale
    try:
        runs = [r for r in protocol.runs("mini") if isinstance(r, TrainRun) and r.same_as is None
                and r.key != protocol.source_key(scale)]
    finally:
        protocol.SCALES["mini"] = saved
    return len(runs), float(sum(r.schedule.length for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/neyshabur2020/mini"))
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--worker-seconds-per-epoch", type=float, default=None,
                        help="price training at this rate per worker, two workers (default: the committed grid's)")
    args = parser.parse_args()
    per_epoch, analyses, wall = measured(args.results)
    print(f"measured in {args.results}: {per_epoch:.2f} s per training epoch, analyses {analyses:.0f} s, "
          f"grid wall time {wall / 60:.1f} min\n")
    if args.worker_seconds_per_epoch is not None:
        per_epoch = args.worker_seconds_per_epoch / 2 * JOBS2_SPEEDUP  # so that wall = epochs x S / 2
        print(f"training priced at {args.worker_seconds_per_epoch:.2f} s per epoch per worker, two workers")
    print("| design | target runs trained | training epochs | worker-minutes | wall at --jobs 2 (min) |\n"
          "|---|---|---|---|---|")
    rows = [("committed mini (10 epochs, lr / 2, shuffle seed 1)", design(None, protocol.MINI.shuffle_seeds))]
    rows += [(f"{e} epochs, shuffle seeds 0, 1, 2", design(e, (0, 1, 2))) for e in args.epochs]
    for label, scale in rows:
        runs, epochs = trained_epochs(scale)
        worker = epochs * per_epoch + analyses
        print(f"| {label} | {runs} | {epochs:.0f} | {worker / 60:.0f} | {worker / JOBS2_SPEEDUP / 60:.0f} |")


if __name__ == "__main__":
    main()
