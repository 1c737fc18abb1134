"""Hessian-vector products of a Keras model's dataset loss (the curvature operator).

The operator half of the curvature module (the algorithms that consume it are
in :mod:`repro.landscape.eigen`). For the filtered variables theta (a flat
vector of ``n`` parameters) and the dataset loss of :mod:`repro.landscape.state`

    L(theta) = (1/N) sum_i loss_fn(y_i, f(x_i; theta)),      training=False,

:class:`HessianOperator` computes ``H v = d^2 L / d theta^2 . v`` for flat float64
vectors ``v``. Each batch contributes the HVP of its *summed* loss; the
contributions are added in float64 and divided by N, which is the batch-size
weighted mean of per-batch mean HVPs and does not depend on the batch split.

Two modes, checked against each other and against the explicit Hessian in the
tests:

* ``"forward"`` (default, forward-over-backward): a ``tf.GradientTape`` computes
  the gradient inside a ``tf.autodiff.ForwardAccumulator`` whose JVP of that
  gradient along ``v`` is ``Hv``. Keras 3 variables cannot be accumulator
  primals (their dtype is a string), so the primals are the underlying
  ``tf.Variable`` objects (:func:`repro.landscape.state.watchable`); accumulator, tape
  and forward pass are traced in the same ``tf.function`` (tensorflow#60164:
  JVPs are silently ``None`` otherwise).
* ``"reverse"`` (reverse-over-reverse): an outer tape differentiates the inner
  tape's gradient with ``output_gradients=v`` (Pearlmutter's R-op by double
  backprop; keeps the gradient graph, more memory).

Traced functions are cached per (model, loss function, variables, kind), so
building many operators, or probing every training step, does not retrace.
"""
from __future__ import annotations

from typing import Callable, Iterable, Literal, Sequence

import keras
import numpy as np
import tensorflow as tf

from repro.landscape.state import LossFn, VariableFilter, cached_function, select_variables, sparse_ce, watchable

HvpMode = Literal["forward", "reverse"]

def fixed_batches(dataset: Iterable) -> Iterable:
    """``dataset`` itself if it can be iterated again, else its batches as a list.

    Every pass of an analysis must see the same examples (the Hessian is then a
    fixed symmetric matrix): a one-shot iterator or generator is materialised
    once. A ``tf.data.Dataset`` is iterated as is and must not reshuffle.
    """
    if iter(dataset) is dataset:
        return list(dataset)
    return dataset


class FlatVariables:
    """Flat float64 view theta = concat_j vec(w_j) of a fixed list of Keras variables."""

    def __init__(self, variables: Sequence) -> None:
        self.variables = list(variables)
        self.paths = [v.path for v in self.variables]
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        self.size = int(sum(self.sizes))
        self._offsets = np.cumsum([0] + self.sizes)

    def flatten(self, values: Sequence) -> np.ndarray:
        """concat_j vec(values_j) as one float64 vector (values shaped like the variables)."""
        return np.concatenate([np.asarray(value, dtype=np.float64).reshape(-1) for value in values])

    def split(self, flat: np.ndarray) -> list[tf.Tensor]:
        """Inverse of :meth:`flatten`: per-variable tensors in each variable's dtype."""
        flat = np.asarray(flat, dtype=np.float64)
        if flat.shape != (self.size,):
            raise ValueError(f"expected a flat vector of shape ({self.size},), got {flat.shape}")
        return [
            tf.constant(flat[start:stop].reshape(shape), dtype=variable.dtype)
            for variable, shape, start, stop in zip(self.variables, self.shapes, self._offsets[:-1], self._offsets[1:])
        ]

    def values(self) -> np.ndarray:
        """The current theta as a flat float64 vector."""
        return self.flatten([v.numpy() for v in self.variables])


def summed_loss(model: keras.Model, loss_fn: LossFn, x: tf.Tensor, y: tf.Tensor, training: bool = False) -> tf.Tensor:
    """sum_{i in batch} loss_fn(y_i, f(x_i)), by default with ``training=False`` (traced inside the callers'
    tf.functions; with ``training=True`` BatchNorm normalises with the batch's statistics and updates its moving
    ones, which the callers restore)."""
    return tf.reduce_sum(loss_fn(y, model(x, training=training)))


def _build_hvp(model: keras.Model, loss_fn: LossFn, variables: Sequence, mode: HvpMode) -> Callable:
    zero = tf.UnconnectedGradients.ZERO

    if mode == "forward":

        @tf.function(reduce_retracing=True)
        def batch_hvp(x, y, tangents):
            primals = [watchable(v) for v in variables]
            with tf.autodiff.ForwardAccumulator(primals, tangents) as accumulator:
                with tf.GradientTape() as tape:
                    tape.watch(primals)
                    loss = summed_loss(model, loss_fn, x, y)
                gradient = tape.gradient(loss, primals, unconnected_gradients=zero)
            products = accumulator.jvp(gradient, unconnected_gradients=zero)
            return [tf.cast(p, tf.float64) for p in products], tf.shape(x)[0]

    else:

        @tf.function(reduce_retracing=True)
        def batch_hvp(x, y, tangents):
            primals = [watchable(v) for v in variables]
            with tf.GradientTape() as outer:
                outer.watch(primals)
                with tf.GradientTape() as inner:
                    inner.watch(primals)
                    loss = summed_loss(model, loss_fn, x, y)
                gradient = inner.gradient(loss, primals, unconnected_gradients=zero)
            products = outer.gradient(gradient, primals, output_gradients=tangents, unconnected_gradients=zero)
            return [tf.cast(p, tf.float64) for p in products], tf.shape(x)[0]

    return batch_hvp


class HessianOperator:
    """H = d^2 L / d theta^2 of the dataset loss over the filtered variables (curvature).

    ``matvec(v)`` returns ``H v = (1/N) sum_batches d/d eps grad_theta sum_{i in batch}
    loss_i(theta + eps v)`` as a flat float64 vector of ``size`` entries and adds
    one to ``n_hvp`` (one HVP = one pass over the whole dataset). The model is
    evaluated with ``training=False`` and never modified.

    ``include``/``exclude`` select variables as :func:`repro.landscape.state.select_variables`
    (regex on ``variable.path`` or a predicate; trainable variables only).
    """

    def __init__(
        self,
        model: keras.Model,
        dataset: Iterable,
        loss_fn: LossFn = sparse_ce,
        *,
        include: VariableFilter = None,
        exclude: "str | None" = None,
        mode: HvpMode = "forward",
    ) -> None:
        if mode not in ("forward", "reverse"):
            raise ValueError(f"mode={mode!r}: accepted values are 'forward' and 'reverse'")
        self.model = model
        self.loss_fn = loss_fn
        self.mode = mode
        self.dataset = fixed_batches(dataset)
        self.space = FlatVariables(select_variables(model, include, exclude))
        self.size = self.space.size
        self.n_hvp = 0
        self.n_examples: "int | None" = None
        self._batch_hvp = cached_function(
            f"hvp-{mode}", model, loss_fn, self.space.variables,
            lambda: _build_hvp(model, loss_fn, self.space.variables, mode),
        )

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """H v for a flat float64 ``vector`` of length ``size`` (float64 accumulation over batches)."""
        tangents = self.space.split(vector)
        total = np.zeros(self.size, dtype=np.float64)
        n = 0
        for x, y in self.dataset:
            products, batch_n = self._batch_hvp(x, y, tangents)
            total += self.space.flatten([p.numpy() for p in products])
            n += int(batch_n)
        if n == 0:
            raise ValueError("Hessian dataset is empty")
        if self.n_examples is not None and n != self.n_examples:
            raise ValueError(
                f"the dataset held {self.n_examples} examples on the first pass and {n} now: "
                "the Hessian needs a fixed evaluation set"
            )
        self.n_examples = n
        self.n_hvp += 1
        return total / n
