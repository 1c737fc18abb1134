"""The claim rules of Chen et al. 2022 (repro/chen2022/claims.py, papers/chen2022/claims.csv) on hand-built data.

For every claim a set of measurements on which it holds (C-C6 cannot hold: its one part is not applicable by
construction); for every part one set on which it fails and one on which it is inconclusive. Then the committed
mini comparison recomputed, and the comparison's labels.
"""
from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest

from repro.chen2022 import claims
from repro.chen2022.claims import ONE_SEED, PAPER_PANELS, README_R50, RULES, Fits, Measured
from repro.chen2022.compare import compare, measured_quantities, stand_in_note
from repro.chen2022.protocol import group_column
from repro.compare import load_published, read_paper_results, repo_root
from repro.verdicts import combine

MINI = repo_root() / "results" / "chen2022" / "mini"


def judge(claim: str, m: Measured) -> tuple[str, dict[str, str]]:
    parts = RULES[claim](m)
    return combine(parts), {p.label: p.outcome for p in parts}


# --- the regression claims (C-C1, C-C2, C-C3) ----------------------------------------------------------------


def regression(b_g: float, b_d: float, b_n: float, noise: float, n: int = 12, seed: int = 0) -> Measured:
    """n targets with ln T = 3 + b_g z(G) + b_d z(D) + b_n z(ln N) + noise * e (fixed draws of G, D, N and e)."""
    rng = np.random.default_rng(seed)
    g, d = rng.uniform(0.1, 3.0, n), rng.uniform(0.05, 1.0, n)
    log_n = rng.uniform(math.log(100), math.log(50000), n)
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    log_t = 3 + b_g * z(g) + b_d * z(d) + b_n * z(log_n) + noise * rng.standard_normal(n)
    transfer = [{"target": f"t{i}", "seed": "0", "n_train": str(math.exp(log_n[i])),
                 "T_overall": str(math.exp(log_t[i]))} for i in range(n)]
    measures = [{"target": f"t{i}", "seed": "0", "G": str(g[i]), "D": str(d[i])} for i in range(n)]
    return Measured({"transferability": transfer, "domain_measures": measures, "regression": [{}]})


HOLDS = regression(-0.3, 0.6, -1.0, 0.01)  # the README's signs and ranking, nearly noiseless
NULL = regression(0.0, 0.0, 0.0, 1.0)  # no effect, much noise


def test_regression_claims_hold_on_the_readme_pattern():
    assert judge("C-C1", HOLDS) == ("holds", {"a": "holds", "b": "holds", "c": "holds"})
    assert judge("C-C2", HOLDS) == ("holds", {"a": "holds", "b": "holds"})
    assert judge("C-C3", HOLDS) == ("holds", {"a": "not applicable", "b": "holds"})


def test_c_c1_a_the_gap_lowers_t():
    assert judge("C-C1", regression(0.5, 1.0, -1.5, 0.01)) == ("fails", {"a": "fails", "b": "holds", "c": "holds"})
    # no gap effect, measured precisely: the README's -0.26 was detectable and is excluded (a failure with power)
    outcome, parts = judge("C-C1", regression(0.0, 0.6, -1.0, 0.01))
    assert (outcome, parts["a"]) == ("fails", "fails")
    assert "smaller than the paper's effect" in RULES["C-C1"](regression(0.0, 0.6, -1.0, 0.01))[0].evidence
    assert judge("C-C1", NULL) == ("inconclusive", {"a": "inconclusive", "b": "inconclusive", "c": "inconclusive"})


def test_c_c1_b_the_gap_weighs_less_than_data_amount():
    assert judge("C-C1", regression(-1.0, 1.5, -0.2, 0.01)) == ("fails", {"a": "holds", "b": "fails",
                                                                          "c": "inconclusive"})
    # a tie within noise reads as a tie
    assert judge("C-C1", regression(-0.5, 1.5, -0.5, 0.6, seed=1)) == ("inconclusive", {
        "a": "holds", "b": "inconclusive", "c": "holds"})


def test_c_c1_c_the_gap_weighs_less_than_diversity():
    assert judge("C-C1", regression(-1.0, 0.1, -2.0, 0.01)) == ("fails", {"a": "holds", "b": "holds", "c": "fails"})
    assert judge("C-C1", regression(-0.5, 0.5, -2.0, 0.01)) == ("inconclusive", {
        "a": "holds", "b": "holds", "c": "inconclusive"})


def test_c_c2_a_more_data_lowers_t():
    assert judge("C-C2", regression(-0.2, 0.3, 1.0, 0.01)) == ("fails", {"a": "fails", "b": "holds"})
    assert judge("C-C2", NULL) == ("inconclusive", {"a": "inconclusive", "b": "inconclusive"})


def test_c_c2_b_data_amount_is_the_strongest_factor():
    assert judge("C-C2", regression(-1.0, 1.5, -0.2, 0.01)) == ("fails", {"a": "holds", "b": "fails"})
    # |coef(ln N)| 1.5 beats |coef(G)| 0.5 but not |coef(D)| 1.0 beyond noise
    assert judge("C-C2", regression(0.5, 1.0, -1.5, 0.01)) == ("inconclusive", {"a": "holds", "b": "inconclusive"})


def test_c_c3_tests_the_august_version_on_intraclass_variance():
    assert judge("C-C3", regression(-0.3, -0.6, -1.0, 0.01)) == ("fails", {"a": "not applicable", "b": "fails"})
    assert judge("C-C3", NULL) == ("inconclusive", {"a": "not applicable", "b": "inconclusive"})
    (a, b) = RULES["C-C3"](HOLDS)
    assert "domain width W" in a.says and "intraclass variance" in b.says and "+0.32" in b.evidence


def test_the_claimed_sizes_are_the_august_readme_resnet50_fit():
    assert README_R50 == {"G": -0.26, "D": 0.32, "lnN": -0.61}
    a, b, c = RULES["C-C1"](HOLDS)
    assert "(paper: +0.26)" in a.evidence and "(paper: +0.35)" in b.evidence and "(paper: +0.06)" in c.evidence
    a, b = RULES["C-C2"](HOLDS)
    assert "(paper: +0.61)" in a.evidence and "(paper: +0.35)" in b.evidence and "(paper: +0.29)" in b.evidence


def test_jackknife_standard_error_in_closed_form():
    fits = Fits(["a", "b", "c", "d"], {"G": 0.0}, [{"G": v} for v in (1.0, 2.0, 3.0, 4.0)], {"G": 0.1})
    value, se = fits.estimate(lambda c: c["G"])
    assert value == 0.0 and se == pytest.approx(math.sqrt(3 / 4 * 5.0))  # sum of squares about 2.5 = 5
    assert math.isnan(Fits(["a"], {"G": 1.0}, None, {"G": 0.1}).estimate(lambda c: c["G"])[1])


def test_fit_evidence_gives_ols_se_and_how_many_leave_one_out_fits_keep_the_sign():
    fits = Fits(list("abcd"), {"G": -0.2, "D": 0.1}, [{"G": v, "D": 0.1} for v in (-0.3, -0.1, 0.05, -0.2)],
                {"G": 0.04, "D": 0.05})
    text = claims._fit_evidence(fits)
    assert "G -0.200 (OLS se 0.040; sign kept in 3 of 4 leave-one-out fits)" in text
    assert "D +0.100 (OLS se 0.050; sign kept in 4 of 4" in text


def test_too_few_targets_to_leave_one_out_is_inconclusive():
    outcome, parts = judge("C-C1", regression(-0.3, 0.6, -1.0, 0.01, n=5))
    assert outcome == "inconclusive" and set(parts.values()) == {"inconclusive"}
    assert "too few to leave one out" in RULES["C-C1"](regression(-0.3, 0.6, -1.0, 0.01, n=5))[0].evidence


def test_the_refit_is_the_committed_regression_run():
    merged = read_paper_results(MINI, "chen2022", ("transferability", "domain_measures", "regression"), "mini")
    m = Measured.from_merged(merged)
    row = merged["regression"].rows[0]
    fits = m.fits()
    for name in ("G", "D", "lnN"):
        assert fits.full[name] == pytest.approx(float(row[f"coef_{name}"]), abs=1e-9)
    assert len(fits.leave_one_out) == len(fits.targets) == 9


# --- the layer-wise claims (C-C4, C-C5, C-C6, C-C7) -------------------------------------------------------------

STAGE_SIZES = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}
L1, L2, L3, L4 = [2, 2.5, 2.2], [3, 5, 4, 3.5], [3] * 6, [1.5, 1.6, 1.4]
WOBBLE = [0.3, -0.3, 0.2, -0.2, 0.1, -0.12]  # per-target deviations around a tie


def curve_row(target, stem, layers, seed=0, fc=1.0):
    values = {"stem": stem}
    for name, vs in layers.items():
        assert len(vs) == STAGE_SIZES[name]
        values.update({f"{name}.{i}": v for i, v in enumerate(vs)})
    values["fc"] = fc
    row = {"target": target, "seed": str(seed), "n_train": "1000",
           "T_overall": str(float(np.mean([v for g, v in values.items() if g != "fc"])))}
    return row | {group_column(g): str(float(v)) for g, v in values.items()}


def shaped(target, stem, l1=L1, l2=L2, l3=L3, l4=L4, *, jitter=0, seed=0):
    """A ResNet-50-layout curve with a 3% multiplicative wobble per block (fixed by ``jitter``)."""
    rng = np.random.default_rng(jitter)
    j = lambda xs: [float(x * math.exp(0.03 * rng.standard_normal())) for x in xs]  # noqa: E731
    return curve_row(target, stem, {"layer1": j(l1), "layer2": j(l2), "layer3": j(l3), "layer4": j(l4)}, seed=seed)


def curves(rows) -> Measured:
    return Measured({"transferability": rows})


PEAKED = curves([shaped(f"t{i}", 1.0 + 0.05 * i, jitter=i) for i in range(6)])  # low stem, layer2 peak, layer4 low


def test_layerwise_claims_hold_on_the_paper_shape():
    assert judge("C-C4", PEAKED) == ("holds", {"a": "holds", "b": "holds", "c": "holds"})
    assert judge("C-C5", PEAKED) == ("holds", {"a": "holds", "b": "not applicable"})


def test_c_c4_a_the_stem_is_not_the_most_transferable():
    stem_top = curves([shaped(f"t{i}", 10.0 + i, jitter=i) for i in range(6)])
    assert judge("C-C4", stem_top) == ("fails", {"a": "fails", "b": "fails", "c": "fails"})
    flat = curves([shaped(f"t{i}", 5 * math.exp(e / 3), [5] * 3, [5] * 4, [5] * 6, [5] * 3, jitter=i)
                   for i, e in enumerate(WOBBLE)])
    assert judge("C-C4", flat) == ("inconclusive", {"a": "inconclusive", "b": "inconclusive", "c": "inconclusive"})


def test_c_c4_b_the_stem_ranks_below_the_typical_bottleneck():
    above_median = curves([shaped(f"t{i}", 3.0 + 0.1 * i, l2=[3, 8, 4, 3.5], jitter=i) for i in range(6)])
    assert judge("C-C4", above_median) == ("fails", {"a": "holds", "b": "fails", "c": "holds"})
    at_median = curves([shaped(f"t{i}", 3.0 * math.exp(e), l2=[3, 8, 4, 3.5], jitter=i) for i, e in enumerate(WOBBLE)])
    assert judge("C-C4", at_median) == ("inconclusive", {"a": "holds", "b": "inconclusive", "c": "holds"})


def test_c_c4_c_the_peak_lies_in_the_middle_stages():
    top = curves([shaped(f"t{i}", 1.0, l4=[3, 6, 8], jitter=i) for i in range(6)])
    assert judge("C-C4", top) == ("fails", {"a": "holds", "b": "holds", "c": "fails"})
    tie = curves([shaped(f"t{i}", 1.0, l4=[1.5, 1.6, 5 * math.exp(e)], jitter=i) for i, e in enumerate(WOBBLE)])
    assert judge("C-C4", tie) == ("inconclusive", {"a": "holds", "b": "holds", "c": "inconclusive"})


def test_c_c5_a_t_falls_toward_the_output():
    rising = curves([shaped(f"t{i}", 1.0, l4=[3, 6, 8], jitter=i) for i in range(6)])
    assert judge("C-C5", rising) == ("fails", {"a": "fails", "b": "not applicable"})
    level = curves([shaped(f"t{i}", 1.0, l4=[2.2 * math.exp(e)] * 3, l1=[2.2] * 3, l2=[2.2] * 4, jitter=i)
                    for i, e in enumerate(WOBBLE)])
    assert judge("C-C5", level) == ("inconclusive", {"a": "inconclusive", "b": "not applicable"})


def _with_exceptions(l4, seeds=(0, 1)):
    rows = [shaped(f"t{i}", 1.0, jitter=i) for i in range(6)]
    return curves(rows + [shaped(t, 1.0, l4=l4, jitter=10 + 2 * k + s, seed=s)
                          for k, t in enumerate(("cifar10", "pocus")) for s in seeds])


def test_c_c5_b_the_paper_s_exceptions_rise_where_the_scale_has_them():
    assert judge("C-C5", _with_exceptions([4, 5, 6])) == ("holds", {"a": "holds", "b": "holds"})
    assert judge("C-C5", _with_exceptions([1.5, 1.6, 1.4])) == ("fails", {"a": "holds", "b": "fails"})
    one_seed = _with_exceptions([4, 5, 6], seeds=(0,))
    assert judge("C-C5", one_seed) == ("inconclusive", {"a": "holds", "b": "inconclusive"})
    assert ONE_SEED in RULES["C-C5"](one_seed)[1].detectable


def test_c_c6_is_not_applicable_by_construction():
    """T_fc is about 1 by construction: the claim cannot hold or fail on any data; the values are listed."""
    for m in (PEAKED, curves([shaped(f"t{i}", 1.0, jitter=i) | {"T_fc": "7.0"} for i in range(3)])):
        (part,) = RULES["C-C6"](m)
        assert part.outcome == "not applicable" and combine([part]) == "not applicable"
        assert "by construction" in part.evidence and "t0" in part.evidence


def overall(values: dict[str, list[float]]) -> Measured:
    return Measured({"transferability": [{"target": t, "seed": str(s), "T_overall": str(v)}
                                         for t, vs in values.items() for s, v in enumerate(vs)]})


def test_c_c7_t_exceeds_one_on_every_target():
    assert judge("C-C7", overall({"a": [5.0, 6.0], "b": [20.0, 25.0], "c": [1.5, 1.6]})) == ("holds", {"a": "holds"})
    assert judge("C-C7", overall({"a": [5.0, 6.0], "b": [0.5, 0.55]})) == ("fails", {"a": "fails"})
    assert judge("C-C7", overall({"a": [5.0, 6.0], "b": [0.5, 5.0]})) == ("inconclusive", {"a": "inconclusive"})


def test_c_c7_one_seed_per_target_is_inconclusive_not_a_silent_pass():
    (part,) = RULES["C-C7"](overall({"a": [115.0], "b": [25.6]}))
    assert part.outcome == "inconclusive" and part.detectable == f"2 target(s) with {ONE_SEED}"
    assert "1 seed" in part.evidence


def test_rules_read_stages_by_name_and_need_every_stage():
    """The smoke network has one bottleneck per stage: every stage is there, so the rules judge it."""
    small = [curve_row(f"t{i}", 1.0, {}) | {group_column(f"layer{s}.0"): str(v) for s, v in
                                             zip((1, 2, 3, 4), (3.0 + 0.1 * i, 5.0, 3.0, 1.5 - 0.1 * i))}
             for i in range(4)]
    assert judge("C-C4", curves(small))[0] == "holds" and judge("C-C5", curves(small))[0] == "holds"
    without_layer4 = [{k: v for k, v in r.items() if k != group_column("layer4.0")} for r in small]
    with pytest.raises(claims.NotMeasured, match="layer4"):
        RULES["C-C5"](curves(without_layer4))


def test_the_paper_panel_means_are_those_of_the_digitized_figure():
    """PAPER_PANELS (context in the evidence) are the rules' statistics on the paper's 12 digitized panels."""
    panels: dict[str, dict[int, float]] = {}
    for p in load_published("chen2022"):
        if p.quantity == "layer_T" and p.condition == "resnet50/figure":
            panels.setdefault(p.target, {})[int(p.n)] = p.value
    assert len(panels) == 12
    rows = [curve_row(t, v[1], {"layer1": [v[b] for b in range(2, 5)], "layer2": [v[b] for b in range(5, 9)],
                                "layer3": [v[b] for b in range(9, 15)], "layer4": [v[b] for b in range(15, 18)]})
            for t, v in panels.items()]
    c4, c5 = RULES["C-C4"](curves(rows)), RULES["C-C5"](curves(rows))
    for part, key in zip(c4 + c5[:1], ("stem_below_max", "stem_below_median", "middle_peak", "falls_to_output")):
        mean = float(part.evidence.split(" of ", 1)[1].split(") ", 1)[1].split(" ±")[0])
        assert mean == pytest.approx(PAPER_PANELS[key], abs=0.006), key
    # on the paper's own panels (one run each) C-C4 (a), (b) and C-C5 (a) hold; the middle peak is a tie
    assert [p.outcome for p in c4] == ["holds", "holds", "inconclusive"]
    assert c5[0].outcome == "holds" and c5[1].outcome == "inconclusive"


def test_every_rule_returns_parts():
    for claim, rule in RULES.items():
        data = HOLDS if claim in ("C-C1", "C-C2", "C-C3") else PEAKED
        parts = rule(data)
        assert parts and all(p.says for p in parts), claim


# --- the committed comparison and its labels ----------------------------------------------------------------


def test_the_committed_comparison_is_recomputed(tmp_path):
    copy = tmp_path / "mini"
    shutil.copytree(MINI, copy)
    with open(copy / "comparison.csv", newline="", encoding="utf-8") as handle:
        written = [r for r in csv.DictReader(handle) if r["section"] in ("claim", "part")]
    comparison = compare(copy, "mini")
    assert {v.claim_id: v.verdict for v in comparison.verdicts} == {
        r["key"]: r["verdict"] for r in written if r["section"] == "claim"}
    assert {(v.claim_id, p.label): p.outcome for v in comparison.verdicts for p in v.parts} == {
        (r["key"], r["part"]): r["verdict"] for r in written if r["section"] == "part"}


def test_measured_rows_hold_their_own_target_and_name_the_stand_ins():
    merged = read_paper_results(MINI, "chen2022", ("transferability", "domain_measures", "regression"), "mini")
    m = Measured.from_merged(merged)
    mini = measured_quantities(m, "mini")
    assert sorted(mini) == sorted(("regression_coef", "resnet50/readme-2023-08", k, "") for k in
                                  ("G", "D", "lnN", "intercept"))  # no per-target row, no run count
    note = stand_in_note(m, "mini")
    assert "fashion-plain-n300" in note and "digits-invert-n1000" in note and "twelve datasets" in note
    two_seeds = Measured({"transferability": [shaped("cifar10", 1.0, seed=0), shaped("cifar10", 3.0, seed=1),
                                              shaped("pocus", 2.0)]})
    paper = measured_quantities(two_seeds, "paper")
    assert paper[("layer_T", "resnet50/readme", "1", "cifar10")] == pytest.approx(2.0)  # its own seeds' mean
    assert paper[("layer_T", "resnet50/readme", "1", "pocus")] == pytest.approx(2.0)
    assert len([k for k in paper if k[0] == "T"]) == 2 and stand_in_note(two_seeds, "paper") is None
