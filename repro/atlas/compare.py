"""``repro compare atlas``: the measures side by side per layer, their rank correlations, and which agree.

For each family of networks (:data:`FAMILIES`) whose rows are there: Yosinski's
CaffeNets (``layers.csv``, one row per split and depth n; the outputs below)
and Chen's ResNets (``resnet_blocks.csv``, one row per target and block b;
the same outputs named ``comparison_blocks.csv``,
``comparison_blocks_pairs.csv``, ``atlas_blocks.png`` and
``correlations_blocks.png``, with Chen's T as the reference and the targets as
replicates). Written beside the rows:

* ``comparison_depths.csv`` -- per depth and measure, the value of each split,
  their mean and half-range (the spread over the splits' seeds);
* ``comparison.csv`` -- per pair of measures, Spearman's rho over the depths in
  each split, their mean and half-range, the sign under which the pair says the
  same thing, and the verdict of :mod:`repro.atlas.agreement` (the pairs with
  Yosinski's AnB first: the question of the atlas);
* ``comparison.md`` -- the tables of every family, the rule and the figures;
* ``atlas.png`` (each measure against depth, one line per split) and
  ``correlations.png`` (the mean rho of every pair).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repro.atlas.agreement import EXPECTED, critical_rho, spearman, verdict
from repro.atlas.protocol import ACCURACIES, ARM_EXPERIMENT, BLOCK_MEASURES, MEASURES, MODULE_MEASURES, STUDY
from repro.compare import INPUTS_FILE, comparison_inputs, load_run_summary, table_csv
from repro.errors import ReproError
from repro.files import atomic_write_text
from repro.plotting import experiment_rows

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
BLOCK_LABELS = {**{m: LABELS[m] for m in BLOCK_MEASURES}, "chen_T": "Chen T_b (the paper's row)",
                "neyshabur_rewound_acc": "Neyshabur acc., block rewound to theta_A"}
MODULE_LABELS = {"neyshabur_rewound_acc": "Neyshabur acc., module rewound to theta_0 (Fig. 5)",
                 "chen_T": "Chen T_m (theta_A = P)", "neyshabur_cka": "Neyshabur CKA(theta_0, theta_F)",
                 "neyshabur_l2": "Neyshabur ‖theta_F − theta_0‖₂", "neyshabur_criticality": LABELS["neyshabur_criticality"],
                 "liu_deviation": "Liu deviation ‖W_F − W_0‖_F"}


@dataclass(frozen=True)
class Family:
    """One family of networks in the atlas: its experiment, what a replicate and a layer position are, its
    measures (the reference first) and its output files."""

    experiment: str
    networks: str  # for titles
    replicate: str  # the axis whose values are replicates: "split", "target"
    prefix: str  # a replicate's column: prefix + value ("split0"; a target's own name)
    position: str  # the axis of layer positions: "n", "b"
    name: str  # the axis naming the layer at a position: "layer", "block"
    position_label: str
    noun: str  # what a position is: "depth", "block"
    rho_per_replicate: bool  # the verdict table gives each replicate's rho (else their range: the CSV has each)
    replicates_are: str  # what the replicates are, after their list
    trend: str  # what 'rho with depth' is the trend with
    question: str  # the heading of its section
    labels: dict  # measure -> label, in table order; the first is the reference
    positions_csv: str
    pairs_csv: str
    figure: str
    correlations_figure: str

    @property
    def reference(self) -> str:
        return next(iter(self.labels))

    @property
    def series(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def column(self, replicate) -> str:
        return f"{self.prefix}{replicate}"


DEPTHS = Family(
    experiment="layers", networks="Yosinski's random-split networks", replicate="split", prefix="split",
    position="n", name="layer", position_label="depth n (layers transferred; layer n)", noun="depth",
    rho_per_replicate=True, replicates_are="each its own class split and seeds", trend="depth",
    question="Do the measures agree with Yosinski's transfer accuracy?",
    labels={m: LABELS[m] for m in tuple(m for m in ACCURACIES if m in EXPECTED) + MEASURES},
    positions_csv="comparison_depths.csv", pairs_csv="comparison.csv", figure="atlas.png",
    correlations_figure="correlations.png")
BLOCKS = Family(
    experiment="resnet_blocks", networks="Chen's fine-tuned ResNets", replicate="target", prefix="",
    position="b", name="block", position_label="block b: the stem, then bottleneck <stage>.<i>", noun="block",
    rho_per_replicate=False, replicates_are="one fine-tuning each from the same source",
    trend="the block's position",
    question="On Chen's fine-tuned ResNets: do the measures agree with Chen's T?", labels=BLOCK_LABELS,
    positions_csv="comparison_blocks.csv", pairs_csv="comparison_blocks_pairs.csv", figure="atlas_blocks.png",
    correlations_figure="correlations_blocks.png")


def module_family(arm: str) -> Family:
    """Neyshabur's networks of one arm: its runs on each target are the replicates, Figure 5's rewound accuracy
    the reference."""
    code = {"P-T": "pt", "RI-T": "rit"}[arm]
    kind = "fine-tuned from P" if arm == "P-T" else "trained from a random init"
    return Family(
        experiment=ARM_EXPERIMENT[arm], networks=f"Neyshabur's {arm} networks", replicate="network", prefix="",
        position="b", name="module", position_label="module b: conv1, then bottleneck <stage>.<i>", noun="module",
        rho_per_replicate=False, replicates_are=f"the arm's runs on each target, {kind}",
        trend="the module's position",
        question=f"On Neyshabur's {arm} networks: do the measures agree with Figure 5's rewound accuracy?",
        labels={m: MODULE_LABELS[m] for m in MODULE_MEASURES[arm]},
        positions_csv=f"comparison_{code}_modules.csv", pairs_csv=f"comparison_{code}_modules_pairs.csv",
        figure=f"atlas_{code}_modules.png", correlations_figure=f"correlations_{code}_modules.png")


FAMILIES = (DEPTHS, BLOCKS, module_family("P-T"), module_family("RI-T"))
REFERENCE = DEPTHS.reference
SERIES = DEPTHS.series


@dataclass(frozen=True)
class Series:
    """One family's values: replicates, layer positions with their names, ``values[replicate][measure]``."""

    replicates: list
    positions: list[int]
    names: list[str]
    values: dict


@dataclass
class AtlasComparison:
    """What ``repro compare atlas`` reports: the text it prints and the figures it drew."""

    text: str
    figures: list[Path] = field(default_factory=list)


def series(rows: list[dict], family: Family = DEPTHS) -> Series:
    """The family's replicates, positions and ``{replicate: {measure: values over the positions}}`` from its rows;
    an error unless every replicate has every position once."""
    def replicate_of(row):
        return int(row[family.replicate]) if family.replicate == "split" else row[family.replicate]

    replicates = sorted({replicate_of(r) for r in rows})
    positions = sorted({int(r[family.position]) for r in rows})
    by_cell = {(replicate_of(r), int(r[family.position])): r for r in rows}
    missing = [f"{family.replicate} {r} {family.name} {p}" for r in replicates for p in positions
               if (r, p) not in by_cell]
    if missing:
        raise ReproError(f"the atlas lacks {', '.join(missing)}: run `repro atlas` to finish it")
    names = [by_cell[replicates[0], p][family.name] for p in positions]
    values = {r: {m: np.array([float(by_cell[r, p][m]) for p in positions]) for m in family.series}
              for r in replicates}
    return Series(replicates, positions, names, values)


def position_table(data: Series, family: Family = DEPTHS) -> list[dict]:
    """Per position and measure: each replicate's value, their mean and half-range."""
    table = []
    for i, (position, name) in enumerate(zip(data.positions, data.names)):
        for m in family.series:
            per_replicate = np.array([data.values[r][m][i] for r in data.replicates])
            table.append({family.position: position, family.name: name, "measure": m,
                          **{family.column(r): float(v) for r, v in zip(data.replicates, per_replicate)},
                          "mean": float(np.mean(per_replicate)), "half_range": float(np.ptp(per_replicate) / 2)})
    return table


def correlation_table(data: Series, family: Family = DEPTHS) -> list[dict]:
    """Per pair of measures (the reference's pairs first): rho per replicate, mean, half-range, expected sign,
    rho of each with the position, and the verdict."""
    k = len(data.positions)
    reference, measures = family.reference, family.series
    pairs = [(reference, m) for m in measures if m != reference]
    pairs += [(a, b) for i, a in enumerate(measures) for b in measures[i + 1:] if reference not in (a, b)]
    table = []
    for a, b in pairs:
        rhos = np.array([spearman(data.values[r][a], data.values[r][b]) for r in data.replicates])
        expected = EXPECTED[a] * EXPECTED[b]
        finite = rhos[np.isfinite(rhos)]
        table.append(dict(
            measure_a=a, measure_b=b, expected_sign=expected,
            **{f"rho_{family.column(r)}": float(rho) for r, rho in zip(data.replicates, rhos)},
            rho_mean=float(np.mean(finite)) if len(finite) else float("nan"),
            rho_half_range=float(np.ptp(finite) / 2) if len(finite) else float("nan"),
            rho_depth_b=float(np.mean([spearman(data.positions, data.values[r][b]) for r in data.replicates])),
            verdict=verdict(rhos, expected, k) if k >= 3 else "undefined"))
    return table


def _csv(rows: list[dict]) -> str:
    return table_csv(list(rows[0]), ({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}
                                     for r in rows))


def _num(value: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}g}"


def _threshold(c: float, k: int, family: Family) -> str:
    where = "depths" if family.noun == "depth" else "positions"
    if not np.isfinite(c):
        return (f"a value no ordering of {k} {where} reaches (too few {where} for the 5% null: every verdict is "
                "unclear)")
    return f"{c:.3f} (the exact 5% two-sided null at {k} {where})"


def family_section(family: Family, data: Series, table: list[dict], correlations: list[dict]) -> list[str]:
    """One family's part of comparison.md: each measure against the reference, the per-position values, every
    pair."""
    k, replicates, labels = len(data.positions), data.replicates, family.labels
    c = critical_rho(k) if k >= 3 else float("inf")
    over = (f"Spearman's rho over the {k} {family.noun}s, per {family.replicate} ({family.replicate}s "
            f"{', '.join(map(str, replicates))}: {family.replicates_are})")
    trend = f"'rho with depth' is the measure's own trend with {family.trend}"
    lines = [f"## {family.question}", "",
             f"{over}. Rule (docs/atlas.md): *agrees* when every {family.replicate}'s rho has the expected "
             f"sign with |rho| >= {_threshold(c, k, family)}, *disagrees* when every "
             f"{family.replicate}'s rho has the opposite sign that strongly, *unclear* otherwise. {trend}: two "
             "measures that both follow depth agree whatever else they measure.", ""]
    columns = [f"rho_{family.column(r)}" for r in replicates]

    def spread(row: dict) -> str:
        if family.rho_per_replicate:
            return " | ".join(_num(row[col], 2) for col in columns)
        finite = [row[col] for col in columns if np.isfinite(row[col])]  # the range: the CSV has every target
        return f"{_num(min(finite), 2)} to {_num(max(finite), 2)}" if finite else "n/a"

    header = (" | ".join(f"rho {family.replicate} {r}" for r in replicates) if family.rho_per_replicate
              else f"rho over {family.replicate}s, min to max")
    lines += [f"| measure | expected sign | {header} | mean ± half-range | rho with depth | verdict |",
              "|---|---|" + "---|" * len(header.split(" | ")) + "---|---|---|"]
    for row in correlations:
        if row["measure_a"] != family.reference:
            continue
        lines.append(f"| {labels[row['measure_b']]} | {'+' if row['expected_sign'] > 0 else '−'} | {spread(row)}"
                     f" | {_num(row['rho_mean'], 2)} ± {_num(row['rho_half_range'], 2)} | "
                     f"{_num(row['rho_depth_b'], 2)} | **{row['verdict']}** |")
    noun = family.noun
    lines += ["", f"### Per {noun} (mean ± half-range over the {family.replicate}s)", "",
              f"| {family.position} | {family.name} | " + " | ".join(labels.values()) + " |",
              "|---|---|" + "---|" * len(labels)]
    by = {(r[family.position], r["measure"]): r for r in table}
    for position, name in zip(data.positions, data.names):
        cells = [f"{_num(by[position, m]['mean'])} ± {_num(by[position, m]['half_range'], 2)}" for m in labels]
        lines.append(f"| {position} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "### Every pair", "",
              f"Mean rho over the {family.replicate}s and the verdict of the same rule for every other pair of "
              f"measures ({family.pairs_csv} holds each {family.replicate}'s rho).", "",
              "| measure | measure | mean rho | verdict |", "|---|---|---|---|"]
    for row in correlations:
        if row["measure_a"] != family.reference:
            lines.append(f"| {labels[row['measure_a']]} | {labels[row['measure_b']]} | {_num(row['rho_mean'], 2)} "
                         f"| {row['verdict']} |")
    lines += ["", f"![measures by {noun}]({family.figure})", "",
              f"![rank correlations]({family.correlations_figure})", ""]
    return lines


def markdown(scale: str, sections: list[list[str]], summary: dict | None) -> str:
    """comparison.md: how it was made, then one section per family of networks."""
    lines = [f"# Transferability atlas, scale {scale}", "",
             f"Regenerate: `repro atlas --scale {scale}` (trains what is missing, then compares; "
             f"`repro compare {STUDY} --scale {scale}` recompares).", ""]
    if summary:
        lines += [f"Runs: `{summary.get('command', '')}`, {summary.get('seconds', 0) / 60:.1f} min "
                  f"(jobs {summary.get('jobs', '')}), finished {summary.get('finished', '')}.", ""]
    return "\n".join(lines + [line for section in sections for line in section])


def compare(results_dir: Path, scale: str) -> AtlasComparison:
    """Write the atlas's tables, page and figures into ``results_dir`` (= results/atlas/<scale>): one set per
    family of networks whose rows are there."""
    from repro.atlas.figures import correlation_figure, position_figure

    results_dir = Path(results_dir)
    sections, figures, texts = [], [], []
    for family in FAMILIES:
        rows = experiment_rows(results_dir, family.experiment)
        if not rows:
            continue
        data = series(rows, family)
        table = position_table(data, family)
        correlations = correlation_table(data, family)
        section = family_section(family, data, table, correlations)
        atomic_write_text(results_dir / family.positions_csv, _csv(table))
        atomic_write_text(results_dir / family.pairs_csv, _csv(correlations))
        figures += [position_figure(results_dir / family.figure, data, family),
                    correlation_figure(results_dir / family.correlations_figure, correlations, family)]
        sections.append(section)
        texts.append("\n".join(section[:next(i for i, line in enumerate(section) if line.startswith("### Per"))]))
    if not sections:
        raise ReproError(f"no atlas rows in {results_dir}: run `repro atlas --scale {scale}` first")
    page = markdown(scale, sections, load_run_summary(results_dir))
    atomic_write_text(results_dir / "comparison.md", page)
    atomic_write_text(results_dir / INPUTS_FILE, json.dumps(dict(
        command=f"repro compare {STUDY} --scale {scale}", inputs=comparison_inputs(results_dir)),
        indent=2, sort_keys=True) + "\n")
    head = page.split("## ")[0]
    return AtlasComparison(text=head + "\n".join(texts).rstrip() + f"\n\nwritten: {results_dir / 'comparison.md'}",
                           figures=figures)
