"""The claim rules of neyshabur2020 (papers/neyshabur2020/claims.csv, repro/neyshabur2020/claims.py).

For every claim a hand-built set of measurements on which it holds; for each of its parts one on which that part
fails and one on which it is inconclusive (the part's outcome and the claim's are both asserted); and the
committed mini comparison recomputed from the committed runs. Pure Python: no network is built or trained.
"""
from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from repro.compare import judge_claims, load_claims
from repro.neyshabur2020 import claims as rules
from repro.neyshabur2020.measured import Measured
from repro.neyshabur2020.protocol import MODULES, SCALES, STAGES
from repro.verdicts import cohen_kappa, combine

PAPER = "neyshabur2020"
REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "results" / PAPER / "mini"
ARMS = ("P-T", "RI-T")
INTERP_PAIRS = ("P-T & P-T", "RI-T & RI-T", "RI-T & RI-T same init", "RI-T & P-T", "P-T* & P-T")
CKA_PAIRS = ("P-T & P-T", "P-T & RI-T", "RI-T & RI-T", "P-T & P")


# ----------------------------------------------------------------------------- a hand-built world

def _errors(n: int, wrong: range | list) -> np.ndarray:
    """Predictions of a 2-class problem with true label 0 everywhere: wrong (1) on the given examples."""
    pred = np.zeros(n, dtype=np.int64)
    pred[list(wrong)] = 1
    return pred


AGREEING = (range(0, 40), list(range(0, 36)) + list(range(40, 44)))  # kappa ~0.89
INDEPENDENT = (range(0, 80), range(40, 120))  # kappa 0.375
ALMOST_AGREEING = (range(0, 40), list(range(0, 35)) + list(range(40, 45)))  # kappa ~0.86


class World:
    """Measurements of every experiment on every target of a scale, by default ones on which every claim holds.

    Accuracies are fractions as in the CSVs. Each field is a plain dict the tests edit before :meth:`measured`.
    """

    def __init__(self, scale: str = "mini"):
        self.scale = SCALES[scale]
        self.targets = [t.name for t in self.scale.targets]
        near, middle, far = self.targets[:3]
        offset = {t: 0.005 * i for i, t in enumerate(self.targets)}  # a little spread over the targets
        # Learning curves: two runs per arm at the chosen lr 0.1.
        self.lc = {(arm, t): dict(final=[0.90, 0.91] if arm == "P-T" else [0.70, 0.71],
                                  best=[0.905, 0.915] if arm == "P-T" else [0.705, 0.715], best_epoch=[9, 9],
                                  train=[0.92, 0.93] if arm == "P-T" else [0.60, 0.61], epochs=[10, 10])
                   for arm in ARMS for t in self.targets}
        # Block shuffle (one seed): P-T 0.90 except pixel-level 0.80; RI-T's drop large on the near target.
        rit = {near: dict(large=0.60, mid=0.64, pixel=0.76, train=0.75),
               middle: dict(large=0.70, mid=0.70, pixel=0.70, train=0.70),
               far: dict(large=0.72, mid=0.72, pixel=0.40, train=0.30)}
        self.shuffle = {}
        for t in self.targets:
            r = rit.get(t, rit[middle])
            for block in self.scale.block_sizes:
                pixel = block in ("1", "*")
                large = not pixel and 2 * int(block) >= self.scale.image_size
                self.shuffle[("P-T", t, block)] = dict(acc=0.80 if pixel else 0.90, train=0.85)
                self.shuffle[("RI-T", t, block)] = dict(
                    acc=r["pixel"] if pixel else r["large"] if large else r["mid"], train=r["train"])
        # Mistakes: the two P-T runs agree on their errors, the two RI-T runs err independently.
        self.mistakes = {t: {"P-T & P-T": AGREEING, "RI-T & RI-T": INDEPENDENT} for t in self.targets}
        self.n_test = 400
        # CKA per stage (conv1 ... layer4).
        self.cka = {(t, pair): list(values) for t in self.targets for pair, values in (
            ("P-T & P-T", [0.99, 0.99, 0.98, 0.95 - offset[t], 0.90 - offset[t]]),
            ("P-T & RI-T", [0.98, 0.95, 0.90, 0.80, 0.70]),
            ("RI-T & RI-T", [0.99, 0.98, 0.95, 0.85, 0.75]),
            ("P-T & P", [0.99, 0.98, 0.95, 0.90, 0.60 + offset[t]]))}
        # Distances: 2 RI-T 10x 2 P-T, RI-T & P 8x P-T & P, P-T's change 3x larger at layer4 than conv1.
        self.dist = {}
        for i, t in enumerate(self.targets):
            self.dist[(t, "2 P-T")] = dict(l2=5.0 + 0.5 * i)
            self.dist[(t, "2 RI-T")] = dict(l2=50.0)
            self.dist[(t, "P-T & P")] = dict(l2=6.0 + 0.5 * i, l2_conv1=1.0, l2_layer4=3.0 + 0.2 * i)
            self.dist[(t, "RI-T & P")] = dict(l2=50.0)
        # Interpolation: normalised barriers (share of the ends' above-chance accuracy lost) per pair.
        self.ends = {"P-T & P-T": (0.90, 0.90), "RI-T & RI-T": (0.70, 0.70), "RI-T & RI-T same init": (0.70, 0.70),
                     "RI-T & P-T": (0.70, 0.90), "P-T* & P-T": (0.91, 0.90)}
        self.barrier = {pair: {t: b + offset[t] for t in self.targets} for pair, b in (
            ("P-T & P-T", 0.01), ("RI-T & RI-T", 0.95), ("RI-T & RI-T same init", 0.90), ("RI-T & P-T", 0.95),
            ("P-T* & P-T", 0.0))}
        self.max_rise = {t: 0.001 for t in self.targets}
        self.basin = {t: dict(closed="True", delta=16.0, epsilon=0.02) for t in self.targets}
        # Rewinding (drops in points): P-T 1 everywhere but fc 30; RI-T 30 at the critical modules, 3 elsewhere.
        self.drops = {}
        for i, t in enumerate(self.targets):
            self.drops[(t, "P-T")] = {m: 30.0 if m == "fc" else 1.0 + 0.5 * i for m in MODULES}
            self.drops[(t, "RI-T")] = {m: 10.0 if m == "fc" else 30.0 + i if m in rules.CRITICAL else 3.0
                                       for m in MODULES}
        # Pre-training checkpoints: most of the gain early.
        curve = {0: 0.60, 1: 0.70, 2: 0.80, 3: 0.85, 4: 0.87, 6: 0.89, 7: 0.895, 9: 0.90}
        self.ckpt = {(t, k): dict(acc=curve.get(k, 0.9), train=0.5 if k == 0 else 0.9)
                     for t in self.targets for k in self.scale.source_checkpoints}

    # -- helpers the tests use
    def set_barrier(self, pair: str, values: dict[str, float]) -> None:
        self.barrier[pair].update(values)

    def measured(self, root: Path) -> Measured:
        rows: dict[str, list[dict[str, str]]] = {e: [] for e in (
            "learning_curves", "block_shuffle", "mistakes", "cka", "distances", "interpolation", "basin",
            "criticality", "checkpoints")}
        fixed = dict(self.scale.fixed_lrs)  # the arms' lrs where the scale fixes them (paper), else 0.1 chosen
        lr_of = {arm: f"{fixed.get(arm, 0.1):g}" for arm in ("P-T", "RI-T")}
        for (arm, t), v in self.lc.items():
            rows["learning_curves"].append(dict(condition="lr_choice", arm=arm, target=t, chosen_lr="0.1", lr=""))
            for seed in range(len(v["final"])):
                rows["learning_curves"].append(dict(
                    run_key=f"lc-{arm}-{t}-r{seed + 1}", condition=arm, arm=arm, target=t, lr=lr_of[arm],
                    seed=str(seed + 1),
                    test_acc_final=str(v["final"][seed]), test_acc_best=str(v["best"][seed]),
                    best_epoch=str(v["best_epoch"][seed]), train_acc_mean=str(v["train"][seed]),
                    epochs=str(v["epochs"][seed])))
        for (arm, t, block), v in self.shuffle.items():
            rows["block_shuffle"].append(dict(condition=arm, arm=arm, target=t, block=block, seed="2",
                                              test_acc_final=str(v["acc"]), train_acc_mean=str(v["train"])))
        for t, pairs in self.mistakes.items():
            for pair, (wrong_a, wrong_b) in pairs.items():
                key = f"mis-{t}-{pair.replace(' & ', '-')}"
                rows["mistakes"].append(dict(run_key=key, condition=pair, target=t))
                if wrong_a is not None:
                    folder = root / "runs" / key
                    folder.mkdir(parents=True, exist_ok=True)
                    np.savez(folder / "predictions.npz", y=np.zeros(self.n_test, dtype=np.int64),
                             pred_a=_errors(self.n_test, wrong_a), pred_b=_errors(self.n_test, wrong_b))
        for (t, pair), values in self.cka.items():
            rows["cka"].append(dict(condition=pair, target=t, **{f"cka_{s}": str(v) for s, v in zip(STAGES, values)}))
        for (t, pair), v in self.dist.items():
            rows["distances"].append(dict(condition=pair, target=t, **{k: str(x) for k, x in v.items()}))
        classes = {t.name: t.classes for t in self.scale.targets}
        for pair, by_target in self.barrier.items():
            for t, b in by_target.items():
                start, end = self.ends[pair]
                mean, chance = (start + end) / 2, 1 / classes[t]
                low = mean - b * (mean - chance)
                rows["interpolation"].append(dict(condition=pair, target=t, acc_start=str(start), acc_end=str(end),
                                                  acc_min=str(low), max_rise=str(self.max_rise[t])))
        for t, v in self.basin.items():
            rows["basin"].append(dict(condition="2 P-T", target=t, **{k: str(x) for k, x in v.items()}))
        for (t, arm), drops in self.drops.items():
            final = 0.90 if arm == "P-T" else 0.70
            rows["criticality"].append(dict(
                run_key=f"crit-{t}-{arm}", target=t, arm=arm, lr=lr_of[arm], acc_final=str(final),
                **{f"acc_{m.replace('.', '_')}": str(final - d / 100) for m, d in drops.items()}))
        for (t, k), v in self.ckpt.items():
            rows["checkpoints"].append(dict(target=t, source_epoch=str(k), lr=lr_of["P-T"], test_acc_final=str(v["acc"]),
                                            train_acc_mean=str(v["train"])))
        return Measured(self.scale, rows, root)


def judge(world: World, tmp_path: Path, claim: str):
    """The claim's parts and its outcome on ``world``."""
    parts = rules.RULES[claim](world.measured(tmp_path))
    return {p.label: p for p in parts}, combine(parts)


def test_every_claim_holds_on_its_hand_built_measurements(tmp_path):
    world = World()
    for claim in rules.RULES:
        parts, outcome = judge(world, tmp_path, claim)
        expected = "not applicable" if claim == "N-C10" else "holds"  # N-C10: no CheXpert protocol at mini
        assert outcome == expected, (claim, [p.line() for p in parts.values()])


def test_the_mini_only_parts_are_not_applicable_by_construction(tmp_path):
    parts, _ = judge(World(), tmp_path, "N-C1")
    assert parts["b"].outcome == "not applicable" and "CheXpert protocol" in parts["b"].evidence
    parts, _ = judge(World(), tmp_path, "N-C5")
    assert parts["d"].outcome == "not applicable" and set(rules.CKA_SATURATED["mini"]) == {"conv1", "layer1", "layer2"}
    parts, outcome = judge(World(), tmp_path, "N-C10")
    assert outcome == "not applicable" and all(p.outcome == "not applicable" for p in parts.values())


def test_paper_scale_chexpert_parts_hold(tmp_path):
    world = paper_world()
    for claim in ("N-C1", "N-C10"):
        parts, outcome = judge(world, tmp_path, claim)
        assert outcome == "holds", (claim, [p.line() for p in parts.values()])


def paper_world() -> World:
    world = World("paper")
    world.lc[("P-T", "chexpert")].update(best=[0.785, 0.786], final=[0.73, 0.735], best_epoch=[4, 5],
                                          epochs=[200, 200])
    world.lc[("RI-T", "chexpert")].update(best=[0.76, 0.765], final=[0.70, 0.70], best_epoch=[68, 80],
                                           epochs=[400, 400])
    return world


# ----------------------------------------------------------------------------- each part: fails, inconclusive

def _set_lc(arm, target, **values):
    return lambda w: w.lc[(arm, target)].update(values)


def _set_shuffle(arm, target, blocks, **values):
    def edit(w):
        for block in blocks:
            w.shuffle[(arm, target, block)].update(values)
    return edit


def _set_cka(pair, stage, values):
    def edit(w):
        for t, v in zip(w.targets, values):
            w.cka[(t, pair)][STAGES.index(stage)] = v
    return edit


def _set_ratio(numerator, denominator, ratios, column="l2"):
    def edit(w):
        for t, r in zip(w.targets, ratios):
            w.dist[(t, numerator)][column] = w.dist[(t, denominator)]["l2_conv1" if column == "l2_layer4" else
                                                                         column] * r
    return edit


def _set_barrier(pair, values):
    return lambda w: w.set_barrier(pair, dict(zip(w.targets, values)))


def _set_drops(arm, modules, values):
    def edit(w):
        for t, v in zip(w.targets, values):
            for m in modules:
                w.drops[(t, arm)][m] = v
    return edit


def _set_ckpt(column, values):
    def edit(w):
        for t in w.targets:
            for k, v in values.items():
                w.ckpt[(t, k)][column] = v
    return edit


def _many(*edits):
    def edit(w):
        for e in edits:
            e(w)
    return edit


BODY = [m for m in MODULES if m != "fc"]
REST = [m for m in BODY if m not in rules.CRITICAL]
CASES = {
    # N-C1 (Figure 2): (a) final accuracy, (c) speed; (b) is CheXpert's (paper scale, below).
    ("N-C1", "a", "fails"): _set_lc("RI-T", "mnist", final=[0.95, 0.96]),
    ("N-C1", "a", "inconclusive"): _set_lc("RI-T", "digits", final=[0.50, 0.95]),
    ("N-C1", "c", "fails"): _set_lc("RI-T", "mnist", train=[0.95, 0.96]),
    ("N-C1", "c", "inconclusive"): _set_lc("RI-T", "digits", train=[0.30, 0.95]),
    # N-C2 (Figure 3 left).
    ("N-C2", "a", "fails"): _set_shuffle("P-T", "digits", ("1", "*"), acc=0.95),
    ("N-C2", "a", "inconclusive"): _set_shuffle("P-T", "digits", ("1", "*"), acc=0.899),
    ("N-C2", "b", "fails"): _set_shuffle("RI-T", "mnist", ("1", "*"), acc=0.50),
    ("N-C2", "b", "inconclusive"): _set_shuffle("RI-T", "mnist", ("1", "*"), acc=0.8 * (1 - 2 / 9)),
    ("N-C2", "c", "fails"): _set_shuffle("RI-T", "mnist", ("16", "32"), acc=0.40),
    ("N-C2", "c", "inconclusive"): _set_shuffle("RI-T", "mnist", ("16", "32"), acc=0.9 * (1 - 0.4083)),
    ("N-C2", "d", "fails"): _set_shuffle("RI-T", "digits", ("4",), acc=0.45),
    ("N-C2", "d", "inconclusive"): _set_shuffle("RI-T", "digits", ("4",), acc=0.9 * 0.73),
    # N-C3 (Figure 3): (a) accuracy and (b) speed at block 1, (c) the speed gap largest on the far target.
    ("N-C3", "a", "fails"): _set_shuffle("RI-T", "fashion_unseen", ("1", "*"), acc=0.85),
    ("N-C3", "a", "inconclusive"): _set_shuffle("RI-T", "fashion_unseen", ("1", "*"), acc=0.80),
    ("N-C3", "b", "fails"): _set_shuffle("RI-T", "fashion_unseen", ("1", "*"), train=0.95),
    ("N-C3", "b", "inconclusive"): _set_shuffle("RI-T", "fashion_unseen", ("1", "*"), train=0.85),
    ("N-C3", "c", "fails"): _set_shuffle("RI-T", "digits", ("1", "*"), train=0.80),
    ("N-C3", "c", "inconclusive"): _set_shuffle("RI-T", "digits", ("1", "*"), train=0.70),
    # N-C4 (mistakes): the agreement is swapped, or the same for both pairs.
    ("N-C4", "a", "fails"): lambda w: w.mistakes["mnist"].update({"P-T & P-T": INDEPENDENT, "RI-T & RI-T": AGREEING}),
    ("N-C4", "a", "inconclusive"): lambda w: w.mistakes["mnist"].update({"RI-T & RI-T": ALMOST_AGREEING}),
    # N-C5 (Table 1) at layer3/layer4.
    ("N-C5", "a", "fails"): _set_cka("P-T & RI-T", "layer4", [0.95, 0.95, 0.95]),
    ("N-C5", "a", "inconclusive"): _set_cka("P-T & RI-T", "layer4", [0.85, 0.95, 0.88]),
    ("N-C5", "b", "fails"): _set_cka("RI-T & RI-T", "layer3", [0.99, 0.99, 0.99]),
    ("N-C5", "b", "inconclusive"): _set_cka("RI-T & RI-T", "layer3", [0.90, 1.00, 0.93]),
    ("N-C5", "c", "fails"): _set_cka("P-T & P", "layer4", [0.95, 0.95, 0.95]),
    ("N-C5", "c", "inconclusive"): _set_cka("P-T & P", "layer4", [0.85, 0.95, 0.90]),
    # N-C6 (Table 2): (a) fails with power (no gap, where the paper's 'about 4x' would be resolved).
    ("N-C6", "a", "fails"): _set_ratio("2 RI-T", "2 P-T", [0.9, 1.1, 1.0]),
    ("N-C6", "a", "inconclusive"): _set_ratio("2 RI-T", "2 P-T", [0.5, 1.5, 4.0]),
    ("N-C6", "b", "fails"): _set_ratio("RI-T & P", "P-T & P", [0.5, 0.5, 0.5]),
    ("N-C6", "b", "inconclusive"): _set_ratio("RI-T & P", "P-T & P", [0.5, 1.5, 4.0]),
    ("N-C6", "c", "fails"): _set_ratio("P-T & P", "P-T & P", [0.3, 0.3, 0.3], column="l2_layer4"),
    ("N-C6", "c", "inconclusive"): _set_ratio("P-T & P", "P-T & P", [0.5, 1.5, 4.0], column="l2_layer4"),
    # N-C7 (Figures 4, 16): normalised barriers against the no-barrier margin 0.1; (e) the basin.
    ("N-C7", "a", "fails"): _set_barrier("P-T & P-T", [0.50, 0.52, 0.55]),
    ("N-C7", "a", "inconclusive"): _set_barrier("P-T & P-T", [0.06, 0.09, 0.12]),
    ("N-C7", "b", "fails"): _set_barrier("RI-T & RI-T", [0.02, 0.03, 0.04]),
    ("N-C7", "b", "inconclusive"): _set_barrier("RI-T & RI-T", [0.10, 0.90, 1.00]),
    ("N-C7", "c", "fails"): _set_barrier("RI-T & RI-T same init", [0.02, 0.03, 0.04]),
    ("N-C7", "c", "inconclusive"): _set_barrier("RI-T & RI-T same init", [0.10, 0.90, 1.00]),
    ("N-C7", "d", "fails"): _set_barrier("RI-T & P-T", [0.02, 0.03, 0.04]),
    ("N-C7", "d", "inconclusive"): _set_barrier("RI-T & P-T", [0.10, 0.90, 1.00]),
    ("N-C7", "e", "inconclusive"): lambda w: w.basin["mnist"].update(closed="False"),
    # N-C8 (Figure 5): drops in points, pooled over the three targets.
    ("N-C8", "a", "fails"): _set_drops("P-T", BODY, [20.0, 20.0, 20.0]),
    ("N-C8", "a", "inconclusive"): _set_drops("P-T", BODY, [2.5, 22.5, 12.5]),
    ("N-C8", "b", "fails"): _set_drops("RI-T", rules.CRITICAL, [1.0, 1.0, 1.0]),
    ("N-C8", "b", "inconclusive"): _set_drops("RI-T", rules.CRITICAL, [13.0, -7.0, 3.0]),
    ("N-C8", "c", "fails"): _set_drops("P-T", ("fc",), [0.0, 0.0, 0.0]),
    ("N-C8", "c", "inconclusive"): _set_drops("P-T", ("fc",), [1.0, 1.0, 30.0]),
    # N-C9 (Figure 7): checkpoints 0, 3, 6, 9 of 9.
    ("N-C9", "a", "fails"): _set_ckpt("acc", {0: 0.95, 3: 0.96}),
    ("N-C9", "a", "inconclusive"): _set_ckpt("acc", {0: 0.89, 3: 0.895, 6: 0.89}),
    ("N-C9", "b", "fails"): _set_ckpt("acc", {3: 0.61, 6: 0.70}),
    ("N-C9", "b", "inconclusive"): _set_ckpt("acc", {3: 0.70, 6: 0.80}),
    ("N-C9", "c", "fails"): _set_ckpt("train", {0: 0.95}),
    ("N-C9", "c", "inconclusive"): _set_ckpt("train", {0: 0.895}),
}


@pytest.mark.parametrize("claim, part, outcome", sorted(CASES), ids=lambda x: str(x))
def test_each_part_fails_or_is_inconclusive(tmp_path, claim, part, outcome):
    world = World()
    CASES[(claim, part, outcome)](world)
    parts, claim_outcome = judge(world, tmp_path, claim)
    assert parts[part].outcome == outcome, parts[part].line()
    assert claim_outcome == outcome, [p.line() for p in parts.values()]


PAPER_CASES = {
    ("N-C1", "b", "fails"): _set_lc("RI-T", "chexpert", best=[0.80, 0.81]),
    ("N-C1", "b", "inconclusive"): _set_lc("RI-T", "chexpert", best=[0.70, 0.86]),
    ("N-C10", "a", "fails"): _set_lc("P-T", "chexpert", final=[0.785, 0.785]),  # 0.0005 vs 0.055, resolved
    ("N-C10", "a", "inconclusive"): _set_lc("P-T", "chexpert", final=[0.785, 0.686]),
    ("N-C10", "b", "fails"): _set_lc("P-T", "chexpert", best_epoch=[100, 120]),
    ("N-C10", "b", "inconclusive"): _set_lc("P-T", "chexpert", best_epoch=[4, 60]),
    ("N-C10", "c", "fails"): lambda w: w.max_rise.update(chexpert=0.02),
    ("N-C10", "c", "inconclusive"): lambda w: w.max_rise.update(chexpert=math.nan),
}


@pytest.mark.parametrize("claim, part, outcome", sorted(PAPER_CASES), ids=lambda x: str(x))
def test_each_chexpert_part_fails_or_is_inconclusive_at_paper_scale(tmp_path, claim, part, outcome):
    world = paper_world()
    PAPER_CASES[(claim, part, outcome)](world)
    parts, claim_outcome = judge(world, tmp_path, claim)
    assert parts[part].outcome == outcome, parts[part].line()
    assert claim_outcome == outcome, [p.line() for p in parts.values()]


def test_the_basin_part_cannot_fail_only_fall_short(tmp_path):
    """N-C7 (e) holds on a closed basin with a finite delta; a range or grid too short is inconclusive, never a
    failure (the estimate's segment contains both solutions by construction)."""
    world = World()
    world.basin["digits"].update(delta=math.nan)
    parts, outcome = judge(world, tmp_path, "N-C7")
    assert parts["e"].outcome == "inconclusive" and "no delta" in parts["e"].detectable
    assert outcome == "inconclusive"


def test_missing_predictions_make_the_kappa_part_inconclusive(tmp_path):
    world = World()
    world.mistakes["digits"]["RI-T & RI-T"] = (None, None)
    parts, outcome = judge(world, tmp_path, "N-C4")
    assert parts["a"].outcome == "inconclusive" and "predictions.npz" in parts["a"].evidence
    assert outcome == "inconclusive"


def test_kappa_gap_is_the_difference_of_cohen_kappas_with_a_bootstrap_se():
    y = np.zeros(400, dtype=np.int64)
    pt = (y, _errors(400, AGREEING[0]), _errors(400, AGREEING[1]))
    rit = (y, _errors(400, INDEPENDENT[0]), _errors(400, INDEPENDENT[1]))
    d, se, k_pt, k_rit = rules.kappa_gap(pt, rit)
    assert k_rit == pytest.approx(0.375)
    assert k_pt == pytest.approx(cohen_kappa(pt[1] != y, pt[2] != y))
    assert d == pytest.approx(k_pt - k_rit) and 0.01 < se < 0.1
    rows = rules._kappas(np.stack([pt[1] != y, rit[1] != y]), np.stack([pt[2] != y, rit[2] != y]))
    assert rows == pytest.approx([k_pt, k_rit])
    assert rules.kappa_gap(pt, rit) == rules.kappa_gap(pt, rit)  # a fixed seed: the same se every time


def test_saturated_cka_stages_do_not_enter_the_mini_verdict(tmp_path):
    """At mini, orderings at conv1-layer2 are ties by construction: reversing them changes nothing."""
    world = World()
    for t in world.targets:
        world.cka[(t, "RI-T & RI-T")][:3] = [1.0, 1.0, 1.0]
        world.cka[(t, "P-T & P")][:3] = [0.5, 0.6, 0.7]
    parts, outcome = judge(world, tmp_path, "N-C5")
    assert outcome == "holds" and "conv1" not in parts["b"].evidence


def test_distance_parts_use_raw_l2_not_per_parameter_change(tmp_path):
    """N-C6 (c) reads the raw l2 per stage, as the paper reports it; an rms column has no say."""
    world = World()
    for t in world.targets:
        world.dist[(t, "P-T & P")].update(rms_conv1=0.1, rms_layer4=0.001)
    parts, _ = judge(world, tmp_path, "N-C6")
    assert parts["c"].outcome == "holds"


def test_rewinding_reads_the_modules_a_narrower_network_has(tmp_path):
    """A narrower layout lacks modules (the smoke scale's one block per stage has only conv1, layerN.0 and fc):
    with only the named group left, (b) has nothing to compare it with and does not apply; (a) and (c) use the
    modules there are."""
    world = World()
    for drops in world.drops.values():
        for module in REST:
            del drops[module]
    parts, outcome = judge(world, tmp_path, "N-C8")
    assert parts["b"].outcome == "not applicable" and outcome == "holds"
    assert "over the 6 modules but fc" in parts["a"].evidence


# ----------------------------------------------------------------------------- the committed comparison

def test_the_committed_comparison_is_what_the_rules_give(tmp_path, monkeypatch):
    """repro compare on a copy of results/neyshabur2020/mini writes the claim verdicts comparison.csv holds."""
    from repro.neyshabur2020 import compare as paper_compare, figures

    copy = tmp_path / "mini"
    shutil.copytree(COMMITTED, copy)
    with open(copy / "comparison.csv", newline="") as f:
        committed = {r["key"]: r["verdict"] for r in csv.DictReader(f) if r["section"] == "claim"}
    monkeypatch.setattr(figures, "all_figures", lambda *args, **kwargs: [])  # the figures are not the claims
    result = paper_compare.compare(copy, "mini")
    assert {v.claim_id: v.verdict for v in result.verdicts} == committed
    assert [c.id for c in load_claims(PAPER)] == list(committed)


def test_every_rule_is_judged_on_the_committed_runs_without_not_run():
    from repro.compare import read_paper_results
    from repro.neyshabur2020.protocol import EXPERIMENTS

    merged = read_paper_results(COMMITTED, PAPER, tuple(EXPERIMENTS), "mini")
    measured = Measured.from_merged(merged, "mini", COMMITTED)
    verdicts = judge_claims(load_claims(PAPER), rules.RULES, measured, merged)
    assert all(v.verdict != "not run" and v.parts for v in verdicts), [(v.claim_id, v.evidence) for v in verdicts]
