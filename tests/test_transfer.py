"""Shared layer transfer: copied layers equal the source, frozen layers never move,
re-initialised layers do not equal the source, random-frozen layers keep their init."""
import numpy as np
import pytest

import repro  # noqa: F401

from repro.models.caffenet import WEIGHT_LAYERS, build_caffenet
from repro.models.specs import caffenet_mini as mini_spec
from repro.schedule import Schedule
from repro.train import TrainData, train
from repro.transfer import transfer

SPEC = mini_spec(4, widths=(4, 8, 8, 8, 8, 16, 16))
SCHEDULE = Schedule(base_lr=0.05, length=6, step_size=100, batch_size=8, eval_every=3)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 32, 32, 1)).astype(np.float32)
    y = rng.integers(0, 4, size=32)
    return TrainData(x, y, x[:8], y[:8], crop_pad=2, mirror=True)


def _weights(model, name):
    return [w.copy() for w in model.get_layer(name).get_weights()]


@pytest.fixture(scope="module")
def source():
    return build_caffenet(SPEC, seed=1)


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_copied_layers_equal_source_and_the_rest_is_fresh(source, mode):
    target = build_caffenet(SPEC, seed=2)
    record = transfer(target, WEIGHT_LAYERS, 3, mode, source)
    for name in WEIGHT_LAYERS[:3]:
        for a, b in zip(_weights(target, name), _weights(source, name)):
            np.testing.assert_array_equal(a, b)
    for name in WEIGHT_LAYERS[3:]:
        assert not np.array_equal(target.get_layer(name).kernel.numpy(), source.get_layer(name).kernel.numpy())
    assert record.copied == ["conv1", "conv2", "conv3"]
    assert record.reinitialized == list(WEIGHT_LAYERS[3:])
    assert record.frozen == (["conv1", "conv2", "conv3"] if mode == "frozen" else [])


def test_frozen_layers_do_not_move_and_upper_layers_do(source, tmp_path):
    target = build_caffenet(SPEC, seed=2)
    transfer(target, WEIGHT_LAYERS, 4, "frozen", source)
    before = {name: _weights(target, name) for name in WEIGHT_LAYERS}
    train(target, _data(), SCHEDULE, tmp_path / "run", data_seed=0)
    for name in WEIGHT_LAYERS[:4]:
        for a, b in zip(before[name], _weights(target, name)):
            np.testing.assert_array_equal(a, b)  # no update and no weight decay
    for name in WEIGHT_LAYERS[4:]:
        assert not np.array_equal(before[name][0], target.get_layer(name).kernel.numpy()), name


def test_fine_tuned_copied_layers_move(source, tmp_path):
    target = build_caffenet(SPEC, seed=2)
    transfer(target, WEIGHT_LAYERS, 4, "finetune", source)
    train(target, _data(), SCHEDULE, tmp_path / "run", data_seed=0)
    assert not np.array_equal(target.get_layer("conv1").kernel.numpy(), source.get_layer("conv1").kernel.numpy())


def test_random_frozen_keeps_its_own_init(tmp_path):
    target = build_caffenet(SPEC, seed=5)
    init = {name: _weights(target, name) for name in WEIGHT_LAYERS}
    record = transfer(target, WEIGHT_LAYERS, 2, "random_frozen")
    train(target, _data(), SCHEDULE, tmp_path / "run", data_seed=0)
    assert record.copied == [] and record.frozen == ["conv1", "conv2"]
    for name in ("conv1", "conv2"):
        for a, b in zip(init[name], _weights(target, name)):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(init["conv3"][0], target.get_layer("conv3").kernel.numpy())


def test_bad_transfer_requests_are_rejected(source):
    target = build_caffenet(SPEC, seed=2)
    with pytest.raises(ValueError, match="mode"):
        transfer(target, WEIGHT_LAYERS, 2, "thaw", source)
    with pytest.raises(ValueError, match="n_transferred"):
        transfer(target, WEIGHT_LAYERS, 9, "frozen", source)
    with pytest.raises(ValueError, match="source"):
        transfer(target, WEIGHT_LAYERS, 2, "frozen", None)
    other = build_caffenet(mini_spec(4, widths=(6, 8, 8, 8, 8, 16, 16)), seed=1)
    with pytest.raises(ValueError, match="shapes"):
        transfer(target, WEIGHT_LAYERS, 1, "frozen", other)
