"""The rules of papers/liu2019/claims.csv, one function per claim, on the measured rows.

Each rule returns ``(holds, evidence)`` and raises
:class:`repro.compare.NotMeasured` when a run it needs is missing. Every
arm value is the mean over the arm's seeds; "2 se" between arms a and b is
``2 sqrt(se_a^2 + se_b^2)`` with ``se = sd(ddof 1) / sqrt(n)``.
Accuracies are shown in percent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from repro.compare import MergedRuns, NotMeasured, number
from repro.liu2019.protocol import SCALES, THEORY_KINDS, Scale


@dataclass
class Measured:
    """Rows of every experiment that ran, for one scale."""

    scale: Scale
    rows: dict[str, list[dict[str, str]]]

    @classmethod
    def from_merged(cls, merged: Mapping[str, MergedRuns], scale: str) -> "Measured":
        return cls(SCALES[scale], {e: m.rows for e, m in merged.items()})

    def experiment(self, name: str) -> list[dict[str, str]]:
        if name not in self.rows:
            raise NotMeasured(f"no {name} results")
        return self.rows[name]

    def values(self, experiment: str, column: str, **match: str) -> np.ndarray:
        """``column`` of the rows whose identity columns equal ``match``, in seed order."""
        rows = [r for r in self.experiment(experiment) if all(r.get(k) == str(v) for k, v in match.items())]
        if not rows:
            raise NotMeasured(f"no {experiment} rows for {match}")
        return np.array([number(r, column) for r in sorted(rows, key=lambda r: int(r["seed"]))])


@dataclass(frozen=True)
class Arm:
    """Mean and standard error of one arm over its seeds."""

    values: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def se(self) -> float:
        if len(self.values) < 2:
            raise NotMeasured("two seeds per arm are needed for a standard error")
        return float(np.std(self.values, ddof=1) / math.sqrt(len(self.values)))


def two_se(a: Arm, b: Arm) -> float:
    """2 sqrt(se_a^2 + se_b^2)."""
    return 2 * math.sqrt(a.se ** 2 + b.se ** 2)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _arms(m: Measured, experiment: str, column: str) -> tuple[Arm, Arm]:
    return (Arm(m.values(experiment, column, condition="pretrained")),
            Arm(m.values(experiment, column, condition="random")))


def l_c1(m: Measured) -> tuple[bool, str]:
    """Smaller deviation (> 2 se), smaller top Hessian eigenvalue and trace, flatter surface for pretrained."""
    pre, ran = _arms(m, "deviation", "deviation_conv")
    margin = two_se(pre, ran)
    a = pre.mean < ran.mean - margin
    eig_p, eig_r = _arms(m, "flatness", "top_eigenvalue")
    tr_p, tr_r = _arms(m, "flatness", "hessian_trace")
    b = eig_p.mean < eig_r.mean and tr_p.mean < tr_r.mean
    rise_p, rise_r = _arms(m, "flatness", "surface_mean_rise")
    c = rise_p.mean < rise_r.mean
    return a and b and c, (
        f"(a) conv deviation {pre.mean:.3g} vs {ran.mean:.3g} (2se {margin:.3g}) {'ok' if a else 'fails'}; "
        f"(b) top eigenvalue {eig_p.mean:.3g} vs {eig_r.mean:.3g}, trace {tr_p.mean:.4g} vs {tr_r.mean:.4g} "
        f"{'ok' if b else 'fails'}; (c) surface mean rise {rise_p.mean:.3g} vs {rise_r.mean:.3g} "
        f"{'ok' if c else 'fails'} (pretrained vs random)")


def l_c2(m: Measured) -> tuple[bool, str]:
    """Smaller, less spiky variation of loss, lower early training loss, smaller beta for pretrained."""
    parts = []
    for label, experiment, column in (("(a) variation mean", "optimization", "variation_mean"),
                                      ("(b) variation sd", "optimization", "variation_std"),
                                      ("(c) train loss, first half", "deviation", "train_loss_first_half"),
                                      ("(d) beta mean", "optimization", "beta_mean")):
        pre, ran = _arms(m, experiment, column)
        parts.append((pre.mean < ran.mean, f"{label} {pre.mean:.3g} vs {ran.mean:.3g}"))
    return all(ok for ok, _ in parts), "; ".join(f"{t} {'ok' if ok else 'fails'}" for ok, t in parts)


def l_c3(m: Measured) -> tuple[bool, str]:
    """Smaller principal gradient shares at the start and a steadier gradient norm for pretrained."""
    parts = []
    for label, column in (("share along v1", "share_hessian"), ("top singular share", "share_per_example"),
                          ("cv of ||g||", "grad_norm_cv")):
        pre, ran = _arms(m, "optimization", column)
        parts.append((pre.mean < ran.mean, f"{label} {pre.mean:.3g} vs {ran.mean:.3g}"))
    return all(ok for ok, _ in parts), "; ".join(f"{t} {'ok' if ok else 'fails'}" for ok, t in parts)


def _ordered(m: Measured, experiment: str, sources: Sequence[str], labels: Sequence[str]) -> tuple[bool, str]:
    """Accuracy non-increasing and deviation non-decreasing (within 2 se) along ``sources``; first beats last."""
    acc = [Arm(m.values(experiment, "test_acc_final", source=s)) for s in sources]
    dev = [Arm(m.values(experiment, "deviation_conv", source=s)) for s in sources]
    a = all(acc[i + 1].mean <= acc[i].mean + two_se(acc[i], acc[i + 1]) for i in range(len(acc) - 1))
    b = acc[0].mean - acc[-1].mean > two_se(acc[0], acc[-1])
    c = all(dev[i + 1].mean >= dev[i].mean - two_se(dev[i], dev[i + 1]) for i in range(len(dev) - 1))
    listing = ", ".join(f"{label} {_pct(x.mean)}% / D {d.mean:.3g}" for label, x, d in zip(labels, acc, dev))
    return a and b and c, (f"{listing}; (a) accuracy non-increasing {'ok' if a else 'fails'}, "
                           f"(b) first - last {_pct(acc[0].mean - acc[-1].mean)} > 2se "
                           f"{_pct(two_se(acc[0], acc[-1]))} {'ok' if b else 'fails'}, "
                           f"(c) deviation non-decreasing {'ok' if c else 'fails'}")


def l_c4(m: Measured) -> tuple[bool, str]:
    """Input similarity orders target accuracy (down) and weight deviation (up)."""
    sources = m.scale.input_sources
    return _ordered(m, "input_similarity", sources, sources)


def l_c5(m: Measured) -> tuple[bool, str]:
    """Label similarity orders target accuracy (down) and weight deviation (up)."""
    sources = m.scale.label_sources
    return _ordered(m, "label_similarity", sources, [m.scale.source(s).labels for s in sources])


def l_c6(m: Measured) -> tuple[bool, str]:
    """The best checkpoint is neither the first nor the last, and beats the last by > 2 se."""
    epochs = m.scale.checkpoints
    acc = {k: Arm(m.values("checkpoints", "test_acc_final", source_epoch=k)) for k in epochs}
    best = max(epochs, key=lambda k: (acc[k].mean, -k))
    last = epochs[-1]
    margin = two_se(acc[best], acc[last])
    ok = best not in (epochs[0], last) and acc[best].mean - acc[last].mean > margin
    return ok, (", ".join(f"e{k} {_pct(acc[k].mean)}" for k in epochs)
                + f"; best e{best}, best - last {_pct(acc[best].mean - acc[last].mean)} (2se {_pct(margin)})")


def _theory_means(m: Measured, series: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in m.experiment("theory") if r["series"] == series]
    if not rows:
        raise NotMeasured(f"no theory rows for the {series} series")
    levels = sorted({float(r["similarity"]) for r in rows})
    means = [np.mean([number(r, column) for r in rows if float(r["similarity"]) == level]) for level in levels]
    return np.array(levels), np.array(means)


def l_c7(m: Measured) -> tuple[bool, str]:
    """Two-layer ReLU check: deviation grows with dissimilarity, tracks sqrt(r' H^-1 r); smaller |v1 . r0| pretrained."""
    from repro.liu2019.theory import pearson, spearman

    parts, deviations, rkhs = [], [], []
    for series in THEORY_KINDS:
        levels, dev = _theory_means(m, series, "deviation_pretrained")
        rho = spearman(1 - levels, dev)
        _, norm = _theory_means(m, series, "rkhs_pretrained")
        _, top_p = _theory_means(m, series, "top_abs_pretrained")
        _, top_r = _theory_means(m, series, "top_abs_random")
        deviations += list(dev)
        rkhs += list(norm)
        parts.append((rho >= 0.9, f"(a) {series}: Spearman {rho:.2f}"))
        parts.append((top_p[-1] < top_r[-1], f"(c) {series} at similarity {levels[-1]:g}: |v1.r0| "
                                             f"{top_p[-1]:.3g} pretrained vs {top_r[-1]:.3g} random"))
    r = pearson(deviations, rkhs)
    parts.append((r >= 0.9, f"(b) Pearson(deviation, sqrt(r'H^-1 r)) {r:.3f}"))
    return all(ok for ok, _ in parts), "; ".join(f"{t} {'ok' if ok else 'fails'}" for ok, t in parts)


RULES = {"L-C1": l_c1, "L-C2": l_c2, "L-C3": l_c3, "L-C4": l_c4, "L-C5": l_c5, "L-C6": l_c6, "L-C7": l_c7}
