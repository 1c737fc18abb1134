"""One row of the atlas: every paper's measure at depth n of one split's networks (docs/atlas.md).

Notation: theta_r the source's initialisation, theta_A the source (half{s}A),
theta_FB the network fine-tuned on B from every transferable layer of theta_A
(AnB+ at n = 7), theta_n and theta_n' the two seeds of AnB+ at depth n.
Validation images of B are the evaluation set; the criticality constraint and
the Hessian use training images of B (the first ones of every class of B), as
the papers measure them on the training loss.

* Yosinski et al. 2014 (§4.1, Fig. 2): acc(AnB_n) - acc(baseB),
  acc(BnB_n) - acc(baseA), acc(AnB+_n) - acc(baseB), with the accuracy the
  paper's grid reports at this scale.
* Chen et al. 2022 (§3): T_n = D_n(theta_r, theta_FB) / D_n(theta_A, theta_FB),
  D = mean |a - b| over layer n's kernel (:mod:`repro.chen2022.measure`).
* Neyshabur et al. 2020: linear CKA between layer n's outputs under theta_A
  and theta_FB (§3.2, Table 1); ||theta_FB,n - theta_A,n||_2 over the layer's
  kernel and bias (Table 2); the accuracy of theta_FB with layer n rewound to
  theta_A (§3.5, Fig. 5); Chatterji et al.'s criticality of layer n on the
  direct path theta_A -> theta_FB (Fig. 6); the loss barrier
  max_a [L((1-a) theta_n + a theta_n') - ((1-a) L(theta_n) + a L(theta_n'))]
  (§3.3, Fig. 4).
* Liu et al. 2019: the weight deviation ||theta_FB,n - theta_A,n||_F of layer
  n's kernel (§4.2, ``fine-tune.py``), and the top eigenvalue of the Hessian of
  the training loss over the transferred block, layers 1..n, at theta_n
  (§4.1's flatness).

On Chen et al. 2022's ResNets (:func:`block_row`), block b is the stem or one
bottleneck of theta_FB (every body layer of theta_A fine-tuned on the target):
T_b is the paper's own row; CKA is taken on the block's output, the distance,
rewinding and criticality on Neyshabur's module of the block (convolutions,
BatchNorm and the shortcut), Liu's deviation on its convolution kernels.

On Neyshabur et al. 2020's Fixup ResNets (:func:`module_row`), module m of a
P-T or RI-T network theta_F is measured the same way against theta_0, the
run's checkpoint 0 (P's body and a fresh classifier for P-T, the random init
for RI-T), the point Figure 5 rewinds to: the rewound accuracy (the reference),
CKA, distance, criticality and deviation; for P-T also Chen's T_m with
theta_A = P's body and theta_r = P's initialisation.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import keras
import numpy as np

from repro.atlas.protocol import LAYERS, STUDY, BlockInputs, CriticalitySizes, DepthInputs, ModuleInputs
from repro.chen2022 import measure as chen
from repro.chen2022.analyses import chen_groups
from repro.chen2022.protocol import group_column
from repro.landscape.criticality import module_criticality, rewind_modules
from repro.landscape.curvature import hessian_eigenpairs
from repro.landscape._shared import eval_batches, first_examples
from repro.landscape.distances import Distances, weight_distances
from repro.landscape.paths import interpolate
from repro.neyshabur2020.analyses import neyshabur_modules
from repro.runs import AnalysisRun, derive_seed, seed_salt
from repro.similarity import feature_taps, linear_cka
from repro.workspace import Workspace

BATCH = 500


def first_per_class(source: Iterable, k: int, classes: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``k // len(classes)`` examples of each of ``classes`` in a stream of ``(x, y)`` batches, in stream
    order, as a re-iterable list of batches of at most :data:`BATCH`: a sample of the whole task even where the
    stream is sorted by class (a task of two datasets lists one dataset's images first)."""
    per_class = max(1, k // len(classes))
    wanted = {int(c): per_class for c in classes}
    xs, ys = [], []
    for x, y in source:
        x, y = np.asarray(x), np.asarray(y)
        keep = np.zeros(len(y), bool)
        for i, label in enumerate(y):
            if wanted.get(int(label), 0) > 0:
                wanted[int(label)] -= 1
                keep[i] = True
        xs.append(x[keep])
        ys.append(y[keep])
        if not any(wanted.values()):
            break
    return eval_batches(np.concatenate(xs), np.concatenate(ys), BATCH)


def target_examples(data, k: int) -> tuple[list, list]:
    """The target's evaluation batches: its first ``k`` validation images, and ``k`` unaugmented training images
    balanced over the classes the validation images hold (read once per task and command)."""
    validation = eval_batches(*first_examples(data.validation_batches(), k), BATCH)
    classes = sorted({int(label) for _, y in validation for label in y})
    return validation, first_per_class(data.train_eval_batches(data.n_train), k, classes)


def layer_output(layer: str) -> str:
    """The representation of a CaffeNet layer: its ReLU's output (``conv3`` -> ``relu3``, ``fc6`` -> ``relu6``)."""
    return f"relu{LAYERS.index(layer) + 1}"


def block_pattern(n: int) -> str:
    """The variables of layers 1..n (kernels and biases): the transferred block at depth n."""
    return r"^(" + "|".join(LAYERS[:n]) + r")/"


def yosinski_accuracies(p: DepthInputs, workspace: Workspace) -> dict:
    """The base nets' accuracies and AnB, BnB, AnB+ at depth n minus their base net (Yosinski et al. 2014 Fig. 2)."""
    acc = {role: float(workspace.result(key)[p.metric]) for role, key in
           (("A", p.source), ("B", p.base_target), ("AnB", p.transfer), ("BnB", p.selffer),
            ("AnB+", p.finetuned))}
    return dict(acc_base_B=acc["B"], acc_base_A=acc["A"], yosinski_AnB=acc["AnB"] - acc["B"],
                yosinski_BnB=acc["BnB"] - acc["A"], yosinski_AnB_plus=acc["AnB+"] - acc["B"])


def module_measures(theta_a: keras.Model, theta_fb: keras.Model, tap: str, modules, module: str, validation: list,
                    training: list, p: CriticalitySizes, seed: int) -> tuple[dict, Distances, float]:
    """What both families measure on one module of theta_FB, with theta_A the weights it is compared and rewound
    to: Neyshabur's linear CKA of the layer ``tap`` under both, and the module's distance, rewound accuracy and
    criticality (``modules`` maps variables to ``module``); with every variable's distance and theta_FB's own
    accuracy."""
    x = np.concatenate([batch[0] for batch in validation])
    cka = linear_cka(feature_taps(theta_a, [tap]).predict(x, batch_size=BATCH, verbose=0),
                     feature_taps(theta_fb, [tap]).predict(x, batch_size=BATCH, verbose=0))
    moved = weight_distances(theta_fb, theta_a, None, modules=modules)
    rewound = rewind_modules(theta_fb, validation, theta_a, modules=modules)
    critical = module_criticality(
        theta_fb, training, theta_a, module, modules=modules, alphas=p.criticality_alphas,
        sigmas=p.criticality_sigmas, n_samples=p.criticality_samples, epsilon=p.criticality_epsilon, relative=True,
        seed=seed, measure_only=True)
    measured = dict(neyshabur_cka=cka, neyshabur_l2=next(d.l2 for d in moved.modules if d.name == module),
                    neyshabur_rewound_acc=rewound.rewound[0].accuracy, neyshabur_criticality=critical.measure)
    return measured, moved, rewound.final.accuracy


def layer_measures(p: DepthInputs, theta_r: dict, theta_a: keras.Model, theta_fb: keras.Model, validation: list,
                   training: list, seed: int) -> dict:
    """Chen's T, Neyshabur's CKA, distance (kernel and bias), rewound accuracy and criticality, and Liu's deviation
    (the kernel alone) of layer n (``theta_a`` is also the weight set every landscape measure rewinds to)."""
    kernel = f"{p.layer}/kernel"
    values = {name: {kernel: np.asarray(model.get_layer(p.layer).kernel.numpy())}
              for name, model in (("A", theta_a), ("FB", theta_fb))}
    try:
        t = chen.layer_transferability({kernel: theta_r[kernel]}, values["A"], values["FB"], {kernel: p.layer})[p.layer]
    except ZeroDivisionError:  # fine-tuning left the layer where theta_A put it
        t = float("inf")
    measured, moved, _ = module_measures(theta_a, theta_fb, layer_output(p.layer), {rf"^{p.layer}/": p.layer},
                                         p.layer, validation, training, p, seed)
    deviation = next(d.l2 for d in moved.variables if d.name == kernel)
    return dict(chen_T=t, **measured, liu_deviation=deviation)


def depth_measures(p: DepthInputs, theta_n: keras.Model, theta_n_r2: Path, validation: list, training: list,
                   seed: int) -> dict:
    """Neyshabur's barrier between the two seeds of AnB+ at n, and Liu's top Hessian eigenvalue of its block 1..n."""
    line = interpolate(theta_n, validation, theta_n, theta_n_r2,
                       alphas=tuple(np.linspace(0.0, 1.0, p.interpolation_points)))
    top = hessian_eigenpairs(theta_n, training, include=block_pattern(p.n), k=1, order=p.lanczos_order, seed=seed)
    return dict(neyshabur_barrier=line.barrier, acc_finetuned=line.accuracy_ends[0],
                acc_finetuned_r2=line.accuracy_ends[1], liu_lambda_max=float(top.eigenvalues[0]),
                lanczos_residual=float(top.residuals[0]))


def depth_row(run: AnalysisRun, workspace: Workspace) -> dict:
    """Every measure at depth ``run.params.n`` of split ``run.params.split`` (the module docstring)."""
    p: DepthInputs = run.params
    source, finetuned_all = workspace.run(p.source), workspace.run(p.finetuned_all)
    data, _ = workspace.data(finetuned_all.data)
    validation, training = workspace.cached(("atlas examples", finetuned_all.data, p.examples),
                                            lambda: target_examples(data, p.examples))
    spec = finetuned_all.model
    theta_r = workspace.cached(("init", p.source), lambda: {
        v.path: np.asarray(v.numpy()) for v in source.model.build(seed=source.seeds.init).weights})
    theta_a = workspace.loaded(source.model, workspace.weights(p.source))
    theta_fb = workspace.loaded(spec, workspace.weights(p.finetuned_all), slot="theta_FB")
    seed = derive_seed(STUDY, run.key, *seed_salt(p.seed_set))
    row = dict(**yosinski_accuracies(p, workspace),
               **layer_measures(p, theta_r, theta_a, theta_fb, validation, training, seed))
    theta_n = workspace.loaded(spec, workspace.weights(p.finetuned), slot="theta_n")
    row.update(depth_measures(p, theta_n, workspace.weights(p.finetuned_r2), validation, training, seed))
    return dict(**row, n_examples=sum(len(y) for _, y in validation))


def module_output(module: str) -> str:
    """The representation of a ResNet module: the stem's ReLU output (``conv1``; before its pool, as Neyshabur's
    CKA taps it), a bottleneck's output after the residual sum and ReLU (``layer2.3`` -> ``layer2_block3_out``)."""
    if module == "conv1":
        return "stem_relu"
    stage, index = module.removeprefix("layer").split(".")
    return f"layer{stage}_block{index}_out"


def block_measures(p: "BlockInputs | ModuleInputs", theta_a: keras.Model, theta_fb: keras.Model, validation: list,
                   training: list, seed: int) -> dict:
    """Neyshabur's CKA, distance, rewound accuracy and criticality, and Liu's deviation of module ``p.module`` of
    theta_FB (``theta_a``: the weights it is compared and rewound to, in a network of theta_FB's input size)."""
    block_variables = {path: module for path, module in neyshabur_modules(theta_fb).items() if module == p.module}
    measured, moved, accuracy = module_measures(theta_a, theta_fb, module_output(p.module), block_variables.get,
                                                p.module, validation, training, p, seed)
    kernels = [d.l2 for d in moved.variables if d.name in block_variables and d.name.endswith("/kernel")]
    return dict(**measured, liu_deviation=float(np.sqrt(np.sum(np.square(kernels)))), acc_finetuned=accuracy)


def criticality_examples(workspace: Workspace, data_spec, training: list, k: int) -> list:
    """``k`` class-balanced images of the target's training batches for the criticality (read once per command)."""
    return workspace.cached(("atlas criticality examples", data_spec, k), lambda: first_per_class(
        training, k, sorted({int(label) for _, y in training for label in y})))


def block_row(run: AnalysisRun, workspace: Workspace) -> dict:
    """Every per-layer measure at block ``run.params.b`` of Chen's fine-tuning on ``run.params.target``
    (the module docstring)."""
    p: BlockInputs = run.params
    source, finetuned = workspace.run(p.source), workspace.run(p.finetuned)
    data, _ = workspace.data(finetuned.data)
    validation, training = workspace.cached(("atlas examples", finetuned.data, p.examples),
                                            lambda: target_examples(data, p.examples))
    critical_training = criticality_examples(workspace, finetuned.data, training, p.criticality_examples)
    spec = finetuned.model
    theta_a = workspace.loaded(replace(spec, num_classes=source.model.num_classes), workspace.weights(p.source, "best"))
    theta_fb = workspace.loaded(spec, workspace.weights(p.finetuned, "best"), slot="theta_FB")
    seed = derive_seed(STUDY, run.key, *seed_salt(p.seed_set))
    row = dict(chen_T=float(workspace.result(p.transferability)[group_column(p.block)]),
               **block_measures(p, theta_a, theta_fb, validation, training=critical_training, seed=seed))
    return dict(**row, n_examples=sum(len(y) for _, y in validation),
                n_criticality_examples=sum(len(y) for _, y in critical_training))


def module_transferability(p: ModuleInputs, workspace: Workspace, theta_0: keras.Model,
                           theta_f: keras.Model) -> float:
    """Chen's T_m = D_m(theta_r, theta_F) / D_m(theta_A, theta_F) over the module's conv kernels (Chen's group:
    a bottleneck's three, the stem's one), theta_A = theta_0 (P's copied body), theta_r = P's checkpoint 0."""
    source = workspace.run(p.source)
    theta_r = workspace.loaded(source.model, workspace.weights(p.source, "init"))
    group = "stem" if p.module == "conv1" else p.module
    groups = {path: g for path, g in chen_groups(theta_f).items() if g == group}

    def kernels(model: keras.Model) -> dict:
        return {v.path: np.asarray(v.numpy()) for v in model.variables if v.path in groups}

    try:
        return chen.layer_transferability(kernels(theta_r), kernels(theta_0), kernels(theta_f), groups)[group]
    except ZeroDivisionError:  # fine-tuning left the module where P put it
        return float("inf")


def module_row(run: AnalysisRun, workspace: Workspace) -> dict:
    """Every per-layer measure at module ``run.params.module`` of one of Neyshabur's networks (the module
    docstring): theta_F is the run's final weights, theta_0 its checkpoint 0 (what Figure 5 rewinds to)."""
    p: ModuleInputs = run.params
    key = workspace.resolve_run(p.network)
    trained = workspace.run(key)
    data, _ = workspace.data(trained.data)
    validation, training = workspace.cached(("atlas examples", trained.data, p.examples),
                                            lambda: target_examples(data, p.examples))
    critical_training = criticality_examples(workspace, trained.data, training, p.criticality_examples)
    theta_0 = workspace.loaded(trained.model, workspace.weights(key, "init"), slot="theta_0")
    theta_f = workspace.loaded(trained.model, workspace.weights(key), slot="theta_F")
    measured = block_measures(p, theta_0, theta_f, validation, critical_training,
                              seed=derive_seed(STUDY, run.key, *seed_salt(p.seed_set)))
    acc_final = measured.pop("acc_finetuned")
    chen_t = {} if p.source is None else dict(chen_T=module_transferability(p, workspace, theta_0, theta_f))
    return dict(neyshabur_rewound_acc=measured.pop("neyshabur_rewound_acc"), **chen_t, **measured,
                acc_final=acc_final, lr=workspace.result(key)["lr"], trained_run=key,
                n_examples=sum(len(y) for _, y in validation),
                n_criticality_examples=sum(len(y) for _, y in critical_training))
