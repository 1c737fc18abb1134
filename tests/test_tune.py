"""repro tune: declared searches run by keras-tuner, resumable, visible in TensorBoard HParams, read by repro run."""
import csv
import json
import math

import numpy as np
import pytest

import repro  # noqa: F401
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from repro import tuner as tuner_module
from repro.cli import main
from repro.errors import ReproError
from repro.registry import Experiment, Objective, Paper, Search, get_paper, resolve_searches
from repro.runs import AnalysisRun, axes
from repro.tuner import TUNE_DIR, tune
from repro.tuning import TUNED_FILE, read_tuned

LRS = (0.3, 0.1, 0.03)
BEST = 0.1  # the fake validation loss below is smallest there


def fake_loss(lr: float, rep: int) -> float:
    return (math.log10(lr) + 1) ** 2 + 0.01 * rep


class FakeRuns:
    """A paper whose runs 'train' instantly: a known validation loss per lr, every execution counted."""

    current: "FakeRuns | None" = None

    def __init__(self, interrupt_at: str | None = None, diverges: str | None = None):
        self.executed: list[str] = []
        self.interrupt_at, self.diverges = interrupt_at, diverges
        runs = [AnalysisRun(key=f"run-lr{lr:g}-r{rep}", experiment="sweep", axes=axes(condition="arm", seed=rep),
                            function=f"{__name__}:fake_training", params=(("lr", lr), ("rep", rep)))
                for lr in LRS for rep in (1, 2)]
        self.search = Search("lr-arm", "sweep", "fine-tuning", "arm", "-", "lr",
                             {lr: (f"run-lr{lr:g}-r1", f"run-lr{lr:g}-r2") for lr in LRS},
                             Objective("val_loss", "min", "validation"))
        self.paper = Paper("fake", "Fake", (Experiment("sweep", "a sweep", ("smoke",), ("condition", "seed"),
                                                       ("val_loss",)),), ("smoke",),
                           runs=lambda scale, seed_set=0: runs, compare=lambda scale_dir, scale: None,
                           searches=lambda scale: (self.search,))
        FakeRuns.current = self


def fake_training(run, workspace) -> dict:
    """The fake paper's 'training': its loss, or Ctrl-C where the test asks for one."""
    fake = FakeRuns.current
    if run.key == fake.interrupt_at:
        fake.interrupt_at = None
        raise KeyboardInterrupt
    fake.executed.append(run.key)
    if run.key == fake.diverges:
        return {"val_loss": float("nan"), "diverged_step": 3}
    return {"val_loss": fake_loss(run.param("lr"), run.param("rep"))}


@pytest.fixture
def objective_calls(monkeypatch):
    """Counts the trials the tuner asks for (a reloaded trial is not asked)."""
    calls = []
    score = tuner_module.search_score

    def counted(search, value, result):
        calls.append(value)
        return score(search, value, result)

    monkeypatch.setattr(tuner_module, "search_score", counted)
    return calls


def test_search_chooses_the_best_value_and_writes_it_with_every_score(tmp_path, objective_calls):
    fake = FakeRuns()
    lines = []
    assert tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lines.append) == {"lr-arm": BEST}
    entry = json.loads((tmp_path / "fake" / "smoke" / TUNED_FILE).read_text())["searches"]["lr-arm"]
    assert entry["chosen"] == BEST and entry["values"] == list(LRS) and entry["objective"]["split"] == "validation"
    for lr in LRS:
        assert entry["scores"][str(lr)] == pytest.approx(np.mean([fake_loss(lr, 1), fake_loss(lr, 2)]))
    assert entry["command"] == "repro tune fake sweep --scale smoke --only '^lr-arm$'"
    assert sorted(fake.executed) == sorted(k for keys in fake.search.trials.values() for k in keys)
    assert objective_calls == list(LRS)
    assert read_tuned(tmp_path / "fake" / "smoke", fake.search).value == BEST
    assert sum("lr-arm lr=" in line for line in lines) == len(LRS)


def test_a_value_with_a_diverged_run_scores_the_worst_and_the_next_best_is_chosen(tmp_path):
    fake = FakeRuns(diverges=f"run-lr{BEST:g}-r2")  # one of the best value's two runs diverged
    assert tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lambda line: None) == {"lr-arm": 0.3}
    scores = json.loads((tmp_path / "fake" / "smoke" / TUNED_FILE).read_text())["searches"]["lr-arm"]["scores"]
    assert scores[str(BEST)] == math.inf and scores["0.3"] < scores["0.03"]


def test_rerun_reloads_finished_trials_without_asking_again(tmp_path, objective_calls):
    fake = FakeRuns()
    tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lambda line: None)
    asked, executed = len(objective_calls), len(fake.executed)
    lines = []
    assert tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lines.append) == {"lr-arm": BEST}
    assert len(objective_calls) == asked and len(fake.executed) == executed
    assert sum("reloaded (finished trial)" in line for line in lines) == len(LRS)


def test_an_interrupted_search_resumes_at_the_interrupted_trial(tmp_path, objective_calls):
    fake = FakeRuns(interrupt_at="run-lr0.1-r2")  # Ctrl-C in the second trial
    with pytest.raises(KeyboardInterrupt):
        tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lambda line: None)
    assert not (tmp_path / "fake" / "smoke" / TUNED_FILE).exists()
    assert objective_calls == [0.3, 0.1]
    assert tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lambda line: None) == {"lr-arm": BEST}
    assert objective_calls == [0.3, 0.1, 0.1, 0.03]  # 0.3 reloaded, 0.1 asked again
    assert fake.executed.count("run-lr0.1-r1") == 1  # its finished run was not trained twice


def _events(directory):
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            yield from event.summary.value


def _plugin_data(value):
    return plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)


def test_trials_are_hparams_sessions_under_one_config(tmp_path):
    fake = FakeRuns()
    tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lambda line: None)
    log_root = tmp_path / "fake" / "smoke" / TUNE_DIR
    config = [_plugin_data(v).experiment for v in _events(log_root) if v.tag == "_hparams_/experiment"]
    assert len(config) == 1
    assert {h.name for h in config[0].hparam_infos} == {"search", "experiment", "arm", "condition", "target", "lr"}
    assert [m.name.tag for m in config[0].metric_infos] == ["objective/val_loss"]
    for lr in LRS:
        values = list(_events(log_root / "lr-arm" / f"lr={lr}"))
        start = [_plugin_data(v).session_start_info for v in values if v.tag == "_hparams_/session_start_info"]
        assert len(start) == 1 and start[0].hparams["lr"].number_value == pytest.approx(lr)
        assert start[0].hparams["search"].string_value == "lr-arm"
        objective = [tf.make_ndarray(v.tensor) for v in values if v.tag == "objective/val_loss"]
        assert objective == [pytest.approx(np.mean([fake_loss(lr, 1), fake_loss(lr, 2)]))]


def test_a_stale_tuned_value_is_an_error(tmp_path):
    fake = FakeRuns()
    tune(fake.paper, [fake.search], "smoke", tmp_path, printer=lambda line: None)
    other = Search("lr-arm", "sweep", "fine-tuning", "arm", "-", "lr", {0.3: ("run-lr0.3-r1",)},
                   fake.search.objective)
    with pytest.raises(ReproError, match="another declaration"):
        read_tuned(tmp_path / "fake" / "smoke", other)


@pytest.fixture(scope="module")
def neyshabur(tmp_path_factory):
    """``repro tune`` of the P-T lr search on mnist at smoke scale (trains P and the four runs)."""
    out = tmp_path_factory.mktemp("tune")
    assert main(["tune", "neyshabur2020", "learning_curves", "--scale", "smoke", "--out", str(out),
                 "--only", "PT-mnist"]) == 0
    return out / "neyshabur2020" / "smoke"


def test_neyshabur_search_keeps_the_better_mean_final_test_accuracy(neyshabur):
    from repro.neyshabur2020 import protocol

    entry = json.loads((neyshabur / TUNED_FILE).read_text())["searches"]
    assert list(entry) == ["lr-PT-mnist"]
    means = {}
    for lr in protocol.NOMINAL_LRS:
        results = [json.loads((neyshabur / "runs" / protocol.lc_key("P-T", "mnist", lr, rep) / "result.json")
                              .read_text()) for rep in range(1, protocol.SMOKE.repeats + 1)]
        means[lr] = np.mean([r["acc_final"] for r in results])
        assert entry["lr-PT-mnist"]["scores"][str(lr)] == pytest.approx(means[lr])
    best = max(protocol.NOMINAL_LRS, key=lambda lr: (means[lr], -protocol.NOMINAL_LRS.index(lr)))
    assert entry["lr-PT-mnist"]["chosen"] == best and entry["lr-PT-mnist"]["objective"]["split"] == "test"
    assert (neyshabur / TUNE_DIR / "lr-PT-mnist" / "tuner" / "oracle.json").exists()


def test_repro_run_uses_the_tuned_lr_and_records_where_it_came_from(neyshabur):
    from repro.neyshabur2020 import protocol

    path = neyshabur / TUNED_FILE
    payload = json.loads(path.read_text())
    entry = payload["searches"]["lr-PT-mnist"]
    forced = next(lr for lr in protocol.NOMINAL_LRS if lr != entry["chosen"])  # not what the grid would choose
    entry["chosen"] = forced
    path.write_text(json.dumps(payload))
    out = str(neyshabur.parent.parent)
    assert main(["run", "neyshabur2020", "learning_curves", "checkpoints", "--scale", "smoke", "--out", out,
                 "--only", "^ck-mnist-e0$|^lr-PT-mnist$"]) == 0
    lr = json.loads((neyshabur / "runs" / "ck-mnist-e0" / "config.json").read_text())["lr"]
    assert lr["nominal"] == forced and lr["origin"].startswith("tuned.json, search lr-PT-mnist")
    with open(neyshabur / "learning_curves.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert row["run_key"] == "lr-PT-mnist" and float(row["chosen_lr"]) == forced


def test_without_a_tuned_value_repro_run_takes_the_grids_own_choice(neyshabur):
    from repro.runner import workspace_for

    workspace = workspace_for(get_paper("neyshabur2020"), "smoke", neyshabur.parent.parent)
    (neyshabur / "runs" / "lr-RIT-mnist").mkdir(parents=True)
    (neyshabur / "runs" / "lr-RIT-mnist" / "result.json").write_text(json.dumps({"chosen_lr": 0.02}))
    assert "lr-RIT-mnist" not in json.loads((neyshabur / TUNED_FILE).read_text())["searches"]
    assert workspace.chosen("lr-RIT-mnist") == (0.02, "choice run lr-RIT-mnist")


@pytest.mark.parametrize("argv, message", [
    (["yosinski2014"], "no hyper-parameter search in the protocol of yosinski2014 at scale mini"),
    (["chen2022", "--scale", "smoke"], "no hyper-parameter search in the protocol of chen2022 at scale smoke"),
    (["neyshabur2020", "block_shuffle"], "no hyper-parameter search in the protocol of neyshabur2020 block_shuffle"),
    (["nope"], "unknown paper 'nope'"),
    (["neyshabur2020", "--scale", "huge"], "unknown scale 'huge'"),
    (["neyshabur2020", "tables"], "unknown experiment 'tables'"),
    (["neyshabur2020", "--only", "cifar"], "--only 'cifar' matches no search"),
])
def test_bad_tune_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["tune", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    if "no hyper-parameter search" in message:
        assert "experiments with searches: neyshabur2020 learning_curves" in err
    assert not any(tmp_path.iterdir())


def test_only_neyshabur_declares_searches_and_they_cover_every_arm_and_target():
    from repro.registry import paper_keys

    for key in paper_keys():
        paper = get_paper(key)
        for scale in paper.scales:
            assert bool(paper.searches(scale)) == (key == "neyshabur2020"), (key, scale)
    paper = get_paper("neyshabur2020")
    searches = resolve_searches(paper, None, "paper")
    assert {(s.condition, s.target) for s in searches} == {
        (arm, target) for arm in ("P-T", "RI-T") for target in ("real", "clipart", "quickdraw", "chexpert")}
    grid = {r.key for r in paper.grid("learning_curves", "paper")}
    assert all(set(keys) <= grid for s in searches for keys in s.trials.values())
