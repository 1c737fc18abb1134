"""Chen, Li, Ding, Liu 2022, "Rethinking Two Consensuses of the Transferability in Deep Learning": the protocol.

The measure (Chen et al. 2022 §3, official ``cal_transferability.py``)::

    T_l = D_l(theta_r, theta_FB) / D_l(theta_A, theta_FB),   D = mean |a - b| (normalised L1)

over 18 groups of ResNet-50: the stem conv, each of the 16 bottlenecks (the
mean of its three conv distances, taken before the ratio; shortcut convs,
BatchNorm and biases excluded) and the classifier. theta_r is the exact
random initialisation pre-training started from, theta_A the best-validation
pre-training checkpoint, theta_FB the best-validation fine-tuning checkpoint;
the overall T is the mean of T_1..T_17 (classifier excluded).

Paper scale (the paper's §4 and the official ``pretrain_on_ImageNet.py``, ``finetune.py``): torchvision ResNet-50 pre-trained from a saved init
on ImageNet-1k (SGD lr 0.1, momentum 0.9, wd 1e-4, batch 256, 120 epochs,
lr x0.1 every 40), fine-tuned with a new classifier on each of twelve
datasets (SGD lr 0.01, momentum 0.9, wd 1e-4, cosine over 100 epochs, batch
18 as in the README command that precedes the published CIFAR-10 output,
or ``finetune.py``'s default 128 in the non-default experiment
``transferability_batch128``; CIFAR at 32x32, the others at 224;
Normalize(0.5, 0.225)).

Mini scale (papers/chen2022/README.md, "Mini scale" and its pilots): the same
[3, 4, 6, 3] bottleneck layout at width 8 with torchvision's ImageNet stem on
grayscale images, the source (Fashion-MNIST) pre-trained at 96 px and the
targets fine-tuned at 64 px, every image resized to fill its frame (a change
of resolution, as on the paper's CIFAR path); nine target domains built from
the embedded data and its transforms, with N in {300, 1,000, 2,000} crossed
with their order of domain gap.

Runs: the source (task A, from a saved init, a checkpoint every epoch,
shared under ``<out>/sources/``); one fine-tuning per target and seed
(``finetune-<target>-s<seed>``, a checkpoint every epoch); and three
experiments of analyses that train nothing: ``transferability`` computes
each fine-tuning's layer-wise T (``ft-<target>-s<seed>``),
``domain_measures`` each target's domain gap G and intraclass variance D
with the pre-trained network (``gd-...``), ``regression`` fits ln T on
standardised (G, D, ln N) over the targets.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from repro.errors import BadArgument
from repro.models.specs import ResNetSpec
from repro.registry import Paper, experiments_of, lazy_compare, lazy_function
from repro.runs import (ALL_BUT_LAST, EPOCHS, AnalysisRun, Need, Run, Seeds, TrainRun, Transfer, axes, derive_seed,
                        seed_salt, source_suffix)
from repro.schedule import Schedule

PAPER = "chen2022"
NORMALIZE_MEAN, NORMALIZE_STD = 0.5, 0.225  # torchvision Normalize(0.5, 0.225) on [0, 1] pixels

# The 18 groups of the measure in network order: block 1 = stem, 2-17 = the bottlenecks, 18 = the classifier.
GROUPS = ("stem",) + tuple(f"layer{s}.{b}" for s, n in zip((1, 2, 3, 4), (3, 4, 6, 3)) for b in range(n)) + ("fc",)


def group_column(group: str) -> str:
    """CSV column of a group's T: ``T_stem``, ``T_layer1_0`` ... ``T_fc``."""
    return "T_" + group.replace(".", "_")


EXPERIMENTS = {
    "transferability": "Layer-wise T of the 18 groups and the overall T (their main table and layer-wise figure), "
                       "one fine-tuning run per target",
    "domain_measures": "Domain gap G (Frechet distance of pre-trained features) and intraclass variance D per target",
    "regression": "ln T on standardised (G, D, ln N): coefficients and R^2",
}
# Not run by default: the official choice is ambiguous, and the published run's setting is the default.
ALTERNATIVES = {
    "transferability_batch128": "transferability with the fine-tuning batch of finetune.py's default (128) instead "
                                "of the README command's 18 that precedes the published CIFAR-10 output",
}


@dataclass(frozen=True)
class Target:
    """A downstream task: a dataset, its training slice, an optional transform, and its place on the three axes."""

    name: str
    dataset: str
    train: tuple[int, int]  # per-class slice [start, stop) of the training split; (0, 0) = the whole split
    test: tuple[int, int]  # per-class slice of the test split (mini: of the same split when it has only one)
    classes: int
    transform: str = ""  # "", "invert", "rotate", "noise", "rotate-noise" (mini); the paper's datasets have none
    description: str = ""
    image_size: int = 0  # input side of the fine-tuning; 0 = the scale's target_size, else its image_size
    # (CIFAR stays at 32 at paper scale)

    def size(self, scale: "Scale") -> int:
        return self.image_size or scale.target_size or scale.image_size


def official_sgd(lr: float, epochs: int, batch_size: int, step_every: int = 0) -> Schedule:
    """The official SGD (``torch.optim.SGD``, its momentum form): momentum 0.9, weight decay 1e-4 on every
    parameter, one lr for all; StepLR (x0.1 every ``step_every`` epochs, ``pretrain_on_ImageNet.py``) or,
    without it, cosine annealing to 0 stepped once per epoch (``finetune.py``); evaluated every epoch; each
    epoch a new permutation of the training set ending with its short batch (``DataLoader(shuffle=True)``)."""
    return Schedule(base_lr=lr, batch_size=batch_size, length=epochs, unit="epoch",
                    policy="step" if step_every else "cosine", step_size=step_every or 1, eval_every=1,
                    weight_decay=1e-4, bias_lr_mult=1.0, decay_biases=True, momentum_form="torch", top_k=1,
                    last_batch="keep")


@dataclass(frozen=True)
class Scale:
    name: str
    image_size: int  # the source's input side
    channels: int
    width: int
    stem: str
    blocks: tuple[int, ...]
    source_dataset: str
    source_per_class: int
    source_val_per_class: int
    source_classes: int
    pretrain: Schedule
    finetune: Schedule
    targets: tuple[Target, ...]
    feature_examples: int  # examples per domain for G and D
    pretrain_crop_pad: int = 0  # mini augmentation: pad-and-crop (the paper: RandomResizedCrop)
    finetune_crop_pad: int = 0
    mirror: bool = True  # RandomHorizontalFlip
    seeds: tuple[int, ...] = (0,)
    experiments: tuple[str, ...] = tuple(EXPERIMENTS)
    seed_set: int = 0  # repro run --seed-set: an independent draw of every seed (0: the reference results')
    finetune_batch128: "Schedule | None" = None  # the fine-tuning of transferability_batch128
    target_size: int = 0  # the targets' input side unless a Target sets its own (0: image_size)
    fit: str | None = None  # mini: how an image becomes its input side (repro.data.arrays.load_arrays; None: the
    # dataset's own, zero-padding the 28-px sets)

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise BadArgument(f"unknown target {name!r} at scale {self.name}; accepted: "
                          + ", ".join(t.name for t in self.targets))

FASHION_TEST, MNIST_TEST, DIGITS_TEST = (100, 250), (350, 500), (124, 174)  # per-class test slices (module doc)


def _mini_target(domain: str, dataset: str, start: int, n: int, transform: str, test: tuple[int, int],
                 description: str) -> Target:
    return Target(f"{domain}-n{n}", dataset, (start, start + n // 10), test, 10, transform, description)


# Nine domains and their N by pilot P3b's rule (papers/chen2022/README.md, "Redesign pilots"), in the order of
# their G there (near to far): the N levels of P0's choice (300, 1,000, 2,000) crossed with thirds of G so that N
# follows neither G nor D.
MINI_TARGETS = (
    _mini_target("fashion-rotate", "fashion_mnist", 1000, 2000, "rotate", FASHION_TEST,
                 "Fashion-MNIST images the source never saw, each rotated by its own angle in [-90, 90] degrees"),
    _mini_target("fashion-plain", "fashion_mnist", 1000, 300, "", FASHION_TEST,
                 "Fashion-MNIST images the source never saw"),
    _mini_target("mnist-rotate", "mnist5k", 0, 1000, "rotate", MNIST_TEST,
                 "MNIST-5k digits, each rotated by its own angle in [-90, 90] degrees"),
    _mini_target("mnist-plain", "mnist5k", 0, 2000, "", MNIST_TEST, "MNIST-5k digits"),
    _mini_target("fashion-invert", "fashion_mnist", 1000, 300, "invert", FASHION_TEST,
                 "Fashion-MNIST images the source never saw, inverted (1 - x)"),
    _mini_target("digits-plain", "digits", 0, 1000, "", DIGITS_TEST, "scikit-learn 8x8 digits resized to 64x64"),
    _mini_target("digits-rotate-noise", "digits", 0, 300, "rotate-noise", DIGITS_TEST,
                 "scikit-learn digits, each rotated by its own angle, then Gaussian pixel noise (std 0.3)"),
    _mini_target("mnist-invert", "mnist5k", 0, 2000, "invert", MNIST_TEST, "MNIST-5k digits inverted (1 - x)"),
    _mini_target("digits-invert", "digits", 0, 1000, "invert", DIGITS_TEST, "scikit-learn digits inverted (1 - x)"),
)

MINI = Scale(
    name="mini", image_size=96, channels=1, width=8, stem="imagenet", blocks=(3, 4, 6, 3),
    source_dataset="fashion_mnist", source_per_class=1000, source_val_per_class=100, source_classes=10,
    # The paper's 120 epochs with StepLR every 40, in the same shape at 60 epochs with StepLR every 20 (README,
    # pilots P1 and P1b: no length of 30, 45, 60 converges by the pilots' rule, whose fallback is the longest).
    pretrain=official_sgd(0.1, 60, 128, step_every=20),
    # The paper's cosine over 100 epochs at the README command's batch 18 (README, pilot P2).
    finetune=official_sgd(0.01, 100, 18),
    # Pad side / 16 for the random crop (the first mini's 2 px at 32 px).
    pretrain_crop_pad=6, finetune_crop_pad=4,
    # Pre-training at 96 px and fine-tuning at 64 px, every image resized to fill its frame: the objects shrink
    # between the two as ImageNet's at 224 px do in CIFAR at 32 px, and layer4 runs on 2 x 2 maps at 64 px.
    target_size=64, fit="bilinear",
    targets=MINI_TARGETS, feature_examples=1000,  # 100 per class of every domain (mini_data.target_examples)
)

# The smoke grid keeps the mini's resolution ratio of 1.5 (48 px -> 32 px here, 96 -> 64 at mini) and one target of
# each dataset and transform kind the mini uses, each on a few images.
SMOKE_TARGETS = ("fashion-rotate-n2000", "fashion-plain-n300", "mnist-plain-n2000", "digits-rotate-noise-n300",
                 "digits-invert-n1000")
SMOKE = replace(
    MINI, name="smoke", image_size=48, target_size=32, width=2, blocks=(1, 1, 1, 1), source_per_class=4,
    source_val_per_class=2, pretrain_crop_pad=2, finetune_crop_pad=2,
    pretrain=official_sgd(0.1, 2, 8, step_every=1),
    finetune=official_sgd(0.01, 2, 4),
    targets=tuple(replace(t, train=(t.train[0], t.train[0] + 2 + i), test=(t.test[0], t.test[0] + 1))
                  for i, t in enumerate(MINI.target(name) for name in SMOKE_TARGETS)),
    feature_examples=20,
)

# tfds catalog names, except fgvc_aircraft, oxford_flowers17 and pocus: folders under <data_dir>/manual/<name>
# (repro/chen2022/data.py says which layouts it reads).
PAPER_TARGETS = (
    Target("cifar10", "cifar10", (0, 0), (0, 0), 10, description="CIFAR-10 at 32x32", image_size=32),
    Target("cifar100", "cifar100", (0, 0), (0, 0), 100, description="CIFAR-100 at 32x32", image_size=32),
    Target("caltech101", "caltech101", (0, 0), (0, 0), 102, description="Caltech-101, 30 per class"),
    Target("cub200", "caltech_birds2011", (0, 0), (0, 0), 200, description="CUB-200-2011"),
    Target("aircraft", "fgvc_aircraft", (0, 0), (0, 0), 100, description="FGVC Aircraft, trainval"),
    Target("flowers17", "oxford_flowers17", (0, 0), (0, 0), 17, description="Oxford Flowers-17, 80% train"),
    Target("landuse", "uc_merced", (0, 0), (0, 0), 21, description="UC Merced Land Use, 80% train"),
    Target("pocus", "pocus", (0, 0), (0, 0), 3,
           description="POCUS lung ultrasound, per-class 80/20 split (the authors' 4 of 5 folds are not released)"),
    Target("dtd", "dtd", (0, 0), (0, 0), 47, description="DTD split 1"),
    Target("domainnet_real", "domainnet/real", (0, 0), (0, 0), 345, description="DomainNet real"),
    Target("domainnet_painting", "domainnet/painting", (0, 0), (0, 0), 345, description="DomainNet painting"),
    Target("domainnet_clipart", "domainnet/clipart", (0, 0), (0, 0), 345, description="DomainNet clipart"),
)

PAPER_SCALE = Scale(
    name="paper", image_size=224, channels=3, width=64, stem="imagenet", blocks=(3, 4, 6, 3),
    source_dataset="imagenet2012", source_per_class=0, source_val_per_class=0, source_classes=1000,
    pretrain=official_sgd(0.1, 120, 256, step_every=40),
    # Batch 18: the README command that precedes the published CIFAR-10 output (finetune.py's default, 128, is
    # the transferability_batch128 experiment).
    finetune=official_sgd(0.01, 100, 18),
    targets=PAPER_TARGETS, feature_examples=2000,  # 2,000 x 224 x 224 x 3 floats = 1.2 GB per domain
    experiments=tuple(EXPERIMENTS) + tuple(ALTERNATIVES), finetune_batch128=official_sgd(0.01, 100, 128),
)

SCALES = {s.name: s for s in (SMOKE, MINI, PAPER_SCALE)}


def transform_settings(size: int, source: bool = False) -> dict:
    """The paper scale's image pipeline (``pretrain_on_ImageNet.py``'s with ``source``, else ``finetune.py``'s),
    as recorded in a run's description and ``config.json`` (``repro/chen2022/data.py`` implements it)."""
    crop = f"RandomResizedCrop({size}, scale=(0.08, 1.0), ratio=(3/4, 4/3))"
    jitter = " -> ColorJitter() [default arguments: a no-op, omitted]" if source else ""
    resize = f"Resize(({size}, {size})) [bilinear, aspect not kept, antialiased like PIL, rounded to uint8]"
    return dict(
        image_size=size, decode="RGB (grayscale -> 3 equal channels)", crop=crop, flip=0.5,
        train_transform=f"{resize} -> {crop} -> RandomHorizontalFlip(0.5){jitter} -> ToTensor -> Normalize",
        eval_transform=f"{resize} -> ToTensor -> Normalize",
        normalization=dict(mean=[NORMALIZE_MEAN] * 3, std=[NORMALIZE_STD] * 3, scale="x / 255"),
    )


def mini_settings(scale: "Scale", size: int, crop_pad: int) -> dict:
    """The image pipeline below paper scale (``repro/chen2022/mini_data.py``) at input side ``size``."""
    return dict(image_size=size, fit=scale.fit or "the dataset's own (28-px sets zero-padded)", crop_pad=crop_pad,
                mirror=scale.mirror, normalization=dict(mean=NORMALIZE_MEAN, std=NORMALIZE_STD))


@dataclass(frozen=True)
class SourceData:
    """Task A's images (Fashion-MNIST at mini, ImageNet-1k at paper scale), augmented as the scale says."""

    scale: str

    def load(self, data_dir: str | None):
        scale = SCALES[self.scale]
        return data_module(scale).source_data(scale, data_dir)

    def describe(self) -> str:
        scale = SCALES[self.scale]
        return f"{scale.source_dataset} ({scale.source_per_class or 'all'}/class), source of scale {self.scale}"

    def settings(self) -> dict:
        scale = SCALES[self.scale]
        return (transform_settings(scale.image_size, source=True) if scale.name == "paper"
                else mini_settings(scale, scale.image_size, scale.pretrain_crop_pad))


@dataclass(frozen=True)
class TargetData:
    """A target's training and test images (:class:`Target` ``target`` of scale ``scale``)."""

    scale: str
    target: str

    def load(self, data_dir: str | None):
        scale = SCALES[self.scale]
        return data_module(scale).target_data(scale, scale.target(self.target), data_dir)

    def describe(self) -> str:
        target = SCALES[self.scale].target(self.target)
        return f"{target.name} ({target.dataset}{', ' + target.transform if target.transform else ''})"

    def settings(self) -> dict:
        scale = SCALES[self.scale]
        size = scale.target(self.target).size(scale)
        if scale.name == "paper":
            return transform_settings(size)
        return mini_settings(scale, size, scale.finetune_crop_pad)


def data_module(scale: Scale):
    if scale.name == "paper":
        from repro.chen2022 import data

        return data
    from repro.chen2022 import mini_data

    return mini_data


def source_key(scale: Scale) -> str:
    return (f"resnet-w{scale.width}-b{''.join(map(str, scale.blocks))}-{scale.stem}-{scale.source_dataset}"
            f"-{scale.image_size}px{'-' + scale.fit if scale.fit else ''}-n{scale.source_per_class or 'all'}"
            f"-e{scale.pretrain.length}-chen"
            f"{source_suffix(scale.seed_set)}")


def network(scale: Scale, classes: int, size: int | None = None) -> ResNetSpec:
    """The scale's torchvision-style ResNet for ``size`` x ``size`` inputs (the weights do not depend on it)."""
    size = size or scale.image_size
    return ResNetSpec((size, size, scale.channels), classes, width=scale.width, stem=scale.stem, blocks=scale.blocks)


def source_run(scale: Scale) -> TrainRun:
    """Task A, trained from a saved init (epoch 0 = theta_r) with a checkpoint every epoch (theta_A = the best)."""
    key = source_key(scale)
    return TrainRun(key=key, experiment=None, shared=True, axes=axes(role="task A (ImageNet at paper scale)"),
                    model=network(scale, scale.source_classes), data=SourceData(scale.name), schedule=scale.pretrain,
                    seeds=Seeds(init=derive_seed(key, 0, "init", *seed_salt(scale.seed_set)),
                                data=derive_seed(key, 0, "data", *seed_salt(scale.seed_set))),
                    save_epochs=True)


def finetune_key(target: str, seed: int, variant: str = "") -> str:
    return f"finetune-{target}{variant}-s{seed}"


def finetune_run(scale: Scale, target: Target, seed: int, batch128: bool = False) -> TrainRun:
    """theta_A with a new classifier, every layer fine-tuned with the official SGD, a checkpoint every epoch
    (``batch128``: at finetune.py's default batch, the same seeds)."""
    return TrainRun(
        key=finetune_key(target.name, seed, "-b128" if batch128 else ""), experiment=None,
        axes=axes(target=target.name, seed=seed), model=network(scale, target.classes, target.size(scale)),
        data=TargetData(scale.name, target.name),
        schedule=scale.finetune_batch128 if batch128 else scale.finetune,
        seeds=Seeds(init=derive_seed(PAPER, scale.name, target.name, "init", seed, *seed_salt(scale.seed_set)),
                    data=derive_seed(PAPER, scale.name, target.name, "data", seed, *seed_salt(scale.seed_set))),
        transfer=Transfer(source_key(scale), ALL_BUT_LAST, "finetune", checkpoint="best"), save_epochs=True)


def _cell(target: Target, seed: int) -> tuple:
    return axes(condition=target.transform or "plain", source="A", target=target.name, seed=seed)


def grid(experiment: str, scale_name: str, seed_set: int = 0) -> list[Run]:
    """Every run of ``experiment`` at ``scale_name``: one per target (and seed), one regression."""
    if scale_name not in SCALES:
        raise BadArgument(f"unknown scale {scale_name!r}; accepted: {', '.join(SCALES)}")
    scale = replace(SCALES[scale_name], seed_set=seed_set)
    source = source_key(scale)
    if experiment in ("transferability", "transferability_batch128"):
        variant = "-b128" if experiment == "transferability_batch128" else ""
        return [AnalysisRun(key=f"ft-{t.name}{variant}-s{seed}", experiment=experiment, axes=_cell(t, seed),
                            function="repro.chen2022.analyses:transferability",
                            inputs=(Need(source, (EPOCHS,)), Need(finetune_key(t.name, seed, variant), (EPOCHS,))),
                            params=(("source", source), ("finetuned", finetune_key(t.name, seed, variant)),
                                    ("seed_set", seed_set)))
                for t in scale.targets for seed in scale.seeds]
    if experiment == "domain_measures":
        return [AnalysisRun(key=f"gd-{t.name}-s{seed}", experiment=experiment, axes=_cell(t, seed),
                            function="repro.chen2022.analyses:domain_measures", inputs=(Need(source, (EPOCHS,)),),
                            params=(("source", source), ("scale", scale.name), ("target", t.name)))
                for t in scale.targets for seed in scale.seeds]
    if experiment == "regression":
        seed = scale.seeds[0]
        keys = tuple((f"ft-{t.name}-s{seed}", f"gd-{t.name}-s{seed}") for t in scale.targets)
        return [AnalysisRun(key="regression", experiment=experiment,
                            axes=axes(condition="ln T ~ G + D + ln N", source="A", target="*", seed=0),
                            function="repro.chen2022.analyses:regression",
                            inputs=tuple(Need(k) for pair in keys for k in pair), params=(("runs", keys),))]
    raise BadArgument(f"unknown experiment {experiment!r}; accepted: {', '.join(scale.experiments)}")


def runs(scale_name: str, seed_set: int = 0) -> list[Run]:
    """Every run of ``scale_name`` (seeds of ``seed_set``): the source, the fine-tunings, then the analyses."""
    scale = replace(SCALES[scale_name], seed_set=seed_set)
    training = [source_run(scale)] + [finetune_run(scale, t, seed) for t in scale.targets for seed in scale.seeds]
    if scale.finetune_batch128 is not None:
        training += [finetune_run(scale, t, seed, batch128=True) for t in scale.targets for seed in scale.seeds]
    return training + [r for e in scale.experiments for r in grid(e, scale_name, seed_set)]


_CELL = ("condition", "source", "target", "seed")
_T_COLUMNS = (("n_train", "T_overall") + tuple(group_column(g) for g in GROUPS)
              + ("D_r_A", "D_A_FB", "D_r_FB", "abs_A", "test_acc_best", "test_acc_final", "best_epoch", "theta_a_epoch",
                 "steps", "seconds"))
PAPER_ENTRY = Paper(
    key=PAPER,
    title="Chen, Li, Ding, Liu. Rethinking Two Consensuses of the Transferability in Deep Learning. 2022",
    experiments=experiments_of(
        {**EXPERIMENTS, **ALTERNATIVES}, SCALES, axes={e: _CELL for e in (*EXPERIMENTS, *ALTERNATIVES)},
        columns={"transferability": _T_COLUMNS, "transferability_batch128": _T_COLUMNS,
                 "domain_measures": ("n_train", "G", "D", "n_source_features", "n_target_features", "seconds"),
                 "regression": ("coef_G", "coef_D", "coef_lnN", "se_G", "se_D", "se_lnN", "intercept", "r2",
                                        "n_targets", "seconds")},
        not_default=tuple(ALTERNATIVES)),
    scales=tuple(SCALES),
    runs=runs,
    compare=lazy_compare("repro.chen2022.compare"),
    across_seed_sets=lazy_function("repro.chen2022.compare", "across_seed_sets"),
)
