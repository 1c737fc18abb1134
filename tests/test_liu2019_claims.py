"""Liu et al. 2019: the claim rules of papers/liu2019/claims.csv on hand-built measurements, and the committed
comparison recomputed from the committed runs.

For every claim, a set of measurements on which it holds; for every part, one on which that part fails and one
on which it is inconclusive (the part's outcome and the claim's). Pure Python: no model is built.
"""
from __future__ import annotations

import csv
import dataclasses
import shutil

import pytest

from repro.compare import NotMeasured, repo_root
from repro.liu2019 import protocol
from repro.liu2019.claims import LABEL_ORDER, RULES, Measured
from repro.verdicts import combine

MINI = protocol.MINI
SEEDS = (1, 2)  # hand-built measurements: two seeds per arm

# per-seed values of one arm or group: a clear effect, its reverse, and a difference inside the noise
HOLD = ((1.0, 1.1), (2.0, 2.1))  # (pretrained, random): random - pretrained = 1.0 +- 0.14
FAIL = ((2.0, 2.1), (1.0, 1.1))  # -1.0 +- 0.14: the opposite beyond noise
TIE = ((1.0, 2.0), (1.2, 2.2))  # +0.2 +- 1.0


ONE_SOURCE = dataclasses.replace(  # a scale without the dissimilar and the transferred-head arms (paper-like)
    MINI, generalization=dataclasses.replace(MINI.generalization, sources=MINI.generalization.sources[:1]),
    optimization=dataclasses.replace(MINI.optimization, head_transferred=()))


def judge(claim: str, scale=MINI, **experiments) -> tuple[str, dict[str, str], dict]:
    """The claim's outcome, each part's outcome by label, and the parts."""
    parts = RULES[claim](Measured(scale, experiments))
    return combine(parts), {p.label: p.outcome for p in parts}, {p.label: p for p in parts}


def arm_rows(conditions=("pretrained", "random"), **columns) -> list[dict[str, str]]:
    """Rows of an experiment of arms: ``column=((first condition per seed), (second per seed), ...)``."""
    rows = []
    for i, condition in enumerate(conditions):
        for k, seed in enumerate(SEEDS):
            rows.append({"condition": condition, "arm": "random" if condition == "random" else "pretrained",
                         "seed": str(seed), **{c: str(v[i][k]) for c, v in columns.items()}})
    return rows


def source_rows(experiment_sources: dict[str, dict[str, tuple[float, float]]]) -> list[dict[str, str]]:
    """Rows of a series of sources: ``{source: {column: (per seed)}}``."""
    return [{"source": source, "seed": str(seed), **{c: str(v[k]) for c, v in columns.items()}}
            for source, columns in experiment_sources.items() for k, seed in enumerate(SEEDS)]


def spread(mean: float, half: float = 0.005) -> tuple[float, float]:
    return (mean - half, mean + half)


# --- L-C1 ----------------------------------------------------------------------------------------

L_C1 = {"deviation_conv": ("deviation", "a"), "surface_mean_rise": ("flatness", "b"),
        "top_eigenvalue": ("flatness", "c"), "hessian_trace": ("flatness", "d")}


DISSIMILAR = (3.0, 3.1)  # the dissimilar source's deviation per seed: above either arm of HOLD, FAIL and TIE


def l_c1(dissimilar=DISSIMILAR, **override):
    columns = {c: override.get(c, HOLD) for c in L_C1}
    deviation = (arm_rows(("pretrained", "random", "pretrained-dissimilar"),
                          deviation_conv=(*columns["deviation_conv"], dissimilar))
                 if dissimilar else arm_rows(deviation_conv=columns["deviation_conv"]))
    return judge("L-C1", MINI if dissimilar else ONE_SOURCE, deviation=deviation,
                 flatness=arm_rows(**{c: v for c, v in columns.items() if c != "deviation_conv"}))


def test_l_c1_holds_when_pretrained_moves_less_and_sits_flatter_by_every_measure():
    outcome, parts, _ = l_c1()
    assert outcome == "holds" and parts == {"a": "holds", "b": "holds", "c": "holds", "d": "holds", "e": "holds"}


@pytest.mark.parametrize("dissimilar, outcome", [((0.5, 0.6), "fails"), ((1.0, 1.2), "inconclusive")])
def test_l_c1_e_compares_the_similar_source_with_the_dissimilar_one(dissimilar, outcome):
    claim, parts, by_label = l_c1(dissimilar=dissimilar)  # the similar source moves 1.0 / 1.1
    assert parts["e"] == outcome and claim == outcome and "pretrained-dissimilar" in by_label["e"].evidence


def test_l_c1_e_is_not_applicable_with_one_source():
    claim, parts, _ = l_c1(dissimilar=None)
    assert parts["e"] == "not applicable" and claim == "holds"


def test_l_c1_e_needs_the_dissimilar_rows_where_the_scale_has_that_arm():
    with pytest.raises(NotMeasured, match="pretrained-dissimilar"):  # a partial run is not "one source only"
        RULES["L-C1"](Measured(MINI, {"deviation": arm_rows(deviation_conv=HOLD), "flatness": arm_rows(
            **{c: HOLD for c in ("surface_mean_rise", "top_eigenvalue", "hessian_trace")})}))


@pytest.mark.parametrize("column", L_C1)
@pytest.mark.parametrize("values, outcome", [(FAIL, "fails"), (TIE, "inconclusive")])
def test_l_c1_each_part_fails_on_the_opposite_and_is_inconclusive_within_noise(column, values, outcome):
    claim, parts, _ = l_c1(**{column: values})
    label = L_C1[column][1]
    assert parts[label] == outcome and claim == outcome
    assert all(o == "holds" for lab, o in parts.items() if lab != label)


def test_l_c1_a_tie_of_the_top_eigenvalue_on_one_seed_is_not_an_ordering():
    # the committed mini pattern: pretrained 1.31 / 0.47 vs random 1.32 / 1.26
    _, parts, by_label = l_c1(top_eigenvalue=((1.31, 0.47), (1.32, 1.26)))
    assert parts["c"] == "inconclusive" and "cannot be told from noise" in by_label["c"].detectable


def test_l_c1_one_seed_per_arm_has_no_noise_estimate():
    one = arm_rows(deviation_conv=HOLD)[::2]  # seed 1 only
    parts = RULES["L-C1"](Measured(ONE_SOURCE, {"deviation": one, "flatness": arm_rows(
        **{c: HOLD for c in ("surface_mean_rise", "top_eigenvalue", "hessian_trace")})}))
    assert parts[0].outcome == "inconclusive" and parts[0].detectable == "no estimate of the noise"


def test_l_c1_needs_its_rows():
    with pytest.raises(NotMeasured, match="no flatness results"):
        RULES["L-C1"](Measured(ONE_SOURCE, {"deviation": arm_rows(deviation_conv=HOLD)}))


# --- L-C2 ----------------------------------------------------------------------------------------

L_C2 = {"variation_mean": ("optimization", "a"), "variation_std": ("optimization", "b"),
        "train_loss_first_half": ("deviation", "c")}


def l_c2(**override):
    columns = {c: override.get(c, HOLD) for c in L_C2}
    return judge("L-C2", optimization=arm_rows(variation_mean=columns["variation_mean"],
                                               variation_std=columns["variation_std"],
                                               beta_mean=FAIL),  # beta is not part of the claim
                 deviation=arm_rows(train_loss_first_half=columns["train_loss_first_half"]))


def test_l_c2_holds_on_smaller_steadier_variation_and_faster_loss_and_ignores_beta():
    outcome, parts, _ = l_c2()
    assert outcome == "holds" and parts == {"a": "holds", "b": "holds", "c": "holds"}


@pytest.mark.parametrize("column", L_C2)
@pytest.mark.parametrize("values, outcome", [(FAIL, "fails"), (TIE, "inconclusive")])
def test_l_c2_each_part_fails_on_the_opposite_and_is_inconclusive_within_noise(column, values, outcome):
    claim, parts, _ = l_c2(**{column: values})
    label = L_C2[column][1]
    assert parts[label] == outcome and claim == outcome
    assert all(o == "holds" for lab, o in parts.items() if lab != label)


# --- L-C3 ----------------------------------------------------------------------------------------

L_C3 = {"share_per_example": "a", "share_hessian": "b"}


HEAD = "pretrained-transferred-head"


def l_c3(head=HOLD[0], **override):
    """``head``: the transferred-head arm's shares per seed (both columns); None: no such arm."""
    columns = {c: override.get(c, HOLD) for c in L_C3}
    # a gradient norm whose spread over time is larger for pretrained: no longer judged (convergence)
    if head is None:
        return judge("L-C3", ONE_SOURCE, optimization=arm_rows(**columns, grad_norm_cv=FAIL))
    return judge("L-C3", optimization=arm_rows(("pretrained", "random", HEAD), grad_norm_cv=(*FAIL, FAIL[0]),
                                               **{c: (*v, head) for c, v in columns.items()}))


def test_l_c3_holds_on_smaller_shares_and_marks_the_untestable_parts():
    outcome, parts, by_label = l_c3()
    assert outcome == "holds"
    assert parts == {"a": "holds", "b": "holds", "c": "not applicable", "d": "not applicable", "e": "holds",
                     "f": "holds"}
    assert "layer by layer" in by_label["c"].evidence and "intervention" in by_label["d"].evidence


@pytest.mark.parametrize("column", L_C3)
@pytest.mark.parametrize("values, outcome", [(FAIL, "fails"), (TIE, "inconclusive")])
def test_l_c3_each_part_fails_on_the_opposite_and_is_inconclusive_within_noise(column, values, outcome):
    claim, parts, _ = l_c3(**{column: values})
    assert parts[L_C3[column]] == outcome and claim == outcome
    assert parts["c"] == parts["d"] == "not applicable"


@pytest.mark.parametrize("head, outcome", [((2.5, 2.6), "fails"), ((1.5, 2.5), "inconclusive")])
def test_l_c3_e_f_judge_the_transferred_head_arm_against_random(head, outcome):
    claim, parts, by_label = l_c3(head=head)  # random: 2.0 / 2.1
    assert parts["e"] == parts["f"] == outcome and claim == outcome and HEAD in by_label["e"].evidence
    assert parts["a"] == parts["b"] == "holds"


def test_l_c3_e_f_are_not_applicable_without_a_transferred_head_arm():
    claim, parts, _ = l_c3(head=None)
    assert parts["e"] == parts["f"] == "not applicable" and claim == "holds"


# --- L-C4 ----------------------------------------------------------------------------------------

INPUT = MINI.input_sources  # mnist, fashion, fashion-shuffled, random


def l_c4(acc=(0.95, 0.90, 0.85, 0.80), dev=(1.0, 2.0, 3.0, 9.0), acc_spread=0.002, dev_spread=0.05):
    return judge("L-C4", input_similarity=source_rows({
        s: {"test_acc_final": spread(a, acc_spread), "deviation_conv": spread(d, dev_spread)}
        for s, a, d in zip(INPUT, acc, dev)}))


def test_l_c4_holds_and_leaves_the_random_arm_out_of_the_orderings():
    outcome, parts, by_label = l_c4(dev=(1.0, 2.0, 3.0, 0.5))  # random init's deviation is another quantity
    assert outcome == "holds" and parts == {"a": "holds", "b": "holds", "c": "holds"}
    assert "random" not in by_label["a"].evidence and "random" not in by_label["c"].evidence


@pytest.mark.parametrize("kwargs, label, outcome", [
    (dict(acc=(0.90, 0.95, 0.85, 0.80)), "a", "fails"),          # fashion beats mnist beyond noise
    (dict(acc=(0.85, 0.90, 0.95, 0.80)), "a", "fails"),          # reversed end to end
    (dict(acc=(0.90, 0.9005, 0.85, 0.80)), "a", "inconclusive"),  # mnist and fashion tie
    (dict(acc=(0.95, 0.90, 0.85, 0.99)), "b", "fails"),          # random init beats the most similar source
    (dict(acc=(0.95, 0.90, 0.85, 0.9495)), "b", "inconclusive"),
    (dict(dev=(3.0, 2.0, 1.0, 9.0)), "c", "fails"),
    (dict(dev=(1.0, 1.01, 3.0, 9.0)), "c", "inconclusive"),
])
def test_l_c4_each_part_fails_and_is_inconclusive(kwargs, label, outcome):
    claim, parts, _ = l_c4(**kwargs)
    assert parts[label] == outcome and claim == outcome
    assert all(o == "holds" for lab, o in parts.items() if lab != label)


# --- L-C5 ----------------------------------------------------------------------------------------

def l_c5(acc=None, dev=None, spread_acc=0.002, spread_dev=0.05):
    """``acc``, ``dev``: by label relation; defaults follow LABEL_ORDER (identical, coarsened, random, permuted)."""
    acc = acc or dict(zip(LABEL_ORDER, (0.96, 0.94, 0.92, 0.88)))
    dev = dev or dict(zip(LABEL_ORDER, (2.0, 3.0, 5.0, 7.0)))
    return judge("L-C5", label_similarity=source_rows({
        source: {"test_acc_final": spread(acc[r], spread_acc), "deviation_conv": spread(dev[r], spread_dev)}
        for source, r in zip(MINI.label_sources, protocol.LABEL_RELATIONS)}))


def test_l_c5_orders_permuted_labels_last_with_the_head_transferred():
    assert LABEL_ORDER == ("identical", "coarsened", "random", "permuted")
    outcome, parts, by_label = l_c5()
    assert outcome == "holds" and parts == {"a": "holds", "b": "holds"}
    assert by_label["a"].evidence.index("random") < by_label["a"].evidence.index("permuted")


@pytest.mark.parametrize("acc, dev, label, outcome", [
    # the old a-priori order (permuted second to last, above random labels) now fails
    (dict(identical=0.96, coarsened=0.94, permuted=0.92, random=0.88), None, "a", "fails"),
    (dict(identical=0.96, coarsened=0.9605, random=0.92, permuted=0.88), None, "a", "inconclusive"),
    (None, dict(identical=2.0, coarsened=3.0, permuted=5.0, random=7.0), "b", "fails"),
    (None, dict(identical=2.0, coarsened=3.0, random=7.0, permuted=7.01), "b", "inconclusive"),
])
def test_l_c5_each_part_fails_and_is_inconclusive(acc, dev, label, outcome):
    claim, parts, _ = l_c5(acc, dev)
    assert parts[label] == outcome and claim == outcome
    assert all(o == "holds" for lab, o in parts.items() if lab != label)


# --- L-C6 ----------------------------------------------------------------------------------------

def l_c6(curve, half=0.002):
    return judge("L-C6", checkpoints=[
        {"source_epoch": str(k), "seed": str(s), "test_acc_final": str(a + (half if i else -half))}
        for k, a in zip(MINI.checkpoints, curve) for i, s in enumerate(SEEDS)])


INVERTED_U = (0.80, 0.85, 0.90, 0.95, 0.90, 0.85, 0.80)  # epochs 0, 1, 10, 20, 40, 80, 120


def test_l_c6_holds_on_an_interior_peak_above_both_ends():
    outcome, parts, by_label = l_c6(INVERTED_U)
    assert outcome == "holds" and parts == {"a": "holds", "b": "holds"}
    assert "best interior e20" in by_label["a"].evidence and "choice among 5" in by_label["b"].evidence


@pytest.mark.parametrize("curve, label, outcome", [
    ((0.99, 0.85, 0.90, 0.95, 0.90, 0.85, 0.80), "a", "fails"),    # falls from the start: no rise
    ((0.949, 0.85, 0.90, 0.95, 0.90, 0.85, 0.80), "a", "inconclusive"),
    ((0.80, 0.85, 0.90, 0.95, 0.90, 0.85, 0.99), "b", "fails"),    # still rising at the end: no decline
    ((0.80, 0.85, 0.90, 0.95, 0.90, 0.85, 0.949), "b", "inconclusive"),
])
def test_l_c6_each_part_fails_and_is_inconclusive(curve, label, outcome):
    claim, parts, _ = l_c6(curve)
    assert parts[label] == outcome and claim == outcome
    assert all(o == "holds" for lab, o in parts.items() if lab != label)


def test_l_c6_widens_the_noise_for_the_choice_of_the_peak():
    # best interior - last = 0.6 pp with 2 se = 0.57 pp unwidened: a peak only before the widening (x1.30)
    claim, parts, by_label = l_c6((0.80, 0.85, 0.90, 0.956, 0.90, 0.85, 0.950))
    assert parts["b"] == "inconclusive" and claim == "inconclusive"


# --- L-C7 ----------------------------------------------------------------------------------------

LEVELS = MINI.theory.levels  # 0, 0.25, 0.5, 0.75, 1
THEORY_SEEDS = MINI.theory.seeds


def theory_rows(deviation=None, rkhs=None, top_p=None, top_r=None):
    """``deviation(series, level, seed)`` etc.; defaults give a claim that holds."""
    deviation = deviation or (lambda series, q, s: 1.0 + 4.0 * (1 - q) + 0.3 * s + 0.02 * ((s * 7 + q * 8) % 3))
    rkhs = rkhs or (lambda series, q, s: 1.02 * deviation(series, q, s))
    top_p = top_p or (lambda series, q, s: 0.5 + 0.05 * s)
    top_r = top_r or (lambda series, q, s: 5.0 + 0.1 * s)
    return [{"series": series, "similarity": str(q), "seed": str(s),
             "deviation_pretrained": str(deviation(series, q, s)), "rkhs_pretrained": str(rkhs(series, q, s)),
             "top_abs_pretrained": str(top_p(series, q, s)), "top_abs_random": str(top_r(series, q, s))}
            for series in protocol.THEORY_KINDS for q in LEVELS for s in THEORY_SEEDS]


def l_c7(**kwargs):
    return judge("L-C7", theory=theory_rows(**kwargs))


def test_l_c7_holds_when_the_framework_reproduces_the_observations():
    outcome, parts, _ = l_c7()
    assert outcome == "holds" and parts == {"a": "holds", "b": "holds", "c": "holds"}


def _flat_label_series(series, q, s):
    base = 1.0 + 4.0 * (1 - q) + 0.3 * s + 0.02 * ((s * 7 + q * 8) % 3)
    return base if series == "input" or q < 0.75 else 1.0 + 4.0 * 0.25 + 0.3 * s + 0.02 * ((s * 5 + q) % 2)


@pytest.mark.parametrize("kwargs, label, outcome", [
    # the label series' deviation falls with dissimilarity
    (dict(deviation=lambda series, q, s: 1.0 + 4.0 * (q if series == "label" else 1 - q) + 0.3 * s
          + 0.02 * ((s * 7 + q * 8) % 3)), "a", "fails"),
    (dict(deviation=_flat_label_series), "a", "inconclusive"),  # levels 1 and 0.75 tie in the label series
    (dict(rkhs=lambda series, q, s: 10.0 - (1.0 + 4.0 * (1 - q))), "b", "fails"),  # anti-correlated
    # two seeds track perfectly, two do not: a mean correlation near 0.9, wide
    (dict(rkhs=lambda series, q, s: (1.0 + 4.0 * (1 - q)) if s < 2 else
          (1.0 + 4.0 * (1 - q)) + 6.0 * ((q * 4 + s) % 2)), "b", "inconclusive"),
    (dict(top_p=lambda series, q, s: 6.0 + 0.1 * s), "c", "fails"),
    (dict(top_p=lambda series, q, s: 5.0 + 0.3 * (s % 2) - 0.1), "c", "inconclusive"),
])
def test_l_c7_each_part_fails_and_is_inconclusive(kwargs, label, outcome):
    claim, parts, _ = l_c7(**kwargs)
    assert parts[label] == outcome and claim == outcome
    assert all(o == "holds" for lab, o in parts.items() if lab != label)


def test_l_c7_compares_levels_seed_by_seed():
    # a seed offset of 3 between seeds dwarfs the level steps unpaired, not paired
    outcome, parts, _ = l_c7(deviation=lambda series, q, s: 3.0 * s + 0.5 * (1 - q) + 0.01 * ((s + q * 4) % 2))
    assert parts["a"] == "holds"


# --- the committed comparison ---------------------------------------------------------------------

COMMITTED = repo_root() / "results" / "liu2019" / "mini"


@pytest.fixture(scope="module")
def recompared(tmp_path_factory):
    """``repro compare liu2019`` on a copy of the committed mini results (it writes files): the comparison, and
    the copied comparison.csv as committed."""
    from repro.liu2019.compare import compare

    copy = tmp_path_factory.mktemp("liu") / "mini"
    shutil.copytree(COMMITTED, copy)
    committed = _rows(copy / "comparison.csv")
    return compare(copy, "mini"), committed, copy


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_constants_read_from_the_stand_in_name_it_beside_the_codes_target(recompared):
    from repro.compare import load_published

    comparison, _, copy = recompared
    rows = {(r["key"], r["condition"]): r for r in _rows(copy / "comparison.csv") if r["section"] == "quantity"}
    for key in (("batch_size", "lenet"), ("epochs", ""), ("train_images", "")):
        assert rows[key]["status"] == "measured" and rows[key]["target"] == "svhn (street600)", key
    assert float(rows[("train_images", "")]["measured"]) == 600  # the stand-in's own 600 training images
    assert rows[("input_size", "lenet")]["target"] == "svhn"  # nothing measured: nothing stands in
    assert rows[("lr", "")]["target"] == ""
    assert {p.target for p in load_published("liu2019")} >= {"svhn"}  # published.csv's keys are unchanged
    assert any("'svhn (street600)'" in note for note in comparison.notes)


def test_each_measured_quantity_is_counted_once(recompared):
    comparison, _, copy = recompared
    measured = [q for q in comparison.quantities if q.status != "no analogue"]
    keys = [q.published.key for q in measured]
    assert len(keys) == len(set(keys)) == len(comparison.measured_rows()) == 8
    assert f"{len(keys)} published quantities are compared here" in (copy / "comparison.md").read_text()


def test_the_committed_comparison_is_what_the_rules_give_on_the_committed_runs(recompared):
    comparison, committed, copy = recompared
    claims = {r["key"]: r["verdict"] for r in committed if r["section"] == "claim"}
    parts = {(r["key"], r["part"]): r["verdict"] for r in committed if r["section"] == "part"}
    assert {v.claim_id: v.verdict for v in comparison.verdicts} == claims
    assert {(v.claim_id, p.label): p.outcome for v in comparison.verdicts for p in v.parts} == parts
    assert _rows(copy / "comparison.csv") == committed  # the whole file, quantities included, is reproduced
