"""The atlas's figures, per family of networks: each measure against the layer's position (one line per
replicate), and the mean rank correlation of every pair."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from repro.plotting import save_figure

if TYPE_CHECKING:
    from repro.atlas.compare import Family, Series


def position_figure(path: Path, data: "Series", family: "Family") -> Path:
    """One panel per measure: its value at each position (depth n or block b), a line per replicate, the mean in
    black."""
    labels, positions = family.labels, data.positions
    measures = list(labels)
    columns = 4
    rows = -(-len(measures) // columns)
    figure = Figure(figsize=(3.3 * columns, 2.6 * rows))
    for i, measure in enumerate(measures):
        axes = figure.add_subplot(rows, columns, i + 1)
        stacked = np.array([data.values[r][measure] for r in data.replicates])
        for r, line in zip(data.replicates, stacked):
            axes.plot(positions, line, marker="o", ms=3 if len(positions) > 9 else 6, lw=1, alpha=0.6,
                      label=f"{family.replicate} {r}" if family.replicate == "split" else str(r))
        axes.plot(positions, stacked.mean(axis=0), color="black", lw=1.8, label="mean")
        axes.set_title(labels[measure], fontsize=8.5)
        if len(positions) > 9:  # many blocks: a tick each, labels at the stem and where stages 2.. start
            starts = [(p, name.removeprefix("layer")) for p, name in zip(positions, data.names)
                      if p == positions[0] or (name.endswith(".0") and name != "layer1.0")]
            axes.set_xticks(list(positions), minor=True)
            axes.set_xticks([p for p, _ in starts], [name for _, name in starts])
        else:
            axes.set_xticks(list(positions))
        axes.tick_params(labelsize=7)
        positive = stacked[stacked > 0]
        if measure in ("neyshabur_criticality", "liu_lambda_max", "neyshabur_l2", "liu_deviation", "chen_T") \
                and len(positive) and np.all(stacked >= 0) and np.ptp(np.log10(positive)) > 1.5:
            if np.all(stacked > 0):
                axes.set_yscale("log")
            else:  # a criticality of 0 (the block rewound to theta_A is accepted): linear near 0, log above
                axes.set_yscale("symlog", linthresh=float(positive.min()))
                axes.set_ylim(bottom=0.0)
        if i == 0 and len(data.replicates) < 4:
            axes.legend(fontsize=7)
        if i >= len(measures) - columns:
            axes.set_xlabel(family.position_label, fontsize=7.5)
    if len(data.replicates) >= 4:  # one legend for the figure, in the free panels
        figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="lower right", fontsize=7,
                      ncols=2, bbox_to_anchor=(0.98, 0.08))
    figure.suptitle(f"Every paper's measure at each {family.noun} of {family.networks}", fontsize=10)
    return save_figure(figure, path)


def correlation_figure(path: Path, correlations: Sequence[Mapping], family: "Family") -> Path:
    """The mean over replicates of Spearman's rho over the positions, for every pair of measures."""
    measures, labels = family.series, family.labels
    index = {m: i for i, m in enumerate(measures)}
    matrix = np.eye(len(measures))
    marks = {}
    for row in correlations:
        i, j = index[row["measure_a"]], index[row["measure_b"]]
        matrix[i, j] = matrix[j, i] = row["rho_mean"]
        marks[i, j] = marks[j, i] = {"agrees": "=", "disagrees": "x"}.get(row["verdict"], "")
    figure = Figure(figsize=(8.5, 7.2))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-1, vmax=1)
    names = [labels[m] for m in measures]
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7.5)
    axes.set_yticks(range(len(names)), names, fontsize=7.5)
    for (i, j), mark in marks.items():
        value = matrix[i, j]
        text = "n/a" if not np.isfinite(value) else f"{value:.2f}{mark}"
        axes.text(j, i, text, ha="center", va="center", fontsize=6.5)
    over = f"{family.noun}s"
    figure.colorbar(image, ax=axes, shrink=0.8, label=f"Spearman rho over {over} (mean over {family.replicate}s)")
    axes.set_title(f"{family.networks}: Spearman rho over {over}, mean of the {family.replicate}s; '=' agrees, "
                   "'x' disagrees by the atlas's rule\n"
                   "(which reads each measure in its own direction: a negative rho agrees for a measure that is "
                   "small where layers transfer)", fontsize=8.5)
    return save_figure(figure, path)
