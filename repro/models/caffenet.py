"""CaffeNet, Caffe's 8-weight-layer reference ImageNet network, as its training prototxt defines it.

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

Two presets (:func:`repro.models.specs.caffenet_paper`, :func:`repro.models.specs.caffenet_mini`) differ only in widths,
conv1 geometry and initialisation; the structure is identical.

* paper: 227x227x3 input, widths 96-256-384-384-256-4096-4096, conv1 11x11
  stride 4; Gaussian init sigma 0.01 (fc6/fc7: 0.005), bias 1 for conv2,
  conv4, conv5, fc6, fc7 and 0 elsewhere -- exactly the prototxt fillers.
* mini: 32x32x1 input, conv1 5x5 stride 2 pad 2 (the paper-scale conv1 also
  down-samples, by 4), narrower widths, and He-normal init with zero biases (the
  paper-scale sigma = 0.01 / bias 1 init leaves a mini net at chance; the
  protocol's README gives the numbers).
"""
from __future__ import annotations

import keras

from repro.models.layers import CaffeLRN, GroupedConv2D
from repro.models.specs import CAFFENET_LAYERS, CaffeNetSpec, Init

WEIGHT_LAYERS = CAFFENET_LAYERS  # what repro.transfer counts n over, bottom-up


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
        kernel_init, bias_init = initializers(spec.init(layer_name), seed * 100 + index)
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
        kernel_init, bias_init = initializers(spec.init(f"fc{index}"), seed * 100 + index)
        x = keras.layers.Dense(units, kernel_initializer=kernel_init, bias_initializer=bias_init, name=f"fc{index}")(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
        x = keras.layers.Dropout(spec.dropout, seed=seed * 100 + 10 + index, name=f"drop{index}")(x)
    kernel_init, bias_init = initializers(spec.init("fc8"), seed * 100 + 8)
    logits = keras.layers.Dense(spec.num_classes, kernel_initializer=kernel_init, bias_initializer=bias_init,
                                name="fc8")(x)
    return keras.Model(inputs, logits, name=name)
