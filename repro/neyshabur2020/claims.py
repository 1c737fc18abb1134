"""The rules of papers/neyshabur2020/claims.csv, one function per claim, on :class:`Measured` runs.

Each rule returns ``(holds, evidence)``; a rule raises
:class:`repro.compare.NotMeasured` when a run it needs is missing. Every
"on every target" rule reports each target's numbers in its evidence.
Accuracies are shown in percent.
"""
from __future__ import annotations

import math

import numpy as np

from repro.compare import NotMeasured, number
from repro.neyshabur2020.measured import Measured
from repro.neyshabur2020.protocol import MODULES, PIXEL_SHUFFLE, STAGES

STAGE_STARTS = ("conv1", "layer1.0", "layer2.0", "layer3.0", "layer4.0", "layer4.2")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _se_difference(a: np.ndarray, b: np.ndarray) -> float:
    """sqrt(s_a^2 / n_a + s_b^2 / n_b), sample standard deviations (ddof 1)."""
    if len(a) < 2 or len(b) < 2:
        raise NotMeasured("two runs per arm are needed for a standard error")
    return float(math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b)))


def _all(parts: list[tuple[bool, str]]) -> tuple[bool, str]:
    return all(ok for ok, _ in parts), "; ".join(text for _, text in parts)


def n_c1(m: Measured) -> tuple[bool, str]:
    """P-T beats RI-T in final accuracy (> 2 se) and in mean training accuracy on every target."""
    parts = []
    for t in (t for t in m.targets_of("learning_curves") if not t.schedules):  # CheXpert is N-C10's
        pt, rit = m.learning_values("P-T", t.name, "test_acc_final"), m.learning_values("RI-T", t.name, "test_acc_final")
        se = _se_difference(pt, rit)
        speed_pt = m.learning_values("P-T", t.name, "train_acc_mean").mean()
        speed_rit = m.learning_values("RI-T", t.name, "train_acc_mean").mean()
        ok = pt.mean() - rit.mean() > 2 * se and speed_pt > speed_rit
        parts.append((ok, f"{t.name}: P-T {_pct(pt.mean())} vs RI-T {_pct(rit.mean())} (2se {_pct(2 * se)}), "
                          f"mean train acc {_pct(speed_pt)} vs {_pct(speed_rit)}"))
    return _all(parts)


def _drop(m: Measured, target: str, block: str) -> float:
    pt = m.shuffle_value("P-T", target, block, "test_acc_final")
    rit = m.shuffle_value("RI-T", target, block, "test_acc_final")
    return 100 * (pt - rit) / pt


def n_c2(m: Measured) -> tuple[bool, str]:
    """Feature reuse: shuffling hurts P-T, and the P-T gain shrinks most on the nearest target."""
    full = m.scale.full_block
    large_blocks = [b for b in m.scale.block_sizes if b != PIXEL_SHUFFLE and int(b) >= int(full) // 2]
    shrink, parts = {}, []
    for t in m.targets_of("block_shuffle"):
        a1, afull = (m.shuffle_value("P-T", t.name, b, "test_acc_final") for b in ("1", full))
        small = np.mean([_drop(m, t.name, b) for b in ("1", "2", PIXEL_SHUFFLE)])
        large = np.mean([_drop(m, t.name, b) for b in large_blocks])
        shrink[t.name] = large - small
        parts.append((a1 < afull, f"{t.name}: P-T {_pct(a1)} at block 1 vs {_pct(afull)} unshuffled, "
                                  f"drop small {small:.1f} / large {large:.1f}"))
    names = [t.name for t in m.targets_of("block_shuffle")]
    near_ok = shrink[names[0]] > 0
    order_ok = shrink[names[0]] == max(shrink.values()) and shrink[names[-1]] == min(shrink.values())
    ok, text = _all(parts)
    return ok and near_ok and order_ok, text + "; shrink " + ", ".join(f"{k} {v:.1f}" for k, v in shrink.items())


def n_c3(m: Measured) -> tuple[bool, str]:
    """At block 1 and '*', P-T still matches RI-T in accuracy and beats it in training speed."""
    parts = []
    for t in m.targets_of("block_shuffle"):
        for block in ("1", PIXEL_SHUFFLE):
            acc = [m.shuffle_value(arm, t.name, block, "test_acc_final") for arm in ("P-T", "RI-T")]
            speed = [m.shuffle_value(arm, t.name, block, "train_acc_mean") for arm in ("P-T", "RI-T")]
            parts.append((acc[0] >= acc[1] and speed[0] > speed[1],
                          f"{t.name} b{block}: acc {_pct(acc[0])}/{_pct(acc[1])}, train {_pct(speed[0])}/{_pct(speed[1])}"))
    return _all(parts)


def n_c4(m: Measured) -> tuple[bool, str]:
    """Two P-T make more similar mistakes than two RI-T."""
    parts = []
    for t in m.targets_of("mistakes"):
        pt, rit = (number(m.pair_row("mistakes", t.name, pair), "jaccard") for pair in ("P-T & P-T", "RI-T & RI-T"))
        parts.append((pt > rit, f"{t.name}: Jaccard of errors P-T {pt:.3f} vs RI-T {rit:.3f}"))
    return _all(parts)


def n_c5(m: Measured) -> tuple[bool, str]:
    """CKA: P-T & P-T above the pairs with RI-T at every stage; P-T & P falls from conv1 to layer4."""
    parts = []
    for t in m.targets_of("cka"):
        rows = {pair: m.pair_row("cka", t.name, pair) for pair in ("P-T & P-T", "P-T & RI-T", "RI-T & RI-T", "P-T & P")}
        cka = {pair: [number(row, f"cka_{s}") for s in STAGES] for pair, row in rows.items()}
        above = all(pp > pr and pp > rr for pp, pr, rr in zip(cka["P-T & P-T"], cka["P-T & RI-T"], cka["RI-T & RI-T"]))
        falls = cka["P-T & P"][0] > cka["P-T & P"][-1]
        parts.append((above and falls, f"{t.name}: " + ", ".join(
            f"{pair} [{' '.join(f'{v:.2f}' for v in values)}]" for pair, values in cka.items())))
    return _all(parts)


def n_c6(m: Measured) -> tuple[bool, str]:
    """L2: 2 P-T closer than 2 RI-T, P-T closer to P than RI-T, per-parameter change grows with depth."""
    parts = []
    for t in m.targets_of("distances"):
        d = {pair: m.pair_row("distances", t.name, pair) for pair in ("2 P-T", "2 RI-T", "P-T & P", "RI-T & P")}
        l2 = {pair: number(row, "l2") for pair, row in d.items()}
        rms = [number(d["P-T & P"], f"rms_{s}") for s in ("conv1", "layer4")]
        ok = l2["2 P-T"] < l2["2 RI-T"] and l2["P-T & P"] < l2["RI-T & P"] and rms[0] < rms[1]
        parts.append((ok, f"{t.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in l2.items())
                      + f"; P-T vs P rms conv1 {rms[0]:.4f} / layer4 {rms[1]:.4f}"))
    return _all(parts)


def n_c7(m: Measured) -> tuple[bool, str]:
    """No barrier between two P-T (<= 2 points); barriers > 10 points for every pair with RI-T; a closed basin."""
    parts = []
    for t in m.targets_of("basin"):
        barrier = {pair: 100 * number(m.pair_row("interpolation", t.name, pair), "acc_barrier")
                   for pair in ("P-T & P-T", "RI-T & RI-T", "RI-T & RI-T same init", "RI-T & P-T")}
        basin = m.pair_row("basin", t.name, "2 P-T")
        closed = basin["closed"] == "True" and math.isfinite(number(basin, "delta"))
        ok = barrier["P-T & P-T"] <= 2 and all(v > 10 for k, v in barrier.items() if k != "P-T & P-T") and closed
        parts.append((ok, f"{t.name}: barriers " + ", ".join(f"{k} {v:.1f}" for k, v in barrier.items())
                      + f"; basin eps {number(basin, 'epsilon'):.4f} delta {number(basin, 'delta'):g}"
                      + ("" if closed else " (not closed)")))
    return _all(parts)


def _drops(row: dict[str, str]) -> dict[str, float]:
    final = number(row, "acc_final")
    return {module: final - number(row, f"acc_{module.replace('.', '_')}") for module in MODULES
            if not math.isnan(number(row, f"acc_{module.replace('.', '_')}"))}


def n_c8(m: Measured) -> tuple[bool, str]:
    """Rewinding: P-T modules less critical than RI-T's; RI-T's most critical is a stage start; P-T's fc most critical."""
    parts = []
    for t in m.targets_of("criticality"):
        pt = _drops(m.criticality_row(t.name, "P-T", m.chosen_lr("P-T", t.name)))
        rit = _drops(m.criticality_row(t.name, "RI-T", m.chosen_lr("RI-T", t.name)))
        body_pt = np.mean([v for k, v in pt.items() if k != "fc"])
        body_rit = np.mean([v for k, v in rit.items() if k != "fc"])
        worst_rit = max((k for k in rit if k != "fc"), key=rit.get)
        fc_top = all(pt["fc"] > v for k, v in pt.items() if k != "fc")
        ok = body_pt < body_rit and worst_rit in STAGE_STARTS and fc_top
        parts.append((ok, f"{t.name}: mean drop P-T {_pct(body_pt)} vs RI-T {_pct(body_rit)}, "
                          f"RI-T worst {worst_rit} ({_pct(rit[worst_rit])}), P-T fc {_pct(pt['fc'])} "
                          f"vs next {_pct(max(v for k, v in pt.items() if k != 'fc'))}"))
    return _all(parts)


def n_c9(m: Measured) -> tuple[bool, str]:
    """Later pre-training checkpoints transfer better, with diminishing returns."""
    final = m.scale.source.epochs
    third, two_thirds = round(final / 3), round(2 * final / 3)
    parts = []
    for t in m.targets_of("checkpoints"):
        a = {k: m.checkpoint_value(t.name, k, "test_acc_final") for k in (0, third, two_thirds, final)}
        s = float(np.std(m.learning_values("P-T", t.name, "test_acc_final"), ddof=1))
        first_gain, last_gain = a[third] - a[0], a[final] - a[two_thirds]
        ok = a[final] - a[0] > 2 * math.sqrt(2) * s and last_gain < first_gain
        parts.append((ok, f"{t.name}: ckpt 0 {_pct(a[0])}, {third} {_pct(a[third])}, {two_thirds} {_pct(a[two_thirds])}, "
                          f"{final} {_pct(a[final])} (2*sqrt2*s {_pct(2 * math.sqrt(2) * s)})"))
    return _all(parts)


def n_c10(m: Measured) -> tuple[bool, str]:
    """On the CheXpert stand-in, P-T peaks early and overfits; the P-T* -> P-T line decreases monotonically."""
    t = m.target_for("chexpert")
    if t is None:
        raise NotMeasured("no target stands in for CheXpert at this scale")
    runs = m.learning_runs("P-T", t.name)
    best = np.array([number(r, "test_acc_best") for r in runs])
    final = np.array([number(r, "test_acc_final") for r in runs])
    epochs = [int(number(r, "best_epoch")) for r in runs]
    total = int(number(runs[0], "epochs"))
    if len(runs) < 2:
        raise NotMeasured("two P-T runs are needed")
    se = float(np.std(best - final, ddof=1) / math.sqrt(2))
    rise = 100 * number(m.pair_row("interpolation", t.name, "P-T* & P-T"), "max_rise")
    early = all(e <= 0.2 * total for e in epochs)
    ok = early and (best - final).mean() > 2 * se and rise <= 0.5
    return ok, (f"{t.name}: best epochs {epochs} of {total}, best - final {100 * (best - final).mean():.1f} "
                f"(2se {200 * se:.1f}), largest rise along P-T* -> P-T {rise:.1f}")


RULES = {"N-C1": n_c1, "N-C2": n_c2, "N-C3": n_c3, "N-C4": n_c4, "N-C5": n_c5, "N-C6": n_c6, "N-C7": n_c7,
         "N-C8": n_c8, "N-C9": n_c9, "N-C10": n_c10}
