"""Results that survive faults: kills at random points, a full disk, broken rows, failing renames, and
``repro verify`` on a tree corrupted in each way it checks."""
import csv
import errno
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import pytest

import repro.files
from repro.cli import main
from repro.plotting import save_figure
from repro.registry import get_paper
from repro.rowcheck import broken_in, check_tree
from repro.runner import workspace_for
from repro.store import append_row, write_result
from repro.train import _Checkpoint, _write_metrics
from repro.weightfiles import save_weights

ROOT = Path(__file__).resolve().parents[1]
ONLY = r"^(half0A|half0B|transfer0A0B_1_[1-4]|transfer-ft0A0B_1_[1-4])$"  # 10 runs, two of them base nets
SELECTION = ["random_splits", "--scale", "smoke", "--only", ONLY, "--jobs", "1"]


def _rows(out: Path) -> dict[str, dict]:
    with (out / "yosinski2014" / "smoke" / "random_splits.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    keyed = {r["run_key"]: r for r in rows}
    assert len(keyed) == len(rows), "a run has two rows"
    return keyed


def _without_time(rows: dict[str, dict]) -> dict[str, dict]:
    return {key: {c: v for c, v in row.items() if c != "seconds"} for key, row in rows.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict]:
    """The rows of the selection run once, without a fault."""
    out = tmp_path_factory.mktemp("reference")
    assert main(["run", "yosinski2014", *SELECTION, "--out", str(out)]) == 0
    return _without_time(_rows(out))


def _whole(out: Path) -> list:
    workspace = workspace_for(get_paper("yosinski2014"), "smoke", out)
    return broken_in(check_tree(workspace, [get_paper("yosinski2014").experiment("random_splits")]))


# ----------------------------------------------------------------------------- kills


class _Progress:
    """Follows a ``repro run`` process's output: its plan line, then one ``[  k/N] run_key ...`` line per run."""

    def __init__(self, stream) -> None:
        self.planned = False
        self.finished = 0
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self.changed:
                self.planned = self.planned or " runs in " in line
                self.finished += line.startswith("[")
                self.changed.notify_all()

    def wait_until_finished(self, n_runs: int, timeout: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.planned and self.finished >= n_runs, timeout=timeout)


def test_killed_at_random_points_many_times_the_grid_ends_with_the_uninterrupted_rows(tmp_path):
    """The uninterrupted run is a process of its own too: this test process may have started TensorFlow with
    another thread count before the suite pinned it, which sums in another order."""
    uninterrupted = tmp_path / "uninterrupted"
    subprocess.run([sys.executable, "-m", "repro.cli", "run", "yosinski2014", *SELECTION, "--out", str(uninterrupted)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    reference = _without_time(_rows(uninterrupted))
    tmp_path = tmp_path / "killed"
    command = [sys.executable, "-m", "repro.cli", "run", "yosinski2014", *SELECTION, "--out", str(tmp_path)]
    chooser = random.Random(23)
    rows_at_kill = []
    for _ in range(4):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   start_new_session=True)
        progress = _Progress(process.stdout)
        # The kill point is relative to the runs this attempt finishes, not to the wall clock, so that it does
        # not depend on the machine's speed: once the plan is printed (0) or once 1 run has finished, then a
        # seeded delay that lands inside a run or between two.
        progress.wait_until_finished(chooser.choice([0, 1]), timeout=240)
        time.sleep(chooser.uniform(0.0, 0.6))
        if process.poll() is not None:
            break
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        csv_path = tmp_path / "yosinski2014" / "smoke" / "random_splits.csv"
        rows_at_kill.append(len(_rows(tmp_path)) if csv_path.exists() else 0)
        assert _whole(tmp_path) == []  # a kill never leaves a broken row
    assert sum(1 for n in rows_at_kill if 0 < n < len(reference)) >= 2, f"kills did not land mid-grid: {rows_at_kill}"
    assert rows_at_kill == sorted(rows_at_kill)  # no finished row is ever lost
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    assert _without_time(_rows(tmp_path)) == reference
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("checkpoint.npz"))


# ----------------------------------------------------------------------------- a full disk


@pytest.mark.parametrize("failing_write", [11, 23, 40])  # a checkpoint, a result.json, a row
def test_a_full_disk_ends_in_one_line_naming_the_run_and_the_rerun_gives_the_uninterrupted_rows(
        tmp_path, monkeypatch, capsys, reference, failing_write):
    """The ``failing_write``-th file write of the command fails with ENOSPC (weights, checkpoint, metrics,
    result or row, whichever it is)."""
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == failing_write:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(repro.files.os, "fsync", fsync)
    assert main(["run", "yosinski2014", *SELECTION, "--out", str(tmp_path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: No space left on device: "), err
    assert "while running " in err[0] or "while recording the row of " in err[0], err
    assert "the finished runs are kept" in err[0]
    assert not list(tmp_path.rglob("*.tmp")) and _whole(tmp_path) == []
    monkeypatch.setattr(repro.files.os, "fsync", real_fsync)
    assert main(["run", "yosinski2014", *SELECTION, "--out", str(tmp_path)]) == 0
    assert _without_time(_rows(tmp_path)) == reference


# ----------------------------------------------------------------------------- broken rows


def test_a_row_cut_short_is_refused_by_compare_and_recorded_again_by_run(tmp_path, capsys):
    out = str(tmp_path)
    selection = ["random_splits", "--scale", "smoke", "--only", r"^(half0A|transfer0A0B_1_3)$", "--jobs", "1"]
    assert main(["run", "yosinski2014", *selection, "--out", out]) == 0
    path = tmp_path / "yosinski2014" / "smoke" / "random_splits.csv"
    whole = path.read_bytes()
    path.write_bytes(whole[:-20])  # an interrupted copy
    capsys.readouterr()
    assert main(["compare", "yosinski2014", "--scale", "smoke", "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: run transfer0A0B_1_3: the file ends inside this row" in err
    assert not (path.parent / "comparison.csv").exists()
    assert main(["run", "yosinski2014", *selection, "--out", out]) == 0
    assert "broken row removed, its run is recorded again" in capsys.readouterr().out
    assert path.read_bytes() == whole  # re-recorded from its result.json, nothing trained again


def test_a_damaged_result_json_ends_every_command_in_one_line(committed, capsys):
    """A finished run's result.json garbled by a copy: run, compare and verify stop with one error line naming the
    file and the run, exit 2, and rewrite no file of the tree."""
    result = committed / "yosinski2014" / "mini" / "runs" / "half0A" / "result.json"
    result.write_text("{")
    before = {p: p.stat().st_mtime_ns for p in committed.rglob("*") if p.is_file()}
    for command in (["run", "yosinski2014", "random_splits", "--only", "^half0A$"], ["compare", "yosinski2014"],
                    ["verify", "yosinski2014"]):
        capsys.readouterr()
        assert main([*command, "--out", str(committed)]) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: cannot read {result}") and "run half0A" in err[0], err
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_a_row_that_is_not_its_runs_result_is_broken(tmp_path):
    assert main(["run", "yosinski2014", "random_splits", "--scale", "smoke", "--only", r"^half0A$", "--jobs", "1",
                 "--out", str(tmp_path)]) == 0
    path = tmp_path / "yosinski2014" / "smoke" / "random_splits.csv"
    rows = list(csv.DictReader(path.open(newline="")))
    good = rows[0]["acc_final"]
    rows[0]["acc_final"] = good[:-1] if len(good) > 3 else "0.123"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    broken = _whole(tmp_path)
    assert [b.run_key for b in broken] == ["half0A"] and "acc_final is" in broken[0].reason
    path.write_text(path.read_text().replace("half0A", "half9Z"))
    assert "not a run of random_splits" in _whole(tmp_path)[0].reason


# ----------------------------------------------------------------------------- a rename that fails


def _writers(tmp_path: Path) -> dict:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    figure = __import__("matplotlib.figure", fromlist=["Figure"]).Figure()
    return {
        "row": ("rows.csv", lambda p: append_row(p, dict(run_key="b", value=2), ("run_key", "value"))),
        "result.json": ("run/result.json", lambda p: write_result(p.parent, dict(acc=0.5))),
        "weights .h5": ("final.weights.h5", lambda p: save_weights(model, p)),
        "weights .npz": ("epoch-001.weights.npz", lambda p: save_weights(model, p)),
        "checkpoint": ("checkpoint.npz", lambda p: _Checkpoint(p).save(model, optimizer, 5, 1.0)),
        "metrics.csv": ("metrics.csv", lambda p: _write_metrics(p, [dict(step=1)], ("step",))),
        "figure": ("figure.png", lambda p: save_figure(figure, p)),
        "json": ("config.json", lambda p: repro.files.write_json(p, dict(a=1))),
    }


@pytest.mark.parametrize("writer", ["row", "result.json", "weights .h5", "weights .npz", "checkpoint",
                                    "metrics.csv", "figure", "json"])
def test_a_writer_whose_rename_fails_leaves_the_previous_file_intact(tmp_path, monkeypatch, writer):
    name, write = _writers(tmp_path)[writer]
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    before = path.read_bytes()
    listing = sorted(os.listdir(path.parent))

    def failing_replace(source, target):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(repro.files.os, "replace", failing_replace)
    monkeypatch.setattr(repro.files.os, "rename", failing_replace)
    with pytest.raises(OSError):
        write(path)
    assert path.read_bytes() == before  # a writer that wrote in place, without the rename, fails here
    assert sorted(os.listdir(path.parent)) == listing  # no temporary left


# ----------------------------------------------------------------------------- repro verify


@pytest.fixture()
def committed(tmp_path) -> Path:
    """A copy of the committed Yosinski mini tree."""
    shutil.copytree(ROOT / "results" / "yosinski2014" / "mini", tmp_path / "yosinski2014" / "mini")
    return tmp_path


def _verify(out: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "yosinski2014", "--out", str(out)])
    return code, capsys.readouterr().out


def _failing(report: str) -> list[str]:
    return [line.split()[1].rstrip(":") for line in report.splitlines() if line.strip().startswith("FAIL")]


def test_verify_passes_the_committed_results(committed, capsys):
    code, report = _verify(committed, capsys)
    assert code == 0 and report.rstrip().endswith("verified: every check holds"), report


def _cut_a_row(scale: Path) -> None:
    path = scale / "natman.csv"
    path.write_bytes(path.read_bytes()[:-20])


def _duplicate_a_row_in_a_shard(scale: Path) -> None:
    lines = (scale / "natman.csv").read_text().splitlines(keepends=True)
    (scale / "natman.shard-1-of-2.csv").write_text(lines[0] + lines[1])


def _lose_a_config(scale: Path) -> None:
    (scale / "runs" / "transfer0A0B_1_3" / "config.json").unlink()


def _lose_a_dependency(scale: Path) -> None:
    shutil.rmtree(scale / "runs" / "half0A")


def _touch_the_run_summary(scale: Path) -> None:
    summary = json.loads((scale / "run_summary.json").read_text())
    (scale / "run_summary.json").write_text(json.dumps({**summary, "seconds": 1.0}))


def _leave_a_temporary(scale: Path) -> None:
    (scale / ".natman.csv.x1y2.tmp").write_text("paper,experi")


@pytest.mark.parametrize("corrupt, failing", [
    (_cut_a_row, {"rows", "comparison"}),
    (_duplicate_a_row_in_a_shard, {"rows", "comparison"}),
    (_lose_a_config, {"runs"}),
    (_lose_a_dependency, {"runs", "dependencies"}),
    (_touch_the_run_summary, {"comparison"}),
    (_leave_a_temporary, {"writers"}),
])
def test_verify_fails_the_check_each_corruption_breaks(committed, capsys, corrupt, failing):
    corrupt(committed / "yosinski2014" / "mini")
    code, report = _verify(committed, capsys)
    assert code == 1 and set(_failing(report)) == failing, report


def test_verify_reads_a_reused_rows_files_from_the_run_it_reused(tmp_path, capsys):
    """The committed Liu tree's identical-label rows reuse the input series' MNIST runs (their own directories
    hold no config.json): verify passes it, and fails it when the reused run's config.json or the row's own
    result.json is lost."""
    shutil.copytree(ROOT / "results" / "liu2019" / "mini", tmp_path / "liu2019" / "mini")
    shutil.copytree(ROOT / "results" / "sources" / "mini", tmp_path / "sources" / "mini")
    scale = tmp_path / "liu2019" / "mini"
    reused = [r for r in csv.DictReader(open(scale / "label_similarity.csv")) if r["reused"]]
    assert reused and not (scale / "runs" / reused[0]["run_key"] / "config.json").exists()
    capsys.readouterr()
    assert main(["verify", "liu2019", "--out", str(tmp_path)]) == 0, capsys.readouterr().out
    (scale / "runs" / reused[0]["reused"] / "config.json").unlink()
    (scale / "runs" / reused[1]["run_key"] / "result.json").unlink()
    capsys.readouterr()
    assert main(["verify", "liu2019", "--out", str(tmp_path)]) == 1
    report = capsys.readouterr().out
    assert f"run {reused[0]['run_key']} " in report and f"run {reused[1]['run_key']} " in report


def test_verify_fails_while_a_command_holds_the_trees_lock(committed, capsys):
    with (committed / "yosinski2014" / "mini" / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        code, report = _verify(committed, capsys)
    assert code == 1 and _failing(report) == ["writers"] and "is held" in report
    code, _ = _verify(committed, capsys)  # released with its holder: a dead process leaves no lock
    assert code == 0
