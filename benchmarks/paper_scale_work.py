"""The passes through a network that every paper-scale experiment makes, read from the protocols.

For each paper, :func:`paper_work` lists one :class:`Work` per experiment of
its paper-scale grid (the runs of ``get_paper(key).runs("paper")`` in that
experiment, what ``repro run <paper> --scale paper --dry-run`` prints) and
one per shared source model: how many examples go through which network,
and how (training step, forward pass, Hessian-vector product). Each
training run carries its network (``run.model``, a model spec built with
``build(seed)``), its schedule (``run.schedule``, resolved here against the
dataset sizes of :data:`SIZES` or the protocol's own) and its transfer
(``run.transfer``: the frozen modules); the counts of the analyses come from
the protocol constants (analysis sizes, grids, probe windows). A run
declared ``same_as`` another reuses that run's result and trains nothing.
``benchmarks/paper_scale_time.py`` turns the passes into FLOPs and GPU hours.

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
from typing import TYPE_CHECKING, Any, Callable

from repro.compare import load_published
from repro.data.chexpert import ROWS_1234_50K as CHEXPERT_SPLIT
from repro.registry import Paper, get_paper
from repro.runs import Run, TrainRun, ref_keys
from repro.schedule import Chosen, Schedule
from repro.workspace import is_frozen

if TYPE_CHECKING:
    import keras

ModelKey = Any  # a model spec (repro.models.specs): hashable, ``build(seed)`` gives the network; see build_model


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


def training(model: ModelKey, schedule: Schedule, eval_examples: int, trainable=None) -> list[Pass]:
    """The passes of one :func:`repro.train.train` run (``schedule`` resolved): its steps and its periodic
    evaluations."""
    evals = evaluations(schedule.max_iter, schedule.eval_every)
    return [Pass(model, "train", schedule.max_iter * schedule.batch_size, trainable),
            Pass(model, "forward", evals * (eval_examples + schedule.train_eval_examples))]


def resolved(schedule: Schedule, n_train: int) -> Schedule:
    """``schedule`` in iterations for ``n_train`` training examples; a learning rate a search chooses
    (:class:`~repro.schedule.Chosen`) is set to any number first, since the rate changes no pass."""
    if isinstance(schedule.base_lr, Chosen):
        schedule = schedule.with_lr(0.0)
    return schedule.resolve(n_train)


def network(spec) -> ModelKey:
    """The network a pass goes through: the run's model spec, without the pre-trained weights its build would
    load (Liu's ImageNet backbone file: weights change no FLOP, and counting needs no file)."""
    if getattr(spec, "backbone_weights_env", ""):
        return replace(spec, backbone_weights_env="")
    return spec


def module_layers(spec, model: keras.Model, first: int = 0) -> set:
    """The layers of the weight modules ``first``, ``first + 1``, ... of ``spec.modules(model)``."""
    layers: set = set()
    for module in list(spec.modules(model))[first:]:
        layers.update((module,) if isinstance(module, str) else module)
    return layers


def paper_runs(key: str) -> tuple[Paper, dict[str, Run], list[tuple[str, list[Run]]]]:
    """The paper, every paper-scale run of its protocol by key, and each experiment's runs in the protocol's order."""
    paper = get_paper(key)
    runs = list(paper.runs("paper"))
    grids = [(name, [r for r in runs if r.experiment == name]) for name in paper.experiment_names("paper")]
    return paper, {r.key: r for r in runs}, grids


# ----------------------------------------------------------------------------- Yosinski et al. 2014

def yosinski_work() -> list[Work]:
    from repro.yosinski2014.data import task_split

    paper, _, grids = paper_runs("yosinski2014")
    works = []
    for experiment, runs in grids:
        work = Work(paper.key, experiment, len(runs), len(runs),
                    note="CaffeNet 227x227; frozen transfers back-propagate only above the copied layers")
        for run in runs:
            task = run.data
            classes = len(task_split(task.dataset, task.n_classes, task.task)[0])
            # the task's training images (imagenet_task_data); the solver counts iterations, so only its epoch
            # length depends on them
            n_train = (task.examples_per_class * classes if task.examples_per_class
                       else round(size(IMAGENET_TRAIN) * classes / task.n_classes))
            val_per_class = size("imagenet2012/validation") // task.n_classes
            frozen = run.transfer.n if run.transfer and run.transfer.mode in ("frozen", "random_frozen") else 0
            spec = run.model
            work.add(*training(network(spec), resolved(run.schedule, n_train), val_per_class * classes,
                               (lambda model, spec=spec, n=frozen: module_layers(spec, model, n)) if frozen else None))
        works.append(work)
    return works


# ----------------------------------------------------------------------------- Neyshabur et al. 2020

def neyshabur_work() -> list[Work]:
    from repro.neyshabur2020.data import SUBSAMPLE_SIZE
    from repro.neyshabur2020.protocol import MODULES, PAPER_SCALE as scale, network as fixup, source_key

    paper, index, grids = paper_runs("neyshabur2020")
    sizes = {"real": (SUBSAMPLE_SIZE, SUBSAMPLE_SIZE), "quickdraw": (SUBSAMPLE_SIZE, SUBSAMPLE_SIZE),
             "clipart": (size("domainnet/clipart/train"), size("domainnet/clipart/test")),
             "chexpert": (CHEXPERT_SPLIT.train_size, CHEXPERT_SPLIT.test_size)}
    source = index[source_key(scale)]
    shared = Work(paper.key, f"source P ({source.key})", 0, 1,
                  note=f"shared by every P-T run; {source.schedule.length} ImageNet epochs, validation every epoch")
    shared.add(*training(network(source.model), resolved(source.schedule, size(IMAGENET_TRAIN)),
                         size("imagenet2012/validation")))
    works = [shared]

    def schedule(run: TrainRun) -> Schedule:
        return resolved(run.schedule, sizes[run.axis("target")][0])

    analysis = scale.analysis_examples
    evaluations_per_pair = {
        "mistakes": 2, "cka": 2, "distances": 0, "interpolation": scale.interpolation_points,
        # upper bound: both ends, both boundary walks to the end, the samples inside, both delta tests
        "basin": 2 + 2 * len(scale.basin_steps) + scale.basin_samples + 2 * len(scale.basin_deltas) * scale.basin_samples,
        "criticality": 1 + len(MODULES),
    }
    for experiment, runs in grids:
        work = Work(paper.key, experiment, len(runs), 0, note="Fixup ResNet-50 224x224")
        for run in runs:
            target = run.axis("target")
            if isinstance(run, TrainRun):
                if run.same_as is not None:
                    continue  # the run reuses an identical run's result
                work.trained += 1
                work.add(*training(network(run.model), schedule(run), sizes[target][1]))
                continue
            kind = run.function.rsplit(":", 1)[-1]  # the analysis; "choose" (an lr choice) makes no pass
            model = network(fixup(scale, scale.target(target).classes))
            if kind == "criticality_paths":
                grid = len(scale.criticality_sigmas) * scale.criticality_samples
                if run.axis("path") == "direct":
                    points = 1 + len(scale.criticality_alphas) * grid
                else:  # one point per epoch checkpoint (epoch 0 included) of the analysed learning-curve run
                    trained = schedule(index[ref_keys(run.param("run"))[0]])
                    points = (trained.max_iter // trained.eval_every + 1) * (1 + grid)
                work.add(Pass(model, "forward", points * scale.criticality_examples))
            elif kind in evaluations_per_pair:
                examples = analysis or sizes[target][1]  # None: the whole test split, streamed
                work.add(Pass(model, "forward", evaluations_per_pair[kind] * examples))
        if experiment != "learning_curves" and not work.trained:
            work.note += "; analyses of the learning-curve runs (trained in learning_curves)"
        works.append(work)
    return works


# ----------------------------------------------------------------------------- Liu et al. 2019

def liu_work() -> list[Work]:
    from repro.liu2019.probes import kernel_path
    from repro.liu2019.protocol import PAPER_SCALE as scale

    paper, index, grids = paper_runs("liu2019")
    datasets = {"caltech_birds2011": (size("caltech_birds2011/train"), size("caltech_birds2011/test")),
                "food101": (size("food101/train"), size("food101/validation")),
                "svhn_cropped": (None, size("svhn_cropped/test")),
                "mnist": (size("mnist/train"), size("mnist/test")),
                "fashion_mnist": (size("fashion_mnist/train"), size("fashion_mnist/test"))}

    def n_train(train, classes: int) -> int:
        """Training examples of a protocol ``Dataset``: its per-class slice, or the whole split."""
        per_class = train.stop - train.start if train.stop else None
        return per_class * classes if per_class else datasets[train.name][0]

    def trained_layers(frozen: tuple[str, ...]) -> Callable[[keras.Model], set]:
        """``Pass.trainable`` of a run with ``frozen`` layers: every layer with weights the executor leaves trainable."""
        return lambda model: {l.name for l in model.layers if l.weights and not is_frozen(l.name, frozen)}

    def probed(probe) -> Callable[[keras.Model], set]:
        """``Pass.trainable`` of the probe's gradients: the layer holding the probed kernel."""
        path = kernel_path(probe.network, probe.layer)
        return lambda model: {layer.name for layer in model.layers if any(w.path == path for w in layer.weights)}

    works = []
    for experiment, runs in grids:
        setting = scale.setting(experiment)
        work = Work(paper.key, experiment, len(runs), 0)
        eval_examples = datasets[setting.target.test.name][1]
        trained = [r for r in runs if isinstance(r, TrainRun) and r.same_as is None]
        for run in trained:
            work.trained += 1
            work.add(*training(network(run.model), resolved(run.schedule, n_train(setting.target.train,
                                                                                   setting.target.classes)),
                               eval_examples, trained_layers(run.frozen) if run.frozen else None))
        if any(isinstance(r, TrainRun) for r in runs):
            work.note = f"{setting.network} on {setting.target.name}"
        if experiment == "optimization":
            for run in trained:  # per run: the probes, then L-C3's shares at the start
                schedule = resolved(run.schedule, n_train(setting.target.train, setting.target.classes))
                probe, model, frozen = run.probe, network(run.model), trained_layers(run.frozen)
                first, last = probe.window
                probes = sum(1 for step in range(first, min(last, schedule.max_iter - 1) + 1)
                             if step % probe.every == 0)
                batch, k = schedule.batch_size, probe.steps
                share = probe.share_examples
                work.add(Pass(model, "gradient", probes * batch, frozen),  # the full gradient before the step
                         Pass(model, "forward", probes * k * batch),  # variation of loss: K losses
                         Pass(model, "gradient", probes * (k + 1) * batch, probed(probe)),  # beta: K + 1 gradients
                         Pass(model, "hvp", probe.lanczos_order * share, frozen),
                         Pass(model, "gradient", share, probed(probe)))  # per-example gradients of the probed kernel
            work.note += f"; loss probes at {probes} steps (K = {k}) per run"
        if experiment == "flatness":
            side = len(scale.landscape.coordinates)
            curvature = scale.curvature
            for run in runs:  # the Hessian and the surface at the solution of the deviation run it analyses
                model = network(index[run.param("of")].model)
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
    return _with_liu_sources(works, scale, index, grids, datasets, n_train)


def _with_liu_sources(works: list[Work], scale, index: dict, grids, datasets, n_train) -> list[Work]:
    """Add the pre-training of each LeNet source to the experiment whose runs transfer from it (shared runs under
    ``<out>/sources/``, but no two experiments of the paper scale use the same source)."""
    for work, (_, runs) in zip(works, grids):
        used = list(dict.fromkeys(r.transfer.source for r in runs
                                  if isinstance(r, TrainRun) and r.transfer is not None and r.transfer.source))
        for key in used:
            run = index[key]
            source = scale.source(run.data.source)
            work.add(*training(network(run.model), resolved(run.schedule, n_train(source.train, source.classes)),
                               datasets[source.val.name][1]))
        if used:
            work.note += f"; includes the pre-training of {len(used)} source LeNet{'s' if len(used) > 1 else ''}"
    return works


# ----------------------------------------------------------------------------- Chen et al. 2022

def chen_work() -> list[Work]:
    from repro.chen2022.protocol import PAPER_SCALE as scale, source_key

    paper, index, grids = paper_runs("chen2022")
    n_train = {p.target: int(p.value) for p in load_published("chen2022")
               if p.quantity == "data_amount_N" and p.condition == "readme-2023-08"}
    test_split = {"cifar10": "cifar10/test", "cifar100": "cifar100/test", "caltech101": "caltech101/test",
                  "cub200": "caltech_birds2011/test", "aircraft": "fgvc_aircraft/test",
                  "flowers17": "oxford_flowers17/test", "landuse": "uc_merced/test", "pocus": "pocus/test",
                  "dtd": "dtd/test", "domainnet_real": "domainnet/real/test",
                  "domainnet_painting": "domainnet/painting/test", "domainnet_clipart": "domainnet/clipart/test"}
    source = index[source_key(scale)]
    shared = Work(paper.key, "source A (ResNet-50, ImageNet)", 0, 1,
                  note=f"shared by every target; {source.schedule.length} ImageNet epochs, validation every epoch "
                       "(best-validation checkpoint)")
    shared.add(*training(network(source.model), resolved(source.schedule, size(IMAGENET_TRAIN)),
                         size("imagenet2012/validation")))
    works = [shared]
    for experiment, runs in grids:
        work = Work(paper.key, experiment, len(runs), 0)
        for run in runs:
            if experiment.startswith("transferability"):  # the fine-tuning run whose T the analysis computes
                finetuned = index[run.param("finetuned")]
                target = finetuned.data.target
                work.trained += 1
                work.add(*training(network(finetuned.model), resolved(finetuned.schedule, n_train[target]),
                                   size(test_split[target])))
            elif experiment == "domain_measures":  # features of the target's and the source's examples
                work.add(Pass(network(source.model), "forward", 2 * scale.feature_examples))
        work.note = {"transferability": "fine-tuning, validation every epoch; CIFAR at 32x32, the others at 224",
                     "transferability_batch128": "the same at finetune.py's default batch 128",
                     "domain_measures": f"pre-trained features of {scale.feature_examples} target and source images",
                     "regression": "a least-squares fit: no network pass"}[experiment]
        works.append(work)
    return works


def build_model(key: ModelKey) -> keras.Model:
    """The paper-scale network of ``key`` (a model spec), freshly initialised by its paper's own builder."""
    return key.build(seed=0)


def paper_work() -> list[Work]:
    """Every paper's :class:`Work` list, in the order of the papers' table in README.md."""
    return yosinski_work() + neyshabur_work() + liu_work() + chen_work()
