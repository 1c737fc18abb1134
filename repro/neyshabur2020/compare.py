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

Below paper scale each measured row names the stand-in it was measured on
beside the published target ("clipart (mnist)"; comparison.csv keeps the
published key in ``target`` and says it in ``evidence``). A row whose value
is the same measurement as an earlier row's (the same runs read the same way:
'*' is block 1's run with one channel, the CheXpert stand-in's distances are
quickdraw's, an interpolation end is a learning-curve run) is marked with
that row's key and not counted again (:func:`label_rows`).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from repro.compare import (
    Comparison, NotMeasured, QuantityKey, QuantityRow, judge_claims, load_claims, load_published, load_run_summary,
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


Source = tuple
"""What a measured value is computed from (runs, checkpoints, column, evaluation set): two published keys with the
same source show one measurement."""


def _run_id(row: dict[str, str]) -> str:
    """A training run's identity: the run whose result it reused (same training), else its own key."""
    return row.get("reused") or row["run_key"]


def _accuracy_source(column: str, runs: list[dict[str, str]], evaluated_on: str = "test") -> Source:
    return (column, tuple(sorted(_run_id(r) for r in runs)), evaluated_on)


def _evaluated_on(m: Measured, t) -> str:
    """The analyses' test examples: the whole test set (paper scale, streamed; or at the small scales when it is
    no larger than ``analysis_examples``: then their accuracies are the training runs' own test accuracies)."""
    if m.scale.analysis_examples is None or t.classes * t.test_per_class <= m.scale.analysis_examples:
        return "test"
    return f"first {m.scale.analysis_examples} test examples"


def _ends(row: dict[str, str]) -> list[tuple[str, str]]:
    """The (run key, checkpoint) of each end of an analysis pair, from its model_a / model_b cells."""
    found = []
    for cell in (row.get("model_a", ""), row.get("model_b", "")):
        key, _, checkpoint = cell.partition(" ")
        found.append((key, checkpoint.split(" ")[0]))
    return found


def measurements(m: Measured) -> dict[QuantityKey, tuple[float, Source]]:
    """Measured values under the published keys (accuracies in %), each with its :data:`Source`, in the order the
    comparison lists them (a value met again under a later key repeats the first)."""
    out: dict[QuantityKey, tuple[float, Source]] = {}

    def put(key: QuantityKey, value, source: Source) -> None:
        if value is not None and math.isfinite(value):
            out[key] = (float(value), source)

    def rows_of(experiment: str, **match) -> list[dict[str, str]]:
        found = _safe(lambda: m.experiment(experiment)) or []
        return [r for r in found if all(r.get(k) == v for k, v in match.items())]

    for domain in PAPER_DOMAINS:
        t = m.target_for(domain)
        if t is None:
            continue
        for arm in ("P-T", "RI-T"):
            for lr in (0.1, 0.02):
                runs = _safe(lambda: m.learning_runs(arm, t.name, lr))
                if runs:
                    put(("final_test_acc", f"{arm} lr{lr:g}", "", domain),
                        100 * m.learning_values(arm, t.name, "test_acc_final", lr).mean(),
                        _accuracy_source("test_acc_final", runs))
        for block in m.scale.block_sizes:
            paper_block = block_for_paper(m.scale.name, block)
            cells = {arm: rows_of("block_shuffle", condition=arm, target=t.name, block=block)
                     for arm in ("P-T", "RI-T")}
            values = {arm: _safe(lambda: m.shuffle_value(arm, t.name, block, "test_acc_final")) for arm in cells}
            speeds = {arm: _safe(lambda: m.shuffle_value(arm, t.name, block, "train_acc_mean")) for arm in cells}
            for arm, runs in cells.items():
                if values[arm] is not None:
                    put(("shuffle_test_acc", arm, paper_block, domain), 100 * values[arm],
                        _accuracy_source("test_acc_final", runs))
                if speeds[arm] is not None:
                    put(("shuffle_train_acc_mean", arm, paper_block, domain), 100 * speeds[arm],
                        _accuracy_source("train_acc_mean", runs))
            if None not in values.values():
                drop = 100 * (values["P-T"] - values["RI-T"]) / values["P-T"]
                put(("shuffle_drop_pct", "", paper_block, domain), drop,
                    ("relative drop",) + tuple(_accuracy_source("test_acc_final", runs) for runs in cells.values()))
        for pair in ("P-T & P", "P-T & P-T", "P-T & RI-T", "RI-T & RI-T"):
            row = _safe(lambda: m.pair_row("cka", t.name, pair))
            for stage in STAGES:
                if row is not None:
                    put(("cka", pair, stage, domain), number(row, f"cka_{stage}"), ("cka", row["run_key"], stage))
        for pair in ("2 P-T", "2 RI-T", "P-T & P", "RI-T & P"):
            row = _safe(lambda: m.pair_row("distances", t.name, pair))
            if row is not None:
                put(("l2_distance", pair, "", domain), number(row, "l2"), ("l2", row["run_key"]))
        basin = _safe(lambda: m.pair_row("basin", t.name, "2 P-T"))
        if basin is not None:
            for column in ("epsilon", "delta"):
                put((f"basin_{column}", "2 P-T", "", domain), number(basin, column),
                    ("basin", basin["run_key"], column))
        for pair in ("P-T & P-T", "RI-T & RI-T", "RI-T & P-T", "RI-T & RI-T same init"):
            row = _safe(lambda: m.pair_row("interpolation", t.name, pair))
            if row is None:
                continue
            ends = _ends(row)

            def end_source(sides: list[tuple[str, str]], column: str) -> Source:
                if all(checkpoint == "final" for _, checkpoint in sides):
                    return ("test_acc_final", tuple(sorted(key for key, _ in sides)), _evaluated_on(m, t))
                return ("interpolation", row["run_key"], column)

            start, end = number(row, "acc_start"), number(row, "acc_end")
            put(("interp_end_acc", pair, "", domain), 100 * (start + end) / 2, end_source(ends, "ends"))
            put(("interp_end_acc", pair, "start", domain), 100 * start, end_source(ends[:1], "acc_start"))
            put(("interp_end_acc", pair, "end", domain), 100 * end, end_source(ends[1:], "acc_end"))
            put(("interp_min_acc", pair, "", domain), 100 * number(row, "acc_min"),
                ("interpolation", row["run_key"], "acc_min"))
            put(("interp_mid_acc", pair, "", domain), 100 * number(row, "acc_mid"),
                ("interpolation", row["run_key"], "acc_mid"))
        for epoch in m.scale.source_checkpoints:
            paper_epoch = checkpoint_for_paper(m.scale.name, epoch)
            runs = _safe(lambda: m.checkpoint_rows(t.name, epoch))
            if paper_epoch is None or not runs:
                continue
            for quantity, column in (("ckpt_test_acc", "test_acc_final"), ("ckpt_train_acc_mean", "train_acc_mean")):
                put((quantity, "", paper_epoch, domain), 100 * m.checkpoint_value(t.name, epoch, column),
                    _accuracy_source(column, runs))
    return out


def measured_quantities(m: Measured) -> dict[QuantityKey, float]:
    """Measured values under the published keys (accuracies in %)."""
    return {key: value for key, (value, _) in measurements(m).items()}


def label_rows(rows: list[QuantityRow], m: Measured,
               found: dict[QuantityKey, tuple[float, Source]]) -> list[QuantityRow]:
    """Each measured row with the stand-in it was measured on (below paper scale) and, when an earlier row shows the
    same measurement, that row's key (:attr:`repro.compare.QuantityRow.repeats`)."""
    first: dict[Source, QuantityKey] = {}
    repeats: dict[QuantityKey, QuantityKey] = {}
    published = {q.published.key for q in rows}
    for key, (_, source) in found.items():
        if key in published:
            if source in first:
                repeats[key] = first[source]
            else:
                first[source] = key
    labelled = []
    for q in rows:
        if q.status != "measured":
            labelled.append(q)
            continue
        t = m.target_for(q.published.target)
        on = t.name if t is not None and t.name != q.published.target else ""
        again = repeats.get(q.published.key)
        labelled.append(replace(q, measured_on=on, repeats=" ".join(x for x in again if x) if again else ""))
    return labelled


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
        quantities=label_rows(quantity_table(published, measured_quantities(measured), merged), measured,
                              measurements(measured)),
        verdicts=judge_claims(load_claims(PAPER, papers_root), RULES, measured, merged),
        figures=all_figures(results_dir, published, measured.targets),
        run_summary=load_run_summary(results_dir), notes=notes,
    )
    comparison.write()
    return comparison
