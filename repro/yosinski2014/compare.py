"""``repro compare yosinski2014``: the measured transfer curves against the published ones.

Reads the runs written by ``repro run yosinski2014`` (random_splits, natman,
random_features, reduced_data; any may be missing), aggregates them the way
the paper's notebook does, and reports:

- per condition and n: the mean accuracy (the scale's column of METRIC), min/max, the final-iteration variant, and the mean
  relative to the baseB mean (Figure 2 bottom, Figure 3 bottom); a row that
  names one target holds that target's own networks; at the miniature scales
  each measured row names the stand-in beside the paper's target, and the
  network counts are in the notes (a grid's design, not a measurement);
- Table 1 recomputed the paper's way: pooled over the individual AnB+
  networks with n in the layer range, minus the baseB mean and minus the
  pooled BnB+ networks in the range (and, where the grid is unbalanced, the
  mean of per-n means, which is not the paper's aggregation);
- a verdict per claim of papers/yosinski2014/claims.csv (rules in
  :mod:`repro.yosinski2014.claims`, reading :class:`Networks`);
- Figure 2 and Figure 3 analogues with the published curves beside the
  measured ones (:mod:`repro.yosinski2014.figures`).

"baseB" is the mean over all base nets of the random splits, both halves of
every split, as in the paper (8 nets on ImageNet).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from repro.compare import (
    Comparison, MergedRuns, NotMeasured, QuantityKey, QuantityRow, judge_claims, load_claims,
    load_published, load_run_summary, quantity_table, read_paper_results,
)
from repro.errors import ReproError
from repro.verdicts import se_of_mean
from repro.yosinski2014.claims import RULES
from repro.yosinski2014.figures import draw_figures
from repro.yosinski2014.protocol import SCALES

PAPER = "yosinski2014"
EXPERIMENTS = ("random_splits", "natman", "random_features", "reduced_data")
LAYERS = tuple(range(1, 8))
"""n = number of copied bottom weight layers (conv1..fc7); n = 8 is meaningless (§1.8)."""
TABLE1_RANGES = ((1, 7), (3, 7), (5, 7))
METRIC = {name: scale.metric for name, scale in SCALES.items()}
"""The accuracy column every comparison and claim reads, per scale. The paper's figures plot the mean of the
10 best of ~450 evaluations (the notebook's ``get_mean_best``); over a run that long the 10 best lie on the
final plateau, 0.03-0.2 points above the last evaluation, and the paper scale keeps that metric so that its
numbers are the published ones. The miniatures evaluate 20 times: there the 10 best reach back into the
settling after the lr drop and favour every net that converges early (every transfer net, by about 0.4
points against its base net), so they read the mean of the last evaluations, taken at the same iterations
for every net: the paper's "average accuracy over the validation set for a trained network" (Figure 2
caption)."""


def metric_label(scale: str) -> str:
    """How the figures name :data:`METRIC` at ``scale``: "mean of the last 3 evals", "mean of 10 best evals"."""
    schedule = SCALES[scale].schedule
    if METRIC[scale] == "acc_final_mean":
        return f"mean of the last {schedule.final_k} evals" if schedule.final_k > 1 else "last eval"
    return f"mean of {schedule.top_k} best evals"


NOISE_FLOOR = 0.002
"""Lower bound on the noise unit sigma (accuracy fraction), for grids with fewer than two base nets."""


@dataclass(frozen=True)
class Net:
    """One trained network, as the runner recorded it (``acc``: the METRIC column)."""

    run_key: str
    experiment: str
    condition: str
    n: int
    target: str
    acc: float
    acc_final: float
    source: str = "-"


Unit = tuple
"""A noise unit of an :class:`Estimate`: one base net ``("net", experiment, run_key)``, or every net of one
transfer condition derived from one source base net over the layers pooled, ``("from", experiment, condition,
source, layers)``."""


@dataclass(frozen=True)
class Estimate:
    """A mean accuracy, or a difference of means, with its noise counted in independent noise units.

    ``weights`` maps each noise unit to its coefficient in the estimate; every unit has the run-to-run noise
    ``sigma`` of one network, so ``se = sigma * sqrt(sum of squared weights)``. Units of transfer nets are the
    distinct base nets they derive from (all nets of a condition copied from one base net, over the layers
    pooled, count as one unit: their shared source is not averaged out by training more of them), units of a
    reference are its distinct base nets (a replicate base net is a distinct net). The same base net in two
    estimates cancels in their difference, as it should; distinct estimates of transfer nets are independent.
    """

    value: float
    weights: Mapping[Unit, float]
    sigma: float

    @property
    def se(self) -> float:
        return self.sigma * math.sqrt(sum(w * w for w in self.weights.values()))

    @property
    def units(self) -> int:
        """The number of independent noise units the estimate rests on."""
        return sum(1 for w in self.weights.values() if w)

    def _combine(self, other: "Estimate", sign: float) -> "Estimate":
        weights = dict(self.weights)
        for unit, w in other.weights.items():
            weights[unit] = weights.get(unit, 0.0) + sign * w
        return Estimate(self.value + sign * other.value, weights, self.sigma)

    def __add__(self, other: "Estimate") -> "Estimate":
        return self._combine(other, 1.0)

    def __sub__(self, other: "Estimate") -> "Estimate":
        return self._combine(other, -1.0)

    def __neg__(self) -> "Estimate":
        return self * -1.0

    def __mul__(self, factor: float) -> "Estimate":
        return Estimate(factor * self.value, {u: factor * w for u, w in self.weights.items()}, self.sigma)

    __rmul__ = __mul__


class Networks:
    """The measured networks of every experiment, with the paper's aggregations and their noise.

    ``paired``: on ImageNet the random halves are exchangeable, so the paper
    compares every net with the pooled baseB. The 5/5 Fashion-MNIST halves
    are not (their base nets differ by several points), so at mini and smoke
    scale each net's accuracy is first taken relative to the base net(s) of
    its own target and then re-centred on the experiment's pooled base mean:
    ``acc' = acc - base(target) + mean(base)``. Every ``mean(c, n) - baseB``
    is then a paired, target-matched difference, and the rules read as in the
    paper. With one base net per target the base nets themselves become
    exactly the pooled mean.

    ``sigma`` is the run-to-run noise of one network, at least NOISE_FLOOR:
    with several base nets per target (the miniatures train m seeds of every
    base net, all of condition ``base``) the pooled within-target seed noise
    ``sqrt(sum_t sum_i (a_ti - mean_t)^2 / sum_t (m_t - 1))`` over the
    random-split targets; otherwise the sample standard deviation (ddof 1) of
    the random-split base nets, as on ImageNet. Every base net of a target
    enters its reference and the pooled baseB. :meth:`rel` and
    :meth:`level` return :class:`Estimate` s whose standard errors count the
    distinct base nets behind them.
    """

    layers = LAYERS

    def __init__(self, nets: Iterable[Net], experiments_run: Iterable[str], whole_classes: int,
                 paired: bool = False, scale: str = "paper"):
        nets = list(nets)
        self.raw_base = [x for x in nets if x.experiment == "random_splits" and x.condition == "base"]
        self.base_by_target = {t: [x.acc for x in self.raw_base if x.target == t]
                               for t in sorted({x.target for x in self.raw_base})}
        self.replicated = any(len(accs) > 1 for accs in self.base_by_target.values())
        self.paired = paired
        self.scale = scale
        self.unpaired = nets
        self.nets = _paired(nets) if paired else nets
        self.experiments_run = set(experiments_run)
        self.whole_classes = whole_classes
        self.n_base = len(self.raw_base)
        self.sigma_source = "seeds of the same base net" if self.replicated else "base nets"
        self.sigma = max(self._spread(), NOISE_FLOOR)

    @property
    def miniature(self) -> bool:
        """True at the scales that stand in for ImageNet (mini, smoke): a part may be not applicable there."""
        return self.scale != "paper"

    def _spread(self) -> float:
        if self.replicated:
            groups = [np.asarray(a) for a in self.base_by_target.values() if len(a) > 1]
            squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
            return math.sqrt(squares / sum(len(g) - 1 for g in groups))
        accs = [x.acc for x in self.raw_base]
        return float(np.std(accs, ddof=1)) if len(accs) >= 2 else 0.0

    def values(self, experiment: str, condition: str, ns: Iterable[int],
               targets: Iterable[str] | None = None, metric: str = "acc", raw: bool = False) -> np.ndarray:
        """The metric ('acc' or 'acc_final') of every matching network (``raw``: never target-matched)."""
        return np.array([getattr(x, metric) for x in self._select(experiment, condition, ns, targets, raw)],
                        dtype=float)

    def _select(self, experiment: str, condition: str, ns: Iterable[int], targets: Iterable[str] | None = None,
                raw: bool = True) -> list[Net]:
        ns = set(ns)
        wanted = None if targets is None else set(targets)
        return [x for x in (self.unpaired if raw else self.nets)
                if x.experiment == experiment and x.condition == condition and x.n in ns
                and (wanted is None or x.target in wanted)]

    def pooled(self, experiment: str, condition: str, ns: Iterable[int],
               targets: Iterable[str] | None = None, raw: bool = False) -> tuple[float, int]:
        """Mean over all matching networks and their number; NotMeasured if there are none."""
        ns = list(ns)
        vals = self.values(experiment, condition, ns, targets, raw=raw)
        if len(vals) == 0:
            raise NotMeasured(_missing(experiment, condition, ns, targets))
        return float(vals.mean()), len(vals)

    def targets(self, experiment: str, condition: str) -> list[str]:
        """The distinct targets the networks of ``condition`` were trained on."""
        return sorted({x.target for x in self.nets if x.experiment == experiment and x.condition == condition})

    def base_b(self) -> tuple[float, int]:
        """The baseB mean: all random-split base nets, both halves of every split."""
        return self.pooled("random_splits", "base", [0])

    def level(self, experiment: str, condition: str, ns: Iterable[int],
              targets: Iterable[str] | None = None) -> Estimate:
        """The mean raw accuracy of the matching networks (never target-matched), with its noise units."""
        ns = tuple(sorted(set(ns)))
        chosen = self._select(experiment, condition, ns, targets)
        if not chosen:
            raise NotMeasured(_missing(experiment, condition, ns, targets))
        weights: dict[Unit, float] = {}
        for x in chosen:
            unit = _unit(x, ns)
            weights[unit] = weights.get(unit, 0.0) + 1.0 / len(chosen)
        return Estimate(float(np.mean([x.acc for x in chosen])), weights, self.sigma)

    def reference(self, experiment: str, condition: str, ns: Iterable[int],
                  targets: Iterable[str] | None = None) -> Estimate:
        """What ``condition`` is measured against: paired, the mean over its nets of their own target's base
        nets; unpaired (paper scale), every base net of the experiment (baseB, the natman bases, ``netbase``)."""
        chosen = self._select(experiment, condition, ns, targets)
        if not chosen:
            raise NotMeasured(_missing(experiment, condition, list(ns), targets))
        bases = self._select(experiment, "base", [0])
        if not bases:
            raise NotMeasured(f"no base runs in {experiment}")
        weights: dict[Unit, float] = {}
        if not self.paired:
            for b in bases:
                weights[_unit(b, (0,))] = 1.0 / len(bases)
            return Estimate(float(np.mean([b.acc for b in bases])), weights, self.sigma)
        value = 0.0
        for x in chosen:
            own = [b for b in bases if b.target == x.target]
            if not own:
                raise NotMeasured(f"no base run of target {x.target} in {experiment}")
            for b in own:
                share = 1.0 / (len(chosen) * len(own))
                weights[_unit(b, (0,))] = weights.get(_unit(b, (0,)), 0.0) + share
                value += share * b.acc
        return Estimate(value, weights, self.sigma)

    def rel(self, experiment: str, condition: str, ns: Iterable[int],
            targets: Iterable[str] | None = None) -> Estimate:
        """``mean(condition over ns) - its reference``: the relative accuracy the paper plots (Figure 2 and 3
        bottom), pooled over every network with n in ``ns`` (as Table 1 pools), target-matched when paired."""
        ns = tuple(ns)
        return self.level(experiment, condition, ns, targets) - self.reference(experiment, condition, ns, targets)

    def base_spread_se(self) -> float:
        """Standard error of baseB as an estimate over random halves: the spread of the random-split halves'
        mean base accuracies (sample std over the N distinct halves, / sqrt(N)), which holds the halves'
        differences in difficulty."""
        return se_of_mean([float(np.mean(a)) for a in self.base_by_target.values()])

    def chance(self) -> float:
        """Chance accuracy on the whole-label-set task (Figure 3, random features)."""
        return 1.0 / self.whole_classes

    def counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        """``{(experiment, condition): (networks, distinct source base nets)}`` for the notes."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for x in self.unpaired:
            out.setdefault((x.experiment, x.condition), (0, 0))
        for key in out:
            members = [x for x in self.unpaired if (x.experiment, x.condition) == key]
            out[key] = (len(members), len({x.source for x in members if x.source not in ("-", "random", "")}))
        return out


def _unit(x: Net, ns: tuple) -> Unit:
    """A network's noise unit: its source base net (over the layers pooled) if it copies one, else itself."""
    if x.source in ("-", "random", ""):
        return ("net", x.experiment, x.run_key)
    return ("from", x.experiment, x.condition, x.source, ns)


def _missing(experiment: str, condition: str, ns, targets) -> str:
    ns = list(ns)
    where = f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}"
    which = "" if targets is None else " into " + "/".join(targets)
    return f"no {condition} runs at {where}{which} in {experiment}"


def _paired(nets: list[Net]) -> list[Net]:
    """Target-matched accuracies: ``acc - base(target) + mean(base)`` within each experiment."""
    adjusted = []
    for experiment in sorted({x.experiment for x in nets}):
        members = [x for x in nets if x.experiment == experiment]
        bases = [x for x in members if x.condition == "base"]
        by_target = {t: [b for b in bases if b.target == t] for t in {b.target for b in bases}}
        if not bases:
            adjusted += members
            continue
        centre = float(np.mean([b.acc for b in bases]))
        centre_final = float(np.mean([b.acc_final for b in bases]))
        for x in members:
            own = by_target.get(x.target)
            if not own:
                adjusted.append(x)
                continue
            shift = centre - float(np.mean([b.acc for b in own]))
            shift_final = centre_final - float(np.mean([b.acc_final for b in own]))
            adjusted.append(replace(x, acc=x.acc + shift, acc_final=x.acc_final + shift_final))
    return adjusted


def parse_runs(merged: Mapping[str, MergedRuns], scale: str) -> list[Net]:
    """Typed networks from the runner's rows (accuracy: the scale's METRIC column); reduced-data runs use
    examples_per_class as n."""
    nets = []
    for experiment, runs in merged.items():
        for row in runs.rows:
            key = row["run_key"]
            if row.get("scale", scale) != scale:
                raise ReproError(f"{experiment}: run {key} has scale {row['scale']!r}, expected {scale!r}")
            level = row.get("examples_per_class") if experiment == "reduced_data" else row.get("n")
            nets.append(Net(
                run_key=key, experiment=experiment, condition=row.get("condition", ""),
                n=int(_number(level, key, "examples_per_class" if experiment == "reduced_data" else "n")),
                target=row.get("target", ""),
                acc=_number(row.get(METRIC[scale]), key, METRIC[scale]),
                acc_final=_number(row.get("acc_final"), key, "acc_final", optional=True),
                source=row.get("source") or "-",
            ))
    return nets


def _number(text: str | None, run_key: str, column: str, optional: bool = False) -> float:
    if not text and optional:
        return math.nan
    try:
        return float(text or "")
    except ValueError:
        raise ReproError(f"run {run_key}: column {column} is {text!r}, expected a number") from None


def _group_stats(vals: np.ndarray, finals: np.ndarray, reference: float | None) -> dict[str, float]:
    """Quantities of one (condition, n, target) group; ``std`` is the population std as in the logs.

    The network count of a group is not among them: it is the grid's design, not a measurement (the counts
    are in the comparison's notes)."""
    finite = finals[np.isfinite(finals)]
    stats = {
        "acc": float(vals.mean()),
        "min": float(vals.min()), "max": float(vals.max()), "std": float(vals.std()),
        "error": 100.0 * (1.0 - float(vals.mean())),
    }
    if len(finite) == len(finals):
        stats["acc_final"] = float(finite.mean())
        stats["error_final"] = 100.0 * (1.0 - stats["acc_final"])
    if reference is not None:
        stats["rel_base"] = stats["acc"] - reference
    return stats


def _target_groups(nets: Networks, experiment: str, condition: str) -> dict[str, list[str] | None]:
    """Target labels of published.csv and the measured targets each one pools (None: all of them)."""
    if experiment == "random_splits":
        groups: dict[str, list[str] | None] = {"B": None}
        if condition == "base":
            groups |= {t: [t] for t in nets.targets(experiment, condition)}
        return groups
    if experiment == "natman":
        return {"natman": None} | {t: [t] for t in nets.targets(experiment, condition)}
    return {"whole": None}


def measured_quantities(nets: Networks) -> dict[QuantityKey, float]:
    """Every measured value under its published.csv key (quantity, condition, n, target).

    A row naming one target holds that target's own networks, as measured (raw), relative to that target's
    base nets; a pooled row (``B``, ``natman``, ``whole``) holds the pooled networks, target-matched when the
    analysis is paired. Base nets are always read raw: target matching maps each of them onto the pooled mean.
    """
    out: dict[QuantityKey, float] = {}
    for experiment in EXPERIMENTS:
        conditions = sorted({x.condition for x in nets.nets if x.experiment == experiment})
        for condition in conditions:
            for label, targets in _target_groups(nets, experiment, condition).items():
                raw = targets is not None or condition == "base"
                ref = nets.values(experiment, "base", [0], targets, raw=raw)
                reference = float(ref.mean()) if len(ref) and condition != "base" else None
                levels = sorted({x.n for x in nets.nets if x.experiment == experiment and x.condition == condition})
                for n in levels:
                    vals = nets.values(experiment, condition, [n], targets, raw=raw)
                    if len(vals) == 0:
                        continue
                    finals = nets.values(experiment, condition, [n], targets, metric="acc_final", raw=raw)
                    for quantity, value in _group_stats(vals, finals, reference).items():
                        out[(quantity, condition, str(n), label)] = value
    out |= table1(nets)
    return out


def table1(nets: Networks) -> dict[QuantityKey, float]:
    """Table 1: AnB+ boost in percentage points over baseB and over BnB+, per layer range.

    ``boost_pct`` pools individual networks (the paper's aggregation, see
    papers/yosinski2014/README.md); ``boost_pct_per_n_means`` averages per-n means instead. The two differ
    only when the conditions have unequal network counts per n (the paper's fine-tuned runs); on a balanced
    grid they are the same number, and the per-n variant is left out rather than compared twice.
    """
    out: dict[QuantityKey, float] = {}
    try:
        base, _ = nets.base_b()
    except NotMeasured:
        return out
    for lo, hi in TABLE1_RANGES:
        span = f"{lo}-{hi}"
        layers = range(lo, hi + 1)
        anbp = nets.values("random_splits", "AnB+", layers)
        bnbp = nets.values("random_splits", "BnB+", layers)
        anbp_n = [v for v in (nets.values("random_splits", "AnB+", [n]) for n in layers) if len(v)]
        bnbp_n = [v for v in (nets.values("random_splits", "BnB+", [n]) for n in layers) if len(v)]
        anbp_means, bnbp_means = [v.mean() for v in anbp_n], [v.mean() for v in bnbp_n]
        anbp_balanced = len({len(v) for v in anbp_n}) <= 1
        bnbp_balanced = len({len(v) for v in bnbp_n}) <= 1
        if len(anbp):
            out[("boost_pct", "AnB+ - base", span, "B")] = 100 * (anbp.mean() - base)
            if not anbp_balanced:
                out[("boost_pct_per_n_means", "AnB+ - base", span, "B")] = 100 * (np.mean(anbp_means) - base)
        if len(anbp) and len(bnbp):
            out[("boost_pct", "AnB+ - BnB+", span, "B")] = 100 * (anbp.mean() - bnbp.mean())
            if not (anbp_balanced and bnbp_balanced):
                out[("boost_pct_per_n_means", "AnB+ - BnB+", span, "B")] = (
                    100 * (np.mean(anbp_means) - np.mean(bnbp_means)))
    return out


def stand_ins(scale: str) -> dict[str, str]:
    """What each published target is measured on at a scale that stands in for ImageNet: ``{target: label}``
    (empty at paper scale). The label keeps the published target first, so the row still names its key."""
    from repro.data.fashion_mnist import CLASS_NAMES
    from repro.yosinski2014 import splits

    s = SCALES[scale]
    if s.dataset != "fashion_digits":
        return {}
    names_of = list(CLASS_NAMES) + [f"digit {d}" for d in range(10)]

    def names(classes) -> str:
        return ", ".join(names_of[c] for c in classes)

    labels = {
        "B": "B (random halves of Fashion-MNIST + MNIST)",
        "natmanA": "natmanA (Fashion-MNIST: the 10 clothing classes)",
        "natmanB": "natmanB (MNIST: the 10 digits)",
        "natman": "natman (clothing / digits)",
        "whole": f"whole (Fashion-MNIST + MNIST, {s.n_classes} classes)",
    }
    for seed in s.random_splits:
        split = splits.fashion_digits_random_split(seed)
        labels[f"{seed}A"] = f"{seed}A ({names(split.classes_a)})"
        labels[f"{seed}B"] = f"{seed}B ({names(split.classes_b)})"
    return labels


POOLED = ("B", "natman")
"""Targets that pool several halves: target-matched when the analysis is paired (except the base nets)."""


def label_stand_ins(rows: list[QuantityRow], labels: Mapping[str, str], paired: bool) -> list[QuantityRow]:
    """The measured rows with their target shown beside the stand-in it is measured on. published.csv keeps its
    keys (the rows were matched before they were relabelled); a pooled row of transfer nets says it is
    target-matched."""
    out = []
    for q in rows:
        p = q.published
        if q.status != "measured" or p.target not in labels:
            out.append(q)
            continue
        label = labels[p.target]
        if paired and p.target in POOLED and p.condition != "base":
            label = label[:-1] + ", target-matched)"
        out.append(replace(q, published=replace(p, target=label)))
    return out


def count_notes(nets: Networks) -> list[str]:
    """The networks behind each condition (a design of the grid, not a measured quantity)."""
    parts = []
    for (experiment, condition), (count, sources) in sorted(nets.counts().items()):
        levels = sorted({x.n for x in nets.unpaired if (x.experiment, x.condition) == (experiment, condition)})
        per = f" over n = {levels[0]}..{levels[-1]}" if len(levels) > 1 else ""
        from_ = f" from {sources} distinct base nets" if sources else ""
        parts.append(f"{experiment}/{condition} {count}{per}{from_}")
    return ["networks: " + "; ".join(parts)] if parts else []


def whole_task_classes(scale: str) -> int:
    """Classes of the whole-label-set task (fc8 width) of ``scale``, from the protocol."""
    if scale not in SCALES:
        raise ReproError(f"unknown scale {scale!r} for {PAPER}; accepted: {', '.join(SCALES)}")
    return SCALES[scale].n_classes


def compare(results_dir: Path, scale: str, *, papers_root: Path | None = None,
            whole_classes: int | None = None) -> Comparison:
    """Compare the runs in ``results_dir`` (= results/yosinski2014/<scale>) with the paper.

    Writes comparison.csv, comparison.md and the figure PNGs into
    ``results_dir`` and returns the Comparison (``.text()`` is what to print).
    ``whole_classes`` (chance level of the whole-label-set task in claim Y-C8)
    defaults to the scale's protocol (1000 at paper scale, 10 at mini).
    """
    results_dir = Path(results_dir)
    merged = read_paper_results(results_dir, PAPER, tuple(EXPERIMENTS), scale)
    runs = parse_runs(merged, scale)
    classes = whole_classes or whole_task_classes(scale)
    nets = Networks(runs, merged, classes, paired=scale != "paper", scale=scale)
    published = load_published(PAPER, papers_root)
    claims = load_claims(PAPER, papers_root)
    notes = [f"{e}: {merged[e].describe()}" if e in merged else f"{e}: not run" for e in EXPERIMENTS]
    notes.append(f"accuracy of every network: column {METRIC[scale]} of the run rows")
    if nets.paired:
        notes.append("accuracies are target-matched: each net relative to the base net of its own target, "
                     "re-centred on the pooled base mean (the 5/5 halves are not exchangeable at this scale); "
                     "a row naming one target holds that target's own networks as measured")
    labels = stand_ins(scale) if scale != "paper" else {}
    if labels:
        notes.append("the paper's ImageNet targets are measured on stand-ins, named beside each measured row's "
                     "target: " + "; ".join(labels.values()))
    notes.append(f"noise unit sigma = {nets.sigma:.4f} (from {nets.sigma_source}: {nets.n_base} random-split base "
                 f"nets on {len(nets.base_by_target)} halves, floor {NOISE_FLOOR}); standard errors count the "
                 f"distinct base nets behind each mean; chance on the whole task = 1/{classes}")
    notes += count_notes(nets)
    comparison = Comparison(
        paper=PAPER, scale=scale, results_dir=results_dir,
        quantities=label_stand_ins(quantity_table(published, measured_quantities(nets), merged), labels,
                                   nets.paired),
        verdicts=judge_claims(claims, RULES, nets, merged),
        figures=draw_figures(nets, published, results_dir, scale, metric_label(scale)),
        run_summary=load_run_summary(results_dir), notes=notes,
    )
    comparison.write()
    return comparison
