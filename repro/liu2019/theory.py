"""Numerical check of the transfer theory of Liu, Long, Wang & Jordan 2019.

Caveat on the source. The paper's theorem is *not* available to this suite
(only the abstract, which promises "a theoretical analysis", and the first
lines of the introduction are; see papers/liu2019/README.md, "Theory
(L-C7)"). The check below follows the standard over-parameterized two-layer
ReLU framework of Du, Zhai, Poczos & Singh 2019 ("Gradient descent provably
optimizes over-parameterized neural networks") and Arora, Du, Hu, Li & Wang
2019 ("Fine-grained analysis of optimization and generalization for
over-parameterized two-layer neural networks"), transposed to a pre-train /
fine-tune setting. It tests the predictions that framework makes, not the
paper's exact statement.

Framework (all float64 numpy, no TensorFlow):

* Model, width ``m``, inputs ``x in R^d`` with ``||x|| = 1``::

      f_W(x) = (1/sqrt(m)) * sum_r a_r * ReLU(w_r^T x),   a_r in {-1, +1} fixed,

  ``W = [w_1 .. w_m]^T`` (m x d) is the only trained parameter, initialised
  ``w_r ~ N(0, kappa^2 I_d)`` with ``kappa = 1`` by default (``a_r`` uniform
  on {-1, +1}); both draws are seeded.
* Loss and full-batch gradient descent::

      L(W) = 1/2 * ||f_W(X) - y||^2,
      dL/dw_r = (1/sqrt(m)) * a_r * sum_i (f_W(x_i) - y_i) * 1{w_r^T x_i >= 0} * x_i,
      W <- W - eta * dL/dW.

  Default step ``eta = 1 / lambda_max(H^inf(X))``: the linearised dynamics
  ``u <- u - eta * H (u - y)`` then contract every eigen-direction
  monotonically (any ``eta < 2 / lambda_max`` does), with a factor-2 margin
  for the finite-width Gram ``H(W)`` differing from ``H^inf``.
* Gram matrices. Empirical (neural tangent) Gram at ``W``::

      H(W)_ij = (1/m) * x_i^T x_j * sum_r 1{w_r^T x_i >= 0} 1{w_r^T x_j >= 0},

  and its infinite-width limit (``w ~ N(0, I)``)::

      H^inf_ij = E_w[x_i^T x_j 1{w^T x_i >= 0, w^T x_j >= 0}]
               = x_i^T x_j * (pi - arccos(x_i^T x_j)) / (2 pi).

* Predictions checked (the rule of claim L-C7 in papers/liu2019/claims.csv).
  Fine-tuning on a target Q from the pre-trained ``W(P)`` solves ``f = y_Q``
  with initial residual ``r = y_Q - f_{W(P)}(X_Q)``; in the kernel regime
  gradient descent converges to the minimum-norm displacement, so::

      ||W(Q) - W(P)||_F  ->  sqrt(r^T (H^inf_Q)^{-1} r)      (m -> inf, t -> inf),

  and the random-init arm obeys the same with ``r = y_Q - f_{W(0)}(X_Q)``.
  The initial gradient satisfies ``||grad_W L||_F^2 = r^T H(W) r
  = sum_i lambda_i (v_i^T r)^2``: a residual with little mass on the top
  eigenvector ``v_1`` of ``H^inf_Q`` gives a small, stable gradient
  (the abstract's suppressed principal component of the gradient, claim
  L-C3).
  So: deviation falls as source/target similarity rises, it tracks
  ``sqrt(r^T H^-1 r)``, and the pre-trained residual has a smaller
  top-eigenvector projection than the random one on a similar target.

Synthetic tasks (:func:`synthetic_task`). Inputs live near a ``k = d // 2``
dimensional "signal" subspace of ``R^d``: ``x = normalize(U z + sigma xi)``
with ``U`` (d x k) orthonormal, ``z ~ N(0, I_k)``, ``xi ~ N(0, I_d)``,
``sigma = 0.3`` (the isotropic part keeps ``H^inf`` well conditioned).
The labelling function of a unit direction ``beta`` is a smooth function of
one projection, ``g_beta(x) = (u + (u^2 - 1)/sqrt(2)) / sqrt(2)`` with
``u = c * beta^T x`` and ``c = sqrt((k + d sigma^2) / (1 + sigma^2))``
(so ``u`` has about unit variance and ``g = (He_1(u) + He_2(u)/sqrt(2))/sqrt(2)``
has zero mean; its variance would be 1 for Gaussian ``u`` but is about 0.76
at ``d = 10``, because a projection of a normalised vector is lighter-tailed
than a Gaussian, ``E[u^4] < 3``). A degree-1 plus degree-2 target is in the
class Arora et al. 2019 (Cor. 6.2) prove learnable; ``sign(beta^T x)`` is
*not* used because its odd harmonics of degree >= 3 lie in the null space of
the bias-free ReLU kernel, which makes ``r^T H^-1 r`` blow up with ``n`` and
gradient descent converge far too slowly for a quick check.
Similarity ``s in [0, 1]`` maps to an angle ``theta = (1 - s) * pi / 2``.

* ``kind="input"``: P uses ``U_P`` and ``beta_P = U_P b``; Q uses the rotated
  subspace ``U_Q = cos(theta) U_P + sin(theta) U_perp`` (``U_perp`` orthogonal
  to ``U_P``) and ``beta_Q = U_Q b``, i.e. Q inputs are
  ``normalize(cos(theta) * (P-like signal) + sin(theta) * (orthogonal signal)
  + noise)``. The latent task ``z -> y`` is the same in both domains; only
  its embedding into input space differs. ``s = 1`` gives the identical
  distribution (and identical labelling function).
* ``kind="label"``: P and Q draw inputs from the same distribution (``U_P``);
  ``y_P = g_beta``, ``y_Q = cos(theta) g_beta + sin(theta) g_gamma`` with
  ``gamma = U_P c``, ``c`` a unit vector orthogonal to ``b`` (``g_beta`` and
  ``g_gamma`` would be exactly uncorrelated for Gaussian inputs and are nearly
  so here, so the mixture keeps about (slightly below) the variance of
  ``g_beta``, and
  ``corr(y_Q, g_beta) ~ cos(theta)``).

The basis, ``b``, ``c`` and the draws of ``z`` and ``xi`` depend on ``seed``
only, not on ``similarity``: levels of one seed are coupled (common random
numbers), and P is identical across levels.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from repro.errors import BadArgument, NonFiniteLoss

NOISE = 0.3
"""Isotropic input noise ``sigma`` in ``x = normalize(U z + sigma xi)``."""

KINDS = ("input", "label")


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm: ``x_i / ||x_i||``."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise BadArgument("cannot normalise a zero input row")
    return x / norms


def gram_infinity(X1: np.ndarray, X2: np.ndarray | None = None) -> np.ndarray:
    """Infinite-width Gram matrix of the two-layer ReLU network (Du et al. 2019, eq. 4).

        H^inf_ij = E_{w ~ N(0, I)}[x_i^T x_j 1{w^T x_i >= 0, w^T x_j >= 0}]
                 = x_i^T x_j (pi - arccos(x_i^T x_j)) / (2 pi)

    for unit-norm rows ``x_i`` of ``X1`` and ``x_j`` of ``X2`` (``X2 = X1`` if
    omitted; then ``H^inf`` is symmetric PSD with diagonal 1/2). The cosine
    is clipped to ``[-1, 1]`` before ``arccos`` against rounding.
    """
    X1 = np.asarray(X1, dtype=np.float64)
    X2 = X1 if X2 is None else np.asarray(X2, dtype=np.float64)
    for X in (X1, X2):
        if X.ndim != 2 or not np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-6):
            raise BadArgument("gram_infinity needs a 2-D array of unit-norm rows")
    cos = np.clip(X1 @ X2.T, -1.0, 1.0)
    return cos * (np.pi - np.arccos(cos)) / (2.0 * np.pi)


def empirical_gram(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Finite-width Gram at ``W``: ``H(W)_ij = (1/m) x_i^T x_j sum_r 1{w_r^T x_i >= 0} 1{w_r^T x_j >= 0}``.

    It equals ``J J^T`` for the Jacobian ``J`` of ``f_W(X)`` w.r.t. ``vec(W)``
    (``a_r^2 = 1``), and tends to :func:`gram_infinity` as ``m -> inf`` at a
    Gaussian ``W``.
    """
    act = (X @ W.T >= 0).astype(np.float64)
    return (X @ X.T) * (act @ act.T) / W.shape[0]


def default_lr(X: np.ndarray) -> float:
    """Default step ``eta = 1 / lambda_max(H^inf(X))`` (half the stability limit ``2 / lambda_max``)."""
    return float(1.0 / np.linalg.eigvalsh(gram_infinity(X))[-1])


class TwoLayerReLU:
    """``f_W(x) = (1/sqrt(m)) sum_r a_r ReLU(w_r^T x)``; only ``W`` (m x d) is trained.

    Init: ``w_r ~ N(0, kappa^2 I_d)``, ``a_r`` uniform on {-1, +1}, both from
    ``numpy.random.default_rng(seed)``.
    """

    def __init__(self, d: int, m: int, *, kappa: float = 1.0, seed: int = 0):
        if d < 1 or m < 1 or kappa <= 0:
            raise BadArgument(f"need d >= 1, m >= 1, kappa > 0 (got {d}, {m}, {kappa})")
        rng = np.random.default_rng(seed)
        self.W = kappa * rng.standard_normal((m, d))
        self.a = rng.choice(np.array([-1.0, 1.0]), size=m)

    @property
    def m(self) -> int:
        return self.W.shape[0]

    def copy(self) -> "TwoLayerReLU":
        """An independent copy (same ``a``, a copy of ``W``)."""
        new = object.__new__(TwoLayerReLU)
        new.W = self.W.copy()
        new.a = self.a.copy()
        return new

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``f_W(X)_i = (1/sqrt(m)) sum_r a_r max(0, w_r^T x_i)``, shape ``(n,)``."""
        return np.maximum(X @ self.W.T, 0.0) @ self.a / math.sqrt(self.m)

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """``L(W) = 1/2 ||f_W(X) - y||^2`` (a sum over examples, not a mean)."""
        e = self.predict(X) - y
        return 0.5 * float(e @ e)

    def gradient(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``dL/dw_r = (1/sqrt(m)) a_r sum_i (f_W(x_i) - y_i) 1{w_r^T x_i >= 0} x_i``, shape ``(m, d)``."""
        pre = X @ self.W.T
        e = np.maximum(pre, 0.0) @ self.a / math.sqrt(self.m) - y
        coef = (pre >= 0) * e[:, None] * (self.a / math.sqrt(self.m))[None, :]
        return coef.T @ X

    def empirical_gram(self, X: np.ndarray) -> np.ndarray:
        """:func:`empirical_gram` at the current ``W``."""
        return empirical_gram(X, self.W)

    def train(self, X: np.ndarray, y: np.ndarray, steps: int, lr: float | None = None) -> np.ndarray:
        """Full-batch gradient descent ``W <- W - lr * dL/dW`` for ``steps`` steps, in place.

        ``lr=None`` uses :func:`default_lr` ``= 1 / lambda_max(H^inf(X))``.
        Returns the loss curve ``[L(W_0), L(W_1), ..., L(W_steps)]`` (length
        ``steps + 1``). Raises :class:`NonFiniteLoss` on divergence.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if steps < 0:
            raise BadArgument(f"steps must be >= 0 (got {steps})")
        eta = default_lr(X) if lr is None else float(lr)
        scale = self.a / math.sqrt(self.m)
        curve = np.empty(steps + 1)
        for t in range(steps + 1):
            pre = X @ self.W.T
            e = np.maximum(pre, 0.0) @ scale - y
            curve[t] = 0.5 * float(e @ e)
            if not np.isfinite(curve[t]):
                raise NonFiniteLoss(f"loss became {curve[t]} at step {t} (lr {eta:g})")
            if t == steps:
                break
            self.W -= eta * (((pre >= 0) * e[:, None]) * scale[None, :]).T @ X
        return curve


def _labelling(X: np.ndarray, beta: np.ndarray, scale: float) -> np.ndarray:
    """``g_beta(x) = (u + (u^2 - 1)/sqrt(2)) / sqrt(2)`` with ``u = scale * beta^T x``."""
    u = scale * (X @ beta)
    return (u + (u * u - 1.0) / math.sqrt(2.0)) / math.sqrt(2.0)


def synthetic_task(
    n: int,
    d: int,
    similarity: float,
    seed: int = 0,
    kind: str = "input",
    *,
    n_source: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source/target pair ``(X_P, y_P, X_Q, y_Q)`` on the unit sphere (module docstring, "Synthetic tasks").

    ``similarity = 1`` is the identical task; ``theta = (1 - similarity) pi / 2``
    is the rotation angle of the input subspace (``kind="input"``) or the
    mixing angle of the labelling functions (``kind="label"``). ``n`` target
    examples, ``n_source`` (default ``n``) source examples, ``d >= 2``.
    """
    if kind not in KINDS:
        raise BadArgument(f"kind must be one of {KINDS} (got {kind!r})")
    if not 0.0 <= similarity <= 1.0:
        raise BadArgument(f"similarity must lie in [0, 1] (got {similarity})")
    if d < 2 or n < 1:
        raise BadArgument(f"need d >= 2 and n >= 1 (got d={d}, n={n})")
    n_source = n if n_source is None else n_source
    k = d // 2
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    U_P, U_perp = basis[:, :k], basis[:, k : 2 * k]
    b = rng.standard_normal(k)
    b /= np.linalg.norm(b)
    c = rng.standard_normal(k)
    c -= (c @ b) * b
    if k == 1 or np.linalg.norm(c) < 1e-12:  # k = 1: no direction orthogonal to b inside the subspace
        c = np.zeros(k)
    else:
        c /= np.linalg.norm(c)
    z_P, xi_P = rng.standard_normal((n_source, k)), rng.standard_normal((n_source, d))
    z_Q, xi_Q = rng.standard_normal((n, k)), rng.standard_normal((n, d))
    scale = math.sqrt((k + d * NOISE**2) / (1.0 + NOISE**2))
    theta = (1.0 - similarity) * math.pi / 2.0

    X_P = _normalize_rows(z_P @ U_P.T + NOISE * xi_P)
    y_P = _labelling(X_P, U_P @ b, scale)
    if kind == "input":
        U_Q = math.cos(theta) * U_P + math.sin(theta) * U_perp
        X_Q = _normalize_rows(z_Q @ U_Q.T + NOISE * xi_Q)
        y_Q = _labelling(X_Q, U_Q @ b, scale)
    else:
        if k == 1 and similarity < 1.0:
            raise BadArgument("kind='label' needs d >= 4 for an independent labelling function")
        X_Q = _normalize_rows(z_Q @ U_P.T + NOISE * xi_Q)
        y_Q = math.cos(theta) * _labelling(X_Q, U_P @ b, scale)
        if k > 1:
            y_Q = y_Q + math.sin(theta) * _labelling(X_Q, U_P @ c, scale)
    return X_P, y_P, X_Q, y_Q


def rkhs_norm(H: np.ndarray, r: np.ndarray, *, max_cond: float = 1e12) -> tuple[float, float]:
    """``sqrt(r^T H^-1 r)`` by a Cholesky solve, and the ridge added to ``H``.

    The ridge is 0 unless ``H`` is numerically singular (Cholesky fails or the
    condition number exceeds ``max_cond``); then ``rho = 1e-12 * tr(H)/n`` is
    added to the diagonal, times 10 until Cholesky succeeds.
    """
    n = H.shape[0]
    ridge = 0.0
    eig = np.linalg.eigvalsh(H)
    if eig[0] <= 0 or eig[-1] / eig[0] > max_cond:
        ridge = 1e-12 * float(np.trace(H)) / n
    while True:
        try:
            L = np.linalg.cholesky(H + ridge * np.eye(n))
            break
        except np.linalg.LinAlgError:
            ridge = max(ridge * 10.0, 1e-12 * float(np.trace(H)) / n)
    u = np.linalg.solve(L, r)  # r^T (L L^T)^-1 r = ||L^-1 r||^2
    return float(np.sqrt(u @ u)), ridge


def top_projection(H: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    """Projection of ``r`` on the top eigenvector ``v_1`` of ``H``: ``((v_1^T r)^2 / ||r||^2, |v_1^T r|)``."""
    _, vecs = np.linalg.eigh(H)
    p = float(vecs[:, -1] @ r)
    return p * p / float(r @ r), abs(p)


def top_k_fraction(H: np.ndarray, r: np.ndarray, k: int) -> float:
    """Fraction of ``||r||^2`` in the top-``k`` eigenspace of ``H``: ``sum_{i<=k} (v_i^T r)^2 / ||r||^2``."""
    _, vecs = np.linalg.eigh(H)
    c = vecs[:, ::-1][:, :k].T @ r
    return float(c @ c) / float(r @ r)


def rayleigh(H: np.ndarray, r: np.ndarray) -> float:
    """Rayleigh quotient ``r^T H r / ||r||^2 = sum_i lambda_i (v_i^T r)^2 / ||r||^2``.

    The spectral centre of mass of the residual: ``||grad_W L||_F^2 ~ r^T H r``
    divided by ``||r||^2``, i.e. the gradient norm with the residual's size
    factored out. Small when ``r`` avoids the top eigen-directions; unlike
    the single ``v_1`` projection it does not depend on how a near-degenerate
    top eigenspace happens to be split.
    """
    return float(r @ H @ r) / float(r @ r)


@dataclasses.dataclass(frozen=True)
class TheoryRow:
    """One similarity level of :func:`transfer_experiment`.

    ``*_pretrained`` refers to fine-tuning on Q from ``W(P)``, ``*_random``
    to training on Q from the shared random init ``W(0)``:

    * ``deviation_*``: ``||W(Q) - W(P)||_F`` / ``||W_random(Q) - W(0)||_F``;
    * ``rkhs_*``: ``sqrt(r^T (H^inf_Q)^-1 r)``, ``r = y_Q - f_{W(P)}(X_Q)`` /
      ``r = y_Q - f_{W(0)}(X_Q)``; ``ridge_*`` the ridge added (0 = none);
    * ``residual_norm_*``: ``||r||``;
    * ``top_fraction_*``: ``(v_1^T r)^2 / ||r||^2`` and ``top_abs_*``:
      ``|v_1^T r|``, ``v_1`` the top eigenvector of ``H^inf_Q``;
    * ``top_k_fraction_*``: ``sum_{i<=k} (v_i^T r)^2 / ||r||^2`` over the
      top-``k`` eigenvectors (``k`` = ``top_k`` of :func:`transfer_experiment`);
    * ``rayleigh_*``: ``r^T H^inf_Q r / ||r||^2`` (:func:`rayleigh`);
    * ``grad_norm_*``: ``||grad_W L_Q||_F`` at the start of training on Q;
    * ``final_loss_*``: ``1/2 ||f(X_Q) - y_Q||^2`` after ``steps`` steps;
      ``pretrain_final_loss``: the same on P at ``W(P)``;
    * ``lambda_min`` / ``lambda_max``: extreme eigenvalues of ``H^inf_Q``.
    """

    kind: str
    similarity: float
    seed: int
    deviation_pretrained: float
    deviation_random: float
    rkhs_pretrained: float
    rkhs_random: float
    ridge_pretrained: float
    ridge_random: float
    residual_norm_pretrained: float
    residual_norm_random: float
    top_fraction_pretrained: float
    top_fraction_random: float
    top_abs_pretrained: float
    top_abs_random: float
    top_k_fraction_pretrained: float
    top_k_fraction_random: float
    rayleigh_pretrained: float
    rayleigh_random: float
    grad_norm_pretrained: float
    grad_norm_random: float
    final_loss_pretrained: float
    final_loss_random: float
    pretrain_final_loss: float
    lambda_min: float
    lambda_max: float


def transfer_experiment(
    similarities: Sequence[float],
    kind: str = "input",
    n: int = 50,
    d: int = 10,
    m: int = 500,
    steps: int = 1000,
    lr: float | None = None,
    seed: int = 0,
    *,
    kappa: float = 1.0,
    n_source: int | None = None,
    top_k: int = 5,
) -> list[TheoryRow]:
    """Pre-train on P, fine-tune on Q, and train on Q from scratch, per similarity level.

    One random init ``W(0)`` (seeded by ``seed``) serves every arm and level.
    Pre-training on P runs ``steps`` steps of gradient descent from ``W(0)`` to
    ``W(P)`` (P does not depend on the level, so it is done once); then for
    each level, ``steps`` steps on Q from ``W(P)`` give ``W(Q)`` and ``steps``
    steps on Q from ``W(0)`` give ``W_random(Q)``. ``lr=None`` uses
    :func:`default_lr` of the dataset being trained on (so both arms on Q use
    the same step). The task of each level is ``synthetic_task(n, d, s, seed,
    kind)``; ``top_k`` sets the eigenspace of ``top_k_fraction_*``; ``kappa``
    the init scale. Returns one :class:`TheoryRow` per level, in input order.
    """
    if not similarities:
        raise BadArgument("need at least one similarity level")
    init = TwoLayerReLU(d, m, kappa=kappa, seed=seed + 10_000)
    pretrained: TwoLayerReLU | None = None
    X_P_done: np.ndarray | None = None
    pre_loss = float("nan")
    rows = []
    for s in similarities:
        X_P, y_P, X_Q, y_Q = synthetic_task(n, d, float(s), seed, kind, n_source=n_source)
        if pretrained is None or not np.array_equal(X_P, X_P_done):
            pretrained = init.copy()
            pre_loss = float(pretrained.train(X_P, y_P, steps, lr)[-1])
            X_P_done = X_P
        H = gram_infinity(X_Q)
        eig = np.linalg.eigvalsh(H)
        r_pre = y_Q - pretrained.predict(X_Q)
        r_rand = y_Q - init.predict(X_Q)
        rk_pre, ridge_pre = rkhs_norm(H, r_pre)
        rk_rand, ridge_rand = rkhs_norm(H, r_rand)
        tf_pre, ta_pre = top_projection(H, r_pre)
        tf_rand, ta_rand = top_projection(H, r_rand)
        g_pre = float(np.linalg.norm(pretrained.gradient(X_Q, y_Q)))
        g_rand = float(np.linalg.norm(init.gradient(X_Q, y_Q)))
        lr_Q = default_lr(X_Q) if lr is None else lr
        fine = pretrained.copy()
        loss_fine = fine.train(X_Q, y_Q, steps, lr_Q)[-1]
        scratch = init.copy()
        loss_scratch = scratch.train(X_Q, y_Q, steps, lr_Q)[-1]
        rows.append(
            TheoryRow(
                kind=kind,
                similarity=float(s),
                seed=seed,
                deviation_pretrained=float(np.linalg.norm(fine.W - pretrained.W)),
                deviation_random=float(np.linalg.norm(scratch.W - init.W)),
                rkhs_pretrained=rk_pre,
                rkhs_random=rk_rand,
                ridge_pretrained=ridge_pre,
                ridge_random=ridge_rand,
                residual_norm_pretrained=float(np.linalg.norm(r_pre)),
                residual_norm_random=float(np.linalg.norm(r_rand)),
                top_fraction_pretrained=tf_pre,
                top_fraction_random=tf_rand,
                top_abs_pretrained=ta_pre,
                top_abs_random=ta_rand,
                top_k_fraction_pretrained=top_k_fraction(H, r_pre, top_k),
                top_k_fraction_random=top_k_fraction(H, r_rand, top_k),
                rayleigh_pretrained=rayleigh(H, r_pre),
                rayleigh_random=rayleigh(H, r_rand),
                grad_norm_pretrained=g_pre,
                grad_norm_random=g_rand,
                final_loss_pretrained=float(loss_fine),
                final_loss_random=float(loss_scratch),
                pretrain_final_loss=pre_loss,
                lambda_min=float(eig[0]),
                lambda_max=float(eig[-1]),
            )
        )
    return rows


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1, dtype=np.float64)
    for v in np.unique(x):
        tied = x == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation ``cov(x, y) / (sd(x) sd(y))``; NaN if either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(xc @ yc / den) if den > 0 else float("nan")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation: Pearson correlation of the (average-tie) ranks."""
    return pearson(_ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64)))


def summarize(rows: Sequence[TheoryRow]) -> dict:
    """Theory predictions over the rows of one :func:`transfer_experiment` run.

    * ``spearman_similarity_deviation``: Spearman rho between ``similarity``
      and ``deviation_pretrained`` (predicted negative);
    * ``pearson_deviation_rkhs``: Pearson r between ``deviation_pretrained``
      and ``rkhs_pretrained`` over the levels (predicted near +1);
    * ``pearson_deviation_rkhs_both_arms``: the same pooled over both arms
      (``2 x levels`` points);
    * ``deviation_ratio_at_max_similarity``: ``deviation_pretrained /
      deviation_random`` at the most similar level;
    * ``projection_smaller_at_max_similarity``: whether
      ``top_fraction_pretrained < top_fraction_random`` at the most similar
      level (``top_abs_smaller_at_max_similarity`` likewise for ``|v_1^T r|``,
      ``top_k_smaller_at_max_similarity`` for the top-k fraction,
      ``rayleigh_smaller_at_max_similarity`` for ``r^T H r / ||r||^2``,
      ``grad_norm_smaller_at_max_similarity`` for the gradient norm), with
      the values themselves under ``top_fraction_*_at_max_similarity``.
    """
    if len(rows) < 2:
        raise BadArgument("summarize needs at least two rows")
    sim = [r.similarity for r in rows]
    dev = [r.deviation_pretrained for r in rows]
    rk = [r.rkhs_pretrained for r in rows]
    best = max(rows, key=lambda r: r.similarity)
    return {
        "spearman_similarity_deviation": spearman(sim, dev),
        "pearson_deviation_rkhs": pearson(dev, rk),
        "pearson_deviation_rkhs_both_arms": pearson(
            dev + [r.deviation_random for r in rows], rk + [r.rkhs_random for r in rows]
        ),
        "deviation_ratio_at_max_similarity": best.deviation_pretrained / best.deviation_random,
        "projection_smaller_at_max_similarity": best.top_fraction_pretrained < best.top_fraction_random,
        "top_abs_smaller_at_max_similarity": best.top_abs_pretrained < best.top_abs_random,
        "top_k_smaller_at_max_similarity": best.top_k_fraction_pretrained < best.top_k_fraction_random,
        "rayleigh_smaller_at_max_similarity": best.rayleigh_pretrained < best.rayleigh_random,
        "grad_norm_smaller_at_max_similarity": best.grad_norm_pretrained < best.grad_norm_random,
        "top_fraction_pretrained_at_max_similarity": best.top_fraction_pretrained,
        "top_fraction_random_at_max_similarity": best.top_fraction_random,
    }
