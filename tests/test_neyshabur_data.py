"""Neyshabur et al. 2020's paper-scale pipelines (repro.neyshabur2020.data, repro.data.chexpert).

DomainNet runs on ``tfds.testing.mock_data`` (random images of 5-50 px)
over a data_dir holding domainnet/real's metadata, and once on a tiny
DomainNet prepared by tfds's own ``domainnet`` generator from local txt lists
(the subset-by-txt-line check). CheXpert runs on a synthetic manual dir of a
few PNGs and CSV rows prepared by the ``chexpert_csv`` builder.
"""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core import shuffle as tfds_shuffle
from tensorflow_datasets.image_classification.domainnet import domainnet as tfds_domainnet

from repro.data import chexpert
from repro.data.imagenet_stats import IMAGENET_MEAN, IMAGENET_STD
from repro.data.transforms import BlockShuffle, PixelShuffle
from repro.errors import BadArgument, DatasetMissing
from repro import metrics
from repro.data import images
from repro.neyshabur2020 import data
from repro.train import StreamData

MOCK_EXAMPLES = 12
MEAN = np.array(IMAGENET_MEAN, np.float32)
STD = np.array(IMAGENET_STD, np.float32)


# ----------------------------------------------------------------------------- DomainNet

@pytest.fixture
def mocked_domainnet(tmp_path):
    """A data_dir where domainnet/real looks prepared (train and test of MOCK_EXAMPLES), served by mock data."""
    builder = tfds.builder("domainnet/real", data_dir=tmp_path)
    infos = [tfds.core.SplitInfo(name=name, shard_lengths=[MOCK_EXAMPLES], num_bytes=0) for name in ("train", "test")]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=str(tmp_path)):
        yield str(tmp_path)


def images_of(ds, batches=None):
    parts = [(x.numpy(), y.numpy()) for x, y in (ds if batches is None else ds.take(batches))]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def pixels(normalized):
    """Undo Normalize and ToTensor: the 0..255 values the transform produced."""
    return (normalized * STD + MEAN) * 255.0


def test_subsample_rule():
    assert data.subsample_indices(50_000) is None and data.subsample_indices(33_525) is None
    chosen = data.subsample_indices(120_906)
    np.testing.assert_array_equal(chosen, np.random.RandomState(2020).choice(120_906, 50_000, replace=False))
    assert len(set(chosen.tolist())) == 50_000
    expected = np.random.RandomState(2020).choice(12, 8, replace=False)
    np.testing.assert_array_equal(data.subsample_indices(12, 8), expected)
    with pytest.raises(BadArgument):
        data.subsample_indices(10, 0)


def test_record_positions_follow_tfds_shuffler(tmp_path):
    keys = data.domainnet_keys("quickdraw", "test", 500)
    assert keys[7] == "quickdraw_test_00000007"
    shuffler = tfds_shuffle.Shuffler(tmp_path, hash_salt="test")
    for line, key in enumerate(keys):
        shuffler.add(key, str(line).encode())
    stored_lines = np.array([int(payload) for _, payload in shuffler])
    positions = data.tfds_record_positions(keys, "test")
    np.testing.assert_array_equal(positions[stored_lines], np.arange(500))
    mask = data.domainnet_selection("quickdraw", "test", 500, 40)
    np.testing.assert_array_equal(np.flatnonzero(mask), np.sort(positions[data.subsample_indices(500, 40)]))
    assert data.domainnet_selection("quickdraw", "test", 40, 40) is None
    with pytest.raises(BadArgument, match="accepted: txt, tfds"):
        data.domainnet_selection("real", "test", 500, 40, order="csv")


def test_missing_domainnet_names_directory_and_how_to_prepare(tmp_path):
    with pytest.raises(DatasetMissing) as caught:
        data.domainnet_records("real", "train", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "tfds dataset 'domainnet/real' is not prepared in" in message and str(tmp_path) in message
    assert f"`repro prepare domainnet/real --data-dir {tmp_path}`" in message
    with pytest.raises(BadArgument, match="accepted: real, painting"):
        data.domainnet_records("photos", "train", tmp_path)


def test_augmented_training_batches(mocked_domainnet):
    ds = data.domainnet_dataset("real", "train", mocked_domainnet, augment=True, batch_size=4, seed=5,
                                subsample_size=8)
    assert ds.element_spec[0].shape.as_list() == [4, 224, 224, 3]
    x, y = images_of(ds, batches=3)
    assert x.shape == (12, 224, 224, 3) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0 <= y.min() and y.max() < data.DOMAINNET_CLASSES
    values = pixels(x)
    assert values.min() > -0.01 and values.max() < 255.01
    np.testing.assert_allclose(values, np.round(values), atol=2e-3)  # uint8 image before ToTensor
    again, _ = images_of(data.domainnet_dataset("real", "train", mocked_domainnet, augment=True, batch_size=4,
                                                seed=5, subsample_size=8), batches=1)
    np.testing.assert_array_equal(again, x[:4])
    other, _ = images_of(data.domainnet_dataset("real", "train", mocked_domainnet, augment=True, batch_size=4,
                                                seed=6, subsample_size=8), batches=1)
    assert not np.array_equal(other, x[:4])


def test_eval_normalization_subsample_and_noaug(mocked_domainnet):
    x, y = images_of(data.domainnet_dataset("real", "test", mocked_domainnet, batch_size=5, subsample_size=8))
    assert x.shape == (8, 224, 224, 3)  # 12 > 8: subsampled
    values = pixels(x)
    np.testing.assert_allclose(values, np.round(values), atol=2e-3)
    assert values.min() > -0.01 and values.max() < 255.01
    # mock pixels are uniform on 0..254: the normalized channel means sit near (0.5 - mean) / std
    channel_means = x.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(channel_means, (127.0 / 255.0 - MEAN) / STD, atol=0.15)
    assert np.all((x.std(axis=(0, 1, 2)) > 0.2) & (x.std(axis=(0, 1, 2)) < 2.0))
    whole, _ = images_of(data.domainnet_dataset("real", "test", mocked_domainnet, batch_size=5))
    assert whole.shape[0] == MOCK_EXAMPLES  # 12 <= 50,000: kept whole
    assert len(images_of(data.domainnet_dataset("real", "test", mocked_domainnet, subsample_size=12))[0]) == 12
    assert data.domainnet_size("real", "train", mocked_domainnet, subsample_size=8) == 8
    # evaluation is deterministic, and "noaug" training shows exactly the evaluation images
    again, y_again = images_of(data.domainnet_dataset("real", "test", mocked_domainnet, batch_size=3, subsample_size=8))
    np.testing.assert_array_equal(again, x)
    np.testing.assert_array_equal(y_again, y)
    train_eval, _ = images_of(data.domainnet_dataset("real", "train", mocked_domainnet, training=False,
                                                     subsample_size=8))
    noaug, _ = images_of(data.domainnet_dataset("real", "train", mocked_domainnet, augment=False, batch_size=4,
                                                seed=1, subsample_size=8), batches=2)
    for image in noaug:
        assert any(np.array_equal(image, candidate) for candidate in train_eval)


@pytest.mark.parametrize("transform", [BlockShuffle(block=56, seed=1234), PixelShuffle(seed=1235)])
def test_shuffle_transform_is_the_same_on_train_and_test(mocked_domainnet, transform):
    kwargs = dict(subsample_size=8, batch_size=4)
    plain_test, _ = images_of(data.domainnet_dataset("real", "test", mocked_domainnet, **kwargs))
    shuffled_test, _ = images_of(data.domainnet_dataset("real", "test", mocked_domainnet,
                                                        shuffle_transform=transform, **kwargs))
    np.testing.assert_array_equal(shuffled_test, transform(plain_test))
    plain_train, _ = images_of(data.domainnet_dataset("real", "train", mocked_domainnet, training=False, **kwargs))
    expected = transform(plain_train)
    shuffled_train, _ = images_of(data.domainnet_dataset("real", "train", mocked_domainnet, augment=False, seed=2,
                                                         shuffle_transform=transform, **kwargs), batches=2)
    for image in shuffled_train:
        assert any(np.array_equal(image, candidate) for candidate in expected)
    config = data.domainnet_pipeline_config("real", augment=False, shuffle_transform=transform)
    assert config["shuffle_transform"] == transform.describe()


def test_stream_data(mocked_domainnet):
    stream = data.domainnet_stream("real", mocked_domainnet, batch_size=4, augment=True, subsample_size=10)
    assert isinstance(stream, StreamData) and stream.n_train == 10
    x, y = stream.batch(0, 4, data_seed=3)
    assert x.shape == (4, 224, 224, 3) and y.shape == (4,)
    assert sum(int(b[0].shape[0]) for b in stream.validation_batches()) == 10


def test_random_resized_crop_box_matches_torchvision_rules():
    for s in range(20):
        top, left, h, w = (int(v) for v in images.random_resized_crop_box(300, 500, tf.constant([s, 9], tf.int64)))
        assert 0 <= top <= 300 - h and 0 <= left <= 500 - w
        assert 0.08 * 300 * 500 * 0.9 <= h * w <= 300 * 500
        assert 3 / 4 * 0.85 <= w / h <= 4 / 3 * 1.15  # ratio range up to rounding
    # no attempt fits a 10 x 1000 strip: central crop clamped to ratio 4/3
    box = [int(v) for v in images.random_resized_crop_box(10, 1000, tf.constant([0, 0], tf.int64))]
    assert box == [0, (1000 - 13) // 2, 10, 13]


def test_eval_resize_and_center_crop_sizes():
    image = tf.zeros([300, 451, 3], tf.uint8)
    assert images.resize_short_side(image).shape == (256, int(256 * 451 / 300), 3)
    assert images.resize_short_side(tf.zeros([451, 300, 3], tf.uint8)).shape == (int(256 * 451 / 300), 256, 3)
    ramp = tf.reshape(tf.range(226 * 227, dtype=tf.float32), [226, 227, 1])
    crop = images.center_crop(ramp).numpy()
    assert crop.shape == (224, 224, 1)
    assert crop[0, 0, 0] == 1 * 227 + 2  # round(1.0) = 1, round(1.5) = 2 (half to even)


class LocalDomainnet(tfds_domainnet.Domainnet, skip_registration=True):
    """tfds's own domainnet generator, reading its lists and images from ``SOURCE`` instead of the web."""

    name = "domainnet"  # written where tfds.builder("domainnet/real") reads
    SOURCE: Path

    def _split_generators(self, dl_manager):
        self.img_path = str(self.SOURCE)
        self.splits = {split: str(self.SOURCE / f"real_{split}.txt") for split in ("train", "test")}
        return {split: self._generate_examples(split=split) for split in ("train", "test")}


def test_subset_is_the_official_txt_lines(tmp_path):
    source = tmp_path / "source"
    (source / "real" / "cls").mkdir(parents=True)
    sizes = {"train": 30, "test": 6}
    for split, n in sizes.items():
        lines = []
        for line in range(n):
            name = f"real/cls/{split}_{line}.png"
            colour = tf.constant([[[line, 100, 200]]], tf.uint8)
            tf.io.write_file(str(source / name), tf.io.encode_png(tf.tile(colour, [6, 9, 1])))
            lines.append(f"{name} {line % 345}")
        (source / f"real_{split}.txt").write_text("\n".join(lines) + "\n")
    LocalDomainnet.SOURCE = source
    LocalDomainnet(config="real", data_dir=tmp_path / "data").download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=3))
    assert len(tfds.builder("domainnet/real", data_dir=tmp_path / "data").info.splits["train"].shard_lengths) == 3

    def lines_read(order, shuffle_files):
        records = data.domainnet_records("real", "train", tmp_path / "data", subsample_size=10, order=order,
                                         shuffle_files=shuffle_files, seed=4)
        return sorted(int(tf.io.decode_png(encoded)[0, 0, 0]) for encoded, _ in records)

    official = sorted(np.random.RandomState(2020).choice(30, 10, replace=False).tolist())
    assert lines_read("txt", False) == official
    assert lines_read("txt", True) == official
    stored = [int(tf.io.decode_png(ex["image"])[0, 0, 0]) for ex in tfds.builder(
        "domainnet/real", data_dir=tmp_path / "data").as_dataset(split="train", decoders={
            "image": tfds.decode.SkipDecoding()}, read_config=tfds.ReadConfig(interleave_cycle_length=1))]
    assert lines_read("tfds", False) == sorted(stored[i] for i in data.subsample_indices(30, 10))
    test_x, _ = images_of(data.domainnet_dataset("real", "test", tmp_path / "data", subsample_size=10))
    assert sorted(np.round(pixels(test_x)[:, 100, 100, 0]).astype(int).tolist()) == list(range(6))


# ----------------------------------------------------------------------------- CheXpert

HEADER = "Path,Sex,Age,Frontal/Lateral,AP/PA," + ",".join(chexpert.OBSERVATIONS)
# (observations of the 14 columns as CSV cells; image height, width)
TRAIN_ROWS = [
    (["", "", "1.0", "", "", "", "", "", "", "", "", "", "", ""], (40, 30)),        # Cardiomegaly positive
    (["", "", "-1.0", "", "", "-1.0", "", "", "-1.0", "", "-1.0", "", "", ""], (30, 50)),  # uncertain
    (["1.0", "", "0.0", "", "", "0.0", "1.0", "", "", "", "", "", "", ""], (260, 300)),  # Consolidation positive
    (["", "", "", "", "", "1.0", "-1.0", "", "1.0", "", "1.0", "", "", "1.0"], (35, 35)),
    (["", "", "1.0", "", "", "", "1.0", "", "", "", "", "", "", ""], (20, 44)),     # both: still one copy
    ([""] * 14, (33, 31)),
    (["", "", "0.0", "", "", "", "-1.0", "", "", "", "0.0", "", "", ""], (28, 26)),
    (["", "", "", "", "", "", "", "", "", "", "1.0", "", "", ""], (50, 40)),
    (["", "", "1.0", "", "", "", "", "", "", "", "", "", "", ""], (30, 30)),
    (["", "", "", "", "", "", "0.0", "", "", "", "", "", "", ""], (26, 40)),
    (["", "", "", "", "", "", "1.0", "", "", "", "", "", "", ""], (40, 26)),
    (["0.0"] * 14, (31, 37)),
]
VALID_ROWS = [(["0.0"] * 14, (30, 30)), (["", "", "1.0"] + ["0.0"] * 11, (36, 24)), (["1.0"] * 14, (24, 36))]
TINY = dict(seed=1234, train_size=5, test_size=4)


def write_manual(manual: Path) -> None:
    root = manual / chexpert.ROOT
    rng = np.random.default_rng(0)
    for csv_name, folder, rows in (("train.csv", "train", TRAIN_ROWS), ("valid.csv", "valid", VALID_ROWS)):
        lines = [HEADER]
        for number, (cells, (height, width)) in enumerate(rows):
            path = f"{chexpert.ROOT}/{folder}/patient{number:05d}/study1/view1_frontal.png"
            (manual / path).parent.mkdir(parents=True, exist_ok=True)
            image = rng.integers(40, 200, (height, width, 1)).astype(np.uint8)
            tf.io.write_file(str(manual / path), tf.io.encode_png(image))
            lines.append(",".join([path, "Female", "60", "Frontal", "AP"] + cells))
        (root / csv_name).write_text("\n".join(lines) + "\n")


@pytest.fixture
def chexpert_dir(tmp_path):
    """(data_dir, config) with the tiny synthetic CheXpert prepared."""
    write_manual(tmp_path / "manual")
    config = chexpert.ChexpertConfig(name="tiny", **TINY)
    chexpert.chexpert_builder(tmp_path / "data", manual_dir=tmp_path / "manual", prepare=True, config=config)
    return tmp_path / "data", config


def test_label_policy_on_hand_built_rows():
    rows = [[chexpert.CELL_VALUES[c] for c in cells] for cells, _ in TRAIN_ROWS[:5]]
    labels = data.chexpert_labels(np.array(rows, np.float32)).numpy()
    # columns: Cardiomegaly, Edema, Consolidation, Atelectasis, Pleural Effusion
    np.testing.assert_array_equal(labels, [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 1, 0],  # uncertain: U-Ones for Edema and Atelectasis, U-Zeros for the others
        [0, 0, 1, 0, 0],
        [0, 1, 0, 1, 1],  # uncertain Consolidation -> 0
        [1, 0, 1, 0, 0],
    ])
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(data.duplicated(labels).numpy(), [True, False, True, False, True])
    assert data.chexpert_labels(np.full(14, np.nan, np.float32)).numpy().tolist() == [0.0] * 5  # blank -> 0


def test_split_rule_sizes_and_rows(chexpert_dir):
    data_dir, config = chexpert_dir
    builder = chexpert.chexpert_builder(data_dir, config=config)
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 5, "test": 4, "validation": 3}
    perm = np.random.RandomState(1234).permutation(len(TRAIN_ROWS))
    rows = {split: [int(r) for _, _, r in data.chexpert_records(split, data_dir, config=config)]
            for split in ("train", "test", "validation")}
    assert rows == {"train": perm[:5].tolist(), "test": perm[5:9].tolist(), "validation": [0, 1, 2]}
    first = next(iter(builder.as_dataset(split="train")))
    assert first["path"].numpy().decode().endswith(f"patient{perm[0]:05d}/study1/view1_frontal.png")
    assert builder.info.metadata["train_csv_rows"] == len(TRAIN_ROWS)
    # the 50k/50k rule at full size, on the row count of CheXpert-v1.0-small's train.csv
    full = chexpert.split_rows(223_414, chexpert.ROWS_1234_50K)
    assert len(full["train"]) == len(full["test"]) == 50_000 and not set(full["train"]) & set(full["test"])
    with pytest.raises(BadArgument, match="needs 9"):
        chexpert.split_rows(8, config)


def test_training_list_duplicates_cardiomegaly_and_consolidation_positives(chexpert_dir):
    data_dir, config = chexpert_dir
    once = [(int(r), tuple(y.numpy())) for _, y, r in data.chexpert_records("train", data_dir, config=config)]
    listed = [int(r) for _, _, r in data.chexpert_records("train", data_dir, config=config, duplicate_positives=True)]
    expected = []
    for row, labels in once:
        expected += [row] * (2 if labels[0] == 1 or labels[2] == 1 else 1)
    assert listed == expected and len(listed) > len(once)
    metadata = chexpert.chexpert_builder(data_dir, config=config).info.metadata
    assert metadata["train_rows_positive_cardiomegaly_or_consolidation"] == len(expected) - len(once)
    assert data.chexpert_size("train", data_dir, config=config) == len(expected)
    assert data.chexpert_size("train", data_dir, config=config, training=False) == 5
    assert data.chexpert_size("test", data_dir, config=config) == 4


def test_chexpert_batches_and_deterministic_eval(chexpert_dir):
    data_dir, config = chexpert_dir
    ds = data.chexpert_dataset("train", data_dir, batch_size=4, seed=3, config=config)
    x, y = next(iter(ds))
    assert x.shape == (4, 224, 224, 3) and x.dtype == tf.float32
    assert y.shape == (4, 5) and y.dtype == tf.float32
    assert -2.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 127 / 64
    np.testing.assert_array_equal(x[..., 0].numpy(), x[..., 2].numpy())
    x_again, _ = next(iter(data.chexpert_dataset("train", data_dir, batch_size=4, seed=3, config=config)))
    np.testing.assert_array_equal(x_again.numpy(), x.numpy())
    dev = [b[0].numpy() for b in data.chexpert_dataset("validation", data_dir, batch_size=2, config=config)]
    dev_again = [b[0].numpy() for b in data.chexpert_dataset("validation", data_dir, batch_size=2, config=config)]
    assert [d.shape[0] for d in dev] == [2, 1]
    for a, b in zip(dev, dev_again):
        np.testing.assert_array_equal(a, b)
    # valid row 1 is 36 x 24 (tall): 224 x round(224 / 1.5) = 224 x 149, padded right with 128 -> 0
    wide_pad = dev[0][1]
    assert np.all(wide_pad[:, 151:, :] == 0.0) and not np.all(wide_pad[:, 140:149, :] == 0.0)
    stream = data.chexpert_stream(data_dir, batch_size=2, config=config)
    assert stream.n_train == data.chexpert_size("train", data_dir, config=config)
    assert sum(int(b[0].shape[0]) for b in stream.validation_batches()) == 4  # the "test" rows


def test_chexpert_image_steps():
    rng = np.random.default_rng(1)
    image = rng.integers(30, 200, (37, 23, 1)).astype(np.uint8)
    # cv2.equalizeHist, written out in numpy
    hist = np.bincount(image.ravel(), minlength=256)
    low = np.flatnonzero(hist)[0]
    scale = np.float32(255.0) / np.float32(image.size - hist[low])
    lut = np.zeros(256, np.uint8)
    lut[low + 1:] = np.rint(np.cumsum(hist[low + 1:]).astype(np.float32) * scale).clip(0, 255)
    np.testing.assert_array_equal(data.equalize_hist(tf.constant(image)).numpy(), lut[image])
    flat = np.full((4, 5, 1), 77, np.uint8)
    np.testing.assert_array_equal(data.equalize_hist(tf.constant(flat)).numpy(), flat)
    # RandomAffine pieces: identity, and an integer translation with fill 128
    img = rng.integers(0, 255, (20, 30, 1)).astype(np.uint8)
    np.testing.assert_array_equal(data.apply_affine(tf.constant(img), 0.0, (0.0, 0.0), 1.0).numpy(), img)
    shifted = np.full_like(img, 128)
    shifted[0:18, 3:30] = img[2:20, 0:27]
    np.testing.assert_array_equal(data.apply_affine(tf.constant(img), 0.0, (3.0, -2.0), 1.0).numpy(), shifted)
    turned = data.random_affine(tf.constant(img), tf.constant([1, 2], tf.int64)).numpy()
    assert turned.shape == img.shape and turned.dtype == np.uint8
    # GaussianBlur(3x3, 0): OpenCV's fixed kernel (1, 2, 1) / 4
    impulse = np.zeros((7, 7, 1), np.float32)
    impulse[3, 3] = 16.0
    blurred = data.gaussian_blur3(tf.constant(impulse)).numpy()[..., 0]
    np.testing.assert_allclose(blurred[2:5, 2:5], np.outer([1, 2, 1], [1, 2, 1]))
    assert blurred.sum() == pytest.approx(16.0)
    # ImageMagick '224^>': 390 x 320 -> 273 x 224; smaller images are left alone
    assert data.pre_resize(tf.zeros([390, 320, 1], tf.uint8)).shape == (273, 224, 1)
    assert data.pre_resize(tf.zeros([200, 120, 1], tf.uint8)).shape == (200, 120, 1)
    # long side 224 with rounding half to even: 224 / (300 / 150) = 112
    assert data.resize_long_side_pad(tf.zeros([300, 150, 1])).shape == (224, 224, 1)


def test_mean_auc_known_example():
    y = np.array([[0, 1, 0], [0, 1, 0], [1, 1, 1], [1, 1, 1]], np.float32)
    scores = np.array([[0.1, 0.3, -2.0], [0.4, 0.2, -1.0], [0.35, 0.9, 3.0], [0.8, 0.5, 4.0]])
    aucs = metrics.label_aucs(y, scores)
    assert aucs[0] == pytest.approx(0.75) and math.isnan(aucs[1]) and aucs[2] == pytest.approx(1.0)
    assert metrics.mean_auc(y, scores) == pytest.approx(0.875)  # the single-class column is skipped
    with pytest.raises(BadArgument, match="single class"):
        metrics.mean_auc(np.ones((3, 2)), np.zeros((3, 2)))


def test_missing_chexpert_names_manual_dir(tmp_path):
    manual = tmp_path / "downloads" / "manual"
    with pytest.raises(DatasetMissing) as caught:
        data.chexpert_records("train", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "tfds dataset 'chexpert_csv/rows_1234_50k' is not prepared in" in message
    assert f"put CheXpert-v1.0-small in {manual}" in message
    assert f"`repro prepare chexpert_csv --data-dir {tmp_path}`" in message
    with pytest.raises(DatasetMissing, match="cannot prepare .*missing CheXpert-v1.0-small/train.csv"):
        chexpert.chexpert_builder(tmp_path, prepare=True)
