"""Helpers shared by the papers' figure modules (no Keras, no TensorFlow)."""
from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from repro.compare import read_experiment
from repro.files import atomic_write


def experiment_rows(scale_dir: Path, experiment: str) -> list[dict]:
    """The merged rows of an experiment's CSV (and shards); [] when it has none."""
    merged = read_experiment(scale_dir, experiment)
    return merged.rows if merged else []


def save_figure(figure: Figure, path: Path, tight: bool = True) -> Path:
    """Render ``figure`` to the PNG ``path`` atomically (110 dpi, tight box unless ``tight`` is False); the path."""
    FigureCanvasAgg(figure)
    options = dict(dpi=110, bbox_inches="tight") if tight else dict(dpi=110)
    atomic_write(Path(path), lambda handle: figure.savefig(handle, format="png", **options), binary=True)
    return path
