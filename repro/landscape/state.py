"""Weight-state primitives shared by every landscape and similarity analysis.

Every analysis in :mod:`repro.landscape` works on an already built Keras model:
it selects variables with a filter, reads and writes their values in place
(``variable.assign``), evaluates the loss over a fixed dataset, and puts the
model back exactly as it found it. Nothing here rebuilds a model.

Loss convention: ``loss_fn(y_true, logits) -> per-example loss`` (shape
``[batch]``). The dataset loss is the example-weighted mean

    L(theta) = (1 / N) * sum_i loss_fn(y_i, f(x_i; theta)),

evaluated with ``training=False`` (BatchNorm in inference mode, no dropout).
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
VariableFilter = "str | Callable[[keras.Variable], bool] | None"


def full_precision(logits: tf.Tensor) -> tf.Tensor:
    """Logits of a mixed-precision model (float16 / bfloat16) as float32; others unchanged."""
    return tf.cast(logits, tf.float32) if logits.dtype in (tf.float16, tf.bfloat16) else logits


def watchable(variable: keras.Variable) -> tf.Variable:
    """The ``tf.Variable`` that a tape or forward accumulator watches for the Keras ``variable``.

    Under a ``tf.distribute`` strategy (:mod:`repro.execution`) the backing
    value is a mirrored variable whose handle is only defined in a replica
    context; an analysis runs in the cross-replica context, where the model
    reads the copy on the current device, so that copy is the one to watch.
    """
    value = variable.value
    if isinstance(value, tf.distribute.DistributedValues):
        return value._get_on_device_or_primary()  # the copy a cross-replica read uses
    return value


def sparse_ce(y_true: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example softmax cross-entropy, -log softmax(z)_y, from logits (taken in float32 under mixed precision)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(tf.reshape(y_true, [-1]), tf.int32), logits=full_precision(logits)
    )


def sigmoid_bce(y_true: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example multi-label loss: the mean over labels of sigmoid cross-entropy (torch BCEWithLogitsLoss).

    Its ``dataset_metric`` (the mean ROC AUC over labels, CheXpert's metric)
    is what :func:`evaluate` reports as ``accuracy`` for this loss.
    """
    logits = full_precision(logits)
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y_true, logits.dtype), logits=logits), axis=-1)


def _mean_auc(y_true: np.ndarray, logits: np.ndarray) -> float:
    from repro.metrics import mean_auc

    return mean_auc(y_true, logits)


sigmoid_bce.dataset_metric = _mean_auc


def select_variables(
    model: keras.Model,
    include: "str | Callable[[keras.Variable], bool] | None" = None,
    exclude: "str | None" = None,
    trainable_only: bool = True,
) -> list:
    """Variables of ``model`` whose path matches ``include`` and not ``exclude``.

    ``include``/``exclude`` are regular expressions searched in
    ``variable.path`` (e.g. ``"conv1/kernel"``), or ``include`` is a predicate.
    With ``trainable_only=False`` non-trainable state (BatchNorm moving
    statistics) is included as well.
    """
    pool = model.trainable_variables if trainable_only else model.variables
    chosen = []
    for variable in pool:
        if include is not None:
            if callable(include):
                if not include(variable):
                    continue
            elif not re.search(include, variable.path):
                continue
        if exclude is not None and re.search(exclude, variable.path):
            continue
        chosen.append(variable)
    if not chosen:
        raise ValueError(f"no variable of model {model.name!r} matches include={include!r} exclude={exclude!r}")
    return chosen


def get_values(variables: Sequence) -> list[np.ndarray]:
    """Copies of the current values of ``variables`` as NumPy arrays."""
    return [np.array(v.numpy(), copy=True) for v in variables]


def set_values(variables: Sequence, values: Sequence) -> None:
    """Assign ``values`` to ``variables`` in place (shapes must match)."""
    if len(variables) != len(values):
        raise ValueError(f"{len(variables)} variables but {len(values)} values")
    for variable, value in zip(variables, values):
        variable.assign(np.asarray(value, dtype=variable.dtype))


@contextlib.contextmanager
def _restored(variables: Sequence) -> Iterator[None]:
    """Puts ``variables`` back to their values at entry on exit, even if the block raises."""
    saved = get_values(variables)
    try:
        yield
    finally:
        set_values(variables, saved)


def preserved_statistics(model: keras.Model) -> contextlib.AbstractContextManager:
    """Context manager that restores ``model``'s non-trainable state (BatchNorm moving mean and variance) on
    exit: the statistics a call in train mode updates, without copying the trainable weights."""
    return _restored(list(model.non_trainable_variables))


def preserved_weights(model: keras.Model) -> contextlib.AbstractContextManager:
    """Context manager that restores every variable of ``model`` on exit.

    Covers trainable weights and non-trainable state (BatchNorm moving mean
    and variance), so an analysis that perturbs or interpolates weights
    leaves the model bit-identical afterwards, even if it raises.
    """
    return _restored(list(model.variables))


@dataclass(frozen=True)
class Evaluation:
    """Mean loss and top-1 accuracy of a model over a dataset of ``n`` examples.

    For a loss with a ``dataset_metric`` (:func:`sigmoid_bce`), ``accuracy``
    holds that metric instead (mean AUC for multi-label tasks).
    """

    loss: float
    accuracy: float
    n: int


def _forward_sums(model: keras.Model, loss_fn: LossFn, training: bool = False) -> Callable:
    @tf.function(reduce_retracing=True)
    def step(x, y):
        logits = model(x, training=training)
        losses = loss_fn(y, logits)
        correct = tf.cast(
            tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(tf.reshape(y, [-1]), tf.int32)),
            tf.float64,
        )
        return tf.reduce_sum(tf.cast(losses, tf.float64)), tf.reduce_sum(correct), tf.shape(x)[0]

    return step


def _forward_outputs(model: keras.Model, loss_fn: LossFn) -> Callable:
    @tf.function(reduce_retracing=True)
    def step(x, y):
        logits = model(x, training=False)
        return tf.reduce_sum(tf.cast(loss_fn(y, logits), tf.float64)), logits

    return step


def cached_function(
    kind: str,
    model: keras.Model,
    loss_fn: LossFn,
    variables: Sequence,
    build: Callable[[], Callable],
) -> Callable:
    """The traced function ``build()`` for (kind, loss_fn, variables) of ``model``, built once.

    The cache lives on the model object, so a traced function (which holds
    the model) is freed with its model instead of keeping every model of a
    grid alive in a module-level table. ``loss_fn`` is part of the key by
    reference: pass the same object on every call (not a fresh lambda) so
    per-step analyses reuse one trace.
    """
    cache = model.__dict__.get("_repro_traced")
    if cache is None:
        cache = {}
        object.__setattr__(model, "_repro_traced", cache)  # bypass Keras' attribute tracking
    key = (kind, loss_fn, tuple(id(v) for v in variables))
    if key not in cache:
        cache[key] = build()
    return cache[key]


def evaluate(model: keras.Model, dataset: Iterable, loss_fn: LossFn = sparse_ce, training: bool = False) -> Evaluation:
    """L(theta) = (1/N) sum_i loss_fn(y_i, f(x_i)) and top-1 accuracy, ``training=False`` unless asked.

    ``dataset`` yields ``(x, y)`` batches (a ``tf.data.Dataset`` or any
    iterable of array pairs); sums are accumulated in float64 so the result
    does not depend on the batch split (with ``training=True`` it does: each
    batch is normalised by its own BatchNorm statistics, as a PyTorch module
    left in train mode is; the moving statistics that call updates are put
    back, so the evaluation leaves the model as it found it). The traced step
    is cached on the model (:func:`cached_function`) so repeated evaluations
    (grid points, alphas) do not retrace.
    """
    if training:
        with preserved_statistics(model):
            return _evaluate(model, dataset, loss_fn, True)
    return _evaluate(model, dataset, loss_fn, False)


def _evaluate(model: keras.Model, dataset: Iterable, loss_fn: LossFn, training: bool) -> Evaluation:
    metric = getattr(loss_fn, "dataset_metric", None)
    if metric is not None:
        if training:
            raise ValueError("a dataset metric is evaluated in inference mode only")
        return _evaluate_with_metric(model, dataset, loss_fn, metric)
    step = cached_function("evaluate in train mode" if training else "evaluate", model, loss_fn, (),
                           lambda: _forward_sums(model, loss_fn, training))
    total_loss, total_correct, total_n = 0.0, 0.0, 0
    for x, y in dataset:
        batch_loss, batch_correct, batch_n = step(x, y)
        total_loss += float(batch_loss)
        total_correct += float(batch_correct)
        total_n += int(batch_n)
    if total_n == 0:
        raise ValueError("evaluation dataset is empty")
    return Evaluation(loss=total_loss / total_n, accuracy=total_correct / total_n, n=total_n)


def _evaluate_with_metric(model: keras.Model, dataset: Iterable, loss_fn: LossFn, metric: Callable) -> Evaluation:
    """Mean loss and ``metric(labels, logits)`` over the whole dataset (a metric that is not a per-example mean)."""
    step = cached_function("evaluate_outputs", model, loss_fn, (), lambda: _forward_outputs(model, loss_fn))
    total_loss, labels, outputs = 0.0, [], []
    for x, y in dataset:
        batch_loss, logits = step(x, y)
        total_loss += float(batch_loss)
        labels.append(np.asarray(y))
        outputs.append(logits.numpy())
    if not labels:
        raise ValueError("evaluation dataset is empty")
    y_all, logits_all = np.concatenate(labels), np.concatenate(outputs)
    return Evaluation(loss=total_loss / len(y_all), accuracy=float(metric(y_all, logits_all)), n=len(y_all))
