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


def test_a_second_seed_set_draws_new_seeds_in_its_own_directory_and_compare_tables_agreement(toy, tmp_path, capsys):
    for seed_set in ("0", "1"):
        assert main(["run", toy, "--scale", "smoke", "--out", str(tmp_path), "--seed-set", seed_set]) == 0
    first, second = tmp_path / toy / "smoke", tmp_path / toy / "smoke-seed-set-1"
    seeds = [{r["run_key"]: r["seed"] for r in _rows(d / "bases.csv")} for d in (first, second)]
    assert set(seeds[0]) == set(seeds[1]) == {"baseA", "baseB"}
    assert all(seeds[0][k] != seeds[1][k] for k in seeds[0])
    assert "--seed-sets 1" in capsys.readouterr().out

    assert main(["compare", toy, "--scale", "smoke", "--out", str(tmp_path), "--seed-sets", "0,1"]) == 0
    printed = capsys.readouterr().out
    assert "Seed sets 0,1: 1 of 1 claims agree" in printed
    table = _rows(first / "seed_sets.csv")
    assert [(r["claim"], r["seed set 0"], r["seed set 1"], r["agree"]) for r in table] == [
        ("T-C1", "holds", "holds", "yes")]
