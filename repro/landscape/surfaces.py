"""1-D and 2-D loss/accuracy surfaces along directions, resumable point by point (Li et al. 2018).

The surface is L(theta + x d1) or L(theta + x d1 + y d2) on a grid, with
theta the model's current weights and d1, d2 from
:mod:`repro.landscape.directions`. It is the loss-landscape figure of Li et
al. 2018 §4-5, of the whole model or of one tensor.

Resumable: with ``path`` the arrays, initialised to NaN, and a mask of the
evaluated points are saved to an ``.npz`` after every ``flush_every``
computed points (and when the run stops, even on an error or interrupt)
together with the grid, the directions, how they were made, the loss
function's name, the number of evaluation examples and a hash of theta.
Calling again with the same arguments computes only the points not yet
evaluated; different arguments raise instead of mixing two surfaces. Files
are replaced atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np

from repro.files import atomic_write
from repro.landscape._shared import Dataset
from repro.landscape.directions import Direction
from repro.landscape.state import LossFn, evaluate, get_values, preserved_weights, set_values, sparse_ce

_FORMAT = 1


@dataclass(frozen=True, eq=False)
class Surface:
    """Loss and accuracy on the grid ``axes`` (one axis per direction); NaN where not computed.

    ``losses[i, j]`` is at (axes[0][i], axes[1][j]); ``done`` marks the
    evaluated points (a diverged point is done even if its loss is NaN).
    ``computed`` counts the points evaluated by the call that returned this
    result (0 when loaded).
    """

    axes: tuple[np.ndarray, ...]
    losses: np.ndarray
    accuracies: np.ndarray
    done: np.ndarray
    directions: tuple[Direction, ...]
    computed: int

    @property
    def complete(self) -> bool:
        """True when every grid point has been evaluated."""
        return bool(self.done.all())


def loss_surface(
    model: keras.Model,
    dataset: Dataset,
    directions: Sequence[Direction],
    axes: Sequence[Sequence[float]],
    path: "str | os.PathLike | None" = None,
    loss_fn: LossFn = sparse_ce,
    flush_every: int = 1,
    training: bool = False,
) -> Surface:
    """L and accuracy at theta + sum_k c_k d_k for every grid point c in axes[0] x axes[1] (Li et al. 2018 §4).

    One direction and one axis give a 1-D curve, two give a 2-D surface.
    Each point is a full evaluation of ``dataset`` with ``training=False``
    (BN moving statistics as in the model; directions never touch them), or
    with ``training=True`` each batch normalised by its own statistics (a
    PyTorch model left in train mode, :func:`repro.landscape.state.evaluate`).
    With ``path`` the computation resumes from, and saves to, that ``.npz``
    (module docstring). The model is restored on return.
    """
    directions = tuple(directions)
    grid = tuple(np.asarray(axis, np.float64) for axis in axes)
    if len(directions) not in (1, 2) or len(grid) != len(directions):
        raise ValueError(f"need 1 or 2 directions and one axis per direction, got {len(directions)} and {len(grid)}")
    if any(axis.ndim != 1 or axis.size == 0 for axis in grid):
        raise ValueError("every axis must be a non-empty 1-D sequence of coordinates")
    if flush_every < 1:
        raise ValueError(f"flush_every must be >= 1, got {flush_every}")
    paths = directions[0].paths
    if any(d.paths != paths for d in directions):
        raise ValueError("the directions do not cover the same variables")
    variables = _variables_at(model, paths)
    center = get_values(variables)
    meta = {
        "format": _FORMAT,
        "loss_fn": getattr(loss_fn, "__name__", type(loss_fn).__name__),
        "center_sha256": _fingerprint(center),
        "training": training,
        "n": None,
    }
    shape = tuple(axis.size for axis in grid)
    losses = np.full(shape, np.nan)
    accuracies = np.full(shape, np.nan)
    done = np.zeros(shape, bool)
    if path is not None and os.path.exists(path):
        stored, stored_meta = _read(path)
        _check_same(path, stored, stored_meta, grid, directions, meta)
        losses, accuracies, done = stored.losses.copy(), stored.accuracies.copy(), stored.done.copy()
        meta["n"] = stored_meta["n"]
    computed = unsaved = 0
    try:
        with preserved_weights(model):
            for index in np.ndindex(*shape):
                if done[index]:
                    continue
                coefficients = [axis[i] for axis, i in zip(grid, index)]
                point = [np.asarray(c, np.float64) for c in center]
                for coefficient, direction in zip(coefficients, directions):
                    point = [p + coefficient * d for p, d in zip(point, direction.values)]
                set_values(variables, point)
                result = evaluate(model, dataset, loss_fn, training)
                if meta["n"] is not None and result.n != meta["n"]:
                    raise ValueError(f"evaluation dataset has {result.n} examples but the surface was started with {meta['n']}")
                meta["n"] = result.n
                losses[index], accuracies[index], done[index] = result.loss, result.accuracy, True
                computed += 1
                unsaved += 1
                if path is not None and unsaved >= flush_every:
                    _save(path, grid, losses, accuracies, done, directions, meta)
                    unsaved = 0
    finally:
        if path is not None and unsaved:
            _save(path, grid, losses, accuracies, done, directions, meta)
    return Surface(grid, losses, accuracies, done, directions, computed)


def load_surface(path: "str | os.PathLike") -> Surface:
    """Read a surface saved by :func:`loss_surface` (Li et al. 2018 §4), including its directions."""
    return _read(path)[0]


def plot_surface(
    surface: Surface,
    path: "str | os.PathLike",
    metric: str = "loss",
    levels: int = 20,
    title: Optional[str] = None,
) -> None:
    """Draw a 2-D surface as a labelled contour plot (Li et al. 2018 Fig. 1/5 style), or a 1-D one as a curve, to a PNG.

    ``metric`` is "loss" or "accuracy". Uses the Agg canvas directly, so it
    works without a display and does not change pyplot's backend. NaN
    (not yet computed) points are left blank.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if metric not in ("loss", "accuracy"):
        raise ValueError(f"metric must be 'loss' or 'accuracy', got {metric!r}")
    values = np.ma.masked_invalid(surface.losses if metric == "loss" else surface.accuracies)
    if values.mask.all():
        raise ValueError("the surface has no computed point to draw")
    figure = Figure(figsize=(5.0, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if len(surface.axes) == 1:
        axes.plot(surface.axes[0], values, marker=".")
        axes.set_ylabel(metric)
    else:
        if min(values.shape) < 2:
            raise ValueError(f"a contour plot needs at least a 2 x 2 grid, got {values.shape}")
        contours = axes.contour(surface.axes[0], surface.axes[1], values.T, levels=levels)
        axes.clabel(contours, fontsize=6)
        figure.colorbar(contours, ax=axes, label=metric)
        axes.set_ylabel("y (direction 2)")
    axes.set_xlabel("x (direction 1)")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = Path(path)  # atomically: a full disk never leaves half a figure
    atomic_write(path, lambda out: figure.savefig(out, format=path.suffix.lstrip(".") or "png", dpi=120), binary=True)


def _variables_at(model: keras.Model, paths: Sequence[str]) -> list:
    by_path: dict[str, list] = {}
    for variable in model.weights:
        by_path.setdefault(variable.path, []).append(variable)
    variables = []
    for name in paths:
        found = by_path.get(name, [])
        if len(found) != 1:
            raise ValueError(f"variable {name!r} of the direction is {'ambiguous' if found else 'not'} in model {model.name!r}")
        variables.append(found[0])
    return variables


def _fingerprint(values: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for value in values:
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _check_same(
    path: "str | os.PathLike", stored: Surface, stored_meta: dict, grid: tuple, directions: tuple, meta: dict
) -> None:
    problems = []
    if len(stored.axes) != len(grid) or not all(np.array_equal(a, b) for a, b in zip(stored.axes, grid)):
        problems.append("grid")
    if len(stored.directions) != len(directions) or any(
        a.paths != b.paths
        or (a.seed, a.normalization, a.one_d, a.orthogonalized) != (b.seed, b.normalization, b.one_d, b.orthogonalized)
        or not all(np.array_equal(x, y) for x, y in zip(a.values, b.values))
        for a, b in zip(stored.directions, directions)
    ):
        problems.append("directions")
    for key in ("loss_fn", "center_sha256", "training"):
        if stored_meta.get(key, False) != meta[key]:
            problems.append("center weights" if key == "center_sha256" else key)
    if problems:
        raise ValueError(f"{os.fspath(path)} holds a different surface ({', '.join(problems)} differ); remove it or choose another path")


def _save(
    path: "str | os.PathLike",
    grid: tuple,
    losses: np.ndarray,
    accuracies: np.ndarray,
    done: np.ndarray,
    directions: tuple,
    meta: dict,
) -> None:
    arrays = {"losses": losses, "accuracies": accuracies, "done": done, "paths": np.array(directions[0].paths)}
    for k, axis in enumerate(grid):
        arrays[f"axis_{k}"] = axis
    for k, direction in enumerate(directions):
        for i, value in enumerate(direction.values):
            arrays[f"direction_{k}_{i}"] = value
    made = [
        {"seed": d.seed, "normalization": d.normalization, "one_d": d.one_d, "orthogonalized": d.orthogonalized}
        for d in directions
    ]
    arrays["meta"] = np.array(json.dumps({**meta, "directions": made}))
    atomic_write(Path(path), lambda stream: np.savez(stream, **arrays), binary=True)


def _read(path: "str | os.PathLike") -> "tuple[Surface, dict]":
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        paths = tuple(str(p) for p in data["paths"])
        grid = tuple(data[f"axis_{k}"] for k in range(len(meta["directions"])))
        directions = tuple(
            Direction(
                paths,
                tuple(data[f"direction_{k}_{i}"] for i in range(len(paths))),
                int(made["seed"]),
                made["normalization"],
                made["one_d"],
                bool(made["orthogonalized"]),
            )
            for k, made in enumerate(meta["directions"])
        )
        return Surface(grid, data["losses"], data["accuracies"], data["done"], directions, 0), meta
