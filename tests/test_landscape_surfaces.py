"""Filter-normalized directions and resumable surfaces (repro.landscape.directions, .surfaces)."""
import numpy as np
import pytest

import repro  # noqa: F401
import keras
import tensorflow as tf

from repro.landscape.directions import normalize_direction, random_direction, random_plane
from repro.landscape.state import evaluate
from repro.landscape.surfaces import load_surface, loss_surface, plot_surface


def conv_bn_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, name="fc")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("bn").moving_variance.assign(np.linspace(0.5, 2.0, 4).astype("float32"))
    return model


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def assert_restored(model, before):
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


class Passes:
    """A re-iterable dataset counting its passes; raises KeyboardInterrupt on pass ``stop_after + 1``."""

    def __init__(self, batches, stop_after=None, record=None):
        self.batches, self.stop_after, self.record, self.count, self.seen = batches, stop_after, record, 0, []

    def __iter__(self):
        if self.stop_after is not None and self.count >= self.stop_after:
            raise KeyboardInterrupt
        self.count += 1
        if self.record is not None:
            self.seen.append(self.record.numpy().copy())
        return iter(self.batches)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(16, 6, 6, 2)).astype("float32"), rng.integers(0, 3, size=16))]


def per_filter_norms(array):
    return np.sqrt(np.sum(np.square(np.asarray(array, np.float64)), axis=tuple(range(array.ndim - 1))))


def test_filter_normalized_directions_have_the_weights_per_filter_norms():
    model = conv_bn_model()
    model.get_layer("conv").kernel.assign(np.random.default_rng(1).normal(size=(3, 3, 2, 4)).astype("float32") * [1, 2, 3, 4])
    direction = random_direction(model, seed=7)
    by_path = {v.path: v.numpy() for v in model.weights}
    assert direction.paths == ("conv/kernel", "conv/bias", "bn/gamma", "bn/beta", "fc/kernel", "fc/bias")
    for path, value in zip(direction.paths, direction.values):
        if value.ndim >= 2:  # conv HWIO: 4 filters; dense (in, out): 3 units
            np.testing.assert_allclose(per_filter_norms(value), per_filter_norms(by_path[path]), rtol=1e-10)
        else:
            np.testing.assert_array_equal(value, 0.0)


def test_one_d_variables_are_zeroed_or_copied_never_renormalized():
    weights = [np.array([0.5, -2.0, 3.0]), np.ones((2, 3))]
    raw = [np.array([10.0, 10.0, 10.0]), np.arange(6.0).reshape(2, 3)]
    ignored = normalize_direction(raw, weights, "filter", "ignore")
    copied = normalize_direction(raw, weights, "filter", "copy")
    np.testing.assert_array_equal(ignored[0], 0.0)
    np.testing.assert_array_equal(copied[0], weights[0])
    np.testing.assert_allclose(copied[1], raw[1] / per_filter_norms(raw[1]) * np.sqrt(2.0))
    layer = normalize_direction(raw, weights, "layer", "copy")[1]
    assert np.linalg.norm(layer) == pytest.approx(np.sqrt(6.0))


def test_batchnorm_statistics_are_never_in_a_direction_nor_perturbed(data):
    model = conv_bn_model()
    first, second = random_plane(model, seed=3, trainable_only=False, one_d="copy")
    assert not any("moving" in path for path in first.paths)
    spy = Passes(data, record=model.get_layer("bn").moving_variance)
    loss_surface(model, spy, [first, second], [[-1.0, 1.0], [0.5]])
    assert spy.count == 2
    for seen in spy.seen:
        np.testing.assert_array_equal(seen, np.linspace(0.5, 2.0, 4).astype("float32"))


def test_seeds_reproduce_directions_exactly():
    model = conv_bn_model()
    a, b = random_direction(model, seed=11), random_direction(model, seed=11)
    c = random_direction(model, seed=12)
    for x, y, z in zip(a.values, b.values, c.values):
        np.testing.assert_array_equal(x, y)
        if x.ndim >= 2:
            assert not np.array_equal(x, z)
    first, _ = random_plane(model, seed=11)
    for x, y in zip(a.values, first.values):
        np.testing.assert_array_equal(x, y)


def test_orthogonalized_second_direction():
    model = conv_bn_model()
    first, raw = random_plane(model, seed=5, one_d="copy")
    _, second = random_plane(model, seed=5, one_d="copy", orthogonalize=True)
    multi = [v.ndim >= 2 for v in first.values]
    dot = sum(np.vdot(a, b) for a, b, m in zip(first.values, second.values, multi) if m)
    assert abs(dot) < 1e-10 * first.norm * second.norm
    assert second.norm == pytest.approx(raw.norm)
    assert second.orthogonalized
    for r, s, m in zip(raw.values, second.values, multi):
        if not m:
            np.testing.assert_array_equal(r, s)


def test_surface_points_are_the_evaluations_at_the_shifted_weights(data):
    model = conv_bn_model()
    before = snapshot(model)
    direction = random_direction(model, seed=1)
    surface = loss_surface(model, data, [direction], [[-0.5, 0.0, 0.5]])
    assert_restored(model, before)
    assert surface.losses[1] == evaluate(model, data).loss
    kernel = model.get_layer("fc").kernel
    kernel.assign((kernel.numpy() + 0.5 * direction.values[direction.paths.index("fc/kernel")]).astype("float32"))
    conv = model.get_layer("conv").kernel
    conv.assign((conv.numpy() + 0.5 * direction.values[0]).astype("float32"))
    assert surface.losses[2] == pytest.approx(evaluate(model, data).loss, rel=1e-5)
    assert surface.computed == 3 and surface.complete


def test_a_train_mode_surface_normalises_each_point_by_its_batch_and_leaves_the_model_as_it_was(data, tmp_path):
    """``training=True``: each point is the loss of the model called in train mode (BN batch statistics, which
    differ from the moving ones here), and the moving statistics that call updates are put back."""
    model = conv_bn_model()
    before = snapshot(model)
    plane = random_plane(model, seed=1)
    axis = (-0.5, 0.0, 0.5)
    surface = loss_surface(model, data, plane, (axis, axis), training=True)
    assert_restored(model, before)
    x, y = data[0]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    centre_train = float(loss(y, model(x, training=True)))
    moved = snapshot(model)  # the direct train-mode call moved the statistics; put them back
    for variable, value in zip(model.variables, before):
        variable.assign(value)
    assert not all(np.array_equal(a, b) for a, b in zip(moved, before))
    assert surface.losses[1, 1] == pytest.approx(centre_train, rel=1e-5)
    assert surface.losses[1, 1] != pytest.approx(evaluate(model, data).loss, rel=1e-3)
    loss_surface(model, data, plane, (axis, axis), path=tmp_path / "s.npz")  # inference mode, saved
    with pytest.raises(ValueError, match="training"):  # not resumed in the other mode
        loss_surface(model, data, plane, (axis, axis), path=tmp_path / "s.npz", training=True)


def test_surface_resumes_after_an_interrupt_and_computes_only_the_rest(data, tmp_path):
    model = conv_bn_model()
    before = snapshot(model)
    d1, d2 = random_plane(model, seed=2)
    axes = [np.linspace(-1, 1, 3), np.linspace(-1, 1, 4)]
    full = loss_surface(model, data, [d1, d2], axes, path=tmp_path / "full.npz")

    interrupted = Passes(data, stop_after=5)
    with pytest.raises(KeyboardInterrupt):
        loss_surface(model, interrupted, [d1, d2], axes, path=tmp_path / "part.npz", flush_every=4)
    assert_restored(model, before)
    saved = load_surface(tmp_path / "part.npz")
    assert np.count_nonzero(~np.isnan(saved.losses)) == saved.done.sum() == 5  # 4 flushed + 1 saved when interrupted
    assert not saved.complete

    rest = Passes(data)
    resumed = loss_surface(model, rest, [d1, d2], axes, path=tmp_path / "part.npz", flush_every=4)
    assert rest.count == 12 - 5 and resumed.computed == 7
    np.testing.assert_array_equal(resumed.losses, full.losses)
    np.testing.assert_array_equal(resumed.accuracies, full.accuracies)
    again = Passes(data)
    assert loss_surface(model, again, [d1, d2], axes, path=tmp_path / "part.npz").computed == 0 and again.count == 0
    assert_restored(model, before)

    stored = load_surface(tmp_path / "part.npz")
    for a, b in zip(stored.directions[1].values, d2.values):
        np.testing.assert_array_equal(a, b)
    assert stored.directions[0].seed == 2 and stored.directions[0].normalization == "filter"


def test_a_diverged_point_counts_as_done(tmp_path):
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False, name="w")(inputs))
    model.get_layer("w").kernel.assign([[1.0]])
    root = lambda y, logits: tf.sqrt(logits[:, 0])  # noqa: E731  NaN for a negative weight
    data = [(np.ones((1, 1), "float32"), np.zeros((1,), "int64"))]
    direction = random_direction(model, seed=0, normalization="layer")  # |d| = |w| = 1
    axis = [[-3.0, 0.0, 3.0]]  # w = 1 - 3 |d| or 1 + 3 |d| is -2 at one end
    first = loss_surface(model, data, [direction], axis, path=tmp_path / "s.npz", loss_fn=root)
    assert np.isnan(first.losses).sum() == 1 and first.complete
    assert loss_surface(model, data, [direction], axis, path=tmp_path / "s.npz", loss_fn=root).computed == 0


def test_resuming_with_other_directions_or_weights_is_refused(data, tmp_path):
    model = conv_bn_model()
    d1, d2 = random_plane(model, seed=2)
    loss_surface(model, data, [d1, d2], [[0.0, 1.0], [0.0, 1.0]], path=tmp_path / "s.npz")
    other, _ = random_plane(model, seed=3)
    with pytest.raises(ValueError, match="directions"):
        loss_surface(model, data, [other, d2], [[0.0, 1.0], [0.0, 1.0]], path=tmp_path / "s.npz")
    model.get_layer("fc").bias.assign([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="center weights"):
        loss_surface(model, data, [d1, d2], [[0.0, 1.0], [0.0, 1.0]], path=tmp_path / "s.npz")


def test_contour_png(data, tmp_path):
    model = conv_bn_model()
    d1, d2 = random_plane(model, seed=4, orthogonalize=True)
    surface = loss_surface(model, data, [d1, d2], [np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)], path=tmp_path / "s.npz")
    plot_surface(load_surface(tmp_path / "s.npz"), tmp_path / "s.png", title="test")
    plot_surface(loss_surface(model, data, [d1], [[-1.0, 0.0, 1.0]]), tmp_path / "line.png", metric="accuracy")
    for name in ("s.png", "line.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert surface.losses.shape == (4, 3)
