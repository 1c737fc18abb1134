"""The (epsilon, delta)-basin estimate on a one-weight model with a closed-form loss (repro.landscape.basins)."""
import numpy as np
import pytest

import repro  # noqa: F401
import keras
import tensorflow as tf

from repro.landscape.basins import estimate_basin


def plateau(y, logits):
    """l(w) = min(1, 2|w|) on [-1, 1], w beyond 1 and 1 + 3(|w| - 1) beyond -1: a basin [-1, 1] at level 1.

    For w ~ U[-1, 1]: mu = 0.75 and epsilon = E|l - mu| = 0.28125, so 2 epsilon = 0.5625.
    Beyond either boundary (each with probability 1/2) by |v|, v ~ N(0, delta^2) (condition 3),
    the mean excess is 1 + 2 * 0.798 delta - mu. At the boundary plus v (condition 2, n = 1) it is
    about 0.45 at delta = 0.25 and about 1.05 at delta = 1, so delta = 1 on the grid (0.25, 1, 2, 4).
    """
    w = logits[:, 0]
    inside = tf.minimum(1.0, 2.0 * tf.abs(w))
    return tf.where(w > 1.0, w, tf.where(w < -1.0, 1.0 + 3.0 * (-w - 1.0), inside))


@pytest.fixture(scope="module")
def setup():
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False, name="w")(inputs))
    model.get_layer("w").kernel.assign([[0.25]])
    data = [(np.ones((1, 1), "float32"), np.zeros((1,), "int64"))]
    return model, data


def test_basin_of_a_plateau_matches_the_closed_form(setup):
    model, data = setup
    before = model.get_weights()
    kwargs = dict(loss_fn=plateau, steps=np.linspace(0.1, 1.0, 10), level=1.0, deltas=[0.25, 1.0, 2.0, 4.0], n_samples=100)
    basin = estimate_basin(model, data, [np.array([[-0.5]])], [np.array([[0.5]])], seed=3, **kwargs)
    np.testing.assert_array_equal(model.get_weights()[0], before[0])
    assert basin.alpha_high == pytest.approx(1.5, abs=1e-6) and basin.alpha_low == pytest.approx(-0.5, abs=1e-6)
    assert basin.closed_high and basin.closed_low
    assert basin.line_length == 1.0 and basin.dimension == 1
    assert basin.mu == pytest.approx(0.75, abs=0.06)
    assert basin.epsilon == pytest.approx(0.28125, abs=0.05)
    expected = 1.0 + 2 * 0.798 * basin.deltas - basin.mu  # E l(1 + |v|) - mu, Monte Carlo error grows with delta
    assert np.all(np.abs(basin.beyond_excess - expected) < 0.1 + 0.25 * basin.deltas)
    assert basin.delta == 1.0
    np.testing.assert_array_equal(basin.deltas, [0.25, 1.0, 2.0, 4.0])
    assert basin.n_samples == 100 and basin.seed == 3 and basin.level == 1.0
    assert basin.extrapolation_alphas[0] == pytest.approx(-0.6) and basin.extrapolation_alphas[-1] == pytest.approx(1.6)
    assert np.all(np.diff(basin.extrapolation_alphas) > 0)
    again = estimate_basin(model, data, [np.array([[-0.5]])], [np.array([[0.5]])], seed=3, **kwargs)
    np.testing.assert_array_equal(again.boundary_excess, basin.boundary_excess)
    assert again.epsilon == basin.epsilon


def test_an_open_basin_is_reported_as_not_closed(setup):
    model, data = setup
    basin = estimate_basin(
        model, data, [np.array([[-0.5]])], [np.array([[0.5]])], loss_fn=plateau,
        steps=[0.5, 1.0], tolerance=100.0, deltas=[1.0], n_samples=2,
    )
    assert basin.level == pytest.approx(101.0)
    assert not basin.closed_high and not basin.closed_low
    assert (basin.alpha_low, basin.alpha_high) == (-1.0, 2.0)
    reached = basin.boundary_excess[0] >= 2 * basin.epsilon and basin.beyond_excess[0] >= 2 * basin.epsilon
    assert basin.delta == 1.0 if reached else np.isnan(basin.delta)
    with pytest.raises(ValueError, match="no line"):
        estimate_basin(model, data, [np.array([[0.5]])], [np.array([[0.5]])], loss_fn=plateau)


class Spy:
    """A re-iterable dataset that records a variable's value at every pass (= every evaluation)."""

    def __init__(self, batches, variable):
        self.batches, self.variable, self.seen = batches, variable, []

    def __iter__(self):
        self.seen.append(self.variable.numpy().astype(np.float64).ravel())
        return iter(self.batches)


def test_condition_2_noise_has_total_norm_delta_and_condition_3_stays_on_the_line():
    inputs = keras.Input((64,))
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False, name="w")(inputs))
    spy = Spy([(np.ones((1, 64), "float32"), np.zeros((1,), "int64"))], model.get_layer("w").kernel)
    theta_2 = np.full((64, 1), 1 / 64)
    absolute = lambda y, logits: tf.abs(logits[:, 0])  # noqa: E731
    basin = estimate_basin(model, spy, [np.zeros((64, 1))], [theta_2], loss_fn=absolute,
                           steps=[0.5], level=10.0, deltas=[2.0], n_samples=3)
    assert basin.dimension == 64 and basin.line_length == pytest.approx(1 / 8)
    assert len(spy.seen) == 2 + 2 + 3 + 3 + 3  # ends, boundary search, condition 1, conditions 2 and 3
    ends = [a * theta_2.ravel() for a in (basin.alpha_low, basin.alpha_high)]
    for w in spy.seen[7:10]:
        assert min(np.linalg.norm(w - end) for end in ends) == pytest.approx(2.0, rel=0.3)
    for w in spy.seen[10:13]:
        np.testing.assert_allclose(w, w[0], rtol=1e-6)  # a multiple of theta_2: on the line
        assert abs(w[0] * 64) > 1.5  # beyond the boundary at alpha = 1.5 or -0.5
