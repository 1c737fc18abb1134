"""Verdicts with three outcomes: a claim's parts, each judged against the noise of the measurement.

A claim of a paper is judged in parts (``claims.csv`` names them (a), (b)...),
each a statement about measured numbers with their standard errors. A part
has one of four outcomes:

* ``holds``: the data show what the paper says, beyond noise;
* ``fails``: the data contradict it beyond noise -- the opposite effect, or
  an effect clearly smaller than the paper's although this scale could have
  detected the paper's (a failure *with power*);
* ``inconclusive``: the effect cannot be told from noise at this scale; the
  part states the smallest effect the measurement could detect (2 standard
  errors) beside the one the paper reports;
* ``not applicable``: the part cannot be tested at this scale, with the reason.

A claim holds only if every part that applies holds; it fails if any part
fails; it is inconclusive otherwise, and not applicable when no part applies
(:func:`combine`). ``not run`` means an experiment the claim needs has no
results.

The tests below compare an estimate ``d`` with its standard error ``se``
through the interval ``[d - 2 se, d + 2 se]`` (about 95%):

* :func:`greater`: the paper says ``d > 0`` (optionally of about ``claimed``);
* :func:`within`: the paper says ``d`` is negligible, ``|d| <= margin``;
* :func:`at_most`: the paper says ``d <= bound`` (a ceiling, such as "near chance");
* :func:`ordered`: the paper ranks several means (each step of the ranking is one such difference; a step
  within noise is a tie);
* :func:`selection_se`: the standard error of a difference whose larger term is the best of several
  estimates (a peak picked from a curve).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

OUTCOMES = ("holds", "fails", "inconclusive", "not applicable", "not run")
MARKS = {"holds": "✓", "fails": "✗", "inconclusive": "?", "not applicable": "–", "not run": "·"}
Z = 2.0  # the half-width of the intervals, in standard errors


@dataclass(frozen=True)
class Part:
    """One judged part of a claim: what it tests, its outcome, the numbers, and what the scale could detect."""

    label: str
    says: str
    outcome: str
    evidence: str
    detectable: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES[:4]:
            raise ValueError(f"part outcome {self.outcome!r} is not one of {OUTCOMES[:4]}")

    def line(self) -> str:
        detail = f" [{self.detectable}]" if self.detectable and self.outcome == "inconclusive" else ""
        return f"({self.label}) {MARKS[self.outcome]} {self.outcome}: {self.says} -- {self.evidence}{detail}"


def combine(parts: Sequence[Part]) -> str:
    """A claim's outcome from its parts: fails if any fails, holds if every applicable part holds, not applicable
    if none applies, inconclusive otherwise."""
    applicable = [p for p in parts if p.outcome != "not applicable"]
    if not applicable:
        return "not applicable"
    if any(p.outcome == "fails" for p in applicable):
        return "fails"
    if all(p.outcome == "holds" for p in applicable):
        return "holds"
    return "inconclusive"


def _f(value: float, unit: str = "", digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "nan"
    text = f"{value:+.{digits}g}" if abs(value) < 10 ** digits else f"{value:+.0f}"
    return f"{text}{unit}"


def interval(d: float, se: float, unit: str = "") -> str:
    return f"{_f(d, unit)} ± {_f(Z * se, unit).lstrip('+')}"


def greater(label: str, says: str, d: float, se: float, *, claimed: float | None = None, unit: str = "",
            what: str = "") -> Part:
    """The paper says ``d > 0``, about ``claimed`` where it gives a size.

    holds: ``d - 2 se > 0``. fails: ``d + 2 se < 0``, or ``d + 2 se <
    claimed`` while ``claimed > 2 se`` (the paper's effect was detectable
    here and the data exclude it). Otherwise inconclusive, with the
    detectable effect ``2 se``.
    """
    evidence = f"{what + ' ' if what else ''}{interval(d, se, unit)}"
    if claimed is not None:
        evidence += f" (paper: {_f(claimed, unit)})"
    if not (math.isfinite(d) and math.isfinite(se)):
        return Part(label, says, "inconclusive", evidence, "no estimate of the noise")
    detectable = f"effects below {_f(Z * se, unit).lstrip('+')} cannot be told from noise here"
    if d - Z * se > 0:
        return Part(label, says, "holds", evidence)
    if d + Z * se < 0:
        return Part(label, says, "fails", evidence + "; the opposite, beyond noise")
    if claimed is not None and claimed > Z * se and d + Z * se < claimed:
        return Part(label, says, "fails", evidence + "; smaller than the paper's effect, which this scale resolves")
    return Part(label, says, "inconclusive", evidence, detectable)


def within(label: str, says: str, d: float, se: float, margin: float, *, unit: str = "", what: str = "") -> Part:
    """The paper says ``d`` is negligible: ``|d| <= margin`` (the margin is the rule's, with its reason).

    holds: the whole interval lies inside ``[-margin, margin]``. fails: the
    interval lies wholly outside it. Otherwise inconclusive: the interval is
    wider than the margin allows to decide.
    """
    evidence = f"{what + ' ' if what else ''}{interval(d, se, unit)}, margin ±{_f(margin, unit).lstrip('+')}"
    if not (math.isfinite(d) and math.isfinite(se)):
        return Part(label, says, "inconclusive", evidence, "no estimate of the noise")
    if abs(d) + Z * se <= margin:
        return Part(label, says, "holds", evidence)
    if abs(d) - Z * se > margin:
        return Part(label, says, "fails", evidence)
    return Part(label, says, "inconclusive", evidence,
                f"the interval is {_f(2 * Z * se, unit).lstrip('+')} wide; deciding needs it under "
                f"{_f(2 * max(margin - abs(d), 0.0), unit).lstrip('+')}")


def at_most(label: str, says: str, d: float, se: float, bound: float, *, unit: str = "", what: str = "") -> Part:
    """The paper says ``d <= bound``: holds if ``d + 2 se <= bound``, fails if ``d - 2 se > bound``."""
    evidence = f"{what + ' ' if what else ''}{interval(d, se, unit)}, bound {_f(bound, unit)}"
    if not (math.isfinite(d) and math.isfinite(se)):
        return Part(label, says, "inconclusive", evidence, "no estimate of the noise")
    if d + Z * se <= bound:
        return Part(label, says, "holds", evidence)
    if d - Z * se > bound:
        return Part(label, says, "fails", evidence)
    return Part(label, says, "inconclusive", evidence, "the interval straddles the bound")


def not_applicable(label: str, says: str, reason: str) -> Part:
    return Part(label, says, "not applicable", reason)


def all_of(label: str, says: str, parts: Iterable[Part]) -> Part:
    """One part made of several comparisons of the same kind (every n, every target): it holds if each holds,
    fails if one fails, is inconclusive otherwise; the evidence lists them."""
    parts = list(parts)
    outcome = combine(parts)
    evidence = "; ".join(f"{p.label} {MARKS[p.outcome]} {p.evidence}" for p in parts)
    detectable = "; ".join(f"{p.label}: {p.detectable}" for p in parts if p.outcome == "inconclusive" and p.detectable)
    return Part(label, says, outcome, evidence, detectable)


def se_of_mean(values: Sequence[float]) -> float:
    """Standard error of the mean of independent replicates (NaN with fewer than two)."""
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2:
        return float("nan")
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def se_of_difference(*ses: float) -> float:
    """``sqrt(sum se_i^2)``: the standard error of a sum or difference of independent estimates."""
    return math.sqrt(sum(s * s for s in ses))


def cohen_kappa(a_wrong: Sequence[bool], b_wrong: Sequence[bool]) -> float:
    """Cohen's kappa of two models' error indicators on the same examples: agreement beyond chance.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the share of examples
    both get right or both get wrong, ``p_e = p_a p_b + (1 - p_a)(1 - p_b)``
    its expectation for independent models with error rates ``p_a, p_b``.
    Unlike the Jaccard index of the error sets it does not grow with the
    error rates themselves.
    """
    n = len(a_wrong)
    if n == 0 or n != len(b_wrong):
        raise ValueError("two error vectors of the same, non-zero length are needed")
    p_a = sum(a_wrong) / n
    p_b = sum(b_wrong) / n
    p_o = sum(1 for x, y in zip(a_wrong, b_wrong) if bool(x) == bool(y)) / n
    p_e = p_a * p_b + (1 - p_a) * (1 - p_b)
    return (p_o - p_e) / (1 - p_e) if p_e < 1 else float("nan")


def _step(names: Sequence[str], replicates: Sequence[Sequence[float]], i: int, j: int, sign: float,
          paired: bool) -> tuple[float, float]:
    """``sign * (mean_i - mean_j)`` and its standard error: of the two means, or of the replicate-wise differences."""
    a = [float(v) for v in replicates[i]]
    b = [float(v) for v in replicates[j]]
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired groups {names[i]!r} and {names[j]!r} have {len(a)} and {len(b)} replicates")
        diffs = [sign * (x - y) for x, y in zip(a, b)]
        return sum(diffs) / len(diffs), se_of_mean(diffs)
    return sign * (sum(a) / len(a) - sum(b) / len(b)), se_of_difference(se_of_mean(a), se_of_mean(b))


def ordered(label: str, says: str, groups: Sequence[tuple[str, Sequence[float]]], *, decreasing: bool = True,
            paired: bool = False, unit: str = "", what: str = "") -> Part:
    """The paper says several means are ranked in the order given: ``groups`` is ``[(name, replicates), ...]``,
    the first largest (``decreasing``) or smallest.

    Each step compares two means: the difference in the stated direction and its standard error, of the two
    means (:func:`se_of_difference` of :func:`se_of_mean`) or, ``paired``, of the replicate-wise differences
    (replicate ``i`` of every group shares its random draws). holds: every consecutive step exceeds 2 se.
    fails: some pair, consecutive or not, is reversed beyond 2 se. Otherwise inconclusive: a step within
    noise is a tie, not an ordering; the detectable difference of each tied step is stated.
    """
    names = [n for n, _ in groups]
    replicates = [list(v) for _, v in groups]
    if len(groups) < 2 or any(not r for r in replicates):
        raise ValueError("an ordering needs at least two groups, each with replicates")
    sign = 1.0 if decreasing else -1.0
    relation = ">" if decreasing else "<"
    means = ", ".join(f"{n} {_f(sum(r) / len(r)).lstrip('+')}" for n, r in zip(names, replicates))
    steps = [(i, *_step(names, replicates, i, i + 1, sign, paired)) for i in range(len(groups) - 1)]
    reversed_pairs = []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            d, se = _step(names, replicates, i, j, sign, paired)
            if math.isfinite(d) and math.isfinite(se) and d + Z * se < 0:
                reversed_pairs.append(f"{names[j]} {'>' if decreasing else '<'} {names[i]} beyond noise "
                                      f"({interval(-d, se, unit)})")
    marks = []
    for i, d, se in steps:
        mark = ("holds" if d - Z * se > 0 else "fails" if d + Z * se < 0 else "inconclusive") \
            if math.isfinite(d) and math.isfinite(se) else "inconclusive"
        marks.append(mark)
    listing = "; ".join(f"{names[i]} {relation} {names[i + 1]} {interval(d, se, unit)} {MARKS[m]}"
                        for (i, d, se), m in zip(steps, marks))
    evidence = f"{what + ' ' if what else ''}{means}; {listing}"
    if reversed_pairs:
        return Part(label, says, "fails", evidence + "; reversed: " + "; ".join(reversed_pairs))
    if all(m == "holds" for m in marks):
        return Part(label, says, "holds", evidence)
    unresolved = [(i, se) for (i, _, se), m in zip(steps, marks) if m != "holds"]
    if not all(math.isfinite(se) for _, se in unresolved):
        return Part(label, says, "inconclusive", evidence, "no estimate of the noise")
    detectable = "; ".join(f"{names[i]} {relation} {names[i + 1]}: steps below {_f(Z * se, unit).lstrip('+')}"
                           for i, se in unresolved)
    return Part(label, says, "inconclusive", evidence, f"{detectable} cannot be told from noise here (a tie)")


def selection_se(se: float, candidates: int) -> float:
    """The standard error to use when the larger term of a difference was chosen as the largest of
    ``candidates`` estimates on the same data (a peak picked from a curve).

    Bonferroni: ``Z`` standard errors of the result cut the same one-sided tail, ``P(z > Z)``, as the ``Z`` of
    one comparison does, shared among the ``candidates`` comparisons: ``se * z_c / Z`` with
    ``z_c = Phi^-1(1 - P(z > Z) / candidates)`` (``candidates`` = 1 leaves ``se`` unchanged; 5 multiply it by
    about 1.31).
    """
    from statistics import NormalDist

    if candidates < 1:
        raise ValueError("at least one candidate is needed")
    normal = NormalDist()
    return se * normal.inv_cdf(1 - (1 - normal.cdf(Z)) / candidates) / Z
