"""Where a mini run's time goes: the traced step against everything around it.

For one typical run of each paper's mini grid (a Yosinski transfer, a
Neyshabur P-T run, a Liu fine-tuning with its per-step deviation probe, a
Chen fine-tuning), this script trains the run twice through the one executor
in one process (the second time is what a run of a grid costs once the
process is warm: its traced step and evaluation already exist), under
cProfile, and splits the second run's wall time into

* ``step``: the traced training step (forward, backward, update), called
  from Python with the batch;
* ``batch``: drawing and augmenting the batch (``TrainData.batch``, mixup);
* ``evaluate``: the periodic evaluations (validation, eval-mode training accuracy);
* ``checkpoint``: the resumable checkpoint and the epoch weights files;
* ``probe``: a per-step hook (Liu's deviation);
* ``init``: building the run's initial weights (``spec.build(seed)``) and loading its transfer source;
* ``logs``: metrics.csv, TensorBoard events, config.json;
* ``other``: the rest of the Python loop.

It also times the bare step (the same traced function on one fixed batch, no
loop around it), so ``step`` minus ``steps x bare step`` is the cost of
calling the step from Python with fresh numpy arrays.

Usage: ``python benchmarks/step_profile.py [--threads 2] > benchmarks/results/step_profile.md``
"""
from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

CATEGORIES = (  # (category, substrings of "file:function" that mark it), first match wins
    ("probe", ("probes.py",)),
    ("evaluate", ("state.py:evaluate",)),
    ("checkpoint", ("train.py:save", "save_weights", "savez")),
    ("batch", ("train.py:batch", "train.py:mix_batch", "distribute_batch")),
    ("init", ("specs.py:build", "workspace.py:fresh", "workspace.py:loaded", "transfer.py")),
    ("logs", ("summary", "_write_metrics", "write_json", "create_file_writer")),
    ("step", ("polymorphic_function.py:__call__",)),
)


def _load() -> str:
    try:
        return os.getloadavg().__repr__()
    except OSError:
        return "?"


def _runs():
    """One typical mini run of each paper, with the runs it needs (sources, base nets, lr choices)."""
    from repro.registry import get_paper

    picks = {"yosinski2014": "transfer-ft0A0B_1_3", "neyshabur2020": "lc-PT-mnist-lr0.1-r1",
             "liu2019": "dev-fashion-s1", "chen2022": "finetune-mnist-n1000-s0"}
    return {paper: (get_paper(paper), key) for paper, key in picks.items()}


def _categorise(stats: pstats.Stats) -> dict[str, float]:
    """Time per category from the profile's own times (tottime), so nothing counts twice."""
    totals = {name: 0.0 for name, _ in CATEGORIES}
    totals["other"] = 0.0
    for func, (_, _, tottime, _, _) in stats.stats.items():
        totals[_category_of(func, stats)] += tottime
    return totals


def _label(func) -> str:
    return f"{Path(func[0]).name}:{func[2]}"


def _category_of(func, stats: pstats.Stats) -> str:
    """The first category (in :data:`CATEGORIES` order) that ``func`` or a caller up its chain belongs to; the
    chain follows, at each level, the caller that spent the most time in the function."""
    chain, seen = [], set()
    while func is not None and func not in seen and len(chain) < 40:
        seen.add(func)
        chain.append(_label(func))
        callers = stats.stats.get(func, (0, 0, 0, 0, {}))[4]
        func = max(callers, key=lambda c: callers[c][3]) if callers else None
    for name, marks in CATEGORIES:
        if any(mark in label for mark in marks for label in chain):
            return name
    return "other"


def profile_run(paper, key: str, out: Path) -> dict:
    from repro.executor import execute
    from repro.runner import ensure, workspace_for
    from repro.runs import Need

    workspace = workspace_for(paper, "mini", out, printer=lambda line: None)
    run = workspace.run(key)
    ensure([n.key for n in run.needs()], workspace)  # its sources and base nets, untimed
    warm = replace(run, key=f"{key}-warm")
    workspace.index[warm.key] = warm
    execute(warm, workspace)  # traces the step and the evaluation of this worker model
    measured = replace(run, key=f"{key}-measured")
    workspace.index[measured.key] = measured
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    result = execute(measured, workspace)
    profiler.disable()
    wall = time.perf_counter() - started
    categories = _categorise(pstats.Stats(profiler))
    scale = sum(categories.values()) / wall if wall else 1.0
    bare = _bare_step(workspace, measured)
    return dict(wall=wall, steps=result["steps"], categories={k: v / scale for k, v in categories.items()},
                bare_step=bare, need=[n.key for n in run.needs() if isinstance(n, Need)])


def _bare_step(workspace, run, repeats: int = 50) -> float:
    """Seconds of one call of the run's traced step on a fixed batch (no Python loop around it)."""
    from repro.train import distribute_batch, trainer

    data, _ = workspace.data(run.data)
    schedule = run.schedule
    if not isinstance(schedule.base_lr, float):
        schedule = schedule.with_lr(0.01)
    schedule = schedule.resolve(data.n_train)
    model = workspace.fresh(run.model, run.seeds.init, run.frozen)
    _, step = trainer(model, schedule)
    x, y = data.batch(0, schedule.batch_size, 0)
    arguments = distribute_batch((x, y, y), 1.0)
    float(step(*arguments))
    started = time.perf_counter()
    for _ in range(repeats):
        float(step(*arguments))
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: TensorFlow's default)")
    parser.add_argument("--papers", nargs="*", default=["yosinski2014", "neyshabur2020", "liu2019", "chen2022"])
    args = parser.parse_args()
    if args.threads:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# Where a mini run's time goes\n\n`python benchmarks/step_profile.py"
          f"{' --threads ' + str(args.threads) if args.threads else ''}` at {commit}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, TensorFlow {tf.__version__}; load {_load()} at start.\n")
    print("| run | steps | wall s | step | batch | evaluate | checkpoint | probe | init | logs | other | bare step ms "
          "| step overhead ms/step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    runs = _runs()
    with tempfile.TemporaryDirectory() as out:
        for paper_key in args.papers:
            paper, key = runs[paper_key]
            found = profile_run(paper, key, Path(out))
            c, wall, steps = found["categories"], found["wall"], found["steps"]
            share = {k: f"{100 * v / wall:.0f}%" for k, v in c.items()}
            overhead = (c["step"] - steps * found["bare_step"]) / steps * 1000
            print(f"| {paper_key} {key} | {steps} | {wall:.1f} | {share['step']} | {share['batch']} | "
                  f"{share['evaluate']} | {share['checkpoint']} | {share['probe']} | {share['init']} | "
                  f"{share['logs']} | {share['other']} | {found['bare_step'] * 1000:.2f} | {overhead:.2f} |", flush=True)
    print(f"\nLoad {_load()} at the end. Shares are of the measured run's wall time (the second of two identical "
          "runs in one process); 'step overhead' is the step category per step minus the bare step.")


if __name__ == "__main__":
    main()
