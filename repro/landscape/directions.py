"""Seeded random directions in weight space with filter normalization (Li et al. 2018).

A direction d has one array per selected parameter. Li et al. 2018 §4
("filter normalization") draw d ~ N(0, I) and rescale every filter of d to
the norm of the matching filter of the weights w. In Keras a filter is a
slice along the LAST axis of a kernel (conv HWIO ``(kh, kw, in, out)``, dense
``(in, out)``), i.e. PyTorch's first axis. 1-D (and scalar) variables, biases
and BN gamma/beta, are never renormalised per element: they are zeroed
(``one_d="ignore"``, Li's ``--xignore biasbn``) or set equal to the weight
(``one_d="copy"``). BatchNorm moving statistics are never part of a direction.
Restricting the selection to one tensor gives the landscape of that tensor
alone (as a PyTorch ``loss_landscape.py`` does).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import keras
import numpy as np

from repro.landscape._shared import VariableFilter, parameters
from repro.landscape.state import get_values

NORMALIZATIONS = ("filter", "layer", "none")
ONE_D = ("ignore", "copy")


@dataclass(frozen=True, eq=False)
class Direction:
    """A direction in weight space: ``values[i]`` moves the variable at ``paths[i]``.

    ``seed``, ``normalization``, ``one_d`` and ``orthogonalized`` record how
    it was made, so a saved surface can be checked and resumed.
    """

    paths: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    seed: int
    normalization: str
    one_d: str
    orthogonalized: bool = False

    @property
    def norm(self) -> float:
        """||d|| over all arrays."""
        return float(np.sqrt(sum(np.sum(np.square(v)) for v in self.values)))


def normalize_direction(
    direction: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    normalization: str = "filter",
    one_d: str = "ignore",
) -> list[np.ndarray]:
    """Rescale a raw direction to the weights (Li et al. 2018 §4, filter normalization).

    For a variable with >= 2 axes:
      filter: d[..., j] <- d[..., j] / ||d[..., j]|| * ||w[..., j]||  for every output filter j (last axis);
      layer:  d <- d / ||d|| * ||w||;
      none:   d unchanged.
    For 1-D and scalar variables: d <- 0 (``one_d="ignore"``) or d <- w
    (``one_d="copy"``), whatever the normalization.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if one_d not in ONE_D:
        raise ValueError(f"one_d must be one of {ONE_D}, got {one_d!r}")
    out = []
    for d, w in zip(direction, weights):
        d = np.asarray(d, np.float64)
        w = np.asarray(w, np.float64)
        if d.shape != w.shape:
            raise ValueError(f"direction shape {d.shape} differs from weight shape {w.shape}")
        if w.ndim <= 1:
            out.append(np.zeros_like(w) if one_d == "ignore" else w.copy())
        elif normalization == "filter":
            axes = tuple(range(w.ndim - 1))
            d_norm = np.sqrt(np.sum(d * d, axis=axes, keepdims=True))
            w_norm = np.sqrt(np.sum(w * w, axis=axes, keepdims=True))
            out.append(d * np.divide(w_norm, d_norm, out=np.zeros_like(d_norm), where=d_norm > 0))
        elif normalization == "layer":
            d_norm = np.linalg.norm(d)
            out.append(d * (np.linalg.norm(w) / d_norm) if d_norm > 0 else np.zeros_like(d))
        else:
            out.append(d)
    return out


def random_direction(
    model: keras.Model,
    seed: int,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    trainable_only: bool = True,
    normalization: str = "filter",
    one_d: str = "ignore",
) -> Direction:
    """d ~ N(0, I) on the selected parameters, normalised by :func:`normalize_direction` (Li et al. 2018 §4).

    The Gaussian draws come from ``numpy.random.default_rng(seed)`` in the
    order of ``model.weights``, so the same model, filter and seed give the
    same direction. BN moving statistics are never selected.
    """
    variables = parameters(model, include, exclude, trainable_only)
    return _draw(variables, get_values(variables), np.random.default_rng(seed), seed, normalization, one_d)


def random_plane(
    model: keras.Model,
    seed: int,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    trainable_only: bool = True,
    normalization: str = "filter",
    one_d: str = "ignore",
    orthogonalize: bool = False,
) -> tuple[Direction, Direction]:
    """Two directions (d1, d2) for a 2-D surface, each as :func:`random_direction` (Li et al. 2018 §4).

    d1 and d2 come from one generator seeded with ``seed`` (d1 first). With
    ``orthogonalize`` d2's multi-axis part is made orthogonal to d1's,
    d2 <- d2 - (<d2, d1> / <d1, d1>) d1, then rescaled to its norm before the
    projection. After this step d2's per-filter norms match the weights only
    approximately. 1-D entries keep the ``one_d`` rule, exactly.
    """
    variables = parameters(model, include, exclude, trainable_only)
    weights = get_values(variables)
    generator = np.random.default_rng(seed)
    first = _draw(variables, weights, generator, seed, normalization, one_d)
    second = _draw(variables, weights, generator, seed, normalization, one_d)
    if not orthogonalize:
        return first, second
    multi = [v.ndim >= 2 for v in first.values]
    dot = sum(np.vdot(a, b) for a, b, m in zip(first.values, second.values, multi) if m)
    d1_sq = sum(np.vdot(a, a) for a, m in zip(first.values, multi) if m)
    if d1_sq == 0:
        raise ValueError("cannot orthogonalize: the selected parameters have no multi-axis variable")
    before = np.sqrt(sum(np.vdot(b, b) for b, m in zip(second.values, multi) if m))
    projected = [b - (dot / d1_sq) * a if m else b for a, b, m in zip(first.values, second.values, multi)]
    after = np.sqrt(sum(np.vdot(p, p) for p, m in zip(projected, multi) if m))
    scale = before / after if after > 0 else 0.0
    values = tuple(p * scale if m else p for p, m in zip(projected, multi))
    return first, Direction(second.paths, values, seed, normalization, one_d, orthogonalized=True)


def _draw(
    variables: Sequence,
    weights: Sequence[np.ndarray],
    generator: np.random.Generator,
    seed: int,
    normalization: str,
    one_d: str,
) -> Direction:
    raw = [generator.standard_normal(np.shape(w)) for w in weights]
    values = normalize_direction(raw, weights, normalization, one_d)
    return Direction(tuple(v.path for v in variables), tuple(values), int(seed), normalization, one_d)
