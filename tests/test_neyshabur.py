"""Neyshabur et al. 2020: the grid, the shared source, the lr choice, smoke runs of every experiment, paper scale."""
import csv
import dataclasses
import json

import numpy as np
import pytest

import tensorflow_datasets as tfds

from repro.cli import main
from repro.neyshabur2020 import protocol
from repro.registry import get_paper
from repro.runs import ALL_BUT_LAST, TrainRun

PAPER = get_paper("neyshabur2020")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The whole smoke grid and its comparison, run once for the module."""
    out = tmp_path_factory.mktemp("neyshabur")
    assert main(["run", "neyshabur2020", "--scale", "smoke", "--out", str(out)]) == 0
    assert main(["compare", "neyshabur2020", "--scale", "smoke", "--out", str(out)]) == 0
    return out


def rows(scale_dir, experiment):
    with open(scale_dir / f"{experiment}.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_experiment_has_a_row_for_every_run_of_its_grid(smoke):
    scale_dir = smoke / "neyshabur2020" / "smoke"
    for experiment in PAPER.experiment_names("smoke"):
        keys = [r["run_key"] for r in rows(scale_dir, experiment)]
        assert sorted(keys) == sorted(r.key for r in PAPER.grid(experiment, "smoke")), experiment
        assert len(keys) == len(set(keys))


def test_comparison_judges_every_claim_and_draws_every_figure(smoke):
    scale_dir = smoke / "neyshabur2020" / "smoke"
    with open(scale_dir / "comparison.csv", newline="") as f:
        claims = [r for r in csv.DictReader(f) if r["section"] == "claim"]
    assert [c["key"] for c in claims] == [f"N-C{i}" for i in range(1, 11)]
    # every rule is judged (by parts, with noise: a smoke run's claims may hold, fail, be inconclusive or not apply)
    assert all(c["verdict"] != "not run" for c in claims), [(c["key"], c["evidence"]) for c in claims]
    for name in ("figure2", "figure3", "figure4", "table1_cka", "figure5", "figure6", "figure7"):
        assert (scale_dir / f"{name}.png").stat().st_size > 10_000


def test_source_model_is_shared_by_key_with_a_checkpoint_every_epoch(smoke):
    sources = list((smoke / "sources" / "smoke").iterdir())
    assert len(sources) == 1
    epochs = sorted(p.name for p in (sources[0] / "checkpoints").iterdir())
    assert epochs == [f"epoch-{e:03d}.weights.npz" for e in range(protocol.SMOKE.source.epochs + 1)]
    config = json.loads((sources[0] / "config.json").read_text())
    assert config["run"]["key"] == sources[0].name and config["run"]["shared"]


def test_lr_choice_is_the_better_mean_and_keeps_the_tuner_in_its_run_dir(smoke):
    scale_dir = smoke / "neyshabur2020" / "smoke"
    table = rows(scale_dir, "learning_curves")
    for choice in (r for r in table if r["condition"] == "lr_choice"):
        means = {}
        for lr in protocol.NOMINAL_LRS:
            runs = [r for r in table if r["condition"] == choice["arm"] and r["target"] == choice["target"]
                    and float(r["lr"]) == lr]
            means[lr] = np.mean([float(r["test_acc_final"]) for r in runs])
            assert float(choice[f"score_lr{lr:g}"]) == pytest.approx(means[lr])
        best = max(protocol.NOMINAL_LRS, key=lambda lr: (means[lr], -protocol.NOMINAL_LRS.index(lr)))
        assert float(choice["chosen_lr"]) == best
        assert (scale_dir / "runs" / choice["run_key"] / "tuner" / "oracle.json").exists()


def test_unshuffled_block_and_final_checkpoint_reuse_the_learning_curve_run(smoke):
    scale_dir = smoke / "neyshabur2020" / "smoke"
    curves = {r["run_key"]: r for r in rows(scale_dir, "learning_curves")}
    full = [r for r in rows(scale_dir, "block_shuffle") if r["block"] == protocol.SMOKE.full_block]
    final = [r for r in rows(scale_dir, "checkpoints") if int(r["source_epoch"]) == protocol.SMOKE.source.epochs]
    assert full and final
    for row in full + final:
        assert row["reused"] in curves and row["test_acc_final"] == curves[row["reused"]]["test_acc_final"]
        assert not (scale_dir / "runs" / row["run_key"] / "metrics.csv").exists()


def test_block_shuffled_runs_record_their_transform(smoke):
    scale_dir = smoke / "neyshabur2020" / "smoke"
    seed = protocol.SMOKE.shuffle_seeds[0]
    shuffled = json.loads((scale_dir / "runs" / f"bs-PT-mnist-b2-s{seed}" / "config.json").read_text())["data"]
    assert shuffled["shuffle"] == {"transform": "block_shuffle", "block": 2,
                                   "seed": protocol.SHUFFLE_SEED_OFFSET + seed}
    # one channel: '*' draws the permutation of block 1, so it reuses that run
    pixel = next(r for r in rows(scale_dir, "block_shuffle") if r["run_key"] == f"bs-RIT-mnist-bpx-s{seed}")
    assert pixel["reused"] == f"bs-RIT-mnist-b1-s{seed}"


def test_the_official_seed_0_does_not_shuffle_four_blocks():
    from repro.data.transforms import BlockShuffle

    x = np.arange(2 * 32 * 32, dtype=np.float32).reshape(2, 32, 32, 1)
    np.testing.assert_array_equal(BlockShuffle(16, protocol.SHUFFLE_SEED_OFFSET)(x), x)
    assert not np.array_equal(BlockShuffle(16, protocol.SHUFFLE_SEED_OFFSET + protocol.MINI.shuffle_seeds[0])(x), x)


def test_analyses_over_the_whole_test_set_streamed_equal_those_over_it_in_memory(smoke, monkeypatch):
    """Paper scale evaluates the whole test set, pass after pass over the stream (``analysis_examples=None``); on
    the smoke runs, whose test sets fit in the first ``analysis_examples``, the streamed mistakes, interpolation
    and rewinding are those in memory, and CKA (then minibatch CKA) covers every test example."""
    from repro.neyshabur2020 import analyses
    from repro.runner import workspace_for

    scale_dir = smoke / "neyshabur2020" / "smoke"
    declared = {r.key: r for r in PAPER.runs("smoke")}
    keys = ("mis-mnist-PT-PT", "interp-mnist-RIT-PT", "crit-mnist-PT-lrchosen", "cka-mnist-PT-RIT")
    workspace = workspace_for(PAPER, "smoke", smoke)
    in_memory = {key: getattr(analyses, declared[key].experiment)(declared[key], workspace) for key in keys}
    monkeypatch.setitem(protocol.SCALES, "smoke", dataclasses.replace(protocol.SMOKE, analysis_examples=None))
    monkeypatch.setattr(analyses, "CKA_BATCH", 8)
    streamed = {key: getattr(analyses, declared[key].experiment)(declared[key], workspace_for(PAPER, "smoke", smoke))
                for key in keys}
    for key in keys[:3]:
        numbers = {k: v for k, v in in_memory[key].items() if isinstance(v, float)}
        assert numbers and {k: streamed[key][k] for k in numbers} == pytest.approx(numbers, abs=1e-6), key
    assert streamed["mis-mnist-PT-PT"]["n_test"] == in_memory["mis-mnist-PT-PT"]["n_test"] == 40
    assert streamed["cka-mnist-PT-RIT"]["n_examples"] == 40
    assert all(0 <= streamed["cka-mnist-PT-RIT"][f"cka_{s}"] <= 1 for s in protocol.STAGES)
    assert {r["run_key"] for r in rows(scale_dir, "cka")} >= {"cka-mnist-PT-RIT"}


def test_block_shuffle_runs_with_the_images_and_seeds_of_another_run_reuse_it(monkeypatch):
    """With the paper's seeds 0, 1, 2: every permutation that is the identity (the full block at each seed, block
    16 at seed 0) reuses the learning-curve run of its seeds where there is one (runs 1 and 2), '*' on one
    channel reuses block 1 at every seed, and the rest are runs of their own (the full block at seed 2)."""
    scale = dataclasses.replace(protocol.MINI, shuffle_seeds=(0, 1, 2))
    monkeypatch.setitem(protocol.SCALES, "mini", scale)
    runs = {r.key: r for r in protocol.grid("block_shuffle", "mini") if r.key.startswith("bs-PT-mnist-")}
    reused = {key: run.same_as for key, run in runs.items() if run.same_as is not None}
    role = {rep: protocol.role_run(scale, "P-T", "mnist", rep) for rep in (1, 2)}
    assert reused == {"bs-PT-mnist-b16-s0": role[1], "bs-PT-mnist-b32-s0": role[1], "bs-PT-mnist-b32-s1": role[2],
                      **{f"bs-PT-mnist-bpx-s{seed}": f"bs-PT-mnist-b1-s{seed}" for seed in (0, 1, 2)}}
    assert len(runs) - len(reused) == 3 * 5 + 1 - 1  # blocks 1-16 at three seeds, the full block at seed 2, not b16-s0


@pytest.mark.parametrize("block", ["4", protocol.PIXEL_SHUFFLE])
def test_mini_targets_shuffle_train_and_test_with_one_permutation(block):
    from repro.neyshabur2020 import mini_data

    target = protocol.SMOKE.target("digits")
    plain, _ = mini_data.target_data(protocol.SMOKE, target, None)
    shuffled, config = mini_data.target_data(protocol.SMOKE, target, None, block, 1234)
    from repro.data.transforms import image_shuffle

    transform = image_shuffle(block, 1234)
    np.testing.assert_array_equal(shuffled.x_train, transform(plain.x_train))
    np.testing.assert_array_equal(shuffled.x_val, transform(plain.x_val))
    assert config["shuffle"] == transform.describe()
    assert not np.array_equal(shuffled.x_train, plain.x_train)


def test_fine_tuning_copies_every_module_of_p_but_the_classifier(smoke):
    config = json.loads((smoke / "neyshabur2020" / "smoke" / "runs" / "lc-PT-mnist-lr0.1-r1" / "config.json")
                        .read_text())["transfer"]
    assert config["mode"] == "finetune" and config["reinitialized"] == ["fc"] and not config["frozen"]
    assert "fc_bias_in" in config["copied"] and "stem_conv" in config["copied"]


def test_paper_grid_follows_the_official_configs():
    grid = {e: PAPER.grid(e, "paper") for e in PAPER.experiment_names("paper")}
    shuffle = grid["block_shuffle"]
    assert {r.axis("block") for r in shuffle} == set(protocol.PAPER_SCALE.block_sizes)
    assert len(shuffle) == 3 * 2 * 13 * 3  # domains x arms x (12 sizes + '*') x seeds
    assert {r.data.shuffle_seed for r in shuffle} == {1234, 1235, 1236}
    assert not any(r.same_as for r in shuffle)  # augmented learning curves: no block-shuffle run repeats one
    assert {r.axis("target") for r in grid["cka"]} == {"chexpert"}
    assert {r.axis("target") for r in grid["checkpoints"]} == {"real", "clipart", "quickdraw"}
    assert sorted({r.axis("source_epoch") for r in grid["checkpoints"]}) == [
        0, 1, 2, 5, 10, 29, 30, 31, 59, 60, 61, 89, 90]
    assert {r.transfer.checkpoint for r in grid["checkpoints"]} == {
        0, 1, 2, 5, 10, 29, 30, 31, 59, 60, 61, 89, 90}
    assert len({r.key for g in grid.values() for r in g}) == sum(len(g) for g in grid.values())


def _schedule(target: str, arm: str, lr: float, n_train: int):
    scale = protocol.PAPER_SCALE
    return dataclasses.replace(scale.schedule_for(scale.target(target), arm), base_lr=lr).resolve(n_train)


def test_interpolation_takes_the_official_number_of_points_per_target(smoke):
    """ckpt_interpolation.py: 50 points on DomainNet, 20 on CheXpert; a target's own number reaches the analysis
    (at smoke the CheXpert stand-in has 4, the others the scale's 3)."""
    assert protocol.PAPER_SCALE.interpolation_points == 50
    assert protocol.PAPER_SCALE.target("chexpert").interpolation_points == 20
    with (smoke / "neyshabur2020" / "smoke" / "interpolation.csv").open() as handle:
        points = {(row["target"], row["points"]) for row in csv.DictReader(handle)}
    assert points == {("digits", "4")} | {(t.name, "3") for t in protocol.SMOKE.targets if t.name != "digits"}


def test_paper_schedules_are_the_official_ones():
    domainnet = _schedule("real", "P-T", 0.1, 50_000)
    steps = 50_000 // 32
    assert domainnet.lr_at(0) == pytest.approx(0.0125) and domainnet.batch_size == 32
    assert domainnet.milestones == (30 * steps, 60 * steps, 90 * steps) and domainnet.max_iter == 100 * steps
    assert domainnet.mixup_alpha == 0.7 and domainnet.weight_decay == 1e-4 and domainnet.decay_biases
    assert domainnet.scalar_lr_mult == 0.1 and domainnet.bias_lr_mult == 0.1  # libtrain.make_optimizer: fc.bias too
    ri_t = _schedule("chexpert", "RI-T", 0.02, 50_000)
    assert ri_t.lr_at(0) == pytest.approx(0.02) and ri_t.batch_size == 256 and ri_t.milestones == ()
    assert ri_t.lr_at(ri_t.max_iter - 1) == pytest.approx(0.02)
    assert ri_t.max_iter == 400 * (50_000 // 256) and ri_t.mixup_alpha == 0 and ri_t.loss == "sigmoid"
    assert _schedule("chexpert", "P-T", 0.02, 50_000).max_iter == 200 * (50_000 // 256)
    run = next(r for r in PAPER.grid("learning_curves", "paper") if isinstance(r, TrainRun) and r.transfer)
    assert run.transfer.n == ALL_BUT_LAST and run.transfer.mode == "finetune"


def _one_step(model, stream, schedule, tmp_path):
    from repro.train import train

    return train(model, stream, dataclasses.replace(schedule, length=1, eval_every=1, train_eval_examples=4),
                 tmp_path, data_seed=0)


def test_paper_scale_domainnet_fine_tuning_step_under_mock_data(tmp_path):
    from repro.neyshabur2020.data import target_data
    from repro.transfer import transfer

    scale = protocol.PAPER_SCALE
    builder = tfds.builder("domainnet/clipart", data_dir=tmp_path)
    infos = [tfds.core.SplitInfo(name=n, shard_lengths=[8], num_bytes=0) for n in ("train", "test")]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)
    with tfds.testing.mock_data(num_examples=8, data_dir=str(tmp_path)):
        stream, config = target_data(scale, scale.target("clipart"), str(tmp_path), block="56", shuffle_seed=1234)
        assert config["shuffle_transform"] == {"transform": "block_shuffle", "block": 56, "seed": 1234}
        assert "noaug" in config["train_transform"]
        schedule = _schedule("clipart", "P-T", 0.1, stream.n_train)
        source = protocol.network(scale, 1000).build(seed=1)
        spec = protocol.network(scale, 345)
        model = spec.build(seed=2)
        modules = spec.modules(model)
        transfer(model, modules, len(modules) - 1, "finetune", source)
        result = _one_step(model, stream, schedule, tmp_path)
    assert result.steps == 1 and 0.0 <= result.acc_final <= 1.0 and np.isfinite(result.train_loss_final)


def test_paper_scale_chexpert_step_trains_bce_and_reports_mean_auc(tmp_path):
    from repro.data import chexpert
    from repro.neyshabur2020 import data
    from tests.test_neyshabur_data import TINY, write_manual

    write_manual(tmp_path / "manual")
    config = chexpert.ChexpertConfig(name="tiny", **TINY)
    chexpert.chexpert_builder(tmp_path / "data", manual_dir=tmp_path / "manual", prepare=True, config=config)
    stream = data.chexpert_stream(tmp_path / "data", batch_size=2, config=config)
    stream.train_eval = lambda k: data.chexpert_dataset("train", tmp_path / "data", training=False, batch_size=2,
                                                        config=config).unbatch().take(k).batch(2)
    scale = protocol.PAPER_SCALE
    schedule = _schedule("chexpert", "RI-T", 0.1, stream.n_train)
    model = protocol.network(scale, 5).build(seed=0)
    result = _one_step(model, stream, dataclasses.replace(schedule, batch_size=2), tmp_path)
    assert result.steps == 1 and np.isfinite(result.train_loss_final)
    assert 0.0 <= result.acc_final <= 1.0  # the mean AUC over the labels that have both classes


def test_unknown_experiment_is_a_clear_error(tmp_path, capsys):
    assert main(["run", "neyshabur2020", "tables", "--scale", "smoke", "--out", str(tmp_path)]) == 2
    assert "unknown experiment 'tables'" in capsys.readouterr().err


def test_compare_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["compare", "neyshabur2020", "--scale", "smoke", "--out", str(tmp_path)]) == 2
    assert "run `repro run neyshabur2020 --scale smoke` first" in capsys.readouterr().err


def test_missing_dataset_is_reported_before_any_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REPRO_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    from repro.data import arrays

    monkeypatch.setattr(arrays, "_CACHE", {})
    code = main(["run", "neyshabur2020", "learning_curves", "--scale", "smoke", "--out", str(tmp_path / "out"),
                 "--data-dir", str(tmp_path / "tfds")])
    assert code == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def test_analyses_take_their_examples_from_a_stream_as_from_arrays():
    from repro.neyshabur2020.analyses import first_examples

    batches = [(np.full((4, 2), i, np.float32), np.full(4, i)) for i in range(3)]
    x, y = first_examples(iter(batches), 6)
    assert x.shape == (6, 2) and list(y) == [0, 0, 0, 0, 1, 1]
    assert len(first_examples(iter(batches), 100)[0]) == 12
    with pytest.raises(ValueError):
        first_examples(iter([]), 3)

