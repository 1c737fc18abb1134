"""Golden values of the paper-scale networks in PyTorch, for ``tests/test_golden_networks.py``.

For each network: weights drawn from a seeded NumPy generator in PyTorch's layout (the test draws the same
arrays and converts them to Keras' layout), a fixed batch, then in PyTorch the logits, the mean cross-entropy,
the gradient of every parameter and the parameters after 3 steps of ``torch.optim.SGD`` (momentum 0.9, the
protocol's weight decay on every parameter) on that batch, dropout off (eval mode: the frameworks draw
different masks). Large tensors are stored as summaries (sum, L2 norm, 64 sampled entries).

Networks: LeNet (Liu et al. 2019's ``lenet.py``: body + ``LeNet_cls`` head), 28x28x1, 10 classes.

    PYTHONPATH=. python tools/golden_networks.py   # in an environment with torch (pip install -e ".[bench]")
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden"
SAMPLES = 64
STEPS = 3
LR = 0.01


class LeNet(nn.Module):
    """``lenet.py``'s ``LeNet`` body (without its unused 6-way classifier) and ``LeNet_cls`` head."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.cls_fc1, self.cls_fc2, self.cls_fc3 = nn.Linear(500, 1024), nn.Linear(1024, 1024), nn.Linear(1024, classes)
        self.drop2d, self.drop = nn.Dropout2d(0.5), nn.Dropout(0.5)

    def forward(self, x):
        x = torch.relu(nn.functional.max_pool2d(self.conv1(x), 2))
        x = torch.relu(nn.functional.max_pool2d(self.drop2d(self.conv2(x)), 2))
        x = self.drop(torch.relu(self.fc1(torch.flatten(x, 1))))
        x = self.drop(torch.relu(self.cls_fc1(x)))
        x = self.drop(torch.relu(self.cls_fc2(x)))
        return self.cls_fc3(x)


def draw(shapes: list[tuple[int, ...]], seed: int, scale: float) -> list[np.ndarray]:
    """The weights both frameworks start from (the test repeats this draw)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * scale).astype(np.float32) for shape in shapes]


def summary(prefix: str, arrays: list[np.ndarray], seed: int) -> dict:
    """Sum, L2 norm and ``SAMPLES`` entries (fixed flat indices) of each array."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, array in enumerate(arrays):
        flat = array.astype(np.float64).ravel()
        index = rng.choice(flat.size, size=min(SAMPLES, flat.size), replace=False)
        out.update({f"{prefix}{i}_sum": flat.sum(), f"{prefix}{i}_norm": np.linalg.norm(flat),
                    f"{prefix}{i}_index": index, f"{prefix}{i}_values": flat[index]})
    return out


def golden_lenet() -> dict:
    model = LeNet().eval()
    names = [name for name, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    weights = draw(shapes, seed=1, scale=0.05)
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.tensor(w))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=8).astype(np.int64)
    logits = model(torch.tensor(x))
    loss = nn.functional.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)
    for _ in range(STEPS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y)).backward()
        optimizer.step()
    after = [p.detach().numpy().copy() for p in model.parameters()]
    return dict(names=np.array(names), shapes=np.array([str(s) for s in shapes]), x=x, y=y,
                logits=logits.detach().numpy(), loss=loss.item(), lr=LR, steps=STEPS, weight_decay=5e-4,
                torch_version=torch.__version__, **summary("grad", grads, 3), **summary("after", after, 4))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(OUT / "lenet.npz", **golden_lenet())
    print(f"written: {OUT / 'lenet.npz'} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
