"""Fixup ResNet without BatchNorm, a Keras port of a PyTorch reference implementation.

The reference is ``third_party/fixup_resnet/fixup_resnet_imagenet.py`` of
google-research/understanding-transfer-learning, after
Zhang, Dauphin and Ma 2019 ("Fixup"). Bottleneck block, with scalar biases
``b`` (init 0) and a scalar ``scale`` (init 1)::

    out = conv1(x + b1a);  out = relu(out + b1b)
    out = conv2(out + b2a);  out = relu(out + b2b)          # stride in the 3x3
    out = conv3(out + b3a) * scale + b3b
    out = relu(out + (downsample(x + b1a) if downsample else x))

Stem ``relu(conv(x) + b) -> maxpool``; head ``fc(GAP(h) + b)``. Convs have no
bias. Initialisation (Fixup, ``m = 3`` layers per branch, ``L`` residual
blocks in the whole network):

- block ``conv1``, ``conv2``: ``N(0, 2 / (c_out k_h k_w) * L^(-1/2))``
  (std ``sqrt(2 / (c_out k_h k_w)) * L^(-1/4)``);
- block ``conv3``: 0, so every residual branch starts as the identity;
- ``downsample`` 1x1 conv: ``N(0, 2 / (c_out k_h k_w))``;
- stem conv and ``fc``: PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
  (the official configs set ``zero_fc_init=False``).

There is no BatchNorm, so interpolating, rewinding or perturbing weights
needs no re-estimation of statistics. Layer names follow the torchvision
module tree of :mod:`repro.models.resnet` (``stem_conv``,
``layer<s>_block<b>_conv<k>``, ``fc``), so variables map onto the torchvision
modules conv1, layer1.0 ... layer4.2, fc (:func:`repro.models.resnet.torch_module`).

``stem='imagenet'`` is the official 7x7/2 conv + 3x3/2 max-pool for 224
inputs; ``stem='mini'`` is a 3x3/1 conv + the same max-pool for 32x32
inputs (16x16 maps in layer1).
"""
from __future__ import annotations

import os
from typing import Sequence

import keras

from repro.errors import BadArgument
from repro.models.inits import Seeds, torch_default, torch_default_kernel
from repro.models.resnet import EXPANSION, RESNET50_BLOCKS, bottleneck_stages, load_weights

STEMS: tuple[str, ...] = ("imagenet", "mini")


@keras.saving.register_keras_serializable(package="repro")
class ScalarBias(keras.layers.Layer):
    """``x + b`` with one learned scalar ``b`` (Fixup's ``bias*``), initialised to 0."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")

    def call(self, x):
        return x + self.bias


@keras.saving.register_keras_serializable(package="repro")
class ScalarScale(keras.layers.Layer):
    """``x * s`` with one learned scalar ``s`` (Fixup's ``scale``), initialised to 1."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x):
        return x * self.scale


def _he_normal(scale: float, seed: int | None) -> keras.initializers.Initializer:
    """``N(0, scale * 2 / (c_out k_h k_w))``: Fixup's fan-out normal init times ``scale``."""
    return keras.initializers.VarianceScaling(2.0 * scale, mode="fan_out", distribution="untruncated_normal", seed=seed)


def _conv(x, filters: int, kernel: int, stride: int, name: str, initializer) -> keras.KerasTensor:
    """Bias-free conv with torch's symmetric padding ``kernel // 2``."""
    padding = "same"
    if stride > 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                               kernel_initializer=initializer, name=name)(x)


def _bottleneck(x, planes: int, stride: int, downsample: bool, prefix: str, n_blocks: int, seeds: Seeds):
    branch_scale = n_blocks ** -0.5  # variance factor: std * L^(-1/4)
    shifted = ScalarBias(name=f"{prefix}_bias1a")(x)
    out = _conv(shifted, planes, 1, 1, f"{prefix}_conv1", _he_normal(branch_scale, seeds.next()))
    out = keras.layers.ReLU(name=f"{prefix}_relu1")(ScalarBias(name=f"{prefix}_bias1b")(out))
    out = ScalarBias(name=f"{prefix}_bias2a")(out)
    out = _conv(out, planes, 3, stride, f"{prefix}_conv2", _he_normal(branch_scale, seeds.next()))
    out = keras.layers.ReLU(name=f"{prefix}_relu2")(ScalarBias(name=f"{prefix}_bias2b")(out))
    out = ScalarBias(name=f"{prefix}_bias3a")(out)
    out = _conv(out, planes * EXPANSION, 1, 1, f"{prefix}_conv3", keras.initializers.Zeros())
    out = ScalarBias(name=f"{prefix}_bias3b")(ScalarScale(name=f"{prefix}_scale")(out))
    shortcut = x
    if downsample:
        shortcut = _conv(shifted, planes * EXPANSION, 1, stride, f"{prefix}_downsample_conv",
                         _he_normal(1.0, seeds.next()))
    out = keras.layers.Add(name=f"{prefix}_add")([out, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(out)


def fixup_resnet(
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    width: int = 64,
    stem: str = "imagenet",
    blocks: Sequence[int] = RESNET50_BLOCKS,
    weights: str | os.PathLike | None = None,
    seed: int | None = None,
    name: str = "fixup_resnet50",
) -> keras.Model:
    """Fixup bottleneck ResNet returning logits; ``width=64, blocks=(3, 4, 6, 3)`` is Fixup ResNet-50.

    Stage ``s`` has inner width ``width * 2**(s-1)`` and output width
    ``4 * width * 2**(s-1)``; stages 2..4 halve the resolution in the 3x3
    conv of their first block. ``weights`` is a local ``.weights.h5`` file,
    or ``None`` for the seeded random init.
    """
    if stem not in STEMS:
        raise BadArgument(f"stem {stem!r} is not one of {', '.join(STEMS)}")
    if width < 1 or num_classes < 1 or not blocks or min(blocks) < 1:
        raise BadArgument(f"width={width}, num_classes={num_classes}, blocks={tuple(blocks)} must all be positive")
    seeds = Seeds(seed)
    n_blocks = int(sum(blocks))
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    kernel, stride = (7, 2) if stem == "imagenet" else (3, 1)
    x = _conv(inputs, width, kernel, stride, "stem_conv", torch_default_kernel(seeds.next()))
    x = keras.layers.ReLU(name="stem_relu")(ScalarBias(name="stem_conv_bias")(x))
    # Zero padding equals torch's -inf padding here: the input is post-ReLU (>= 0).
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    x, channels = bottleneck_stages(x, width, blocks, lambda x, *args: _bottleneck(x, *args, n_blocks, seeds))
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    x = ScalarBias(name="fc_bias_in")(x)
    logits = keras.layers.Dense(num_classes, name="fc", **torch_default(channels, seeds))(x)
    model = keras.Model(inputs, logits, name=name)
    if weights is not None:
        load_weights(model, weights)
    return model


def module_outputs(model: keras.Model) -> dict[str, str]:
    """Paper module -> the layer whose output is that module's output (CKA taps, Table 1).

    ``conv1`` is the stem after its ReLU (before the pool), ``layer<s>`` the
    output of the last block of stage ``s``.
    """
    names = [layer.name for layer in model.layers]
    outputs = {"conv1": "stem_relu"}
    for stage in range(1, 5):
        blocks = [n for n in names if n.startswith(f"layer{stage}_block") and n.endswith("_out")]
        if blocks:
            outputs[f"layer{stage}"] = blocks[-1]
    return outputs
