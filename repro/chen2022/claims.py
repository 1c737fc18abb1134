"""The rules of papers/chen2022/claims.csv: one function per claim, returning its judged parts.

Each rule returns a list of :class:`repro.verdicts.Part` and raises
:class:`repro.compare.NotMeasured` when a row it needs is missing. Blocks
are the groups of :data:`repro.chen2022.protocol.GROUPS` (stem, the
bottlenecks of stages layer1-layer4, the classifier ``fc``); a rule reads a
network's stages by name, so it runs on any [n1, n2, n3, n4] layout.

The grid fine-tunes each target once (one seed). The standard errors are:

* regression coefficients (C-C1, C-C2, C-C3): the leave-one-target-out
  jackknife over the targets (:class:`Fits`);
* the shape of the layer-wise curve (C-C4, C-C5): a log ratio per target,
  averaged over the targets, with the standard error of that mean over the
  targets (:func:`_over_targets`);
* per-target statements (C-C7): the standard error over the target's seeds;
  with one seed the part is inconclusive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from repro.chen2022.measure import Fit, standardized_regression
from repro.chen2022.protocol import GROUPS, group_column
from repro.compare import MergedRuns, NotMeasured, number
from repro.verdicts import Part, all_of, greater, not_applicable, se_of_mean

# The August 2023 README's ResNet-50 fit (README 2023-08-04 §3): ln T = -0.26 G + 0.32 D - 0.61 ln N + 2.86.
README_R50 = {"G": -0.26, "D": 0.32, "lnN": -0.61}
# Means over the paper's 12 ResNet-50 panels (Figs/layer_wise_transferability.png, digitized in published.csv,
# condition resnet50/figure) of the statistics of C-C4 (a), (b), (c) and C-C5 (a): context, not claimed sizes.
PAPER_PANELS = {"stem_below_max": 1.10, "stem_below_median": 0.60, "middle_peak": 0.03, "falls_to_output": 0.44}
# The targets the paper names as rising toward the last stage (README §4): paper-scale target names.
RISING_EXCEPTIONS = ("cifar10", "pocus")
MIN_TARGETS_JACKKNIFE = 6  # 3 regressors + intercept + 1 residual degree of freedom, after leaving one out


def stage(group: str) -> str:
    """``"layer2"`` for ``"layer2.1"``; ``"stem"`` and ``"fc"`` are their own stages."""
    return group.split(".")[0]


@dataclass
class Fits:
    """The regression of ln T on standardised (G, D, ln N) over the targets, and its leave-one-target-out refits."""

    targets: list[str]
    full: dict[str, float]
    leave_one_out: list[dict[str, float]] | None  # None: too few targets to leave one out
    ols_se: dict[str, float]  # the full fit's ordinary least-squares standard errors (reported beside the jackknife)

    def estimate(self, statistic: Callable[[Mapping[str, float]], float]) -> tuple[float, float]:
        """``statistic`` of the full fit and its jackknife standard error
        ``sqrt((n - 1) / n * sum_i (s_i - mean s)^2)`` over the n leave-one-out fits (NaN without them)."""
        value = statistic(self.full)
        if not self.leave_one_out:
            return value, math.nan
        values = np.array([statistic(c) for c in self.leave_one_out])
        n = len(values)
        return value, float(math.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))


@dataclass
class Measured:
    """The rows of each experiment that ran."""

    rows: dict[str, list[dict[str, str]]]

    @classmethod
    def from_merged(cls, merged: Mapping[str, MergedRuns]) -> "Measured":
        return cls({e: m.rows for e, m in merged.items()})

    def experiment(self, name: str) -> list[dict[str, str]]:
        if not self.rows.get(name):
            raise NotMeasured(f"no {name} results")
        return self.rows[name]

    def curves(self) -> dict[str, list[dict[str, float]]]:
        """Target -> one ``{group: T_l}`` per seed (ascending seed), over the groups the network has."""
        out: dict[str, list[tuple[int, dict[str, float]]]] = {}
        for row in self.experiment("transferability"):
            values = {g: number(row, group_column(g)) for g in GROUPS}
            out.setdefault(row["target"], []).append(
                (_seed(row), {g: v for g, v in values.items() if math.isfinite(v)}))
        return {t: [v for _, v in sorted(seeds, key=lambda s: s[0])] for t, seeds in out.items()}

    def overall(self, column: str = "T_overall") -> dict[str, list[float]]:
        """Target -> the overall T (or another ``column`` of the transferability rows) of each seed (ascending
        seed)."""
        out: dict[str, list[tuple[int, float]]] = {}
        for row in self.experiment("transferability"):
            out.setdefault(row["target"], []).append((_seed(row), number(row, column)))
        return {t: [v for _, v in sorted(seeds)] for t, seeds in out.items()}

    def fit_table(self) -> list[tuple[str, float, float, float, float]]:
        """``(target, G, D, ln N, ln T)`` per target at its first seed: the regression run's inputs."""
        measures = {}
        for row in self.experiment("domain_measures"):
            key = row["target"]
            if key not in measures or _seed(row) < _seed(measures[key]):
                measures[key] = row
        first = {}
        for row in self.experiment("transferability"):
            if row["target"] not in first or _seed(row) < _seed(first[row["target"]]):
                first[row["target"]] = row
        missing = sorted(set(first) - set(measures))
        if missing:
            raise NotMeasured(f"no domain measures for target(s) {', '.join(missing)}")
        return [(t, number(measures[t], "G"), number(measures[t], "D"), math.log(number(row, "n_train")),
                 math.log(number(row, "T_overall"))) for t, row in first.items()]

    def fits(self) -> Fits:
        """The full fit over the targets and, with at least 6 targets, every leave-one-target-out fit."""
        table = self.fit_table()
        try:
            full = _fit(table)
        except ValueError as error:
            raise NotMeasured(f"the regression over {len(table)} targets cannot be fitted: {error}") from None
        loo = None
        if len(table) >= MIN_TARGETS_JACKKNIFE:
            try:
                loo = [_fit(table[:i] + table[i + 1:]).coefficients for i in range(len(table))]
            except ValueError:
                loo = None
        return Fits([t[0] for t in table], full.coefficients, loo, full.standard_errors)


def _seed(row: Mapping[str, str]) -> int:
    text = row.get("seed", "")
    return int(float(text)) if text not in ("", None) else 0


def _fit(table: Sequence[tuple[str, float, float, float, float]]) -> Fit:
    _, g, d, log_n, log_t = zip(*table)
    return standardized_regression({"G": g, "D": d, "lnN": log_n}, log_t)


def _fit_evidence(fits: Fits) -> str:
    """The full fit's coefficients with their OLS standard errors and, with the leave-one-target-out refits, how
    many of them keep each coefficient's sign."""
    def one(name: str, value: float) -> str:
        text = f"{name} {value:+.3f} (OLS se {fits.ols_se[name]:.3f}"
        if fits.leave_one_out:
            same = sum(math.copysign(1, c[name]) == math.copysign(1, value) for c in fits.leave_one_out)
            text += f"; sign kept in {same} of {len(fits.leave_one_out)} leave-one-out fits"
        return text + ")"

    noise = (f"se: jackknife over {len(fits.targets)} targets" if fits.leave_one_out
             else f"{len(fits.targets)} targets: too few to leave one out")
    return f"[fit: {', '.join(one(k, v) for k, v in fits.full.items())}; {noise}]"


def _coefficient_part(label: str, says: str, fits: Fits, statistic, claimed: float, what: str,
                      *, with_fit: bool = True) -> Part:
    """``statistic(coefficients) > 0`` against its jackknife standard error, the README's size as ``claimed``."""
    d, se = fits.estimate(statistic)
    part = greater(label, says, d, se, claimed=claimed, what=what)
    return replace(part, evidence=f"{part.evidence} {_fit_evidence(fits)}") if with_fit else part


def _abs_gap(big: str, small: str) -> Callable[[Mapping[str, float]], float]:
    return lambda c: abs(c[big]) - abs(c[small])


def c_c1(m: Measured) -> list[Part]:
    """The domain gap lowers T (coef(G) < 0), and less than data amount and diversity do (|coef(G)| smallest)."""
    fits = m.fits()
    r = README_R50
    return [
        _coefficient_part("a", "a larger domain gap lowers transferability (README: coef(G) -0.26)", fits,
                          lambda c: -c["G"], -r["G"], "-coef(G)"),
        _coefficient_part("b", "the domain gap weighs less than data amount (|coef(G)| < |coef(ln N)|)", fits,
                          _abs_gap("lnN", "G"), abs(r["lnN"]) - abs(r["G"]), "|coef(ln N)| - |coef(G)|",
                          with_fit=False),
        _coefficient_part("c", "the domain gap weighs less than diversity (|coef(G)| < |coef(D)|)", fits,
                          _abs_gap("D", "G"), abs(r["D"]) - abs(r["G"]), "|coef(D)| - |coef(G)|", with_fit=False),
    ]


def c_c2(m: Measured) -> list[Part]:
    """More data lowers T (coef(ln N) < 0), and data amount is the strongest factor (|coef(ln N)| largest)."""
    fits = m.fits()
    r = README_R50
    strongest = [
        _coefficient_part("vs G", "", fits, _abs_gap("lnN", "G"), abs(r["lnN"]) - abs(r["G"]),
                          "|coef(ln N)| - |coef(G)|", with_fit=False),
        _coefficient_part("vs D", "", fits, _abs_gap("lnN", "D"), abs(r["lnN"]) - abs(r["D"]),
                          "|coef(ln N)| - |coef(D)|", with_fit=False),
    ]
    return [
        _coefficient_part("a", "more downstream data lowers transferability (README: coef(ln N) -0.61)", fits,
                          lambda c: -c["lnN"], -r["lnN"], "-coef(ln N)"),
        all_of("b", "data amount is the strongest of the three factors (|coef(ln N)| the largest)", strongest),
    ]


def c_c3(m: Measured) -> list[Part]:
    """The August README's version: intraclass variance D raises ln T (coef(D) > 0); W (abstract's sign) is not
    measured."""
    fits = m.fits()
    return [
        not_applicable("a", "huge diversity, measured as domain width W, lowers transferability (abstract; January "
                            "README: coef(W) -0.14)",
                       "the suite does not measure domain width W (its definition is not available); its D is the "
                       "August README's intraclass variance, not W"),
        _coefficient_part("b", "intraclass variance raises ln T at fixed gap and data amount (August README: "
                               "coef(D) +0.32)", fits, lambda c: c["D"], README_R50["D"], "coef(D)"),
    ]


def _mean_over_seeds(values: Sequence[float]) -> float:
    return float(np.mean(values))


def _over_targets(label: str, says: str, per_target: Mapping[str, float], what: str, paper: float) -> Part:
    """The mean of a per-target statistic over the targets > 0, against the standard error of that mean."""
    values = list(per_target.values())
    if not values:
        raise NotMeasured("no target has the blocks this part compares")
    part = greater(label, says, float(np.mean(values)), se_of_mean(values),
                   what=f"mean over {len(values)} targets of {what}")
    listing = ", ".join(f"{t} {v:+.2f}" for t, v in per_target.items())
    return replace(part, evidence=f"{part.evidence} (per target: {listing}; paper's 12 panels: {paper:+.2f})")


def _per_target(curves: Mapping[str, list[dict[str, float]]], statistic) -> dict[str, float]:
    """The statistic of each target's curve, averaged over its seeds."""
    return {t: _mean_over_seeds([statistic(c) for c in seeds]) for t, seeds in curves.items()}


def _bottlenecks(curve: Mapping[str, float], *stages: str) -> list[float]:
    return [v for g, v in curve.items() if stage(g) in stages]


def _needs_stages(curves: Mapping[str, list[dict[str, float]]], *stages: str) -> None:
    for target, seeds in curves.items():
        for curve in seeds:
            present = {stage(g) for g in curve}
            if not set(stages) <= present:
                raise NotMeasured(f"{target}: the curve lacks stage(s) {', '.join(sorted(set(stages) - present))}")


LAYERS = ("layer1", "layer2", "layer3", "layer4")


def c_c4(m: Measured) -> list[Part]:
    """The stem is not the most transferable block, ranks below the typical bottleneck, and the peak lies in the
    middle stages: three log ratios, each averaged over the targets."""
    curves = m.curves()
    _needs_stages(curves, "stem", *LAYERS)
    return [
        _over_targets("a", "the lowest layer is usually not the most transferable (abstract)",
                      _per_target(curves, lambda c: math.log(max(_bottlenecks(c, *LAYERS)) / c["stem"])),
                      "ln(max bottleneck T / T_stem)", PAPER_PANELS["stem_below_max"]),
        _over_targets("b", "the stem ranks below most bottlenecks (layer-wise figure)",
                      _per_target(curves, lambda c: math.log(float(np.median(_bottlenecks(c, *LAYERS))) / c["stem"])),
                      "ln(median bottleneck T / T_stem)", PAPER_PANELS["stem_below_median"]),
        _over_targets("c", "the most transferable block lies in the middle of the network for most targets",
                      _per_target(curves, lambda c: math.log(max(_bottlenecks(c, "layer2", "layer3"))
                                                             / max(_bottlenecks(c, "stem", "layer1", "layer4")))),
                      "ln(max T of layer2-3 / max T of stem, layer1, layer4)", PAPER_PANELS["middle_peak"]),
    ]


def _falls(curve: Mapping[str, float]) -> float:
    """ln(mean T of the layer1 and layer2 bottlenecks / mean T of the layer4 bottlenecks): > 0 when T falls."""
    return math.log(float(np.mean(_bottlenecks(curve, "layer1", "layer2")))
                    / float(np.mean(_bottlenecks(curve, "layer4"))))


def c_c5(m: Measured) -> list[Part]:
    """T falls from the first two stages to the last on the average target; the paper's rising exceptions rise."""
    curves = m.curves()
    _needs_stages(curves, *LAYERS)
    says_b = "not on every target: the paper's exceptions (CIFAR-10, POCUS) rise toward the last stage"
    named = [t for t in RISING_EXCEPTIONS if t in curves]
    if named:
        rising = all_of("b", says_b, [_per_seed_greater(t, [-_falls(c) for c in curves[t]], "ln(late / early)")
                                      for t in named])
    else:
        rising = not_applicable("b", says_b, "the scale has neither dataset among its targets and no stand-in for "
                                             "them (the mini's targets are digit and clothing images)")
    return [
        _over_targets("a", "beyond the peak, T tends to fall toward the output for most targets",
                      _per_target(curves, _falls), "ln(mean T of layer1-2 / mean T of layer4)",
                      PAPER_PANELS["falls_to_output"]),
        rising,
    ]


def c_c6(m: Measured) -> list[Part]:
    """Not applicable: T_fc is about 1 by construction (fresh random classifiers in theta_r and theta_A)."""
    values = {t: _mean_over_seeds([c["fc"] for c in seeds if "fc" in c]) for t, seeds in m.curves().items()}
    listing = ", ".join(f"{t} {v:.3f}" for t, v in values.items())
    return [not_applicable(
        "a", "the re-initialised classifier has T close to 1: it transfers nothing",
        "by construction (official cal_transferability.py, as repro/chen2022/analyses.py): theta_r and theta_A "
        "carry fresh random classifiers, drawn independently of the one fine-tuning started from, so T_fc compares "
        f"two random draws and measures no transfer; measured T_fc: {listing}")]


ONE_SEED = "one seed: no spread to compare with (needs at least 2 seeds)"


def _per_seed_greater(label: str, values: Sequence[float], what: str) -> Part:
    """The mean of a per-seed statistic > 0, against its standard error over the seeds (inconclusive with one)."""
    if len(values) < 2:
        return Part(label, "", "inconclusive", f"{what} {values[0]:+.3g}, 1 seed", ONE_SEED)
    return greater(label, "", float(np.mean(values)), se_of_mean(values), what=f"{what} over {len(values)} seeds")


def c_c7(m: Measured) -> list[Part]:
    """ln T > 0 on every target, each against the standard error over its seeds."""
    per_target = [_per_seed_greater(t, [math.log(v) for v in values], f"ln T (T {np.mean(values):.3g})")
                  for t, values in m.overall().items()]
    part = all_of("a", "pre-training brings the weights closer to the fine-tuned solution than the random init: "
                       "T > 1 on every target", per_target)
    if part.outcome == "inconclusive" and all(p.detectable == ONE_SEED for p in per_target
                                              if p.outcome == "inconclusive"):
        part = replace(part, detectable=f"{sum(p.outcome == 'inconclusive' for p in per_target)} target(s) with "
                                        f"{ONE_SEED}")
    return [part]


RULES = {"C-C1": c_c1, "C-C2": c_c2, "C-C3": c_c3, "C-C4": c_c4, "C-C5": c_c5, "C-C6": c_c6, "C-C7": c_c7}
