"""Published numbers against measured ones, and a verdict per claim, for any paper.

This is the shared half of ``repro compare <paper>``. Its inputs:

- ``papers/<key>/published.csv`` holds every published number, one per row,
  keyed by ``(quantity, condition, n, target)``; ``papers/<key>/claims.csv``
  holds the paper's checkable claims with the rule that judges each one.
- ``results/<key>/<scale>/<experiment>.csv`` and its shard files
  ``<experiment>.shard-<I>-of-<N>.csv`` hold one row per finished run.

A paper's own module (``repro/<key>/compare.py``) turns its measured rows into
values under the same keys and implements each claim's rule; this module loads
the inputs, merges shards, pairs published with measured values, applies the
rules, and writes ``comparison.csv`` and ``comparison.md``.
"""
from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import subprocess

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import repro
from repro.errors import ReproError
from repro.files import atomic_write_text
from repro.verdicts import MARKS, OUTCOMES, Part, combine
from repro.store import experiment_csvs

PUBLISHED_COLUMNS = (
    "quantity", "condition", "n", "target", "value", "unit", "experiment",
    "location", "provenance", "read_from_figure", "note",
)
CLAIM_COLUMNS = ("id", "claim", "location", "experiments", "rule")
PROVENANCES = ("paper", "logs", "secondary", "derived", "figure")
VERDICTS = OUTCOMES
COMPARISON_COLUMNS = (
    "section", "key", "condition", "n", "target", "unit", "published", "provenance",
    "measured", "delta", "status", "location", "verdict", "evidence", "part", "says", "detectable",
)

INPUTS_FILE = "comparison_inputs.json"
OWN_OUTPUTS = ("comparison.csv", "seed_sets.csv", "seed_sets_values.csv")

QuantityKey = tuple[str, str, str, str]
"""``(quantity, condition, n, target)``: how a measured value finds its published one."""


class NotMeasured(Exception):
    """A claim's rule lacks runs it needs (for example one n of a grid); the verdict is 'not run'."""


@dataclass(frozen=True)
class PublishedValue:
    """One row of ``published.csv``: a number the paper (or its logs) reports."""

    quantity: str
    condition: str
    n: str
    target: str
    value: float
    text: str
    unit: str
    experiment: str
    location: str
    provenance: str
    read_from_figure: str
    note: str

    @property
    def key(self) -> QuantityKey:
        return (self.quantity, self.condition, self.n, self.target)


@dataclass(frozen=True)
class Claim:
    """One row of ``claims.csv``: a checkable claim and the rule the suite judges it by."""

    id: str
    claim: str
    location: str
    experiments: tuple[str, ...]
    rule: str


@dataclass(frozen=True)
class Verdict:
    """The judgement of one claim on the measured runs: its outcome and its parts (:mod:`repro.verdicts`)."""

    claim_id: str
    claim: str
    verdict: str
    evidence: str
    parts: tuple[Part, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass(frozen=True)
class QuantityRow:
    """A published value next to its measured counterpart.

    ``status`` is 'measured', 'not run' (the experiment that measures it has
    no results), or 'no analogue' (the suite does not measure this number, or
    not at this scale's grid). ``measured_on`` names what the measured value
    was measured on when that is not the published target itself (a scale's
    stand-in for the paper's dataset); the tables show it beside the target,
    as "clipart (mnist)", and comparison.csv in the row's ``evidence``, so the
    ``target`` column stays the published key. ``repeats`` names the published
    key of an earlier row that shows the same measurement (the same runs read
    the same way): the row is shown, marked, and not counted again.
    """

    published: PublishedValue
    measured: float | None
    status: str
    measured_on: str = ""
    repeats: str = ""

    @property
    def note(self) -> str:
        """What comparison.csv says of the measured side: the stand-in it was measured on, the row it repeats."""
        return "; ".join(([f"measured on {self.measured_on}"] if self.measured_on else [])
                         + ([f"the same measurement as {self.repeats}"] if self.repeats else []))

    @property
    def delta(self) -> float | None:
        """``measured - published``, when both exist."""
        if self.measured is None:
            return None
        return self.measured - self.published.value


@dataclass
class Comparison:
    """Everything ``repro compare`` reports for one paper at one scale."""

    paper: str
    scale: str
    results_dir: Path
    quantities: list[QuantityRow]
    verdicts: list[Verdict]
    figures: list[Path] = field(default_factory=list)
    run_summary: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def command(self) -> str:
        """The command that regenerates this comparison."""
        return f"repro compare {self.paper} --scale {self.scale}"

    def verdict_counts(self) -> dict[str, int]:
        """How many claims hold, fail, and were not run."""
        return {v: sum(1 for x in self.verdicts if x.verdict == v) for v in VERDICTS}

    def write(self) -> str:
        """Write comparison.csv, comparison.md and the digests of the files they were computed from
        (:data:`INPUTS_FILE`, which ``repro verify`` checks) into ``results_dir``; return the text to print."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.results_dir / "comparison.csv", self.csv_text())
        atomic_write_text(self.results_dir / "comparison.md", self.markdown())
        atomic_write_text(self.results_dir / INPUTS_FILE,
                          json.dumps(dict(command=self.command(), inputs=comparison_inputs(self.results_dir)),
                                     indent=2, sort_keys=True) + "\n")
        return self.text

    def csv_text(self) -> str:
        """Every published value beside its measured one, then each claim and each of its parts; the
        ``section`` column says 'quantity', 'claim' or 'part'. A quantity row's ``evidence`` says what its
        measured value was measured on and which row it repeats (:attr:`QuantityRow.note`), when either applies."""
        rows: list[dict[str, str]] = []
        for q in self.quantities:
            p = q.published
            rows.append({c: "" for c in COMPARISON_COLUMNS} | {
                "section": "quantity", "key": p.quantity, "condition": p.condition, "n": p.n,
                "target": p.target, "unit": p.unit, "published": p.text, "provenance": p.provenance,
                "measured": _raw(q.measured), "delta": _raw(q.delta), "status": q.status, "location": p.location,
                "evidence": q.note,
            })
        for v in self.verdicts:
            rows.append({c: "" for c in COMPARISON_COLUMNS} | {
                "section": "claim", "key": v.claim_id, "verdict": v.verdict, "evidence": v.evidence,
                "status": v.verdict,
            })
            for part in v.parts:
                rows.append({c: "" for c in COMPARISON_COLUMNS} | {
                    "section": "part", "key": v.claim_id, "part": part.label, "says": part.says,
                    "verdict": part.outcome, "status": part.outcome, "evidence": part.evidence,
                    "detectable": part.detectable,
                })
        return table_csv(COMPARISON_COLUMNS, rows)

    def measured_rows(self) -> list[tuple[PublishedValue, "QuantityRow", list[PublishedValue]]]:
        """The measured quantities, one row per key: the first published value, the row, and every published
        value of that key (the paper, its logs and secondary sources often give the same number)."""
        grouped: dict[QuantityKey, list[QuantityRow]] = {}
        for q in self.quantities:
            if q.status != "no analogue":
                grouped.setdefault(q.published.key, []).append(q)
        return [(rows[0].published, rows[0], [r.published for r in rows]) for rows in grouped.values()]

    def unmatched_count(self) -> int:
        """Published values this scale has no measured analogue for."""
        return sum(1 for q in self.quantities if q.status == "no analogue")

    def repeated_count(self) -> int:
        """Rows of :meth:`measured_rows` that repeat another row's measurement (not counted as quantities)."""
        return sum(1 for _, row, _ in self.measured_rows() if row.repeats)

    def compared_text(self) -> str:
        """How many distinct published quantities are compared, and how many rows repeat one of them."""
        measured = self.measured_rows()
        repeated = self.repeated_count()
        text = f"{len(measured) - repeated} published quantities are compared here"
        if repeated:
            text += (f" ({repeated} further rows show one of these measurements again under another published key, "
                     "marked 'same as', and are not counted)")
        return text

    def counts_text(self) -> str:
        counts = self.verdict_counts()
        return ", ".join(f"{counts[v]} {_plural(v, counts[v])}" for v in VERDICTS if counts[v] or v in ("holds", "fails"))

    def markdown(self) -> str:
        """comparison.md: the claims with their parts first, then the figures, the quantities, the run."""
        lines = [
            f"# {self.paper}: published vs measured (scale `{self.scale}`)",
            "",
            f"Regenerate with `{self.command()}`.",
            "",
            f"**Claims: {self.counts_text()}** (of {len(self.verdicts)}). A claim holds when every part holds, fails "
            "when a part fails beyond noise, and is inconclusive when a part cannot be told from noise at this "
            "scale; each part says what the paper says, the rule, the numbers (estimate ± 2 standard errors) and, "
            "when inconclusive, the smallest effect this scale could detect.",
            "",
            "## Claims",
            "",
        ]
        for v in self.verdicts:
            lines += [f"### {v.claim_id}: **{v.verdict}**", "", _md_cell(v.claim), ""]
            if v.parts:
                lines += ["| part | the paper says (rule) | outcome | numbers | detectable |", "|---|---|---|---|---|"]
                lines += [f"| ({p.label}) | {_md_cell(p.says)} | {MARKS[p.outcome]} {p.outcome} | {_md_cell(p.evidence)} "
                          f"| {_md_cell(p.detectable)} |" for p in v.parts]
            else:
                lines.append(_md_cell(v.evidence))
            lines.append("")
        lines += ["## Figures", ""]
        if self.figures:
            lines += [f"![{f.stem}]({f.name})" for f in self.figures]
        else:
            lines.append("No figure: none of the experiments a figure needs has results.")
        measured = self.measured_rows()
        lines += [
            "",
            "## Quantities",
            "",
            f"{self.compared_text()} (measured, or 'not run' when their experiment "
            f"has no results); {self.unmatched_count()} published values have no measured analogue at this scale "
            "(every row is in comparison.csv). `delta` = measured - "
            f"published. Keys, units and sources are documented in papers/{self.paper}/README.md.",
            "",
            "| quantity | condition | n | target | published | source | measured | delta | location |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for first, row, published in measured:
            values = " / ".join(dict.fromkeys(p.text for p in published))
            sources = ", ".join(dict.fromkeys(p.provenance for p in published))
            locations = "; ".join(dict.fromkeys(p.location for p in published))
            lines.append(f"| {first.quantity} | {first.condition} | {first.n} | {_target_cell(row)} | {values} "
                         f"| {sources} | {_measured_cell(row)} | {_fmt(row.delta, first.unit, signed=True)} "
                         f"| {locations} |")
        lines += ["", "## Run", "", *_run_lines(self.run_summary)]
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines) + "\n"

    @property
    def text(self) -> str:
        """What ``repro compare`` prints: the claims (outcome, claim, parts) first, then the measured quantities."""
        out = [f"{self.paper} ({self.scale}): {self.counts_text()} of {len(self.verdicts)} claims"
               f"   [{self.command()}]", ""]
        for v in self.verdicts:
            out.append(f"{v.claim_id:<6} {v.verdict.upper():<14} {_shorten(v.claim, 100)}")
            for p in v.parts:
                out.append(f"{'':21}({p.label}) {MARKS[p.outcome]} {_shorten(p.evidence, 110)}")
            if not v.parts:
                out.append(f"{'':21}{_shorten(v.evidence, 114)}")
        measured = self.measured_rows()
        out += ["", f"Quantities: {self.compared_text()} ({self.unmatched_count()} "
                    "published values have no analogue at this scale; all are in comparison.csv)"]
        table = [("quantity", "condition", "n", "target", "published", "measured", "delta")]
        for first, row, published in measured:
            table.append((first.quantity, first.condition, first.n, _target_cell(row),
                          " / ".join(dict.fromkeys(p.text for p in published)), _measured_cell(row),
                          _fmt(row.delta, first.unit, signed=True)))
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
        out += ["", f"written: {self.results_dir / 'comparison.md'}, {self.results_dir / 'comparison.csv'}"]
        out += [f"figure: {f}" for f in self.figures]
        return "\n".join(out)


def repo_root() -> Path:
    """The repository root: the parent of the ``repro`` package directory."""
    return Path(repro.__file__).resolve().parent.parent


def paper_dir(paper: str, papers_root: Path | None = None) -> Path:
    """``<papers_root>/<paper>``, by default ``<repo root>/papers/<paper>``."""
    root = papers_root if papers_root is not None else repo_root() / "papers"
    path = Path(root) / paper
    if not path.is_dir():
        raise ReproError(f"no published numbers for paper {paper!r}: {path} does not exist")
    return path


def load_published(paper: str, papers_root: Path | None = None) -> list[PublishedValue]:
    """Read ``papers/<paper>/published.csv``; every value must be a number."""
    path = paper_dir(paper, papers_root) / "published.csv"
    rows = _read_table(path, PUBLISHED_COLUMNS)
    out = []
    for line, row in rows:
        try:
            value = float(row["value"])
        except ValueError:
            raise ReproError(f"{path}:{line}: value {row['value']!r} is not a number") from None
        if row["provenance"] not in PROVENANCES:
            raise ReproError(f"{path}:{line}: provenance {row['provenance']!r} is not one of {PROVENANCES}")
        out.append(PublishedValue(
            quantity=row["quantity"], condition=row["condition"], n=row["n"], target=row["target"],
            value=value, text=row["value"], unit=row["unit"], experiment=row["experiment"],
            location=row["location"], provenance=row["provenance"],
            read_from_figure=row["read_from_figure"], note=row["note"],
        ))
    return out


def load_claims(paper: str, papers_root: Path | None = None) -> list[Claim]:
    """Read ``papers/<paper>/claims.csv`` (``experiments`` is ';'-separated)."""
    path = paper_dir(paper, papers_root) / "claims.csv"
    return [
        Claim(id=row["id"], claim=row["claim"], location=row["location"],
              experiments=tuple(e for e in row["experiments"].split(";") if e), rule=row["rule"])
        for _, row in _read_table(path, CLAIM_COLUMNS)
    ]


@dataclass(frozen=True)
class MergedRuns:
    """The runs of one experiment after merging its files: one row per run_key."""

    rows: list[dict[str, str]]
    files: list[Path]
    duplicates: int

    def describe(self) -> str:
        names = ", ".join(f.name for f in self.files)
        dropped = f"; {self.duplicates} duplicate row(s) dropped" if self.duplicates else ""
        return f"{len(self.rows)} runs from {names}{dropped}"


def comparison_inputs(results_dir: Path) -> dict[str, str]:
    """``{file name: sha256}`` of what a comparison of ``results_dir`` reads: every CSV beside
    ``comparison.csv`` (experiment files and their shards; not the comparison's own ``comparison*.csv`` and
    seed-set tables) and ``run_summary.json``."""
    results_dir = Path(results_dir)
    paths = [p for p in results_dir.glob("*.csv") if p.name not in OWN_OUTPUTS and not p.name.startswith("comparison")]
    paths += [p for p in [results_dir / "run_summary.json"] if p.is_file()]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)}


def read_experiment(results_dir: Path, experiment: str) -> MergedRuns | None:
    """All runs of one experiment, merged over the main file and its shards.

    Rows are deduplicated by ``run_key``; the first occurrence wins (main file
    first, then shards in order). Returns None when the experiment has no file.
    """
    files = experiment_csvs(Path(results_dir), experiment)
    if not files:
        return None
    seen: dict[str, dict[str, str]] = {}
    total = 0
    for path in files:
        for line, row in _read_table(path, ("run_key",)):
            if not row["run_key"]:
                raise ReproError(f"{path}:{line}: empty run_key")
            total += 1
            seen.setdefault(row["run_key"], row)
    return MergedRuns(list(seen.values()), files, total - len(seen))


def read_experiments(results_dir: Path, experiments: Iterable[str]) -> dict[str, MergedRuns]:
    """``{experiment: merged runs}`` for the experiments that have results; missing ones are left out."""
    found = {}
    for experiment in experiments:
        merged = read_experiment(results_dir, experiment)
        if merged is not None:
            found[experiment] = merged
    return found


def read_paper_results(results_dir: Path, paper: str, experiments: Sequence[str], scale: str) -> dict[str, MergedRuns]:
    """:func:`read_experiments`, or a :class:`ReproError` saying which command to run when none has results."""
    merged = read_experiments(results_dir, experiments)
    if not merged:
        raise ReproError(f"no {paper} results in {results_dir} (expected one of "
                         f"{', '.join(e + '.csv' for e in experiments)}); run `repro run {paper} --scale {scale}` first")
    return merged


def number(row: Mapping[str, str], column: str) -> float:
    """A numeric CSV cell; NaN when empty."""
    text = row.get(column, "")
    return float(text) if text not in ("", None) else math.nan


def quantity_table(
    published: Sequence[PublishedValue],
    measured: Mapping[QuantityKey, float],
    experiments_run: Iterable[str],
) -> list[QuantityRow]:
    """Pair every published value with the measured value under the same key.

    A row's experiment (published.csv column) decides the status when nothing
    was measured: 'not run' if that experiment has no results, else 'no analogue'.
    """
    ran = set(experiments_run)
    rows = []
    for p in published:
        value = measured.get(p.key)
        if value is not None and math.isfinite(value):
            rows.append(QuantityRow(p, float(value), "measured"))
        elif p.experiment and p.experiment not in ran:
            rows.append(QuantityRow(p, None, "not run"))
        else:
            rows.append(QuantityRow(p, None, "no analogue"))
    return rows


Rule = Callable[[Any], Sequence[Part]]
"""A claim rule: takes the paper's measured data, returns the claim's judged parts (:mod:`repro.verdicts`)."""


def judge_claims(
    claims: Sequence[Claim], rules: Mapping[str, Rule], data: Any, experiments_run: Iterable[str]
) -> list[Verdict]:
    """Apply each claim's rule; 'not run' when an experiment it needs is missing or the rule raises NotMeasured."""
    ids = [c.id for c in claims]
    if set(ids) != set(rules):
        raise ValueError(f"claims.csv ids {sorted(ids)} do not match the implemented rules {sorted(rules)}")
    ran = set(experiments_run)
    verdicts = []
    for claim in claims:
        missing = [e for e in claim.experiments if e not in ran]
        if missing:
            verdicts.append(Verdict(claim.id, claim.claim, "not run",
                                    "no results for " + ", ".join(missing)))
            continue
        try:
            parts = tuple(rules[claim.id](data))
        except NotMeasured as err:
            verdicts.append(Verdict(claim.id, claim.claim, "not run", str(err)))
            continue
        outcome = combine(parts)
        verdicts.append(Verdict(claim.id, claim.claim, outcome, summary(parts), parts))
    return verdicts


def summary(parts: Sequence[Part]) -> str:
    """One line of evidence for a claim: each part's mark and numbers."""
    return "; ".join(f"({p.label}) {MARKS[p.outcome]} {p.evidence}" for p in parts)


def load_run_summary(results_dir: Path) -> dict[str, Any] | None:
    """``run_summary.json`` written by ``repro run`` (command, started, finished, seconds, environment), if present."""
    path = Path(results_dir) / "run_summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReproError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None


def environment_snapshot() -> dict[str, str]:
    """Versions and machine facts worth recording next to a result.

    Keys: python, tensorflow, keras, numpy, platform, cpu_count, git_commit.
    Package versions come from the installed metadata (TensorFlow is not imported).
    """
    return {
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "git_commit": _git_commit(),
    }


def _version(*distributions: str) -> str:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def _git_commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo_root(),
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def _run_lines(summary: Mapping[str, Any] | None) -> list[str]:
    if summary is None:
        env = environment_snapshot()
        return ["No run_summary.json next to the results; environment at compare time:", "",
                "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in env.items()]]
    lines = ["| | |", "|---|---|"]
    for key in ("command", "started", "finished", "seconds"):
        if key in summary:
            value = summary[key]
            lines.append(f"| {key} | `{value}` |" if key == "command" else f"| {key} | {value} |")
    for key, value in (summary.get("environment") or {}).items():
        lines.append(f"| {key} | {value} |")
    return lines


def _read_table(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ReproError(f"{path}: missing column(s) {', '.join(missing)}")
            return [(i + 2, row) for i, row in enumerate(reader)]
    except FileNotFoundError:
        raise ReproError(f"{path} does not exist") from None


def table_csv(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _raw(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _fmt(value: float | None, unit: str, signed: bool = False) -> str:
    if value is None:
        return ""
    sign = "+" if signed else ""
    digits = {"fraction": 4, "pct": 2, "loss": 2}.get(unit)
    if digits is None:
        return f"{value:{sign}g}"
    return f"{round(value, digits) + 0.0:{sign}.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def _measured_cell(row: QuantityRow) -> str:
    cell = _fmt(row.measured, row.published.unit) if row.status == "measured" else row.status
    return f"{cell} (same as {row.repeats})" if row.repeats else cell


def _target_cell(row: QuantityRow) -> str:
    """The published target, with what the value was measured on beside it: 'clipart (mnist)'."""
    return f"{row.published.target} ({row.measured_on})" if row.measured_on else row.published.target


def _plural(outcome: str, count: int) -> str:
    """'1 holds' / '2 hold', '1 fails' / '2 fail'; the other outcomes read the same."""
    return {"holds": "hold", "fails": "fail"}.get(outcome, outcome) if count != 1 else outcome


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def seed_set_agreement(paper: str, scale: str, seed_sets: Sequence[int], comparisons: Sequence[Comparison],
                       into: Path) -> str:
    """Per claim, the verdict under each seed set and whether they agree; written to ``seed_sets.md`` and
    ``seed_sets.csv`` in ``into`` (the first set's results). A verdict that differs between seed sets is a
    property of the seeds, not of the paper's claim: it is reported as such."""
    header = ["claim"] + [f"seed set {s}" for s in seed_sets] + ["agree"]
    rows = []
    for verdicts in zip(*(c.verdicts for c in comparisons)):
        outcomes = [v.verdict for v in verdicts]
        parts = [{p.label: p.outcome for p in v.parts} for v in verdicts]
        flipped = sorted({label for label in parts[0] if len({p.get(label) for p in parts}) > 1})
        agree = "yes" if len(set(outcomes)) == 1 and not flipped else (
            "no" + (f" (parts {', '.join(flipped)} differ)" if flipped else ""))
        rows.append([verdicts[0].claim_id] + outcomes + [agree])
    same = sum(r[-1] == "yes" for r in rows)
    command = f"repro compare {paper} --scale {scale} --seed-sets {','.join(map(str, seed_sets))}"
    lines = [f"# {paper} ({scale}): verdicts under {len(seed_sets)} independent seed sets", "",
             f"Regenerate with `{command}` after `repro run {paper} --scale {scale} --seed-set S` for each set.", "",
             f"{same} of {len(rows)} claims get the same verdict, part by part, under every seed set.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    atomic_write_text(Path(into) / "seed_sets.md", "\n".join(lines) + "\n")
    atomic_write_text(Path(into) / "seed_sets.csv", table_csv(header, [dict(zip(header, r)) for r in rows]))
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    table = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + rows]
    return "\n".join([f"Seed sets {','.join(map(str, seed_sets))}: {same} of {len(rows)} claims agree", *table,
                      f"written: {Path(into) / 'seed_sets.md'}"])
