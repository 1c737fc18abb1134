"""Weight sets, module maps and result files shared by the landscape analyses.

A *weight set* (:data:`Weights`) gives one value to every entry of
``model.weights`` (parameters and BatchNorm moving statistics; random-number
generator state is not part of it). It is any of

- a sequence of arrays in the order of ``model.weights`` (``model.get_weights()``),
- a mapping ``variable.path -> array``,
- another Keras model of the same architecture (its ``weights``, position by position),
- the path of a weights file, Keras' ``.weights.h5`` or the suite's
  ``.weights.npz`` (:mod:`repro.weightfiles`; loaded into the model, read
  back, and the model restored).

A *module map* (:data:`ModuleMap`) groups variables into modules: ``None``
groups by layer (the path without its last component, ``"conv1/kernel" ->
"conv1"``); a callable maps a variable path to a module name, or ``None`` to
leave the variable out; a dict ``{regex: module}`` gives the module of the
first pattern found in the path, and variables no pattern matches are left out.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import keras
import numpy as np

from repro.files import atomic_write
from repro.landscape.state import get_values, preserved_weights, select_variables
from repro.weightfiles import load_weights

Weights = Union[Sequence[np.ndarray], Mapping[str, np.ndarray], keras.Model, str, os.PathLike]
VariableFilter = Union[str, Callable[[Any], bool], None]
ModuleMap = Union[Callable[[str], Optional[str]], Mapping[str, str], None]
Dataset = Iterable  # re-iterable (x, y) batches, one full pass per evaluation


def eval_batches(x: np.ndarray, y: np.ndarray, batch: int = 500) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(x, y)`` as a re-iterable list of evaluation batches of at most ``batch`` examples (a :data:`Dataset`)."""
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]


def first_examples(batches: Iterable, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` examples of a stream of ``(x, y)`` batches, as arrays (fewer if the stream ends)."""
    xs, ys, count = [], [], 0
    for x, y in batches:
        xs.append(np.asarray(x)[: n - count])
        ys.append(np.asarray(y)[: n - count])
        count += len(xs[-1])
        if count >= n:
            break
    if not xs:
        raise ValueError("no examples in the evaluation stream")
    return np.concatenate(xs), np.concatenate(ys)


def state_variables(model: keras.Model, include: VariableFilter = None, exclude: Optional[str] = None) -> list:
    """Entries of ``model.weights`` (BatchNorm moving statistics included) matching the filter."""
    chosen = {id(v) for v in select_variables(model, include, exclude, trainable_only=False)}
    variables = [v for v in model.weights if id(v) in chosen]
    if not variables:
        raise ValueError(f"no weight of model {model.name!r} matches include={include!r} exclude={exclude!r}")
    return variables


def batchnorm_statistics(model: keras.Model) -> frozenset:
    """``id`` of every BatchNormalization moving mean and moving variance in ``model``."""
    ids = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            ids.update((id(layer.moving_mean), id(layer.moving_variance)))
    return frozenset(ids)


def parameters(
    model: keras.Model,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    trainable_only: bool = True,
) -> list:
    """Weights matching the filter that are parameters: BatchNorm moving statistics are never included."""
    statistics = batchnorm_statistics(model)
    chosen = [v for v in state_variables(model, include, exclude) if id(v) not in statistics]
    if trainable_only:
        chosen = [v for v in chosen if v.trainable]
    if not chosen:
        raise ValueError(
            f"no parameter of model {model.name!r} matches include={include!r} exclude={exclude!r}"
            f" trainable_only={trainable_only}"
        )
    return chosen


def read_weights(model: keras.Model, weights: Weights, variables: Sequence) -> list[np.ndarray]:
    """The values a weight set gives to ``variables`` (entries of ``model.weights``), as float64 arrays."""
    everything = list(model.weights)
    if isinstance(weights, Mapping):
        paths = [v.path for v in everything]
        values = []
        for variable in variables:
            if paths.count(variable.path) != 1:
                raise ValueError(f"variable path {variable.path!r} is not unique in model {model.name!r}")
            if variable.path not in weights:
                raise KeyError(f"weight set has no entry for variable {variable.path!r}")
            values.append(weights[variable.path])
    else:
        if isinstance(weights, keras.Model):
            full = [v.numpy() for v in weights.weights]
        elif isinstance(weights, (str, os.PathLike)):
            with preserved_weights(model):
                load_weights(model, weights)
                full = get_values(everything)
        else:
            full = list(weights)
        if len(full) != len(everything):
            raise ValueError(f"weight set has {len(full)} arrays but model {model.name!r} has {len(everything)} weights")
        index = {id(v): i for i, v in enumerate(everything)}
        values = [full[index[id(v)]] for v in variables]
    arrays = [np.asarray(value, dtype=np.float64) for value in values]
    for variable, array in zip(variables, arrays):
        if tuple(array.shape) != tuple(variable.shape):
            raise ValueError(f"weight set gives shape {array.shape} to {variable.path!r} of shape {tuple(variable.shape)}")
    return arrays


def module_of(path: str, modules: ModuleMap) -> Optional[str]:
    """Module name of the variable at ``path`` under a module map, or ``None`` if it belongs to none."""
    if modules is None:
        return path.rsplit("/", 1)[0] if "/" in path else path
    if callable(modules):
        return modules(path)
    for pattern, name in modules.items():
        if re.search(pattern, path):
            return name
    return None


def group_by_module(variables: Sequence, modules: ModuleMap) -> dict[str, list]:
    """``{module: [variables]}`` in order of first appearance; unmapped variables are left out."""
    groups: dict[str, list] = {}
    for variable in variables:
        name = module_of(variable.path, modules)
        if name is not None:
            groups.setdefault(name, []).append(variable)
    if not groups:
        raise ValueError("the module map assigns none of the selected variables to a module")
    return groups


def write_csv(path: "str | os.PathLike", rows: Sequence[Mapping[str, object]]) -> None:
    """Write ``rows`` (same keys, in order) as a CSV file atomically (:func:`repro.files.atomic_write`)."""
    if not rows:
        raise ValueError("no rows to write")

    def write(stream) -> None:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(Path(path), write)
