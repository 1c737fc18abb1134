"""The rules of papers/liu2019/claims.csv: one function per claim, returning the claim's judged parts.

A rule reads :class:`Measured` (the rows of every experiment that ran) and
raises :class:`repro.compare.NotMeasured` when a cell it needs has no rows.
The replicates are the fine-tuning seeds of each arm or source (4 at mini, 3
at paper scale; the seed-to-seed spread is the noise) and, for the theory,
its seeds (4). ``se`` = sd (ddof 1) / sqrt(n); the se of a difference of two
arms is ``sqrt(se_a^2 + se_b^2)``, except in the theory, whose levels and arms
share each seed's draws (common random numbers) and are compared seed by seed.
Only the abstract of the paper is available and it gives no effect size, so
no part fails "with power": a part fails when the data show the opposite
beyond 2 se (:mod:`repro.verdicts`). Accuracies are in percentage points.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from repro.compare import MergedRuns, NotMeasured, number
from repro.liu2019.protocol import (DISSIMILAR, RANDOM_SOURCE, SCALES, SIMILAR, THEORY_KINDS, TRANSFERRED_HEAD,
                                    Scale)
from repro.verdicts import (Part, all_of, greater, not_applicable, ordered, se_of_difference, se_of_mean,
                            selection_se)

PP = 100.0  # accuracy fraction -> percentage points
LABEL_ORDER = ("identical", "coarsened", "random", "permuted")
"""L-C5's label relations, most to least similar to the target's labelling as the transferred head sees it."""
TRACKS = 0.9
"""L-C7 (b): the smallest Pearson correlation read as "tracks" (the bound explains 81% of the deviation's variance)."""


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
        """``column`` of the rows whose identity columns equal ``match``, one value per seed, in seed order."""
        rows = [r for r in self.experiment(experiment) if all(r.get(k) == str(v) for k, v in match.items())]
        if not rows:
            raise NotMeasured(f"no {experiment} rows for {match}")
        return np.array([number(r, column) for r in sorted(rows, key=lambda r: int(r["seed"]))])

    def theory(self, series: str, column: str) -> dict[float, dict[int, float]]:
        """``{similarity level: {seed: column}}`` of one theory series."""
        rows = [r for r in self.experiment("theory") if r["series"] == series]
        if not rows:
            raise NotMeasured(f"no theory rows for the {series} series")
        out: dict[float, dict[int, float]] = {}
        for r in rows:
            out.setdefault(float(r["similarity"]), {})[int(r["seed"])] = number(r, column)
        return out


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def _lower_for_pretrained(label: str, says: str, m: Measured, experiment: str, column: str, name: str, *,
                          scale: float = 1.0, unit: str = "", condition: str = SIMILAR,
                          against: str = "random") -> Part:
    """The paper says ``column`` is smaller for ``condition`` (the similar source's arm) than for ``against``
    (random init): ``against - condition > 0``."""
    lower = m.values(experiment, column, condition=condition) * scale
    higher = m.values(experiment, column, condition=against) * scale
    return greater(label, says, _mean(higher) - _mean(lower), se_of_difference(se_of_mean(lower), se_of_mean(higher)),
                   unit=unit, what=f"{name} {condition} {_mean(lower):.3g} vs {against} {_mean(higher):.3g} "
                                   f"({len(lower)}+{len(higher)} seeds); {against} - {condition}")


def l_c1(m: Measured) -> list[Part]:
    """(a) smaller conv deviation; a flatter minimum by (b) the surface, (c) the top Hessian eigenvalue, (d) the
    Hessian trace: each for the similar source's arm vs random, beyond 2 se; (e) a smaller conv deviation from
    the similar source than from the dissimilar one (not applicable without a dissimilar arm)."""
    similar_closer = (
        _lower_for_pretrained("e", "the weights stay close to the pretrained ones when transferred to a similar "
                              "target (abstract, 1): a smaller conv deviation from the similar source than from "
                              "the dissimilar one", m, "deviation", "deviation_conv", "D",
                              against=DISSIMILAR)
        if len(m.scale.generalization.sources) > 1 else
        not_applicable("e", "the weights stay close to the pretrained ones when transferred to a similar target "
                       "(abstract, 1)", "this scale fine-tunes from one source only"))
    return [
        _lower_for_pretrained("a", "the fine-tuned weights stay close to the pretrained ones (abstract, 1): a "
                              "smaller conv deviation than training from random init", m, "deviation",
                              "deviation_conv", "D"),
        _lower_for_pretrained("b", "a flatter minimum (abstract, 1), by the official loss_landscape.py's measure: "
                              "the filter-normalised 2-D surface rises less around the solution", m, "flatness",
                              "surface_mean_rise", "mean rise"),
        _lower_for_pretrained("c", "a flatter minimum (abstract, 1), by curvature: a smaller top eigenvalue of "
                              "the training-loss Hessian", m, "flatness", "top_eigenvalue", "lambda_max"),
        _lower_for_pretrained("d", "a flatter minimum (abstract, 1), by curvature: a smaller Hessian trace", m,
                              "flatness", "hessian_trace", "trace"),
        similar_closer,
    ]


def l_c2(m: Measured) -> list[Part]:
    """(a) smaller mean variation of loss, (b) smaller spread of it over the steps, (c) lower training loss over
    the first half: each for pretrained vs random, beyond 2 se."""
    return [
        _lower_for_pretrained("a", "improved Lipschitzness (abstract, 2): a smaller variation of the loss along "
                              "the gradient (official variation_of_loss.py), mean over the probed steps", m,
                              "optimization", "variation_mean", "variation"),
        _lower_for_pretrained("b", "training is stabilised (abstract, 2): the variation of loss is less spiky, "
                              "a smaller standard deviation over the probed steps", m, "optimization",
                              "variation_std", "sd of variation"),
        _lower_for_pretrained("c", "training is accelerated (abstract, 2): a lower training loss averaged over "
                              "the first half of the steps", m, "deviation", "train_loss_first_half",
                              "loss"),
    ]


def l_c3(m: Measured) -> list[Part]:
    """(a), (b) the principal gradient component's share at the start is smaller for pretrained with a new head
    (the ResNet scripts' setting), in the two readings of 'principal component'; (c) and (d) are not applicable
    (not measured, causal); (e), (f) the same two shares with the source's head transferred (the theory's
    setting, where the residual is y - f_pretrained(x)), not applicable without that arm."""
    head = TRANSFERRED_HEAD
    if m.scale.optimization.head_transferred:
        transferred = [
            _lower_for_pretrained("e", "the principal component is suppressed with the source's head transferred "
                                  "(the theory's setting: the residual y - f_pretrained(x)), read as PCA of the "
                                  "per-example gradients: a smaller s1^2 / sum s_i^2", m, "optimization",
                                  "share_per_example", "s1^2/sum", condition=head),
            _lower_for_pretrained("f", "the same with the head transferred, along the top Hessian eigenvector: a "
                                  "smaller (v1 . g)^2 / ||g||^2", m, "optimization", "share_hessian",
                                  "(v1.g)^2/|g|^2", condition=head)]
    else:
        transferred = [not_applicable(label, "the principal component is suppressed with the source's head "
                                      "transferred (the theory's setting)", "this scale has no arm that keeps the "
                                      "source's head (its source and target label spaces differ)")
                       for label in ("e", "f")]
    return [
        _lower_for_pretrained("a", "the principal component of the gradient is suppressed in the pretrained "
                              "parameters (abstract, 2), read as PCA of the per-example gradients of the probed "
                              "kernel: a smaller top singular share s1^2 / sum s_i^2", m, "optimization",
                              "share_per_example", "s1^2/sum"),
        _lower_for_pretrained("b", "the same, read along the top Hessian eigenvector: a smaller share "
                              "(v1 . g)^2 / ||g||^2 of the gradient", m, "optimization", "share_hessian",
                              "(v1.g)^2/|g|^2"),
        not_applicable("c", "this stabilises the magnitude of the gradient in back-propagation (abstract, 2)",
                       "not measured: the runs record ||g|| of the whole network over training time only, whose "
                       "spread mostly says how fast an arm fits the target (its gradient then falls toward 0), "
                       "not how stable the gradient's magnitude is through back-propagation; that needs the "
                       "gradient norm layer by layer"),
        not_applicable("d", "the improvement is largely attributable to this suppression (abstract, 2)",
                       "an attribution needs an intervention on the gradient's principal component, which the "
                       "protocol does not make; (a) and (b) test the fact it rests on"),
        *transferred,
    ]


def _by_source(m: Measured, experiment: str, column: str, sources: Sequence[str], names: Sequence[str],
               scale: float = 1.0) -> list[tuple[str, list[float]]]:
    return [(name, list(m.values(experiment, column, source=s) * scale)) for s, name in zip(sources, names)]


def l_c4(m: Measured) -> list[Part]:
    """Over the pretrained sources, most to least similar in input: (a) accuracy falls, (c) deviation rises,
    each step beyond 2 se; (b) the most similar source beats random init."""
    sources = list(m.scale.input_sources)
    if sources[-1] != RANDOM_SOURCE:
        raise ValueError(f"the input series must end with {RANDOM_SOURCE!r}")
    pretrained, first = sources[:-1], sources[0]
    acc = _by_source(m, "input_similarity", "test_acc_final", pretrained, pretrained, PP)
    dev = _by_source(m, "input_similarity", "deviation_conv", pretrained, pretrained)
    top = m.values("input_similarity", "test_acc_final", source=first) * PP
    ran = m.values("input_similarity", "test_acc_final", source=RANDOM_SOURCE) * PP
    return [
        ordered("a", "feasibility is related to input similarity (abstract, 3): target accuracy falls as the "
                "source grows less similar in input", acc, unit=" pp", what="accuracy %:"),
        greater("b", "transfer from a similar source is feasible: it beats training from random init", _mean(top)
                - _mean(ran), se_of_difference(se_of_mean(top), se_of_mean(ran)), unit=" pp",
                what=f"accuracy {first} {_mean(top):.1f} vs random init {_mean(ran):.1f}; difference"),
        ordered("c", "the weights stay closer to the pretrained ones on a more similar target (abstract, 1): the "
                "conv deviation rises as the source grows less similar", dev, decreasing=False, what="D:"),
    ]


def label_series(scale: Scale) -> list[str]:
    """The scale's label sources in LABEL_ORDER (the relations it has)."""
    by_relation = {scale.source(s).labels: s for s in scale.label_sources}
    return [by_relation[r] for r in LABEL_ORDER if r in by_relation]


def l_c5(m: Measured) -> list[Part]:
    """Over the label relations identical, coarsened, random, permuted: (a) accuracy falls, (b) deviation rises,
    each step beyond 2 se."""
    sources = label_series(m.scale)
    present = {m.scale.source(s).labels for s in sources}
    missing = [r for r in LABEL_ORDER if r not in present]
    if missing:
        raise NotMeasured(f"no label source with {', '.join(missing)} labels at this scale")
    return [
        ordered("a", "feasibility is related to label similarity (abstract, 3): target accuracy falls from "
                "identical to coarsened, random and permuted labels", _by_source(
                    m, "label_similarity", "test_acc_final", sources, LABEL_ORDER, PP), unit=" pp",
                what="accuracy %:"),
        ordered("b", "the weights stay closer to the pretrained ones on a more similar task (abstract, 1): the conv "
                "deviation rises in the same order", _by_source(
                    m, "label_similarity", "deviation_conv", sources, LABEL_ORDER), decreasing=False, what="D:"),
    ]


def l_c6(m: Measured) -> list[Part]:
    """The best interior checkpoint beats (a) the first and (b) the last, beyond 2 se widened for its choice among
    the interior checkpoints."""
    epochs = list(m.scale.checkpoints)
    if len(epochs) < 3:
        raise NotMeasured("an inverted U needs at least three checkpoints")
    acc = {k: m.values("checkpoints", "test_acc_final", source_epoch=k) * PP for k in epochs}
    interior = epochs[1:-1]
    best = max(interior, key=lambda k: (_mean(acc[k]), -k))  # the earliest on a tie
    curve = ", ".join(f"e{k} {_mean(acc[k]):.2f}" for k in epochs)
    parts = []
    for label, end, says in (
            ("a", epochs[0], "transferability first increases during pre-training (abstract, 3): the best "
                             "intermediate checkpoint beats the first"),
            ("b", epochs[-1], "and then declines (abstract, 3): the best intermediate checkpoint beats the "
                              "final one")):
        se = selection_se(se_of_difference(se_of_mean(acc[best]), se_of_mean(acc[end])), len(interior))
        parts.append(greater(label, says, _mean(acc[best]) - _mean(acc[end]), se, unit=" pp",
                             what=f"accuracy % {curve}; best interior e{best} - e{end} (se widened for the "
                                  f"choice among {len(interior)})"))
    return parts


def _paired_levels(levels: Mapping[float, Mapping[int, float]]) -> tuple[list[float], list[int]]:
    """The levels, most similar first, and the seeds every level has."""
    order = sorted(levels, reverse=True)
    seeds = sorted(set.intersection(*(set(levels[q]) for q in order)))
    if not seeds:
        raise NotMeasured("no theory seed has every similarity level")
    return order, seeds


def l_c7(m: Measured) -> list[Part]:
    """Two-layer ReLU check, seed by seed: (a) deviation rises step by step with dissimilarity, (b) it tracks
    sqrt(r' H^-1 r) (Pearson above TRACKS), (c) smaller |v1 . r0| pretrained at the most similar level."""
    ordering, top = [], []
    by_seed: dict[int, tuple[list[float], list[float]]] = {}
    for series in THEORY_KINDS:
        dev = m.theory(series, "deviation_pretrained")
        rkhs = m.theory(series, "rkhs_pretrained")
        top_p = m.theory(series, "top_abs_pretrained")
        top_r = m.theory(series, "top_abs_random")
        levels, seeds = _paired_levels(dev)
        ordering.append(ordered(series, "", [(f"q{q:g}", [dev[q][s] for s in seeds]) for q in levels],
                                decreasing=False, paired=True))
        q = levels[0]
        diffs = [top_r[q][s] - top_p[q][s] for s in seeds]
        top.append(greater(series, "", float(np.mean(diffs)), se_of_mean(diffs),
                           what=f"at q{q:g}: |v1.r0| pretrained {np.mean([top_p[q][s] for s in seeds]):.3g} vs "
                                f"random {np.mean([top_r[q][s] for s in seeds]):.3g}; random - pretrained"))
        for s in seeds:
            xs, ys = by_seed.setdefault(s, ([], []))
            xs += [dev[q][s] for q in levels]
            ys += [rkhs[q][s] for q in levels]
    from repro.liu2019.theory import pearson

    r = [pearson(xs, ys) for xs, ys in by_seed.values()]
    return [
        all_of("a", "the fine-tuning deviation ||W_fine - W_pre||_F grows as source and target grow less similar, "
                    "in input and in label (the theory verifies the observations, abstract)", ordering),
        greater("b", "the deviation tracks the bound sqrt(r' (H^inf_Q)^-1 r) of the reconstructed theory",
                float(np.mean(r)) - TRACKS, se_of_mean(r),
                what=f"Pearson over the levels of both series, per seed: mean {np.mean(r):.4f} "
                     f"({len(r)} seeds); minus {TRACKS}"),
        all_of("c", "pretraining suppresses the initial residual's component along the top eigenvector of "
                    "H^inf_Q on a similar target (abstract, 2 and the theory)", top),
    ]


RULES = {"L-C1": l_c1, "L-C2": l_c2, "L-C3": l_c3, "L-C4": l_c4, "L-C5": l_c5, "L-C6": l_c6, "L-C7": l_c7}
