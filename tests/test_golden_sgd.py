"""The update rule of the PyTorch protocols against ``torch.optim.SGD`` itself (golden values written by
``tools/golden_sgd.py``: 8 steps of momentum 0.9 with weight decay, lr by MultiStepLR and by cosine)."""
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from repro.train import TorchSGD, _momentum_update

GOLDEN = np.load(Path(__file__).parent / "golden" / "torch_sgd.npz")
SHAPES = [GOLDEN[f"start{i}"].shape for i in range(3)]
STEPS = len(GOLDEN["multistep_lr"])


def _train(schedule: str, optimizer_class, fused: bool) -> tuple[np.ndarray, np.ndarray]:
    """The suite's update on the golden gradients: weight decay folded into the gradient as the train step does
    (``g + wd w``), then the optimizer's momentum; the weights and buffers after every step, flattened."""
    variables = [keras.Variable(GOLDEN[f"start{i}"]) for i in range(len(SHAPES))]
    optimizer = optimizer_class(learning_rate=0.1, momentum=float(GOLDEN["momentum"]))
    optimizer.build(variables)
    wd = float(GOLDEN["weight_decay"])
    weights, buffers = [], []
    for step in range(STEPS):
        optimizer.learning_rate.assign(float(GOLDEN[f"{schedule}_lr"][step]))
        grads = [tf.constant(GOLDEN[f"grad{step}_{i}"]) + wd * v.value for i, v in enumerate(variables)]
        if fused:
            tf.function(lambda g=grads: _momentum_update(optimizer, g, variables))()
        else:
            optimizer.apply_gradients(zip(grads, variables))
        weights.append(np.concatenate([v.numpy().ravel() for v in variables]))
        buffers.append(np.concatenate([m.numpy().ravel() for m in optimizer.momentums]))
    return np.stack(weights), np.stack(buffers)


@pytest.mark.parametrize("schedule", ["multistep", "cosine"])
@pytest.mark.parametrize("fused", [False, True], ids=["apply_gradients", "fused kernel"])
def test_torch_sgd_follows_pytorch_step_by_step(schedule, fused):
    """Within a few float32 ulps: the suite's lr is a float32 variable where torch multiplies by a Python float
    (max deviation seen: 2.4e-7 on weights of magnitude 2, i.e. one ulp)."""
    weights, buffers = _train(schedule, TorchSGD, fused)
    np.testing.assert_allclose(weights, GOLDEN[f"{schedule}_weights"], rtol=5e-7, atol=1e-7)
    np.testing.assert_allclose(buffers, GOLDEN[f"{schedule}_buffers"], rtol=5e-7, atol=1e-7)


def test_keras_momentum_leaves_pytorch_after_an_lr_drop():
    """The form matters: Keras' (Caffe's) momentum carries the old lr in its buffer after a drop, so it does
    not reproduce PyTorch's weights once the lr has changed; the torch form does (test above)."""
    weights, _ = _train("multistep", keras.optimizers.SGD, fused=False)
    golden = GOLDEN["multistep_weights"]
    np.testing.assert_allclose(weights[:3], golden[:3], rtol=5e-7, atol=1e-7)  # constant lr: the same update
    assert np.abs(weights[3:] - golden[3:]).max() > 1e-3
