"""What the executor and the analyses see while a plan runs: finished runs, their files, cached data and models.

A :class:`Workspace` belongs to one command (one paper, one scale, one
output directory). It reads finished runs only: a run that asks for an
unfinished one has an undeclared dependency, a bug of its protocol, and
gets an error instead of a silent training. It caches what is expensive to
rebuild: loaded datasets (by data spec) and *worker* models, one object per
(model spec, frozen layers, slot) whose weights every run assigns, so a
grid of small runs traces its training step and its evaluation once
instead of once per run.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Callable

from repro.errors import ReproError
from repro.runs import EPOCHS, WEIGHTS, ChosenRun, Need, Run, TrainRun
from repro.store import FINAL_WEIGHTS, Layout, epoch_files, epoch_weights, read_result
from repro.weightfiles import load_weights


def say(message: str) -> None:
    """Print a progress line at once, also when stdout is a file or a pipe."""
    print(message, flush=True)


class Workspace:
    """Runs, files and caches of one command: ``paper`` at ``scale`` under ``out``."""

    def __init__(self, paper, scale: str, out: Path, index: dict[str, Run], data_dir: str | None = None,
                 printer: Callable[[str], None] = say, seed_set: int = 0):
        self.paper, self.scale, self.index, self.data_dir, self.printer = paper, scale, index, data_dir, printer
        self.seed_set = seed_set
        self.layout = Layout(out, paper.key, scale, seed_set)
        self._cache: dict = {}

    # ------------------------------------------------------------------ runs and their files

    @property
    def scale_dir(self) -> Path:
        return self.layout.scale_dir

    def run(self, key: str) -> Run:
        if key not in self.index:
            raise ReproError(f"{self.paper.key} declares no run {key!r} at scale {self.scale}")
        return self.index[key]

    def run_dir(self, key: str) -> Path:
        run = self.run(key)
        return self.layout.run_dir(key, shared=isinstance(run, TrainRun) and run.shared, home=run.home)

    def result(self, key: str) -> dict:
        """The result of finished run ``key``; an error if it has not finished (an undeclared dependency)."""
        result = read_result(self.run_dir(key))
        if result is None:
            raise ReproError(f"run {key} has not finished: a run that reads it must declare it among its needs")
        return result

    def trained_key(self, key: str) -> str:
        """The run whose training ``key`` is: ``key`` itself, or the run it reused (``same_as``)."""
        result = read_result(self.run_dir(key))
        return (result or {}).get("reused") or key

    def finished(self, need: Need) -> bool:
        """Whether ``need.key`` has finished with the files ``need.files`` in its (reused) run directory."""
        if read_result(self.run_dir(need.key)) is None:
            return False
        run_dir = self.run_dir(self.trained_key(need.key))
        if WEIGHTS in need.files and not (run_dir / FINAL_WEIGHTS).is_file():
            return False
        return EPOCHS not in need.files or epoch_weights(run_dir, 0).is_file()

    def weights(self, key: str, checkpoint: "str | int" = "final") -> Path:
        """A finished run's weights file: ``"final"``, ``"best"`` (epoch of the best evaluation), ``"init"``
        (epoch 0) or an epoch number."""
        trained = self.trained_key(key)
        run_dir = self.run_dir(trained)
        if checkpoint == "final":
            return run_dir / FINAL_WEIGHTS
        if checkpoint == "best":
            return epoch_weights(run_dir, best_epoch(run_dir))
        if checkpoint == "init":
            return epoch_weights(run_dir, 0)
        if isinstance(checkpoint, int):
            return epoch_weights(run_dir, checkpoint)
        raise ReproError(f"unknown checkpoint {checkpoint!r}; accepted: final, best, init or an epoch number")

    def epoch_files(self, key: str) -> list[Path]:
        """Every epoch checkpoint of a finished run, in epoch order."""
        return epoch_files(self.run_dir(self.trained_key(key)))

    # ------------------------------------------------------------------ searches

    def chosen(self, search: str) -> tuple[Any, str]:
        """The value search ``search`` chose and where it comes from: ``tuned.json`` (``repro tune``) if it
        holds the search, else the grid's choice run of that name. A search is the paper's own, or the one a
        choice run borrowed from another paper's tree carries (a study reading that paper's choices); its
        ``tuned.json`` is the one of the tree its choice run lives in."""
        from repro.registry import Search
        from repro.tuning import read_tuned

        declared = {s.name: s for s in self.paper.searches(self.scale)}
        borrowed = self.index.get(search)
        if search not in declared and borrowed is not None and isinstance(borrowed.params, Search):
            declared[search] = borrowed.params
        if search not in declared:
            raise ReproError(f"{self.paper.key} declares no search {search!r} at scale {self.scale}")
        tuned = read_tuned(self.layout.scale_dir_of(borrowed.home if borrowed else None), declared[search])
        if tuned is not None:
            return tuned.value, f"tuned.json, search {search} ({tuned.command})"
        return self.result(search)[f"chosen_{declared[search].hparam}"], f"choice run {search}"

    def resolve_run(self, ref: "str | ChosenRun") -> str:
        """The run key a reference stands for (a :class:`ChosenRun`: the option the search chose)."""
        if not isinstance(ref, ChosenRun):
            return ref
        value, _ = self.chosen(ref.search)
        for option, key in ref.options:
            if option == value:
                return key
        raise ReproError(f"search {ref.search} chose {value!r}, which is none of {[o for o, _ in ref.options]}")

    # ------------------------------------------------------------------ caches

    def cached(self, key, build: Callable):
        """Memoise an expensive, read-only object (a dataset, a loaded model) for the life of the command."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def data(self, spec) -> tuple[Any, dict]:
        """``spec.load(data_dir)``: the training/evaluation data and its record for config.json, loaded once."""
        return self.cached(("data", spec), lambda: spec.load(self.data_dir))

    def worker(self, spec, frozen: tuple[str, ...] = (), slot: str = "train"):
        """The command's model object for ``(spec, frozen, slot)``; runs assign its weights."""
        return self.cached(("worker", spec, frozen, slot), lambda: spec.build(seed=0))

    def fresh(self, spec, seed: int, frozen: tuple[str, ...] = ()):
        """The worker model holding exactly the initialisation ``spec.build(seed)`` gives (every variable,
        dropout seed states included), with the layers ``frozen`` names fixed and every other layer trainable."""
        model = self.worker(spec, frozen)
        for variable, value in zip(model.variables, spec.build(seed=seed).variables):
            variable.assign(value)
        for layer in model.layers:
            layer.trainable = not is_frozen(layer.name, frozen)
        return model

    def loaded(self, spec, path: Path, slot: str = ""):
        """A model of ``spec`` with the weights file ``path`` loaded: one object per ``slot`` that loads the
        file again whenever asked (``slot`` given), or one cached object per file (no slot: read-only use)."""
        if slot:
            model = self.worker(spec, slot=slot)
            load_weights(model, path)
            return model
        return self.cached(("loaded", spec, str(path)), lambda: _load(spec, path))

    def throttled(self, every_seconds: float = 30.0) -> Callable[[str], None]:
        """A printer for progress inside one run that speaks at most every ``every_seconds``."""
        last = [time.time()]

        def emit(message: str) -> None:
            if time.time() - last[0] >= every_seconds:
                last[0] = time.time()
                self.printer(f"      {message}")

        return emit


def _load(spec, path: Path):
    model = spec.build(seed=0)
    load_weights(model, path)
    return model


def is_frozen(name: str, frozen: tuple[str, ...]) -> bool:
    """Whether a run's ``frozen`` names freeze layer ``name``: named, or starting with ``<prefix>_`` (``layer2`` ->
    ``layer2_block0_conv1``)."""
    return any(name == p or name.startswith(p.replace(".", "_") + "_") for p in frozen)


def best_epoch(run_dir: Path) -> int:
    """The epoch of the highest evaluation accuracy in ``metrics.csv`` (the earliest on a tie)."""
    with (Path(run_dir) / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ReproError(f"{run_dir} has no evaluations in metrics.csv")
    best = max(rows, key=lambda r: (float(r["val_acc"]), -float(r["epoch"])))
    return int(round(float(best["epoch"])))
