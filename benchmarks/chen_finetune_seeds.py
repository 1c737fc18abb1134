"""T's spread over fine-tuning seeds from one source (papers/chen2022/README.md, "T across seeds").

    python benchmarks/chen_finetune_seeds.py --reference results/chen2022/mini --sources DIR --out DIR [--seed 1]

The paper fine-tunes from one pre-trained network, so its T values vary only
with the fine-tuning's seeds. This command repeats the mini grid's nine
fine-tunings and their transferability analyses with fine-tuning seed
``--seed`` (a new classifier initialisation and data order) from the source of
seed set 0, the reference tree's: ``--sources`` is the results root whose
``sources/mini`` holds that source with its epoch weights (a tree written by
``repro run chen2022``, not the committed one, which has no weights). The runs
go to ``<out>/chen2022/mini`` (two processes of one worker each, so the
patched seeds reach the runs); then a table gives, per target, T at seed 0
(the reference tree) and at ``--seed``, their ratio and whether it is within
20% (the bar the seed sets are held to), with D(theta_A, theta_FB) beside them.
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
from dataclasses import replace
from pathlib import Path

SAME_T = 0.20


def run_half(job: tuple[str, int, str]) -> int:
    """``repro run chen2022 transferability`` at mini with fine-tuning seed ``seed`` for the targets matching
    ``only``, in this process."""
    out, seed, only = job
    from repro.chen2022 import protocol
    from repro.cli import main

    protocol.SCALES["mini"] = replace(protocol.MINI, seeds=(seed,))
    return main(["run", "chen2022", "transferability", "--scale", "mini", "--out", out, "--jobs", "1",
                 "--only", only])


def rows(path: Path, seed: int) -> dict[str, dict[str, str]]:
    """Target -> its transferability row of fine-tuning seed ``seed``."""
    with path.open(newline="") as handle:
        return {row["target"]: row for row in csv.DictReader(handle) if int(row["seed"]) == seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=Path("results/chen2022/mini"))
    parser.add_argument("--sources", type=Path, required=True,
                        help="results root whose sources/mini holds seed set 0's source with its weights")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from repro.chen2022.protocol import MINI

    args.out.mkdir(parents=True, exist_ok=True)
    link, sources = args.out / "sources", (args.sources / "sources").resolve()
    if not link.exists():
        link.symlink_to(sources, target_is_directory=True)
    elif link.resolve() != sources:
        raise SystemExit(f"{link} points to {link.resolve()}, not to {sources}: use another --out")
    names = [t.name for t in MINI.targets]
    halves = [names[0::2], names[1::2]]
    jobs = [(str(args.out), args.seed, "|".join(f"(ft|finetune)-{n}-s{args.seed}$" for n in half)) for half in halves]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        codes = pool.map(run_half, jobs)
    if any(codes):
        raise SystemExit(f"a run failed (exit codes {codes})")
    reference = rows(args.reference / "transferability.csv", 0)
    redrawn = rows(args.out / "chen2022" / "mini" / "transferability.csv", args.seed)
    print(f"| target | T, seed 0 | T, seed {args.seed} | max / min | within {SAME_T:.0%} | D(theta_A, theta_FB), "
          f"seed 0 / seed {args.seed} |\n|---|---|---|---|---|---|")
    within = 0
    for name in names:
        a, b = float(reference[name]["T_overall"]), float(redrawn[name]["T_overall"])
        ratio = max(a, b) / min(a, b)
        within += ratio <= 1 + SAME_T
        moved = f"{float(reference[name]['D_A_FB']):.3g} / {float(redrawn[name]['D_A_FB']):.3g}"
        print(f"| {name} | {a:.3g} | {b:.3g} | {ratio:.2f} | {'yes' if ratio <= 1 + SAME_T else 'no'} | {moved} |")
    print(f"\n{within} of {len(names)} targets within {SAME_T:.0%}")


if __name__ == "__main__":
    main()
