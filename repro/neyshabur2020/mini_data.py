"""The mini scale's source and target data on the embedded datasets (papers/neyshabur2020/README.md, "Mini scale").

- Source (stands for ImageNet): the five Fashion-MNIST classes of
  Yosinski's split 0 recipe, side A; validation from the test set.
- Targets, near to far from the source: ``fashion_unseen`` (the other five
  Fashion-MNIST classes), ``mnist`` (MNIST-5k), ``digits`` (scikit-learn
  8x8 digits upsampled). MNIST-5k and digits have one split: each class's
  first ``train_per_class`` examples train, the next ``test_per_class`` test.

All images are 32x32x1 in [0, 1], normalised with the source training set's
pixel mean and standard deviation (the paper normalises every domain with
ImageNet's statistics). Block and pixel shuffles apply after normalisation,
one permutation for every image of train and test (§3.1, Figure 3).
"""
from __future__ import annotations

import numpy as np

from repro.data import splits
from repro.data.arrays import load_arrays, preprocessing_config
from repro.data.transforms import image_shuffle
from repro.neyshabur2020.protocol import Scale, Target
from repro.train import TrainData

SOURCE_SPLIT = splits.fashion_random_split(0)
TARGET_DATASETS = {"fashion_unseen": "fashion_mnist", "mnist": "mnist5k", "digits": "digits"}


def source_arrays(scale: Scale, data_dir: str | None) -> tuple[np.ndarray, ...]:
    """Raw (un-normalised) source train and validation arrays."""
    x, y = splits.filter_classes(*load_arrays("fashion_mnist", "train", data_dir=data_dir), SOURCE_SPLIT.half("A"))
    x, y = splits.first_k_per_class(x, y, scale.source.train_per_class)
    x_val, y_val = splits.filter_classes(*load_arrays("fashion_mnist", "test", data_dir=data_dir), SOURCE_SPLIT.half("A"))
    x_val, y_val = splits.first_k_per_class(x_val, y_val, scale.source.val_per_class)
    return x, y, x_val, y_val


def normalization(scale: Scale, data_dir: str | None) -> tuple[float, float]:
    """Pixel mean and standard deviation of the source training set."""
    x = source_arrays(scale, data_dir)[0]
    return float(x.mean()), float(x.std())


def source_data(scale: Scale, data_dir: str | None) -> tuple[TrainData, dict]:
    x, y, x_val, y_val = source_arrays(scale, data_dir)
    mean, std = normalization(scale, data_dir)
    data = TrainData((x - mean) / std, y, (x_val - mean) / std, y_val)
    config = dict(dataset="fashion_mnist", classes=SOURCE_SPLIT.half("A").to_config(), n_train=len(x), n_val=len(x_val),
                  normalization=dict(mean=mean, std=std), preprocessing=preprocessing_config("fashion_mnist"))
    return data, config


def target_arrays(scale: Scale, target: Target, data_dir: str | None) -> tuple[np.ndarray, ...]:
    """Raw (un-normalised) target train and test arrays."""
    dataset = TARGET_DATASETS[target.name]
    if target.name == "fashion_unseen":
        x, y = splits.filter_classes(*load_arrays(dataset, "train", data_dir=data_dir), SOURCE_SPLIT.half("B"))
        x, y = splits.first_k_per_class(x, y, target.train_per_class)
        x_test, y_test = splits.filter_classes(*load_arrays(dataset, "test", data_dir=data_dir), SOURCE_SPLIT.half("B"))
        x_test, y_test = splits.first_k_per_class(x_test, y_test, target.test_per_class)
        return x, y, x_test, y_test
    x_all, y_all = load_arrays(dataset, "train", data_dir=data_dir)
    split = target.train_per_class
    return (*splits.per_class_slice(x_all, y_all, 0, split),
            *splits.per_class_slice(x_all, y_all, split, split + target.test_per_class))


def target_data(scale: Scale, target: Target, data_dir: str | None, block: str | None = None,
                shuffle_seed: int = 0) -> tuple[TrainData, dict]:
    """Normalised target arrays, block- or pixel-shuffled when ``block`` is given."""
    x, y, x_test, y_test = target_arrays(scale, target, data_dir)
    mean, std = normalization(scale, data_dir)
    x, x_test = (x - mean) / std, (x_test - mean) / std
    transform = None if block is None else image_shuffle(block, shuffle_seed)
    if transform is not None:
        x, x_test = transform(x), transform(x_test)
    config = dict(target=target.name, stands_for=target.stands_for, description=target.description,
                  dataset=TARGET_DATASETS[target.name], n_train=len(x), n_test=len(x_test),
                  normalization=dict(mean=mean, std=std, of="source training set"),
                  shuffle=transform.describe() if transform is not None else None,
                  preprocessing=preprocessing_config(TARGET_DATASETS[target.name]))
    return TrainData(x.astype(np.float32), y, x_test.astype(np.float32), y_test, eval_batch=500), config
