"""The atlas: its agreement rule against closed forms, its runs against the paper's, and the command end to end."""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest

import itertools
import math

from repro.atlas import agreement
from repro.atlas.compare import BLOCKS, Series, correlation_table, module_family, series
from repro.atlas.measures import (block_measures, block_pattern, first_per_class, layer_measures, layer_output,
                                  module_output)
from repro.atlas.protocol import LAYERS, MEASURES, chen_blocks, runs
from repro.chen2022 import protocol as chen
from repro.neyshabur2020 import protocol as neyshabur
from repro.registry import Search
from repro.runs import ChosenRun
from repro.tuning import record_tuned
from repro.workspace import Workspace
from repro.cli import main
from repro.landscape._shared import first_examples
from repro.registry import get_paper
from repro.runs import AnalysisRun, TrainRun
from repro.yosinski2014 import protocol as yosinski


# ----------------------------------------------------------------------------- the rule

def test_critical_rho_is_the_exact_permutation_quantile():
    # Known exact two-sided 5% critical values of Spearman's rho (Zar 1972): 0.886 at 6, 0.786 at 7, 0.738 at 8.
    assert agreement.critical_rho(7) == pytest.approx(0.7857, abs=1e-4)
    assert agreement.critical_rho(6) == pytest.approx(0.8857, abs=1e-4)
    assert agreement.critical_rho(8) == pytest.approx(0.7381, abs=1e-4)
    assert agreement.critical_rho(4) == float("inf")  # 2 of 24 orderings reach |rho| = 1: p = 1/12 > 5%
    # Beyond enumeration (Zar 1972, Table B.20): 0.648 at 10, 0.521 at 15.
    assert agreement.critical_rho(10) == pytest.approx(0.648, abs=5e-4)
    assert agreement.critical_rho(15) == pytest.approx(0.521, abs=5e-4)


@pytest.mark.parametrize("k", [3, 4, 5, 6, 7, 8])
def test_the_permutation_count_is_the_enumeration(k):
    squared = [sum((i - v) ** 2 for i, v in enumerate(p)) for p in itertools.permutations(range(k))]
    cap = k * (k * k - 1) // 6
    counts = agreement.squared_displacement_counts(k, cap)
    assert counts.tolist() == [squared.count(s) for s in range(cap + 1)]
    full = agreement.squared_displacement_counts(k, k * (k * k - 1) // 3)
    assert full.sum() == math.factorial(k) and full.tolist() == full[::-1].tolist()  # the null is symmetric


def test_spearman_uses_average_ranks_and_refuses_constants():
    assert agreement.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert agreement.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert agreement.spearman([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(0.8944, abs=1e-4)
    assert np.isnan(agreement.spearman([1, 2, 3], [5, 5, 5]))
    assert np.isnan(agreement.spearman([1, 2, 3], [1, np.inf, 2]))


@pytest.mark.parametrize("rhos, expected, outcome", [
    ([0.9, 0.8], +1, "agrees"),
    ([0.9, 0.5], +1, "unclear"),  # one split below rho_crit
    ([-0.9, -0.8], -1, "agrees"),  # a measure that says "transfers" by being small
    ([-0.9, -0.8], +1, "disagrees"),
    ([0.9, -0.9], +1, "unclear"),
    ([0.9, float("nan")], +1, "undefined"),
])
def test_verdict(rhos, expected, outcome):
    assert agreement.verdict(rhos, expected, 7) == outcome


def test_every_measure_has_a_direction():
    assert set(MEASURES) <= set(agreement.EXPECTED)


def test_correlation_table_signs_and_spread():
    depths = list(range(1, 8))
    up, down = np.arange(7.0), -np.arange(7.0)
    values = {s: {m: (down if agreement.EXPECTED.get(m, 1) < 0 else up) + 0.01 * s for m in agreement.EXPECTED}
              for s in (0, 1)}
    rows = correlation_table(Series([0, 1], depths, list(LAYERS), values))
    assert all(r["verdict"] == "agrees" for r in rows)
    first = rows[0]
    assert first["measure_a"] == "yosinski_AnB" and first["rho_half_range"] == 0.0
    values[1]["chen_T"] = up[::-1].copy()  # split 1 reverses T: no longer the same in both splits
    rows = correlation_table(Series([0, 1], depths, list(LAYERS), values))
    t = next(r for r in rows if r["measure_b"] == "chen_T" and r["measure_a"] == "yosinski_AnB")
    assert t["verdict"] == "unclear" and t["rho_mean"] == pytest.approx(0.0) and t["rho_half_range"] == pytest.approx(1.0)


def test_series_refuses_a_missing_cell():
    row = {m: "0.5" for m in agreement.EXPECTED}
    with pytest.raises(Exception, match="split 1 layer 2"):
        series([dict(row, split="0", n="1", layer="conv1"), dict(row, split="0", n="2", layer="conv2"),
                dict(row, split="1", n="1", layer="conv1")])


def test_the_resnet_family_takes_the_targets_as_replicates_and_chen_s_t_as_reference():
    blocks = list(range(1, 18))
    up = np.arange(17.0)
    values = {t: {m: (-up if agreement.EXPECTED[m] < 0 else up) + i for m in BLOCKS.series}
              for i, t in enumerate(("digits", "mnist"))}
    rows = correlation_table(Series(["digits", "mnist"], blocks, list(chen_blocks((3, 4, 6, 3))), values), BLOCKS)
    assert rows[0]["measure_a"] == "chen_T" and {"rho_digits", "rho_mnist"} <= set(rows[0])
    assert all(r["verdict"] == "agrees" for r in rows)
    values["mnist"]["neyshabur_cka"] = np.roll(up, 8)  # a weak ordering in one target: no longer agrees
    rows = correlation_table(Series(["digits", "mnist"], blocks, list(chen_blocks((3, 4, 6, 3))), values), BLOCKS)
    assert next(r for r in rows if r["measure_b"] == "neyshabur_cka")["verdict"] == "unclear"


# ----------------------------------------------------------------------------- the runs

def test_the_atlas_reads_the_paper_s_runs_unchanged_in_its_tree():
    declared = {r.key: r for r in runs("mini")}
    paper = {r.key: r for r in yosinski.grid("random_splits", "mini")}
    for key, run in paper.items():
        assert declared[key] == replace(run, home="yosinski2014/mini")
    seeds1 = {r.key: r for r in runs("mini", seed_set=1)}
    assert seeds1["half0A"].home == "yosinski2014/mini-seed-set-1"
    assert seeds1["half0A"].seeds == yosinski.grid("random_splits", "mini", 1)[0].seeds


def test_the_second_seed_differs_only_in_its_seeds():
    declared = {r.key: r for r in runs("mini")}
    first, second = declared["transfer-ft1A1B_1_4"], declared["transfer-ft1A1B_1_4_r2"]
    assert isinstance(second, TrainRun) and second.home is None and second.experiment is None
    assert second.seeds.init != first.seeds.init and second.seeds.data != first.seeds.data
    assert replace(second, key=first.key, seeds=first.seeds, axes=first.axes, experiment=first.experiment,
                   home=first.home) == first


def test_each_analysis_needs_the_networks_of_its_split_and_depth():
    analyses = [r for r in runs("mini") if r.experiment == "layers"]
    assert [(r.axis("split"), r.axis("n")) for r in analyses] == [(s, n) for s in (0, 1) for n in range(1, 8)]
    needs = {need.key: need.files for need in analyses[9].inputs}  # split 1, depth 3
    assert needs == {"half1A": ("weights",), "transfer-ft1A1B_1_3": ("weights",),
                     "transfer-ft1A1B_1_3_r2": ("weights",), "transfer-ft1A1B_1_7": ("weights",),
                     "half1B": (), "transfer1A1B_1_3": (), "transfer1A1A_1_3": ()}
    assert analyses[9].axis("layer") == "conv3"


def test_the_atlas_reads_chen_s_runs_unchanged_in_its_tree():
    declared = {r.key: r for r in runs("mini")}
    paper = {r.key: r for r in chen.runs("mini")}
    borrowed = [k for k in paper if k in declared]
    assert len(borrowed) == 1 + 9 + 9  # the source, the fine-tunings, their transferability rows
    for key in borrowed:
        expected = paper[key] if getattr(paper[key], "shared", False) else replace(paper[key], home="chen2022/mini")
        assert declared[key] == expected
    assert declared[chen.source_key(chen.MINI)].home is None  # a shared source lives in the sources tree


def test_each_block_analysis_needs_its_fine_tuning_and_chen_s_row():
    blocks = [r for r in runs("mini") if r.experiment == "resnet_blocks"]
    assert len(blocks) == 9 * 17
    run = next(r for r in blocks if r.key == "block05_mnist-plain-n2000")
    assert (run.axis("target"), run.axis("b"), run.axis("block")) == ("mnist-plain-n2000", 5, "layer2.0")
    assert run.params.module == "layer2.0" and blocks[0].params.module == "conv1"
    assert {need.key: need.files for need in run.inputs} == {
        chen.source_key(chen.MINI): ("epochs",), "finetune-mnist-plain-n2000-s0": ("epochs",),
        "ft-mnist-plain-n2000-s0": ()}


def test_every_block_has_its_output_layer():
    names = {layer.name for layer in chen.network(chen.MINI, 10, 64).build(seed=0).layers}
    assert all(module_output(module) in names for module in ("conv1",) + chen_blocks(chen.MINI.blocks)[1:])
    assert module_output("layer3.5") == "layer3_block5_out" and module_output("conv1") == "stem_relu"
    fixup = {layer.name for layer in neyshabur.network(neyshabur.MINI, 10).build(seed=0).layers}
    assert all(module_output(m) in fixup for m in neyshabur.MODULES[:-1])  # every module but the classifier


def test_the_atlas_reads_neyshabur_s_runs_unchanged_in_its_tree():
    declared = {r.key: r for r in runs("mini")}
    paper = {r.key: r for r in neyshabur.runs("mini")}
    borrowed = [k for k in paper if k in declared]
    # P; per target, both arms' runs 1 and 2 at both lrs and the arms' lr choices
    assert len(borrowed) == 1 + 3 * (2 * 2 * 2 + 2)
    for key in borrowed:
        expected = paper[key] if getattr(paper[key], "shared", False) else replace(paper[key], home="neyshabur2020/mini")
        assert declared[key] == expected


def test_each_module_analysis_needs_its_run_at_the_chosen_lr_and_for_p_t_p_s_initialisation():
    declared = runs("mini")
    for experiment in ("pt_modules", "rit_modules"):
        analyses = [r for r in declared if r.experiment == experiment]
        assert len(analyses) == 3 * 2 * 17
        assert [r.axis("module") for r in analyses[:17]] == list(neyshabur.MODULES[:-1])
    run = next(r for r in declared if r.key == "module05_PT_mnist_r2")
    assert (run.axis("network"), run.axis("b"), run.axis("module")) == ("mnist_r2", 5, "layer2.0")
    assert run.params.network == ChosenRun("lr-PT-mnist", ((0.1, "lc-PT-mnist-lr0.1-r2"),
                                                           (0.02, "lc-PT-mnist-lr0.02-r2")))
    assert {need.key: need.files for need in run.inputs} == {
        "lr-PT-mnist": (), "lc-PT-mnist-lr0.1-r2": ("weights", "epochs"), "lc-PT-mnist-lr0.02-r2": ("weights", "epochs"),
        neyshabur.source_key(neyshabur.MINI): ("epochs",)}
    ri_t = next(r for r in declared if r.key == "module05_RIT_mnist_r2")
    assert ri_t.params.source is None and neyshabur.source_key(neyshabur.MINI) not in {n.key for n in ri_t.inputs}
    assert "chen_T" not in module_family("RI-T").labels and module_family("P-T").reference == "neyshabur_rewound_acc"
    paper = [r for r in runs("paper") if r.experiment == "learning_curves"]  # fixed lrs: only the runs read
    assert sorted(r.key for r in paper) == sorted(neyshabur.lc_key(arm, t, lr, rep) for arm, lr in (("P-T", 0.02),
                                                  ("RI-T", 0.1)) for t in ("real", "clipart", "quickdraw")
                                                  for rep in (1, 2))


def test_a_borrowed_choice_reads_tuned_json_of_its_own_tree(tmp_path):
    index = {r.key: r for r in runs("smoke")}
    workspace = Workspace(get_paper("atlas"), "smoke", tmp_path, index)
    search = index["lr-PT-mnist"].params
    assert isinstance(search, Search)
    record_tuned(tmp_path / "neyshabur2020" / "smoke", "neyshabur2020", "smoke", search, 0.02, {0.1: 0.5, 0.02: 0.6},
                 "repro tune neyshabur2020")
    value, where = workspace.chosen("lr-PT-mnist")
    assert value == 0.02 and where.startswith("tuned.json")
    assert workspace.resolve_run(index["module01_PT_mnist_r1"].params.network) == "lc-PT-mnist-lr0.02-r1"


def test_block_measures_of_a_network_against_itself():
    """theta_FB = theta_A on a small ResNet: CKA 1, no distance or deviation, rewinding changes nothing,
    criticality 0."""
    spec = replace(chen.network(chen.SMOKE, 10, 32), blocks=(1, 2, 1, 1))
    model = spec.build(seed=3)
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(16, 32, 32, 1)).astype("float32"), rng.integers(0, 10, 16))]
    block = next(r for r in runs("smoke") if r.experiment == "resnet_blocks" and r.params.b == 3).params
    assert block.module == "layer2.0"
    p = replace(block, criticality_sigmas=(1e-6,), criticality_alphas=(0.0, 1.0))
    found = block_measures(p, model, model, data, data, seed=0)
    assert found["neyshabur_cka"] == pytest.approx(1.0, abs=1e-5)
    assert found["neyshabur_l2"] == 0.0 and found["liu_deviation"] == 0.0 and found["neyshabur_criticality"] == 0.0
    assert found["neyshabur_rewound_acc"] == found["acc_finetuned"]


def test_layer_names():
    assert [layer_output(layer) for layer in LAYERS] == [f"relu{i}" for i in range(1, 8)]
    assert block_pattern(2) == r"^(conv1|conv2)/"


def test_first_per_class_samples_every_class_of_a_stream_sorted_by_class():
    stream = [(np.arange(8)[:, None] + 8 * i, np.repeat([2 * i, 2 * i + 1], 4)) for i in range(3)]  # classes 0..5
    batches = first_per_class(iter(stream), 12, classes=range(6))
    y = np.concatenate([b[1] for b in batches])
    assert sorted(y.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    x = np.concatenate([b[0] for b in batches])
    assert x[:4, 0].tolist() == [0, 1, 4, 5]  # the first two of each class, in stream order


def test_layer_measures_of_a_network_against_itself():
    """theta_FB = theta_A: CKA 1, no distance, no deviation, rewinding changes nothing, criticality 0 (alpha = 0 is
    theta_FB itself, accepted without noise only if sigma is tiny: here at the smallest sigma)."""
    from repro.models.specs import caffenet_mini

    spec = caffenet_mini(20, widths=(4, 8, 8, 8, 8, 16, 16))
    model = spec.build(seed=3)
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(16, 32, 32, 1)).astype("float32"), rng.integers(0, 20, 16))]
    p = next(r for r in runs("smoke") if r.experiment == "layers").params
    p = replace(p, layer="conv2", criticality_sigmas=(1e-6,), criticality_alphas=(0.0, 1.0))
    theta_r = {v.path: np.asarray(v.numpy()) for v in spec.build(seed=4).weights}
    found = layer_measures(p, theta_r, model, model, data, data, seed=0)
    assert found["neyshabur_cka"] == pytest.approx(1.0, abs=1e-5)
    assert found["neyshabur_l2"] == 0.0 and found["liu_deviation"] == 0.0
    assert found["neyshabur_criticality"] == 0.0 and np.isinf(found["chen_T"])  # D(theta_A, theta_FB) = 0
    from repro.landscape.state import evaluate

    assert found["neyshabur_rewound_acc"] == evaluate(model, data).accuracy


def test_first_examples_cuts_a_stream_of_batches():
    stream = ((np.full((4, 1), i), np.full(4, i)) for i in range(5))
    x, _ = first_examples(stream, 10)
    assert len(x) == 10 and x[-1, 0] == 2


def test_paper_scale_reads_the_imagenet_runs_and_their_unaugmented_training_images(mocked_imagenet):
    declared = {r.key: r for r in runs("paper")}
    assert declared["transfer-ft1A1B_1_7"].home == "yosinski2014/paper"
    data, _ = declared["half0B"].data.load(mocked_imagenet)
    x, _ = first_examples(data.train_eval_batches(6), 6)
    assert x.shape == (6, 227, 227, 3)  # the centre crop, as the validation side sees an image
    assert declared["finetune-cifar10-s0"].home == "chen2022/paper"
    assert declared["block17_cifar10"].params.block == "layer4.2"  # ResNet-50: the stem and 16 bottlenecks
    assert declared["block17_cifar10"].params.finetuned == "finetune-cifar10-s0"  # not the batch-128 variant


# ----------------------------------------------------------------------------- the command

@pytest.fixture(scope="module")
def smoke_atlas(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas")
    assert main(["atlas", "--scale", "smoke", "--out", str(out), "--jobs", "1"]) == 0
    return out


def test_repro_atlas_trains_the_paper_s_runs_in_the_paper_s_tree(smoke_atlas):
    paper_runs = smoke_atlas / "yosinski2014" / "smoke" / "runs"
    assert (paper_runs / "transfer-ft0A0B_1_7" / "final.weights.h5").is_file()
    assert not (smoke_atlas / "atlas" / "smoke" / "runs" / "half0A").exists()
    assert (smoke_atlas / "atlas" / "smoke" / "runs" / "transfer-ft0A0B_1_4_r2" / "result.json").is_file()
    config = json.loads((paper_runs / "half0A" / "config.json").read_text())
    assert config["paper"] == "yosinski2014" and config["run"]["home"] == "yosinski2014/smoke"


def test_repro_atlas_writes_a_row_per_depth_and_its_comparison(smoke_atlas):
    scale_dir = smoke_atlas / "atlas" / "smoke"
    with (scale_dir / "layers.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["split"], r["n"], r["layer"]) for r in rows] == [("0", "1", "conv1"), ("0", "4", "conv4"),
                                                                 ("0", "7", "fc7")]
    for row in rows:
        assert float(row["neyshabur_cka"]) <= 1.0 + 1e-6 and float(row["neyshabur_l2"]) >= 0.0
        assert float(row["neyshabur_l2"]) >= float(row["liu_deviation"])  # kernel and bias vs the kernel alone
    for name in ("comparison.md", "comparison.csv", "comparison_depths.csv", "atlas.png", "correlations.png"):
        assert (scale_dir / name).stat().st_size > 0
    assert "every verdict is unclear" in (scale_dir / "comparison.md").read_text()  # 3 depths: too few


def test_repro_atlas_measures_chen_s_networks_block_by_block(smoke_atlas):
    assert (smoke_atlas / "chen2022" / "smoke" / "runs" / "finetune-digits-invert-n1000-s0" / "result.json").is_file()
    scale_dir = smoke_atlas / "atlas" / "smoke"
    with (scale_dir / "resnet_blocks.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    blocks = ["stem", "layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert sorted((r["target"], int(r["b"]), r["block"]) for r in rows) == sorted(
        (t, b, name) for t in ("digits-invert-n1000", "fashion-rotate-n2000") for b, name in enumerate(blocks, 1))
    chen_runs = smoke_atlas / "chen2022" / "smoke" / "runs"
    for row in rows:
        paper = json.loads((chen_runs / f"ft-{row['target']}-s0" / "result.json").read_text())
        assert float(row["chen_T"]) == paper["T_" + row["block"].replace(".", "_")]  # the paper's own T_b
        assert float(row["neyshabur_l2"]) > 0.0 and float(row["liu_deviation"]) > 0.0
    for name in ("comparison_blocks.csv", "comparison_blocks_pairs.csv", "atlas_blocks.png", "correlations_blocks.png"):
        assert (scale_dir / name).stat().st_size > 0
    assert "On Chen's fine-tuned ResNets" in (scale_dir / "comparison.md").read_text()


def test_repro_atlas_measures_neyshabur_s_networks_module_by_module(smoke_atlas):
    scale_dir = smoke_atlas / "atlas" / "smoke"
    modules = ["conv1", "layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    for experiment, code in (("pt_modules", "PT"), ("rit_modules", "RIT")):
        with (scale_dir / f"{experiment}.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["network"], r["module"]) for r in rows] == [("mnist_r1", m) for m in modules]
        assert all(r["trained_run"].startswith(f"lc-{code}-mnist-lr") for r in rows)
        assert ("chen_T" in rows[0]) == (code == "PT")
        for name in (f"comparison_{code.lower()}_modules.csv", f"atlas_{code.lower()}_modules.png"):
            assert (scale_dir / name).stat().st_size > 0
    assert "On Neyshabur's RI-T networks" in (scale_dir / "comparison.md").read_text()


def test_the_atlas_s_rewound_accuracy_is_neyshabur_s_figure_5_row(smoke_atlas):
    """Run 1 of each arm at its chosen lr: the same network, point and images as Neyshabur's own rows."""
    assert main(["run", "neyshabur2020", "criticality", "--scale", "smoke", "--out", str(smoke_atlas),
                 "--only", "^crit-mnist-PT", "--jobs", "1"]) == 0
    with (smoke_atlas / "neyshabur2020" / "smoke" / "criticality.csv").open() as handle:
        figure5 = next(csv.DictReader(handle))
    with (smoke_atlas / "atlas" / "smoke" / "pt_modules.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert figure5["run"] == rows[0]["trained_run"]
    for row in rows:
        assert float(row["neyshabur_rewound_acc"]) == float(figure5["acc_" + row["module"].replace(".", "_")])
        assert float(row["acc_final"]) == float(figure5["acc_final"])


def test_the_paper_then_runs_from_the_atlas_s_trainings(smoke_atlas, capsys):
    result = smoke_atlas / "yosinski2014" / "smoke" / "runs" / "half0A" / "result.json"
    before = result.stat().st_mtime_ns
    assert main(["run", "yosinski2014", "random_splits", "--scale", "smoke", "--out", str(smoke_atlas),
                 "--only", r"^half0A$", "--jobs", "1"]) == 0
    assert result.stat().st_mtime_ns == before  # recorded from the atlas's training, not trained again
    with (smoke_atlas / "yosinski2014" / "smoke" / "random_splits.csv").open() as handle:
        assert [r["run_key"] for r in csv.DictReader(handle)] == ["half0A"]


def test_repro_verify_passes_on_the_atlas(smoke_atlas, capsys):
    assert main(["verify", "atlas", "--scale", "smoke", "--out", str(smoke_atlas)]) == 0


def test_the_atlas_is_listed_but_is_not_a_paper(capsys):
    assert main(["list"]) == 0
    assert "atlas (study, `repro atlas`)" in capsys.readouterr().out
    assert get_paper("atlas").key == "atlas"


def test_rebuilding_the_atlas_s_events_leaves_the_paper_s_runs_alone(smoke_atlas, capsys):
    paper_run = smoke_atlas / "yosinski2014" / "smoke" / "runs" / "half0A"
    before = sorted((p.name, p.stat().st_mtime_ns) for p in paper_run.glob("events.out.tfevents.*"))
    assert before
    assert main(["events", "atlas", "--scale", "smoke", "--out", str(smoke_atlas)]) == 0
    assert sorted((p.name, p.stat().st_mtime_ns) for p in paper_run.glob("events.out.tfevents.*")) == before
