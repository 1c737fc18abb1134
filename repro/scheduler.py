"""``repro run --jobs N``: the plan's independent runs in N local worker processes.

A step starts once every run it needs that is in the plan has finished;
runs outside the plan are finished already (:func:`repro.plan.resolve`).
Each worker is a fresh process (``spawn``: TensorFlow does not survive a
fork) that builds its own workspace once, with TensorFlow's intra-op pool
at the command's threads per run (one by default, :mod:`repro.threads`:
the same numbers at any N, and N workers on N cores do not oversubscribe
the machine); it keeps its datasets and worker models for every run it is
given, as a single process does.

The parent records every finished run's row at once (atomically, under the
scale's lock), so Ctrl-C or a failing run loses no finished row: the
workers are stopped, their unfinished runs keep their last checkpoint and
resume on the next command. The same directory lock as in one process
(:func:`repro.runner.finish`) keeps two processes from training one run.
"""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from repro.errors import BadArgument, ReproError
from repro.plan import Step

_WORKSPACE = None


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


MAX_DEFAULT_JOBS = 8  # each worker holds TensorFlow, its datasets and models: about 1 GB


def default_jobs() -> int:
    """One worker per core, up to :data:`MAX_DEFAULT_JOBS`: a mini network's step keeps one core busy far better
    than it spreads over two (a single process used 1.2 of this machine's 2 cores)."""
    return max(1, min(cores(), MAX_DEFAULT_JOBS))


def jobs_for(requested: int | None, strategy: str) -> int:
    """``--jobs`` as given, else :func:`default_jobs`, or 1 under a distribution strategy (which spreads one
    process over several devices)."""
    if requested is not None:
        return requested
    return default_jobs() if strategy == "default" else 1


def check_jobs(jobs: int, strategy: str) -> None:
    if jobs < 1:
        raise BadArgument(f"bad --jobs {jobs}: expected a number of worker processes >= 1")
    if jobs > 1 and strategy != "default":
        raise BadArgument(f"--jobs {jobs} runs several processes on this machine's cores; --strategy {strategy} "
                          "spreads one process over several devices: use --jobs 1 with it")


def _start_worker(paper_key: str, scale: str, out: str, data_dir: str | None, threads: int, execution: tuple,
                  modules: dict, verbose: bool, seed_set: int, index: dict) -> None:
    """Worker initializer: size the thread pools before TensorFlow starts, then build the workspace over the
    parent's ``index`` of declared runs (the runs the plan was resolved from, not a second reading of the
    protocol)."""
    from repro.quiet import quiet_libraries
    from repro.threads import pin_threads

    quiet_libraries(verbose)
    pin_threads(threads)
    from repro import registry
    from repro.execution import use_execution
    from repro.workspace import Workspace

    registry.PAPER_MODULES.update(modules)
    global _WORKSPACE
    use_execution(*execution).__enter__()  # for the life of the worker
    _WORKSPACE = Workspace(registry.get_paper(paper_key), scale, Path(out), index, data_dir,
                           printer=lambda line: None, seed_set=seed_set)


def _run_step(step: Step) -> tuple[dict, bool]:
    from repro.runner import finish

    return finish(step, _WORKSPACE)


def run_parallel(steps: Sequence[Step], jobs: int, threads: int, workspace, execution: tuple,
                 on_done: Callable[[Step, dict, bool], None], on_start: Callable[[Step], None],
                 verbose: bool = False) -> None:
    """Execute ``steps`` (a plan, dependencies first) in ``jobs`` worker processes of ``threads`` intra-op threads
    each, calling ``on_start`` when a step is handed to a worker and ``on_done(step, result, executed)`` in this
    process as each finishes."""
    from repro import registry

    in_plan = {s.run.key for s in steps}
    waiting = {s.run.key: {n.key for n in s.run.needs() if n.key in in_plan} for s in steps}
    by_key = {s.run.key: s for s in steps}
    done: set[str] = set()
    running: dict[Future, Step] = {}
    layout = workspace.layout
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
        initargs=(workspace.paper.key, workspace.scale, str(layout.out), workspace.data_dir, threads,
                  execution, dict(registry.PAPER_MODULES), verbose, workspace.seed_set, workspace.index))
    try:
        while len(done) < len(steps):
            busy = {s.run.key for s in running.values()}
            ready = [k for k, needs in waiting.items() if needs <= done and k not in done and k not in busy]
            for key in ready[: jobs - len(running)]:
                on_start(by_key[key])
                running[pool.submit(_run_step, by_key[key])] = by_key[key]
            if not running:
                raise RuntimeError(f"no run of the plan can start: {sorted(set(waiting) - done)} wait on each other")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                try:
                    result, executed = future.result()  # a failed run raises here and stops the command
                except BrokenProcessPool:
                    raise ReproError(f"a worker process died while running {step.run.key} (out of memory, or "
                                     f"killed); finished runs are kept: rerun the command to resume, with a "
                                     f"smaller --jobs if memory is short") from None
                done.add(step.run.key)
                on_done(step, result, executed)
    except BaseException:
        for future in running:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
