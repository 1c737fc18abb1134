"""A run is data: the typed description of every cell of every grid, built before anything runs.

A paper's ``protocol.py`` declares each run completely:

* :class:`TrainRun` -- train one network: its ``model`` (a model spec with
  ``build(seed)`` and ``modules(model)``), its ``data`` (a data spec with
  ``load(data_dir)``), its :class:`~repro.schedule.Schedule`, an optional
  :class:`Transfer` from another run, its :class:`Seeds`, and what the
  training keeps (epoch checkpoints, a per-step probe).
* :class:`AnalysisRun` -- compute something from finished runs: a function
  named by ``"module:function"`` (:func:`analysis_function`), its input runs
  and its parameters; it trains nothing.

Every run carries a stable, readable ``key`` (e.g.
``transfer-ft0A0B_1_3``), the ``experiment`` whose CSV gets its row (None:
a run that exists only because others need it, such as a pre-trained
source), and its named ``axes``: the columns that place it in the grid
(``condition``, ``n``, ``target``, ``block``, ``source_epoch``...), one
meaning per name. :meth:`Run.needs` lists the runs it depends on, each with
the files it reads from them, so the runner can order a grid and show it
before the first step (:mod:`repro.plan`).

References that are resolved only when a run starts, because they depend on
a search's outcome: :class:`~repro.schedule.Chosen` (a chosen value) and
:class:`ChosenRun` (the run trained at the chosen value).
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable, Iterable

from repro.schedule import Chosen, Schedule

MODES = ("frozen", "finetune", "random_frozen")
ALL_BUT_LAST = -1  # Transfer.n: every module but the last (the classifier)

# What a dependent reads from a run besides its result.json.
WEIGHTS = "weights"  # the final weights
EPOCHS = "epochs"  # the checkpoint of every epoch (epoch 0 = the initialisation)


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (run key, purpose): sha256 of their joined text."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def seed_salt(seed_set: int) -> tuple[str, ...]:
    """What a protocol appends to every seed derivation for seed set ``seed_set`` (``repro run --seed-set``):
    nothing for set 0, whose seeds are the reference results', and ``"seed-set-<S>"`` otherwise, which
    draws an independent set of every seed of the grid."""
    if seed_set < 0:
        raise ValueError(f"seed set {seed_set} must be >= 0")
    return () if seed_set == 0 else (f"seed-set-{seed_set}",)


def source_suffix(seed_set: int) -> str:
    """The key suffix of a shared source trained under seed set ``seed_set`` (none for set 0)."""
    return "" if seed_set == 0 else f"-ss{seed_set}"


@dataclass(frozen=True)
class Seeds:
    """The per-purpose seeds of a training run: weight initialisation and data order (batches, mixup, crops)."""

    init: int
    data: int


@dataclass(frozen=True)
class ChosenRun:
    """The run of ``options`` (value -> run key) whose value the search ``search`` chose."""

    search: str
    options: tuple[tuple[Any, str], ...]

    def keys(self) -> tuple[str, ...]:
        return tuple(key for _, key in self.options)

    def describe(self) -> str:
        return f"{'|'.join(self.keys())} (chosen by {self.search})"


RunRef = "str | ChosenRun"


def ref_keys(ref: "str | ChosenRun | None") -> tuple[str, ...]:
    """Every run key a reference may resolve to."""
    if ref is None:
        return ()
    return ref.keys() if isinstance(ref, ChosenRun) else (ref,)


@dataclass(frozen=True)
class Transfer:
    """Start from another run's weights: the first ``n`` modules copied.

    ``source`` is a run key (None for ``random_frozen``, which keeps the
    fresh random initialisation of the first ``n`` modules and freezes
    them); ``checkpoint`` is ``"final"``, ``"best"`` (the epoch of the best
    evaluation) or an epoch number (0 = the source's initialisation).
    ``mode``: ``frozen`` (AnB, BnB), ``finetune`` (AnB+, P-T) or
    ``random_frozen``. ``n = ALL_BUT_LAST`` copies every module but the
    classifier.
    """

    source: "str | None"
    n: int
    mode: str
    checkpoint: "str | int" = "final"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown transfer mode {self.mode!r}; accepted: {', '.join(MODES)}")
        if (self.source is None) != (self.mode == "random_frozen"):
            raise ValueError("random_frozen takes no source; the other modes need one")

    def describe(self) -> str:
        n = "all-1" if self.n == ALL_BUT_LAST else str(self.n)
        source = f" from {self.source}" + (f"@{self.checkpoint}" if self.checkpoint != "final" else "")
        return f"{self.mode} n={n}" + (source if self.source else "")

    def files(self) -> tuple[str, ...]:
        return (WEIGHTS,) if self.checkpoint == "final" else (EPOCHS,)


@dataclass(frozen=True)
class Need:
    """A dependency: run ``key`` must be finished, with ``files`` (:data:`WEIGHTS`, :data:`EPOCHS`) kept."""

    key: str
    files: tuple[str, ...] = ()


def _axes(values: dict) -> tuple[tuple[str, Any], ...]:
    return tuple(values.items())


@dataclass(frozen=True, kw_only=True)
class Run:
    """What every run has: key, experiment (None: no CSV row), named axes, and its home.

    ``home`` is ``"<paper>/<scale directory>"`` for a run that belongs to
    another paper's tree, where that paper's own command trains and finds it
    (a study that reads a paper's runs declares them so and trains none twice);
    None: the run lives in the tree of the command that declares it.
    """

    key: str
    experiment: "str | None"
    axes: tuple[tuple[str, Any], ...] = ()
    home: "str | None" = None

    def axis(self, name: str, default: Any = "") -> Any:
        return dict(self.axes).get(name, default)

    def needs(self) -> tuple[Need, ...]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def to_config(self) -> dict:
        """The full description as JSON-ready data (what ``--dry-run --json`` prints and config.json records;
        ``home`` only where the run belongs to another paper's tree)."""
        record = {"kind": type(self).__name__, **_jsonable(self)}
        if self.home is None:
            record.pop("home")
        return record


@dataclass(frozen=True, kw_only=True)
class TrainRun(Run):
    """Train ``model`` on ``data`` with ``schedule``, optionally from a :class:`Transfer`.

    ``frozen`` names layers (or layer-name prefixes: ``layer2`` freezes every
    ``layer2_*``) kept fixed from the start. ``save_epochs`` keeps a weights
    file at every epoch boundary. ``probe`` measures at every step (a
    :class:`repro.train.StepHook` factory with ``make(model)``, and
    optionally ``start(model, data)`` and ``summary(run_dir)``).
    ``same_as`` names a run with exactly this training (same data, init,
    order, rate: the protocol says why), whose result this run reuses.
    ``shared`` runs live outside the paper's directory (``<out>/sources/``),
    where every paper that declares the same key finds them.
    ``may_diverge``: a non-finite training loss ends the run with a result
    (``diverged_step``, no accuracy) instead of an error, where the paper
    reports divergence as an outcome (a learning rate that "failed to
    converge"); without it divergence stops the command.
    """

    model: Any
    data: Any
    schedule: Schedule
    seeds: Seeds
    transfer: Transfer | None = None
    frozen: tuple[str, ...] = ()
    save_epochs: bool = False
    probe: Any = None
    same_as: "str | ChosenRun | None" = None
    shared: bool = False
    may_diverge: bool = False

    def needs(self) -> tuple[Need, ...]:
        found: list[Need] = []
        if self.transfer is not None and self.transfer.source is not None:
            found.append(Need(self.transfer.source, self.transfer.files()))
        if isinstance(self.schedule.base_lr, Chosen):
            found.append(Need(self.schedule.base_lr.search))
        if isinstance(self.same_as, ChosenRun):
            found.append(Need(self.same_as.search))
        found += [Need(key) for key in ref_keys(self.same_as)]
        return tuple(found)

    def describe(self) -> str:
        parts = [f"model={self.model.describe()}", f"data={self.data.describe()}", self.schedule.describe()]
        if self.transfer is not None:
            parts.append(f"transfer={self.transfer.describe()}")
        if self.frozen:
            parts.append(f"frozen={','.join(self.frozen)}")
        if self.probe is not None:
            parts.append(f"probe={self.probe.describe()}")
        parts.append(f"seeds=init {self.seeds.init}, data {self.seeds.data}")
        if self.same_as is not None:
            parts.append("same as " + (self.same_as.describe() if isinstance(self.same_as, ChosenRun)
                                       else self.same_as))
        return "; ".join(parts)


@dataclass(frozen=True, kw_only=True)
class AnalysisRun(Run):
    """Compute ``function(run, inputs)`` from finished runs; it trains nothing.

    ``function`` is ``"package.module:name"`` (:func:`analysis_function`);
    ``inputs`` are the runs it reads, with the files it reads from them;
    ``params`` (a frozen dataclass or a tuple of pairs) everything else.
    """

    function: str
    inputs: tuple[Need, ...] = ()
    params: Any = None

    def needs(self) -> tuple[Need, ...]:
        return self.inputs

    def param(self, name: str) -> Any:
        return getattr(self.params, name) if is_dataclass(self.params) else dict(self.params or ())[name]

    def describe(self) -> str:
        name = self.function.rsplit(":", 1)[-1]
        params = _short(self.params)
        return f"analysis {name}" + (f"({params})" if params else "")


def axes(**values: Any) -> tuple[tuple[str, Any], ...]:
    """Named axes in the given order: ``axes(condition="AnB", n=3, target="0B")``."""
    return _axes(values)


def analysis_function(path: str) -> Callable:
    """The function ``"package.module:name"`` names (imported on first use)."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"analysis function {path!r} is not of the form 'package.module:name'")
    return getattr(importlib.import_module(module), name)


def _jsonable(value: Any) -> Any:
    """Dataclasses, tuples and pairs as JSON-ready data (a run's full description)."""
    if is_dataclass(value) and not isinstance(value, type):
        record = {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
        describe = getattr(value, "describe", None)
        if describe is not None and not isinstance(value, (Run, Schedule)):
            record = {"type": type(value).__name__, **record}
        settings = getattr(value, "settings", None)
        if callable(settings):  # a data spec's pipeline (image size, crops, normalisation), where it states it
            record["settings"] = _jsonable(settings())
        return record
    if isinstance(value, tuple) and value and all(isinstance(p, tuple) and len(p) == 2
                                                   and isinstance(p[0], str) for p in value):
        return {k: _jsonable(v) for k, v in value}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _short(params: Any) -> str:
    if params is None:
        return ""
    data = _jsonable(params)
    if isinstance(data, dict):
        data.pop("type", None)
        return ", ".join(f"{k}={_brief(v)}" for k, v in data.items())
    return _brief(data)


def _brief(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def described(runs: Iterable[Run]) -> list[dict]:
    """``--dry-run --json``: the full description of each run."""
    return [r.to_config() for r in runs]


