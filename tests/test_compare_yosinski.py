"""`repro compare yosinski2014` on the official per-network results (and on altered copies).

tests/data/yosinski2014_official_runs.csv is the table of all 148
logged networks of the paper's official code. Converted into the runner's CSV
schema, it must reproduce the paper's per-n means, relative values and Table 1
(pooled over networks). The claim rules, on these runs and on hand-built grids,
are tested in tests/test_yosinski2014_claims.py.
"""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from repro.compare import load_published
from repro.errors import ReproError
from repro.yosinski2014 import protocol
from repro.yosinski2014.compare import EXPERIMENTS, METRIC, compare, metric_label

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
    # the runner records the final loss, not the lowest 10; network counts are the grid's design (notes)
    assert unmeasured == {"train_loss_lowest10", "count"}
    for q in logged:
        p = q.published
        if q.status != "measured":
            continue
        if p.unit == "pct":
            assert round(q.measured, 2) == pytest.approx(p.value), p.key
        else:  # 4 decimals; the logs' relative values were computed before rounding (+0.0213 vs 0.6465-0.6251)
            assert abs(q.delta) <= 1.5e-4, (p.key, q.measured, p.value)
    assert sum(q.status == "measured" for q in logged) >= 140


def test_official_runs_give_baseb_and_relative_values(official):
    measured = {q.published.key: q.measured for q in official.quantities if q.status == "measured"}
    assert measured[("acc", "base", "0", "B")] == pytest.approx(0.6251, abs=5e-5)
    assert measured[("std", "base", "0", "B")] == pytest.approx(0.0051, abs=5e-5)
    assert measured[("rel_base", "AnB", "7", "B")] == pytest.approx(-0.0826, abs=5e-5)
    assert measured[("rel_base", "AnB", "7", "natman")] == pytest.approx(-0.2501, abs=5e-5)
    assert measured[("acc", "base", "0", "0A")] == pytest.approx(0.6151, abs=5e-5)  # a half's own base net
    assert measured[("acc", "AnB", "7", "natmanB")] == pytest.approx(0.2914, abs=5e-5)  # its own target's nets
    counts = next(note for note in official.notes if note.startswith("networks: "))
    for text in ("random_splits/base 8", "random_splits/AnB 56 over n = 1..7 from 8 distinct base nets",
                 "random_splits/AnB+ 10 over n = 1..7 from 2 distinct base nets"):
        assert text in counts
    assert all(q.published.quantity != "count" for q in official.quantities if q.status == "measured")


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


def test_outputs_are_written(official):
    out = official.results_dir
    md = (out / "comparison.md").read_text()
    assert "`repro compare yosinski2014 --scale paper`" in md
    assert md.index("## Claims") < md.index("## Figures") < md.index("## Quantities") < md.index("## Run")
    assert "![figure2](figure2.png)" in md and "![figure3](figure3.png)" in md
    with open(out / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["section"] for r in rows} == {"quantity", "claim", "part"}
    assert sum(r["section"] == "claim" for r in rows) == 9
    for name in ("figure2.png", "figure3.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert "Y-C4" in official.text


def test_run_summary_goes_in_the_run_section(tmp_path):
    out = write_results(official_rows(), tmp_path)
    (out / "run_summary.json").write_text(
        '{"command": "repro run yosinski2014 --scale paper", "started": "2014-06-01T00:00:00",'
        ' "finished": "2014-09-01T00:00:00", "seconds": 7948800, "environment": {"caffe": "rc1"}}')
    md = (compare(out, "paper", whole_classes=1000).results_dir / "comparison.md").read_text()
    run = md[md.index("## Run"):]
    assert "`repro run yosinski2014 --scale paper`" in run and "| caffe | rc1 |" in run


def test_missing_experiment_gives_not_run_and_drops_its_panels(tmp_path):
    rows = [r for r in official_rows() if r["experiment"] != "natman"]
    result = compare(write_results(rows, tmp_path), "paper", whole_classes=1000)
    verdicts = {v.claim_id: v.verdict for v in result.verdicts}
    assert verdicts["Y-C6"] == verdicts["Y-C7"] == verdicts["Y-C8"] == "not run"
    assert all(verdicts[c] != "not run" for c in ("Y-C1", "Y-C2", "Y-C3", "Y-C4", "Y-C5", "Y-C9"))
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


def test_runs_of_another_scale_are_refused(tmp_path):
    out = write_results(official_rows(), tmp_path)
    with pytest.raises(ReproError, match="scale 'paper', expected 'mini'"):
        compare(out, "mini")
    assert not (out / "comparison.md").exists()


def test_no_results_is_a_clear_error(tmp_path):
    with pytest.raises(ReproError, match="repro run yosinski2014 --scale mini"):
        compare(tmp_path, "mini")


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


def test_a_non_numeric_accuracy_is_a_clear_error(tmp_path):
    rows = official_rows()
    rows[0]["acc_top10_mean"] = "nan%"
    with pytest.raises(ReproError, match="run half0A: column acc_top10_mean is 'nan%', expected a number"):
        compare(write_results(rows, tmp_path), "paper", whole_classes=1000)


@pytest.fixture(scope="module")
def committed_mini(tmp_path_factory):
    """The committed mini runs, compared in a copy (the TensorBoard events under runs/ are not needed)."""
    copied = tmp_path_factory.mktemp("mini") / "mini"
    shutil.copytree(Path(__file__).resolve().parent.parent / "results" / "yosinski2014" / "mini", copied,
                    ignore=shutil.ignore_patterns("runs"))
    return compare(copied, "mini")


def test_mini_rows_hold_their_own_target_beside_its_stand_in(committed_mini):
    rows = {(q.published.quantity, q.published.condition, q.published.n, q.published.target.split(" (")[0]): q
            for q in committed_mini.quantities if q.status == "measured"}
    metric = METRIC["mini"]
    with open(committed_mini.results_dir / "random_splits.csv", newline="") as handle:
        runs = {r["run_key"]: float(r[metric]) for r in csv.DictReader(handle)}
    with open(committed_mini.results_dir / "natman.csv", newline="") as handle:
        natman = {r["run_key"]: float(r[metric]) for r in csv.DictReader(handle)}
    for half in ("0A", "0B", "1A", "1B"):
        row = rows[("acc", "base", "0", half)]
        assert row.measured == pytest.approx(runs[f"half{half}"], abs=5e-5)  # rounded to 4 places
        assert row.published.target.startswith(f"{half} (") and "digit" in row.published.target
    assert rows[("acc", "AnB", "3", "natmanA")].measured == pytest.approx(natman["transfernatmanBA_1_3"], abs=5e-5)
    assert rows[("acc", "AnB", "3", "natmanA")].published.target == "natmanA (Fashion-MNIST: the 10 clothing classes)"
    assert rows[("acc", "AnB", "3", "natmanB")].measured == pytest.approx(natman["transfernatmanAB_1_3"], abs=5e-5)
    matched = "B (random halves of Fashion-MNIST + MNIST, target-matched)"
    assert rows[("acc", "AnB", "3", "B")].published.target == matched
    assert rows[("acc", "base", "0", "B")].published.target == "B (random halves of Fashion-MNIST + MNIST)"
    halves = [runs[f"half{h}"] for h in ("0A", "0B", "1A", "1B")]  # the raw spread of the halves, not target-matched
    assert rows[("std", "base", "0", "B")].measured == pytest.approx(float(np.std(halves)), abs=5e-5)
    # every measured row names its stand-in; rows without a measurement keep the published target
    published_targets = {p.target for p in load_published("yosinski2014")}
    for q in committed_mini.quantities:
        assert (q.published.target not in published_targets) == (q.status == "measured"), q.published.key


def test_run_counts_and_duplicates_do_not_count_as_measured_quantities(committed_mini):
    measured = committed_mini.measured_rows()
    quantities = [first.quantity for first, _, _ in measured]
    assert "count" not in quantities
    assert "boost_pct_per_n_means" not in quantities  # equal to boost_pct on the balanced mini grid
    values = {}
    for first, row, _ in measured:  # no two targets of one quantity share a value by construction
        if row.measured is not None and first.quantity == "acc" and first.condition == "base":
            values.setdefault(row.measured, []).append(first.target)
    assert all(len(targets) == 1 for targets in values.values()), values
    assert len(measured) == 155
    assert any(note.startswith("networks: ") and "random_splits/BnB 14 over n = 1..7 from 2 distinct base nets"
               in note for note in committed_mini.notes)



def test_figures_name_the_metric_of_their_scale():
    assert metric_label("mini") == f"mean of the last {protocol.MINI_SCALE.schedule.final_k} evals"
    assert metric_label("paper") == f"mean of {protocol.PAPER_SCALE.schedule.top_k} best evals"
    assert metric_label("smoke") == "last eval"  # final_k = 1
