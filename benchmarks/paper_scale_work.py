"""The passes through a network that every paper-scale experiment makes, read from the protocols.

For each paper, :func:`paper_work` lists one :class:`Work` per experiment of
its paper-scale grid (``paper.grid(experiment, "paper")``, what
``repro run <paper> --scale paper --dry-run`` prints) and one per shared
source model: how many examples go through which network, and how
(training step, forward pass, Hessian-vector product). Every count comes
from the protocol constants (epochs, batch, ``max_iter``, evaluation
periods, analysis sizes) and the dataset sizes of :data:`SIZES`; the rules
that make a run reuse another one are the papers' own
(``_identical_run``). ``benchmarks/paper_scale_time.py`` turns the passes
into FLOPs and GPU hours.

Counted: every training step (forward + backward), the periodic
evaluations inside training (test or validation set, and Neyshabur's
training-set accuracy), and the analyses' passes (surfaces, Hessians,
probes, interpolations, rewinds, CKA, basins, criticality, features).
Not counted: data loading, weight I/O, and work without a network pass
(parameter distances, CKA algebra, regressions); Liu's theory check is
numpy on the CPU and is listed with its FLOPs but no GPU time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import repro  # noqa: F401
import keras

from repro.compare import load_published
from repro.data.chexpert import NEYSHABUR2020 as CHEXPERT_SPLIT
from repro.registry import get_paper

ModelKey = tuple  # (builder name, classes[, input side]): see build_model


@dataclass(frozen=True)
class Size:
    """Examples of one dataset split and where the number comes from."""

    examples: int
    source: str


# Split sizes that the protocols do not carry themselves (each with its source).
SIZES = {
    "imagenet2012/validation": Size(50_000, "ILSVRC2012 validation, 50 per class (tfds catalog imagenet2012)"),
    "caltech_birds2011/train": Size(5_994, "repro/liu2019/protocol.py CUB (5,994 train / 5,794 test)"),
    "caltech_birds2011/test": Size(5_794, "repro/liu2019/protocol.py CUB (5,994 train / 5,794 test)"),
    "food101/train": Size(75_750, "Food-101: 750 training images per class x 101 (Bossard et al. 2014)"),
    "food101/validation": Size(25_250, "Food-101: 250 test images per class x 101 (Bossard et al. 2014)"),
    "svhn_cropped/test": Size(26_032, "tfds catalog svhn_cropped, split 'test'"),
    "mnist/train": Size(60_000, "MNIST training set (LeCun et al. 1998; tfds catalog mnist)"),
    "mnist/test": Size(10_000, "MNIST test set (tfds catalog mnist)"),
    "fashion_mnist/train": Size(60_000, "Fashion-MNIST training set (Xiao et al. 2017; the Debian package's IDX)"),
    "fashion_mnist/test": Size(10_000, "Fashion-MNIST test set"),
    "domainnet/clipart/train": Size(33_525, "repro/neyshabur2020/protocol.py target clipart (33,525 / 14,604)"),
    "domainnet/clipart/test": Size(14_604, "repro/neyshabur2020/protocol.py target clipart (33,525 / 14,604)"),
    "domainnet/real/test": Size(52_041, "DomainNet real_test.txt (Peng et al. 2019)"),
    "domainnet/painting/test": Size(21_850, "DomainNet painting_test.txt (Peng et al. 2019)"),
    "cifar10/test": Size(10_000, "CIFAR-10 test set (Krizhevsky 2009)"),
    "cifar100/test": Size(10_000, "CIFAR-100 test set (Krizhevsky 2009)"),
    "caltech101/test": Size(6_084, "tfds caltech101 'test': the images not in the 30-per-class train split"),
    "fgvc_aircraft/test": Size(3_333, "repro/chen2022/data.py (trainval 6,667 / test 3,333)"),
    "oxford_flowers17/test": Size(272, "repro/chen2022/data.py (80/20 rule: 1,088 / 272)"),
    "uc_merced/test": Size(420, "repro/chen2022/data.py (80/20 rule: 80 + 20 per class, 21 classes)"),
    "pocus/test": Size(424, "papers/chen2022/published.csv: about 2,116 images [unverified] minus N = 1,692"),
    "dtd/test": Size(1_880, "repro/chen2022/data.py (split 1: 40 per class, 47 classes)"),
}
IMAGENET_TRAIN = "imagenet2012/train"  # from papers/yosinski2014/published.csv (dataset_images, whole)


def size(name: str) -> int:
    if name == IMAGENET_TRAIN:
        return int(next(p.value for p in load_published("yosinski2014") if p.quantity == "dataset_images"))
    return SIZES[name].examples


@dataclass(frozen=True)
class Pass:
    """``examples`` examples through network ``model``: a training step, an analysis' gradient, a forward
    pass, or a Hessian-vector product.

    ``trainable(model)`` names the layers whose kernels receive gradients
    (``None``: every layer); layers below the first of them get no backward
    pass at all, as TensorFlow's tape computes only what the gradients need.
    """

    model: ModelKey
    kind: str  # "train" (a training step), "gradient" (an analysis' forward + backward), "forward", "hvp"
    examples: int
    trainable: Callable[[keras.Model], set] | None = None


@dataclass
class Work:
    """What one experiment (or one shared source) of a paper's paper-scale grid computes."""

    paper: str
    experiment: str
    runs: int  # runs of the grid (0 for a shared source, which is no run of a grid)
    trained: int  # runs that train a network (the rest reuse a run or only analyse)
    passes: list = field(default_factory=list)
    note: str = ""
    cpu_flops: float = 0.0  # numpy work on the CPU (no network on the GPU)

    def add(self, *passes: Pass) -> None:
        self.passes.extend(p for p in passes if p.examples > 0)


def evaluations(max_iter: int, every: int) -> int:
    """Evaluations of :func:`repro.train.train`: at every multiple of ``every`` and at the last step."""
    return max_iter // every + (max_iter % every != 0)


def training(model: ModelKey, schedule, eval_examples: int, trainable=None) -> list[Pass]:
    """The passes of one :func:`repro.train.train` run: its steps and its periodic evaluations."""
    evals = evaluations(schedule.max_iter, schedule.eval_every)
    return [Pass(model, "train", schedule.max_iter * schedule.batch_size, trainable),
            Pass(model, "forward", evals * (eval_examples + schedule.train_eval_examples))]


def only_layers(*names: str) -> Callable[[keras.Model], set]:
    """A ``Pass.trainable`` that names fixed layers, whatever the model."""
    return lambda model: set(names)


# ----------------------------------------------------------------------------- Yosinski et al. 2014

def yosinski_work() -> list[Work]:
    from repro.models.caffenet import WEIGHT_LAYERS
    from repro.yosinski2014.protocol import PAPER_SCALE as scale, task_split

    paper = get_paper("yosinski2014")
    val_per_class = size("imagenet2012/validation") // scale.n_classes
    works = []
    for experiment in paper.experiment_names("paper"):
        specs = paper.grid(experiment, "paper")
        work = Work(paper.key, experiment, len(specs), len(specs),
                    note="CaffeNet 227x227; frozen transfers back-propagate only above the copied layers")
        for spec in specs:
            schedule = scale.reduced_schedule if spec.condition == "reduced" else scale.schedule
            frozen = spec.n if spec.params["mode"] in ("frozen", "random_frozen") else 0
            classes = len(task_split(scale, spec.params["task"])[0])
            work.add(*training(("caffenet", scale.n_classes), schedule, val_per_class * classes,
                               only_layers(*WEIGHT_LAYERS[frozen:]) if frozen else None))
        works.append(work)
    return works


# ----------------------------------------------------------------------------- Neyshabur et al. 2020

def neyshabur_work() -> list[Work]:
    from repro.neyshabur2020 import experiment as ex
    from repro.neyshabur2020.data import SUBSAMPLE_SIZE
    from repro.neyshabur2020.protocol import MODULES, NOMINAL_LRS, PAPER_SCALE as scale

    paper = get_paper("neyshabur2020")
    sizes = {"real": (SUBSAMPLE_SIZE, SUBSAMPLE_SIZE), "quickdraw": (SUBSAMPLE_SIZE, SUBSAMPLE_SIZE),
             "clipart": (size("domainnet/clipart/train"), size("domainnet/clipart/test")),
             "chexpert": (CHEXPERT_SPLIT.train_size, CHEXPERT_SPLIT.test_size)}
    source = ex.source_model(scale)
    p_key = ("fixup_resnet50", ex.source_classes(scale))
    shared = Work(paper.key, f"source P ({source.key})", 0, 1,
                  note=f"shared by every P-T run; {scale.source.epochs} ImageNet epochs, validation every epoch")
    shared.add(*training(p_key, source.schedule, size("imagenet2012/validation")))
    works = [shared]

    def schedule(target: str, arm: str):
        return ex.target_schedule(scale, scale.target(target), arm, sizes[target][0], NOMINAL_LRS[0])

    analysis = scale.analysis_examples
    evaluations_per_pair = {
        "mistakes": 2, "cka": 2, "distances": 0, "interpolation": scale.interpolation_points,
        # upper bound: both ends, both boundary walks to the end, the samples inside, both delta tests
        "basin": 2 + 2 * len(scale.basin_steps) + scale.basin_samples + 2 * len(scale.basin_deltas) * scale.basin_samples,
        "criticality": 1 + len(MODULES),
    }
    for experiment in paper.experiment_names("paper"):
        specs = paper.grid(experiment, "paper")
        work = Work(paper.key, experiment, len(specs), 0, note="Fixup ResNet-50 224x224")
        for spec in specs:
            kind, model = spec.params["kind"], ("fixup_resnet50", scale.target(spec.target).classes)
            if kind == "train":
                if ex._identical_run(spec, scale, NOMINAL_LRS[0]) is not None:
                    continue  # the run reuses an identical run's result
                work.trained += 1
                work.add(*training(model, schedule(spec.target, spec.params["arm"]), sizes[spec.target][1]))
            elif kind == "criticality_paths":
                grid = len(scale.criticality_sigmas) * scale.criticality_samples
                if spec.params["path"] == "direct":
                    points = 1 + len(scale.criticality_alphas) * grid
                else:  # one point per epoch checkpoint (epoch 0 included) of the arm's learning-curve run
                    run = schedule(spec.target, spec.params["arm"])
                    points = (run.max_iter // run.eval_every + 1) * (1 + grid)
                work.add(Pass(model, "forward", points * scale.criticality_examples))
            elif kind in evaluations_per_pair:
                work.add(Pass(model, "forward", evaluations_per_pair[kind] * analysis))
        if experiment != "learning_curves" and not work.trained:
            work.note += "; analyses of the learning-curve runs (trained in learning_curves)"
        works.append(work)
    return works


# ----------------------------------------------------------------------------- Liu et al. 2019

def liu_work() -> list[Work]:
    from repro.liu2019 import experiment as ex
    from repro.liu2019.protocol import PAPER_SCALE as scale

    paper = get_paper("liu2019")
    datasets = {"caltech_birds2011": (size("caltech_birds2011/train"), size("caltech_birds2011/test")),
                "food101": (size("food101/train"), size("food101/validation")),
                "svhn_cropped": (None, size("svhn_cropped/test")),
                "mnist": (size("mnist/train"), size("mnist/test")),
                "fashion_mnist": (size("fashion_mnist/train"), size("fashion_mnist/test"))}

    def n_train(setting) -> int:
        train = setting.target.train
        per_class = train.stop - train.start if train.stop else None
        return per_class * setting.target.classes if per_class else datasets[train.name][0]

    def model_of(setting, classes: int) -> ModelKey:
        return ("liu_resnet50", classes) if setting.network == "resnet50" else ("lenet", classes)

    def probed(model: keras.Model) -> set:
        path = ex.kernel_path("resnet50", scale.probe.layer)
        return {layer.name for layer in model.layers if any(w.path == path for w in layer.weights)}

    works = []
    for experiment in paper.experiment_names("paper"):
        specs = paper.grid(experiment, "paper")
        setting = scale.setting(experiment)
        work = Work(paper.key, experiment, len(specs), 0)
        model = model_of(setting, setting.target.classes)
        schedule = ex.sgd(setting.schedule, n_train(setting))
        eval_examples = datasets[setting.target.test.name][1]
        if experiment in ("deviation", "optimization", "input_similarity", "label_similarity", "checkpoints"):
            frozen = (lambda m: {l.name for l in m.layers if l.weights} - set(ex.frozen_layers(m, scale.probe.frozen))
                      ) if experiment == "optimization" else None
            for spec in specs:
                if ex._identical_run(spec, scale) is None:
                    work.trained += 1
                    work.add(*training(model, schedule, eval_examples, frozen))
            work.note = f"{setting.network} on {setting.target.name}"
        if experiment == "optimization":
            first, last = scale.probe.window
            probes = sum(1 for step in range(first, min(last, schedule.max_iter - 1) + 1) if step % scale.probe.every == 0)
            batch, k = schedule.batch_size, scale.probe.steps
            share = scale.probe.share_examples
            for _ in range(work.trained):  # per run: the probes, then L-C3's shares at the start
                work.add(Pass(model, "gradient", probes * batch, frozen),  # the full gradient before the step
                         Pass(model, "forward", probes * k * batch),  # variation of loss: K losses
                         Pass(model, "gradient", probes * (k + 1) * batch, probed),  # beta: K + 1 gradients
                         Pass(model, "hvp", scale.curvature.lanczos_order * share, frozen),
                         Pass(model, "gradient", share, probed))  # per-example gradients of the probed kernel
            work.note += f"; loss probes at {probes} steps (K = {k}) per run"
        if experiment == "flatness":
            side = len(scale.landscape.coordinates)
            curvature = scale.curvature
            for _ in specs:
                work.add(Pass(model, "hvp", (curvature.lanczos_order + curvature.trace_samples) * curvature.examples),
                         Pass(model, "forward", side * side * scale.landscape.batch))
            work.note = f"Hessian of the deviation runs and a {side}x{side} surface on {scale.landscape.batch} images"
        if experiment == "theory":
            t = scale.theory
            # per run: pre-training, fine-tuning and training from scratch, each `steps` full-batch steps of
            # X W^T (2 n d m FLOPs) and its gradient (2 n m d)
            work.cpu_flops = work.runs * 3 * t.steps * 4 * t.n * t.d * t.m
            work.note = "numpy on the CPU (no TensorFlow)"
        works.append(work)
    return _with_liu_sources(works, scale, datasets)


def _with_liu_sources(works: list[Work], scale, datasets) -> list[Work]:
    """Add the pre-training of each LeNet source to the experiment that uses it (none is shared)."""
    from repro.liu2019 import experiment as ex
    from repro.liu2019.protocol import RANDOM_SOURCE

    used = {"input_similarity": [s for s in scale.input_sources if s != RANDOM_SOURCE],
            "label_similarity": list(scale.label_sources), "checkpoints": [scale.checkpoint_source]}
    for work in works:
        for name in used.get(work.experiment, ()):
            source = scale.source(name)
            epochs = source.epochs or scale.source_schedule.epochs
            schedule = ex.sgd(replace(scale.source_schedule, epochs=epochs), datasets[source.train.name][0])
            work.add(*training(("lenet", source.classes), schedule, datasets[source.val.name][1]))
        if work.experiment in used:
            count = len(used[work.experiment])
            work.note += f"; includes the pre-training of {count} source LeNet{'s' if count > 1 else ''}"
    return works


# ----------------------------------------------------------------------------- Chen et al. 2022

def chen_work() -> list[Work]:
    from repro.chen2022 import experiment as ex
    from repro.chen2022.protocol import PAPER_SCALE as scale

    paper = get_paper("chen2022")
    n_train = {p.target: int(p.value) for p in load_published("chen2022")
               if p.quantity == "data_amount_N" and p.condition == "readme-2023-08"}
    test_split = {"cifar10": "cifar10/test", "cifar100": "cifar100/test", "caltech101": "caltech101/test",
                  "cub200": "caltech_birds2011/test", "aircraft": "fgvc_aircraft/test",
                  "flowers17": "oxford_flowers17/test", "landuse": "uc_merced/test", "pocus": "pocus/test",
                  "dtd": "dtd/test", "domainnet_real": "domainnet/real/test",
                  "domainnet_painting": "domainnet/painting/test", "domainnet_clipart": "domainnet/clipart/test"}
    source_key = ("resnet50", scale.source_classes, scale.image_size)
    shared = Work(paper.key, "source A (ResNet-50, ImageNet)", 0, 1,
                  note=f"shared by every target; {scale.pretrain.epochs} ImageNet epochs, validation every epoch "
                       "(best-validation checkpoint)")
    shared.add(*training(source_key, ex.sgd(scale.pretrain, size(IMAGENET_TRAIN)), size("imagenet2012/validation")))
    works = [shared]
    for experiment in paper.experiment_names("paper"):
        specs = paper.grid(experiment, "paper")
        work = Work(paper.key, experiment, len(specs), 0)
        for spec in specs:
            if experiment == "transferability":
                target = scale.target(spec.target)
                work.trained += 1
                work.add(*training(("resnet50", target.classes, target.size(scale)),
                                   ex.sgd(scale.finetune, n_train[target.name]), size(test_split[target.name])))
            elif experiment == "domain_measures":  # features of the target's and the source's examples
                work.add(Pass(source_key, "forward", 2 * scale.feature_examples))
        work.note = {"transferability": "fine-tuning, validation every epoch; CIFAR at 32x32, the others at 224",
                     "domain_measures": f"pre-trained features of {scale.feature_examples} target and source images",
                     "regression": "a least-squares fit: no network pass"}[experiment]
        works.append(work)
    return works


def build_model(key: ModelKey) -> keras.Model:
    """The paper-scale network of ``key``, freshly initialised, built by the papers' own builders."""
    name, classes, *rest = key
    if name == "caffenet":
        from repro.yosinski2014.experiment import build_model as build
        from repro.yosinski2014.protocol import PAPER_SCALE

        return build(replace(PAPER_SCALE, n_classes=classes), seed=0)
    if name == "fixup_resnet50":
        from repro.neyshabur2020.experiment import build_model as build
        from repro.neyshabur2020.protocol import PAPER_SCALE

        return build(PAPER_SCALE, classes, seed=0)
    if name in ("liu_resnet50", "lenet"):
        from repro.liu2019.experiment import build_network
        from repro.liu2019.protocol import PAPER_SCALE

        setting = PAPER_SCALE.generalization if name == "liu_resnet50" else PAPER_SCALE.feasibility
        return build_network(setting, classes, seed=0)
    if name == "resnet50":
        from repro.chen2022.experiment import build_model as build
        from repro.chen2022.protocol import PAPER_SCALE

        return build(PAPER_SCALE, classes, seed=0, size=rest[0])
    raise KeyError(key)


def paper_work() -> list[Work]:
    """Every paper's :class:`Work` list, in the order of the papers' table in README.md."""
    return yosinski_work() + neyshabur_work() + liu_work() + chen_work()
