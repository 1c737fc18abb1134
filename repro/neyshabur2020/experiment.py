"""Execute one Neyshabur et al. 2020 run: pre-trained source P, P-T and RI-T training, the lr choice.

Composes the shared modules only: :mod:`repro.sources` (P, trained once and
found again by its key, with a checkpoint every epoch),
:mod:`repro.models.fixup_resnet`, :mod:`repro.transfer` (P-T copies every
module of P but the classifier, fine-tunes everything; the official
``load_finetune_init`` drops only ``fc.weight`` and ``fc.bias``),
:mod:`repro.train` (SGD with the official code's options) and
:mod:`repro.tuning` (the better lr of each arm: the value ``repro tune``
wrote in ``tuned.json``, else the grid's own keras-tuner choice). The
analyses that train nothing are in :mod:`repro.neyshabur2020.analyses`; the
constants in :mod:`repro.neyshabur2020.protocol`.
"""
from __future__ import annotations

import time
from pathlib import Path

import repro  # noqa: F401
import keras

from repro.errors import BadArgument
from repro.models.fixup_resnet import fixup_resnet
from repro.models.resnet import neyshabur_modules
from repro.neyshabur2020.protocol import (
    PAPER, PIXEL_SHUFFLE, SCALES, Scale, Target, bs_key, lc_key, lr_choice_key, lr_search, same_init_key)
from repro.runner import FINAL_WEIGHTS, RunContext
from repro.runs import RunSpec, derive_seed, spec_config, write_json
from repro.sources import SourceModel, ensure_source
from repro.train import SGDSchedule, TrainData, schedule_config, train
from repro.transfer import transfer
from repro.tuning import choose_best, read_tuned, search_score


# ----------------------------------------------------------------------------- data and models

def _mini_or_paper(scale: Scale):
    if scale.name == "paper":
        from repro.neyshabur2020 import data as paper_data

        return paper_data
    from repro.neyshabur2020 import mini_data

    return mini_data


def target_data(scale: Scale, target: Target, context: RunContext, block: str | None = None,
                shuffle_seed: int = 0) -> tuple[TrainData, dict]:
    """The target's training and test data (block-shuffled when ``block`` is given), cached per command."""
    return context.cached(("target", target.name, block, shuffle_seed), lambda: _mini_or_paper(scale).target_data(
        scale, target, context.data_dir, block, shuffle_seed))


def build_model(scale: Scale, classes: int, seed: int) -> keras.Model:
    """A freshly initialised Fixup ResNet of the scale (Fixup init, no BatchNorm)."""
    return fixup_resnet((scale.image_size, scale.image_size, scale.channels), classes, width=scale.width,
                        stem=scale.stem, blocks=scale.blocks, seed=seed, name="fixup_resnet")


def worker_model(scale: Scale, classes: int, context: RunContext, slot: str = "train") -> keras.Model:
    """One model object per (classes, slot) for the whole command, whose weights each run assigns.

    Reusing the object reuses its traced training step and evaluation
    (:func:`repro.train.trainer`), which on a CPU cost more than a mini run's
    training itself; a run's network is exactly the freshly built one
    because every weight is assigned before use.
    """
    return context.cached(("worker", scale.name, classes, slot), lambda: build_model(scale, classes, seed=0))


def fresh_model(scale: Scale, classes: int, seed: int, context: RunContext) -> keras.Model:
    """The worker model holding the initialisation :func:`build_model` gives ``seed``."""
    model = worker_model(scale, classes, context)
    model.set_weights(build_model(scale, classes, seed).get_weights())
    return model


def source_classes(scale: Scale) -> int:
    return 1000 if scale.name == "paper" else 5


def source_model(scale: Scale) -> SourceModel:
    """P: the source network every P-T run starts from (ImageNet at paper scale, Fashion-MNIST A at mini)."""
    settings = scale.source
    key = (f"fixup_resnet-w{scale.width}-b{''.join(map(str, scale.blocks))}-{scale.stem}"
           f"-{settings.dataset}{'-half0A' if settings.dataset == 'fashion_mnist' else ''}-e{settings.epochs}")

    def data(context: RunContext) -> TrainData:
        return context.cached(("source",), lambda: _mini_or_paper(scale).source_data(scale, context.data_dir))[0]

    n_train = (settings.train_per_class * source_classes(scale)) if settings.train_per_class else 1_281_167
    steps_per_epoch = max(1, n_train // settings.batch_size)
    schedule = SGDSchedule(
        base_lr=settings.base_lr, max_iter=settings.epochs * steps_per_epoch, step_size=settings.epochs * steps_per_epoch,
        batch_size=settings.batch_size, eval_every=steps_per_epoch, weight_decay=scale.weight_decay,
        bias_lr_mult=1.0, top_k=1, milestones=tuple(m * steps_per_epoch for m in settings.milestones),
        decay_biases=True, scalar_lr_mult=scale.scalar_lr_mult, mixup_alpha=settings.mixup_alpha)
    return SourceModel(key=key, build=lambda seed: build_model(scale, source_classes(scale), seed), data=data,
                       schedule=schedule, seed=0,
                       config=dict(paper_role="P (ImageNet model at paper scale)", dataset=settings.dataset,
                                   scale=scale.name))


def source_weights(scale: Scale, context: RunContext, epoch: int | None = None) -> Path:
    """P's weights file: final, or its checkpoint ``epoch`` (0 = its random init)."""
    source = source_model(scale)
    run_dir = ensure_source(context, source)
    return run_dir / FINAL_WEIGHTS if epoch is None else source.epoch_weights(context, epoch)


def load_source(scale: Scale, context: RunContext, epoch: int | None = None) -> keras.Model:
    path = source_weights(scale, context, epoch)

    def load() -> keras.Model:
        model = build_model(scale, source_classes(scale), seed=0)
        model.load_weights(path)
        return model

    return context.cached(("P", str(path)), load)


def transfer_modules(model: keras.Model) -> list[tuple[str, ...]]:
    """The model's layers grouped into the paper's modules, with the classifier's Dense layer last.

    Fixup's scalar bias before the classifier is copied with the body (the
    official code drops only ``fc.weight`` and ``fc.bias``).
    """
    by_module: dict[str, list[str]] = {}
    for path, module in neyshabur_modules(model).items():
        layer = path.split("/")[0]
        if layer != "fc":
            by_module.setdefault(module, [])
            if layer not in by_module[module]:
                by_module[module].append(layer)
    return [tuple(layers) for layers in by_module.values()] + [("fc",)]


# ----------------------------------------------------------------------------- training runs

def target_schedule(scale: Scale, target: Target, arm: str, n_train: int, nominal_lr: float) -> SGDSchedule:
    """The target protocol: DomainNet's batch 32, lr = nominal / 8, MultiStep at the scaled milestones,
    mixup 0.7, weight decay on every parameter, Fixup scalars at lr / 10; or the target's own settings
    (CheXpert: batch 256, lr = nominal, constant, no mixup, BCE, 200 epochs P-T / 400 RI-T)."""
    own = target.training
    batch = own.batch_size if own else scale.batch_size
    epochs = own.epochs[arm] if own else scale.epochs
    steps_per_epoch = max(1, n_train // batch)
    max_iter = epochs * steps_per_epoch
    return SGDSchedule(
        base_lr=nominal_lr / (own.lr_divisor if own else scale.lr_divisor), max_iter=max_iter, step_size=max_iter,
        batch_size=batch, eval_every=steps_per_epoch, weight_decay=scale.weight_decay, bias_lr_mult=1.0, top_k=1,
        milestones=tuple(m * steps_per_epoch for m in (own.milestones if own else scale.milestones)),
        decay_biases=True, scalar_lr_mult=scale.scalar_lr_mult,
        mixup_alpha=own.mixup_alpha if own else scale.mixup_alpha,
        train_eval_examples=min(scale.train_eval_examples, n_train), loss=own.loss if own else "softmax")


def run_seeds(spec: RunSpec) -> tuple[int, int]:
    """(init seed, data seed): the init from (target, arm, init_rep), the data order from (target, arm, rep).

    Runs that differ only in learning rate share both, so the two lr arms
    start from the same network and see the same batches.
    """
    p = spec.params
    base = (PAPER, spec.scale, spec.target, p["arm"])
    return derive_seed(*base, "init", p["init_rep"]), derive_seed(*base, "data", p["rep"])


def chosen_lr_and_origin(context: RunContext, arm: str, target: str) -> tuple[float, str]:
    """The lr keras-tuner chose for ``arm`` on ``target``, and where the choice comes from.

    The value ``repro tune`` recorded in ``tuned.json`` if there is one;
    otherwise the grid's ``lr_choice`` run (run first, with its runs, if needed).
    """
    search = lr_search(SCALES[context.scale], arm, target)
    tuned = read_tuned(context.scale_dir, search)
    if tuned is not None:
        return float(tuned.value), f"tuned.json, search {search.name} ({tuned.command})"
    return float(context.ensure(lr_choice_key(arm, target))["chosen_lr"]), f"lr_choice run {search.name}"


def chosen_lr(context: RunContext, arm: str, target: str) -> float:
    """The lr keras-tuner chose for ``arm`` on ``target`` (:func:`chosen_lr_and_origin`)."""
    return chosen_lr_and_origin(context, arm, target)[0]


def _identical_run(spec: RunSpec, scale: Scale, lr: float) -> str | None:
    """Another run with exactly this configuration (same data, init, order, lr), whose result this run reuses.

    - the unshuffled block size: the learning-curve run of the same seeds (when
      learning curves train without augmentation, as at mini scale);
    - '*' on one-channel images: block 1, whose permutation it then is
      (both draw ``RandomState(seed).permutation(H * W)``);
    - the final pre-training checkpoint: the learning-curve run of P-T.
    """
    p = spec.params
    same_seeds = p["rep"] == p["init_rep"] and p["rep"] <= scale.repeats
    if spec.experiment == "block_shuffle" and scale.name != "paper":
        if p["block"] == scale.full_block and same_seeds:
            return lc_key(p["arm"], spec.target, lr, p["rep"])
        if p["block"] == PIXEL_SHUFFLE and scale.channels == 1:
            return bs_key(p["arm"], spec.target, "1", p["rep"] - 1)
    if spec.experiment == "checkpoints" and p["source_epoch"] == scale.source.epochs and same_seeds:
        return lc_key("P-T", spec.target, lr, p["rep"])
    return None


def train_run(spec: RunSpec, context: RunContext) -> dict:
    """Train one P-T or RI-T network on its target and return its CSV metrics."""
    scale = SCALES[spec.scale]
    p = spec.params
    target = scale.target(spec.target)
    lr, lr_origin = (chosen_lr_and_origin(context, p["arm"], target.name) if p["lr"] == "chosen"
                     else (float(p["lr"]), "grid"))
    cell = {k: p[k] for k in ("block", "source_epoch") if k in p}
    identical = _identical_run(spec, scale, lr)
    if identical is not None:
        return {**context.ensure(identical), **cell, "reused": identical}
    init_seed, data_seed = run_seeds(spec)
    data, data_config = target_data(scale, target, context, p.get("block"), p.get("shuffle_seed", 0))
    schedule = target_schedule(scale, target, p["arm"], data.n_train, lr)
    model = fresh_model(scale, target.classes, init_seed, context)
    record, source_epoch = None, None
    if p["arm"] == "P-T":
        source_epoch = p.get("source_epoch")
        modules = transfer_modules(model)
        record = transfer(model, modules, len(modules) - 1, "finetune", load_source(scale, context, source_epoch))
    run_dir = context.run_dir(spec.run_key)
    write_json(run_dir / "config.json", dict(
        run=spec_config(spec), scale=scale.name, lr=dict(nominal=lr, actual=schedule.base_lr, origin=lr_origin),
        schedule=schedule_config(schedule), data=data_config,
        model=dict(builder="repro.models.fixup_resnet.fixup_resnet", width=scale.width, stem=scale.stem,
                   blocks=list(scale.blocks), classes=target.classes),
        transfer=record.to_config() if record else dict(mode="random init"),
        source=dict(key=source_model(scale).key, epoch=source_epoch if source_epoch is not None else "final")
        if record else None,
        seeds=dict(init=init_seed, data=data_seed),
    ))
    result = train(model, data, schedule, run_dir, data_seed=data_seed,
                   save_epoch_weights=bool(p.get("save_epochs")), progress=context.throttled())
    model.save_weights(run_dir / FINAL_WEIGHTS)
    (run_dir / "checkpoint.npz").unlink(missing_ok=True)
    steps_per_epoch = schedule.eval_every
    return dict(
        arm=p["arm"], lr=lr, test_acc_final=result.acc_final, test_acc_best=result.acc_max,
        best_epoch=result.best_step // steps_per_epoch, train_acc_mean=result.train_acc_mean,
        train_loss_final=result.train_loss_final, epochs=result.steps // steps_per_epoch, steps=result.steps,
        seconds=result.seconds, reused="", **cell)


def lr_choice_run(spec: RunSpec, context: RunContext) -> dict:
    """The lr of one arm on one target: the protocol's search (:func:`protocol.lr_search`) inside the grid.

    The value ``repro tune`` recorded in ``tuned.json`` if there is one;
    otherwise a keras-tuner grid search over the nominal lrs whose objective
    is the mean final test accuracy of the lr's ``repeats`` learning-curve
    runs (the paper's Figure 2 reports final accuracy on the test set, which
    the official code also uses to compare runs), with the tuner's directory
    in ``<run dir>/tuner``.
    """
    search = lr_search(SCALES[spec.scale], spec.params["arm"], spec.target)
    tuned = read_tuned(context.scale_dir, search)
    if tuned is not None:
        best, scores, provenance = tuned.value, tuned.scores, {"chosen_by": "tuned.json"}
    else:
        best, scores = choose_best(context.run_dir(spec.run_key), search.hparam, search.values,
                                   lambda lr: search_score(search, lr, context.ensure), search.objective.metric,
                                   search.objective.direction)
        provenance = {}
    return dict(arm=spec.params["arm"], chosen_lr=best, **{f"score_lr{lr:g}": scores[lr] for lr in search.values},
                seconds=0.0, **provenance)


def run_weights(context: RunContext, run_key: str, checkpoint: str = "final") -> tuple[Path, dict]:
    """A finished run's weights file (``final`` or ``best``) and its result, running it first if needed."""
    result = context.ensure(run_key, require=(FINAL_WEIGHTS,))
    source = result.get("reused") or run_key
    run_dir = context.run_dir(source)
    if checkpoint == "final":
        return run_dir / FINAL_WEIGHTS, result
    if checkpoint == "best":
        return run_dir / "checkpoints" / f"epoch-{int(result['best_epoch']):03d}.weights.h5", result
    if checkpoint == "init":
        return run_dir / "checkpoints" / "epoch-000.weights.h5", result
    raise BadArgument(f"unknown checkpoint {checkpoint!r}; accepted: final, best, init")


def role_run_key(context: RunContext, role: str, target: str) -> str:
    """The run behind a model role: 'P-T', 'P-T 2', 'RI-T', 'RI-T 2' (chosen lr) or 'RI-T same init'."""
    if role == "RI-T same init":
        return same_init_key(target)
    arm, _, rep = role.partition(" ")
    return lc_key(arm, target, chosen_lr(context, arm, target), int(rep or 1))


def execute(spec: RunSpec, context: RunContext) -> dict:
    """Run one cell of any experiment and return its CSV metrics."""
    kind = spec.params["kind"]
    if kind == "train":
        return train_run(spec, context)
    if kind == "lr_choice":
        return lr_choice_run(spec, context)
    from repro.neyshabur2020 import analyses

    started = time.time()
    result = analyses.ANALYSES[kind](spec, context)
    return {**result, "seconds": round(time.time() - started, 2)}


TRAIN_FIELDS = ("arm", "lr", "block", "source_epoch", "test_acc_final", "test_acc_best", "best_epoch",
                "train_acc_mean", "train_loss_final", "epochs", "steps", "reused", "seconds")
