"""Module criticality: rewinding one module to its initial value, and Chatterji et al.'s measure.

Rewinding: module i takes its value at
initialization (checkpoint 0) while every other module keeps its final
value, and the network is evaluated. The whole module state is rewound,
BatchNorm moving statistics included, as loading part of a checkpoint would.

Criticality measure (Chatterji et al. 2020, "The intriguing role of module
criticality"), for module i with parameters theta_i:

    mu_i = min_{alpha, sigma} alpha^2 ||theta_i^F - theta_i^0||_F^2 / sigma^2
    s.t.  E_{u ~ N(0, sigma^2 I)} [ L(theta_i^alpha + u, Theta_{-i}^F) ] <= threshold,
    theta_i^alpha = (1 - alpha) theta_i^0 + alpha theta_i^F,

with threshold = L(Theta^F) + epsilon, or (1 + epsilon) L(Theta^F) with
``relative=True`` (google-research/meta-dataset's 1.01x is epsilon = 0.01).
The minimum runs over a grid of alpha and sigma > 0; it is +inf when no grid
point satisfies the constraint. The expectation is a mean over
``n_samples`` draws; every draw is a fresh Gaussian array for every variable
of the module (lists, never generators or lazy maps that a first use
exhausts). Only parameters get noise (BN moving statistics stay final).
The "optimization path" variant replaces theta_i^0 by the module's value at
each saved checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import keras
import numpy as np

from repro.landscape._shared import (
    Dataset,
    ModuleMap,
    VariableFilter,
    Weights,
    group_by_module,
    parameters,
    read_weights,
    state_variables,
)
from repro.landscape.state import Evaluation, LossFn, evaluate, get_values, preserved_weights, set_values, sparse_ce


@dataclass(frozen=True)
class Rewinding:
    """Evaluation of the final model and of the model with each module rewound to its initial value."""

    final: Evaluation
    modules: tuple[str, ...]
    rewound: tuple[Evaluation, ...]


def rewind_modules(
    model: keras.Model,
    dataset: Dataset,
    init: Weights,
    loss_fn: LossFn = sparse_ce,
    modules: ModuleMap = None,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
) -> Rewinding:
    """L(theta_i^0, Theta_{-i}^F) and accuracy for every module i, plus L(Theta^F) (module rewinding).

    Theta^F is the model's current state; ``init`` is a weight set (checkpoint
    0). Modules come from ``modules`` over the selected entries of
    ``model.weights`` (BN moving statistics included; default: one module per
    layer). The model is restored on return.
    """
    groups = group_by_module(state_variables(model, include, exclude), modules)
    rewound = []
    with preserved_weights(model):
        final = evaluate(model, dataset, loss_fn)
        for variables in groups.values():
            saved = get_values(variables)
            set_values(variables, read_weights(model, init, variables))
            rewound.append(evaluate(model, dataset, loss_fn))
            set_values(variables, saved)
    return Rewinding(final=final, modules=tuple(groups), rewound=tuple(rewound))


def grid_values(alphas: np.ndarray, sigmas: np.ndarray, distance: float) -> np.ndarray:
    """[a, s] = alphas[a]^2 distance^2 / sigmas[s]^2: the value of each grid point, whose minimum over the accepted
    points is the measure."""
    return np.outer(alphas**2, 1.0 / sigmas**2) * distance**2


@dataclass(frozen=True, eq=False)
class Criticality:
    """The grid behind the criticality measure of one module (Chatterji et al. 2020).

    ``mean_losses[a, s]`` and ``mean_accuracies[a, s]`` are the noisy means at
    (alphas[a], sigmas[s]); they are the criticality heat map
    (x = alpha * distance along the path, y = sigma).
    ``distance`` is ||theta^F - theta^0||_F of the module.
    """

    module: str
    alphas: np.ndarray
    sigmas: np.ndarray
    mean_losses: np.ndarray
    mean_accuracies: np.ndarray
    final_loss: float
    threshold: float
    distance: float
    n_samples: int
    seed: int

    @property
    def accepted(self) -> np.ndarray:
        """Grid points whose mean noisy loss is within the threshold."""
        return self.mean_losses <= self.threshold

    @property
    def values(self) -> np.ndarray:
        """alpha^2 ||theta^F - theta^0||_F^2 / sigma^2 on the grid."""
        return grid_values(self.alphas, self.sigmas, self.distance)

    @property
    def measure(self) -> float:
        """mu = min of :attr:`values` over :attr:`accepted` points (+inf if none)."""
        return float(np.min(self.values[self.accepted])) if self.accepted.any() else float("inf")


def module_criticality(
    model: keras.Model,
    dataset: Dataset,
    init: Weights,
    module: str,
    loss_fn: LossFn = sparse_ce,
    modules: ModuleMap = None,
    alphas: Sequence[float] = tuple(np.linspace(0.0, 1.0, 11)),
    sigmas: Sequence[float] = tuple(np.geomspace(1e-3, 1.0, 10)),
    n_samples: int = 10,
    epsilon: float = 0.01,
    relative: bool = False,
    seed: int = 0,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    measure_only: bool = False,
) -> Criticality:
    """mu_i = min alpha^2 ||theta_i^F - theta_i^0||_F^2 / sigma^2 s.t. E_u L(theta_i^alpha + u, Theta_-i^F) <= threshold.

    Chatterji et al. 2020 module criticality over the direct path
    theta_i^alpha = (1 - alpha) theta_i^0 + alpha theta_i^F (the "direct
    path"). ``module`` names a group of the selected
    trainable parameters under ``modules``; theta^F is the model's current
    state and ``init`` gives theta^0. threshold = L(Theta^F) + epsilon, or
    (1 + epsilon) L(Theta^F) if ``relative``. Every (alpha, sigma) gets
    ``n_samples`` fresh draws u ~ N(0, sigma^2 I) from
    ``numpy.random.default_rng(seed)``; cost: 1 + |alphas| |sigmas| n_samples
    evaluations. The model is restored on return.

    ``measure_only``: evaluate the grid points in increasing order of their
    value and stop at the first accepted one, which is mu; the points not
    evaluated are NaN in the grid. Each point gets the draws it gets in the
    full grid (the generator's state at that point is recorded first), so mu
    is the full grid's, bit for bit, at the cost of the points below it (and of
    drawing the whole grid's noise once, without evaluating it).
    """
    variables = _module_parameters(model, module, modules, include, exclude)
    return _measure(model, dataset, variables, read_weights(model, init, variables), module, loss_fn,
                    alphas, sigmas, n_samples, epsilon, relative, seed, measure_only)


@dataclass(frozen=True, eq=False)
class PathCriticality:
    """Criticality with theta^0 := the module's value at each checkpoint of the optimization path.

    ``path_length[k]`` = sum_{j <= k} ||theta^{(j)} - theta^{(j-1)}||_F, the
    distance travelled along the checkpoints up to checkpoint k (the x axis
    of an "optimization path" plot).
    """

    results: tuple[Criticality, ...]
    path_length: np.ndarray

    @property
    def measures(self) -> np.ndarray:
        """mu_i with theta^0 := checkpoint k, for every k."""
        return np.array([result.measure for result in self.results])

    @property
    def checkpoint_losses(self) -> np.ndarray:
        """[k, s]: mean loss at checkpoint k's module value plus N(0, sigma_s^2) noise (the alpha = 0 column)."""
        zero = np.flatnonzero(self.results[0].alphas == 0.0)
        if zero.size == 0:
            raise ValueError("alpha = 0 is not on the grid, so the checkpoints themselves were not evaluated")
        return np.stack([result.mean_losses[zero[0]] for result in self.results])


def path_criticality(
    model: keras.Model,
    dataset: Dataset,
    checkpoints: Sequence[Weights],
    module: str,
    loss_fn: LossFn = sparse_ce,
    modules: ModuleMap = None,
    alphas: Sequence[float] = tuple(np.linspace(0.0, 1.0, 11)),
    sigmas: Sequence[float] = tuple(np.geomspace(1e-3, 1.0, 10)),
    n_samples: int = 10,
    epsilon: float = 0.01,
    relative: bool = False,
    seed: int = 0,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
) -> PathCriticality:
    """For each checkpoint k: min alpha^2 ||theta_i^F - theta_i^(k)||_F^2 / sigma^2 s.t. the noisy loss stays within the threshold.

    Chatterji et al. 2020 measure along the optimization path: as
    :func:`module_criticality` with theta_i^0 replaced by the module's value
    at each checkpoint (weight sets in training order, checkpoint 0 first).
    Every checkpoint uses the same seed, i.e. the same noise draws (common
    random numbers, so differences between checkpoints are not sampling
    noise). Cost: |checkpoints| times that of :func:`module_criticality`.
    The model is restored on return.
    """
    if not checkpoints:
        raise ValueError("path_criticality needs at least one checkpoint")
    variables = _module_parameters(model, module, modules, include, exclude)
    starts = [read_weights(model, checkpoint, variables) for checkpoint in checkpoints]
    steps = [0.0] + [_norm(b, a) for a, b in zip(starts, starts[1:])]
    results = tuple(
        _measure(model, dataset, variables, start, module, loss_fn, alphas, sigmas, n_samples, epsilon, relative, seed)
        for start in starts
    )
    return PathCriticality(results=results, path_length=np.cumsum(steps))


def _module_parameters(
    model: keras.Model, module: str, modules: ModuleMap, include: VariableFilter, exclude: Optional[str]
) -> list:
    groups = group_by_module(parameters(model, include, exclude), modules)
    if module not in groups:
        raise ValueError(f"module {module!r} is not one of {sorted(groups)}")
    return groups[module]


def _norm(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum((np.asarray(x, np.float64) - y) ** 2) for x, y in zip(a, b))))


def _measure(
    model: keras.Model,
    dataset: Dataset,
    variables: list,
    start: list[np.ndarray],
    module: str,
    loss_fn: LossFn,
    alphas: Sequence[float],
    sigmas: Sequence[float],
    n_samples: int,
    epsilon: float,
    relative: bool,
    seed: int,
    measure_only: bool = False,
) -> Criticality:
    alphas = np.asarray(alphas, np.float64)
    sigmas = np.asarray(sigmas, np.float64)
    if alphas.ndim != 1 or alphas.size == 0 or sigmas.ndim != 1 or sigmas.size == 0:
        raise ValueError("alphas and sigmas must be non-empty 1-D grids")
    if np.any(sigmas <= 0):
        raise ValueError(f"sigmas must be > 0 (the measure divides by sigma^2), got {sigmas!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    final = [np.asarray(v, np.float64) for v in get_values(variables)]
    distance = _norm(final, start)
    generator = np.random.default_rng(seed)
    points = [(a, s) for a in range(alphas.size) for s in range(sigmas.size)]  # the generator's order
    states = {}
    if measure_only:  # each point's generator state, as the full grid reaches it; then the points by value
        for point in points:
            states[point] = generator.bit_generator.state
            for _ in range(n_samples):
                for v in final:
                    generator.standard_normal(v.shape)
        values = grid_values(alphas, sigmas, distance)
        points.sort(key=lambda point: values[point])
    losses = np.full((alphas.size, sigmas.size), np.nan)
    accuracies = np.full_like(losses, np.nan)
    with preserved_weights(model):
        final_loss = evaluate(model, dataset, loss_fn).loss
        threshold = (1.0 + epsilon) * final_loss if relative else final_loss + epsilon
        for a, s in points:
            alpha, sigma = alphas[a], sigmas[s]
            if measure_only:
                generator.bit_generator.state = states[a, s]
            centre = [(1.0 - alpha) * s0 + alpha * f for s0, f in zip(start, final)]
            total_loss = total_accuracy = 0.0
            for _ in range(n_samples):
                set_values(variables, [c + sigma * generator.standard_normal(c.shape) for c in centre])
                result = evaluate(model, dataset, loss_fn)
                total_loss += result.loss
                total_accuracy += result.accuracy
            losses[a, s] = total_loss / n_samples
            accuracies[a, s] = total_accuracy / n_samples
            if measure_only and losses[a, s] <= threshold:
                break
    return Criticality(
        module=module,
        alphas=alphas,
        sigmas=sigmas,
        mean_losses=losses,
        mean_accuracies=accuracies,
        final_loss=final_loss,
        threshold=threshold,
        distance=distance,
        n_samples=n_samples,
        seed=seed,
    )
