"""The rules of papers/neyshabur2020/claims.csv, one function per claim, on :class:`Measured` runs.

Each rule returns the claim's parts (:mod:`repro.verdicts`), labelled (a), (b), ... as in claims.csv, and
raises :class:`repro.compare.NotMeasured` when a run it needs is missing. Accuracies are in percentage points
("pt"). The standard errors come from the replicates the protocol has, as claims.csv says per claim:

- an arm's two independent learning-curve runs (N-C1, N-C10): the standard error of the arm's mean;
- one run per cell (block shuffle, pre-training checkpoints: N-C2, N-C3, N-C9): the run-to-run standard
  deviation of the arm's two learning-curve runs at its chosen lr on that target (:func:`run_sd`);
- one pair of models per target for the CheXpert-only analyses (CKA, rewinding: N-C5, N-C8): the mean over the
  scale's targets, with the standard error of that mean from their spread;
- one pair per target for the per-domain analyses (distances, barriers: N-C6, N-C7): the standard deviation
  of the statistic over the targets, as the standard error of one target's value;
- the agreement of two models' errors (N-C4): a paired bootstrap over the test examples.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from repro.compare import NotMeasured, load_published, number
from repro.neyshabur2020.measured import Measured
from repro.neyshabur2020.protocol import MODULES, PAPER, PIXEL_SHUFFLE, STAGES, Target
from repro.verdicts import (Part, all_of, at_most, cohen_kappa, greater, not_applicable, se_of_difference,
                            se_of_mean, within)

PT, RIT = "P-T", "RI-T"
ARMS = (PT, RIT)
PT_UNIT = " pt"
# N-C8: the RI-T modules Figure 5 shows as critical (conv1, the first block of each stage, layer4.2).
CRITICAL = ("conv1", "layer1.0", "layer2.0", "layer3.0", "layer4.0", "layer4.2")
# N-C5: stages where two untrained, independently initialised networks of the scale already agree to a mean
# linear CKA above 0.85 (benchmarks/neyshabur_cka_floor.py: mini 0.97, 0.94, 0.89, 0.76, 0.59 for conv1 ...
# layer4); smoke is the mini layout, narrower, for plumbing only.
CKA_SATURATED = {"paper": (), "mini": ("conv1", "layer1", "layer2"), "smoke": ("conv1", "layer1", "layer2")}
NO_BARRIER = 0.1  # N-C7: the smallest barrier of interest, as a share of the end points' accuracy above chance
EARLY = 0.1  # N-C10 (b): "very early" = within the first tenth of training
RISE = 0.005  # N-C10 (c): a step up along the line the paper's Figure 4 could show (its reading precision, AUC)
BOOTSTRAP = 1000  # N-C4: paired bootstrap resamples of the test examples
DOMAINNET_CLASSES = 345


# ----------------------------------------------------------------------------- shared pieces

@lru_cache(maxsize=1)
def _published() -> dict[tuple[str, str, str, str], float]:
    return {p.key: p.value for p in load_published(PAPER)}


def _paper(quantity: str, condition: str, n: str, domain: str) -> float | None:
    return _published().get((quantity, condition, n, domain))


def _name(m: Measured, t: Target) -> str:
    """A target as the evidence names it: with the paper domain it stands for, below paper scale."""
    return t.name if m.scale.name == "paper" or t.name == t.stands_for else f"{t.name} ({t.stands_for})"


def _domainnet(m: Measured, experiment: str) -> list[Target]:
    """The targets of ``experiment`` trained with the DomainNet protocol (the paper's CheXpert has its own)."""
    return [t for t in m.targets_of(experiment) if not t.schedules]


def run_sd(m: Measured, arm: str, target: str, column: str) -> float:
    """The noise of one run (pt): sample standard deviation (ddof 1) of the arm's learning-curve runs at its
    chosen lr on ``target``."""
    values = 100 * m.learning_values(arm, target, column)
    if len(values) < 2:
        raise NotMeasured(f"two {arm} learning-curve runs on {target} are needed for the run-to-run noise")
    return float(np.std(values, ddof=1))


def _arm_mean(m: Measured, arm: str, target: str, column: str) -> tuple[float, float]:
    """The mean (pt) of the arm's independent runs at its chosen lr and its standard error from them."""
    values = 100 * m.learning_values(arm, target, column)
    if len(values) < 2:
        raise NotMeasured(f"two {arm} learning-curve runs on {target} are needed for a standard error")
    return float(values.mean()), se_of_mean(list(values))


def _sd(values: Sequence[float]) -> float:
    values = [v for v in values if math.isfinite(v)]
    return float(np.std(values, ddof=1)) if len(values) >= 2 else math.nan


def _listing(values: dict[str, float], digits: int = 3) -> str:
    return ", ".join(f"{k} {v:+.{digits}g}" for k, v in values.items())


def _pooled(label: str, says: str, values: dict[str, float], unit: str = "", what: str = "") -> Part:
    """The paper's one-target statement on the mean over the scale's targets, se from their spread."""
    mean = float(np.mean(list(values.values())))
    part = greater(label, says, mean, se_of_mean(list(values.values())), unit=unit,
                   what=f"{what}mean over {len(values)} targets")
    return Part(part.label, part.says, part.outcome, f"{part.evidence} [{_listing(values)}]", part.detectable)


# ----------------------------------------------------------------------------- N-C1 (Figure 2)

def n_c1(m: Measured) -> list[Part]:
    """P-T ends more accurate than RI-T on DomainNet, peaks higher on CheXpert, trains faster."""
    targets = _domainnet(m, "learning_curves")
    gaps: dict[str, list[Part]] = {"test_acc_final": [], "train_acc_mean": []}
    for t in targets:
        for column, found in gaps.items():
            (pt, se_pt), (rit, se_rit) = (_arm_mean(m, arm, t.name, column) for arm in ARMS)
            found.append(greater(_name(m, t), "", pt - rit, se_of_difference(se_pt, se_rit), unit=PT_UNIT,
                                 what=f"P-T {pt:.1f} - RI-T {rit:.1f} ="))
    says_b = "P-T reaches a higher peak test AUC than RI-T on CheXpert (Figure 2)"
    chexpert = m.target_for("chexpert")
    if chexpert is not None and chexpert.schedules:
        (pt, se_pt), (rit, se_rit) = (_arm_mean(m, arm, chexpert.name, "test_acc_best") for arm in ARMS)
        peak = greater("b", says_b, (pt - rit) / 100, se_of_difference(se_pt, se_rit) / 100,
                       what=f"best P-T {pt / 100:.3f} - RI-T {rit / 100:.3f} =")
    else:
        peak = not_applicable("b", says_b, "no target of this scale is trained with the CheXpert protocol (200/400 "
                              "epochs at a constant lr, mean AUC); the stand-in follows the DomainNet protocol and "
                              "is already in (a)")
    return [all_of("a", "P-T ends with higher test accuracy than RI-T on real, clipart and quickdraw (Figure 2)",
                   gaps["test_acc_final"]),
            peak,
            all_of("c", "P-T trains much faster: higher training accuracy averaged over the epochs (Figure 2)",
                   gaps["train_acc_mean"])]


# ----------------------------------------------------------------------------- N-C2, N-C3 (Figure 3)

def _pixel_blocks(m: Measured) -> tuple[str, ...]:
    """Block 1 and '*' (every pixel moved), each once: with one channel '*' is block 1's permutation and run."""
    return ("1",) if m.scale.channels == 1 else ("1", PIXEL_SHUFFLE)


def _large_blocks(m: Measured) -> list[str]:
    """Blocks of at least half the image side (112 and 224 of 224; 16 and 32 of 32)."""
    side = int(m.scale.full_block)
    return [b for b in m.scale.block_sizes if b != PIXEL_SHUFFLE and 2 * int(b) >= side]


def _cell(m: Measured, arm: str, t: Target, block: str, column: str = "test_acc_final") -> tuple[float, float]:
    """A block-shuffle cell (pt, mean over its seeds) and its se: the run-to-run sd over sqrt(seeds)."""
    values = 100 * m.shuffle_values(arm, t.name, block, column)
    return float(values.mean()), run_sd(m, arm, t.name, column) / math.sqrt(len(values))


def _drop(m: Measured, t: Target, block: str) -> tuple[float, float]:
    """Figure 3's relative drop 100 (A_PT - A_RIT) / A_PT (%) at ``block`` and its se (delta method)."""
    (a, se_a), (r, se_r) = _cell(m, PT, t, block), _cell(m, RIT, t, block)
    return 100 * (a - r) / a, 100 * math.hypot(r / a ** 2 * se_a, se_r / a)


def _mean_drop(m: Measured, t: Target, blocks: Sequence[str]) -> tuple[float, float]:
    drops = [_drop(m, t, b) for b in blocks]
    return float(np.mean([d for d, _ in drops])), math.sqrt(sum(se * se for _, se in drops)) / len(drops)


def _shrink(m: Measured, t: Target) -> tuple[float, float, str]:
    """Mean drop over the large blocks minus mean drop over the pixel-level blocks, its se, and the numbers."""
    (large, se_large), (small, se_small) = _mean_drop(m, t, _large_blocks(m)), _mean_drop(m, t, _pixel_blocks(m))
    return large - small, se_of_difference(se_large, se_small), f"drop {large:.1f} % (large) - {small:.1f} % (pixel) ="


def n_c2(m: Measured) -> list[Part]:
    """Feature reuse: shuffling lowers P-T's accuracy; P-T's relative advantage shrinks most near the source."""
    targets = list(m.targets_of("block_shuffle"))
    if len(targets) < 3:
        raise NotMeasured("Figure 3's three domains (near, middle, far) are needed")
    near, middle, far = targets[0], targets[1], targets[-1]
    full = m.scale.full_block
    falls = []
    for t in targets:
        (unshuffled, se_full), (shuffled, se_1) = _cell(m, PT, t, full), _cell(m, PT, t, "1")
        falls.append(greater(_name(m, t), "", unshuffled - shuffled, se_of_difference(se_full, se_1), unit=PT_UNIT,
                             what=f"P-T {unshuffled:.1f} (block {full}) - {shuffled:.1f} (block 1) ="))
    shrink = {t.name: _shrink(m, t) for t in targets}
    shrinks = [greater(_name(m, t), "", shrink[t.name][0], shrink[t.name][1], unit=" %", what=shrink[t.name][2])
               for t in (near, middle)]
    (d_near, se_near, _), (d_middle, se_middle, _) = shrink[near.name], shrink[middle.name]
    four = next((b for b in m.scale.block_sizes if b != PIXEL_SHUFFLE and int(b) >= 4), None)
    band = _quickdraw_band()
    if four is None or band is None:
        raise NotMeasured("a block of at least 4 px and Figure 3's quickdraw drops are needed")
    (d4, se4), (d_large, se_large) = _drop(m, far, four), _mean_drop(m, far, _large_blocks(m))
    return [
        all_of("a", "P-T's test accuracy falls when the image is shuffled pixel by pixel (Figure 3 left)", falls),
        all_of("b", "P-T's relative advantage over RI-T shrinks from large to pixel-level blocks on real and "
                    "clipart (Figure 3 left, bar labels)", shrinks),
        greater("c", "the shrink is largest on real: larger than on clipart (Figure 3 left)", d_near - d_middle,
                se_of_difference(se_near, se_middle), unit=" %",
                what=f"shrink {_name(m, near)} {d_near:.1f} - {_name(m, middle)} {d_middle:.1f} ="),
        within("d", "quickdraw's relative drop stays roughly constant over blocks of 4 px and more (Figure 3 left: "
                    "18-26 %)", d4 - d_large, se_of_difference(se4, se_large), band, unit=" %",
               what=f"{_name(m, far)}: drop {d4:.1f} % (block {four}) - {d_large:.1f} % (large) ="),
    ]


def _quickdraw_band() -> float | None:
    """The spread (max - min) of quickdraw's published relative drops over blocks of 4 px and more (Figure 3)."""
    drops = [v for (q, c, n, d), v in _published().items()
             if q == "shuffle_drop_pct" and d == "quickdraw" and n.isdigit() and int(n) >= 4]
    return max(drops) - min(drops) if drops else None


def n_c3(m: Measured) -> list[Part]:
    """Low-level statistics: at pixel-level shuffles P-T still beats RI-T in accuracy and speed, most on quickdraw."""
    targets = list(m.targets_of("block_shuffle"))
    far, others = targets[-1], targets[:-1]
    gaps: dict[str, dict[tuple[str, str], tuple[float, float]]] = {"test_acc_final": {}, "train_acc_mean": {}}
    parts: dict[str, list[Part]] = {"test_acc_final": [], "train_acc_mean": []}
    for column in gaps:
        for t in targets:
            for block in _pixel_blocks(m):
                (pt, se_pt), (rit, se_rit) = (_cell(m, arm, t, block, column) for arm in ARMS)
                gaps[column][(t.name, block)] = (pt - rit, se_of_difference(se_pt, se_rit))
                parts[column].append(greater(f"{_name(m, t)} block {block}", "", pt - rit,
                                             se_of_difference(se_pt, se_rit), unit=PT_UNIT,
                                             what=f"P-T {pt:.1f} - RI-T {rit:.1f} ="))
    speed = gaps["train_acc_mean"]
    striking = []
    for t in others:
        for block in _pixel_blocks(m):
            (d_far, se_far), (d_t, se_t) = speed[(far.name, block)], speed[(t.name, block)]
            striking.append(greater(f"vs {_name(m, t)} block {block}", "", d_far - d_t, se_of_difference(se_far, se_t),
                                    unit=PT_UNIT, what=f"gap {d_far:.1f} - {d_t:.1f} ="))
    return [
        all_of("a", "with every pixel shuffled P-T is still more accurate than RI-T (Figure 3 left)",
               parts["test_acc_final"]),
        all_of("b", "with every pixel shuffled P-T still trains faster: higher mean training accuracy (Figure 3 right)",
               parts["train_acc_mean"]),
        all_of("c", "the speed advantage is most striking on quickdraw, where RI-T barely trains (Figure 3 right)",
               striking),
    ]


# ----------------------------------------------------------------------------- N-C4 (mistakes)

def _kappas(a_wrong: np.ndarray, b_wrong: np.ndarray) -> np.ndarray:
    """Cohen's kappa of error indicators row by row (the formula of :func:`repro.verdicts.cohen_kappa`)."""
    p_a, p_b = a_wrong.mean(axis=-1), b_wrong.mean(axis=-1)
    p_o = (a_wrong == b_wrong).mean(axis=-1)
    p_e = p_a * p_b + (1 - p_a) * (1 - p_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_e < 1, (p_o - p_e) / (1 - p_e), np.nan)


def kappa_gap(pt: tuple[np.ndarray, ...], rit: tuple[np.ndarray, ...], draws: int = BOOTSTRAP,
              seed: int = 0) -> tuple[float, float, float, float]:
    """kappa(P-T pair) - kappa(RI-T pair) on the same test examples, its paired-bootstrap se, and the two kappas."""
    (y, a, b), (y2, c, d) = pt, rit
    if len(y) != len(y2) or not np.array_equal(y, y2):
        raise ValueError("the two pairs were not evaluated on the same test examples")
    wrong = [np.asarray(p) != np.asarray(y) for p in (a, b, c, d)]
    k_pt, k_rit = cohen_kappa(wrong[0], wrong[1]), cohen_kappa(wrong[2], wrong[3])
    index = np.random.default_rng(seed).integers(0, len(y), size=(draws, len(y)))
    gaps = _kappas(wrong[0][index], wrong[1][index]) - _kappas(wrong[2][index], wrong[3][index])
    return k_pt - k_rit, float(np.nanstd(gaps, ddof=1)), k_pt, k_rit


def n_c4(m: Measured) -> list[Part]:
    """Two P-T models agree more on which examples they get wrong than two RI-T models (chance-corrected)."""
    found = []
    for t in m.targets_of("mistakes"):
        pt, rit = (m.mistake_predictions(t.name, pair) for pair in ("P-T & P-T", "RI-T & RI-T"))
        if pt is None or rit is None:
            found.append(Part(_name(m, t), "", "inconclusive", "no predictions.npz in the mistakes run directories",
                              "kappa needs the saved predictions"))
            continue
        d, se, k_pt, k_rit = kappa_gap(pt, rit)
        found.append(greater(_name(m, t), "", d, se, what=f"kappa P-T {k_pt:.3f} - RI-T {k_rit:.3f} ="))
    return [all_of("a", "two P-T models make similar mistakes, two RI-T models more diverse ones ('Investigating "
                        "mistakes'): Cohen's kappa of the error indicators, P-T pair above RI-T pair", found)]


# ----------------------------------------------------------------------------- N-C5 (Table 1)

def n_c5(m: Measured) -> list[Part]:
    """CKA: P-T & P-T above P-T & RI-T and RI-T & RI-T at every layer CKA can resolve; P-T & P falls with depth."""
    targets = m.targets_of("cka")
    cka = {t.name: {pair: {s: number(m.pair_row("cka", t.name, pair), f"cka_{s}") for s in STAGES}
                    for pair in ("P-T & P-T", "P-T & RI-T", "RI-T & RI-T", "P-T & P")} for t in targets}
    saturated = CKA_SATURATED.get(m.scale.name, ())
    layers = [s for s in STAGES if s not in saturated]

    def above(other: str) -> list[Part]:
        return [_pooled(s, "", {t: c["P-T & P-T"][s] - c[other][s] for t, c in cka.items()},
                        what=f"CKA(P-T, P-T) - CKA({other.replace(' & ', ', ')}) at {s}, ") for s in layers]

    falls = [_pooled(f"{a}>{b}", "", {t: c["P-T & P"][a] - c["P-T & P"][b] for t, c in cka.items()},
                     what=f"CKA(P-T, P) at {a} - at {b}, ") for a, b in zip(layers, layers[1:])]
    parts = [
        all_of("a", "two P-T models have far more similar features than P-T and RI-T, at every layer (Table 1)",
               above("P-T & RI-T")),
        all_of("b", "two P-T models have far more similar features than two RI-T models, at every layer (Table 1)",
               above("RI-T & RI-T")),
        all_of("c", "P-T's feature similarity to P falls with depth (Table 1)", falls) if falls else
        not_applicable("c", "P-T's feature similarity to P falls with depth (Table 1)",
                       "fewer than two layers resolve"),
    ]
    if saturated:
        parts.append(not_applicable(
            "d", f"(a)-(c) at {', '.join(saturated)}",
            f"two untrained, independently initialised {m.scale.name} networks already agree there (mean linear CKA "
            "above 0.85: benchmarks/neyshabur_cka_floor.py), so CKA cannot tell learned from input-driven similarity"))
    return parts


# ----------------------------------------------------------------------------- N-C6 (Table 2)

def n_c6(m: Measured) -> list[Part]:
    """l2: 2 P-T closer than 2 RI-T (about 4x), P-T closer to P than RI-T, P-T's change from P larger at layer4."""
    targets = m.targets_of("distances")
    rows = {t.name: {pair: m.pair_row("distances", t.name, pair) for pair in ("2 P-T", "2 RI-T", "P-T & P", "RI-T & P")}
            for t in targets}
    stats = {
        "a": {t: math.log(number(r["2 RI-T"], "l2") / number(r["2 P-T"], "l2")) for t, r in rows.items()},
        "b": {t: math.log(number(r["RI-T & P"], "l2") / number(r["P-T & P"], "l2")) for t, r in rows.items()},
        "c": {t: math.log(number(r["P-T & P"], "l2_layer4") / number(r["P-T & P"], "l2_conv1"))
              for t, r in rows.items()},
    }
    texts = {
        "a": lambda r: f"d(2 RI-T) {number(r['2 RI-T'], 'l2'):.3g} / d(2 P-T) {number(r['2 P-T'], 'l2'):.3g}",
        "b": lambda r: f"d(RI-T, P) {number(r['RI-T & P'], 'l2'):.3g} / d(P-T, P) {number(r['P-T & P'], 'l2'):.3g}",
        "c": lambda r: (f"P-T vs P: l2 layer4 {number(r['P-T & P'], 'l2_layer4'):.3g} / conv1 "
                        f"{number(r['P-T & P'], 'l2_conv1'):.3g}"),
    }
    pairs = {"a": ("2 RI-T", "2 P-T"), "b": ("RI-T & P", "P-T & P")}

    def claimed(part: str, t: Target) -> float | None:
        if part not in pairs:
            return None
        far, close = (_paper("l2_distance", pair, "", t.stands_for) for pair in pairs[part])
        return math.log(far / close) if far and close else None

    found = {part: [greater(_name(m, t), "", stats[part][t.name], _sd(list(stats[part].values())),
                            claimed=claimed(part, t), what=f"{texts[part](rows[t.name])}, log ratio")
                    for t in targets] for part in stats}
    return [
        all_of("a", "two P-T models are closer to each other than two RI-T models, about 4x on DomainNet (Table 2)",
               found["a"]),
        all_of("b", "P-T stays close to P while RI-T ends far from it (Table 2)", found["b"]),
        all_of("c", "per module, P-T's l2 distance from P grows toward the top layers (appendix)", found["c"]),
    ]


# ----------------------------------------------------------------------------- N-C7 (Figures 4, 16; Definition 3.1)

def _barrier(start: float, end: float, low: float, chance: float) -> float:
    """Share of the end points' mean accuracy above chance lost at the line's minimum."""
    mean = (start + end) / 2
    return (mean - low) / (mean - chance) if mean > chance else math.nan


def _paper_barrier(pair: str, domain: str) -> float | None:
    """The normalised barrier of Figures 4 and 16 for ``pair`` on ``domain``, where ends and minimum are published."""
    low = _paper("interp_min_acc", pair, "", domain)
    both = _paper("interp_end_acc", pair, "", domain)
    start, end = (_paper("interp_end_acc", pair, n, domain) for n in ("start", "end"))
    if low is None or (both is None and (start is None or end is None)):
        return None
    start, end = (both, both) if both is not None else (start, end)
    return _barrier(start, end, low, 100 / DOMAINNET_CLASSES)


def n_c7(m: Measured) -> list[Part]:
    """No barrier between two P-T; a large one between RI-T pairs (even from one init) and RI-T & P-T; a basin."""
    targets = _domainnet(m, "interpolation")
    pairs = ("P-T & P-T", "RI-T & RI-T", "RI-T & RI-T same init", "RI-T & P-T")
    values: dict[str, dict[str, float]] = {pair: {} for pair in pairs}
    texts: dict[tuple[str, str], str] = {}
    for t in targets:
        for pair in pairs:
            row = m.pair_row("interpolation", t.name, pair)
            start, end, low = (100 * number(row, c) for c in ("acc_start", "acc_end", "acc_min"))
            values[pair][t.name] = _barrier(start, end, low, 100 / t.classes)
            texts[(pair, t.name)] = f"ends {start:.1f}/{end:.1f}, min {low:.1f}, chance {100 / t.classes:.0f}:"
    se = {pair: _sd(list(v.values())) for pair, v in values.items()}

    def large(pair: str) -> list[Part]:
        found = []
        for t in targets:
            paper = _paper_barrier(pair, t.stands_for)
            found.append(greater(_name(m, t), "", values[pair][t.name] - NO_BARRIER, se[pair],
                                 claimed=None if paper is None else paper - NO_BARRIER,
                                 what=f"{texts[(pair, t.name)]} barrier - {NO_BARRIER:g} ="))
        return found

    flat = [within(_name(m, t), "", values["P-T & P-T"][t.name], se["P-T & P-T"], NO_BARRIER,
                   what=f"{texts[('P-T & P-T', t.name)]} barrier") for t in targets]
    basins = []
    for t in m.targets_of("basin"):
        row = m.pair_row("basin", t.name, "2 P-T")
        closed, delta = row.get("closed") == "True", number(row, "delta")
        text = f"epsilon {number(row, 'epsilon'):.3g}, delta {delta:g}, {'closed' if closed else 'not closed'}"
        if closed and math.isfinite(delta):
            basins.append(Part(_name(m, t), "", "holds", text))
        else:
            basins.append(Part(_name(m, t), "", "inconclusive", text,
                               "the loss did not leave the basin within the extrapolation range" if not closed else
                               "no delta on the grid met conditions 2-3"))
    return [
        all_of("a", "no performance barrier on the line between two P-T solutions (Figure 4)", flat),
        all_of("b", "a large barrier between two RI-T solutions (Figure 4)", large("RI-T & RI-T")),
        all_of("c", "a large barrier between two RI-T solutions even from the same random init (Figure 16)",
               large("RI-T & RI-T same init")),
        all_of("d", "a large barrier between RI-T and P-T (Figure 4)", large("RI-T & P-T")),
        all_of("e", "the two P-T solutions lie in one (epsilon, delta)-basin (§3.3, Definition 3.1)", basins),
    ]


# ----------------------------------------------------------------------------- N-C8 (Figure 5)

def _drops(row: dict[str, str]) -> dict[str, float]:
    """drop(module) in pt: final accuracy minus the accuracy with that module rewound, for the modules the network
    has (a narrower layout lacks some of the 18; ``modules_absent``)."""
    final = number(row, "acc_final")
    drops = {module: 100 * (final - number(row, f"acc_{module.replace('.', '_')}")) for module in MODULES}
    return {k: v for k, v in drops.items() if math.isfinite(v)}


def n_c8(m: Measured) -> list[Part]:
    """Rewinding: P-T modules less critical than RI-T's; RI-T's stage starts critical; P-T's fc the most critical."""
    drops = {t.name: {arm: _drops(m.criticality_row(t.name, arm, m.chosen_lr(arm, t.name))) for arm in ARMS}
             for t in m.targets_of("criticality")}
    present = [x for x in MODULES if all(x in d[arm] for d in drops.values() for arm in ARMS)]
    if "fc" not in present:
        raise NotMeasured("no rewound accuracy for fc")
    body = [x for x in present if x != "fc"]
    critical = [x for x in body if x in CRITICAL]
    rest = [x for x in body if x not in CRITICAL]
    gap = {t: np.mean([d[RIT][x] for x in body]) - np.mean([d[PT][x] for x in body]) for t, d in drops.items()}
    says_b = "for RI-T, conv1, each stage's first block and layer4.2 are the critical modules (Figure 5)"
    if critical and rest:
        group = _pooled("b", says_b, {t: np.mean([d[RIT][x] for x in critical]) - np.mean([d[RIT][x] for x in rest])
                                      for t, d in drops.items()},
                        unit=PT_UNIT, what=f"RI-T drop, those {len(critical)} modules - the other {len(rest)}, ")
    else:
        group = not_applicable("b", says_b, "the network has no module outside that group to compare it with")
    fc = [_pooled(x, "", {t: d[PT]["fc"] - d[PT][x] for t, d in drops.items()}, unit=PT_UNIT,
                  what=f"drop(fc) - drop({x}), ") for x in body]
    return [
        _pooled("a", "rewinding one P-T module costs much less than rewinding one RI-T module (Figure 5)", gap,
                unit=PT_UNIT, what=f"RI-T - P-T mean drop over the {len(body)} modules but fc, "),
        group,
        all_of("c", "for P-T the classifier fc is the most critical module (Figure 5)", fc),
    ]


# ----------------------------------------------------------------------------- N-C9 (Figure 7)

def n_c9(m: Measured) -> list[Part]:
    """Later pre-training checkpoints transfer better and train faster, with diminishing returns."""
    final = m.scale.source.epochs
    third, two_thirds = round(final / 3), round(2 * final / 3)
    if not {0, third, two_thirds, final} <= set(m.scale.source_checkpoints):
        raise NotMeasured("checkpoints 0, 1/3, 2/3 and the end of pre-training are needed")
    # (A(1/3) - A(0)) - (A(final) - A(2/3)) as coefficients of single runs (1/3 and 2/3 coincide below 3 epochs)
    weights: dict[int, float] = {}
    for k, w in ((third, 1), (0, -1), (final, -1), (two_thirds, 1)):
        weights[k] = weights.get(k, 0) + w
    gains, returns, speed = [], [], []
    for t in m.targets_of("checkpoints"):
        a = {k: 100 * m.checkpoint_value(t.name, k, "test_acc_final") for k in (0, third, two_thirds, final)}
        s = run_sd(m, PT, t.name, "test_acc_final")
        gains.append(greater(_name(m, t), "", a[final] - a[0], math.sqrt(2) * s, unit=PT_UNIT,
                             what=f"A({final}) {a[final]:.1f} - A(0) {a[0]:.1f} ="))
        early, late = a[third] - a[0], a[final] - a[two_thirds]
        returns.append(greater(_name(m, t), "", early - late, s * math.sqrt(sum(w * w for w in weights.values())),
                               unit=PT_UNIT,
                               what=f"gain 0->{third} {early:.1f} - gain {two_thirds}->{final} {late:.1f} ="))
        train = {k: 100 * m.checkpoint_value(t.name, k, "train_acc_mean") for k in (0, final)}
        speed.append(greater(_name(m, t), "", train[final] - train[0],
                             math.sqrt(2) * run_sd(m, PT, t.name, "train_acc_mean"), unit=PT_UNIT,
                             what=f"T({final}) {train[final]:.1f} - T(0) {train[0]:.1f} ="))
    return [
        all_of("a", "fine-tuning from the final pre-training checkpoint is more accurate than from the start "
                    "(Figure 7)", gains),
        all_of("b", "with diminishing returns: the first third of pre-training gains more than the last (Figure 7)",
               returns),
        all_of("c", "and trains faster: higher mean training accuracy (Figure 7 right)", speed),
    ]


# ----------------------------------------------------------------------------- N-C10 (CheXpert)

def n_c10(m: Measured) -> list[Part]:
    """On CheXpert P-T overfits: it peaks early, then declines, monotonically along P-T* -> P-T."""
    t = m.target_for("chexpert")
    if t is None:
        raise NotMeasured("no target stands in for CheXpert at this scale")
    says = ("P-T overfits on CheXpert: its best test AUC exceeds its final one (Figure 2)",
            "P-T's best checkpoint comes very early (epoch 4 of 200; official ckpt_interpolation.py)",
            "test AUC falls monotonically from the best to the final P-T checkpoint (Figure 4 right)")
    if not t.schedules:
        reason = (f"{t.name} is trained with the DomainNet protocol (lr drops, {m.scale.epochs} epochs), not "
                  "CheXpert's constant lr over 200 epochs in which the paper sees P-T overfit")
        return [not_applicable(label, text, reason) for label, text in zip("abc", says)]
    runs = m.learning_runs(PT, t.name)
    if len(runs) < 2:
        raise NotMeasured("two P-T runs are needed")
    over = [number(r, "test_acc_best") - number(r, "test_acc_final") for r in runs]
    when = [number(r, "best_epoch") / number(r, "epochs") for r in runs]
    peak, end = (_paper(q, "P-T lr0.02", "", "chexpert") for q in ("peak_test_auc", "end_test_auc"))
    rise = number(m.pair_row("interpolation", t.name, "P-T* & P-T"), "max_rise")
    return [
        greater("a", says[0], float(np.mean(over)), se_of_mean(over),
                claimed=None if peak is None or end is None else peak - end, what="best - final"),
        at_most("b", says[1], float(np.mean(when)), se_of_mean(when), EARLY, what="best epoch / epochs"),
        at_most("c", says[2], rise, 0.0, RISE, what="largest step up along P-T* -> P-T"),
    ]


RULES = {"N-C1": n_c1, "N-C2": n_c2, "N-C3": n_c3, "N-C4": n_c4, "N-C5": n_c5, "N-C6": n_c6, "N-C7": n_c7,
         "N-C8": n_c8, "N-C9": n_c9, "N-C10": n_c10}
