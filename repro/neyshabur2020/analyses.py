"""The analyses of Neyshabur et al. 2020 that train nothing: one function per experiment.

Each takes a finished pair (or single model) of the learning-curve runs,
declared by role in the protocol (:func:`repro.neyshabur2020.protocol.role_ref`:
the first or second run of an arm at its chosen lr, the same-init RI-T run,
or P), and composes the shared :mod:`repro.landscape` and
:mod:`repro.similarity` modules. The official code released only the
interpolation; everything else follows the paper's definitions (§3-4):

- mistakes (§3.1): error sets E_a, E_b on the test set, their overlap
  |E_a ∩ E_b| / |E_a ∪ E_b| (Jaccard) and the disagreement rate;
- CKA (Table 1): linear CKA (Kornblith et al. 2019, biased HSIC) between
  the flattened outputs of conv1 and layer1..layer4 on the first
  ``analysis_examples`` test images, or on the whole test set streamed when
  the scale sets none (paper scale; minibatch CKA, unbiased HSIC in batches
  of 500, beyond 1,000 examples);
- distances (Table 2): ||theta_a - theta_b||_2 over every parameter but the
  classifier (re-initialised at fine-tuning, and of another shape in P),
  whole and per module;
- interpolation (Figures 4, 16): accuracy and loss at ``interpolation_points``
  alphas in [0, 1]; the accuracy barrier is mean(A(0), A(1)) - min A(alpha);
- basin (Definition 3.1): :func:`repro.landscape.basins.estimate_basin`;
- criticality (Figure 5): :func:`repro.landscape.criticality.rewind_modules`
  to the run's checkpoint 0 (P's weights and the fresh classifier for P-T);
- criticality paths (Figure 6): Chatterji et al.'s measure of conv1 on
  training examples, over the direct path and over the epoch checkpoints.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import keras

from repro.files import atomic_write
from repro.landscape._shared import eval_batches, first_examples, write_csv
from repro.landscape.basins import estimate_basin
from repro.landscape.criticality import module_criticality, path_criticality, rewind_modules
from repro.landscape.distances import weight_distances
from repro.landscape.paths import interpolate, write_interpolation_csv
from repro.models.fixup_resnet import module_outputs
from repro.models.resnet import torch_module
from repro.neyshabur2020.protocol import MODULES, SCALES, STAGES, Scale, TargetData, network, source_key
from repro.runs import AnalysisRun
from repro.similarity import cross_model_cka, feature_taps, linear_cka
from repro.train import LOSSES
from repro.workspace import Workspace

CLASSIFIER = r"^fc"
FULL_CKA_EXAMPLES = 1000  # up to this many examples, CKA from the full Gram matrices
CKA_BATCH = 500  # beyond: minibatch linear CKA with this batch (paper scale)


def neyshabur_modules(model: keras.Model) -> dict[str, str]:
    """Variable path -> Neyshabur et al. 2020 module, for every variable of the model.

    The paper (module criticality, Figures 5-6; CKA, Table 1) uses torchvision's
    module tree: ``'conv1'`` (stem conv + its BN), ``'layer1.0'`` ...
    ``'layer4.2'`` (all convs, BN parameters and moving statistics, and the
    downsample of a bottleneck) and ``'fc'`` (kernel and bias): 18 modules
    for ResNet-50, in network order. Rewinding a module rewinds every
    variable mapped to it.
    """
    modules: dict[str, str] = {}
    for layer in model.layers:
        module = torch_module(layer.name)
        if module is not None:
            for variable in layer.variables:
                modules[variable.path] = module
    if "conv1" not in modules.values() or "fc" not in modules.values():
        raise ValueError(f"model {model.name!r} has no 'stem_conv'/'fc' layers: not built by repro.models.resnet")
    return modules


def _scale(run: AnalysisRun) -> Scale:
    return SCALES[run.param("scale")]


def _loss_fn(run: AnalysisRun):
    """The target's per-example loss (multi-label BCE with mean AUC for CheXpert, else cross-entropy)."""
    return LOSSES[_scale(run).target(run.param("target")).loss]


def _target_data(run: AnalysisRun, workspace: Workspace):
    return workspace.data(TargetData(run.param("scale"), run.param("target")))[0]


class _Passes:
    """The whole test set as a re-iterable: every iteration is a new pass over the target's evaluation stream;
    ``examples`` counts the examples of the last complete pass."""

    def __init__(self, data):
        self.data = data
        self.examples = 0

    def __iter__(self):
        count = 0
        for x, y in self.data.validation_batches():
            count += len(y)
            yield x, y
        self.examples = count


def _test_set(run: AnalysisRun, workspace: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """The first ``analysis_examples`` test examples of the target, in memory."""
    data = _target_data(run, workspace)
    return workspace.cached(("test_set", run.param("scale"), run.param("target")), lambda: first_examples(
        data.validation_batches(), _scale(run).analysis_examples))


def _test_batches(run: AnalysisRun, workspace: Workspace):
    """The analyses' test examples as evaluation batches: the first ``analysis_examples`` (in memory), or, when
    the scale sets none, the whole test set streamed pass after pass, as the official scripts evaluate it."""
    if _scale(run).analysis_examples is None:
        return _Passes(_target_data(run, workspace))
    return eval_batches(*_test_set(run, workspace))


def _target_model(run: AnalysisRun, workspace: Workspace, weights: Path, slot: str = "a") -> keras.Model:
    """The command's model of ``slot`` with ``weights`` loaded (one traced evaluation per slot)."""
    scale = _scale(run)
    return workspace.loaded(network(scale, scale.target(run.param("target")).classes), weights, slot=slot)


def _model(run: AnalysisRun, workspace: Workspace, ref, checkpoint: str, slot: str) -> tuple[keras.Model, str]:
    """The model of a role at a checkpoint, and where it came from (run key and checkpoint)."""
    key = workspace.resolve_run(ref)
    if key == source_key(_scale(run)):
        return workspace.loaded(workspace.run(key).model, workspace.weights(key)), "P final"
    where = f"{key} {checkpoint}" + (f" (epoch {workspace.result(key)['best_epoch']})" if checkpoint == "best" else "")
    return _target_model(run, workspace, workspace.weights(key, checkpoint), slot), where


def _pair(run: AnalysisRun, workspace: Workspace):
    """The two models of the run's pair, in worker slots 'a' and 'b'."""
    (ref_a, ckpt_a), (ref_b, ckpt_b) = run.param("ends")
    model_a, where_a = _model(run, workspace, ref_a, ckpt_a, "a")
    model_b, where_b = _model(run, workspace, ref_b, ckpt_b, "b")
    return model_a, model_b, dict(model_a=where_a, model_b=where_b)


def _module_map(model: keras.Model):
    modules = neyshabur_modules(model)
    return lambda path: modules.get(path)


def _stage(module: str) -> str:
    return module.split(".")[0]


def _predictions(model_a: keras.Model, model_b: keras.Model, batches) -> tuple[np.ndarray, ...]:
    """Labels and both models' top-1 predictions over the batches."""
    ys, preds_a, preds_b = [], [], []
    for x, y in batches:
        ys.append(np.asarray(y))
        preds_a.append(np.argmax(model_a(x, training=False), axis=-1))
        preds_b.append(np.argmax(model_b(x, training=False), axis=-1))
    return np.concatenate(ys), np.concatenate(preds_a), np.concatenate(preds_b)


def mistakes(run: AnalysisRun, workspace: Workspace) -> dict:
    """Error sets of the two models on the test set, their overlap and disagreement (§3.1)."""
    model_a, model_b, where = _pair(run, workspace)
    y, pred_a, pred_b = _predictions(model_a, model_b, _test_batches(run, workspace))
    wrong_a, wrong_b = pred_a != y, pred_b != y
    union = int(np.sum(wrong_a | wrong_b))
    atomic_write(workspace.run_dir(run.key) / "predictions.npz",
                 lambda out: np.savez_compressed(out, y=y, pred_a=pred_a, pred_b=pred_b), binary=True)
    return dict(pair=run.param("pair"), n_test=len(y), errors_a=int(wrong_a.sum()), errors_b=int(wrong_b.sum()),
                common_errors=int(np.sum(wrong_a & wrong_b)), only_a=int(np.sum(wrong_a & ~wrong_b)),
                only_b=int(np.sum(wrong_b & ~wrong_a)),
                jaccard=float(np.sum(wrong_a & wrong_b) / union) if union else 1.0,
                disagreement=float(np.mean(pred_a != pred_b)), **where)


def stage_cka(model_a: keras.Model, model_b: keras.Model, x) -> dict[str, float]:
    """Stage -> linear CKA of its output (:func:`repro.models.fixup_resnet.module_outputs`) between the two
    models on the examples ``x``, from the full features (Table 1)."""
    taps = module_outputs(model_a)
    names = [taps[stage] for stage in STAGES if stage in taps]
    features_a = feature_taps(model_a, names).predict(x, batch_size=250, verbose=0)
    features_b = feature_taps(model_b, names).predict(x, batch_size=250, verbose=0)
    return {stage: linear_cka(fa, fb) for stage, fa, fb in zip(STAGES, features_a, features_b)}


def cka(run: AnalysisRun, workspace: Workspace) -> dict:
    """Linear CKA of each stage's output (conv1, layer1..layer4) between the pair (Table 1)."""
    model_a, model_b, where = _pair(run, workspace)
    taps = module_outputs(model_a)
    names = [taps[stage] for stage in STAGES if stage in taps]
    if _scale(run).analysis_examples is None:  # the whole test set, streamed: minibatch CKA over its batches
        passes = _Passes(_target_data(run, workspace))
        by_layer = cross_model_cka(model_a, model_b, names, passes, batch_size=CKA_BATCH)
        values = {f"cka_{stage}": by_layer[name] for stage, name in zip(STAGES, names)}
        return dict(pair=run.param("pair"), n_examples=passes.examples, **values, **where)
    x, _ = _test_set(run, workspace)
    if len(x) <= FULL_CKA_EXAMPLES:
        values = {f"cka_{stage}": value for stage, value in stage_cka(model_a, model_b, x).items()}
    else:  # the full Gram of 224 x 224 feature maps does not fit: minibatch CKA (Nguyen et al. 2021)
        by_layer = cross_model_cka(model_a, model_b, names, x, batch_size=CKA_BATCH)
        values = {f"cka_{stage}": by_layer[name] for stage, name in zip(STAGES, names)}
    return dict(pair=run.param("pair"), n_examples=len(x), **values, **where)


def pair_distances(model_a: keras.Model, model_b: keras.Model):
    """||theta_a - theta_b||_2 over every variable but the classifier's, whole and per module (Table 2)."""
    body = {v.path: v.numpy() for v in model_a.weights if not v.path.startswith("fc")}
    other = {v.path: v.numpy() for v in model_b.weights if not v.path.startswith("fc")}
    return weight_distances(model_a, body, other, exclude=CLASSIFIER, modules=_module_map(model_a))


def distances(run: AnalysisRun, workspace: Workspace) -> dict:
    """||theta_a - theta_b||_2 without the classifier, whole and per stage; per module in ``distances.csv``."""
    model_a, model_b, where = _pair(run, workspace)
    result = pair_distances(model_a, model_b)
    write_csv(workspace.run_dir(run.key) / "distances.csv", [
        dict(module=d.name, l2=d.l2, size=d.size, rms=d.l2 / np.sqrt(d.size)) for d in result.modules])
    stages: dict[str, list] = {}
    for d in result.modules:
        stages.setdefault(_stage(d.name), []).append(d)
    per_stage = {}
    for stage, parts in stages.items():
        l2 = float(np.sqrt(sum(d.l2 ** 2 for d in parts)))
        size = sum(d.size for d in parts)
        per_stage[f"l2_{stage}"] = l2
        per_stage[f"rms_{stage}"] = l2 / np.sqrt(size)
    return dict(pair=run.param("pair"), l2=result.total.l2, n_parameters=result.total.size, **per_stage, **where)


def interpolation(run: AnalysisRun, workspace: Workspace) -> dict:
    """Accuracy and loss along (1 - a) theta_a + a theta_b, a in [0, 1] (Figures 4, 16); curve in ``curve.csv``."""
    scale = _scale(run)
    model_a, model_b, where = _pair(run, workspace)
    points = scale.target(run.param("target")).interpolation_points or scale.interpolation_points
    alphas = np.linspace(0.0, 1.0, points)
    line = interpolate(model_a, _test_batches(run, workspace), model_a, model_b, alphas=alphas,
                       loss_fn=_loss_fn(run))
    write_interpolation_csv(line, workspace.run_dir(run.key) / "curve.csv", dict(pair=run.param("pair")))
    accuracy = line.accuracies
    lowest = int(np.argmin(accuracy))
    return dict(pair=run.param("pair"), points=len(alphas), acc_start=float(accuracy[0]),
                acc_end=float(accuracy[-1]), acc_mid=float(np.interp(0.5, alphas, accuracy)),
                acc_min=float(accuracy[lowest]), alpha_min=float(alphas[lowest]),
                acc_barrier=float((accuracy[0] + accuracy[-1]) / 2 - accuracy[lowest]),
                loss_barrier=line.barrier, max_rise=float(np.max(np.diff(accuracy), initial=0.0)), **where)


def basin(run: AnalysisRun, workspace: Workspace) -> dict:
    """The (epsilon, delta)-basin of the two P-T solutions (Definition 3.1), extrapolating beyond both."""
    scale = _scale(run)
    model_a, model_b, where = _pair(run, workspace)
    found = estimate_basin(model_a, _test_batches(run, workspace), model_a, model_b, loss_fn=_loss_fn(run),
                           steps=scale.basin_steps, deltas=scale.basin_deltas, n_samples=scale.basin_samples, seed=0)
    write_csv(workspace.run_dir(run.key) / "basin.csv", [
        dict(kind="extrapolation", x=float(a), value=float(v))
        for a, v in zip(found.extrapolation_alphas, found.extrapolation_losses)] + [
        dict(kind=kind, x=float(d), value=float(v))
        for kind, values in (("boundary_excess", found.boundary_excess), ("beyond_excess", found.beyond_excess))
        for d, v in zip(found.deltas, values)])
    return dict(pair=run.param("pair"), epsilon=found.epsilon, delta=found.delta, mu=found.mu, level=found.level,
                alpha_low=found.alpha_low, alpha_high=found.alpha_high,
                closed=bool(found.closed_low and found.closed_high), line_length=found.line_length,
                dimension=found.dimension, n_samples=found.n_samples, **where)


def criticality(run: AnalysisRun, workspace: Workspace) -> dict:
    """Test accuracy with one module at a time rewound to the run's checkpoint 0 (Figure 5)."""
    key = workspace.resolve_run(run.param("run"))
    model = _target_model(run, workspace, workspace.weights(key, "final"))
    rewound = rewind_modules(model, _test_batches(run, workspace), workspace.weights(key, "init"),
                             loss_fn=_loss_fn(run), modules=_module_map(model))
    values = {f"acc_{module.replace('.', '_')}": e.accuracy for module, e in zip(rewound.modules, rewound.rewound)}
    missing = [m for m in MODULES if f"acc_{m.replace('.', '_')}" not in values]
    return dict(lr=workspace.result(key)["lr"], run=key, acc_final=rewound.final.accuracy,
                loss_final=rewound.final.loss, **values, modules_absent=" ".join(missing))


def criticality_paths(run: AnalysisRun, workspace: Workspace) -> dict:
    """Chatterji et al.'s criticality of conv1 on training examples over the direct or optimization path (Figure 6).

    Direct: the module moves on theta^0 -> theta^F, the grid is (alpha,
    sigma). Optimization: the module sits at each epoch checkpoint, the
    grid is (checkpoint, sigma) with x = the distance travelled along the
    checkpoints. ``heatmap.csv`` holds every grid point; the threshold is
    1% above the final training loss (relative epsilon 0.01).
    """
    scale = _scale(run)
    path = run.axis("path")
    key = workspace.resolve_run(run.param("run"))
    model = _target_model(run, workspace, workspace.weights(key, "final"))
    data = _target_data(run, workspace)
    dataset = eval_batches(*first_examples(data.train_eval_batches(scale.criticality_examples),
                                       scale.criticality_examples))
    options = dict(module=run.param("module"), loss_fn=_loss_fn(run), modules=_module_map(model),
                   sigmas=scale.criticality_sigmas, n_samples=scale.criticality_samples, epsilon=0.01, relative=True,
                   seed=0)
    rows = []
    if path == "direct":
        found = module_criticality(model, dataset, workspace.weights(key, "init"), alphas=scale.criticality_alphas,
                                   **options)
        for a, alpha in enumerate(found.alphas):
            for s, sigma in enumerate(found.sigmas):
                rows.append(dict(x=alpha * found.distance, alpha=alpha, sigma=sigma,
                                 loss=found.mean_losses[a, s], accuracy=found.mean_accuracies[a, s]))
        measure, distance, final_loss = found.measure, found.distance, found.final_loss
    else:
        found = path_criticality(model, dataset, [str(c) for c in workspace.epoch_files(key)], alphas=(0.0,),
                                 **options)
        for k, (length, point) in enumerate(zip(found.path_length, found.results)):
            for s, sigma in enumerate(point.sigmas):
                rows.append(dict(x=length, checkpoint=k, sigma=sigma, loss=point.mean_losses[0, s],
                                 accuracy=point.mean_accuracies[0, s]))
        measure, distance, final_loss = float("nan"), float(found.path_length[-1]), found.results[0].final_loss
    write_csv(workspace.run_dir(run.key) / "heatmap.csv", rows)
    accepted = [r for r in rows if r["loss"] <= (1.01 * final_loss)]
    return dict(module=run.param("module"), run=key, measure=measure, distance=distance, final_train_loss=final_loss,
                points=len(rows), points_within_threshold=len(accepted))
