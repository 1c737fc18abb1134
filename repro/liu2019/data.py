"""Paper-scale inputs of Liu, Long, Wang, Jordan 2019, as the official code.

Sources: the official repository
understanding-transferability/understanding_transferability@616a6fb
(``data.py``, ``fine-tune.py``, ``loss_landscape.py``,
``variation_of_loss.py``, ``lenet.py``), summarised in
papers/liu2019/README.md, "Protocol (paper scale = the official code)".
Nothing here downloads: datasets are tfds catalog datasets read from a
prepared ``data_dir`` (the CLI's ``--data-dir``) through
:mod:`repro.data.catalog`, and a missing one raises
:class:`repro.errors.DatasetMissing` saying how to prepare it.

LeNet digits (``lenet.py``; :func:`lenet_arrays`), tfds ``mnist``,
``fashion_mnist`` and ``svhn_cropped`` (train 73,257 / test 26,032; the
``extra`` split is not used), whole split in tfds record order, in memory:

- grayscale as scipy's ``imread(path, mode='L')``, i.e. PIL's
  ``convert('L')``: ``L = (19595 R + 38470 G + 7471 B + 32768) >> 16``, the
  ITU-R 601 luma 0.299/0.587/0.114 in PIL's 16-bit fixed point, an integer
  0..255 (it differs from ``round(0.299 R + 0.587 G + 0.114 B)`` on ties,
  e.g. (83, 123, 13) -> 99 where the float rule gives 98.5 -> 98).
  MNIST and Fashion-MNIST are grayscale already (no change).
- ``imresize(im, (28, 28))``: scipy's default ``interp='bilinear'`` is PIL's
  ``resize(BILINEAR)``, which is antialiased when shrinking (Pillow's
  convolution resampling, in every Pillow release of 2019), and returns
  uint8. Here ``tf.image.resize(bilinear, antialias=True)``
  rounded to 0..255: within 1 grey level of Pillow's result (measured on
  random and smooth 32x32 images with Pillow 13; without antialiasing the
  difference reaches 38 grey levels on random and 4 on smooth images).
  Only SVHN (32x32) is resized; a 28x28 image is unchanged, as in PIL.
- ``x / 255 - 0.5``, float32 N x 28 x 28 x 1; labels int64. tfds stores
  SVHN's digit 0 as label 0 (the .mat files use 10); the official
  ``svhn_600.txt`` / ``svhn_test.txt`` lists are not published, their
  labelling is assumed to be the same [unverified].

ResNet-50 targets (``fine-tune.py``, ``loss_landscape.py``,
``variation_of_loss.py``; :func:`resnet_stream`), tfds ``caltech_birds2011``
(CUB-200-2011, train 5,994 / test 5,794, 200 classes) and ``food101``
(train 75,750 / validation 25,250, 101 classes):

- decode as RGB (``imread(path, mode='RGB')``: grayscale JPEGs get three
  equal channels).
- ``imresize(im, (256, 256))``: both sides 256, aspect not kept, PIL
  bilinear (antialiased when shrinking), rounded to uint8 as PIL; here
  ``tf.image.resize(bilinear, antialias=True)`` rounded and clipped to
  0..255 (within 1 grey level of Pillow, as above).
- training: ``tl.prepro.crop(x, 224, 224, is_random=True)``, a random
  224 x 224 window with offsets ``int(U(0, 256 - 224))`` = 0..31 each
  (tensorlayer >= 2.0; tensorlayer 1.x computed ``int(U(0, 32) - 1)``, i.e.
  0..30 with 0 twice as likely; which one the authors ran is unknown
  [unverified]). No horizontal flip.
- test: ``tl.prepro.crop(x, 224, 224, is_random=False)``: the centre window,
  offsets ``floor((256 - 224) / 2)`` = 16.
- ``x / 255`` then ImageNet normalisation ``(x - (0.485, 0.456, 0.406)) /
  (0.229, 0.224, 0.225)``. The official ``ResNetFc.forward`` normalises
  inside the model; here the pipeline does it, as for every ResNet of this
  suite (:mod:`repro.liu2019.network` expects normalised inputs).
- class-balanced sampling (``auto_weight=True`` in ``fine-tune.py``): each
  draw takes example i with probability proportional to ``1 / count(class
  of i)`` (every class equally often, uniform within a class), unless the
  weights are near-uniform, ``max count / min count < 1.5`` over the classes
  present, in which case the official loader falls back to a plain shuffle
  (:func:`_balanced_weights`). CUB's training split has about 30 images
  per class, so the rule is expected to be inactive there, as in the
  official run; the config records whether it was active and the ratio.

Deviations from the official pipelines (numerical details above follow the
official code):

- Random numbers come from TensorFlow's stateless generators seeded by
  (seed, element index), not numpy's global generator: same distributions,
  other draws. The seed of a training stream is the one
  :class:`repro.train.StreamData` passes to ``make_train(seed)``.
- Order: a shuffle buffer (``min(n_train, 10,000)`` encoded images, over
  file-shuffled records) repeated without end, instead of a permutation per
  epoch; with CUB (5,994 < 10,000) each pass is a full permutation. Training
  batches are always full (``drop_remainder``, as the official training
  ``BatchData(remainder=False)``) and consecutive passes blend. The test
  pass keeps its last partial batch, as the official test loader.
- Class-balanced draws: the official loader draws ``n_train`` indices per
  epoch with replacement (``np.random.choice(ids, p=w)``); here each record
  of the shuffled, repeated stream is kept with probability
  ``min count / count(its class)`` (a seeded coin per record, no
  ``tf.data`` ``rejection_resample``). Each kept example has the same
  distribution ``p_i ~ 1 / count`` as an official draw; within one pass an
  example appears at most once. The fraction of records read that are kept
  is ``classes * min count / n_train``.
- Decoding and resizing are TensorFlow's (JPEG decoder, antialiased
  bilinear), not PIL's: bilinear within 1 grey level of Pillow 13, JPEG
  decoders may differ by a few levels.
- Datasets: tfds's CUB split is the standard train/test split (the official
  ``cub200.txt`` / ``cub200_test.txt`` lists are not published); the
  official Food list ``food_train.txt`` is used with a 102-way head, the
  suite uses Food-101's 101 classes (:func:`resnet_classes`). Food-101's
  "validation" split (its official test list) is the evaluation pass.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.data.catalog import catalog_builder, check_split, tfds_catalog
from repro.data.images import element_seed, imagenet_normalize, pil_resize
from repro.errors import BadArgument
from repro.data.imagenet_stats import IMAGENET_MEAN, IMAGENET_STD
from repro.liu2019.protocol import RESNET_CROP, RESNET_RESIZE
from repro.train import StreamData

# --------------------------------------------------------------------------- LeNet digits (lenet.py)

LENET_DATASETS = ("mnist", "fashion_mnist", "svhn_cropped")
LENET_SIZE = 28
LENET_LOAD_BATCH = 4096
# PIL's ``convert('L')`` (ImagingConvertRGB2L): ITU-R 601 luma in 16-bit fixed point, rounded.
PIL_LUMA = (19595, 38470, 7471)
PIL_LUMA_ROUND = 1 << 15
PIL_LUMA_SHIFT = 16

# --------------------------------------------------------------------------- ResNet targets (ResNet scripts)

RESNET_DATASETS = ("caltech_birds2011", "food101")
RESNET_SPLITS = {"caltech_birds2011": ("train", "test"), "food101": ("train", "validation")}
RESNET_CLASSES = {"caltech_birds2011": 200, "food101": 101}
RESIZE, CROP = RESNET_RESIZE, RESNET_CROP
SHUFFLE_BUFFER = 10_000
UNIFORM_RATIO = 1.5  # official: weights with max / min < 1.5 are treated as uniform
# tf.random.experimental.stateless_fold_in keys of one training element's draws
_CROP_KEY, _KEEP_KEY = 0, 1


def _check_name(name: str, accepted: Sequence[str], what: str) -> None:
    if name not in accepted:
        raise BadArgument(f"{what} {name!r} is not accepted; accepted: {', '.join(accepted)}")


def _pil_gray(rgb: tf.Tensor) -> tf.Tensor:
    """PIL's ``convert('L')`` of uint8 ``... x 3`` images: ``(19595 R + 38470 G + 7471 B + 32768) >> 16``, uint8."""
    weights = tf.constant(PIL_LUMA, tf.int32)
    luma = tf.reduce_sum(tf.cast(rgb, tf.int32) * weights, axis=-1, keepdims=True) + PIL_LUMA_ROUND
    return tf.cast(tf.bitwise.right_shift(luma, PIL_LUMA_SHIFT), tf.uint8)


def _lenet_pixels(images: tf.Tensor) -> tf.Tensor:
    """uint8 N x H x W x C -> 0..255 integer-valued float32 N x 28 x 28 x 1 (grayscale, then resize)."""
    if images.shape[-1] == 3:
        images = _pil_gray(images)
    if tuple(images.shape[1:3]) != (LENET_SIZE, LENET_SIZE):
        return pil_resize(images, (LENET_SIZE, LENET_SIZE))
    return tf.cast(images, tf.float32)


def lenet_arrays(name: str, split: str, data_dir: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    """The whole ``split`` of ``name`` as the official ``lenet.py`` input.

    ``name``: tfds catalog ``mnist``, ``fashion_mnist`` or ``svhn_cropped``;
    ``split`` accepts tfds slicing ("train[:600]"). Returns x float32
    N x 28 x 28 x 1 and y int64 N, in the tfds record order. Transform:
    grayscale by PIL's ``convert('L')`` (SVHN only; the fixed-point
    0.299/0.587/0.114 luma rounded to uint8), PIL-style bilinear resize to
    28 x 28 rounded to uint8 (SVHN only: 32 -> 28, antialiased like
    Pillow), then ``x / 255 - 0.5``. See the module docstring.
    """
    _check_name(name, LENET_DATASETS, "LeNet dataset")
    ds = tfds_catalog(name, split, data_dir, decoders=tfds.decode.PartialDecoding({"image": True, "label": True}))
    ds = ds.map(lambda ex: (ex["image"], ex["label"])).batch(LENET_LOAD_BATCH)
    ds = ds.map(lambda x, y: (_lenet_pixels(x), tf.cast(y, tf.int64)), num_parallel_calls=tf.data.AUTOTUNE)
    xs, ys = [], []
    for x, y in tfds.as_numpy(ds):
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.zeros((0, LENET_SIZE, LENET_SIZE, 1), np.float32), np.zeros((0,), np.int64)
    x = np.concatenate(xs).astype(np.float32) / np.float32(255.0) - np.float32(0.5)
    return x.astype(np.float32), np.concatenate(ys).astype(np.int64)


# --------------------------------------------------------------------------- ResNet targets


def resnet_classes(name: str) -> int:
    """Number of classes of a ResNet target: 200 for ``caltech_birds2011``, 101 for ``food101``.

    The official ``loss_landscape.py`` and ``variation_of_loss.py`` read
    ``food_train.txt`` with a 102-way head, which does not match Food-101's
    101 classes (Food-101 or Caltech-101 with its background class: an
    ambiguity of the release; papers/liu2019/README.md, "Suite choices where
    the code and the text are silent"). The suite uses Food-101 and its 101
    classes.
    """
    _check_name(name, RESNET_DATASETS, "ResNet dataset")
    return RESNET_CLASSES[name]


def _balanced_weights(counts: Sequence[int] | np.ndarray) -> np.ndarray | None:
    """Per-class keep probabilities of the official ``auto_weight`` rule, or None when it is inactive.

    ``counts[c]``: training examples of class c (0 for an absent class).
    Official rule (``data.py`` ``BaseDataset``): per-example weight
    ``1 / count(class)``, normalised; if ``max / min < 1.5`` the weights are
    treated as uniform (plain shuffle). Over the classes present,
    ``max weight / min weight = max count / min count``. Active: returns
    ``min count / counts`` (1 for the rarest classes, 0 for absent ones),
    the probability of keeping a record of each class, which makes the kept
    examples follow ``p_i ~ 1 / count(class of i)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts[counts > 0]
    if present.size == 0 or _count_ratio(counts) < UNIFORM_RATIO:
        return None
    return np.where(counts > 0, present.min() / np.maximum(counts, 1.0), 0.0)


def _count_ratio(counts: Sequence[int] | np.ndarray) -> float:
    """``max / min`` of the class counts over the classes present (1.0 for none)."""
    present = np.asarray(counts, dtype=np.float64)
    present = present[present > 0]
    return float(present.max() / present.min()) if present.size else 1.0


def _class_counts(name: str, split: str, data_dir: str | os.PathLike | None) -> np.ndarray:
    """Examples per class of ``split``: one pass over the labels (images are not decoded)."""
    ds = tfds_catalog(name, split, data_dir, decoders=tfds.decode.PartialDecoding({"label": True}))
    counts = np.zeros(resnet_classes(name), np.int64)
    for labels in tfds.as_numpy(ds.map(lambda ex: ex["label"]).batch(LENET_LOAD_BATCH)):
        counts += np.bincount(np.asarray(labels, np.int64), minlength=counts.size)[: counts.size]
    return counts


def _records(name: str, split: str, data_dir: str | os.PathLike | None, *, shuffle_files: bool = False,
             seed: int = 0) -> tf.data.Dataset:
    """(encoded image bytes, int64 label) of ``split``; other features are not parsed."""
    decoders = tfds.decode.PartialDecoding({"image": True, "label": True},
                                           decoders={"image": tfds.decode.SkipDecoding()})
    ds = tfds_catalog(name, split, data_dir, shuffle_files=shuffle_files, decoders=decoders,
                      read_config=tfds.ReadConfig(shuffle_seed=seed))
    return ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int64)), num_parallel_calls=tf.data.AUTOTUNE)


def _resized(encoded: tf.Tensor) -> tf.Tensor:
    """``imread(mode='RGB')`` + ``imresize(im, (256, 256))``: 0..255 integer-valued float32 256 x 256 x 3."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    resized = pil_resize(image, (RESIZE, RESIZE))
    resized.set_shape([RESIZE, RESIZE, 3])
    return resized


def _eval_image(encoded: tf.Tensor) -> tf.Tensor:
    """Test transform: resize 256 x 256, centre 224 x 224 window (offsets ``floor(32 / 2)`` = 16), normalise."""
    offset = (RESIZE - CROP) // 2
    return imagenet_normalize(_resized(encoded)[offset : offset + CROP, offset : offset + CROP, :])


def _train_image(encoded: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Training transform: resize 256 x 256, random 224 x 224 window (offsets ``int(U(0, 32))``), normalise."""
    u = tf.random.stateless_uniform([2], seed=seed, dtype=tf.float32)
    offsets = tf.cast(tf.floor(u * float(RESIZE - CROP)), tf.int32)
    top, left = offsets[0], offsets[1]
    window = _resized(encoded)[top : top + CROP, left : left + CROP, :]
    window.set_shape([CROP, CROP, 3])
    return imagenet_normalize(window)


def _element_seed(seed: int, index: tf.Tensor, key: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(element_seed(seed, index), key)


def _eval_dataset(name: str, split: str, data_dir: str | os.PathLike | None, batch_size: int) -> tf.data.Dataset:
    records = _records(name, split, data_dir)
    ds = records.map(lambda encoded, label: (_eval_image(encoded), label), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _train_dataset(name: str, data_dir: str | os.PathLike | None, *, batch_size: int, seed: int,
                   shuffle_buffer: int, keep: np.ndarray | None) -> tf.data.Dataset:
    """Endless shuffled training batches; records of class c kept with probability ``keep[c]`` when given."""
    records = _records(name, "train", data_dir, shuffle_files=True, seed=seed)
    ds = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat().enumerate()
    if keep is not None:
        table = tf.constant(keep, tf.float32)

        def kept(index, element):
            draw = tf.random.stateless_uniform([], seed=_element_seed(seed, index, _KEEP_KEY), dtype=tf.float32)
            return draw < tf.gather(table, element[1])

        ds = ds.filter(kept)

    def prepare(index, element):
        encoded, label = element
        return _train_image(encoded, _element_seed(seed, index, _CROP_KEY)), label

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def resnet_stream(name: str, data_dir: str | os.PathLike | None, *, batch_size: int,
                  class_balanced: bool) -> tuple[StreamData, dict]:
    """Training stream and test pass of a ResNet target (official ResNet scripts), and its JSON-able config.

    ``name``: tfds catalog ``caltech_birds2011`` (test split "test") or
    ``food101`` (test split "validation"). Training (``make_train(seed)``):
    resize 256 x 256 (bilinear, aspect not kept), random 224 x 224 crop, no
    flip, ``x / 255``, ImageNet mean/std; shuffled (buffer
    ``min(n_train, 10,000)``) with ``seed``, repeated without end, batches of
    ``batch_size`` with ``drop_remainder``, prefetched. With
    ``class_balanced`` the official ``auto_weight`` rule applies
    (:func:`_balanced_weights`; it costs one pass over the training labels
    here). Validation: the test split, resize 256 x 256 + centre crop 224,
    same normalisation, in record order, batches of ``batch_size``.
    ``train_eval(k)``: the first ``k`` training records through the test
    transform. ``n_train``: the training split's size from the builder info.
    """
    _check_name(name, RESNET_DATASETS, "ResNet dataset")
    if batch_size < 1:
        raise BadArgument(f"batch size {batch_size!r} is not accepted; accepted: an integer >= 1")
    train_split, test_split = RESNET_SPLITS[name]
    builder = catalog_builder(name, data_dir)
    check_split(builder, train_split)
    check_split(builder, test_split)
    n_train = int(builder.info.splits[train_split].num_examples)
    n_test = int(builder.info.splits[test_split].num_examples)
    shuffle_buffer = max(1, min(n_train, SHUFFLE_BUFFER))
    keep, ratio = None, None
    if class_balanced:
        counts = _class_counts(name, train_split, data_dir)
        keep, ratio = _balanced_weights(counts), _count_ratio(counts)

    def make_train(seed: int) -> tf.data.Dataset:
        return _train_dataset(name, data_dir, batch_size=batch_size, seed=int(seed), shuffle_buffer=shuffle_buffer,
                              keep=keep)

    def train_eval(k: int) -> tf.data.Dataset:
        return _eval_dataset(name, train_split, data_dir, batch_size).unbatch().take(k).batch(batch_size)

    validation = _eval_dataset(name, test_split, data_dir, batch_size)
    stream = StreamData(make_train, validation, n_train, train_eval=train_eval)
    offset = (RESIZE - CROP) // 2
    config = {
        "dataset": name,
        "reference": "official fine-tune.py, loss_landscape.py, variation_of_loss.py "
                     "(understanding-transferability/understanding_transferability@616a6fb)",
        "train_split": train_split,
        "test_split": test_split,
        "n_train": n_train,
        "n_test": n_test,
        "classes": resnet_classes(name),
        "decode": "RGB (grayscale -> 3 equal channels)",
        "train_transform": (f"resize {RESIZE}x{RESIZE} (bilinear, antialiased like PIL, rounded to uint8), "
                            f"random {CROP}x{CROP} crop (offsets int(U(0, {RESIZE - CROP}))), no flip, x / 255"),
        "eval_transform": (f"resize {RESIZE}x{RESIZE} (bilinear, antialiased like PIL, rounded to uint8), "
                           f"centre {CROP}x{CROP} crop (offsets {offset}), x / 255"),
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                          "where": "pipeline (official: inside ResNetFc.forward)"},
        "batch_size": batch_size,
        "train_order": (f"shuffle buffer {shuffle_buffer} over file-shuffled records, repeated, "
                        "full batches (drop_remainder)"),
        "eval_order": "record order, one pass, last partial batch kept",
        "class_balanced": {
            "requested": bool(class_balanced),
            "active": keep is not None,
            "class_count_ratio": ratio,
            "rule": (f"p_i ~ 1 / count(class of i) unless max / min class count < {UNIFORM_RATIO} "
                     "(official auto_weight)"),
            "method": "keep each record of the shuffled stream with probability min count / count(class)",
        },
    }
    return stream, config
