"""Smoothness of the loss along the gradient: gradient norm, variation of loss,
beta-smoothness, and the principal component of the gradient.

These measure how Lipschitz and how beta-smooth the loss is around the
current weights, and how much of the gradient's mass lies along the top
curvature directions (the probe of a PyTorch ``variation_of_loss.py``).
Every function takes a built Keras model, a fixed dataset of ``(x, y)``
batches (a single training batch for a per-step probe), a loss
``loss_fn(y, logits) -> per-example loss`` and a variable filter
(``include``/``exclude`` as :func:`repro.landscape.state.select_variables`),
evaluates with ``training=False`` (the gradient and probes of
:func:`variation_of_loss` and :func:`beta_smoothness` optionally in train
mode), and restores every model variable on return. L(theta) = (1/N) sum_i loss_i over the whole dataset, accumulated in
float64. Traced functions are cached per (model, loss_fn, variables), so the
probes can run every training step on one variable without retracing (pass
the same ``loss_fn`` object each time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from repro.landscape.eigen import Eigenpairs, lanczos
from repro.landscape.hvp import FlatVariables, HessianOperator, HvpMode, cached_function, fixed_batches, summed_loss
from repro.landscape.state import LossFn, VariableFilter, preserved_weights, select_variables, sparse_ce, watchable

@dataclass(frozen=True, eq=False)
class GradientNorm:
    """``estimate`` = ||grad L||_2 over the filtered variables; ``per_variable`` maps path -> ||grad_w L||_2."""

    estimate: float
    per_variable: dict[str, float]
    loss: float
    n: int


@dataclass(frozen=True, eq=False)
class LossVariation:
    """The gradient-step probe: ``losses[k-1]`` = L(W - k eta g), ``estimate`` = |max_{k>=2} L_k - L_1|."""

    estimate: float
    losses: np.ndarray
    step_sizes: np.ndarray
    gradient_norm: float
    n: int


@dataclass(frozen=True, eq=False)
class BetaSmoothness:
    """``ratios[k-1]`` = ||grad L(W - k eta g) - grad L(W)|| / ||k eta g||, ``estimate`` = their max."""

    estimate: float
    ratios: np.ndarray
    losses: np.ndarray
    step_sizes: np.ndarray
    gradient_norm: float
    n: int


@dataclass(frozen=True, eq=False)
class GradientShare:
    """``estimate`` = ||P_k g||^2 / ||g||^2; ``components[i]`` = (v_i^T g)^2 / ||g||^2 per eigenvector."""

    estimate: float
    components: np.ndarray
    eigenvalues: np.ndarray
    gradient_norm: float
    n_hvp: int


@dataclass(frozen=True, eq=False)
class GradientSpectrum:
    """``estimate`` = sigma_1^2 / sum_i sigma_i^2 of the per-example gradient matrix; its ``singular_values``."""

    estimate: float
    singular_values: np.ndarray
    n: int


_ZERO = tf.UnconnectedGradients.ZERO


def _flat(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    return tf.concat([tf.reshape(tf.cast(t, tf.float64), [-1]) for t in tensors], axis=0)


def _build_gradient(model: keras.Model, loss_fn: LossFn, variables: Sequence, training: bool = False) -> Callable:
    @tf.function(reduce_retracing=True)
    def batch_gradient(x, y):
        primals = [watchable(v) for v in variables]
        with tf.GradientTape() as tape:
            tape.watch(primals)
            loss = summed_loss(model, loss_fn, x, y, training)
        gradient = tape.gradient(loss, primals, unconnected_gradients=_ZERO)
        return tf.cast(loss, tf.float64), _flat(gradient), tf.shape(x)[0]

    return batch_gradient


def _build_probe(model: keras.Model, loss_fn: LossFn, variables: Sequence, with_gradients: bool,
                 training: bool = False) -> Callable:
    @tf.function(reduce_retracing=True)
    def probe(x, y, direction, step_sizes):
        origin = [tf.identity(watchable(v)) for v in variables]
        count = tf.shape(step_sizes)[0]
        losses = tf.TensorArray(tf.float64, size=count)
        gradients = tf.TensorArray(tf.float64, size=count if with_gradients else 0)
        for i in tf.range(count):
            for variable, start, step in zip(variables, origin, direction):
                variable.assign(start - tf.cast(step_sizes[i], variable.dtype) * step)
            if with_gradients:
                primals = [watchable(v) for v in variables]
                with tf.GradientTape() as tape:
                    tape.watch(primals)
                    loss = summed_loss(model, loss_fn, x, y, training)
                gradients = gradients.write(i, _flat(tape.gradient(loss, primals, unconnected_gradients=_ZERO)))
            else:
                loss = summed_loss(model, loss_fn, x, y, training)
            losses = losses.write(i, tf.cast(loss, tf.float64))
        for variable, start in zip(variables, origin):
            variable.assign(start)
        if with_gradients:
            return losses.stack(), gradients.stack()
        return losses.stack()

    return probe


def _build_jacobian(model: keras.Model, loss_fn: LossFn, variables: Sequence) -> Callable:
    @tf.function(reduce_retracing=True)
    def batch_jacobian(x, y):
        primals = [watchable(v) for v in variables]
        with tf.GradientTape() as tape:
            tape.watch(primals)
            losses = loss_fn(y, model(x, training=False))
        rows = tape.jacobian(losses, primals, unconnected_gradients=_ZERO)
        batch = tf.shape(x)[0]
        return tf.concat([tf.reshape(tf.cast(r, tf.float64), [batch, -1]) for r in rows], axis=1)

    return batch_jacobian


def _dataset_gradient(
    model: keras.Model, batches: Iterable, loss_fn: LossFn, space: FlatVariables, training: bool = False
) -> "tuple[np.ndarray, float, int]":
    """(grad L, L, N) with L = (1/N) sum_i loss_i, per-batch sums added in float64."""
    step = cached_function("gradient-train" if training else "gradient", model, loss_fn, space.variables,
                           lambda: _build_gradient(model, loss_fn, space.variables, training))
    gradient = np.zeros(space.size, dtype=np.float64)
    loss, n = 0.0, 0
    for x, y in batches:
        batch_loss, batch_gradient, batch_n = step(x, y)
        gradient += batch_gradient.numpy()
        loss += float(batch_loss)
        n += int(batch_n)
    if n == 0:
        raise ValueError("dataset is empty")
    return gradient / n, loss / n, n


def _probe_direction(
    model: keras.Model, batches: Iterable, loss_fn: LossFn, space: FlatVariables, gradient: "Sequence | None",
    training: bool = False,
) -> np.ndarray:
    if gradient is None:
        return _dataset_gradient(model, batches, loss_fn, space, training)[0]
    shapes = [tuple(np.shape(g)) for g in gradient]
    if shapes != space.shapes:
        raise ValueError(f"gradient shapes {shapes} do not match the probed variables {dict(zip(space.paths, space.shapes))}")
    return space.flatten(gradient)


def _step_sizes(eta: float, steps: int, first: int) -> np.ndarray:
    if not eta > 0:
        raise ValueError(f"eta={eta}: must be positive")
    if steps < 2:
        raise ValueError(f"steps={steps}: need at least 2 probe points")
    return eta * np.arange(first, steps + 1, dtype=np.float64)


def gradient_norm(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
) -> GradientNorm:
    """||grad_theta L||_2 with L = (1/N) sum_i loss_i over the dataset.

    theta are the filtered variables; also returns ||grad_w L||_2 per variable
    and L itself.
    """
    with preserved_weights(model):
        space = FlatVariables(select_variables(model, include, exclude))
        gradient, loss, n = _dataset_gradient(model, fixed_batches(dataset), loss_fn, space)
        pieces = np.split(gradient, np.cumsum(space.sizes)[:-1])
        return GradientNorm(
            estimate=float(np.linalg.norm(gradient)),
            per_variable={path: float(np.linalg.norm(piece)) for path, piece in zip(space.paths, pieces)},
            loss=loss,
            n=n,
        )


def variation_of_loss(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
    eta: float = 1e-3,
    steps: int = 100,
    gradient: "Sequence | None" = None,
    training: bool = False,
) -> LossVariation:
    """Variation of loss along the gradient, |max_{k=2..K} L_k - L_1|.

    g = grad_W L at the current weights W of the probed variable(s) on
    ``dataset`` (``variation_of_loss.py`` uses one training batch, one
    tensor, ``layer3.0.conv1``), or the given ``gradient`` (shaped like the
    variables; ``variation_of_loss.py`` takes the gradient from before the SGD step and
    probes around the weights after it).
    The probe copies are W_k = W - k eta g, k = 1..K (K = ``steps``); all other
    variables stay put; L_k = L(W_k) on the same dataset. That code moves the
    probe cumulatively (W <- W - eta g, K times); here W_k is computed directly,
    which differs only by round-off. That code's model is in train mode
    (BatchNorm batch statistics): ``training=True`` evaluates so (the moving
    statistics it updates are restored on return). Returns the statistic and
    the whole L_k curve.
    """
    step_sizes = _step_sizes(eta, steps, first=1)
    with preserved_weights(model):
        batches = fixed_batches(dataset)
        space = FlatVariables(select_variables(model, include, exclude))
        direction = _probe_direction(model, batches, loss_fn, space, gradient, training)
        probe = cached_function("probe-loss-train" if training else "probe-loss", model, loss_fn, space.variables,
                                lambda: _build_probe(model, loss_fn, space.variables, False, training))
        tangents = space.split(direction)
        sizes = tf.constant(step_sizes)
        losses = np.zeros(steps, dtype=np.float64)
        n = 0
        for x, y in batches:
            losses += probe(x, y, tangents, sizes).numpy()
            n += int(tf.shape(x)[0])
        losses /= n
        return LossVariation(
            estimate=float(abs(losses[1:].max() - losses[0])),
            losses=losses,
            step_sizes=step_sizes,
            gradient_norm=float(np.linalg.norm(direction)),
            n=n,
        )


def beta_smoothness(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
    eta: float = 1e-3,
    steps: int = 100,
    gradient: "Sequence | None" = None,
    training: bool = False,
) -> BetaSmoothness:
    """beta ~ max_{k=1..K} ||grad L(W - k eta g) - grad L(W)|| / ||k eta g||.

    The effective beta-smoothness along the gradient-step probe (Santurkar et al. 2018):
    the same W, g, eta, K as :func:`variation_of_loss`, gradients taken with
    respect to the probed variables only. For a quadratic loss with Hessian Q
    every ratio equals ||Q g|| / ||g|| <= lambda_max(Q). Also returns L(W - k eta g)
    for k = 0..K. Memory: (K + 1) x (number of probed parameters) float64. ``training`` as in
    :func:`variation_of_loss`.
    """
    step_sizes = _step_sizes(eta, steps, first=0)
    with preserved_weights(model):
        batches = fixed_batches(dataset)
        space = FlatVariables(select_variables(model, include, exclude))
        direction = _probe_direction(model, batches, loss_fn, space, gradient, training)
        norm = float(np.linalg.norm(direction))
        if norm == 0.0:
            raise ValueError("the probe gradient is zero: beta-smoothness along it is undefined")
        probe = cached_function("probe-gradient-train" if training else "probe-gradient", model, loss_fn,
                                space.variables, lambda: _build_probe(model, loss_fn, space.variables, True, training))
        tangents = space.split(direction)
        sizes = tf.constant(step_sizes)
        losses = np.zeros(steps + 1, dtype=np.float64)
        gradients = np.zeros((steps + 1, space.size), dtype=np.float64)
        n = 0
        for x, y in batches:
            batch_losses, batch_gradients = probe(x, y, tangents, sizes)
            losses += batch_losses.numpy()
            gradients += batch_gradients.numpy()
            n += int(tf.shape(x)[0])
        losses /= n
        gradients /= n
        ratios = np.linalg.norm(gradients[1:] - gradients[0], axis=1) / (step_sizes[1:] * norm)
        return BetaSmoothness(
            estimate=float(ratios.max()),
            ratios=ratios,
            losses=losses,
            step_sizes=step_sizes[1:],
            gradient_norm=norm,
            n=n,
        )


def principal_gradient_share(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
    k: int = 1,
    eigenpairs: "Eigenpairs | None" = None,
    order: "int | None" = None,
    tol: float = 1e-3,
    mode: HvpMode = "forward",
    seed: int = 0,
) -> GradientShare:
    """Share of the gradient along the top-k Hessian eigenvectors, ||P_k g||^2 / ||g||^2.

    g = grad L and H = d^2 L / d theta^2 over the filtered variables and the
    dataset; P_k = V_k V_k^T projects on the top-k (largest) eigenvectors of H,
    found by :func:`repro.landscape.eigen.lanczos` (``order``, ``tol``, ``seed``)
    unless ``eigenpairs`` computed earlier on the same variables are passed.
    In a two-layer kernel model: ||grad||^2 = sum_i lambda_i (v_i^T r)^2, and
    pretraining removes the residual's component along the top eigenvectors.
    """
    with preserved_weights(model):
        batches = fixed_batches(dataset)
        space = FlatVariables(select_variables(model, include, exclude))
        gradient = _dataset_gradient(model, batches, loss_fn, space)[0]
        if eigenpairs is None:
            operator = HessianOperator(model, batches, loss_fn, include=include, exclude=exclude, mode=mode)
            eigenpairs = lanczos(operator, k, order=order, which="LA", tol=tol, seed=seed)
        if eigenpairs.eigenvectors.shape[1:] != (space.size,):
            raise ValueError(
                f"eigenvectors of size {eigenpairs.eigenvectors.shape[1:]} do not match the {space.size} filtered parameters"
            )
        norm = float(np.linalg.norm(gradient))
        if norm == 0.0:
            raise ValueError("the gradient is zero: its share along the eigenvectors is undefined")
        components = (eigenpairs.eigenvectors @ gradient) ** 2 / norm**2
        return GradientShare(
            estimate=float(components.sum()),
            components=components,
            eigenvalues=eigenpairs.eigenvalues,
            gradient_norm=norm,
            n_hvp=eigenpairs.n_hvp,
        )


def per_example_gradient_share(
    model: keras.Model,
    dataset: Iterable,
    loss_fn: LossFn = sparse_ce,
    *,
    include: VariableFilter = None,
    exclude: "str | None" = None,
) -> GradientSpectrum:
    """sigma_1^2 / sum_i sigma_i^2 of the per-example gradient matrix G.

    Row i of G (N x P) is grad_theta loss_i for example i of the dataset and the
    filtered (probed) variables; sigma_i are G's singular values, so the ratio
    is the share of sum_i ||grad loss_i||^2 = ||G||_F^2 carried by the top
    principal direction (uncentred: a choice of the suite, since neither a
    reference code nor a published text fixes the matrix; the protocol's
    README records it). Memory N x P: meant for one
    batch and one tensor.
    """
    with preserved_weights(model):
        space = FlatVariables(select_variables(model, include, exclude))
        step = cached_function("jacobian", model, loss_fn, space.variables,
                               lambda: _build_jacobian(model, loss_fn, space.variables))
        rows = [step(x, y).numpy() for x, y in fixed_batches(dataset)]
        if not rows or sum(len(r) for r in rows) == 0:
            raise ValueError("dataset is empty")
        matrix = np.concatenate(rows, axis=0)
        singular_values = np.linalg.svd(matrix, compute_uv=False)
        total = float(np.sum(singular_values**2))
        if total == 0.0:
            raise ValueError("every per-example gradient is zero: the share is undefined")
        return GradientSpectrum(
            estimate=float(singular_values[0] ** 2 / total),
            singular_values=singular_values,
            n=matrix.shape[0],
        )
