"""``repro run --jobs N``: worker processes keep the run contracts (rows, dependencies, resume, Ctrl-C)."""
import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.cli import main
from repro.errors import BadArgument
from repro.scheduler import check_jobs, default_jobs, jobs_for
from repro.yosinski2014 import protocol

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def natman_trees(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """The smoke natman grid run once in one process (``--jobs 1``) and once in two workers: each tree and the
    command's output."""
    trees = {}
    for jobs in ("1", "2"):
        out = tmp_path_factory.mktemp(f"jobs{jobs}")
        done = subprocess.run([sys.executable, "-m", "repro.cli", "run", "yosinski2014", "natman", "--scale", "smoke",
                               "--out", str(out), "--jobs", jobs], cwd=ROOT, check=True, capture_output=True,
                              text=True, timeout=TIMEOUT)
        trees[jobs] = (out / "yosinski2014" / "smoke", done.stdout)
    return trees


def test_two_workers_run_the_grid_once_with_dependencies_first(natman_trees):
    scale_dir, output = natman_trees["2"]
    progress = [line for line in output.splitlines() if line.startswith("[")]
    grid = {r.key: r for r in protocol.grid("natman", "smoke")}
    assert len(progress) == len(grid) and all("ETA" in line for line in progress)
    rows = _rows(scale_dir / "natman.csv")
    assert sorted(r["run_key"] for r in rows) == sorted(grid)
    for key, run in grid.items():
        run_dir = scale_dir / "runs" / key
        for need in run.needs():  # a transfer starts after its base net finished
            base_done = (scale_dir / "runs" / need.key / "result.json").stat().st_mtime
            assert (run_dir / "config.json").stat().st_mtime >= base_done, (key, need.key)
    summary = json.loads((scale_dir / "run_summary.json").read_text())
    assert summary["jobs"] == 2


def test_a_grid_gives_the_same_numbers_in_one_process_and_in_two_workers(natman_trees):
    """One intra-op thread per run (the default) in the command's own process and in each worker: every column of
    every row but the wall time is identical (with two threads in one process the float sums split differently
    and the losses differ in their last digits)."""
    rows = {}
    for jobs, (scale_dir, _) in natman_trees.items():
        rows[jobs] = {r["run_key"]: {k: v for k, v in r.items() if k != "seconds"}
                      for r in _rows(scale_dir / "natman.csv")}
        assert json.loads((scale_dir / "run_summary.json").read_text())["threads_per_run"] == 1
    assert len(rows["1"]) == len(protocol.grid("natman", "smoke"))
    assert rows["1"] == rows["2"]


def test_jobs_must_be_positive_and_cannot_share_cores_with_a_distribution_strategy():
    with pytest.raises(BadArgument, match="--jobs 0"):
        check_jobs(0, "default")
    with pytest.raises(BadArgument, match="--jobs 1 with it"):
        check_jobs(2, "mirrored")


def test_threads_per_run_must_be_positive(capsys):
    assert main(["run", "yosinski2014", "--scale", "smoke", "--threads", "0"]) == 2
    assert "bad --threads 0" in capsys.readouterr().err


def test_default_jobs_is_one_per_core_but_one_under_a_distribution_strategy():
    assert jobs_for(None, "default") == default_jobs()
    assert jobs_for(None, "mirrored") == jobs_for(None, "multi_worker_mirrored") == 1
    assert jobs_for(3, "default") == 3


def test_workers_run_the_plan_s_own_runs_not_a_second_reading_of_the_protocol(tmp_path, monkeypatch):
    """A grid declared in this process only (here a patched protocol: split seed 5) runs in --jobs workers: the
    transfer run finds its source base net in the parent's index, which a worker re-reading the protocol lacks."""
    from dataclasses import replace

    monkeypatch.setitem(protocol.SCALES, "smoke", replace(protocol.SMOKE_SCALE, random_splits=(5,)))
    assert main(["run", "yosinski2014", "random_splits", "--scale", "smoke", "--out", str(tmp_path), "--jobs", "2",
                 "--only", "^(half5B|transfer5A5B_1_1)$"]) == 0
    rows = _rows(tmp_path / "yosinski2014" / "smoke" / "random_splits.csv")
    assert sorted(r["run_key"] for r in rows) == ["half5B", "transfer5A5B_1_1"]


def _interruptible() -> None:
    """In the child before exec: Ctrl-C as a terminal delivers it, whatever this test process inherited (a SIGINT
    ignored or blocked here would be ignored or blocked in the child too, and the grid would run to its end)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def test_ctrl_c_stops_the_workers_and_a_rerun_completes_without_losing_or_repeating_a_row(tmp_path):
    command = [sys.executable, "-m", "repro.cli", "run", "yosinski2014", "random_splits", "--scale", "smoke",
               "--out", str(tmp_path), "--jobs", "2"]
    csv_path = tmp_path / "yosinski2014" / "smoke" / "random_splits.csv"
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=_interruptible)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and (not csv_path.exists() or not _rows(csv_path)):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # at the first row: the 39 smoke runs take seconds, so interrupt at once
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130, (f"test process: SIGINT handler {signal.getsignal(signal.SIGINT)}, "
                                       f"blocked {signal.pthread_sigmask(signal.SIG_BLOCK, [])}\n{output}")
    assert "rerun the same command to resume" in output
    kept = [r["run_key"] for r in _rows(csv_path)]
    grid = [r.key for r in protocol.grid("random_splits", "smoke")]
    assert 1 <= len(kept) < len(grid) and len(set(kept)) == len(kept)
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=TIMEOUT)
    rows = _rows(csv_path)
    assert sorted(r["run_key"] for r in rows) == sorted(grid)
    assert [r["run_key"] for r in rows][:len(kept)] == kept  # the rows written before Ctrl-C are untouched
