"""Papers -> experiments -> runs, and the hyper-parameter searches their protocols call for.

Each paper subpackage declares a :class:`Paper` named ``PAPER_ENTRY`` in its
``protocol`` module: its experiments (with the CSV columns of their rows),
its scales, the function that lists every run of the protocol at a scale
(:mod:`repro.runs`: typed descriptions, dependencies included), its
comparison, and the hyper-parameter searches its protocol calls for
(:class:`Search`, run by ``repro tune`` and by the grid's choice runs).
The registry imports a paper lazily, so ``repro list`` stays fast.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from repro.errors import BadArgument

PAPER_MODULES = {
    "yosinski2014": "repro.yosinski2014.protocol",
    "neyshabur2020": "repro.neyshabur2020.protocol",
    "liu2019": "repro.liu2019.protocol",
    "chen2022": "repro.chen2022.protocol",
}
# Studies across papers: declared like a paper (runs, experiments, comparison), free to read the papers' runs and
# measures; no paper and no shared module imports one.
STUDY_MODULES = {
    "atlas": "repro.atlas.protocol",
}
IDENTITY = ("paper", "experiment", "scale", "run_key")


@dataclass(frozen=True)
class Experiment:
    """One experiment of a paper: its runs share a CSV, whose columns are
    ``IDENTITY + axes + columns``.

    ``axes`` name what places a run in the grid (from the run's axes);
    ``columns`` what it measured (from its result, under the result key
    ``rename`` gives, where the paper's column name differs from the
    executor's: ``{"test_acc_final": "acc_final"}``).
    """

    name: str
    description: str
    scales: tuple[str, ...]
    axes: tuple[str, ...]
    columns: tuple[str, ...]
    rename: dict = field(default_factory=dict)
    default: bool = True

    @property
    def fields(self) -> tuple[str, ...]:
        return IDENTITY + self.axes + self.columns

    def row(self, paper: str, scale: str, run, result: dict) -> dict:
        """The CSV row of a finished run."""
        values = dict(run.axes)
        row = dict(paper=paper, experiment=self.name, scale=scale, run_key=run.key)
        row.update({axis: values.get(axis, "") for axis in self.axes})
        row.update({column: result.get(self.rename.get(column, column), "") for column in self.columns})
        return row


@dataclass(frozen=True)
class Objective:
    """What a search maximises or minimises: the mean of ``metric`` over a trial's runs.

    ``split`` names the data the metric is measured on, so a protocol that
    selects on the test set says so; ``note`` gives the protocol's reason.
    """

    metric: str  # a key of the runs' results (result.json)
    direction: str  # "max" or "min"
    split: str  # "validation", "test", ...
    note: str = ""


@dataclass(frozen=True)
class Search:
    """One hyper-parameter search of a protocol, declared as data.

    ``trials`` maps every candidate value of ``hparam`` (in the protocol's
    order: ties go to the first) to the run keys of the grid that train with
    it; a trial's score is the :class:`Objective` over those runs. ``arm`` is
    ``"fine-tuning"`` or ``"from scratch"``; ``condition`` the paper's own
    name of the arm (Neyshabur's P-T / RI-T). Its ``name`` is also the key of
    the grid's choice run, which makes the choice inside ``repro run``.
    """

    name: str
    experiment: str
    arm: str
    condition: str
    target: str
    hparam: str
    trials: dict  # value -> tuple of run keys
    objective: Objective

    @property
    def values(self) -> tuple:
        return tuple(self.trials)

    def declaration(self) -> dict:
        """The search as JSON-ready data (what ``tuned.json`` records and checks for staleness)."""
        return dict(experiment=self.experiment, arm=self.arm, condition=self.condition, target=self.target,
                    hparam=self.hparam, values=list(self.values),
                    trials={str(v): list(keys) for v, keys in self.trials.items()},
                    objective=dict(metric=self.objective.metric, direction=self.objective.direction,
                                   split=self.objective.split, note=self.objective.note))

    def describe(self) -> str:
        return f"{self.hparam} in {list(self.values)}, {self.objective.direction} mean {self.objective.metric}"


def no_searches(scale: str) -> tuple[Search, ...]:
    """The searches of a protocol that fixes every hyper-parameter: none."""
    return ()


def lazy_compare(module: str) -> Callable:
    """``(scale_dir, scale) -> module.compare(scale_dir, scale)``, importing ``module`` (figures,
    matplotlib) only when a comparison is asked for, so ``repro list`` and ``repro run`` stay light."""
    return lazy_function(module, "compare")


def lazy_function(module: str, name: str) -> Callable:
    """``module.name``, its module imported only when it is called."""

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def experiments_of(descriptions: dict[str, str], scales: dict, axes: dict[str, tuple[str, ...]],
                   columns: dict[str, tuple[str, ...]], rename: dict[str, dict] | None = None,
                   not_default: Sequence[str] = ()) -> tuple[Experiment, ...]:
    """Experiments from a protocol's tables: ``{name: description}``, ``{scale name: scale}`` (each with
    ``.experiments``), and per experiment its axes, columns and renames."""
    return tuple(
        Experiment(name, description, tuple(s.name for s in scales.values() if name in s.experiments),
                   axes[name], columns[name], (rename or {}).get(name, {}), name not in not_default)
        for name, description in descriptions.items()
    )


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    experiments: tuple[Experiment, ...]
    scales: tuple[str, ...]
    runs: Callable[[str, int], Sequence[Any]]  # (scale, seed set) -> every run of the protocol, dependencies included
    compare: Callable  # (scale_dir: Path, scale: str) -> comparison with .text
    searches: Callable[[str], tuple[Search, ...]] = no_searches  # scale -> the protocol's searches
    # (scale_dirs, scale, seed_sets) -> text: the paper's measured values under each seed set side by side, written
    # to seed_sets_values.md / .csv in the first set's directory by `repro compare --seed-sets` (None: none)
    across_seed_sets: Callable | None = None
    notes: dict = field(default_factory=dict)

    def experiment(self, name: str) -> Experiment:
        for experiment in self.experiments:
            if experiment.name == name:
                return experiment
        raise BadArgument(f"unknown experiment {name!r} for {self.key}; accepted: "
                          + ", ".join(e.name for e in self.experiments))

    def grid(self, experiment: str, scale: str, seed_set: int = 0) -> list:
        """The runs of ``experiment`` at ``scale``, in the protocol's order."""
        return [r for r in self.runs(scale, seed_set) if r.experiment == experiment]

    def experiment_names(self, scale: str) -> list[str]:
        return [e.name for e in self.experiments if scale in e.scales]

    def resolve_experiments(self, names: list[str] | None, scale: str) -> list[str]:
        """The experiments to run: the named ones, or every default one of ``scale``."""
        if scale not in self.scales:
            raise BadArgument(f"unknown scale {scale!r} for {self.key}; accepted: {', '.join(self.scales)}")
        available = self.experiment_names(scale)
        if not names:
            return [e.name for e in self.experiments if scale in e.scales and e.default]
        for name in names:
            if name not in available:
                known = [e for e in self.experiments if e.name == name]
                if known:
                    raise BadArgument(f"experiment {name!r} of {self.key} runs at scale "
                                      f"{', '.join(known[0].scales)}, not {scale}; use --scale "
                                      f"{known[0].scales[0]}, or one of: {', '.join(available)}")
                raise BadArgument(
                    f"unknown experiment {name!r} for {self.key} at scale {scale}; accepted: {', '.join(available)}"
                )
        return list(names)


def resolve_searches(paper: Paper, names: list[str] | None, scale: str) -> list[Search]:
    """The searches of the named experiments of ``paper`` (default: all of them) at ``scale``.

    :class:`BadArgument` for an unknown scale or experiment, and for an
    experiment (or a paper) whose protocol declares no search, naming the
    experiments that do have one.
    """
    paper.resolve_experiments(names, scale)  # checks the scale and the names
    searches = paper.searches(scale)
    missing = [n for n in names or () if not any(s.experiment == n for s in searches)]
    if missing or not searches:
        what = " ".join([paper.key] + missing)
        raise BadArgument(f"no hyper-parameter search in the protocol of {what} at scale {scale}; "
                          f"experiments with searches: {', '.join(searched_experiments(scale)) or 'none'}")
    return [s for s in searches if not names or s.experiment in names]


def select_searches(searches: Sequence[Search], only: str | None) -> list[Search]:
    """The searches whose name matches ``only`` (a regular expression, ``re.search``); all without it."""
    from repro.plan import only_pattern

    pattern = only_pattern(only)
    chosen = [s for s in searches if pattern is None or pattern.search(s.name)]
    if not chosen:
        raise BadArgument(f"--only {only!r} matches no search; accepted: {', '.join(s.name for s in searches)}")
    return chosen


def searched_experiments(scale: str) -> list[str]:
    """``"<paper> <experiment>"`` for every experiment of every paper that declares a search at ``scale``."""
    found = []
    for key in paper_keys():
        paper = get_paper(key)
        if scale in paper.scales:
            found += [f"{key} {e}" for e in dict.fromkeys(s.experiment for s in paper.searches(scale))]
    return found


def get_paper(key: str) -> Paper:
    """The registered paper or study ``key``; :class:`BadArgument` naming the accepted keys otherwise."""
    modules = {**PAPER_MODULES, **STUDY_MODULES}
    if key not in modules:
        raise BadArgument(f"unknown paper {key!r}; accepted: {', '.join(sorted(modules))}")
    return importlib.import_module(modules[key]).PAPER_ENTRY


def register(key: str, module: str) -> None:
    """Register a paper whose ``PAPER_ENTRY`` lives in ``module`` (a fifth paper, a test's toy paper)."""
    PAPER_MODULES[key] = module


def paper_keys() -> list[str]:
    return sorted(PAPER_MODULES)
