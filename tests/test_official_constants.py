"""Each paper-scale run, as ``repro run <paper> --scale paper --dry-run --json`` describes it, against the table
of the official constants in ``papers/<paper>/official_constants.csv`` (the value of a field of every run whose
key matches, with the official file it comes from): a change that drifts from the official code fails here."""
import csv
import json
import math
import re
from pathlib import Path

import pytest

from repro.cli import main
from repro.registry import get_paper, paper_keys

PAPERS = Path(__file__).resolve().parents[1] / "papers"


def _described(paper: str, capsys) -> list[dict]:
    """Every run of every experiment at paper scale, selected or needed, in full."""
    capsys.readouterr()
    experiments = get_paper(paper).experiment_names("paper")
    assert main(["run", paper, *experiments, "--scale", "paper", "--dry-run", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _field(run: dict, path: str):
    value = run
    for part in path.split("."):
        value = value[part]
    return value


def _same(actual, expected) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        return isinstance(actual, (int, float)) and math.isclose(actual, expected, rel_tol=1e-12)
    return actual == expected


@pytest.mark.parametrize("paper", paper_keys())
def test_paper_scale_runs_hold_the_official_constants(paper, capsys):
    with (PAPERS / paper / "official_constants.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, f"no constants for {paper}"
    runs = _described(paper, capsys)
    for row in rows:
        pattern, expected = re.compile(row["runs"]), json.loads(row["value"])
        matched = [run for run in runs if pattern.search(run["key"])]
        assert matched, f"{paper}: no paper-scale run matches {row['runs']!r}"
        wrong = [(run["key"], _field(run, row["field"])) for run in matched
                 if not _same(_field(run, row["field"]), expected)]
        assert not wrong, (f"{paper}: {row['field']} should be {expected!r} ({row['location']}); "
                           f"{len(wrong)} of {len(matched)} runs differ, e.g. {wrong[:3]}")
