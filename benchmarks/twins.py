"""The training step of each network of the suite in Keras (repro.train) and in a PyTorch twin of the same layers.

    pip install torch --index-url https://download.pytorch.org/whl/cpu    # or: pip install -e ".[bench]"
    python benchmarks/twins.py [--rounds 5] [--seconds 2] [--networks caffenet resnet lenet resnet50] \
        [--pieces caffenet resnet lenet] > benchmarks/results/twins.md

For the mini CaffeNet (``caffenet_mini(10)``, 32x32x1, batch 128), the mini
ResNet-50 layout (``ResNetSpec((32, 32, 1), 10, width=8)``, batch 128), the
LeNet of Liu et al. (28x28x1, batch 64) and the paper-scale ResNet-50
(224x224x3, 1000 classes, batch ``--resnet50-batch``), times one SGD step:

* **Keras**: the suite's own traced step, ``repro.train.trainer(model,
  schedule)`` (forward, backward, the schedule's gradient transform: lr
  multipliers and coupled weight decay, and Keras' SGD with momentum), on the
  model built by the network's spec. CaffeNet uses a Caffe-style
  :class:`~repro.schedule.Schedule` (biases at 2x the lr and without decay),
  the others a torch-style one (``decay_biases``, ``bias_lr_mult=1``).
* **PyTorch**: a twin written here from the Keras layer definitions
  (``repro/models/caffenet.py``, ``layers.py``, ``resnet.py``, ``lenet.py``):
  the same widths, kernels, strides, paddings, groups, pools, dropout, LRN
  (``torch.nn.LocalResponseNorm``, which divides ``alpha`` by the window as
  Caffe does) and BatchNorm; ``torch.optim.SGD`` with the same momentum,
  weight decay and per-group learning rates; cross-entropy loss. Its
  parameter count is checked against the Keras model's (tensor by tensor).

Both run on the same random batch (NHWC for TensorFlow, NCHW for PyTorch,
each framework's default layout on CPU), resident as tensors, in one
process, with ``--threads`` threads each (``tf.config.threading`` intra and
inter op, ``torch.set_num_threads``). After warm-up steps (tracing,
first-call allocations), rounds alternate Keras, PyTorch, Keras, PyTorch ...
(each round a fixed number of steps, about ``--seconds`` long); the table
gives the median images/s over rounds and their min-max, and the ratio
Keras / PyTorch (median of the per-round ratios, with their min-max).

``--fused-batchnorm`` runs the Keras networks with the suite's BatchNorm
replaced, in training mode, by TensorFlow's fused kernel
(``FusedBatchNormV3`` and its one gradient kernel): the same function, whose
sums run in another order, so it is measured here as an option and not used
by ``repro``; the report first gives the largest difference between the two
on one layer.

``--pieces NET ...`` also times the parts of the step (forward in training
mode; forward + backward; the whole step) in both frameworks, and the Keras
step with XLA (``--jit-compile`` of ``repro run``), to show where a
difference comes from; ``--profile NET ...`` adds TensorFlow's profiler
(kernel time per op type of the Keras step).

torch is an optional extra for benchmarks only (``pip install -e
".[bench]"``): neither ``repro`` nor the tests import it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# repro first: importing it pins Keras to the TensorFlow backend
from repro.execution import use_execution  # noqa: E402
from repro.landscape.state import sparse_ce  # noqa: E402
from repro.models.specs import LeNetSpec, ResNetSpec, caffenet_mini  # noqa: E402
from repro.schedule import Schedule  # noqa: E402
from repro.train import distribute_batch, reset_optimizer, trainer  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

# PyTorch's CPU wheels parallelise with GNU OpenMP, whose threads spin at every barrier: when another process
# holds one of the two cores they wait for a descheduled partner and the step slows down tens of times (the
# report's notes). Passive waiting keeps that from deciding the comparison; OMP_WAIT_POLICY=ACTIVE overrides.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("error: benchmarks/twins.py needs PyTorch: pip install -e \".[bench]\" "
             "(CPU wheels: pip install torch --index-url https://download.pytorch.org/whl/cpu)")

from landscape_common import cpu_name, markdown_table, source_state, stage, uptime_line  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tools"))
from golden_networks import Bottleneck  # noqa: E402  torchvision's block, one definition

LR = 0.01
MOMENTUM = 0.9


# ----------------------------------------------------------------------------- the networks


@dataclass(frozen=True)
class Network:
    key: str
    label: str
    spec: object
    batch: int
    style: str  # "caffe": biases at 2x lr, no decay on biases; "torch": one lr, decay on every parameter
    weight_decay: float

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.spec.input_shape) if hasattr(self.spec, "input_shape") else \
            (self.spec.input_size, self.spec.input_size, 1)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def schedule(self) -> Schedule:
        caffe = self.style == "caffe"
        return Schedule(base_lr=LR, batch_size=self.batch, length=10**6, policy="constant", momentum=MOMENTUM,
                        weight_decay=self.weight_decay, bias_lr_mult=2.0 if caffe else 1.0,
                        decay_biases=not caffe)


def networks(resnet50_batch: int) -> dict[str, Network]:
    return {n.key: n for n in (
        Network("caffenet", "mini CaffeNet (caffenet_mini(10), 32x32x1)", caffenet_mini(10), 128, "caffe", 5e-4),
        Network("resnet", "mini ResNet-50 layout (width 8, ImageNet stem, 32x32x1)",
                ResNetSpec((32, 32, 1), 10, width=8, stem="imagenet", blocks=(3, 4, 6, 3)), 128, "torch", 1e-4),
        Network("lenet", "LeNet (LeNetSpec(10), 28x28x1)", LeNetSpec(10), 64, "torch", 5e-4),
        Network("resnet50", "ResNet-50 (224x224x3, 1000 classes)", ResNetSpec((224, 224, 3), 1000), resnet50_batch,
                "torch", 1e-4),
    )}


# ----------------------------------------------------------------------------- PyTorch twins


class CaffeNetTwin(nn.Module):
    """repro.models.caffenet.build_caffenet: conv-relu[-pool][-LRN] x5, fc6/fc7 with ReLU and dropout, fc8."""

    def __init__(self, spec):
        super().__init__()
        local_size, alpha, beta = spec.lrn
        layers, channels = [], spec.input_shape[2]
        for index, conv in enumerate(spec.conv, start=1):
            layers += [nn.Conv2d(channels, conv.filters, conv.kernel, stride=conv.stride, padding=conv.padding,
                                 groups=conv.groups), nn.ReLU(inplace=True)]
            if index in (1, 2, 5):
                layers.append(nn.MaxPool2d(3, stride=2))
            if index in (1, 2):
                # torch's LRN: b = a / (k + alpha/n * sum a^2)^beta, alpha divided by n as in Caffe (CaffeLRN)
                layers.append(nn.LocalResponseNorm(local_size, alpha=alpha, beta=beta, k=1.0))
            channels = conv.filters
        self.features = nn.Sequential(*layers)
        h, w, c = spec.input_shape
        with torch.no_grad():
            flat = self.features(torch.zeros(1, c, h, w)).numel()
        f6, f7 = spec.fc_units
        self.classifier = nn.Sequential(
            nn.Linear(flat, f6), nn.ReLU(inplace=True), nn.Dropout(spec.dropout),
            nn.Linear(f6, f7), nn.ReLU(inplace=True), nn.Dropout(spec.dropout),
            nn.Linear(f7, spec.num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class ResNetTwin(nn.Module):
    """repro.models.resnet.resnet: stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool, or the 3x3/1 CIFAR stem), 4 stages, GAP, fc."""

    def __init__(self, spec):
        super().__init__()
        width, channels = spec.width, spec.input_shape[2]
        if spec.stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(channels, width, 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(width, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(width, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True))
        blocks, channels = [], width
        for stage, count in enumerate(spec.blocks, start=1):
            planes = width * 2 ** (stage - 1)
            for block in range(count):
                stride = 2 if stage > 1 and block == 0 else 1
                downsample = block == 0 and (stride != 1 or channels != planes * 4)
                blocks.append(Bottleneck(channels, planes, stride, downsample))
                channels = planes * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, spec.num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class LeNetTwin(nn.Module):
    """repro.models.lenet.lenet (Liu et al.'s LeNet body + LeNet_cls head)."""

    def __init__(self, spec):
        super().__init__()
        side = ((spec.input_size - 4) // 2 - 4) // 2
        self.net = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(20, 50, 5), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(50 * side * side, 500), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(500, 1024), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(1024, spec.num_classes))

    def forward(self, x):
        return self.net(x)


def torch_twin(network: Network) -> nn.Module:
    torch.manual_seed(0)
    if network.key == "caffenet":
        return CaffeNetTwin(network.spec)
    if network.key == "lenet":
        return LeNetTwin(network.spec)
    return ResNetTwin(network.spec)


def torch_optimizer(module: nn.Module, network: Network) -> torch.optim.Optimizer:
    """SGD with momentum; Caffe style: weights decayed at lr, biases (vectors) at 2 lr without decay."""
    if network.style == "caffe":
        weights = [p for p in module.parameters() if p.dim() > 1]
        biases = [p for p in module.parameters() if p.dim() <= 1]
        groups = [dict(params=weights, lr=LR, weight_decay=network.weight_decay),
                  dict(params=biases, lr=2 * LR, weight_decay=0.0)]
        return torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM)
    return torch.optim.SGD(module.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=network.weight_decay)


# ----------------------------------------------------------------------------- fused BatchNorm (an option)


def fused_batchnorm_call(layer, inputs):
    """TorchBatchNormalization's training mode in one kernel: ``FusedBatchNormV3`` normalises with the biased
    batch variance and returns the unbiased one, which torch's running variance takes (repro/models/batchnorm.py)."""
    y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(inputs, layer.gamma, layer.beta, epsilon=layer.epsilon,
                                                         data_format="NHWC", is_training=True)
    layer.moving_mean.assign(layer.moving_mean * layer.momentum + mean * (1.0 - layer.momentum))
    layer.moving_variance.assign(layer.moving_variance * layer.momentum + unbiased * (1.0 - layer.momentum))
    return y


def use_fused_batchnorm() -> str:
    """Route every TorchBatchNormalization's training call (4-D NHWC input) through the fused kernel; return the
    largest differences from the suite's layer on one batch (outputs, moving variance, gradient of the input)."""
    from repro.models.batchnorm import TorchBatchNormalization

    unfused = TorchBatchNormalization.call

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable and mask is None and len(inputs.shape) == 4 and self.axis in (-1, 3):
            return fused_batchnorm_call(self, inputs)
        return unfused(self, inputs, training=training, mask=mask)

    x = tf.constant(np.random.default_rng(1).normal(1.0, 2.0, size=(128, 8, 8, 32)).astype(np.float32))
    results = []
    for function in (unfused, call):
        layer = TorchBatchNormalization(momentum=0.9, epsilon=1e-5)
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(layer, x, training=True)
            loss = tf.reduce_sum(y * tf.range(32, dtype=tf.float32))
        results.append((y.numpy(), layer.moving_variance.numpy(), tape.gradient(loss, x).numpy()))
    TorchBatchNormalization.call = call
    (y0, v0, g0), (y1, v1, g1) = results
    return (f"fused against the suite's BatchNorm on one (128, 8, 8, 32) batch: largest |difference| "
            f"{np.abs(y1 - y0).max():.1e} in the outputs, {np.abs(v1 - v0).max():.1e} in the moving variance, "
            f"{np.abs(g1 - g0).max():.1e} in the input gradient")


# ----------------------------------------------------------------------------- the steps


def batch(network: Network) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(network.batch, *network.input_shape)).astype(np.float32)
    y = rng.integers(0, network.num_classes, size=network.batch).astype(np.int64)
    return x, y


def parameter_sizes(model: keras.Model, module: nn.Module) -> tuple[list[int], list[int]]:
    keras_sizes = sorted(int(np.prod(v.shape)) for v in model.trainable_variables)
    torch_sizes = sorted(p.numel() for p in module.parameters())
    return keras_sizes, torch_sizes


@dataclass
class Pair:
    """One network built in both frameworks, with step functions that run ``n`` steps and return when done."""

    network: Network
    model: keras.Model
    module: nn.Module
    keras: Callable[[int], None]
    torch: Callable[[int], None]
    keras_params: int
    torch_params: int
    same_tensors: bool


def keras_steps(model: keras.Model, network: Network, x: np.ndarray, y: np.ndarray) -> Callable[[int], None]:
    """n steps of the suite's traced SGD step (repro.train.trainer) on one resident batch."""
    optimizer, step = trainer(model, network.schedule())
    reset_optimizer(optimizer)
    arguments = distribute_batch((tf.constant(x), tf.constant(y), tf.constant(y)), 1.0)

    def run(n: int) -> None:
        for _ in range(n):
            loss = step(*arguments)
        float(loss)

    return run


def torch_steps(module: nn.Module, network: Network, x: np.ndarray, y: np.ndarray) -> Callable[[int], None]:
    optimizer = torch_optimizer(module, network)
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(y)
    module.train()

    def run(n: int) -> None:
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(module(images), labels)
            loss.backward()
            optimizer.step()
        float(loss.detach())

    return run


def build_pair(network: Network) -> Pair:
    x, y = batch(network)
    model = network.spec.build(seed=0)
    module = torch_twin(network)
    keras_sizes, torch_sizes = parameter_sizes(model, module)
    with torch.no_grad():
        logits = module(torch.from_numpy(np.ascontiguousarray(x[:2].transpose(0, 3, 1, 2))))
    if tuple(logits.shape) != (2, network.num_classes) or tuple(model.output_shape[1:]) != (network.num_classes,):
        raise SystemExit(f"error: {network.key}: logits {tuple(logits.shape)} vs Keras {model.output_shape}")
    return Pair(network, model, module, keras_steps(model, network, x, y), torch_steps(module, network, x, y),
                sum(keras_sizes), sum(torch_sizes), keras_sizes == torch_sizes)


def seconds(run: Callable[[int], None], n: int) -> float:
    start = time.perf_counter()
    run(n)
    return time.perf_counter() - start


def calibrate(first: Callable[[int], None], second: Callable[[int], None], warmup: int, target: float,
              fixed: int) -> tuple[int, float, float]:
    """Warm both up (the first call traces); steps per round so the slower takes about ``target`` s."""
    first_call = seconds(first, 1), seconds(second, 1)
    for _ in range(max(0, warmup - 1)):
        first(1)
        second(1)
    if fixed:
        return fixed, *first_call
    per_step = max(min(seconds(first, 1) for _ in range(2)), min(seconds(second, 1) for _ in range(2)))
    return max(1, round(target / per_step)), *first_call


def interleave(runs: dict[str, Callable[[int], None]], steps: int, rounds: int) -> dict[str, np.ndarray]:
    """Seconds per step of each function, in rounds that call every function in turn."""
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(seconds(run, steps) / steps)
    return {name: np.array(values) for name, values in times.items()}


def rate(value: float, reference: float | None = None) -> str:
    """Images/s: whole numbers from 100 on, 3 significant figures below (``reference`` picks the format)."""
    return ("{:,.0f}" if (value if reference is None else reference) >= 100 else "{:.3g}").format(float(value))


def spread(values: np.ndarray) -> str:
    """``median (min-max)``."""
    median = float(np.median(values))
    return f"{rate(median)} ({rate(values.min(), median)}-{rate(values.max(), median)})"


# ----------------------------------------------------------------------------- pieces of the step


def keras_pieces(model: keras.Model, network: Network, x: np.ndarray, y: np.ndarray) -> dict[str, Callable]:
    """Forward (training mode), forward + backward, the step; the step and forward + backward under XLA."""
    images, labels = tf.constant(x), tf.constant(y)
    variables = model.trainable_variables

    def forward(images):
        return model(images, training=True)

    def forward_backward(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(sparse_ce(labels, model(images, training=True)))
        return tape.gradient(loss, variables)

    def repeat(function, *arguments):
        def run(n):
            for _ in range(n):
                out = function(*arguments)
            tf.nest.map_structure(lambda t: t.numpy(), out)
        return run

    pieces = {
        "forward": repeat(tf.function(forward), images),
        "forward+backward": repeat(tf.function(forward_backward), images, labels),
        "step": keras_steps(model, network, x, y),
        "forward+backward XLA": repeat(tf.function(forward_backward, jit_compile=True), images, labels),
    }
    with use_execution(jit_compile=True):
        pieces["step XLA"] = keras_steps(model, network, x, y)
    return pieces


def torch_pieces(module: nn.Module, network: Network, x: np.ndarray, y: np.ndarray) -> dict[str, Callable]:
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(y)
    module.train()
    parameters = list(module.parameters())

    def forward(n):
        for _ in range(n):
            out = module(images)
        float(out.detach().sum())

    def forward_backward(n):
        for _ in range(n):
            grads = torch.autograd.grad(F.cross_entropy(module(images), labels), parameters)
        float(grads[0].sum())

    return {"forward": forward, "forward+backward": forward_backward, "step": torch_steps(module, network, x, y)}


def pieces_section(network: Network, rounds: int, target: float, warmup: int) -> str:
    x, y = batch(network)
    model = network.spec.build(seed=0)
    module = torch_twin(network)
    runs = {f"Keras {name}": run for name, run in keras_pieces(model, network, x, y).items()}
    runs.update({f"PyTorch {name}": run for name, run in torch_pieces(module, network, x, y).items()})
    for run in runs.values():
        for _ in range(warmup):
            run(1)
    slowest = max(min(seconds(run, 1) for _ in range(2)) for run in runs.values()) if target else 0.0
    steps = max(1, round(target / slowest)) if target else 1
    times = interleave(runs, steps, rounds)
    ms = {name: float(np.median(t)) * 1e3 for name, t in times.items()}
    rows = []
    for framework in ("Keras", "PyTorch"):
        forward, both, step = (ms[f"{framework} {p}"] for p in ("forward", "forward+backward", "step"))
        rows.append([framework, f"{forward:,.2f}", f"{both - forward:,.2f}", f"{step - both:,.2f}", f"{step:,.2f}",
                     rate(network.batch / step * 1e3)])
    for name in ("forward+backward XLA", "step XLA"):
        t = ms[f"Keras {name}"]
        rows.append([f"Keras, {name}", "", "", "", f"{t:,.2f}", rate(network.batch / t * 1e3)])
    lines = [f"#### {network.label}, batch {network.batch}: ms per call (median of {rounds} interleaved rounds "
             f"of {steps} calls)", "",
             markdown_table(["", "forward", "backward (fwd+bwd - fwd)", "update (step - fwd+bwd)", "total",
                             "images/s"], rows), ""]
    ratio = {p: ms[f"Keras {p}"] / ms[f"PyTorch {p}"] for p in ("forward", "forward+backward", "step")}
    lines.append("Keras / PyTorch time: forward {forward:.2f}x, forward+backward {forward+backward:.2f}x, "
                 "step {step:.2f}x; Keras step with XLA / without: {xla:.2f}x time.".format(
                     **ratio, xla=ms["Keras step XLA"] / ms["Keras step"]))
    lines.append("")
    return "\n".join(lines)


def profile_section(network: Network, calls: int) -> str:
    """Kernel time per op type of the Keras step (TensorFlow profiler), top 12."""
    from landscape import _op_seconds

    x, y = batch(network)
    model = network.spec.build(seed=0)
    run = keras_steps(model, network, x, y)
    for _ in range(3):
        run(1)
    with tempfile.TemporaryDirectory() as logdir:
        start = time.perf_counter()
        tf.profiler.experimental.start(logdir)
        run(calls)
        tf.profiler.experimental.stop()
        wall = (time.perf_counter() - start) / calls
        totals, launches, _ = _op_seconds(logdir, calls)
    kernel = sum(totals.values())
    rows = [[op, f"{s * 1e3:.2f}", f"{s / kernel:.0%}", f"{launches[op] / calls:.0f}"]
            for op, s in totals.most_common(12)]
    return "\n".join([
        f"#### {network.label}, batch {network.batch}: TensorFlow profiler, Keras step, {calls} calls", "",
        f"wall {wall * 1e3:.1f} ms per step (profiled), summed kernel time {kernel * 1e3:.1f} ms per step "
        f"(over {tf.config.threading.get_intra_op_parallelism_threads()} thread(s)), "
        f"{sum(launches.values()) / calls:.0f} kernel launches per step", "",
        markdown_table(["op type", "ms per step", "share of kernel time", "launches per step"], rows), ""])


def torch_profile_section(network: Network, calls: int) -> str:
    """Self CPU time per aten op of the PyTorch twin's step (torch.profiler), top 12."""
    from torch.profiler import ProfilerActivity, profile

    x, y = batch(network)
    run = torch_steps(torch_twin(network), network, x, y)
    run(3)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        run(calls)
    wall = (time.perf_counter() - start) / calls
    events = [e for e in profiler.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    rows = [[e.key, f"{e.self_cpu_time_total / calls / 1e3:.2f}", f"{e.self_cpu_time_total / total:.0%}",
             f"{e.count / calls:.0f}"] for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]]
    return "\n".join([
        f"#### {network.label}, batch {network.batch}: torch.profiler, PyTorch step, {calls} calls", "",
        f"wall {wall * 1e3:.1f} ms per step (profiled), self CPU time of aten ops {total / calls / 1e3:.1f} ms per step",
        "", markdown_table(["aten op", "ms per step", "share", "calls per step"], rows), ""])


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="*", default=["caffenet", "resnet", "lenet", "resnet50"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="target length of one round of one framework")
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing (the first traces)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resnet50-batch", type=int, default=32)
    parser.add_argument("--resnet50-rounds", type=int, default=3)
    parser.add_argument("--resnet50-steps", type=int, default=1, help="steps per round of the paper ResNet-50")
    parser.add_argument("--pieces", nargs="*", default=[], help="networks whose step is split into its parts")
    parser.add_argument("--profile", nargs="*", default=[], help="networks whose Keras step is profiled")
    parser.add_argument("--torch-profile", nargs="*", default=[], help="networks whose PyTorch step is profiled")
    parser.add_argument("--fused-batchnorm", action="store_true",
                        help="Keras BatchNorm as TensorFlow's fused kernel (an option measured, not repro's layer)")
    args = parser.parse_args()

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    keras.utils.set_random_seed(0)
    command = " ".join(["python", "benchmarks/twins.py", *sys.argv[1:]])
    start_uptime, started = uptime_line(), time.perf_counter()
    nets = networks(args.resnet50_batch)

    print(f"### `{command}`\n")
    print(f"- source: {source_state()}")
    print(f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores; threads: TensorFlow intra "
          f"{tf.config.threading.get_intra_op_parallelism_threads()} inter "
          f"{tf.config.threading.get_inter_op_parallelism_threads()}, PyTorch {torch.get_num_threads()} "
          f"(interop {torch.get_num_interop_threads()}), OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(f"- Python {sys.version.split()[0]}, tensorflow {tf.__version__}, keras {keras.__version__}, "
          f"torch {torch.__version__}, numpy {np.__version__}; oneDNN in TensorFlow: "
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default (on)')}; "
          f"PyTorch mkldnn: {torch.backends.mkldnn.is_available()}")
    if args.fused_batchnorm:
        print(f"- **Keras BatchNorm: TensorFlow's fused kernel** (`--fused-batchnorm`); {use_fused_batchnorm()}")
    print(f"- uptime at start: `{start_uptime}`\n")

    rows, params = [], []
    for key in args.networks:  # --networks (nothing) for the pieces or profiles alone
        network = nets[key]
        with stage(f"{key}: build"):
            pair = build_pair(network)
        params.append([key, f"{pair.keras_params:,}", f"{pair.torch_params:,}",
                       "yes" if pair.same_tensors else "**NO**"])
        if not pair.same_tensors:
            print(f"error: {key}: parameter tensors differ: Keras {pair.keras_params:,}, PyTorch {pair.torch_params:,}",
                  file=sys.stderr)
        big = key == "resnet50"
        with stage(f"{key}: warm-up"):
            steps, keras_first, torch_first = calibrate(pair.keras, pair.torch, 2 if big else args.warmup,
                                                        args.seconds, args.resnet50_steps if big else 0)
        rounds = args.resnet50_rounds if big else args.rounds
        load_before = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        with stage(f"{key}: {rounds} rounds of {steps} steps"):
            times = interleave({"keras": pair.keras, "torch": pair.torch}, steps, rounds)
        load_after = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        keras_rate, torch_rate = network.batch / times["keras"], network.batch / times["torch"]
        ratio = keras_rate / torch_rate
        rows.append([network.label, network.batch, spread(keras_rate), spread(torch_rate),
                     f"**{np.median(ratio):.2f}** ({ratio.min():.2f}-{ratio.max():.2f})",
                     f"{rounds} x {steps}", f"{keras_first:.1f} / {torch_first:.2f}", f"{load_before} -> {load_after}"])
        del pair
    if rows:
        print("#### Training step, images/s: median over rounds (min-max)\n")
        print(markdown_table(["network", "batch", "Keras img/s", "PyTorch img/s", "ratio Keras/PyTorch",
                              "rounds x steps", "first step s, Keras / PyTorch", "load 1/5/15 min"], rows))
        print()
        print("#### Trainable parameters (Keras trainable variables; PyTorch parameters(), BatchNorm statistics are "
              "buffers in both)\n")
        print(markdown_table(["network", "Keras", "PyTorch twin", "same tensor sizes"], params))
        print()
    for key in args.pieces:
        big = key == "resnet50"
        with stage(f"{key}: pieces"):
            print(pieces_section(nets[key], args.resnet50_rounds if big else args.rounds, 0 if big else args.seconds / 2,
                                 2 if big else max(2, args.warmup // 2)), flush=True)
    for key in args.profile:
        with stage(f"{key}: profile"):
            print(profile_section(nets[key], 20 if key != "resnet50" else 2), flush=True)
    for key in args.torch_profile:
        with stage(f"{key}: PyTorch profile"):
            print(torch_profile_section(nets[key], 20 if key != "resnet50" else 2), flush=True)
    print(f"- uptime at end: `{uptime_line()}`; wall time of the command {time.perf_counter() - started:.0f} s")
    if any(row[3] != "yes" for row in params):
        sys.exit(1)


if __name__ == "__main__":
    main()
