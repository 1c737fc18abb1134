"""Yosinski, Clune, Bengio, Lipson 2014: the protocol of every experiment, per scale.

This file is the whole protocol: data, network, solver, treatments and the
grid of runs. Sources: the paper (§2-4) and the official Caffe code
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
replicate   ``half{s}A_r2``, ``half{s}B_r2``             mini/smoke: a second seed of each base net,
                                                        the seed noise the claim rules measure against
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
* ``mini`` -- Fashion-MNIST at 32x32x1 (Debian package), a mini CaffeNet of
  the same structure, random 5/5 class splits by the same recipe over 10
  classes, the upper-body/rest split as the dissimilar pair. The deviations
  (sizes, init, base lr, schedule length, number of splits) and the pilots
  behind them are in papers/yosinski2014/README.md.
* ``smoke`` -- the whole mini grid on a few hundred images for a few
  iterations: checks the machinery, not the science.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from repro.data import splits
from repro.models.caffenet import CaffeNetSpec, mini_spec, paper_spec
from repro.runs import RunSpec, derive_seed
from repro.train import SGDSchedule

PAPER = "yosinski2014"
N_LAYERS = tuple(range(1, 8))  # n = 8 is meaningless: B8B = baseB and A8B never trains on B.


@dataclass(frozen=True)
class Scale:
    """Everything that differs between scales; the grid structure does not."""

    name: str
    dataset: str  # "imagenet2012" (tfds) or "fashion_mnist" (embedded)
    n_classes: int  # whole label set = fc8 width in every net
    model: Callable[[int], CaffeNetSpec]
    schedule: SGDSchedule
    random_splits: tuple[int, ...]
    finetune_splits: tuple[int, ...]
    train_per_class: int | None  # None = every training image of the class
    val_per_class: int | None
    crop_pad: int = 0  # mini: random crop after zero-padding (Caffe: 227 crop of 256)
    mirror: bool = True
    reduced_per_class: tuple[int, ...] = ()
    reduced_schedule: SGDSchedule | None = None
    experiments: tuple[str, ...] = ("random_splits", "natman", "random_features")
    base_replicates: bool = False  # a second seed of every random-split base net: the noise unit of the claims


PAPER_SCALE = Scale(
    name="paper",
    dataset="imagenet2012",
    n_classes=1000,
    model=paper_spec,
    schedule=SGDSchedule(base_lr=0.01, max_iter=450_000, step_size=100_000, batch_size=256, eval_every=1000),
    random_splits=(0, 1, 2, 3),
    finetune_splits=(0, 1),
    train_per_class=None,
    val_per_class=None,
    mirror=True,
    reduced_per_class=(1, 2, 5, 10, 25, 50, 100, 250, 500, 750, 1000, 1300),
    reduced_schedule=SGDSchedule(base_lr=0.0125, max_iter=200_000, step_size=64_000, batch_size=256,
                                 eval_every=1000),
    experiments=("random_splits", "natman", "random_features", "reduced_data"),
)

MINI_SCALE = Scale(
    name="mini",
    dataset="fashion_mnist",
    n_classes=10,
    model=mini_spec,
    schedule=SGDSchedule(base_lr=0.05, max_iter=600, step_size=300, batch_size=128, eval_every=30),
    random_splits=(0, 1),
    finetune_splits=(0, 1),
    train_per_class=1000,
    val_per_class=250,
    crop_pad=0,
    mirror=False,
    base_replicates=True,
)

SMOKE_SCALE = Scale(
    name="smoke",
    dataset="fashion_mnist",
    n_classes=10,
    model=lambda n_classes: mini_spec(n_classes, widths=(4, 8, 8, 8, 8, 16, 16)),
    schedule=SGDSchedule(base_lr=0.01, max_iter=4, step_size=2, batch_size=16, eval_every=2),
    random_splits=(0,),
    finetune_splits=(0,),
    train_per_class=8,
    val_per_class=4,
    crop_pad=2,
    mirror=True,
    reduced_per_class=(1, 4),
    reduced_schedule=SGDSchedule(base_lr=0.01, max_iter=4, step_size=2, batch_size=8, eval_every=2),
    experiments=("random_splits", "natman", "random_features", "reduced_data"),
    base_replicates=True,
)

SCALES = {s.name: s for s in (SMOKE_SCALE, MINI_SCALE, PAPER_SCALE)}

EXPERIMENTS = {
    "random_splits": "base, BnB, AnB (both directions), BnB+, AnB+ for n = 1..7 on random class splits (Fig. 2, Table 1)",
    "natman": "frozen transfer both ways between the dissimilar halves, n = 1..7 (Fig. 3 top left)",
    "random_features": "random frozen first n layers on the whole label set vs the whole-set base net (Fig. 3 top right)",
    "reduced_data": "the whole label set with the first k training examples per class (supplementary)",
}


def _spec(experiment: str, scale: str, run_key: str, condition: str, *, n: int = 0, source_run: str | None = None,
          mode: str | None = None, task: str, split: str, examples_per_class: int | None = None) -> RunSpec:
    source = "-" if source_run is None else _task_of(source_run)
    return RunSpec(
        paper=PAPER, experiment=experiment, scale=scale, run_key=run_key, condition=condition, n=n,
        source=source, target=task, split=split, seed=derive_seed(PAPER, scale, run_key),
        params=dict(task=task, source_run=source_run, mode=mode, examples_per_class=examples_per_class),
    )


def _task_of(base_run: str) -> str:
    """The task a base run was trained on: half0A -> 0A, halfnatmanB -> natmanB, netbase -> whole."""
    return "whole" if base_run == "netbase" else base_run.removeprefix("half")


def grid(experiment: str, scale: str) -> list[RunSpec]:
    """The runs of ``experiment`` at ``scale``, base nets first."""
    s = SCALES[scale]
    specs: list[RunSpec] = []
    if experiment == "random_splits":
        for split in s.random_splits:
            a, b = f"{split}A", f"{split}B"
            for half in (a, b):
                specs.append(_spec(experiment, scale, f"half{half}", "base", task=half, split=str(split)))
                if s.base_replicates:
                    specs.append(_spec(experiment, scale, f"half{half}_r2", "base_replicate", task=half,
                                       split=str(split)))
            for n in N_LAYERS:
                for source, target, condition in ((a, a, "BnB"), (a, b, "AnB"), (b, a, "AnB")):
                    specs.append(_spec(experiment, scale, f"transfer{source}{target}_1_{n}", condition, n=n,
                                       source_run=f"half{source}", mode="frozen", task=target, split=str(split)))
                if split in s.finetune_splits:
                    for source, target, condition in ((a, a, "BnB+"), (a, b, "AnB+")):
                        specs.append(_spec(experiment, scale, f"transfer-ft{source}{target}_1_{n}", condition, n=n,
                                           source_run=f"half{source}", mode="finetune", task=target,
                                           split=str(split)))
    elif experiment == "natman":
        for half in ("A", "B"):
            specs.append(_spec(experiment, scale, f"halfnatman{half}", "base", task=f"natman{half}", split="natman"))
        for n in N_LAYERS:
            for source, target in (("A", "B"), ("B", "A")):
                specs.append(_spec(experiment, scale, f"transfernatman{source}{target}_1_{n}", "AnB", n=n,
                                   source_run=f"halfnatman{source}", mode="frozen", task=f"natman{target}",
                                   split="natman"))
    elif experiment == "random_features":
        specs.append(_spec(experiment, scale, "netbase", "base", task="whole", split="whole"))
        for n in N_LAYERS:
            specs.append(_spec(experiment, scale, f"nolearn_1_{n}", "random_frozen", n=n, mode="random_frozen",
                               task="whole", split="whole"))
    elif experiment == "reduced_data":
        for k in s.reduced_per_class:
            specs.append(_spec(experiment, scale, f"reduced-{k:04d}", "reduced", task="whole", split="whole",
                               examples_per_class=k))
    else:
        raise KeyError(experiment)
    return specs


def task_split(scale: Scale, task: str) -> tuple[list[int], dict]:
    """Original class ids of ``task`` ('0A', 'natmanB', 'whole') and the split's record for config.json."""
    if task == "whole":
        return list(range(scale.n_classes)), {"name": "whole", "classes": list(range(scale.n_classes))}
    half = task[-1]
    if task.startswith("natman"):
        split = splits.imagenet_natman_split() if scale.dataset == "imagenet2012" else splits.fashion_garment_split()
    elif scale.dataset == "imagenet2012":
        split = splits.imagenet_random_split(int(task[:-1]))
    else:
        split = splits.fashion_random_split(int(task[:-1]))
    classes = split.classes_a if half == "A" else split.classes_b
    return list(classes), {**split.to_config(), "half": half}
