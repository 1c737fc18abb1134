"""The atlas's figures: each measure against depth (one line per split), and the mean rank correlation of every pair."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from repro.plotting import save_figure


def depth_figure(path: Path, splits: Sequence[int], depths: Sequence[int], values: Mapping, labels: Mapping[str, str]) -> Path:
    """One panel per measure: its value at each depth n, a line per split, the mean in black."""
    measures = list(labels)
    columns = 4
    rows = -(-len(measures) // columns)
    figure = Figure(figsize=(3.3 * columns, 2.6 * rows))
    for i, measure in enumerate(measures):
        axes = figure.add_subplot(rows, columns, i + 1)
        stacked = np.array([values[s][measure] for s in splits])
        for s, line in zip(splits, stacked):
            axes.plot(depths, line, marker="o", lw=1, alpha=0.6, label=f"split {s}")
        axes.plot(depths, stacked.mean(axis=0), color="black", lw=1.8, label="mean")
        axes.set_title(labels[measure], fontsize=8.5)
        axes.set_xticks(list(depths))
        axes.tick_params(labelsize=7)
        if measure in ("neyshabur_criticality", "liu_lambda_max", "neyshabur_l2", "liu_deviation", "chen_T") \
                and np.all(stacked > 0) and np.ptp(np.log10(stacked)) > 1.5:
            axes.set_yscale("log")
        if i == 0:
            axes.legend(fontsize=7)
        if i >= len(measures) - columns:
            axes.set_xlabel("depth n (layers transferred; layer n)", fontsize=7.5)
    figure.suptitle("Every paper's measure at each depth of Yosinski's random-split networks", fontsize=10)
    return save_figure(figure, path)


def correlation_figure(path: Path, correlations: Sequence[Mapping], measures: Sequence[str],
                       labels: Mapping[str, str]) -> Path:
    """The mean over splits of Spearman's rho over the depths, for every pair of measures."""
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
    figure.colorbar(image, ax=axes, shrink=0.8, label="Spearman rho over depths (mean over splits)")
    axes.set_title("Spearman rho over depths, mean of the splits; '=' agrees, 'x' disagrees by the atlas's rule\n"
                   "(which reads each measure in its own direction: a negative rho agrees for a measure that is "
                   "small where layers transfer)", fontsize=8.5)
    return save_figure(figure, path)
