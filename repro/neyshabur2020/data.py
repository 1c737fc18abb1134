"""Paper-scale inputs of Neyshabur, Sedghi, Zhang 2020: DomainNet and CheXpert, as the official code.

Sources: the official repository google-research/understanding-transfer-learning
(``third_party/domainnet_data/domain_net.py``, ``configs/p100_domain_net.py``,
``libdata/torchvision.py``, ``third_party/chexpert_data/chexpert.py``,
``chexpert_train.py``, ``libdata/chexpert_index/split_trainset.py``),
summarised in papers/neyshabur2020/README.md ("Protocol (paper scale)",
Targets). Nothing here downloads: datasets are read from a prepared TFDS
``data_dir`` (the CLI's ``--data-dir``), and a missing one raises
:class:`repro.errors.DatasetMissing` saying how to prepare it.

DomainNet (tfds catalog ``domainnet/<domain>``, version 1.0.0; features
``image`` (RGB, any size) and ``label`` (345 classes); splits ``train`` and
``test`` built from the same ``<domain>_train.txt`` / ``_test.txt`` lists and
the same zips, ``groundtruth/`` for clipart and painting, as the official
loader):

- subsample: a split larger than ``subsample_size`` (50,000) keeps the
  examples ``np.random.RandomState(2020).choice(n, 50000, replace=False)``,
  train and test alike (real and quickdraw; clipart is smaller and kept
  whole). The official rule indexes the lines of the txt list; tfds stores the
  examples in the order of ``md5(split + key)`` with key
  ``f"{domain}_{split}_{line:08d}"``. With ``order="txt"`` (default) the line
  of every record is recovered from that hash (:func:`tfds_record_positions`),
  so the subset is the same images as the official one, provided the data was
  prepared by tfds's standard (non-Beam) writer from the official lists.
  ``order="tfds"`` applies the same rule to tfds's record order instead: the
  same rule, not the same images.
- training with augmentation: torchvision RandomResizedCrop(224) (scale
  0.08-1, ratio 3/4-4/3, ten attempts then the central-crop fallback) and a
  horizontal flip with probability 1/2; without ("noaug" configs, used by the
  block-shuffle experiment): the evaluation transform.
- evaluation: Resize(256) (short side 256, long side truncated as
  torchvision 0.5) and CenterCrop(224) (offsets rounded half to even, as
  Python 3's ``round``).
- ToTensor + Normalize: ``(x / 255 - mean) / std`` with ImageNet's mean and
  std; images are rounded to integers 0..255 first, as PIL's uint8 output.
- ``shuffle_transform`` (:class:`repro.data.transforms.BlockShuffle` or
  ``PixelShuffle``): ``tf.gather`` of the flattened normalized image with its
  ``gather_index(224, 224, 3)``, after normalization, on train and test alike.

CheXpert (builder ``chexpert_csv/neyshabur2020`` of :mod:`repro.data.chexpert`:
the catalog's ``chexpert`` keeps no CSV row order, which the split needs):

- splits: ``train`` = rows 0-50k and ``test`` = rows 50k-100k of train.csv
  shuffled by ``RandomState(1234)`` (``test`` is the paper's model-selection
  "test" set), ``validation`` = valid.csv (the official "dev"); all views.
- labels (float32[5], multi-label BCE): Cardiomegaly, Edema, Consolidation,
  Atelectasis, Pleural Effusion; positive 1.0 -> 1; uncertain -1.0 -> 1 for
  Edema and Atelectasis (U-Ones), 0 for the other three (U-Zeros); negative
  and blank -> 0.
- training list: rows positive for Cardiomegaly or Consolidation appear twice
  (``enhance_index [2, 6]``, ``enhance_times 1``); not in ``test``,
  ``validation`` or the eval-mode pass over ``train``.
- image, in the official order: grayscale decode; the offline pre-resize of
  the official data (ImageMagick ``-resize '224^>'``: short side 224 when
  larger); training only: RandomAffine(degrees 15, translate 0.05, scale
  0.95-1.05, fill 128), nearest neighbour as torchvision 0.5's PIL default,
  applied to the grayscale image BEFORE equalization; ``cv2.equalizeHist``
  (OpenCV's lookup table, tf ops); resize so the long side is 224
  (``cv2.INTER_LINEAR``, other side ``round(224 / ratio)``); pad the bottom
  and right to 224x224 with 128 (``border_pad='pixel_mean'``);
  ``cv2.GaussianBlur(3x3, sigma 0)``; ``(x - 128) / 64``; three equal
  channels.

Deviations from the official pipelines (all numerical details above follow
the official code):

- Random numbers come from TensorFlow's stateless generators seeded by
  (seed, example index), not Python's ``random``: same distributions, other
  draws. Training order: a shuffle buffer (``shuffle_buffer`` encoded images)
  over file-shuffled records, repeated without end, instead of a full
  permutation per epoch; training batches are always full (consecutive
  epochs blend instead of ending on a short batch).
- Bilinear resizing is ``tf.image.resize``: antialiased for DomainNet's PIL
  resizes (on random images at most 1 grey level from Pillow's
  ``BILINEAR``, measured with Pillow 13), plain for CheXpert's
  ``cv2.INTER_LINEAR`` (the same half-pixel formula; not compared, OpenCV
  is not installed). JPEG decoding is TensorFlow's, not PIL's or OpenCV's.
- CheXpert: the official images were pre-resized from the full-resolution
  CheXpert-v1.0 and re-encoded as JPEG by ImageMagick; here the small
  release (CheXpert-v1.0-small, about 320 x 390) is pre-resized in the
  pipeline with ``tf.image.resize(..., "mitchellcubic", antialias=True)``,
  no re-encoding. ImageMagick's default filter when shrinking is Mitchell for
  palette (PseudoClass) images, which is how it reads grayscale JPEGs, and
  Lanczos otherwise [unverified which applied].
- Nearest-neighbour ties in RandomAffine may fall on the other pixel
  (TensorFlow rounds ``M (x + 0.5, y + 0.5) - 0.5``, PIL floors
  ``M (x + 0.5, y + 0.5)``); torchvision 0.5's centre
  ``(w / 2 + 0.5, h / 2 + 0.5)`` is kept.
- Mixup (alpha 0.7 on DomainNet) is a training-loop option
  (``SGDSchedule.mixup_alpha``), not part of these pipelines.

Not deviations, but different from a shorter description of the protocol:
``cv2.GaussianBlur(image, (3, 3), 0)`` convolves with OpenCV's fixed 3-tap
kernel (0.25, 0.5, 0.25), which ``getGaussianKernel`` returns for ksize <= 7
and sigma <= 0, not with a sampled Gaussian of sigma 0.8 (weights 0.239,
0.522, 0.239), and its border is reflect-101; the official RandomAffine runs
before ``equalizeHist`` (its 128 fill is equalized too); the padding is at the
bottom and right only.
"""
from __future__ import annotations

import hashlib
import math
import os
from typing import Protocol, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.data import chexpert as chexpert_tfds
from repro.data.catalog import catalog_builder, check_split
from repro.data.transforms import image_shuffle
from repro.data.imagenet_stats import IMAGENET_NORMALIZE
from repro.data.images import (CROP, RESIZE, center_crop, decode_rgb, element_seed, imagenet_normalize,
                               random_resized_crop, resize_short_side)
from repro.errors import BadArgument
from repro.neyshabur2020.protocol import DOMAINNET_SUBSAMPLE, EVAL_RESIZE_CROP, chexpert_settings, imagenet_settings
from repro.train import StreamData

# --------------------------------------------------------------------------- DomainNet

DOMAINNET = "domainnet"
DOMAINNET_DOMAINS = ("real", "painting", "clipart", "quickdraw", "infograph", "sketch")
PAPER_DOMAINS = ("real", "clipart", "quickdraw")
DOMAINNET_CLASSES = 345
SUBSAMPLE_SIZE, SUBSAMPLE_SEED = DOMAINNET_SUBSAMPLE
ORDERS = ("txt", "tfds")
DOMAINNET_BATCH = 32
SHUFFLE_BUFFER = 10_000


class GatherTransform(Protocol):
    """A fixed permutation of the image's scalars (BlockShuffle, PixelShuffle)."""

    def gather_index(self, height: int, width: int, channels: int) -> np.ndarray: ...


def subsample_indices(n: int, size: int = SUBSAMPLE_SIZE, seed: int = SUBSAMPLE_SEED) -> np.ndarray | None:
    """The official subset ``RandomState(seed).choice(n, size, replace=False)``, or None when ``n <= size``."""
    if size < 1:
        raise BadArgument(f"subsample size {size!r} is not accepted; accepted: an integer >= 1")
    if n <= size:
        return None
    return np.random.RandomState(seed).choice(n, size, replace=False)


def tfds_record_positions(keys: Sequence[str], split: str) -> np.ndarray:
    """``positions[i]``: index in the prepared split of the example generated with ``keys[i]``.

    tfds's writer (``tfds.core.shuffle.Shuffler``, ``disable_shuffling``
    False) stores a split's records sorted by ``md5(split + key)`` as a
    128-bit integer (``tfds.core.hashing.Hasher(salt=split)``); shards are
    consecutive runs of that order.
    """
    salted = hashlib.md5(split.encode("utf-8"))
    hashes = []
    for key in keys:
        md5 = salted.copy()
        md5.update(key.replace("\\", "/").encode("utf-8"))
        hashes.append(int(md5.hexdigest(), 16))
    order = sorted(range(len(hashes)), key=hashes.__getitem__)
    positions = np.empty(len(hashes), dtype=np.int64)
    positions[order] = np.arange(len(hashes))
    return positions


def domainnet_keys(domain: str, split: str, n: int) -> list[str]:
    """The keys tfds's ``domainnet`` builder gives the lines 0..n-1 of ``<domain>_<split>.txt``."""
    return [f"{domain}_{split}_{line:08d}" for line in range(n)]


def domainnet_selection(domain: str, split: str, n: int, subsample_size: int = SUBSAMPLE_SIZE,
                        order: str = "txt") -> np.ndarray | None:
    """Boolean mask over the ``n`` records of a prepared split: the official subset, or None (keep all)."""
    if order not in ORDERS:
        raise BadArgument(f"order {order!r} is not accepted; accepted: {', '.join(ORDERS)}")
    subset = subsample_indices(n, subsample_size)
    if subset is None:
        return None
    if order == "txt":
        subset = tfds_record_positions(domainnet_keys(domain, split, n), split)[subset]
    mask = np.zeros(n, dtype=bool)
    mask[subset] = True
    return mask


def _record_index(tfds_id: tf.Tensor, shard_offsets: tf.Tensor) -> tf.Tensor:
    """Global record index from a ``tfds_id`` like ``domainnet-train.tfrecord-00003-of-00016__123``."""
    shard = tf.strings.regex_replace(tfds_id, r"^.*-(\d+)-of-\d+__\d+$", r"\1")
    offset = tf.strings.regex_replace(tfds_id, r"^.*__(\d+)$", r"\1")
    return tf.gather(shard_offsets, tf.strings.to_number(shard, tf.int64)) + tf.strings.to_number(offset, tf.int64)


def _check_domain(domain: str) -> None:
    if domain not in DOMAINNET_DOMAINS:
        raise BadArgument(f"DomainNet domain {domain!r} is not accepted; accepted: {', '.join(DOMAINNET_DOMAINS)}")


def domainnet_size(domain: str, split: str, data_dir: str | os.PathLike | None, *,
                   subsample_size: int = SUBSAMPLE_SIZE) -> int:
    """Number of examples of ``split`` after the subsample rule."""
    _check_domain(domain)
    builder = catalog_builder(f"{DOMAINNET}/{domain}", data_dir)
    check_split(builder, split)
    return min(builder.info.splits[split].num_examples, subsample_size)


def domainnet_records(
    domain: str,
    split: str,
    data_dir: str | os.PathLike | None,
    *,
    subsample_size: int = SUBSAMPLE_SIZE,
    order: str = "txt",
    shuffle_files: bool = False,
    seed: int = 0,
    prepare: bool = False,
) -> tf.data.Dataset:
    """(encoded image bytes, int64 label) of ``split`` ("train" or "test") after the subsample rule."""
    _check_domain(domain)
    builder = catalog_builder(f"{DOMAINNET}/{domain}", data_dir, prepare=prepare)
    check_split(builder, split)
    info = builder.info.splits[split]
    mask = domainnet_selection(domain, split, info.num_examples, subsample_size, order)
    ds = builder.as_dataset(
        split=split,
        shuffle_files=shuffle_files,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(shuffle_seed=seed, add_tfds_id=mask is not None),
    )
    if mask is not None:
        lengths = np.asarray(info.shard_lengths, dtype=np.int64)
        offsets = tf.constant(np.concatenate([[0], np.cumsum(lengths)[:-1]]), tf.int64)
        keep = tf.constant(mask)
        ds = ds.filter(lambda ex: tf.gather(keep, _record_index(ex["tfds_id"], offsets)))
    return ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int64)), num_parallel_calls=tf.data.AUTOTUNE)


def eval_resize_crop(image: tf.Tensor) -> tf.Tensor:
    """Resize(256) + CenterCrop(224) of a uint8 image, as 0..255 integer-valued float32."""
    return center_crop(resize_short_side(image, RESIZE), CROP)


def gather_fn(shuffle_transform: GatherTransform | None, shape=(CROP, CROP, 3)):
    """``x -> reshape(gather(reshape(x, [-1]), index), shape)`` for the transform's index (identity for None)."""
    if shuffle_transform is None:
        return lambda x: x
    index = np.asarray(shuffle_transform.gather_index(*shape), dtype=np.int64)
    if index.shape != (int(np.prod(shape)),):
        raise BadArgument(f"gather index of shape {index.shape} for images of shape {shape}")
    index = tf.constant(index)
    return lambda x: tf.reshape(tf.gather(tf.reshape(x, [-1]), index), shape)


def domainnet_dataset(
    domain: str,
    split: str,
    data_dir: str | os.PathLike | None,
    *,
    training: bool | None = None,
    augment: bool = True,
    batch_size: int = DOMAINNET_BATCH,
    seed: int = 0,
    subsample_size: int = SUBSAMPLE_SIZE,
    shuffle_transform: GatherTransform | None = None,
    order: str = "txt",
    shuffle_buffer: int = SHUFFLE_BUFFER,
    prepare: bool = False,
) -> tf.data.Dataset:
    """Batches (float32 N x 224 x 224 x 3 normalized images, int64 labels) of DomainNet ``domain``.

    ``training`` (default: ``split == "train"``): shuffled with ``seed``,
    repeated without end, full batches; RandomResizedCrop + flip when
    ``augment``, else the evaluation transform ("noaug"). Otherwise one pass
    in record order with the evaluation transform.
    """
    training = split.startswith("train") if training is None else training
    records = domainnet_records(domain, split, data_dir, subsample_size=subsample_size, order=order,
                                shuffle_files=training, seed=seed, prepare=prepare)
    shuffle = gather_fn(shuffle_transform)
    if not training:
        def prepare_eval(encoded, label):
            return shuffle(imagenet_normalize(eval_resize_crop(decode_rgb(encoded)))), label

        return records.map(prepare_eval, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(
            tf.data.AUTOTUNE)

    ds = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat().enumerate()

    def prepare_train(index, element):
        encoded, label = element
        image = decode_rgb(encoded)
        if augment:
            drawn = element_seed(seed, index)
            crop_seed = tf.random.experimental.stateless_fold_in(drawn, 0)
            flip_seed = tf.random.experimental.stateless_fold_in(drawn, 1)
            image = random_resized_crop(image, crop_seed)
            image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
        else:
            image = eval_resize_crop(image)
        return shuffle(imagenet_normalize(image)), label

    ds = ds.map(prepare_train, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _stream_seed(seed: int, stream_seed: int) -> int:
    from repro.runs import derive_seed

    return derive_seed(seed, stream_seed)


def domainnet_stream(
    domain: str,
    data_dir: str | os.PathLike | None,
    batch_size: int = DOMAINNET_BATCH,
    augment: bool = True,
    seed: int = 0,
    *,
    eval_batch_size: int | None = None,
    subsample_size: int = SUBSAMPLE_SIZE,
    shuffle_transform: GatherTransform | None = None,
    order: str = "txt",
    shuffle_buffer: int = SHUFFLE_BUFFER,
) -> StreamData:
    """Training stream (``make_train(s)`` seeded by ``derive_seed(seed, s)``) and the test pass of ``domain``.

    ``n_train`` is the subsampled training size (50,000 for real and
    quickdraw, 33,525 for clipart with the standard lists).
    """
    kwargs = dict(subsample_size=subsample_size, shuffle_transform=shuffle_transform, order=order)

    def make_train(stream_seed: int) -> tf.data.Dataset:
        return domainnet_dataset(domain, "train", data_dir, training=True, augment=augment, batch_size=batch_size,
                                 seed=_stream_seed(seed, stream_seed), shuffle_buffer=shuffle_buffer, **kwargs)

    validation = domainnet_dataset(domain, "test", data_dir, training=False,
                                   batch_size=eval_batch_size or batch_size, **kwargs)
    n_train = domainnet_size(domain, "train", data_dir, subsample_size=subsample_size)
    return StreamData(make_train, validation, n_train)


def domainnet_pipeline_config(domain: str, *, augment: bool, batch_size: int = DOMAINNET_BATCH,
                              subsample_size: int = SUBSAMPLE_SIZE,
                              shuffle_transform: GatherTransform | None = None, order: str = "txt") -> dict:
    """JSON-ready record of the DomainNet pipeline settings for config.json."""
    describe = getattr(shuffle_transform, "describe", None)
    return {
        "dataset": f"{DOMAINNET}/{domain}",
        "subsample": {"size": subsample_size, "seed": SUBSAMPLE_SEED, "order": order,
                      "rule": "RandomState(seed).choice(n, size, replace=False) when n > size, train and test"},
        "train_transform": imagenet_settings(augment)["train_transform"],
        "eval_transform": EVAL_RESIZE_CROP,
        "normalize": IMAGENET_NORMALIZE,
        "shuffle_transform": describe() if describe else (shuffle_transform and repr(shuffle_transform)),
        "batch_size": batch_size,
        "num_classes": DOMAINNET_CLASSES,
    }


# --------------------------------------------------------------------------- CheXpert

CHEXPERT = "chexpert_csv"
CHEXPERT_LABELS = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
LABEL_COLUMNS = tuple(chexpert_tfds.OBSERVATIONS.index(name) for name in CHEXPERT_LABELS)  # (2, 5, 6, 8, 10)
UNCERTAIN_ONES = ("Edema", "Atelectasis")
DUPLICATED_POSITIVES = chexpert_tfds.COUNTED_POSITIVES  # Cardiomegaly, Consolidation
CHEXPERT_BATCH = 256
PRE_RESIZE = 224
LONG_SIDE = 224
PIXEL_MEAN = 128.0
PIXEL_STD = 64.0
AFFINE_DEGREES = 15.0
AFFINE_TRANSLATE = 0.05
AFFINE_SCALE = (0.95, 1.05)
AFFINE_FILL = 128
BLUR_KERNEL = (0.25, 0.5, 0.25)


def chexpert_labels(observations) -> tf.Tensor:
    """float32 [..., 5] labels from the 14 raw observations [..., 14] (1, 0, -1, NaN = blank).

    1 -> 1; -1 -> 1 for Edema and Atelectasis, 0 for the others; 0 and blank -> 0.
    """
    values = tf.gather(tf.convert_to_tensor(observations, tf.float32), LABEL_COLUMNS, axis=-1)
    uncertain = tf.constant([1.0 if name in UNCERTAIN_ONES else 0.0 for name in CHEXPERT_LABELS])
    return tf.where(values == 1.0, 1.0, tf.where(values == -1.0, uncertain, 0.0))


def duplicated(labels: tf.Tensor) -> tf.Tensor:
    """True where the official training list repeats the row: positive Cardiomegaly or Consolidation."""
    columns = [CHEXPERT_LABELS.index(name) for name in DUPLICATED_POSITIVES]
    return tf.reduce_any(tf.gather(labels, columns, axis=-1) == 1.0, axis=-1)


def chexpert_records(
    split: str,
    data_dir: str | os.PathLike | None,
    *,
    duplicate_positives: bool = False,
    shuffle_files: bool = False,
    seed: int = 0,
    config: str | chexpert_tfds.ChexpertConfig = "rows_1234_50k",
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
) -> tf.data.Dataset:
    """(encoded image, float32[5] labels, int64 CSV row) of ``split`` ("train", "test", "validation").

    ``duplicate_positives`` repeats each row positive for Cardiomegaly or
    Consolidation right after itself (the official training list).
    """
    builder = chexpert_tfds.chexpert_builder(data_dir, manual_dir=manual_dir, prepare=prepare, config=config)
    check_split(builder, split)
    # the splits are stored in order (disable_shuffling); training reads their shards shuffled and interleaved
    read_config = tfds.ReadConfig(shuffle_seed=seed, enable_ordering_guard=not shuffle_files,
                                  interleave_cycle_length=16 if shuffle_files else 1)
    ds = builder.as_dataset(split=split, shuffle_files=shuffle_files,
                            decoders={"image": tfds.decode.SkipDecoding()}, read_config=read_config)
    ds = ds.map(lambda ex: (ex["image"], chexpert_labels(ex["observations"]), ex["row"]),
                num_parallel_calls=tf.data.AUTOTUNE)
    if duplicate_positives:
        ds = ds.flat_map(lambda image, labels, row: tf.data.Dataset.from_tensors((image, labels, row)).repeat(
            1 + tf.cast(duplicated(labels), tf.int64)))
    return ds


def chexpert_size(split: str, data_dir: str | os.PathLike | None, *, training: bool | None = None,
                  config: str | chexpert_tfds.ChexpertConfig = "rows_1234_50k",
                  manual_dir: str | os.PathLike | None = None) -> int:
    """Examples per epoch of ``split``: with the duplicated positives when ``training`` (default: train split)."""
    builder = chexpert_tfds.chexpert_builder(data_dir, manual_dir=manual_dir, config=config)
    check_split(builder, split)
    n = builder.info.splits[split].num_examples
    if not (split == "train" if training is None else training):
        return n
    metadata = builder.info.metadata or {}
    recorded = metadata.get("train_rows_positive_cardiomegaly_or_consolidation") if split == "train" else None
    if recorded is not None:
        return n + int(recorded)
    labels = chexpert_records(split, data_dir, config=config, manual_dir=manual_dir).map(lambda image, y, row: y)
    return n + int(labels.reduce(tf.constant(0, tf.int64), lambda total, y: total + tf.cast(duplicated(y), tf.int64)))


def decode_gray(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded image -> uint8 H x W x 1 (``cv2.imread(path, 0)``)."""
    return tf.io.decode_image(encoded, channels=1, expand_animations=False)


def pre_resize(image: tf.Tensor, short_side: int = PRE_RESIZE) -> tf.Tensor:
    """ImageMagick ``-resize '224^>'``: shrink so the short side is 224 (never enlarge), uint8.

    Sizes are ``floor(side * 224 / short + 0.5)``; the filter is Mitchell
    (antialiased), see the module docstring.
    """
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    factor = short_side / tf.minimum(height, width)
    size = tf.cast(tf.stack([tf.floor(height * factor + 0.5), tf.floor(width * factor + 0.5)]), tf.int32)

    def shrink():
        resized = tf.image.resize(tf.cast(image, tf.float32), size, method="mitchellcubic", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    return tf.cond(tf.minimum(height, width) > short_side, shrink, lambda: image)


def affine_inverse_matrix(angle, translate, scale, center):
    """torchvision 0.5 ``_get_inverse_affine_matrix`` without shear: PIL's output -> input map (a..f).

    ``angle`` in degrees, ``translate`` (tx, ty) in pixels, ``center`` (cx, cy).
    """
    theta = angle * (math.pi / 180.0)
    cos, sin = tf.cos(theta) / scale, tf.sin(theta) / scale
    cx, cy = center
    tx, ty = translate
    a, b, d, e = cos, sin, -sin, cos
    c = a * (-cx - tx) + b * (-cy - ty) + cx
    f = d * (-cx - tx) + e * (-cy - ty) + cy
    return a, b, c, d, e, f


def apply_affine(image: tf.Tensor, angle, translate, scale, fill: int = AFFINE_FILL) -> tf.Tensor:
    """torchvision 0.5 ``F.affine`` on a PIL image: nearest neighbour, ``fillcolor=fill``, same size.

    PIL samples input pixel ``floor(M (x + 0.5, y + 0.5))`` for output pixel
    (x, y); TensorFlow's projective transform samples ``round(T (x, y))``, so
    ``T = M (x + 0.5, y + 0.5) - 0.5``.
    """
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    center = (width * 0.5 + 0.5, height * 0.5 + 0.5)
    a, b, c, d, e, f = affine_inverse_matrix(tf.cast(angle, tf.float64), [tf.cast(t, tf.float64) for t in translate],
                                             tf.cast(scale, tf.float64), center)
    transform = tf.stack([a, b, c + 0.5 * (a + b) - 0.5, d, e, f + 0.5 * (d + e) - 0.5,
                          tf.constant(0.0, tf.float64), tf.constant(0.0, tf.float64)])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=tf.cast(transform, tf.float32)[None],
        output_shape=shape[:2],
        fill_value=tf.constant(float(fill), tf.float32),
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )
    return out[0]


def random_affine(image: tf.Tensor, seed) -> tf.Tensor:
    """torchvision 0.5 ``RandomAffine(degrees=(-15, 15), translate=(0.05, 0.05), scale=(0.95, 1.05), fillcolor=128)``.

    angle ~ U(-15, 15); tx = round(U(-0.05 w, 0.05 w)), ty likewise with h
    (``np.round``: half to even); scale ~ U(0.95, 1.05).
    """
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    u = tf.random.stateless_uniform([4], seed=seed, dtype=tf.float64)
    angle = -AFFINE_DEGREES + 2 * AFFINE_DEGREES * u[0]
    max_dx, max_dy = AFFINE_TRANSLATE * width, AFFINE_TRANSLATE * height
    tx = tf.round(-max_dx + 2 * max_dx * u[1])
    ty = tf.round(-max_dy + 2 * max_dy * u[2])
    scale = AFFINE_SCALE[0] + (AFFINE_SCALE[1] - AFFINE_SCALE[0]) * u[3]
    return apply_affine(image, angle, (tx, ty), scale)


def equalize_hist(image: tf.Tensor) -> tf.Tensor:
    """``cv2.equalizeHist`` of a uint8 image, in tf ops.

    OpenCV: i = lowest occupied grey level; if it holds every pixel the image
    is unchanged; else ``lut[j] = round_half_even(float32(sum(hist[i+1..j])) *
    float32(255 / (total - hist[i])))`` and ``lut[i] = 0``.
    """
    flat = tf.reshape(tf.cast(image, tf.int32), [-1])
    hist = tf.math.bincount(flat, minlength=256, maxlength=256, dtype=tf.int32)
    total = tf.size(flat)
    first = tf.argmax(tf.cast(hist > 0, tf.int32), output_type=tf.int32)
    lowest = hist[first]
    cumulative = tf.cumsum(hist) - tf.cumsum(hist)[first]
    scale = tf.constant(255.0, tf.float32) / tf.cast(total - lowest, tf.float32)
    lut = tf.clip_by_value(tf.round(tf.cast(cumulative, tf.float32) * scale), 0.0, 255.0)
    lut = tf.where(tf.range(256) <= first, 0.0, lut)
    equalized = tf.reshape(tf.cast(tf.gather(lut, flat), tf.uint8), tf.shape(image))
    return tf.where(lowest == total, image, equalized)


def resize_long_side_pad(image: tf.Tensor, long_side: int = LONG_SIDE, fill: float = PIXEL_MEAN) -> tf.Tensor:
    """Official ``_fix_ratio``: resize (``cv2.INTER_LINEAR``) to long side 224, pad bottom/right with 128.

    The short side is ``round(224 / ratio)`` (Python's half-to-even round);
    float32 in and out, no rounding.
    """
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    tall = height >= width
    side = tf.constant(long_side, tf.float64)
    new_height = tf.where(tall, side, tf.round(long_side / (width / height)))
    new_width = tf.where(tall, tf.round(long_side / (height / width)), side)
    size = tf.cast(tf.stack([new_height, new_width]), tf.int32)
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear", antialias=False)
    padding = [[0, long_side - size[0]], [0, long_side - size[1]], [0, 0]]
    return tf.pad(resized, padding, constant_values=fill)


def gaussian_blur3(image: tf.Tensor) -> tf.Tensor:
    """``cv2.GaussianBlur(image, (3, 3), 0)``: separable (0.25, 0.5, 0.25), reflect-101 border."""
    k0, k1, k2 = BLUR_KERNEL
    padded = tf.pad(image, [[1, 1], [1, 1], [0, 0]], mode="REFLECT")
    rows = k0 * padded[:-2] + k1 * padded[1:-1] + k2 * padded[2:]
    return k0 * rows[:, :-2] + k1 * rows[:, 1:-1] + k2 * rows[:, 2:]


def chexpert_image(encoded: tf.Tensor, seed=None) -> tf.Tensor:
    """float32 224 x 224 x 3 network input from an encoded radiograph; RandomAffine when ``seed`` is given."""
    gray = pre_resize(decode_gray(encoded))
    if seed is not None:
        gray = random_affine(gray, seed)
    image = resize_long_side_pad(tf.cast(equalize_hist(gray), tf.float32))
    image = (gaussian_blur3(image) - PIXEL_MEAN) / PIXEL_STD
    image = tf.tile(image, [1, 1, 3])
    image.set_shape([LONG_SIDE, LONG_SIDE, 3])
    return image


def chexpert_dataset(
    split: str,
    data_dir: str | os.PathLike | None,
    *,
    training: bool | None = None,
    batch_size: int = CHEXPERT_BATCH,
    seed: int = 0,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    config: str | chexpert_tfds.ChexpertConfig = "rows_1234_50k",
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
) -> tf.data.Dataset:
    """Batches (float32 N x 224 x 224 x 3, float32 N x 5 labels) of CheXpert ``split``.

    ``training`` (default: ``split == "train"``): duplicated positives,
    RandomAffine, shuffled with ``seed``, repeated without end, full batches.
    Otherwise (the official "dev" mode, also the eval-mode pass over train):
    one pass in split order, no duplication, no augmentation.
    """
    training = split == "train" if training is None else training
    records = chexpert_records(split, data_dir, duplicate_positives=training, shuffle_files=training, seed=seed,
                               config=config, manual_dir=manual_dir, prepare=prepare)
    if not training:
        ds = records.map(lambda encoded, labels, row: (chexpert_image(encoded), labels),
                         num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    ds = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat().enumerate()

    def prepare_train(index, element):
        encoded, labels, _ = element
        return chexpert_image(encoded, seed=element_seed(seed, index)), labels

    ds = ds.map(prepare_train, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def chexpert_stream(
    data_dir: str | os.PathLike | None,
    batch_size: int = CHEXPERT_BATCH,
    seed: int = 0,
    *,
    eval_split: str = "test",
    eval_batch_size: int | None = None,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    config: str | chexpert_tfds.ChexpertConfig = "rows_1234_50k",
    manual_dir: str | os.PathLike | None = None,
) -> StreamData:
    """Training stream (``make_train(s)`` seeded by ``derive_seed(seed, s)``) and the ``eval_split`` pass.

    ``n_train`` counts the duplicated positives (the official epoch length).
    The paper selects models on "test" (default); "validation" is its "dev".
    """
    kwargs = dict(config=config, manual_dir=manual_dir)

    def make_train(stream_seed: int) -> tf.data.Dataset:
        return chexpert_dataset("train", data_dir, training=True, batch_size=batch_size,
                                seed=_stream_seed(seed, stream_seed), shuffle_buffer=shuffle_buffer, **kwargs)

    validation = chexpert_dataset(eval_split, data_dir, training=False, batch_size=eval_batch_size or batch_size,
                                  **kwargs)
    return StreamData(make_train, validation, chexpert_size("train", data_dir, **kwargs))


def chexpert_pipeline_config(training: bool, batch_size: int = CHEXPERT_BATCH) -> dict:
    """JSON-ready record of the CheXpert pipeline settings for config.json."""
    return {
        "dataset": f"{CHEXPERT}/rows_1234_50k",
        "split": "train = rows 0-50k, test = rows 50k-100k of train.csv after RandomState(1234).permutation; "
                 "validation = valid.csv",
        "labels": list(CHEXPERT_LABELS),
        "uncertain": {name: int(name in UNCERTAIN_ONES) for name in CHEXPERT_LABELS},
        "blank": 0,
        "duplicated_positives": list(DUPLICATED_POSITIVES) if training else [],
        **{key: value for key, value in chexpert_settings(training).items() if key != "image_size"},
        "batch_size": batch_size,
        "order": "shuffled, repeated" if training else "split order, one pass",
    }


# --------------------------------------------------------------------------- the paper scale's source and targets

def _train_eval(dataset: tf.data.Dataset, batch_size: int):
    """``k -> the first k examples of an evaluation-mode pass``, re-batched."""
    return lambda k: dataset.unbatch().take(k).batch(batch_size)


def imagenet_dataset(split: str, data_dir: str | os.PathLike | None, *, training: bool, batch_size: int,
                     seed: int = 0, shuffle_buffer: int = SHUFFLE_BUFFER) -> tf.data.Dataset:
    """ImageNet (tfds ``imagenet2012``, manual download) as the official ``libdata/torchvision.py``.

    Training: RandomResizedCrop(224) + horizontal flip, shuffled, repeated;
    evaluation: Resize(256) + CenterCrop(224); ImageNet mean/std normalisation.
    """
    builder = catalog_builder("imagenet2012", data_dir)
    check_split(builder, split)
    records = builder.as_dataset(split=split, shuffle_files=training, decoders={"image": tfds.decode.SkipDecoding()},
                                 read_config=tfds.ReadConfig(shuffle_seed=seed))
    records = records.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int64)))
    if not training:
        return records.map(lambda encoded, label: (imagenet_normalize(eval_resize_crop(decode_rgb(encoded))), label),
                           num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def prepare_train(index, element):
        encoded, label = element
        drawn = element_seed(seed, index)
        image = random_resized_crop(decode_rgb(encoded), tf.random.experimental.stateless_fold_in(drawn, 0))
        image = tf.image.stateless_random_flip_left_right(
            image, seed=tf.random.experimental.stateless_fold_in(drawn, 1))
        return imagenet_normalize(image), label

    ds = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat().enumerate()
    return ds.map(prepare_train, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE)


def source_data(scale, data_dir: str | os.PathLike | None) -> tuple[StreamData, dict]:
    """P's data at paper scale: ImageNet train (augmented) and validation (the official pre-training input)."""
    batch = scale.source.batch_size

    def make_train(stream_seed: int) -> tf.data.Dataset:
        return imagenet_dataset("train", data_dir, training=True, batch_size=batch, seed=_stream_seed(0, stream_seed))

    validation = imagenet_dataset("validation", data_dir, training=False, batch_size=batch)
    n_train = catalog_builder("imagenet2012", data_dir).info.splits["train"].num_examples
    settings = imagenet_settings(augment=True)
    config = dict(dataset="imagenet2012", train_transform=settings["train_transform"],
                  eval_transform=EVAL_RESIZE_CROP, normalize=IMAGENET_NORMALIZE)
    return StreamData(make_train, validation, n_train), config


def target_data(scale, target, data_dir: str | os.PathLike | None, block: str | None = None,
                shuffle_seed: int = 0) -> tuple[StreamData, dict]:
    """A paper-scale target: DomainNet (augmented, or "noaug" + the shuffle for block-shuffle runs) or CheXpert.

    ``train_eval`` of the stream is the evaluation-mode pass over the
    training list (the "average training accuracy" of Figures 3 and 7).
    """
    batch = scale.schedule_for(target, "P-T").batch_size
    if target.name == "chexpert":
        stream = chexpert_stream(data_dir, batch_size=batch)
        stream.train_eval = _train_eval(chexpert_dataset("train", data_dir, training=False, batch_size=batch), batch)
        return stream, chexpert_pipeline_config(True, batch)
    transform = None if block is None else image_shuffle(block, shuffle_seed)
    augment = block is None
    stream = domainnet_stream(target.name, data_dir, batch_size=batch, augment=augment, shuffle_transform=transform)
    stream.train_eval = _train_eval(domainnet_dataset(target.name, "train", data_dir, training=False,
                                                      batch_size=batch, shuffle_transform=transform), batch)
    return stream, domainnet_pipeline_config(target.name, augment=augment, batch_size=batch,
                                             shuffle_transform=transform)
