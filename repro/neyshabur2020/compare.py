"""``repro compare neyshabur2020``: published tables and figures against the measured runs.

Each published number (papers/neyshabur2020/published.csv) is paired with
the measurement of the target that stands in for its domain at this scale
(:attr:`repro.neyshabur2020.protocol.Target.stands_for`; the CheXpert-only
tables are compared with the scale's CheXpert stand-in). Block sizes are
matched by their share of the image side (mini 32 px vs paper 224 px:
2, 4, 8, 16, 32 <-> 14, 28, 56, 112, 224), with block 1 and '*' matched
as themselves; pre-training checkpoints by their share of pre-training
(mini 1, 3, 6, 9 of 9 <-> paper 10, 30, 60, 90 of 90). Published AUC values
(CheXpert) have no accuracy analogue and are listed, not differenced.
"""
from __future__ import annotations

import math
from pathlib import Path

from repro.compare import (
    Comparison, NotMeasured, QuantityKey, judge_claims, load_claims, load_published, load_run_summary,
    quantity_table, read_paper_results)
from repro.neyshabur2020.claims import RULES
from repro.compare import number
from repro.neyshabur2020.measured import Measured
from repro.neyshabur2020.protocol import EXPERIMENTS, PAPER, PIXEL_SHUFFLE, SCALES, STAGES

PAPER_DOMAINS = ("real", "clipart", "quickdraw", "chexpert")


def block_for_paper(scale_name: str, mini_block: str) -> str:
    """The paper block size (224 px image) a block of this scale is compared with."""
    scale = SCALES[scale_name]
    if scale.name == "paper" or mini_block in ("1", PIXEL_SHUFFLE):
        return mini_block
    return str(int(mini_block) * 224 // scale.image_size)


def checkpoint_for_paper(scale_name: str, epoch: int) -> str | None:
    """The paper checkpoint (of 90 epochs) at the same share of pre-training, if it is on the paper's grid."""
    scale = SCALES[scale_name]
    paper_epoch = epoch * 90 // scale.source.epochs
    if epoch * 90 % scale.source.epochs or paper_epoch not in SCALES["paper"].source_checkpoints:
        return None
    return str(paper_epoch)


def _safe(fn):
    try:
        return fn()
    except NotMeasured:
        return None


def measured_quantities(m: Measured) -> dict[QuantityKey, float]:
    """Measured values under the published keys (accuracies in %)."""
    out: dict[QuantityKey, float] = {}

    def put(key: QuantityKey, value) -> None:
        if value is not None and math.isfinite(value):
            out[key] = float(value)

    for domain in PAPER_DOMAINS:
        t = m.target_for(domain)
        if t is None:
            continue
        for arm in ("P-T", "RI-T"):
            for lr in (0.1, 0.02):
                put(("final_test_acc", f"{arm} lr{lr:g}", "", domain),
                    _safe(lambda: 100 * m.learning_values(arm, t.name, "test_acc_final", lr).mean()))
        for block in m.scale.block_sizes:
            paper_block = block_for_paper(m.scale.name, block)
            values = {arm: _safe(lambda: m.shuffle_value(arm, t.name, block, "test_acc_final")) for arm in ("P-T", "RI-T")}
            speeds = {arm: _safe(lambda: m.shuffle_value(arm, t.name, block, "train_acc_mean")) for arm in ("P-T", "RI-T")}
            for arm in ("P-T", "RI-T"):
                put(("shuffle_test_acc", arm, paper_block, domain), None if values[arm] is None else 100 * values[arm])
                put(("shuffle_train_acc_mean", arm, paper_block, domain),
                    None if speeds[arm] is None else 100 * speeds[arm])
            if None not in values.values():
                put(("shuffle_drop_pct", "", paper_block, domain),
                    100 * (values["P-T"] - values["RI-T"]) / values["P-T"])
        for pair in ("P-T & P", "P-T & P-T", "P-T & RI-T", "RI-T & RI-T"):
            row = _safe(lambda: m.pair_row("cka", t.name, pair))
            for stage in STAGES:
                put(("cka", pair, stage, domain), None if row is None else number(row, f"cka_{stage}"))
        for pair in ("2 P-T", "2 RI-T", "P-T & P", "RI-T & P"):
            row = _safe(lambda: m.pair_row("distances", t.name, pair))
            put(("l2_distance", pair, "", domain), None if row is None else number(row, "l2"))
        basin = _safe(lambda: m.pair_row("basin", t.name, "2 P-T"))
        if basin is not None:
            put(("basin_epsilon", "2 P-T", "", domain), number(basin, "epsilon"))
            put(("basin_delta", "2 P-T", "", domain), number(basin, "delta"))
        for pair in ("P-T & P-T", "RI-T & RI-T", "RI-T & P-T", "RI-T & RI-T same init"):
            row = _safe(lambda: m.pair_row("interpolation", t.name, pair))
            if row is not None:
                start, end = number(row, "acc_start"), number(row, "acc_end")
                put(("interp_end_acc", pair, "", domain), 100 * (start + end) / 2)
                put(("interp_end_acc", pair, "start", domain), 100 * start)
                put(("interp_end_acc", pair, "end", domain), 100 * end)
                put(("interp_min_acc", pair, "", domain), 100 * number(row, "acc_min"))
                put(("interp_mid_acc", pair, "", domain), 100 * number(row, "acc_mid"))
        for epoch in m.scale.source_checkpoints:
            paper_epoch = checkpoint_for_paper(m.scale.name, epoch)
            if paper_epoch is None:
                continue
            put(("ckpt_test_acc", "", paper_epoch, domain),
                _safe(lambda: 100 * m.checkpoint_value(t.name, epoch, "test_acc_final")))
            put(("ckpt_train_acc_mean", "", paper_epoch, domain),
                _safe(lambda: 100 * m.checkpoint_value(t.name, epoch, "train_acc_mean")))
    return out


def compare(results_dir: Path, scale: str, *, papers_root: Path | None = None) -> Comparison:
    """Compare the runs in ``results_dir`` (= results/neyshabur2020/<scale>) with the paper; write the report."""
    from repro.neyshabur2020.figures import all_figures

    results_dir = Path(results_dir)
    merged = read_paper_results(results_dir, PAPER, tuple(EXPERIMENTS), scale)
    measured = Measured.from_merged(merged, scale, results_dir)
    published = load_published(PAPER, papers_root)
    notes = [f"{e}: {merged[e].describe()}" if e in merged else f"{e}: not run" for e in EXPERIMENTS]
    if scale != "paper":
        notes.append("targets stand in for the paper's domains: " + ", ".join(
            f"{t.name} -> {t.stands_for}" for t in measured.targets)
            + f"; the CheXpert tables are compared with {SCALES[scale].chexpert_stand_in}")
        notes.append("block sizes are matched by their share of the image side (" + ", ".join(
            f"{b} -> {block_for_paper(scale, b)}" for b in SCALES[scale].block_sizes) + ")")
    chosen = []
    for t in measured.targets:
        for arm in ("P-T", "RI-T"):
            lr = _safe(lambda: measured.chosen_lr(arm, t.name))
            if lr is not None:
                chosen.append(f"{arm} {t.name} {lr:g}")
    if chosen:
        notes.append("learning rate chosen by keras-tuner (mean final test accuracy): " + ", ".join(chosen))
    comparison = Comparison(
        paper=PAPER, scale=scale, results_dir=results_dir,
        quantities=quantity_table(published, measured_quantities(measured), merged),
        verdicts=judge_claims(load_claims(PAPER, papers_root), RULES, measured, merged),
        figures=all_figures(results_dir, published, measured.targets),
        run_summary=load_run_summary(results_dir), notes=notes,
    )
    comparison.write()
    return comparison
