"""Caffe's ImageNet input pipeline on tfds ``imagenet2012``.

The data layer of a Caffe ``imagenet_train.prototxt`` (``results/*/`` of the
Caffe transfer experiments), reading a prepared tfds
``imagenet2012`` from ``data_dir`` (never downloading; the manual files are
ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in
``<data_dir>/downloads/manual``, see :mod:`repro.data.catalog`).

tfds labels follow the sorted WNIDs (tfds ``datasets/imagenet2012/labels.txt``),
the same order as Caffe's ``synsets.txt`` (n01440764 = 0), so class ids of
:mod:`repro.data.splits` apply unchanged. Steps:

1. class subset (a split half, or all 1000) and label remap to 0..k-1 in
   increasing original-id order (``make_reduced_dataset.py: makeit``);
2. optionally the first k examples of every class in the order of the
   official ``files.txt`` (``make_reduced_dataset.py: makeit_keep_first_n``),
   taken to be Caffe's ILSVRC12 ``train.txt``, whose files run in name order
   within a class (``n01440764_10026.JPEG``, ``..._10027``, ...): the k
   lexicographically first file names of each class (:func:`first_k_file_names`;
   the repository lists ``files.txt`` but does not hold it, so this order is
   an assumption);
3. decode, resize to 256x256 ignoring the aspect ratio (bilinear, as
   ``convert_imageset --resize_height 256 --resize_width 256`` of the Caffe
   ImageNet tutorial the official README points to; the official scripts
   do not contain the resize, so the paper's own databases are not known to
   match), rounded to uint8 as stored in Caffe's LevelDB;
4. subtract the per-pixel mean image of the training set (256x256x3, see
   :func:`compute_mean_image`); values stay on the 0..255 scale, as Caffe
   uses ``scale: 1``;
5. training: random 227x227 crop (offsets uniform in 0..29) and random
   horizontal mirror, batch 256, shuffled, repeated without end (Caffe trains
   by iterations and its data layer wraps around); validation: centre 227
   crop, no mirror, batch 50, one pass.

Caffe shuffled the LevelDB once at creation (``convert_imageset ... 1``)
and then read it in the same order every epoch; here the files are
interleaved in a seeded order and the records pass a shuffle buffer, both
the same every epoch (``reshuffle_each_iteration=False``): one fixed
pseudo-random order read again and again. Deviations: that order is a
buffered shuffle, not a permutation of the whole training set. Channels are RGB (Caffe: BGR), which does not matter for networks
trained from scratch. Caffe evaluates ``test_iter`` x 50 = 50,000 images,
seeing each image of a 25k half twice; one pass gives the same accuracy.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.data.catalog import tfds_catalog
from repro.data.splits import IMAGENET_CLASSES, ClassSubset, label_remap
from repro.errors import BadArgument, DatasetMissing
from repro.files import atomic_write, atomic_write_text

NAME = "imagenet2012"
RESIZE = 256
CROP = 227
TRAIN_BATCH = 256
VALIDATION_BATCH = 50


def _class_ids(classes: ClassSubset | Sequence[int] | None) -> tuple[int, ...] | None:
    if classes is None:
        return None
    return tuple(classes.classes if isinstance(classes, ClassSubset) else classes)


def imagenet_records(
    split: str,
    data_dir: str | os.PathLike | None,
    *,
    classes: ClassSubset | Sequence[int] | None = None,
    per_class: int | None = None,
    shuffle_files: bool = False,
    reshuffle_files: bool = True,
    seed: int = 0,
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
) -> tf.data.Dataset:
    """(encoded image bytes, remapped int64 label) of ``split`` after steps 1-2 of the module docstring.

    With ``shuffle_files`` the files are interleaved in an order drawn from ``seed``: a new one every epoch, or
    the same one with ``reshuffle_files=False`` (Caffe's once-shuffled database).
    """
    ids = _class_ids(classes)
    if per_class is not None and (not isinstance(per_class, int) or per_class < 1):
        raise BadArgument(f"per_class {per_class!r} is not accepted; accepted: an integer >= 1 or None")
    ds = tfds_catalog(
        NAME,
        split,
        data_dir,
        manual_dir=manual_dir,
        prepare=prepare,
        shuffle_files=shuffle_files,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(shuffle_seed=seed, shuffle_reshuffle_each_iteration=reshuffle_files),
    )
    if per_class is not None:
        kept = sorted(first_k_file_names(split, data_dir, per_class, manual_dir=manual_dir, prepare=prepare))
        names = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(kept or [""]), tf.ones([max(len(kept), 1)], tf.int64)), default_value=0)
        ds = ds.filter(lambda ex: names.lookup(ex["file_name"]) > 0)
    ds = ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int64)), num_parallel_calls=tf.data.AUTOTUNE)
    if ids is not None:
        table = tf.constant(label_remap(ids, IMAGENET_CLASSES))
        ds = ds.map(lambda image, label: (image, tf.gather(table, label)))
        ds = ds.filter(lambda image, label: label >= 0)
    return ds


def first_k_file_names(split: str, data_dir: str | os.PathLike | None, k: int, *,
                       manual_dir: str | os.PathLike | None = None, prepare: bool = False) -> frozenset[str]:
    """The ``k`` lexicographically first file names of every class of ``split`` (step 2 of the module docstring).

    One pass over the split's file names and labels; the list is kept in ``<data_dir>/repro_lists/`` and read
    from there afterwards.
    """
    from repro.data.catalog import default_data_dir

    path = Path(data_dir or default_data_dir()) / "repro_lists" / f"{NAME}_{split}_first{k}.txt"
    if path.is_file():
        return frozenset(path.read_text().splitlines())
    ds = tfds_catalog(NAME, split, data_dir, manual_dir=manual_dir, prepare=prepare, shuffle_files=False,
                      decoders={"image": tfds.decode.SkipDecoding()})
    by_class: dict[int, list[str]] = {}
    for name, label in tfds.as_numpy(ds.map(lambda ex: (ex["file_name"], ex["label"]))):
        by_class.setdefault(int(label), []).append(name.decode())
    kept = sorted(name for names in by_class.values() for name in sorted(names)[:k])
    atomic_write_text(path, "".join(f"{name}\n" for name in kept))
    return frozenset(kept)


def decode_resize(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded image -> uint8 RESIZE x RESIZE x 3, bilinear, aspect ratio ignored (step 3)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    resized = tf.image.resize(image, (RESIZE, RESIZE), method="bilinear", antialias=False)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def imagenet_resized(split: str, data_dir: str | os.PathLike | None, **record_kwargs) -> tf.data.Dataset:
    """(uint8 256x256x3 image, label) in dataset order: the content of Caffe's LevelDB.

    Keyword arguments as :func:`imagenet_records`. Feed the training split to
    :func:`compute_mean_image`.
    """
    ds = imagenet_records(split, data_dir, **record_kwargs)
    return ds.map(lambda encoded, label: (decode_resize(encoded), label), num_parallel_calls=tf.data.AUTOTUNE)


def compute_mean_image(dataset: tf.data.Dataset) -> np.ndarray:
    """Per-pixel, per-channel mean (float32 H x W x C) of the images of ``dataset``.

    ``dataset`` yields images or (image, label) pairs, batched or not; sums
    accumulate in float64. This is Caffe's ``compute_image_mean`` (official
    ``create_all_means.sh``).
    """
    spec = dataset.element_spec
    image_spec = spec[0] if isinstance(spec, tuple) else spec
    images = dataset.map(lambda *e: e[0]) if isinstance(spec, tuple) else dataset
    if image_spec.shape.rank == 3:
        images = images.batch(256)
    elif image_spec.shape.rank != 4:
        raise BadArgument(f"mean image needs HWC images or NHWC batches; got shape {image_spec.shape}")
    shape = image_spec.shape[-3:]
    if not shape.is_fully_defined():
        raise BadArgument(f"mean image needs images of one fixed size; got shape {image_spec.shape}")

    def add(state, batch):
        total, count = state
        batch = tf.cast(batch, tf.float64)
        return total + tf.reduce_sum(batch, axis=0), count + tf.cast(tf.shape(batch)[0], tf.float64)

    total, count = images.reduce((tf.zeros(shape, tf.float64), tf.constant(0.0, tf.float64)), add)
    if float(count) == 0:
        raise BadArgument("mean image of an empty dataset")
    return (total.numpy() / float(count)).astype(np.float32)


def save_mean_image(mean: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``mean`` to ``path`` (.npy) atomically; returns the path.

    The temporary file is private to the process, so shards that compute
    the same (deterministic) mean at once each rename a whole file.
    """
    path = Path(path)
    atomic_write(path, lambda handle: np.save(handle, np.asarray(mean, dtype=np.float32)), binary=True)
    return path


def load_mean_image(path: str | os.PathLike) -> np.ndarray:
    """The RESIZE x RESIZE x 3 float32 mean image saved at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetMissing(
            f"mean image {path} not found: compute it once with "
            "save_mean_image(compute_mean_image(imagenet_resized('train', data_dir, ...)), path)"
        )
    mean = np.load(path)
    if mean.shape != (RESIZE, RESIZE, 3):
        raise BadArgument(f"mean image {path} has shape {mean.shape}; expected {(RESIZE, RESIZE, 3)}")
    return mean.astype(np.float32)


def imagenet_caffe(
    split: str,
    data_dir: str | os.PathLike | None,
    mean_image: np.ndarray,
    *,
    classes: ClassSubset | Sequence[int] | None = None,
    per_class: int | None = None,
    training: bool | None = None,
    batch_size: int | None = None,
    shuffle_buffer: int = 10_000,
    seed: int = 0,
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
) -> tf.data.Dataset:
    """Batches (float32 N x 227 x 227 x 3 mean-subtracted images, int64 labels), steps 1-5.

    ``training`` defaults to ``split`` starting with "train": random crop +
    mirror, shuffled with ``seed`` through a buffer of ``shuffle_buffer``
    encoded images (about 110 kB each for ImageNet JPEGs), repeated forever,
    batch 256; otherwise centre crop, one pass, batch 50. ``mean_image`` is
    the 256x256x3 mean of the same class subset's training set.
    """
    mean = np.asarray(mean_image, dtype=np.float32)
    if mean.shape != (RESIZE, RESIZE, 3):
        raise BadArgument(f"mean image has shape {mean.shape}; expected {(RESIZE, RESIZE, 3)}")
    training = split.startswith("train") if training is None else training
    batch = batch_size or (TRAIN_BATCH if training else VALIDATION_BATCH)
    ds = imagenet_records(
        split,
        data_dir,
        classes=classes,
        per_class=per_class,
        shuffle_files=training,
        reshuffle_files=False,
        seed=seed,
        manual_dir=manual_dir,
        prepare=prepare,
    )
    mean_tensor = tf.constant(mean)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False).repeat()
        ds = ds.enumerate()

        def prepare_train(index, element):
            encoded, label = element
            image = tf.cast(decode_resize(encoded), tf.float32) - mean_tensor
            element_seed = tf.stack([tf.cast(seed, tf.int64), index])
            crop_seed = tf.random.experimental.stateless_fold_in(element_seed, 0)
            flip_seed = tf.random.experimental.stateless_fold_in(element_seed, 1)
            image = tf.image.stateless_random_crop(image, (CROP, CROP, 3), seed=crop_seed)
            return tf.image.stateless_random_flip_left_right(image, seed=flip_seed), label

        ds = ds.map(prepare_train, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch, drop_remainder=True)
    else:
        offset = (RESIZE - CROP) // 2

        def prepare_eval(encoded, label):
            image = tf.cast(decode_resize(encoded), tf.float32) - mean_tensor
            return image[offset : offset + CROP, offset : offset + CROP, :], label

        ds = ds.map(prepare_eval, num_parallel_calls=tf.data.AUTOTUNE).batch(batch)
    return ds.prefetch(tf.data.AUTOTUNE)


def caffe_pipeline_config(training: bool, batch_size: int | None = None) -> dict:
    """JSON-ready record of the pipeline settings for config.json."""
    return {
        "dataset": NAME,
        "resize": [RESIZE, RESIZE],
        "resize_method": "bilinear, aspect ratio ignored, rounded to uint8",
        "mean": "per-pixel mean image of the training set (256x256x3), subtracted before cropping",
        "scale": "0..255 (Caffe scale 1)",
        "crop": CROP,
        "crop_position": "uniform random" if training else "centre",
        "mirror": training,
        "batch_size": batch_size or (TRAIN_BATCH if training else VALIDATION_BATCH),
        "order": ("one seeded pseudo-random order (files interleaved, a 10,000-record buffer), the same every "
                  "epoch, repeated" if training else "dataset order, one pass"),
    }
