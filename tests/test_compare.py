"""The paper-independent half of `repro compare` (repro/compare.py) on small hand-made inputs."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from repro.verdicts import Part, greater, within
from repro.compare import (
    Claim, Comparison, NotMeasured, PublishedValue, QuantityRow, Verdict, environment_snapshot,
    judge_claims, load_claims, load_published, paper_dir, quantity_table, read_experiment, read_experiments,
    repo_root,
)
from repro.errors import ReproError

PUBLISHED = """quantity,condition,n,target,value,unit,experiment,location,provenance,read_from_figure,note
acc,base,0,B,0.625,fraction,grid,§4,paper,no,
acc,AnB,3,B,0.6189,fraction,grid,Figure 2,logs,no,
acc,reduced,10,whole,0.0011,fraction,small,Supplementary,logs,no,
dataset_images,,,whole,1281167,images,,footnote 1,secondary,no,"quoted, with a comma"
"""
CLAIMS = """id,claim,location,experiments,rule
T-C1,AnB is lower than base,Figure 2,grid,Holds iff AnB < base.
T-C2,the small grid learns,Supplementary,grid;small,Holds iff reduced > 0.
"""


def _paper(tmp_path: Path, published: str = PUBLISHED, claims: str = CLAIMS) -> Path:
    root = tmp_path / "papers"
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "published.csv").write_text(published, encoding="utf-8")
    (root / "toy" / "claims.csv").write_text(claims, encoding="utf-8")
    return root


def _runs(path: Path, keys_and_acc: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["run_key", "acc_top10_mean"])
        writer.writerows(keys_and_acc)


def test_repo_root_holds_the_papers():
    assert (repo_root() / "repro" / "compare.py").is_file()
    assert paper_dir("yosinski2014") == repo_root() / "papers" / "yosinski2014"


def test_published_and_claims_load_with_an_overridden_root(tmp_path):
    root = _paper(tmp_path)
    published = load_published("toy", root)
    assert [p.key for p in published][:2] == [("acc", "base", "0", "B"), ("acc", "AnB", "3", "B")]
    assert published[1].value == 0.6189 and published[1].text == "0.6189"
    assert published[3].note == "quoted, with a comma"
    claims = load_claims("toy", root)
    assert claims[1] == Claim("T-C2", "the small grid learns", "Supplementary", ("grid", "small"),
                              "Holds iff reduced > 0.")


def test_unknown_paper_and_bad_values_are_clear_errors(tmp_path):
    with pytest.raises(ReproError, match="no published numbers for paper 'nope'"):
        load_published("nope", tmp_path)
    root = _paper(tmp_path, PUBLISHED.replace("0.6189", "about 0.62"))
    with pytest.raises(ReproError, match=r"published.csv:3: value 'about 0.62' is not a number"):
        load_published("toy", root)
    root = _paper(tmp_path / "b", PUBLISHED.replace(",logs,", ",blog,", 1))
    with pytest.raises(ReproError, match="provenance 'blog'"):
        load_published("toy", root)
    root = _paper(tmp_path / "c", claims="id,claim\nX,y\n")
    with pytest.raises(ReproError, match="missing column"):
        load_claims("toy", root)


def test_shards_merge_with_the_first_row_of_a_run_key_winning(tmp_path):
    _runs(tmp_path / "grid.csv", [("a", "0.1"), ("b", "0.2")])
    _runs(tmp_path / "grid.shard-2-of-2.csv", [("d", "0.4"), ("b", "0.9")])
    _runs(tmp_path / "grid.shard-1-of-2.csv", [("c", "0.3"), ("a", "0.8")])
    _runs(tmp_path / "gridx.csv", [("z", "1")])  # another experiment whose name starts alike
    merged = read_experiment(tmp_path, "grid")
    assert [(r["run_key"], r["acc_top10_mean"]) for r in merged.rows] == [
        ("a", "0.1"), ("b", "0.2"), ("c", "0.3"), ("d", "0.4")]
    assert merged.duplicates == 2
    assert [f.name for f in merged.files] == ["grid.csv", "grid.shard-1-of-2.csv", "grid.shard-2-of-2.csv"]
    assert "4 runs" in merged.describe() and "2 duplicate" in merged.describe()


def test_shards_alone_and_missing_experiments(tmp_path):
    _runs(tmp_path / "grid.shard-1-of-3.csv", [("a", "0.1")])
    assert [r["run_key"] for r in read_experiment(tmp_path, "grid").rows] == ["a"]
    assert read_experiment(tmp_path, "small") is None
    assert set(read_experiments(tmp_path, ["grid", "small"])) == {"grid"}
    assert read_experiment(tmp_path / "absent", "grid") is None


def test_a_row_without_run_key_is_refused(tmp_path):
    _runs(tmp_path / "grid.csv", [("", "0.1")])
    with pytest.raises(ReproError, match="grid.csv:2: empty run_key"):
        read_experiment(tmp_path, "grid")


def test_quantity_statuses(tmp_path):
    published = load_published("toy", _paper(tmp_path))
    rows = quantity_table(published, {("acc", "AnB", "3", "B"): 0.60}, ["grid"])
    assert [r.status for r in rows] == ["no analogue", "measured", "not run", "no analogue"]
    assert rows[1].delta == pytest.approx(0.60 - 0.6189)
    assert rows[0].delta is None


def test_claims_are_judged_by_parts_or_not_run(tmp_path):
    claims = load_claims("toy", _paper(tmp_path))

    def missing(data):
        raise NotMeasured("no AnB runs at n=3 in grid")

    def gap(d):
        return [greater("a", "AnB below base", -d, 0.1, what="base - AnB"), within("b", "n = 1 costs nothing", 0.0, 0.01,
                                                                                   0.05)]

    verdicts = judge_claims(claims, {"T-C1": gap, "T-C2": missing}, -1.0, ["grid", "small"])
    assert [(v.claim_id, v.verdict) for v in verdicts] == [("T-C1", "holds"), ("T-C2", "not run")]
    assert [p.outcome for p in verdicts[0].parts] == ["holds", "holds"]
    assert verdicts[0].evidence.startswith("(a) ✓ base - AnB +1 ± 0.2")
    assert verdicts[1].evidence == "no AnB runs at n=3 in grid"
    verdicts = judge_claims(claims, {"T-C1": gap, "T-C2": missing}, 1.0, ["grid"])
    assert [v.verdict for v in verdicts] == ["fails", "not run"]
    assert verdicts[1].evidence == "no results for small"
    verdicts = judge_claims(claims, {"T-C1": gap, "T-C2": missing}, 0.05, ["grid"])
    assert verdicts[0].verdict == "inconclusive" and "cannot be told from noise" in verdicts[0].parts[0].detectable
    with pytest.raises(ValueError, match="do not match"):
        judge_claims(claims, {"T-C1": gap}, 0, ["grid"])
    with pytest.raises(ValueError):
        Verdict("T-C1", "x", "maybe", "")


def _comparison(tmp_path: Path, summary=None) -> Comparison:
    published = load_published("toy", _paper(tmp_path))
    rows = [QuantityRow(published[0], 0.62, "measured"), QuantityRow(published[2], None, "not run"),
            QuantityRow(published[3], None, "no analogue")]
    parts = (Part("a", "AnB below base", "fails", "gap +0.01"), Part("b", "n = 1 free", "inconclusive", "+0.1 ± 0.3",
                                                                     "effects below 0.3 cannot be told from noise"))
    verdicts = [Verdict("T-C1", "AnB | base", "fails", "(a) ✗ gap +0.01; (b) ? +0.1 ± 0.3", parts)]
    figure = tmp_path / "out" / "figure2.png"
    return Comparison("toy", "mini", tmp_path / "out", rows, verdicts, [figure], summary, ["grid: 2 runs"])


def test_comparison_files_and_text(tmp_path):
    summary = {"command": "repro run toy", "started": "t0", "finished": "t1", "seconds": 12.5,
               "environment": {"python": "3.11.7", "tensorflow": "2.21.0"}}
    text = _comparison(tmp_path, summary).write()
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert md.startswith("# toy: published vs measured (scale `mini`)")
    assert "Regenerate with `repro compare toy --scale mini`." in md
    assert "| command | `repro run toy` |" in md and "| tensorflow | 2.21.0 |" in md
    assert md.index("## Claims") < md.index("## Figures") < md.index("## Quantities") < md.index("## Run")
    assert "| acc | base | 0 | B | 0.625 | paper | 0.6200 | -0.0050 | §4 |" in md
    assert "| acc | reduced | 10 | whole | 0.0011 | logs | not run |  | Supplementary |" in md
    assert "dataset_images" not in md  # no measured analogue: counted, listed in comparison.csv only
    assert "2 published quantities are compared here (measured, or 'not run' when their experiment has no results); 1 published values have no measured analogue" in md
    assert "AnB \\| base" in md and "### T-C1: **fails**" in md
    assert "| (b) | n = 1 free | ? inconclusive | +0.1 ± 0.3 | effects below 0.3 cannot be told from noise |" in md
    assert "![figure2](figure2.png)" in md
    assert "**Claims: 0 hold, 1 fails** (of 1)" in md
    with open(tmp_path / "out" / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["section"], r["key"], r["part"], r["status"]) for r in rows] == [
        ("quantity", "acc", "", "measured"), ("quantity", "acc", "", "not run"),
        ("quantity", "dataset_images", "", "no analogue"), ("claim", "T-C1", "", "fails"),
        ("part", "T-C1", "a", "fails"), ("part", "T-C1", "b", "inconclusive")]
    assert rows[0]["delta"] == "-0.005"
    assert text.index("T-C1   FAILS") < text.index("Quantities:") and "repro compare toy --scale mini" in text
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_stand_ins_are_named_beside_the_target_and_repeated_measurements_are_not_counted(tmp_path):
    published = load_published("toy", _paper(tmp_path))
    rows = [QuantityRow(published[0], 0.62, "measured", measured_on="mnist"),
            QuantityRow(published[1], 0.62, "measured", measured_on="mnist", repeats="acc base 0 B"),
            QuantityRow(published[2], None, "not run")]
    comparison = Comparison("toy", "mini", tmp_path / "out", rows, [], [], None, [])
    text = comparison.write()
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert "| acc | base | 0 | B (mnist) | 0.625 | paper | 0.6200 | -0.0050 | §4 |" in md
    assert "| acc | AnB | 3 | B (mnist) | 0.6189 | logs | 0.6200 (same as acc base 0 B) |" in md
    assert ("2 published quantities are compared here (1 further rows show one of these measurements again under "
            "another published key, marked 'same as', and are not counted)") in md
    assert "B (mnist)" in text and comparison.repeated_count() == 1
    with open(tmp_path / "out" / "comparison.csv", newline="") as handle:
        found = [r for r in csv.DictReader(handle) if r["section"] == "quantity"]
    assert [r["target"] for r in found] == ["B", "B", "whole"]  # the published keys stay as they are
    assert [r["evidence"] for r in found] == [
        "measured on mnist", "measured on mnist; the same measurement as acc base 0 B", ""]


def test_without_run_summary_the_compare_environment_is_shown(tmp_path):
    _comparison(tmp_path).write()
    md = (tmp_path / "out" / "comparison.md").read_text()
    assert "No run_summary.json" in md and "| cpu_count |" in md


def test_environment_snapshot():
    env = environment_snapshot()
    assert set(env) == {"python", "tensorflow", "keras", "numpy", "platform", "cpu_count", "git_commit"}
    assert env["python"].count(".") == 2 and int(env["cpu_count"]) >= 1


def test_published_value_key():
    p = PublishedValue("acc", "AnB", "3", "B", 0.6, "0.6", "fraction", "grid", "Figure 2", "logs", "no", "")
    assert p.key == ("acc", "AnB", "3", "B")
