"""Model specs: what a run's ``model`` field holds -- a network described as data, built on demand.

A spec is a frozen dataclass (hashable: the executor keeps one worker
model per spec) with

* ``build(seed)`` -> a freshly initialised ``keras.Model`` (Keras is
  imported only here, so protocols and ``repro list`` stay light);
* ``modules(model)`` -> the model's weight modules bottom-up, the
  classifier last: what :func:`repro.transfer.transfer` counts ``n`` over;
* ``describe()`` -> one line for ``--dry-run``.

The builders live in the network modules (:mod:`repro.models.caffenet`,
:mod:`repro.models.resnet`, :mod:`repro.models.fixup_resnet`,
:mod:`repro.models.lenet`); a paper's own network (e.g. a ResNet-50 with a
non-standard classifier head) defines its spec in the paper's package.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

CAFFENET_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
LENET_LAYERS = ("conv1", "conv2", "fc1", "cls_fc1", "cls_fc2", "cls_fc3")
LENET_BODY = ("conv1", "conv2", "fc1")


def weight_layers_classifier_last(model, classifier: str = "fc") -> list[tuple[str, ...]]:
    """Every layer with weights in network order, the classifier layer moved last, one module each."""
    names = [layer.name for layer in model.layers if layer.weights and layer.name != classifier]
    return [(name,) for name in names] + [(classifier,)]


# ----------------------------------------------------------------------------- CaffeNet

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
    """CaffeNet: five convs, two hidden dense layers, the classifier ``fc8``."""

    input_shape: tuple[int, int, int]
    num_classes: int
    conv: tuple[ConvSpec, ConvSpec, ConvSpec, ConvSpec, ConvSpec]
    fc_units: tuple[int, int]
    inits: tuple[tuple[str, Init], ...] = ()  # layer name -> Init
    dropout: float = 0.5
    lrn: tuple[int, float, float] = (5, 1e-4, 0.75)

    def init(self, layer: str) -> Init:
        return dict(self.inits)[layer]

    def to_config(self) -> dict:
        config = asdict(self)
        config["inits"] = {name: asdict(init) for name, init in self.inits}
        return config

    def build(self, seed: int = 0):
        from repro.models.caffenet import build_caffenet

        return build_caffenet(self, seed=seed)

    def modules(self, model) -> tuple[str, ...]:
        return CAFFENET_LAYERS

    def describe(self) -> str:
        widths = "-".join(str(c.filters) for c in self.conv) + "-" + "-".join(map(str, self.fc_units))
        return f"caffenet {'x'.join(map(str, self.input_shape))} {widths}-{self.num_classes}"


def caffenet_paper(num_classes: int = 1000) -> CaffeNetSpec:
    """The exact CaffeNet of the Caffe prototxt ``results/half0A/imagenet_train.prototxt``."""
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
        inits=(("conv1", sigma), ("conv2", sigma_b1), ("conv3", sigma), ("conv4", sigma_b1), ("conv5", sigma_b1),
               ("fc6", fc_b1), ("fc7", fc_b1), ("fc8", sigma)),
    )


def caffenet_mini(num_classes: int = 20, widths: tuple[int, ...] = (16, 32, 48, 48, 32, 128, 128),
                  conv1_stride: int = 1) -> CaffeNetSpec:
    """Mini CaffeNet for 32x32x1 inputs: same 8 weight layers, groups, pools and LRNs.

    conv1 is 5x5, pad 2, stride ``conv1_stride``: with stride 1 the spatial
    pyramid (conv1, pool1, conv2, pool2, conv3-5, pool5) is 32, 15, 15, 7, 7,
    3 against the paper's 55, 27, 27, 13, 13, 6: the middle layers work on a
    map, not a point (stride 2 ends in a 1x1 pool5).
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
        inits=tuple((name, he) for name in CAFFENET_LAYERS[:-1]) + (("fc8", Init("gaussian", 0.01, 0.0)),),
    )


# ----------------------------------------------------------------------------- ResNets

@dataclass(frozen=True)
class ResNetSpec:
    """torchvision-style bottleneck ResNet (:func:`repro.models.resnet.resnet`); ResNet-50 at width 64."""

    input_shape: tuple[int, int, int]
    num_classes: int
    width: int = 64
    stem: str = "imagenet"
    blocks: tuple[int, ...] = (3, 4, 6, 3)
    name: str = "resnet"

    def build(self, seed: int = 0):
        from repro.models.resnet import resnet

        return resnet(self.input_shape, self.num_classes, width=self.width, stem=self.stem, blocks=self.blocks,
                      seed=seed, name=self.name)

    def modules(self, model) -> list[tuple[str, ...]]:
        return weight_layers_classifier_last(model)

    def describe(self) -> str:
        return (f"resnet w{self.width} b{''.join(map(str, self.blocks))} {self.stem} "
                f"{'x'.join(map(str, self.input_shape))} -> {self.num_classes}")


@dataclass(frozen=True)
class FixupResNetSpec(ResNetSpec):
    """Fixup bottleneck ResNet without BatchNorm (:func:`repro.models.fixup_resnet.fixup_resnet`)."""

    name: str = "fixup_resnet"

    def build(self, seed: int = 0):
        from repro.models.fixup_resnet import fixup_resnet

        return fixup_resnet(self.input_shape, self.num_classes, width=self.width, stem=self.stem,
                            blocks=self.blocks, seed=seed, name=self.name)

    def describe(self) -> str:
        return "fixup " + super().describe()


# ----------------------------------------------------------------------------- LeNet

@dataclass(frozen=True)
class LeNetSpec:
    """The LeNet body + ``LeNet_cls`` head of the PyTorch reference ``lenet.py`` (:func:`repro.models.lenet.lenet`)."""

    num_classes: int = 10
    input_size: int = 28

    def build(self, seed: int = 0):
        from repro.models.lenet import lenet

        return lenet(self.num_classes, input_size=self.input_size, seed=seed)

    def modules(self, model) -> tuple[str, ...]:
        return LENET_LAYERS

    def describe(self) -> str:
        return f"lenet {self.input_size}x{self.input_size} -> {self.num_classes}"
