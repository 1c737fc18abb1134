"""papers/neyshabur2020: published numbers and claims load, are complete and match the paper and its official code.

Fast: reads the two CSV files only, builds no model.
"""
from __future__ import annotations

from collections import Counter


from repro.compare import PROVENANCES

PAPER = "neyshabur2020"

MODULES_T1 = ("conv1", "layer1", "layer2", "layer3", "layer4")
TABLE1 = {  # Table 1, CheXpert, exact
    "P-T & P": (0.6225, 0.4592, 0.2896, 0.1877, 0.0453),
    "P-T & P-T": (0.6710, 0.8230, 0.6052, 0.4089, 0.1628),
    "P-T & RI-T": (0.0036, 0.0011, 0.0022, 0.0003, 0.0808),
    "RI-T & RI-T": (0.0016, 0.0088, 0.0004, 0.0004, 0.0424),
}
PAIRS_T2 = ("2 P-T", "2 RI-T", "P-T & P", "RI-T & P")
TABLE2 = {  # Table 2, exact
    "chexpert": (200.12, 255.34, 237.31, 598.19),
    "clipart": (178.07, 822.43, 157.19, 811.87),
    "quickdraw": (218.52, 776.76, 195.44, 785.22),
    "real": (193.45, 815.08, 164.83, 796.80),
}
FIG5_MODULES = (
    "none", "conv1", "layer1.0", "layer1.1", "layer1.2",
    "layer2.0", "layer2.1", "layer2.2", "layer2.3",
    "layer3.0", "layer3.1", "layer3.2", "layer3.3", "layer3.4", "layer3.5",
    "layer4.0", "layer4.1", "layer4.2", "fc",
)
FIG5_CONDITIONS = ("P-T lr0.02", "RI-T lr0.02", "RI-T lr0.1")
EXPERIMENTS = (
    "learning_curves", "block_shuffle", "mistakes", "cka", "distances",
    "interpolation", "basin", "criticality", "criticality_paths", "checkpoints",
)
TARGETS = ("real", "clipart", "quickdraw", "chexpert")


def test_keys_are_unique(published):
    counts = Counter(p.key for p in published)
    assert [k for k, c in counts.items() if c > 1] == []


def test_columns_are_well_formed(published):
    for p in published:
        assert p.provenance in PROVENANCES
        assert p.read_from_figure in ("yes", "no"), p.key
        assert p.experiment == "" or p.experiment in EXPERIMENTS, p.key
        assert p.location, p.key
        if p.experiment:
            assert p.target in TARGETS, p.key
        if p.read_from_figure == "yes":
            assert p.provenance == "figure", p.key


def test_table1_cka(published, values):
    rows = [p for p in published if p.quantity == "cka"]
    assert len(rows) == 20
    for pair, row in TABLE1.items():
        for module, expected in zip(MODULES_T1, row):
            assert values[("cka", pair, module, "chexpert")] == expected
    for p in rows:
        assert (p.unit, p.experiment, p.location, p.read_from_figure) == ("CKA", "cka", "Table 1", "no")


def test_table2_distances(published, values):
    rows = [p for p in published if p.quantity == "l2_distance"]
    assert len(rows) == 16
    for target, row in TABLE2.items():
        for pair, expected in zip(PAIRS_T2, row):
            assert values[("l2_distance", pair, "", target)] == expected
    for p in rows:
        assert (p.unit, p.experiment, p.location, p.read_from_figure) == ("L2", "distances", "Table 2", "no")


def test_basins(values):
    assert values[("basin_epsilon", "2 P-T", "", "real")] == 0.0038
    assert values[("basin_epsilon", "2 P-T", "", "clipart")] == 0.0054
    assert values[("basin_epsilon", "2 P-T", "", "quickdraw")] == 0.0034
    assert values[("basin_delta", "2 P-T", "", "real")] == 49.14
    assert values[("basin_delta", "2 P-T", "", "clipart")] == 98.28
    assert values[("basin_delta", "2 P-T", "", "quickdraw")] == 49.14


def test_figure5_rewinding(published, values):
    rows = [p for p in published if p.quantity == "rewind_auc"]
    assert len(rows) == len(FIG5_MODULES) * len(FIG5_CONDITIONS) == 57
    assert {(p.condition, p.n) for p in rows} == {(c, m) for c in FIG5_CONDITIONS for m in FIG5_MODULES}
    assert all(p.target == "chexpert" and p.experiment == "criticality" for p in rows)
    assert values[("rewind_auc", "RI-T lr0.02", "conv1", "chexpert")] == 0.507
    assert values[("rewind_auc", "P-T lr0.02", "fc", "chexpert")] == 0.693


def test_figure3_grids(published):
    blocks = {"*", "1", "2", "4", "7", "8", "14", "16", "28", "32", "56", "112", "224"}
    domainnet = {"real", "clipart", "quickdraw"}
    drop = {(p.n, p.target) for p in published if p.quantity == "shuffle_drop_pct"}
    assert drop == {(b, t) for b in blocks for t in domainnet}
    acc = {(p.condition, p.n, p.target) for p in published if p.quantity == "shuffle_test_acc"}
    assert acc == {(c, b, t) for c in ("P-T", "RI-T") for b in blocks for t in domainnet}
    train = {(p.condition, p.n, p.target) for p in published if p.quantity == "shuffle_train_acc_mean"}
    assert train == {(c, b, t) for c in ("P-T", "RI-T") for b in ("*", "1", "2", "4", "8", "224") for t in domainnet}


def test_best_epochs(values):
    assert values[("best_epoch", "P-T lr0.02", "", "chexpert")] == 4
    assert values[("best_epoch", "RI-T lr0.1", "", "chexpert")] == 68
    assert values[("best_epoch", "RI-T lr0.02 run1", "", "chexpert")] == 173
    assert values[("best_epoch", "RI-T lr0.02 run2", "", "chexpert")] == 176


def test_interpolation_pairs_use_the_agreed_names(published):
    allowed = {
        "P-T* & P-T*", "P-T & P-T", "P-T* & P-T", "RI-T* & RI-T*", "RI-T & RI-T",
        "RI-T* & RI-T", "P-T* & RI-T*", "RI-T & P-T", "RI-T & RI-T same init",
    }
    rows = [p for p in published if p.experiment == "interpolation"]
    assert rows
    assert {p.condition for p in rows} <= allowed
    assert {p.n for p in rows} <= {"", "start", "end"}


def test_claims(claims):
    assert [c.id for c in claims] == [f"N-C{i}" for i in range(1, 11)]
    for c in claims:
        assert c.experiments, c.id
        assert set(c.experiments) <= set(EXPERIMENTS), c.id
        assert c.claim and c.location and c.rule, c.id
