"""Whether the rows of a results tree are whole: the check every reader of experiment CSVs makes first.

A row is *broken* when it cannot be what :func:`repro.runner.record` wrote for
a run of the grid:

* it has more or fewer values than its file's header (a row cut short, or
  two rows run together), or its file's header lacks an identity column;
* it is the last line of a file that does not end with a line break (a copy
  or a merge interrupted mid-row: its last value may be cut, ``0.71`` ->
  ``0.7``, with every column still present);
* its ``paper``, ``experiment`` or ``scale`` is not the file's, or its
  ``run_key`` is not a run of the experiment in the grid;
* its run directory holds a ``result.json`` and the row differs from the row
  that result gives, in a column the result holds (a value changed or cut by
  a faulty copy).

A file whose header lacks columns the experiment declares today was written
by an older version of the suite: its rows are whole, but the file is *out of
date* (``repro verify`` says so; a comparison reads the columns it needs by
name).

``repro run`` re-records each broken row's run (from its ``result.json``, or
by training it again); ``repro compare`` refuses a tree with broken rows;
``repro verify`` lists them.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

from repro.errors import ReproError
from repro.files import atomic_write, locked
from repro.registry import IDENTITY
from repro.store import LOCK, experiment_csvs, read_result


@dataclass(frozen=True)
class BrokenRow:
    """One broken row: where it is, whose run it names (``""`` when it names none), and why it is broken."""

    path: Path
    line: int
    run_key: str
    reason: str

    def describe(self) -> str:
        run = f"run {self.run_key}" if self.run_key else "a row with no run key"
        return f"{self.path}:{self.line}: {run}: {self.reason}"


class BrokenRows(ReproError):
    """A results tree holds broken rows."""

    def __init__(self, broken: list[BrokenRow], advice: str):
        lines = "\n".join(f"  {b.describe()}" for b in broken)
        super().__init__(f"{len(broken)} broken row(s) in the results; {advice}:\n{lines}")
        self.broken = broken


@dataclass(frozen=True)
class RowRules:
    """What a row of one experiment's CSV must be: its columns, identity, run keys, and the values each
    finished run's ``result.json`` vouches for (``expected(run_key)``: column -> value, ``None`` when the run
    has no ``result.json`` here)."""

    fields: tuple[str, ...]
    identity: Mapping[str, str]  # paper, experiment, scale
    run_keys: frozenset
    expected: Callable[[str], Optional[dict]]


@dataclass(frozen=True)
class FileCheck:
    """One CSV read and checked: its whole rows (dicts, file order), broken rows, and the declared columns its
    header lacks (an older version of the suite wrote it)."""

    path: Path
    rows: list
    broken: list
    missing_columns: tuple


def check_file(path: Path, rules: RowRules) -> FileCheck:
    """Read one experiment CSV and check every row against ``rules``."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    lines = list(csv.reader(text.splitlines(keepends=True)))
    if not lines:
        return FileCheck(Path(path), [], [], ())
    header, values = lines[0], lines[1:]
    missing = tuple(c for c in rules.fields if c not in header)
    cut_last = not text.endswith(("\n", "\r"))
    rows, broken = [], []
    for n, row_values in enumerate(values):
        reason = _reason(header, row_values, rules, cut=cut_last and n == len(values) - 1)
        if reason:
            broken.append(BrokenRow(Path(path), n + 2, _run_key(header, row_values), reason))
        else:
            rows.append(dict(zip(header, row_values)))
    return FileCheck(Path(path), rows, broken, missing)


def _run_key(header: list[str], values: list[str]) -> str:
    index = header.index("run_key") if "run_key" in header else len(values)
    return values[index] if index < len(values) else ""


def _reason(header: list[str], values: list[str], rules: RowRules, cut: bool) -> str:
    """Why a row is broken, or ``""``."""
    if cut:
        return "the file ends inside this row (no line break after it): it may be cut short"
    if len(values) != len(header):
        return f"{len(values)} values for {len(header)} columns"
    absent = [c for c in IDENTITY if c not in header]
    if absent:
        return f"the file's header has no {', '.join(absent)} column"
    row = dict(zip(header, values))
    for column, value in rules.identity.items():
        if row[column] != value:
            return f"{column} is {row[column]!r}, not {value!r}"
    if row["run_key"] not in rules.run_keys:
        return f"{row['run_key']!r} is not a run of {rules.identity['experiment']} in this grid"
    expected = rules.expected(row["run_key"]) or {}
    differing = [c for c, v in expected.items() if c in row and row[c] != v]
    if differing:
        column = differing[0]
        more = f" ({len(differing) - 1} more column(s) differ)" if len(differing) > 1 else ""
        return f"{column} is {row[column]!r} where its result.json gives {expected[column]!r}{more}"
    return ""


def as_csv(value) -> str:
    """A value as ``csv.writer`` writes it (``None`` -> ``""``)."""
    return "" if value is None else str(value)


def rules_for(workspace, experiment) -> RowRules:
    """The rules of ``experiment``'s rows in ``workspace`` (a :class:`repro.workspace.Workspace`): its grid's
    run keys, and per finished run the columns its ``result.json`` holds (identity and axes always)."""
    runs = {r.key: r for r in workspace.index.values() if r.experiment == experiment.name}
    paper, scale = workspace.paper.key, workspace.scale
    vouched_always = set(IDENTITY) | set(experiment.axes)

    def expected(key: str) -> Optional[dict]:
        result = read_result(workspace.run_dir(key))
        if result is None:
            return None
        row = experiment.row(paper, scale, runs[key], result)
        return {c: as_csv(v) for c, v in row.items()
                if c in vouched_always or experiment.rename.get(c, c) in result}

    return RowRules(experiment.fields, dict(paper=paper, experiment=experiment.name, scale=scale),
                    frozenset(runs), expected)


def check_experiment(workspace, experiment) -> list[FileCheck]:
    """Every CSV of ``experiment`` (main file, then shards) in ``workspace``'s scale directory, checked."""
    rules = rules_for(workspace, experiment)
    return [check_file(path, rules) for path in experiment_csvs(workspace.scale_dir, experiment.name)]


def check_tree(workspace, experiments: Iterable) -> list[FileCheck]:
    """:func:`check_experiment` for each of ``experiments``."""
    return [check for experiment in experiments for check in check_experiment(workspace, experiment)]


def broken_in(checks: Iterable[FileCheck]) -> list[BrokenRow]:
    return [b for check in checks for b in check.broken]


def drop_broken(workspace, experiments: Iterable) -> list[FileCheck]:
    """Check every CSV of ``experiments`` and remove the broken rows from their files, every other line kept as
    it is, so that their runs are recorded again; the checks (their whole rows are what the files now hold).
    Checked and rewritten under the scale directory's lock, which every row writer takes
    (:func:`repro.store.record_row`)."""
    with locked(Path(workspace.scale_dir) / LOCK):
        checks = check_tree(workspace, experiments)
        broken = broken_in(checks)
        by_file: dict[Path, set[int]] = {}
        for b in broken:
            by_file.setdefault(b.path, set()).add(b.line)
        for path, numbers in by_file.items():
            with path.open(encoding="utf-8", newline="") as handle:
                records = list(csv.reader(handle.read().splitlines(keepends=True)))
            kept = [values for n, values in enumerate(records, start=1) if n not in numbers]
            atomic_write(path, lambda out, kept=kept: csv.writer(out).writerows(kept))
    return checks


def refuse_broken(workspace, experiments: Iterable) -> None:
    """Raise :class:`BrokenRows` if any row of ``experiments`` in ``workspace`` is broken (``repro compare``)."""
    broken = broken_in(check_tree(workspace, experiments))
    if broken:
        paper, scale = workspace.paper.key, workspace.scale
        raise BrokenRows(broken, f"nothing is compared: `repro run {paper} --scale {scale}` with the same --out "
                                 "removes them and records their runs again")
