"""From a paper's declared runs to an ordered plan: selection, shards, dependencies.

* ``--only REGEX`` keeps the runs whose key matches (``re.search``);
  ``--shard I/N`` the runs whose key hashes to ``I - 1`` modulo ``N``:
  disjoint, covering, and stable under filtering and grid edits.
* :func:`resolve` adds, before the selected runs, every run they need
  (:meth:`repro.runs.Run.needs`), transitively, that is not finished with the
  files its dependents read; the order is a topological order that keeps the
  grid's own order where it can. Nothing calls back into a paper while the
  plan runs: what a run needs is in its description.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from repro.errors import BadArgument, ReproError
from repro.runs import Need, Run, derive_seed, ref_keys


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
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise BadArgument(f"bad --shard {text!r}: expected I/N with 1 <= I <= N, e.g. 3/8")
        return cls(int(match[1]), int(match[2]))

    def owns(self, run_key: str) -> bool:
        return self.count == 1 or derive_seed("shard", run_key) % self.count == self.index - 1

    @property
    def pair(self) -> tuple[int, int]:
        return self.index, self.count


def only_pattern(only: str | None) -> "re.Pattern | None":
    """The compiled ``--only`` expression (None without one); :class:`BadArgument` if it does not compile."""
    try:
        return re.compile(only) if only else None
    except re.error as exc:
        raise BadArgument(f"bad --only {only!r}: {exc}") from exc


def select(runs: Iterable[Run], only: str | None, shard: Shard = Shard()) -> list[Run]:
    """Runs whose key matches ``only`` (a regular expression, ``re.search``) and that ``shard`` owns."""
    pattern = only_pattern(only)
    return [r for r in runs if (pattern is None or pattern.search(r.key)) and shard.owns(r.key)]


def check_only(runs: Sequence[Run], only: str | None, where: str) -> None:
    """:class:`BadArgument` when ``--only`` selects none of ``runs`` (``where`` names the experiments and scale)."""
    if only and not select(runs, only):
        examples = ", ".join(r.key for r in list(runs)[:3])
        raise BadArgument(f"--only {only!r} matches no run of {where}; run keys look like {examples} "
                          "(repro run --dry-run lists them)")


@dataclass(frozen=True)
class Step:
    """One run of a plan: ``selected`` (it gets a CSV row) or a dependency; ``files`` its dependents read."""

    run: Run
    selected: bool
    files: tuple[str, ...] = ()


def check_graph(runs: Sequence[Run]) -> dict[str, Run]:
    """Index ``runs`` by key, checking keys are unique and every need names a declared run."""
    index: dict[str, Run] = {}
    for run in runs:
        if run.key in index and index[run.key] != run:
            raise ReproError(f"two different runs are declared with the key {run.key!r}")
        index[run.key] = run
    for run in runs:
        for need in run.needs():
            if need.key not in index:
                raise ReproError(f"run {run.key} needs {need.key!r}, which no experiment of the scale declares")
    return index


def resolve(selected: Sequence[Run], index: dict[str, Run], satisfied: Callable[[Need], bool]) -> list[Step]:
    """The plan: ``selected`` runs preceded by the dependencies they need that are not ``satisfied``.

    ``satisfied(need)`` says whether run ``need.key`` is finished with
    ``need.files`` on disk; a satisfied need is not expanded further (nor is
    a selected run that has finished). Files needed from a run that reuses
    another's training (``same_as``) are needed from the runs it may reuse.
    A dependency cycle is an error naming the cycle.
    """
    order: list[str] = []
    files: dict[str, set[str]] = {}
    visiting: list[str] = []
    chosen = {r.key for r in selected}

    def visit(need: Need) -> None:
        key = need.key
        if key in visiting:
            cycle = visiting[visiting.index(key):] + [key]
            raise ReproError("dependency cycle: " + " -> ".join(cycle))
        known = files.setdefault(key, set())
        first = key not in order and key not in visiting
        if not first and set(need.files) <= known:
            return
        known.update(need.files)
        visiting.append(key)
        run = index[key]
        if not (key in chosen and satisfied(Need(key))):
            for sub in run.needs():
                if not satisfied(sub):
                    visit(sub)
            if need.files and getattr(run, "same_as", None) is not None:
                for candidate in ref_keys(run.same_as):
                    reused = Need(candidate, need.files)
                    if not satisfied(reused):
                        visit(reused)
        visiting.pop()
        if key not in order:
            order.append(key)

    for run in selected:
        visit(Need(run.key))
    return [Step(index[key], key in chosen, tuple(sorted(files[key]))) for key in order]


def dependencies(run: Run, index: dict[str, Run]) -> list[str]:
    """Every run ``run`` needs, transitively, in dependency order (for ``--dry-run``)."""
    seen: list[str] = []

    def visit(key: str) -> None:
        for need in index[key].needs():
            if need.key not in seen:
                visit(need.key)
                seen.append(need.key)

    visit(run.key)
    return seen
