"""The figures and tables of Neyshabur, Sedghi, Zhang 2020, measured beside published.

One function per paper figure, each ``(scale_dir, published, targets) ->
Path | None``: it reads the experiment's CSV (``<scale_dir>/<experiment>.csv``
and its shards, :func:`repro.compare.read_experiment`) and the per-run files
under ``<scale_dir>/runs/<run_key>/``, writes ``<scale_dir>/<name>.png`` and
returns its path; it returns None (and removes a stale PNG) when the
experiment has no rows for any of ``targets``.

- :func:`figure2_learning_curves` (Figure 2) ``figure2.png``
- :func:`figure3_block_shuffle` (Figure 3) ``figure3.png``
- :func:`figure4_interpolation` (Figures 4 and 16) ``figure4.png``
- :func:`table1_cka` (Table 1) ``table1_cka.png``
- :func:`figure5_criticality` (Figure 5) ``figure5.png``
- :func:`figure6_criticality_paths` (Figure 6) ``figure6.png``
- :func:`figure7_checkpoints` (Figure 7) ``figure7.png``
- :func:`distances_per_module` (the appendix figure of per-module distances) ``distances_per_module.png``

Conventions:

- Measured accuracies are stored as fractions and drawn in %; published
  accuracies are in % (DomainNet) or AUC (CheXpert).
- A target is compared with the published numbers of the domain it stands
  for (:attr:`repro.neyshabur2020.protocol.Target.stands_for`). The
  CheXpert-only results are titled "published: CheXpert (AUC)" ("(CKA)" for
  Table 1): Figure 4 right is drawn beside every target, Table 1 once as its
  own panel, and Figure 5 once, beside the scale's CheXpert stand-in
  (:attr:`repro.neyshabur2020.protocol.Scale.chexpert_stand_in`).
- Published and measured numbers never share an axis: they sit in separate
  panels of one figure. Epoch axes are drawn as fractions of training so the
  10-epoch mini runs line up with the paper's 100 (or 90) epochs.
- Missing runs, run directories or files leave gaps (or an empty panel with
  a note); nothing here trains or loads a model, so this module imports
  neither Keras nor TensorFlow.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from repro.compare import PublishedValue, QuantityKey, read_experiment
from repro.plotting import save_figure
from repro.neyshabur2020.protocol import (
    CKA_PAIRS, CRITICALITY_CONDITIONS, CRITICALITY_PATHS, DISTANCE_PAIRS, INTERPOLATION_PAIRS, MODULES,
    PIXEL_SHUFFLE, SCALES, STAGES, Target, nominal_lr_text)

FIGURE2 = "figure2.png"
FIGURE3 = "figure3.png"
FIGURE4 = "figure4.png"
TABLE1 = "table1_cka.png"
FIGURE5 = "figure5.png"
FIGURE6 = "figure6.png"
FIGURE7 = "figure7.png"
DISTANCES = "distances_per_module.png"

CHEXPERT = "chexpert"
CHEXPERT_TITLE = "published: CheXpert (AUC)"
CHEXPERT_CKA_TITLE = "published: CheXpert (CKA)"
PAPER_PRETRAIN_EPOCHS = 90  # ImageNet epochs of P in the paper (published.csv 'pretrain_epochs')
PAPER_PRETRAIN_MILESTONES = (30, 60)

# (arm, nominal lr) -> colour and line style, after the paper's Figure 2 legend.
LC_STYLE = {
    ("P-T", 0.02): ("#1f3b8c", "-"),
    ("P-T", 0.1): ("#6fa8dc", "-"),
    ("RI-T", 0.1): ("#a61c1c", "--"),
    ("RI-T", 0.02): ("#f08a8a", "--"),
}
ARM_COLOUR = {"P-T": "#1f3b8c", "RI-T": "#a61c1c"}
SAME_INIT_COLOUR = "#e08214"
PAIR_STYLE = {  # interpolation pair -> (colour, line style); '*' pairs (best checkpoints) dashed
    "P-T & P-T": ("#1f3b8c", "-"),
    "RI-T & RI-T": ("#a61c1c", "-"),
    "RI-T & P-T": ("#7b3294", "-"),
    "RI-T & RI-T same init": (SAME_INIT_COLOUR, "-"),
    "P-T* & P-T*": ("#1f3b8c", "--"),
    "P-T* & P-T": ("#6fa8dc", "--"),
    "RI-T* & RI-T*": ("#a61c1c", "--"),
    "RI-T* & RI-T": ("#f08a8a", "--"),
    "P-T* & RI-T*": ("#7b3294", "--"),
}
DISTANCE_COLOUR = {"2 P-T": "#1f3b8c", "2 RI-T": "#a61c1c", "P-T & P": "#6fa8dc", "RI-T & P": "#f08a8a"}
# Figure 5's three published curves (CheXpert), and the colour of each; the measured conditions are
# the protocol's (``CRITICALITY_CONDITIONS``: P-T at its chosen lr, RI-T at 0.02 and 0.1).
PUBLISHED_CRITICALITY = ("P-T lr0.02", "RI-T lr0.02", "RI-T lr0.1")
PUBLISHED_FACE = "#fdf3dc"  # Figure 5: the background of the panel of published (not measured) values
CRITICALITY_COLOUR = {"P-T": "#1f3b8c", "RI-T lr0.02": "#f08a8a", "RI-T lr0.1": "#a61c1c"}

Published = dict[QuantityKey, float]
Rows = list[dict[str, str]]


# ----------------------------------------------------------------------------- Figure 2

def figure2_learning_curves(scale_dir: Path, published: Sequence[PublishedValue],
                            targets: Sequence[Target]) -> Path | None:
    """Figure 2: test accuracy per epoch of P-T and RI-T at nominal lr 0.1 and 0.02, per target.

    Left: the measured curves (``runs/<run_key>/metrics.csv``, ``val_acc`` =
    test accuracy of the target), thin per repeat and thick for the mean of
    the repeats, x = epoch / epochs; the same-init RI-T run (Figure 16's
    partner) is dotted, and the lr keras-tuner chose per arm is in the
    title. Middle: the published end-of-training top-1 of the stand-in
    domain (epoch 100). Right, first row only: the published CheXpert
    peak and end test AUC.
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "learning_curves", targets)
    pub = _published_map(published)
    figure = None
    if data:
        figure = Figure(figsize=(16, 3.6 * len(data) + 0.8))
        grid = figure.subplots(len(data), 3, squeeze=False, gridspec_kw={"width_ratios": [3, 1.3, 1.3]})
        for i, (target, rows) in enumerate(data):
            _lc_measured(grid[i, 0], scale_dir, target, rows)
            _lc_published(grid[i, 1], pub, target)
            if i == 0:
                _lc_chexpert(grid[i, 2], pub)
            else:
                grid[i, 2].axis("off")
        figure.suptitle("Figure 2 analogue: learning curves of P-T and RI-T at nominal lr 0.1 and 0.02")
        figure.tight_layout()
    return _write(scale_dir / FIGURE2, figure)


def _lc_measured(ax: Axes, scale_dir: Path, target: Target, rows: Rows) -> None:
    for (arm, lr), (colour, style) in LC_STYLE.items():
        runs = [r for r in rows if r.get("condition") == arm and _close(_num(r.get("lr")), lr)]
        label = f"{arm} lr{nominal_lr_text(lr)}"
        curves = [c for c in (_epoch_curve(scale_dir, r) for r in runs) if c is not None]
        if len(curves) > 1:  # thin: each repeat; thick: their mean
            for xs, ys in curves:
                ax.plot(xs, ys, color=colour, linestyle=style, linewidth=0.7, alpha=0.45)
        mean = _mean_curve(curves)
        if mean is not None:
            count = f" (mean of {len(curves)})" if len(curves) > 1 else (f" (1 of {len(runs)} runs)" if len(runs) > 1
                                                                       else "")
            ax.plot(*mean, color=colour, linestyle=style, linewidth=2, label=label + count)
        elif runs:  # rows without metrics.csv: the final accuracy at the end of training
            finals = [v * 100 for v in (_num(r.get("test_acc_final")) for r in runs) if v is not None]
            if finals:
                ax.scatter([1.0] * len(finals), finals, color=colour, marker="o", label=f"{label} (final only)")
    for r in rows:
        if r.get("condition") == "RI-T same init":
            curve = _epoch_curve(scale_dir, r)
            lr = _num(r.get("lr"))
            label = f"RI-T same init{f' lr{lr:g}' if lr is not None else ''}"
            if curve is not None:
                ax.plot(*curve, color=SAME_INIT_COLOUR, linestyle=":", linewidth=1.5, label=label)
    chosen = [f"{r.get('arm')} {_num(r.get('chosen_lr')):g}" for r in rows
              if r.get("condition") == "lr_choice" and _num(r.get("chosen_lr")) is not None]
    ax.set_title(f"measured: {target.name} (stands for {target.stands_for})"
                 + (f"; chosen lr: {', '.join(chosen)}" if chosen else ""), fontsize=10)
    ax.set_xlabel("epoch / epochs (fraction of training)")
    ax.set_ylabel("test top-1 (%)")
    ax.set_xlim(0, 1.02)
    _finish_axes(ax)


def _lc_published(ax: Axes, pub: Published, target: Target) -> None:
    domain = target.stands_for
    labels, values, colours = [], [], []
    for (arm, lr), (colour, _) in LC_STYLE.items():
        value = pub.get(("final_test_acc", f"{arm} lr{nominal_lr_text(lr)}", "", domain))
        if value is not None:
            labels.append(f"{arm}\nlr{nominal_lr_text(lr)}")
            values.append(value)
            colours.append(colour)
    ax.set_title(f"published: {domain} (Fig. 2, epoch 100, %)", fontsize=10)
    if not values:
        _no_data(ax, f"no published Figure 2 value for {domain}")
        return
    bars = ax.bar(range(len(values)), values, color=colours)
    _bar_labels(ax, bars, values, "{:.1f}")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylabel("test top-1 at the end (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3, axis="y")


def _lc_chexpert(ax: Axes, pub: Published) -> None:
    conditions = PUBLISHED_CRITICALITY  # the three CheXpert runs of Figure 2: P-T 0.02, RI-T 0.02, RI-T 0.1
    x = np.arange(len(conditions))
    drawn = False
    for k, (quantity, hatch) in enumerate((("peak_test_auc", ""), ("end_test_auc", "//"))):
        values = [pub.get((quantity, c, "", CHEXPERT)) for c in conditions]
        xs = [xi + (k - 0.5) * 0.38 for xi, v in zip(x, values) if v is not None]
        vs = [v for v in values if v is not None]
        if vs:
            drawn = True
            bars = ax.bar(xs, vs, width=0.36, hatch=hatch, edgecolor="black", linewidth=0.4,
                          color=[_criticality_colour(c) for c, v in zip(conditions, values) if v is not None],
                          label=quantity.split("_")[0])
            _bar_labels(ax, bars, vs, "{:.3f}", fontsize=6)
    ax.set_title(f"{CHEXPERT_TITLE}\npeak (plain) and end (hatched) test AUC", fontsize=10)
    if not drawn:
        _no_data(ax, "no published CheXpert value")
        return
    ax.set_xticks(x, [c.replace(" ", "\n") for c in conditions], fontsize=8)
    ax.set_ylim(0.6, 0.82)
    ax.set_ylabel("test AUC")
    ax.grid(alpha=0.3, axis="y")


def _epoch_curve(scale_dir: Path, row: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(epoch / epochs, test accuracy in %) of a training run, from its ``metrics.csv``."""
    path = _run_file(scale_dir, row, "metrics.csv")
    if path is None:
        return None
    points = [(_num(r.get("epoch")), _num(r.get("val_acc"))) for r in _read_csv(path)]
    points = [(e, a) for e, a in points if e is not None and a is not None]
    if not points:
        return None
    epochs = _num(row.get("epochs")) or max(e for e, _ in points) or 1.0
    xs, ys = zip(*sorted(points))
    return np.asarray(xs) / epochs, np.asarray(ys) * 100


def _mean_curve(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean over the x values every curve has (all repeats share the epoch grid)."""
    if not curves:
        return None
    tables = [{round(float(x), 6): float(y) for x, y in zip(*curve)} for curve in curves]
    common = sorted(set.intersection(*(set(t) for t in tables)))
    if not common:
        return None
    return np.asarray(common), np.asarray([np.mean([t[x] for t in tables]) for x in common])


# ----------------------------------------------------------------------------- Figure 3

def figure3_block_shuffle(scale_dir: Path, published: Sequence[PublishedValue],
                          targets: Sequence[Target]) -> Path | None:
    """Figure 3: block-shuffled targets, P-T vs RI-T per block size (block = full image: no shuffle; '*': pixels).

    Columns are targets. Rows: measured final test accuracy (bars, mean
    over shuffle seeds) with the relative drop 100 (A_PT - A_RIT) / A_PT
    printed above each pair; measured mean training accuracy over training;
    then the same two rows published for the stand-in domain (blocks of a
    224 px image; Figure 3 right has blocks *, 1, 2, 4, 8, 224 only).
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "block_shuffle", targets)
    pub = _published_map(published)
    figure = None
    if data:
        figure = Figure(figsize=(max(7.0, 6.2 * len(data)), 14))
        grid = figure.subplots(4, len(data), squeeze=False)
        for j, (target, rows) in enumerate(data):
            values = {}
            for arm in ("P-T", "RI-T"):
                for column in ("test_acc_final", "train_acc_mean"):
                    by_block: dict[str, list[float]] = {}
                    for r in rows:
                        value = _num(r.get(column))
                        if r.get("condition") == arm and value is not None:
                            by_block.setdefault(r["block"], []).append(value * 100)
                    values[arm, column] = {b: float(np.mean(v)) for b, v in by_block.items() if b}
            measured = f"measured: {target.name} (stands for {target.stands_for})"
            _pair_bars(grid[0, j], values["P-T", "test_acc_final"], values["RI-T", "test_acc_final"], drops=True)
            grid[0, j].set_title(f"{measured}\nfinal test accuracy; labels: relative drop (%)", fontsize=9)
            _pair_bars(grid[1, j], values["P-T", "train_acc_mean"], values["RI-T", "train_acc_mean"])
            grid[1, j].set_title(f"{measured}\nmean training accuracy over training", fontsize=9)
            domain = target.stands_for
            pub_test = {arm: _published_by_n(pub, "shuffle_test_acc", arm, domain) for arm in ("P-T", "RI-T")}
            pub_train = {arm: _published_by_n(pub, "shuffle_train_acc_mean", arm, domain) for arm in ("P-T", "RI-T")}
            printed = _published_by_n(pub, "shuffle_drop_pct", "", domain)
            _pair_bars(grid[2, j], pub_test["P-T"], pub_test["RI-T"], drops=True, printed=printed)
            grid[2, j].set_title(f"published: {domain} (Fig. 3 left, blocks of 224 px)\n"
                                 "test accuracy; labels: printed relative drop (%)", fontsize=9)
            _pair_bars(grid[3, j], pub_train["P-T"], pub_train["RI-T"])
            grid[3, j].set_title(f"published: {domain} (Fig. 3 right, blocks of 224 px)\n"
                                 "mean training accuracy over 100 epochs", fontsize=9)
            grid[0, j].set_ylabel("test top-1 (%)")
            grid[2, j].set_ylabel("test top-1 (%)")
            grid[1, j].set_ylabel("mean training accuracy (%)")
            grid[3, j].set_ylabel("mean training accuracy (%)")
        figure.suptitle("Figure 3 analogue: P-T vs RI-T on block-shuffled targets\n(b x b pixel blocks permuted; "
                        "b = image size: no shuffle; '*': every pixel and channel)")
        figure.tight_layout()
    return _write(scale_dir / FIGURE3, figure)


def _block_key(block: str) -> tuple:
    if block == PIXEL_SHUFFLE:
        return (0, 0)
    return (1, int(block)) if block.isdigit() else (2, block)


def _pair_bars(ax: Axes, pt: dict[str, float], rit: dict[str, float], drops: bool = False,
               printed: dict[str, float] | None = None) -> None:
    """P-T and RI-T bars per block ('*' first, then by size), with the relative drop above each pair."""
    blocks = sorted(set(pt) | set(rit), key=_block_key)
    if not blocks:
        _no_data(ax, "no values")
        return
    x = np.arange(len(blocks))
    for arm, values, dx in (("P-T", pt, -0.2), ("RI-T", rit, 0.2)):
        xs = [xi + dx for xi, b in zip(x, blocks) if b in values]
        ax.bar(xs, [values[b] for b in blocks if b in values], width=0.4, color=ARM_COLOUR[arm], label=arm)
    if drops:
        for xi, b in zip(x, blocks):
            if printed is not None:
                drop = printed.get(b)
            elif b in pt and b in rit and pt[b] > 0:
                drop = 100 * (pt[b] - rit[b]) / pt[b]
            else:
                drop = None
            if drop is not None:
                top = max(pt.get(b, 0.0), rit.get(b, 0.0))
                ax.text(xi, top + 1.5, f"{drop:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, blocks, fontsize=8)
    ax.set_xlabel("block size (pixels)")
    ax.set_ylim(0, 110)
    ax.grid(alpha=0.3, axis="y")
    _legend(ax)


# ----------------------------------------------------------------------------- Figures 4 and 16

def figure4_interpolation(scale_dir: Path, published: Sequence[PublishedValue],
                          targets: Sequence[Target]) -> Path | None:
    """Figures 4 and 16: test accuracy along (1 - lambda) theta_1 + lambda theta_2 for every pair, per target.

    Left: the measured curves (``runs/<run_key>/curve.csv``); pairs of final
    checkpoints solid, pairs with a best checkpoint ('*') dashed, and
    'RI-T & RI-T same init' (Figure 16) in its own colour. Middle: the
    published readings of the stand-in domain (Figure 4 left/middle and
    Figure 16, top-1 %): end points at lambda 0 and 1, the middle (or
    minimum) drawn at lambda 0.5. Right: the published CheXpert curves
    (Figure 4 right, test AUC), the same readings.
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "interpolation", targets)
    pub = _published_map(published)
    figure = None
    if data:
        figure = Figure(figsize=(17, 4.2 * len(data) + 0.8))
        grid = figure.subplots(len(data), 3, squeeze=False, gridspec_kw={"width_ratios": [2.2, 1.4, 1.4]})
        for i, (target, rows) in enumerate(data):
            ax = grid[i, 0]
            for row in sorted(rows, key=lambda r: _pair_order(r.get("condition", ""))):
                pair = row.get("condition", "")
                curve = _curve(scale_dir, row)
                if curve is None:
                    continue
                colour, style = _pair_style(pair)
                ax.plot(*curve, color=colour, linestyle=style, linewidth=1.6, label=pair)
            ax.set_title(f"measured: {target.name} (stands for {target.stands_for})", fontsize=10)
            ax.set_xlabel("lambda (0 = first model of the pair, 1 = second)")
            ax.set_ylabel("test top-1 (%)")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 100)
            _finish_axes(ax, outside=True)
            _interp_published(grid[i, 1], pub, target.stands_for, "acc", f"published: {target.stands_for} "
                              "(Fig. 4, Fig. 16; top-1 %)")
            _interp_published(grid[i, 2], pub, CHEXPERT, "auc", f"{CHEXPERT_TITLE}, Fig. 4 right")
        figure.suptitle("Figure 4 / 16 analogue: linear interpolation between two solutions "
                        "(published middle/minimum drawn at lambda 0.5; the paper's minima lie at lambda 0.15-0.75)")
        figure.tight_layout()
    return _write(scale_dir / FIGURE4, figure)


def _curve(scale_dir: Path, row: dict) -> tuple[np.ndarray, np.ndarray] | None:
    path = _run_file(scale_dir, row, "curve.csv")
    if path is None:
        return None
    points = sorted((a, v) for a, v in ((_num(r.get("alpha")), _num(r.get("accuracy"))) for r in _read_csv(path))
                    if a is not None and v is not None)
    if not points:
        return None
    xs, ys = zip(*points)
    return np.asarray(xs), np.asarray(ys) * 100


def _interp_published(ax: Axes, pub: Published, domain: str, kind: str, title: str) -> None:
    """Published end points (lambda 0, 1) and middle or minimum (lambda 0.5) of each pair on one domain."""
    drawn = False
    for pair in INTERPOLATION_PAIRS:
        def value(quantity: str, n: str) -> float | None:
            return pub.get((f"interp_{quantity}_{kind}", pair, n, domain))

        start = value("end", "start") if value("end", "start") is not None else value("end", "")
        end = value("end", "end") if value("end", "end") is not None else value("end", "")
        middle = value("mid", "") if value("mid", "") is not None else value("min", "")
        points = [(x, v) for x, v in ((0.0, start), (0.5, middle), (1.0, end)) if v is not None]
        if not points:
            continue
        drawn = True
        colour, style = _pair_style(pair)
        xs, ys = zip(*points)
        ax.plot(xs, ys, color=colour, linestyle=style if middle is not None else "none", marker="o",
                markersize=4, label=pair + ("" if middle is not None else " (ends only)"))
    ax.set_title(title, fontsize=10)
    if not drawn:
        _no_data(ax, f"no published Figure 4/16 reading for {domain}")
        return
    ax.set_xlabel("lambda")
    ax.set_ylabel("test AUC" if kind == "auc" else "test top-1 (%)")
    ax.set_xlim(-0.05, 1.05)
    if kind == "acc":
        ax.set_ylim(0, 100)
    _finish_axes(ax, fontsize=6)


def _pair_style(pair: str) -> tuple[str, str]:
    return PAIR_STYLE.get(pair, ("#555555", "--" if "*" in pair else "-"))


def _pair_order(pair: str) -> int:
    return INTERPOLATION_PAIRS.index(pair) if pair in INTERPOLATION_PAIRS else len(INTERPOLATION_PAIRS)


# ----------------------------------------------------------------------------- Table 1

def table1_cka(scale_dir: Path, published: Sequence[PublishedValue], targets: Sequence[Target]) -> Path | None:
    """Table 1: linear CKA of the stage outputs (conv1, layer1..layer4) for the four model pairs.

    One heat map (pair x stage, colour scale 0-1, values printed) per
    target, and the published Table 1 (CheXpert) beside them. Missing cells
    are grey.
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "cka", targets)
    pub = _published_map(published)
    figure = None
    if data:
        figure = Figure(figsize=(4.6 * (len(data) + 1) + 1.0, 4.2))
        axes = figure.subplots(1, len(data) + 1, squeeze=False)[0]
        norm = Normalize(0.0, 1.0)
        for ax, (target, rows) in zip(axes, data):
            pairs = list(CKA_PAIRS) + sorted({r.get("condition", "") for r in rows} - set(CKA_PAIRS))
            table = np.full((len(pairs), len(STAGES)), np.nan)
            for i, pair in enumerate(pairs):
                for j, stage in enumerate(STAGES):
                    values = [v for v in (_num(r.get(f"cka_{stage}")) for r in rows if r.get("condition") == pair)
                              if v is not None]
                    if values:
                        table[i, j] = float(np.mean(values))
            _heat_table(ax, table, pairs, norm, "{:.3f}")
            ax.set_title(f"measured: {target.name}\n(stands for {target.stands_for})", fontsize=10)
        table = np.asarray([[pub.get(("cka", pair, stage, CHEXPERT), np.nan) for stage in STAGES]
                            for pair in CKA_PAIRS])
        image = _heat_table(axes[-1], table, list(CKA_PAIRS), norm, "{:.4f}")
        axes[-1].set_title(f"{CHEXPERT_CKA_TITLE}\nTable 1", fontsize=10)
        figure.tight_layout(rect=(0, 0, 0.94, 0.92))
        figure.colorbar(image, cax=figure.add_axes((0.95, 0.15, 0.012, 0.65)), label="linear CKA")
        figure.suptitle("Table 1 analogue: feature similarity (CKA) of the stage outputs")
    return _write(scale_dir / TABLE1, figure)


def _heat_table(ax: Axes, table: np.ndarray, rows: list[str], norm: Normalize, fmt: str):
    masked = np.ma.masked_invalid(table)
    cmap = colormaps["viridis"].with_extremes(bad="#dddddd")
    image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
    for (i, j), value in np.ndenumerate(table):
        if np.isfinite(value):
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7,
                    color="white" if value < 0.55 else "black")
    ax.set_xticks(range(len(STAGES)), STAGES, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    return image


# ----------------------------------------------------------------------------- Figure 5

def figure5_criticality(scale_dir: Path, published: Sequence[PublishedValue],
                        targets: Sequence[Target]) -> Path | None:
    """Figure 5: the cost of rewinding one module to its checkpoint 0, the others final (module criticality).

    Left column, one panel per target with criticality rows (titled with the
    target and the domain it stands for): the measured drop of test accuracy
    (acc_final - acc_<module>, percentage points) per module for each
    condition of ``protocol.CRITICALITY_CONDITIONS`` (P-T at its chosen lr,
    where the paper has P-T lr 0.02; RI-T lr 0.02 and 0.1), mean over rows of
    one condition. Right column: the published Figure 5, which is on CheXpert
    only, drawn once, beside the scale's CheXpert stand-in
    (``Scale.chexpert_stand_in``): the drop of test AUC (rewind_auc 'none' -
    module) for P-T lr 0.02, RI-T lr 0.02, RI-T lr 0.1, on a shaded
    background. The other targets' right cells say that the paper has no
    Figure 5 for their domain. Without rows of the stand-in the published
    panel gets its own row.
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "criticality", targets)
    pub = _published_map(published)
    figure = None
    if data:
        stand_in = _chexpert_stand_in(targets)
        rows_of: list[tuple[Target | None, Rows]] = list(data)
        where = f"beside {stand_in}"
        if not any(t.name == stand_in for t, _ in data):
            rows_of.append((None, []))  # the published panel's own row
            where = "in the last row"
        figure = Figure(figsize=(18, 3.9 * len(rows_of) + 1.0))
        grid = figure.subplots(len(rows_of), 2, squeeze=False)
        for i, (target, rows) in enumerate(rows_of):
            left, right = grid[i, 0], grid[i, 1]
            if target is None:
                left.axis("off")
                missing = (f"no measured criticality rows for {stand_in}\n(the CheXpert stand-in)" if stand_in
                           else "no CheXpert stand-in among these targets")
                left.text(0.5, 0.5, missing, ha="center", va="center", transform=left.transAxes, fontsize=10,
                          color="grey")
                _criticality_published(right, pub)
                continue
            _module_bars(left, _criticality_measured(rows))
            is_stand_in = target.name == stand_in
            stands = target.stands_for + ("" if target.stands_for == CHEXPERT or not is_stand_in
                                          else "; the CheXpert stand-in: compare with the panel on the right")
            left.set_title(f"measured: {target.name} (stands for {stands})", fontsize=10)
            left.set_ylabel("test accuracy drop\n(acc_final - acc_rewound, points)")
            if is_stand_in:
                _criticality_published(right, pub)
            else:
                right.axis("off")
                right.text(0.5, 0.5, f"no published panel for {target.name}:\nthe paper's Figure 5 is on CheXpert "
                           f"only (none for {target.stands_for});\nits CheXpert panel is drawn once, {where}",
                           ha="center", va="center", transform=right.transAxes, fontsize=10, color="grey")
        figure.suptitle("Figure 5 analogue: module criticality, one module rewound to checkpoint 0 "
                        "(P-T: P's weights and the fresh classifier)\nleft: measured on each target "
                        "(accuracy drop, points); right, shaded: published, the paper's Figure 5, on CheXpert only "
                        "(AUC drop)", fontsize=11)
        figure.tight_layout()
    return _write(scale_dir / FIGURE5, figure)


def _chexpert_stand_in(targets: Sequence[Target]) -> str:
    """The name of the CheXpert stand-in of the scale the targets belong to ('' if none is known)."""
    names = {t.name for t in targets}
    for scale in SCALES.values():
        if names & {t.name for t in scale.targets}:
            return scale.chexpert_stand_in
    return ""


def _criticality_measured(rows: Rows) -> dict[str, dict[str, float]]:
    """Condition label -> module -> mean drop of test accuracy in points (acc_final - acc_<module>)."""
    measured = {}
    for condition in _criticality_conditions(rows):
        runs = [r for r in rows if r.get("condition") == condition]
        drops = {}
        for module in MODULES:
            column = f"acc_{module.replace('.', '_')}"
            values = [(f - v) * 100 for f, v in ((_num(r.get("acc_final")), _num(r.get(column))) for r in runs)
                      if f is not None and v is not None]
            if values:
                drops[module] = float(np.mean(values))
        measured[_criticality_label(condition, runs)] = drops
    return measured


def _criticality_published(ax: Axes, pub: Published) -> None:
    """The published Figure 5 (CheXpert): drop of test AUC per module, on the published background."""
    drops = {}
    for condition in PUBLISHED_CRITICALITY:
        none = pub.get(("rewind_auc", condition, "none", CHEXPERT))
        drops[condition] = {} if none is None else {
            m: none - pub[("rewind_auc", condition, m, CHEXPERT)] for m in MODULES
            if ("rewind_auc", condition, m, CHEXPERT) in pub}
    ax.set_facecolor(PUBLISHED_FACE)
    _module_bars(ax, drops)
    ax.set_title(f"{CHEXPERT_TITLE}: the paper's Figure 5 (read from the bars)", fontsize=10)
    ax.set_ylabel("test AUC drop\n(none - rewound)")


def _module_bars(ax: Axes, drops: dict[str, dict[str, float]]) -> None:
    if not any(drops.values()):
        _no_data(ax, "no values")
        return
    x = np.arange(len(MODULES))
    width = 0.8 / max(1, len(drops))
    for k, (condition, values) in enumerate(drops.items()):
        dx = (k - (len(drops) - 1) / 2) * width
        xs = [xi + dx for xi, m in zip(x, MODULES) if m in values]
        ax.bar(xs, [values[m] for m in MODULES if m in values], width=width,
               color=_criticality_colour(condition), label=condition)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x, MODULES, rotation=60, fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    _legend(ax)


def _criticality_text(lr: object) -> str:
    return lr if lr == "chosen" else nominal_lr_text(float(lr))  # type: ignore[arg-type]


def _criticality_conditions(rows: Rows) -> list[str]:
    """The rows' conditions, the protocol's (``'<arm> lr<lr|chosen>'``) first and in its order."""
    known = [f"{arm} lr{_criticality_text(lr)}" for arm, lr in CRITICALITY_CONDITIONS]
    present = {r.get("condition", "") for r in rows}
    return [c for c in known if c in present] + sorted(present - set(known))


def _criticality_label(condition: str, runs: Rows) -> str:
    """'P-T lrchosen' -> 'P-T chosen lr 0.02' (the lr of its rows); other conditions unchanged."""
    if not condition.endswith("lrchosen"):
        return condition
    lrs = sorted({v for v in (_num(r.get("lr")) for r in runs) if v is not None})
    return condition.replace("lrchosen", "chosen lr " + "/".join(f"{v:g}" for v in lrs)).rstrip()


def _criticality_colour(condition: str) -> str:
    if condition.startswith("P-T"):
        return CRITICALITY_COLOUR["P-T"]
    return CRITICALITY_COLOUR.get(condition, "#555555")


# ----------------------------------------------------------------------------- Figure 6

def figure6_criticality_paths(scale_dir: Path, published: Sequence[PublishedValue],
                              targets: Sequence[Target]) -> Path | None:
    """Figure 6: criticality of conv1 along the direct (init -> final) and the optimization path.

    Heat maps of training accuracy over x = distance of conv1 from its
    initial value along the path and y = sigma of the Gaussian noise added
    to conv1 (log scale), one row per (target, arm) and one column per path
    (``runs/<run_key>/heatmap.csv``). Red circles mark the points whose
    mean loss is within 1% of the final training loss (the criticality
    threshold); the measure of the direct path is in the title. Every
    target is drawn (at most three per scale, six rows). The paper's
    Figure 6 (CheXpert) gives no numbers beyond its axis ranges, which the
    figure's caption line repeats.
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "criticality_paths", targets)
    figure = None
    if data:
        cells = []  # (target, arm, path, row, grid)
        for target, rows in data:
            for arm in ("P-T", "RI-T"):
                for path in CRITICALITY_PATHS:
                    row = next((r for r in rows if r.get("condition") == f"{arm} {path}"), None)
                    cells.append((target, arm, path, row, _heatmap(scale_dir, row) if row else None))
        values = [g[2] for *_, g in cells if g is not None]
        if values:
            low = min(float(np.nanmin(v)) for v in values)
            high = max(float(np.nanmax(v)) for v in values)
            norm = Normalize(low, high if high > low else low + 1e-6)
        else:
            norm = Normalize(0.0, 100.0)
        n_rows = 2 * len(data)
        figure = Figure(figsize=(12, 3.0 * n_rows + 1.0))
        grid = figure.subplots(n_rows, len(CRITICALITY_PATHS), squeeze=False)
        image = None
        for k, (target, arm, path, row, heat) in enumerate(cells):
            ax = grid[k // len(CRITICALITY_PATHS), k % len(CRITICALITY_PATHS)]
            title = f"{target.name}: {arm}, {path} path"
            if heat is None:
                _no_data(ax, "no heat map" if row else "not run")
                ax.set_title(title, fontsize=9)
                continue
            image = _draw_heatmap(ax, heat, norm, _num(row.get("final_train_loss")))
            measure = _num(row.get("measure"))
            ax.set_title(title + (f"; measure {measure:.3g}" if measure is not None else ""), fontsize=9)
            ax.set_xlabel("distance of conv1 from init along the path")
            ax.set_ylabel("noise sigma")
        figure.tight_layout(rect=(0, 0, 0.92, 0.95))
        if image is not None:
            figure.colorbar(image, cax=figure.add_axes((0.93, 0.2, 0.012, 0.6)), label="training accuracy (%)")
        figure.suptitle("Figure 6 analogue: module criticality of conv1 (colour: training accuracy; red circles: "
                        "loss within 1% of the final)\npublished (CheXpert, no values transcribed): distance 0-0.55 "
                        "(P-T), 0-9.8 (RI-T); colour = training AUC 0.54-0.82", fontsize=10)
    return _write(scale_dir / FIGURE6, figure)


def _heatmap(scale_dir: Path, row: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(x, sigma, accuracy % [sigma, x], loss [sigma, x]) of a ``heatmap.csv``, or None.

    Grid columns are keyed by ``alpha`` (direct path) or ``checkpoint``
    (optimization path), else by ``x``; a column's x is its mean distance.
    """
    path = _run_file(scale_dir, row, "heatmap.csv")
    if path is None:
        return None
    records = _read_csv(path)
    if not records:
        return None
    key = next((k for k in ("alpha", "checkpoint", "x") if k in records[0]), None)
    if key is None or "sigma" not in records[0]:
        return None
    columns: dict[float, list[float]] = {}
    sigmas: set[float] = set()
    cells: dict[tuple[float, float], tuple[float, float]] = {}
    for r in records:
        k, x, s = _num(r.get(key)), _num(r.get("x")), _num(r.get("sigma"))
        if k is None or x is None or s is None:
            continue
        columns.setdefault(k, []).append(x)
        sigmas.add(s)
        accuracy, loss = _num(r.get("accuracy")), _num(r.get("loss"))
        cells[k, s] = (np.nan if accuracy is None else accuracy * 100, np.nan if loss is None else loss)
    if not cells:
        return None
    keys = sorted(columns, key=lambda c: (float(np.mean(columns[c])), c))
    xs = np.asarray([float(np.mean(columns[c])) for c in keys])
    ss = np.asarray(sorted(sigmas))
    accuracy = np.full((len(ss), len(keys)), np.nan)
    loss = np.full_like(accuracy, np.nan)
    for (k, s), (a, l) in cells.items():
        accuracy[int(np.searchsorted(ss, s)), keys.index(k)] = a
        loss[int(np.searchsorted(ss, s)), keys.index(k)] = l
    return xs, ss, accuracy, loss


def _draw_heatmap(ax: Axes, heat, norm: Normalize, final_loss: float | None):
    xs, ss, accuracy, loss = heat
    log_y = bool(np.all(ss > 0))
    image = ax.pcolormesh(_edges(xs, log=False), _edges(ss, log=log_y), np.ma.masked_invalid(accuracy),
                          cmap="viridis", norm=norm, shading="flat")
    if log_y:
        ax.set_yscale("log")
    if final_loss is not None:
        within = np.argwhere(loss <= 1.01 * final_loss)
        if len(within):
            ax.scatter(xs[within[:, 1]], ss[within[:, 0]], s=16, facecolor="none", edgecolor="#ff2d2d", linewidth=1.0)
    return image


def _edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on a log axis); strictly increasing."""
    values = np.log(centres) if log else np.asarray(centres, dtype=float)
    if len(values) == 1:
        half = 0.5 if log else (abs(values[0]) * 0.5 or 0.5)
        edges = np.asarray([values[0] - half, values[0] + half])
    else:
        mids = (values[1:] + values[:-1]) / 2
        edges = np.concatenate([[values[0] - (mids[0] - values[0])], mids, [values[-1] + (values[-1] - mids[-1])]])
    step = max(1e-9, 1e-6 * float(np.ptp(edges)))
    for i in range(1, len(edges)):  # equal x (no movement between checkpoints) still gets a visible cell
        edges[i] = max(edges[i], edges[i - 1] + step)
    return np.exp(edges) if log else edges


# ----------------------------------------------------------------------------- Figure 7

def figure7_checkpoints(scale_dir: Path, published: Sequence[PublishedValue],
                        targets: Sequence[Target]) -> Path | None:
    """Figure 7: fine-tuning from P's pre-training checkpoints, final test and mean training accuracy.

    Per target, left: the measured accuracies against P's checkpoint epoch
    as a fraction of P's pre-training (the scale's ``source.epochs``),
    dotted lines at P's lr drops. Right: the published curves of the
    stand-in domain against checkpoint epoch / 90 (ImageNet lr drops at
    30 and 60).
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "checkpoints", targets)
    pub = _published_map(published)
    figure = None
    if data:
        figure = Figure(figsize=(13, 3.8 * len(data) + 0.8))
        grid = figure.subplots(len(data), 2, squeeze=False)
        for i, (target, rows) in enumerate(data):
            epochs, milestones = _source_schedule(rows)
            rows = _at_pt_lr(rows)
            series = {}
            for column in ("test_acc_final", "train_acc_mean"):
                by_epoch: dict[float, list[float]] = {}
                for r in rows:
                    epoch = _num(r.get("source_epoch"))
                    value = _num(r.get(column))
                    if epoch is not None and value is not None:
                        by_epoch.setdefault(epoch, []).append(value * 100)
                series[column] = {e: float(np.mean(v)) for e, v in by_epoch.items()}
            _checkpoint_curves(grid[i, 0], series["test_acc_final"], series["train_acc_mean"], epochs, milestones)
            grid[i, 0].set_title(f"measured: {target.name} (stands for {target.stands_for}); "
                                 f"P pre-trained {epochs:g} epochs", fontsize=10)
            domain = target.stands_for
            total = pub.get(("pretrain_epochs", "", "", "imagenet"), PAPER_PRETRAIN_EPOCHS)
            test, train = (_published_by_epoch(pub, quantity, domain)
                           for quantity in ("ckpt_test_acc", "ckpt_train_acc_mean"))
            _checkpoint_curves(grid[i, 1], test, train, total, PAPER_PRETRAIN_MILESTONES)
            grid[i, 1].set_title(f"published: {domain} (Fig. 7; ImageNet checkpoint / {total:g})", fontsize=10)
        figure.suptitle("Figure 7 analogue: fine-tuning from P's checkpoints (x: fraction of P's pre-training; "
                        "dotted: P's lr drops)")
        figure.tight_layout()
    return _write(scale_dir / FIGURE7, figure)


def _published_by_epoch(pub: Published, quantity: str, domain: str) -> dict[float, float]:
    return {float(n): v for n, v in _published_by_n(pub, quantity, "", domain).items() if _num(n) is not None}


def _at_pt_lr(rows: Rows) -> Rows:
    """Figure 7's rows at P-T's fixed lr where the scale fixes one and runs the checkpoints at several."""
    scale = SCALES.get(rows[0].get("scale", "")) if rows else None
    lr = dict(scale.fixed_lrs).get("P-T") if scale is not None else None
    return rows if lr is None else [r for r in rows if _num(r.get("lr")) == lr]


def _source_schedule(rows: Rows) -> tuple[float, tuple[int, ...]]:
    """P's pre-training epochs and lr milestones at the rows' scale; else the last checkpoint seen."""
    scale = SCALES.get(rows[0].get("scale", "")) if rows else None
    if scale is not None:
        return float(scale.source.epochs), scale.source.milestones
    seen = [e for e in (_num(r.get("source_epoch")) for r in rows) if e]
    return (max(seen) if seen else 1.0), ()


def _checkpoint_curves(ax: Axes, test: dict[float, float], train: dict[float, float], total: float,
                       milestones: Iterable[int]) -> None:
    if not test and not train:
        _no_data(ax, "no values")
        return
    for values, label, colour, marker in ((test, "final test accuracy", "#1f3b8c", "o"),
                                          (train, "mean training accuracy", "#2e7d32", "s")):
        if values:
            epochs = sorted(values)
            ax.plot([e / total for e in epochs], [values[e] for e in epochs], color=colour, marker=marker,
                    markersize=4, label=label)
    for m in milestones:
        ax.axvline(m / total, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("P's checkpoint epoch / pre-training epochs")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(-0.03, 1.03)
    _finish_axes(ax)


# ----------------------------------------------------------------------------- per-module distances

def distances_per_module(scale_dir: Path, published: Sequence[PublishedValue],
                         targets: Sequence[Target]) -> Path | None:
    """The appendix figure of per-module parameter distances (Table 2 broken down by module).

    Per target: the RMS distance ||theta_a - theta_b||_2 / sqrt(size) of
    each module (``runs/<run_key>/distances.csv``, classifier excluded) for
    2 P-T, 2 RI-T, P-T & P and RI-T & P, log scale; the legend gives the
    whole-network l2 of each pair. The paper gives no numbers for this
    figure, so nothing published is drawn (Table 2's totals are compared in
    ``comparison.md``).
    """
    scale_dir = Path(scale_dir)
    data = _target_rows(scale_dir, "distances", targets)
    figure = None
    if data:
        figure = Figure(figsize=(12, 3.8 * len(data) + 0.6))
        axes = figure.subplots(len(data), 1, squeeze=False)[:, 0]
        for ax, (target, rows) in zip(axes, data):
            per_pair = {}
            for row in rows:
                records = _read_csv(path) if (path := _run_file(scale_dir, row, "distances.csv")) else []
                rms = {r.get("module", ""): _num(r.get("rms")) for r in records}
                rms = {m: v for m, v in rms.items() if m and v is not None and v > 0}
                if rms:
                    per_pair[row.get("condition", "")] = (rms, _num(row.get("l2")))
            modules = [m for m in MODULES if any(m in rms for rms, _ in per_pair.values())]
            modules += sorted({m for rms, _ in per_pair.values() for m in rms} - set(modules))
            ax.set_title(f"measured: {target.name} (stands for {target.stands_for})", fontsize=10)
            if not modules:
                _no_data(ax, "no distances.csv")
                continue
            order = [p for p in DISTANCE_PAIRS if p in per_pair] + sorted(set(per_pair) - set(DISTANCE_PAIRS))
            for pair in order:
                rms, l2 = per_pair[pair]
                xs = [k for k, m in enumerate(modules) if m in rms]
                ax.plot(xs, [rms[modules[k]] for k in xs], color=DISTANCE_COLOUR.get(pair, "#555555"), marker="o",
                        markersize=4, label=pair + (f" (whole l2 {l2:.3g})" if l2 is not None else ""))
            ax.set_yscale("log")
            ax.set_xticks(range(len(modules)), modules, rotation=60, fontsize=7)
            ax.set_ylabel("RMS distance per parameter")
            _finish_axes(ax)
        figure.suptitle("Per-module parameter distance (appendix of Table 2; no published values)")
        figure.tight_layout()
    return _write(scale_dir / DISTANCES, figure)


# ----------------------------------------------------------------------------- all

FIGURES: tuple[Callable[[Path, Sequence[PublishedValue], Sequence[Target]], Path | None], ...] = (
    figure2_learning_curves, figure3_block_shuffle, figure4_interpolation, table1_cka, figure5_criticality,
    figure6_criticality_paths, figure7_checkpoints, distances_per_module,
)


def all_figures(scale_dir: Path, published: Sequence[PublishedValue], targets: Sequence[Target]) -> list[Path]:
    """Draw every figure whose experiment has results; return the PNGs written."""
    return [path for draw in FIGURES if (path := draw(Path(scale_dir), published, targets)) is not None]


# ----------------------------------------------------------------------------- shared helpers

def _target_rows(scale_dir: Path, experiment: str, targets: Sequence[Target]) -> list[tuple[Target, Rows]]:
    """The experiment's rows grouped by target, in the order of ``targets``; targets without rows left out."""
    merged = read_experiment(scale_dir, experiment)
    if merged is None:
        return []
    by_target: dict[str, Rows] = {}
    for row in merged.rows:
        by_target.setdefault(row.get("target", ""), []).append(row)
    return [(t, by_target[t.name]) for t in targets if by_target.get(t.name)]


def _published_map(published: Sequence[PublishedValue]) -> Published:
    return {p.key: p.value for p in published}


def _published_by_n(pub: Published, quantity: str, condition: str, target: str) -> dict[str, float]:
    return {n: v for (q, c, n, t), v in pub.items() if (q, c, t) == (quantity, condition, target)}


def _run_file(scale_dir: Path, row: dict, name: str) -> Path | None:
    """``runs/<run_key>/<name>``, else the file of the run it reused; None if neither exists."""
    for key in (row.get("run_key"), row.get("reused")):
        if key:
            path = scale_dir / "runs" / key / name
            if path.is_file():
                return path
    return None


def _read_csv(path: Path) -> Rows:
    try:
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def _num(text: object) -> float | None:
    """A finite float, or None for empty, unparsable or non-finite cells."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _close(value: float | None, nominal: float) -> bool:
    return value is not None and math.isclose(value, nominal, rel_tol=1e-6)


def _bar_labels(ax: Axes, bars, values: Sequence[float], fmt: str, fontsize: int = 7) -> None:
    for bar, value in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), fmt.format(value), ha="center", va="bottom",
                fontsize=fontsize)


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(ax: Axes, fontsize: int = 7, outside: bool = False) -> None:
    if ax.get_legend_handles_labels()[0]:
        if outside:
            ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        else:
            ax.legend(fontsize=fontsize, loc="best")


def _finish_axes(ax: Axes, fontsize: int = 7, outside: bool = False) -> None:
    ax.grid(alpha=0.3)
    _legend(ax, fontsize, outside)


def _write(path: Path, figure: Figure | None) -> Path | None:
    """Save ``figure`` as ``path`` atomically; with no figure remove a stale ``path`` and return None."""
    if figure is None:
        path.unlink(missing_ok=True)
        return None
    return save_figure(figure, path, tight=False)
