"""Weight distances on hand-built weights with known answers (repro.landscape.distances)."""
import csv
import math

import numpy as np
import pytest

import repro  # noqa: F401
import keras

from repro.landscape.distances import weight_deviation, weight_distances, write_distances_csv


def two_layer_model() -> keras.Model:
    """hidden: kernel (3, 2) + bias (2,); bn: gamma, beta, moving stats (2,); out: kernel (2, 1) + bias (1,)."""
    inputs = keras.Input((3,))
    x = keras.layers.Dense(2, name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def hand_weights(model):
    """Zero weights, and weights differing from them by known amounts (BN moving stats differ too)."""
    zeros = [np.zeros(v.shape, "float32") for v in model.weights]
    changed = {
        "hidden/kernel": np.ones((3, 2)),  # l2 sqrt(6), mean_abs 1
        "hidden/bias": np.array([3.0, 4.0]),  # l2 5, mean_abs 3.5
        "bn/gamma": np.array([0.0, -1.0]),  # l2 1, mean_abs 0.5
        "bn/beta": np.zeros(2),
        "bn/moving_mean": np.array([100.0, 100.0]),  # never counted
        "bn/moving_variance": np.array([100.0, 100.0]),
        "out/kernel": np.array([[-2.0], [2.0]]),  # l2 sqrt(8), mean_abs 2
        "out/bias": np.array([0.5]),  # l2 0.5, mean_abs 0.5
    }
    return zeros, [changed[v.path].astype("float32") for v in model.weights]


def test_per_variable_module_and_total_distances():
    model = two_layer_model()
    zeros, changed = hand_weights(model)
    result = weight_distances(model, zeros, changed)
    by_name = {d.name: d for d in result.variables}
    assert set(by_name) == {"hidden/kernel", "hidden/bias", "bn/gamma", "bn/beta", "out/kernel", "out/bias"}
    assert by_name["hidden/kernel"].l2 == pytest.approx(math.sqrt(6)) and by_name["hidden/kernel"].mean_abs == 1.0
    assert by_name["hidden/bias"].l2 == 5.0 and by_name["hidden/bias"].mean_abs == 3.5
    assert by_name["out/kernel"].l2 == pytest.approx(math.sqrt(8)) and by_name["out/kernel"].size == 2
    modules = {d.name: d for d in result.modules}
    assert list(modules) == ["hidden", "bn", "out"]
    assert modules["hidden"].l2 == pytest.approx(math.sqrt(31))
    assert modules["hidden"].mean_abs == pytest.approx((6 + 7) / 8)
    assert modules["hidden"].deviation == pytest.approx(math.sqrt(6) + 5)
    assert modules["bn"].mean_abs == pytest.approx(0.25)
    assert result.total.l2 == pytest.approx(math.sqrt(6 + 25 + 1 + 8 + 0.25))
    assert result.total.mean_abs == pytest.approx((6 + 7 + 1 + 4 + 0.5) / 15)
    assert result.total.deviation == pytest.approx(math.sqrt(6) + 5 + 1 + math.sqrt(8) + 0.5)
    assert result.total.size == 15


def test_module_maps_filters_and_the_liu_deviation():
    model = two_layer_model()
    zeros, changed = hand_weights(model)
    model.set_weights(changed)  # the model's current weights are the "final" ones
    by_regex = weight_distances(model, zeros, modules={"kernel": "kernels", "bias": "biases"})
    assert [d.name for d in by_regex.modules] == ["kernels", "biases"]
    assert by_regex.modules[0].l2 == pytest.approx(math.sqrt(14))
    assert by_regex.variable_modules[2] is None  # bn/gamma matches no pattern: out of every module, still in the total
    assert by_regex.total.l2 == pytest.approx(math.sqrt(40.25))
    by_callable = weight_distances(model, zeros, modules=lambda path: "net" if path.startswith(("hidden", "out")) else None)
    assert by_callable.modules[0].l2 == pytest.approx(math.sqrt(39.25))
    assert weight_deviation(model, zeros, include="kernel") == pytest.approx(math.sqrt(6) + math.sqrt(8))
    assert weight_distances(model, zeros, include="kernel", exclude="out").total.l2 == pytest.approx(math.sqrt(6))
    with pytest.raises(ValueError, match="nothing-matches"):
        weight_distances(model, zeros, include="nothing-matches")


def test_weight_sets_by_path_and_frozen_layers():
    model = two_layer_model()
    zeros, changed = hand_weights(model)
    by_path = {v.path: value for v, value in zip(model.weights, changed)}
    assert weight_distances(model, zeros, by_path).total.l2 == pytest.approx(math.sqrt(40.25))
    model.get_layer("hidden").trainable = False
    assert weight_distances(model, zeros, changed).total.size == 7
    assert weight_distances(model, zeros, changed, trainable_only=False).total.size == 15  # still no moving stats


def test_long_csv(tmp_path):
    model = two_layer_model()
    zeros, changed = hand_weights(model)
    result = weight_distances(model, zeros, changed)
    write_distances_csv(result, tmp_path / "d.csv", extra={"run": "ft"})
    with open(tmp_path / "d.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["run", "module", "variable", "metric", "value"]
    assert len(rows) == 4 * (6 + 3 + 1)
    lookup = {(r["module"], r["variable"], r["metric"]): float(r["value"]) for r in rows}
    assert lookup[("hidden", "hidden/bias", "l2")] == 5.0
    assert lookup[("hidden", "*", "size")] == 8
    assert lookup[("*", "*", "l2")] == pytest.approx(math.sqrt(40.25))
