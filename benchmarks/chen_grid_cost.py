"""P0's choice of the Chen mini configuration (papers/chen2022/README.md, "Redesign pilots"), priced from the
pilots' own measurements.

    python benchmarks/chen_grid_cost.py [--pilots /tmp/chen-pilots]

The cost formula of P0: wall = source + 1/2 x sum over the nine targets of E_ft x (seconds of one fine-tuning
epoch at the target's N) + fixed overhead. The source's seconds are P1's rerun (30 epochs at 96 px, alone on
one core: nothing else can run before it in the grid); a fine-tuning epoch's seconds are a straight line in N
fitted to P2's runs (two processes of one thread each, the ``--jobs 2`` regime: training steps grow with N,
the evaluation of the 1,500 test images does not); the fixed overhead is the first mini's 5.5 minutes
(P0). Prints every configuration of P0's preference order with its price and the first at or under 40 minutes.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

LIMIT_MIN, OVERHEAD_MIN, TARGETS_PER_LEVEL = 40.0, 5.5, 3
PREFERENCE = ((100, (300, 1000, 3000)), (100, (300, 1000, 2000)), (100, (300, 600, 1200)),
              (50, (300, 1000, 3000)), (50, (300, 1000, 2000)), (50, (300, 600, 1200)))


def seconds(run_dir: Path) -> tuple[float, int]:
    """(the run's training seconds, its epochs) from its metrics.csv."""
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    return float(rows[-1]["seconds"]), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pilots", type=Path, default=Path("/tmp/chen-pilots"))
    args = parser.parse_args()
    source_seconds, _ = seconds(args.pilots / "source-96px-bilinear-e30")
    points = []
    for run_dir in sorted(args.pilots.glob("finetune-mnist-n*-e*")):
        n = int(run_dir.name.split("-n")[1].split("-")[0])
        total, epochs = seconds(run_dir)
        points.append((n, total / epochs))
    slope, intercept = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
    print(f"source: {source_seconds / 60:.1f} min; a fine-tuning epoch: {intercept:.2f} s + {1000 * slope:.2f} s per "
          f"1,000 images (P2: " + ", ".join(f"N {n:,}: {s:.2f} s" for n, s in points) + ")\n")
    print("| fine-tuning epochs | N levels (3 targets each) | fine-tuning worker-minutes | wall (min) | fits 40 |\n"
          "|---|---|---|---|---|")
    chosen = None
    for epochs, levels in PREFERENCE:
        worker = TARGETS_PER_LEVEL * sum(epochs * (intercept + slope * n) for n in levels) / 60
        wall = source_seconds / 60 + worker / 2 + OVERHEAD_MIN
        fits = wall <= LIMIT_MIN
        chosen = chosen or (fits and (epochs, levels))
        print(f"| {epochs} | {', '.join(f'{n:,}' for n in levels)} | {worker:.1f} | {wall:.1f} | "
              f"{'yes' if fits else 'no'} |")
    print(f"\nP0's choice: {chosen[0]} epochs, N {chosen[1]}" if chosen else "\nno configuration fits")


if __name__ == "__main__":
    main()
