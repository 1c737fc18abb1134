"""TFDS builder ``fashion_mnist_idx``: Fashion-MNIST read from local IDX files.

The suite's main mini-scale dataset (README.md, "Scales"): all 70,000
Fashion-MNIST images (Xiao, Rasul, Vollgraf 2017), 28x28 grayscale, 10
classes, as shipped by the Debian package ``dataset-fashion-mnist`` in
``/usr/share/datasets/fashion-mnist``. Nothing is downloaded: the builder only
reads the four IDX files.

Source directory, first match wins: the ``source_dir`` argument, the
environment variable ``REPRO_FASHION_MNIST_DIR``, the Debian location.

Splits (in the IDX files' order; TFDS shuffling is disabled so "first k per
class" means the canonical file order):

- ``train``: 60,000 images (``train-*-ubyte.gz``)
- ``test``: 10,000 images (``t10k-*-ubyte.gz``)

The name differs from tfds's own ``fashion_mnist`` (which downloads).
Once prepared into a TFDS data_dir the dataset is reused from there; the
source directory is only read while preparing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import tensorflow_datasets as tfds

from repro.data.idx import read_idx
from repro.errors import DatasetMissing

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "REPRO_FASHION_MNIST_DIR"
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
INSTALL_HINT = f"install it with `apt-get install dataset-fashion-mnist` (as root) or set {ENV_VAR}"


def source_directory(source_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The directory holding the IDX files and where that choice came from.

    Returns ``(path, origin)`` with origin one of ``"argument"``,
    ``"$REPRO_FASHION_MNIST_DIR"``, ``"default"``; the files are not checked.
    """
    if source_dir is not None:
        return Path(source_dir), "argument"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    return Path(DEFAULT_DIR), "default"


def check_source(source_dir: str | os.PathLike | None = None) -> Path:
    """The IDX directory, after checking that all four files are in it.

    Raises DatasetMissing with a one-line message naming the directory, the
    missing files and the fix.
    """
    path, origin = source_directory(source_dir)
    needed = [name for pair in SPLIT_FILES.values() for name in pair]
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        what = "directory does not exist" if not path.is_dir() else "missing " + ", ".join(missing)
        raise DatasetMissing(
            f"Fashion-MNIST IDX files not found in {path} ({origin}; {what}): {INSTALL_HINT}"
        )
    return path


class FashionMnistIdx(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST from the Debian IDX files (see the module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Fashion-MNIST from local IDX files, file order kept."}

    def __init__(self, *, source_dir: str | os.PathLike | None = None, **kwargs):
        """``source_dir`` overrides $REPRO_FASHION_MNIST_DIR and the Debian directory."""
        self._source_dir = source_dir
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="Fashion-MNIST (Xiao et al. 2017) from local IDX files; 28x28x1 uint8.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        del dl_manager  # nothing is downloaded
        path = check_source(self._source_dir)
        return {
            split: self._generate_examples(path / images, path / labels)
            for split, (images, labels) in SPLIT_FILES.items()
        }

    def _generate_examples(self, images_path: Path, labels_path: Path) -> Iterator[tuple[int, dict]]:
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
            raise DatasetMissing(
                f"{images_path} and {labels_path} are not a Fashion-MNIST pair: "
                f"images {images.shape}, labels {labels.shape}"
            )
        for index in range(labels.shape[0]):
            yield index, {"image": images[index, :, :, None], "label": int(labels[index])}
