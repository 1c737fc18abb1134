"""Per-step measurements of a Liu et al. 2019 fine-tuning run (hooks of :func:`repro.train.train`).

- :class:`DeviationLog` (Exp L-A, ``fine-tune.py``): after every step,
  ``deviation_<group>(t) = sum_{l in group} ||W_l(t) - W_l(0)||_F``, plain
  Frobenius norms of the kernels (not squared, not normalised), W(0) the
  run's starting weights. The code logs one group, the backbone's conv
  kernels; the suite also logs the dense kernels as ``fc``.
- :class:`LossProbe` (Exp L-C, ``variation_of_loss.py``): at every
  ``every``-th step of the window, ``g`` = the gradient of the batch loss
  with respect to the probed kernel at the pre-step weights; after the step,
  on the same batch and around the post-step weights,
  ``variation = |max_{k=2..K} L(W - k eta g) - L(W - eta g)|`` and the
  effective beta-smoothness ``max_k ||grad L(W - k eta g) - grad L(W)|| /
  (k eta ||g||)`` (:mod:`repro.landscape.smoothness`), and the norm of the
  full gradient over the trainable parameters at the pre-step weights.
  Evaluated with ``training=False`` (no dropout), a suite-wide choice; the
  code's model is in train mode.
"""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from repro.landscape.smoothness import beta_smoothness, variation_of_loss
from repro.landscape.state import sparse_ce, watchable


def variables_at(model: keras.Model, paths: Sequence[str]) -> list:
    """The model variables with exactly these paths, in this order."""
    by_path = {v.path: v for v in model.variables}
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise ValueError(f"model {model.name!r} has no variables {missing}")
    return [by_path[p] for p in paths]


def deviation(current: Sequence[np.ndarray], initial: Sequence[np.ndarray]) -> float:
    """sum_l ||W_l - W_l(0)||_F (Liu et al. 2019 Exp L-A)."""
    return float(sum(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64))
                     for a, b in zip(current, initial)))


class DeviationLog:
    """``deviation_<group>`` after every step, for named groups of kernel paths."""

    def __init__(self, model: keras.Model, groups: dict[str, Sequence[str]]):
        self.fields = tuple(f"deviation_{name}" for name in groups)
        self._groups = [variables_at(model, paths) for paths in groups.values()]
        self._initial = [[tf.constant(v.numpy()) for v in group] for group in self._groups]
        self._measure = tf.function(lambda: [tf.add_n([tf.norm(tf.convert_to_tensor(v) - w) for v, w in zip(g, i)])
                                             for g, i in zip(self._groups, self._initial)])

    def before(self, step: int, x, y) -> None:
        return None

    def after(self, step: int, x, y) -> dict:
        return {field: float(value) for field, value in zip(self.fields, self._measure())}


class LossProbe:
    """Variation of loss, beta-smoothness and gradient norms at the probe steps (module docstring)."""

    FIELDS = ("grad_norm", "probe_grad_norm", "variation", "beta")

    def __init__(self, model: keras.Model, probed: str, eta: float, steps: int, every: int,
                 window: tuple[int, int] = (0, 0)):
        self.model, self.probed, self.eta, self.steps, self.every = model, probed, eta, steps, every
        self.window = window
        self.fields = self.FIELDS
        variables = list(model.trainable_variables)
        self._index = [v.path for v in variables].index(probed)

        watched = [watchable(v) for v in variables]

        @tf.function
        def gradients(x, y):
            with tf.GradientTape() as tape:
                tape.watch(watched)
                loss = tf.reduce_mean(sparse_ce(y, model(x, training=False)))
            return tape.gradient(loss, watched)

        self._gradients = gradients
        self._pending: tuple | None = None

    def active(self, step: int) -> bool:
        first, last = self.window
        in_window = (first, last) == (0, 0) or first <= step <= last
        return in_window and step % self.every == 0

    def before(self, step: int, x, y) -> None:
        self._pending = None
        if self.active(step):
            grads = self._gradients(tf.constant(x), tf.constant(y))
            self._pending = (float(tf.linalg.global_norm(grads)), grads[self._index].numpy())

    def after(self, step: int, x, y) -> dict | None:
        if self._pending is None:
            return None
        grad_norm, g = self._pending
        batch = [(x, y)]
        include = lambda v: v.path == self.probed  # noqa: E731
        variation = variation_of_loss(self.model, batch, include=include, eta=self.eta, steps=self.steps, gradient=[g])
        beta = beta_smoothness(self.model, batch, include=include, eta=self.eta, steps=self.steps, gradient=[g])
        return dict(grad_norm=grad_norm, probe_grad_norm=float(np.linalg.norm(g)), variation=variation.estimate,
                    beta=beta.estimate)

