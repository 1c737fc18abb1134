"""CaffeNet: Caffe LRN mapping, grouped convolutions, exact paper architecture and init."""
import numpy as np
import pytest

import repro  # noqa: F401
import keras
import tensorflow as tf

from repro.models.caffenet import WEIGHT_LAYERS, build_caffenet
from repro.models.specs import caffenet_mini as mini_spec, caffenet_paper as paper_spec
from repro.models.layers import CaffeLRN, GroupedConv2D


def caffe_lrn_reference(a: np.ndarray, local_size=5, alpha=1e-4, beta=0.75, k=1.0) -> np.ndarray:
    """Caffe LRNLayer ACROSS_CHANNELS, written from its definition (zero-padded channel window)."""
    half = (local_size - 1) // 2
    squares = np.pad(a ** 2, [(0, 0)] * 3 + [(half, half)])
    window = sum(squares[..., i:i + a.shape[-1]] for i in range(local_size))
    return a / (k + alpha / local_size * window) ** beta


def test_caffe_lrn_matches_caffe_definition():
    a = np.random.default_rng(0).normal(scale=30.0, size=(2, 4, 4, 7)).astype(np.float32)
    ours = CaffeLRN(5, 1e-4, 0.75)(a).numpy()
    np.testing.assert_allclose(ours, caffe_lrn_reference(a.astype(np.float64)), rtol=1e-5)
    # the naive mapping (alpha not divided by n) is measurably different at this scale
    naive = tf.nn.local_response_normalization(a, depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75).numpy()
    assert np.max(np.abs(naive - ours)) > 1e-3


def test_grouped_conv_equals_keras_grouped_conv():
    x = np.random.default_rng(1).normal(size=(2, 9, 9, 6)).astype(np.float32)
    ours = GroupedConv2D(8, 3, groups=2, padding=1, bias_initializer="random_normal")
    reference = keras.layers.Conv2D(8, 3, groups=2, padding="same")
    y_ours = ours(x)
    reference.build(x.shape)
    reference.set_weights(ours.get_weights())
    np.testing.assert_allclose(y_ours.numpy(), reference(x).numpy(), atol=1e-5)
    assert ours.kernel.shape == (3, 3, 3, 8)


def test_grouped_conv_keeps_groups_separate():
    layer = GroupedConv2D(4, 1, groups=2)
    x = np.zeros((1, 2, 2, 4), np.float32)
    x[..., :2] = 1.0  # only the first input group is non-zero
    layer(x)
    layer.bias.assign(np.zeros(4))
    y = layer(x).numpy()
    assert np.all(y[..., 2:] == 0.0) and np.any(y[..., :2] != 0.0)


@pytest.fixture(scope="module")
def paper_model():
    return build_caffenet(paper_spec(1000), seed=0)


def test_paper_caffenet_shapes_and_parameter_count(paper_model):
    assert paper_model.count_params() == 60_965_224  # CaffeNet with a 1000-way fc8
    sizes = {name: paper_model.get_layer(name).output.shape[1] for name in ("conv1", "pool1", "pool2", "conv5", "pool5")}
    assert sizes == {"conv1": 55, "pool1": 27, "pool2": 13, "conv5": 13, "pool5": 6}
    assert [l.name for l in paper_model.layers if l.weights] == list(WEIGHT_LAYERS)
    order = [l.name for l in paper_model.layers]
    assert order.index("pool1") < order.index("norm1") and order.index("pool2") < order.index("norm2")
    assert [paper_model.get_layer(f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]


def test_paper_caffenet_gaussian_init_and_bias_one(paper_model):
    stds = {"conv1": 0.01, "conv3": 0.01, "fc6": 0.005, "fc7": 0.005, "fc8": 0.01}
    for name, std in stds.items():
        kernel = paper_model.get_layer(name).kernel.numpy()
        assert abs(kernel.std() - std) < 0.05 * std, name
    biases = {name: paper_model.get_layer(name).bias.numpy() for name in WEIGHT_LAYERS}
    for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
        assert np.all(biases[name] == 1.0), name
    for name in ("conv1", "conv3", "fc8"):
        assert np.all(biases[name] == 0.0), name
    assert paper_model.get_layer("drop6").rate == 0.5 and paper_model.get_layer("drop7").rate == 0.5


def test_mini_caffenet_structure_and_seeded_init():
    a = build_caffenet(mini_spec(10), seed=3)
    b = build_caffenet(mini_spec(10), seed=3)
    c = build_caffenet(mini_spec(10), seed=4)
    assert a.output.shape == (None, 10) and a.input.shape == (None, 32, 32, 1)
    assert [l.name for l in a.layers if l.weights] == list(WEIGHT_LAYERS)
    assert [a.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool5")] == [32, 15, 7, 3]
    strided = build_caffenet(mini_spec(10, conv1_stride=2), seed=3)  # pilot 1's rejected option: a 1x1 pool5
    assert [strided.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool5")] == [16, 7, 3, 1]
    for wa, wb, wc in zip(a.get_weights(), b.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_layer("conv1").kernel.numpy(), c.get_layer("conv1").kernel.numpy())


def test_caffe_lrn_gradient_matches_tensorflows_fused_op_and_is_twice_differentiable():
    a32 = tf.constant(np.random.default_rng(2).normal(scale=30.0, size=(2, 3, 3, 7)), tf.float32)
    layer = CaffeLRN(5, 1e-4, 0.75)
    with tf.GradientTape() as tape:
        tape.watch(a32)
        ours = tf.reduce_sum(tf.sin(layer(a32)))
    reference = tf.nn.local_response_normalization
    with tf.GradientTape() as tape_ref:
        tape_ref.watch(a32)
        theirs = tf.reduce_sum(tf.sin(reference(a32, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)))
    np.testing.assert_allclose(tape.gradient(ours, a32), tape_ref.gradient(theirs, a32), rtol=1e-4, atol=1e-6)
    layer = CaffeLRN(5, 1e-4, 0.75, dtype="float64")
    np.testing.assert_allclose(layer(tf.cast(a32, tf.float64)), caffe_lrn_reference(a32.numpy().astype(np.float64)),
                               rtol=1e-12)
    # Hessian-vector product through the layer against central differences of the gradient (float64)
    a = tf.cast(a32, tf.float64)
    v = tf.constant(np.random.default_rng(3).normal(size=(2, 3, 3, 7)), tf.float64)
    def grad_at(x):
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.reduce_sum(tf.sin(layer(x)))
        return t.gradient(y, x)

    with tf.GradientTape() as outer:
        outer.watch(a)
        g = grad_at(a)
        gv = tf.reduce_sum(g * v)
    hvp = outer.gradient(gv, a)
    eps = 1e-5
    finite = (grad_at(a + eps * v) - grad_at(a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, finite, rtol=1e-4, atol=1e-8)


def test_hessian_vector_products_run_through_the_real_mini_caffenet():
    from repro.landscape.hvp import HessianOperator

    model = build_caffenet(mini_spec(4, widths=(4, 8, 8, 8, 8, 16, 16)), seed=0)
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(8, 32, 32, 1)).astype(np.float32), rng.integers(0, 4, size=8))]
    forward = HessianOperator(model, batches, include="conv1|conv2", mode="forward")
    reverse = HessianOperator(model, batches, include="conv1|conv2", mode="reverse")
    v = rng.normal(size=forward.size)
    hv = forward.matvec(v)
    assert np.all(np.isfinite(hv)) and np.linalg.norm(hv) > 0
    np.testing.assert_allclose(hv, reverse.matvec(v), rtol=1e-3, atol=1e-6 * np.abs(hv).max())
