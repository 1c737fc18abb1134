"""The measured runs of ``repro run neyshabur2020``, read back from the experiment CSVs.

One object, :class:`Measured`, answers the questions the comparison, the
claim rules and the figures ask: the chosen lr of an arm on a target, the
runs of an arm at that lr, a block-shuffle cell, an analysis row of a pair.
Accuracies are fractions here; the comparison converts them to percent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from repro.compare import MergedRuns, NotMeasured, number
from repro.neyshabur2020.protocol import SCALES, Scale, Target


@dataclass
class Measured:
    """Rows of every experiment that ran, by experiment, for one scale."""

    scale: Scale
    rows: dict[str, list[dict[str, str]]]
    results_dir: Path

    @classmethod
    def from_merged(cls, merged: Mapping[str, MergedRuns], scale: str, results_dir: Path) -> "Measured":
        return cls(SCALES[scale], {e: m.rows for e, m in merged.items()}, Path(results_dir))

    @property
    def targets(self) -> tuple[Target, ...]:
        return self.scale.targets

    def targets_of(self, experiment: str) -> tuple[Target, ...]:
        """The targets ``experiment`` runs on at this scale (the claims' "every target")."""
        return self.scale.targets_of(experiment)

    def target_for(self, published_domain: str) -> Target | None:
        """The target of this scale that stands in for a published domain (CheXpert: the scale's stand-in)."""
        found = next((t for t in self.targets if t.stands_for == published_domain), None)
        if found is None and published_domain == "chexpert":
            return self.scale.target(self.scale.chexpert_stand_in)
        return found

    def experiment(self, name: str) -> list[dict[str, str]]:
        if name not in self.rows:
            raise NotMeasured(f"no {name} results")
        return self.rows[name]

    def chosen_lr(self, arm: str, target: str) -> float:
        """The nominal lr of ``arm`` on ``target`` in the experiments after Figure 2: the scale's fixed one, or the
        one its search chose."""
        fixed = dict(self.scale.fixed_lrs)
        if arm in fixed:
            return fixed[arm]
        for row in self.experiment("learning_curves"):
            if row["condition"] == "lr_choice" and row["arm"] == arm and row["target"] == target:
                return float(row["chosen_lr"])
        raise NotMeasured(f"no lr choice for {arm} on {target}")

    def learning_runs(self, arm: str, target: str, lr: float | None = None) -> list[dict[str, str]]:
        """The independent learning-curve runs of ``arm`` on ``target`` at ``lr`` (default: the chosen lr)."""
        lr = self.chosen_lr(arm, target) if lr is None else lr
        runs = [r for r in self.experiment("learning_curves")
                if r["condition"] == arm and r["target"] == target and math.isclose(float(r["lr"]), lr)]
        if not runs:
            raise NotMeasured(f"no {arm} learning-curve runs on {target} at lr {lr:g}")
        return sorted(runs, key=lambda r: int(r["seed"]))

    def learning_values(self, arm: str, target: str, column: str, lr: float | None = None) -> np.ndarray:
        return np.array([number(r, column) for r in self.learning_runs(arm, target, lr)])

    def shuffle_values(self, arm: str, target: str, block: str, column: str) -> np.ndarray:
        """One cell of the block-shuffle grid: its value in each seed's run."""
        values = [number(r, column) for r in self.experiment("block_shuffle")
                  if r["condition"] == arm and r["target"] == target and r["block"] == block]
        if not values:
            raise NotMeasured(f"no block_shuffle run for {arm} on {target} at block {block}")
        return np.array(values)

    def shuffle_value(self, arm: str, target: str, block: str, column: str) -> float:
        """Mean over the block-shuffle seeds of one cell."""
        return float(np.mean(self.shuffle_values(arm, target, block, column)))

    def pair_row(self, experiment: str, target: str, pair: str) -> dict[str, str]:
        for row in self.experiment(experiment):
            if row["target"] == target and row["condition"] == pair:
                return row
        raise NotMeasured(f"no {experiment} row for {pair} on {target}")

    def mistake_predictions(self, target: str, pair: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(y, pred_a, pred_b)`` the mistakes analysis of ``pair`` saved (``runs/<run_key>/predictions.npz``), or
        None when the file is not there (results copied without their run directories)."""
        row = self.pair_row("mistakes", target, pair)
        path = self.results_dir / "runs" / row["run_key"] / "predictions.npz"
        if not path.is_file():
            return None
        with np.load(path) as saved:
            return saved["y"], saved["pred_a"], saved["pred_b"]

    def checkpoint_rows(self, target: str, epoch: int) -> list[dict[str, str]]:
        """The Figure 7 runs from P's checkpoint ``epoch`` on ``target`` at P-T's lr (the scale may run others)."""
        lr = self.chosen_lr("P-T", target)
        return [row for row in self.experiment("checkpoints") if row["target"] == target
                and int(row["source_epoch"]) == epoch and math.isclose(float(row["lr"]), lr)]

    def checkpoint_value(self, target: str, epoch: int, column: str) -> float:
        for row in self.checkpoint_rows(target, epoch):
            return number(row, column)
        raise NotMeasured(f"no checkpoints run from epoch {epoch} on {target}")

    def criticality_row(self, target: str, arm: str, lr: float) -> dict[str, str]:
        for row in self.experiment("criticality"):
            if row["target"] == target and row["arm"] == arm and math.isclose(float(row["lr"]), lr):
                return row
        raise NotMeasured(f"no criticality run for {arm} at lr {lr:g} on {target}")
