"""Interpolation paths, barrier heights and BatchNorm recalibration (repro.landscape.paths)."""
import csv

import numpy as np
import pytest

import repro  # noqa: F401
import keras
import tensorflow as tf

from repro.landscape.paths import barrier_height, interpolate, line_point, recalibrate_batchnorm, write_interpolation_csv
from repro.landscape.state import evaluate


def bn_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5, 5, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, name="fc")(x)
    model = keras.Model(inputs, outputs)
    bn = model.get_layer("bn")
    rng = np.random.default_rng(seed)
    bn.moving_mean.assign(rng.normal(size=3).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=3).astype("float32"))
    return model


def scalar_model() -> keras.Model:
    """logit = w * x with one weight; with x = 1 the loss is a function of w alone."""
    inputs = keras.Input((1,))
    return keras.Model(inputs, keras.layers.Dense(1, use_bias=False, name="w")(inputs))


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def assert_restored(model, before):
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


class Spy:
    """A re-iterable dataset that records a variable's value at every pass."""

    def __init__(self, batches, variable):
        self.batches, self.variable, self.seen = batches, variable, []

    def __iter__(self):
        self.seen.append(self.variable.numpy().copy())
        return iter(self.batches)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 5, 5, 2)).astype("float32")
    y = rng.integers(0, 3, size=24)
    return [(x[:16], y[:16]), (x[16:], y[16:])]


def test_endpoints_reproduce_end_models_exactly(data):
    model, first, second = bn_model(1), bn_model(2), bn_model(3)
    own = model.get_weights()
    expected = []
    for source in (first, second):
        model.set_weights(source.get_weights())
        expected.append(evaluate(model, data))
    model.set_weights(own)
    before = snapshot(model)
    result = interpolate(model, data, first, second.get_weights(), alphas=[-0.25, 0.0, 0.5, 1.0, 1.25])
    assert result.losses[1] == expected[0].loss and result.accuracies[1] == expected[0].accuracy
    assert result.losses[3] == expected[1].loss and result.accuracies[3] == expected[1].accuracy
    assert result.loss_ends == (expected[0].loss, expected[1].loss)
    assert result.n == 24 and not result.bn_recalibrated
    assert_restored(model, before)


def test_batchnorm_moving_statistics_are_interpolated(data):
    model, first, second = bn_model(1), bn_model(2), bn_model(3)
    spy = Spy(data, model.get_layer("bn").moving_variance)
    interpolate(model, spy, first, second, alphas=[0.25])
    v1 = first.get_layer("bn").moving_variance.numpy().astype(np.float64)
    v2 = second.get_layer("bn").moving_variance.numpy().astype(np.float64)
    np.testing.assert_allclose(spy.seen[0], 0.75 * v1 + 0.25 * v2, rtol=1e-6)
    np.testing.assert_array_equal(spy.seen[1], v1.astype("float32"))  # alpha = 0 end point
    np.testing.assert_array_equal(spy.seen[2], v2.astype("float32"))  # alpha = 1 end point


def test_weight_sets_as_mapping_and_file_give_the_same_path(data, tmp_path):
    model, first, second = bn_model(1), bn_model(2), bn_model(3)
    second.save_weights(tmp_path / "second.weights.h5")
    by_path = {v.path: v.numpy() for v in first.weights}
    a = interpolate(model, data, by_path, str(tmp_path / "second.weights.h5"), alphas=[0.0, 0.3, 1.0])
    b = interpolate(model, data, first, second, alphas=[0.0, 0.3, 1.0])
    np.testing.assert_array_equal(a.losses, b.losses)
    with pytest.raises(ValueError, match="shape"):
        interpolate(model, data, first, [np.zeros(1)] * len(model.weights))


def test_barrier_of_a_convex_quadratic_path_is_zero():
    model = scalar_model()
    data = [(np.ones((1, 1), "float32"), np.zeros((1,), "int64"))]
    quadratic = lambda y, logits: tf.square(logits[:, 0] - 0.3)  # noqa: E731
    result = interpolate(model, data, [np.array([[-2.0]])], [np.array([[1.5]])], np.linspace(0, 1, 11), loss_fn=quadratic)
    assert result.barrier == 0.0
    assert np.all(result.excess[1:-1] < 0)


def test_barrier_of_a_double_well_is_the_bump_height():
    model = scalar_model()
    before = snapshot(model)
    data = [(np.ones((1, 1), "float32"), np.zeros((1,), "int64"))]
    double_well = lambda y, logits: tf.square(tf.square(logits[:, 0]) - 1.0)  # noqa: E731
    result = interpolate(model, data, [np.array([[-1.0]])], [np.array([[1.0]])], np.linspace(0, 1, 21), loss_fn=double_well)
    assert result.loss_ends == (0.0, 0.0)
    assert result.barrier == pytest.approx(1.0, abs=1e-6)
    assert result.alphas[np.argmax(result.excess)] == pytest.approx(0.5)
    assert_restored(model, before)


def test_barrier_height_counts_only_points_in_the_unit_interval():
    alphas = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5])
    losses = np.array([9.0, 1.0, 2.5, 2.0, 2.0, 9.0])
    assert barrier_height(alphas, losses, 1.0, 2.0) == pytest.approx(1.25)
    assert barrier_height([0.5], [0.0], 1.0, 1.0) == -1.0


def test_line_point_is_exact_at_the_ends():
    a, b = [np.float32([0.1, 0.7])], [np.float32([0.3, -2.9])]
    np.testing.assert_array_equal(line_point(a, b, 0.0)[0].astype("float32"), a[0])
    np.testing.assert_array_equal(line_point(a, b, 1.0)[0].astype("float32"), b[0])
    np.testing.assert_allclose(line_point(a, b, 2.0)[0], 2 * b[0].astype(np.float64) - a[0])


def test_csv_has_one_row_per_alpha(data, tmp_path):
    model, first, second = bn_model(1), bn_model(2), bn_model(3)
    alphas = [-0.5, 0.0, 0.5, 1.0, 1.5]
    result = interpolate(model, data, first, second, alphas=alphas)
    write_interpolation_csv(result, tmp_path / "path.csv", extra={"pair": "ft-ft"})
    with open(tmp_path / "path.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [float(r["alpha"]) for r in rows] == alphas
    assert list(rows[0])[:6] == ["pair", "alpha", "loss", "accuracy", "baseline", "excess"]
    for row, baseline in zip(rows, result.baseline):
        assert float(row["baseline"]) == pytest.approx(baseline)
        assert float(row["excess"]) == pytest.approx(float(row["loss"]) - baseline)


def test_recalibration_gives_the_population_statistics_and_restores_the_layer():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    bn = model.get_layer("bn")
    bn.trainable = False  # frozen BN layers are re-estimated too
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(30, 4)) * [1, 2, 3, 4] + [0, 1, -1, 5]).astype("float32")
    batches = [(x[:8], None), (x[8:20], None), (x[20:], None)]
    assert recalibrate_batchnorm(model, batches) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.astype(np.float64).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.astype(np.float64).var(0), rtol=1e-5)
    assert bn.momentum == 0.99 and bn.trainable is False


def test_interpolation_with_recalibration_matches_a_recalibrated_end_model(data):
    model, first, second = bn_model(1), bn_model(2), bn_model(3)
    before = snapshot(model)
    calibration = [(x, None) for x, _ in data]
    result = interpolate(model, data, first, second, alphas=[0.0, 0.5, 1.0], bn_dataset=calibration)
    assert result.bn_recalibrated
    assert_restored(model, before)
    model.set_weights(first.get_weights())
    stored = evaluate(model, data).loss
    recalibrate_batchnorm(model, calibration)
    assert result.losses[0] == pytest.approx(evaluate(model, data).loss, rel=1e-6)
    assert result.losses[0] != pytest.approx(stored, rel=1e-3)  # the stored statistics were replaced
