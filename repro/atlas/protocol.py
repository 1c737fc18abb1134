"""The transferability atlas: every paper's measure of "which layers transfer" on the same networks.

Four families of networks, each read from its paper's tree (docs/atlas.md): experiment ``layers`` on
Yosinski et al. 2014's CaffeNets, ``resnet_blocks`` on Chen et al. 2022's fine-tuned ResNets, ``pt_modules`` and
``rit_modules`` on Neyshabur et al. 2020's P-T and RI-T networks.

The networks are Yosinski et al. 2014's random-split grid (§3; its runs are
declared by ``repro.yosinski2014.protocol`` and live in that paper's tree,
where ``repro run yosinski2014`` trains them too): for split ``s`` the base
nets ``half{s}A``/``half{s}B``, and at every depth ``n`` the frozen
transfers AnB and BnB and the fine-tuned transfer AnB+. The atlas adds one
training per depth, a second seed of AnB+ (``transfer-ft{s}A{s}B_1_{n}_r2``:
the same transfer, another draw of the re-initialised layers and of the
batch order), for the interpolation barrier, and one analysis run per
(split, depth) that measures, side by side (docs/atlas.md):

* Yosinski's accuracies at depth n: AnB, BnB and AnB+ minus their base net;
* on layer n of the fully fine-tuned network theta_FB = AnB+ at n = 7 (every
  transferable layer copied from theta_A = half{s}A, then fine-tuned on B:
  Neyshabur's P-T, Chen's fine-tuning): Chen et al. 2022's T_n, Neyshabur
  et al. 2020's linear CKA to the source, parameter distance, accuracy with
  the layer rewound to the source and module criticality, and Liu et al.
  2019's weight deviation;
* at depth n, on AnB+ at n: Neyshabur's loss barrier between its two seeds
  and Liu's top Hessian eigenvalue of the transferred block (layers 1..n).

Chen et al. 2022's networks (``repro.chen2022.protocol``: the source theta_A,
its saved initialisation theta_r and, per target, every layer fine-tuned from
theta_A, theta_FB) get one analysis run per (target, block b), block b = the
stem or one bottleneck, that measures on block b of theta_FB the per-layer
measures above: Chen's own T_b (the paper's row), Neyshabur's CKA of the
block's output, distance, rewound accuracy and criticality, and Liu's
deviation.

Neyshabur et al. 2020's learning-curve networks (``repro.neyshabur2020.protocol``: per target, the two runs of
P-T and of RI-T at the arm's chosen lr, theta_F their final weights and theta_0 their checkpoint 0, P's body and
a fresh classifier for P-T, a random init for RI-T) get one analysis run per (network, module m), m = conv1 or
one bottleneck, that measures on module m of theta_F: Neyshabur's own accuracy with m rewound to theta_0 (Figure
5, the reference), CKA to theta_0, distance and criticality, Liu's deviation, and for P-T Chen's T_m with theta_A
= P and theta_r = P's initialisation (for RI-T theta_A would be theta_r: T = 1 by definition).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from repro.chen2022 import protocol as chen
from repro.neyshabur2020 import protocol as neyshabur
from repro.plan import dependencies
from repro.registry import Paper, experiments_of, lazy_compare
from repro.runs import (EPOCHS, WEIGHTS, AnalysisRun, ChosenRun, Need, Run, Seeds, TrainRun, axes, derive_seed,
                        seed_salt)
from repro.store import scale_dir_name
from repro.yosinski2014 import protocol as yosinski

STUDY = "atlas"
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")  # the transferable layers, n = 1..7
ALL = len(LAYERS)  # theta_FB: AnB+ with every transferable layer copied


@dataclass(frozen=True)
class Scale:
    """What differs between scales: which of the paper's runs the atlas reads, and the analyses' sizes."""

    name: str
    home_scale: str  # the Yosinski scale whose random-split runs the atlas reads
    splits: tuple[int, ...]
    depths: tuple[int, ...]
    examples: int  # target images every measure uses: the first validation images; training: as many, class-balanced
    interpolation_points: int  # alphas in [0, 1] for the barrier
    criticality_alphas: tuple[float, ...]
    criticality_sigmas: tuple[float, ...]
    criticality_samples: int
    criticality_epsilon: float  # threshold = (1 + epsilon) L(theta_FB): the relative form, 1%
    lanczos_order: int  # Lanczos steps for the top Hessian eigenvalue
    chen_home_scale: str  # the Chen et al. 2022 scale whose fine-tuned ResNets the atlas reads
    chen_targets: tuple[str, ...] | None  # the targets of that scale it reads (None: all)
    block_criticality_examples: int  # the ResNet families': class-balanced training images for the criticality (cost)
    block_criticality_samples: int
    neyshabur_home_scale: str  # the Neyshabur et al. 2020 scale whose P-T and RI-T networks the atlas reads
    neyshabur_targets: tuple[str, ...] | None  # its learning-curve targets it reads (None: every single-label one)
    neyshabur_repeats: tuple[int, ...]  # the runs of each arm it reads (1: the paper's run 1, 2: its second)
    experiments: tuple[str, ...] = ("layers", "resnet_blocks", "pt_modules", "rit_modules")


MINI_SCALE = Scale(
    name="mini", home_scale="mini", splits=(0, 1), depths=tuple(range(1, ALL + 1)), examples=1000,
    interpolation_points=11,
    # sigma: the official paper-scale grid 0.001-0.1 and the Neyshabur mini's 0.2, 0.5 (docs/atlas.md, pilot A1: the
    # mini's 0.01-0.5 alone left 9 of 14 cells without an accepted point)
    criticality_alphas=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    criticality_sigmas=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
    criticality_samples=3, criticality_epsilon=0.01, lanczos_order=20,
    # Chen's ResNets: 17 blocks x 9 targets; the criticality grid on 250 images with one draw costs 4.2 s per block
    # against about 50 s with the CaffeNets' 1,000 images and three draws (docs/atlas.md, Chen's "Data"); Neyshabur's
    # ResNets (17 modules x 12 networks) take the same sizes
    chen_home_scale="mini", chen_targets=None, block_criticality_examples=250, block_criticality_samples=1,
    neyshabur_home_scale="mini", neyshabur_targets=None, neyshabur_repeats=(1, 2),
)
SMOKE_SCALE = Scale(
    name="smoke", home_scale="smoke", splits=(0,), depths=(1, 4, 7), examples=40, interpolation_points=3,
    criticality_alphas=(0.0, 1.0), criticality_sigmas=(0.01, 0.1), criticality_samples=1, criticality_epsilon=0.01,
    lanczos_order=3, chen_home_scale="smoke", chen_targets=("fashion-rotate-n2000", "digits-invert-n1000"),
    block_criticality_examples=20, block_criticality_samples=1,
    neyshabur_home_scale="smoke", neyshabur_targets=("mnist",), neyshabur_repeats=(1,),
)
PAPER_SCALE = replace(
    MINI_SCALE, name="paper", home_scale="paper",  # ImageNet CaffeNets of splits 0 and 1 (the code's fine-tuned ones)
    chen_home_scale="paper",  # Chen's ImageNet ResNet-50 and its fine-tunings
    neyshabur_home_scale="paper",  # Neyshabur's P-T and RI-T on DomainNet (CheXpert's multi-label AUC: left out)
    examples=1000,  # a full-Gram CKA of conv1's 55 x 55 x 96 maps on 1,000 images: about 1.2 GB per network
)
SCALES = {s.name: s for s in (SMOKE_SCALE, MINI_SCALE, PAPER_SCALE)}

EXPERIMENTS = {"layers": "every paper's measure at each depth n of Yosinski's random-split networks, per split",
               "resnet_blocks": "every per-layer measure at each block of Chen's fine-tuned ResNets, per target",
               "pt_modules": "every per-layer measure at each module of Neyshabur's P-T networks, per target and run",
               "rit_modules": "the same on Neyshabur's RI-T networks (trained from scratch; no Chen T)"}
ARM_EXPERIMENT = {"P-T": "pt_modules", "RI-T": "rit_modules"}
CELL = ("split", "n", "layer")
BLOCK_CELL = ("target", "b", "block")
MODULE_CELL = ("network", "target", "run", "b", "module")
ACCURACIES = ("acc_base_B", "acc_base_A", "yosinski_AnB", "yosinski_BnB", "yosinski_AnB_plus")
MEASURES = ("chen_T", "neyshabur_cka", "neyshabur_l2", "neyshabur_rewound_acc", "neyshabur_criticality",
            "liu_deviation", "neyshabur_barrier", "liu_lambda_max")
COLUMNS = ACCURACIES + MEASURES + ("acc_finetuned", "acc_finetuned_r2", "lanczos_residual", "n_examples", "seconds")
BLOCK_MEASURES = ("chen_T", "neyshabur_cka", "neyshabur_l2", "neyshabur_rewound_acc", "neyshabur_criticality",
                  "liu_deviation")  # the per-layer measures; the barrier and the Hessian need a network per depth
BLOCK_COLUMNS = BLOCK_MEASURES + ("acc_finetuned", "n_examples", "n_criticality_examples", "seconds")
# Neyshabur's networks: Figure 5's rewound accuracy (the reference) first; Chen's T on P-T only
MODULE_MEASURES = {"P-T": ("neyshabur_rewound_acc", "chen_T", "neyshabur_cka", "neyshabur_l2",
                           "neyshabur_criticality", "liu_deviation"),
                   "RI-T": ("neyshabur_rewound_acc", "neyshabur_cka", "neyshabur_l2", "neyshabur_criticality",
                            "liu_deviation")}
MODULE_COLUMNS = {arm: measures + ("acc_final", "lr", "trained_run", "n_examples", "n_criticality_examples",
                                   "seconds") for arm, measures in MODULE_MEASURES.items()}


@dataclass(frozen=True)
class CriticalitySizes:
    """The grid of Chatterji et al.'s criticality every analysis of the atlas measures on (its fields come first in
    each analysis's inputs)."""

    criticality_alphas: tuple[float, ...]
    criticality_sigmas: tuple[float, ...]
    criticality_samples: int
    criticality_epsilon: float


@dataclass(frozen=True)
class DepthInputs(CriticalitySizes):
    """The runs one (split, depth) analysis reads, by role, and the sizes of its analyses."""

    split: int
    n: int
    layer: str
    source: str  # theta_A: half{s}A
    base_target: str  # half{s}B
    transfer: str  # AnB at n, frozen
    selffer: str  # BnB at n, frozen
    finetuned: str  # AnB+ at n
    finetuned_r2: str  # its second seed
    finetuned_all: str  # theta_FB: AnB+ at n = 7
    metric: str  # the accuracy column of the paper's grid at this scale
    seed_set: int  # the seed set of the paper's runs (and of the analyses' noise and Lanczos start)
    examples: int
    interpolation_points: int
    lanczos_order: int


@dataclass(frozen=True)
class BlockInputs(CriticalitySizes):
    """The runs one (target, block) analysis of Chen's networks reads, by role, and the sizes of its analyses."""

    target: str
    b: int  # 1 = the stem, then the bottlenecks in network order
    block: str  # Chen's group: 'stem' or 'layer<s>.<i>' (repro.chen2022.analyses.chen_groups)
    module: str  # Neyshabur's module of the same layers: 'conv1' for the stem (repro.neyshabur2020.analyses)
    source: str  # theta_A (best epoch) and theta_r (epoch 0): Chen's source run
    finetuned: str  # theta_FB (best epoch): Chen's fine-tuning on the target
    transferability: str  # Chen's analysis of that fine-tuning, whose row holds T_b
    seed_set: int
    examples: int
    criticality_examples: int


@dataclass(frozen=True)
class ModuleInputs(CriticalitySizes):
    """The runs one (network, module) analysis of Neyshabur's networks reads, and the sizes of its analyses."""

    arm: str  # "P-T" or "RI-T"
    target: str
    repeat: int  # the arm's run 1 or 2 (the paper's "P-T" and "P-T 2")
    b: int  # 1 = conv1, then the bottlenecks in network order
    module: str  # Neyshabur's module: 'conv1' or 'layer<s>.<i>'
    network: "str | ChosenRun"  # theta_F (final weights) and theta_0 (its checkpoint 0): the run at the arm's lr
    source: str | None  # P, whose checkpoint 0 is theta_r of Chen's T (P-T); None for RI-T
    seed_set: int
    examples: int
    criticality_examples: int


def chen_blocks(blocks: tuple[int, ...]) -> tuple[str, ...]:
    """Chen's groups of the body of a ResNet with ``blocks`` bottlenecks per stage, in network order: the stem, then
    one per bottleneck (the classifier is not transferred)."""
    return ("stem",) + tuple(f"layer{stage}.{i}" for stage, n in enumerate(blocks, start=1) for i in range(n))


def chen_runs(scale: Scale, seed_set: int) -> list[Run]:
    """Chen's source, fine-tunings and their transferability rows (in that paper's tree; the source in the shared
    sources), and one analysis per (target, block)."""
    paper = chen.SCALES[scale.chen_home_scale]
    names = scale.chen_targets or tuple(t.name for t in paper.targets)
    home = f"{chen.PAPER}/{scale_dir_name(scale.chen_home_scale, seed_set)}"
    rows = {dict(r.axes)["target"]: r for r in chen.grid("transferability", scale.chen_home_scale, seed_set)
            if dict(r.axes)["target"] in names}
    source = next(iter(rows.values())).param("source")
    finetuned = {target: row.param("finetuned") for target, row in rows.items()}
    trained = {r.key: r for r in chen.runs(scale.chen_home_scale, seed_set) if isinstance(r, TrainRun)}
    borrowed = [trained[source]] + [replace(r, home=home) for r in
                                    [trained[finetuned[t]] for t in names] + [rows[t] for t in names]]
    declared: list[Run] = list(borrowed)
    for target in names:
        for b, block in enumerate(chen_blocks(paper.blocks), start=1):
            inputs = BlockInputs(
                target=target, b=b, block=block, module="conv1" if block == "stem" else block, source=source,
                finetuned=finetuned[target], transferability=rows[target].key, seed_set=seed_set,
                examples=scale.examples, criticality_examples=scale.block_criticality_examples,
                criticality_alphas=scale.criticality_alphas, criticality_sigmas=scale.criticality_sigmas,
                criticality_samples=scale.block_criticality_samples, criticality_epsilon=scale.criticality_epsilon)
            declared.append(AnalysisRun(
                key=f"block{b:02d}_{target}", experiment="resnet_blocks", axes=axes(target=target, b=b, block=block),
                function="repro.atlas.measures:block_row", params=inputs,
                inputs=(Need(source, (EPOCHS,)), Need(finetuned[target], (EPOCHS,)), Need(rows[target].key))))
    return declared


def neyshabur_targets(scale: Scale) -> tuple[str, ...]:
    """The Neyshabur learning-curve targets the atlas reads: the scale's, or every single-label one (the shared
    measures compute accuracy and cross-entropy; CheXpert's five labels and mean AUC are not that)."""
    paper = neyshabur.SCALES[scale.neyshabur_home_scale]
    return scale.neyshabur_targets or tuple(t.name for t in paper.targets_of("learning_curves")
                                            if t.loss == "softmax")


def neyshabur_runs(scale: Scale, seed_set: int) -> list[Run]:
    """P, the learning-curve runs and lr choices of each arm on each target (in Neyshabur's tree; P in the shared
    sources), and one analysis per (network, module)."""
    paper = replace(neyshabur.SCALES[scale.neyshabur_home_scale], seed_set=seed_set)
    home = f"{neyshabur.PAPER}/{scale_dir_name(scale.neyshabur_home_scale, seed_set)}"
    names = neyshabur_targets(scale)
    source = neyshabur.source_key(paper)
    modules = ("conv1",) + chen_blocks(paper.blocks)[1:]
    analyses: list[Run] = []
    for arm in neyshabur.ARMS:
        for target in names:
            for repeat in scale.neyshabur_repeats:
                network = neyshabur.role_run(paper, arm, target, repeat)
                keys = network.keys() if isinstance(network, ChosenRun) else (network,)
                needs = ((Need(network.search),) if isinstance(network, ChosenRun) else ()) + tuple(
                    Need(k, (WEIGHTS, EPOCHS)) for k in keys)
                if arm == "P-T":
                    needs += (Need(source, (EPOCHS,)),)
                for b, module in enumerate(modules, start=1):
                    inputs = ModuleInputs(
                        arm=arm, target=target, repeat=repeat, b=b, module=module, network=network,
                        source=source if arm == "P-T" else None, seed_set=seed_set, examples=scale.examples,
                        criticality_examples=scale.block_criticality_examples,
                        criticality_alphas=scale.criticality_alphas, criticality_sigmas=scale.criticality_sigmas,
                        criticality_samples=scale.block_criticality_samples,
                        criticality_epsilon=scale.criticality_epsilon)
                    analyses.append(AnalysisRun(
                        key=f"module{b:02d}_{neyshabur.ARM_CODE[arm]}_{target}_r{repeat}",
                        experiment=ARM_EXPERIMENT[arm],
                        axes=axes(network=f"{target}_r{repeat}", target=target, run=repeat, b=b, module=module),
                        function="repro.atlas.measures:module_row", params=inputs, inputs=needs))
    paper_runs = neyshabur.runs(scale.neyshabur_home_scale, seed_set)
    index = {r.key: r for r in paper_runs}
    needed = {need.key for run in analyses for need in run.inputs}  # the runs read, and what they need in turn
    needed.update(*(dependencies(index[key], index) for key in list(needed)))
    borrowed = [r if r.key == source else replace(r, home=home) for r in paper_runs if r.key in needed]
    return borrowed + analyses


def second_seed(run: TrainRun, scale: Scale, seed_set: int) -> TrainRun:
    """``run`` (an AnB+ of the paper's grid) again with its own seeds, in the atlas's tree: the same source,
    depth, data and schedule; another initialisation of the layers above n and another batch order."""
    key = f"{run.key}_r2"
    seed = derive_seed(STUDY, scale.name, key, *seed_salt(seed_set))
    return replace(run, key=key, experiment=None, home=None,
                   axes=axes(**{**dict(run.axes), "seed": seed}),
                   seeds=Seeds(init=derive_seed(seed, "init"), data=derive_seed(seed, "data")))


def runs(scale_name: str, seed_set: int = 0) -> list[Run]:
    """Yosinski's random-split runs (in its tree), the second seeds and one analysis per (split, depth); then
    Chen's networks and one analysis per (target, block) (:func:`chen_runs`), and Neyshabur's and one analysis
    per (network, module) (:func:`neyshabur_runs`)."""
    scale = SCALES[scale_name]
    home = f"{yosinski.PAPER}/{scale_dir_name(scale.home_scale, seed_set)}"
    borrowed = {r.key: replace(r, home=home) for r in yosinski.grid("random_splits", scale.home_scale, seed_set)}
    declared: list[Run] = list(borrowed.values())
    for split in scale.splits:
        a, b = f"{split}A", f"{split}B"
        for n in scale.depths:
            finetuned = borrowed[f"transfer-ft{a}{b}_1_{n}"]
            declared.append(second_seed(finetuned, scale, seed_set))
        for n in scale.depths:
            inputs = DepthInputs(
                split=split, n=n, layer=LAYERS[n - 1], source=f"half{a}", base_target=f"half{b}",
                transfer=f"transfer{a}{b}_1_{n}", selffer=f"transfer{a}{a}_1_{n}", finetuned=f"transfer-ft{a}{b}_1_{n}",
                finetuned_r2=f"transfer-ft{a}{b}_1_{n}_r2", finetuned_all=f"transfer-ft{a}{b}_1_{ALL}",
                metric=yosinski.SCALES[scale.home_scale].metric, seed_set=seed_set, examples=scale.examples, interpolation_points=scale.interpolation_points,
                criticality_alphas=scale.criticality_alphas, criticality_sigmas=scale.criticality_sigmas,
                criticality_samples=scale.criticality_samples, criticality_epsilon=scale.criticality_epsilon,
                lanczos_order=scale.lanczos_order)
            weights = (inputs.source, inputs.finetuned, inputs.finetuned_r2, inputs.finetuned_all)
            results = (inputs.base_target, inputs.transfer, inputs.selffer)
            declared.append(AnalysisRun(
                key=f"depth{n}_split{split}", experiment="layers", axes=axes(split=split, n=n, layer=inputs.layer),
                function="repro.atlas.measures:depth_row", params=inputs,
                inputs=tuple(Need(k, (WEIGHTS,)) for k in dict.fromkeys(weights)) + tuple(Need(k) for k in results)))
    return declared + chen_runs(scale, seed_set) + neyshabur_runs(scale, seed_set)


PAPER_ENTRY = Paper(
    key=STUDY,
    title="Transferability atlas: the four papers' measures on Yosinski et al. 2014's, Chen et al. 2022's and "
          "Neyshabur et al. 2020's networks, layer by layer",
    experiments=experiments_of(
        EXPERIMENTS, SCALES,
        axes={"layers": CELL, "resnet_blocks": BLOCK_CELL, "pt_modules": MODULE_CELL, "rit_modules": MODULE_CELL},
        columns={"layers": COLUMNS, "resnet_blocks": BLOCK_COLUMNS, "pt_modules": MODULE_COLUMNS["P-T"],
                 "rit_modules": MODULE_COLUMNS["RI-T"]}),
    scales=tuple(SCALES),
    runs=runs,
    compare=lazy_compare("repro.atlas.compare"),
)
