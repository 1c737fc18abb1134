"""Liu, Long, Wang, Jordan 2019, "Towards Understanding the Transferability of Deep Representations": the protocol.

Every experiment of the suite's reproduction, at every scale, is declared
here as data: the networks, the target of each experiment, the sources of
graded similarity, the fine-tuning schedule, the probes, and every run
(:func:`runs`). The paper's text is not available beyond its abstract
(papers/liu2019/README.md); the constants come from the official code
(papers/liu2019/published.csv) and every part the code does not fix is a
suite choice stated in papers/liu2019/README.md.

Arms: ``pretrained`` (fine-tuned from a source's weights) and ``random``
(the same protocol from a random initialisation; the code's "invalid model
path"); the generalization and optimization experiments name their
pretrained arms by condition (:func:`conditions`: the similar source, a
dissimilar one, the similar one with its head transferred).

Paper scale (the official ``fine-tune.py``, ``loss_landscape.py``, ``variation_of_loss.py``, ``lenet.py``):

- deviation / flatness (Exp L-A, L-B): torchvision ResNet-50 + the ``CLS``
  head on CUB-200-2011, batch 32, SGD lr 0.01 momentum 0.9 weight decay 5e-4,
  200 epochs, lr x0.1 after 18,730 iterations, class-balanced sampling; the
  deviation sums the 53 conv kernels; the surface perturbs
  ``layer4.1.conv3`` on one batch of 256 training images.
- optimization (Exp L-C): the same network on Food-101 with stem..layer2
  frozen, batch 32, lr x0.1 after 39,540 iterations; the probe follows
  ``layer3.0.conv1``'s gradient, K = 100 steps of 0.001 g, steps 4,000-12,000.
- input similarity (Exp L-D): the code's LeNet fine-tuned, body and head,
  on 600 SVHN images (grayscale 28x28, x/255 - 0.5), batch 64, constant lr
  0.01, 100 epochs, from sources MNIST, Fashion-MNIST, block-shuffled
  Fashion-MNIST and random init.
- label similarity and pre-training checkpoints: no script exists; the suite
  runs them in Exp L-D's LeNet/SVHN setting.

Mini scale: every experiment with Exp L-D's LeNet (the code's exact layers
at 28x28) on the embedded data, the target 600 MNIST images rendered like
house-number crops; sources of graded similarity (clean MNIST, Fashion-MNIST,
block-shuffled Fashion-MNIST); deviation and flatness on fine-tune.py's
two-stage schedule shape, the rest on lenet.py's.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

from repro.data.imagenet_stats import IMAGENET_NORMALIZE
from repro.errors import BadArgument
from repro.models.specs import LENET_BODY, LENET_LAYERS, LeNetSpec
from repro.registry import Paper, experiments_of, lazy_compare
from repro.runs import (WEIGHTS, AnalysisRun, Need, Run, Seeds, TrainRun, Transfer, axes, derive_seed, seed_salt,
                        source_suffix)
from repro.schedule import Schedule

PAPER = "liu2019"
SIMILAR, DISSIMILAR, TRANSFERRED_HEAD = "pretrained", "pretrained-dissimilar", "pretrained-transferred-head"
"""The conditions of the generalization and optimization arms (besides ``random``)."""
RANDOM_SOURCE = "random"  # the input-similarity "source" that is no source: random initialisation
LABEL_RELATIONS = ("identical", "coarsened", "permuted", "random")
THEORY_KINDS = ("input", "label")

EXPERIMENTS = {
    "deviation": "L-C1 (Exp L-A): weight deviation sum_l ||W_l(t) - W_l(0)||_F at every step, pretrained vs random",
    "flatness": "L-C1 (Exp L-B): top Hessian eigenvalue, Hessian trace and a 2-D filter-normalised loss surface "
                "of one layer at each arm's solution",
    "optimization": "L-C2, L-C3 (Exp L-C): variation of loss and beta-smoothness along the gradient, gradient norm, "
                    "and the principal gradient shares at the start",
    "input_similarity": "L-C4 (Exp L-D): one target fine-tuned from sources of graded input similarity",
    "label_similarity": "L-C5: one target fine-tuned from sources with the same inputs and graded label relation",
    "checkpoints": "L-C6: fine-tuning from the source's checkpoints over pre-training",
    "theory": "L-C7: the two-layer ReLU check of the transfer theory on synthetic data",
}


@dataclass(frozen=True)
class Dataset:
    """Images of one dataset: per-class slice ``[start, stop)`` of a split (``stop`` 0 = to the end)."""

    name: str  # embedded (mini) or tfds catalog (paper) dataset
    split: str = "train"
    start: int = 0
    stop: int = 0


@dataclass(frozen=True)
class Target:
    """A target; ``rendering``: keyword arguments of :class:`repro.data.transforms.StreetRendering` applied to
    its training (seed 0) and test (seed 1) images, each split rendered on its own (``()``: the images as
    they are)."""

    name: str
    train: Dataset
    test: Dataset
    classes: int
    description: str
    rendering: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Source:
    """A pre-training task: inputs (with an optional block shuffle) and a label relation to the target's."""

    name: str
    train: Dataset
    val: Dataset
    description: str
    block: int = 0  # block-shuffle side in pixels; 0 = images as they are
    labels: str = "identical"  # one of LABEL_RELATIONS
    epochs: int = 0  # pre-training epochs; 0 = the scale's source schedule

    @property
    def classes(self) -> int:
        return 5 if self.labels == "coarsened" else 10


def official_sgd(epochs: int, batch_size: int, lr: float = 0.01, lr_step: int = 0, evals: int = 10) -> Schedule:
    """SGD of the official code (``torch.optim.SGD``, its momentum form): lr, momentum 0.9, weight decay 5e-4 on
    every parameter, one lr for all, constant (``lenet.py``) or x0.1 after ``lr_step`` iterations (the ResNet
    scripts' ``twostage``); ``evals`` evaluations evenly over the run."""
    return Schedule(base_lr=lr, batch_size=batch_size, length=epochs, unit="epoch",
                    policy="step" if lr_step else "constant", step_size=lr_step, lr_unit="iteration", evals=evals,
                    momentum=0.9, weight_decay=5e-4, bias_lr_mult=1.0, decay_biases=True, momentum_form="torch",
                    top_k=1)


def two_stage(epochs: int, epoch_steps: int, evals: int = 10) -> Schedule:
    """``fine-tune.py``'s twostage shape at ``lenet.py``'s batch 64: its SGD for ``epochs`` epochs of
    ``epoch_steps`` iterations, lr x0.1 after half the run (as 18,730 of the script's ~37,460 iterations)."""
    return official_sgd(epochs, 64, lr_step=epochs // 2 * epoch_steps, evals=evals)


@dataclass(frozen=True)
class Probe:
    """Exp L-C: the probed kernel, the frozen lower layers, K steps of eta * g, every ``every`` steps in ``window``."""

    layer: str
    frozen: tuple[str, ...]
    eta: float
    steps: int
    every: int
    window: tuple[int, int]  # training iterations [first, last]; (0, 0) = the whole run
    share_examples: int  # training examples of the start-of-training gradient shares (L-C3)


@dataclass(frozen=True)
class Landscape:
    """Exp L-B: the perturbed kernel, the grid of filter-normalised coordinates, the batch of training images.

    ``data``: whose training images the batch is (``"own"``: the trained run's; an experiment name: that
    experiment's target, ``loss_landscape.py``'s Food-101 list for ``"optimization"``); ``fresh_head``: the
    outputs of a freshly initialised ``CLS`` head put on the trained backbone (0: the trained head);
    ``training``: BatchNorm in train mode (the batch's own statistics, as the script never calls ``eval()``).
    """

    layer: str
    coordinates: tuple[float, ...]
    batch: int
    seed: int = 0
    data: str = "own"
    fresh_head: int = 0
    training: bool = False


@dataclass(frozen=True)
class Curvature:
    """Hessian of the training loss at the solution (L-C1): Lanczos order and Hutchinson samples."""

    examples: int  # first training examples of the target
    lanczos_order: int
    trace_samples: int


@dataclass(frozen=True)
class Theory:
    levels: tuple[float, ...]  # similarity, 1 = identical task
    seeds: tuple[int, ...]
    n: int
    d: int
    m: int
    steps: int


@dataclass(frozen=True)
class Setting:
    """Network, target and schedule of one group of experiments.

    ``sources``: the pretrained arms' sources (keys of ``Scale.sources``, or
    "imagenet", a weights file), the one similar to the target first: its arm
    is the condition ``pretrained``, a second one ``pretrained-dissimilar``.
    ``head``: what the pretrained arms do with the source's classifier head.
    "new": the ResNet scripts' fresh ``CLS`` head on the pretrained backbone
    (at mini, LeNet's body transferred and its ``LeNet_cls`` head freshly
    initialised); "transferred": ``lenet.py``, which loads the pretrained head
    too. ``head_transferred``: sources also fine-tuned with their head
    transferred, beside the setting's rule (condition
    ``pretrained-transferred-head``: the theory's setting for L-C3).
    """

    network: str  # "lenet" or "resnet50"
    target: Target
    schedule: Schedule
    sources: tuple[str, ...] = ()  # the feasibility experiments name theirs in Scale (input, label, checkpoint)
    head: str = "new"  # "new" or "transferred"
    class_balanced: bool = False  # the ResNet scripts' class-balanced sampling
    head_transferred: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scale:
    """Every constant of one scale; the grids below read nothing else."""

    name: str
    generalization: Setting  # deviation and flatness
    optimization: Setting
    feasibility: Setting  # input similarity, label similarity, checkpoints (LeNet)
    sources: dict
    source_schedule: Schedule
    input_sources: tuple[str, ...]  # most to least similar to the target; RANDOM_SOURCE last
    label_sources: tuple[str, ...]  # LABEL_RELATIONS order
    checkpoint_source: str
    checkpoints: tuple[int, ...]  # pre-training epochs
    seeds: tuple[int, ...]
    probe: Probe
    landscape: Landscape
    curvature: Curvature
    theory: Theory
    experiments: tuple[str, ...] = tuple(EXPERIMENTS)
    seed_set: int = 0  # repro run --seed-set: an independent draw of every seed (0: the reference results')

    def source(self, name: str) -> Source:
        if name not in self.sources:
            raise BadArgument(f"unknown source {name!r} at scale {self.name}; accepted: {', '.join(self.sources)}")
        return self.sources[name]

    def setting(self, experiment: str) -> Setting:
        if experiment in ("deviation", "flatness"):
            return self.generalization
        if experiment == "optimization":
            return self.optimization
        return self.feasibility


# ----------------------------------------------------------------------------- mini scale

STREET_RENDERING = (("neighbours", False), ("noise", 0.1))  # pilot T's choice (papers/liu2019/README.md)
MINI_TARGET = Target(
    "street600", Dataset("mnist5k", start=0, stop=60), Dataset("mnist5k", start=60, stop=210), 10,
    "600 MNIST-5k images (60 per class) rendered like house-number crops (StreetRendering: a random grey level "
    "of either polarity for digit and background, pixel noise), standing in for the code's 600 SVHN images; "
    "tested on 1,500 other MNIST-5k images rendered the same way", rendering=STREET_RENDERING)
MINI_SOURCE_SIZE = 170  # per class, 1,700 images: the size of every mini source


def _mnist_source(labels: str, epochs: int = 0) -> Source:
    name = "mnist" if labels == "identical" else f"mnist-{labels}"
    if epochs:
        name += "-long"
    return Source(name, Dataset("mnist5k", start=210, stop=210 + MINI_SOURCE_SIZE),
                  Dataset("mnist5k", start=380, stop=480),
                  f"1,700 clean MNIST-5k images disjoint from the target's, {labels} labels"
                  + (f", trained {epochs} epochs, well beyond convergence" if epochs else ""),
                  labels=labels, epochs=epochs)


MINI_SOURCES = {
    "fashion": Source("fashion", Dataset("fashion_mnist", start=0, stop=MINI_SOURCE_SIZE),
                      Dataset("fashion_mnist", "test", start=0, stop=100),
                      "Fashion-MNIST, 170 images per class (the code's lenet_fashion.pkl)"),
    "fashion-shuffled": Source("fashion-shuffled", Dataset("fashion_mnist", start=0, stop=MINI_SOURCE_SIZE),
                               Dataset("fashion_mnist", "test", start=0, stop=100),
                               "the same Fashion-MNIST images block-shuffled with 4x4-pixel blocks", block=4),
    **{s.name: s for s in (_mnist_source(labels) for labels in LABEL_RELATIONS)},
    # L-C6 needs checkpoints beyond convergence: the 40-epoch sources are still improving at their end.
    "mnist-long": _mnist_source("identical", epochs=120),
}

MINI_FINETUNE = official_sgd(100, 64)  # lenet.py: constant lr 0.01, batch 64, 100 epochs
MINI_EPOCH_STEPS = (MINI_TARGET.train.stop - MINI_TARGET.train.start) * MINI_TARGET.classes // 64  # 9: 24 skipped
MINI_GENERALIZATION = two_stage(400, MINI_EPOCH_STEPS, evals=20)  # pilot G: random init converges on every seed

MINI = Scale(
    name="mini",
    # similar source first (clean MNIST for rendered MNIST, as ImageNet for CUB), then a dissimilar one
    generalization=Setting("lenet", MINI_TARGET, MINI_GENERALIZATION, ("mnist", "fashion")),
    optimization=Setting("lenet", MINI_TARGET, MINI_FINETUNE, ("mnist", "fashion"), head_transferred=("mnist",)),
    feasibility=Setting("lenet", MINI_TARGET, MINI_FINETUNE, head="transferred"),  # lenet.py
    sources=MINI_SOURCES,
    source_schedule=official_sgd(40, 64),
    input_sources=("mnist", "fashion", "fashion-shuffled", RANDOM_SOURCE),
    label_sources=tuple(_mnist_source(labels).name for labels in LABEL_RELATIONS),
    checkpoint_source="mnist-long",
    checkpoints=(0, 1, 10, 20, 40, 80, 120),
    seeds=(1, 2, 3, 4),
    # conv1 frozen and the probe on conv2: the code freezes stem..layer2 and probes the first conv of layer3.
    probe=Probe(layer="conv2", frozen=("conv1",), eta=1e-3, steps=100, every=30, window=(0, 0), share_examples=256),
    # conv2 is the last conv of the body, as layer4.1.conv3 is one of the last of ResNet-50.
    landscape=Landscape(layer="conv2", coordinates=tuple(round(-0.1 + 0.01 * k, 3) for k in range(21)), batch=256),
    curvature=Curvature(examples=600, lanczos_order=30, trace_samples=30),
    theory=Theory(levels=(0.0, 0.25, 0.5, 0.75, 1.0), seeds=(0, 1, 2, 3), n=50, d=10, m=500, steps=1000),
)

_SMOKE_TARGET = replace(MINI_TARGET, train=Dataset("mnist5k", start=0, stop=4), test=Dataset("mnist5k", start=4, stop=8))
SMOKE = replace(
    MINI, name="smoke",
    generalization=replace(MINI.generalization, target=_SMOKE_TARGET, schedule=official_sgd(2, 8, evals=2)),
    optimization=replace(MINI.optimization, target=_SMOKE_TARGET, schedule=official_sgd(2, 8, evals=2)),
    feasibility=replace(MINI.feasibility, target=_SMOKE_TARGET, schedule=official_sgd(2, 8, evals=2)),
    sources={k: replace(s, train=replace(s.train, stop=s.train.start + 3), val=replace(s.val, stop=s.val.start + 1))
             for k, s in MINI_SOURCES.items()},
    source_schedule=official_sgd(2, 10, evals=2),
    checkpoint_source="mnist",
    checkpoints=(0, 1, 2),
    seeds=(1, 2),
    probe=replace(MINI.probe, steps=3, every=2, share_examples=8),
    landscape=replace(MINI.landscape, coordinates=(-0.1, 0.0, 0.1), batch=8),
    curvature=Curvature(examples=16, lanczos_order=4, trace_samples=2),
    theory=Theory(levels=(0.0, 1.0), seeds=(0, 1), n=10, d=4, m=50, steps=50),
)

# ----------------------------------------------------------------------------- paper scale

CUB = Target("cub200", Dataset("caltech_birds2011", "train"), Dataset("caltech_birds2011", "test"), 200,
             "CUB-200-2011 (5,994 train / 5,794 test), the official fine-tune.py target")
FOOD = Target("food101", Dataset("food101", "train"), Dataset("food101", "validation"), 101,
              "Food-101 (the code's food_train.txt with a 102-way head; the suite uses Food-101's 101 classes)")
SVHN = Target("svhn600", Dataset("svhn_cropped", start=0, stop=60), Dataset("svhn_cropped", "test"), 10,
              "600 SVHN training images (60 per class: the code's svhn_600.txt is not released), "
              "tested on the whole SVHN test set")


def _paper_mnist_source(labels: str, epochs: int = 0) -> Source:
    """MNIST with ``labels`` (identical: ``mnist``, the source the code's log name log/mnist-fashion suggests)."""
    name = ("mnist" if labels == "identical" else f"mnist-{labels}") + ("-long" if epochs else "")
    return Source(name, Dataset("mnist"), Dataset("mnist", "test"), f"MNIST (60,000 images), {labels} labels"
                  + (f", trained {epochs} epochs, beyond convergence" if epochs else ""), labels=labels, epochs=epochs)


PAPER_SOURCES = {
    "fashion": Source("fashion", Dataset("fashion_mnist"), Dataset("fashion_mnist", "test"),
                      "Fashion-MNIST, the code's lenet_fashion.pkl"),
    "fashion-shuffled": Source("fashion-shuffled", Dataset("fashion_mnist"), Dataset("fashion_mnist", "test"),
                               "Fashion-MNIST block-shuffled with 4x4-pixel blocks", block=4),
    **{s.name: s for s in (_paper_mnist_source(labels) for labels in LABEL_RELATIONS)},
    "mnist-long": _paper_mnist_source("identical", epochs=60),
}

PAPER_SCALE = Scale(
    name="paper",
    generalization=Setting("resnet50", CUB, official_sgd(200, 32, lr_step=18_730, evals=40), ("imagenet",),
                           class_balanced=True),
    optimization=Setting("resnet50", FOOD, official_sgd(6, 32, lr_step=39_540, evals=6), ("imagenet",),
                         class_balanced=True),
    feasibility=Setting("lenet", SVHN, official_sgd(100, 64), head="transferred"),
    sources=PAPER_SOURCES,
    source_schedule=official_sgd(20, 64),
    input_sources=("mnist", "fashion", "fashion-shuffled", RANDOM_SOURCE),
    label_sources=tuple(_paper_mnist_source(labels).name for labels in LABEL_RELATIONS),
    checkpoint_source="mnist-long",
    checkpoints=(0, 1, 2, 5, 10, 20, 40, 60),
    seeds=(1, 2, 3),
    probe=Probe(layer="layer3.0.conv1", frozen=("stem", "layer1", "layer2"), eta=1e-3, steps=100, every=1,
                window=(4_000, 12_000), share_examples=256),
    # loss_landscape.py: one batch of 256 Food-101 training images (its training transform), a fresh CLS head
    # (102 outputs in the script, which labels Food-101's 101 classes one-hot over 102), BN in train mode.
    landscape=Landscape(layer="layer4.1.conv3", coordinates=tuple(round(0.001 * x, 3) for x in range(-100, 100)),
                        batch=256, data="optimization", fresh_head=102, training=True),
    curvature=Curvature(examples=1_000, lanczos_order=30, trace_samples=100),
    theory=Theory(levels=(0.0, 0.25, 0.5, 0.75, 1.0), seeds=(0, 1, 2, 3), n=200, d=20, m=10_000, steps=2_000),
)

SCALES = {s.name: s for s in (SMOKE, MINI, PAPER_SCALE)}


# ----------------------------------------------------------------------------- run keys and grids

def train_key(experiment: str, source: str, seed: int, head: str = "") -> str:
    """Run key of one fine-tuning run: ``<prefix>-<source or 'random'>[-head]-s<seed>`` (``head``: the
    override of :func:`conditions`; ``-head`` marks a head transferred by override, in a setting whose rule
    puts a new one)."""
    prefix = {"deviation": "dev", "optimization": "opt", "input_similarity": "in", "label_similarity": "lab"}[experiment]
    return f"{prefix}-{source}{'-head' if head == 'transferred' else ''}-s{seed}"


def conditions(setting: Setting) -> list[tuple[str, str, str]]:
    """``(condition, source, head)`` of the generalization and optimization arms: ``pretrained`` from the
    similar source, ``pretrained-dissimilar`` from a second source, ``pretrained-transferred-head`` from a
    source of ``head_transferred`` with its head kept, and ``random``."""
    if len(setting.sources) > 2 or (setting.head_transferred and setting.head != "new"):
        raise ValueError("a setting has at most a similar and a dissimilar source, and transfers a head by "
                         "override only where its rule puts a new one")
    found = [(name, source, "") for name, source in zip((SIMILAR, DISSIMILAR), setting.sources)]
    found += [(TRANSFERRED_HEAD, source, "transferred") for source in setting.head_transferred]
    return found + [("random", RANDOM_SOURCE, "")]


def checkpoint_key(epoch: int, seed: int) -> str:
    return f"ck-e{epoch}-s{seed}"




IMAGENET_WEIGHTS_ENV = "REPRO_LIU_RESNET50_WEIGHTS"


@dataclass(frozen=True)
class LiuResNet50Spec:
    """torchvision ResNet-50 + the ``CLS`` head (:mod:`repro.liu2019.network`); the pretrained arm loads ImageNet
    backbone weights from the file the environment variable ``backbone_weights_env`` names, a fresh head on it."""

    num_classes: int
    backbone_weights_env: str = ""

    def build(self, seed: int = 0):
        from repro.liu2019.network import imagenet_backbone, liu_resnet50

        weights = imagenet_backbone(self.backbone_weights_env) if self.backbone_weights_env else None
        return liu_resnet50(self.num_classes, seed=seed, backbone_weights=weights)

    def modules(self, model):
        from repro.models.specs import weight_layers_classifier_last

        return weight_layers_classifier_last(model, classifier="cls_fc")

    def describe(self) -> str:
        if not self.backbone_weights_env:
            return f"liu resnet50 + CLS -> {self.num_classes}"
        path = os.environ.get(self.backbone_weights_env)
        return (f"liu resnet50 + CLS -> {self.num_classes}, ImageNet backbone from ${self.backbone_weights_env}"
                + (f" = {path}" if path else " (unset)"))


def source_key(scale: Scale, source: Source) -> str:
    epochs = source.epochs or scale.source_schedule.length
    return (f"lenet-{source.name}-{source.train.name}-c{source.train.start}-{source.train.stop or 'all'}-e{epochs}"
            f"{source_suffix(scale.seed_set)}")


# ----------------------------------------------------------------------------- image pipelines (as described)

RESNET_RESIZE, RESNET_CROP = 256, 224
LENET_SCALING = "x / 255 - 0.5"  # lenet.py


def lenet_settings() -> dict:
    """The LeNet input of ``lenet.py``: grayscale 28x28, ``x / 255 - 0.5``, no augmentation."""
    return dict(image_size=28, channels=1, normalize=LENET_SCALING, augmentation=None)


def resnet_settings() -> dict:
    """The ResNet-50 scripts' pipeline (``fine-tune.py``, ``loss_landscape.py``, ``variation_of_loss.py``):
    resize to 256x256, a random 224x224 window for training (no flip), the centre one for testing, ImageNet
    normalisation (``repro/liu2019/data.py`` implements it)."""
    return dict(image_size=RESNET_CROP, resize=f"{RESNET_RESIZE}x{RESNET_RESIZE}, aspect not kept",
                crop=f"random {RESNET_CROP}x{RESNET_CROP} window, offsets int(U(0, {RESNET_RESIZE - RESNET_CROP}))",
                flip=0.0, eval_crop=f"centre {RESNET_CROP}x{RESNET_CROP} window",
                normalize=IMAGENET_NORMALIZE)


@dataclass(frozen=True)
class SourceData:
    """A LeNet source's training and validation images, block-shuffled and relabelled as the source says."""

    scale: str
    source: str

    def load(self, data_dir: str | None):
        from repro.liu2019 import tasks

        scale = SCALES[self.scale]
        return tasks.source_data(scale, scale.source(self.source), data_dir)

    def describe(self) -> str:
        source = SCALES[self.scale].source(self.source)
        return f"source {source.name}: {source.train.name}, {source.labels} labels" + (
            f", {source.block}px blocks shuffled" if source.block else "")

    def settings(self) -> dict:
        return lenet_settings()


@dataclass(frozen=True)
class TargetData:
    """A setting's target: LeNet arrays, or the ResNet scripts' stream (``batch_size``, class-balanced)."""

    scale: str
    network: str
    target: str
    batch_size: int = 0
    class_balanced: bool = False

    def load(self, data_dir: str | None):
        scale = SCALES[self.scale]
        target = next(s.target for s in (scale.generalization, scale.optimization, scale.feasibility)
                      if s.target.name == self.target)
        if self.network == "lenet":
            from repro.liu2019 import tasks

            return tasks.target_data(scale, target, data_dir)
        from repro.liu2019.data import resnet_stream

        return resnet_stream(target.train.name, data_dir, batch_size=self.batch_size,
                             class_balanced=self.class_balanced)

    def describe(self) -> str:
        return f"target {self.target}" + (" (class-balanced stream)" if self.class_balanced else "")

    def settings(self) -> dict:
        return lenet_settings() if self.network == "lenet" else resnet_settings()


def target_data(scale: Scale, setting: Setting) -> TargetData:
    if setting.network == "lenet":
        return TargetData(scale.name, "lenet", setting.target.name)
    return TargetData(scale.name, setting.network, setting.target.name, setting.schedule.batch_size,
                      setting.class_balanced)


def network(setting: Setting, classes: int, pretrained: bool = False):
    """The setting's network spec: the code's LeNet, or ResNet-50 + ``CLS`` head (ImageNet backbone weights
    from ``$REPRO_LIU_RESNET50_WEIGHTS`` for the pretrained arm)."""
    if setting.network == "lenet":
        return LeNetSpec(classes)
    return LiuResNet50Spec(classes, backbone_weights_env=IMAGENET_WEIGHTS_ENV if pretrained else "")


def source_run(scale: Scale, source: Source) -> TrainRun:
    """A LeNet pre-trained on ``source`` with the scale's source schedule (the source's own length if it has
    one), a checkpoint every epoch; shared under ``<out>/sources/``."""
    key = source_key(scale, source)
    schedule = replace(scale.source_schedule, length=source.epochs or scale.source_schedule.length)
    return TrainRun(key=key, experiment=None, shared=True, axes=axes(source=source.name),
                    model=LeNetSpec(source.classes), data=SourceData(scale.name, source.name), schedule=schedule,
                    seeds=Seeds(init=derive_seed(key, 0, "init", *seed_salt(scale.seed_set)),
                                data=derive_seed(key, 0, "data", *seed_salt(scale.seed_set))),
                    save_epochs=True)


def _sources_used(scale: Scale) -> list[str]:
    names = [*scale.generalization.sources, *scale.optimization.sources, *scale.input_sources,
             *scale.label_sources, scale.checkpoint_source]
    return [n for n in dict.fromkeys(names) if n in scale.sources]


def _identical_run(scale: Scale, experiment: str, source: str, seed: int, source_epoch: int | None) -> str | None:
    """Another run with exactly this training, whose result this run reuses.

    - input similarity from random init, when the feasibility and the
      generalization settings train the same network on the same target with
      the same schedule (smoke; the head rule does not touch a random arm):
      the deviation run;
    - label similarity from a source of the input series (the identical
      labels): the input-similarity run of that source;
    - the last pre-training checkpoint of a source of the input series: the
      input-similarity run of that source.
    """
    same_training = all(getattr(scale.feasibility, f) == getattr(scale.generalization, f)
                        for f in ("network", "target", "schedule"))
    if experiment == "input_similarity" and source == RANDOM_SOURCE and same_training:
        return train_key("deviation", RANDOM_SOURCE, seed)
    if experiment == "label_similarity" and source in scale.input_sources:
        return train_key("input_similarity", source, seed)
    if experiment == "checkpoints":
        checkpoint = scale.source(scale.checkpoint_source)
        if checkpoint.name in scale.input_sources and source_epoch == (
                checkpoint.epochs or scale.source_schedule.length):
            return train_key("input_similarity", checkpoint.name, seed)
    return None


def _probe(scale: Scale, experiment: str, setting: Setting):
    from repro.liu2019.probes import DeviationProbe, LossProbeSpec

    if experiment == "optimization":
        p = scale.probe
        return LossProbeSpec(setting.network, p.layer, p.eta, p.steps, p.every, p.window, p.share_examples,
                             scale.curvature.lanczos_order)
    return DeviationProbe(setting.network)


def training_run(scale: Scale, experiment: str, key: str, cell: dict, *, arm: str, source: str, seed: int,
                 source_epoch: int | None = None, head: str = "") -> TrainRun:
    """Fine-tune (pretrained arm) or train from random init (random arm) on the experiment's setting; ``head``
    overrides the setting's head rule."""
    setting = scale.setting(experiment)
    classes = setting.target.classes
    transfer = None
    if arm == "pretrained" and setting.network == "lenet":
        origin = scale.source(source)
        if (head or setting.head) == "new":
            n = len(LENET_BODY)
        else:
            n = len(LENET_LAYERS) if origin.classes == classes else len(LENET_LAYERS) - 1
        transfer = Transfer(source_key(scale, origin), n, "finetune",
                            checkpoint="final" if source_epoch is None else source_epoch)
    return TrainRun(
        key=key, experiment=experiment, axes=axes(**cell),
        model=network(setting, classes, pretrained=arm == "pretrained"), data=target_data(scale, setting),
        schedule=setting.schedule,
        seeds=Seeds(init=derive_seed(PAPER, scale.name, setting.network, "init", seed, *seed_salt(scale.seed_set)),
                    data=derive_seed(PAPER, scale.name, setting.target.name, "data", seed, *seed_salt(scale.seed_set))),
        transfer=transfer, frozen=scale.probe.frozen if experiment == "optimization" else (),
        probe=_probe(scale, experiment, setting),
        same_as=_identical_run(scale, experiment, source, seed, source_epoch))


def grid(experiment: str, scale_name: str, seed_set: int = 0) -> list[Run]:
    """Every run of ``experiment`` at ``scale_name``, with the seeds of ``seed_set``."""
    if scale_name not in SCALES:
        raise BadArgument(f"unknown scale {scale_name!r}; accepted: {', '.join(SCALES)}")
    scale = replace(SCALES[scale_name], seed_set=seed_set)
    if experiment not in EXPERIMENTS:
        raise BadArgument(f"unknown experiment {experiment!r}; accepted: {', '.join(EXPERIMENTS)}")
    target = "synthetic" if experiment == "theory" else scale.setting(experiment).target.name
    found: list[Run] = []
    if experiment in ("deviation", "optimization"):
        for condition, source, head in conditions(scale.setting(experiment)):
            arm = "random" if source == RANDOM_SOURCE else "pretrained"
            for seed in scale.seeds:
                cell = dict(condition=condition, arm=arm, source=source, target=target, seed=seed)
                found.append(training_run(scale, experiment, train_key(experiment, source, seed, head), cell,
                                          arm=arm, source=source, seed=seed, head=head))
    elif experiment == "flatness":
        for condition, source, head in conditions(scale.generalization):
            arm = "random" if source == RANDOM_SOURCE else "pretrained"
            for seed in scale.seeds:
                of = train_key("deviation", source, seed, head)
                found.append(AnalysisRun(
                    key="flat-" + of.removeprefix("dev-"), experiment=experiment,
                    axes=axes(condition=condition, arm=arm, source=source, target=target, seed=seed),
                    function="repro.liu2019.analyses:flatness", inputs=(Need(of, (WEIGHTS,)),),
                    params=(("of", of), ("scale", scale.name), ("landscape", scale.landscape))))
    elif experiment == "input_similarity":
        for rank, source in enumerate(scale.input_sources, start=1):
            for seed in scale.seeds:
                arm = "random" if source == RANDOM_SOURCE else "pretrained"
                cell = dict(condition=source, arm=arm, source=source, target=target, seed=seed, similarity_rank=rank)
                found.append(training_run(scale, experiment, train_key(experiment, source, seed), cell, arm=arm,
                                          source=source, seed=seed))
    elif experiment == "label_similarity":
        for rank, source in enumerate(scale.label_sources, start=1):
            for seed in scale.seeds:
                cell = dict(condition=scale.source(source).labels, arm="pretrained", source=source, target=target,
                            seed=seed, similarity_rank=rank)
                found.append(training_run(scale, experiment, train_key(experiment, source, seed), cell,
                                          arm="pretrained", source=source, seed=seed))
    elif experiment == "checkpoints":
        for epoch in scale.checkpoints:
            for seed in scale.seeds:
                cell = dict(condition=f"epoch {epoch}", arm="pretrained", source=scale.checkpoint_source,
                            target=target, seed=seed, source_epoch=epoch)
                found.append(training_run(scale, experiment, checkpoint_key(epoch, seed), cell, arm="pretrained",
                                          source=scale.checkpoint_source, seed=seed, source_epoch=epoch))
    else:
        for kind in THEORY_KINDS:
            for level in scale.theory.levels:
                for seed in scale.theory.seeds:
                    found.append(AnalysisRun(
                        key=f"theory-{kind}-q{level:g}-s{seed}", experiment=experiment,
                        axes=axes(condition=kind, source="-", target=target, seed=seed),
                        function="repro.liu2019.analyses:theory",
                        params=(("scale", scale.name), ("series", kind), ("level", level),
                                ("seed", seed if not scale.seed_set else derive_seed(seed, *seed_salt(scale.seed_set))))))
    return found


def runs(scale_name: str, seed_set: int = 0) -> list[Run]:
    """Every run of ``scale_name`` (seeds of ``seed_set``): the LeNet sources, then every experiment's runs."""
    scale = replace(SCALES[scale_name], seed_set=seed_set)
    return ([source_run(scale, scale.source(name)) for name in _sources_used(scale)]
            + [r for e in scale.experiments for r in grid(e, scale_name, seed_set)])


TRAIN_COLUMNS = ("test_acc_final", "test_acc_best", "train_loss_final", "train_loss_first_half", "deviation_conv",
                 "deviation_fc", "steps", "reused", "seconds")
OPTIMIZATION_COLUMNS = TRAIN_COLUMNS + (
    "share_hessian", "share_per_example", "start_grad_norm", "start_top_eigenvalue", "variation_mean",
    "variation_std", "beta_mean", "grad_norm_mean", "grad_norm_cv", "probes")
FLATNESS_COLUMNS = ("of", "test_acc_final", "top_eigenvalue", "eigen_residual", "hessian_trace", "trace_se",
                    "surface_layer", "surface_centre_loss", "surface_mean_rise", "surface_max_rise", "grid", "seconds")
THEORY_COLUMNS = ("series", "similarity", "deviation_pretrained", "deviation_random", "rkhs_pretrained",
                  "rkhs_random", "top_abs_pretrained", "top_abs_random", "top_fraction_pretrained",
                  "top_fraction_random", "grad_norm_pretrained", "grad_norm_random", "final_loss_pretrained",
                  "final_loss_random", "lambda_min", "lambda_max", "seconds")
_ARM_CELL = ("condition", "arm", "source", "target", "seed")
_RENAME = {"test_acc_final": "acc_final", "test_acc_best": "acc_max"}
PAPER_ENTRY = Paper(
    key=PAPER,
    title="Liu, Long, Wang, Jordan. Towards Understanding the Transferability of Deep Representations. arXiv 2019",
    experiments=experiments_of(
        EXPERIMENTS, SCALES,
        axes=dict(deviation=_ARM_CELL, flatness=_ARM_CELL, optimization=_ARM_CELL,
                  input_similarity=_ARM_CELL + ("similarity_rank",), label_similarity=_ARM_CELL + ("similarity_rank",),
                  checkpoints=_ARM_CELL + ("source_epoch",), theory=("condition", "source", "target", "seed")),
        columns=dict(deviation=TRAIN_COLUMNS, flatness=FLATNESS_COLUMNS, optimization=OPTIMIZATION_COLUMNS,
                     input_similarity=TRAIN_COLUMNS, label_similarity=TRAIN_COLUMNS, checkpoints=TRAIN_COLUMNS,
                     theory=THEORY_COLUMNS),
        rename={e: _RENAME for e in ("deviation", "optimization", "input_similarity", "label_similarity",
                                     "checkpoints")}),
    scales=tuple(SCALES),
    runs=runs,
    compare=lazy_compare("repro.liu2019.compare"),
)
