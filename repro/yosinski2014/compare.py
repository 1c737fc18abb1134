"""``repro compare yosinski2014``: the measured transfer curves against the published ones.

Reads the runs written by ``repro run yosinski2014`` (random_splits, natman,
random_features, reduced_data; any may be missing), aggregates them the way
the paper's notebook does, and reports:

- per condition and n: mean of the paper's metric (mean of the 10 best
  validation evaluations, the plotting notebook's ``get_mean_best``), network count, min/max,
  the final-iteration variant, and the mean relative to the baseB mean
  (Figure 2 bottom, Figure 3 bottom);
- Table 1 recomputed the paper's way: pooled over the individual AnB+
  networks with n in the layer range, minus the baseB mean and minus the
  pooled BnB+ networks in the range (and, for contrast, the mean of per-n
  means, which is not the paper's aggregation);
- a verdict per claim of papers/yosinski2014/claims.csv (rules in
  :mod:`repro.yosinski2014.claims`);
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
    Comparison, MergedRuns, NotMeasured, QuantityKey, judge_claims, load_claims,
    load_published, load_run_summary, quantity_table, read_paper_results,
)
from repro.errors import ReproError
from repro.yosinski2014.claims import RULES
from repro.yosinski2014.figures import draw_figures

PAPER = "yosinski2014"
EXPERIMENTS = ("random_splits", "natman", "random_features", "reduced_data")
LAYERS = tuple(range(1, 8))
"""n = number of copied bottom weight layers (conv1..fc7); n = 8 is meaningless (§1.8)."""
TABLE1_RANGES = ((1, 7), (3, 7), (5, 7))
NOISE_FLOOR = 0.002
"""Lower bound on the noise unit sigma (accuracy fraction), for grids with fewer than two base nets."""


@dataclass(frozen=True)
class Net:
    """One trained network, as the runner recorded it."""

    run_key: str
    experiment: str
    condition: str
    n: int
    target: str
    acc: float
    acc_final: float


class Networks:
    """The measured networks of every experiment, with the paper's aggregations.

    ``paired``: on ImageNet the random halves are exchangeable, so the paper
    compares every net with the pooled baseB. The 5/5 Fashion-MNIST halves
    are not (their base nets differ by several points), so at mini and smoke
    scale each net's accuracy is first taken relative to the base net(s) of
    its own target and then re-centred on the experiment's pooled base mean:
    ``acc' = acc - base(target) + mean(base)``. Every ``mean(c, n) - baseB``
    is then a paired, target-matched difference, and the rules read as in the
    paper. With one base net per target the base nets themselves become
    exactly the pooled mean.

    ``sigma`` is the noise unit of the claim rules, at least NOISE_FLOOR: with
    replicate base nets (condition ``base_replicate``, a second seed on the
    same target) the seed noise of one net, ``sqrt(sum_t (r_t - b_t)^2 / 2K)``
    over the K replicated targets; otherwise the sample standard deviation
    (ddof 1) of the random-split base nets, as on ImageNet.
    ``se(m1, m2, ...) = sigma * sqrt(1/m1 + 1/m2 + ...)`` is the standard
    error of a difference of means over m1, m2, ... networks.
    """

    layers = LAYERS

    def __init__(self, nets: Iterable[Net], experiments_run: Iterable[str], whole_classes: int,
                 paired: bool = False):
        nets = list(nets)
        self.raw_base = [x for x in nets if x.experiment == "random_splits" and x.condition == "base"]
        self.replicates = [x for x in nets if x.condition == "base_replicate"]
        self.paired = paired
        self.unpaired = nets
        self.nets = _paired(nets) if paired else nets
        self.experiments_run = set(experiments_run)
        self.whole_classes = whole_classes
        self.n_base = len(self.raw_base)
        self.sigma_source = "seed replicates" if self.replicates else "base nets"
        self.sigma = max(self._spread(), NOISE_FLOOR)

    def _spread(self) -> float:
        if self.replicates:
            base = {x.target: x.acc for x in self.raw_base}
            squares = [(r.acc - base[r.target]) ** 2 for r in self.replicates if r.target in base]
            return math.sqrt(sum(squares) / (2 * len(squares))) if squares else 0.0
        accs = [x.acc for x in self.raw_base]
        return float(np.std(accs, ddof=1)) if len(accs) >= 2 else 0.0

    def values(self, experiment: str, condition: str, ns: Iterable[int],
               targets: Iterable[str] | None = None, metric: str = "acc", raw: bool = False) -> np.ndarray:
        """The metric ('acc' or 'acc_final') of every matching network (``raw``: never target-matched)."""
        ns = set(ns)
        wanted = None if targets is None else set(targets)
        return np.array([getattr(x, metric) for x in (self.unpaired if raw else self.nets)
                         if x.experiment == experiment and x.condition == condition and x.n in ns
                         and (wanted is None or x.target in wanted)], dtype=float)

    def pooled(self, experiment: str, condition: str, ns: Iterable[int],
               targets: Iterable[str] | None = None, raw: bool = False) -> tuple[float, int]:
        """Mean over all matching networks and their number; NotMeasured if there are none."""
        ns = list(ns)
        vals = self.values(experiment, condition, ns, targets, raw=raw)
        if len(vals) == 0:
            where = f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}"
            which = "" if targets is None else " into " + "/".join(targets)
            raise NotMeasured(f"no {condition} runs at {where}{which} in {experiment}")
        return float(vals.mean()), len(vals)

    def targets(self, experiment: str, condition: str) -> list[str]:
        """The distinct targets the networks of ``condition`` were trained on."""
        return sorted({x.target for x in self.nets if x.experiment == experiment and x.condition == condition})

    def base_b(self) -> tuple[float, int]:
        """The baseB mean: all random-split base nets, both halves of every split."""
        return self.pooled("random_splits", "base", [0])

    def se(self, *counts: int) -> float:
        """Standard error of a difference of means over ``counts`` networks each."""
        return self.sigma * math.sqrt(sum(1.0 / m for m in counts))

    def chance(self) -> float:
        """Chance accuracy on the whole-label-set task (Figure 3, random features)."""
        return 1.0 / self.whole_classes


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
            if not own or x.condition == "base_replicate":
                adjusted.append(x)
                continue
            shift = centre - float(np.mean([b.acc for b in own]))
            shift_final = centre_final - float(np.mean([b.acc_final for b in own]))
            adjusted.append(replace(x, acc=x.acc + shift, acc_final=x.acc_final + shift_final))
    return adjusted


def parse_runs(merged: Mapping[str, MergedRuns], scale: str) -> list[Net]:
    """Typed networks from the runner's rows; reduced-data runs use examples_per_class as n."""
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
                acc=_number(row.get("acc_top10_mean"), key, "acc_top10_mean"),
                acc_final=_number(row.get("acc_final"), key, "acc_final", optional=True),
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
    """Quantities of one (condition, n, target) group; ``std`` is the population std as in the logs."""
    finite = finals[np.isfinite(finals)]
    stats = {
        "acc": float(vals.mean()), "count": float(len(vals)),
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
    """Target labels of published.csv and the measured targets each one pools."""
    if experiment == "random_splits":
        groups: dict[str, list[str] | None] = {"B": None}
        if condition == "base":
            groups |= {t: [t] for t in nets.targets(experiment, condition)}
        return groups
    if experiment == "natman":
        return {"natman": None} | {t: [t] for t in nets.targets(experiment, condition)}
    return {"whole": None}


def measured_quantities(nets: Networks) -> dict[QuantityKey, float]:
    """Every measured value under its published.csv key (quantity, condition, n, target)."""
    out: dict[QuantityKey, float] = {}
    for experiment in EXPERIMENTS:
        conditions = sorted({x.condition for x in nets.nets if x.experiment == experiment})
        for condition in conditions:
            for label, targets in _target_groups(nets, experiment, condition).items():
                ref = nets.values(experiment, "base", [0], targets)
                reference = float(ref.mean()) if len(ref) and condition != "base" else None
                levels = sorted({x.n for x in nets.nets if x.experiment == experiment and x.condition == condition})
                for n in levels:
                    vals = nets.values(experiment, condition, [n], targets)
                    if len(vals) == 0:
                        continue
                    finals = nets.values(experiment, condition, [n], targets, metric="acc_final")
                    for quantity, value in _group_stats(vals, finals, reference).items():
                        out[(quantity, condition, str(n), label)] = value
    out |= table1(nets)
    return out


def table1(nets: Networks) -> dict[QuantityKey, float]:
    """Table 1: AnB+ boost in percentage points over baseB and over BnB+, per layer range.

    ``boost_pct`` pools individual networks (the paper's aggregation, see
    papers/yosinski2014/README.md); ``boost_pct_per_n_means`` averages per-n means instead.
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
        anbp_means = [v.mean() for v in (nets.values("random_splits", "AnB+", [n]) for n in layers) if len(v)]
        bnbp_means = [v.mean() for v in (nets.values("random_splits", "BnB+", [n]) for n in layers) if len(v)]
        if len(anbp):
            out[("boost_pct", "AnB+ - base", span, "B")] = 100 * (anbp.mean() - base)
            out[("boost_pct_per_n_means", "AnB+ - base", span, "B")] = 100 * (np.mean(anbp_means) - base)
        if len(anbp) and len(bnbp):
            out[("boost_pct", "AnB+ - BnB+", span, "B")] = 100 * (anbp.mean() - bnbp.mean())
            out[("boost_pct_per_n_means", "AnB+ - BnB+", span, "B")] = 100 * (np.mean(anbp_means) - np.mean(bnbp_means))
    return out


def whole_task_classes(scale: str) -> int:
    """Classes of the whole-label-set task (fc8 width) of ``scale``, from the protocol.

    Imported here rather than at module level because the protocol pulls in
    TensorFlow, which a comparison otherwise never needs.
    """
    from repro.yosinski2014.protocol import SCALES

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
    nets = Networks(runs, merged, classes, paired=scale != "paper")
    published = load_published(PAPER, papers_root)
    claims = load_claims(PAPER, papers_root)
    notes = [f"{e}: {merged[e].describe()}" if e in merged else f"{e}: not run" for e in EXPERIMENTS]
    if nets.paired:
        notes.append("accuracies are target-matched: each net relative to the base net of its own target, "
                     "re-centred on the pooled base mean (the 5/5 halves are not exchangeable at this scale)")
    notes.append(f"noise unit sigma = {nets.sigma:.4f} (from {nets.sigma_source}: {len(nets.replicates)} replicate "
                 f"and {nets.n_base} random-split base nets, floor {NOISE_FLOOR}); "
                 f"chance on the whole task = 1/{classes}")
    comparison = Comparison(
        paper=PAPER, scale=scale, results_dir=results_dir,
        quantities=quantity_table(published, measured_quantities(nets), merged),
        verdicts=judge_claims(claims, RULES, nets, merged),
        figures=draw_figures(nets, published, results_dir, scale),
        run_summary=load_run_summary(results_dir), notes=notes,
    )
    comparison.write()
    return comparison
