"""Module rewinding and the Chatterji et al. criticality measure (repro.landscape.criticality)."""
import numpy as np
import pytest

import repro  # noqa: F401
import keras

from repro.landscape.criticality import module_criticality, path_criticality, rewind_modules
from repro.landscape.state import evaluate


def model_with_a_dead_module() -> keras.Model:
    """logits = useful(x) + 0 * dead(x): the "dead" Dense layer cannot change the output."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    useful = keras.layers.Dense(3, name="useful")(inputs)
    dead = keras.layers.Dense(3, name="dead")(inputs)
    muted = keras.layers.Lambda(lambda t: 0.0 * t, name="mute")(dead)
    return keras.Model(inputs, keras.layers.Add(name="add")([useful, muted]))


def bn_model() -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8,))
    x = keras.layers.Dense(4, name="d1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="d2")(x))


class Spy:
    """A re-iterable dataset that records a variable's value at every pass (= every evaluation)."""

    def __init__(self, batches, variable):
        self.batches, self.variable, self.seen = batches, variable, []

    def __iter__(self):
        self.seen.append(self.variable.numpy().copy())
        return iter(self.batches)


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def assert_restored(model, before):
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


@pytest.fixture(scope="module")
def task():
    """Separable data, a trained-by-hand final model (large-margin teacher) and a random init."""
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(8, 3))
    x = rng.normal(size=(64, 8)).astype("float32")
    y = np.argmax(x @ teacher, axis=1)
    model = model_with_a_dead_module()
    init = model.get_weights()
    model.get_layer("useful").kernel.assign((4.0 * teacher).astype("float32"))
    model.get_layer("useful").bias.assign(np.zeros(3, "float32"))
    return model, init, [(x[:32], y[:32]), (x[32:], y[32:])]


def test_rewinding_every_module_reproduces_the_initial_model(task):
    _, _, data = task
    model, initial = bn_model(), bn_model()
    rng = np.random.default_rng(5)
    model.set_weights([w + rng.normal(size=w.shape).astype("float32") ** 2 for w in initial.get_weights()])
    before = snapshot(model)
    final = evaluate(model, data)
    result = rewind_modules(model, data, initial, modules=lambda path: "all")
    assert_restored(model, before)
    per_layer = rewind_modules(model, data, initial)
    assert per_layer.modules == ("d1", "bn", "d2")
    for module, rewound in zip(per_layer.modules, per_layer.rewound):  # each module alone, the others final
        model.set_weights([
            source if v.path.startswith(module + "/") else final_value
            for v, source, final_value in zip(model.weights, initial.get_weights(), before)
        ])
        assert rewound == evaluate(model, data)
    model.set_weights(initial.get_weights())
    expected = evaluate(model, data)
    assert result.modules == ("all",)
    assert result.rewound[0] == expected and result.final == final


def test_rewinding_one_module_at_a_time(task):
    model, init, data = task
    before = snapshot(model)
    result = rewind_modules(model, data, init)
    rewound = dict(zip(result.modules, result.rewound))
    assert set(rewound) == {"useful", "dead"}
    useful, dead = rewound["useful"], rewound["dead"]
    assert dead == result.final  # the muted module does not matter
    assert useful.loss > result.final.loss + 0.5 and useful.accuracy < result.final.accuracy
    assert_restored(model, before)


def test_every_noise_sample_is_fresh_and_counted(task):
    model, init, data = task
    before = snapshot(model)
    spy = Spy(data, model.get_layer("dead").kernel)
    alphas, sigmas, n_samples = [0.0, 1.0], [0.1, 0.5], 3
    result = module_criticality(model, spy, init, "dead", alphas=alphas, sigmas=sigmas, n_samples=n_samples, seed=4)
    assert len(spy.seen) == 1 + len(alphas) * len(sigmas) * n_samples
    noisy = spy.seen[1:]
    assert len({w.tobytes() for w in noisy}) == len(noisy)  # every draw differs
    init_kernel = init[[v.path for v in model.weights].index("dead/kernel")]
    final_kernel = spy.seen[0]
    for k, w in enumerate(noisy):
        alpha, sigma = alphas[k // (len(sigmas) * n_samples)], sigmas[(k // n_samples) % len(sigmas)]
        residual = w - ((1 - alpha) * init_kernel + alpha * final_kernel)
        assert 0.5 * sigma < residual.std() < 1.6 * sigma
    assert result.mean_losses.shape == (2, 2) and result.n_samples == 3
    assert_restored(model, before)


def test_a_module_that_does_not_matter_has_zero_criticality(task):
    model, init, data = task
    kwargs = dict(alphas=[0.0, 0.5, 1.0], sigmas=[0.01, 0.1, 1.0], n_samples=2, epsilon=0.01)
    dead = module_criticality(model, data, init, "dead", **kwargs)
    useful = module_criticality(model, data, init, "useful", **kwargs)
    assert dead.measure == 0.0 and dead.accepted.all()
    assert np.allclose(dead.mean_losses, dead.final_loss)
    assert not useful.accepted[0].any()  # rewound to init, the loss rises far above the threshold
    assert useful.measure > 0.0
    expected = np.min(useful.values[useful.accepted]) if useful.accepted.any() else np.inf
    assert useful.measure == expected
    assert useful.threshold == pytest.approx(useful.final_loss + 0.01)
    relative = module_criticality(model, data, init, "useful", relative=True, **kwargs)
    assert relative.threshold == pytest.approx(1.01 * relative.final_loss)


def test_seeds_reproduce_the_measure_exactly(task):
    model, init, data = task
    kwargs = dict(alphas=[0.5, 1.0], sigmas=[0.3, 1.0], n_samples=2)
    a = module_criticality(model, data, init, "useful", seed=7, **kwargs)
    b = module_criticality(model, data, init, "useful", seed=7, **kwargs)
    c = module_criticality(model, data, init, "useful", seed=8, **kwargs)
    np.testing.assert_array_equal(a.mean_losses, b.mean_losses)
    assert not np.array_equal(a.mean_losses, c.mean_losses)
    with pytest.raises(ValueError, match="not one of"):
        module_criticality(model, data, init, "mute", **kwargs)


@pytest.mark.parametrize("module, epsilon", [("useful", 0.01), ("useful", 0.3), ("useful", -1.0), ("dead", 0.01)])
def test_measure_only_gives_the_full_grid_s_measure_bit_for_bit(task, module, epsilon):
    """Each point evaluated keeps its full-grid draws: the same loss at that point, the same mu, fewer passes."""
    model, init, data = task
    before = snapshot(model)
    kwargs = dict(alphas=[0.0, 0.2, 0.5, 1.0], sigmas=[0.01, 0.05, 0.3, 1.0], n_samples=2, epsilon=epsilon, seed=3)
    full = module_criticality(model, data, init, module, **kwargs)
    spy = Spy(data, model.get_layer(module).kernel)
    fast = module_criticality(model, spy, init, module, measure_only=True, **kwargs)
    assert fast.measure == full.measure and fast.threshold == full.threshold
    evaluated = np.isfinite(fast.mean_losses)
    np.testing.assert_array_equal(fast.mean_losses[evaluated], full.mean_losses[evaluated])
    assert len(spy.seen) == 1 + evaluated.sum() * 2
    below = full.values < full.measure  # every point of smaller value was evaluated (and refused)
    assert evaluated[below].all() and not full.accepted[below].any()
    if np.isfinite(full.measure):
        assert fast.accepted.sum() == 1 and evaluated.sum() < evaluated.size
    else:
        assert evaluated.all()
    assert_restored(model, before)


def test_optimization_path_replaces_the_start_by_each_checkpoint(task):
    model, init, data = task
    before = snapshot(model)
    final = model.get_weights()
    middle = [(a + b) / 2 for a, b in zip(init, final)]
    kwargs = dict(alphas=[0.0, 1.0], sigmas=[0.05, 0.5], n_samples=2)
    path = path_criticality(model, data, [init, middle, final], "useful", **kwargs)
    direct = module_criticality(model, data, init, "useful", **kwargs)
    assert_restored(model, before)
    np.testing.assert_array_equal(path.results[0].mean_losses, direct.mean_losses)
    index = [v.path for v in model.weights].index("useful/kernel")
    step = np.sqrt(np.sum((final[index] - init[index]) ** 2 / 4) + np.sum((final[index + 1] - init[index + 1]) ** 2 / 4))
    np.testing.assert_allclose(path.path_length, [0.0, step, 2 * step], rtol=1e-6)
    assert path.results[2].distance == 0.0 and path.measures[2] == 0.0
    assert path.checkpoint_losses.shape == (3, 2)
    assert path.checkpoint_losses[0, 0] > path.checkpoint_losses[2, 0]
