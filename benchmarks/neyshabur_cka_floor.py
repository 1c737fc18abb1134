"""The CKA floor of the Neyshabur mini scale: linear CKA between two untrained networks (papers/neyshabur2020/README.md,
"Claims and rules", N-C5).

    python benchmarks/neyshabur_cka_floor.py [--pairs 3]

Builds pairs of independently initialised, untrained mini networks (the Fixup
bottleneck layout of ``repro.neyshabur2020.protocol.MINI``; nothing is trained)
and prints, per target, the linear CKA of each stage output (conv1,
layer1..layer4) on the first 1,000 test images, as the rule's analysis
computes it, min-max over the pairs, and the mean over targets and pairs. Where two unrelated networks already agree
to CKA near 1, CKA cannot tell what training made similar from what the input
makes similar, and N-C5 leaves that stage out at this scale.
"""
from __future__ import annotations

import argparse

import numpy as np

from repro.models.fixup_resnet import module_outputs
from repro.neyshabur2020.mini_data import normalization, target_arrays
from repro.neyshabur2020.protocol import MINI, STAGES, network
from repro.similarity import feature_taps, linear_cka


def floor(target: str, pairs: int) -> np.ndarray:
    """CKA per stage (columns) for each pair of untrained networks (rows) on ``target``'s test images."""
    t = MINI.target(target)
    _, _, x_test, _ = target_arrays(MINI, t, None)
    mean, std = normalization(MINI, None)
    x = ((x_test - mean) / std).astype(np.float32)[:MINI.analysis_examples]
    spec = network(MINI, t.classes)
    out = []
    for k in range(pairs):
        features = []
        for seed in (2 * k + 1, 2 * k + 2):
            model = spec.build(seed=seed)
            taps = module_outputs(model)
            features.append(feature_taps(model, [taps[s] for s in STAGES]).predict(x, batch_size=250, verbose=0))
        out.append([linear_cka(a, b) for a, b in zip(*features)])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    print("| target | " + " | ".join(STAGES) + " |")
    print("|---|" + "---|" * len(STAGES))
    every = []
    for target in (t.name for t in MINI.targets):
        values = floor(target, args.pairs)
        every.append(values)
        ranges = (f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(values.min(0), values.max(0)))
        print(f"| {target} | " + " | ".join(ranges) + " |")
    print("| mean | " + " | ".join(f"{v:.2f}" for v in np.concatenate(every).mean(0)) + " |")


if __name__ == "__main__":
    main()
