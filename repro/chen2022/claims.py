"""The rules of papers/chen2022/claims.csv, one function per claim, on the measured rows.

Each rule returns ``(holds, evidence)`` and raises
:class:`repro.compare.NotMeasured` when a row it needs is missing. The
scale has one architecture (a ResNet with the 18-group layout), so "for
every architecture" is that one fit. Blocks: 1 = stem, 2..17 = the
bottlenecks, 18 = the classifier (:data:`repro.chen2022.experiment.GROUPS`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from repro.chen2022.protocol import GROUPS, group_column
from repro.compare import MergedRuns, NotMeasured, number


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

    def fit(self) -> dict[str, float]:
        row = self.experiment("regression")[0]
        return {k: number(row, f"coef_{k}") for k in ("G", "D", "lnN")}

    def blocks(self) -> dict[str, list[float]]:
        """Target -> [T_1 .. T_18] over the groups the network has (first seed per target)."""
        out: dict[str, list[float]] = {}
        for row in self.experiment("transferability"):
            values = [number(row, group_column(g)) for g in GROUPS]
            out.setdefault(row["target"], [v for v in values if not math.isnan(v)])
        return out


def _coefficients(fit: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:+.2f}" for k, v in fit.items())


def c_c1(m: Measured) -> tuple[bool, str]:
    """The domain gap lowers T, less than data amount and diversity do."""
    fit = m.fit()
    ok = fit["G"] < 0 and abs(fit["G"]) < abs(fit["lnN"]) and abs(fit["G"]) < abs(fit["D"])
    return ok, f"coefficients {_coefficients(fit)}"


def c_c2(m: Measured) -> tuple[bool, str]:
    """More data lowers T most; ln T and ln N correlate at <= -0.5."""
    fit = m.fit()
    largest = fit["lnN"] < 0 and abs(fit["lnN"]) >= max(abs(fit["G"]), abs(fit["D"]))
    rows = m.experiment("transferability")
    log_t = [math.log(number(r, "T_overall")) for r in rows]
    log_n = [math.log(number(r, "n_train")) for r in rows]
    correlation = float(np.corrcoef(log_t, log_n)[0, 1])
    return largest and correlation <= -0.5, (f"coefficients {_coefficients(fit)}; "
                                             f"Pearson(ln T, ln N) {correlation:.2f} over {len(rows)} targets")


def c_c3(m: Measured) -> tuple[bool, str]:
    """Diversity lowers T (the abstract's direction; the August README's sign is the opposite)."""
    fit = m.fit()
    return fit["D"] < 0, f"coef(D) {fit['D']:+.2f}"


def c_c4(m: Measured) -> tuple[bool, str]:
    """The stem is below the maximum and the median of the bottlenecks for >= 3/4 of the targets."""
    blocks = m.blocks()
    below = {t: v[0] < max(v[1:-1]) and v[0] < float(np.median(v[1:-1])) for t, v in blocks.items()}
    count = sum(below.values())
    return count >= 0.75 * len(blocks), (f"{count} of {len(blocks)} targets; stem vs median / max of the blocks: "
                                        + ", ".join(f"{t} {v[0]:.2f} vs {np.median(v[1:-1]):.2f} / {max(v[1:-1]):.2f}"
                                                    for t, v in blocks.items()))


def c_c5(m: Measured) -> tuple[bool, str]:
    """The last stage is below the first two stages (blocks 15-17 vs 2-8) for at least half of the targets."""
    blocks = {t: v for t, v in m.blocks().items() if len(v) == len(GROUPS)}
    if not blocks:
        raise NotMeasured("the network lacks the 16-bottleneck layout of blocks 2-17")
    late_below = {t: np.mean(v[14:17]) < np.mean(v[1:8]) for t, v in blocks.items()}
    count = sum(late_below.values())
    return count >= 0.5 * len(blocks), (f"{count} of {len(blocks)} targets; late vs early: "
                                        + ", ".join(f"{t} {np.mean(v[14:17]):.2f} vs {np.mean(v[1:8]):.2f}"
                                                    for t, v in blocks.items()))


def c_c6(m: Measured) -> tuple[bool, str]:
    """The classifier's T is 1 within 0.1 on every target."""
    values = {t: v[-1] for t, v in m.blocks().items()}
    return all(abs(v - 1) < 0.1 for v in values.values()), ", ".join(f"{t} {v:.3f}" for t, v in values.items())


def c_c7(m: Measured) -> tuple[bool, str]:
    """The overall T exceeds 1 on every target."""
    values = {r["target"]: number(r, "T_overall") for r in m.experiment("transferability")}
    return all(v > 1 for v in values.values()), ", ".join(f"{t} {v:.2f}" for t, v in values.items())


RULES = {"C-C1": c_c1, "C-C2": c_c2, "C-C3": c_c3, "C-C4": c_c4, "C-C5": c_c5, "C-C6": c_c6, "C-C7": c_c7}
