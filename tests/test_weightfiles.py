"""The suite's weights files: ``.weights.npz`` gives a model the bits Keras' ``.weights.h5`` gives it."""
import os

import keras
import numpy as np
import pytest

from repro.errors import CorruptCheckpoint
from repro.models.lenet import lenet
from repro.models.resnet import resnet
from repro.weightfiles import load_weights, save_weights


def _mini_resnet(seed: int) -> keras.Model:
    return resnet((16, 16, 1), 10, width=4, stem="cifar", blocks=(1, 1, 1, 1), seed=seed)


def _trained_statistics(model: keras.Model) -> None:
    """Move the BN moving statistics away from their init, so that the test sees them saved."""
    for variable in model.non_trainable_weights:
        variable.assign(variable.numpy() + np.random.default_rng(0).normal(size=variable.shape).astype("float32"))


@pytest.mark.parametrize("build", [_mini_resnet, lambda seed: lenet(seed=seed)], ids=["resnet", "lenet"])
def test_an_npz_weights_file_gives_every_weight_the_bits_keras_h5_gives(tmp_path, build):
    saved = build(1)
    _trained_statistics(saved)
    save_weights(saved, tmp_path / "a.weights.npz")
    save_weights(saved, tmp_path / "a.weights.h5")
    from_npz, from_h5 = build(2), build(3)
    load_weights(from_npz, tmp_path / "a.weights.npz")
    load_weights(from_h5, tmp_path / "a.weights.h5")
    assert len(saved.weights) == len(from_npz.weights)
    for original, npz, h5 in zip(saved.weights, from_npz.weights, from_h5.weights):
        np.testing.assert_array_equal(npz.numpy(), original.numpy(), err_msg=original.path)
        np.testing.assert_array_equal(h5.numpy(), original.numpy(), err_msg=original.path)
    assert sorted(os.listdir(tmp_path)) == ["a.weights.h5", "a.weights.npz"]  # no temporary left behind


def test_a_truncated_npz_is_a_corrupt_checkpoint_naming_the_file(tmp_path):
    path = tmp_path / "epoch-003.weights.npz"
    save_weights(_mini_resnet(1), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptCheckpoint, match="epoch-003.weights.npz"):
        load_weights(_mini_resnet(2), path)


def test_an_npz_of_another_network_is_refused_and_leaves_the_model_as_it_was(tmp_path):
    path = tmp_path / "lenet.weights.npz"
    save_weights(lenet(seed=1), path)
    model = _mini_resnet(2)
    before = [v.numpy() for v in model.weights]
    with pytest.raises(CorruptCheckpoint, match="lenet.weights.npz"):
        load_weights(model, path)
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_a_weights_file_of_another_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        save_weights(lenet(seed=1), tmp_path / "a.npz")
