"""Shards of one grid running at the same time on one results directory.

Three ``repro run yosinski2014 natman --scale smoke --shard I/3`` processes
start together on one output directory. Every transfer run of the natman grid
starts from one of its two base nets (``halfnatmanA``, ``halfnatmanB``), each
owned by one shard and needed by others, so the shards race for them. The
tests check that the shards' files hold every run of the grid exactly once,
that every run (the shared base nets included) was trained exactly once, that
each shard declares the same TensorBoard HParams grid, that ``repro compare``
merges the shards, and that rerunning a finished shard trains nothing. The
last test has two processes append rows to one shard file at the same time,
as two pods of one job index can.
"""
import io
import json
import subprocess
import sys
import textwrap
from contextlib import redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import metadata as hparams_metadata

from repro.cli import main
from repro.events import FIGURES_RUN
from repro.plan import Shard
from repro.store import csv_name, experiment_csvs, read_rows
from repro.yosinski2014 import protocol

PAPER, EXPERIMENT, SCALE, COUNT = "yosinski2014", "natman", "smoke", 3
TIMEOUT = 600


def _run_args(out: Path, *extra: str) -> list[str]:
    return ["run", PAPER, EXPERIMENT, "--scale", SCALE, "--out", str(out), *extra]


def _process(args: list[str], **popen) -> subprocess.Popen:
    """``repro <args>`` in a process of its own, as a job-array task runs it."""
    return subprocess.Popen([sys.executable, "-m", "repro.cli", *args], **popen)


def _main(args: list[str]) -> tuple[int, str]:
    """``repro <args>`` in this process: exit code and standard output."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(args)
    return code, buffer.getvalue()


def _events(directory: Path):
    """Every summary value in the event files directly inside ``directory``: (file name, step, value)."""
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                yield path.name, event.step, value


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """Three shards started at the same time on one output directory, and the grid they split."""
    out = tmp_path_factory.mktemp("shards")
    logs = [out / f"shard-{i}.log" for i in range(1, COUNT + 1)]
    processes = []
    for index, log in enumerate(logs, start=1):
        with log.open("w") as handle:
            processes.append(_process(_run_args(out, "--shard", f"{index}/{COUNT}"),
                                      stdout=handle, stderr=subprocess.STDOUT))
    codes = [p.wait(timeout=TIMEOUT) for p in processes]
    assert codes == [0] * COUNT, "\n\n".join(log.read_text() for log in logs)
    code, listed = _main(_run_args(out, "--dry-run", "--json"))
    assert code == 0
    return SimpleNamespace(out=out, scale_dir=out / PAPER / SCALE, keys=[r["key"] for r in json.loads(listed) if r["selected"]],
                           runs={r.key: r for r in protocol.grid(EXPERIMENT, SCALE)})


def _owner(run_key: str) -> int:
    return next(i for i in range(1, COUNT + 1) if Shard(i, COUNT).owns(run_key))


def test_the_grid_makes_shards_race_for_a_shared_base_net(sharded):
    """Precondition of the other tests: some base net is needed by a shard that does not own it."""
    assert sorted(sharded.keys) == sorted(sharded.runs)
    needs = {}
    for run in sharded.runs.values():
        for need in run.needs():
            needs.setdefault(need.key, set()).add(_owner(run.key))
    assert any(shards - {_owner(base)} for base, shards in needs.items())


def test_each_shard_file_holds_its_slice_and_together_every_run_once(sharded):
    files = experiment_csvs(sharded.scale_dir, EXPERIMENT)
    assert [f.name for f in files] == [csv_name(EXPERIMENT, (i, COUNT)) for i in range(1, COUNT + 1)]
    written = []
    for index, path in enumerate(files, start=1):
        keys = [row["run_key"] for row in read_rows([path])]
        with path.open() as handle:
            assert len(handle.read().splitlines()) == len(keys) + 1  # header + one line per run, none dropped
        assert sorted(keys) == sorted(k for k in sharded.keys if Shard(index, COUNT).owns(k))
        written += keys
    assert sorted(written) == sorted(sharded.keys)  # the union is the grid, and no key is in two files


def test_every_run_and_every_shared_base_net_was_trained_once(sharded):
    """One training history per run: its event files hold ``n_evals`` training-loss points and one HParams record."""
    for key in sharded.keys:
        run_dir = sharded.scale_dir / "runs" / key
        result = json.loads((run_dir / "result.json").read_text())
        values = list(_events(run_dir))
        losses = [step for _, step, value in values if value.tag == "train/loss"]
        assert len(losses) == result["n_evals"] and len(set(losses)) == len(losses), key
        assert sum(value.tag == hparams_metadata.SESSION_START_INFO_TAG for _, _, value in values) == 1, key


def test_every_shard_declares_the_whole_hparams_grid(sharded):
    """Whichever shard's declaration TensorBoard reads first, it lists every run's value on every axis."""
    declarations = [hparams_metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
                    for _, _, value in _events(sharded.scale_dir / "runs" / FIGURES_RUN)
                    if value.tag == hparams_metadata.EXPERIMENT_TAG]
    assert len(declarations) >= COUNT  # one per command that ran on the directory
    for declaration in declarations:
        domains = {info.name: {getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values}
                   for info in declaration.hparam_infos}
        for run in sharded.runs.values():
            for axis, value in dict(run.axes, experiment=run.experiment).items():
                assert value in domains[axis], (axis, run.key)


def test_compare_merges_the_shards(sharded):
    assert main(["compare", PAPER, "--scale", SCALE, "--out", str(sharded.out)]) == 0
    files = ", ".join(csv_name(EXPERIMENT, (i, COUNT)) for i in range(1, COUNT + 1))
    notes = (sharded.scale_dir / "comparison.md").read_text()
    assert f"- {EXPERIMENT}: {len(sharded.keys)} runs from {files}\n" in notes


def _snapshot(scale_dir: Path) -> dict:
    """Size and modification time of every file of the runs and of the CSVs (the HParams declaration excluded)."""
    files = [p for p in scale_dir.rglob("*")
             if p.is_file() and p.parent != scale_dir / "runs" / FIGURES_RUN and p.name != ".lock"]
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def test_rerunning_a_finished_shard_trains_nothing(sharded):
    before = _snapshot(sharded.scale_dir)
    code, printed = _main(_run_args(sharded.out, "--shard", f"1/{COUNT}"))
    assert code == 0
    owned = [k for k in sharded.keys if Shard(1, COUNT).owns(k)]
    assert not [line for line in printed.splitlines() if line.startswith("[")]
    assert f"{len(owned)} of the {len(owned)} runs have finished already: nothing to do" in printed
    assert "running dependency" not in printed
    assert _snapshot(sharded.scale_dir) == before


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from repro.store import record_row

    scale_dir, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    for i in range(count):
        for key in (f"{name}-{i}", f"both-{i}"):
            record_row(scale_dir, "e", (1, 2), {"run_key": key, "value": name}, ["run_key", "value"])
""")


def test_two_writers_of_one_shard_file_lose_and_duplicate_no_row(tmp_path):
    """Two processes of the same shard (two pods of one job index) append to one file at the same time."""
    count = 60
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, str(count)])
               for name in ("a", "b")]
    assert [w.wait(timeout=TIMEOUT) for w in writers] == [0, 0]
    rows = read_rows([tmp_path / csv_name("e", (1, 2))])
    keys = [row["run_key"] for row in rows]
    expected = [f"{name}-{i}" for name in ("a", "b", "both") for i in range(count)]
    assert sorted(keys) == sorted(expected)
    with (tmp_path / csv_name("e", (1, 2))).open() as handle:
        assert len(handle.read().splitlines()) == len(expected) + 1
