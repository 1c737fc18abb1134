"""Curvature against closed forms: HVP vs explicit Hessian, eigenvalues and trace vs numpy."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import repro  # noqa: F401
import keras

from repro.landscape.curvature import hessian_eigenpairs, hessian_trace
from repro.landscape.eigen import MatrixOperator, hutchinson_trace, lanczos, power_iteration
from repro.landscape.hvp import HessianOperator
from repro.landscape.state import sparse_ce

from landscape_models import Quadratic, assert_restored, dense_net, identity_loss, randomize, snapshot, squared_error


def classification_data(n=20, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, size=n)
    return x, y


def unequal_batches(x, y, cuts=(7, 12)):
    edges = [0, *cuts, len(x)]
    return [(x[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def explicit_hessian(model, x, y, variables, loss_fn=sparse_ce):
    """d^2/dtheta^2 of the mean loss over (x, y), by a tape's jacobian of the gradient."""
    primals = [v.value for v in variables]
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_mean(loss_fn(y, model(x, training=False)))
        gradient = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(loss, primals)], axis=0)
    blocks = outer.jacobian(gradient, primals)
    size = int(gradient.shape[0])
    return np.concatenate([tf.reshape(b, [size, -1]).numpy() for b in blocks], axis=1)


def quadratic_model(q, b, w0):
    model = keras.Sequential([keras.Input((1,), dtype="float64"), Quadratic(q, b, name="quad")])
    model.layers[0].w.assign(w0)
    return model


def random_symmetric(n, eigenvalues, seed):
    basis, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return (basis * eigenvalues) @ basis.T


def regression_problem(n=40, d=6, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.array([3.0, 2.0, 1.4, 1.0, 0.5, 0.2])[:d]
    y = rng.normal(size=n)
    model = keras.Sequential([keras.Input((d,), dtype="float64"), keras.layers.Dense(1, use_bias=False, dtype="float64")])
    randomize(model, seed)
    hessian = 2.0 / n * x.T @ x
    return model, unequal_batches(x, y, cuts=(13, 29)), hessian


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_hvp_equals_explicit_hessian_times_v(mode):
    model = dense_net()
    x, y = classification_data()
    operator = HessianOperator(model, unequal_batches(x, y), mode=mode)
    hessian = explicit_hessian(model, x, y, model.trainable_variables)
    assert operator.size == hessian.shape[0] == 3 * 4 + 4 + 4 * 3 + 3
    rng = np.random.default_rng(5)
    for _ in range(3):
        v = rng.normal(size=operator.size)
        np.testing.assert_allclose(operator.matvec(v), hessian @ v, rtol=1e-9, atol=1e-12)
    assert operator.n_hvp == 3 and operator.n_examples == len(x)


def test_forward_and_reverse_modes_agree_with_batchnorm_and_filter():
    model = dense_net(seed=3, batchnorm=True)
    x, y = classification_data(seed=4)
    batches = unequal_batches(x, y)
    forward = HessianOperator(model, batches, include="out/|bn/")
    reverse = HessianOperator(model, batches, include="out/|bn/", mode="reverse")
    assert forward.space.paths == reverse.space.paths and all("hidden" not in p for p in forward.space.paths)
    full = explicit_hessian(model, x, y, model.trainable_variables)
    chosen = [i for i, v in enumerate(model.trainable_variables) if "hidden" not in v.path]
    sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
    offsets = np.cumsum([0] + sizes)
    index = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in chosen])
    v = np.random.default_rng(0).normal(size=forward.size)
    np.testing.assert_allclose(forward.matvec(v), reverse.matvec(v), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(forward.matvec(v), full[np.ix_(index, index)] @ v, rtol=1e-9, atol=1e-12)


def test_hvp_of_quadratic_is_qv():
    n = 7
    q = random_symmetric(n, np.linspace(-2.0, 5.0, n), seed=0)
    model = quadratic_model(q, np.ones(n), np.random.default_rng(1).normal(size=n))
    batches = [(np.zeros((3, 1)), np.zeros(3)), (np.zeros((2, 1)), np.zeros(2))]
    v = np.random.default_rng(2).normal(size=n)
    for mode in ("forward", "reverse"):
        operator = HessianOperator(model, batches, identity_loss, mode=mode)
        np.testing.assert_allclose(operator.matvec(v), q @ v, rtol=1e-12, atol=1e-12)


def test_hvp_in_float32_matches_float64_hessian():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)])
    randomize(model, 0)
    x, y = classification_data()
    operator = HessianOperator(model, unequal_batches(x.astype("float32"), y))
    twin = dense_net()
    for source, target in zip(model.trainable_variables, twin.trainable_variables):
        target.assign(source.numpy().astype("float64"))
    v = np.random.default_rng(0).normal(size=operator.size)
    exact = explicit_hessian(twin, x, y, twin.trainable_variables) @ v
    np.testing.assert_allclose(operator.matvec(v), exact, rtol=1e-4, atol=1e-5 * np.abs(exact).max())


def test_linear_regression_top_eigenvalues_and_trace():
    model, batches, hessian = regression_problem()
    exact = np.linalg.eigvalsh(hessian)[::-1]
    before = snapshot(model)
    found = hessian_eigenpairs(model, batches, squared_error, k=3, tol=1e-10)
    np.testing.assert_allclose(found.eigenvalues, exact[:3], rtol=1e-8)
    assert found.converged.all() and found.n_hvp <= 6
    assert np.all(found.residuals <= 1e-8 * exact[0])
    power = hessian_eigenpairs(model, batches, squared_error, k=3, method="power_iteration", tol=1e-12, max_iter=400)
    np.testing.assert_allclose(power.eigenvalues, exact[:3], rtol=1e-6)
    assert power.converged.all() and np.all(power.residuals <= 1e-2 * exact[0])
    for vector, value in zip(power.eigenvectors, power.eigenvalues):
        np.testing.assert_allclose(hessian @ vector, value * vector, atol=1e-2 * exact[0])
    trace = hessian_trace(model, batches, squared_error, n_samples=200, seed=1)
    assert trace.stderr > 0 and trace.n_hvp == 200 and trace.samples.shape == (200,)
    assert abs(trace.estimate - np.trace(hessian)) <= 4 * trace.stderr
    assert trace.stderr < 0.2 * np.trace(hessian)
    assert_restored(model, before)


def test_lanczos_with_order_equal_dimension_reconstructs_spectrum():
    model, batches, hessian = regression_problem()
    full = hessian_eigenpairs(model, batches, squared_error, k=6, order=6, tol=0.0)
    np.testing.assert_allclose(full.eigenvalues, np.linalg.eigvalsh(hessian)[::-1], rtol=1e-8)
    n = 40
    spectrum = np.concatenate([[1000.0, 300.0], np.linspace(-3.0, -0.5, 10), np.linspace(0.1, 9.0, 28)])
    matrix = random_symmetric(n, spectrum, seed=4)
    operator = MatrixOperator(matrix)
    result = lanczos(operator, k=n, order=n, tol=0.0, seed=7)
    np.testing.assert_allclose(result.eigenvalues, np.sort(spectrum)[::-1], atol=1e-9)
    vectors = result.eigenvectors
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(n), atol=1e-9)
    np.testing.assert_allclose(vectors.T @ np.diag(result.eigenvalues) @ vectors, matrix, atol=1e-8)
    assert result.n_hvp == operator.n_hvp == n
    smallest = lanczos(MatrixOperator(matrix), k=2, which="SA", order=n, tol=1e-10, seed=7)
    np.testing.assert_allclose(smallest.eigenvalues, [-3.0, spectrum[3]], atol=1e-9)


def test_lanczos_ritz_residuals_are_true_residuals():
    matrix = random_symmetric(50, np.geomspace(100.0, 0.01, 50), seed=1)
    result = lanczos(MatrixOperator(matrix), k=3, order=12, tol=0.0, seed=2)
    true = np.linalg.norm(result.eigenvectors @ matrix - result.eigenvalues[:, None] * result.eigenvectors, axis=1)
    np.testing.assert_allclose(result.residuals, true, rtol=1e-6, atol=1e-10)
    assert result.n_hvp == 12 and not result.converged.all()


def test_lanczos_warns_and_stops_on_invariant_subspace():
    matrix = random_symmetric(6, [2.0, 2.0, 2.0, 5.0, 5.0, 5.0], seed=3)
    with pytest.warns(RuntimeWarning, match="invariant subspace of dimension 2"):
        result = lanczos(MatrixOperator(matrix), k=3, seed=0)
    np.testing.assert_allclose(result.eigenvalues, [5.0, 2.0], rtol=1e-10)
    assert result.n_hvp == 2 and result.converged.all()


def test_power_iteration_returns_known_top_k_by_magnitude():
    spectrum = np.array([10.0, -7.0, 4.0, 1.0, 0.5, -0.3, 0.1, 0.0])
    operator = MatrixOperator(random_symmetric(8, spectrum, seed=5))
    result = power_iteration(operator, k=3, tol=1e-12, max_iter=1000, seed=1)
    np.testing.assert_allclose(result.eigenvalues, [10.0, -7.0, 4.0], rtol=1e-8)
    assert result.converged.all() and np.all(result.residuals < 1e-3)
    assert result.n_hvp == operator.n_hvp < 3000
    np.testing.assert_allclose(result.eigenvectors @ result.eigenvectors.T, np.eye(3), atol=1e-8)
    capped = power_iteration(MatrixOperator(operator.matrix), k=1, tol=1e-12, max_iter=3, seed=1)
    assert capped.n_hvp == 3 and not capped.converged[0]


def test_seeds_reproduce_exactly():
    model = dense_net(seed=2)
    x, y = classification_data(seed=3)
    batches = unequal_batches(x, y)
    first = hessian_eigenpairs(model, batches, k=2, seed=11)
    second = hessian_eigenpairs(model, batches, k=2, seed=11)
    assert np.array_equal(first.eigenvalues, second.eigenvalues)
    assert np.array_equal(first.eigenvectors, second.eigenvectors)
    power_a = hessian_eigenpairs(model, batches, k=1, method="power_iteration", seed=4)
    power_b = hessian_eigenpairs(model, batches, k=1, method="power_iteration", seed=4)
    assert np.array_equal(power_a.eigenvalues, power_b.eigenvalues)
    operator = HessianOperator(model, batches)
    a = hutchinson_trace(operator, 5, seed=9)
    b = hutchinson_trace(operator, 5, seed=9)
    c = hutchinson_trace(operator, 5, seed=10)
    assert np.array_equal(a.samples, b.samples) and not np.array_equal(a.samples, c.samples)


def test_weights_restored_and_batchnorm_statistics_untouched():
    model = dense_net(seed=1, batchnorm=True)
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.full(4, 0.3))
    bn.moving_variance.assign(np.full(4, 2.0))
    x, y = classification_data()
    before = snapshot(model)
    hessian_eigenpairs(model, unequal_batches(x, y), k=2, include="hidden/")
    hessian_eigenpairs(model, iter(unequal_batches(x, y)), k=1, method="power_iteration", max_iter=5)
    hessian_trace(model, unequal_batches(x, y), n_samples=3, mode="reverse")
    assert_restored(model, before)


def test_bad_arguments_are_rejected():
    model, batches, _ = regression_problem()
    with pytest.raises(ValueError, match="mode='sideways'"):
        HessianOperator(model, batches, squared_error, mode="sideways")
    with pytest.raises(ValueError, match="method='qr'"):
        hessian_eigenpairs(model, batches, squared_error, method="qr")
    with pytest.raises(ValueError, match="no variable"):
        HessianOperator(model, batches, squared_error, include="nothing-matches")
    with pytest.raises(ValueError, match="shape"):
        HessianOperator(model, batches, squared_error).matvec(np.ones(3))
    with pytest.raises(ValueError, match="k=7"):
        lanczos(MatrixOperator(np.eye(6)), k=7)
