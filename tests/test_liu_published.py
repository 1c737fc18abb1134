"""papers/liu2019: protocol constants and claims load and are well formed.

Fast: reads the two CSV files only, builds no model. The paper's figure and
table values are not available, so published.csv holds only protocol
constants of the official code (provenance 'derived').
"""
from __future__ import annotations

import math
from collections import Counter

import pytest

from repro.compare import PROVENANCES
from repro.liu2019.protocol import EXPERIMENTS

PAPER = "liu2019"
CODE_FILES = ("fine-tune.py", "loss_landscape.py", "variation_of_loss.py", "lenet.py")


def test_keys_are_unique(published):
    counts = Counter(p.key for p in published)
    assert [k for k, c in counts.items() if c > 1] == []


def test_rows_are_code_constants(published):
    assert published
    for p in published:
        assert p.provenance in PROVENANCES
        assert p.provenance == "derived", p.key
        assert p.read_from_figure == "no", p.key
        assert p.experiment == "" or p.experiment in EXPERIMENTS, p.key
        assert math.isfinite(p.value), p.key
        assert p.location.startswith("official code ("), p.key
        assert any(f in p.location for f in CODE_FILES), p.key
        assert p.note.startswith("official code "), p.key


def test_protocol_constants(values):
    expected = {
        ("lr", "", "", ""): 0.01,
        ("momentum", "", "", ""): 0.9,
        ("weight_decay", "", "", ""): 5e-4,
        ("batch_size", "resnet50", "", ""): 32,
        ("batch_size", "lenet", "", "svhn"): 64,
        ("epochs", "", "", "cub200"): 200,
        ("epochs", "", "", "svhn"): 100,
        ("lr_step", "", "", "cub200"): 18730,
        ("lr_step", "", "", "food"): 39540,
        ("bottleneck_width", "", "", ""): 256,
        ("leaky_relu_slope", "", "", ""): 0.2,
        ("resize", "", "", ""): 256,
        ("crop", "", "", ""): 224,
        ("deviation_tensors", "", "", ""): 53,
        ("landscape_grid", "", "", ""): 200,
        ("landscape_coefficient_step", "", "", ""): 0.1,
        ("landscape_eta", "", "", ""): 0.01,
        ("probe_steps", "", "", ""): 100,
        ("probe_step", "", "", ""): 0.001,
        ("probe_plot_step", "first", "", ""): 4000,
        ("probe_plot_step", "last", "", ""): 12000,
        ("train_images", "", "", "svhn"): 600,
        ("input_size", "lenet", "", "svhn"): 28,
        ("input_offset", "", "", "svhn"): -0.5,
    }
    for key, value in expected.items():
        assert values[key] == pytest.approx(value), key


def test_claims(claims):
    assert [c.id for c in claims] == [f"L-C{i}" for i in range(1, 8)]
    for c in claims:
        assert c.experiments, c.id
        assert set(c.experiments) <= set(EXPERIMENTS), c.id
        assert len(set(c.experiments)) == len(c.experiments), c.id
        assert c.claim and c.location and c.rule, c.id
        assert c.location.startswith("abstract"), c.id
        assert "Holds iff" in c.rule, c.id
    # every planned experiment is needed by some claim
    assert {e for c in claims for e in c.experiments} == set(EXPERIMENTS)


def test_claim_experiments(claims):
    by_id = {c.id: c.experiments for c in claims}
    assert by_id == {
        "L-C1": ("deviation", "flatness"),
        "L-C2": ("deviation", "optimization"),
        "L-C3": ("optimization",),
        "L-C4": ("input_similarity",),
        "L-C5": ("label_similarity",),
        "L-C6": ("checkpoints",),
        "L-C7": ("theory",),
    }


def test_unverified_parts_are_marked(claims):
    for c in claims:
        assert "[unverified" in c.claim, c.id
    theory = {c.id: c for c in claims}["L-C7"]
    assert "not available" in theory.rule
    assert "Du et al. 2019" in theory.rule and "Arora et al. 2019" in theory.rule
