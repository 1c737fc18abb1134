"""Base TFDS builder for image sets that a Python package ships (nothing is downloaded).

A subclass names the image shape, a description and a homepage, and returns
its arrays; the builder writes one ``train`` split in the package's own order
(TFDS shuffling disabled, so "first k per class" is well defined).
"""
from __future__ import annotations


import abc
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds


class PackagedImages(tfds.core.GeneratorBasedBuilder):
    """One ``train`` split of uint8 ``IMAGE_SHAPE`` images with 10-class labels, source order kept."""

    IMAGE_SHAPE: tuple[int, int, int]
    DESCRIPTION: str
    HOMEPAGE: str

    @abc.abstractmethod
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Images (N x H x W x 1, uint8) and integer labels, in the package's order."""

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.IMAGE_SHAPE),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=self.HOMEPAGE,
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        del dl_manager  # nothing is downloaded
        return {"train": self._generate_examples()}

    def _generate_examples(self) -> Iterator[tuple[int, dict]]:
        images, labels = self._arrays()
        for index in range(labels.shape[0]):
            yield index, {"image": images[index], "label": int(labels[index])}
