"""Paper-scale task data: the Caffe ImageNet pipeline of :mod:`repro.data.imagenet` per task.

Each task (a split half, a natman half, the whole label set, a reduced
set) gets its own per-pixel mean image, computed once over its training
images as Caffe's ``create_all_means.sh`` did, and stored beside the tfds
data in ``<data_dir>/repro_means/``.
"""
from __future__ import annotations

from pathlib import Path

import repro  # noqa: F401
import tensorflow_datasets as tfds

from repro.data.catalog import default_data_dir
from repro.data.imagenet import (NAME, caffe_pipeline_config, compute_mean_image, imagenet_caffe, imagenet_resized,
                                 load_mean_image, save_mean_image)
from repro.train import StreamData
from repro.yosinski2014.protocol import Scale, task_split


def imagenet_task_data(scale: Scale, task: str, data_dir: str | None, examples_per_class: int | None = None
                       ) -> tuple[StreamData, dict]:
    """Training stream and validation pass of ``task`` on tfds imagenet2012 (Yosinski §1.5)."""
    classes, split_config = task_split(scale, task)
    subset = None if task == "whole" else classes
    root = Path(data_dir) if data_dir else default_data_dir()
    suffix = f"_first{examples_per_class}" if examples_per_class else ""
    mean_path = root / "repro_means" / f"{NAME}_{task}{suffix}.npy"
    if not mean_path.exists():
        resized = imagenet_resized("train", data_dir, classes=subset, per_class=examples_per_class)
        save_mean_image(compute_mean_image(resized), mean_path)
    mean = load_mean_image(mean_path)
    batch_size = (scale.reduced_schedule if examples_per_class else scale.schedule).batch_size

    def make_train(seed: int):
        return imagenet_caffe("train", data_dir, mean, classes=subset, per_class=examples_per_class, training=True,
                              batch_size=batch_size, seed=seed)

    validation = imagenet_caffe("validation", data_dir, mean, classes=subset, training=False)
    total = tfds.builder(NAME, data_dir=data_dir).info.splits["train"].num_examples
    n_train = examples_per_class * len(classes) if examples_per_class else round(total * len(classes) / scale.n_classes)
    config = dict(split=split_config, examples_per_class=examples_per_class, mean_image=str(mean_path),
                  n_train_estimate=n_train, train_pipeline=caffe_pipeline_config(True, batch_size),
                  validation_pipeline=caffe_pipeline_config(False))
    return StreamData(make_train, validation, n_train), config
