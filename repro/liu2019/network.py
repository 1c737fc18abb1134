"""ResNet-50 + ``CLS`` head of Liu et al. 2019 (the official ResNet scripts ``fine-tune.py``, ``loss_landscape.py``,
``variation_of_loss.py``; papers/liu2019/README.md).

The official ``fine-tune.py`` / ``loss_landscape.py`` / ``variation_of_loss.py``
share one model: torchvision ``resnet50`` without its ``fc`` (GAP features,
2048-d) followed by the head ``CLS``::

    cls_bottleneck  Dense(2048 -> 256)          (torch ``cls.bottleneck``)
    cls_bn          BatchNorm1d(256)            (torch eps 1e-5, momentum 0.1)
    cls_relu        LeakyReLU(0.2)
    cls_fc          Dense(256 -> num_classes)   (torch ``cls.fc``): logits

The code's final ``Softmax`` and its hand-written cross-entropy
``-sum y log(p + 1e-20)`` live in the loss, not here. The head layers carry
a ``cls_`` prefix (torch module path ``cls.bottleneck`` ...) so they cannot be
mistaken for the ResNet bottleneck blocks or for :func:`repro.models.resnet.resnet`'s
``fc``.

Backbone: the torchvision-style ResNet v1.5 of :mod:`repro.models.resnet`
(stride in the 3x3 conv, bias-free convs, BN ``epsilon=1e-5,
momentum=0.9``), built by the same code as ``resnet(include_top=False)``
with the same per-layer seeds, so ``liu_resnet50(seed=s)``'s backbone equals
``resnet(seed=s, include_top=False)``. The head continues the seed stream
after the backbone. Head init is PyTorch's default: both Dense layers
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for kernel and bias, BN ``beta=0``
and ``gamma=1`` (``head_bn_gamma='ones'``, PyTorch >= 1.2) or
``gamma ~ U(0, 1)`` (``head_bn_gamma='uniform'``, the default of PyTorch
<= 1.1, the 0.3/0.4 era of the released code; the torchvision backbone sets
its BN gammas to 1 explicitly and is unaffected).

Weights, never downloaded:

- ``weights``: a ``.weights.h5`` of the whole Liu model (backbone + head),
  e.g. a fine-tuned checkpoint;
- ``backbone_weights``: a ``.weights.h5`` saved from
  ``resnet(..., include_top=False)`` with the same width/stem/blocks (e.g.
  torchvision ImageNet weights converted into that model and saved with
  ``save_weights``); it is loaded into :func:`liu_backbone`, i.e. the layers
  up to ``avgpool``, and the head keeps its fresh init -- the code's
  "pretrained backbone + new ``CLS``". Keras ``.weights.h5`` files key the
  layers by class and position (``layers/conv2d_3``), not by layer name; the
  backbone submodel has exactly the layers of ``resnet(include_top=False)``
  in the same order, which is why the file matches. A file saved from
  ``resnet(include_top=True)`` loads too: its ``fc`` entry (the only
  ``Dense``) has no counterpart and is ignored by Keras. A backbone file
  given as ``weights`` (whole model) fails (the head has no entries).
  Without either, the backbone is random: the code's scratch arm (an invalid
  ``model_path`` there).

Input normalisation: the official ``ResNetFc.forward`` normalises [0, 1]
images by the ImageNet mean/std inside the model; here the data pipeline
does it (as for every model of :mod:`repro.models.resnet`).

Probes: :func:`liu_conv_kernels` lists the 53 conv kernels of the weight
deviation ``sum_l ||W_l(t) - W_l(0)||_F`` (``fine-tune.py``),
:func:`liu_probe_layers` the single tensors of the loss landscape and of
the variation of loss (``loss_landscape.py``, ``variation_of_loss.py``),
translated by :func:`torch_conv_path`.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

import keras

from repro.errors import BadArgument
from repro.models.batchnorm import TorchBatchNormalization
from repro.models.inits import Seeds, torch_default
from repro.models.resnet import (
    _BLOCK_LAYER,
    BN_EPSILON,
    BN_MOMENTUM,
    RESNET50_BLOCKS,
    STEMS,
    backbone_features,
    load_weights,
)

BOTTLENECK_DIM = 256
LEAKY_SLOPE = 0.2
HEAD_LAYERS: tuple[str, ...] = ("cls_bottleneck", "cls_bn", "cls_fc")
HEAD_BN_GAMMAS: tuple[str, ...] = ("ones", "uniform")
FEATURES = "avgpool"
#: torchvision parameter names of the tensors the official scripts probe.
TORCH_PROBES: dict[str, str] = {
    "landscape": "layer4.1.conv3.weight",  # loss_landscape.py, shape (2048, 512, 1, 1)
    "variation_of_loss": "layer3.0.conv1.weight",  # variation_of_loss.py, shape (256, 512, 1, 1)
}

_CONV_ORDER = {"conv1": 1, "conv2": 2, "conv3": 3, "downsample_conv": 4}  # torch Bottleneck order
_TORCH_BLOCK_CONV = re.compile(r"^layer(\d+)\.(\d+)\.(conv[123]|downsample\.0)\.weight$")


def liu_resnet50(
    num_classes: int,
    input_shape: Sequence[int] = (224, 224, 3),
    weights: str | os.PathLike | None = None,
    seed: int | None = None,
    width: int = 64,
    stem: str = "imagenet",
    blocks: Sequence[int] = RESNET50_BLOCKS,
    backbone_weights: str | os.PathLike | None = None,
    head_bn_gamma: str = "ones",
    name: str = "liu_resnet50",
) -> keras.Model:
    """torchvision-style ResNet-50 backbone + Liu's ``CLS`` head, returning logits.

    ``width``/``stem``/``blocks`` are those of :func:`repro.models.resnet.resnet`
    (the bottleneck input is ``4 * width * 2**(len(blocks) - 1)``, 2048 at
    ResNet-50). ``backbone_weights`` loads an ``include_top=False`` ResNet
    file into the backbone, ``weights`` a whole-model file; give at most one.
    """
    if stem not in STEMS:
        raise BadArgument(f"stem {stem!r} is not one of {', '.join(STEMS)}")
    if width < 1 or num_classes < 1 or not blocks or min(blocks) < 1:
        raise BadArgument(f"width={width}, num_classes={num_classes}, blocks={tuple(blocks)} must all be positive")
    if head_bn_gamma not in HEAD_BN_GAMMAS:
        raise BadArgument(f"head_bn_gamma {head_bn_gamma!r} is not one of {', '.join(HEAD_BN_GAMMAS)}")
    if weights is not None and backbone_weights is not None:
        raise BadArgument("give weights (whole model) or backbone_weights (backbone only), not both")
    seeds = Seeds(seed)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x, channels = backbone_features(inputs, width, stem, blocks, seeds)
    model = keras.Model(inputs, _cls_head(x, channels, num_classes, seeds, head_bn_gamma), name=name)
    if backbone_weights is not None:
        load_weights(liu_backbone(model), backbone_weights)
    if weights is not None:
        load_weights(model, weights)
    return model


def _cls_head(x, channels: int, num_classes: int, seeds: Seeds, head_bn_gamma: str = "ones"):
    """The ``CLS`` head on features ``x`` of width ``channels``: logits (module docstring)."""
    x = keras.layers.Dense(BOTTLENECK_DIM, name="cls_bottleneck", **torch_default(channels, seeds))(x)
    gamma_seed = seeds.next()  # drawn for both choices: cls_fc's init does not depend on head_bn_gamma
    gamma = "ones" if head_bn_gamma == "ones" else keras.initializers.RandomUniform(0.0, 1.0, seed=gamma_seed)
    x = TorchBatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, gamma_initializer=gamma, name="cls_bn")(x)
    x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="cls_relu")(x)
    return keras.layers.Dense(num_classes, name="cls_fc", **torch_default(BOTTLENECK_DIM, seeds))(x)


def with_fresh_head(model: keras.Model, num_classes: int, seed: int) -> keras.Model:
    """``model``'s backbone (its variables, shared) under a freshly initialised ``CLS`` head of ``num_classes``
    outputs, as ``loss_landscape.py`` builds ``cls = CLS(2048, 102, bottle_neck_dim=256)`` on the loaded ResNet."""
    features = liu_backbone(model).output
    head = _cls_head(features, int(features.shape[-1]), num_classes, Seeds(seed))
    return keras.Model(model.input, head, name=f"{model.name}_fresh_head")


def liu_backbone(model: keras.Model) -> keras.Model:
    """The layers of ``model`` up to ``avgpool`` as a model sharing its variables.

    It has the layers of ``resnet(include_top=False)`` in the same order, so
    ``repro.models.resnet.load_weights(liu_backbone(model), path)`` loads a
    backbone file saved from such a model (see the module docstring), and
    ``liu_backbone(model).save_weights(path)`` writes one.
    """
    try:
        features = model.get_layer(FEATURES).output
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no {FEATURES!r} layer: not built by liu_resnet50") from error
    return keras.Model(model.input, features, name=f"{model.name}_backbone")


def torch_conv_path(name: str) -> str:
    """Keras variable path of a torchvision ResNet conv weight, e.g. ``layer4.1.conv3.weight``.

    ``conv1.weight`` -> ``stem_conv/kernel``; ``layer<s>.<b>.conv<k>.weight``
    -> ``layer<s>_block<b>_conv<k>/kernel``; ``layer<s>.<b>.downsample.0.weight``
    -> ``layer<s>_block<b>_downsample_conv/kernel``. Keras kernels are HWIO,
    torch weights OIHW (Frobenius norms agree; per-output-filter operations
    use the last Keras axis).
    """
    if name == "conv1.weight":
        return "stem_conv/kernel"
    match = _TORCH_BLOCK_CONV.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a torchvision ResNet conv weight")
    stage, block, conv = match.groups()
    conv = "downsample_conv" if conv == "downsample.0" else conv
    return f"layer{stage}_block{block}_{conv}/kernel"


def liu_probe_layers() -> dict[str, str]:
    """Keras variable paths of the tensors the official scripts probe (:data:`TORCH_PROBES`).

    ``'landscape'``: ``layer4_block1_conv3/kernel`` (torch ``layer4.1.conv3.weight``,
    the only tensor ``loss_landscape.py`` perturbs); ``'variation_of_loss'``:
    ``layer3_block0_conv1/kernel`` (torch ``layer3.0.conv1.weight``, the only
    gradient ``variation_of_loss.py`` follows; keras.applications would call
    it ``conv4_block1_1_conv``).
    """
    return {probe: torch_conv_path(name) for probe, name in TORCH_PROBES.items()}


def liu_conv_kernels(model: keras.Model) -> list[str]:
    """Variable paths of the backbone's conv kernels in torchvision order: the deviation's tensors.

    ``fine-tune.py`` sums ``||W_l(t) - W_l(0)||_F`` over every third entry
    of the backbone's ``named_parameters()``, i.e. the 53 conv weights of
    ResNet-50 (stem 1 + 16 bottlenecks x 3 + 4 downsample convs), without BN
    and without the head. The order is torch's: stem, then per bottleneck
    ``conv1, conv2, conv3, downsample``.
    """
    keyed = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        if layer.name == "stem_conv":
            keyed.append(((0, 0, 0), layer.kernel.path))
            continue
        match = _BLOCK_LAYER.match(layer.name)
        if match and match.group(3) in _CONV_ORDER:
            key = (int(match.group(1)), int(match.group(2)), _CONV_ORDER[match.group(3)])
            keyed.append((key, layer.kernel.path))
    if (0, 0, 0) not in (key for key, _ in keyed):
        raise ValueError(f"model {model.name!r} has no 'stem_conv' layer: not built by repro.models.resnet")
    return [path for _, path in sorted(keyed)]


def imagenet_backbone(variable: str = "REPRO_LIU_RESNET50_WEIGHTS") -> str:
    """Path of the ImageNet ResNet-50 backbone weights (never downloaded), from the environment variable."""
    path = os.environ.get(variable)
    if not path or not os.path.isfile(path):
        raise BadArgument(
            f"the pretrained ResNet-50 arm needs ImageNet weights: set {variable} to a Keras .weights.h5 "
            "of repro.models.resnet.resnet(include_top=False) (e.g. torchvision's ImageNet weights converted; "
            "see repro.liu2019.network)" + (f"; {path!r} does not exist" if path else ""))
    return path
