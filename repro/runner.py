"""``repro run``: resolve a paper's selected runs into a plan and execute it under the contracts of :mod:`repro.store`.

1. every run of the protocol at the scale is declared (:meth:`repro.registry.Paper.runs`);
2. the selection (experiments, ``--only``, ``--shard``) minus the runs that
   already have their CSV row is resolved into a plan, dependencies first
   (:func:`repro.plan.resolve`);
3. each step runs once: a finished run (``result.json`` and the files its
   dependents read) is not redone; an unfinished one is executed under an
   exclusive lock on its directory, so shards that need the same base net
   at the same time train it once; an interrupted run resumes from its
   checkpoint;
4. each selected run's row is appended atomically to its experiment's CSV;
   a broken row (:mod:`repro.rowcheck`: cut short, garbled, not its
   run's result) is removed first, so its run is recorded again.

Every command also declares the TensorBoard HParams axes of the paper's
whole grid at the scale, so parallel shards write the same declaration.
"""
from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from repro.compare import environment_snapshot
from repro.events import FIGURES_RUN
from repro.errors import ReproError
from repro.files import locked, write_json
from repro.plan import Shard, Step, check_graph, check_only, resolve, select
from repro.registry import Paper
from repro.rowcheck import broken_in, drop_broken
from repro.runs import Need, Run
from repro.threads import DEFAULT_THREADS, threads_in_use
from repro.store import CHECKPOINT, LOCK, RESULT_FILE, read_result, record_row, scale_dir_name, write_result
from repro.workspace import Workspace, say


def workspace_for(paper: Paper, scale: str, out: Path, data_dir: str | None = None,
                  printer: Callable[[str], None] = say, seed_set: int = 0) -> Workspace:
    """The workspace of ``paper`` at ``scale`` (and seed set) under ``out``, indexing every declared run."""
    return Workspace(paper, scale, out, check_graph(list(paper.runs(scale, seed_set))), data_dir, printer, seed_set)


def finish(step: Step, workspace: Workspace) -> tuple[dict, bool]:
    """The result of ``step``'s run, executing it first unless it has finished with the files its dependents read.

    Returns ``(result, executed)``. Concurrent callers (shards) wait on the run
    directory's lock and then read the result instead of executing twice.
    """
    need = Need(step.run.key, step.files)
    if workspace.finished(need):
        return read_result(workspace.run_dir(step.run.key)), False
    run_dir = workspace.run_dir(step.run.key)
    run_dir.mkdir(parents=True, exist_ok=True)
    with locked(run_dir / LOCK):
        if workspace.finished(need):
            return read_result(run_dir), False
        from repro.executor import execute
        from repro.hparams import write_run_hparams

        try:
            result = execute(step.run, workspace)
            if step.run.experiment is not None and step.run.home is None:
                write_run_hparams(run_dir, step.run, hparam_axes(workspace))
            write_result(run_dir, result)  # last: a run is finished once its result.json exists
        except OSError as exc:  # a full disk, a read-only directory: one line, the finished runs kept
            raise write_error(exc, run_dir, f"while running {step.run.key}") from exc
        return result, True


def write_error(exc: OSError, where: Path, doing: str = "") -> ReproError:
    """The one line a failed file operation ends a command with: what, where, during which run, and what is
    kept (``doing``: ``"while running <key>"``, or empty outside a run)."""
    return ReproError(f"{exc.strerror or exc}: {exc.filename or where}{' ' + doing if doing else ''}; the finished "
                      "runs are kept, and the same command resumes once the cause is fixed")


def grid_runs(workspace: Workspace) -> list[Run]:
    """Every run of the scale that belongs to one of its experiments (the HParams grid; not another paper's runs
    that a study reads)."""
    return [r for r in workspace.index.values() if r.experiment is not None and r.home is None]


def hparam_axes(workspace: Workspace) -> dict[str, bool]:
    """The HParams axes of the scale's grid, computed once per command."""
    from repro.hparams import grid_axes

    return workspace.cached(("hparam axes",), lambda: grid_axes(workspace.paper, grid_runs(workspace)))


def ensure(keys, workspace: Workspace) -> dict[str, dict]:
    """The results of the runs ``keys``, executing them (and what they need) first where they have not finished."""
    runs = [workspace.run(key) for key in keys]
    results = {}
    for step in resolve(runs, workspace.index, workspace.finished):
        result, executed = finish(step, workspace)
        if executed and not step.selected:
            workspace.printer(f"      ran dependency {step.run.key}")
        results[step.run.key] = result
    return {key: results.get(key) or workspace.result(key) for key in keys}


def run_grid(paper: Paper, experiments: list[str], scale: str, out: Path, *, only: str | None = None,
             shard: Shard = Shard(), data_dir: str | None = None, printer: Callable[[str], None] = say,
             jobs: int = 1, threads: int = DEFAULT_THREADS, execution: tuple = ("default", "off", False),
             verbose: bool = False, seed_set: int = 0, command: str | None = None) -> dict:
    """Run the selected cells of ``experiments``; return the run summary.

    With ``jobs`` > 1 the plan's independent runs go to that many worker processes
    (:mod:`repro.scheduler`), each started with the command's ``execution`` settings
    (strategy, mixed precision, XLA) and ``threads`` intra-op threads (:mod:`repro.threads`); rows are
    recorded here as runs finish. ``seed_set`` > 0 draws an independent set of every seed into
    ``<out>/<paper>/<scale>-seed-set-<S>``. ``command`` is the command line recorded in ``run_summary.json``
    (default ``repro run <paper>``).
    """
    workspace = workspace_for(paper, scale, out, data_dir, printer, seed_set)
    scale_dir = workspace.scale_dir
    grid = [r for r in workspace.index.values() if r.experiment in experiments]
    selected = select(grid, only, shard)
    check_only(grid, only, f"{', '.join(experiments)} at scale {scale}")
    created = missing_parents(scale_dir)
    scale_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    printer(f"{paper.key} / {scale}: {len(selected)} runs in {', '.join(experiments)}"
            + (f" (shard {shard.index}/{shard.count})" if shard.count > 1 else "") + f" -> {scale_dir}")
    from repro.hparams import write_grid_config

    write_grid_config(workspace.layout.runs_dir / FIGURES_RUN, hparam_axes(workspace), grid_runs(workspace))
    checks = drop_broken(workspace, [paper.experiment(e) for e in experiments])
    for broken in broken_in(checks):
        printer(f"broken row removed, its run is recorded again: {broken.describe()}")
    done = {e: {row["run_key"] for check in checks for row in check.rows if row["experiment"] == e}
            for e in experiments}
    todo = [r for r in selected if r.key not in done[r.experiment]]
    if len(todo) < len(selected):
        printer(f"{len(selected) - len(todo)} of the {len(selected)} runs have finished already"
                + (": nothing to do" if not todo else f"; running the other {len(todo)}"))
    progress = Progress(len(todo), printer)
    steps = resolve(todo, workspace.index, workspace.finished)

    def starting(step: Step) -> None:
        if not step.selected and not workspace.finished(Need(step.run.key, step.files)):
            printer(f"      running dependency {step.run.key} first")

    def finished(step: Step, result: dict, executed: bool) -> None:
        if step.selected:
            record(paper, scale, scale_dir, step.run, result, shard)
            progress.finished(step.run.key, float(result.get("seconds", 0.0) or 0.0), _summary(result))

    pending = [s for s in steps if not workspace.finished(Need(s.run.key, s.files))]
    try:
        if jobs > 1 and len(pending) > 1:
            from repro.scheduler import run_parallel

            run_parallel(steps, jobs, threads, workspace, execution, finished, starting, verbose)
        else:
            for step in steps:
                starting(step)
                finished(step, *finish(step, workspace))
    except ReproError:
        clean_failed(workspace, [s.run.key for s in steps], created)
        raise
    except OSError as exc:  # outside a run's own files (its lock, a dependency's files)
        clean_failed(workspace, [s.run.key for s in steps], created)
        raise write_error(exc, scale_dir) from exc
    seconds = round(time.time() - started, 1)
    summary = dict(
        command=command or f"repro run {paper.key}",
        scale=scale, experiments=experiments, runs=len(selected), shard=f"{shard.index}/{shard.count}",
        started=datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=seconds, environment=environment_snapshot(), execution=_execution(), jobs=jobs,
        threads_per_run=threads if jobs > 1 else threads_in_use(), seed_set=seed_set,
    )
    if shard.count == 1 and not only and todo:  # a command that ran nothing keeps the summary of the one that did
        write_json(scale_dir / "run_summary.json", summary)
    if todo:
        printer(f"done: {len(todo)} runs in {seconds / 60:.1f} min ({seconds:.0f} s)")
    printer(next_steps(paper.key, scale, Path(out), seed_set))
    return summary


def next_steps(paper: str, scale: str, out: Path, seed_set: int = 0) -> str:
    """What to run after ``repro run``: the comparison, and TensorBoard on the runs."""
    where = ("" if str(out) == "results" else f" --out {out}") + (f" --seed-sets {seed_set}" if seed_set else "")
    return (f"next: repro compare {paper} --scale {scale}{where}   |   "
            f"tensorboard --logdir {out / paper / scale_dir_name(scale, seed_set) / 'runs'}")


def missing_parents(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    return missing


def clean_failed(workspace: Workspace, keys: Iterable[str], created: list[Path]) -> None:
    """After a failed command, remove what it created and nobody can use: the directories of the runs ``keys``
    that left no result and no checkpoint, and the directories the command created (``created``, from
    :func:`missing_parents`) if nothing finished in them."""
    for key in keys:
        run_dir = workspace.run_dir(key)
        if run_dir.is_dir() and not any((run_dir / name).exists() for name in (RESULT_FILE, CHECKPOINT)):
            shutil.rmtree(run_dir, ignore_errors=True)
    for path in created:  # deepest first
        leftovers = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("events.out", "."))]
        if path.is_dir() and not leftovers:
            shutil.rmtree(path, ignore_errors=True)


def record(paper: Paper, scale: str, scale_dir: Path, run: Run, result: dict, shard: Shard) -> bool:
    """Append ``run``'s row to its experiment's CSV (once)."""
    experiment = paper.experiment(run.experiment)
    try:
        return record_row(scale_dir, run.experiment, shard.pair, experiment.row(paper.key, scale, run, result),
                          experiment.fields)
    except OSError as exc:
        raise write_error(exc, scale_dir, f"while recording the row of {run.key}") from exc


def _execution() -> dict:
    from repro.execution import current

    return current().describe()


class Progress:
    """Progress lines with an ETA from the mean time of the runs finished so far."""

    def __init__(self, total: int, printer: Callable[[str], None] = print):
        self.total, self.done, self.trained, self.printer = total, 0, 0, printer
        self.started = time.time()

    def finished(self, run_key: str, seconds: float, summary: str) -> None:
        """Report one finished run; the ETA is the mean time per finished run times the runs left."""
        self.done += 1
        elapsed = time.time() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        self.printer(f"[{self.done:>3}/{self.total}] {run_key:<28} {seconds:6.1f}s  {summary}  "
                     f"elapsed {_clock(elapsed)}  ETA {_clock(eta)}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes:d}:{secs:02d}"


def _summary(result: dict) -> str:
    """The progress line's numbers: the last evaluation, and the mean of the last few where it differs."""
    keys = [k for k in ("acc_final", "acc_final_mean") if isinstance(result.get(k), (int, float))]
    if len(keys) == 2 and result["acc_final_mean"] == result["acc_final"]:
        keys = keys[:1]
    return " ".join(f"{k}={result[k]:.4f}" for k in keys)
