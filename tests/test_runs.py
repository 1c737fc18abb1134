"""The run model: descriptions, seeds, shards, the dependency plan, atomic CSV rows and merged reading."""
import csv
import json
import math

import pytest

from repro.errors import BadArgument, ReproError
from repro.plan import Shard, check_graph, dependencies, resolve, select
from repro.runs import (ALL_BUT_LAST, EPOCHS, WEIGHTS, AnalysisRun, Chosen, ChosenRun, Need, Seeds, TrainRun, Transfer,
                        axes, derive_seed)
from repro.schedule import Schedule
from repro.store import append_row, csv_name, experiment_csvs, read_rows

KEYS = [f"transfer-ft0A0B_1_{n}" for n in range(1, 8)] + [f"half{s}{h}" for s in range(4) for h in "AB"]
SCHEDULE = Schedule(base_lr=0.1, batch_size=4, length=8, step_size=4)


class Spec:
    """A stand-in model/data spec: hashable, describable."""

    def __init__(self, name):
        self.name = name

    def describe(self):
        return self.name


def _train(key, transfer=None, experiment="e", **extra) -> TrainRun:
    return TrainRun(key=key, experiment=experiment, axes=axes(condition="c", n=0), model=Spec("m"), data=Spec("d"),
                    schedule=extra.pop("schedule", SCHEDULE), seeds=Seeds(1, 2), transfer=transfer, **extra)


def _runs():
    return [_train(key) for key in KEYS]


def test_derive_seed_is_stable_and_purpose_specific():
    assert derive_seed("yosinski2014", "mini", "half0A") == derive_seed("yosinski2014", "mini", "half0A")
    assert derive_seed("half0A", "init") != derive_seed("half0A", "data")
    assert 0 <= derive_seed("x") < 2 ** 31
    assert derive_seed("half0A", "init") == 2049982874  # a changed derivation would silently change every run


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_shards_are_disjoint_and_cover_the_grid(count):
    slices = [{r.key for r in select(_runs(), None, Shard(i, count))} for i in range(1, count + 1)]
    assert set().union(*slices) == set(KEYS)
    assert sum(len(s) for s in slices) == len(KEYS)


def test_shards_are_stable_under_filtering():
    whole = {r.key for r in select(_runs(), None, Shard(2, 3))}
    filtered = {r.key for r in select(_runs(), r"^half", Shard(2, 3))}
    assert filtered == {k for k in whole if k.startswith("half")}


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "3", "1/2/3"])
def test_bad_shard_is_rejected_with_the_accepted_form(text):
    with pytest.raises(BadArgument, match="I/N"):
        Shard.parse(text)


def test_bad_only_regex_is_rejected():
    with pytest.raises(BadArgument, match="--only"):
        select(_runs(), "half[", Shard())


def test_append_row_keeps_earlier_rows_and_never_leaves_a_temporary(tmp_path):
    path = tmp_path / "e.csv"
    for key in ("a", "b", "c"):
        append_row(path, {"run_key": key, "value": 1, "ignored": 2}, ["run_key", "value"])
    with path.open() as f:
        assert [r["run_key"] for r in csv.DictReader(f)] == ["a", "b", "c"]
    assert [p.name for p in tmp_path.iterdir()] == ["e.csv"]


def test_shard_files_are_merged_without_duplicates(tmp_path):
    fields = ["run_key", "value"]
    append_row(tmp_path / csv_name("e", (1, 2)), {"run_key": "a", "value": 1}, fields)
    append_row(tmp_path / csv_name("e", (2, 2)), {"run_key": "b", "value": 2}, fields)
    append_row(tmp_path / "e.csv", {"run_key": "a", "value": 1}, fields)
    append_row(tmp_path / "other.csv", {"run_key": "z", "value": 9}, fields)
    rows = read_rows(experiment_csvs(tmp_path, "e"))
    assert sorted(r["run_key"] for r in rows) == ["a", "b"]


# ----------------------------------------------------------------------------- descriptions and dependencies

def test_a_run_declares_what_it_needs_from_its_description():
    run = _train("ft", Transfer("base", ALL_BUT_LAST, "finetune", checkpoint="best"),
                 schedule=Schedule(base_lr=Chosen("lr-search"), batch_size=4, length=8, policy="constant"),
                 same_as=ChosenRun("lr-search", ((0.1, "a"), (0.02, "b"))))
    assert run.needs() == (Need("base", (EPOCHS,)), Need("lr-search"), Need("lr-search"), Need("a"), Need("b"))
    assert _train("frozen", Transfer("base", 3, "frozen")).needs() == (Need("base", (WEIGHTS,)),)
    assert _train("random", Transfer(None, 2, "random_frozen")).needs() == ()


def test_transfer_rejects_an_unknown_mode_and_a_missing_source():
    with pytest.raises(ValueError, match="thaw"):
        Transfer("a", 1, "thaw")
    with pytest.raises(ValueError, match="source"):
        Transfer(None, 1, "frozen")
    with pytest.raises(ValueError, match="source"):
        Transfer("a", 1, "random_frozen")


def test_the_full_description_is_json_with_every_field():
    run = _train("ft", Transfer("base", 3, "frozen"))
    described = json.loads(json.dumps(run.to_config(), default=str))
    assert described["kind"] == "TrainRun" and described["key"] == "ft"
    assert described["axes"] == {"condition": "c", "n": 0}
    assert described["transfer"] == {"type": "Transfer", "source": "base", "n": 3, "mode": "frozen",
                                     "checkpoint": "final"}
    assert described["seeds"] == {"init": 1, "data": 2}
    assert described["schedule"]["base_lr"] == 0.1 and described["schedule"]["step_size"] == 4
    assert "frozen n=3 from base" in run.describe()


def _graph():
    base = _train("base")
    return [base, _train("ft", Transfer("base", 2, "finetune")),
            AnalysisRun(key="T", experiment="a", function="m:f", inputs=(Need("ft", (EPOCHS,)), Need("base")))]


def test_the_plan_puts_unfinished_dependencies_first_and_skips_finished_ones():
    index = check_graph(_graph())
    plan = resolve([index["T"]], index, satisfied=lambda need: False)
    assert [(s.run.key, s.selected) for s in plan] == [("base", False), ("ft", False), ("T", True)]
    assert dict((s.run.key, s.files) for s in plan)["ft"] == (EPOCHS,)
    finished = resolve([index["T"]], index, satisfied=lambda need: need.key == "base")
    assert [s.run.key for s in finished] == ["ft", "T"]
    assert dependencies(index["T"], index) == ["base", "ft"]


def test_a_finished_selected_run_needs_nothing_more():
    index = check_graph(_graph())
    plan = resolve([index["T"]], index, satisfied=lambda need: need.key == "T" and not need.files)
    assert [s.run.key for s in plan] == ["T"]


def test_weights_needed_from_a_run_that_reuses_another_are_needed_from_the_other():
    index = check_graph([_train("a"), _train("b", same_as="a"),
                         AnalysisRun(key="x", experiment="e", function="m:f", inputs=(Need("b", (WEIGHTS,)),))])
    plan = resolve([index["x"]], index, satisfied=lambda need: need.key == "b" and not need.files)
    assert [(s.run.key, s.files) for s in plan][0] == ("a", (WEIGHTS,))


def test_an_undeclared_dependency_a_duplicate_key_and_a_cycle_are_errors():
    with pytest.raises(ReproError, match="needs 'nowhere'"):
        check_graph([_train("a", Transfer("nowhere", 1, "frozen"))])
    with pytest.raises(ReproError, match="two different runs"):
        check_graph([_train("a"), _train("a", experiment="other")])
    index = check_graph([_train("a", Transfer("b", 1, "frozen")), _train("b", Transfer("a", 1, "frozen"))])
    with pytest.raises(ReproError, match="cycle: a -> b -> a"):
        resolve([index["a"]], index, satisfied=lambda need: False)


# ----------------------------------------------------------------------------- the schedule

def test_every_policy_gives_its_closed_form():
    n_train, batch = 40, 8  # 5 iterations per epoch
    step = Schedule(base_lr=0.1, batch_size=batch, length=4, unit="epoch", step_size=2).resolve(n_train)
    assert step.length == 20 and step.step_size == 10
    assert [step.lr_at(t) for t in (0, 9, 10, 19)] == [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]
    multi = Schedule(base_lr=1.0, batch_size=batch, length=4, unit="epoch", policy="multistep", milestones=(1, 3),
                     lr_scale=0.5).resolve(n_train)
    assert [multi.lr_at(t) for t in (0, 4, 5, 14, 15)] == [0.5, 0.5, 0.5 * 0.1, 0.5 * 0.1, 0.5 * 0.1 ** 2]
    cosine = Schedule(base_lr=0.2, batch_size=batch, length=4, unit="epoch", policy="cosine", step_size=1
                      ).resolve(n_train)
    for t in range(20):
        assert cosine.lr_at(t) == pytest.approx(0.2 * (1 + math.cos(math.pi * (t // 5) / 4)) / 2)
    constant = Schedule(base_lr=0.3, batch_size=batch, length=3, unit="epoch", policy="constant", evals=3
                        ).resolve(n_train)
    assert {constant.lr_at(t) for t in range(15)} == {0.3} and constant.eval_every == 5
    mixed = Schedule(base_lr=0.1, batch_size=batch, length=4, unit="epoch", step_size=7, lr_unit="iteration"
                     ).resolve(n_train)
    assert mixed.step_size == 7 and mixed.lr_at(6) == 0.1 and mixed.lr_at(7) == pytest.approx(0.01)


def test_an_unresolved_or_unchosen_schedule_cannot_give_a_rate():
    with pytest.raises(ValueError, match="resolve"):
        Schedule(base_lr=0.1, batch_size=8, length=2, unit="epoch", step_size=1).lr_at(0)
    with pytest.raises(ValueError, match="chosen"):
        Schedule(base_lr=Chosen("s"), batch_size=8, length=2, step_size=1).resolve(40)
    with pytest.raises(ValueError, match="step_size"):
        Schedule(base_lr=0.1, batch_size=8, length=2, policy="cosine")


def test_hparams_declare_only_the_axes_some_run_of_the_grid_has(tmp_path):
    from repro.hparams import grid_axes, write_grid_config
    from repro.registry import Experiment, Paper

    experiments = (Experiment("e", "", ("mini",), ("condition", "n"), ()),
                   Experiment("reduced", "", ("paper",), ("condition", "examples_per_class"), ()))
    paper = Paper("p", "p", experiments, ("mini", "paper"), runs=lambda scale, seed_set=0: [], compare=None)
    runs = [_train("a"), _train("b")]  # axes condition="c", n=0: no run of this scale has examples_per_class
    axes_found = grid_axes(paper, runs)
    assert axes_found == {"experiment": False, "condition": False, "n": True}
    write_grid_config(tmp_path, axes_found, runs)  # an empty domain would raise here
    assert list(tmp_path.glob("events.out.tfevents.*"))
