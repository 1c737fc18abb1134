"""Linear paths between two weight sets: interpolation curves and barrier heights.

The loss is evaluated along

    theta(alpha) = (1 - alpha) * theta_1 + alpha * theta_2

over the whole model state (its peak above the chord is the "performance
barrier"), as ``ckpt_interpolation.py`` of
google-research/understanding-transfer-learning does with a PyTorch state
dict (Li et al. 2018's ``--dir_type states`` likewise). Here the state is
``model.weights``: parameters *and* BatchNorm moving statistics.

BatchNorm choice. By default the moving mean and variance are interpolated
like every other weight, which is what both anchors do and what a network
without BN (a Fixup ResNet) reduces to. The interpolated statistics
are not the statistics of the interpolated network, so with ``bn_dataset``
they are instead re-estimated at every alpha from that dataset (the
population mean and variance of each BN input, see
:func:`recalibrate_batchnorm`); this is not in either anchor. Both choices are
recorded in the result. Extrapolating (alpha outside [0, 1]) can make an
interpolated moving variance negative and the loss NaN; re-estimation avoids it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from repro.landscape._shared import Dataset, VariableFilter, Weights, read_weights, state_variables, write_csv
from repro.landscape.state import LossFn, evaluate, preserved_weights, set_values, sparse_ce


def line_point(values_1: Sequence[np.ndarray], values_2: Sequence[np.ndarray], alpha: float) -> list[np.ndarray]:
    """theta(alpha) = (1 - alpha) * theta_1 + alpha * theta_2, per array, in float64.

    Linear interpolation. At alpha = 0 and 1 the result
    is theta_1 and theta_2 exactly.
    """
    alpha = float(alpha)
    return [(1.0 - alpha) * np.asarray(a, np.float64) + alpha * np.asarray(b, np.float64) for a, b in zip(values_1, values_2)]


_RECALIBRATION_CACHE: "dict[int, tf.types.experimental.GenericFunction]" = {}


def recalibrate_batchnorm(model: keras.Model, dataset: Dataset) -> int:
    """Set every BatchNorm layer's moving statistics to the population statistics of its input.

    For each BN layer with input activations a (per channel, over all N
    positions of all batches, earlier BN layers normalising with their batch
    statistics as in training):

        moving_mean     = (1/N) sum a
        moving_variance = (1/N) sum (a - moving_mean)^2   (biased, as Keras BN)

    computed exactly from per-batch moments, m = sum_b n_b m_b / N and
    v = sum_b n_b (v_b + m_b^2) / N - m^2, not by an exponential average.
    This serves the interpolation of BN networks (an option of
    :func:`interpolate`; a network without BN needs no re-estimation).
    Frozen BN layers are re-estimated too. Only the moving statistics change
    (and dropout's generator state, since the pass runs with training=True).
    Returns the number of BN layers re-estimated; renorm layers are rejected.
    """
    layers = [l for l in model._flatten_layers(include_self=True, recursive=True) if isinstance(l, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    for layer in layers:
        if layer.renorm:
            raise ValueError(f"BatchNormalization layer {layer.name!r} uses renorm, which recalibration does not support")
    settings = [(layer.momentum, layer.trainable) for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape), np.zeros(layer.moving_mean.shape)] for layer in layers]
    total = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # moving statistics := the last batch's statistics
            layer.trainable = True  # a frozen Keras BN layer would otherwise run in inference mode
        step = _RECALIBRATION_CACHE.get(id(model))
        if step is None:
            step = _RECALIBRATION_CACHE[id(model)] = tf.function(lambda x: model(x, training=True), reduce_retracing=True)
        for x, _ in dataset:
            step(x)
            count = int(np.shape(x)[0])
            total += count
            for layer, (first, second) in zip(layers, sums):
                mean = layer.moving_mean.numpy().astype(np.float64)
                first += count * mean
                second += count * (layer.moving_variance.numpy().astype(np.float64) + mean**2)
    finally:
        for layer, (momentum, trainable) in zip(layers, settings):
            layer.momentum = momentum
            layer.trainable = trainable
    if total == 0:
        raise ValueError("BatchNorm recalibration dataset is empty")
    for layer, (first, second) in zip(layers, sums):
        mean = first / total
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(np.maximum(second / total - mean**2, 0.0).astype(layer.moving_variance.dtype))
    return len(layers)


def barrier_height(alphas: Sequence[float], losses: Sequence[float], loss_0: float, loss_1: float) -> float:
    """B = max_{alpha in grid, 0 <= alpha <= 1} [L(alpha) - ((1 - alpha) L(0) + alpha L(1))].

    The performance barrier: the
    largest excess of the loss over the straight line between the end
    points. Points outside [0, 1] (extrapolation) do not count; a grid
    without 0 and 1 can give a negative barrier (path below the line).
    """
    alphas = np.asarray(alphas, np.float64)
    excess = np.asarray(losses, np.float64) - ((1.0 - alphas) * loss_0 + alphas * loss_1)
    inside = (alphas >= 0.0) & (alphas <= 1.0)
    if not inside.any():
        raise ValueError("the alpha grid has no point in [0, 1]")
    return float(np.max(excess[inside]))


@dataclass(frozen=True, eq=False)
class Interpolation:
    """Loss and accuracy along theta(alpha) = (1 - alpha) theta_1 + alpha theta_2.

    ``loss_ends``/``accuracy_ends`` are the evaluations at alpha = 0 and 1
    (with the same BN treatment as the grid), which define the linear baselines.
    """

    alphas: np.ndarray
    losses: np.ndarray
    accuracies: np.ndarray
    loss_ends: tuple[float, float]
    accuracy_ends: tuple[float, float]
    bn_recalibrated: bool
    n: int

    @property
    def baseline(self) -> np.ndarray:
        """(1 - alpha) L(0) + alpha L(1) at each alpha."""
        return (1.0 - self.alphas) * self.loss_ends[0] + self.alphas * self.loss_ends[1]

    @property
    def excess(self) -> np.ndarray:
        """L(alpha) minus the linear baseline."""
        return self.losses - self.baseline

    @property
    def accuracy_baseline(self) -> np.ndarray:
        """(1 - alpha) A(0) + alpha A(1) at each alpha."""
        return (1.0 - self.alphas) * self.accuracy_ends[0] + self.alphas * self.accuracy_ends[1]

    @property
    def barrier(self) -> float:
        """Loss barrier, max over alpha in [0, 1] of the excess (:func:`barrier_height`)."""
        return barrier_height(self.alphas, self.losses, *self.loss_ends)

    @property
    def accuracy_barrier(self) -> float:
        """max over alpha in [0, 1] of the accuracy baseline minus A(alpha) (the drop in Fig. 4)."""
        return barrier_height(self.alphas, -self.accuracies, -self.accuracy_ends[0], -self.accuracy_ends[1])


def interpolate(
    model: keras.Model,
    dataset: Dataset,
    theta_1: Weights,
    theta_2: Weights,
    alphas: Sequence[float] = tuple(np.linspace(0.0, 1.0, 21)),
    loss_fn: LossFn = sparse_ce,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    bn_dataset: Optional[Dataset] = None,
) -> Interpolation:
    """Evaluate L(theta(alpha)), theta(alpha) = (1 - alpha) theta_1 + alpha theta_2, at every alpha.

    The selected entries of
    ``model.weights`` (all by default, BN moving statistics included) follow
    the line; unselected ones keep the model's current values. ``alphas`` may
    lie outside [0, 1] (extrapolation). With ``bn_dataset`` the BN moving
    statistics are re-estimated at every alpha (module docstring). The
    end points are evaluated too if 0 or 1 is not on the grid. The model is
    restored on return.
    """
    alphas = np.asarray(alphas, np.float64)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty 1-D grid of finite numbers, got {alphas!r}")
    variables = state_variables(model, include, exclude)
    values_1 = read_weights(model, theta_1, variables)
    values_2 = read_weights(model, theta_2, variables)
    evaluations = {}
    with preserved_weights(model):
        for alpha in [*alphas, 0.0, 1.0]:
            if float(alpha) in evaluations:
                continue
            set_values(variables, line_point(values_1, values_2, alpha))
            if bn_dataset is not None:
                recalibrate_batchnorm(model, bn_dataset)
            evaluations[float(alpha)] = evaluate(model, dataset, loss_fn)
    grid = [evaluations[float(alpha)] for alpha in alphas]
    return Interpolation(
        alphas=alphas,
        losses=np.array([e.loss for e in grid]),
        accuracies=np.array([e.accuracy for e in grid]),
        loss_ends=(evaluations[0.0].loss, evaluations[1.0].loss),
        accuracy_ends=(evaluations[0.0].accuracy, evaluations[1.0].accuracy),
        bn_recalibrated=bn_dataset is not None,
        n=grid[0].n,
    )


def write_interpolation_csv(
    result: Interpolation, path: "str | os.PathLike", extra: Optional[Mapping[str, object]] = None
) -> None:
    """One CSV row per alpha: [extra columns,] alpha, loss, accuracy, baseline, excess, accuracy_baseline, bn_recalibrated.

    ``baseline`` is (1 - alpha) L(0) + alpha L(1) and ``excess`` = loss -
    baseline; ``extra`` (e.g. pair, domain,
    seed) is repeated on every row. The file is written atomically.
    """
    rows = [
        {
            **(extra or {}),
            "alpha": float(alpha),
            "loss": float(loss),
            "accuracy": float(accuracy),
            "baseline": float(baseline),
            "excess": float(excess),
            "accuracy_baseline": float(accuracy_baseline),
            "bn_recalibrated": result.bn_recalibrated,
        }
        for alpha, loss, accuracy, baseline, excess, accuracy_baseline in zip(
            result.alphas, result.losses, result.accuracies, result.baseline, result.excess, result.accuracy_baseline
        )
    ]
    write_csv(path, rows)
