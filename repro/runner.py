"""``repro run``: execute a paper's grid under the contracts of :mod:`repro.runs`.

Runs that others depend on (base nets, pre-trained sources) are executed on
demand through :meth:`RunContext.ensure`, found again by their run key, and
trained only once even when several shards need them at the same time
(an exclusive ``flock`` on the run directory guards the training). Every
command declares the TensorBoard HParams axes of the paper's whole grid at
the scale, so parallel shards write the same declaration.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from repro.compare import environment_snapshot
from repro.errors import ReproError
from repro.execution import current as current_execution
from repro.hparams import write_grid_config, write_run_hparams
from repro.registry import Paper
from repro.runs import Progress, RunSpec, Shard, experiment_csvs, locked, read_rows, record_row, select, write_json

RESULT_FILE = "result.json"
FINAL_WEIGHTS = "final.weights.h5"  # a trained run's weights, for the runs that start from it


def say(message: str) -> None:
    """Print a progress line at once, also when stdout is a file or a pipe."""
    print(message, flush=True)


class RunContext:
    """Where a paper's runs live and how to get at runs they depend on."""

    def __init__(self, paper: Paper, scale: str, out: Path, data_dir: str | None = None,
                 printer: Callable[[str], None] = say):
        self.paper, self.scale, self.data_dir, self.printer = paper, scale, data_dir, printer
        self.out = Path(out)
        self.scale_dir = self.out / paper.key / scale
        self.runs_dir = self.scale_dir / "runs"
        self._cache: dict = {}
        self._specs: dict[str, RunSpec] | None = None

    def run_dir(self, run_key: str) -> Path:
        return self.runs_dir / run_key

    def throttled(self, every_seconds: float = 30.0) -> Callable[[str], None]:
        """A printer for progress inside one run that speaks at most every ``every_seconds``."""
        last = [time.time()]

        def emit(message: str) -> None:
            if time.time() - last[0] >= every_seconds:
                last[0] = time.time()
                self.printer(f"      {message}")

        return emit

    def cached(self, key, build: Callable):
        """Memoise expensive, read-only objects (datasets) for the life of the command."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def grid(self) -> list[RunSpec]:
        """Every run of the paper at this scale: all its experiments, whatever the selection or shard."""
        if self._specs is None:
            self._specs = {s.run_key: s for e in self.paper.experiment_names(self.scale)
                           for s in self.paper.grid(e, self.scale)}
        return list(self._specs.values())

    def spec(self, run_key: str) -> RunSpec:
        """The spec of any run of the paper at this scale, by key."""
        self.grid()
        if run_key not in self._specs:
            raise ReproError(f"{self.paper.key} has no run {run_key!r} at scale {self.scale}")
        return self._specs[run_key]

    def ensure(self, spec_or_key: "RunSpec | str", require: tuple[str, ...] = ()) -> dict:
        """The result of a run, executing it first (or resuming it) if it has not finished.

        ``require`` names files the caller needs in the run directory (a
        source model's weights); a run whose result exists without them (a
        fresh clone of committed results, which keep no weights) is trained
        again.
        """
        spec = self.spec(spec_or_key) if isinstance(spec_or_key, str) else spec_or_key

        def execute() -> dict:
            if isinstance(spec_or_key, str):
                self.printer(f"      running dependency {spec.run_key} first")
            result = self.paper.execute(spec, self)
            write_run_hparams(self.run_dir(spec.run_key) / "tb", spec)
            return result

        return ensure_run(self.run_dir(spec.run_key), execute, require)

    def source_dir(self, source_key: str) -> Path:
        """Directory of a shared source model: ``<out>/sources/<scale>/<key>``, outside every paper."""
        return self.out / "sources" / self.scale / source_key


def ensure_run(run_dir: Path, execute: Callable[[], dict], require: tuple[str, ...] = ()) -> dict:
    """``result.json`` of ``run_dir``, calling ``execute()`` under an exclusive lock first if it is missing.

    The run counts as finished when ``result.json`` and every file named in
    ``require`` exist; concurrent callers (shards) wait on the lock and then
    read the result instead of training twice.
    """
    result_path = run_dir / RESULT_FILE

    def finished() -> bool:
        return result_path.exists() and all((run_dir / name).exists() for name in require)

    if finished():
        return json.loads(result_path.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    with locked(run_dir / ".lock"):
        if finished():
            return json.loads(result_path.read_text())
        result = execute()
        write_json(result_path, result)
        return result


def run_grid(paper: Paper, experiments: list[str], scale: str, out: Path, *, only: str | None = None,
             shard: Shard = Shard(), data_dir: str | None = None,
             printer: Callable[[str], None] = say) -> dict:
    """Run the selected cells of ``experiments``; return the run summary."""
    context = RunContext(paper, scale, out, data_dir, printer)
    context.scale_dir.mkdir(parents=True, exist_ok=True)
    specs = select([s for e in experiments for s in paper.grid(e, scale)], only, shard)
    started = time.time()
    printer(f"{paper.key} / {scale}: {len(specs)} runs in {', '.join(experiments)}"
            + (f" (shard {shard.index}/{shard.count})" if shard.count > 1 else "")
            + f" -> {context.scale_dir}")
    write_grid_config(context.runs_dir, context.grid())
    progress = Progress(len(specs), printer)
    done = {e: {row["run_key"] for row in read_rows(experiment_csvs(context.scale_dir, e))} for e in experiments}
    for spec in specs:
        if spec.run_key in done[spec.experiment]:
            progress.finished(spec.run_key, 0.0, "", skipped=True)
            continue
        result = context.ensure(spec)
        record_row(context.scale_dir, spec.experiment, shard, {**spec.identity(), **result},
                   paper.fields(spec.experiment))
        done[spec.experiment].add(spec.run_key)
        progress.finished(spec.run_key, float(result.get("seconds", 0.0)), _summary(result))
    seconds = round(time.time() - started, 1)
    summary = dict(
        command=" ".join(["repro"] + sys.argv[1:]) if Path(sys.argv[0]).name == "repro" else f"repro run {paper.key}",
        scale=scale, experiments=experiments, runs=len(specs), shard=f"{shard.index}/{shard.count}",
        started=datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=seconds, environment=environment_snapshot(), execution=current_execution().describe(),
    )
    if shard.count == 1 and not only:
        write_json(context.scale_dir / "run_summary.json", summary)
    printer(f"done: {len(specs)} runs in {seconds / 60:.1f} min ({seconds:.0f} s)")
    return summary


def _summary(result: dict) -> str:
    keys = [k for k in ("acc_top10_mean", "acc_final") if k in result]
    return " ".join(f"{k}={result[k]:.4f}" for k in keys)
