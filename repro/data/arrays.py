"""In-memory arrays of the embedded datasets, the input of every mini-scale run.

``load_arrays(name, split)`` returns ``x`` float32 ``(N, S, S, 1)`` in [0, 1]
and ``y`` int64 for the three embedded datasets (README.md, "Scales": mini =
32x32 grayscale; ``fit="bilinear"`` resizes the 28-px sets to fill S x S instead
of padding them, for a scale whose objects must change size with the input side):

=================  =====================  =======  ==========================================
name               TFDS builder           native   to S x S (S = ``image_size``, default 32)
=================  =====================  =======  ==========================================
``fashion_mnist``  ``fashion_mnist_idx``  28x28    x/255, zero-padded (2 px per side for 32)
``mnist5k``        ``mnist5k``            28x28    x/255, zero-padded (2 px per side for 32)
``digits``         ``sklearn_digits``     8x8      x/16, bilinear upsampling (half-pixel centres)
=================  =====================  =======  ==========================================

Zero-padding 28 -> 32 is LeNet-5's convention (LeCun et al. 1998) and keeps
every pixel; it is recorded by :func:`preprocessing_config` for config.json.
The data goes through the TFDS builders: each is prepared once into
``data_dir`` (default $TFDS_DATA_DIR or ~/tensorflow_datasets) and read back
from there (with a one-off .npz copy of each whole split for fast reloads,
see :func:`split_arrays`); the arrays are then cached for the life of the
process.
"""
from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.data.catalog import check_split, default_data_dir
from repro.data.digits import MAX_VALUE as DIGITS_MAX_VALUE
from repro.data.digits import SklearnDigits
from repro.data.fashion_mnist import FashionMnistIdx
from repro.data.mnist5k import Mnist5k
from repro.errors import BadArgument
from repro.files import atomic_write
from repro.quiet import library_stdout


@dataclass(frozen=True)
class EmbeddedDataset:
    """How one embedded dataset becomes float32 S x S x 1 arrays in [0, 1]."""

    builder: type
    native_size: int
    max_value: int
    fit: str  # "pad" (zero-pad, centred) or "bilinear" (resize)


DATASETS = {
    "fashion_mnist": EmbeddedDataset(FashionMnistIdx, 28, 255, "pad"),
    "mnist5k": EmbeddedDataset(Mnist5k, 28, 255, "pad"),
    "digits": EmbeddedDataset(SklearnDigits, 8, DIGITS_MAX_VALUE, "bilinear"),
}

_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _dataset(name: str) -> EmbeddedDataset:
    if name not in DATASETS:
        raise BadArgument(f"unknown dataset {name!r}; accepted: {', '.join(DATASETS)}")
    return DATASETS[name]


def _spec(name: str, image_size: int) -> EmbeddedDataset:
    spec = _dataset(name)
    if not isinstance(image_size, int) or image_size < spec.native_size:
        raise BadArgument(
            f"image_size {image_size!r} for {name!r} must be an integer >= its native size {spec.native_size}"
        )
    return spec


def preprocessing_config(name: str, image_size: int = 32, fit: str | None = None) -> dict:
    """What :func:`load_arrays` does to ``name`` at ``image_size`` (and ``fit``), for config.json."""
    spec = _spec(name, image_size)
    extra = image_size - spec.native_size
    if _fit_of(spec, fit) == "pad":
        fit = f"zero-pad {extra // 2} px top/left and {extra - extra // 2} px bottom/right"
    else:
        fit = "bilinear resize (tf.image.resize, half-pixel centres, no antialias)"
    return {
        "dataset": name,
        "tfds_builder": spec.builder.name,
        "tfds_version": str(spec.builder.VERSION),
        "native_size": spec.native_size,
        "image_size": image_size,
        "scale": f"x / {spec.max_value}",
        "fit": fit,
        "channels": 1,
    }


def prepared_builder(name: str, data_dir: str | os.PathLike | None = None) -> tfds.core.DatasetBuilder:
    """The TFDS builder of embedded dataset ``name``, prepared into ``data_dir`` if it is not yet.

    Preparation holds an exclusive lock file ``<data_dir>/.<builder>.lock``, so
    concurrent processes (parallel shards, several users of one data_dir)
    prepare once and the others wait and reuse the result.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    builder_class = _dataset(name).builder
    builder = builder_class(data_dir=os.fspath(root))
    if builder.is_prepared():
        return builder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{builder_class.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        builder = builder_class(data_dir=os.fspath(root))  # re-read: another process may have prepared it
        if not builder.is_prepared():
            with library_stdout():
                builder.download_and_prepare()
    return builder


def split_arrays(builder: tfds.core.DatasetBuilder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (uint8 N x H x W x 1) and labels of ``split`` read through the prepared builder.

    Reading 60,000 examples through tf.data costs seconds (per-example
    parsing), so a whole named split is also written once, atomically, as
    ``repro_arrays_<split>.npz`` inside the dataset's version directory and
    read from there by later processes (re-preparing the dataset replaces the
    directory and so drops the copy). Sliced splits ("train[:1000]") always
    go through tf.data; a read-only data_dir only logs a warning.
    """
    whole = split in builder.info.splits
    path = Path(builder.data_dir) / f"repro_arrays_{split}.npz"
    if whole and path.is_file():
        with np.load(path) as stored:
            return stored["images"], stored["labels"]
    images, labels = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
    if whole:
        try:
            atomic_write(path, lambda handle: np.savez(handle, images=images, labels=labels), binary=True)
        except OSError as error:  # a read-only or full data_dir only loses the speed-up
            logging.getLogger(__name__).warning("cannot keep %s: %s", path, error)
    return images, labels


FITS = ("pad", "bilinear")


def _fit_of(spec: EmbeddedDataset, fit: str | None) -> str:
    if fit is not None and fit not in FITS:
        raise BadArgument(f"unknown fit {fit!r}; accepted: {', '.join(FITS)}")
    if fit == "pad" and spec.fit != "pad":
        raise BadArgument("fit 'pad' is not accepted for a dataset that is resized; accepted: bilinear")
    return fit or spec.fit


def _fit(images: np.ndarray, spec: EmbeddedDataset, image_size: int, fit: str) -> np.ndarray:
    """uint8 N x n x n x 1 -> float32 N x S x S x 1 in [0, 1]: x / max_value, then pad or resize."""
    extra = image_size - spec.native_size
    if fit == "pad":
        before, n = extra // 2, spec.native_size
        out = np.zeros((images.shape[0], image_size, image_size, 1), np.float32)
        interior = out[:, before : before + n, before : before + n]
        np.divide(images, np.float32(spec.max_value), out=interior, dtype=np.float32)
        return out
    x = np.divide(images, np.float32(spec.max_value), dtype=np.float32)
    if extra == 0:
        return x
    return resize_images(x, image_size)


def resize_images(x: np.ndarray, image_size: int) -> np.ndarray:
    """Images in [0, 1] (N x n x n x 1) resized to ``image_size``: bilinear, half-pixel centres, no antialias,
    clipped to [0, 1]; each image on its own, so resizing a slice equals slicing the resized array."""
    resized = tf.image.resize(x, (image_size, image_size), method="bilinear", antialias=False)
    return np.clip(resized.numpy(), 0.0, 1.0)


def load_arrays(
    name: str,
    split: str = "train",
    *,
    data_dir: str | None = None,
    image_size: int = 32,
    fit: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of embedded dataset ``name``: x float32 (N, S, S, 1) in [0, 1], y int64.

    ``name`` is one of "fashion_mnist", "mnist5k", "digits"; ``split`` any
    tfds split of its builder (slices allowed, e.g. "train[:1000]"). Examples
    come in the source file order. ``fit`` is how a native image becomes
    S x S: "pad" (zero-pad, centred; the 28-px datasets' default) or
    "bilinear" (resized to fill the frame; the 8-px digits' default). The
    arrays are cached per (name, split, data_dir, image_size, fit) and
    returned read-only: copy before editing them.
    """
    spec = _spec(name, image_size)
    fit = _fit_of(spec, fit)
    root = os.path.abspath(data_dir if data_dir is not None else default_data_dir())
    key = (name, split, root, image_size, fit)
    if key not in _CACHE:
        builder = prepared_builder(name, root)
        check_split(builder, split)
        images, labels = split_arrays(builder, split)
        x = _fit(images, spec, image_size, fit)
        y = labels.astype(np.int64)
        x.flags.writeable = False
        y.flags.writeable = False
        _CACHE[key] = (x, y)
    return _CACHE[key]
