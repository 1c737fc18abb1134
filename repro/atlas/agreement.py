"""Whether two measures rank the layers alike: Spearman's rho per replicate, its exact null, and the atlas's rule.

For one replicate (a split of Yosinski's networks, a target of Chen's), a
measure is a value per layer position, k of them (depths n = 1..7, or blocks
b = 1..17). Two measures agree on which layers transfer when they order the
positions alike, in the direction in which both say "this layer transfers
well" (:data:`EXPECTED`). The rule, fixed before the results (docs/atlas.md):

* rho_r = Spearman's rank correlation over the k positions of replicate r
  (average ranks for ties);
* rho_crit(k) = the smallest c with P(|rho| >= c) <= 0.05 when the two
  orderings are independent, exact over all k! permutations of distinct ranks
  (0.786 for k = 7, 0.488 for k = 17);
* **agrees** when every replicate's rho has the expected sign and
  |rho| >= rho_crit; **disagrees** when every replicate's rho has the opposite
  sign and |rho| >= rho_crit; **unclear** otherwise (the two orderings cannot be
  told from unrelated ones at k positions); **undefined** when a measure is
  constant or not finite in a replicate.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05

# +1: larger means "transfers well" (as a larger AnB accuracy does); -1: smaller means it.
EXPECTED = {
    "yosinski_AnB": +1, "yosinski_BnB": +1, "yosinski_AnB_plus": +1,
    "chen_T": +1,  # Chen et al. 2022 §3: a larger T_l, a more transferable layer
    "neyshabur_cka": +1,  # features the fine-tuning keeps
    "neyshabur_l2": -1,  # a layer the fine-tuning moves little
    "neyshabur_rewound_acc": +1,  # rewinding the layer to the source costs little: not critical
    "neyshabur_criticality": -1,  # Chatterji et al.'s measure: a smaller value, a less critical module
    "liu_deviation": -1,  # Liu et al. 2019 §4.2: transferable weights stay close to the pre-trained ones
    "neyshabur_barrier": -1,  # fine-tunings from the first n layers stay in one basin
    "liu_lambda_max": -1,  # Liu et al. 2019 §4.1: a flatter landscape around transferred weights
}


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho of two equally long sequences (average ranks); NaN when either is constant or not finite."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) != len(b):
        raise ValueError(f"sequences of different lengths: {len(a)} and {len(b)}")
    if len(a) < 3 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def squared_displacement_counts(k: int, cap: int) -> np.ndarray:
    """``counts[S]`` = how many of the k! permutations pi of 0..k-1 have S = sum_i (i - pi(i))^2, for S <= cap.

    Dynamic programming over the positions: the state is the set of values used so far (a bit mask), each
    holding the counts of the partial sums; a partial sum beyond ``cap`` can only grow and is dropped.
    """
    layer = {0: np.zeros(cap + 1, np.int64)}
    layer[0][0] = 1
    for i in range(k):
        following: dict[int, np.ndarray] = {}
        for used, counts in layer.items():
            for value in range(k):
                step = (i - value) ** 2
                if used >> value & 1 or step > cap:
                    continue
                target = following.setdefault(used | 1 << value, np.zeros(cap + 1, np.int64))
                target[step:] += counts[:cap + 1 - step]
        layer = following
    (counts,) = layer.values()
    return counts


@lru_cache(maxsize=None)
def critical_rho(k: int, alpha: float = ALPHA) -> float:
    """The smallest c with P(|rho| >= c) <= alpha under independence, exact over the k! orderings (3 <= k <= 20);
    inf when no c reaches alpha (k <= 4 at 5%: even a perfect ordering is too likely by chance).

    With distinct ranks rho = 1 - 6 S / (k (k^2 - 1)), S = sum of squared rank differences, and the null is
    symmetric (reversing one ordering maps S to its mirror), so P(|rho| >= c) = 2 P(S <= S_c) for c > 0.
    """
    if not 3 <= k <= 20:  # 20! still fits the int64 counts
        raise ValueError(f"exact null for 3 <= k <= 20 positions, got {k}")
    scale = k * (k * k - 1)
    counts = squared_displacement_counts(k, scale // 6)  # S <= scale / 6: rho >= 0
    tail = 2 * np.cumsum(counts)
    attained = np.flatnonzero((counts > 0) & (tail <= alpha * math.factorial(k)))
    return float(1.0 - 6.0 * attained[-1] / scale) if len(attained) else math.inf


def verdict(rhos: Sequence[float], expected: int, k: int) -> str:
    """agrees / disagrees / unclear / undefined from the per-split rhos (module docstring)."""
    rhos = np.asarray(rhos, np.float64)
    if len(rhos) == 0 or not np.all(np.isfinite(rhos)):
        return "undefined"
    c = critical_rho(k)
    if np.all(expected * rhos >= c):
        return "agrees"
    if np.all(-expected * rhos >= c):
        return "disagrees"
    return "unclear"
