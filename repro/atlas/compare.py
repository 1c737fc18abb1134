"""``repro compare atlas``: the measures side by side per depth, their rank correlations, and which agree.

Reads ``layers.csv`` (one row per split and depth) and writes, beside it:

* ``comparison_depths.csv`` -- per depth and measure, the value of each split,
  their mean and half-range (the spread over the splits' seeds);
* ``comparison.csv`` -- per pair of measures, Spearman's rho over the depths in
  each split, their mean and half-range, the sign under which the pair says the
  same thing, and the verdict of :mod:`repro.atlas.agreement` (the pairs with
  Yosinski's AnB first: the question of the atlas);
* ``comparison.md`` -- both tables, the rule and the figures;
* ``atlas.png`` (each measure against depth, one line per split) and
  ``correlations.png`` (the mean rho of every pair).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repro.atlas.agreement import EXPECTED, critical_rho, spearman, verdict
from repro.atlas.protocol import ACCURACIES, LAYERS, MEASURES, STUDY
from repro.compare import INPUTS_FILE, comparison_inputs, load_run_summary, table_csv
from repro.errors import ReproError
from repro.files import atomic_write_text
from repro.plotting import experiment_rows

REFERENCE = "yosinski_AnB"
SERIES = tuple(m for m in ACCURACIES if m in EXPECTED) + MEASURES
LABELS = {
    "yosinski_AnB": "Yosinski AnB - base (frozen transfer)",
    "yosinski_BnB": "Yosinski BnB - base (selffer)",
    "yosinski_AnB_plus": "Yosinski AnB+ - base (fine-tuned)",
    "chen_T": "Chen T_n",
    "neyshabur_cka": "Neyshabur CKA(theta_A, theta_FB)",
    "neyshabur_l2": "Neyshabur ‖theta_FB − theta_A‖₂",
    "neyshabur_rewound_acc": "Neyshabur acc., layer rewound to theta_A",
    "neyshabur_criticality": "Neyshabur (Chatterji) criticality",
    "liu_deviation": "Liu deviation ‖W_FB − W_A‖_F",
    "neyshabur_barrier": "Neyshabur loss barrier, AnB+ seeds",
    "liu_lambda_max": "Liu top Hessian eigenvalue, block 1..n",
}


@dataclass
class AtlasComparison:
    """What ``repro compare atlas`` reports: the text it prints and the figures it drew."""

    text: str
    figures: list[Path] = field(default_factory=list)


def series(rows: list[dict]) -> tuple[list[int], list[int], dict[int, dict[str, np.ndarray]]]:
    """Splits, depths and ``{split: {measure: values over the depths}}`` from the rows; an error unless every
    split has every depth once."""
    splits = sorted({int(r["split"]) for r in rows})
    depths = sorted({int(r["n"]) for r in rows})
    by_cell = {(int(r["split"]), int(r["n"])): r for r in rows}
    missing = [f"split {s} depth {n}" for s in splits for n in depths if (s, n) not in by_cell]
    if missing:
        raise ReproError(f"the atlas lacks {', '.join(missing)}: run `repro atlas` to finish it")
    values = {s: {m: np.array([float(by_cell[s, n][m]) for n in depths]) for m in SERIES} for s in splits}
    return splits, depths, values


def depth_table(splits: list[int], depths: list[int], values: dict) -> list[dict]:
    """Per depth and measure: each split's value, their mean and half-range."""
    table = []
    for i, n in enumerate(depths):
        for m in SERIES:
            per_split = np.array([values[s][m][i] for s in splits])
            table.append(dict(n=n, layer=LAYERS[n - 1], measure=m, **{f"split{s}": float(v) for s, v in
                                                                      zip(splits, per_split)},
                              mean=float(np.mean(per_split)), half_range=float(np.ptp(per_split) / 2)))
    return table


def correlation_table(splits: list[int], depths: list[int], values: dict) -> list[dict]:
    """Per pair of measures (the reference's pairs first): rho per split, mean, half-range, expected sign,
    rho of each with depth, and the verdict."""
    k = len(depths)
    pairs = [(REFERENCE, m) for m in SERIES if m != REFERENCE]
    pairs += [(a, b) for i, a in enumerate(SERIES) for b in SERIES[i + 1:] if REFERENCE not in (a, b)]
    table = []
    for a, b in pairs:
        rhos = np.array([spearman(values[s][a], values[s][b]) for s in splits])
        expected = EXPECTED[a] * EXPECTED[b]
        finite = rhos[np.isfinite(rhos)]
        table.append(dict(
            measure_a=a, measure_b=b, expected_sign=expected,
            **{f"rho_split{s}": float(r) for s, r in zip(splits, rhos)},
            rho_mean=float(np.mean(finite)) if len(finite) else float("nan"),
            rho_half_range=float(np.ptp(finite) / 2) if len(finite) else float("nan"),
            rho_depth_b=float(np.mean([spearman(depths, values[s][b]) for s in splits])),
            verdict=verdict(rhos, expected, k) if k >= 3 else "undefined"))
    return table


def _csv(rows: list[dict]) -> str:
    return table_csv(list(rows[0]), ({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}
                                     for r in rows))


def _num(value: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}g}"


def _threshold(c: float, k: int) -> str:
    if not np.isfinite(c):
        return f"a value no ordering of {k} depths reaches (too few depths for the 5% null: every verdict is unclear)"
    return f"{c:.3f} (the exact 5% two-sided null at {k} depths)"


def markdown(scale: str, splits: list[int], depths: list[int], table: list[dict], correlations: list[dict],
             summary: dict | None) -> str:
    """comparison.md: the rule, the verdict of each measure against Yosinski's AnB, the per-depth values."""
    k = len(depths)
    c = critical_rho(k) if k >= 3 else float("inf")
    lines = [f"# Transferability atlas, scale {scale}", "",
             f"Regenerate: `repro atlas --scale {scale}` (trains what is missing, then compares; "
             f"`repro compare {STUDY} --scale {scale}` recompares).", ""]
    if summary:
        lines += [f"Runs: `{summary.get('command', '')}`, {summary.get('seconds', 0) / 60:.1f} min "
                  f"(jobs {summary.get('jobs', '')}), finished {summary.get('finished', '')}.", ""]
    lines += ["## Do the measures agree with Yosinski's transfer accuracy?", "",
              f"Spearman's rho over the {k} depths, per split (splits {', '.join(map(str, splits))}: each its own "
              f"class split and seeds). Rule (docs/atlas.md): *agrees* when every split's rho has the expected "
              f"sign with |rho| >= {_threshold(c, k)}, *disagrees* when every "
              "split's rho has the opposite sign that strongly, *unclear* otherwise. 'rho with depth' is the "
              "measure's own trend with depth: two measures that both follow depth agree whatever else they "
              "measure.", "",
              "| measure | expected sign | " + " | ".join(f"rho split {s}" for s in splits)
              + " | mean ± half-range | rho with depth | verdict |",
              "|---|---|" + "---|" * len(splits) + "---|---|---|"]
    for row in correlations:
        if row["measure_a"] != REFERENCE:
            continue
        lines.append(f"| {LABELS[row['measure_b']]} | {'+' if row['expected_sign'] > 0 else '−'} | "
                     + " | ".join(_num(row[f'rho_split{s}'], 2) for s in splits)
                     + f" | {_num(row['rho_mean'], 2)} ± {_num(row['rho_half_range'], 2)} | "
                     f"{_num(row['rho_depth_b'], 2)} | **{row['verdict']}** |")
    lines += ["", "## Per depth (mean ± half-range over the splits)", "",
              "| n | layer | " + " | ".join(LABELS[m] for m in SERIES) + " |",
              "|---|---|" + "---|" * len(SERIES)]
    by = {(r["n"], r["measure"]): r for r in table}
    for n in depths:
        cells = [f"{_num(by[n, m]['mean'])} ± {_num(by[n, m]['half_range'], 2)}" for m in SERIES]
        lines.append(f"| {n} | {LAYERS[n - 1]} | " + " | ".join(cells) + " |")
    lines += ["", "## Every pair", "",
              "Mean rho over the splits and the verdict of the same rule for every other pair of measures "
              "(comparison.csv holds each split's rho).", "",
              "| measure | measure | mean rho | verdict |", "|---|---|---|---|"]
    for row in correlations:
        if row["measure_a"] != REFERENCE:
            lines.append(f"| {LABELS[row['measure_a']]} | {LABELS[row['measure_b']]} | {_num(row['rho_mean'], 2)} "
                         f"| {row['verdict']} |")
    lines += ["", "![measures by depth](atlas.png)", "", "![rank correlations](correlations.png)", ""]
    return "\n".join(lines)


def compare(results_dir: Path, scale: str) -> AtlasComparison:
    """Write the atlas's tables, page and figures into ``results_dir`` (= results/atlas/<scale>)."""
    from repro.atlas.figures import correlation_figure, depth_figure

    results_dir = Path(results_dir)
    rows = experiment_rows(results_dir, "layers")
    if not rows:
        raise ReproError(f"no atlas rows in {results_dir}: run `repro atlas --scale {scale}` first")
    splits, depths, values = series(rows)
    table = depth_table(splits, depths, values)
    correlations = correlation_table(splits, depths, values)
    page = markdown(scale, splits, depths, table, correlations, load_run_summary(results_dir))
    atomic_write_text(results_dir / "comparison_depths.csv", _csv(table))
    atomic_write_text(results_dir / "comparison.csv", _csv(correlations))
    atomic_write_text(results_dir / "comparison.md", page)
    figures = [depth_figure(results_dir / "atlas.png", splits, depths, values, LABELS),
               correlation_figure(results_dir / "correlations.png", correlations, SERIES, LABELS)]
    atomic_write_text(results_dir / INPUTS_FILE, json.dumps(dict(
        command=f"repro compare {STUDY} --scale {scale}", inputs=comparison_inputs(results_dir)),
        indent=2, sort_keys=True) + "\n")
    text = page.split("## Per depth")[0].rstrip()
    return AtlasComparison(text=text + f"\n\nwritten: {results_dir / 'comparison.md'}", figures=figures)
