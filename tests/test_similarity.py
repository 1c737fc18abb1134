"""Closed-form and property tests of repro.similarity (CKA: Kornblith et al. 2019; Nguyen et al. 2021)."""
import repro  # noqa: F401
import keras
import numpy as np
import pytest
import tensorflow as tf

from repro.errors import BadArgument
from repro.similarity import (
    MinibatchCKA,
    cka,
    cross_model_cka,
    feature_taps,
    gram_linear,
    gram_rbf,
    hsic,
    linear_cka,
    rbf_cka,
    within_model_cka,
)

LAYERS = ["conv", "drop", "dense", "logits"]


def _features(n: int = 60, p: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X Gaussian and Y a noisy nonlinear function of X (CKA strictly between 0 and 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = np.tanh(x @ rng.normal(size=(p, 2 * p))) + 0.5 * rng.normal(size=(n, 2 * p))
    return x, y


def _orthogonal(p: int, seed: int = 1) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(p, p)))
    return q


def _small_model(seed: int) -> keras.Model:
    """A functional model with named layers, including Dropout (tests that taps run with training=False)."""
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init(seed), name="conv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    x = keras.layers.Dense(6, activation="tanh", kernel_initializer=init(seed + 1), name="dense")(x)
    outputs = keras.layers.Dense(3, kernel_initializer=init(seed + 2), name="logits")(x)
    return keras.Model(inputs, outputs)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 8, 8, 1)).astype("float32")


@pytest.mark.parametrize(
    "measure",
    [
        lambda a, b: linear_cka(a, b),
        lambda a, b: linear_cka(a, b, unbiased=True),
        lambda a, b: rbf_cka(a, b, threshold=0.5),
        lambda a, b: rbf_cka(a, b, threshold=1.0, unbiased=True),
    ],
    ids=["linear", "linear-unbiased", "rbf", "rbf-unbiased"],
)
def test_cka_of_a_representation_with_itself_is_one_and_invariant_to_rotation_and_scale(measure):
    x, y = _features()
    assert measure(x, x) == pytest.approx(1.0, abs=1e-12)
    transformed = 3.7 * x @ _orthogonal(x.shape[1])
    assert measure(x, transformed) == pytest.approx(1.0, abs=1e-10)
    assert measure(x, y) == pytest.approx(measure(transformed, y), abs=1e-10)
    assert 0.1 < measure(x, y) < 0.95


def test_linear_cka_is_not_invariant_to_an_arbitrary_invertible_linear_map():
    x, _ = _features(n=200, p=20)
    rng = np.random.default_rng(3)
    invertible = rng.normal(size=(20, 20)) @ np.diag(np.logspace(0, 2, 20))
    assert abs(np.linalg.det(invertible)) > 1e-6
    assert linear_cka(x, x @ invertible) < 0.8


def test_unbiased_cka_is_near_zero_for_independent_gaussians_where_biased_is_not():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 100)), rng.normal(size=(32, 100))
    assert linear_cka(x, y) > 0.5  # the small-n bias of the biased HSIC
    assert abs(linear_cka(x, y, unbiased=True)) < 0.1


def test_hsic_matches_the_trace_form_and_song_et_al_formula_and_cka_is_their_ratio():
    x, y = _features(n=20)
    k, l = gram_linear(x), gram_rbf(y)
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    assert hsic(k, l) == pytest.approx(np.trace(k @ h @ l @ h) / (n - 1) ** 2, rel=1e-12)
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    song = (
        np.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ kt @ lt @ one)
    ) / (n * (n - 3))
    assert hsic(k, l, unbiased=True) == pytest.approx(song, rel=1e-10)
    for unbiased in (False, True):
        ratio = hsic(k, l, unbiased) / np.sqrt(hsic(k, k, unbiased) * hsic(l, l, unbiased))
        assert cka(k, l, unbiased) == pytest.approx(ratio, rel=1e-10)


def test_a_representation_with_zero_centered_gram_gives_zero_not_nan():
    x, _ = _features(n=10)
    constant = np.ones((10, 3))
    with np.errstate(all="raise"):
        assert linear_cka(constant, x) == 0.0
        assert linear_cka(constant, x, unbiased=True) == 0.0


def test_minibatch_cka_accumulates_hsic_and_does_not_average_per_batch_cka():
    x, y = _features(n=40)
    x2 = 10.0 * _features(n=40, seed=5)[0]  # second batch: unrelated, larger HSIC weight
    accumulator = MinibatchCKA()
    accumulator.update([gram_linear(x)], [gram_linear(x)])
    accumulator.update([gram_linear(x2)], [gram_linear(y)])
    sums = [
        hsic(gram_linear(x), gram_linear(x), True) + hsic(gram_linear(x2), gram_linear(y), True),
        hsic(gram_linear(x), gram_linear(x), True) + hsic(gram_linear(x2), gram_linear(x2), True),
        hsic(gram_linear(x), gram_linear(x), True) + hsic(gram_linear(y), gram_linear(y), True),
    ]
    expected = sums[0] / np.sqrt(sums[1] * sums[2])
    assert accumulator.batches == 2
    assert accumulator.result()[0, 0] == pytest.approx(expected, rel=1e-10)
    per_batch_mean = (1.0 + linear_cka(x2, y, unbiased=True)) / 2.0
    assert abs(accumulator.result()[0, 0] - per_batch_mean) > 0.2


def test_minibatch_cka_rejects_batches_of_unequal_size_or_of_three_examples():
    x, _ = _features(n=12)
    accumulator = MinibatchCKA()
    with pytest.raises(BadArgument):
        accumulator.update([gram_linear(x[:3])])
    accumulator.update([gram_linear(x[:6])])
    with pytest.raises(BadArgument):
        accumulator.update([gram_linear(x[:5])])


def test_minibatch_cka_over_many_batches_is_close_to_full_cka_on_a_large_sample():
    x, y = _features(n=2000, p=20)
    accumulator = MinibatchCKA()
    for start in range(0, 2000, 100):
        accumulator.update([gram_linear(x[start : start + 100])], [gram_linear(y[start : start + 100])])
    full = linear_cka(x, y, unbiased=True)
    assert 0.3 < full < 0.9
    assert accumulator.result()[0, 0] == pytest.approx(full, abs=0.01)


def test_within_model_cka_with_one_batch_equals_full_unbiased_cka_and_is_symmetric_with_unit_diagonal():
    model = _small_model(seed=0)
    images = _images(48)
    matrix = within_model_cka(model, LAYERS, images, batch_size=48)
    reference = keras.Model(model.input, [model.get_layer(name).output for name in LAYERS])
    features = [f.numpy() for f in reference(images, training=False)]
    expected = np.array([[linear_cka(a, b, unbiased=True) for b in features] for a in features])
    np.testing.assert_allclose(matrix, expected, atol=1e-5)
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-12)
    assert matrix[0, 1] == pytest.approx(1.0, abs=1e-6)  # Dropout is the identity at training=False
    assert np.all(matrix[np.triu_indices(len(LAYERS), k=1)][1:] < 0.999)


def test_within_model_cka_drops_the_remainder_batch_and_reads_datasets_of_labelled_batches():
    model = _small_model(seed=0)
    images = _images(10)
    step = feature_taps(model, ["conv", "logits"])
    accumulator = MinibatchCKA()
    for start in (0, 4):
        outputs = step(images[start : start + 4], training=False)
        accumulator.update([gram_linear(f.numpy()) for f in outputs])
    from_array = within_model_cka(model, ["conv", "logits"], images, batch_size=4)
    np.testing.assert_allclose(from_array, accumulator.result(), atol=1e-5)
    labelled = tf.data.Dataset.from_tensor_slices((images, np.zeros(10))).batch(3)
    from_dataset = within_model_cka(model, ["conv", "logits"], labelled, batch_size=4)
    np.testing.assert_allclose(from_dataset, from_array, atol=1e-12)


def test_cross_model_cka_compares_the_same_layer_of_two_models():
    model_a, model_b = _small_model(seed=0), _small_model(seed=10)
    images = _images(40)
    same = cross_model_cka(model_a, model_a, LAYERS, images, batch_size=40)
    assert list(same) == LAYERS
    assert all(value == pytest.approx(1.0, abs=1e-6) for value in same.values())
    cross = cross_model_cka(model_a, model_b, LAYERS, images, batch_size=40)
    for name in LAYERS:
        features_a = feature_taps(model_a, [name])(images, training=False)
        features_b = feature_taps(model_b, [name])(images, training=False)
        expected = linear_cka(np.asarray(features_a), np.asarray(features_b), unbiased=True)
        assert cross[name] == pytest.approx(expected, abs=1e-5)
    assert cross["logits"] < 0.99


def test_feature_taps_share_the_model_weights_and_reject_unknown_layers():
    model = _small_model(seed=0)
    taps = feature_taps(model, ["dense"])
    assert {id(v) for v in taps.weights} <= {id(v) for v in model.weights}
    with pytest.raises(BadArgument, match="nope"):
        feature_taps(model, ["dense", "nope"])


def test_feature_taps_work_on_sequential_models_and_share_weights():
    import keras

    from repro.similarity import feature_taps

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(3, name="b")])
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    taps = feature_taps(model, ["a", "b"])
    hidden, logits = taps(x)
    np.testing.assert_allclose(logits, model(x), rtol=1e-6)
    np.testing.assert_allclose(hidden, x @ model.get_layer("a").kernel.numpy() + model.get_layer("a").bias.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert taps.get_layer("a") is model.get_layer("a")
