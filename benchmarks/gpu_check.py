"""Helpers of scripts/gpu_check.sh: the devices TensorFlow sees, the ResNet-50 step, the shortest mini grid.

    python benchmarks/gpu_check.py devices                 # devices, CUDA/cuDNN of the build, first GPU op timed apart
    python benchmarks/gpu_check.py resnet50 [--batch 256] [--steps 20] [--cpu-batch 8] [--cpu-steps 2]
    python benchmarks/gpu_check.py shortest                # the paper whose committed mini grid took the least time

``resnet50`` times the training step of the paper-scale ResNet-50 (224x224x3,
1000 classes, ``ResNetSpec((224, 224, 3), 1000)``) through the suite's own
step (:func:`repro.train.trainer` inside :func:`repro.execution.use_execution`)
under float32, ``--mixed-precision float16``, ``--jit-compile`` and both, on
random data resident on the device, and prints images/s beside NVIDIA's
published ResNet-50 v1.5 TensorFlow training throughput (the figures of
docs/gpu.md and benchmarks/paper_scale_time.py). The first step of each
setting (tracing, XLA compilation, cuDNN autotuning and, on a GPU without
kernels in the build, the driver's JIT compilation of PTX) is timed apart
from the steady state. Without a GPU it times float32 and XLA at
``--cpu-batch`` (batch 256 would take minutes a step on a few cores) and
skips float16 (CPUs have no float16 kernels: Keras emulates them, 13-140x
slower, benchmarks/results/execution.md).

Every command ends with machine-readable lines ``RESULT key=value`` (one
key a line) that the shell script reads.
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

_STARTED = time.perf_counter()

# NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md (commit e6757d7), one GPU:
# "Training performance: NVIDIA DGX A100 (8x A100 40GB)" (batch 256) and "NVIDIA DGX-1 (8x V100 16GB)" (FP32 batch
# 128, mixed batch 256); images/s averaged over a training epoch, TensorFlow 20.06-tf1-py3 NGC container, DALI input.
# The A100 figures are benchmarks/paper_scale_time.py's REFERENCES; docs/gpu.md cites all four.
NVIDIA = {False: {"A100": 808.0, "V100": 412.0},  # TF32 (A100) / FP32 (V100), with XLA
          True: {"A100": 1770.0, "V100": 1270.0}}  # mixed precision with XLA
NVIDIA_SOURCE = ("NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md "
                 "(commit e6757d7), one GPU, with XLA: A100 40GB TF32 808 and mixed 1,770 images/s (batch 256); "
                 "V100 16GB FP32 412 (batch 128) and mixed 1,270 images/s (batch 256); DALI input pipeline")

SETTINGS = (("float32", "off", False), ("mixed float16", "float16", False), ("XLA", "off", True),
            ("mixed float16 + XLA", "float16", True))


def _results(**values) -> None:
    for key, value in values.items():
        print(f"RESULT {key}={value}")


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home and path.startswith(home) else path


def _cache_size() -> tuple[str, int]:
    path = os.environ.get("CUDA_CACHE_PATH", "")
    if not path or not os.path.isdir(path):
        return path, 0
    return path, sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# ----------------------------------------------------------------------------- devices


def devices(args) -> int:
    import tensorflow as tf

    imported = time.perf_counter() - _STARTED
    info = tf.sysconfig.get_build_info()
    print(f"TensorFlow {tf.__version__} (imported in {imported:.1f} s); CUDA build: {info.get('is_cuda_build', False)}; "
          f"CUDA {info.get('cuda_version', '-')}, cuDNN {info.get('cudnn_version', '-')}; "
          f"compiled for: {', '.join(info.get('cuda_compute_capabilities', []) or ['-'])}")
    physical = tf.config.list_physical_devices()
    print("physical devices: " + ", ".join(f"{d.name} ({d.device_type})" for d in physical))
    gpus = tf.config.list_physical_devices("GPU")
    capabilities = info.get("cuda_compute_capabilities", []) or []
    ptx_only = False
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        cc = details.get("compute_capability")
        sm = f"sm_{cc[0]}{cc[1]}" if cc else "?"
        has_sass = sm in capabilities
        ptx_only |= not has_sass
        print(f"{gpu.name}: {details.get('device_name', '?')}, compute capability "
              f"{'.'.join(map(str, cc)) if cc else '?'}: "
              + ("kernels in the build" if has_sass else
                 "no kernels in the build for it: the driver JIT-compiles the PTX at first use (cached in "
                 "CUDA_CACHE_PATH)"))
    cache_path, before = _cache_size()
    print(f"CUDA_CACHE_PATH={_home(cache_path) or '(unset)'} ({before / 2**20:,.0f} MiB), "
          f"CUDA_CACHE_MAXSIZE={os.environ.get('CUDA_CACHE_MAXSIZE', '(unset)')}, "
          f"CUDA_MODULE_LOADING={os.environ.get('CUDA_MODULE_LOADING', '(default)')}")
    first = steady = 0.0
    if gpus:
        def work():
            with tf.device("/GPU:0"):
                a = tf.random.normal((512, 512))
                x = tf.random.normal((8, 56, 56, 64))
                k = tf.random.normal((3, 3, 64, 64))
                out = tf.reduce_sum(tf.matmul(a, a)) + tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME")))
            return float(out)

        start = time.perf_counter()
        work()
        first = time.perf_counter() - start
        start = time.perf_counter()
        work()
        steady = time.perf_counter() - start
        _, after = _cache_size()
        print(f"first GPU work (CUDA context, cuBLAS/cuDNN handles, kernel loading{', PTX JIT' if ptx_only else ''}): "
              f"{first:.2f} s; the same again: {steady * 1e3:.1f} ms; compute cache {before / 2**20:,.0f} -> "
              f"{after / 2**20:,.0f} MiB")
    _results(gpus=len(gpus), ptx_only=int(ptx_only), first_gpu_s=f"{first:.2f}", import_s=f"{imported:.1f}")
    return 0


# ----------------------------------------------------------------------------- ResNet-50


def _time_setting(label: str, precision: str, jit: bool, batch: int, steps: int) -> dict:
    import keras
    import tensorflow as tf

    from repro.execution import use_execution
    from repro.models.specs import ResNetSpec
    from repro.schedule import Schedule
    from repro.train import distribute_batch, reset_optimizer, trainer

    with use_execution(mixed_precision=precision, jit_compile=jit):
        model = ResNetSpec((224, 224, 3), 1000).build(seed=0)
        schedule = Schedule(base_lr=0.1, batch_size=batch, length=10**6, policy="constant", weight_decay=1e-4,
                            bias_lr_mult=1.0, decay_biases=True)
        optimizer, step = trainer(model, schedule)
        reset_optimizer(optimizer)
        x = tf.random.normal((batch, 224, 224, 3), seed=0)
        y = tf.random.uniform((batch,), 0, 1000, dtype=tf.int64, seed=1)
        arguments = distribute_batch((x, y, y), 1.0)
        start = time.perf_counter()
        float(step(*arguments))
        first = time.perf_counter() - start
        float(step(*arguments))  # a second unmeasured step: allocations of the steady state
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            loss = float(step(*arguments))
            times.append(time.perf_counter() - start)
        device = model.trainable_variables[0].value.device
    del model, optimizer, step, arguments
    keras.backend.clear_session()
    gc.collect()
    per_step = statistics.median(times)
    return dict(setting=label, batch=batch, first_s=first, step_s=per_step, images_s=batch / per_step,
                spread=(batch / max(times), batch / min(times)), loss=loss, device=device,
                mixed=precision == "float16", jit=jit)


def resnet50(args) -> int:
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    batch, steps = (args.batch, args.steps) if gpu else (args.cpu_batch, args.cpu_steps)
    if not gpu:
        print(f"No GPU: the step runs on the CPU at batch {batch}"
              + (f" instead of {args.batch}" if batch != args.batch else "")
              + f", {steps} timed step(s); mixed float16 is skipped (no float16 kernels on a CPU).\n")
    rows, failed = [], []
    for label, precision, jit in SETTINGS:
        if label not in args.settings:
            continue
        if precision == "float16" and not gpu:
            rows.append(dict(setting=label, skipped="skipped (no GPU)"))
            continue
        size = batch
        while True:
            try:
                print(f"- {time.strftime('%H:%M:%S')} {label}, batch {size} ...", flush=True)
                rows.append(_time_setting(label, precision, jit, size, steps))
                break
            except tf.errors.ResourceExhaustedError:
                import keras

                keras.backend.clear_session()  # free the failed attempt's model and buffers before the next
                gc.collect()
                if size <= 32:
                    failed.append(label)
                    rows.append(dict(setting=label, skipped=f"failed (out of memory at batch {size})"))
                    break
                print(f"- out of memory at batch {size}: batch {size // 2}", flush=True)
                size //= 2
            except Exception as exc:  # noqa: BLE001 - reported in the summary
                failed.append(label)
                rows.append(dict(setting=label, skipped=f"failed ({type(exc).__name__}: {str(exc)[:200]})"))
                break
    print()
    print("| setting | batch | first step s | steady s/step | images/s (min-max) | NVIDIA, same precision + XLA: "
          "A100 / V100 | ours / A100 | device |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['setting']} | | | | {row['skipped']} | | | |")
            continue
        reference = NVIDIA[row["mixed"]]
        low, high = row["spread"]
        versus = f"{row['images_s'] / reference['A100']:.2f}" if gpu else "- (CPU)"
        print(f"| {row['setting']} | {row['batch']} | {row['first_s']:.1f} | {row['step_s']:.3f} | "
              f"**{row['images_s']:,.1f}** ({low:,.1f}-{high:,.1f}) | {reference['A100']:,.0f} / "
              f"{reference['V100']:,.0f} | {versus} | "
              f"{row['device'].rsplit('/', 1)[-1]} |")
    print(f"\nReference: {NVIDIA_SOURCE}. NVIDIA's figures are with XLA; float32 on an A100 computes "
          f"convolutions and matmuls in TF32 (TensorFlow's default on Ampere and later), as NVIDIA's TF32 figure "
          f"does. Ours: random data resident on the device (no input pipeline), the suite's SGD step "
          f"(repro.train.trainer, whose --jit-compile compiles forward and backward, not the update).")
    summary = ", ".join(f"{r['setting']} {r['images_s']:,.3g} img/s" for r in rows if "images_s" in r)
    _results(failed=len(failed), gpu=int(gpu), batch=batch, summary=summary)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- the shortest mini grid


def grid_seconds(tree: Path, summary: dict) -> float:
    """Wall time of a committed grid: its ``run_summary.json`` (``summary``)'s, or its rows' own seconds over the
    summary's workers when that is more (a grid finished in several invocations records only the last one there)."""
    row_seconds = 0.0
    for table in tree.glob("*.csv"):
        with open(table, newline="") as handle:
            reader = csv.DictReader(handle)
            if {"run_key", "seconds"} <= set(reader.fieldnames or ()):
                row_seconds += sum(float(row["seconds"]) for row in reader)
    return max(float(summary["seconds"]), row_seconds / max(1, int(summary.get("jobs", 1))))


def shortest(args) -> int:
    """The paper (not a study such as the atlas) whose committed mini grid took the least wall time."""
    from repro.registry import PAPER_MODULES

    times = {}
    for path in sorted((ROOT / "results").glob("*/mini/run_summary.json")):
        if path.parent.parent.name in PAPER_MODULES:
            summary = json.loads(path.read_text())
            times[path.parent.parent.name] = (grid_seconds(path.parent, summary), int(summary["runs"]))
    if not times:
        print("no results/<paper>/mini/run_summary.json: chen2022 (the shortest when they were written)")
        _results(paper="chen2022", seconds=0)
        return 0
    for paper, (seconds, runs) in sorted(times.items(), key=lambda item: item[1][0]):
        print(f"{paper}: {runs} runs in {seconds / 60:.1f} min (committed mini grid on 2 CPU cores)")
    paper = min(times, key=lambda key: times[key][0])
    _results(paper=paper, seconds=f"{times[paper][0]:.0f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("devices")
    timing = commands.add_parser("resnet50")
    timing.add_argument("--batch", type=int, default=256)
    timing.add_argument("--steps", type=int, default=20)
    timing.add_argument("--cpu-batch", type=int, default=8)
    timing.add_argument("--cpu-steps", type=int, default=2)
    timing.add_argument("--settings", nargs="+", default=[label for label, _, _ in SETTINGS],
                        choices=[label for label, _, _ in SETTINGS], metavar="SETTING",
                        help=f"a subset of: {', '.join(repr(label) for label, _, _ in SETTINGS)}")
    commands.add_parser("shortest")
    args = parser.parse_args()
    return {"devices": devices, "resnet50": resnet50, "shortest": shortest}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
