"""Yosinski, Clune, Bengio, Lipson 2014: the protocol of every experiment, per scale.

This file is the whole protocol: data, network, solver, treatments and every
run of the grid. Sources: the paper (§2-4) and the official Caffe code
``yosinski/convnet_transfer@9838c27`` (prototxts, solver, split scripts,
plotting notebook), summarised in papers/yosinski2014/README.md.

Treatments (paper §3, code ``results/``), ``n`` = copied bottom weight layers:

==========  ==========================================  ================================
condition   run key                                     what
==========  ==========================================  ================================
base        ``half{s}A``, ``half{s}B``                  8-layer net from scratch on a half
BnB         ``transfer{s}A{s}A_1_{n}``                  selffer: n layers of baseA, frozen,
                                                        trained on A (the code's only
                                                        selffer runs; pooled as "BnB")
AnB         ``transfer{s}A{s}B_1_{n}`` / ``{s}B{s}A``   transfer, frozen, both directions
BnB+        ``transfer-ft{s}A{s}A_1_{n}``               selffer, fine-tuned
AnB+        ``transfer-ft{s}A{s}B_1_{n}``               transfer, fine-tuned
natman      ``halfnatmanA/B``, ``transfernatmanAB_1_n``  dissimilar split, frozen, both ways
replicate   ``half{s}A_r{r}``, ``halfnatmanA_r{r}``,      mini/smoke: further seeds (r = 2..m) of every
            ``netbase_r{r}``                            base net, the seed noise the claim rules
                                                        measure against
random      ``netbase``, ``nolearn_1_{n}``               random frozen first n layers, whole
                                                        label set (§4.3)
reduced     ``reduced-{k:04d}``                          first k examples per class, whole
                                                        label set (supplementary)
==========  ==========================================  ================================

Every treatment reruns the full solver schedule from ``base_lr`` (the paper's
"450k base + 450k fine-tuning" iterations); copied layers are fine-tuned at
the same learning rate as new ones; fc8 has as many outputs as the whole
label set in every net, as in the code (1000 on ImageNet, 10 at mini).

Scales:

* ``paper`` -- ImageNet ILSVRC2012 through tfds, exact CaffeNet, exact solver
  (lr 0.01, x0.1 every 100k, 450k iterations, batch 256, eval every 1000 on
  the validation half), splits 0-3, fine-tuned runs on splits 0 and 1 (the
  code's logged runs), reduced-data sweep with its own solver.
* ``mini`` -- Fashion-MNIST + MNIST at 32x32x1 (20 classes, 400 training and
  100 validation images each), a mini CaffeNet of the same structure (conv1
  at stride 1: pool5 is a 3x3 map), random 10/10 class splits by the same
  recipe, clothing vs digits as the dissimilar pair, 1,200 iterations, the
  reduced-data sweep. The deviations and the pilots behind them are in
  papers/yosinski2014/README.md.
* ``smoke`` -- the whole mini grid on a few hundred images for a few
  iterations: checks the machinery, not the science.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from repro.models.specs import CaffeNetSpec, caffenet_mini, caffenet_paper
from repro.registry import Paper, experiments_of, lazy_compare
from repro.runs import Seeds, TrainRun, Transfer, axes, derive_seed, seed_salt
from repro.schedule import Schedule

PAPER = "yosinski2014"
N_LAYERS = tuple(range(1, 8))  # n = 8 is meaningless: B8B = baseB and A8B never trains on B.


def caffe_sgd(base_lr: float, iterations: int, step_size: int, batch_size: int, eval_every: int,
              final_k: int) -> Schedule:
    """The code's ``solver.prototxt``: lr x0.1 every ``step_size``, momentum 0.9, weight decay 5e-4 on
    weights, biases at lr x2 without decay. Every run reports both the code's metric (the mean of the 10
    best evaluations, ``acc_top_k_mean``) and the one the claims use, the mean of the last ``final_k``
    evaluations (``acc_final_mean``): the paper's "average accuracy over the validation set for a trained
    network" (Figure 2 caption), taken at the same iterations for every net, so a net that converges early gains
    nothing from it (the top-10 mean does gain: it averages over the whole low-lr phase)."""
    return Schedule(base_lr=base_lr, batch_size=batch_size, length=iterations, policy="step", step_size=step_size,
                    eval_every=eval_every, momentum=0.9, weight_decay=5e-4, bias_lr_mult=2.0, top_k=10,
                    final_k=final_k)


@dataclass(frozen=True)
class Scale:
    """Everything that differs between scales; the grid structure does not."""

    name: str
    dataset: str  # "imagenet2012" (tfds) or "fashion_mnist" (embedded)
    n_classes: int  # whole label set = fc8 width in every net
    model: Callable[[int], CaffeNetSpec]
    schedule: Schedule
    random_splits: tuple[int, ...]
    finetune_splits: tuple[int, ...]
    train_per_class: int | None  # None = every training image of the class
    val_per_class: int | None
    crop_pad: int = 0  # mini: random crop after zero-padding (Caffe: 227 crop of 256)
    mirror: bool = True
    reduced_per_class: tuple[int, ...] = ()
    reduced_schedule: Schedule | None = None
    experiments: tuple[str, ...] = ("random_splits", "natman", "random_features")
    base_nets: int = 1  # seeds of every base net (half, natman half, whole): m > 1 gives the claims their noise
    jitter: float = 0.0  # mini: per-image pose, scale, shift and noise of every image (Jitter strength; 0 = none)
    metric: str = "acc_final_mean"  # the accuracy column every comparison and claim reads (compare.METRIC)
    seed_set: int = 0  # repro run --seed-set: an independent draw of every seed (0: the reference results')


PAPER_SCALE = Scale(
    name="paper",
    dataset="imagenet2012",
    n_classes=1000,
    model=caffenet_paper,
    schedule=caffe_sgd(0.01, 450_000, 100_000, 256, 1000, final_k=10),
    random_splits=(0, 1, 2, 3),
    finetune_splits=(0, 1),
    train_per_class=None,
    val_per_class=None,
    mirror=True,
    reduced_per_class=(1, 2, 5, 10, 25, 50, 100, 250, 500, 750, 1000, 1300),
    reduced_schedule=caffe_sgd(0.0125, 200_000, 64_000, 256, 1000, final_k=10),
    experiments=("random_splits", "natman", "random_features", "reduced_data"),
    metric="acc_top10_mean",
)

MINI_SGD = caffe_sgd(0.05, 1200, 600, 128, 60, final_k=3)
MINI_SCALE = Scale(
    name="mini",
    dataset="fashion_digits",
    n_classes=20,
    model=caffenet_mini,
    schedule=MINI_SGD,
    random_splits=(0, 1),
    finetune_splits=(0, 1),
    train_per_class=400,
    val_per_class=100,
    crop_pad=0,
    mirror=False,
    reduced_per_class=(1, 2, 5, 10, 25, 50, 100, 200, 400),
    reduced_schedule=MINI_SGD,
    experiments=("random_splits", "natman", "random_features", "reduced_data"),
    base_nets=1,
)

MINI_HARD_SGD = caffe_sgd(0.05, 4800, 2400, 128, 240, final_k=3)
MINI_HARD_SCALE = replace(
    MINI_SCALE,
    name="mini-hard",  # the mini grid on jittered images, 4x as long: base nets at 71-80% instead of 96-97%
    schedule=MINI_HARD_SGD,
    reduced_schedule=MINI_HARD_SGD,
    jitter=4.0,
    random_splits=(0, 1, 2),  # pilot 3b: 3 splits x 2 base nets per half detect 0.93 points at 2 se
    finetune_splits=(0, 1, 2),
    base_nets=2,
)

SMOKE_SCALE = Scale(
    name="smoke",
    dataset="fashion_digits",
    n_classes=20,
    model=lambda n_classes: caffenet_mini(n_classes, widths=(4, 8, 8, 8, 8, 16, 16)),
    schedule=caffe_sgd(0.01, 4, 2, 16, 2, final_k=1),
    random_splits=(0,),
    finetune_splits=(0,),
    train_per_class=8,
    val_per_class=4,
    crop_pad=2,
    mirror=True,
    reduced_per_class=(1, 4),
    reduced_schedule=caffe_sgd(0.01, 4, 2, 8, 2, final_k=1),
    experiments=("random_splits", "natman", "random_features", "reduced_data"),
    base_nets=2,
)

SCALES = {s.name: s for s in (SMOKE_SCALE, MINI_SCALE, MINI_HARD_SCALE, PAPER_SCALE)}

EXPERIMENTS = {
    "random_splits": "base, BnB, AnB (both directions), BnB+, AnB+ for n = 1..7 on random class splits (Fig. 2, Table 1)",
    "natman": "frozen transfer both ways between the dissimilar halves, n = 1..7 (Fig. 3 top left)",
    "random_features": "random frozen first n layers on the whole label set vs the whole-set base net (Fig. 3 top right)",
    "reduced_data": "the whole label set with the first k training examples per class (supplementary)",
}
CELL = ("condition", "n", "source", "target", "split", "seed")
METRICS = ("acc_top10_mean", "acc_final", "acc_final_mean", "acc_max", "n_evals", "train_loss_final", "steps",
           "seconds")


@dataclass(frozen=True)
class TaskData:
    """A task's images: the classes of ``task`` ('0A', 'natmanB', 'whole') of ``dataset``, ``train_per_class``
    training images each (``examples_per_class`` in the reduced-data sweep), ``val_per_class`` validation
    images, the mean image subtracted; training batches cropped after ``crop_pad`` padding and mirrored; at mini
    every image distorted once by ``Jitter(jitter)`` when ``jitter`` > 0."""

    dataset: str
    task: str
    n_classes: int
    train_per_class: int | None
    val_per_class: int | None
    crop_pad: int = 0
    mirror: bool = False
    examples_per_class: int | None = None
    batch_size: int = 0  # the paper-scale stream batches itself
    jitter: float = 0.0  # mini: repro.data.transforms.Jitter strength of every image (0: the images as they are)

    def load(self, data_dir: str | None):
        from repro.yosinski2014 import data

        if self.dataset == "imagenet2012":
            return data.imagenet_task_data(self, data_dir)
        return data.mini_task_data(self, data_dir)

    def describe(self) -> str:
        size = f"first {self.examples_per_class}/class" if self.examples_per_class else (
            f"{self.train_per_class}/class" if self.train_per_class else "all")
        return f"{self.dataset} task {self.task} ({size}{f', jitter {self.jitter:g}' if self.jitter else ''})"

    def settings(self) -> dict:
        """The pipeline: at paper scale Caffe's ``imagenet_train.prototxt`` data layer (training side; the
        validation side crops the centre and does not mirror), below it the miniature's arrays."""
        if self.dataset == "imagenet2012":
            from repro.data.imagenet import caffe_pipeline_config

            return caffe_pipeline_config(training=True, batch_size=self.batch_size or None)
        return dict(dataset=self.dataset, mean="per-pixel mean image of the task's training set, subtracted",
                    crop_pad=self.crop_pad, mirror=self.mirror, jitter=self.jitter)


def with_paper_fillers(spec: CaffeNetSpec) -> CaffeNetSpec:
    """``spec`` initialised as the paper's CaffeNet: Gaussian sigma 0.01 (fc6/fc7 0.005), biases 1 in
    conv2/4/5 and fc6/7, 0 elsewhere (the code's ``train_val.prototxt`` fillers). The miniatures do not
    use it: it leaves the mini net at chance (papers/yosinski2014/README.md, pilot 4)."""
    return replace(spec, inits=caffenet_paper().inits)


def _task_of(base_run: str) -> str:
    """The task a base run was trained on: half0A -> 0A, halfnatmanB -> natmanB, netbase -> whole."""
    return "whole" if base_run == "netbase" else base_run.removeprefix("half")


def _run(scale: Scale, experiment: str, key: str, condition: str, *, task: str, split: str, n: int = 0,
         source_run: str | None = None, mode: str | None = None, examples_per_class: int | None = None) -> TrainRun:
    """One run of the grid: a CaffeNet trained on ``task``, from scratch or by a transfer of ``n`` layers."""
    schedule = scale.reduced_schedule if examples_per_class else scale.schedule
    seed = derive_seed(PAPER, scale.name, key, *seed_salt(scale.seed_set))
    cell = dict(condition=condition, n=n, source="-" if source_run is None else _task_of(source_run), target=task,
                split=split, seed=seed)
    if experiment == "reduced_data":
        cell["examples_per_class"] = examples_per_class
    return TrainRun(
        key=key, experiment=experiment, axes=axes(**cell),
        model=scale.model(scale.n_classes),
        data=TaskData(scale.dataset, task, scale.n_classes, scale.train_per_class, scale.val_per_class,
                      scale.crop_pad, scale.mirror, examples_per_class, schedule.batch_size, scale.jitter),
        schedule=schedule,
        seeds=Seeds(init=derive_seed(seed, "init"), data=derive_seed(seed, "data")),
        transfer=None if mode is None else Transfer(source_run, n, mode),
    )


def _base_nets(scale: Scale, experiment: str, key: str, *, task: str, split: str) -> list[TrainRun]:
    """The base net ``key`` of ``task`` and its replicates ``key_r2`` .. ``key_r{m}``: other seeds, the same
    condition (every one of them enters the base mean of its target)."""
    return [_run(scale, experiment, key, "base", task=task, split=split)] + [
        _run(scale, experiment, f"{key}_r{r}", "base", task=task, split=split)
        for r in range(2, scale.base_nets + 1)]


def grid(experiment: str, scale_name: str, seed_set: int = 0) -> list[TrainRun]:
    """The runs of ``experiment`` at ``scale_name`` (seeds of ``seed_set``), base nets first."""
    s = replace(SCALES[scale_name], seed_set=seed_set)
    runs: list[TrainRun] = []
    if experiment == "random_splits":
        for split in s.random_splits:
            a, b = f"{split}A", f"{split}B"
            for half in (a, b):
                runs += _base_nets(s, experiment, f"half{half}", task=half, split=str(split))
            for n in N_LAYERS:
                for source, target, condition in ((a, a, "BnB"), (a, b, "AnB"), (b, a, "AnB")):
                    runs.append(_run(s, experiment, f"transfer{source}{target}_1_{n}", condition, n=n,
                                     source_run=f"half{source}", mode="frozen", task=target, split=str(split)))
                if split in s.finetune_splits:
                    for source, target, condition in ((a, a, "BnB+"), (a, b, "AnB+")):
                        runs.append(_run(s, experiment, f"transfer-ft{source}{target}_1_{n}", condition, n=n,
                                         source_run=f"half{source}", mode="finetune", task=target, split=str(split)))
    elif experiment == "natman":
        for half in ("A", "B"):
            runs += _base_nets(s, experiment, f"halfnatman{half}", task=f"natman{half}", split="natman")
        for n in N_LAYERS:
            for source, target in (("A", "B"), ("B", "A")):
                runs.append(_run(s, experiment, f"transfernatman{source}{target}_1_{n}", "AnB", n=n,
                                 source_run=f"halfnatman{source}", mode="frozen", task=f"natman{target}",
                                 split="natman"))
    elif experiment == "random_features":
        runs += _base_nets(s, experiment, "netbase", task="whole", split="whole")
        for n in N_LAYERS:
            runs.append(_run(s, experiment, f"nolearn_1_{n}", "random_frozen", n=n, mode="random_frozen",
                             task="whole", split="whole"))
    elif experiment == "reduced_data":
        for k in s.reduced_per_class:
            runs.append(_run(s, experiment, f"reduced-{k:04d}", "reduced", task="whole", split="whole",
                             examples_per_class=k))
    else:
        raise KeyError(experiment)
    return runs


def runs(scale_name: str, seed_set: int = 0) -> list[TrainRun]:
    """Every run of every experiment of ``scale_name``, with the seeds of ``seed_set``."""
    return [r for experiment in SCALES[scale_name].experiments for r in grid(experiment, scale_name, seed_set)]


PAPER_ENTRY = Paper(
    key=PAPER,
    title="Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural networks? NeurIPS 2014",
    experiments=experiments_of(
        EXPERIMENTS, SCALES,
        axes={e: CELL + (("examples_per_class",) if e == "reduced_data" else ()) for e in EXPERIMENTS},
        columns={e: METRICS for e in EXPERIMENTS},
        rename={e: {"acc_top10_mean": "acc_top_k_mean"} for e in EXPERIMENTS}),
    scales=tuple(SCALES),
    runs=runs,
    compare=lazy_compare("repro.yosinski2014.compare"),
)
