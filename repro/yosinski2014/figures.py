"""Figure 2 and Figure 3 of Yosinski et al. 2014, published beside measured.

- Figure 2 (random A/B splits): top row, accuracy of every network at each
  n with the baseB nets as circles at n = 0; bottom row, mean accuracy
  relative to the baseB mean for BnB, BnB+, AnB, AnB+ (one shared y axis).
- Figure 3 (dissimilar split and random features): top, natman frozen
  transfer per target (absolute); middle, random frozen first-n layers
  relative to the whole-task base net; bottom, relative accuracy of AnB on
  random splits vs natman vs random features (shared y axis framed on the
  transfer curves, so random features leave the frame as in the paper).

Left column: the published values (official logs, published.csv); the
published side shows per-n means, since published.csv keeps per-network
values only for the base nets. Right column: the measured networks. A row
is drawn only when its experiment has measured runs; a figure with no row
is not written (and a stale PNG of it is removed).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from repro.compare import PublishedValue
from repro.plotting import save_figure

if TYPE_CHECKING:
    from repro.yosinski2014.compare import Networks

FIGURE2 = "figure2.png"
FIGURE3 = "figure3.png"
STYLE = {  # condition -> (colour, marker, x offset), after the paper's palette
    "BnB": ("#1f3b8c", "o", -0.21),
    "BnB+": ("#6fa8dc", "o", -0.07),
    "AnB": ("#a61c1c", "D", 0.07),
    "AnB+": ("#f08a8a", "D", 0.21),
}
NATMAN_STYLE = {"natmanA": ("#2e7d32", "natural (natmanA)"), "natmanB": ("#8e24aa", "man-made (natmanB)")}
PUBLISHED_TITLE = "published (ImageNet, official logs)"

Published = dict[tuple[str, str, str, str], float]


def draw_figures(nets: Networks, published: Sequence[PublishedValue], out_dir: Path, scale: str,
                 metric_label: str) -> list[Path]:
    """Draw every figure whose experiments ran into ``out_dir``; return the PNGs written. ``metric_label``
    names the measured networks' accuracy (e.g. "mean of the last 3 evals") on the measured axes."""
    pub = {p.key: p.value for p in published if p.provenance == "logs"}
    written = []
    for name, draw in ((FIGURE2, _figure2), (FIGURE3, _figure3)):
        path = Path(out_dir) / name
        figure = draw(nets, pub, scale, metric_label)
        if figure is None:
            path.unlink(missing_ok=True)
            continue
        _save(figure, path)
        written.append(path)
    return written


def _figure2(nets: Networks, pub: Published, scale: str, metric_label: str) -> Figure | None:
    if "random_splits" not in nets.experiments_run:
        return None
    fig = Figure(figsize=(12, 8.5))
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [3, 2]})
    axes[1, 1].sharey(axes[1, 0])
    top_pub, top_meas, bottom_pub, bottom_meas = axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]

    bases = [v for (q, c, n, t), v in pub.items() if (q, c, n) == ("acc", "base", "0") and re.fullmatch(r"\d[AB]", t)]
    _base_circles(top_pub, bases, pub.get(("acc", "base", "0", "B")))
    for condition, (colour, marker, dx) in STYLE.items():
        xs = [n + dx for n in nets.layers if ("acc", condition, str(n), "B") in pub]
        ys = [pub[("acc", condition, str(n), "B")] for n in nets.layers if ("acc", condition, str(n), "B") in pub]
        top_pub.scatter(xs, ys, color=colour, marker=marker, s=36, edgecolor="black", linewidth=0.4,
                        label=f"{condition} (mean)")
        _relative(bottom_pub, nets.layers, [pub.get(("rel_base", condition, str(n), "B")) for n in nets.layers],
                  colour, marker, condition)
    top_pub.set_title(f"{PUBLISHED_TITLE}\nmarkers: per-n means; circles: the 8 base nets")

    base_vals = nets.values("random_splits", "base", [0])
    _base_circles(top_meas, list(base_vals), float(base_vals.mean()) if len(base_vals) else None)
    base_mean = float(base_vals.mean()) if len(base_vals) else None
    for condition, (colour, marker, dx) in STYLE.items():
        xs, ys = [], []
        for n in nets.layers:
            vals = nets.values("random_splits", condition, [n])
            xs += [n + dx] * len(vals)
            ys += list(vals)
        if xs:
            top_meas.scatter(xs, ys, color=colour, marker=marker, s=22, edgecolor="black", linewidth=0.3,
                             label=condition)
        if base_mean is not None:
            rel = [_mean_or_none(nets.values("random_splits", condition, [n])) for n in nets.layers]
            _relative(bottom_meas, nets.layers, [None if r is None else r - base_mean for r in rel],
                      colour, marker, condition)
    top_meas.set_title(f"measured ({scale})\none marker per network; circles: base nets")

    top_pub.set_ylabel("top-1 accuracy (mean of 10 best evals)")
    top_meas.set_ylabel(f"top-1 accuracy ({metric_label})"
                        + ("\ntarget-matched: - own base + baseB" if nets.paired else ""))
    for ax in (top_pub, top_meas):
        _legend(ax)
    for ax in (bottom_pub, bottom_meas):
        ax.set_ylabel("accuracy - baseB mean")
        _legend(ax, ncol=2)
    for ax in axes.flat:
        _layer_axis(ax)
    fig.suptitle("Figure 2 analogue: layer transfer between random halves of the label set (n = layers copied)")
    fig.tight_layout()
    return fig


def _figure3(nets: Networks, pub: Published, scale: str, metric_label: str) -> Figure | None:
    ran = nets.experiments_run
    rows = [r for r, exp in (("natman", "natman"), ("random", "random_features")) if exp in ran]
    if ran & {"random_splits", "natman", "random_features"}:
        rows.append("relative")
    if not rows:
        return None
    fig = Figure(figsize=(12, 3.6 * len(rows) + 0.6))
    grid = fig.subplots(len(rows), 2, squeeze=False)
    for (ax_pub, ax_meas), row in zip(grid, rows):
        if row == "natman":
            _natman_row(ax_pub, ax_meas, nets, pub)
        elif row == "random":
            ax_meas.sharey(ax_pub)
            _random_row(ax_pub, ax_meas, nets, pub)
        else:
            ax_meas.sharey(ax_pub)
            _relative_row(ax_pub, ax_meas, nets, pub)
        for ax in (ax_pub, ax_meas):
            _layer_axis(ax)
            _legend(ax)
    grid[0, 0].set_title(PUBLISHED_TITLE)
    grid[0, 1].set_title(f"measured ({scale}; {metric_label})")
    fig.suptitle("Figure 3 analogue: dissimilar tasks (natman) and random frozen features")
    fig.tight_layout()
    return fig


def _natman_row(ax_pub: Axes, ax_meas: Axes, nets: Networks, pub: Published) -> None:
    for target, (colour, label) in NATMAN_STYLE.items():
        ns = [0, *nets.layers]
        keys = [("acc", "base" if n == 0 else "AnB", str(n), target) for n in ns]
        ax_pub.plot([n for n, k in zip(ns, keys) if k in pub], [pub[k] for k in keys if k in pub],
                    color=colour, marker="o", label=f"{label} target")
        xs, ys, mx, my = [], [], [], []
        for n in ns:
            vals = nets.values("natman", "base" if n == 0 else "AnB", [n], [target], raw=True)
            xs += [n] * len(vals)
            ys += list(vals)
            if len(vals):
                mx.append(n)
                my.append(float(vals.mean()))
        ax_meas.scatter(xs, ys, color=colour, s=14, alpha=0.6)
        ax_meas.plot(mx, my, color=colour, marker="o", label=f"{target} target")
    ax_pub.set_ylabel("top-1 accuracy (frozen AnB; n=0: base)")


def _random_row(ax_pub: Axes, ax_meas: Axes, nets: Networks, pub: Published) -> None:
    colour = "#555555"
    _relative(ax_pub, nets.layers, [pub.get(("rel_base", "random_frozen", str(n), "whole")) for n in nets.layers],
              colour, "s", "random frozen first n")
    base = pub.get(("acc", "base", "0", "whole"))
    if base is not None:
        ax_pub.axhline(0.001 - base, color=colour, linestyle=":", label="chance (1/1000)")
    whole = nets.values("random_features", "base", [0])
    if len(whole):
        rel = [_mean_or_none(nets.values("random_features", "random_frozen", [n])) for n in nets.layers]
        _relative(ax_meas, nets.layers, [None if r is None else r - whole.mean() for r in rel],
                  colour, "s", "random frozen first n")
        ax_meas.axhline(nets.chance() - whole.mean(), color=colour, linestyle=":",
                        label=f"chance (1/{nets.whole_classes})")
    ax_pub.set_ylabel("accuracy - whole-task base net")


def _relative_row(ax_pub: Axes, ax_meas: Axes, nets: Networks, pub: Published) -> None:
    ran = nets.experiments_run
    curves = [  # (experiment, label, colour, published key (quantity, condition, target))
        ("random_splits", "AnB, random splits", STYLE["AnB"][0], ("rel_base", "AnB", "B")),
        ("natman", "AnB, natman (mean of both targets)", "#2e7d32", ("rel_base", "AnB", "natman")),
        ("random_features", "random frozen features", "#555555", ("rel_base", "random_frozen", "whole")),
    ]
    framing = []
    for experiment, label, colour, (q, c, t) in curves:
        if experiment not in ran:
            continue
        published = [pub.get((q, c, str(n), t)) for n in nets.layers]
        measured = _measured_relative(nets, experiment, c)
        _relative(ax_pub, nets.layers, published, colour, "o", label)
        _relative(ax_meas, nets.layers, measured, colour, "o", label)
        if experiment != "random_features":
            framing += [v for v in published + measured if v is not None]
    if framing:
        low, high = min(framing + [0.0]), max(framing + [0.0])
        pad = 0.1 * (high - low) + 0.01
        ax_pub.set_ylim(low - pad, high + pad)
    ax_pub.set_ylabel("accuracy - own base")


def _measured_relative(nets: Networks, experiment: str, condition: str) -> list[float | None]:
    """Per-n mean minus the experiment's pooled base nets (natman: both targets), None where absent."""
    base = nets.values(experiment, "base", [0])
    if not len(base):
        return [None] * len(nets.layers)
    means = [_mean_or_none(nets.values(experiment, condition, [n])) for n in nets.layers]
    return [None if m is None else m - float(base.mean()) for m in means]


def _base_circles(ax: Axes, values: list[float], mean: float | None) -> None:
    offsets = [(-1) ** i * 0.05 * (1 + i // 2) for i in range(len(values))]
    ax.scatter(offsets, values, facecolor="white", edgecolor="black", s=40, zorder=3, label="base")
    if mean is not None:
        ax.axhline(mean, color="black", linestyle="--", linewidth=0.7)


def _relative(ax: Axes, layers: Sequence[int], values: Sequence[float | None], colour: str, marker: str,
              label: str) -> None:
    points = [(0, 0.0)] + [(n, v) for n, v in zip(layers, values) if v is not None]
    if len(points) == 1:
        return
    xs, ys = zip(*points)
    ax.plot(xs, ys, color=colour, marker=marker, markersize=5, label=label)
    ax.axhline(0.0, color="black", linewidth=0.6)


def _legend(ax: Axes, ncol: int = 1) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best", ncol=ncol)


def _layer_axis(ax: Axes) -> None:
    ax.set_xlim(-0.5, 7.5)
    ax.set_xticks(range(8))
    ax.set_xlabel("layer n at which the network is chopped and retrained")
    ax.grid(alpha=0.3)


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _save(figure: Figure, path: Path) -> None:
    save_figure(figure, path, tight=False)
