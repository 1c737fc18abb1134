"""CaffeNet, the 8-weight-layer network of Yosinski et al. 2014 (§2, code prototxts).

Layer order is Caffe's (pool *before* LRN, unlike the original AlexNet)::

    conv1 -> relu -> pool1 (3x3 s2) -> norm1 (LRN 5, 1e-4, 0.75)
    conv2 (group 2, pad 2) -> relu -> pool2 -> norm2
    conv3 (pad 1) -> relu
    conv4 (group 2, pad 1) -> relu
    conv5 (group 2, pad 1) -> relu -> pool5
    fc6 -> relu -> dropout 0.5
    fc7 -> relu -> dropout 0.5
    fc8 (logits; softmax lives in the loss)

The eight weight layers are named ``conv1 ... fc8`` (:data:`WEIGHT_LAYERS`),
which is what :mod:`repro.transfer` copies by position ``n``.

Two presets (:func:`paper_spec`, :func:`mini_spec`) differ only in widths,
conv1 geometry and initialisation; the structure is identical.

* paper: 227x227x3 input, widths 96-256-384-384-256-4096-4096, conv1 11x11
  stride 4; Gaussian init sigma 0.01 (fc6/fc7: 0.005), bias 1 for conv2,
  conv4, conv5, fc6, fc7 and 0 elsewhere -- exactly the prototxt fillers.
* mini: 32x32x1 input, conv1 5x5 stride 2 pad 2 (the paper's conv1 also
  down-samples, by 4), narrower widths, and He-normal init with zero biases (the paper's
  sigma = 0.01 / bias 1 init leaves a mini net at chance; see
  papers/yosinski2014/README.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import repro  # noqa: F401
import keras

from repro.models.layers import CaffeLRN, GroupedConv2D

WEIGHT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


@dataclass(frozen=True)
class ConvSpec:
    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1


@dataclass(frozen=True)
class Init:
    """Initialiser of one weight layer: ``kind`` is 'gaussian' (std) or 'he_normal'."""

    kind: str
    std: float = 0.0
    bias: float = 0.0


@dataclass(frozen=True)
class CaffeNetSpec:
    input_shape: tuple[int, int, int]
    num_classes: int
    conv: tuple[ConvSpec, ConvSpec, ConvSpec, ConvSpec, ConvSpec]
    fc_units: tuple[int, int]
    inits: dict = field(default_factory=dict)  # layer name -> Init
    dropout: float = 0.5
    lrn: tuple[int, float, float] = (5, 1e-4, 0.75)

    def to_config(self) -> dict:
        config = asdict(self)
        config["inits"] = {name: asdict(init) for name, init in self.inits.items()}
        return config


def paper_spec(num_classes: int = 1000) -> CaffeNetSpec:
    """The exact CaffeNet of ``results/half0A/imagenet_train.prototxt`` (Yosinski §2)."""
    sigma = Init("gaussian", 0.01, 0.0)
    sigma_b1 = Init("gaussian", 0.01, 1.0)
    fc_b1 = Init("gaussian", 0.005, 1.0)
    return CaffeNetSpec(
        input_shape=(227, 227, 3),
        num_classes=num_classes,
        conv=(
            ConvSpec(96, 11, stride=4),
            ConvSpec(256, 5, padding=2, groups=2),
            ConvSpec(384, 3, padding=1),
            ConvSpec(384, 3, padding=1, groups=2),
            ConvSpec(256, 3, padding=1, groups=2),
        ),
        fc_units=(4096, 4096),
        inits=dict(conv1=sigma, conv2=sigma_b1, conv3=sigma, conv4=sigma_b1, conv5=sigma_b1,
                   fc6=fc_b1, fc7=fc_b1, fc8=sigma),
    )


def mini_spec(num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 48, 48, 32, 128, 128),
              conv1_stride: int = 2) -> CaffeNetSpec:
    """Mini CaffeNet for 32x32x1 inputs: same 8 weight layers, groups, pools and LRNs.

    conv1 is 5x5, pad 2, stride ``conv1_stride``: with stride 2 the spatial
    pyramid is 32 -> 16 -> 7 -> 7 -> 7 -> 3 -> 1 (pool5), the paper's
    227 -> 55 -> 27 -> 13 -> 13 -> 13 -> 6 with conv1's down-sampling kept.
    """
    c1, c2, c3, c4, c5, f6, f7 = widths
    he = Init("he_normal")
    return CaffeNetSpec(
        input_shape=(32, 32, 1),
        num_classes=num_classes,
        conv=(
            ConvSpec(c1, 5, stride=conv1_stride, padding=2),
            ConvSpec(c2, 5, padding=2, groups=2),
            ConvSpec(c3, 3, padding=1),
            ConvSpec(c4, 3, padding=1, groups=2),
            ConvSpec(c5, 3, padding=1, groups=2),
        ),
        fc_units=(f6, f7),
        inits=dict(conv1=he, conv2=he, conv3=he, conv4=he, conv5=he, fc6=he, fc7=he,
                   fc8=Init("gaussian", 0.01, 0.0)),
    )


def initializers(init: Init, seed: int) -> tuple[keras.initializers.Initializer, keras.initializers.Initializer]:
    """Kernel and bias initialisers of one layer, seeded for reproducibility."""
    if init.kind == "gaussian":
        kernel = keras.initializers.RandomNormal(mean=0.0, stddev=init.std, seed=seed)
    elif init.kind == "he_normal":
        kernel = keras.initializers.HeNormal(seed=seed)
    else:
        raise ValueError(f"unknown init kind {init.kind!r}")
    return kernel, keras.initializers.Constant(init.bias)


def build_caffenet(spec: CaffeNetSpec, seed: int = 0, name: str = "caffenet") -> keras.Model:
    """Build a CaffeNet from ``spec``; layer ``i`` is initialised with seed ``seed * 100 + i``."""
    inputs = keras.Input(spec.input_shape, name="image")
    x = inputs
    local_size, alpha, beta = spec.lrn
    for index, conv in enumerate(spec.conv, start=1):
        layer_name = f"conv{index}"
        kernel_init, bias_init = initializers(spec.inits[layer_name], seed * 100 + index)
        x = GroupedConv2D(
            conv.filters, conv.kernel, groups=conv.groups, strides=conv.stride, padding=conv.padding,
            kernel_initializer=kernel_init, bias_initializer=bias_init, name=layer_name,
        )(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
        if index in (1, 2, 5):
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{index}")(x)
        if index in (1, 2):
            x = CaffeLRN(local_size, alpha, beta, name=f"norm{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in zip((6, 7), spec.fc_units):
        kernel_init, bias_init = initializers(spec.inits[f"fc{index}"], seed * 100 + index)
        x = keras.layers.Dense(units, kernel_initializer=kernel_init, bias_initializer=bias_init, name=f"fc{index}")(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
        x = keras.layers.Dropout(spec.dropout, seed=seed * 100 + 10 + index, name=f"drop{index}")(x)
    kernel_init, bias_init = initializers(spec.inits["fc8"], seed * 100 + 8)
    logits = keras.layers.Dense(spec.num_classes, kernel_initializer=kernel_init, bias_initializer=bias_init,
                                name="fc8")(x)
    return keras.Model(inputs, logits, name=name)
