"""Pilot P3 of the Chen mini redesign (papers/chen2022/README.md, "Redesign pilots"): which nine target domains,
and which N where.

    python benchmarks/chen_target_pilot.py [--source DIR] [--levels 300 600 1200] [--amended]

Computes the domain gap G and the intraclass variance D (repro.chen2022.measure) of twelve candidate domains
(fifteen with ``--amended``, pilot P3b)
with P1's theta_A (``chen_source_pilot.py``'s best-validation epoch), the targets at the mini's fine-tuning
side, on 1,000 images of each domain and 1,000 source validation images, exactly as the grid's
``domain_measures`` does; then applies the rule: the nine domains with the smallest |r(G, D)| among the subsets
that keep the smallest and largest G, and the N ``--levels`` crossed with thirds of G so that N follows neither
G nor D. Fine-tunes nothing and computes no T.
"""
from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np

DOMAINS = (("fashion_mnist", 1000), ("mnist5k", 0), ("digits", 0))  # dataset, start of its training part
TRANSFORMS = ("", "invert", "rotate", "noise")
AMENDED = ("rotate-noise",)  # P3b: the pool the amended rule adds (README)
SAMPLE = 1000  # images per domain for G and D (100 per class)
DIGITS_MAX_PER_CLASS = 120  # 174 images in digits' smallest class, 50 per class kept for the test slice


def candidates(amended: bool):
    from repro.chen2022.protocol import Target

    return [Target(f"{dataset.replace('_mnist', '').replace('5k', '')}-{transform or 'plain'}", dataset,
                   (start, start + SAMPLE // 10), (0, 0), 10, transform)
            for dataset, start in DOMAINS for transform in TRANSFORMS + (AMENDED if amended else ())]


def measures(source: Path, amended: bool) -> dict[str, tuple[float, float]]:
    """Candidate name -> (G, D)."""
    from repro.quiet import quiet_libraries

    quiet_libraries()
    from repro.chen2022 import measure, mini_data
    from repro.chen2022.analyses import features
    from repro.chen2022.protocol import MINI, network
    from repro.store import epoch_weights
    from repro.weightfiles import load_weights

    from chen_finetune_pilot import best_source_epoch  # benchmarks/ is the script's directory, on sys.path

    weights = epoch_weights(source, best_source_epoch(source))
    source_model = network(MINI, 10).build(0)
    load_weights(source_model, weights)
    source_features = features(source_model, mini_data.source_examples(MINI, None, SAMPLE)[0])
    target_model = network(MINI, 10, MINI.target_size).build(0)
    load_weights(target_model, weights)
    out = {}
    for target in candidates(amended):
        x, y = mini_data.target_examples(MINI, target, None, SAMPLE)
        target_features = features(target_model, x)
        out[target.name] = (measure.domain_gap(source_features, target_features),
                            measure.intraclass_variance(source_features, target_features, y))
    return out


def pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


def choose_domains(gd: dict[str, tuple[float, float]]) -> list[str]:
    """The rule's step 1: nine of the candidates, the smallest |r(G, D)| among subsets keeping min and max G."""
    names = list(gd)
    g = {n: gd[n][0] for n in names}
    ends = {min(names, key=g.get), max(names, key=g.get)}
    subsets = [s for s in itertools.combinations(names, 9) if ends <= set(s)]
    return list(min(subsets, key=lambda s: abs(pearson([gd[n][0] for n in s], [gd[n][1] for n in s]))))


def assign_n(gd: dict[str, tuple[float, float]], chosen: list[str], levels: tuple[int, ...]) -> dict[str, int]:
    """The rule's step 2: the N levels crossed with thirds of G, the assignment with the smallest
    max(|r(G, ln N)|, |r(D, ln N)|) among those where every domain's N fits its data."""
    by_g = sorted(chosen, key=lambda n: gd[n][0])
    thirds = [by_g[0:3], by_g[3:6], by_g[6:9]]
    best, best_score = None, math.inf
    for orders in itertools.product(itertools.permutations(levels), repeat=3):
        n_of = {name: level for third, order in zip(thirds, orders) for name, level in zip(third, order)}
        if any(name.startswith("digits") and n_of[name] > 10 * DIGITS_MAX_PER_CLASS for name in n_of):
            continue
        ln_n = [math.log(n_of[name]) for name in by_g]
        score = max(abs(pearson([gd[n][0] for n in by_g], ln_n)), abs(pearson([gd[n][1] for n in by_g], ln_n)))
        if score < best_score:
            best, best_score = n_of, score
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("/tmp/chen-pilots/source-96px-bilinear-e30"))
    parser.add_argument("--levels", type=int, nargs=3, default=[300, 600, 1200])
    parser.add_argument("--amended", action="store_true", help="P3b: the pool with the rotated-and-noisy domains")
    args = parser.parse_args()
    gd = measures(args.source, args.amended)
    chosen = choose_domains(gd)
    n_of = assign_n(gd, chosen, tuple(args.levels))
    print("| candidate | G | D | chosen | N |\n|---|---|---|---|---|")
    for name, (g, d) in sorted(gd.items(), key=lambda item: item[1][0]):
        print(f"| {name} | {g:.3f} | {d:.3f} | {'yes' if name in chosen else 'no'} | "
              f"{n_of[name] if name in chosen else ''} |")
    g, d = [gd[n][0] for n in chosen], [gd[n][1] for n in chosen]
    ln_n = [math.log(n_of[n]) for n in chosen]
    print(f"\nchosen nine: r(G, D) {pearson(g, d):+.2f}, r(G, ln N) {pearson(g, ln_n):+.2f}, "
          f"r(D, ln N) {pearson(d, ln_n):+.2f}; all {len(gd)}: r(G, D) "
          f"{pearson([v[0] for v in gd.values()], [v[1] for v in gd.values()]):+.2f}")


if __name__ == "__main__":
    main()
