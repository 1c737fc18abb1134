"""Chen, Li, Ding, Liu 2022, "Rethinking Two Consensuses of the Transferability in Deep Learning": the protocol.

The measure (reference/chen2022.md §1.1, official ``cal_transferability.py``)::

    T_l = D_l(theta_r, theta_FB) / D_l(theta_A, theta_FB),   D = mean |a - b| (normalised L1)

over 18 groups of ResNet-50: the stem conv, each of the 16 bottlenecks (the
mean of its three conv distances, taken before the ratio; shortcut convs,
BatchNorm and biases excluded) and the classifier. theta_r is the exact
random initialisation pre-training started from, theta_A the best-validation
pre-training checkpoint, theta_FB the best-validation fine-tuning checkpoint;
the overall T is the mean of T_1..T_17 (classifier excluded).

Paper scale (§1.2-1.4): torchvision ResNet-50 pre-trained from a saved init
on ImageNet-1k (SGD lr 0.1, momentum 0.9, wd 1e-4, batch 256, 120 epochs,
lr x0.1 every 40), fine-tuned with a new classifier on each of twelve
datasets (SGD lr 0.01, momentum 0.9, wd 1e-4, cosine over 100 epochs, batch
128; CIFAR at 32x32, the others at 224; Normalize(0.5, 0.225)).

Mini scale (papers/chen2022/README.md): the same [3, 4, 6, 3] bottleneck
layout at width 8 with torchvision's ImageNet stem on 32x32 grayscale (the
paper fine-tunes CIFAR at 32x32 through the same stem); the source is
Fashion-MNIST; nine targets built from the embedded data and its transforms
vary the domain gap (near to far), the data amount (100 to the whole of
MNIST-5k's training slice) and the diversity.

Every experiment reads the same runs: ``transferability`` fine-tunes every
target and computes its layer-wise T; ``domain_measures`` computes each
target's domain gap G and intraclass variance D with the pre-trained
network; ``regression`` fits ln T on standardised (G, D, ln N).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from repro.errors import BadArgument
from repro.runs import RunSpec

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


@dataclass(frozen=True)
class Target:
    """A downstream task: a dataset, its training slice, an optional transform, and its place on the three axes."""

    name: str
    dataset: str
    train: tuple[int, int]  # per-class slice [start, stop) of the training split; (0, 0) = the whole split
    test: tuple[int, int]  # per-class slice of the test split (mini: of the same split when it has only one)
    classes: int
    transform: str = ""  # "", "invert", "rotate", "noise" (mini); the paper's datasets have none
    description: str = ""
    image_size: int = 0  # input side of the fine-tuning; 0 = the scale's (CIFAR stays at 32 at paper scale)

    def size(self, scale: "Scale") -> int:
        return self.image_size or scale.image_size


@dataclass(frozen=True)
class Training:
    """SGD with momentum 0.9; ``milestones`` (epochs) for the pre-training StepLR, or a cosine schedule."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 1e-4
    step_every: int = 0  # StepLR period in epochs (x0.1); 0 = cosine annealing to 0 over the run
    crop_pad: int = 0  # mini augmentation: pad-and-crop (the paper: RandomResizedCrop)
    mirror: bool = True  # RandomHorizontalFlip


@dataclass(frozen=True)
class Scale:
    name: str
    image_size: int
    channels: int
    width: int
    stem: str
    blocks: tuple[int, ...]
    source_dataset: str
    source_per_class: int
    source_val_per_class: int
    source_classes: int
    pretrain: Training
    finetune: Training
    targets: tuple[Target, ...]
    feature_examples: int  # examples per domain for G and D
    seeds: tuple[int, ...] = (0,)
    experiments: tuple[str, ...] = tuple(EXPERIMENTS)

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise BadArgument(f"unknown target {name!r} at scale {self.name}; accepted: "
                          + ", ".join(t.name for t in self.targets))


MINI_TARGETS = (
    Target("fashion-n1000", "fashion_mnist", (1000, 1100), (0, 100), 10, "",
           "Fashion-MNIST images the source never saw: no domain gap"),
    Target("fashion-n100", "fashion_mnist", (1000, 1010), (0, 100), 10, "", "the same with 10 images per class"),
    Target("fashion-inverted-n1000", "fashion_mnist", (1000, 1100), (0, 100), 10, "invert",
           "the same images inverted (1 - x): a photometric gap"),
    Target("mnist-n100", "mnist5k", (0, 10), (350, 500), 10, "", "MNIST, 10 per class"),
    Target("mnist-n1000", "mnist5k", (0, 100), (350, 500), 10, "", "MNIST, 100 per class"),
    Target("mnist-n3500", "mnist5k", (0, 350), (350, 500), 10, "", "MNIST, all 350 training images per class"),
    Target("mnist-rotated-n1000", "mnist5k", (0, 100), (350, 500), 10, "rotate",
           "MNIST rotated by a random angle in [-90, 90] per image: more intraclass diversity"),
    Target("mnist-noise-n1000", "mnist5k", (0, 100), (350, 500), 10, "noise",
           "MNIST with Gaussian pixel noise (std 0.3): a gap and more diversity"),
    Target("digits-n1000", "digits", (0, 100), (100, 170), 10, "",
           "scikit-learn 8x8 digits upsampled to 32x32: the farthest domain"),
)

MINI = Scale(
    name="mini", image_size=32, channels=1, width=8, stem="imagenet", blocks=(3, 4, 6, 3),
    source_dataset="fashion_mnist", source_per_class=1000, source_val_per_class=100, source_classes=10,
    # The paper's 120 epochs with StepLR every 40, divided by 10.
    pretrain=Training(epochs=12, batch_size=128, lr=0.1, step_every=4, crop_pad=2),
    # The paper's cosine over 100 epochs, at 30 epochs; the code's default batch 128 is larger than the small
    # targets, the README command's 18 too small for the CPU: 32.
    finetune=Training(epochs=30, batch_size=32, lr=0.01, crop_pad=2),
    targets=MINI_TARGETS, feature_examples=1000,
)

SMOKE = replace(
    MINI, name="smoke", width=2, blocks=(1, 1, 1, 1), source_per_class=4, source_val_per_class=2,
    pretrain=replace(MINI.pretrain, epochs=2, batch_size=8, step_every=1),
    finetune=replace(MINI.finetune, epochs=2, batch_size=4),
    targets=tuple(replace(t, train=(t.train[0], t.train[0] + 2 + i), test=(t.test[0], t.test[0] + 1))
                  for i, t in enumerate(MINI_TARGETS[:4])) + (replace(MINI_TARGETS[8], train=(0, 3), test=(100, 101)),),
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
    pretrain=Training(epochs=120, batch_size=256, lr=0.1, step_every=40),
    finetune=Training(epochs=100, batch_size=128, lr=0.01),
    targets=PAPER_TARGETS, feature_examples=2000,  # 2,000 x 224 x 224 x 3 floats = 1.2 GB per domain
)

SCALES = {s.name: s for s in (SMOKE, MINI, PAPER_SCALE)}


def grid(experiment: str, scale_name: str) -> list[RunSpec]:
    """Every run of ``experiment`` at ``scale_name``: one per target (and seed), one regression."""
    if scale_name not in SCALES:
        raise BadArgument(f"unknown scale {scale_name!r}; accepted: {', '.join(SCALES)}")
    if experiment not in EXPERIMENTS:
        raise BadArgument(f"unknown experiment {experiment!r}; accepted: {', '.join(EXPERIMENTS)}")
    scale = SCALES[scale_name]
    if experiment == "regression":
        return [RunSpec(PAPER, experiment, scale.name, "regression", "ln T ~ G + D + ln N", source="A", target="*",
                        params=dict(kind="regression"))]
    prefix = {"transferability": "ft", "domain_measures": "gd"}[experiment]
    return [RunSpec(PAPER, experiment, scale.name, f"{prefix}-{t.name}-s{seed}", t.transform or "plain",
                    n=0, source="A", target=t.name, seed=seed, params=dict(kind=experiment))
            for t in scale.targets for seed in scale.seeds]
