"""Curvature of a Keras model's loss: top Hessian eigenpairs and the Hessian trace.

Model-facing front of the curvature module: builds a
:class:`repro.landscape.hvp.HessianOperator` over the filtered variables and a
fixed evaluation dataset (``training=False``) and runs an algorithm of
:mod:`repro.landscape.eigen` on it. The model is never rebuilt and all its
variables are restored on return.
"""
from __future__ import annotations

from typing import Iterable, Literal

import keras

from repro.landscape.eigen import Eigenpairs, TraceEstimate, Which, hutchinson_trace, lanczos, power_iteration
from repro.landscape.hvp import HessianOperator, HvpMode
from repro.landscape.state import LossFn, VariableFilter, preserved_weights, sparse_ce

__all__ = ["hessian_eigenpairs", "hessian_trace", "Eigenpairs", "TraceEstimate"]


def hessian_eigenpairs(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
    k: int = 1,
    method: Literal["lanczos", "power_iteration"] = "lanczos",
    which: "Which | None" = None,
    order: "int | None" = None,
    max_iter: int = 100,
    tol: float = 1e-3,
    mode: HvpMode = "forward",
    seed: int = 0,
) -> Eigenpairs:
    """Top-k eigenpairs of H = d^2 L / d theta^2, L = (1/N) sum_i loss_i (flatness, sharpness).

    theta are the variables matching ``include``/``exclude``. ``method='lanczos'``
    (default; ``order`` steps at most, ``which`` selects 'LA' (default)/'SA'/'LM',
    converged when the Ritz residual |beta_m s_{m,i}| <= tol |lambda_i|) or
    ``'power_iteration'`` (deflated, largest magnitude, stops on relative change
    of lambda <= tol or ``max_iter`` HVPs per eigenvalue). Residuals
    ||H v_i - lambda_i v_i|| and the number of dataset HVPs are reported.
    """
    with preserved_weights(model):
        operator = HessianOperator(model, dataset, loss_fn, include=include, exclude=exclude, mode=mode)
        if method == "lanczos":
            return lanczos(operator, k, order=order, which=which or "LA", tol=tol, seed=seed)
        if method == "power_iteration":
            if which not in (None, "LM"):
                raise ValueError(f"which={which!r}: power iteration finds the largest-magnitude eigenvalues, pass which='LM'")
            return power_iteration(operator, k, max_iter=max_iter, tol=tol, seed=seed)
        raise ValueError(f"method={method!r}: accepted values are 'lanczos' and 'power_iteration'")


def hessian_trace(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
    n_samples: int = 100,
    mode: HvpMode = "forward",
    seed: int = 0,
) -> TraceEstimate:
    """Hutchinson estimate of tr(H) = E_z[z^T H z], z Rademacher, with its standard error.

    H is the Hessian of L = (1/N) sum_i loss_i over the filtered variables;
    ``n_samples`` dataset HVPs.
    """
    with preserved_weights(model):
        operator = HessianOperator(model, dataset, loss_fn, include=include, exclude=exclude, mode=mode)
        return hutchinson_trace(operator, n_samples, seed=seed)
