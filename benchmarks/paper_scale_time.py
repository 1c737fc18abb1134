"""Expected GPU time of every paper-scale experiment, from the FLOPs of the real models.

    python benchmarks/paper_scale_time.py [--csv docs/gpu_time.csv] [--check]

1. Builds each paper-scale network with its paper's own builder and random
   init (CaffeNet, Fixup ResNet-50, ResNet-50 v1.5, ResNet-50 + CLS head,
   LeNet; no training) and counts its forward FLOPs per example layer by
   layer: ``2 x (output positions) x (kernel size)`` for every convolution
   and dense layer (multiply-adds x 2; BatchNorm, activations, pooling and
   additions are left out).
2. Per pass: forward = F; a training step = F + the backward pass, which
   costs each layer once for its kernel's gradient (trainable layers) and
   once for its input's gradient (layers above the first trainable one),
   so 3F - F(first layer) for a fully trained network; a Hessian-vector
   product = twice a gradient.
3. Multiplies by the examples of every pass of every run of the paper-scale
   grids (``benchmarks/paper_scale_work.py``: epochs x dataset or
   ``max_iter`` x batch, evaluations, analyses).
4. Converts FLOPs to hours on the reference GPU at the FLOP rate NVIDIA
   published for ResNet-50 v1.5 training (:data:`REFERENCES`), i.e.
   ``hours = FLOPs / (images/s x training FLOPs per ResNet-50 image) / 3600``:
   every network is assumed to reach ResNet-50's utilisation, with the
   input pipeline keeping up.

Writes the CSV (one row per experiment and per shared source, then one
total per paper) and prints it as a Markdown table. ``--check`` also prints
TensorFlow's profiler count of each network's forward graph (which adds the
element-wise operations) next to the layer count, and times training steps
of the paper CaffeNet on this CPU against its FLOP count.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# repro first: importing it pins Keras to the TensorFlow backend
from repro.models.specs import ResNetSpec, caffenet_paper  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from paper_scale_work import Pass, Work, build_model, paper_work  # noqa: E402

CALIBRATION_MODEL = ResNetSpec((224, 224, 3), 1000)  # torchvision ResNet-50 v1.5 = NVIDIA's resnet50v1.5


@dataclass(frozen=True)
class Reference:
    """A published ResNet-50 v1.5 training throughput on one GPU."""

    name: str
    images_per_second: float
    source: str


NVIDIA_RN50_TF = ("NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md "
                  "(commit e6757d7), 'Training performance: NVIDIA DGX A100 (8x A100 40GB)', 1 GPU, batch 256, "
                  "averaged over a training epoch, TensorFlow 20.06-tf1-py3 NGC container, DALI input pipeline")
REFERENCES = (
    Reference("A100 TF32+XLA", 808.0, NVIDIA_RN50_TF),
    Reference("A100 mixed+XLA", 1770.0, NVIDIA_RN50_TF),
)


@dataclass(frozen=True)
class LayerFlops:
    """Forward FLOPs per example of a network's convolution and dense layers, in network order."""

    names: tuple[str, ...]
    flops: tuple[float, ...]

    @property
    def forward(self) -> float:
        return float(sum(self.flops))

    def gradient(self, trainable: set | None = None) -> float:
        """FLOPs per example of forward + backward when only the kernels of ``trainable`` layers get gradients."""
        chosen = [i for i, name in enumerate(self.names) if trainable is None or name in trainable]
        if not chosen:
            raise ValueError(f"none of {sorted(trainable)} is a convolution or dense layer of the network")
        return self.forward + sum(self.flops[i] for i in chosen) + sum(self.flops[chosen[0] + 1:])


def kernel_layers(model: keras.Model):
    """Every layer with a ``kernel`` (convolutions, dense), nested models included, in network order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from kernel_layers(layer)
        elif getattr(layer, "kernel", None) is not None:
            yield layer


def layer_flops(model: keras.Model) -> LayerFlops:
    """``2 x output positions x kernel size`` per layer: one multiply-add per kernel weight and output position."""
    names, flops = [], []
    for layer in kernel_layers(model):
        positions = 1
        for dim in layer.output.shape[1:-1]:
            positions *= int(dim)
        names.append(layer.name)
        flops.append(2.0 * positions * math.prod(layer.kernel.shape))
    return LayerFlops(tuple(names), tuple(flops))


def profiler_flops(model: keras.Model) -> int:
    """TensorFlow's profiler count of the float operations of one example's forward graph."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = tf.TensorSpec((1,) + tuple(model.input_shape[1:]), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def pass_flops(networks: "Counter", p: Pass) -> float:
    """FLOPs of one pass: examples x the per-example cost of its kind on its network."""
    flops = networks.flops(p.model)
    trainable = p.trainable(networks.model(p.model)) if p.trainable else None
    per_example = {"forward": flops.forward, "train": flops.gradient(trainable), "gradient": flops.gradient(trainable),
                   "hvp": 2 * flops.gradient(trainable)}[p.kind]
    return per_example * p.examples


class Counter:
    """Builds each network once, keeps its layer FLOPs and the model (for the passes' layer selections)."""

    def __init__(self, check: bool):
        self.check = check
        self._flops: dict = {}
        self._models: dict = {}
        self.described: dict = {}

    def model(self, key) -> keras.Model:
        if key not in self._models:
            self._models[key] = build_model(key)
        return self._models[key]

    def flops(self, key) -> LayerFlops:
        if key not in self._flops:
            model = self.model(key)
            self._flops[key] = layer_flops(model)
            self.described[key] = dict(kernel_layers=len(self._flops[key].names), params=model.count_params(),
                                       forward=self._flops[key].forward,
                                       profiler=profiler_flops(model) if self.check else None)
        return self._flops[key]


def row_of(work: Work, counter: Counter, rates: dict[str, float]) -> dict:
    """One CSV row: the work's runs, examples, FLOPs and hours on every reference."""
    train = sum(pass_flops(counter, p) for p in work.passes if p.kind == "train")
    other = sum(pass_flops(counter, p) for p in work.passes if p.kind != "train")
    total = train + other
    row = dict(paper=work.paper, experiment=work.experiment, runs=work.runs, trained_runs=work.trained,
               train_examples=sum(p.examples for p in work.passes if p.kind == "train"),
               train_pflop=train / 1e15, other_pflop=other / 1e15, total_pflop=total / 1e15,
               cpu_pflop=work.cpu_flops / 1e15)
    for name, rate in rates.items():
        row[f"hours_{slug(name)}"] = total / rate / 3600
    for name, rate in rates.items():  # the mean of a grid run: what one array task of a shard carries
        row[f"hours_per_run_{slug(name)}"] = total / rate / 3600 / max(work.runs, 1)
    row["note"] = work.note
    return row


def slug(name: str) -> str:
    return name.lower().replace(" ", "_").replace("+", "_")


def totals(rows: list[dict], paper: str) -> dict:
    """The sums of ``paper``'s rows (its shared sources included), or of every paper's total for ``"all"``;
    the per-run columns average over the grid runs."""
    if paper == "all":
        mine = [r for r in rows if r["experiment"] == "TOTAL"]
    else:
        mine = [r for r in rows if r["paper"] == paper]
    total = {k: sum(r[k] for r in mine) for k in mine[0] if k not in ("paper", "experiment", "note")}
    for key in [k for k in total if k.startswith("hours_per_run_")]:
        total[key] = total[key.replace("hours_per_run_", "hours_")] / max(total["runs"], 1)
    return dict(paper=paper, experiment="TOTAL", **total, note="")


def hours_text(hours: float) -> str:
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.1f}" if hours >= 1 else f"{hours:.2f}"


def markdown(rows: list[dict], references: tuple[Reference, ...]) -> str:
    """The rows as a Markdown table: GPU hours on every reference, and per grid run on the last one."""
    last = slug(references[-1].name)
    head = ["paper", "experiment", "runs", "trained", "training examples", "PFLOP",
            *[f"GPU-h {r.name}" for r in references], f"GPU-h per run, {references[-1].name}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cpu_only = r["cpu_pflop"] and not r["total_pflop"]
        hours = [r[f"hours_{slug(ref.name)}"] for ref in references] + [r[f"hours_per_run_{last}"]]
        cells = [r["paper"], r["experiment"], str(r["runs"]) if r["runs"] else "(shared)", str(r["trained_runs"]),
                 f"{r['train_examples']:,}",
                 f"{r['total_pflop']:,.1f}" + (f" (+{r['cpu_pflop']:.3f} on the CPU)" if r["cpu_pflop"] else ""),
                 *["numpy, CPU" if cpu_only else hours_text(h) for h in hours]]
        bold = r["experiment"] == "TOTAL"
        lines.append("| " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |")
    return "\n".join(lines)


def cpu_step_check(counter: Counter, batch: int, steps: int) -> str:
    """Time forward passes and SGD steps of the paper CaffeNet on this CPU against its counted FLOPs."""
    key = caffenet_paper(1000)
    model, flops = counter.model(key), counter.flops(key)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    forward = tf.function(lambda x: tf.reduce_sum(model(x, training=False)))
    x = tf.random.normal((batch,) + tuple(model.input_shape[1:]))
    y = tf.zeros((batch,), tf.int64)

    def seconds(call) -> float:
        call().numpy()  # trace and warm up
        started = time.perf_counter()
        for _ in range(steps):
            call().numpy()
        return (time.perf_counter() - started) / steps

    train_s, forward_s = seconds(lambda: step(x, y)), seconds(lambda: forward(x))
    counted = flops.gradient() * batch
    return (f"paper CaffeNet on this CPU, batch {batch}, mean of {steps} calls: training step {train_s:.2f} s "
            f"({counted / 1e9:.1f} GFLOP counted -> {counted / train_s / 1e9:.0f} GFLOP/s), forward pass "
            f"{forward_s:.2f} s ({flops.forward * batch / forward_s / 1e9:.0f} GFLOP/s); step / forward = "
            f"{train_s / forward_s:.2f} measured, {flops.gradient() / flops.forward:.2f} counted; "
            f"{os.cpu_count()} logical cores, load average {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=Path("docs/gpu_time.csv"))
    parser.add_argument("--check", action="store_true", help="profiler FLOPs per network and a CPU step timing")
    parser.add_argument("--batch", type=int, default=16, help="batch of the CPU step timing (--check)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps of the CPU step timing (--check)")
    args = parser.parse_args(argv)

    counter = Counter(args.check)
    per_image = counter.flops(CALIBRATION_MODEL).gradient()
    rates = {r.name: r.images_per_second * per_image for r in REFERENCES}
    works = paper_work()
    rows = []
    for paper in dict.fromkeys(w.paper for w in works):
        rows += [row_of(w, counter, rates) for w in works if w.paper == paper]
        rows.append(totals(rows, paper))
    rows.append(totals(rows, "all"))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})

    print(f"ResNet-50 v1.5 at 224: {counter.flops(CALIBRATION_MODEL).forward / 1e9:.3f} GFLOP forward, "
          f"{per_image / 1e9:.3f} GFLOP per training image")
    for r in REFERENCES:
        print(f"{r.name}: {r.images_per_second:g} images/s -> {rates[r.name] / 1e12:.1f} TFLOP/s effective ({r.source})")
    print()
    print(markdown(rows, REFERENCES))
    print()
    print("networks (forward GFLOP per example, counted layer by layer"
          + (", and TensorFlow's profiler" if args.check else "") + "):")
    for key, d in counter.described.items():
        profiled = f", profiler {d['profiler'] / 1e9:.3f}" if d["profiler"] is not None else ""
        print(f"  {key.describe()}: {d['kernel_layers']} conv/dense layers, {d['params']:,} parameters, "
              f"{d['forward'] / 1e9:.3f}{profiled}")
    if args.check:
        print(cpu_step_check(counter, args.batch, args.steps))
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
