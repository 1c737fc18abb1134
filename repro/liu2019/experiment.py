"""Execute one Liu et al. 2019 run: a source, a fine-tuning run, a flatness analysis, a theory level.

Composes the shared modules: :mod:`repro.sources` (LeNet sources trained
once, found again by key, a checkpoint every epoch), :mod:`repro.transfer`
(the pretrained LeNet arm copies body and head, as ``lenet.py`` loads both
``lenet_fashion.pkl`` and ``lenet_fashion_cls.pkl``), :mod:`repro.train`
(the code's SGD, with the per-step hooks of :mod:`repro.liu2019.probes`),
:mod:`repro.landscape` (Hessian eigenvalue and trace, filter-normalised
surface, gradient shares) and :mod:`repro.liu2019.theory`. Constants are in
:mod:`repro.liu2019.protocol`.
"""
from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

import repro  # noqa: F401
import keras

from repro.errors import BadArgument
from repro.landscape.curvature import hessian_eigenpairs, hessian_trace
from repro.landscape.directions import random_plane
from repro.landscape.smoothness import per_example_gradient_share, principal_gradient_share
from repro.landscape.surfaces import loss_surface
from repro.liu2019 import tasks
from repro.liu2019.probes import DeviationLog, LossProbe
from repro.liu2019.protocol import (
    PAPER, RANDOM_SOURCE, SCALES, Scale, Schedule, Setting, Source, train_key)
from repro.models import lenet as lenet_module
from repro.models.resnet import load_weights
from repro.runner import FINAL_WEIGHTS, RunContext
from repro.runs import RunSpec, derive_seed, spec_config, write_json
from repro.sources import SourceModel, ensure_source
from repro.train import SGDSchedule, TrainData, schedule_config, train
from repro.transfer import transfer

IMAGENET_WEIGHTS_ENV = "REPRO_LIU_RESNET50_WEIGHTS"
START_FILE = "start.json"


# ----------------------------------------------------------------------------- networks

def build_network(setting: Setting, classes: int, seed: int) -> keras.Model:
    """A freshly initialised network of the setting: the code's LeNet, or ResNet-50 + ``CLS`` head."""
    if setting.network == "lenet":
        return lenet_module.lenet(classes, seed=seed)
    from repro.models.liu_head import liu_resnet50

    return liu_resnet50(classes, seed=seed)


def frozen_layers(model: keras.Model, prefixes: tuple[str, ...]) -> list[str]:
    """Layers whose name is a frozen prefix or starts with ``<prefix>_`` (``layer2`` -> ``layer2_block0_conv1``)."""
    return [layer.name for layer in model.layers if layer.weights
            and any(layer.name == p or layer.name.startswith(p.replace(".", "_") + "_") for p in prefixes)]


def worker_model(context: RunContext, setting: Setting, classes: int, frozen: tuple[str, ...]) -> keras.Model:
    """One model object per (network, classes, frozen layers) for the whole command; each run assigns its weights.

    Reusing it reuses its traced training step (:func:`repro.train.trainer`).
    """
    def build() -> keras.Model:
        model = build_network(setting, classes, seed=0)
        for name in frozen_layers(model, frozen):
            model.get_layer(name).trainable = False
        return model

    return context.cached(("worker", setting.network, classes, frozen), build)


def fresh_model(context: RunContext, setting: Setting, classes: int, seed: int,
                frozen: tuple[str, ...] = ()) -> keras.Model:
    """The worker model holding exactly the initialisation :func:`build_network` gives ``seed``
    (every variable, dropout seed states included)."""
    model = worker_model(context, setting, classes, frozen)
    for variable, value in zip(model.variables, build_network(setting, classes, seed).variables):
        variable.assign(value)
    return model


def kernel_groups(model: keras.Model, network: str) -> dict[str, list[str]]:
    """The deviation's tensors: ``conv`` (the code's: every conv kernel, shortcuts included) and ``fc`` (dense kernels)."""
    if network == "lenet":
        conv = [model.get_layer(n).kernel.path for n in lenet_module.CONV_LAYERS]
    else:
        from repro.models.liu_head import liu_conv_kernels

        conv = liu_conv_kernels(model)
    dense = [layer.kernel.path for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return {"conv": conv, "fc": dense}


def kernel_path(network: str, layer: str) -> str:
    """Variable path of a probed kernel: LeNet layer name, or torchvision name for ResNet-50."""
    if network == "lenet":
        return f"{layer}/kernel"
    from repro.models.liu_head import torch_conv_path

    return torch_conv_path(f"{layer}.weight")


# ----------------------------------------------------------------------------- sources

def source_model(context: RunContext, scale: Scale, source: Source) -> SourceModel:
    """A LeNet pre-trained on ``source`` with the scale's source schedule, for the source's own number of
    epochs if it has one (per-epoch checkpoints)."""
    schedule = replace(scale.source_schedule, epochs=source.epochs or scale.source_schedule.epochs)
    data = context.cached(("source", source.name), lambda: tasks.source_data(scale, source, context.data_dir))[0]
    key = (f"lenet-{source.name}-{source.train.name}-c{source.train.start}-{source.train.stop or 'all'}"
           f"-e{schedule.epochs}")
    return SourceModel(key=key, build=lambda seed: build_network(scale.feasibility, source.classes, seed),
                       data=lambda context: data, schedule=sgd(schedule, data.n_train), seed=0,
                       config=dict(task=asdict(source), scale=scale.name, network="lenet"))


def load_source(context: RunContext, scale: Scale, source: Source, epoch: int | None) -> keras.Model:
    """The source LeNet, final or at checkpoint ``epoch`` (0 = its random init), trained first if needed."""
    model_spec = source_model(context, scale, source)
    run_dir = ensure_source(context, model_spec)
    path = run_dir / FINAL_WEIGHTS if epoch is None else model_spec.epoch_weights(context, epoch)

    def load() -> keras.Model:
        model = build_network(scale.feasibility, source.classes, seed=0)
        load_weights(model, path)
        return model

    return context.cached(("source-weights", str(path)), load)


def imagenet_backbone() -> str:
    """Path of the ImageNet ResNet-50 backbone weights (never downloaded), from ``$REPRO_LIU_RESNET50_WEIGHTS``."""
    path = os.environ.get(IMAGENET_WEIGHTS_ENV)
    if not path or not os.path.isfile(path):
        raise BadArgument(
            f"the pretrained ResNet-50 arm needs ImageNet weights: set {IMAGENET_WEIGHTS_ENV} to a Keras .weights.h5 "
            "of repro.models.resnet.resnet(include_top=False) (e.g. torchvision's ImageNet weights converted; "
            "see repro.models.liu_head)" + (f"; {path!r} does not exist" if path else ""))
    return path


# ----------------------------------------------------------------------------- data and schedules

def sgd(schedule: Schedule, n_train: int) -> SGDSchedule:
    """The official SGD: torch weight decay on every parameter, one lr for all, ``twostage`` drop at ``lr_step``."""
    steps_per_epoch = max(1, n_train // schedule.batch_size)
    max_iter = schedule.epochs * steps_per_epoch
    return SGDSchedule(
        base_lr=schedule.lr, max_iter=max_iter, step_size=schedule.lr_step or max_iter + 1,
        batch_size=schedule.batch_size, eval_every=max(1, max_iter // schedule.evals), momentum=schedule.momentum,
        weight_decay=schedule.weight_decay, bias_lr_mult=1.0, top_k=1, decay_biases=True)


def target_data(context: RunContext, scale: Scale, setting: Setting):
    """The setting's target data, cached for the command: arrays (LeNet) or tf.data streams (ResNet-50)."""
    def load():
        if setting.network == "lenet":
            return tasks.target_data(scale, setting.target, context.data_dir)
        from repro.liu2019.data import resnet_stream

        return resnet_stream(setting.target.train.name, context.data_dir, batch_size=setting.schedule.batch_size,
                             class_balanced=setting.schedule.class_balanced)

    return context.cached(("target", setting.network, setting.target.name), load)


def first_examples(data, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` training examples as one batch: the fixed set of the analyses (arrays: unaugmented;
    streams: the first batches of the training stream at seed 0)."""
    if isinstance(data, TrainData):
        return [(data.x_train[:count], data.y_train[:count])]
    xs, ys, n = [], [], 0
    for x, y in data.make_train(0):  # augmented like the code's one batch of training images
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        n += len(xs[-1])
        if n >= count:
            break
    return [(np.concatenate(xs)[:count], np.concatenate(ys)[:count])]


def run_seeds(scale: Scale, setting: Setting, seed: int) -> tuple[int, int]:
    """(init seed, data seed) of a fine-tuning run: the same for every source at one seed, so arms see the same
    batches and every random arm starts from the same network."""
    return (derive_seed(PAPER, scale.name, setting.network, "init", seed),
            derive_seed(PAPER, scale.name, setting.target.name, "data", seed))


# ----------------------------------------------------------------------------- fine-tuning runs

def _identical_run(spec: RunSpec, scale: Scale) -> str | None:
    """Another run with exactly this configuration, whose result this run reuses.

    - input similarity from random init, when the feasibility and the
      generalization settings train the same network on the same target with
      the same schedule (mini; the head rule does not touch a random arm):
      the deviation run;
    - the last pre-training checkpoint of a source of the input series: the
      input-similarity run of that source.
    """
    same_training = all(getattr(scale.feasibility, f) == getattr(scale.generalization, f)
                        for f in ("network", "target", "schedule"))
    if spec.experiment == "input_similarity" and spec.source == RANDOM_SOURCE and same_training:
        return train_key("deviation", RANDOM_SOURCE, spec.seed)
    source = scale.source(scale.checkpoint_source) if spec.experiment == "checkpoints" else None
    if (source is not None and source.name in scale.input_sources
            and spec.params["source_epoch"] == (source.epochs or scale.source_schedule.epochs)):
        return train_key("input_similarity", source.name, spec.seed)
    return None


def _start_analyses(model: keras.Model, data, scale: Scale, setting: Setting, probed: str) -> dict:
    """L-C3 at the start of fine-tuning, on the first ``share_examples`` training examples.

    share_hessian = (v_1 . g)^2 / ||g||^2 over the trainable parameters;
    share_per_example = s_1^2 / sum s_i^2 of the per-example gradients of the probed kernel.
    """
    batch = first_examples(data, scale.probe.share_examples)
    principal = principal_gradient_share(model, batch, k=1, order=scale.curvature.lanczos_order, seed=0)
    spectrum = per_example_gradient_share(model, batch, include=lambda v: v.path == probed)
    return dict(share_hessian=principal.estimate, start_top_eigenvalue=float(principal.eigenvalues[0]),
                start_grad_norm=principal.gradient_norm, share_per_example=spectrum.estimate)


def _probe_summary(run_dir: Path) -> dict:
    rows = _read_csv(run_dir / "steps.csv")
    if not rows:
        return {}
    values = {k: np.array([float(r[k]) for r in rows]) for k in LossProbe.FIELDS}
    norm = values["grad_norm"]
    return dict(variation_mean=float(values["variation"].mean()), variation_std=float(values["variation"].std()),
                beta_mean=float(values["beta"].mean()), grad_norm_mean=float(norm.mean()),
                grad_norm_cv=float(norm.std() / norm.mean()), probes=len(rows))


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def train_run(spec: RunSpec, context: RunContext) -> dict:
    """Fine-tune (pretrained arm) or train from random init (random arm) on the setting's target."""
    scale = SCALES[spec.scale]
    setting = scale.setting(spec.experiment)
    p = spec.params
    cell = dict(arm=p["arm"], source_epoch=p.get("source_epoch", ""))
    identical = _identical_run(spec, scale)
    if identical is not None:
        result = context.ensure(identical)
        return {**result, **cell, "reused": result.get("reused") or identical}
    init_seed, data_seed = run_seeds(scale, setting, spec.seed)
    data, data_config = target_data(context, scale, setting)
    schedule = sgd(setting.schedule, data.n_train)
    frozen = scale.probe.frozen if spec.experiment == "optimization" else ()
    classes = setting.target.classes
    model = fresh_model(context, setting, classes, init_seed, frozen)
    start: dict = dict(mode="random init")
    if p["arm"] == "pretrained":
        start = _load_pretrained(context, scale, setting, model, spec)
    run_dir = context.run_dir(spec.run_key)
    probed = kernel_path(setting.network, scale.probe.layer)
    start_path = run_dir / START_FILE
    hook: "DeviationLog | LossProbe"
    if spec.experiment == "optimization":
        if not start_path.exists():
            write_json(start_path, _start_analyses(model, data, scale, setting, probed))
        hook = LossProbe(model, probed, scale.probe.eta, scale.probe.steps, scale.probe.every, scale.probe.window)
    else:
        hook = DeviationLog(model, kernel_groups(model, setting.network))
    write_json(run_dir / "config.json", dict(
        run=spec_config(spec), scale=scale.name, schedule=schedule_config(schedule), data=data_config,
        model=dict(network=setting.network, classes=classes, frozen=list(frozen)), start=start,
        seeds=dict(init=init_seed, data=data_seed), probe=asdict(scale.probe) if spec.experiment == "optimization"
        else None))
    result = train(model, data, schedule, run_dir, data_seed=data_seed, progress=context.throttled(), hook=hook)
    model.save_weights(run_dir / FINAL_WEIGHTS)
    (run_dir / "checkpoint.npz").unlink(missing_ok=True)
    history = _read_csv(run_dir / "metrics.csv")
    first_half = [float(r["train_loss"]) for r in history if int(r["step"]) <= schedule.max_iter // 2]
    steps = _read_csv(run_dir / "steps.csv")
    final = steps[-1] if steps and spec.experiment != "optimization" else {}
    out = dict(
        **cell, test_acc_final=result.acc_final, test_acc_best=result.acc_max, train_loss_final=result.train_loss_final,
        train_loss_first_half=float(np.mean(first_half)) if first_half else "",
        deviation_conv=float(final["deviation_conv"]) if final else "",
        deviation_fc=float(final["deviation_fc"]) if final else "",
        steps=result.steps, seconds=result.seconds, reused="")
    if spec.experiment == "optimization":
        out.update(json.loads(start_path.read_text()), **_probe_summary(run_dir))
    return out


def _load_pretrained(context: RunContext, scale: Scale, setting: Setting, model: keras.Model, spec: RunSpec) -> dict:
    """Put the source's weights into ``model``: the LeNet body, and with a transferred head the head too (its
    last layer only when the class counts agree); or the ImageNet ResNet-50 backbone with a fresh ``CLS`` head."""
    if setting.network != "lenet":
        from repro.models.liu_head import liu_backbone

        path = imagenet_backbone()
        load_weights(liu_backbone(model), path)
        return dict(mode="imagenet backbone", weights=path)
    source = scale.source(spec.source)
    epoch = spec.params.get("source_epoch")
    source_net = load_source(context, scale, source, epoch)
    modules = [(name,) for name in lenet_module.WEIGHT_LAYERS]
    if setting.head == "new":
        n_transferred = len(lenet_module.BODY_LAYERS)
    else:
        n_transferred = len(modules) if source.classes == setting.target.classes else len(modules) - 1
    record = transfer(model, modules, n_transferred, "finetune", source_net)
    return dict(record.to_config(), source=source_model(context, scale, source).key,
                source_epoch=epoch if epoch is not None else "final")


# ----------------------------------------------------------------------------- flatness

def flatness_run(spec: RunSpec, context: RunContext) -> dict:
    """Top Hessian eigenvalue, Hessian trace and the 2-D surface of one kernel at a deviation run's solution.

    Hessian of the training loss over every trainable parameter on the first
    ``curvature.examples`` training images (Lanczos, Hutchinson); the surface
    perturbs the landscape kernel along two filter-normalised, orthogonalised
    Gaussian directions (seed shared by both arms) over the scale's grid, on
    the first ``landscape.batch`` training images; all with ``training=False``.
    """
    scale = SCALES[spec.scale]
    setting = scale.generalization
    of = spec.params["of"]
    trained = context.ensure(of, require=(FINAL_WEIGHTS,))
    model = worker_model(context, setting, setting.target.classes, ())
    model.load_weights(context.run_dir(of) / FINAL_WEIGHTS)
    data, _ = target_data(context, scale, setting)
    examples = first_examples(data, scale.curvature.examples)
    top = hessian_eigenpairs(model, examples, k=1, order=scale.curvature.lanczos_order, seed=0)
    trace = hessian_trace(model, examples, n_samples=scale.curvature.trace_samples, seed=0)
    layer = kernel_path(setting.network, scale.landscape.layer)
    plane = random_plane(model, scale.landscape.seed, include=lambda v: v.path == layer, orthogonalize=True)
    axis = scale.landscape.coordinates
    surface = loss_surface(model, first_examples(data, scale.landscape.batch), plane, (axis, axis),
                           path=context.run_dir(spec.run_key) / "surface.npz", flush_every=50)
    centre = surface.losses[len(axis) // 2, len(axis) // 2]
    rise = surface.losses - centre
    return dict(arm=spec.params["arm"], of=of, test_acc_final=trained["test_acc_final"],
                top_eigenvalue=float(top.eigenvalues[0]), eigen_residual=float(top.residuals[0]),
                hessian_trace=trace.estimate, trace_se=trace.stderr, surface_layer=layer,
                surface_centre_loss=float(centre), surface_mean_rise=float(rise.mean()),
                surface_max_rise=float(rise.max()), grid=f"{len(axis)}x{len(axis)}")


# ----------------------------------------------------------------------------- theory

def theory_run(spec: RunSpec, context: RunContext) -> dict:
    """One similarity level of one series of :func:`repro.liu2019.theory.transfer_experiment`."""
    from repro.liu2019.theory import transfer_experiment

    t = SCALES[spec.scale].theory
    row = transfer_experiment([spec.params["level"]], spec.params["series"], n=t.n, d=t.d, m=t.m, steps=t.steps,
                              seed=spec.seed)[0]
    values = asdict(row)
    return dict(series=values.pop("kind"), **{k: v for k, v in values.items() if k != "seed"})


def execute(spec: RunSpec, context: RunContext) -> dict:
    """Run one cell of any experiment and return its CSV metrics."""
    kind = spec.params["kind"]
    started = time.time()
    if kind == "train":
        return train_run(spec, context)
    if kind == "flatness":
        result = flatness_run(spec, context)
    elif kind == "theory":
        result = theory_run(spec, context)
    else:
        raise BadArgument(f"unknown run kind {kind!r}")
    return {**result, "seconds": round(time.time() - started, 2)}


TRAIN_FIELDS = ("arm", "source_epoch", "test_acc_final", "test_acc_best", "train_loss_final", "train_loss_first_half",
                "deviation_conv", "deviation_fc", "steps", "reused", "seconds")
OPTIMIZATION_FIELDS = TRAIN_FIELDS + (
    "share_hessian", "share_per_example", "start_grad_norm", "start_top_eigenvalue", "variation_mean",
    "variation_std", "beta_mean", "grad_norm_mean", "grad_norm_cv", "probes")
FLATNESS_FIELDS = ("arm", "of", "test_acc_final", "top_eigenvalue", "eigen_residual", "hessian_trace", "trace_se",
                   "surface_layer", "surface_centre_loss", "surface_mean_rise", "surface_max_rise", "grid", "seconds")
THEORY_FIELDS = ("series", "similarity", "deviation_pretrained", "deviation_random", "rkhs_pretrained", "rkhs_random",
                 "top_abs_pretrained", "top_abs_random", "top_fraction_pretrained", "top_fraction_random",
                 "grad_norm_pretrained", "grad_norm_random", "final_loss_pretrained", "final_loss_random",
                 "lambda_min", "lambda_max", "seconds")
