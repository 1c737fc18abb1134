"""Eigenvalues and trace of a symmetric operator given only by matrix-vector products.

The algorithm half of the curvature module: every function takes an object
with ``size`` (dimension n) and ``matvec(v) -> A v`` on flat float64 NumPy
vectors, e.g. :class:`repro.landscape.hvp.HessianOperator` or
:class:`MatrixOperator`, and counts the products it spends (``n_hvp``). All
arithmetic is float64 on the host; every random start is drawn from
``numpy.random.default_rng(seed)``, so a seed reproduces a result exactly
(given a deterministic operator).

These serve flatness measures (top Hessian eigenvalues and trace of the loss
around a solution) and the top Hessian eigenvectors along which the
gradient's principal component is measured.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Which = Literal["LA", "SA", "LM"]


class SymmetricOperator(Protocol):
    """A symmetric linear map on R^n given by its matrix-vector product."""

    size: int

    def matvec(self, vector: np.ndarray) -> np.ndarray: ...


class MatrixOperator:
    """A dense symmetric matrix as an operator: ``matvec(v) = A v``, counted in ``n_hvp``."""

    def __init__(self, matrix: np.ndarray) -> None:
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"expected a square matrix, got shape {matrix.shape}")
        if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(matrix).max())):
            raise ValueError("matrix is not symmetric")
        self.matrix = matrix
        self.size = matrix.shape[0]
        self.n_hvp = 0

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """A v."""
        self.n_hvp += 1
        return self.matrix @ np.asarray(vector, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Eigenpairs:
    """Approximate eigenpairs (lambda_i, v_i) of a symmetric operator.

    ``eigenvectors[i]`` is the unit vector of ``eigenvalues[i]``; ``residuals[i]``
    is ``||A v_i - lambda_i v_i||_2``; ``converged[i]`` says whether the method's
    stopping rule was met for pair i; ``n_hvp`` counts operator products.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    converged: np.ndarray
    n_hvp: int
    method: str


@dataclass(frozen=True, eq=False)
class TraceEstimate:
    """Hutchinson estimate of tr(A): the mean of ``samples`` z^T A z and its standard error."""

    estimate: float
    stderr: float
    samples: np.ndarray
    n_hvp: int


_SORT_KEYS = {"LA": lambda values: -values, "SA": lambda values: values, "LM": lambda values: -np.abs(values)}


def _unit_gaussian(rng: np.random.Generator, size: int) -> np.ndarray:
    vector = rng.standard_normal(size)
    return vector / np.linalg.norm(vector)


def lanczos(
    operator: SymmetricOperator,
    k: int = 1,
    *,
    order: "int | None" = None,
    which: Which = "LA",
    tol: float = 1e-3,
    breakdown_tol: float = 1e-10,
    seed: int = 0,
) -> Eigenpairs:
    """Top-k eigenpairs of A by Lanczos with full re-orthogonalisation.

    From a seeded unit Gaussian q_1, builds the orthonormal Krylov basis
    Q_m = [q_1..q_m] and the tridiagonal T_m = Q_m^T A Q_m by

        w = A q_j - alpha_j q_j - beta_{j-1} q_{j-1},   alpha_j = q_j^T A q_j,
        w <- w - Q_j (Q_j^T w)  (twice, full re-orthogonalisation),
        beta_j = ||w||,  q_{j+1} = w / beta_j,

    in float64. With T_m = S diag(theta) S^T, the Ritz pairs are (theta_i, Q_m s_i)
    and their residuals are ||A y_i - theta_i y_i|| = |beta_m s_{m,i}| (exact
    under full re-orthogonalisation, no extra product). The k wanted Ritz values
    (``which``: 'LA' largest, 'SA' smallest, 'LM' largest magnitude) count as
    converged when |beta_m s_{m,i}| <= tol * |theta_i|; iteration stops when all
    k are converged or after ``order`` steps (default min(n, max(2k + 20, 30))).
    A tiny beta_j (<= breakdown_tol times the largest |alpha|, |beta| so far)
    means an invariant subspace was found: iteration stops there, its Ritz
    pairs are exact, and a RuntimeWarning is issued if it holds fewer than k
    eigenpairs (only the available ones are returned). ``tol=0`` with
    ``order=n`` runs n steps and returns the whole spectrum.
    """
    n = operator.size
    if k < 1 or k > n:
        raise ValueError(f"k={k}: must be between 1 and the operator size {n}")
    order = min(n, max(2 * k + 20, 30)) if order is None else order
    if order < k or order > n:
        raise ValueError(f"order={order}: must be between k={k} and the operator size {n}")
    if which not in _SORT_KEYS:
        raise ValueError(f"which={which!r}: accepted values are 'LA' (largest), 'SA' (smallest), 'LM' (largest magnitude)")
    rng = np.random.default_rng(seed)
    basis = np.zeros((order, n), dtype=np.float64)
    alphas: list[float] = []
    betas: list[float] = []
    basis[0] = _unit_gaussian(rng, n)
    n_hvp = 0
    scale = 0.0
    while True:
        j = len(alphas)
        w = operator.matvec(basis[j])
        n_hvp += 1
        alpha = float(basis[j] @ w)
        w = w - alpha * basis[j]
        if j > 0:
            w = w - betas[-1] * basis[j - 1]
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(np.linalg.norm(w))
        alphas.append(alpha)
        betas.append(beta)
        scale = max(scale, abs(alpha), beta)
        m = j + 1
        theta, s = np.linalg.eigh(np.diag(alphas) + np.diag(betas[:-1], 1) + np.diag(betas[:-1], -1))
        wanted = np.argsort(_SORT_KEYS[which](theta), kind="stable")[: min(k, m)]
        residuals = np.abs(beta * s[-1, wanted])
        converged = residuals <= tol * np.abs(theta[wanted])
        breakdown = beta <= breakdown_tol * scale
        if breakdown:
            converged = np.ones_like(converged)
            if m < k:
                warnings.warn(
                    f"Lanczos found an invariant subspace of dimension {m} < k={k} "
                    f"(beta={beta:.3g}); returning its {m} exact eigenpairs",
                    RuntimeWarning,
                    stacklevel=2,
                )
        if breakdown or m == order or (m >= k and converged.all()):
            break
        basis[m] = w / beta
    vectors = s[:, wanted].T @ basis[:m]
    return Eigenpairs(
        eigenvalues=theta[wanted],
        eigenvectors=vectors,
        residuals=residuals,
        converged=converged,
        n_hvp=n_hvp,
        method="lanczos",
    )


def power_iteration(
    operator: SymmetricOperator,
    k: int = 1,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
) -> Eigenpairs:
    """Top-k largest-magnitude eigenpairs of A by deflated power iteration.

    For i = 1..k, from a seeded unit Gaussian v: project out the eigenvectors
    already found, w = A v, lambda = v^T w (Rayleigh quotient), stop when
    |lambda - lambda_prev| <= tol * |lambda_prev| or after ``max_iter`` products,
    else v <- P w / ||P w|| with P the projector orthogonal to the found vectors
    (PyHessian's rule). The residual ||A v - lambda v|| = ||w - lambda v|| of the
    returned pair is a by-product. Finds the largest |lambda| (a negative one
    if it dominates); convergence is geometric in |lambda_{i+1} / lambda_i|.
    """
    n = operator.size
    if k < 1 or k > n:
        raise ValueError(f"k={k}: must be between 1 and the operator size {n}")
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter}: must be at least 1")
    rng = np.random.default_rng(seed)
    found = np.zeros((0, n), dtype=np.float64)
    eigenvalues, residuals, converged = [], [], []
    n_hvp = 0
    for _ in range(k):
        start = _unit_gaussian(rng, n)
        previous = None
        done = False
        for _ in range(max_iter):
            start = start - found.T @ (found @ start)
            vector = start / np.linalg.norm(start)
            w = operator.matvec(vector)
            n_hvp += 1
            value = float(vector @ w)
            residual = float(np.linalg.norm(w - value * vector))
            start = w - found.T @ (found @ w)
            if np.linalg.norm(start) == 0.0 or (previous is not None and abs(value - previous) <= tol * abs(previous)):
                done = True
                break
            previous = value
        found = np.vstack([found, vector])
        eigenvalues.append(value)
        residuals.append(residual)
        converged.append(done)
    return Eigenpairs(
        eigenvalues=np.array(eigenvalues),
        eigenvectors=found,
        residuals=np.array(residuals),
        converged=np.array(converged),
        n_hvp=n_hvp,
        method="power_iteration",
    )


def hutchinson_trace(operator: SymmetricOperator, n_samples: int = 100, *, seed: int = 0) -> TraceEstimate:
    """Hutchinson's estimate tr(A) ~ (1/S) sum_s z_s^T A z_s, z_s Rademacher.

    Unbiased, E[z z^T] = I; the standard error is std(z_s^T A z_s, ddof=1) / sqrt(S).
    Costs S products.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples={n_samples}: need at least 2 for a standard error")
    rng = np.random.default_rng(seed)
    samples = np.empty(n_samples, dtype=np.float64)
    for s in range(n_samples):
        z = rng.integers(0, 2, size=operator.size) * 2.0 - 1.0
        samples[s] = z @ operator.matvec(z)
    return TraceEstimate(
        estimate=float(samples.mean()),
        stderr=float(samples.std(ddof=1) / np.sqrt(n_samples)),
        samples=samples,
        n_hvp=n_samples,
    )
