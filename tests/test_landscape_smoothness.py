"""Smoothness probes against closed forms: gradient norm, variation of loss, beta, gradient shares."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import repro  # noqa: F401
import keras

from repro.landscape.curvature import hessian_eigenpairs
from repro.landscape.hvp import cached_function
from repro.landscape.smoothness import (
    beta_smoothness,
    gradient_norm,
    per_example_gradient_share,
    principal_gradient_share,
    variation_of_loss,
)
from repro.landscape.state import sparse_ce

from landscape_models import Quadratic, assert_restored, dense_net, identity_loss, snapshot, squared_error


def quadratic_problem(n=6, seed=0, w0=None, b=None):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eigenvalues = np.linspace(1.0, 6.0, n)
    q = (basis * eigenvalues) @ basis.T
    b = rng.normal(size=n) if b is None else b
    w0 = rng.normal(size=n) if w0 is None else w0
    model = keras.Sequential([keras.Input((1,), dtype="float64"), Quadratic(q, b, name="quad")])
    model.layers[0].w.assign(w0)
    batches = [(np.zeros((3, 1)), np.zeros(3)), (np.zeros((4, 1)), np.zeros(4))]
    return model, batches, q, b, w0, eigenvalues, basis


def quadratic_loss(q, b, w):
    return 0.5 * w @ q @ w + b @ w


def classification_batches(n=20, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, size=n)
    return x, y, [(x[:7], y[:7]), (x[7:12], y[7:12]), (x[12:], y[12:])]


def test_gradient_norm_equals_explicit_gradient():
    model = dense_net()
    x, y, batches = classification_batches()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(sparse_ce(y, model(x, training=False)))
    explicit = tape.gradient(loss, [v.value for v in model.trainable_variables])
    result = gradient_norm(model, batches)
    flat = np.concatenate([g.numpy().ravel() for g in explicit])
    np.testing.assert_allclose(result.estimate, np.linalg.norm(flat), rtol=1e-12)
    np.testing.assert_allclose(result.loss, float(loss), rtol=1e-12)
    for variable, g in zip(model.trainable_variables, explicit):
        np.testing.assert_allclose(result.per_variable[variable.path], np.linalg.norm(g.numpy()), rtol=1e-12)
    only_out = gradient_norm(model, iter(batches), include="out/kernel")
    assert list(only_out.per_variable) == [model.get_layer("out").kernel.path] and only_out.n == 20
    np.testing.assert_allclose(only_out.estimate, np.linalg.norm(explicit[2].numpy()), rtol=1e-12)


def test_variation_of_loss_on_quadratic_has_closed_form():
    model, batches, q, b, w0, _, _ = quadratic_problem()
    before = snapshot(model)
    g = q @ w0 + b
    eta, steps = 0.02, 40
    t = eta * np.arange(1, steps + 1)
    curve = quadratic_loss(q, b, w0) - t * (g @ g) + 0.5 * t**2 * (g @ q @ g)
    assert np.argmin(curve) not in (0, steps - 1)  # the probe crosses the line minimum
    result = variation_of_loss(model, batches, identity_loss, eta=eta, steps=steps)
    np.testing.assert_allclose(result.losses, curve, rtol=1e-12)
    np.testing.assert_allclose(result.step_sizes, t, rtol=1e-15)
    np.testing.assert_allclose(result.estimate, abs(curve[1:].max() - curve[0]), rtol=1e-10)
    np.testing.assert_allclose(result.gradient_norm, np.linalg.norm(g), rtol=1e-12)
    assert result.n == 7
    early = variation_of_loss(model, batches, identity_loss, eta=eta, steps=6)
    np.testing.assert_allclose(early.estimate, curve[0] - curve[1], rtol=1e-10)
    assert_restored(model, before)
    direction = np.random.default_rng(3).normal(size=len(w0))
    given = variation_of_loss(model, batches, identity_loss, eta=eta, steps=steps, gradient=[direction])
    expected = [quadratic_loss(q, b, w0 - s * direction) for s in t]
    np.testing.assert_allclose(given.losses, expected, rtol=1e-12)
    assert_restored(model, before)


def test_variation_of_loss_defaults_follow_liu():
    model, batches, q, b, w0, _, _ = quadratic_problem(seed=1)
    result = variation_of_loss(model, batches, identity_loss)
    assert result.losses.shape == (100,)
    np.testing.assert_allclose(result.step_sizes[[0, -1]], [0.001, 0.1])
    g = q @ w0 + b
    np.testing.assert_allclose(result.losses[-1], quadratic_loss(q, b, w0 - 0.1 * g), rtol=1e-12)


def test_beta_smoothness_on_quadratic_is_rayleigh_ratio():
    model, batches, q, b, w0, eigenvalues, _ = quadratic_problem(seed=2)
    before = snapshot(model)
    g = q @ w0 + b
    result = beta_smoothness(model, batches, identity_loss, eta=0.01, steps=20)
    expected = np.linalg.norm(q @ g) / np.linalg.norm(g)
    np.testing.assert_allclose(result.ratios, np.full(20, expected), rtol=1e-9)
    np.testing.assert_allclose(result.estimate, expected, rtol=1e-9)
    assert result.estimate <= eigenvalues.max() + 1e-12
    np.testing.assert_allclose(result.losses[0], quadratic_loss(q, b, w0), rtol=1e-12)
    np.testing.assert_allclose(result.losses[5], quadratic_loss(q, b, w0 - 0.05 * g), rtol=1e-12)
    assert_restored(model, before)


def test_gradient_share_is_one_when_gradient_is_top_eigenvector():
    n = 6
    model, batches, q, _, _, eigenvalues, basis = quadratic_problem(n=n, seed=3, b=np.zeros(n))
    top = basis[:, np.argmax(eigenvalues)]
    model.layers[0].w.assign(2.0 * top)
    result = principal_gradient_share(model, batches, identity_loss, k=1, order=n, tol=1e-12)
    np.testing.assert_allclose(result.estimate, 1.0, rtol=1e-10)
    np.testing.assert_allclose(result.eigenvalues, [eigenvalues.max()], rtol=1e-10)
    np.testing.assert_allclose(result.gradient_norm, 2.0 * eigenvalues.max(), rtol=1e-12)
    bottom = basis[:, np.argmin(eigenvalues)]
    model.layers[0].w.assign(bottom)
    assert principal_gradient_share(model, batches, identity_loss, k=2, order=n, tol=1e-12).estimate < 1e-10


def test_gradient_share_matches_projection_on_exact_eigenvectors():
    model, batches, q, b, w0, eigenvalues, basis = quadratic_problem(seed=4)
    g = q @ w0 + b
    order = np.argsort(eigenvalues)[::-1]
    expected = (basis[:, order[:2]].T @ g) ** 2 / (g @ g)
    result = principal_gradient_share(model, batches, identity_loss, k=2, order=6, tol=1e-12, seed=5)
    np.testing.assert_allclose(result.components, expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(result.estimate, expected.sum(), rtol=1e-8)
    again = principal_gradient_share(model, batches, identity_loss, k=2, order=6, tol=1e-12, seed=5)
    assert again.estimate == result.estimate and again.n_hvp == result.n_hvp > 0
    pairs = hessian_eigenpairs(model, batches, identity_loss, k=2, order=6, tol=1e-12)
    reused = principal_gradient_share(model, batches, identity_loss, eigenpairs=pairs)
    np.testing.assert_allclose(reused.estimate, expected.sum(), rtol=1e-8)
    assert reused.n_hvp == pairs.n_hvp


def test_per_example_gradient_share_matches_numpy_svd():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(12, 5))
    y = rng.normal(size=12)
    model = keras.Sequential([keras.Input((5,), dtype="float64"), keras.layers.Dense(1, name="lin", dtype="float64")])
    model.get_layer("lin").kernel.assign(rng.normal(size=(5, 1)))
    model.get_layer("lin").bias.assign([0.3])
    before = snapshot(model)
    batches = [(x[:5], y[:5]), (x[5:], y[5:])]
    residual = x @ model.get_layer("lin").kernel.numpy()[:, 0] + 0.3 - y
    rows = 2.0 * residual[:, None] * x
    sigma = np.linalg.svd(rows, compute_uv=False)
    result = per_example_gradient_share(model, batches, squared_error, include="lin/kernel")
    np.testing.assert_allclose(result.singular_values, sigma, rtol=1e-10)
    np.testing.assert_allclose(result.estimate, sigma[0] ** 2 / np.sum(sigma**2), rtol=1e-10)
    assert result.n == 12 and result.estimate < 0.9
    parallel = [(np.outer(rng.normal(size=6), x[0]), rng.normal(size=6))]
    np.testing.assert_allclose(
        per_example_gradient_share(model, parallel, squared_error, include="lin/kernel").estimate, 1.0, rtol=1e-10
    )
    assert_restored(model, before)


def test_probes_restore_weights_and_reuse_traced_functions():
    model = dense_net(seed=5, batchnorm=True)
    model.get_layer("bn").moving_variance.assign(np.full(4, 3.0))
    _, _, batches = classification_batches(seed=2)
    before = snapshot(model)
    first = variation_of_loss(model, batches[:1], include="hidden/kernel", steps=10)
    second = variation_of_loss(model, batches[:1], include="hidden/kernel", steps=10)
    beta_smoothness(model, batches[:1], include="hidden/kernel", steps=10)
    beta_smoothness(model, batches[:1], include="hidden/kernel", steps=10)
    principal_gradient_share(model, batches, include="out/", k=2)
    per_example_gradient_share(model, batches, include="out/kernel")
    assert_restored(model, before)
    assert np.array_equal(first.losses, second.losses) and first.estimate > 0
    variables = [model.get_layer("hidden").kernel]
    for kind in ("probe-loss", "probe-gradient"):
        traced = cached_function(kind, model, sparse_ce, variables, build=lambda: pytest.fail("not cached"))
        assert traced.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="gradient shapes"):
        variation_of_loss(model, batches, include="hidden/kernel", gradient=[np.ones(3)])
    with pytest.raises(ValueError, match="steps=1"):
        variation_of_loss(model, batches, include="hidden/kernel", steps=1)
    assert_restored(model, before)


def test_train_mode_probes_use_batch_statistics_and_restore_the_moving_ones():
    """``training=True`` (the code's model in train mode): BatchNorm normalises with the batch's statistics, so
    the probe's gradient and losses are those of an explicit train-mode pass and differ from the inference-mode
    ones (moving variance 3); the moving statistics each pass updates are restored."""
    model = dense_net(seed=5, batchnorm=True)
    model.get_layer("bn").moving_variance.assign(np.full(4, 3.0))
    _, _, batches = classification_batches(seed=2)
    x, y = batches[0]
    before = snapshot(model)
    kernel = model.get_layer("hidden").kernel
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(sparse_ce(y, model(x, training=True)))
    expected = tape.gradient(loss, kernel).numpy()
    for variable, value in zip(model.variables, before):
        variable.assign(value)
    train = variation_of_loss(model, batches[:1], include="hidden/kernel", steps=5, training=True)
    infer = variation_of_loss(model, batches[:1], include="hidden/kernel", steps=5)
    assert_restored(model, before)
    np.testing.assert_allclose(train.gradient_norm, np.linalg.norm(expected), rtol=1e-10)
    assert not np.isclose(train.gradient_norm, infer.gradient_norm)
    assert train.losses[0] < float(loss) and not np.isclose(train.losses[0], infer.losses[0])  # one descent step
    beta = beta_smoothness(model, batches[:1], include="hidden/kernel", steps=5, training=True)
    assert_restored(model, before)
    assert beta.gradient_norm == pytest.approx(train.gradient_norm)
