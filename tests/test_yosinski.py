"""Yosinski 2014 end to end: the grid, a smoke run of every experiment (kills and other faults:
test_faults.py), clear errors, and the paper-scale ImageNet pipeline under tfds mock data."""
import csv
import dataclasses
from collections import Counter
from pathlib import Path

from repro.cli import main
from repro.yosinski2014 import protocol


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_mini_grid_is_the_papers_grid():
    specs = {e: protocol.grid(e, "mini") for e in ("random_splits", "natman", "random_features")}
    conditions = Counter((s.axis("condition"), s.axis("n")) for s in specs["random_splits"])
    n_splits = len(protocol.MINI_SCALE.random_splits)
    assert n_splits >= 2
    assert conditions[("base", 0)] == 2 * n_splits
    for n in range(1, 8):
        assert conditions[("BnB", n)] == n_splits
        assert conditions[("AnB", n)] == 2 * n_splits  # both directions, pooled
        assert conditions[("BnB+", n)] == conditions[("AnB+", n)] == n_splits
    keys = {s.key for s in specs["random_splits"]}
    assert {"half0A", "half1B", "transfer0A0A_1_4", "transfer0B0A_1_7", "transfer-ft1A1B_1_3"} <= keys
    assert len(keys) == len(specs["random_splits"])
    natman = Counter(s.axis("condition") for s in specs["natman"])
    assert natman == {"base": 2, "AnB": 14}
    assert [s.key for s in specs["random_features"]] == ["netbase"] + [f"nolearn_1_{n}" for n in range(1, 8)]
    assert all(s.needs() == () for s in specs["random_features"])  # random frozen layers copy nothing


def test_mini_hard_is_the_mini_design_on_jittered_images_four_times_as_long():
    """The headroom variant (papers/yosinski2014/README.md, pilots 5-6, 2b-3b): the same nets and treatments, every
    image jittered at strength 4, every run 4x the iterations with the same number of evaluations."""
    mini, hard = protocol.MINI_SCALE, protocol.MINI_HARD_SCALE
    assert hard.jitter == 4.0 and mini.jitter == 0.0
    assert hard.schedule.length == 4 * mini.schedule.length and hard.schedule.step_size == 4 * mini.schedule.step_size
    assert hard.schedule.length // hard.schedule.eval_every == mini.schedule.length // mini.schedule.eval_every
    runs = protocol.runs("mini-hard")
    assert all(r.data.jitter == 4.0 and r.schedule.length == 4800 for r in runs)
    assert {r.model for r in runs} == {r.model for r in protocol.runs("mini")}
    assert hard.random_splits == (0, 1, 2) and hard.base_nets == 2  # pilot 3b


def test_paper_grid_follows_the_code():
    specs = protocol.grid("random_splits", "paper")
    assert sum(s.axis("condition") == "base" for s in specs) == 8
    assert sum(s.axis("condition") == "AnB" for s in specs) == 8 * 7
    assert {s.axis("split") for s in specs if s.axis("condition") == "AnB+"} == {"0", "1"}
    reduced = protocol.grid("reduced_data", "paper")
    assert [s.axis("examples_per_class") for s in reduced] == [1, 2, 5, 10, 25, 50, 100, 250, 500, 750, 1000, 1300]
    assert [s.data.examples_per_class for s in reduced] == [s.axis("examples_per_class") for s in reduced]
    schedule = protocol.PAPER_SCALE.schedule
    assert (schedule.length, schedule.unit, schedule.step_size, schedule.top_k) == (450_000, "iteration", 100_000, 10)


def test_transfer_runs_record_the_split_and_the_transfer(tmp_path):
    assert main(["run", "yosinski2014", "random_splits", "--scale", "smoke", "--out", str(tmp_path),
                 "--only", r"^(half0A|transfer0A0B_1_3)$"]) == 0
    import json

    config = json.loads((tmp_path / "yosinski2014/smoke/runs/transfer0A0B_1_3/config.json").read_text())
    assert config["transfer"]["copied"] == ["conv1", "conv2", "conv3"]
    assert config["transfer"]["frozen"] == ["conv1", "conv2", "conv3"]
    from repro.yosinski2014 import splits

    assert config["data"]["split"]["classes_a"] == list(splits.fashion_digits_random_split(0).classes_a)
    assert len(config["data"]["split"]["classes_a"]) == 10  # half of the 20-class union
    assert config["data"]["split"]["half"] == "B"
    assert set(config["seeds"]) == {"init", "data"} and config["run"]["axes"]["seed"] > 0
    rows = _rows(tmp_path / "yosinski2014/smoke/random_splits.csv")
    assert [r["run_key"] for r in rows] == ["half0A", "transfer0A0B_1_3"]  # only the selected runs get rows
    assert (tmp_path / "yosinski2014/smoke/runs/half0A/final.weights.h5").exists()


def test_smoke_run_of_the_whole_grid_then_compare(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["run", "yosinski2014", "--scale", "smoke", "--out", out]) == 0
    scale_dir = tmp_path / "yosinski2014" / "smoke"
    for experiment in protocol.SMOKE_SCALE.experiments:
        rows = _rows(scale_dir / f"{experiment}.csv")
        assert len(rows) == len(protocol.grid(experiment, "smoke"))
        assert all(0.0 <= float(r["acc_top10_mean"]) <= 1.0 for r in rows)
    import json

    summary = json.loads((scale_dir / "run_summary.json").read_text())
    assert summary["command"] == f"repro run yosinski2014 --scale smoke --out {out}"  # the command as typed
    captured = capsys.readouterr().out
    assert "ETA" in captured and "done:" in captured and f"next: repro compare yosinski2014 --scale smoke --out {out}" in captured
    assert main(["run", "yosinski2014", "--scale", "smoke", "--out", out]) == 0  # everything skipped
    assert json.loads((scale_dir / "run_summary.json").read_text()) == summary  # the run that trained keeps it
    rerun = capsys.readouterr().out.splitlines()
    total = sum(len(protocol.grid(e, "smoke")) for e in protocol.SMOKE_SCALE.experiments)
    assert rerun[1] == f"{total} of the {total} runs have finished already: nothing to do" and len(rerun) == 3
    assert main(["compare", "yosinski2014", "--scale", "smoke", "--out", out]) == 0
    assert (scale_dir / "comparison.md").exists() and (scale_dir / "comparison.csv").exists()


def test_unknown_paper_bad_shard_and_bad_experiment_fail_cleanly(capsys):
    assert main(["run", "nosuchpaper"]) == 2
    assert "unknown paper 'nosuchpaper'; accepted: atlas, chen2022, liu2019, neyshabur2020, yosinski2014" in capsys.readouterr().err
    assert main(["run", "yosinski2014", "--shard", "9/4"]) == 2
    assert "bad --shard '9/4'" in capsys.readouterr().err
    assert main(["run", "yosinski2014", "nosuchexperiment"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert main(["run", "yosinski2014", "--scale", "huge"]) == 2
    assert "unknown scale 'huge'" in capsys.readouterr().err


def test_missing_dataset_names_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REPRO_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    code = main(["run", "yosinski2014", "--scale", "smoke", "--out", str(tmp_path / "out"),
                 "--data-dir", str(tmp_path / "tfds"), "--only", "^half0A$"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "apt-get install dataset-fashion-mnist" in err
    assert not (tmp_path / "out" / "yosinski2014" / "smoke" / "random_splits.csv").exists()


def test_paper_scale_pipeline_trains_under_mock_data(mocked_imagenet, tmp_path, monkeypatch):
    """The exact paper preset (ImageNet through tfds, CaffeNet 227x227x3, Caffe solver) for two iterations."""
    tiny = dataclasses.replace(protocol.PAPER_SCALE.schedule, length=2, batch_size=2, eval_every=2)
    monkeypatch.setitem(protocol.SCALES, "paper", dataclasses.replace(protocol.PAPER_SCALE, schedule=tiny))
    assert main(["run", "yosinski2014", "random_splits", "--scale", "paper", "--out", str(tmp_path / "out"),
                 "--data-dir", mocked_imagenet, "--only", "^half0A$"]) == 0
    rows = _rows(tmp_path / "out/yosinski2014/paper/random_splits.csv")
    assert [r["run_key"] for r in rows] == ["half0A"] and rows[0]["steps"] == "2"
    import json

    config = json.loads((tmp_path / "out/yosinski2014/paper/runs/half0A/config.json").read_text())
    assert config["run"]["model"]["input_shape"] == [227, 227, 3] and config["data"]["train_pipeline"]["crop"] == 227


def test_a_source_without_weights_is_trained_again(tmp_path, capsys):
    """Committed results keep result.json but no weights: a transfer run must still find its source."""
    out = ["--scale", "smoke", "--out", str(tmp_path)]
    assert main(["run", "yosinski2014", "random_splits", "--only", "^half0A$", *out]) == 0
    weights = tmp_path / "yosinski2014/smoke/runs/half0A/final.weights.h5"
    weights.unlink()
    capsys.readouterr()
    assert main(["run", "yosinski2014", "random_splits", "--only", "^transfer0A0B_1_1$", *out]) == 0
    assert "running dependency half0A first" in capsys.readouterr().out
    assert weights.exists()


def test_jittered_tasks_share_each_image_s_distortion_and_record_it():
    """With ``jitter`` > 0 the 20-class union is distorted once: an image is the same in a half and in the whole
    label set (compared as differences of two images of one class, which the mean subtraction leaves alone),
    labels and the undistorted union are untouched, and config.json records the transform and its seeds."""
    import numpy as np

    from repro.yosinski2014.data import fashion_digits, mini_task_data

    spec = dataclasses.replace(protocol.grid("random_splits", "smoke")[0].data, jitter=2.0)
    half, config = mini_task_data(dataclasses.replace(spec, task="0A"), None)
    whole, _ = mini_task_data(dataclasses.replace(spec, task="whole"), None)
    jittered = fashion_digits(spec.train_per_class, spec.val_per_class, None, 2.0)
    plain = fashion_digits(spec.train_per_class, spec.val_per_class, None)
    assert not np.array_equal(jittered[0], plain[0]) and np.array_equal(jittered[1], plain[1])
    label = half.y_train[0]  # a half's labels are 0-9, the whole label set's the original ids
    a, b = np.flatnonzero(half.y_train == label)[:2]
    c, d = np.flatnonzero(whole.y_train == config["split"]["classes_a"][label])[:2]
    assert np.allclose(half.x_train[a] - half.x_train[b], whole.x_train[c] - whole.x_train[d], atol=1e-6)
    assert config["distortion"]["transform"] == "jitter" and config["distortion"]["strength"] == 2.0
    assert config["distortion"]["seeds"] == {"train": 2014, "validation": 2015}
