"""Distances between two weight sets, per variable, per module and for the whole model.

For variables W_a, W_b with difference D = W_a - W_b of m elements:

    l2       = ||D||_F = sqrt(sum D^2)                       (whole-model or per-module l2 distance)
    mean_abs = (1/m) sum |D|                                   (mean absolute change per weight)
    deviation = sum over variables of ||D_l||_F (not squared) (weight deviation: sum_l ||W_l(t) - W_l(0)||_F)

A module's l2 is the Frobenius norm of its variables concatenated
(sqrt of the sum of their squared l2), its mean_abs the mean over all its
elements, its deviation the sum of its variables' l2. The same holds for the
whole selection. Parameters are selected with a filter (trainable, BN moving
statistics never included) and grouped by a module map
(:mod:`repro.landscape._shared`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import keras
import numpy as np

from repro.landscape._shared import ModuleMap, VariableFilter, Weights, module_of, parameters, read_weights, write_csv

METRICS = ("l2", "mean_abs", "deviation", "size")


@dataclass(frozen=True)
class Distance:
    """Distances of one variable, one module or the whole selection; ``size`` is the element count m."""

    name: str
    size: int
    l2: float
    mean_abs: float
    deviation: float


@dataclass(frozen=True)
class Distances:
    """Per-variable (with their module, or None), per-module and whole-selection distances."""

    variables: tuple[Distance, ...]
    variable_modules: tuple[Optional[str], ...]
    modules: tuple[Distance, ...]
    total: Distance

    def rows(self) -> list[dict]:
        """Long format (module, variable, metric, value), metric in l2/mean_abs/deviation/size: variables, then modules (variable "*"), then the total ("*", "*")."""
        rows = []
        for distance, module in zip(self.variables, self.variable_modules):
            rows += _rows(module or "", distance.name, distance)
        for distance in self.modules:
            rows += _rows(distance.name, "*", distance)
        return rows + _rows("*", "*", self.total)


def weight_distances(
    model: keras.Model,
    weights_a: Weights,
    weights_b: Optional[Weights] = None,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    trainable_only: bool = True,
    modules: ModuleMap = None,
) -> Distances:
    """l2 = ||W_a - W_b||_F, mean_abs = mean |W_a - W_b| and deviation = sum_l ||W_a,l - W_b,l||_F per variable, module and in total.

    Whole-model and per-module l2, deviation from init, mean absolute
    change. ``weights_b`` defaults to the model's current weights.
    Sums run in float64. The model is not modified.
    """
    variables = parameters(model, include, exclude, trainable_only)
    values_a = read_weights(model, weights_a, variables)
    values_b = read_weights(model, model if weights_b is None else weights_b, variables)
    per_variable = [_distance(v.path, a - b) for v, a, b in zip(variables, values_a, values_b)]
    names = [module_of(v.path, modules) for v in variables]
    grouped: dict[str, list[Distance]] = {}
    for name, distance in zip(names, per_variable):
        if name is not None:
            grouped.setdefault(name, []).append(distance)
    return Distances(
        variables=tuple(per_variable),
        variable_modules=tuple(names),
        modules=tuple(_combine(name, parts) for name, parts in grouped.items()),
        total=_combine("*", per_variable),
    )


def weight_deviation(
    model: keras.Model,
    init: Weights,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    trainable_only: bool = True,
) -> float:
    """sum_l ||W_l - W_l(0)||_F over the selected variables, W the model's current weights (weight deviation).

    The weight deviation during fine-tuning as a PyTorch ``fine-tune.py``
    computes it: not squared and not normalised, summed over the 53
    convolution kernels of ResNet-50 (no BN, no head); select them with
    ``include``, e.g. ``r"conv.*/kernel"``.
    """
    return weight_distances(model, init, None, include, exclude, trainable_only).total.deviation


def write_distances_csv(
    distances: Distances, path: "str | os.PathLike", extra: Optional[Mapping[str, object]] = None
) -> None:
    """Write :meth:`Distances.rows` as a long CSV: [extra columns,] module, variable, metric, value (atomically)."""
    write_csv(path, [{**(extra or {}), **row} for row in distances.rows()])


def _distance(name: str, difference: np.ndarray) -> Distance:
    l2 = float(np.sqrt(np.sum(np.square(difference))))
    size = int(np.size(difference))
    return Distance(name, size, l2, float(np.sum(np.abs(difference))) / size if size else 0.0, l2)


def _combine(name: str, parts: Sequence[Distance]) -> Distance:
    size = sum(p.size for p in parts)
    return Distance(
        name=name,
        size=size,
        l2=float(np.sqrt(sum(p.l2**2 for p in parts))),
        mean_abs=sum(p.mean_abs * p.size for p in parts) / size if size else 0.0,
        deviation=float(sum(p.l2 for p in parts)),
    )


def _rows(module: str, variable: str, distance: Distance) -> list[dict]:
    return [
        {"module": module, "variable": variable, "metric": metric, "value": getattr(distance, metric)}
        for metric in METRICS
    ]
