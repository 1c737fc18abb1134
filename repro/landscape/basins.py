"""The (epsilon, delta)-basin of two solutions: a convex region of low loss around them.

Definition: a closed convex S in R^n is an (epsilon, delta)-basin of l if
 (1) E_{w ~ U_S} |l(w) - mu_S| <= epsilon,  mu_S = E_{w ~ U_S} l(w);
 (2) E_{w1, w2 ~ U_S, v ~ N(0, delta^2/n I_n)} [l(f(w1, w2) + v) - mu_S] >= 2 epsilon,
     f(w1, w2) = w1 + a~ (w2 - w1), a~ = max{a : w1 + a (w2 - w1) in S} (the boundary along the ray);
 (3) E_{w1, w2 ~ U_S, v ~ N(0, delta^2)} [l(f + |v| (f - w1)/||f - w1||) - mu_S] >= 2 epsilon.

Estimate (the definition comes with no code or grid): S is the segment of the line
theta(a) = (1 - a) theta_1 + a theta_2 through the two solutions on which the
loss stays at or below a basin level. Extrapolating outward from a = 1 and
a = 0 on a grid, the boundary a_high (a_low) is where the loss first exceeds
the level (linear interpolation between the last grid point below and the
first above). On a segment the ray from w1 through w2 leaves S at a_high when
a2 > a1, else at a_low. epsilon is the smallest value satisfying (1), i.e.
its sample estimate; delta is the smallest value on a recorded grid for which
the sample estimates of (2) and (3) both reach 2 epsilon. Every expectation
is a mean over ``n_samples`` fresh seeded draws (fresh for every delta).

w is the vector of the selected parameters (trainable, BN statistics
excluded; n = their count); all other weights, BN moving statistics
included, sit at the same a on the line. Distances along the line are
measured in w. A non-finite loss (an extrapolated negative BN variance, an
overflow) counts as +inf, i.e. outside any basin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from repro.landscape._shared import Dataset, VariableFilter, Weights, parameters, read_weights, state_variables
from repro.landscape.paths import line_point, recalibrate_batchnorm
from repro.landscape.state import LossFn, evaluate, preserved_weights, set_values, sparse_ce


@dataclass(frozen=True, eq=False)
class Basin:
    """An (epsilon, delta)-basin estimate (the module's definition) on the line of two solutions.

    ``alpha_low``/``alpha_high`` bound S on the line; ``closed_*`` is False
    when the extrapolation grid ended before the loss crossed ``level``
    (S is then a lower bound). ``boundary_excess[k]`` and
    ``beyond_excess[k]`` are the left-hand sides of conditions (2) and (3),
    E[l] - mu, at ``deltas[k]``; ``delta`` is the first grid value where both
    reach 2 epsilon, NaN when none does. ``extrapolation_*`` are the points
    evaluated in the boundary search, sorted by alpha.
    """

    level: float
    alpha_low: float
    alpha_high: float
    closed_low: bool
    closed_high: bool
    extrapolation_alphas: np.ndarray
    extrapolation_losses: np.ndarray
    mu: float
    epsilon: float
    deltas: np.ndarray
    boundary_excess: np.ndarray
    beyond_excess: np.ndarray
    delta: float
    n_samples: int
    seed: int
    dimension: int
    line_length: float


def estimate_basin(
    model: keras.Model,
    dataset: Dataset,
    theta_1: Weights,
    theta_2: Weights,
    loss_fn: LossFn = sparse_ce,
    steps: Sequence[float] = tuple(np.linspace(0.1, 2.0, 20)),
    level: Optional[float] = None,
    tolerance: float = 0.1,
    deltas: Sequence[float] = tuple(2.0 ** np.arange(-4, 8)),
    n_samples: int = 10,
    seed: int = 0,
    include: VariableFilter = None,
    exclude: Optional[str] = None,
    bn_dataset: Optional[Dataset] = None,
) -> Basin:
    """Estimate (epsilon, delta) of the basin definition (module docstring) for the basin of theta_1 and theta_2.

    The boundary is searched at a = 1 + s and a = -s for the increasing
    ``steps`` s; the basin level is ``level`` or, by default,
    (1 + tolerance) max(L(theta_1), L(theta_2)). epsilon = mean |l(w) - mu|
    over ``n_samples`` w ~ U_S; for each delta in ``deltas`` (ascending)
    conditions (2) and (3) are each estimated from ``n_samples`` draws of
    (w1, w2, v). With ``bn_dataset`` the BN moving statistics are
    re-estimated at every evaluated point (:func:`recalibrate_batchnorm`).
    Seeded by ``seed``; the model is restored on return.
    """
    steps = np.asarray(steps, np.float64)
    deltas = np.asarray(deltas, np.float64)
    if steps.ndim != 1 or steps.size == 0 or np.any(steps <= 0) or np.any(np.diff(steps) <= 0):
        raise ValueError(f"steps must be positive and increasing, got {steps!r}")
    if deltas.ndim != 1 or deltas.size == 0 or np.any(deltas <= 0) or np.any(np.diff(deltas) <= 0):
        raise ValueError(f"deltas must be positive and increasing, got {deltas!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    state = state_variables(model)
    values_1 = read_weights(model, theta_1, state)
    values_2 = read_weights(model, theta_2, state)
    position = {id(v): i for i, v in enumerate(state)}
    chosen = [position[id(v)] for v in parameters(model, include, exclude)]
    dimension = sum(values_1[i].size for i in chosen)
    line_length = float(np.sqrt(sum(np.sum((values_2[i] - values_1[i]) ** 2) for i in chosen)))
    if line_length == 0.0:
        raise ValueError("theta_1 and theta_2 are equal on the selected parameters: there is no line")
    generator = np.random.default_rng(seed)

    def loss_at(alpha: float, noise_scale: float = 0.0) -> float:
        point = line_point(values_1, values_2, alpha)
        if noise_scale:
            for i in chosen:
                point[i] = point[i] + noise_scale * generator.standard_normal(point[i].shape)
        set_values(state, point)
        if bn_dataset is not None:
            recalibrate_batchnorm(model, bn_dataset)
        loss = evaluate(model, dataset, loss_fn).loss
        return loss if np.isfinite(loss) else np.inf

    with preserved_weights(model):
        ends = loss_at(0.0), loss_at(1.0)
        if level is None:
            level = (1.0 + tolerance) * max(ends)
        visited: list[tuple[float, float]] = []
        alpha_high, closed_high = _boundary(1.0, ends[1], steps, level, loss_at, visited)
        alpha_low, closed_low = _boundary(0.0, ends[0], -steps, level, loss_at, visited)

        inside = [loss_at(a) for a in generator.uniform(alpha_low, alpha_high, n_samples)]
        mu = float(np.mean(inside))
        epsilon = float(np.mean(np.abs(np.asarray(inside) - mu)))

        def boundary_end() -> tuple[float, float]:
            first, second = generator.uniform(alpha_low, alpha_high, 2)
            return (alpha_high, 1.0) if second > first else (alpha_low, -1.0)

        boundary_excess, beyond_excess = [], []
        for delta in deltas:
            boundary = [loss_at(boundary_end()[0], delta / np.sqrt(dimension)) for _ in range(n_samples)]
            beyond = []
            for _ in range(n_samples):
                end, sign = boundary_end()
                beyond.append(loss_at(end + sign * abs(generator.standard_normal()) * delta / line_length))
            boundary_excess.append(np.mean(boundary) - mu)
            beyond_excess.append(np.mean(beyond) - mu)

    boundary_excess = np.array(boundary_excess)
    beyond_excess = np.array(beyond_excess)
    satisfied = (boundary_excess >= 2 * epsilon) & (beyond_excess >= 2 * epsilon)
    visited.sort()
    return Basin(
        level=float(level),
        alpha_low=float(alpha_low),
        alpha_high=float(alpha_high),
        closed_low=closed_low,
        closed_high=closed_high,
        extrapolation_alphas=np.array([a for a, _ in visited]),
        extrapolation_losses=np.array([l for _, l in visited]),
        mu=mu,
        epsilon=epsilon,
        deltas=deltas,
        boundary_excess=boundary_excess,
        beyond_excess=beyond_excess,
        delta=float(deltas[np.argmax(satisfied)]) if satisfied.any() else float("nan"),
        n_samples=n_samples,
        seed=seed,
        dimension=dimension,
        line_length=line_length,
    )


def _boundary(
    start: float,
    start_loss: float,
    offsets: np.ndarray,
    level: float,
    loss_at: Callable[[float], float],
    visited: list,
) -> tuple[float, bool]:
    """Walk a = start + offset outward; return the level crossing (interpolated) and whether one was found."""
    previous_alpha, previous_loss = start, start_loss
    if previous_loss > level:
        return start, True
    for offset in offsets:
        alpha = start + offset
        loss = loss_at(alpha)
        visited.append((alpha, loss))
        if loss > level:
            if not np.isfinite(loss):
                return previous_alpha, True
            fraction = (level - previous_loss) / (loss - previous_loss)
            return previous_alpha + fraction * (alpha - previous_alpha), True
        previous_alpha, previous_loss = alpha, loss
    return previous_alpha, False
