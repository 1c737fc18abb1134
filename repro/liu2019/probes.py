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
  On ResNet-50 (``variation_of_loss.py``'s network: BatchNorm, no dropout)
  evaluated in train mode, as the code's model is (BatchNorm on the batch's
  statistics, so ``g`` is the training step's own gradient on that batch);
  the moving statistics these extra passes update are put back, so the run
  trains as it would without the probe. On LeNet (the mini stand-in, no
  BatchNorm) with ``training=False``: its train mode would only add dropout
  masks, a new one at every probe point, which the code's ResNet never has.

A run declares its probe as data (:class:`DeviationProbe`,
:class:`LossProbeSpec`): the executor calls ``make(model)`` for the hook,
``start(model, data)`` once before the first step (L-C3's gradient shares
at the start of fine-tuning) and ``summary(run_dir)`` for the run's result.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from repro.models.specs import LENET_LAYERS

if TYPE_CHECKING:
    import keras

# TensorFlow, Keras and the landscape estimators are imported where a probe is built or run, so that the
# protocol can declare its probes (``repro list``, ``repro run --dry-run``) without loading TensorFlow.


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
        import tensorflow as tf

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
                 window: tuple[int, int] = (0, 0), training: bool = True):
        import tensorflow as tf

        from repro.landscape.state import sparse_ce, watchable

        self.model, self.probed, self.eta, self.steps, self.every = model, probed, eta, steps, every
        self.window, self.training = window, training
        self.fields = self.FIELDS
        variables = list(model.trainable_variables)
        self._index = [v.path for v in variables].index(probed)

        watched = [watchable(v) for v in variables]

        @tf.function
        def gradients(x, y):
            with tf.GradientTape() as tape:
                tape.watch(watched)
                loss = tf.reduce_mean(sparse_ce(y, model(x, training=training)))
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
            import tensorflow as tf

            from repro.landscape.state import preserved_statistics

            with preserved_statistics(self.model):  # the train-mode pass moves BatchNorm's statistics
                grads = self._gradients(tf.constant(x), tf.constant(y))
            self._pending = (float(tf.linalg.global_norm(grads)), grads[self._index].numpy())

    def after(self, step: int, x, y) -> dict | None:
        if self._pending is None:
            return None
        from repro.landscape.smoothness import beta_smoothness, variation_of_loss

        grad_norm, g = self._pending
        batch = [(x, y)]
        include = lambda v: v.path == self.probed  # noqa: E731
        options = dict(include=include, eta=self.eta, steps=self.steps, gradient=[g], training=self.training)
        variation = variation_of_loss(self.model, batch, **options)
        beta = beta_smoothness(self.model, batch, **options)
        return dict(grad_norm=grad_norm, probe_grad_norm=float(np.linalg.norm(g)), variation=variation.estimate,
                    beta=beta.estimate)



# ----------------------------------------------------------------------------- the probes as data

def kernel_groups(model: keras.Model, network: str) -> dict[str, list[str]]:
    """The deviation's tensors: ``conv`` (the code's: every conv kernel, shortcuts included) and ``fc`` (dense kernels)."""
    import keras

    if network == "lenet":
        conv = [model.get_layer(n).kernel.path for n in LENET_LAYERS[:2]]
    else:
        from repro.liu2019.network import liu_conv_kernels

        conv = liu_conv_kernels(model)
    dense = [layer.kernel.path for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return {"conv": conv, "fc": dense}


def kernel_path(network: str, layer: str) -> str:
    """Variable path of a probed kernel: LeNet layer name, or torchvision name for ResNet-50."""
    if network == "lenet":
        return f"{layer}/kernel"
    from repro.liu2019.network import torch_conv_path

    return torch_conv_path(f"{layer}.weight")


def read_steps(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "steps.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class DeviationProbe:
    """Exp L-A: the weight deviation of the conv and dense kernels after every step."""

    network: str

    def make(self, model: keras.Model) -> DeviationLog:
        return DeviationLog(model, kernel_groups(model, self.network))

    def summary(self, run_dir: Path) -> dict:
        """The deviations at the end of the run."""
        steps = read_steps(run_dir)
        return dict(deviation_conv=float(steps[-1]["deviation_conv"]),
                    deviation_fc=float(steps[-1]["deviation_fc"])) if steps else {}

    def describe(self) -> str:
        return "weight deviation every step"


@dataclass(frozen=True)
class LossProbeSpec:
    """Exp L-C: the variation of loss and beta-smoothness along the probed kernel's gradient (:class:`LossProbe`),
    and at the start the principal gradient shares of L-C3 on the first ``share_examples`` training examples."""

    network: str
    layer: str
    eta: float
    steps: int
    every: int
    window: tuple[int, int]
    share_examples: int
    lanczos_order: int

    def make(self, model: keras.Model) -> LossProbe:
        return LossProbe(model, kernel_path(self.network, self.layer), self.eta, self.steps, self.every, self.window,
                         training=self.network != "lenet")

    def start(self, model: keras.Model, data) -> dict:
        """L-C3 at the start of fine-tuning: ``share_hessian = (v_1 . g)^2 / ||g||^2`` over the trainable
        parameters; ``share_per_example = s_1^2 / sum s_i^2`` of the per-example gradients of the probed kernel."""
        from repro.landscape.smoothness import per_example_gradient_share, principal_gradient_share
        from repro.liu2019.tasks import first_examples

        probed = kernel_path(self.network, self.layer)
        batch = first_examples(data, self.share_examples)
        principal = principal_gradient_share(model, batch, k=1, order=self.lanczos_order, seed=0)
        spectrum = per_example_gradient_share(model, batch, include=lambda v: v.path == probed)
        return dict(share_hessian=principal.estimate, start_top_eigenvalue=float(principal.eigenvalues[0]),
                    start_grad_norm=principal.gradient_norm, share_per_example=spectrum.estimate)

    def summary(self, run_dir: Path) -> dict:
        """Means of the probe rows: variation of loss (and its spread), beta, the gradient norm and its CV."""
        rows = read_steps(run_dir)
        if not rows:
            return {}
        values = {k: np.array([float(r[k]) for r in rows]) for k in LossProbe.FIELDS}
        norm = values["grad_norm"]
        return dict(variation_mean=float(values["variation"].mean()), variation_std=float(values["variation"].std()),
                    beta_mean=float(values["beta"].mean()), grad_norm_mean=float(norm.mean()),
                    grad_norm_cv=float(norm.std() / norm.mean()), probes=len(rows))

    def describe(self) -> str:
        return f"variation of loss along {self.layer}, every {self.every} steps, K={self.steps}"
