"""``repro report``: the committed results rendered as Markdown and HTML pages (nothing is trained)."""
import csv
import math
import html
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from repro.cli import main
from repro.compare import load_claims, repo_root
from repro.errors import ReproError
from repro.registry import STUDY_MODULES, paper_keys
from repro.report import build_report, figure_caption, rst_to_markdown, write_reports

RESULTS = repo_root() / "results"
SCALE = "mini"


class _Page(HTMLParser):
    """The tables (rows of cell texts), image sources and link targets of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def rows(self) -> list[list[str]]:
        return [row for table in self.tables for row in table]


def _comparison(paper: str) -> list[dict]:
    with open(RESULTS / paper / SCALE / "comparison.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Every committed paper's report at mini scale, written once into a temporary directory."""
    out = tmp_path_factory.mktemp("reports")
    write_reports(None, SCALE, RESULTS, out)
    return out


@pytest.mark.parametrize("paper", paper_keys())
def test_every_claim_is_in_the_report_with_its_verdict(reports, paper):
    verdicts = {r["key"]: r["verdict"] for r in _comparison(paper) if r["section"] == "claim"}
    rows = {row[0]: row for row in _Page((reports / f"{paper}-{SCALE}.html").read_text()).rows()}
    markdown = (reports / f"{paper}-{SCALE}.md").read_text()
    parts = [r for r in _comparison(paper) if r["section"] == "part"]
    assert markdown.index("| id | claim | verdict | parts |") < markdown.index("## Figures") < markdown.index(
        "## Published vs measured")  # the verdicts lead, the long quantity table comes last
    for claim in load_claims(paper):
        assert rows[claim.id][1] == " ".join(claim.claim.split())
        assert rows[claim.id][2] == verdicts[claim.id]
        assert f"| {claim.id} |" in markdown and f"### {claim.id}: {verdicts[claim.id]}" in markdown
        for part in (p for p in parts if p["key"] == claim.id):
            assert f"({part['part']})" in rows[claim.id][3]


@pytest.mark.parametrize("paper", paper_keys())
def test_every_quantity_row_is_in_a_table(reports, paper):
    rows = _Page((reports / f"{paper}-{SCALE}.html").read_text()).rows()
    quantities = [r for r in _comparison(paper) if r["section"] == "quantity"]
    assert any(q["status"] == "measured" for q in quantities)
    keys = [tuple(row[:4]) for row in rows if len(row) == 9]
    assert len(keys) == len(set(keys))  # one row per quantity: the sources of one number share it
    for q in quantities:
        found = [row for row in rows if len(row) == 9 and row[:4] == [q[c] for c in ("key", "condition", "n", "target")]]
        if q["status"] == "no analogue":
            assert not found or found[0][6] != "no analogue"
            continue
        (row,) = found
        assert q["published"] in row[4].split(" / ") and q["provenance"] in row[5].split(", ")
        assert q["location"] in row[8]
        if q["status"] == "measured":
            assert math.isclose(float(row[6]), float(q["measured"]), rel_tol=1e-5, abs_tol=0.005), row
        else:
            assert row[6] == "not run"


@pytest.mark.parametrize("paper", paper_keys())
def test_every_figure_is_shown_with_a_caption(reports, paper):
    pngs = sorted((RESULTS / paper / SCALE).glob("*.png"))
    assert pngs
    page = _Page((reports / f"{paper}-{SCALE}.html").read_text())
    shown = {(reports / src).resolve() for src in page.images}
    assert {p.resolve() for p in pngs} <= shown
    for png in pngs:
        caption = figure_caption(paper, png.name)
        assert caption.startswith(f"{png.name}: ") and "not described" not in caption
        assert caption.split(": ", 1)[1].split()[0] in (reports / f"{paper}-{SCALE}.md").read_text()


@pytest.mark.parametrize("paper", paper_keys())
def test_html_is_one_page_whose_relative_links_resolve(reports, paper):
    text = (reports / f"{paper}-{SCALE}.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text and "<table>" in text
    page = _Page(text)
    local = [t.split("#")[0] for t in page.images + page.links if not t.startswith(("http", "#", "mailto:"))]
    assert local
    missing = [t for t in local if not (reports / t).exists()]
    assert not missing


def test_protocol_and_run_come_from_the_papers_files(reports):
    markdown = (reports / f"yosinski2014-{SCALE}.md").read_text()
    assert "`transfer-ft{s}A{s}A_1_{n}`" in markdown  # the protocol docstring's table
    assert "### Mini scale: deviations from the protocol" in markdown  # papers/yosinski2014/README.md
    summary = json.loads((RESULTS / "yosinski2014" / SCALE / "run_summary.json").read_text())
    assert f"| command | `{summary['command']}` |" in markdown  # run_summary.json


def test_index_links_every_report(reports):
    page = _Page((reports / "index.html").read_text())
    studies = [k for k in STUDY_MODULES if (RESULTS / k / SCALE / "comparison.md").is_file()]
    assert sorted(page.links) == sorted(f"{p}-{SCALE}{ext}" for p in paper_keys() + studies for ext in (".md", ".html"))


@pytest.mark.parametrize("study", sorted(STUDY_MODULES))
def test_a_study_s_page_is_its_comparison_with_links_that_resolve(reports, study):
    if not (RESULTS / study / SCALE / "comparison.md").is_file():
        pytest.skip(f"no committed {study} results at {SCALE}")
    text = (reports / f"{study}-{SCALE}.html").read_text()
    page = _Page(text)
    local = [t.split("#")[0] for t in page.images + page.links if not t.startswith(("http", "#", "mailto:"))]
    figures = (RESULTS / study / SCALE / "comparison.md").read_text().count("![")  # every figure of the comparison
    assert len(page.images) == figures >= 2 and not [t for t in local if not (reports / t).exists()]
    from repro.atlas.compare import LABELS

    assert all(html.escape(label, quote=False) in text for label in LABELS.values())  # every measure's row


def test_reports_are_deterministic(reports, tmp_path):
    """Writing the same reports again, in another process with another hash seed, gives the same bytes."""
    before = {p.name: p.read_bytes() for p in reports.iterdir()}
    script = ("import sys; from pathlib import Path; from repro.report import write_reports; "
              "write_reports(None, sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))")
    env = dict(os.environ, PYTHONHASHSEED="123", PYTHONPATH=str(repo_root()))
    subprocess.run([sys.executable, "-c", script, SCALE, str(RESULTS), str(reports)], check=True, env=env,
                   cwd=tmp_path)
    assert {p.name: p.read_bytes() for p in reports.iterdir()} == before


def test_cli_unknown_paper_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["report", "yosinski2014", "nosuchpaper", "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown paper 'nosuchpaper'; accepted: ") and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_cli_scale_without_results_exits_2(tmp_path, capsys):
    argv = ["report", "liu2019", "--scale", "paper", "--out", str(RESULTS), "--report-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no liu2019 results at scale 'paper'") and "scales with results: mini" in err
    assert "\n" not in err and not (tmp_path / "r").exists()


def test_cli_writes_the_pages(tmp_path, capsys):
    assert main(["report", "chen2022", "--out", str(RESULTS), "--report-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chen2022-mini.html", "chen2022-mini.md",
                                                          "index.html", "index.md"]
    assert f"written: {tmp_path / 'chen2022-mini.md'}" in capsys.readouterr().out


def _copy_results(tmp_path: Path, paper: str) -> Path:
    scale_dir = tmp_path / paper / SCALE
    scale_dir.mkdir(parents=True)
    shutil.copy(RESULTS / paper / SCALE / "run_summary.json", scale_dir)
    return scale_dir


def test_missing_comparison_asks_for_repro_compare(tmp_path):
    _copy_results(tmp_path, "liu2019")
    with pytest.raises(ReproError, match="comparison.csv does not exist: run `repro compare liu2019"):
        build_report("liu2019", SCALE, tmp_path, tmp_path / "r")


def test_stale_comparison_is_refused(tmp_path):
    scale_dir = _copy_results(tmp_path, "liu2019")
    lines = (RESULTS / "liu2019" / SCALE / "comparison.csv").read_text().splitlines(keepends=True)
    (scale_dir / "comparison.csv").write_text("".join(line for line in lines if not line.startswith("claim,L-C3,")))
    with pytest.raises(ReproError, match="are not those of papers/liu2019/claims.csv"):
        build_report("liu2019", SCALE, tmp_path, tmp_path / "r")


def test_rst_to_markdown():
    text = ("Grid ``a``, see :mod:`repro.x`::\n\n    y = f(x)\n\n"
            "====  =========\nname  what\n====  =========\n"
            "base  first line\n      continued\nft    ``t``\n====  =========\n")
    assert rst_to_markdown(text) == (
        "Grid `a`, see `repro.x`:\n\n```\ny = f(x)\n```\n\n"
        "| name | what |\n|---|---|\n| base | first line continued |\n| ft | `t` |"
    )
