"""TensorBoard shows the committed results: runs named by their keys, scalars, the HParams grid, the figures.

Read with TensorBoard's own loader (the event multiplexer its server uses), on
``results/<paper>/mini/runs`` as committed.
"""
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins.hparams import metadata as hparams_metadata

from repro.events import FIGURES_RUN
from repro.registry import get_paper

ROOT = Path(__file__).resolve().parent.parent
PAPERS = ("yosinski2014", "neyshabur2020", "liu2019", "chen2022")


def _load(logdir: Path) -> plugin_event_multiplexer.EventMultiplexer:
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return multiplexer


@pytest.mark.parametrize("paper", PAPERS)
def test_committed_runs_show_in_tensorboard(paper):
    runs_dir = ROOT / "results" / paper / "mini" / "runs"
    multiplexer = _load(runs_dir)
    runs = multiplexer.Runs()
    trained = {p.parent.name for p in runs_dir.glob("*/metrics.csv")}
    assert trained and trained <= set(runs), sorted(trained - set(runs))[:5]
    assert "." not in runs and not any(name.endswith("/tb") for name in runs)
    for name in trained:
        assert "eval/accuracy" in runs[name]["tensors"], name
    sessions = multiplexer.PluginRunToTagToContent(hparams_metadata.PLUGIN_NAME)
    experiments = [r for r, tags in sessions.items() if hparams_metadata.EXPERIMENT_TAG in tags]
    assert experiments == [FIGURES_RUN]
    grid = {r.key for r in get_paper(paper).runs("mini") if r.experiment is not None}
    with_session = {r for r, tags in sessions.items() if hparams_metadata.SESSION_START_INFO_TAG in tags}
    present = {p.name for p in runs_dir.iterdir() if p.is_dir()}
    assert grid & present and grid & present <= with_session
    figures = sorted((ROOT / "results" / paper / "mini").glob("*.png"))
    images = runs[FIGURES_RUN]["tensors"]
    assert {f"figures/{f.stem}" for f in figures} <= set(images)
