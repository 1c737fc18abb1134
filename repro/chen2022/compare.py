"""``repro compare chen2022``: the overall T table, the regression, the layer-wise figure, the claim verdicts.

At paper scale a target is compared with the README row of the same
dataset (overall T, and the exact CIFAR-10 block values): each such row
holds that target's own value (the mean over its seeds), never a mean over
targets. The mini targets are built from the embedded data and have no
published counterpart: their T values are reported beside the published
table, not differenced. The regression coefficients are compared with the
README's ResNet-50 fit (2023-08-04) at every scale, since both fit ln T of a
ResNet-50-layout network on standardised (G, D, ln N); below paper scale
the measured fit is over the scale's own targets, which stand in for the
README's twelve datasets. The published keys (and so the rows' target
column) stay as published.csv has them; the notes name the stand-ins. Each
measured number is mapped to one key only (the January README's identical
T column and the figure-title T are not mapped again), and no run count is
mapped, so the count of measured quantities counts distinct measurements.
"""
from __future__ import annotations

import math
from pathlib import Path

from repro.chen2022.claims import RULES, Measured
from repro.chen2022.protocol import EXPERIMENTS, GROUPS, PAPER, SCALES, group_column
from repro.compare import (
    Comparison, QuantityKey, judge_claims, load_claims, load_published, load_run_summary, number, quantity_table,
    read_paper_results)

README_FIT = "resnet50/readme-2023-08"


def measured_quantities(m: Measured, scale: str) -> dict[QuantityKey, float]:
    out: dict[QuantityKey, float] = {}
    if m.rows.get("regression"):
        row = m.rows["regression"][0]
        for name in ("G", "D", "lnN"):
            out[("regression_coef", README_FIT, name, "")] = number(row, f"coef_{name}")
        out[("regression_coef", README_FIT, "intercept", "")] = number(row, "intercept")
    if scale == "paper":
        per_target: dict[str, list[dict[str, str]]] = {}
        for row in m.rows.get("transferability", []):
            per_target.setdefault(row["target"], []).append(row)
        for target, rows in per_target.items():  # each target's own value: the mean over its seeds
            out[("T", "readme-2023-08", "", target)] = _mean(rows, "T_overall")
            for block, group in enumerate(GROUPS, start=1):
                out[("layer_T", "resnet50/readme", str(block), target)] = _mean(rows, group_column(group))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _mean(rows: list[dict[str, str]], column: str) -> float:
    values = [number(r, column) for r in rows]
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def stand_in_note(m: Measured, scale: str) -> str | None:
    """Below paper scale: what the measured regression rows are fitted over (the stand-ins of the paper's datasets)."""
    if scale == "paper" or not m.rows.get("regression"):
        return None
    targets = list(dict.fromkeys(r["target"] for r in m.rows.get("transferability", [])))
    return (f"regression_coef rows ({README_FIT}, G / D / lnN / intercept, target column empty as in published.csv): "
            f"published = the README's ResNet-50 fit over its twelve datasets; measured = the suite's fit over the "
            f"{len(targets)} {scale} targets that stand in for them ({', '.join(targets)}), not a value of any one "
            "dataset")


def compare(results_dir: Path, scale: str, *, papers_root: Path | None = None) -> Comparison:
    """Judge the claims on the runs in ``results_dir`` (= results/chen2022/<scale>) and write the report."""
    from repro.chen2022.figures import all_figures

    results_dir = Path(results_dir)
    merged = read_paper_results(results_dir, PAPER, tuple(EXPERIMENTS), scale)
    measured = Measured.from_merged(merged)
    published = load_published(PAPER, papers_root)
    notes = [f"{e}: {merged[e].describe()}" if e in merged else f"{e}: not run" for e in EXPERIMENTS]
    if scale != "paper":
        notes.append(f"the {scale} targets have no published counterpart of their own: no T row is compared; the "
                     "regression is compared with the README's ResNet-50 fit over its twelve datasets")
        note = stand_in_note(measured, scale)
        if note:
            notes.append(note)
        notes.append("targets: " + "; ".join(f"{t.name}: {t.description}" for t in SCALES[scale].targets))
    comparison = Comparison(
        paper=PAPER, scale=scale, results_dir=results_dir,
        quantities=quantity_table(published, measured_quantities(measured, scale), merged),
        verdicts=judge_claims(load_claims(PAPER, papers_root), RULES, measured, merged),
        figures=all_figures(results_dir, published),
        run_summary=load_run_summary(results_dir), notes=notes,
    )
    comparison.write()
    return comparison
