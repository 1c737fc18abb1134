"""LeNet-5 in Keras: two 5x5 convs, a 500-unit dense layer and a 3-layer dense head.

The layout is that of a PyTorch reference implementation, ``lenet.py``. That
code builds two torch modules, a body ``LeNet`` and a head
``LeNet_cls``; here they are one Keras model with the layers in the same
order::

    body   conv1 (1->20, 5x5, valid) -> pool1 (max 2) -> relu1
           conv2 (20->50, 5x5, valid) -> conv2_drop (Dropout2d 0.5) -> pool2 (max 2) -> relu2
           flatten (800 = 50*4*4 at 28x28) -> fc1 (800->500) -> fc1_relu -> fc1_drop (0.5)
    head   cls_fc1 (500->1024) -> cls_relu1 -> cls_drop1 (0.5)
           cls_fc2 (1024->1024) -> cls_relu2 -> cls_drop2 (0.5)
           cls_fc3 (1024->num_classes): logits; the code's Softmax lives in the loss.

Spatial sizes at the default 28x28x1 input are 24 -> 12 -> 8 -> 4, so the
flatten has 800 features as in the code's ``nn.Linear(50*4*4, 500)``.
``input_size`` changes the (square) input side: 32 gives 28 -> 14 -> 10 -> 5
and a 1250-feature flatten (``fc1`` is then 1250->500, not the code's
800->500); the smallest side is 16.

Faithful details and deviations:

- torch ``Dropout2d`` on the conv2 map drops whole channels (with
  ``1/(1-p)`` scaling): Keras ``SpatialDropout2D``. The head's two
  ``nn.Dropout2d`` sit on 2-D ``(N, 1024)`` tensors, where torch applies
  element-wise dropout, so they are plain ``Dropout`` here. Dropout is active
  only in training (``model(x, training=True)``), as in the code's train mode.
- init as the PyTorch default of the code's era (0.3/0.4; same bounds
  today): conv and linear kernels *and* biases
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = c_in k_h k_w`` or
  the input width. Every initializer and dropout seed is drawn from one
  integer ``seed`` (``None``: unseeded).
- the body's 6-way ``classifier`` ``nn.Linear(500, 6)`` of the official
  ``LeNet`` is never used by the script (its output ``y`` is discarded) and
  is **not built** here; its 3,006 parameters are not counted.
- the official input scaling is ``x / 255 - 0.5`` on grayscale 28x28 images
  (SVHN resized); the data pipeline applies it, not the model.
- the official fine-tuning loads the pretrained body *and* head
  (``lenet_fashion.pkl`` and ``lenet_fashion_cls.pkl``) and trains both:
  the head is transferred too, so such a transfer copies all of
  :data:`WEIGHT_LAYERS` (``repro.transfer.transfer(target, WEIGHT_LAYERS, 6,
  'finetune', source)``).
- Keras flattens ``(H, W, C)``, torch ``(C, H, W)``: converting a torch
  ``fc1.weight`` needs the matching permutation of its 800 inputs.

:data:`BODY_LAYERS` / :data:`HEAD_LAYERS` name the weight layers of each
torch module; :data:`WEIGHT_LAYERS` is all six bottom-up (the ``modules`` of
:func:`repro.transfer.transfer`); :data:`CONV_LAYERS` the two convs;
:data:`FEATURES` is the body's output layer (the 500-d feature fed to the head).
"""
from __future__ import annotations

import os

import keras

from repro.errors import BadArgument
from repro.models.inits import Seeds, torch_default
from repro.models.specs import LENET_BODY, LENET_LAYERS
from repro.models.resnet import load_weights

CONV_LAYERS: tuple[str, ...] = ("conv1", "conv2")
BODY_LAYERS: tuple[str, ...] = LENET_BODY
HEAD_LAYERS: tuple[str, ...] = ("cls_fc1", "cls_fc2", "cls_fc3")
WEIGHT_LAYERS: tuple[str, ...] = LENET_LAYERS
FEATURES = "fc1_drop"
INPUT_SIZE = 28
MIN_INPUT_SIZE = 16
DROPOUT = 0.5


def flatten_size(input_size: int = INPUT_SIZE) -> int:
    """Features after the conv body: ``50 * s * s`` with ``s = ((input_size - 4) // 2 - 4) // 2``."""
    side = ((input_size - 4) // 2 - 4) // 2
    return 50 * side * side


def lenet(
    num_classes: int = 10,
    input_size: int = INPUT_SIZE,
    seed: int | None = None,
    weights: str | os.PathLike | None = None,
    name: str = "lenet",
) -> keras.Model:
    """LeNet body + ``LeNet_cls`` head of the reference ``lenet.py``, returning logits.

    Input ``(input_size, input_size, 1)``, already scaled (``x/255 - 0.5`` in
    the code). ``weights`` is a local ``.weights.h5`` of the whole model,
    loaded after building; otherwise the PyTorch-default init seeded by
    ``seed``.
    """
    if num_classes < 1:
        raise BadArgument(f"num_classes={num_classes} must be positive")
    if input_size < MIN_INPUT_SIZE:
        raise BadArgument(f"input_size={input_size} is below {MIN_INPUT_SIZE}: the conv body needs a 1x1 map")
    seeds = Seeds(seed)
    inputs = keras.Input(shape=(input_size, input_size, 1), name="image")
    x = keras.layers.Conv2D(20, 5, padding="valid", name="conv1", **torch_default(1 * 5 * 5, seeds))(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(50, 5, padding="valid", name="conv2", **torch_default(20 * 5 * 5, seeds))(x)
    x = keras.layers.SpatialDropout2D(DROPOUT, seed=seeds.next(), name="conv2_drop")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(500, name="fc1", **torch_default(flatten_size(input_size), seeds))(x)
    x = keras.layers.ReLU(name="fc1_relu")(x)
    x = keras.layers.Dropout(DROPOUT, seed=seeds.next(), name=FEATURES)(x)
    fan_in = 500
    for index in (1, 2):
        x = keras.layers.Dense(1024, name=f"cls_fc{index}", **torch_default(fan_in, seeds))(x)
        x = keras.layers.ReLU(name=f"cls_relu{index}")(x)
        x = keras.layers.Dropout(DROPOUT, seed=seeds.next(), name=f"cls_drop{index}")(x)
        fan_in = 1024
    logits = keras.layers.Dense(num_classes, name="cls_fc3", **torch_default(fan_in, seeds))(x)
    model = keras.Model(inputs, logits, name=name)
    if weights is not None:
        load_weights(model, weights)
    return model
