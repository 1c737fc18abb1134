"""Where runs live on disk, and the experiment CSVs: the one owner of every results file name.

Layout under ``<out>``::

    <out>/<paper>/<scale>/<experiment>.csv           one row per finished run of the experiment
    <out>/<paper>/<scale>-seed-set-S/...             the same for seed set S (repro run --seed-set S)
    <out>/<paper>/<scale>/<experiment>.shard-I-of-N.csv   the same for --shard I/N
    <out>/<paper>/<scale>/runs/<run key>/            config.json, metrics.csv, result.json, TensorBoard events ...
    <out>/sources/<scale>/<run key>/                 shared runs (pre-trained sources) any paper may name

A study that reads another paper's runs (:attr:`repro.runs.Run.home`) finds
them in that paper's ``runs/`` directory.

A run directory holds ``result.json`` once the run finished; its final
weights (:data:`FINAL_WEIGHTS`); ``checkpoints/epoch-XXX.weights.npz`` when
it keeps epoch checkpoints (epoch 0 = the initialisation; :mod:`repro.weightfiles`); and, while it
trains, the resumable checkpoint :data:`CHECKPOINT`, removed at the end.

Rows are written by rewriting the CSV to a temporary file and renaming it
(:func:`repro.files.atomic_write`), under the scale directory's lock, so
concurrent writers (shards, overlapping selections) neither lose a row nor
write a run twice (:func:`record_row`).
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Sequence

from repro.errors import CorruptResult
from repro.files import atomic_write, locked, write_json
from repro.weightfiles import NPZ_SUFFIX

RESULT_FILE = "result.json"
CONFIG_FILE = "config.json"
FINAL_WEIGHTS = "final.weights.h5"
CHECKPOINT = "checkpoint.npz"
EPOCH_DIR = "checkpoints"
LOCK = ".lock"
RUNS_DIR = "runs"
SOURCES_DIR = "sources"


def epoch_weights(run_dir: Path, epoch: int) -> Path:
    """The weights file of epoch ``epoch`` of a run that keeps epoch checkpoints (0 = its initialisation)."""
    return Path(run_dir) / EPOCH_DIR / f"epoch-{int(epoch):03d}{NPZ_SUFFIX}"


def epoch_files(run_dir: Path) -> list[Path]:
    """Every epoch checkpoint of a run, in epoch order."""
    return sorted((Path(run_dir) / EPOCH_DIR).glob(f"epoch-*{NPZ_SUFFIX}"))


def scale_dir_name(scale: str, seed_set: int = 0) -> str:
    """``<scale>`` for the reference seeds, ``<scale>-seed-set-<S>`` for an independent seed set."""
    return scale if seed_set == 0 else f"{scale}-seed-set-{seed_set}"


class Layout:
    """The directories of one paper at one scale (and seed set) under ``out``."""

    def __init__(self, out: Path, paper: str, scale: str, seed_set: int = 0):
        self.out, self.paper, self.scale = Path(out), paper, scale
        self.scale_dir = self.out / paper / scale_dir_name(scale, seed_set)
        self.runs_dir = self.scale_dir / RUNS_DIR
        self.sources_dir = self.out / SOURCES_DIR / scale

    def run_dir(self, key: str, shared: bool = False, home: str | None = None) -> Path:
        """Where run ``key`` lives: the sources directory (``shared``), another paper's tree (``home``,
        ``"<paper>/<scale directory>"``) or this paper's."""
        if home is not None:
            return self.out / home / RUNS_DIR / key
        return (self.sources_dir if shared else self.runs_dir) / key

    def scale_dir_of(self, home: str | None) -> Path:
        """The scale directory of a run's tree: another paper's (``home``) or this paper's."""
        return self.scale_dir if home is None else self.out / home


def read_result(run_dir: Path) -> dict | None:
    """A run's ``result.json`` (None if it has not finished); :class:`CorruptResult` if it cannot be read back (every
    writer replaces it whole, so only a copy or an editor damages it)."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CorruptResult(_damaged(path, f"{type(error).__name__}: {error}")) from None
    if not isinstance(result, dict):
        raise CorruptResult(_damaged(path, "not a JSON object"))
    return result


def _damaged(path: Path, why: str) -> str:
    return (f"cannot read {path} ({why}): the result of run {path.parent.name} is damaged; restore it from a copy, "
            "or delete the run's directory and its row to run it again")


def write_result(run_dir: Path, result: dict) -> None:
    write_json(Path(run_dir) / RESULT_FILE, result)


# ----------------------------------------------------------------------------- experiment CSVs

def csv_name(experiment: str, shard: "tuple[int, int]" = (1, 1)) -> str:
    index, count = shard
    return f"{experiment}.csv" if count == 1 else f"{experiment}.shard-{index}-of-{count}.csv"


def experiment_csvs(scale_dir: Path, experiment: str) -> list[Path]:
    """``<experiment>.csv`` then its shards ``<experiment>.shard-<I>-of-<N>.csv`` ordered by (N, I)."""
    pattern = re.compile(rf"^{re.escape(experiment)}\.shard-(\d+)-of-(\d+)\.csv$")
    shards = []
    scale_dir = Path(scale_dir)
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
        with Path(path).open(newline="") as f:
            for row in csv.DictReader(f):
                if row["run_key"] not in seen:
                    seen.add(row["run_key"])
                    rows.append(row)
    return rows


def append_row(path: Path, row: dict, columns: Sequence[str]) -> None:
    """Append ``row`` to the CSV ``path`` atomically (the whole file rewritten to a temporary, then renamed)."""
    path = Path(path)
    existing = []
    if path.exists():
        with path.open(newline="") as f:
            existing = list(csv.DictReader(f))

    def write(out) -> None:
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(existing)
        writer.writerow(row)

    atomic_write(path, write)


def record_row(scale_dir: Path, experiment: str, shard: "tuple[int, int]", row: dict, columns: Sequence[str]) -> bool:
    """Append ``row`` to ``experiment``'s CSV of ``shard`` unless a CSV of ``experiment`` already has its run key.

    The check and the write happen under the exclusive lock ``<scale_dir>/.lock``,
    so concurrent writers of one file neither lose a row (read-modify-write
    race) nor write a run twice. Returns whether the row was written.
    """
    with locked(Path(scale_dir) / LOCK):
        if any(r["run_key"] == row["run_key"] for r in read_rows(experiment_csvs(scale_dir, experiment))):
            return False
        append_row(Path(scale_dir) / csv_name(experiment, shard), row, columns)
        return True
