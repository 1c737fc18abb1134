"""The one executor: the rate each step used is the schedule's, and a resume continues a run rather than restarting it.

Both tests run TrainRuns of a throw-away paper (the toy paper's network and
data) through ``repro run``'s own runner, so they test what every paper's
training goes through.
"""
import csv
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from repro.registry import Experiment, Paper
from repro.runner import run_grid
from repro.runs import Seeds, TrainRun, axes
from repro.schedule import Schedule
from repro.store import FINAL_WEIGHTS
from tests.toypaper.protocol import Blobs, ToyNet

NET, DATA = ToyNet(4, 8, 3), Blobs("A")
N_TRAIN = 3 * 24  # Blobs: 3 classes x 24 training points


def _paper(runs, columns=("acc_final", "steps")) -> Paper:
    experiment = Experiment("e", "test runs", ("smoke",), ("condition",), columns)
    return Paper(key="executor-test", title="executor test", experiments=(experiment,), scales=("smoke",),
                 runs=lambda scale, seed_set=0: runs, compare=None)


@dataclasses.dataclass(frozen=True)
class RateProbe:
    """Records, at every step, the learning rate the optimizer holds and the rate its update actually applied.

    With momentum and weight decay at 0 and no lr multipliers, SGD moves every weight by ``-lr * g``; the hook
    computes ``g`` at the pre-step weights on the step's batch, so ``applied = -dW . g / ||g||^2``.
    """

    schedule: Schedule

    def make(self, model):
        from repro.train import trainer

        optimizer, _ = trainer(model, self.schedule.resolve(N_TRAIN))
        return _RateHook(model, optimizer)

    def describe(self):
        return "rate probe"


class _RateHook:
    fields = ("optimizer_lr", "applied_lr")

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def before(self, step, x, y):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
        self.gradient = np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, variables)])
        self.weights = np.concatenate([v.numpy().ravel() for v in variables])

    def after(self, step, x, y):
        moved = np.concatenate([v.numpy().ravel() for v in self.model.trainable_variables]) - self.weights
        applied = -float(moved @ self.gradient) / float(self.gradient @ self.gradient)
        return dict(optimizer_lr=float(self.optimizer.learning_rate.numpy()), applied_lr=applied)


SCHEDULES = {
    "caffe_step": Schedule(base_lr=0.2, batch_size=8, length=27, policy="step", step_size=10, gamma=0.5),
    "multistep_scaled": Schedule(base_lr=0.8, batch_size=8, length=3, unit="epoch", policy="multistep",
                                 milestones=(1, 2), lr_scale=1 / 4),
    "cosine_per_epoch": Schedule(base_lr=0.3, batch_size=8, length=3, unit="epoch", policy="cosine", step_size=1),
    "constant": Schedule(base_lr=0.05, batch_size=8, length=20, policy="constant"),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_step_uses_the_rate_of_its_schedule(name, tmp_path):
    schedule = dataclasses.replace(SCHEDULES[name], momentum=0.0, weight_decay=0.0, bias_lr_mult=1.0, eval_every=5,
                                   evals=0)
    run = TrainRun(key=name, experiment="e", axes=axes(condition=name), model=NET, data=DATA, schedule=schedule,
                   seeds=Seeds(1, 2), probe=RateProbe(schedule))
    run_grid(_paper([run]), ["e"], "smoke", tmp_path, printer=lambda line: None)
    resolved = schedule.resolve(N_TRAIN)
    with open(tmp_path / "executor-test" / "smoke" / "runs" / name / "steps.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, resolved.max_iter + 1))
    expected = [resolved.lr_at(int(r["step"]) - 1) for r in rows]
    assert len(set(expected)) > 1 or name == "constant"  # the schedule does change the rate
    assert [float(r["optimizer_lr"]) for r in rows] == pytest.approx(expected, rel=1e-6)
    assert [float(r["applied_lr"]) for r in rows] == pytest.approx(expected, rel=1e-4)


@dataclasses.dataclass(frozen=True)
class StepCounter:
    """Counts the steps the executor trains in this process; interrupts the run after ``stop_after`` steps."""

    stop_after: int = 0

    def make(self, model):
        return _Counter(self.stop_after)

    def describe(self):
        return "step counter"


class _Counter:
    fields = ("x",)
    trained: list = []

    def __init__(self, stop_after):
        self.stop_after = stop_after

    def before(self, step, x, y):
        _Counter.trained.append(step)

    def after(self, step, x, y):
        if self.stop_after and step + 1 == self.stop_after:
            raise KeyboardInterrupt
        return None


def _final_weights(out, key):
    model = NET.build(seed=0)
    model.load_weights(out / "executor-test" / "smoke" / "runs" / key / FINAL_WEIGHTS)
    return [w for w in model.get_weights()]


def test_a_resumed_run_continues_from_its_checkpoint_and_trains_only_the_remaining_steps(tmp_path):
    schedule = Schedule(base_lr=0.1, batch_size=8, length=20, policy="step", step_size=7, eval_every=5)

    def run(key, init, probe):
        return TrainRun(key=key, experiment="e", axes=axes(condition="c"), model=NET, data=DATA, schedule=schedule,
                        seeds=Seeds(init=init, data=9), probe=probe)

    run_grid(_paper([run("straight", 1, None)]), ["e"], "smoke", tmp_path / "a", printer=lambda line: None)
    _Counter.trained = []
    with pytest.raises(KeyboardInterrupt):  # killed after step 13: the checkpoint of step 10 is on disk
        run_grid(_paper([run("resumed", 1, StepCounter(stop_after=13))]), ["e"], "smoke", tmp_path / "b",
                 printer=lambda line: None)
    assert _Counter.trained == list(range(13))
    _Counter.trained = []
    # the rerun declares another init: only the checkpoint can bring it back onto the uninterrupted run's path
    run_grid(_paper([run("resumed", 777, StepCounter())]), ["e"], "smoke", tmp_path / "b",
             printer=lambda line: None)
    assert _Counter.trained == list(range(10, 20))
    for straight, resumed in zip(_final_weights(tmp_path / "a", "straight"), _final_weights(tmp_path / "b", "resumed")):
        np.testing.assert_array_equal(straight, resumed)
    restarted = _paper([run("restarted", 777, None)])
    run_grid(restarted, ["e"], "smoke", tmp_path / "c", printer=lambda line: None)
    assert not all(np.array_equal(a, b) for a, b in zip(_final_weights(tmp_path / "a", "straight"),
                                                        _final_weights(tmp_path / "c", "restarted")))


def test_a_run_that_may_diverge_ends_with_its_divergence_recorded_and_any_other_run_stops_the_command(tmp_path):
    from repro.errors import NonFiniteLoss
    from repro.store import CHECKPOINT, read_result

    schedule = Schedule(base_lr=1e12, batch_size=8, length=20, policy="constant", eval_every=5)

    def run(key, may_diverge):
        return TrainRun(key=key, experiment="e", axes=axes(condition=key), model=NET, data=DATA, schedule=schedule,
                        seeds=Seeds(1, 2), may_diverge=may_diverge)

    paper = _paper([run("recorded", True)], columns=("acc_final", "steps", "diverged_step"))
    run_grid(paper, ["e"], "smoke", tmp_path, printer=lambda line: None)
    run_dir = tmp_path / "executor-test" / "smoke" / "runs" / "recorded"
    result = read_result(run_dir)
    assert 0 <= result["diverged_step"] < 20 and result["steps"] == result["diverged_step"]
    assert np.isnan(result["acc_final"]) and not (run_dir / CHECKPOINT).exists()
    with open(tmp_path / "executor-test" / "smoke" / "e.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert row["diverged_step"] == str(result["diverged_step"]) and row["acc_final"] == "nan"
    with pytest.raises(NonFiniteLoss):
        run_grid(_paper([run("stops", False)]), ["e"], "smoke", tmp_path / "b", printer=lambda line: None)
