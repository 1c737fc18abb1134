"""One training run: SGD with momentum, periodic evaluation, checkpoints, TensorBoard.

The update is Caffe's ``SGDSolver`` (every paper's protocol here reduces
to it) for a resolved
:class:`repro.schedule.Schedule`::

    g_w  = lr_mult_w * (dL/dw + wd * decay_mult_w * w)
    v    = momentum * v + lr(t) * g_w ;   w <- w - v             (Caffe, Keras)
    b    = momentum * b + g_w ;           w <- w - lr(t) * b     (PyTorch: momentum_form "torch")

with ``lr(t)`` the schedule's policy, ``lr_mult`` 1 for weights and
``bias_lr_mult`` (Caffe: 2) for biases, weight decay on weights only, and
frozen layers excluded from both (Caffe ``blobs_lr: 0`` and
``weight_decay: 0``). Keras' SGD with momentum applies exactly
``v <- m v - lr g; w <- w + v``, so the multipliers and the coupled L2 term
are folded into the gradient before the update (one fused kernel per
variable on one device, :func:`_momentum_update`; ``apply_gradients`` otherwise);
:class:`TorchSGD` applies PyTorch's form (``torch.optim.SGD``, dampening 0,
no Nesterov), which differs from Caffe's after every change of the lr.

Evaluation runs every ``eval_every`` iterations on the evaluation arrays;
the run reports the mean of the ``top_k`` best evaluations (the metric of
``plots/transfer_plots.ipynb: get_mean_best``), the best and
the last evaluation. A run is resumable: ``checkpoint.npz`` (weights,
optimizer state, iteration) is written atomically after every evaluation,
and the data order is a pure function of (data seed, epoch), so a resumed
run continues the same stream.

The same loop runs PyTorch-style protocols through the schedule's options: ``milestones``
(MultiStepLR), ``decay_biases`` (torch ``weight_decay`` on every parameter),
``bias_lr_mult=1`` and ``scalar_lr_mult`` (Fixup's scalar biases and scales
at lr/10), and ``mixup_alpha`` (Zhang et al. 2018: one
``lam ~ Beta(alpha, alpha)`` and one permutation per batch,
``x = lam x + (1 - lam) x[perm]``, loss ``lam CE(y) + (1 - lam) CE(y[perm])``,
drawn from ``(data seed, step)`` so a resumed run draws the same mixes).
``train_eval_examples`` adds the eval-mode accuracy on the first k training
examples at every evaluation (the ``train_acc`` column; its mean over
training measures optimization speed).

A :class:`StepHook` measures something at every training step (e.g. the
weight deviation or the variation-of-loss probe): ``before`` sees the
batch at the pre-step weights, ``after`` at the post-step weights and returns
a row for ``steps.csv``. The rows are written with the checkpoint, so a
resumed run keeps exactly the rows of the steps it keeps.
"""
from __future__ import annotations

import csv
import math
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

import keras
import tensorflow as tf

from repro.errors import BadArgument, CorruptCheckpoint, NonFiniteLoss
from repro.events import write_scalars
from repro.execution import current as current_execution
from repro.files import atomic_write
from repro.landscape.state import cached_function, evaluate, full_precision, sigmoid_bce, sparse_ce
from repro.schedule import Schedule
from repro.store import CHECKPOINT, epoch_weights
from repro.weightfiles import read_values, save_weights, write_npz

LOSSES = {"softmax": sparse_ce, "sigmoid": sigmoid_bce}
METRIC_FIELDS = ("step", "epoch", "lr", "train_loss", "val_loss", "val_acc", "train_acc", "seconds")


@dataclass
class TrainData:
    """In-memory training/validation arrays and the augmentation of the protocol.

    Training batches: a per-epoch permutation drawn from ``(data_seed, epoch)``
    cut into ``n // batch`` batches (the last ``n mod batch`` images of an epoch
    are skipped; a set smaller than one batch reads on, see :meth:`_cycled`),
    or, with ``keep_last``, into ``ceil(n / batch)`` batches, the last one short
    (torch's ``DataLoader(shuffle=True)``),
    each image zero-padded by ``crop_pad`` and randomly cropped back to its size
    (the analogue of Caffe's random 227 crop of a 256 image), mirrored with
    probability 1/2 when ``mirror``. Validation images are used as they are
    (the centre crop).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    crop_pad: int = 0
    mirror: bool = False
    eval_batch: int = 1000

    def __post_init__(self):
        if len(self.x_train) == 0:
            raise BadArgument("the run's data selection holds no training image; check its classes and examples per class")
        p = self.crop_pad
        self._padded = np.pad(self.x_train, ((0, 0), (p, p), (p, p), (0, 0))) if p else self.x_train

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    def batch(self, step: int, batch_size: int, data_seed: int, keep_last: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.x_train)
        if n < batch_size and not keep_last:
            index = self._cycled(step, batch_size, data_seed)
        else:
            epoch, offset = divmod(step, -(-n // batch_size) if keep_last else n // batch_size)
            order = np.random.RandomState([data_seed, epoch]).permutation(n)
            index = np.sort(order[offset * batch_size:(offset + 1) * batch_size])
        rng = np.random.default_rng([data_seed, step])
        x = self._padded[index]
        if self.crop_pad:
            h, w = self.x_train.shape[1:3]
            windows = np.lib.stride_tricks.sliding_window_view(x, (h, w), axis=(1, 2))
            dy, dx = rng.integers(0, 2 * self.crop_pad + 1, size=(2, len(index)))
            x = np.moveaxis(windows[np.arange(len(index)), dy, dx], 1, -1)
        if self.mirror:
            flip = rng.random(len(index)) < 0.5
            x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
        return np.ascontiguousarray(x, dtype=np.float32), self.y_train[index]

    def _cycled(self, step: int, batch_size: int, data_seed: int) -> np.ndarray:
        """Indices of a batch larger than the training set (a reduced-data run with n < batch).

        As Caffe's data layer wraps around its database, the batch reads on
        through consecutive epochs: positions ``step*B .. (step+1)*B - 1`` of
        the concatenated per-epoch permutations, so every image appears
        ``B/n`` times per batch on average (each copy with its own crop and
        mirror where the protocol has them).
        """
        n = len(self.x_train)
        first, last = step * batch_size // n, ((step + 1) * batch_size - 1) // n
        orders = [np.random.RandomState([data_seed, e]).permutation(n) for e in range(first, last + 1)]
        stream = np.concatenate(orders)
        start = step * batch_size - first * n
        return np.sort(stream[start:start + batch_size])

    def validation_batches(self):
        for start in range(0, len(self.x_val), self.eval_batch):
            yield self.x_val[start:start + self.eval_batch], self.y_val[start:start + self.eval_batch]

    def train_eval_batches(self, examples: int):
        """The first ``examples`` training images, unaugmented, in evaluation batches."""
        for start in range(0, min(examples, len(self.x_train)), self.eval_batch):
            stop = min(start + self.eval_batch, examples)
            yield self.x_train[start:stop], self.y_train[start:stop]


class StreamData:
    """Training and validation batches from ``tf.data`` pipelines (paper scale).

    ``make_train(seed)`` returns an endless stream of augmented training
    batches. A (re)started run opens it with a seed drawn from
    ``(data_seed, step)``: the order after a resume is a fresh deterministic
    shuffle rather than the exact continuation, which is the closest a
    shuffle-buffer pipeline over a million images can resume.
    """

    def __init__(self, make_train: Callable[[int], tf.data.Dataset], validation: tf.data.Dataset, n_train: int,
                 train_eval: Callable[[int], tf.data.Dataset] | None = None):
        self.make_train, self.validation, self.n_train = make_train, validation, n_train
        self.train_eval = train_eval
        self._iterator = None

    def batch(self, step: int, batch_size: int, data_seed: int, keep_last: bool = False):
        if self._iterator is None:
            from repro.runs import derive_seed

            self._iterator = iter(self.make_train(derive_seed(data_seed, step)))
        x, y = next(self._iterator)
        if x.shape[0] != batch_size and not (keep_last and x.shape[0] < batch_size):
            raise ValueError(f"pipeline batch {x.shape[0]} != schedule batch {batch_size}")
        return x, y

    def validation_batches(self):
        return iter(self.validation)

    def train_eval_batches(self, examples: int):
        """The first ``examples`` training images through the evaluation transform (``train_eval``)."""
        if self.train_eval is None:
            raise ValueError("train_eval_examples needs a train_eval pipeline for this stream")
        return iter(self.train_eval(examples))


class StepHook(Protocol):
    """Per-step measurement: ``fields`` name the columns of the rows ``after`` returns (``step`` comes first)."""

    fields: tuple[str, ...]

    def before(self, step: int, x: np.ndarray, y: np.ndarray) -> None:
        """Called with the batch of iteration ``step`` before the update (weights W(step))."""

    def after(self, step: int, x: np.ndarray, y: np.ndarray) -> dict | None:
        """Called after the update (weights W(step + 1)); a row of ``fields``, or None to log nothing."""


@dataclass(frozen=True)
class TrainResult:
    acc_top_k_mean: float
    acc_final: float
    acc_final_mean: float
    acc_max: float
    n_evals: int
    train_loss_final: float
    steps: int
    seconds: float
    best_step: int = 0
    train_acc_mean: float = float("nan")


def final_mean(accuracies: list[float], k: int) -> float:
    """Mean of the last ``k`` validation accuracies: every net measured at the same iterations."""
    return float(np.mean(accuracies[-k:])) if accuracies else float("nan")


def top_k_mean(accuracies: list[float], k: int) -> float:
    """Top-k mean: mean of the ``k`` highest validation accuracies."""
    best = sorted(accuracies, reverse=True)[:k]
    return float(np.mean(best)) if best else float("nan")


class _Checkpoint:
    """Atomic ``checkpoint.npz``: model variables (incl. dropout seed state), optimizer variables, iteration."""

    def __init__(self, path: Path):
        self.path = path

    def save(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, step: int, seconds: float) -> None:
        arrays = {f"w{i}": value for i, value in enumerate(read_values(model, model.variables))}
        arrays.update({f"o{i}": value for i, value in enumerate(read_values(optimizer, optimizer.variables))})
        write_npz(self.path, dict(step=step, seconds=seconds, **arrays))

    def restore(self, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> tuple[int, float]:
        try:
            with np.load(self.path) as data:
                for i, v in enumerate(model.variables):
                    v.assign(data[f"w{i}"])
                for i, v in enumerate(optimizer.variables):
                    v.assign(data[f"o{i}"])
                return int(data["step"]), float(data["seconds"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise CorruptCheckpoint(
                f"cannot read checkpoint {self.path} ({exc.__class__.__name__}: {exc}); delete it to restart this run"
            ) from exc


def _gradient_transform(model: keras.Model, schedule: Schedule) -> tuple[list, list[float], list[bool]]:
    """Per-variable lr multiplier and weight-decay flag: scalars, then biases (vectors), then weights."""
    variables = list(model.trainable_variables)
    lr_mult, decayed = [], []
    for v in variables:
        is_scalar = len(v.shape) == 0
        is_bias = not is_scalar and (v.path.endswith("bias") or len(v.shape) == 1)
        lr_mult.append(schedule.scalar_lr_mult if is_scalar else schedule.bias_lr_mult if is_bias else 1.0)
        decayed.append(schedule.decay_biases or not (is_scalar or is_bias))
    return variables, lr_mult, decayed


def mix_batch(x: np.ndarray, y: np.ndarray, alpha: float, data_seed: int, step: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mixup of one batch: ``(lam x + (1 - lam) x[perm], y, y[perm], lam)``; identity when ``alpha`` is 0."""
    x, y = np.asarray(x), np.asarray(y)
    if alpha <= 0:
        return x, y, y, 1.0
    rng = np.random.default_rng([data_seed, step, 1])
    lam = float(rng.beta(alpha, alpha))
    perm = rng.permutation(len(x))
    return (lam * x + (1.0 - lam) * x[perm]).astype(np.float32), y, y[perm], lam


def trainer(model: keras.Model, schedule: Schedule) -> tuple[keras.optimizers.Optimizer, Callable]:
    """The SGD optimizer and traced step of ``model`` under ``schedule``'s update rule, built once per model.

    Both are cached on the model (:func:`repro.landscape.state.cached_function`)
    under the rule's settings (variables, lr multipliers, decay flags, weight
    decay, momentum) and the execution settings (:mod:`repro.execution`:
    strategy, mixed precision, XLA), so a grid that trains one model object
    run after run (re-assigning its weights) traces the step once. The
    learning rate is an optimizer variable assigned before every step, so it
    is not part of the trace. Under ``--mixed-precision float16`` the SGD is
    wrapped in Keras' dynamic :class:`~keras.optimizers.LossScaleOptimizer`.
    The caller resets (:func:`reset_optimizer`) or restores the optimizer's state.
    """
    variables, lr_mult, decayed = _gradient_transform(model, schedule)
    execution = current_execution()
    settings = ("sgd", tuple(lr_mult), tuple(decayed), schedule.weight_decay, schedule.momentum,
                schedule.momentum_form, schedule.loss, id(execution.strategy), execution.precision,
                execution.jit_compile)

    def build():
        sgd = TorchSGD if schedule.momentum_form == "torch" else keras.optimizers.SGD
        optimizer = sgd(learning_rate=schedule.base_lr, momentum=schedule.momentum)
        if execution.precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
        return optimizer, make_train_step(model, optimizer, schedule)

    return cached_function("train_step", model, settings, variables, build)


def reset_optimizer(optimizer: keras.optimizers.Optimizer) -> None:
    """Zero the momentum buffers and iteration counters; a loss scale goes back to its initial value."""
    for variable in optimizer.variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.dynamic_scale.assign(optimizer.initial_scale)


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, schedule: Schedule) -> Callable:
    """A traced SGD step ``(x, y_a, y_b, lam) -> loss`` with lr multipliers and coupled weight decay.

    The loss is the mixup loss ``lam CE(y_a) + (1 - lam) CE(y_b)`` on
    float32 logits; an unmixed batch passes ``y_b = y_a, lam = 1``. Under a
    ``tf.distribute`` strategy with R replicas each replica takes its slice
    of the global batch B (:func:`distribute_batch`) and minimises
    ``sum_i loss_i / B`` with the decay term ``wd w / R``; the optimizer sums
    the replicas' gradients, which gives the single-device gradient
    ``mean_i grad loss_i + wd w``. Under float16 the loss is multiplied by
    the optimizer's loss scale S before differentiation, so the decay term
    is multiplied by S as well, and the optimizer divides every gradient by S
    (and skips the step if one is not finite). With ``--jit-compile`` the
    forward and backward pass are compiled by XLA; the gradient transform,
    the all-reduce and the update stay outside the compiled function.
    """
    variables, lr_mult, decayed = _gradient_transform(model, schedule)
    per_example = LOSSES[schedule.loss]
    execution = current_execution()
    replicas = execution.replicas if execution.distributed else 1
    wd = schedule.weight_decay / replicas
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def batch_mean(losses):
        """The mean over the global batch: this replica's sum over B = (its examples) x R."""
        if not execution.distributed:
            return tf.reduce_mean(losses)
        return tf.reduce_sum(losses) / tf.cast(tf.shape(losses)[0] * replicas, losses.dtype)

    def loss_and_gradients(x, y_a, y_b, lam):
        with tf.GradientTape() as tape:
            logits = full_precision(model(x, training=True))
            loss = lam * batch_mean(per_example(y_a, logits)) + (1.0 - lam) * batch_mean(per_example(y_b, logits))
            scaled = optimizer.scale_loss(loss) if loss_scaled else loss
        return loss, tape.gradient(scaled, variables)

    if execution.jit_compile:
        loss_and_gradients = tf.function(loss_and_gradients, jit_compile=True)

    fused = not execution.distributed and not loss_scaled and schedule.momentum != 0

    def replica_step(x, y_a, y_b, lam):
        loss, grads = loss_and_gradients(x, y_a, y_b, lam)
        scale = tf.cast(optimizer.dynamic_scale, tf.float32) if loss_scaled else 1.0
        grads = [
            _times(g + wd * scale * tf.convert_to_tensor(v) if decay else g, mult)
            for g, v, mult, decay in zip(grads, variables, lr_mult, decayed)
        ]
        if fused:
            _momentum_update(optimizer, grads, variables)
        else:
            optimizer.apply_gradients(zip(grads, variables))
        return loss

    if not execution.distributed:
        return tf.function(replica_step)
    strategy = execution.strategy

    @tf.function
    def step(x, y_a, y_b, lam):
        per_replica = strategy.run(replica_step, args=(x, y_a, y_b, lam))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return step


def _times(gradient: tf.Tensor, mult: float) -> tf.Tensor:
    """``gradient * mult``, without the multiplication when ``mult`` is 1 (``x * 1.0 == x`` exactly: one
    element-wise pass less per variable, the same bits)."""
    return gradient if mult == 1.0 else gradient * mult


class TorchSGD(keras.optimizers.SGD):
    """``torch.optim.SGD`` with momentum (dampening 0, no Nesterov): ``b <- mu b + g; w <- w - lr b``.

    Keras' SGD keeps ``v = mu v - lr g`` instead, which carries the lr into the buffer. The weight decay
    and lr multipliers are folded into ``g`` by the step (:func:`make_train_step`), as torch adds
    ``weight_decay * w`` to the gradient before the momentum.
    """

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, keras.ops.multiply(gradient, learning_rate))
            return
        buffer = self.momentums[self._get_variable_index(variable)]
        momentum = keras.ops.cast(self.momentum, variable.dtype)
        self.assign(buffer, keras.ops.add(keras.ops.multiply(buffer, momentum), gradient))
        self.assign_sub(variable, keras.ops.multiply(buffer, learning_rate))


def _momentum_update(optimizer: keras.optimizers.SGD, grads: list, variables: list) -> None:
    """The SGD step with momentum in one fused kernel per variable: Keras' ``m <- mu m - lr g; w <- w + m``
    (``ResourceApplyKerasMomentum``) or, for :class:`TorchSGD`, PyTorch's ``b <- mu b + g; w <- w - lr b``
    (``ResourceApplyMomentum``).

    Each kernel evaluates the same expression as the optimizer's ``update_step`` (which issues a
    multiplication, an addition, an assignment and another pass, each over the whole variable) and gives the
    same bits; the momentum buffers and the iteration count are the optimizer's own, so checkpoints and
    :func:`reset_optimizer` see no difference. One device, no loss scaling: the other cases go through
    ``apply_gradients``.
    """
    momentum = tf.constant(optimizer.momentum, tf.float32)
    apply = (tf.raw_ops.ResourceApplyMomentum if isinstance(optimizer, TorchSGD)
             else tf.raw_ops.ResourceApplyKerasMomentum)
    for gradient, variable, buffer in zip(grads, variables, optimizer.momentums):
        apply(var=variable.value.handle, accum=buffer.value.handle, lr=optimizer.learning_rate, grad=gradient,
              momentum=momentum, use_locking=False, use_nesterov=False)
    optimizer.iterations.assign_add(1)


def distribute_batch(arrays: tuple, lam: float) -> tuple:
    """The step's arguments ``(x, y_a, y_b, lam)``: as tensors, or split into per-replica slices under a strategy.

    Every worker of a multi-worker cluster draws the same global batch (the
    data order is a function of the data seed and the step) and its replicas
    take their consecutive slices of ``B / R`` examples.
    """
    execution = current_execution()
    lam_tensor = tf.constant(lam, tf.float32)
    if not execution.distributed:
        return (*arrays, lam_tensor)
    replicas, batch = execution.replicas, int(arrays[0].shape[0])
    if batch % replicas:
        raise BadArgument(f"the protocol's global batch {batch} does not split evenly over {replicas} replicas; "
                          f"use a number of devices that divides it")
    per_replica = batch // replicas

    def slice_for(context):
        start = context.replica_id_in_sync_group * per_replica
        return tuple(tf.convert_to_tensor(a[start:start + per_replica]) for a in arrays)

    values = execution.strategy.experimental_distribute_values_from_function(slice_for)
    return (*values, lam_tensor)


def _read_metrics(path: Path, up_to_step: int) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if int(row["step"]) <= up_to_step]


def _write_metrics(path: Path, rows: list[dict], fields: tuple[str, ...] = METRIC_FIELDS) -> None:
    def write(out) -> None:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)


def train(
    model: keras.Model,
    data: "TrainData | StreamData",
    schedule: Schedule,
    run_dir: Path,
    *,
    data_seed: int,
    save_epoch_weights: bool = False,
    progress: Callable[[str], None] | None = None,
    hook: StepHook | None = None,
) -> TrainResult:
    """Train ``model`` in place with ``schedule``; resume from ``run_dir`` if interrupted.

    Writes ``metrics.csv`` (one row per evaluation), TensorBoard scalars under
    ``run_dir`` (:mod:`repro.events`), ``checkpoint.npz`` after every evaluation and, with
    ``save_epoch_weights``, ``checkpoints/epoch-XXX.weights.npz`` at every epoch
    boundary (epoch 0 = the initial weights) and, with a ``hook``,
    ``steps.csv`` (its rows; step = the number of updates done). Raises
    :class:`NonFiniteLoss` on a NaN/inf training loss.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    optimizer, train_step = trainer(model, schedule)
    reset_optimizer(optimizer)
    checkpoint = _Checkpoint(run_dir / CHECKPOINT)
    metrics_path = run_dir / "metrics.csv"
    step, elapsed = 0, 0.0
    if checkpoint.path.exists():
        step, elapsed = checkpoint.restore(model, optimizer)
    history = _read_metrics(metrics_path, step)
    steps_path = run_dir / "steps.csv"
    step_rows = _read_metrics(steps_path, step) if hook else []
    logged_rows = len(step_rows)
    steps_per_epoch = schedule.steps_per_epoch or max(1, data.n_train // schedule.batch_size)
    keep_last = schedule.last_batch == "keep"
    execution = current_execution()
    short = data.n_train % schedule.batch_size
    if keep_last and execution.distributed and short % execution.replicas:
        raise BadArgument(f"each epoch ends with a batch of {short} examples (the protocol keeps the short last "
                          f"batch), which does not split evenly over {execution.replicas} replicas; use a number of "
                          f"devices that divides {short}")
    if save_epoch_weights and step == 0:
        save_weights(model, epoch_weights(run_dir, 0))

    writer = tf.summary.create_file_writer(str(run_dir))
    started = time.time() - elapsed
    losses: list[float] = []
    while step < schedule.max_iter:
        x, y = data.batch(step, schedule.batch_size, data_seed, keep_last)
        x, y_a, y_b, lam = mix_batch(x, y, schedule.mixup_alpha, data_seed, step)
        optimizer.learning_rate.assign(schedule.lr_at(step))
        if hook:
            hook.before(step, x, y)
        loss = float(train_step(*distribute_batch((x, y_a, y_b), lam)))
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"training loss became {loss} at iteration {step} in {run_dir}", step)
        losses.append(loss)
        if hook:
            measured = hook.after(step, x, y)
            if measured is not None:
                step_rows.append(dict(measured, step=step + 1))
        step += 1
        if save_epoch_weights and step % steps_per_epoch == 0:
            save_weights(model, epoch_weights(run_dir, step // steps_per_epoch))
        if step % schedule.eval_every == 0 or step == schedule.max_iter:
            evaluation = evaluate(model, data.validation_batches(), LOSSES[schedule.loss])
            train_acc = (evaluate(model, data.train_eval_batches(schedule.train_eval_examples),
                                  LOSSES[schedule.loss]).accuracy
                         if schedule.train_eval_examples else "")
            row = dict(step=step, epoch=round(step / steps_per_epoch, 3), lr=schedule.lr_at(step - 1),
                       train_loss=float(np.mean(losses)), val_loss=evaluation.loss, val_acc=evaluation.accuracy,
                       train_acc=train_acc, seconds=round(time.time() - started, 2))
            losses = []
            history.append(row)
            _write_metrics(metrics_path, history)
            if hook:
                _write_metrics(steps_path, step_rows, ("step",) + tuple(hook.fields))
            write_scalars(writer, [row], step_rows[logged_rows:], hook.fields if hook else ())
            logged_rows = len(step_rows)
            checkpoint.save(model, optimizer, step, time.time() - started)
            if progress:
                progress(f"it {step}/{schedule.max_iter} loss {row['train_loss']:.3f} val_acc {row['val_acc']:.4f}")
    writer.close()
    accuracies = [float(r["val_acc"]) for r in history]
    train_accuracies = [float(r["train_acc"]) for r in history if r.get("train_acc") not in ("", None)]
    return TrainResult(
        acc_top_k_mean=top_k_mean(accuracies, schedule.top_k),
        acc_final=accuracies[-1],
        acc_final_mean=final_mean(accuracies, schedule.final_k),
        acc_max=max(accuracies),
        n_evals=len(accuracies),
        train_loss_final=float(history[-1]["train_loss"]),
        steps=step,
        seconds=round(time.time() - started, 2),
        best_step=int(history[int(np.argmax(accuracies))]["step"]),
        train_acc_mean=float(np.mean(train_accuracies)) if train_accuracies else float("nan"),
    )
