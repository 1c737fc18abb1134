"""Liu et al. 2019: the grid, the deviation metric, the label relations, smoke and paper-scale runs (the claim rules:
tests/test_liu2019_claims.py)."""
import csv
import dataclasses
import json

import numpy as np
import pytest

import repro  # noqa: F401
import keras
import tensorflow_datasets as tfds

from repro.cli import main
from repro.liu2019 import protocol
from repro.liu2019.probes import DeviationLog, deviation
from repro.liu2019.tasks import relate_labels
from repro.registry import get_paper
from tests.test_liu2019_data import write_metadata

PAPER = get_paper("liu2019")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The whole smoke grid and its comparison, run once for the module."""
    out = tmp_path_factory.mktemp("liu")
    assert main(["run", "liu2019", "--scale", "smoke", "--out", str(out)]) == 0
    assert main(["compare", "liu2019", "--scale", "smoke", "--out", str(out)]) == 0
    return out


def rows(scale_dir, experiment):
    with open(scale_dir / f"{experiment}.csv", newline="") as f:
        return list(csv.DictReader(f))


# --- smoke runs of every experiment --------------------------------------------------------------

def test_every_experiment_has_a_row_for_every_run_of_its_grid(smoke):
    scale_dir = smoke / "liu2019" / "smoke"
    for experiment in protocol.EXPERIMENTS:
        keys = [r["run_key"] for r in rows(scale_dir, experiment)]
        assert sorted(keys) == sorted(r.key for r in PAPER.grid(experiment, "smoke")), experiment


def test_comparison_judges_every_claim_and_draws_every_figure(smoke):
    scale_dir = smoke / "liu2019" / "smoke"
    with open(scale_dir / "comparison.csv", newline="") as f:
        table = list(csv.DictReader(f))
    claims = [r for r in table if r["section"] == "claim"]
    assert [c["key"] for c in claims] == [f"L-C{i}" for i in range(1, 8)]
    assert all(c["verdict"] in ("holds", "fails", "inconclusive") for c in claims), [
        (c["key"], c["evidence"]) for c in claims]  # judged, not "not run" (the rules: tests/test_liu2019_claims.py)
    lr = next(r for r in table if r["section"] == "quantity" and r["key"] == "lr")
    assert float(lr["measured"]) == 0.01  # read from the runs' config.json
    for name in ("deviation", "surfaces", "optimization", "similarity", "checkpoints", "theory"):
        assert (scale_dir / f"{name}.png").stat().st_size > 10_000, name


def test_deviation_is_logged_every_step_and_ends_at_the_weights(smoke):
    scale_dir = smoke / "liu2019" / "smoke"
    run_dir = scale_dir / "runs" / "dev-random-s1"
    steps = list(csv.DictReader(open(run_dir / "steps.csv")))
    result = json.loads((run_dir / "result.json").read_text())
    assert [int(r["step"]) for r in steps] == list(range(1, result["steps"] + 1))
    from repro.models.lenet import lenet

    config = json.loads((run_dir / "config.json").read_text())
    start, final = lenet(10, seed=config["seeds"]["init"]), lenet(10)
    final.load_weights(run_dir / "final.weights.h5")
    expected = deviation([final.get_layer(n).kernel.numpy() for n in ("conv1", "conv2")],
                         [start.get_layer(n).kernel.numpy() for n in ("conv1", "conv2")])
    assert float(steps[-1]["deviation_conv"]) == pytest.approx(expected, rel=1e-5)


def test_sources_are_shared_by_key_and_checkpointed_every_epoch(smoke):
    sources = sorted(p.name for p in (smoke / "sources" / "smoke").iterdir())
    assert len(sources) == 6  # fashion, fashion-shuffled and MNIST with each of the four label relations
    fashion = next(smoke / "sources" / "smoke" / s for s in sources if s.startswith("lenet-fashion-fashion"))
    epochs = sorted(p.name for p in (fashion / "checkpoints").iterdir())
    assert epochs == [f"epoch-{e:03d}.weights.npz" for e in range(protocol.SMOKE.source_schedule.length + 1)]


def test_shared_configurations_reuse_one_run(smoke):
    scale_dir = smoke / "liu2019" / "smoke"
    reused = {r["run_key"]: r["reused"] for e in ("input_similarity", "checkpoints") for r in rows(scale_dir, e)}
    assert reused["in-random-s2"] == "dev-random-s2"  # random arms do not depend on the head rule
    assert reused["in-fashion-s1"] == ""  # lenet.py transfers the head, the ResNet scripts (deviation) do not
    assert reused["ck-e2-s1"] == "in-mnist-s1"  # the final checkpoint of the 2-epoch smoke source
    assert reused["in-fashion-shuffled-s1"] == "" and reused["ck-e1-s1"] == ""
    labels = {r["run_key"]: r["reused"] for r in rows(scale_dir, "label_similarity")}
    assert labels["lab-mnist-s1"] == "in-mnist-s1"  # identical labels: the input series' MNIST source
    assert labels["lab-mnist-coarsened-s1"] == ""


def test_pretrained_runs_copy_the_body_and_the_head_where_the_code_does(smoke):
    runs = smoke / "liu2019" / "smoke" / "runs"
    new_head = json.loads((runs / "dev-fashion-s1" / "config.json").read_text())["transfer"]
    assert new_head["copied"] == ["conv1", "conv2", "fc1"] and new_head["reinitialized"][0] == "cls_fc1"
    identical = json.loads((runs / "in-mnist-s1" / "config.json").read_text())["transfer"]
    coarse = json.loads((runs / "lab-mnist-coarsened-s1" / "config.json").read_text())["transfer"]
    assert identical["copied"] == ["conv1", "conv2", "fc1", "cls_fc1", "cls_fc2", "cls_fc3"]
    assert coarse["copied"] == ["conv1", "conv2", "fc1", "cls_fc1", "cls_fc2"] and coarse["reinitialized"] == ["cls_fc3"]
    head = json.loads((runs / "opt-mnist-head-s1" / "config.json").read_text())["transfer"]
    assert head["copied"] == identical["copied"]  # L-C3's theory setting keeps the source's head


def test_optimization_runs_freeze_conv1_and_probe_conv2(smoke):
    run_dir = smoke / "liu2019" / "smoke" / "runs" / "opt-random-s1"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["frozen"] == ["conv1"] and config["run"]["probe"]["layer"] == "conv2"
    assert config["transfer"]["mode"] == "none"  # the random arm
    probes = list(csv.DictReader(open(run_dir / "steps.csv")))
    every = protocol.SMOKE.probe.every
    assert [int(r["step"]) - 1 for r in probes] == list(range(0, int(probes[-1]["step"]), every))
    start = json.loads((run_dir / "start.json").read_text())
    assert 0.0 < start["share_hessian"] <= 1.0 and 0.0 < start["share_per_example"] <= 1.0


# --- metric, transforms and hooks ----------------------------------------------------------------

def test_deviation_figure_says_why_it_has_no_published_panel_and_no_text_overlaps(tmp_path, monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from repro.liu2019 import figures
    from repro.store import append_row

    scale_dir = tmp_path / "mini"
    for spec in PAPER.grid("deviation", "mini"):
        append_row(scale_dir / "deviation.csv", dict(paper="liu2019", experiment="deviation", scale="mini",
                                                     run_key=spec.key, **dict(spec.axes)),
                   PAPER.experiment("deviation").fields)
        steps = [dict(step=k, deviation_conv=0.01 * k, deviation_fc=100.0 * k) for k in range(50)]
        (scale_dir / "runs" / spec.key).mkdir(parents=True)
        with (scale_dir / "runs" / spec.key / "steps.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(steps[0]))
            writer.writeheader()
            writer.writerows(steps)
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: drawn.append(figure) or path)
    assert figures.deviation_curves(scale_dir, protocol.MINI) == scale_dir / "deviation.png"
    figure, = drawn
    texts = " ".join(t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text")))
    assert "no published values" in texts and "measured only" in texts.lower()
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    left, right = figure.axes
    assert left.get_ylabel() and right.get_ylabel()
    assert not right.yaxis.label.get_window_extent(renderer).overlaps(left.get_tightbbox(renderer))
    assert not left.get_tightbbox(renderer).overlaps(right.get_tightbbox(renderer))


def test_deviation_on_a_hand_built_example():
    initial = [np.zeros((2, 2)), np.ones(3)]
    current = [np.array([[3.0, 0.0], [0.0, 4.0]]), np.ones(3) + np.array([0.0, 0.0, 2.0])]
    assert deviation(current, initial) == pytest.approx(5.0 + 2.0)  # a sum of norms, not the norm of the sum


def test_deviation_log_follows_the_model_weights():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="a")(keras.layers.Dense(2, name="b")(inputs)))
    log = DeviationLog(model, {"conv": ["b/kernel"], "fc": ["a/kernel", "b/kernel"]})
    assert log.after(0, None, None) == {"deviation_conv": 0.0, "deviation_fc": 0.0}
    model.get_layer("b").kernel.assign_add(np.array([[3.0, 0.0], [0.0, 4.0]], np.float32))
    model.get_layer("a").kernel.assign_add(np.full((2, 2), 0.5, np.float32))
    assert log.after(1, None, None) == pytest.approx({"deviation_conv": 5.0, "deviation_fc": 6.0})


def test_label_relations():
    y = np.arange(10).repeat(3)
    assert (relate_labels(y, "identical") == y).all()
    assert (relate_labels(y, "coarsened") == y // 2).all() and relate_labels(y, "coarsened").max() == 4
    permuted = relate_labels(y, "permuted")
    assert (permuted != y).all() and sorted(set(zip(y, permuted))) == [(c, (c + 1) % 10) for c in range(10)]
    random = relate_labels(y, "random")
    assert (random == relate_labels(y, "random")).all() and len(set(random)) > 5 and (random != y).any()
    with pytest.raises(repro.errors.BadArgument, match="accepted: identical, coarsened, permuted, random"):
        relate_labels(y, "shuffled")


def test_step_hook_rows_survive_a_resume(tmp_path):
    from repro.schedule import Schedule
    from repro.train import TrainData, train

    class Counter:
        fields = ("value",)

        def before(self, step, x, y):
            pass

        def after(self, step, x, y):
            return {"value": float(step)} if step % 2 == 0 else None

    rng = np.random.default_rng(0)
    data = TrainData(rng.random((16, 4), np.float32), rng.integers(0, 2, 16), rng.random((4, 4), np.float32),
                     rng.integers(0, 2, 4))
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    schedule = Schedule(base_lr=0.1, length=8, step_size=100, batch_size=4, eval_every=4)
    train(model, data, dataclasses.replace(schedule, length=4), tmp_path, data_seed=0, hook=Counter())
    with open(tmp_path / "steps.csv", "a") as f:  # a row written after the last checkpoint, lost in a crash
        f.write("6,5.0\n")
    train(model, data, schedule, tmp_path, data_seed=0, hook=Counter())
    steps = list(csv.DictReader(open(tmp_path / "steps.csv")))
    assert [(int(r["step"]), float(r["value"])) for r in steps] == [(1, 0.0), (3, 2.0), (5, 4.0), (7, 6.0)]


# --- paper scale ---------------------------------------------------------------------------------

def test_paper_grid_follows_the_official_scripts():
    scale = protocol.PAPER_SCALE
    assert (scale.generalization.network, scale.generalization.target.name) == ("resnet50", "cub200")
    assert scale.generalization.schedule == protocol.official_sgd(200, 32, lr_step=18_730, evals=40)
    assert scale.generalization.class_balanced and scale.optimization.class_balanced
    cub = scale.generalization.schedule.resolve(5_994)
    assert cub.lr_at(18_729) == 0.01 and cub.lr_at(18_730) == pytest.approx(0.001) and cub.max_iter == 200 * 187
    assert scale.optimization.schedule.step_size == 39_540 and scale.probe.window == (4_000, 12_000)
    assert scale.feasibility.schedule == protocol.official_sgd(100, 64)
    assert scale.feasibility.schedule.policy == "constant"
    assert len(scale.landscape.coordinates) == 200 and scale.landscape.coordinates[0] == -0.1
    assert scale.input_sources == ("mnist", "fashion", "fashion-shuffled", "random")


def _tiny_paper_scale(monkeypatch):
    """The paper scale with schedules cut to a few steps (data through tfds mock data)."""
    tiny = dict(length=1, evals=1)
    scale = protocol.PAPER_SCALE
    patched = dataclasses.replace(
        scale, seeds=(1,),
        generalization=dataclasses.replace(scale.generalization, class_balanced=False, schedule=dataclasses.replace(
            scale.generalization.schedule, batch_size=2, **tiny)),
        optimization=dataclasses.replace(scale.optimization, class_balanced=False, schedule=dataclasses.replace(
            scale.optimization.schedule, batch_size=2, **tiny)),
        feasibility=dataclasses.replace(scale.feasibility, schedule=dataclasses.replace(
            scale.feasibility.schedule, batch_size=4, **tiny)),
        source_schedule=dataclasses.replace(scale.source_schedule, batch_size=4, **tiny),
        curvature=protocol.Curvature(examples=2, lanczos_order=2, trace_samples=2),
        landscape=dataclasses.replace(scale.landscape, coordinates=(-0.1, 0.0, 0.1), batch=2))
    monkeypatch.setitem(protocol.SCALES, "paper", patched)


def test_paper_scale_lenet_svhn_fine_tuning_under_mock_data(tmp_path, monkeypatch):
    _tiny_paper_scale(monkeypatch)
    data_dir = tmp_path / "tfds"
    for name in ("svhn_cropped", "fashion_mnist"):
        write_metadata(data_dir, name, 40)
    with tfds.testing.mock_data(num_examples=40, data_dir=str(data_dir)):
        assert main(["run", "liu2019", "input_similarity", "--scale", "paper", "--out", str(tmp_path),
                     "--data-dir", str(data_dir), "--only", "in-fashion-shuffled-s1", "--jobs", "1"]) == 0
    row = rows(tmp_path / "liu2019" / "paper", "input_similarity")[0]
    config = json.loads((tmp_path / "liu2019" / "paper" / "runs" / row["run_key"] / "config.json").read_text())
    assert config["data"]["target"] == "svhn600" and config["transfer"]["copied"][-1] == "cls_fc3"
    assert 0.0 <= float(row["test_acc_final"]) <= 1.0 and float(row["deviation_conv"]) > 0


def test_paper_scale_resnet50_cub_deviation_and_flatness_under_mock_data(tmp_path, monkeypatch, capsys):
    from repro.models.resnet import resnet

    _tiny_paper_scale(monkeypatch)
    weights = tmp_path / "imagenet.weights.h5"
    resnet(include_top=False, seed=3).save_weights(weights)
    data_dir = tmp_path / "tfds"
    write_metadata(data_dir, "caltech_birds2011", 4)  # split sizes of the mock, not of the catalog
    write_metadata(data_dir, "food101", 4)  # the landscape's batch: loss_landscape.py's Food training list
    options = ["--scale", "paper", "--out", str(tmp_path), "--data-dir", str(data_dir),
               "--jobs", "1"]  # tfds.testing.mock_data patches this process, not --jobs workers
    with tfds.testing.mock_data(num_examples=4, data_dir=str(data_dir)):
        assert main(["run", "liu2019", "deviation", "--only", "dev-imagenet-s1"] + options) == 2
        assert "REPRO_LIU_RESNET50_WEIGHTS" in capsys.readouterr().err
        monkeypatch.setenv("REPRO_LIU_RESNET50_WEIGHTS", str(weights))
        assert main(["run", "liu2019", "flatness", "--only", "flat-imagenet-s1"] + options) == 0
    scale_dir = tmp_path / "liu2019" / "paper"
    steps = list(csv.DictReader(open(scale_dir / "runs" / "dev-imagenet-s1" / "steps.csv")))
    assert len(steps) == 2 and float(steps[-1]["deviation_conv"]) > 0  # 4 mock images, batch 2
    config = json.loads((scale_dir / "runs" / "dev-imagenet-s1" / "config.json").read_text())
    assert config["run"]["model"]["backbone_weights_env"] == "REPRO_LIU_RESNET50_WEIGHTS"
    assert str(weights) in config["model"]
    flat = rows(scale_dir, "flatness")[0]
    assert flat["surface_layer"] == "layer4_block1_conv3/kernel" and np.isfinite(float(flat["top_eigenvalue"]))
    surface = np.load(scale_dir / "runs" / "flat-imagenet-s1" / "surface.npz")
    meta = json.loads(str(surface["meta"]))
    assert meta["training"] is True and meta["n"] == 2  # BN in train mode on a batch of 2 Food images
    assert np.isfinite(float(flat["surface_centre_loss"]))


def test_unknown_experiment_is_a_clear_error(tmp_path, capsys):
    assert main(["run", "liu2019", "fisher", "--scale", "smoke", "--out", str(tmp_path)]) == 2
    assert "unknown experiment 'fisher'" in capsys.readouterr().err
