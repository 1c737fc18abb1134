"""The analyses of Chen et al. 2022, functions of finished runs: layer-wise T, domain measures, the regression.

theta_r and theta_A come from the source run (task A): its epoch-0
checkpoint is the saved random initialisation (``pretrain_on_ImageNet.py``
saves ``random_init_model.pth``), theta_A its best-validation epoch;
theta_FB is the best-validation epoch of a fine-tuning run. Formulas:
:mod:`repro.chen2022.measure`.
"""
from __future__ import annotations

import math

import numpy as np
import keras

from repro.chen2022 import measure
from repro.chen2022.protocol import GROUPS, PAPER, SCALES, TargetData, data_module, group_column, network
from repro.errors import ReproError
from repro.models.resnet import torch_module
from repro.runs import AnalysisRun, derive_seed, seed_salt
from repro.workspace import Workspace, best_epoch

FEATURES = "avgpool"


def chen_groups(model: keras.Model) -> dict[str, str]:
    """Variable path -> Chen et al. 2022 group, for the tensors their transferability uses.

    The official ``cal_transferability.py`` measures D = mean |theta - theta'|
    over the stem conv kernel, the three conv kernels of each bottleneck and
    the fc kernel; BatchNorm, biases and the downsample (shortcut) convs are
    excluded. The groups, in network order, are ``'stem'``, ``'layer1.0'``
    ... ``'layer4.2'`` (one per bottleneck, three kernels each) and ``'fc'``:
    18 groups for ResNet-50, where group ``l`` is the paper's block ``l``.
    """
    groups: dict[str, str] = {}
    for layer in model.layers:
        module = torch_module(layer.name)
        if isinstance(layer, keras.layers.Conv2D) and module is not None and "downsample" not in layer.name:
            groups[layer.kernel.path] = "stem" if module == "conv1" else module
        elif isinstance(layer, keras.layers.Dense) and module == "fc":
            groups[layer.kernel.path] = "fc"
    if "stem" not in groups.values() or "fc" not in groups.values():
        raise ValueError(f"model {model.name!r} has no 'stem_conv'/'fc' layers: not built by repro.models.resnet")
    return groups


def _kernels(model: keras.Model, paths) -> dict[str, np.ndarray]:
    by_path = {v.path: v for v in model.variables}
    return {path: np.array(by_path[path].numpy()) for path in paths}


def fresh_classifier(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A new classifier kernel as torch's ``nn.Linear`` draws it: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(shape[0])
    return np.random.default_rng(seed).uniform(-bound, bound, size=shape).astype(np.float32)


def transferability(run: AnalysisRun, workspace: Workspace) -> dict:
    """T_l of the 18 groups between theta_r, theta_A (the source's epoch 0 and best epoch) and theta_FB (the
    fine-tuning's best epoch), and the overall T; T's parts, the body's mean distances D(theta_r, theta_A),
    D(theta_A, theta_FB), D(theta_r, theta_FB), and the source kernels' mean magnitude mean |theta_A| (over blocks
    1..17); with the fine-tuning's accuracy and length."""
    source_key, finetuned_key = run.param("source"), run.param("finetuned")
    source, finetuned = workspace.run(source_key), workspace.run(finetuned_key)
    trained = workspace.result(finetuned_key)
    paths = dict(theta_r=workspace.weights(source_key, "init"), theta_a=workspace.weights(source_key, "best"),
                 theta_fb=workspace.weights(finetuned_key, "best"))
    model = workspace.loaded(finetuned.model, paths["theta_fb"], slot="theta_FB")
    groups = chen_groups(model)
    theta_fb = _kernels(model, groups)
    theta_r = _kernels(workspace.loaded(source.model, paths["theta_r"]), groups.keys() - {"fc/kernel"})
    theta_a = _kernels(workspace.loaded(source.model, paths["theta_a"]), groups.keys() - {"fc/kernel"})
    shape = theta_fb["fc/kernel"].shape  # the script puts fresh random classifiers into theta_r and theta_A
    salt = seed_salt(run.param("seed_set"))
    theta_r["fc/kernel"] = fresh_classifier(shape, derive_seed(PAPER, run.key, "fc", "r", *salt))
    theta_a["fc/kernel"] = fresh_classifier(shape, derive_seed(PAPER, run.key, "fc", "A", *salt))
    layer_t = measure.layer_transferability(theta_r, theta_a, theta_fb, groups)
    moved = dict(D_r_A=(theta_r, theta_a), D_A_FB=(theta_a, theta_fb), D_r_FB=(theta_r, theta_fb))
    return dict(
        n_train=trained["n_train"], T_overall=measure.overall_transferability(layer_t),
        **{group_column(g): layer_t[g] for g in GROUPS if g in layer_t},
        **{name: measure.body_mean(measure.group_distances(a, b, groups)) for name, (a, b) in moved.items()},
        abs_A=measure.body_mean(measure.group_distances(theta_a, {p: 0.0 for p in theta_a}, groups)),
        test_acc_best=trained["acc_max"], test_acc_final=trained["acc_final"], best_epoch=trained["best_epoch"],
        theta_a_epoch=best_epoch(workspace.run_dir(source_key)), steps=trained["steps"],
        **{name: str(path) for name, path in paths.items()})


def features(model: keras.Model, x: np.ndarray, batch: int = 500) -> np.ndarray:
    """The GAP features (``avgpool``) of ``x`` under ``model``, in inference mode."""
    extractor = keras.Model(model.input, model.get_layer(FEATURES).output)
    return np.concatenate([np.asarray(extractor(x[i:i + batch], training=False)) for i in range(0, len(x), batch)])


def domain_measures(run: AnalysisRun, workspace: Workspace) -> dict:
    """G and D of the target against the source, on theta_A's features (:mod:`repro.chen2022.measure`)."""
    scale = SCALES[run.param("scale")]
    target = scale.target(run.param("target"))
    source_key = run.param("source")
    theta_a = workspace.weights(source_key, "best")
    data = data_module(scale)
    k = scale.feature_examples
    source_features = features(workspace.loaded(network(scale, scale.source_classes), theta_a),
                               data.source_examples(scale, workspace.data_dir, k)[0])
    x, y = data.target_examples(scale, target, workspace.data_dir, k)
    target_features = features(workspace.loaded(network(scale, scale.source_classes, target.size(scale)), theta_a), x)
    n_train = workspace.data(TargetData(scale.name, target.name))[0].n_train
    return dict(n_train=n_train, G=measure.domain_gap(source_features, target_features),
                D=measure.intraclass_variance(source_features, target_features, y),
                n_source_features=len(source_features), n_target_features=len(target_features))


def regression(run: AnalysisRun, workspace: Workspace) -> dict:
    """ln T on standardised (G, D, ln N) over every target (first seed), with the coefficients' OLS standard
    errors."""
    rows = []
    for t_key, gd_key in run.param("runs"):
        t, gd = workspace.result(t_key), workspace.result(gd_key)
        rows.append((gd["G"], gd["D"], math.log(t["n_train"]), math.log(t["T_overall"])))
    g, d, log_n, log_t = (list(column) for column in zip(*rows))
    try:
        fit = measure.standardized_regression({"G": g, "D": d, "lnN": log_n}, log_t)
    except ValueError as error:
        raise ReproError(f"the regression of ln T over {len(rows)} targets of scale {workspace.scale}: {error}") from None
    return dict(coef_G=fit.coefficients["G"], coef_D=fit.coefficients["D"], coef_lnN=fit.coefficients["lnN"],
                **{f"se_{name}": fit.standard_errors[name] for name in ("G", "D", "lnN")},
                intercept=fit.intercept, r2=fit.r2, n_targets=fit.n)

