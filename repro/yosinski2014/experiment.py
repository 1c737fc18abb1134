"""Execute one Yosinski run: task data, CaffeNet, layer transfer, Caffe solver.

Composes the shared modules only: :mod:`repro.data` (class splits, arrays,
the ImageNet pipeline), :mod:`repro.models.caffenet`, :mod:`repro.transfer`
and :mod:`repro.train`. The protocol constants live in
:mod:`repro.yosinski2014.protocol`.
"""
from __future__ import annotations

import dataclasses

import repro  # noqa: F401
import keras

from repro.data import splits
from repro.data.arrays import load_arrays, preprocessing_config
from repro.models.caffenet import WEIGHT_LAYERS, build_caffenet
from repro.runs import RunSpec, derive_seed, spec_config, write_json
from repro.runner import FINAL_WEIGHTS, RunContext
from repro.train import TrainData, schedule_config, train
from repro.transfer import transfer
from repro.yosinski2014.protocol import SCALES, Scale, task_split



def mini_task_data(scale: Scale, task: str, data_dir: str | None, examples_per_class: int | None = None
                   ) -> tuple[TrainData, dict]:
    """In-memory data of a task on the embedded dataset, per-pixel mean of its training set subtracted."""
    classes, split_config = task_split(scale, task)
    per_class = examples_per_class or scale.train_per_class
    x, y = splits.filter_classes(*load_arrays(scale.dataset, "train", data_dir=data_dir), classes)
    x, y = splits.first_k_per_class(x, y, per_class)
    x_val, y_val = splits.filter_classes(*load_arrays(scale.dataset, "test", data_dir=data_dir), classes)
    x_val, y_val = splits.first_k_per_class(x_val, y_val, scale.val_per_class)
    mean = x.mean(axis=0, keepdims=True)
    data = TrainData(x - mean, y, x_val - mean, y_val, crop_pad=scale.crop_pad, mirror=scale.mirror)
    config = dict(split=split_config, train_per_class=per_class, val_per_class=scale.val_per_class,
                  n_train=len(x), n_val=len(x_val), mean="per-pixel mean image of the training set subtracted",
                  augmentation=dict(crop_pad=scale.crop_pad, mirror=scale.mirror),
                  preprocessing=preprocessing_config(scale.dataset))
    return data, config


def task_data(scale: Scale, task: str, context: RunContext, examples_per_class: int | None = None):
    if scale.dataset == "imagenet2012":
        from repro.yosinski2014.imagenet_data import imagenet_task_data

        return imagenet_task_data(scale, task, context.data_dir, examples_per_class)
    return context.cached(("task", task, examples_per_class),
                          lambda: mini_task_data(scale, task, context.data_dir, examples_per_class))


def build_model(scale: Scale, seed: int) -> keras.Model:
    return build_caffenet(scale.model(scale.n_classes), seed=seed)


def source_model(scale: Scale, run_key: str, context: RunContext) -> keras.Model:
    """The finished base net ``run_key`` (trained now if it has not been), loaded once per command."""
    context.ensure(run_key, require=(FINAL_WEIGHTS,))

    def load():
        model = build_model(scale, seed=0)
        model.load_weights(context.run_dir(run_key) / FINAL_WEIGHTS)
        return model

    return context.cached(("source", run_key), load)


def execute(spec: RunSpec, context: RunContext) -> dict:
    """Train one cell of the grid and return its CSV metrics."""
    scale = SCALES[spec.scale]
    params = spec.params
    schedule = scale.reduced_schedule if spec.condition == "reduced" else scale.schedule
    init_seed, data_seed = derive_seed(spec.seed, "init"), derive_seed(spec.seed, "data")
    data, data_config = task_data(scale, params["task"], context, params["examples_per_class"])
    model = build_model(scale, init_seed)
    record = None
    if params["mode"] is not None:
        source = source_model(scale, params["source_run"], context) if params["source_run"] else None
        record = transfer(model, WEIGHT_LAYERS, spec.n, params["mode"], source)
    run_dir = context.run_dir(spec.run_key)
    write_json(run_dir / "config.json", dict(
        run=spec_config(spec), scale=scale.name, model=scale.model(scale.n_classes).to_config(),
        schedule=schedule_config(schedule), data=data_config,
        transfer=record.to_config() if record else dict(mode="none", n_transferred=0),
        seeds=dict(run=spec.seed, init=init_seed, data=data_seed),
    ))
    result = train(model, data, schedule, run_dir, data_seed=data_seed, progress=context.throttled())
    model.save_weights(run_dir / FINAL_WEIGHTS)
    (run_dir / "checkpoint.npz").unlink(missing_ok=True)
    return dict(examples_per_class=params["examples_per_class"] or "", **dataclasses.asdict(result))


ROW_FIELDS = (
    "paper", "experiment", "scale", "run_key", "condition", "n", "source", "target", "split", "seed",
    "examples_per_class", "acc_top10_mean", "acc_final", "acc_max", "n_evals", "train_loss_final", "steps", "seconds",
)
