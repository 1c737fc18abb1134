"""The LeNet tasks of Liu et al. 2019 as arrays: targets, and sources of graded input and label similarity.

Images are the code's LeNet input: grayscale 28x28 scaled ``x / 255 - 0.5``
(official ``lenet.py``). Mini scale reads the embedded
datasets (MNIST-5k, Fashion-MNIST); paper scale the tfds catalog
(:mod:`repro.liu2019.data`). A :class:`~repro.liu2019.protocol.Dataset` is a
per-class slice of a split, so the target's 600 images, its test images and
the MNIST sources' images are disjoint. A mini target's images are rendered
like house-number crops (:class:`repro.data.transforms.StreetRendering`,
its training and test splits each on their own), standing in for SVHN.

Sources (papers/liu2019/README.md, "Sources"):

- input similarity: the block shuffle permutes the 4x4-pixel tiles of every
  image with one permutation (:class:`repro.data.transforms.BlockShuffle`,
  seed :data:`SHUFFLE_SEED`), train and validation alike;
- label similarity (:func:`relate_labels`): the same source images with
  labels identical to the target's labelling (the digit), coarsened (digit
  pairs {0,1}, {2,3}, ... merged into 5 classes), permuted (digit c
  labelled c + 1 mod 10: the same partition under other names, so the
  transferred head maps every class to a wrong output) or random (one
  uniform label per image, drawn once).
"""
from __future__ import annotations

import numpy as np

from repro.data import splits
from repro.data.transforms import BlockShuffle, StreetRendering
from repro.errors import BadArgument
from repro.liu2019.protocol import LABEL_RELATIONS, Dataset, Scale, Source, Target
from repro.train import TrainData

OFFSET = 0.5  # lenet.py: x / 255 - 0.5
SHUFFLE_SEED = 1
RANDOM_LABEL_SEED = 0
ALL = 10**9  # "to the end" of a per-class slice


def relate_labels(y: np.ndarray, relation: str, seed: int = RANDOM_LABEL_SEED) -> np.ndarray:
    """Source labels with the given relation to the digit labels ``y`` (module docstring)."""
    y = np.asarray(y, np.int64)
    if relation == "identical":
        return y.copy()
    if relation == "coarsened":
        return y // 2
    if relation == "permuted":
        return (y + 1) % 10
    if relation == "random":
        return np.random.RandomState(seed).randint(0, 10, size=len(y)).astype(np.int64)
    raise BadArgument(f"unknown label relation {relation!r}; accepted: {', '.join(LABEL_RELATIONS)}")


def dataset_arrays(scale: Scale, dataset: Dataset, data_dir: str | None,
                   rendering: StreetRendering | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of a per-class slice, rendered by ``rendering`` if given: x float32 (N, 28, 28, 1) in
    [-0.5, 0.5], y int64."""
    if scale.name == "paper":
        from repro.liu2019.data import lenet_arrays

        x, y = lenet_arrays(dataset.name, dataset.split, data_dir)
    else:
        from repro.data.arrays import load_arrays

        x, y = load_arrays(dataset.name, dataset.split, data_dir=data_dir, image_size=28)
        x = x - OFFSET
    if dataset.start or dataset.stop:
        x, y = splits.per_class_slice(x, y, dataset.start, dataset.stop or ALL)
    if rendering is not None:
        x = rendering(x + OFFSET) - OFFSET
    return np.asarray(x, np.float32), np.asarray(y, np.int64)


def renderings(target: Target) -> tuple[StreetRendering | None, StreetRendering | None]:
    """The target's training (seed 0) and test (seed 1) renderings, or None twice."""
    if not target.rendering:
        return None, None
    return StreetRendering(0, **dict(target.rendering)), StreetRendering(1, **dict(target.rendering))


def describe(dataset: Dataset) -> dict:
    return dict(dataset=dataset.name, split=dataset.split, per_class_slice=[dataset.start, dataset.stop or "end"])


def target_data(scale: Scale, target: Target, data_dir: str | None) -> tuple[TrainData, dict]:
    """The target's training and test arrays."""
    train_rendering, test_rendering = renderings(target)
    x, y = dataset_arrays(scale, target.train, data_dir, train_rendering)
    x_test, y_test = dataset_arrays(scale, target.test, data_dir, test_rendering)
    config = dict(target=target.name, description=target.description, train=describe(target.train),
                  test=describe(target.test), n_train=len(x), n_test=len(x_test), scaling="x / 255 - 0.5",
                  rendering=[r.describe() for r in (train_rendering, test_rendering)] if train_rendering else None)
    return TrainData(x, y, x_test, y_test, eval_batch=1000), config


def source_data(scale: Scale, source: Source, data_dir: str | None) -> tuple[TrainData, dict]:
    """A source's training and validation arrays, block-shuffled and relabelled as the source says."""
    x, y = dataset_arrays(scale, source.train, data_dir)
    x_val, y_val = dataset_arrays(scale, source.val, data_dir)
    shuffle = BlockShuffle(source.block, SHUFFLE_SEED) if source.block else None
    if shuffle is not None:
        x, x_val = shuffle(x), shuffle(x_val)
    y, y_val = relate_labels(y, source.labels), relate_labels(y_val, source.labels, RANDOM_LABEL_SEED + 1)
    config = dict(source=source.name, description=source.description, train=describe(source.train),
                  val=describe(source.val), n_train=len(x), n_val=len(x_val), labels=source.labels,
                  classes=source.classes, shuffle=shuffle.describe() if shuffle else None, scaling="x / 255 - 0.5")
    return TrainData(x, y, x_val, y_val, eval_batch=1000), config


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
