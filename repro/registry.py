"""Papers -> experiments -> run grids.

Each paper subpackage exposes a :class:`Paper` named ``PAPER`` in its
``paper`` module: its experiments, scales, grid declaration, the function
that executes one run, the CSV columns of its rows, and its comparison.
The registry imports a paper lazily, so ``repro list`` stays fast.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from repro.errors import BadArgument

PAPER_MODULES = {
    "yosinski2014": "repro.yosinski2014.paper",
    "neyshabur2020": "repro.neyshabur2020.paper",
    "liu2019": "repro.liu2019.paper",
    "chen2022": "repro.chen2022.paper",
}


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    scales: tuple[str, ...]
    default: bool = True


def lazy_compare(module: str) -> Callable:
    """``(scale_dir, scale) -> module.compare(scale_dir, scale)``, importing ``module`` (figures,
    matplotlib) only when a comparison is asked for, so ``repro list`` and ``repro run`` stay light."""

    def compare(scale_dir, scale: str):
        return importlib.import_module(module).compare(scale_dir, scale)

    return compare


def declare_experiments(descriptions: dict[str, str], scales: dict) -> tuple[Experiment, ...]:
    """Experiments from a protocol's ``{name: description}`` and ``{scale name: scale}`` (each with ``.experiments``)."""
    return tuple(
        Experiment(name, description, tuple(s.name for s in scales.values() if name in s.experiments))
        for name, description in descriptions.items()
    )


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    experiments: tuple[Experiment, ...]
    scales: tuple[str, ...]
    grid: Callable  # (experiment: str, scale: str) -> list[RunSpec]
    execute: Callable  # (spec: RunSpec, context: RunContext) -> dict of metrics
    row_fields: "tuple[str, ...] | dict[str, tuple[str, ...]]"  # one for all experiments, or per experiment
    compare: Callable  # (scale_dir: Path, scale: str) -> comparison with .text
    notes: dict = field(default_factory=dict)

    def fields(self, experiment: str) -> tuple[str, ...]:
        """The CSV columns of ``experiment``'s rows."""
        return self.row_fields[experiment] if isinstance(self.row_fields, dict) else self.row_fields

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
                raise BadArgument(
                    f"unknown experiment {name!r} for {self.key} at scale {scale}; accepted: {', '.join(available)}"
                )
        return list(names)


def get_paper(key: str) -> Paper:
    """The registered paper ``key``; :class:`BadArgument` naming the accepted keys otherwise."""
    if key not in PAPER_MODULES:
        raise BadArgument(f"unknown paper {key!r}; accepted: {', '.join(sorted(PAPER_MODULES))}")
    return importlib.import_module(PAPER_MODULES[key]).PAPER


def paper_keys() -> list[str]:
    return sorted(PAPER_MODULES)
