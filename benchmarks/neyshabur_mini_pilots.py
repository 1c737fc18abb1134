"""Calibration pilots behind the Neyshabur mini scale (papers/neyshabur2020/README.md, "Pilots").

    python benchmarks/neyshabur_mini_pilots.py [--steps 50]
    python benchmarks/neyshabur_mini_pilots.py --lr [--out /tmp/neyshabur-pilots]
    python benchmarks/neyshabur_mini_pilots.py --converge [--divisor 8 --lrs 0.1 0.02 --ladder 20 40 80] [--out DIR]
    python benchmarks/neyshabur_mini_pilots.py --chexpert [--out /tmp/neyshabur-pilots]
    python benchmarks/neyshabur_mini_pilots.py --replicates [--seeds 1 2 3 4] [--out /tmp/neyshabur-pilots]

``--lr`` trains one RI-T / P-T run per cell on the mini targets mnist and
digits at lr divisors 8 (the paper's), 4 and 2, with and without mixup
(P pre-trained into ``--out`` first, or found there), and prints the table of
papers/neyshabur2020/README.md "Pilots". ``--converge`` and ``--chexpert`` are
pilots N1 and N3 of the faithful mini (README, "Pilots of the converged
mini"): how long RI-T must train at the paper's learning rates, and how long
the CheXpert stand-in must train for P-T to fit its training set; ``--replicates``
is N2, how many runs per arm make a 2-point difference detectable. Each cell
trains into its own directory under ``--out`` and is read back from there
when the command runs again. Without a flag, a Markdown table of what one
mini run costs on this machine:

* the traced SGD step of the mini Fixup ResNet (the [3, 4, 6, 3] bottleneck
  layout) at widths 4 and 8 and batches 32 and 128, with and without XLA;
* the one-off cost a new model object pays before its first step (building
  the network, tracing the training step, tracing the evaluation), which the
  suite pays once per command by re-assigning the weights of one worker
  model (:func:`repro.train.trainer`).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

# repro first: importing it pins Keras to the TensorFlow backend
from repro.landscape.state import evaluate
from repro.models.fixup_resnet import fixup_resnet
from repro.schedule import Schedule
from repro.train import mix_batch, trainer

import keras
import tensorflow as tf

SCHEDULE = Schedule(base_lr=0.0125, length=1, step_size=1, batch_size=32, eval_every=1, weight_decay=1e-4,
                    bias_lr_mult=1.0, decay_biases=True, scalar_lr_mult=0.1, mixup_alpha=0.7)


def step_time(width: int, batch: int, steps: int, jit: bool) -> float:
    """Mean seconds of one mixup SGD step (after one warm-up step)."""
    model = fixup_resnet((32, 32, 1), 10, width=width, stem="mini", seed=0)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    variables = model.trainable_variables

    @tf.function(jit_compile=jit)
    def step(x, y_a, y_b, lam):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = lam * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_a, logits=logits)) \
                + (1 - lam) * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_b, logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 1)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    float(step(x, y, y, tf.constant(1.0)))
    start = time.perf_counter()
    for i in range(steps):
        mixed, y_a, y_b, lam = mix_batch(x, y, 0.7, 0, i)
        float(step(mixed, y_a, y_b, tf.constant(lam, tf.float32)))
    return (time.perf_counter() - start) / steps


def new_model_cost() -> tuple[float, float, float]:
    """Seconds to build the mini network, to trace its training step, to trace its evaluation."""
    start = time.perf_counter()
    model = fixup_resnet((32, 32, 1), 10, width=8, stem="mini", seed=1)
    built = time.perf_counter()
    optimizer, step = trainer(model, SCHEDULE)
    x = np.zeros((32, 32, 32, 1), np.float32)
    y = np.zeros(32, np.int32)
    float(step(x, y, y, tf.constant(1.0)))
    traced = time.perf_counter()
    evaluate(model, [(np.zeros((500, 32, 32, 1), np.float32), np.zeros(500, np.int64))])
    return built - start, traced - built, time.perf_counter() - traced


LR_CELLS = (  # (lr divisor, mixup, arm, nominal lr)
    (8.0, 0.7, "RI-T", 0.1), (8.0, 0.0, "RI-T", 0.1), (2.0, 0.7, "RI-T", 0.1), (2.0, 0.0, "RI-T", 0.1),
    (2.0, 0.7, "RI-T", 0.02), (2.0, 0.7, "P-T", 0.1), (2.0, 0.7, "P-T", 0.02), (4.0, 0.7, "RI-T", 0.1),
    (4.0, 0.7, "P-T", 0.1),
)


def lr_pilots(out: str, scale_name: str = "mini") -> None:
    """One run per (target, divisor, mixup, arm, lr): does each arm learn within the mini schedule?

    Each cell trains the protocol's network (:func:`repro.neyshabur2020.protocol.network`) with the arm's
    schedule of the scale at nominal ``lr``, the optimizer's rate ``lr / divisor`` and the cell's mixup; P-T
    starts from P (the protocol's source run, trained into ``out`` by the runner unless it is there) with
    every module but the classifier copied, as the grid's P-T runs do.
    """
    import dataclasses
    import tempfile

    from repro.neyshabur2020 import protocol
    from repro.train import train

    scale, builder = _pilot_setup(out, scale_name)
    print("| target | lr divisor | run | final | best | mean train | time |\n|---|---|---|---|---|---|---|")
    for name in ("mnist", "digits"):
        target = scale.target(name)
        data, _ = protocol.TargetData(scale.name, target.name).load(None)
        for divisor, mixup, arm, lr in LR_CELLS:
            model = builder(target, arm)()
            schedule = dataclasses.replace(scale.schedule_for(target, arm), base_lr=lr, lr_scale=1 / divisor,
                                           mixup_alpha=mixup)
            started = time.perf_counter()
            result = train(model, data, schedule.resolve(data.n_train), Path(tempfile.mkdtemp()), data_seed=1)
            label = f"{divisor:g}" + ("" if mixup else ", no mixup")
            print(f"| {name} | {label} | {arm} {lr:g} | {result.acc_final:.3f} | {result.acc_max:.3f} "
                  f"| {result.train_acc_mean:.3f} | {time.perf_counter() - started:.0f} s |", flush=True)


CONVERGE_TARGETS = ("fashion_unseen", "mnist", "digits")
PAPER_DIVISOR = 8.0  # DomainNet: the nominal lr x 32 / 256 (linear scaling to batch 32)


def _cell(out: Path, name: str, build, data, schedule, seed: int = 1) -> dict:
    """Train one pilot cell into ``out / name`` (or read it back) and return its final metrics and curve;
    ``diverged`` is the step at which its loss became non-finite (0: it did not)."""
    import csv

    from repro.errors import NonFiniteLoss
    from repro.train import train

    run_dir = out / name
    metrics, marker = run_dir / "metrics.csv", run_dir / "diverged.txt"
    resolved = schedule.resolve(data.n_train)
    rows = list(csv.DictReader(metrics.open())) if metrics.exists() else []
    if not marker.exists() and (not rows or int(rows[-1]["step"]) < resolved.max_iter):
        started = time.perf_counter()
        try:
            train(build(), data, resolved, run_dir, data_seed=seed)
        except NonFiniteLoss as error:
            marker.write_text(f"{error}\n")
        print(f"  {name}: {time.perf_counter() - started:.0f} s", flush=True)
        rows = list(csv.DictReader(metrics.open())) if metrics.exists() else []
    diverged = int(rows[-1]["step"]) if marker.exists() and rows else (1 if marker.exists() else 0)
    return dict(train=[float(r["train_acc"]) for r in rows] or [0.0], test=[float(r["val_acc"]) for r in rows] or [0.0],
                loss=[float(r["train_loss"]) for r in rows] or [float("nan")],
                seconds=float(rows[-1]["seconds"]) if rows else 0.0, diverged=diverged)


def _pilot_setup(out: str, scale_name: str = "mini"):
    """The scale, P (pre-trained into ``out`` by the runner unless it is there) and a builder of arm networks."""
    from repro.neyshabur2020 import protocol
    from repro.registry import get_paper
    from repro.runner import ensure, workspace_for
    from repro.transfer import transfer

    scale = protocol.SCALES[scale_name]
    workspace = workspace_for(get_paper(protocol.PAPER), scale.name, Path(out))
    p_run = protocol.source_run(scale)
    ensure([p_run.key], workspace)
    source = workspace.loaded(p_run.model, workspace.weights(p_run.key))

    def builder(target, arm: str, seed: int = 1):
        spec = protocol.network(scale, target.classes)

        def build():
            model = spec.build(seed=seed)
            if arm == "P-T":
                modules = list(spec.modules(model))
                transfer(model, modules, len(modules) - 1, "finetune", source)
            return model
        return build

    return scale, builder


def _domainnet_schedule(lr: float, epochs: int, divisor: float):
    """The pilots' DomainNet-protocol training: nominal ``lr`` / ``divisor`` at batch 32, mixup 0.7, MultiStep x0.1
    at 30, 60 and 90 % of ``epochs``, eval-mode training accuracy on the first 500 images."""
    from repro.neyshabur2020 import protocol

    return protocol.torch_sgd(lr, epochs, 32, protocol.domainnet_milestones(epochs), lr_scale=1 / divisor,
                              mixup_alpha=0.7, train_eval_examples=500)


def converge_pilots(out: str, ladder: tuple[int, ...] = (20, 40, 80), tolerance: float = 0.01,
                    divisor: float = PAPER_DIVISOR, lrs: tuple[float, ...] = (0.1, 0.02)) -> None:
    """Pilots N1 and N1b: RI-T at nominal ``lrs`` / ``divisor`` (N1: the paper's 0.1 and 0.02 / 8; batch 32,
    mixup 0.7, MultiStep x0.1 at 30, 60 and 90 % of the length) for E epochs on the ladder, one seed (init 1,
    data 1), on every mini target.

    A cell is converged at E when its final eval-mode training accuracy (first 500 training images) and its final
    test accuracy at E are both within ``tolerance`` of those at 2E; the ladder climbs until that holds (the last
    rung has no 2E to compare with and is reported as the cap).
    """
    from repro.neyshabur2020 import protocol

    scale, builder = _pilot_setup(out)
    root = Path(out) / "converge"
    print("| target | lr | divisor | E | final train | final test | best test | mean train | seconds "
          "| converged at E (vs 2E) |\n|---|---|---|---|---|---|---|---|---|---|")
    suffix = "" if divisor == PAPER_DIVISOR else f"-d{divisor:g}"
    for name in CONVERGE_TARGETS:
        target = scale.target(name)
        data, _ = protocol.TargetData(scale.name, target.name).load(None)
        for lr in lrs:
            found: dict[int, dict] = {}
            for index, epochs in enumerate(ladder):
                schedule = _domainnet_schedule(lr, epochs, divisor)
                found[epochs] = _cell(root, f"RIT-{name}-lr{lr:g}-e{epochs}{suffix}", builder(target, "RI-T"), data,
                                      schedule)
                if index == 0:
                    continue
                shorter, longer = found[ladder[index - 1]], found[epochs]
                if (abs(shorter["train"][-1] - longer["train"][-1]) <= tolerance
                        and abs(shorter["test"][-1] - longer["test"][-1]) <= tolerance):
                    break
            for index, (epochs, cell) in enumerate(found.items()):
                doubled = found.get(2 * epochs)
                verdict = ("cap (no 2E)" if doubled is None else
                           "yes" if (abs(cell["train"][-1] - doubled["train"][-1]) <= tolerance
                                     and abs(cell["test"][-1] - doubled["test"][-1]) <= tolerance) else "no")
                print(f"| {name} | {lr:g} | {divisor:g} | {epochs} | {cell['train'][-1]:.3f} | {cell['test'][-1]:.3f} "
                      f"| {max(cell['test']):.3f} | {sum(cell['train']) / len(cell['train']):.3f} "
                      f"| {cell['seconds']:.0f} | {verdict} |", flush=True)


def replicate_pilots(out: str, seeds: tuple[int, ...] = (1, 2, 3, 4), epochs: int = 80, divisor: float = 2.0,
                     lr: float = 0.1, detectable: float = 0.02, cap: int = 4) -> None:
    """Pilot N2: P-T and RI-T at nominal ``lr`` / ``divisor`` for ``epochs`` (N1's schedule otherwise) with init and
    data seeds ``seeds`` on every DomainNet stand-in.

    The pooled standard deviation of the final test accuracy over the seeds of each (target, arm) cell gives R, the
    smallest number of runs per arm (at least 2, at most ``cap``) with 2 sd sqrt(2 / R) <= ``detectable``.
    """
    import statistics

    from repro.neyshabur2020 import protocol

    scale, builder = _pilot_setup(out)
    root = Path(out) / "converge"
    schedule = _domainnet_schedule(lr, epochs, divisor)
    print("| target | arm | final test per seed | mean | sd | final train per seed |\n|---|---|---|---|---|---|")
    variances, dof = 0.0, 0
    for name in CONVERGE_TARGETS:
        target = scale.target(name)
        data, _ = protocol.TargetData(scale.name, target.name).load(None)
        for arm in ("P-T", "RI-T"):
            cells = [_cell(root, f"{protocol.ARM_CODE[arm]}-{name}-lr{lr:g}-e{epochs}-d{divisor:g}"
                           + ("" if seed == 1 else f"-s{seed}"), builder(target, arm, seed), data, schedule, seed)
                     for seed in seeds]
            tests, trains = [c["test"][-1] for c in cells], [c["train"][-1] for c in cells]
            sd = statistics.stdev(tests)
            variances, dof = variances + sd ** 2 * (len(tests) - 1), dof + len(tests) - 1
            print(f"| {name} | {arm} | {', '.join(f'{t:.3f}' for t in tests)} | {statistics.mean(tests):.3f} "
                  f"| {sd:.4f} | {', '.join(f'{t:.3f}' for t in trains)} |", flush=True)
    pooled = (variances / dof) ** 0.5
    runs = next((r for r in range(2, cap + 1) if 2 * pooled * (2 / r) ** 0.5 <= detectable), None)
    chosen = runs or cap
    print(f"\npooled sd {pooled:.4f} over {dof} degrees of freedom; R = {chosen}"
          + ("" if runs else f" (the cap: 2 sd sqrt(2 / R) is {2 * pooled * (2 / cap) ** 0.5:.4f} at R = {cap})")
          + f"; detectable difference of two arm means at R = {chosen}: {2 * pooled * (2 / chosen) ** 0.5:.4f}")


def chexpert_pilots(out: str, ladder: tuple[int, ...] = (50, 100, 200), target_name: str = "digits",
                    fitted: float = 0.99) -> None:
    """Pilot N3: the CheXpert stand-in trained like CheXpert (batch 256, the nominal lr itself, constant, no mixup)
    for E epochs (P-T) and 2E (RI-T) on the ladder, one seed, both lrs.

    A rung is long enough when P-T and RI-T at their better lr (higher best test accuracy) fit their training set
    (eval-mode accuracy on the first 500 training images >= ``fitted``) before the middle of their schedules, so
    that overfitting, if it happens, has half of the training to show; the ladder climbs until that holds.
    """
    from repro.neyshabur2020 import protocol

    scale, builder = _pilot_setup(out)
    root = Path(out) / "chexpert"
    target = scale.target(target_name)
    data, _ = protocol.TargetData(scale.name, target.name).load(None)
    print("| arm | lr | epochs | epoch train acc first >= 0.99 | final train | best test (epoch) | final test "
          "| final train loss |\n|---|---|---|---|---|---|---|---|")
    for epochs in ladder:
        fits = {}
        for arm, length in (("P-T", epochs), ("RI-T", 2 * epochs)):
            best = None
            for lr in protocol.NOMINAL_LRS:
                schedule = protocol.torch_sgd(lr, length, 256, (), train_eval_examples=500)
                cell = _cell(root, f"{protocol.ARM_CODE[arm]}-{target_name}-lr{lr:g}-e{length}",
                             builder(target, arm), data, schedule)
                if cell["diverged"]:
                    print(f"| {arm} | {lr:g} | {length} | - | diverged (loss not finite after step "
                          f"{cell['diverged']}) | | | |", flush=True)
                    continue
                first = next((i + 1 for i, acc in enumerate(cell["train"]) if acc >= fitted), None)
                peak = max(range(len(cell["test"])), key=cell["test"].__getitem__)
                print(f"| {arm} | {lr:g} | {length} | {first or '-'} | {cell['train'][-1]:.3f} "
                      f"| {cell['test'][peak]:.3f} ({peak + 1}) | {cell['test'][-1]:.3f} | {cell['loss'][-1]:.4f} |",
                      flush=True)
                if best is None or cell["test"][peak] > best[0]:
                    best = (cell["test"][peak], first)
            fits[arm] = best is not None and best[1] is not None and best[1] <= length // 2
        if all(fits.values()):
            print(f"long enough: P-T {epochs}, RI-T {2 * epochs} epochs")
            return
    print("no rung of the ladder is long enough")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", action="store_true", help="the learning-rate pilots instead of the timings")
    parser.add_argument("--converge", action="store_true", help="pilot N1: how long RI-T must train")
    parser.add_argument("--chexpert", action="store_true", help="pilot N3: how long the CheXpert stand-in trains")
    parser.add_argument("--replicates", action="store_true", help="pilot N2: how many runs per arm")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4], help="--replicates: init/data seeds")
    parser.add_argument("--divisor", type=float, default=PAPER_DIVISOR, help="--converge: the lr divisor (N1: 8)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.1, 0.02], help="--converge: the nominal lrs")
    parser.add_argument("--ladder", type=int, nargs="+", default=[20, 40, 80], help="--converge: the lengths")
    parser.add_argument("--out", default="/tmp/neyshabur-pilots", help="where P is pre-trained (or found)")
    args = parser.parse_args()
    if args.lr or args.converge or args.chexpert or args.replicates:
        from repro.quiet import quiet_libraries
        from repro.threads import pin_threads

        quiet_libraries()
        pin_threads(1)
        if args.converge:
            converge_pilots(args.out, tuple(args.ladder), divisor=args.divisor, lrs=tuple(args.lrs))
        elif args.replicates:
            replicate_pilots(args.out, tuple(args.seeds))
        else:
            (lr_pilots if args.lr else chexpert_pilots)(args.out)
        return
    print("| network | batch | XLA | ms / step | images / s |\n|---|---|---|---|---|")
    for width in (4, 8):
        for batch in (32, 128):
            for jit in (False, True):
                seconds = step_time(width, batch, args.steps, jit)
                print(f"| mini Fixup ResNet, width {width} | {batch} | {'yes' if jit else 'no'} "
                      f"| {1000 * seconds:.1f} | {batch / seconds:,.0f} |")
    build, trace, trace_eval = new_model_cost()
    print(f"\nnew model object: build {build:.1f} s, trace the training step {trace:.1f} s, "
          f"trace the evaluation {trace_eval:.1f} s")
    print(f"load average {os.getloadavg()[0]:.2f}; tensorflow {tf.__version__}, keras {keras.__version__}, "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
