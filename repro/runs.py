"""Run grids: run keys, run directories, sharding, skip-done/resume, atomic CSV rows.

Contracts (DESIGN.md "Contracts"):

* A run is a :class:`RunSpec` with a stable, readable ``run_key`` (Yosinski's
  own naming, e.g. ``transfer-ft0A0B_1_3``). One key = one directory
  ``<out>/<paper>/<scale>/runs/<run_key>`` holding ``config.json``,
  ``metrics.csv``, TensorBoard events and checkpoints.
* Each finished run appends one row to ``<out>/<paper>/<scale>/<experiment>.csv``
  (``<experiment>.shard-I-of-N.csv`` under ``--shard``). A row is written by
  rewriting the file to a temporary name and renaming it over the old one,
  so a kill never leaves a half row; a run already present in any CSV of its
  experiment is skipped; an interrupted run resumes from its checkpoint.
  Writers of one scale directory take turns on the lock ``<scale>/.lock``
  (:func:`record_row`), so processes that write the same file (two pods of
  one job-array index, overlapping ``--only`` selections) lose no row and
  write none twice.
* ``--shard I/N`` keeps the runs whose key hashes to ``I - 1`` modulo ``N``:
  disjoint, covering, and stable under filtering and grid edits.
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from repro.errors import BadArgument

IDENTITY_FIELDS = ("paper", "experiment", "scale", "run_key", "condition", "n", "source", "target", "split", "seed")


@dataclass(frozen=True)
class RunSpec:
    """One cell of a paper's grid. ``params`` holds what the paper needs to execute it."""

    paper: str
    experiment: str
    scale: str
    run_key: str
    condition: str
    n: int = 0
    source: str = "-"
    target: str = "-"
    split: str = "-"
    seed: int = 0
    params: dict = field(default_factory=dict)

    def identity(self) -> dict:
        return {name: getattr(self, name) for name in IDENTITY_FIELDS}


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (run key, purpose): sha256 of their joined text."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (1-based) of ``count`` disjoint slices of a grid."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> "Shard":
        if text is None:
            return cls()
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise BadArgument(f"bad --shard {text!r}: expected I/N with 1 <= I <= N, e.g. 3/8")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise BadArgument(f"bad --shard {text!r}: expected I/N with 1 <= I <= N, e.g. 3/8")
        return cls(index, count)

    def owns(self, run_key: str) -> bool:
        return self.count == 1 or derive_seed("shard", run_key) % self.count == self.index - 1

    def csv_name(self, experiment: str) -> str:
        return f"{experiment}.csv" if self.count == 1 else f"{experiment}.shard-{self.index}-of-{self.count}.csv"


def only_pattern(only: str | None) -> "re.Pattern | None":
    """The compiled ``--only`` expression (None without one); :class:`BadArgument` if it does not compile."""
    try:
        return re.compile(only) if only else None
    except re.error as exc:
        raise BadArgument(f"bad --only {only!r}: {exc}") from exc


def select(specs: Iterable[RunSpec], only: str | None, shard: Shard) -> list[RunSpec]:
    """Runs whose key matches ``only`` (a regular expression, ``re.search``) and that ``shard`` owns."""
    pattern = only_pattern(only)
    return [s for s in specs if (pattern is None or pattern.search(s.run_key)) and shard.owns(s.run_key)]


def experiment_csvs(scale_dir: Path, experiment: str) -> list[Path]:
    """``<experiment>.csv`` then its shards ``<experiment>.shard-<I>-of-<N>.csv`` ordered by (N, I)."""
    pattern = re.compile(rf"^{re.escape(experiment)}\.shard-(\d+)-of-(\d+)\.csv$")
    shards = []
    if scale_dir.is_dir():
        for path in scale_dir.iterdir():
            match = pattern.match(path.name)
            if match:
                shards.append(((int(match.group(2)), int(match.group(1))), path))
    main = scale_dir / f"{experiment}.csv"
    return ([main] if main.is_file() else []) + [p for _, p in sorted(shards)]


def read_rows(paths: Sequence[Path]) -> list[dict]:
    """Rows of several CSVs merged, the first row of each run key kept."""
    rows, seen = [], set()
    for path in paths:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if row["run_key"] not in seen:
                    seen.add(row["run_key"])
                    rows.append(row)
    return rows


def append_row(path: Path, row: dict, fields: Sequence[str]) -> None:
    """Append ``row`` to ``path`` atomically (rewrite to a temporary file, then rename)."""
    existing = []
    if path.exists():
        with path.open(newline="") as f:
            existing = list(csv.DictReader(f))
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(existing)
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the body of the ``with``."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_row(scale_dir: Path, experiment: str, shard: Shard, row: dict, fields: Sequence[str]) -> bool:
    """Append ``row`` to ``experiment``'s CSV of ``shard`` unless a CSV of ``experiment`` already has its run key.

    The check and the write happen under the exclusive lock ``<scale_dir>/.lock``,
    so concurrent writers of one file neither lose a row (read-modify-write
    race) nor write a run twice. Returns whether the row was written.
    """
    with locked(scale_dir / ".lock"):
        if any(r["run_key"] == row["run_key"] for r in read_rows(experiment_csvs(scale_dir, experiment))):
            return False
        append_row(scale_dir / shard.csv_name(experiment), row, fields)
        return True


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def spec_config(spec: RunSpec) -> dict:
    return asdict(spec)


class Progress:
    """Progress lines with an ETA from the mean time of the runs finished so far."""

    def __init__(self, total: int, printer: Callable[[str], None] = print):
        self.total, self.done, self.trained, self.printer = total, 0, 0, printer
        self.started = time.time()

    def finished(self, run_key: str, seconds: float, summary: str, skipped: bool = False) -> None:
        """Report one finished (or skipped) run; the ETA averages over the runs actually trained."""
        self.done += 1
        self.trained += not skipped
        elapsed = time.time() - self.started
        eta = elapsed / self.trained * (self.total - self.done) if self.trained else 0.0
        state = "skip (done)" if skipped else f"{seconds:6.1f}s"
        self.printer(f"[{self.done:>3}/{self.total}] {run_key:<28} {state}  {summary}  "
                     f"elapsed {_clock(elapsed)}  ETA {_clock(eta)}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes:d}:{secs:02d}"
