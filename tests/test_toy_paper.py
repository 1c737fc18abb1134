"""A fifth paper registered from its protocol.py alone runs end to end: grid, dependencies, rows, dry run, compare."""
import csv
import json

import pytest

from repro import registry
from repro.cli import main

TOY = "toy2025"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(registry.PAPER_MODULES, TOY, "tests.toypaper.protocol")
    return TOY


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_fifth_paper_runs_end_to_end_from_its_protocol_alone(toy, tmp_path, capsys):
    assert main(["list"]) == 0
    assert "toy2025: Toy et al. 2025" in capsys.readouterr().out

    assert main(["run", toy, "transfer", "--scale", "smoke", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "AnB_1  [transfer, train]" in printed and "needs: baseA" in printed
    assert "moved-AnB_1  [transfer, analysis]" in printed and "needs: baseA, AnB_1, baseB" in printed

    # only the transfer experiment: its base nets run first as dependencies, without rows of their own
    assert main(["run", toy, "transfer", "--scale", "smoke", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "running dependency baseA first" in printed and "running dependency baseB first" in printed
    scale_dir = tmp_path / toy / "smoke"
    transfer = {r["run_key"]: r for r in _rows(scale_dir / "transfer.csv")}
    assert set(transfer) == {"AnB_1", "moved-AnB_1"} and not (scale_dir / "bases.csv").exists()
    assert float(transfer["moved-AnB_1"]["moved"]) == 0.0
    assert list(transfer["AnB_1"]) == ["paper", "experiment", "scale", "run_key", "condition", "target", "seed",
                                       "acc_final", "moved", "acc_gap", "seconds"]
    config = json.loads((scale_dir / "runs" / "AnB_1" / "config.json").read_text())
    assert config["transfer"]["frozen"] == ["hidden"] and config["transfer"]["source"]["run"] == "baseA"

    # the base nets are finished: running their experiment records their rows and trains nothing
    assert main(["run", toy, "--scale", "smoke", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "running dependency" not in printed
    assert [r["run_key"] for r in _rows(scale_dir / "bases.csv")] == ["baseA", "baseB"]

    assert main(["compare", toy, "--scale", "smoke", "--out", str(tmp_path)]) == 0
    assert "T-C1" in capsys.readouterr().out
    claims = [r for r in _rows(scale_dir / "comparison.csv") if r["section"] == "claim"]
    assert [(c["key"], c["verdict"]) for c in claims] == [("T-C1", "holds")]
