"""Golden values of PyTorch's SGD for ``tests/test_golden_sgd.py`` (PyTorch needed here only, never by the tests).

``torch.optim.SGD(momentum=0.9, weight_decay=wd)`` (dampening 0, no Nesterov), the optimizer of the official
code of Neyshabur et al. 2020, Liu et al. 2019 and Chen et al. 2022, run for 8 steps on three float32 tensors
from fixed gradients, with the learning rate changed between steps as ``MultiStepLR`` (x0.1 at step 3 and 6)
and as ``CosineAnnealingLR`` (T_max 8) change it. Written: ``tests/golden/torch_sgd.npz`` with the start
weights, the gradients, the learning rate of every step, and the weights and momentum buffers after every
step under each schedule.

    PYTHONPATH=. python tools/golden_sgd.py   # in an environment with torch (pip install -e ".[bench]")
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

SHAPES = [(6, 5), (5,), (3, 3, 2, 4)]
STEPS = 8
BASE_LR = 0.1
WEIGHT_DECAY = 1e-4
MOMENTUM = 0.9
OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "torch_sgd.npz"


def learning_rates(schedule: str) -> list[float]:
    """The lr torch's scheduler gives each step (stepped once per step here)."""
    if schedule == "multistep":
        return [BASE_LR * 0.1 ** sum(1 for m in (3, 6) if m <= t) for t in range(STEPS)]
    return [BASE_LR * (1 + math.cos(math.pi * t / STEPS)) / 2 for t in range(STEPS)]


def run(start: list[np.ndarray], grads: list[list[np.ndarray]], schedule: str) -> tuple[np.ndarray, ...]:
    params = [torch.nn.Parameter(torch.tensor(w)) for w in start]
    optimizer = torch.optim.SGD(params, lr=BASE_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    scheduler = (torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[3, 6], gamma=0.1)
                 if schedule == "multistep" else torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS))
    weights, buffers, lrs = [], [], []
    for step in range(STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        for p, g in zip(params, grads[step]):
            p.grad = torch.tensor(g)
        optimizer.step()
        scheduler.step()
        weights.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
        buffers.append(np.concatenate([optimizer.state[p]["momentum_buffer"].numpy().ravel() for p in params]))
    return np.array(lrs, dtype=np.float64), np.stack(weights), np.stack(buffers)


def main() -> None:
    rng = np.random.default_rng(21)
    start = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
    arrays = dict(momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, torch_version=torch.__version__,
                  **{f"start{i}": w for i, w in enumerate(start)},
                  **{f"grad{t}_{i}": g for t, step in enumerate(grads) for i, g in enumerate(step)})
    for schedule in ("multistep", "cosine"):
        lrs, weights, buffers = run(start, grads, schedule)
        assert np.allclose(lrs, learning_rates(schedule)), (schedule, lrs)
        arrays.update({f"{schedule}_lr": lrs, f"{schedule}_weights": weights, f"{schedule}_buffers": buffers})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"written: {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
