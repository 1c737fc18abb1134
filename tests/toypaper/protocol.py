"""A toy fifth paper, declared in this one file: how a new paper plugs into the suite (docs/adding-a-paper.md).

"Toy et al. 2025" trains a small dense network on each of two synthetic
tasks, transfers the hidden layer of the task-A network frozen to task B,
and claims that a frozen transferred layer does not move. Two experiments
(``bases``, ``transfer``), one transfer, one analysis, one claim.

Everything a paper needs is here: a model spec (:class:`ToyNet`), a data
spec (:class:`Blobs`), the runs of every scale (:func:`runs`), the
experiments with their CSV columns, the analysis (:func:`frozen_distance`),
and the comparison with its claim (:func:`compare`). The suite's runner,
executor, CSVs, TensorBoard HParams and ``--dry-run`` work on it unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.compare import Claim, Comparison, judge_claims, load_run_summary, read_paper_results
from repro.registry import Paper, experiments_of
from repro.runs import WEIGHTS, AnalysisRun, Need, Seeds, TrainRun, Transfer, axes, derive_seed, seed_salt
from repro.schedule import Schedule
from repro.verdicts import Part

PAPER = "toy2025"


@dataclass(frozen=True)
class ToyNet:
    """Flatten -> Dense(hidden, relu) ``hidden`` -> Dense(classes) ``out``; glorot init seeded by ``seed``."""

    inputs: int
    hidden: int
    classes: int

    def build(self, seed: int = 0):
        import keras

        init = keras.initializers.GlorotUniform
        inputs = keras.Input((self.inputs,))
        x = keras.layers.Dense(self.hidden, activation="relu", name="hidden", kernel_initializer=init(seed))(inputs)
        return keras.Model(inputs, keras.layers.Dense(self.classes, name="out", kernel_initializer=init(seed + 1))(x))

    def modules(self, model) -> tuple[str, ...]:
        return ("hidden", "out")

    def describe(self) -> str:
        return f"toynet {self.inputs}-{self.hidden}-{self.classes}"


@dataclass(frozen=True)
class Blobs:
    """``classes`` Gaussian blobs in ``dims`` dimensions, ``per_class`` training and 20 test points each; the
    class centres depend on ``task`` (so two tasks share the input space but not the labelling)."""

    task: str
    classes: int = 3
    dims: int = 4
    per_class: int = 24

    def load(self, data_dir: str | None):
        from repro.train import TrainData

        rng = np.random.default_rng(derive_seed(PAPER, "blobs", self.task))
        centres = rng.normal(0, 3, (self.classes, self.dims))

        def sample(n):
            y = np.repeat(np.arange(self.classes), n)
            return (centres[y] + rng.normal(0, 1, (len(y), self.dims))).astype(np.float32), y

        (x, y), (x_val, y_val) = sample(self.per_class), sample(20)
        return TrainData(x, y, x_val, y_val), dict(task=self.task, n_train=len(x), n_val=len(x_val))

    def describe(self) -> str:
        return f"blobs {self.task} ({self.classes}x{self.per_class})"


@dataclass(frozen=True)
class Scale:
    name: str
    hidden: int
    schedule: Schedule
    experiments: tuple[str, ...] = ("bases", "transfer")


SCALES = {s.name: s for s in (
    Scale("smoke", hidden=8, schedule=Schedule(base_lr=0.1, batch_size=8, length=3, unit="epoch", policy="constant",
                                               eval_every=1, weight_decay=0.0, bias_lr_mult=1.0)),
)}
EXPERIMENTS = {"bases": "a network trained from scratch on each task",
               "transfer": "task A's hidden layer transferred frozen to task B, and how far it moved"}


def _train(scale: Scale, key: str, experiment: str, task: str, transfer: Transfer | None = None,
           seed_set: int = 0) -> TrainRun:
    seed = derive_seed(PAPER, scale.name, key, *seed_salt(seed_set))
    return TrainRun(key=key, experiment=experiment,
                    axes=axes(condition="transfer" if transfer else "base", target=task, seed=seed),
                    model=ToyNet(4, scale.hidden, 3), data=Blobs(task), schedule=scale.schedule,
                    seeds=Seeds(init=derive_seed(seed, "init"), data=derive_seed(seed, "data")),
                    transfer=transfer)


def runs(scale_name: str, seed_set: int = 0):
    scale = SCALES[scale_name]
    return [
        _train(scale, "baseA", "bases", "A", seed_set=seed_set),
        _train(scale, "baseB", "bases", "B", seed_set=seed_set),
        _train(scale, "AnB_1", "transfer", "B", Transfer("baseA", 1, "frozen"), seed_set),
        AnalysisRun(key="moved-AnB_1", experiment="transfer", axes=axes(condition="analysis", target="B", seed=0),
                    function=f"{__name__}:frozen_distance",
                    inputs=(Need("baseA", (WEIGHTS,)), Need("AnB_1", (WEIGHTS,)), Need("baseB")),
                    params=(("source", "baseA"), ("transferred", "AnB_1"), ("base", "baseB"))),
    ]


def frozen_distance(run: AnalysisRun, workspace) -> dict:
    """||W_hidden(transferred) - W_hidden(source)||_F, and the transferred net's accuracy minus the base's."""
    source, transferred = run.param("source"), run.param("transferred")
    a = workspace.loaded(workspace.run(source).model, workspace.weights(source))
    b = workspace.loaded(workspace.run(transferred).model, workspace.weights(transferred))
    moved = float(np.linalg.norm(a.get_layer("hidden").kernel.numpy() - b.get_layer("hidden").kernel.numpy()))
    gap = workspace.result(transferred)["acc_final"] - workspace.result(run.param("base"))["acc_final"]
    return dict(moved=moved, acc_gap=gap)


CLAIMS = [Claim("T-C1", "A frozen transferred layer does not move during training on the new task.", "§1",
                ("transfer",), "moved == 0 for the analysis of AnB_1")]


def _moved(merged) -> tuple[Part, ...]:
    row = next(r for r in merged["transfer"].rows if r["condition"] == "analysis")
    moved = float(row["moved"])
    return (Part("a", "the frozen layer does not move", "holds" if moved == 0.0 else "fails",
                 f"||dW_hidden|| = {moved:g}"),)


def compare(results_dir: Path, scale: str) -> Comparison:
    merged = read_paper_results(Path(results_dir), PAPER, tuple(EXPERIMENTS), scale)
    comparison = Comparison(paper=PAPER, scale=scale, results_dir=Path(results_dir), quantities=[],
                            verdicts=judge_claims(CLAIMS, {"T-C1": _moved}, merged, merged),
                            run_summary=load_run_summary(Path(results_dir)))
    comparison.write()
    return comparison


PAPER_ENTRY = Paper(
    key=PAPER, title="Toy et al. 2025, a fifth paper for the tests",
    experiments=experiments_of(EXPERIMENTS, SCALES, axes={e: ("condition", "target", "seed") for e in EXPERIMENTS},
                               columns={"bases": ("acc_final", "steps", "seconds"),
                                        "transfer": ("acc_final", "moved", "acc_gap", "seconds")}),
    scales=tuple(SCALES), runs=runs, compare=compare)
