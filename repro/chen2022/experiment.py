"""Execute one Chen et al. 2022 run: fine-tuning with its layer-wise T, the domain measures, the regression.

theta_r and theta_A come from :mod:`repro.sources`: the source network is
trained once per output directory from a saved random initialisation
(``checkpoints/epoch-000.weights.h5`` = theta_r, as ``pretrain_on_ImageNet.py``
saves ``random_init_model.pth``) with a checkpoint every epoch; theta_A is the
epoch of the best validation accuracy. Fine-tuning copies every layer of
theta_A but the classifier, trains all of them with the official SGD (cosine
schedule) and keeps a checkpoint every epoch; theta_FB is again the
best-validation epoch. Formulas: :mod:`repro.chen2022.measure`.
"""
from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np

import repro  # noqa: F401
import keras

from repro.chen2022 import measure
from repro.chen2022.protocol import GROUPS, PAPER, SCALES, Scale, Target, Training, group_column
from repro.errors import ReproError
from repro.models.resnet import chen_groups, load_weights, resnet
from repro.runner import RunContext
from repro.runs import RunSpec, derive_seed, spec_config, write_json
from repro.sources import SourceModel, ensure_source
from repro.train import SGDSchedule, TrainData, schedule_config, train
from repro.transfer import transfer

FEATURES = "avgpool"
def _data_module(scale: Scale):
    if scale.name == "paper":
        from repro.chen2022 import data

        return data
    from repro.chen2022 import mini_data

    return mini_data


def build_model(scale: Scale, classes: int, seed: int, size: int | None = None) -> keras.Model:
    """A freshly initialised torchvision-style ResNet of the scale, for ``size`` x ``size`` inputs (default the
    scale's; the weights do not depend on it)."""
    size = size or scale.image_size
    return resnet((size, size, scale.channels), classes, width=scale.width, stem=scale.stem, blocks=scale.blocks,
                  seed=seed, name="resnet")


def sgd(training: Training, n_train: int) -> SGDSchedule:
    """The official SGD: momentum 0.9, weight decay on every parameter, StepLR (x0.1) or cosine per epoch."""
    steps_per_epoch = max(1, n_train // training.batch_size)
    max_iter = training.epochs * steps_per_epoch
    return SGDSchedule(
        base_lr=training.lr, max_iter=max_iter, step_size=(training.step_every * steps_per_epoch) or max_iter + 1,
        batch_size=training.batch_size, eval_every=steps_per_epoch, weight_decay=training.weight_decay,
        bias_lr_mult=1.0, top_k=1, decay_biases=True,
        cosine_steps=0 if training.step_every else max_iter, cosine_every=steps_per_epoch)


def source_model(scale: Scale, context: RunContext) -> SourceModel:
    """The pre-training run on task A, from a saved init, a checkpoint every epoch."""
    data = context.cached(("source",), lambda: _data_module(scale).source_data(scale, context.data_dir))[0]
    key = (f"resnet-w{scale.width}-b{''.join(map(str, scale.blocks))}-{scale.stem}-{scale.source_dataset}"
           f"-n{scale.source_per_class or 'all'}-e{scale.pretrain.epochs}-chen")
    return SourceModel(key=key, build=lambda seed: build_model(scale, scale.source_classes, seed),
                       data=lambda ctx: data, schedule=sgd(scale.pretrain, data.n_train), seed=0,
                       config=dict(paper_role="task A (ImageNet at paper scale)", scale=scale.name))


def best_epoch(run_dir: Path) -> int:
    """The epoch of the highest validation accuracy in ``metrics.csv`` (the earliest on a tie)."""
    with (run_dir / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    best = max(rows, key=lambda r: (float(r["val_acc"]), -float(r["epoch"])))
    return int(round(float(best["epoch"])))


def pretrained(scale: Scale, context: RunContext) -> tuple[Path, Path, int]:
    """(theta_r file, theta_A file, theta_A's epoch), pre-training first if needed."""
    source = source_model(scale, context)
    run_dir = ensure_source(context, source)
    epoch = best_epoch(run_dir)
    return source.epoch_weights(context, 0), source.epoch_weights(context, epoch), epoch


def _load(scale: Scale, classes: int, path: Path, context: RunContext, size: int | None = None) -> keras.Model:
    def build() -> keras.Model:
        model = build_model(scale, classes, seed=0, size=size)
        load_weights(model, path)
        return model

    return context.cached(("weights", str(path), size), build)


def target_data(scale: Scale, target: Target, context: RunContext) -> tuple[TrainData, dict]:
    return context.cached(("target", target.name), lambda: _data_module(scale).target_data(scale, target,
                                                                                          context.data_dir))


def worker_model(scale: Scale, classes: int, size: int, context: RunContext) -> keras.Model:
    """One model object per (class count, input size) for the command (its traced step is reused); runs assign
    its weights."""
    return context.cached(("worker", classes, size), lambda: build_model(scale, classes, seed=0, size=size))


def _kernels(model: keras.Model, paths) -> dict[str, np.ndarray]:
    by_path = {v.path: v for v in model.variables}
    return {path: np.array(by_path[path].numpy()) for path in paths}


def fresh_classifier(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A new classifier kernel as torch's ``nn.Linear`` draws it: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(shape[0])
    return np.random.default_rng(seed).uniform(-bound, bound, size=shape).astype(np.float32)


def transferability_run(spec: RunSpec, context: RunContext) -> dict:
    """Fine-tune theta_A on the target, keep theta_FB (best validation epoch), return the layer-wise T."""
    scale = SCALES[spec.scale]
    target = scale.target(spec.target)
    theta_r_path, theta_a_path, epoch_a = pretrained(scale, context)
    data, data_config = target_data(scale, target, context)
    schedule = sgd(scale.finetune, data.n_train)
    init_seed = derive_seed(PAPER, spec.scale, target.name, "init", spec.seed)
    data_seed = derive_seed(PAPER, spec.scale, target.name, "data", spec.seed)
    size = target.size(scale)
    model = worker_model(scale, target.classes, size, context)
    for variable, value in zip(model.variables, build_model(scale, target.classes, init_seed, size).variables):
        variable.assign(value)
    layers = [layer.name for layer in model.layers if layer.weights and layer.name != "fc"]
    record = transfer(model, [(name,) for name in layers] + [("fc",)], len(layers), "finetune",
                      _load(scale, scale.source_classes, theta_a_path, context))
    run_dir = context.run_dir(spec.run_key)
    write_json(run_dir / "config.json", dict(
        run=spec_config(spec), scale=scale.name, schedule=schedule_config(schedule), data=data_config,
        transfer=record.to_config(), theta_r=str(theta_r_path), theta_a=dict(path=str(theta_a_path), epoch=epoch_a),
        seeds=dict(init=init_seed, data=data_seed)))
    result = train(model, data, schedule, run_dir, data_seed=data_seed, save_epoch_weights=True,
                   progress=context.throttled())
    (run_dir / "checkpoint.npz").unlink(missing_ok=True)
    epoch_fb = result.best_step // schedule.eval_every
    model.load_weights(run_dir / "checkpoints" / f"epoch-{epoch_fb:03d}.weights.h5")
    groups = chen_groups(model)
    finetuned = _kernels(model, groups)
    random = _kernels(_load(scale, scale.source_classes, theta_r_path, context), groups.keys() - {"fc/kernel"})
    theta_a = _kernels(_load(scale, scale.source_classes, theta_a_path, context), groups.keys() - {"fc/kernel"})
    shape = finetuned["fc/kernel"].shape  # the script puts fresh random classifiers into theta_r and theta_A
    random["fc/kernel"] = fresh_classifier(shape, derive_seed(PAPER, spec.run_key, "fc", "r"))
    theta_a["fc/kernel"] = fresh_classifier(shape, derive_seed(PAPER, spec.run_key, "fc", "A"))
    layer_t = measure.layer_transferability(random, theta_a, finetuned, groups)
    return dict(
        n_train=data.n_train, T_overall=measure.overall_transferability(layer_t),
        **{group_column(g): layer_t[g] for g in GROUPS if g in layer_t},
        test_acc_best=result.acc_max, test_acc_final=result.acc_final, best_epoch=epoch_fb, theta_a_epoch=epoch_a,
        steps=result.steps, seconds=result.seconds)


def features(model: keras.Model, x: np.ndarray, batch: int = 500) -> np.ndarray:
    """The GAP features (``avgpool``) of ``x`` under ``model``, in inference mode."""
    extractor = keras.Model(model.input, model.get_layer(FEATURES).output)
    return np.concatenate([np.asarray(extractor(x[i:i + batch], training=False)) for i in range(0, len(x), batch)])


def domain_measures_run(spec: RunSpec, context: RunContext) -> dict:
    """G and D of the target against the source, on theta_A's features (:mod:`repro.chen2022.measure`)."""
    scale = SCALES[spec.scale]
    target = scale.target(spec.target)
    _, theta_a_path, _ = pretrained(scale, context)
    data_module, k = _data_module(scale), scale.feature_examples
    source_features = features(_load(scale, scale.source_classes, theta_a_path, context),
                               data_module.source_examples(scale, context.data_dir, k)[0])
    x, y = data_module.target_examples(scale, target, context.data_dir, k)
    target_features = features(_load(scale, scale.source_classes, theta_a_path, context, target.size(scale)), x)
    n_train = target_data(scale, target, context)[0].n_train
    return dict(n_train=n_train, G=measure.domain_gap(source_features, target_features),
                D=measure.intraclass_variance(source_features, target_features, y),
                n_source_features=len(source_features), n_target_features=len(target_features))


def regression_run(spec: RunSpec, context: RunContext) -> dict:
    """ln T on standardised (G, D, ln N) over every target (first seed)."""
    scale = SCALES[spec.scale]
    seed = scale.seeds[0]
    rows = []
    for target in scale.targets:
        t = context.ensure(f"ft-{target.name}-s{seed}")
        gd = context.ensure(f"gd-{target.name}-s{seed}")
        rows.append((gd["G"], gd["D"], math.log(t["n_train"]), math.log(t["T_overall"])))
    g, d, log_n, log_t = (list(column) for column in zip(*rows))
    try:
        fit = measure.standardized_regression({"G": g, "D": d, "lnN": log_n}, log_t)
    except ValueError as error:
        raise ReproError(f"the regression of ln T over the {len(rows)} targets of scale {scale.name}: {error}") from None
    return dict(coef_G=fit.coefficients["G"], coef_D=fit.coefficients["D"], coef_lnN=fit.coefficients["lnN"],
                intercept=fit.intercept, r2=fit.r2, n_targets=fit.n)


RUNS = {"transferability": transferability_run, "domain_measures": domain_measures_run, "regression": regression_run}


def execute(spec: RunSpec, context: RunContext) -> dict:
    """Run one cell of any experiment and return its CSV metrics."""
    started = time.time()
    result = RUNS[spec.params["kind"]](spec, context)
    return {"seconds": round(time.time() - started, 2), **result}


TRANSFER_FIELDS = (("n_train", "T_overall") + tuple(group_column(g) for g in GROUPS)
                   + ("test_acc_best", "test_acc_final", "best_epoch", "theta_a_epoch", "steps", "seconds"))
DOMAIN_FIELDS = ("n_train", "G", "D", "n_source_features", "n_target_features", "seconds")
REGRESSION_FIELDS = ("coef_G", "coef_D", "coef_lnN", "intercept", "r2", "n_targets", "seconds")
