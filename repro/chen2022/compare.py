"""``repro compare chen2022``: the overall T table, the regression, the layer-wise figure, the claim verdicts.

At paper scale a target is compared with the README row of the same
dataset (overall T, and the exact CIFAR-10 block values). The mini targets
are built from the embedded data and have no published counterpart: their
T values are reported beside the published table, not differenced. The
regression coefficients are compared with the README's ResNet-50 fit
(2023-08-04) at every scale, since both fit ln T of a ResNet-50-layout
network on standardised (G, D, ln N); at mini the targets, and hence the
fit, are the suite's.
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
        for row in m.rows.get("transferability", []):
            out[("T", "readme-2023-08", "", row["target"])] = number(row, "T_overall")
            for block, group in enumerate(GROUPS, start=1):
                out[("layer_T", "resnet50/readme", str(block), row["target"])] = number(row, group_column(group))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def compare(results_dir: Path, scale: str, *, papers_root: Path | None = None) -> Comparison:
    """Judge the claims on the runs in ``results_dir`` (= results/chen2022/<scale>) and write the report."""
    from repro.chen2022.figures import all_figures

    results_dir = Path(results_dir)
    merged = read_paper_results(results_dir, PAPER, tuple(EXPERIMENTS), scale)
    measured = Measured.from_merged(merged)
    published = load_published(PAPER, papers_root)
    notes = [f"{e}: {merged[e].describe()}" if e in merged else f"{e}: not run" for e in EXPERIMENTS]
    if scale != "paper":
        notes.append("the mini targets have no published counterpart; the regression is compared with the README's "
                     "ResNet-50 fit over its twelve datasets")
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
