"""`repro compare yosinski2014` on the official per-network results (and on altered copies).

tests/data/yosinski2014_official_runs.csv is the table of all 148
logged networks of the paper's official code. Converted into the runner's CSV
schema, it must reproduce the paper's per-n means, relative values and Table 1
(pooled over networks), and every claim must hold on it; altering it so that a
claim is false must make that claim fail.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from repro.compare import load_claims, load_published
from repro.errors import ReproError
from repro.yosinski2014.claims import RULES
from repro.yosinski2014.compare import EXPERIMENTS, compare

OFFICIAL = Path(__file__).parent / "data" / "yosinski2014_official_runs.csv"
SCHEMA = ("paper", "experiment", "scale", "run_key", "condition", "n", "source", "target", "split", "seed",
          "examples_per_class", "acc_top10_mean", "acc_final", "acc_max", "n_evals", "train_loss_final",
          "steps", "seconds")


def _schema_row(official: dict[str, str]) -> dict[str, str]:
    """One official network as a row of the runner's CSV (scale 'paper')."""
    key = official["run_dir"]
    row = dict.fromkeys(SCHEMA, "")
    row |= {"paper": "yosinski2014", "scale": "paper", "run_key": key, "seed": "0", "n": "0", "source": "-",
            "acc_top10_mean": official["acc_mean_top10_valid"], "acc_final": official["acc_last_valid"],
            "acc_max": official["acc_max_valid"], "n_evals": official["n_valid_evals"],
            "steps": official["last_iter"]}
    if m := re.fullmatch(r"half(\d)([AB])", key):
        row |= {"experiment": "random_splits", "condition": "base", "target": m[1] + m[2], "split": m[1]}
    elif m := re.fullmatch(r"transfer(-ft)?(\d)([AB])\2([AB])_1_(\d)", key):
        condition = ("BnB" if m[3] == m[4] else "AnB") + ("+" if m[1] else "")
        row |= {"experiment": "random_splits", "condition": condition, "n": m[5], "source": m[2] + m[3],
                "target": m[2] + m[4], "split": m[2]}
    elif m := re.fullmatch(r"halfnatman([AB])", key):
        row |= {"experiment": "natman", "condition": "base", "target": "natman" + m[1], "split": "natman"}
    elif m := re.fullmatch(r"transfernatman([AB])([AB])_1_(\d)", key):
        row |= {"experiment": "natman", "condition": "AnB", "n": m[3], "source": "natman" + m[1],
                "target": "natman" + m[2], "split": "natman"}
    elif key == "netbase":
        row |= {"experiment": "random_features", "condition": "base", "target": "whole", "split": "whole"}
    elif m := re.fullmatch(r"nolearn_1_(\d)", key):
        row |= {"experiment": "random_features", "condition": "random_frozen", "n": m[1], "source": "random",
                "target": "whole", "split": "whole"}
    elif m := re.fullmatch(r"reduced-(\d{4})", key):
        row |= {"experiment": "reduced_data", "condition": "reduced", "target": "whole", "split": "whole",
                "examples_per_class": str(int(m[1]))}
    else:
        raise AssertionError(f"unknown official run {key}")
    return row


def official_rows() -> list[dict[str, str]]:
    with open(OFFICIAL, newline="") as handle:
        return [_schema_row(r) for r in csv.DictReader(handle)]


def write_results(rows: list[dict[str, str]], out: Path) -> Path:
    """Write rows as <experiment>.csv files in ``out``, the runner's layout."""
    out.mkdir(parents=True, exist_ok=True)
    for experiment in EXPERIMENTS:
        chosen = [r for r in rows if r["experiment"] == experiment]
        if chosen:
            _write(out / f"{experiment}.csv", chosen)
    return out


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SCHEMA, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _set_acc(rows: list[dict[str, str]], pattern: str, value) -> list[dict[str, str]]:
    """Copy of rows with acc_top10_mean replaced by value(row, old) where run_key matches pattern."""
    out = []
    for r in rows:
        r = dict(r)
        if re.fullmatch(pattern, r["run_key"]):
            r["acc_top10_mean"] = f"{value(r, float(r['acc_top10_mean'])):.6f}"
        out.append(r)
    return out


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    out = write_results(official_rows(), tmp_path_factory.mktemp("results") / "yosinski2014" / "paper")
    return compare(out, "paper", whole_classes=1000)


def _rows(comparison, provenance=None):
    return [q for q in comparison.quantities if provenance is None or q.published.provenance == provenance]


def test_fixture_covers_all_148_networks():
    rows = official_rows()
    assert len(rows) == 148
    assert len({r["run_key"] for r in rows}) == 148


def test_official_runs_reproduce_every_logged_number(official):
    logged = _rows(official, "logs")
    unmeasured = {q.published.quantity for q in logged if q.status != "measured"}
    assert unmeasured == {"train_loss_lowest10"}  # the runner records the final loss, not the lowest 10
    for q in logged:
        p = q.published
        if q.status != "measured":
            continue
        if p.unit == "networks":
            assert q.measured == p.value, p.key
        elif p.unit == "pct":
            assert round(q.measured, 2) == pytest.approx(p.value), p.key
        else:  # 4 decimals; the logs' relative values were computed before rounding (+0.0213 vs 0.6465-0.6251)
            assert abs(q.delta) <= 1.5e-4, (p.key, q.measured, p.value)
    assert sum(q.status == "measured" for q in logged) >= 170


def test_official_runs_give_baseb_and_relative_values(official):
    measured = {q.published.key: q.measured for q in official.quantities if q.status == "measured"}
    assert measured[("acc", "base", "0", "B")] == pytest.approx(0.6251, abs=5e-5)
    assert measured[("count", "base", "0", "B")] == 8
    assert measured[("std", "base", "0", "B")] == pytest.approx(0.0051, abs=5e-5)
    assert measured[("rel_base", "AnB", "7", "B")] == pytest.approx(-0.0826, abs=5e-5)
    assert measured[("rel_base", "AnB", "7", "natman")] == pytest.approx(-0.2501, abs=5e-5)
    assert measured[("count", "AnB", "4", "B")] == 8
    assert measured[("count", "AnB+", "2", "B")] == 2


@pytest.mark.parametrize("span,over_base,over_selffer", [("1-7", 1.60, 1.38), ("3-7", 1.80, 1.40), ("5-7", 2.06, 1.73)])
def test_table1_pooled_over_networks_exactly(official, span, over_base, over_selffer):
    measured = {q.published.key: q.measured for q in official.quantities if q.status == "measured"}
    assert round(measured[("boost_pct", "AnB+ - base", span, "B")], 2) == over_base
    assert round(measured[("boost_pct", "AnB+ - BnB+", span, "B")], 2) == over_selffer


def test_paper_and_secondary_values_agree_at_their_precision(official):
    for q in _rows(official, "paper") + _rows(official, "secondary"):
        if q.status != "measured":
            continue
        text = q.published.text
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert abs(q.delta) <= 0.5 * 10 ** -decimals + 1e-9, (q.published.key, q.measured, text)


def test_every_claim_holds_on_the_official_runs(official):
    verdicts = {v.claim_id: v for v in official.verdicts}
    assert sorted(verdicts) == [f"Y-C{i}" for i in range(1, 10)]
    for v in verdicts.values():
        assert v.verdict == "holds", (v.claim_id, v.evidence)
        assert "✗" not in v.evidence


def test_outputs_are_written(official):
    out = official.results_dir
    md = (out / "comparison.md").read_text()
    assert "`repro compare yosinski2014 --scale paper`" in md
    assert md.index("## Quantities") < md.index("## Claims") < md.index("## Figures")
    assert "![figure2](figure2.png)" in md and "![figure3](figure3.png)" in md
    with open(out / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["section"] for r in rows} == {"quantity", "claim"}
    assert sum(r["section"] == "claim" for r in rows) == 9
    for name in ("figure2.png", "figure3.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert "Y-C4" in official.text


def test_run_summary_goes_in_the_header(tmp_path):
    out = write_results(official_rows(), tmp_path)
    (out / "run_summary.json").write_text(
        '{"command": "repro run yosinski2014 --scale paper", "started": "2014-06-01T00:00:00",'
        ' "finished": "2014-09-01T00:00:00", "seconds": 7948800, "environment": {"caffe": "rc1"}}')
    md = (compare(out, "paper", whole_classes=1000).results_dir / "comparison.md").read_text()
    header = md[:md.index("## Quantities")]
    assert "`repro run yosinski2014 --scale paper`" in header and "| caffe | rc1 |" in header


def test_missing_experiment_gives_not_run_and_drops_its_panels(tmp_path):
    rows = [r for r in official_rows() if r["experiment"] != "natman"]
    result = compare(write_results(rows, tmp_path), "paper", whole_classes=1000)
    verdicts = {v.claim_id: v.verdict for v in result.verdicts}
    assert verdicts["Y-C6"] == verdicts["Y-C7"] == verdicts["Y-C8"] == "not run"
    assert all(verdicts[c] == "holds" for c in ("Y-C1", "Y-C2", "Y-C3", "Y-C4", "Y-C5", "Y-C9"))
    natman = [q for q in result.quantities if q.published.experiment == "natman"]
    assert natman and all(q.status == "not run" for q in natman)
    assert (tmp_path / "figure3.png").exists()  # random features and the relative row remain


def test_only_one_experiment_omits_the_other_figure(tmp_path):
    (tmp_path / "figure2.png").write_bytes(b"stale")
    rows = [r for r in official_rows() if r["experiment"] == "reduced_data"]
    result = compare(write_results(rows, tmp_path), "paper", whole_classes=1000)
    assert {v.verdict for v in result.verdicts} == {"not run"}
    assert result.figures == [] and not (tmp_path / "figure2.png").exists()
    reduced = {q.published.n: q for q in result.quantities if q.published.condition == "reduced"}
    assert reduced["1300"].measured == pytest.approx(0.5518)


def test_a_missing_layer_gives_not_run_naming_it(tmp_path):
    rows = [r for r in official_rows() if not r["run_key"].startswith("transfer-ft1A1A_1_3")
            and r["run_key"] != "transfer-ft0A0A_1_3"]
    verdicts = {v.claim_id: v for v in compare(write_results(rows, tmp_path), "paper", whole_classes=1000).verdicts}
    for claim in ("Y-C2", "Y-C4", "Y-C5"):
        assert verdicts[claim].verdict == "not run"
        assert "BnB+" in verdicts[claim].evidence and "n = 3" in verdicts[claim].evidence


def test_shards_are_merged_and_deduplicated(tmp_path):
    rows = official_rows()
    splits = [r for r in rows if r["experiment"] == "random_splits"]
    whole = write_results(rows, tmp_path / "whole")
    sharded = write_results([r for r in rows if r["experiment"] != "random_splits"], tmp_path / "sharded")
    _write(sharded / "random_splits.csv", splits[:40])
    _write(sharded / "random_splits.shard-1-of-2.csv", splits[30:90])   # rows 30-39 twice
    _write(sharded / "random_splits.shard-2-of-2.csv", splits[85:])     # rows 85-89 twice
    a, b = compare(whole, "paper", whole_classes=1000), compare(sharded, "paper", whole_classes=1000)
    assert [(q.published.key, q.measured) for q in a.quantities] == [(q.published.key, q.measured) for q in b.quantities]
    assert [v.verdict for v in a.verdicts] == [v.verdict for v in b.verdicts]
    assert any("15 duplicate row(s) dropped" in note for note in b.notes)


def _baseb(rows):
    return sum(float(r["acc_top10_mean"]) for r in rows if re.fullmatch(r"half\d[AB]", r["run_key"])) / 8


VIOLATIONS = {
    "Y-C1": (r"transfer\dA\dA_1_\d", lambda rows: lambda r, v: _baseb(rows)),              # no co-adaptation dip
    "Y-C2": (r"transfer-ft\dA\dA_1_\d", lambda rows: lambda r, v: v + 0.03),                # BnB+ above baseB
    "Y-C3": (r"transfer\d[AB]\d[AB]_1_[67]", lambda rows: lambda r, v: _baseb(rows)),       # no deep-layer drop
    "Y-C4": (r"transfer-ft\dA\dB_1_\d", lambda rows: lambda r, v: v - 0.03),                # AnB+ below baseB
    "Y-C5": (r"transfer-ft\dA\dA_1_\d", lambda rows: lambda r, v: v + 0.015),               # BnB+ as good as AnB+
    "Y-C6": (r"transfernatman.._1_\d", lambda rows: lambda r, v: 0.5953 + {                 # natman drops like random
        "1": 0.0031, "2": -0.0012, "3": -0.0062, "4": -0.0253, "5": -0.0471, "6": -0.0445, "7": -0.0826}[r["n"]]),
    "Y-C7": (r"halfnatman[AB]", lambda rows: lambda r, v: 0.5372 if r["target"] == "natmanA" else 0.6534),
    "Y-C8": (r"nolearn_1_\d", lambda rows: lambda r, v: 0.5763),                            # random features learn
    "Y-C9": (r"netbase", lambda rows: lambda r, v: 0.70),                                   # whole task easier
}


@pytest.mark.parametrize("claim", sorted(VIOLATIONS))
def test_a_measured_set_that_violates_a_claim_fails_it(tmp_path, claim):
    pattern, make = VIOLATIONS[claim]
    rows = official_rows()
    altered = _set_acc(rows, pattern, make(rows))
    verdict = {v.claim_id: v for v in compare(write_results(altered, tmp_path), "paper", whole_classes=1000).verdicts}[claim]
    assert verdict.verdict == "fails", verdict.evidence
    assert "✗" in verdict.evidence


def test_runs_of_another_scale_are_refused(tmp_path):
    out = write_results(official_rows(), tmp_path)
    with pytest.raises(ReproError, match="scale 'paper', expected 'mini'"):
        compare(out, "mini")
    assert not (out / "comparison.md").exists()


def test_no_results_is_a_clear_error(tmp_path):
    with pytest.raises(ReproError, match="repro run yosinski2014 --scale mini"):
        compare(tmp_path, "mini")


def test_claims_csv_and_rules_agree():
    claims = load_claims("yosinski2014")
    assert [c.id for c in claims] == list(RULES) == [f"Y-C{i}" for i in range(1, 10)]
    for c in claims:
        assert c.claim and c.location and c.rule.startswith("Needs") and "Holds iff" in c.rule
        assert set(c.experiments) <= set(EXPERIMENTS)


def test_published_csv_is_clean():
    published = load_published("yosinski2014")
    keys = [(p.key, p.provenance, p.location) for p in published]
    assert len(keys) == len(set(keys))
    assert {p.read_from_figure for p in published} == {"no"}
    assert {p.experiment for p in published} <= set(EXPERIMENTS) | {""}
    assert {p.unit for p in published} <= {"fraction", "pct", "networks", "images", "classes", "iterations",
                                           "days", "loss"}
    locations = " ".join(p.location for p in published)
    for place in ("Table 1", "Figure 2", "Figure 3", "§4.1", "§4.3", "Supplementary", "footnote 1"):
        assert place in locations


MINI_PROFILE = {  # condition -> mean accuracy relative to its base at n = 1..7 (a mini-scale-like grid)
    "BnB": (0.0, 0.0, -0.012, -0.03, -0.04, -0.012, -0.002),
    "AnB": (0.001, -0.002, -0.016, -0.045, -0.065, -0.08, -0.12),
    "BnB+": (0.0, 0.001, -0.001, 0.0, 0.001, 0.0, -0.001),
    "AnB+": (-0.02,) * 7,  # below baseB at every n: violates Y-C4
}


def mini_rows() -> list[dict[str, str]]:
    """A synthetic mini-scale grid (2 splits, 10-class whole task) with the paper's shapes except AnB+."""
    jitter = (-0.003, 0.002, 0.003, -0.002)
    rows = []

    def add(experiment, key, condition, n, target, acc, source="-"):
        row = dict.fromkeys(SCHEMA, "")
        rows.append(row | {"paper": "yosinski2014", "experiment": experiment, "scale": "mini", "run_key": key,
                           "condition": condition, "n": str(n), "source": source, "target": target,
                           "seed": "0", "acc_top10_mean": f"{acc:.4f}", "acc_final": f"{acc - 0.001:.4f}"})

    for i, (s, half) in enumerate([(0, "A"), (0, "B"), (1, "A"), (1, "B")]):
        add("random_splits", f"half{s}{half}", "base", 0, f"{s}{half}", 0.92 + jitter[i])
    for n in range(1, 8):
        for s in (0, 1):
            add("random_splits", f"transfer{s}A{s}A_1_{n}", "BnB", n, f"{s}A", 0.92 + MINI_PROFILE["BnB"][n - 1] + jitter[s])
            add("random_splits", f"transfer-ft{s}A{s}A_1_{n}", "BnB+", n, f"{s}A", 0.92 + MINI_PROFILE["BnB+"][n - 1] + jitter[s + 1])
            add("random_splits", f"transfer-ft{s}A{s}B_1_{n}", "AnB+", n, f"{s}B", 0.92 + MINI_PROFILE["AnB+"][n - 1] + jitter[s + 2])
            for i, (a, b) in enumerate([("A", "B"), ("B", "A")]):
                add("random_splits", f"transfer{s}{a}{s}{b}_1_{n}", "AnB", n, f"{s}{b}",
                    0.92 + MINI_PROFILE["AnB"][n - 1] + jitter[2 * s + i])
    natman = {"natmanA": 0.90, "natmanB": 0.86}
    for target, base in natman.items():
        add("natman", f"half{target}", "base", 0, target, base)
        for n in range(1, 8):
            source = "natmanB" if target == "natmanA" else "natmanA"
            key = f"transfer{source[-1]}{target[-1]}_1_{n}".replace("transfer", "transfernatman")
            add("natman", key, "AnB", n, target, base + 2.5 * MINI_PROFILE["AnB"][n - 1], source)
    add("random_features", "netbase", "base", 0, "whole", 0.88)
    for n, acc in enumerate((0.84, 0.80, 0.11, 0.10, 0.12, 0.10, 0.10), start=1):
        add("random_features", f"nolearn_1_{n}", "random_frozen", n, "whole", acc, "random")
    return rows


def test_synthetic_mini_grid_with_anbplus_below_baseb_fails_only_that_claim(tmp_path):
    result = compare(write_results(mini_rows(), tmp_path), "mini")
    verdicts = {v.claim_id: v for v in result.verdicts}
    assert verdicts["Y-C4"].verdict == "fails", verdicts["Y-C4"].evidence
    assert verdicts["Y-C5"].verdict == "fails"  # AnB+ is not above BnB+ either
    for claim in ("Y-C1", "Y-C2", "Y-C3", "Y-C6", "Y-C7", "Y-C8", "Y-C9"):
        assert verdicts[claim].verdict == "holds", (claim, verdicts[claim].evidence)
    assert "chance on the whole task = 1/10" in " ".join(result.notes)
    assert [f.name for f in result.figures] == ["figure2.png", "figure3.png"]
    missing = [q for q in result.quantities if q.published.experiment == "reduced_data"]
    assert missing and {q.status for q in missing} == {"not run"}


def test_a_non_numeric_accuracy_is_a_clear_error(tmp_path):
    rows = official_rows()
    rows[0]["acc_top10_mean"] = "nan%"
    with pytest.raises(ReproError, match="run half0A: column acc_top10_mean is 'nan%', expected a number"):
        compare(write_results(rows, tmp_path), "paper", whole_classes=1000)


def test_mini_scale_matches_each_net_with_its_own_targets_base(tmp_path):
    """5/5 Fashion halves are not exchangeable: a hard B half must not read as a transfer drop."""
    from repro.store import append_row
    from repro.yosinski2014.compare import compare
    from repro.yosinski2014.protocol import PAPER_ENTRY

    fields = PAPER_ENTRY.experiment("random_splits").fields

    base = {"0A": 0.95, "0B": 0.85, "1A": 0.92, "1B": 0.88}
    rows = []

    def add(key, condition, n, source, target, acc):
        rows.append(dict(paper="yosinski2014", experiment="random_splits", scale="mini", run_key=key,
                         condition=condition, n=n, source=source, target=target, split=target[0], seed=0,
                         examples_per_class="", acc_top10_mean=acc, acc_final=acc, acc_max=acc, n_evals=20,
                         train_loss_final=0.1, steps=600, seconds=1.0))

    for target, acc in base.items():
        add(f"half{target}", "base", 0, "-", target, acc)
        add(f"half{target}_r2", "base_replicate", 0, "-", target, acc + 0.002)
    for s in "01":
        for n in range(1, 8):
            # every fine-tuned selffer equals its own target's base net exactly
            add(f"transfer-ft{s}A{s}A_1_{n}", "BnB+", n, f"{s}A", f"{s}A", base[f"{s}A"])
    for row in rows:
        append_row(tmp_path / "random_splits.csv", row, fields)
    verdicts = {v.claim_id: v for v in compare(tmp_path, "mini", whole_classes=10).verdicts}
    assert verdicts["Y-C2"].verdict == "holds", verdicts["Y-C2"].evidence
    assert "sigma 0.0020" in verdicts["Y-C2"].evidence  # seed noise from the replicates (at the floor)
