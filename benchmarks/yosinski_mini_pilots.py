"""Pilots behind the Yosinski mini scale: capacity, cost, convergence, seed noise, the paper's init.

    python benchmarks/yosinski_mini_pilots.py {capacity,convergence,noise,paper_init,headroom} [--jitter S] [--out DIR]

Each pilot trains base nets only (never a transfer), so it measures what the
design needs -- does the net learn, is it converged, how noisy is a base net,
what does a run cost -- and never whether a claim then holds. The decision
rule of every pilot is written in papers/yosinski2014/README.md ("Mini scale:
pilots") before the grid it shapes is run. Data: the mini tasks of
repro/yosinski2014/protocol.py (``MINI_SCALE``: 20 classes of Fashion-MNIST +
MNIST, random 10/10 halves).

* ``capacity``    -- candidate nets (conv1 stride, widths) on halves 0A and 0B at
  the mini schedule: seconds per run, pool5 map, accuracy, final training loss;
* ``convergence`` -- the chosen net at 1x, 2x, 4x the iterations (every lr phase
  scaled) on 0A, 0B and the whole label set: the metric's gain per doubling;
* ``noise``       -- the chosen design with 4 init/data seeds on 0A and 0B: the
  between-seed sd of a base net, hence how many base nets per half detect a
  1-point effect at 2 se;
* ``paper_init``  -- the chosen design with the paper's Gaussian fillers
  (sigma 0.01, biases 1 in conv2/4/5 and fc6/7, sigma 0.005 in fc6/7): can it
  train at all (Y-C8 (b) needs it)?
* ``headroom``    -- the chosen design on 0A and 0B with every image jittered
  (:class:`repro.data.transforms.Jitter`, strength 1, 2, 3, or ``--strengths``): how hard is the
  target, i.e. how much error is there for the claims' effects to take a share of?

``--jitter S`` runs ``convergence`` and ``noise`` on the images jittered at
strength S; ``--factors`` and ``--tasks`` choose the lengths and tasks of ``convergence``, ``--factor`` the
length of ``noise``. Every run uses one intra-op thread, as a grid run does.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import time
from pathlib import Path

from repro.models.specs import caffenet_mini
from repro.schedule import Schedule
from repro.train import train
from repro.yosinski2014.protocol import MINI_SCALE, TaskData, with_paper_fillers

WIDER = (32, 64, 96, 96, 64, 256, 256)


def task_data(task: str, jitter: float) -> TaskData:
    """The data of ``task`` ('0A', 'natmanB', 'whole') at the mini scale, as the grid's base nets load it, with
    every image jittered at strength ``jitter``."""
    s = MINI_SCALE
    return TaskData(s.dataset, task, s.n_classes, s.train_per_class, s.val_per_class, s.crop_pad, s.mirror,
                    batch_size=s.schedule.batch_size, jitter=jitter)


def scaled(schedule: Schedule, factor: int) -> Schedule:
    """``schedule`` with every phase ``factor`` times longer (same number of evaluations)."""
    return dataclasses.replace(schedule, length=factor * schedule.length, step_size=factor * schedule.step_size,
                               eval_every=factor * schedule.eval_every)


def pool5(spec) -> str:
    """The spatial size of pool5 for ``spec``'s input."""
    import keras

    model = spec.build(seed=0)
    shape = next(layer.output.shape for layer in model.layers if layer.name == "pool5")
    keras.backend.clear_session()
    return f"{shape[1]}x{shape[2]}x{shape[3]}"


def candidates() -> list[tuple[str, object]]:
    """(name, model spec) of the capacity pilot."""
    n = MINI_SCALE.n_classes
    return [
        ("stride 2, widths 16-32-48-48-32-128-128", caffenet_mini(n, conv1_stride=2)),
        ("stride 1, widths 16-32-48-48-32-128-128", caffenet_mini(n, conv1_stride=1)),
        (f"stride 1, widths {'-'.join(map(str, WIDER))}", caffenet_mini(n, widths=WIDER, conv1_stride=1)),
    ]


def run(spec, schedule: Schedule, task: str, seed: int, out: Path, jitter: float = 0.0) -> dict:
    """Train one base net; its metrics and wall seconds."""
    data, _ = task_data(task, jitter).load(None)
    schedule = schedule.resolve(data.n_train)
    shutil.rmtree(out, ignore_errors=True)
    start = time.time()
    result = train(spec.build(seed=seed), data, schedule, out, data_seed=seed)
    return dict(acc=result.acc_final_mean, final=result.acc_final, top10=result.acc_top_k_mean,
                loss=result.train_loss_final, seconds=time.time() - start, iterations=schedule.max_iter)


def _row(*cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def capacity(out: Path, options: argparse.Namespace) -> None:
    _row("net", "pool5", "task", "acc_final_mean", "acc_final", "final train loss", "seconds")
    _row(*["---"] * 7)
    for name, spec in candidates():
        for task in ("0A", "0B"):
            r = run(spec, MINI_SCALE.schedule, task, 1, out / "run")
            _row(name, pool5(spec), task, f"{r['acc']:.4f}", f"{r['final']:.4f}", f"{r['loss']:.3f}",
                 f"{r['seconds']:.1f}")


def convergence(out: Path, options: argparse.Namespace) -> None:
    spec = MINI_SCALE.model(MINI_SCALE.n_classes)
    _row("task", "iterations", "acc_final_mean", "acc_final", "mean of 10 best", "final train loss", "seconds")
    _row(*["---"] * 7)
    for task in options.tasks:
        for factor in options.factors:
            r = run(spec, scaled(MINI_SCALE.schedule, factor), task, 1, out / "run", options.jitter)
            _row(task, r["iterations"], f"{r['acc']:.4f}", f"{r['final']:.4f}", f"{r['top10']:.4f}",
                 f"{r['loss']:.3f}", f"{r['seconds']:.1f}")


def noise(out: Path, options: argparse.Namespace) -> None:
    spec = MINI_SCALE.model(MINI_SCALE.n_classes)
    _row("task", "seed", "acc_final_mean", "seconds")
    _row(*["---"] * 4)
    for task in ("0A", "0B"):
        accs = []
        for seed in (11, 12, 13, 14):
            r = run(spec, scaled(MINI_SCALE.schedule, options.factor), task, seed, out / "run", options.jitter)
            accs.append(r["acc"])
            _row(task, seed, f"{r['acc']:.4f}", f"{r['seconds']:.1f}")
        _row(task, "sd", f"{statistics.stdev(accs):.4f}", "")


def paper_init(out: Path, options: argparse.Namespace) -> None:
    spec = MINI_SCALE.model(MINI_SCALE.n_classes)
    fillers = with_paper_fillers(spec)
    _row("init", "task", "acc_final_mean", "final train loss", "chance", "seconds")
    _row(*["---"] * 6)
    for name, s in (("mini (He-normal)", spec), ("paper (sigma 0.01, bias 1)", fillers)):
        for task in ("0A", "whole"):
            r = run(s, MINI_SCALE.schedule, task, 1, out / "run")
            chance = 1 / (MINI_SCALE.n_classes if task == "whole" else MINI_SCALE.n_classes // 2)
            _row(name, task, f"{r['acc']:.4f}", f"{r['loss']:.3f}", f"{chance:.2f}", f"{r['seconds']:.1f}")


def headroom(out: Path, options: argparse.Namespace) -> None:
    spec = MINI_SCALE.model(MINI_SCALE.n_classes)
    _row("jitter", "task", "acc_final_mean", "acc_final", "mean of 10 best", "final train loss", "seconds")
    _row(*["---"] * 7)
    for strength in options.strengths:
        accs = []
        for task in ("0A", "0B"):
            r = run(spec, MINI_SCALE.schedule, task, 1, out / "run", strength)
            accs.append(r["acc"])
            _row(strength, task, f"{r['acc']:.4f}", f"{r['final']:.4f}", f"{r['top10']:.4f}", f"{r['loss']:.3f}",
                 f"{r['seconds']:.1f}")
        _row(strength, "mean of 0A, 0B", f"{statistics.mean(accs):.4f}", "", "", "", "")


def examples(out: Path, options: argparse.Namespace) -> None:
    """``<out>/jitter_examples.png``: two training images of each of the 20 classes at strengths 0-5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from repro.yosinski2014.data import fashion_digits

    x, y, _, _ = fashion_digits(MINI_SCALE.train_per_class, MINI_SCALE.val_per_class, None)
    picks = [i for c in range(MINI_SCALE.n_classes) for i in np.flatnonzero(y == c)[:2]]
    strengths = (0, 1, 2, 3, 4, 5)
    figure, axes = plt.subplots(len(strengths), len(picks), figsize=(len(picks) * 0.45, len(strengths) * 0.5))
    for row, strength in enumerate(strengths):
        images = fashion_digits(MINI_SCALE.train_per_class, MINI_SCALE.val_per_class, None, strength)[0]
        for column, index in enumerate(picks):
            axes[row, column].imshow(images[index, :, :, 0], cmap="gray", vmin=0, vmax=1)
            axes[row, column].set_xticks([]), axes[row, column].set_yticks([])
        axes[row, 0].set_ylabel(f"s = {strength}", rotation=0, ha="right", va="center", fontsize=8)
    figure.suptitle("Training images of the 20 classes (two each) under Jitter(s), as every task of the grid sees them",
                    fontsize=9)
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "jitter_examples.png", dpi=110, bbox_inches="tight")
    print(f"wrote {out / 'jitter_examples.png'}")


PILOTS = dict(capacity=capacity, convergence=convergence, noise=noise, paper_init=paper_init, headroom=headroom,
              examples=examples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pilot", choices=sorted(PILOTS))
    parser.add_argument("--out", default="/tmp/yosinski-pilots", type=Path)
    parser.add_argument("--jitter", type=float, default=0.0, help="Jitter strength of every image (0: none)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[1, 2, 3], help="headroom: the strengths tried")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4],
                        help="convergence: multiples of the mini schedule's length tried")
    parser.add_argument("--factor", type=int, default=1, help="noise: the multiple of the mini schedule's length")
    parser.add_argument("--tasks", nargs="+", default=["0A", "0B", "whole"], help="convergence: the tasks")
    args = parser.parse_args()
    from repro.quiet import quiet_libraries
    from repro.threads import pin_threads

    quiet_libraries()
    pin_threads(1)
    PILOTS[args.pilot](args.out, args)
    print(f"\nload average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
