"""Chen et al. 2022: the grid, theta_r / theta_A / theta_FB, the 18 groups, smoke runs of every experiment."""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest

import repro  # noqa: F401

from repro.chen2022 import protocol
from repro.chen2022.mini_data import random_rotations, target_arrays
from repro.cli import main
from repro.chen2022.analyses import chen_groups
from repro.models.resnet import resnet
from repro.registry import get_paper

PAPER = get_paper("chen2022")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("chen")
    assert main(["run", "chen2022", "--scale", "smoke", "--out", str(out)]) == 0
    assert main(["compare", "chen2022", "--scale", "smoke", "--out", str(out)]) == 0
    return out


def rows(scale_dir, experiment):
    with open(scale_dir / f"{experiment}.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_experiment_has_a_row_for_every_run_of_its_grid(smoke):
    scale_dir = smoke / "chen2022" / "smoke"
    for experiment in protocol.EXPERIMENTS:
        keys = [r["run_key"] for r in rows(scale_dir, experiment)]
        assert sorted(keys) == sorted(r.key for r in PAPER.grid(experiment, "smoke")), experiment


def test_comparison_judges_every_claim_and_draws_every_figure(smoke):
    scale_dir = smoke / "chen2022" / "smoke"
    with open(scale_dir / "comparison.csv", newline="") as f:
        claims = [r for r in csv.DictReader(f) if r["section"] == "claim"]
    assert [c["key"] for c in claims] == [f"C-C{i}" for i in range(1, 8)]
    # the rules read the stages by name, so the smoke network (one bottleneck per stage) is judged; the rule
    # tests are in tests/test_chen2022_claims.py
    verdicts = {c["key"]: c["verdict"] for c in claims}
    assert all(v in ("holds", "fails", "inconclusive", "not applicable") for v in verdicts.values())
    assert verdicts["C-C6"] == "not applicable" and verdicts["C-C7"] == "inconclusive"  # by construction; one seed
    for name in ("layerwise", "overall", "regression"):
        assert (scale_dir / f"{name}.png").stat().st_size > 10_000, name


def test_theta_r_is_the_saved_init_and_theta_a_the_best_validation_epoch(smoke):
    scale_dir = smoke / "chen2022" / "smoke"
    result = json.loads((scale_dir / "runs" / "ft-mnist-plain-n2000-s0" / "result.json").read_text())
    assert result["theta_r"].endswith("checkpoints/epoch-000.weights.npz")
    source_dir = smoke / "sources" / "smoke" / result["theta_r"].split("/")[-3]
    metrics = list(csv.DictReader(open(source_dir / "metrics.csv")))
    best = max(metrics, key=lambda r: (float(r["val_acc"]), -float(r["epoch"])))
    assert result["theta_a_epoch"] == round(float(best["epoch"]))
    assert result["theta_a"].endswith(f"epoch-{result['theta_a_epoch']:03d}.weights.npz")
    finetune = json.loads((scale_dir / "runs" / "finetune-mnist-plain-n2000-s0" / "config.json").read_text())
    assert finetune["transfer"]["reinitialized"] == ["fc"] and finetune["transfer"]["source"]["weights"] == result[
        "theta_a"]
    assert result["theta_fb"].endswith(f"epoch-{result['best_epoch']:03d}.weights.npz")


def test_resized_slices_equal_the_slices_of_the_resized_split():
    from repro.chen2022.mini_data import _sliced
    from repro.data import splits
    from repro.data.arrays import load_arrays

    for dataset, per_class in (("mnist5k", (350, 360)), ("digits", (124, 130))):
        whole = splits.per_class_slice(*load_arrays(dataset, "train", image_size=64, fit="bilinear"), *per_class)
        sliced = _sliced(dataset, "train", per_class, 64, "bilinear", None)
        assert np.array_equal(whole[0], sliced[0]) and np.array_equal(whole[1], sliced[1])


def test_t_across_seed_sets_flags_a_target_whose_t_moves_more_than_20_percent(smoke, tmp_path):
    import shutil

    from repro.chen2022.compare import across_seed_sets

    first, second = tmp_path / "smoke", tmp_path / "smoke-seed-set-1"
    for directory in (first, second):
        shutil.copytree(smoke / "chen2022" / "smoke", directory, ignore=shutil.ignore_patterns("runs"))
    table = rows(second, "transferability")
    moved = table[0]["target"]
    for row in table:
        row["T_overall"] = str(float(row["T_overall"]) * (1.5 if row["target"] == moved else 1.1))
    with open(second / "transferability.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    text = across_seed_sets([first, second], "smoke", [0, 1])
    assert f"{len(table) - 1} of {len(table)} targets have T within 20%" in text
    values = {r["quantity"]: r for r in csv.DictReader(open(first / "seed_sets_values.csv"))}
    assert values[f"T {moved}"]["within 20%"] == "no" and values[f"T {moved}"]["max / min"] == "1.50"
    assert {"coef_G", "coef_D", "coef_lnN", "r2"} <= set(values)
    # T's parts beside it, the source's once, reported but not judged
    assert values["source: D(theta_r, theta_A)"]["max / min"] == "1.00"
    assert values["source: D(theta_r, theta_A)"]["within 20%"] == ""
    assert f"D(theta_A, theta_FB) {moved}" in values


def test_t_parts_are_the_body_distances_of_one_source(smoke):
    table = rows(smoke / "chen2022" / "smoke", "transferability")
    assert len({row["D_r_A"] for row in table}) == 1 and len({row["abs_A"] for row in table}) == 1
    for row in table:
        assert 0 < float(row["D_A_FB"]) and 0 < float(row["D_r_A"]) < float(row["abs_A"]) * 2
        # triangle inequality of the mean absolute difference, per tensor and so for the means
        assert float(row["D_r_FB"]) <= float(row["D_r_A"]) + float(row["D_A_FB"]) + 1e-9


def test_target_configs_record_the_targets_input_side_and_fit(smoke):
    scale = protocol.SMOKE
    config = json.loads((smoke / "chen2022" / "smoke" / "runs" / "finetune-mnist-plain-n2000-s0" / "config.json")
                        .read_text())
    assert scale.target_size != scale.image_size
    assert config["run"]["data"]["settings"]["image_size"] == scale.target_size
    assert config["run"]["data"]["settings"]["fit"] == "bilinear"
    assert f"-{scale.image_size}px-bilinear-" in protocol.source_key(scale)


def test_classifier_t_is_one_and_rows_carry_every_group(smoke):
    for row in rows(smoke / "chen2022" / "smoke", "transferability"):
        assert float(row["T_fc"]) == pytest.approx(1.0, abs=0.3)  # two fresh classifiers of 10 x 64 values
        present = [g for g in protocol.GROUPS if row[protocol.group_column(g)]]
        assert present == ["stem", "layer1.0", "layer2.0", "layer3.0", "layer4.0", "fc"]
        assert float(row["T_overall"]) == pytest.approx(np.mean([float(row[protocol.group_column(g)])
                                                                 for g in present[:-1]]))


def test_resnet50_has_the_18_groups_without_shortcut_convs():
    model = resnet((32, 32, 1), 10, width=2, stem="cifar")
    groups = chen_groups(model)
    assert list(dict.fromkeys(groups.values())) == list(protocol.GROUPS)
    assert len(groups) == 1 + 16 * 3 + 1 and not any("downsample" in path for path in groups)


def test_mini_grid_crosses_three_n_levels_with_thirds_of_the_domain_order():
    targets = protocol.MINI.targets
    assert len(targets) == 9 and min(t.train[1] - t.train[0] for t in targets) * 10 >= 300
    levels = [(t.train[1] - t.train[0]) * t.classes for t in targets]
    assert sorted(set(levels)) == [300, 1000, 2000]
    for third in (levels[0:3], levels[3:6], levels[6:9]):  # targets are listed near to far: each third has each N
        assert sorted(third) == [300, 1000, 2000]
    assert len({t.name.rsplit("-n", 1)[0] for t in targets}) == 9 and len({t.dataset for t in targets}) == 3


def test_targets_are_disjoint_resized_to_their_side_and_transformed_once():
    scale = protocol.MINI
    for target in scale.targets:
        assert target.train[1] <= target.test[0] or target.dataset == "fashion_mnist"
    target = replace(scale.target("mnist-rotate-n1000"), train=(0, 200))
    x, y, x_test, y_test = target_arrays(scale, target, None)
    plain = target_arrays(scale, scale.target("mnist-plain-n2000"), None)
    assert x.shape == plain[0].shape == (2000, 64, 64, 1) and x_test.shape == (1500, 64, 64, 1)
    assert (y == plain[1]).all() and not np.allclose(x, plain[0])
    # Resized to fill the frame: most digits have ink outside the central 28 x 28 that zero-padding would leave
    # as the only non-empty part.
    outside = np.ones((64, 64), bool)
    outside[18:46, 18:46] = False
    assert np.mean([(image[..., 0][outside] > plain[0].min() + 0.5).any() for image in plain[0]]) > 0.9
    assert (random_rotations(np.ones((3, 8, 8, 1)), 0) == random_rotations(np.ones((3, 8, 8, 1)), 0)).all()


def test_paper_scale_pretraining_fine_tuning_and_measures_under_mock_data(mocked_imagenet, monkeypatch, tmp_path):
    """ResNet-50 at 224 pre-trained from a saved init on mock ImageNet, fine-tuned on mock CIFAR-10 at 32."""
    from dataclasses import replace

    from tests.test_chen2022_data import write_metadata

    scale = protocol.PAPER_SCALE
    tiny = replace(scale, pretrain=replace(scale.pretrain, length=1, batch_size=16),
                   finetune=replace(scale.finetune, length=1, batch_size=16), targets=(scale.target("cifar10"),),
                   feature_examples=24)  # 24 > 10 classes: some class has two examples
    monkeypatch.setitem(protocol.SCALES, "paper", tiny)
    write_metadata(mocked_imagenet, "cifar10", 48)
    out = tmp_path / "out"
    assert main(["run", "chen2022", "transferability", "domain_measures", "--scale", "paper", "--out", str(out),
                 "--data-dir", mocked_imagenet, "--jobs", "1"]) == 0  # the mock patches this process only
    row = rows(out / "chen2022" / "paper", "transferability")[0]
    assert row["n_train"] == "48" and np.isfinite(float(row["T_overall"]))
    assert all(row[protocol.group_column(g)] for g in protocol.GROUPS)  # all 18 groups of ResNet-50
    measures = rows(out / "chen2022" / "paper", "domain_measures")[0]
    assert float(measures["G"]) >= 0 and float(measures["D"]) > 0 and measures["n_target_features"] == "24"


def test_paper_fine_tuning_is_at_the_readme_commands_batch_18_and_finetune_py_s_128_is_an_option():
    from dataclasses import replace

    from repro.registry import get_paper

    runs = {r.key: r for r in protocol.runs("paper")}
    default, alternative = runs["finetune-cifar10-s0"], runs["finetune-cifar10-b128-s0"]
    assert default.schedule.batch_size == 18 and alternative.schedule.batch_size == 128
    assert replace(alternative.schedule, batch_size=18) == default.schedule
    assert alternative.seeds == default.seeds and alternative.transfer == default.transfer
    assert [n.key for n in runs["ft-cifar10-b128-s0"].inputs] == [protocol.source_key(protocol.PAPER_SCALE),
                                                                   "finetune-cifar10-b128-s0"]
    paper = get_paper("chen2022")
    assert "transferability_batch128" not in paper.resolve_experiments(None, "paper")
    assert "transferability_batch128" not in paper.experiment_names("mini")
