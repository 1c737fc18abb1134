"""Golden values of the paper-scale networks in PyTorch, for ``tests/test_golden_networks.py``.

For each network: weights drawn from a seeded NumPy generator in PyTorch's layout (the test draws the same
arrays and converts them to Keras' layout), a fixed batch, then in PyTorch the logits, the mean cross-entropy,
the gradient of every parameter and the parameters after 3 steps of ``torch.optim.SGD`` (momentum 0.9, the
protocol's weight decay on every parameter) on that batch, dropout off (eval mode: the frameworks draw
different masks). Large tensors are stored as summaries (sum, L2 norm, 64 sampled entries).

Networks: LeNet (Liu et al. 2019's ``lenet.py``: body + ``LeNet_cls`` head), 28x28x1, 10 classes; torchvision's
ResNet-50 (Liu's and Chen's ResNet-50: width 64, [3, 4, 6, 3], 1000 classes) at 64x64x3, the same layers as at
224 with a twelfth of the arithmetic, its BatchNorm scales and shifts drawn like the other weights
(:func:`golden_resnet50` says which checks run in eval mode and which in train mode); Neyshabur et al. 2020's
Fixup ResNet-50 with the official optimizer's parameter groups (:func:`golden_fixup_resnet50`); Yosinski et
al. 2014's CaffeNet with Caffe's SGD written out from its source (:func:`golden_caffenet`). And Chen et al. 2022's
layer-wise transferability T computed by the official ``cal_transferability.py`` arithmetic on three ResNet-50
weight sets (:func:`golden_chen_transferability`), and Neyshabur et al. 2020's linear CKA and L2 distances between
two Fixup ResNet-50 weight sets (:func:`golden_neyshabur_similarity`).

    PYTHONPATH=. python tools/golden_networks.py [name ...]   # with torch (pip install -e ".[bench]"); default: all
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


def draw(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """The weights both frameworks start from (the test repeats this draw): normal with std 1/sqrt(fan_in) for
    kernels (fan_in = every dimension but the first, in PyTorch's layout), 0.05 for vectors."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * (1 / np.sqrt(np.prod(shape[1:])) if len(shape) > 1 else 0.05))
            .astype(np.float32) for shape in shapes]


def summary(prefix: str, arrays: list[np.ndarray], seed: int, samples: int = SAMPLES) -> dict:
    """Per array (rows in ``arrays``' order): its sum, its L2 norm, and ``samples`` entries at fixed flat indices
    (drawn with replacement from arrays smaller than that)."""
    rng = np.random.default_rng(seed)
    flats = [a.astype(np.float64).ravel() for a in arrays]
    index = np.stack([rng.choice(f.size, size=samples, replace=f.size < samples) for f in flats])
    return {f"{prefix}_sum": np.array([f.sum() for f in flats]),
            f"{prefix}_norm": np.array([np.linalg.norm(f) for f in flats]),
            f"{prefix}_index": index, f"{prefix}_values": np.stack([f[i] for f, i in zip(flats, index)])}


def batch(seed: int, shape: tuple[int, ...], classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The batch (NCHW) and labels both frameworks see (the test repeats this draw)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, size=shape[0]).astype(np.int64)


def golden_lenet() -> dict:
    model = LeNet().eval()
    names = [name for name, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    weights = draw(shapes, seed=1)
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.tensor(w))
    x, y = batch(2, (8, 1, 28, 28), 10)
    return dict(names=np.array(names), shapes=np.array([str(s) for s in shapes]), weight_seed=1,
                bn_scales=np.array([], dtype=str), **eval_and_steps(model, x, y, 5e-4, seeds=(3, 4), samples=SAMPLES))


def eval_and_steps(model: nn.Module, x: np.ndarray, y: np.ndarray, weight_decay: float, seeds: tuple[int, int],
                   samples: int, lr: float = LR, param_groups: list[dict] | None = None) -> dict:
    """In the model's current mode and dtype (``x`` in it): the logits and loss of the batch, the gradients, and
    the parameters after ``STEPS`` steps of ``torch.optim.SGD`` (momentum 0.9, ``weight_decay``, ``lr``, or the
    lrs of ``param_groups``) on it."""
    logits = model(torch.tensor(x))
    loss = nn.functional.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    optimizer = torch.optim.SGD(param_groups or model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    for _ in range(STEPS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y)).backward()
        optimizer.step()
    after = [p.detach().numpy().copy() for p in model.parameters()]
    return dict(logits=logits.detach().numpy(), loss=loss.item(), lr=lr, steps=STEPS, weight_decay=weight_decay,
                torch_version=torch.__version__, **summary("grad", grads, seeds[0], samples),
                **summary("after", after, seeds[1], samples))


class Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` (stride in the 3x3 conv), with its module names."""

    def __init__(self, channels: int, planes: int, stride: int, downsample: bool):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.downsample = nn.Sequential(nn.Conv2d(channels, planes * 4, 1, stride=stride, bias=False),
                                        nn.BatchNorm2d(planes * 4)) if downsample else None

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50(nn.Module):
    """torchvision's ``resnet50()`` module tree: conv1, bn1, maxpool, layer1..4, avgpool, fc."""

    def __init__(self, classes: int = 1000, width: int = 64, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        channels = width
        for stage, count in enumerate(blocks, start=1):
            planes, layers = width * 2 ** (stage - 1), []
            for block in range(count):
                stride = 2 if stage > 1 and block == 0 else 1
                layers.append(Bottleneck(channels, planes, stride, block == 0))
                channels = planes * 4
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        for stage in range(1, 5):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def golden_resnet50() -> dict:
    """Eval mode (BatchNorm on its running statistics) for the logits, gradients and steps: in train mode, with
    4 images of 64x64 the last stage normalises over 16 values per channel, and a 1e-6 change of the input moves
    the gradients by 1.5 % in either framework alone, so no cross-framework tolerance would mean anything there.
    Train mode is checked on what it adds: the logits on batch statistics and the running statistics after one
    forward pass."""
    model = ResNet50()
    names = [name for name, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    bn_scales = {f"{m}.weight" for m, module in model.named_modules() if isinstance(module, nn.BatchNorm2d)}
    with torch.no_grad():
        for (name, p), w in zip(model.named_parameters(), draw(shapes, seed=5)):
            p.copy_(torch.tensor(w + 1.0 if name in bn_scales else w))  # BN scales around 1
    x, y = batch(6, (4, 3, 64, 64), 1000)
    model.train()
    with torch.no_grad():
        logits_train = model(torch.tensor(x)).numpy()
    running = [name for name, _ in model.named_buffers() if "running" in name]
    buffers = dict(model.named_buffers())
    after_train_pass = [buffers[name].numpy().copy() for name in running]
    with torch.no_grad():  # back to the initial running statistics (mean 0, variance 1) for the eval-mode checks
        for name in running:
            buffers[name].fill_(0.0 if name.endswith("mean") else 1.0)
    model.eval()
    return dict(names=np.array(names), shapes=np.array([str(s) for s in shapes]), weight_seed=5,
                bn_scales=np.array(sorted(bn_scales)), logits_train=logits_train, buffer_names=np.array(running),
                **summary("running", after_train_pass, 9, 16), **eval_and_steps(model, x, y, 1e-4, (7, 8), 16))


class FixupBottleneck(nn.Module):
    """The Fixup bottleneck of the official ``third_party/fixup_resnet/fixup_resnet_imagenet.py``, with its
    parameter names and registration order (so ``named_parameters`` lists them as the official model does)."""

    def __init__(self, channels: int, planes: int, stride: int, downsample: bool):
        super().__init__()
        zero = lambda: nn.Parameter(torch.zeros(1))  # noqa: E731 - one scalar per call
        self.bias1a, self.conv1, self.bias1b = zero(), nn.Conv2d(channels, planes, 1, bias=False), zero()
        self.bias2a = zero()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bias2b, self.bias3a = zero(), zero()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.scale, self.bias3b = nn.Parameter(torch.ones(1)), zero()
        self.downsample = nn.Conv2d(channels, planes * 4, 1, stride=stride, bias=False) if downsample else None

    def forward(self, x):
        out = torch.relu(self.conv1(x + self.bias1a) + self.bias1b)
        out = torch.relu(self.conv2(out + self.bias2a) + self.bias2b)
        out = self.conv3(out + self.bias3a) * self.scale + self.bias3b
        shortcut = self.downsample(x + self.bias1a) if self.downsample is not None else x
        return torch.relu(out + shortcut)


class FixupResNet50(nn.Module):
    """The official ``FixupResNet(FixupBottleneck, [3, 4, 6, 3])``: 7x7/2 stem conv + scalar bias + max-pool, four
    stages, GAP, scalar bias, fc; no BatchNorm."""

    def __init__(self, classes: int, width: int = 64, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bias1 = nn.Parameter(torch.zeros(1))
        channels = width
        for stage, count in enumerate(blocks, start=1):
            planes, layers = width * 2 ** (stage - 1), []
            for block in range(count):
                layers.append(FixupBottleneck(channels, planes, 2 if stage > 1 and block == 0 else 1, block == 0))
                channels = planes * 4
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.bias2 = nn.Parameter(torch.zeros(1))
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = fixup_stage_outputs(self, x)[-1]
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1) + self.bias2)


def official_fixup_param_groups(model: nn.Module, base_lr: float) -> list[dict]:
    """``libtrain.make_optimizer``'s groups: every parameter whose name holds 'bias' (the Fixup scalars and
    ``fc.bias``) or 'scale' at ``base_lr / 10``, the rest at ``base_lr``."""
    low = [p for name, p in model.named_parameters() if "bias" in name or "scale" in name]
    rest = [p for name, p in model.named_parameters() if not ("bias" in name or "scale" in name)]
    return [{"params": low, "lr": base_lr / 10}, {"params": rest, "lr": base_lr}]


FIXUP_LR, FIXUP_WEIGHT_DECAY = 0.1 / 8, 1e-4


def golden_fixup_resnet50() -> dict:
    """Neyshabur et al. 2020's Fixup ResNet-50 (345 classes, DomainNet's) at 64x64, in float64: logits, loss and
    gradients of drawn weights (the zero-initialised conv3 and the scalars drawn too, scales around 1), then 3
    steps of ``torch.optim.SGD`` with the official parameter groups (:func:`official_fixup_param_groups`),
    momentum 0.9 and weight decay 1e-4 on every parameter, at the DomainNet rate 0.1 / 8. Float64, because
    without BatchNorm 50 layers of drawn weights amplify float32 rounding (PyTorch's own float32 run moves the
    weights after 3 steps by up to 2.7e-5 from these), so the network is compared in float64, where two correct
    implementations agree to 1e-12."""
    model = FixupResNet50(classes=345).double()
    names = [name for name, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    with torch.no_grad():
        for (name, p), w in zip(model.named_parameters(), draw(shapes, seed=21)):
            p.copy_(torch.tensor(w + 1.0 if name.endswith("scale") else w, dtype=torch.float64))
    x, y = batch(22, (4, 3, 64, 64), 345)
    return dict(names=np.array(names), shapes=np.array([str(s) for s in shapes]), weight_seed=21,
                scales=np.array(sorted(n for n in names if n.endswith("scale"))),
                **eval_and_steps(model, x.astype(np.float64), y, FIXUP_WEIGHT_DECAY, seeds=(23, 24), samples=16,
                                 lr=FIXUP_LR, param_groups=official_fixup_param_groups(model, FIXUP_LR)))


class CaffeNet(nn.Module):
    """Caffe's ``bvlc_reference_caffenet`` as the Yosinski et al. 2014 prototxts define it: conv1 11x11/4,
    relu, pool 3/2, LRN(5, 1e-4, 0.75) (Caffe's across-channel LRN: ``x / (1 + alpha / 5 sum x^2)^0.75``, which is
    torch's ``LocalResponseNorm``), conv2 5x5 pad 2 group 2, relu, pool, LRN, conv3 3x3 pad 1, conv4 and conv5 3x3
    pad 1 group 2, relu, pool, fc6, fc7 (relu; dropout off here), fc8. At 227x227 every pooling divides exactly,
    so Caffe's ceil-mode output sizes equal torch's floor-mode ones."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6, self.fc7, self.fc8 = nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, classes)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def forward(self, x):
        pool = lambda t: nn.functional.max_pool2d(t, 3, stride=2)  # noqa: E731
        x = self.lrn(pool(torch.relu(self.conv1(x))))
        x = self.lrn(pool(torch.relu(self.conv2(x))))
        x = torch.relu(self.conv4(torch.relu(self.conv3(x))))
        x = pool(torch.relu(self.conv5(x)))
        x = torch.relu(self.fc7(torch.relu(self.fc6(torch.flatten(x, 1)))))
        return self.fc8(x)


CAFFE_LR, CAFFE_MOMENTUM, CAFFE_WEIGHT_DECAY = 0.01, 0.9, 5e-4


def caffe_sgd_step(params: list[np.ndarray], grads: list[np.ndarray], history: list[np.ndarray], names: list[str],
                   lr: float = CAFFE_LR) -> None:
    """One update of Caffe's ``SGDSolver`` (``sgd_solver.cpp``, written out), in place: ``Regularize`` adds
    ``weight_decay * decay_mult * w`` to the gradient (L2), ``ComputeUpdateValue`` sets
    ``h = momentum * h + lr * lr_mult * g`` and ``Update`` does ``w -= h``; the prototxts give weights
    lr_mult 1, decay_mult 1 and biases lr_mult 2, decay_mult 0."""
    for w, g, h, name in zip(params, grads, history, names):
        bias = name.endswith("bias")
        g = g + (0.0 if bias else CAFFE_WEIGHT_DECAY) * w
        h *= CAFFE_MOMENTUM
        h += lr * (2.0 if bias else 1.0) * g
        w -= h


def golden_caffenet() -> dict:
    """Yosinski et al. 2014's CaffeNet (1000 classes, 227x227, batch 2) in float64: logits, loss and gradients of
    drawn weights, then the weights after 3 steps of Caffe's SGD (:func:`caffe_sgd_step`) at the paper's lr
    0.01. Float64 so that the comparison tests the arithmetic, not the rounding."""
    model = CaffeNet().double()
    names = [name for name, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    params = [w.astype(np.float64) for w in draw(shapes, seed=31)]
    x, y = batch(32, (2, 3, 227, 227), 1000)
    x_t, y_t = torch.tensor(x, dtype=torch.float64), torch.tensor(y)

    def forward_backward():
        with torch.no_grad():
            for p, w in zip(model.parameters(), params):
                p.copy_(torch.from_numpy(w))
        logits = model(x_t)
        loss = nn.functional.cross_entropy(logits, y_t)
        return logits, loss, [g.numpy().copy() for g in torch.autograd.grad(loss, list(model.parameters()))]

    logits, loss, grads = forward_backward()
    first_grads = grads
    history = [np.zeros_like(w) for w in params]
    for step in range(STEPS):
        if step:
            _, _, grads = forward_backward()
        caffe_sgd_step(params, grads, history, names)
    return dict(names=np.array(names), shapes=np.array([str(s) for s in shapes]), weight_seed=31, lr=CAFFE_LR,
                momentum=CAFFE_MOMENTUM, weight_decay=CAFFE_WEIGHT_DECAY, steps=STEPS,
                logits=logits.detach().numpy(), loss=loss.item(), torch_version=torch.__version__,
                **summary("grad", first_grads, 33, 16), **summary("after", params, 34, 16))


def official_weight_variation(model_r: nn.Module, model_a: nn.Module, model_b: nn.Module) -> tuple[list, list]:
    """Chen et al. 2022's ``cal_transferability.get_weight_variation``, written out: mean |p - p_B| of every
    parameter whose name holds 'conv' (not the downsample convs, named ``downsample.0``) and of ``fc.weight``,
    in ``named_parameters`` order, then grouped: conv1, the three convs of each of the 16 bottlenecks (their
    mean), fc."""
    variation_r, variation_a = [], []
    for (name, p_r), (_, p_a), (_, p_b) in zip(model_r.named_parameters(), model_a.named_parameters(),
                                               model_b.named_parameters()):
        if "conv" in name or name == "fc.weight":
            variation_r.append(float((p_r - p_b).detach().abs().mean()))
            variation_a.append(float((p_a - p_b).detach().abs().mean()))
        if name == "fc.weight":
            break

    def grouped(values: list) -> list:
        return [values[0]] + [sum(values[3 * i + 1:3 * i + 4]) / 3 for i in range(16)] + [values[-1]]

    return grouped(variation_r), grouped(variation_a)


def golden_chen_transferability() -> dict:
    """T_l = D_l(theta_r, theta_FB) / D_l(theta_A, theta_FB) of the 18 groups and T = the mean of the first 17, as
    ``cal_transferability.vis`` computes them, on three ResNet-50 weight sets with a 10-way fc: theta_r and
    theta_A drawn (seeds 11, 12; in the script their fc is a fresh ``nn.Linear``, here drawn too) and theta_FB
    = theta_A + step_k x a third draw (seed 13), the k-th parameter moved by step_k = 0.02 (1 + k mod 7), so that
    the groups' T differ and a tensor counted in the wrong group (or a downsample conv counted) changes them."""
    models = [ResNet50(classes=10) for _ in range(3)]
    shapes = [tuple(p.shape) for _, p in models[0].named_parameters()]
    drawn = [draw(shapes, seed) for seed in (11, 12, 13)]
    steps = [0.02 * (1 + k % 7) for k in range(len(shapes))]
    weights = [drawn[0], drawn[1], [a + step * d for a, d, step in zip(drawn[1], drawn[2], steps)]]
    with torch.no_grad():
        for model, arrays in zip(models, weights):
            for (_, p), w in zip(model.named_parameters(), arrays):
                p.copy_(torch.tensor(w))
    variation_r, variation_a = official_weight_variation(*models)
    layer_t = [r / a for r, a in zip(variation_r, variation_a)]
    return dict(names=np.array([n for n, _ in models[0].named_parameters()]), shapes=np.array([str(s) for s in shapes]),
                seeds=np.array([11, 12, 13]), steps=np.array(steps), layer_t=np.array(layer_t), overall_t=sum(layer_t[:-1]) / 17,
                torch_version=torch.__version__)


def fixup_stage_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs Table 1 compares: the stem after its ReLU (before the max-pool), then each stage's last
    block."""
    stem = torch.relu(model.conv1(x) + model.bias1)
    outputs, h = [stem], nn.functional.max_pool2d(stem, 3, stride=2, padding=1)
    for stage in range(1, 5):
        h = getattr(model, f"layer{stage}")(h)
        outputs.append(h)
    return outputs


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al. 2019, eq. 5 with the linear kernel): ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F
    ||Y_c^T Y_c||_F) on examples-by-features matrices with centred columns, computed through the examples'
    Gram matrices (||Y_c^T X_c||_F^2 = <X_c X_c^T, Y_c Y_c^T>_F, ||X_c^T X_c||_F = ||X_c X_c^T||_F), since the
    features outnumber the examples."""
    x = x.reshape(len(x), -1)
    y = y.reshape(len(y), -1)
    x, y = x - x.mean(0, keepdim=True), y - y.mean(0, keepdim=True)
    gram_x, gram_y = x @ x.T, y @ y.T
    return float((gram_x * gram_y).sum() / (torch.linalg.norm(gram_x) * torch.linalg.norm(gram_y)))


# B's distance from A. With 16 random images the Gram matrices are near-diagonal and the stages' CKA stay between
# 0.96 and 0.9999, but they differ from each other (and from a wrong tap) far beyond the float64 tolerance.
PERTURBATION = 0.7


def golden_neyshabur_similarity() -> dict:
    """Neyshabur et al. 2020's Table 1 and Table 2 measures on two Fixup ResNet-50 weight sets (10 classes,
    64x64, float64; no official code computes them, so the formulas are the paper's): weight set A drawn (seed
    51, scales around 1), B = A + PERTURBATION x a second draw (seed 52); on a batch of 16 images (seed 53) the linear CKA
    of the stem and the four stages between A and B (in PyTorch's NCHW layout: CKA does not depend on the order
    of the features), and the squared L2 difference of every parameter, from which the whole-body and per-stage
    distances of Table 2 follow."""
    models = [FixupResNet50(classes=10).double() for _ in range(2)]
    names = [name for name, _ in models[0].named_parameters()]
    shapes = [tuple(p.shape) for _, p in models[0].named_parameters()]
    weights_a = [w + 1.0 if name.endswith("scale") else w for name, w in zip(names, draw(shapes, seed=51))]
    weights_b = [w + PERTURBATION * d for w, d in zip(weights_a, draw(shapes, seed=52))]
    with torch.no_grad():
        for model, weights in zip(models, (weights_a, weights_b)):
            for (_, p), w in zip(model.named_parameters(), weights):
                p.copy_(torch.tensor(w, dtype=torch.float64))
        x, _ = batch(53, (16, 3, 64, 64), 10)
        x = torch.tensor(x, dtype=torch.float64)
        features = [fixup_stage_outputs(model, x) for model in models]
    cka = [linear_cka(a, b) for a, b in zip(*features)]
    squared = [float(np.sum(np.square(a - b))) for a, b in zip(weights_a, weights_b)]
    return dict(names=np.array(names), shapes=np.array([str(s) for s in shapes]), seeds=np.array([51, 52, 53]),
                perturbation=PERTURBATION, stages=np.array(["conv1", "layer1", "layer2", "layer3", "layer4"]),
                cka=np.array(cka), squared_difference=np.array(squared), torch_version=torch.__version__)


GOLDENS = {"lenet": golden_lenet, "resnet50": golden_resnet50, "fixup_resnet50": golden_fixup_resnet50,
           "caffenet": golden_caffenet, "chen_transferability": golden_chen_transferability,
           "neyshabur_similarity": golden_neyshabur_similarity}


def main() -> None:
    """Write the golden files named on the command line (default: every one)."""
    import sys

    chosen = sys.argv[1:] or list(GOLDENS)
    unknown = [name for name in chosen if name not in GOLDENS]
    if unknown:
        raise SystemExit(f"unknown golden {', '.join(unknown)}; accepted: {', '.join(GOLDENS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        np.savez(OUT / f"{name}.npz", **GOLDENS[name]())
        print(f"written: {OUT / f'{name}.npz'} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
