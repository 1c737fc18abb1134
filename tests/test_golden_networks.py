"""The paper-scale networks against PyTorch's arithmetic, from stored golden values (``tools/golden_networks.py``):
the same weights and batch give the same logits, loss, gradients and weights after 3 optimizer steps."""
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from repro.models.lenet import lenet
from repro.models.resnet import resnet
from repro.train import TorchSGD

GOLDEN = Path(__file__).parent / "golden"


def _draw(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """``tools/golden_networks.py``'s draw of the starting weights (PyTorch layout)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * (1 / np.sqrt(np.prod(shape[1:])) if len(shape) > 1 else 0.05))
            .astype(np.float32) for shape in shapes]


def _batch(seed: int, shape: tuple[int, ...], classes: int) -> tuple[tf.Tensor, tf.Tensor]:
    """``tools/golden_networks.py``'s batch, NCHW -> NHWC."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    return tf.constant(x.transpose(0, 2, 3, 1)), tf.constant(rng.integers(0, classes, size=shape[0]))


def _shapes(golden) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in s.strip("()").split(",") if d.strip()) for s in golden["shapes"]]


def _to_keras(name: str, array: np.ndarray) -> np.ndarray:
    """A PyTorch parameter in Keras' layout: conv OIHW -> HWIO, linear (out, in) -> (in, out); LeNet's fc1 also
    has its inputs permuted from torch's (C, H, W) flatten to Keras' (H, W, C)."""
    if array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    if name == "fc1.weight":
        return array.reshape(500, 50, 4, 4).transpose(2, 3, 1, 0).reshape(800, 500)
    return array.T if array.ndim == 2 else array


def _to_torch(name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:
        return array.transpose(3, 2, 0, 1)
    if name == "fc1.weight":
        return array.reshape(4, 4, 50, 500).transpose(3, 2, 0, 1).reshape(500, 800)
    return array.T if array.ndim == 2 else array


_ATTRIBUTE = {"weight": "kernel", "bias": "bias"}
_BN_ATTRIBUTE = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _resnet_variable(model: keras.Model, name: str):
    """The Keras variable of a torchvision ResNet parameter or buffer (``layer2.0.downsample.1.weight`` ->
    ``layer2_block0_downsample_bn.gamma``)."""
    module, attribute = name.rsplit(".", 1)
    module = {"conv1": "stem_conv", "bn1": "stem_bn"}.get(module, module)
    module = re.sub(r"^layer(\d)\.(\d+)\.", r"layer\1_block\2_", module)
    module = module.replace("downsample.0", "downsample_conv").replace("downsample.1", "downsample_bn")
    layer = model.get_layer(module)
    table = _BN_ATTRIBUTE if isinstance(layer, keras.layers.BatchNormalization) else _ATTRIBUTE
    return getattr(layer, table[attribute])


def _lenet_variable(model: keras.Model, name: str):
    module, attribute = name.rsplit(".", 1)
    return getattr(model.get_layer(module), _ATTRIBUTE[attribute])


def _check(golden, prefix: str, names: list[str], arrays: list[np.ndarray], rtol: float, atol: float) -> float:
    """Sampled entries, norms and sums against the golden summaries; the largest sampled deviation."""
    worst = 0.0
    for row, (name, array) in enumerate(zip(names, arrays)):
        flat = _to_torch(name, array).astype(np.float64).ravel()
        sampled, expected = flat[golden[f"{prefix}_index"][row]], golden[f"{prefix}_values"][row]
        np.testing.assert_allclose(sampled, expected, rtol=rtol, atol=atol, err_msg=name)
        np.testing.assert_allclose(np.linalg.norm(flat), golden[f"{prefix}_norm"][row], rtol=rtol, atol=atol,
                                   err_msg=name)
        np.testing.assert_allclose(flat.sum(), golden[f"{prefix}_sum"][row], rtol=100 * rtol,
                                   atol=atol * np.sqrt(flat.size), err_msg=name)
        worst = max(worst, float(np.max(np.abs(sampled - expected))))
    return worst


def _load(golden, model: keras.Model, variable_of) -> tuple[list[str], list]:
    """The golden starting weights in ``model``; the parameter names (PyTorch's order) and Keras variables."""
    names = [str(n) for n in golden["names"]]
    bn_scales = {str(n) for n in golden["bn_scales"]}
    variables = [variable_of(model, n) for n in names]
    for name, variable, value in zip(names, variables, _draw(_shapes(golden), int(golden["weight_seed"]))):
        variable.assign(_to_keras(name, value + 1.0 if name in bn_scales else value))
    return names, variables


def _compare(golden, model: keras.Model, names: list[str], variables: list, x, y, tolerances: dict) -> dict:
    """Logits, loss and gradients in eval mode, then the weights after ``steps`` TorchSGD steps with weight
    decay; the largest deviation seen in each."""

    def loss_and_grads():
        with tf.GradientTape() as tape:
            logits = model(x, training=False)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
        return logits, loss, tape.gradient(loss, variables)

    worst = {}
    logits, loss, grads = loss_and_grads()
    np.testing.assert_allclose(logits.numpy(), golden["logits"], **tolerances["logits"])
    np.testing.assert_allclose(float(loss), float(golden["loss"]), rtol=1e-6)
    worst["logits"] = float(np.max(np.abs(logits.numpy() - golden["logits"])))
    worst["gradients"] = _check(golden, "grad", names, [g.numpy() for g in grads], **tolerances["gradients"])
    optimizer = TorchSGD(learning_rate=float(golden["lr"]), momentum=0.9)
    wd = float(golden["weight_decay"])
    for _ in range(int(golden["steps"])):
        _, _, grads = loss_and_grads()
        optimizer.apply_gradients(zip([g + wd * v.value for g, v in zip(grads, variables)], variables))
    worst["after steps"] = _check(golden, "after", names, [v.numpy() for v in variables], **tolerances["after"])
    return worst


def test_lenet_matches_pytorch_logits_loss_gradients_and_three_sgd_steps():
    """Dropout off (eval mode) on both sides: the frameworks draw different masks."""
    golden = np.load(GOLDEN / "lenet.npz")
    x, y = _batch(2, (8, 1, 28, 28), 10)
    model = lenet(10, seed=0)
    names, variables = _load(golden, model, _lenet_variable)
    _compare(golden, model, names, variables, x, y, tolerances=dict(
        logits=dict(rtol=1e-5, atol=1e-6), gradients=dict(rtol=1e-4, atol=1e-7), after=dict(rtol=1e-5, atol=1e-7)))


def test_resnet50_matches_pytorch_in_eval_mode():
    """torchvision's ResNet-50 at 64x64: logits, gradients and 3 steps on the BN running statistics (why not in
    train mode: ``tools/golden_networks.py``, ``golden_resnet50``). The tolerances hold at any thread count
    (oneDNN picks other convolution algorithms with more threads: the weights after 3 steps then move by up
    to 5e-6, 1.5e-4 relative)."""
    golden = np.load(GOLDEN / "resnet50.npz")
    x, y = _batch(6, (4, 3, 64, 64), 1000)
    model = resnet((64, 64, 3), 1000, seed=0)
    names, variables = _load(golden, model, _resnet_variable)
    _compare(golden, model, names, variables, x, y, tolerances=dict(
        logits=dict(rtol=1e-4, atol=1e-5), gradients=dict(rtol=1e-3, atol=1e-7), after=dict(rtol=2e-4, atol=1e-5)))


def test_resnet50_batchnorm_in_train_mode_matches_pytorch_and_its_running_statistics():
    """One forward pass in train mode: the logits on batch statistics, and the running mean and variance after
    it (torch's momentum 0.1; torch updates the running variance with the unbiased batch variance)."""
    golden = np.load(GOLDEN / "resnet50.npz")
    x, _ = _batch(6, (4, 3, 64, 64), 1000)
    model = resnet((64, 64, 3), 1000, seed=0)
    _load(golden, model, _resnet_variable)
    logits = model(x, training=True).numpy()
    np.testing.assert_allclose(logits, golden["logits_train"], rtol=1e-3, atol=5e-4)
    buffers = [str(n) for n in golden["buffer_names"]]
    _check(golden, "running", buffers, [_resnet_variable(model, n).numpy() for n in buffers], rtol=1e-4, atol=1e-5)


def test_chen_transferability_matches_the_official_script_on_the_same_weights():
    """Chen et al. 2022's T_l and T (``cal_transferability.py``, run by ``tools/golden_networks.py`` on three
    ResNet-50 weight sets) from the suite's groups (:func:`repro.chen2022.analyses.chen_groups`, on the Keras
    network holding the same weights) and :mod:`repro.chen2022.measure`: the same 18 groups in the same order,
    the same tensors in each, the same values (torch takes the mean in float32, the suite in float64)."""
    from repro.chen2022 import measure
    from repro.chen2022.analyses import chen_groups

    golden = np.load(GOLDEN / "chen_transferability.npz")
    names, shapes = [str(n) for n in golden["names"]], _shapes(golden)
    drawn = [_draw(shapes, int(seed)) for seed in golden["seeds"]]
    weight_sets = (drawn[0], drawn[1], [a + float(step) * d for a, d, step in zip(drawn[1], drawn[2], golden["steps"])])
    model = resnet((64, 64, 3), 10, seed=0)
    groups = chen_groups(model)
    kernels = []
    for arrays in weight_sets:
        for name, value in zip(names, arrays):
            _resnet_variable(model, name).assign(_to_keras(name, value))
        by_path = {v.path: v.numpy() for v in model.variables}
        kernels.append({path: by_path[path] for path in groups})
    layer_t = measure.layer_transferability(*kernels, groups)
    assert len(layer_t) == len(golden["layer_t"]) == 18
    np.testing.assert_allclose(list(layer_t.values()), golden["layer_t"], rtol=1e-5)
    np.testing.assert_allclose(measure.overall_transferability(layer_t), float(golden["overall_t"]), rtol=1e-5)


def _fixup_variable(model: keras.Model, name: str):
    """The Keras variable of an official Fixup ResNet parameter (``layer2.0.bias1a`` -> ``layer2_block0_bias1a``,
    ``layer2.0.downsample.weight`` -> ``layer2_block0_downsample_conv``, ``bias1`` / ``bias2`` -> the stem's and
    the head's scalar biases)."""
    top = {"bias1": ("stem_conv_bias", "bias"), "bias2": ("fc_bias_in", "bias"), "conv1.weight": ("stem_conv", "kernel"),
           "fc.weight": ("fc", "kernel"), "fc.bias": ("fc", "bias")}
    if name in top:
        layer, attribute = top[name]
        return getattr(model.get_layer(layer), attribute)
    stage, block, rest = re.match(r"layer(\d)\.(\d+)\.(.+)$", name).groups()
    prefix = f"layer{stage}_block{block}_"
    if rest == "scale":
        return model.get_layer(prefix + "scale").scale
    if rest.startswith("bias"):
        return model.get_layer(prefix + rest).bias
    return model.get_layer(prefix + rest.replace(".weight", "").replace("downsample", "downsample_conv")).kernel


def _sampled_deviation(golden, prefix: str, names: list[str], arrays: list, rtol: float | None = None) -> float:
    """The largest deviation of the sampled entries from the golden ones; with ``rtol``, norms checked to it on
    the way."""
    worst = 0.0
    for row, (name, array) in enumerate(zip(names, arrays)):
        array = np.asarray(array)
        flat = _to_torch(name, np.reshape(array, -1) if array.ndim == 0 else array).astype(np.float64).ravel()
        if rtol is not None:
            np.testing.assert_allclose(np.linalg.norm(flat), golden[f"{prefix}_norm"][row], rtol=rtol, err_msg=name)
        worst = max(worst, float(np.max(np.abs(flat[golden[f"{prefix}_index"][row]] - golden[f"{prefix}_values"][row]))))
    return worst


def _built_in(dtype: str, build):
    """``build()`` with Keras' float type and dtype policy set to ``dtype`` for the while."""
    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        return build()
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def _float64_gradients(golden, model: keras.Model, variables: list, x, y) -> list[np.ndarray]:
    """The gradients of a float64 model on one batch, after checking its logits (1e-10) and mean cross-entropy
    (1e-12) against the golden ones."""
    with tf.GradientTape() as tape:
        logits = model(tf.cast(x, tf.float64), training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    np.testing.assert_allclose(logits.numpy(), golden["logits"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(loss), float(golden["loss"]), rtol=1e-12)
    return [g.numpy() for g in tape.gradient(loss, variables)]


def _protocol_steps(model: keras.Model, schedule, x, y, steps: int) -> None:
    """``steps`` steps of the suite's own training step (:func:`repro.train.trainer`) under ``schedule``."""
    from repro.train import reset_optimizer, trainer

    optimizer, step = trainer(model, schedule)
    reset_optimizer(optimizer)
    for i in range(steps):
        optimizer.learning_rate.assign(schedule.lr_at(i))
        step(x, y, y, tf.constant(1.0))


def _fixup_model(golden, dtype: str):
    """The Keras Fixup ResNet-50 in ``dtype`` holding the golden weights; its variables in PyTorch's order."""
    from repro.models.fixup_resnet import fixup_resnet

    model = _built_in(dtype, lambda: fixup_resnet((64, 64, 3), 345, seed=0))
    names = [str(n) for n in golden["names"]]
    scales = {str(n) for n in golden["scales"]}
    variables = [_fixup_variable(model, n) for n in names]
    for name, variable, value in zip(names, variables, _draw(_shapes(golden), int(golden["weight_seed"]))):
        variable.assign(_to_keras(name, value + 1.0 if name in scales else value).reshape(variable.shape))
    return model, names, variables


def test_fixup_resnet50_matches_the_official_network_in_float64():
    """Neyshabur et al.'s Fixup ResNet-50 (``tools/golden_networks.py``: the official module tree, drawn weights,
    345 classes, 64x64, float64): the same logits, loss and gradients to 1e-10 (what two float64 implementations
    of the same arithmetic give; a misplaced scalar bias or scale moves them by whole percents)."""
    golden = np.load(GOLDEN / "fixup_resnet50.npz")
    x, y = _batch(22, (4, 3, 64, 64), 345)
    model, names, variables = _fixup_model(golden, "float64")
    grads = _float64_gradients(golden, model, variables, x, y)
    assert _sampled_deviation(golden, "grad", names, grads, rtol=1e-10) < 1e-10


def test_the_neyshabur_optimizer_has_the_official_parameter_groups():
    """``libtrain.make_optimizer``: every parameter whose PyTorch name holds 'bias' or 'scale' (the Fixup scalars
    and the fc bias) at lr / 10, the rest at lr; weight decay on every parameter (torch's ``weight_decay``)."""
    from repro.neyshabur2020.protocol import PAPER_SCALE
    from repro.train import _gradient_transform

    golden = np.load(GOLDEN / "fixup_resnet50.npz")
    model, names, variables = _fixup_model(golden, "float32")
    trainable, lr_mult, decayed = _gradient_transform(model, PAPER_SCALE.schedule)
    by_variable = {id(v): (m, d) for v, m, d in zip(trainable, lr_mult, decayed)}
    assert len(trainable) == len(names)
    for name, variable in zip(names, variables):
        expected = 0.1 if ("bias" in name or "scale" in name) else 1.0
        assert by_variable[id(variable)] == (pytest.approx(expected), True), name


def test_three_steps_of_the_protocols_training_step_match_the_official_optimizer():
    """3 steps of the suite's own training step (:func:`repro.train.trainer`, float32) under the paper-scale
    DomainNet schedule of the protocol (nominal lr 0.1 / 8, torch momentum 0.9, weight decay 1e-4 on every
    parameter, the official parameter groups) against ``torch.optim.SGD`` on the official groups in float64.
    Float32 rounding, amplified by 50 layers of drawn weights without BatchNorm, leaves up to 7e-5 (PyTorch's
    own float32 run: 2.7e-5); the fc bias at the full lr instead of lr / 10 would leave 1.1e-2."""
    from dataclasses import replace

    from repro.neyshabur2020.protocol import PAPER_SCALE

    golden = np.load(GOLDEN / "fixup_resnet50.npz")
    x, y = _batch(22, (4, 3, 64, 64), 345)
    model, names, variables = _fixup_model(golden, "float32")
    schedule = replace(PAPER_SCALE.schedule, base_lr=0.1).resolve(n_train=50_000)
    assert schedule.lr_at(0) == float(golden["lr"]) and schedule.weight_decay == float(golden["weight_decay"])
    _protocol_steps(model, schedule, x, y, int(golden["steps"]))
    assert _sampled_deviation(golden, "after", names, [v.numpy() for v in variables]) < 5e-4


def _caffenet_to_keras(name: str, array: np.ndarray) -> np.ndarray:
    """A CaffeNet parameter in Keras' layout; fc6 also has its inputs permuted from the (C, H, W) flatten of
    pool5 to Keras' (H, W, C)."""
    if name == "fc6.weight":
        return array.reshape(4096, 256, 6, 6).transpose(2, 3, 1, 0).reshape(9216, 4096)
    return _to_keras(name, array)


def _caffenet_to_torch(name: str, array: np.ndarray) -> np.ndarray:
    if name == "fc6.weight":
        return array.reshape(6, 6, 256, 4096).transpose(3, 2, 0, 1).reshape(4096, 9216)
    return _to_torch(name, array)


def _caffenet(golden, dtype: str):
    """The paper-scale CaffeNet (dropout off) in ``dtype`` holding the golden weights; its variables in PyTorch's
    order."""
    from dataclasses import replace

    from repro.models.caffenet import build_caffenet
    from repro.models.specs import caffenet_paper

    model = _built_in(dtype, lambda: build_caffenet(replace(caffenet_paper(1000), dropout=0.0)))
    names = [str(n) for n in golden["names"]]
    variables = [_lenet_variable(model, n) for n in names]
    for name, variable, value in zip(names, variables, _draw(_shapes(golden), int(golden["weight_seed"]))):
        variable.assign(_caffenet_to_keras(name, value))
    return model, names, variables


def _caffenet_deviation(golden, prefix: str, names: list[str], arrays: list) -> float:
    worst = 0.0
    for row, (name, array) in enumerate(zip(names, arrays)):
        flat = _caffenet_to_torch(name, np.asarray(array)).astype(np.float64).ravel()
        worst = max(worst, float(np.max(np.abs(flat[golden[f"{prefix}_index"][row]] - golden[f"{prefix}_values"][row])
                                        / (np.abs(golden[f"{prefix}_values"][row]) + 1e-3))))
    return worst


def test_caffenet_matches_caffes_layers_in_float64():
    """Yosinski et al.'s CaffeNet (``tools/golden_networks.py``: grouped convs, Caffe's LRN after the pooling,
    drawn weights, 227x227, float64): the same logits, loss and gradients to 1e-10."""
    golden = np.load(GOLDEN / "caffenet.npz")
    x, y = _batch(32, (2, 3, 227, 227), 1000)
    model, names, variables = _caffenet(golden, "float64")
    grads = _float64_gradients(golden, model, variables, x, y)
    assert _caffenet_deviation(golden, "grad", names, grads) < 1e-9


def test_three_steps_of_the_yosinski_training_step_match_caffes_sgd():
    """3 steps of the suite's own training step (float32) under the paper-scale solver of the protocol (lr 0.01,
    Caffe's momentum 0.9, weight decay 5e-4 on weights only, biases at lr x 2) against Caffe's ``SGDSolver``
    written out in float64: within 1e-5 relative (float32 rounding leaves 7e-7; biases decayed would leave 6e-5,
    biases at lr x 1 0.15)."""
    from repro.yosinski2014.protocol import PAPER_SCALE

    golden = np.load(GOLDEN / "caffenet.npz")
    x, y = _batch(32, (2, 3, 227, 227), 1000)
    model, names, variables = _caffenet(golden, "float32")
    schedule = PAPER_SCALE.schedule.resolve(n_train=1_281_167)
    assert schedule.lr_at(0) == float(golden["lr"]) and schedule.weight_decay == float(golden["weight_decay"])
    _protocol_steps(model, schedule, x, y, int(golden["steps"]))
    assert _caffenet_deviation(golden, "after", names, [v.numpy() for v in variables]) < 1e-5


def test_neyshabur_cka_and_distances_match_their_formulas_on_the_official_network():
    """Table 1's linear CKA of the stem and stage outputs and Table 2's L2 distances, computed by the suite's
    analyses (:func:`stage_cka`, :func:`pair_distances`) on two Fixup ResNet-50 weight sets in float64, against
    the formulas evaluated on the official network in PyTorch (``tools/golden_networks.py``)."""
    from repro.models.fixup_resnet import fixup_resnet
    from repro.neyshabur2020.analyses import pair_distances, stage_cka

    golden = np.load(GOLDEN / "neyshabur_similarity.npz")
    names = [str(n) for n in golden["names"]]
    seed_a, seed_b, seed_x = (int(s) for s in golden["seeds"])
    drawn_a = [w + 1.0 if n.endswith("scale") else w for n, w in zip(names, _draw(_shapes(golden), seed_a))]
    drawn_b = [w + float(golden["perturbation"]) * d for w, d in zip(drawn_a, _draw(_shapes(golden), seed_b))]
    models = []
    for drawn in (drawn_a, drawn_b):
        model = _built_in("float64", lambda: fixup_resnet((64, 64, 3), 10, seed=0))
        for name, value in zip(names, drawn):
            variable = _fixup_variable(model, name)
            variable.assign(_to_keras(name, value).reshape(variable.shape))
        models.append(model)
    x, _ = _batch(seed_x, (16, 3, 64, 64), 10)
    cka = stage_cka(*models, tf.cast(x, tf.float64).numpy())
    assert list(cka) == [str(s) for s in golden["stages"]]
    np.testing.assert_allclose(list(cka.values()), golden["cka"], rtol=1e-9)

    squared = dict(zip(names, golden["squared_difference"]))
    head = {"fc.weight", "fc.bias", "bias2"}  # the classifier and the scalar bias on its input
    stage_of = {n: "conv1" if n in ("conv1.weight", "bias1") else n.split(".")[0] for n in names if n not in head}
    result = pair_distances(*models)
    np.testing.assert_allclose(result.total.l2, np.sqrt(sum(squared[n] for n in stage_of)), rtol=1e-6)
    per_stage: dict[str, float] = {}
    for d in result.modules:
        per_stage[d.name.split(".")[0]] = per_stage.get(d.name.split(".")[0], 0.0) + d.l2 ** 2
    for stage in ("conv1", "layer1", "layer2", "layer3", "layer4"):
        expected = sum(squared[n] for n, s in stage_of.items() if s == stage)
        np.testing.assert_allclose(per_stage[stage], expected, rtol=1e-6, err_msg=stage)
