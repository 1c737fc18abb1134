"""torchvision's image transforms in TensorFlow, bit for bit where the papers' official code depends on them.

Every paper-scale pipeline (ImageNet, DomainNet, CheXpert, CUB, Food-101,
the twelve targets of a fine-tuning benchmark) composes these: decoding, PIL's
bilinear resize, ``Resize(size)`` by the short side, ``CenterCrop``,
``RandomResizedCrop`` (torchvision 0.5's parameter draw), and the stateless
per-element seed of a stream, so an augmented pipeline is a pure function
of (seed, element index).
"""
from __future__ import annotations

import math

import tensorflow as tf

from repro.data.imagenet_stats import IMAGENET_MEAN, IMAGENET_STD

RESIZE = 256
CROP = 224
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
CROP_ATTEMPTS = 10


def decode_rgb(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG/PNG/... -> uint8 H x W x 3."""
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def pil_resize(image: tf.Tensor, size) -> tf.Tensor:
    """PIL's bilinear resize (antialiased when shrinking) rounded to 0..255 integers, as float32."""
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear", antialias=True)
    return tf.clip_by_value(tf.round(resized), 0.0, 255.0)


def resize_short_side(image: tf.Tensor, size: int = RESIZE) -> tf.Tensor:
    """torchvision 0.5 ``Resize(size)``: short side ``size``, long side ``int(size * long / short)``."""
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    portrait = width < height
    side = tf.constant(size, tf.float64)
    new_height = tf.where(portrait, tf.floor(size * height / width), side)
    new_width = tf.where(portrait, side, tf.floor(size * width / height))
    return pil_resize(image, tf.cast(tf.stack([new_height, new_width]), tf.int32))


def center_crop(image: tf.Tensor, size: int = CROP) -> tf.Tensor:
    """torchvision 0.5 ``CenterCrop(size)``: offsets ``round((h - size) / 2)``, half to even."""
    shape = tf.shape(image)
    top = tf.cast(tf.round(tf.cast(shape[0] - size, tf.float64) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(shape[1] - size, tf.float64) / 2.0), tf.int32)
    return image[top : top + size, left : left + size, :]


def random_resized_crop_box(height, width, seed, scale=CROP_SCALE, ratio=CROP_RATIO):
    """(top, left, crop_height, crop_width) of torchvision 0.5 ``RandomResizedCrop.get_params``.

    Ten attempts of area fraction ~ U(scale) and log aspect ~ U(log ratio),
    the first that fits wins (offsets uniform); otherwise the central crop
    of the image clamped to the ratio range. ``seed`` is a stateless seed.
    """
    h = tf.cast(height, tf.float64)
    w = tf.cast(width, tf.float64)
    draws = tf.random.stateless_uniform([2, CROP_ATTEMPTS], seed=seed, dtype=tf.float64)
    target_area = h * w * (scale[0] + (scale[1] - scale[0]) * draws[0])
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(log_low + (log_high - log_low) * draws[1])
    crop_w = tf.round(tf.sqrt(target_area * aspect))
    crop_h = tf.round(tf.sqrt(target_area / aspect))
    fits = (crop_w > 0) & (crop_w <= w) & (crop_h > 0) & (crop_h <= h)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    # central-crop fallback
    in_ratio = w / h
    fallback_w = tf.where(in_ratio > ratio[1], tf.round(h * ratio[1]), w)
    fallback_h = tf.where(in_ratio < ratio[0], tf.round(w / ratio[0]), h)
    found = tf.reduce_any(fits)
    crop_h = tf.where(found, crop_h[first], fallback_h)
    crop_w = tf.where(found, crop_w[first], fallback_w)
    offsets = tf.random.stateless_uniform([2], seed=tf.random.experimental.stateless_fold_in(seed, 1),
                                          dtype=tf.float64)
    top = tf.where(found, tf.floor(offsets[0] * (h - crop_h + 1)), tf.floor((h - crop_h) / 2))
    left = tf.where(found, tf.floor(offsets[1] * (w - crop_w + 1)), tf.floor((w - crop_w) / 2))
    return tuple(tf.cast(v, tf.int32) for v in (top, left, crop_h, crop_w))


def random_resized_crop(image: tf.Tensor, seed, size: int = CROP) -> tf.Tensor:
    """torchvision 0.5 ``RandomResizedCrop(size)`` of a uint8 image, as 0..255 integer-valued float32."""
    shape = tf.shape(image)
    top, left, crop_h, crop_w = random_resized_crop_box(shape[0], shape[1], seed)
    crop = image[top : top + crop_h, left : left + crop_w, :]
    return pil_resize(crop, (size, size))


def element_seed(seed: int, index: tf.Tensor) -> tf.Tensor:
    """The stateless seed of the ``index``-th element of a stream seeded by ``seed``."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])


def imagenet_normalize(image: tf.Tensor) -> tf.Tensor:
    """ToTensor + Normalize: ``(x / 255 - mean) / std`` per channel with ImageNet's statistics."""
    mean = tf.constant(IMAGENET_MEAN, tf.float32)
    std = tf.constant(IMAGENET_STD, tf.float32)
    return (tf.cast(image, tf.float32) / 255.0 - mean) / std
