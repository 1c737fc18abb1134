"""TFDS builder ``sklearn_digits``: scikit-learn's 8x8 handwritten digits.

A third, tiny mini-scale domain (README.md, "Scales"): the 1,797
images of ``sklearn.datasets.load_digits`` (UCI optical recognition of
handwritten digits, test part), 8x8 grayscale, 10 classes. Pixel values are
stored as they come, integers 0..16 (not rescaled to 0..255), so
``image / 16`` maps them to [0, 1]; :func:`repro.data.arrays.load_arrays`
does that and upsamples to 32x32. The scikit-learn order is kept (TFDS
shuffling disabled).

Only a ``train`` split exists; slice it for hold-out sets, e.g.
``tfds.load("sklearn_digits", split="train[:1500]")`` and ``"train[1500:]"``
(the file cycles through the classes, so contiguous slices are roughly
balanced).
"""
from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from repro.data.packaged import PackagedImages


MAX_VALUE = 16


class SklearnDigits(PackagedImages):
    """scikit-learn's digits (see the module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "sklearn.datasets.load_digits(), values 0..16, sklearn order kept."}
    IMAGE_SHAPE = (8, 8, 1)
    DESCRIPTION = "scikit-learn digits; 8x8x1 uint8 with values 0..16 (not 0..255)."
    HOMEPAGE = "https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html"

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.rint(bunch.images).astype(np.uint8)[..., None], bunch.target
