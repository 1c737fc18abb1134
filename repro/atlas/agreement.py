"""Whether two measures rank the depths alike: Spearman's rho per split, its exact null, and the atlas's rule.

For one split, a measure is a value per depth n = 1..k. Two measures agree on
which layers transfer when they order the depths alike, in the direction in
which both say "this layer transfers well" (:data:`EXPECTED`). The rule,
fixed before the results (docs/atlas.md):

* rho_s = Spearman's rank correlation over the k depths of split s (average
  ranks for ties);
* rho_crit(k) = the smallest c with P(|rho| >= c) <= 0.05 when the two
  orderings are independent (exact, over all k! permutations of distinct
  ranks; 0.786 for k = 7);
* **agrees** when every split's rho has the expected sign and |rho| >= rho_crit;
  **disagrees** when every split's rho has the opposite sign and
  |rho| >= rho_crit; **unclear** otherwise (the two orderings cannot be told
  from unrelated ones at k depths); **undefined** when a measure is constant
  or not finite in a split.
"""
from __future__ import annotations

import itertools
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


@lru_cache(maxsize=None)
def critical_rho(k: int, alpha: float = ALPHA) -> float:
    """The smallest c with P(|rho| >= c) <= alpha under independence, exact over the k! orderings (k <= 9);
    inf when no c reaches alpha (k <= 4 at 5%: even a perfect ordering is too likely by chance)."""
    if not 3 <= k <= 9:
        raise ValueError(f"exact null for 3 <= k <= 9 depths, got {k}")
    orderings = np.array(list(itertools.permutations(range(k))), dtype=np.float64)
    squared = np.sum((orderings - np.arange(k)) ** 2, axis=1)  # rho = 1 - 6 sum d^2 / (k (k^2 - 1)), distinct ranks
    values = np.round(np.abs(1.0 - 6.0 * squared / (k * (k * k - 1))), 12)
    for c in np.unique(values):
        if np.mean(values >= c) <= alpha:
            return float(c)
    return math.inf


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
