"""The figures of the Liu et al. 2019 reproduction (measured only: no published figure values are available).

One function per figure, each ``(scale_dir, scale) -> Path | None``: it reads
the experiment's CSV and the per-run files under ``<scale_dir>/runs/``,
writes ``<scale_dir>/<name>.png`` and returns its path, or None when the
experiment has no rows. Arms: pretrained from the similar source blue, from
the dissimilar source green, with the source's head transferred purple,
random red; curves are the mean over seeds with the seeds' range shaded.

- :func:`deviation_curves` ``deviation.png``: sum_l ||W_l(t) - W_l(0)||_F per step, conv and fc kernels (Exp L-A)
- :func:`surfaces` ``surfaces.png``: the 2-D filter-normalised surfaces of every arm, same levels (Exp L-B)
- :func:`optimization_curves` ``optimization.png``: variation of loss, beta and ||g|| per probe step (Exp L-C)
- :func:`similarity` ``similarity.png``: accuracy and deviation per source, input and label series (L-C4, L-C5)
- :func:`checkpoints` ``checkpoints.png``: target accuracy vs the source checkpoint's pre-training epoch (L-C6)
- :func:`theory` ``theory.png``: deviation vs similarity and vs sqrt(r' H^-1 r) (L-C7)

Nothing here imports Keras or TensorFlow.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from repro.liu2019.protocol import DISSIMILAR, SIMILAR, THEORY_KINDS, TRANSFERRED_HEAD, Scale
from repro.plotting import experiment_rows, save_figure

ARM_COLOUR = {SIMILAR: "#1f3b8c", DISSIMILAR: "#3a8c3a", TRANSFERRED_HEAD: "#7b3294",
              "random": "#a61c1c"}  # condition -> colour, in the legends' order
SERIES_COLOUR = {"input": "#1f3b8c", "label": "#e08214"}


def _run_csv(scale_dir: Path, row: dict, name: str) -> list[dict]:
    path = scale_dir / "runs" / (row.get("reused") or row["run_key"]) / name
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _stale(path: Path) -> None:
    path.unlink(missing_ok=True)


def _mean_curve(axis, curves: list[list[dict]], x: str, y: str, colour: str, label: str) -> None:
    """Mean over runs of ``y`` against ``x`` (runs cut to the shortest), seeds' range shaded."""
    curves = [c for c in curves if c]
    if not curves:
        return
    length = min(len(c) for c in curves)
    xs = np.array([float(r[x]) for r in curves[0][:length]])
    ys = np.array([[float(r[y]) for r in c[:length]] for c in curves])
    axis.plot(xs, ys.mean(0), color=colour, label=f"{label} (n={len(curves)})", lw=1.4)
    if len(curves) > 1:
        axis.fill_between(xs, ys.min(0), ys.max(0), color=colour, alpha=0.2, lw=0)


def _arm_panels(figure: Figure, scale_dir: Path, rows: list[dict], panels: Sequence[tuple[str, str]],
                ylabel: str = "", yscale: str = "linear") -> None:
    """One panel per (steps.csv column, title): every arm's mean curve against the training step."""
    for index, (column, title) in enumerate(panels):
        axis = figure.add_subplot(1, len(panels), index + 1)
        for condition, colour in ARM_COLOUR.items():
            curves = [_run_csv(scale_dir, r, "steps.csv") for r in rows if r["condition"] == condition]
            _mean_curve(axis, curves, "step", column, colour, condition)
        axis.set(xlabel="training step", ylabel=ylabel, title=title, yscale=yscale)
        axis.legend(fontsize=8)


# Why the deviation figure has no published panel (papers/liu2019/README.md, "What is known about the paper").
NO_PUBLISHED_DEVIATION = ("no published values: the paper's weight-deviation figure is not available (only the "
                          "abstract and the first lines of the introduction are),\nso neither its values nor its "
                          "figure number are known; papers/liu2019/published.csv holds only the official code's "
                          "constants. Measured only.")


def deviation_curves(scale_dir: Path, scale: Scale) -> Path | None:
    """Both arms' deviation per step, conv and dense kernels, with the note that no published panel exists."""
    path = scale_dir / "deviation.png"
    rows = experiment_rows(scale_dir, "deviation")
    if not rows:
        _stale(path)
        return None
    figure = Figure(figsize=(10.5, 4.4), layout="constrained")  # room for each panel's y-label: no overlap
    figure.get_layout_engine().set(w_pad=0.1, wspace=0.08)
    _arm_panels(figure, scale_dir, rows, (("deviation_conv", "conv kernels (the code's metric)"),
                                          ("deviation_fc", "dense kernels (fc and head)")),
                ylabel=r"$\sum_l \|W_l(t) - W_l(0)\|_F$")
    figure.suptitle(f"Weight deviation during fine-tuning on {scale.generalization.target.name} (Exp L-A), "
                    "pretrained arms vs random init: measured only")
    figure.supxlabel(NO_PUBLISHED_DEVIATION, fontsize=8.5, color="#444444",
                     bbox=dict(boxstyle="round,pad=0.4", facecolor="#fdf3dc", edgecolor="#b8a063"))
    return save_figure(figure, path)


def surfaces(scale_dir: Path, scale: Scale) -> Path | None:
    """Both arms' surfaces of the first seed, on one colour scale of L - L(centre)."""
    path = scale_dir / "surfaces.png"
    rows = [r for r in experiment_rows(scale_dir, "flatness") if int(r["seed"]) == scale.seeds[0]]
    found = []
    for arm in ARM_COLOUR:
        row = next((r for r in rows if r["condition"] == arm), None)
        file = scale_dir / "runs" / row["run_key"] / "surface.npz" if row else None
        if file is not None and file.is_file():
            with np.load(file) as data:
                found.append((arm, row, data["axis_0"], data["axis_1"], data["losses"]))
    if not found:
        _stale(path)
        return None
    rises = [losses - losses[len(a0) // 2, len(a1) // 2] for _, _, a0, a1, losses in found]
    top = max(float(np.nanmax(r)) for r in rises)
    levels = np.linspace(min(0.0, min(float(np.nanmin(r)) for r in rises)), top if top > 0 else 1e-6, 15)
    figure = Figure(figsize=(5.5 * len(found) + 1, 4.2), layout="constrained")  # colour bars clear of the labels
    for index, ((arm, row, a0, a1, _), rise) in enumerate(zip(found, rises)):
        axis = figure.add_subplot(1, len(found), index + 1)
        contour = axis.contourf(a0, a1, rise.T, levels=levels, cmap="viridis")
        axis.set(xlabel="d1 (filter-normalised)", ylabel="d2", title=f"{arm}: mean rise {float(row['surface_mean_rise']):.3g}")
        figure.colorbar(contour, ax=axis, label="L - L(centre)")
    figure.suptitle(f"Training loss around each solution, kernel {found[0][1]['surface_layer']} (Exp L-B)")
    return save_figure(figure, path)


def optimization_curves(scale_dir: Path, scale: Scale) -> Path | None:
    path = scale_dir / "optimization.png"
    rows = experiment_rows(scale_dir, "optimization")
    if not rows:
        _stale(path)
        return None
    figure = Figure(figsize=(14, 3.8), layout="constrained")
    _arm_panels(figure, scale_dir, rows, (("variation", "variation of loss |max_k L_k - L_1|"),
                                          ("beta", "beta-smoothness along -g"),
                                          ("grad_norm", "||grad L|| (trainable parameters)")), yscale="log")
    figure.suptitle(f"Probe on {scale.probe.layer} every {scale.probe.every} steps, K = {scale.probe.steps}, "
                    f"eta = {scale.probe.eta:g} (Exp L-C)")
    return save_figure(figure, path)


def _bar_panel(axis, rows: list[dict], sources: Sequence[str], labels: Sequence[str], column: str, scale_by: float,
               ylabel: str) -> None:
    means, errors = [], []
    for source in sources:
        values = np.array([float(r[column]) for r in rows if r["source"] == source]) * scale_by
        means.append(values.mean() if len(values) else np.nan)
        errors.append(values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0)
    axis.bar(range(len(sources)), means, yerr=errors, color="#6fa8dc", capsize=3)
    axis.set_xticks(range(len(sources)), labels, rotation=20, fontsize=8)
    axis.set(ylabel=ylabel)
    finite = [m for m in means if np.isfinite(m)]
    if finite and column == "test_acc_final":  # zoom: the sources differ by points, not tens of points
        span = max(finite) - min(finite)
        axis.set_ylim(max(0.0, min(finite) - max(2 * span, 2.0)), min(100.0, max(finite) + max(span, 1.0)))


def similarity(scale_dir: Path, scale: Scale) -> Path | None:
    """Accuracy and deviation per source, each series in its rule's order, most to least similar (the label
    relations in L-C5's order)."""
    from repro.liu2019.claims import label_series

    path = scale_dir / "similarity.png"
    label_sources = label_series(scale)
    series = [(e, sources, labels) for e, sources, labels in (
        ("input_similarity", scale.input_sources, scale.input_sources),
        ("label_similarity", label_sources, [scale.source(s).labels for s in label_sources]))
        if experiment_rows(scale_dir, e)]
    if not series:
        _stale(path)
        return None
    figure = Figure(figsize=(10, 3.8 * len(series)))
    figure.subplots_adjust(hspace=0.5)
    for index, (experiment, sources, labels) in enumerate(series):
        rows = experiment_rows(scale_dir, experiment)
        left = figure.add_subplot(len(series), 2, 2 * index + 1)
        _bar_panel(left, rows, sources, labels, "test_acc_final", 100, "target test accuracy (%)")
        left.set_title(f"{experiment.replace('_', ' ')}: most to least similar", fontsize=9)
        right = figure.add_subplot(len(series), 2, 2 * index + 2)
        _bar_panel(right, rows, sources, labels, "deviation_conv", 1, "conv deviation at the end")
    figure.suptitle(f"Fine-tuning on {scale.feasibility.target.name} from sources of graded similarity "
                    "(mean over seeds, bars = se)")
    return save_figure(figure, path)


def checkpoints(scale_dir: Path, scale: Scale) -> Path | None:
    path = scale_dir / "checkpoints.png"
    rows = experiment_rows(scale_dir, "checkpoints")
    if not rows:
        _stale(path)
        return None
    epochs = sorted({int(r["source_epoch"]) for r in rows})
    values = [np.array([float(r["test_acc_final"]) for r in rows if int(r["source_epoch"]) == k]) * 100 for k in epochs]
    figure = Figure(figsize=(6, 4))
    axis = figure.add_subplot(1, 1, 1)
    axis.errorbar(epochs, [v.mean() for v in values],
                  yerr=[v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0 for v in values],
                  color=ARM_COLOUR[SIMILAR], marker="o", capsize=3, label="target accuracy after fine-tuning")
    axis.set(xscale="symlog", xlabel="pre-training epoch of the source checkpoint (symlog)",
             ylabel="target test accuracy (%)")
    axis.legend(fontsize=8, loc="lower right")
    figure.suptitle(f"Transferability over pre-training ({scale.checkpoint_source} -> {scale.feasibility.target.name})")
    return save_figure(figure, path)


def theory(scale_dir: Path, scale: Scale) -> Path | None:
    path = scale_dir / "theory.png"
    rows = experiment_rows(scale_dir, "theory")
    if not rows:
        _stale(path)
        return None
    figure = Figure(figsize=(10, 4))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for series in THEORY_KINDS:
        part = [r for r in rows if r["series"] == series]
        levels = sorted({float(r["similarity"]) for r in part})
        dev = [np.mean([float(r["deviation_pretrained"]) for r in part if float(r["similarity"]) == s]) for s in levels]
        rand = [np.mean([float(r["deviation_random"]) for r in part if float(r["similarity"]) == s]) for s in levels]
        left.plot(levels, dev, marker="o", color=SERIES_COLOUR[series], label=f"{series}: fine-tuned")
        left.plot(levels, rand, ls="--", color=SERIES_COLOUR[series], label=f"{series}: from random init")
        right.scatter([float(r["rkhs_pretrained"]) for r in part], [float(r["deviation_pretrained"]) for r in part],
                      color=SERIES_COLOUR[series], s=14, label=series)
    left.set(xlabel="similarity of source and target (1 = identical)", ylabel=r"$\|W - W_{start}\|_F$")
    left.legend(fontsize=8)
    right.set(xlabel=r"$\sqrt{r^\top (H^\infty_Q)^{-1} r}$, $r = y_Q - f_{W(P)}(X_Q)$",
              ylabel=r"$\|W_{fine} - W_{pre}\|_F$")
    right.legend(fontsize=8)
    figure.suptitle("Two-layer ReLU check of the transfer theory (synthetic data; the theorem's statement is not available)")
    return save_figure(figure, path)


FIGURES: tuple[Callable[[Path, Scale], Path | None], ...] = (
    deviation_curves, surfaces, optimization_curves, similarity, checkpoints, theory)


def all_figures(scale_dir: Path, scale: Scale) -> list[Path]:
    """Draw every figure whose experiment has results; return the PNGs written."""
    return [path for draw in FIGURES if (path := draw(Path(scale_dir), scale)) is not None]
