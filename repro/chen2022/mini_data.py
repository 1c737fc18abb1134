"""The mini scale's source and targets on the embedded data (papers/chen2022/README.md, "Mini scale").

Images are S x S x 1 in [0, 1] at the scale's sides (the mini: the source at
96 px, the targets at 64 px, each image resized to fill its frame,
``Scale.fit``; :func:`repro.data.arrays.load_arrays`), transformed where the
target says so, then normalised as the official code, ``(x - 0.5) / 0.225``.
Datasets with one split (MNIST-5k, digits) take train and test as disjoint
per-class slices of it; Fashion-MNIST tests on its test split.

Target transforms (one draw per image, fixed by :data:`TRANSFORM_SEED`):

- ``invert``: ``1 - x`` (:class:`repro.data.transforms.Invert`);
- ``rotate``: each image rotated by its own angle, uniform in [-90, 90]
  degrees (bilinear, zero fill): the same classes, more intraclass diversity;
- ``noise``: ``x + 0.3 eps`` clipped to [0, 1] (:class:`repro.data.transforms.GaussianNoise`);
- ``rotate-noise``: ``rotate``, then ``noise`` (both draws from the same seed).
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage

from repro.chen2022.protocol import NORMALIZE_MEAN, NORMALIZE_STD, Scale, Target
from repro.data import splits
from repro.data.arrays import DATASETS, load_arrays, preprocessing_config, resize_images
from repro.data.transforms import GaussianNoise, Invert
from repro.errors import BadArgument
from repro.train import TrainData

TEST_SPLIT = {"fashion_mnist": "test", "mnist5k": "train", "digits": "train"}
TRANSFORM_SEED = 2022
MAX_ROTATION = 90.0
NOISE_STD = 0.3


def normalize(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, np.float32) - NORMALIZE_MEAN) / NORMALIZE_STD).astype(np.float32)


def random_rotations(x: np.ndarray, seed: int, max_degrees: float = MAX_ROTATION) -> np.ndarray:
    """Every image of ``x`` (N, H, W, C) rotated by its own angle ~ U(-max_degrees, max_degrees)."""
    angles = np.random.default_rng(seed).uniform(-max_degrees, max_degrees, size=len(x))
    return np.stack([scipy.ndimage.rotate(image, angle, axes=(0, 1), reshape=False, order=1, mode="constant")
                     for image, angle in zip(np.asarray(x, np.float32), angles)])


def transform(name: str, x: np.ndarray, seed: int) -> np.ndarray:
    """A target's transform of images in [0, 1] (module docstring)."""
    if name == "":
        return x
    if name == "invert":
        return Invert()(x)
    if name == "rotate":
        return random_rotations(x, seed)
    if name == "noise":
        return GaussianNoise(NOISE_STD, seed)(x)
    if name == "rotate-noise":
        return GaussianNoise(NOISE_STD, seed)(random_rotations(x, seed))
    raise BadArgument(f"unknown target transform {name!r}; accepted: invert, rotate, noise, rotate-noise")


def _sliced(dataset: str, split: str, per_class: tuple[int, int], side: int, fit: str | None,
            data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The per-class slice of ``split`` at ``side`` px. Resized images are sliced at their native size first and
    then resized (the same arrays, as each image is resized on its own): a worker then holds the slice at its
    input side, not the whole split (60,000 Fashion-MNIST images at 96 px are 2.2 GB)."""
    if fit != "bilinear":
        return splits.per_class_slice(*load_arrays(dataset, split, data_dir=data_dir, image_size=side, fit=fit),
                                      *per_class)
    native = DATASETS[dataset].native_size
    x, y = splits.per_class_slice(*load_arrays(dataset, split, data_dir=data_dir, image_size=native), *per_class)
    return (resize_images(x, side) if side != native else x), y


def source_data(scale: Scale, data_dir: str | None) -> tuple[TrainData, dict]:
    """The source task (Fashion-MNIST, ``source_per_class`` per class) at the scale's input side, validated on its
    test split."""
    side = scale.image_size
    x, y = _sliced(scale.source_dataset, "train", (0, scale.source_per_class), side, scale.fit, data_dir)
    x_val, y_val = _sliced(scale.source_dataset, "test", (0, scale.source_val_per_class), side, scale.fit, data_dir)
    data = TrainData(normalize(x), y, normalize(x_val), y_val, crop_pad=scale.pretrain_crop_pad,
                     mirror=scale.mirror)
    config = dict(dataset=scale.source_dataset, n_train=len(x), n_val=len(x_val),
                  normalization=dict(mean=NORMALIZE_MEAN, std=NORMALIZE_STD),
                  preprocessing=preprocessing_config(scale.source_dataset, side, scale.fit))
    return data, config


def _images(scale: Scale, target: Target, split: str, per_class: tuple[int, int], seed: int,
            data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The per-class slice ``per_class`` of ``split`` of the target's dataset at its input side, transformed
    (draws from ``seed``) and normalised."""
    x, y = _sliced(target.dataset, split, per_class, target.size(scale), scale.fit, data_dir)
    return normalize(transform(target.transform, x, seed)), y


def target_arrays(scale: Scale, target: Target, data_dir: str | None) -> tuple[np.ndarray, ...]:
    """Transformed, normalised (x_train, y_train, x_test, y_test) of a target at its input side."""
    x, y = _images(scale, target, "train", target.train, TRANSFORM_SEED, data_dir)
    x_test, y_test = _images(scale, target, TEST_SPLIT[target.dataset], target.test, TRANSFORM_SEED + 1, data_dir)
    return x, y, x_test, y_test


def target_data(scale: Scale, target: Target, data_dir: str | None) -> tuple[TrainData, dict]:
    x, y, x_test, y_test = target_arrays(scale, target, data_dir)
    data = TrainData(x, y, x_test, y_test, crop_pad=scale.finetune_crop_pad, mirror=scale.mirror,
                     eval_batch=500)
    config = dict(target=target.name, description=target.description, dataset=target.dataset,
                  train_slice=list(target.train), test_slice=list(target.test), test_split=TEST_SPLIT[target.dataset],
                  transform=target.transform or None, n_train=len(x), n_test=len(x_test),
                  normalization=dict(mean=NORMALIZE_MEAN, std=NORMALIZE_STD),
                  preprocessing=preprocessing_config(target.dataset, target.size(scale), scale.fit))
    return data, config


def source_examples(scale: Scale, data_dir: str | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` source validation images (normalised, unaugmented): the source side of G and D."""
    data, _ = source_data(scale, data_dir)
    return data.x_val[:count], data.y_val[:count]


def target_examples(scale: Scale, target: Target, data_dir: str | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images of the target's domain (transformed, normalised, unaugmented): the first ``count //
    classes`` per class of the domain's training part, which starts where the target's training slice starts,
    whatever the target's N (the target side of G and D, equal in size for every target)."""
    start = target.train[0]
    return _images(scale, target, "train", (start, start + count // target.classes), TRANSFORM_SEED, data_dir)
