"""The paper-scale networks against PyTorch's arithmetic, from stored golden values (``tools/golden_networks.py``):
the same weights and batch give the same logits, loss, gradients and weights after 3 optimizer steps."""
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from repro.models.lenet import lenet
from repro.train import TorchSGD

GOLDEN = Path(__file__).parent / "golden"


def _draw(shapes: list[tuple[int, ...]], seed: int, scale: float) -> list[np.ndarray]:
    """``tools/golden_networks.py``'s draw of the starting weights (PyTorch layout)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * scale).astype(np.float32) for shape in shapes]


def _lenet_from_torch(torch_weights: dict[str, np.ndarray]) -> keras.Model:
    """The Keras LeNet holding PyTorch's weights: conv OIHW -> HWIO, linear (out, in) -> (in, out), and fc1's
    inputs permuted from torch's (C, H, W) flatten to Keras' (H, W, C)."""
    model = lenet(10, seed=0)
    for name in ("conv1", "conv2", "fc1", "cls_fc1", "cls_fc2", "cls_fc3"):
        kernel, bias = torch_weights[f"{name}.weight"], torch_weights[f"{name}.bias"]
        if kernel.ndim == 4:
            kernel = kernel.transpose(2, 3, 1, 0)
        elif name == "fc1":
            kernel = kernel.reshape(500, 50, 4, 4).transpose(2, 3, 1, 0).reshape(800, 500)
        else:
            kernel = kernel.T
        model.get_layer(name).set_weights([kernel, bias])
    return model


def _torch_order(model: keras.Model, names: list[str]) -> list:
    """The Keras variables in the order of PyTorch's ``named_parameters``."""
    return [model.get_layer(name.split(".")[0]).kernel if name.endswith("weight")
            else model.get_layer(name.split(".")[0]).bias for name in names]


def _in_torch_layout(name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:
        return array.transpose(3, 2, 0, 1)
    if name == "fc1.weight":
        return array.reshape(4, 4, 50, 500).transpose(3, 2, 0, 1).reshape(500, 800)
    return array.T if array.ndim == 2 else array


def _check_summaries(golden, prefix: str, names: list[str], arrays: list[np.ndarray], rtol: float, atol: float):
    worst = 0.0
    for i, (name, array) in enumerate(zip(names, arrays)):
        flat = _in_torch_layout(name, array).astype(np.float64).ravel()
        sampled = flat[golden[f"{prefix}{i}_index"]]
        np.testing.assert_allclose(sampled, golden[f"{prefix}{i}_values"], rtol=rtol, atol=atol, err_msg=name)
        np.testing.assert_allclose(np.linalg.norm(flat), golden[f"{prefix}{i}_norm"], rtol=rtol, err_msg=name)
        np.testing.assert_allclose(flat.sum(), golden[f"{prefix}{i}_sum"], rtol=100 * rtol,
                                   atol=atol * np.sqrt(flat.size), err_msg=name)
        worst = max(worst, float(np.max(np.abs(sampled - golden[f"{prefix}{i}_values"]))))
    return worst


def test_lenet_matches_pytorch_logits_loss_gradients_and_three_sgd_steps():
    golden = np.load(GOLDEN / "lenet.npz")
    names = [str(n) for n in golden["names"]]
    shapes = [tuple(int(d) for d in s.strip("()").split(",") if d.strip()) for s in golden["shapes"]]
    model = _lenet_from_torch(dict(zip(names, _draw(shapes, seed=1, scale=0.05))))
    variables = _torch_order(model, names)
    x, y = tf.constant(golden["x"].transpose(0, 2, 3, 1)), tf.constant(golden["y"])

    def loss_and_grads():
        with tf.GradientTape() as tape:
            logits = model(x, training=False)  # dropout off, as the golden run's eval mode
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
        return logits, loss, tape.gradient(loss, variables)

    logits, loss, grads = loss_and_grads()
    np.testing.assert_allclose(logits.numpy(), golden["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss), float(golden["loss"]), rtol=1e-6)
    _check_summaries(golden, "grad", names, [g.numpy() for g in grads], rtol=1e-4, atol=1e-7)

    optimizer = TorchSGD(learning_rate=float(golden["lr"]), momentum=0.9)
    wd = float(golden["weight_decay"])
    for _ in range(int(golden["steps"])):
        _, _, grads = loss_and_grads()
        optimizer.apply_gradients(zip([g + wd * v.value for g, v in zip(grads, variables)], variables))
    _check_summaries(golden, "after", names, [v.numpy() for v in variables], rtol=1e-5, atol=1e-7)
