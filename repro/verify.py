"""``repro verify``: check a results tree as a whole, as a cluster user does after merging shards.

For one paper at one scale (and seed set) under ``--out``:

* **rows**: every row of every experiment CSV (main file and shards) is whole
  (:mod:`repro.rowcheck`), no file is out of date with the experiment's
  columns, and no run has two rows across the files;
* **runs**: every row's run directory holds ``config.json`` and ``result.json``
  (a row that reused another run's result: its own ``result.json``, and the
  reused run's ``config.json`` and ``result.json``);
* **dependencies**: every run a row's run depends on (transitively, shared
  sources included) has finished: ``config.json`` and ``result.json``
  (weights are not needed to compare, and a committed tree leaves them out:
  their absence is counted, not failed);
* **comparison**: ``comparison.csv`` was computed from the files there now
  (the digests ``repro compare`` records in ``comparison_inputs.json``);
* **writers**: no lock is held (a command still writing the tree) and no
  temporary file of an interrupted writer is left.

Each check prints one line (``ok`` or ``FAIL``) and the failures name their
files; the exit code is 0 only when every check holds.
"""
from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass, field
from pathlib import Path

from repro.compare import INPUTS_FILE, comparison_inputs
from repro.rowcheck import check_tree
from repro.runs import WEIGHTS
from repro.store import CHECKPOINT, CONFIG_FILE, FINAL_WEIGHTS, LOCK, RESULT_FILE

SHOWN = 5  # failures listed per check


@dataclass
class Check:
    """One line of the report: a check's name, whether it holds, what it found, and what failed."""

    name: str
    summary: str
    failures: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        head = f"  {'ok  ' if self.holds else 'FAIL'}  {self.name}: {self.summary}"
        shown = [f"          {f}" for f in self.failures[:SHOWN]]
        more = [f"          ... and {len(self.failures) - SHOWN} more"] if len(self.failures) > SHOWN else []
        return [head] + shown + more


def verify(workspace) -> list[Check]:
    """Every check of the tree of ``workspace`` (a :class:`repro.workspace.Workspace`)."""
    experiments = [e for e in workspace.paper.experiments if workspace.scale in e.scales]
    files = check_tree(workspace, experiments)
    rows = [(check.path, row) for check in files for row in check.rows]
    return [_rows(files, rows), _runs(workspace, rows), _dependencies(workspace, rows),
            _comparison(workspace.scale_dir), _writers(workspace)]


def _rows(files, rows) -> Check:
    failures = [b.describe() for check in files for b in check.broken]
    failures += [f"{check.path}: written by an older version of the suite: no column(s) "
                 f"{', '.join(check.missing_columns)}" for check in files if check.missing_columns]
    where: dict[str, list[Path]] = {}
    for path, row in rows:
        where.setdefault(row["run_key"], []).append(path)
    failures += [f"run {key} has {len(paths)} rows ({', '.join(sorted({p.name for p in paths}))})"
                 for key, paths in where.items() if len(paths) > 1]
    return Check("rows", f"{len(rows)} whole rows in {len(files)} file(s), {len(where)} runs", failures)


def _runs(workspace, rows) -> Check:
    failures = []
    for path, row in rows:
        needed = [(workspace.run_dir(row["run_key"]), RESULT_FILE)]
        trained = workspace.run_dir(workspace.trained_key(row["run_key"]))
        needed += [(trained, CONFIG_FILE), (trained, RESULT_FILE)]
        for run_dir, name in dict.fromkeys(needed):
            if not (run_dir / name).is_file():
                failures.append(f"run {row['run_key']} ({path.name}): no {name} in {run_dir}")
    return Check("runs", "every row's run directory holds config.json and result.json" if not failures
                 else f"{len(failures)} of {len(rows)} rows lack their run's files", failures)


def _dependencies(workspace, rows) -> Check:
    seen, failures, without_weights = set(), [], 0
    pending = [need for _, row in rows if row["run_key"] in workspace.index
               for need in workspace.run(row["run_key"]).needs()]
    while pending:
        need = pending.pop()
        if need.key in seen:
            continue
        seen.add(need.key)
        run_dir = workspace.run_dir(need.key)
        absent = [name for name in (CONFIG_FILE, RESULT_FILE) if not (run_dir / name).is_file()]
        if absent:
            failures.append(f"dependency {need.key}: no {' or '.join(absent)} in {run_dir}")
            continue
        if WEIGHTS in need.files and not (workspace.run_dir(workspace.trained_key(need.key)) / FINAL_WEIGHTS).is_file():
            without_weights += 1
        if need.key in workspace.index:
            pending.extend(workspace.run(need.key).needs())
    kept = f"; {without_weights} without their weights (not needed to compare)" if without_weights else ""
    return Check("dependencies", f"{len(seen)} runs the rows depend on" + (" have finished" if not failures
                 else f", {len(failures)} missing") + kept, failures)


def _comparison(scale_dir: Path) -> Check:
    record = scale_dir / INPUTS_FILE
    if not (scale_dir / "comparison.csv").is_file():
        return Check("comparison", "none", ["no comparison.csv: run `repro compare`"])
    if not record.is_file():
        return Check("comparison", "no record of its inputs",
                     [f"no {INPUTS_FILE} beside comparison.csv: run `repro compare` again"])
    recorded = json.loads(record.read_text())
    inputs, now = recorded["inputs"], comparison_inputs(scale_dir)
    changed = sorted(name for name in inputs.keys() | now.keys() if inputs.get(name) != now.get(name))
    failures = [f"{name} {'is new' if name not in inputs else 'is gone' if name not in now else 'changed'} since "
                f"`{recorded['command']}`: run it again" for name in changed]
    return Check("comparison", f"comparison.csv computed from the {len(inputs)} file(s) there now" if not failures
                 else "comparison.csv is stale", failures)


def _writers(workspace) -> Check:
    roots = [workspace.scale_dir, workspace.layout.sources_dir]
    failures, locks, interrupted = [], 0, 0
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.rglob(LOCK):
            locks += 1
            if _held(path):
                failures.append(f"{path} is held: a command is still writing this tree (wait for it, or stop it)")
        for path in root.rglob(".*"):
            if path.is_file() and (path.name.endswith(".tmp") or ".partial." in path.name):
                failures.append(f"{path}: left by an interrupted writer, never read as a result (delete it)")
        interrupted += sum(1 for c in root.rglob(CHECKPOINT) if not (c.parent / RESULT_FILE).is_file())
    resumes = f"; {interrupted} interrupted run(s) resume from their checkpoint" if interrupted else ""
    return Check("writers", f"{locks} lock file(s), none held, no temporary file left{resumes}" if not failures
                 else "the tree is being written, or a writer was interrupted", failures)


def _held(path: Path) -> bool:
    """Whether a live process holds ``flock`` on ``path`` (a dead process's lock is released with it)."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
