"""The figures of Chen et al. 2022, measured beside published (published and measured never share an axis).

- :func:`layerwise` ``layerwise.png``: T per block, the README's curves (digitized ResNet-50 figure, exact
  CIFAR-10 output) and the measured targets'
- :func:`overall` ``overall.png``: overall T per target against its data amount N, published and measured
- :func:`regression` ``regression.png``: the fitted coefficients of ln T, README versions and measured

Each returns the PNG path, or None (removing a stale PNG) when its experiment has no rows. Nothing here
imports Keras or TensorFlow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from repro.chen2022.protocol import GROUPS, group_column
from repro.compare import PublishedValue
from repro.plotting import experiment_rows, save_figure

FIT_VERSIONS = ("resnet50/readme-2023-08", "resnet50/readme-2023-01")


def _published(published: Sequence[PublishedValue], quantity: str, condition: str) -> dict[str, dict[str, float]]:
    """target -> {n: value} of one quantity and condition."""
    out: dict[str, dict[str, float]] = {}
    for p in published:
        if p.quantity == quantity and p.condition == condition:
            out.setdefault(p.target, {})[p.n] = p.value
    return out


def layerwise(scale_dir: Path, published: Sequence[PublishedValue]) -> Path | None:
    path = scale_dir / "layerwise.png"
    rows = experiment_rows(scale_dir, "transferability")
    if not rows:
        path.unlink(missing_ok=True)
        return None
    figure = Figure(figsize=(13, 4.5))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    colours = iter(np.linspace(0, 1, 12))
    for target, curve in sorted(_published(published, "layer_T", "resnet50/figure").items()):
        blocks = sorted(curve, key=int)
        left.plot([int(b) for b in blocks], [curve[b] for b in blocks], color=_cmap(next(colours, 0.5)), lw=1,
                  label=target)
    exact = _published(published, "layer_T", "resnet50/readme").get("cifar10", {})
    if exact:
        blocks = sorted(exact, key=int)
        left.plot([int(b) for b in blocks], [exact[b] for b in blocks], "k--", lw=1.5, label="cifar10 (exact)")
    left.set(yscale="log", xlabel="block (1 = stem, 2-17 bottlenecks, 18 = classifier)", ylabel="T",
             title="published: ResNet-50, ImageNet -> 12 datasets (figure digitized)")
    left.legend(fontsize=6, ncol=2)
    measured_colours = iter(np.linspace(0, 1, len(rows)))
    for row in rows:
        values = [(i, float(row[group_column(g)])) for i, g in enumerate(GROUPS, start=1) if row.get(group_column(g))]
        right.plot(*zip(*values), marker=".", lw=1, color=_cmap(next(measured_colours)), label=row["target"])
    right.set(yscale="log", xlabel="block", ylabel="T", title=f"measured ({rows[0]['scale']})")
    right.legend(fontsize=6, ncol=2)
    figure.suptitle("Layer-wise transferability T_l = D_l(theta_r, theta_FB) / D_l(theta_A, theta_FB)")
    return save_figure(figure, path)


def _cmap(value: float):
    from matplotlib import colormaps

    return colormaps["viridis"](value)


def overall(scale_dir: Path, published: Sequence[PublishedValue]) -> Path | None:
    path = scale_dir / "overall.png"
    rows = experiment_rows(scale_dir, "transferability")
    if not rows:
        path.unlink(missing_ok=True)
        return None
    figure = Figure(figsize=(12, 4.2))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    t = _published(published, "T", "readme-2023-08")
    n = _published(published, "data_amount_N", "readme-2023-08")
    for target in sorted(t):
        if target in n:
            left.scatter(n[target][""], t[target][""], color="#1f3b8c")
            left.annotate(target, (n[target][""], t[target][""]), fontsize=7)
    left.set(xscale="log", yscale="log", xlabel="data amount N", ylabel="overall T", title="published (README 2023-08)")
    for row in rows:
        x, y = float(row["n_train"]), float(row["T_overall"])
        right.scatter(x, y, color="#a61c1c")
        right.annotate(row["target"], (x, y), fontsize=7)
    right.set(xscale="log", yscale="log", xlabel="training images N", ylabel="overall T",
              title=f"measured ({rows[0]['scale']})")
    figure.suptitle("Overall transferability (mean of blocks 1-17) against the target's data amount")
    return save_figure(figure, path)


def regression(scale_dir: Path, published: Sequence[PublishedValue]) -> Path | None:
    path = scale_dir / "regression.png"
    rows = experiment_rows(scale_dir, "regression")
    if not rows:
        path.unlink(missing_ok=True)
        return None
    figure = Figure(figsize=(11, 4))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    names = ("G", "D", "lnN")
    width = 0.35
    for index, version in enumerate(FIT_VERSIONS):
        coef = _published(published, "regression_coef", version).get("", {})  # n = the regressor
        values = [coef.get(name, coef.get("W", np.nan) if name == "D" else np.nan) for name in names]
        left.bar(np.arange(3) + (index - 0.5) * width, values, width, label=version.split("/")[1])
    left.axhline(0, color="black", lw=0.5)
    left.set_xticks(range(3), ["G", "D (W in 2023-01)", "ln N"])
    left.set(title="published: ResNet-50 fits of ln T", ylabel="standardised coefficient")
    left.legend(fontsize=8)
    row = rows[0]
    errors = [2 * float(row[f"se_{k}"]) if row.get(f"se_{k}") else np.nan for k in names]
    right.bar(range(3), [float(row[f"coef_{k}"]) for k in names], yerr=errors, capsize=6, color="#a61c1c")
    right.axhline(0, color="black", lw=0.5)
    right.set_xticks(range(3), ["G", "D", "ln N"])
    right.set(title=f"measured ({row['scale']}): R^2 = {float(row['r2']):.2f} over {row['n_targets']} targets",
              ylabel="standardised coefficient, ± 2 OLS se")
    right.set_xlabel("the claims use jackknife se, about twice as wide", fontsize=8)
    figure.suptitle("ln T = b0 + bG z(G) + bD z(D) + bN z(ln N)")
    return save_figure(figure, path)


FIGURES = (layerwise, overall, regression)


def all_figures(scale_dir: Path, published: Sequence[PublishedValue]) -> list[Path]:
    """Draw every figure whose experiment has results; return the PNGs written."""
    return [path for draw in FIGURES if (path := draw(Path(scale_dir), published)) is not None]
