"""A Yosinski task's images: a class subset of Fashion-MNIST (mini, smoke) or of ImageNet (paper).

* Mini: in-memory arrays of the task's classes, the first ``train_per_class``
  training images of each (``examples_per_class`` for the reduced-data
  sweep) and the first ``val_per_class`` test images, with the per-pixel
  mean image of the training set subtracted (Caffe's ``mean_file``).
* Paper: the Caffe ImageNet pipeline of :mod:`repro.data.imagenet` per task.
  Each task (a split half, a natman half, the whole label set, a reduced
  set) gets its own per-pixel mean image, computed once over its training
  images as Caffe's ``create_all_means.sh`` did, and stored beside the tfds
  data in ``<data_dir>/repro_means/``.
"""
from __future__ import annotations

from pathlib import Path

from repro.data import splits
from repro.train import StreamData, TrainData


def task_split(dataset: str, n_classes: int, task: str) -> tuple[list[int], dict]:
    """Original class ids of ``task`` ('0A', 'natmanB', 'whole') and the split's record for config.json."""
    if task == "whole":
        return list(range(n_classes)), {"name": "whole", "classes": list(range(n_classes))}
    half = task[-1]
    if task.startswith("natman"):
        split = splits.imagenet_natman_split() if dataset == "imagenet2012" else splits.fashion_garment_split()
    elif dataset == "imagenet2012":
        split = splits.imagenet_random_split(int(task[:-1]))
    else:
        split = splits.fashion_random_split(int(task[:-1]))
    classes = split.classes_a if half == "A" else split.classes_b
    return list(classes), {**split.to_config(), "half": half}


def mini_task_data(spec, data_dir: str | None) -> tuple[TrainData, dict]:
    """In-memory data of a task (a :class:`repro.yosinski2014.protocol.TaskData`), mean image subtracted."""
    from repro.data.arrays import load_arrays, preprocessing_config

    classes, split_config = task_split(spec.dataset, spec.n_classes, spec.task)
    per_class = spec.examples_per_class or spec.train_per_class
    x, y = splits.filter_classes(*load_arrays(spec.dataset, "train", data_dir=data_dir), classes)
    x, y = splits.first_k_per_class(x, y, per_class)
    x_val, y_val = splits.filter_classes(*load_arrays(spec.dataset, "test", data_dir=data_dir), classes)
    x_val, y_val = splits.first_k_per_class(x_val, y_val, spec.val_per_class)
    mean = x.mean(axis=0, keepdims=True)
    data = TrainData(x - mean, y, x_val - mean, y_val, crop_pad=spec.crop_pad, mirror=spec.mirror)
    config = dict(split=split_config, train_per_class=per_class, val_per_class=spec.val_per_class,
                  n_train=len(x), n_val=len(x_val), mean="per-pixel mean image of the training set subtracted",
                  augmentation=dict(crop_pad=spec.crop_pad, mirror=spec.mirror),
                  preprocessing=preprocessing_config(spec.dataset))
    return data, config


def imagenet_task_data(spec, data_dir: str | None) -> tuple[StreamData, dict]:
    """Training stream and validation pass of a task on tfds imagenet2012 (Yosinski et al. 2014 §2)."""
    import tensorflow_datasets as tfds

    from repro.data.catalog import default_data_dir
    from repro.data.imagenet import (NAME, caffe_pipeline_config, compute_mean_image, imagenet_caffe,
                                     imagenet_resized, load_mean_image, save_mean_image)

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
    total = tfds.builder(NAME, data_dir=data_dir).info.splits["train"].num_examples
    n_train = per_class * len(classes) if per_class else round(total * len(classes) / spec.n_classes)
    config = dict(split=split_config, examples_per_class=per_class, mean_image=str(mean_path),
                  n_train_estimate=n_train, train_pipeline=caffe_pipeline_config(True, spec.batch_size),
                  validation_pipeline=caffe_pipeline_config(False))
    return StreamData(make_train, validation, n_train), config
