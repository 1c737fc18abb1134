"""Chen et al. 2022's measures on hand-built weights and features, and the regression on a synthetic table."""
import numpy as np
import pytest

from repro.chen2022.measure import (
    body_mean, domain_gap, frechet_distance, group_distances, intraclass_variance, layer_transferability, mean_abs,
    overall_transferability, standardized_regression)


def test_known_distances_give_a_known_ratio():
    groups = {"stem/kernel": "stem", "a/kernel": "layer1.0", "b/kernel": "layer1.0", "fc/kernel": "fc"}
    finetuned = {p: np.zeros((2, 2)) for p in groups}
    random = {"stem/kernel": np.full((2, 2), 3.0), "a/kernel": np.full((2, 2), 2.0), "b/kernel": np.full((2, 2), 4.0),
              "fc/kernel": np.ones((2, 2))}
    pretrained = {"stem/kernel": np.full((2, 2), -1.0), "a/kernel": np.full((2, 2), 1.0),
                  "b/kernel": np.full((2, 2), 0.5), "fc/kernel": -np.ones((2, 2))}
    t = layer_transferability(random, pretrained, finetuned, groups)
    assert t["stem"] == pytest.approx(3.0)
    assert t["layer1.0"] == pytest.approx(3.0 / 0.75)  # (2 + 4) / 2 over (1 + 0.5) / 2: means before the ratio
    assert t["fc"] == pytest.approx(1.0)
    assert overall_transferability(t) == pytest.approx((3.0 + 4.0) / 2)  # the classifier is left out
    assert mean_abs(np.array([1.0, -1.0]), np.array([0.0, 0.0])) == 1.0  # normalised L1, not L2
    # T's parts: D_l(theta_r, theta_A) = (4, (1 + 3.5) / 2, 2) and their mean over the body (classifier left out)
    moved = group_distances(random, pretrained, groups)
    assert moved == pytest.approx({"stem": 4.0, "layer1.0": 2.25, "fc": 2.0})
    assert body_mean(moved) == pytest.approx((4.0 + 2.25) / 2)


def test_an_untouched_group_has_t_exactly_one_when_theta_a_is_theta_r():
    rng = np.random.default_rng(0)
    theta_r = {"stem/kernel": rng.normal(size=(3, 3, 1, 4)), "fc/kernel": rng.normal(size=(4, 2))}
    theta_a = {"stem/kernel": theta_r["stem/kernel"].copy(), "fc/kernel": rng.normal(size=(4, 2))}
    theta_fb = {k: v + rng.normal(size=v.shape) for k, v in theta_a.items()}
    t = layer_transferability(theta_r, theta_a, theta_fb, {"stem/kernel": "stem", "fc/kernel": "fc"})
    assert t["stem"] == 1.0


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200_000, 2)) * [1.0, 2.0]
    b = rng.normal(size=(200_000, 2)) * [3.0, 1.0] + [1.0, 0.0]
    # diagonal covariances: |mu|^2 + sum (s_a - s_b)^2 = 1 + (1 - 3)^2 + (2 - 1)^2
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert domain_gap(a, b) == pytest.approx(6.0 / 5.0, rel=0.02)  # in units of tr(Sigma_source) = 1 + 4


def _with_moments(mean: np.ndarray, cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows whose sample mean and (biased) covariance are exactly ``mean`` and ``cov``."""
    z = np.random.default_rng(seed).normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False, bias=True))).T  # whitened: cov = I
    return z @ np.linalg.cholesky(cov).T + mean


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def test_frechet_distance_with_full_covariances_matches_the_closed_form():
    """Non-diagonal covariances that do not commute: tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), the root of a
    symmetric matrix by its eigendecomposition. An element-wise square root, or one of S_a S_b's diagonal,
    fails here (it passes the diagonal case above)."""
    rng = np.random.default_rng(4)
    m_a, m_b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    cov_a, cov_b = m_a @ m_a.T + 0.1 * np.eye(5), m_b @ m_b.T + 0.1 * np.eye(5)
    assert np.abs(cov_a @ cov_b - cov_b @ cov_a).max() > 1.0
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    root_a = _psd_sqrt(cov_a)
    expected = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b)
                     - 2 * np.trace(_psd_sqrt(root_a @ cov_b @ root_a)))
    a, b = _with_moments(mu_a, cov_a, 400, 5), _with_moments(mu_b, cov_b, 400, 6)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    elementwise = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b)
                        - 2 * np.sum(np.sqrt(np.abs(np.diag(cov_a @ cov_b)))))
    assert abs(elementwise - expected) > 0.01 * expected


def test_intraclass_variance_is_the_mean_class_trace_over_the_source_variance():
    source = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # tr(Sigma) = 1 + 1
    target = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 14.0]])
    labels = np.array([0, 0, 1, 1])  # class traces 1 and 4
    assert intraclass_variance(source, target, labels) == pytest.approx((1.0 + 4.0) / 2 / 2.0)


def test_regression_recovers_known_coefficients():
    rng = np.random.default_rng(2)
    table = {"G": rng.normal(size=12), "D": rng.normal(size=12) * 5 + 3, "lnN": np.log(rng.integers(100, 50_000, 12))}
    z = {k: (v - v.mean()) / v.std() for k, v in table.items()}
    response = 2.86 - 0.26 * z["G"] + 0.32 * z["D"] - 0.61 * z["lnN"]
    fit = standardized_regression(table, response)
    assert fit.coefficients == pytest.approx({"G": -0.26, "D": 0.32, "lnN": -0.61})
    assert fit.intercept == pytest.approx(2.86) and fit.r2 == pytest.approx(1.0) and fit.n == 12
    noisy = standardized_regression(table, response + rng.normal(scale=0.3, size=12))
    assert 0.0 < noisy.r2 < 1.0


def test_regression_standard_errors_are_the_ordinary_least_squares_ones():
    # One standardised regressor: sum z^2 = n, so se(b) = s / sqrt(n) with s^2 = RSS / (n - 2).
    x = np.array([1.0, 2.0, 4.0, 5.0, 7.0, 8.0])
    y = np.array([0.9, 2.3, 3.8, 5.4, 6.6, 8.3])
    fit = standardized_regression({"x": x}, y)
    z = (x - x.mean()) / x.std()
    residual = y - y.mean() - fit.coefficients["x"] * z
    assert fit.standard_errors["x"] == pytest.approx(np.sqrt(residual @ residual / 4) / np.sqrt(6))
    # An exact fit has no residual, hence no error.
    assert standardized_regression({"x": x}, 2 * x + 1).standard_errors["x"] == pytest.approx(0.0, abs=1e-9)


def test_regression_rejects_constant_columns_and_too_few_targets():
    with pytest.raises(ValueError, match="constant"):
        standardized_regression({"G": [1.0] * 6, "D": range(6)}, range(6))
    with pytest.raises(ValueError, match="linearly dependent"):
        standardized_regression({"G": [1.0, 2.0, 3.0, 4.0, 6.0], "D": [2.0, 4.0, 6.0, 8.0, 12.0]}, range(5))
    with pytest.raises(ValueError, match="too few"):
        standardized_regression({"G": [1.0, 2.0, 3.0], "D": [3.0, 1.0, 2.0], "lnN": [1.0, 5.0, 2.0]}, [1, 2, 3])


def test_frechet_distance_of_fewer_examples_than_dimensions_is_quiet_and_zero_for_the_same_set():
    """S_a S_b is singular when n < d (smoke targets): the distance is still defined and says nothing on stderr."""
    import warnings

    rng = np.random.default_rng(0)
    a, b = (np.maximum(rng.normal(size=(10, 64)), 0.0) for _ in range(2))
    a[:, :32] = b[:, :32] = 0.0  # units that never fire, as ReLU features have: exactly singular covariances
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
        assert frechet_distance(a, b) > 0.0
