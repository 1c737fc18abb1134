"""Torchvision-style bottleneck ResNet ("v1.5") in Keras, with its map to torchvision module names.

The architecture follows torchvision ``resnet50`` (He et al. 2016; the
"v1.5" variant), the ResNet-50 that PyTorch ImageNet training code builds:

- bottleneck ``1x1 -> 3x3 -> 1x1`` with expansion 4; the stride-2 of a
  stage's first block sits in the **3x3** conv (``conv2``);
- convs have **no bias**; each conv is followed by BatchNorm
  (torch ``eps=1e-5, momentum=0.1``, i.e. Keras ``epsilon=1e-5,
  momentum=0.9``), whose running variance takes the unbiased batch variance
  as torch's does (:mod:`repro.models.batchnorm`);
- the first block of each stage has a projection shortcut
  (``1x1`` conv with the block's stride + BatchNorm), named ``downsample``;
- stride-2 convs and the stem max-pool pad symmetrically like torch
  (``ZeroPadding2D`` + ``valid``), not with Keras' asymmetric ``same``;
- init as torchvision: convs ``N(0, 2 / (k_h k_w c_out))`` (Kaiming normal,
  fan-out), BN ``gamma=1, beta=0``, the classifier
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for kernel and bias.

At ``width=64``, 1000 classes and a 224x224x3 input the trainable parameter
count is torchvision's 25,557,032 (BN moving statistics are non-trainable
variables in Keras and buffers in torch).

How it differs from ``keras.applications.ResNet50`` (ResNet "v1"):

- keras.applications puts the stride-2 in the **first 1x1** conv of a stage's
  first block; here it is in the 3x3 conv;
- its convs carry biases (25,583,592 trainable parameters, 26,560 more than
  torchvision) and its BN uses ``epsilon=1.001e-5, momentum=0.99``;
- its layer names are ``conv1_conv``, ``conv2_block1_1_conv`` ...
  ``conv5_block3_3_conv``, ``conv2_block1_0_conv`` (shortcut),
  ``predictions``; here they follow torchvision's module tree:
  ``stem_conv``, ``layer1_block0_conv1`` ... ``layer4_block2_conv3``,
  ``layer1_block0_downsample_conv``, ``fc`` (stage 1..4, block 0-based);
- its ``preprocess_input`` is Caffe-style BGR mean subtraction; this model
  takes whatever normalisation the caller's data pipeline applies;
- it can download ImageNet weights; this module never downloads: weights
  come from a local ``.weights.h5`` file or from the seeded random init.

The ``'cifar'`` stem (3x3 stride-1 conv, no max-pool) is the usual
adaptation to 32x32 inputs; the ``'imagenet'`` stem is torchvision's
(7x7 stride-2 conv, 3x3 stride-2 max-pool). A protocol may fine-tune on
32x32 CIFAR with the ImageNet stem; the mini scale uses the CIFAR stem.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

import keras

from repro.errors import BadArgument, CorruptCheckpoint
from repro.models.batchnorm import TorchBatchNormalization
from repro.models.inits import Seeds, torch_default

RESNET50_BLOCKS: tuple[int, ...] = (3, 4, 6, 3)
STEMS: tuple[str, ...] = ("imagenet", "cifar")
EXPANSION = 4
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

_BLOCK_LAYER = re.compile(r"^layer(\d+)_block(\d+)_(.+)$")




def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str, bn_name: str, seeds: Seeds
) -> keras.KerasTensor:
    """Bias-free conv (torch padding ``kernel // 2``) followed by BatchNorm."""
    padding = "same"
    if stride > 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(
            2.0, mode="fan_out", distribution="untruncated_normal", seed=seeds.next()
        ),
        name=name,
    )(x)
    return TorchBatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)


def _bottleneck(
    x: keras.KerasTensor, planes: int, stride: int, downsample: bool, prefix: str, seeds: Seeds
) -> keras.KerasTensor:
    """torchvision ``Bottleneck``: relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x)))))) + shortcut(x))."""
    out = _conv_bn(x, planes, 1, 1, f"{prefix}_conv1", f"{prefix}_bn1", seeds)
    out = keras.layers.ReLU(name=f"{prefix}_relu1")(out)
    out = _conv_bn(out, planes, 3, stride, f"{prefix}_conv2", f"{prefix}_bn2", seeds)
    out = keras.layers.ReLU(name=f"{prefix}_relu2")(out)
    out = _conv_bn(out, planes * EXPANSION, 1, 1, f"{prefix}_conv3", f"{prefix}_bn3", seeds)
    shortcut = x
    if downsample:
        shortcut = _conv_bn(
            x, planes * EXPANSION, 1, stride, f"{prefix}_downsample_conv", f"{prefix}_downsample_bn", seeds
        )
    out = keras.layers.Add(name=f"{prefix}_add")([out, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(out)


def bottleneck_stages(x: keras.KerasTensor, width: int, blocks: Sequence[int], bottleneck) -> tuple:
    """The four stages of a bottleneck ResNet: ``(output, its channels)``.

    Stage ``s`` (1-based) has ``blocks[s-1]`` calls
    ``bottleneck(x, planes, stride, downsample, prefix)`` with
    ``planes = width * 2**(s-1)``; the first block of stages 2.. has stride 2,
    and the first block of a stage gets a projection shortcut when the
    resolution or the width changes; prefixes are ``layer<s>_block<b>``.
    """
    channels = width
    for stage, count in enumerate(blocks, start=1):
        planes = width * 2 ** (stage - 1)
        for block in range(count):
            stride = 2 if stage > 1 and block == 0 else 1
            downsample = block == 0 and (stride != 1 or channels != planes * EXPANSION)
            x = bottleneck(x, planes, stride, downsample, f"layer{stage}_block{block}")
            channels = planes * EXPANSION
    return x, channels


def resnet(
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    width: int = 64,
    stem: str = "imagenet",
    blocks: Sequence[int] = RESNET50_BLOCKS,
    weights: str | os.PathLike | None = None,
    seed: int | None = None,
    name: str = "resnet50",
    include_top: bool = True,
) -> keras.Model:
    """Bottleneck ResNet v1.5 returning logits (no softmax).

    Stage ``s`` (1..4) has ``blocks[s-1]`` bottlenecks of inner width
    ``width * 2**(s-1)`` and output width ``4 * width * 2**(s-1)``; stages
    2..4 halve the resolution in the 3x3 conv of their first block. The head
    is ``logits = W . GAP(h) + b``. ``width=64, blocks=(3, 4, 6, 3)`` is
    ResNet-50 (He et al. 2016); :mod:`repro.models.fixup_resnet` is its
    variant without BatchNorm.

    ``stem='imagenet'``: 7x7/2 conv + 3x3/2 max-pool (224 inputs);
    ``stem='cifar'``: 3x3/1 conv, no pool (32x32 inputs). ``weights`` is a
    local Keras ``.weights.h5`` file to load after building, or ``None`` for
    the random init, seeded by ``seed`` (per-layer seeds drawn from it).

    ``include_top=False`` drops the classifier: the output is the GAP
    features ``avgpool`` (``4 * width * 2**(len(blocks) - 1)`` channels,
    2048 for ResNet-50), there is no ``fc`` layer and ``num_classes`` is
    unused. The backbone's init is the same as with the top (the ``fc``
    seeds are drawn after every conv's), and a ``.weights.h5`` saved from
    such a model loads into the backbone of a model built on it (a backbone
    with a head of its own). Module maps that place the classifier need the
    ``fc`` layer and raise ``ValueError`` on a model without it.
    """
    if stem not in STEMS:
        raise BadArgument(f"stem {stem!r} is not one of {', '.join(STEMS)}")
    if width < 1 or num_classes < 1 or not blocks or min(blocks) < 1:
        raise BadArgument(f"width={width}, num_classes={num_classes}, blocks={tuple(blocks)} must all be positive")
    seeds = Seeds(seed)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x, channels = backbone_features(inputs, width, stem, blocks, seeds)
    if not include_top:
        model = keras.Model(inputs, x, name=name)
    else:
        logits = keras.layers.Dense(num_classes, name="fc", **torch_default(channels, seeds))(x)
        model = keras.Model(inputs, logits, name=name)
    if weights is not None:
        load_weights(model, weights)
    return model


def backbone_features(
    inputs: keras.KerasTensor, width: int, stem: str, blocks: Sequence[int], seeds: Seeds
) -> tuple[keras.KerasTensor, int]:
    """Stem, the four bottleneck stages and GAP (layer ``avgpool``): ``(features, channels)``.

    The layers of :func:`resnet` below its ``fc``; their initializer seeds are
    drawn from ``seeds`` in network order, so a head built after it continues
    the same seed stream.
    """
    if stem == "imagenet":
        x = _conv_bn(inputs, width, 7, 2, "stem_conv", "stem_bn", seeds)
        x = keras.layers.ReLU(name="stem_relu")(x)
        # Zero padding equals torch's -inf padding here: the input is post-ReLU (>= 0).
        x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    else:
        x = _conv_bn(inputs, width, 3, 1, "stem_conv", "stem_bn", seeds)
        x = keras.layers.ReLU(name="stem_relu")(x)
    x, channels = bottleneck_stages(x, width, blocks, lambda x, *args: _bottleneck(x, *args, seeds))
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    return x, channels


def load_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a local Keras ``.weights.h5`` file into ``model`` (every variable, BN statistics included)."""
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise BadArgument(f"weights {path!r} must be a Keras '.weights.h5' file")
    if not os.path.isfile(path):
        raise BadArgument(f"weights file {path!r} does not exist")
    try:
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as error:
        raise CorruptCheckpoint(f"cannot load {path!r} into {model.name!r}: {error}") from error


def torch_module(layer_name: str) -> str | None:
    """torchvision module of a layer: 'conv1', 'layer<s>.<b>', 'fc', or None (input, pooling).

    Fixup's scalar layers follow their module: ``stem_conv_bias`` is conv1,
    ``fc_bias_in`` (the bias added before the classifier) is fc.
    """
    if layer_name.startswith("stem_conv") or layer_name.startswith("stem_bn"):
        return "conv1"
    if layer_name == "fc" or layer_name.startswith("fc_"):
        return "fc"
    match = _BLOCK_LAYER.match(layer_name)
    if match:
        return f"layer{match.group(1)}.{match.group(2)}"
    return None
