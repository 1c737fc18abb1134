"""Chen et al. 2022's paper-scale inputs (repro.chen2022.data) on ``tfds.testing.mock_data`` and tiny folders.

A temporary data_dir holds the metadata of cifar10, caltech101 and
imagenet2012 (as prepared datasets would); tfds serves random images (32x32
for CIFAR, 5-50 px for the others). UC Merced's 80/20 rule runs on a custom
mock with known labels and file names; the folder datasets (POCUS,
Flowers-17, FGVC-Aircraft) on a few small files written to
``<data_dir>/manual``. 224x224 pipelines are exercised on one or two batches
of 4 to keep the module fast.
"""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

import json
import random
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.chen2022 import data
from repro.data.images import element_seed
from repro.chen2022.protocol import NORMALIZE_MEAN, NORMALIZE_STD, PAPER_SCALE, PAPER_TARGETS
from repro.errors import BadArgument, DatasetMissing
from repro.train import StreamData

N = 10
BATCH = 4
SCALE = replace(PAPER_SCALE, pretrain=replace(PAPER_SCALE.pretrain, batch_size=BATCH),
                finetune=replace(PAPER_SCALE.finetune, batch_size=BATCH))
TARGETS = {t.name: t for t in PAPER_TARGETS}
LOW, HIGH = (0.0 - NORMALIZE_MEAN) / NORMALIZE_STD, (1.0 - NORMALIZE_MEAN) / NORMALIZE_STD  # -2.222, 2.222
SPLITS = {"cifar10": ("train", "test"), "caltech101": ("train", "test"), "uc_merced": ("train",)}


def write_metadata(root, name, num_examples=N, splits=None):
    builder = tfds.builder(name, data_dir=root)
    infos = [tfds.core.SplitInfo(name=s, shard_lengths=[num_examples], num_bytes=0) for s in splits or SPLITS[name]]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)


@pytest.fixture
def mocked(tmp_path):
    """A data_dir where cifar10 and caltech101 look prepared (N examples per split), served by mock data."""
    for name in ("cifar10", "caltech101"):
        write_metadata(tmp_path, name)
    with tfds.testing.mock_data(num_examples=N, data_dir=str(tmp_path)):
        yield str(tmp_path)


def raw(name, split, data_dir):
    """Decoded uint8 images and labels as tfds serves them (the features the pipeline parses)."""
    decoders = tfds.decode.PartialDecoding({"image": True, "label": True})
    examples = list(tfds.as_numpy(tfds.builder(name, data_dir=data_dir).as_dataset(split=split, decoders=decoders)))
    return np.stack([ex["image"] for ex in examples]), np.array([ex["label"] for ex in examples])


def batches(ds, count=None):
    ds = ds if count is None else ds.take(count)
    pairs = [(x.numpy(), y.numpy()) for x, y in ds]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def in_range(x):
    return float(x.min()) >= LOW - 1e-5 and float(x.max()) <= HIGH + 1e-5


# ----------------------------------------------------------------------------- the dataset table

def test_every_paper_target_has_a_loader_and_catalog_names_exist():
    assert set(data.LOADERS) == set(TARGETS)
    builders = set(tfds.list_builders())
    for name, spec in data.LOADERS.items():
        base = spec.dataset.split("/")[0]
        if isinstance(spec, data.Folder):
            assert base not in builders, f"{base} is in the tfds catalog now: read it from there"
            assert spec.dataset == TARGETS[name].dataset  # the folder under <data_dir>/manual
        else:
            assert base in builders
        assert data.image_size(TARGETS[name]) == (32 if name.startswith("cifar") else 224)
    with pytest.raises(BadArgument, match="accepted: cifar10"):
        data.loader(replace(TARGETS["cifar10"], name="mnist"))


# ----------------------------------------------------------------------------- the 80/20 rule

def official_rule(names_by_class):
    """``datasets.ImageDataset.get_img_info`` on lists of file names, literally."""
    train, val = [], []
    for names in names_by_class:
        names = list(names)
        random.seed(1)
        random.shuffle(names)
        cut = int(0.2 * len(names))
        val.extend(names[:cut])
        train.extend(names[cut:])
    return train, val


def test_holdout_split_is_the_official_per_class_rule():
    rng = np.random.default_rng(0)
    counts = {0: 100, 1: 80, 2: 7, 3: 1}
    labels = np.concatenate([[c] * n for c, n in counts.items()])
    names = np.array([f"c{c}_{i:03d}.jpg" for c, n in counts.items() for i in range(n)])
    order = rng.permutation(len(labels))  # records in any order: the file names fix the rule
    labels, names = labels[order], names[order]
    train, held = data.holdout_split(labels, list(names))
    assert len(set(train) & set(held)) == 0 and sorted(np.concatenate([train, held])) == list(range(len(labels)))
    for c, n in counts.items():
        assert np.sum(labels[train] == c) == n - int(0.2 * n)  # 80, 64, 6, 1
        assert np.sum(labels[held] == c) == int(0.2 * n)
    expected_train, expected_val = official_rule([sorted(names[labels == c]) for c in counts])
    assert list(names[train]) == expected_train and list(names[held]) == expected_val
    again = data.holdout_split(labels, list(names))
    np.testing.assert_array_equal(again[0], train)
    np.testing.assert_array_equal(again[1], held)
    # the paper's N: UC Merced 21 x 100 -> 1,680; Flowers-17 17 x 80 -> 1,088
    assert len(data.holdout_split(np.repeat(np.arange(21), 100))[0]) == 1680
    assert [len(part) for part in data.holdout_split(np.repeat(np.arange(17), 80))] == [1088, 272]


UC_LABELS = [0] * 10 + [1] * 5 + [2] * 7


def uc_names():
    return [f"{['agricultural', 'airplane', 'beach'][c]}{i:02d}.tif" for c in range(3)
            for i in range(UC_LABELS.count(c))]


def uc_as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False):
    """Mock ``_as_dataset``: 22 PNGs whose pixels carry their index, records in a scrambled order."""
    order = np.random.default_rng(3).permutation(len(UC_LABELS))
    encoded = [tf.io.encode_png(np.full((6, 8, 3), i, np.uint8)).numpy() for i in order]
    return tf.data.Dataset.from_tensor_slices({"image": encoded, "label": np.array(UC_LABELS, np.int64)[order],
                                               "filename": np.array(uc_names())[order]})


def test_landuse_is_the_80_20_rule_on_sorted_file_names(tmp_path):
    write_metadata(tmp_path, "uc_merced", len(UC_LABELS))
    with tfds.testing.mock_data(num_examples=len(UC_LABELS), data_dir=str(tmp_path), as_dataset_fn=uc_as_dataset):
        records = data.target_records(TARGETS["landuse"], str(tmp_path))
        ids = {role: [int(tf.io.decode_png(e)[0, 0, 0]) for e, _ in records.records(role)]
               for role in ("train", "test")}
        stream, config = data.target_data(SCALE, TARGETS["landuse"], str(tmp_path))
        x, y = next(iter(stream.make_train(1)))
    assert (records.n_train, records.n_test) == (8 + 4 + 6, 2 + 1 + 1) == (len(ids["train"]), len(ids["test"]))
    names = uc_names()
    expected_train, expected_val = official_rule([[n for n, c in zip(names, UC_LABELS) if c == k] for k in range(3)])
    assert sorted(names[i] for i in ids["train"]) == sorted(expected_train)
    assert sorted(names[i] for i in ids["test"]) == sorted(expected_val)
    assert stream.n_train == 18 and x.shape == (BATCH, 224, 224, 3) and in_range(x.numpy())
    assert (config["dataset"], config["source"], config["n_test"]) == ("uc_merced", "tfds catalog", 4)
    assert config["split_rule"]["val_ratio"] == 0.2 and config["split_rule"]["seed"] == 1
    json.dumps(config)


# ----------------------------------------------------------------------------- catalog targets

def test_cifar_validation_is_native_32_and_normalized(mocked):
    stream, config = data.target_data(SCALE, TARGETS["cifar10"], mocked)
    assert isinstance(stream, StreamData) and stream.n_train == N
    assert [len(y) for _, y in stream.validation_batches()] == [4, 4, 2]  # the last partial batch is kept
    x, y = batches(stream.validation)
    images, labels = raw("cifar10", "test", mocked)
    assert x.shape == (N, 32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    # Resize((32, 32)) of a 32x32 image is the identity: exactly ToTensor + Normalize(0.5, 0.225)
    np.testing.assert_allclose(x, (images / 255.0 - 0.5) / 0.225, atol=1e-5)
    assert in_range(x)
    assert (config["dataset"], config["train_split"], config["test_split"]) == ("cifar10", "train", "test")
    assert (config["n_train"], config["n_test"], config["image_size"], config["batch_size"]) == (N, N, 32, BATCH)
    assert config["normalization"]["mean"] == [0.5] * 3 and config["normalization"]["std"] == [0.225] * 3
    json.dumps(config)
    xe, ye = data.target_examples(SCALE, TARGETS["cifar10"], mocked, 5)
    train_images, train_labels = raw("cifar10", "train", mocked)
    assert xe.shape == (5, 32, 32, 3) and xe.dtype == np.float32 and ye.dtype == np.int64
    np.testing.assert_allclose(xe, (train_images[:5] / 255.0 - 0.5) / 0.225, atol=1e-5)
    np.testing.assert_array_equal(ye, train_labels[:5])
    xt, _ = batches(stream.train_eval_batches(6))
    np.testing.assert_allclose(xt, (train_images[:6] / 255.0 - 0.5) / 0.225, atol=1e-5)


def test_training_stream_is_deterministic_per_seed(mocked):
    stream, _ = data.target_data(SCALE, TARGETS["cifar10"], mocked)

    def first(seed, count=3):
        return [(x.numpy(), y.numpy()) for x, y in stream.make_train(seed).take(count)]

    a, b, c = first(5), first(5), first(6)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    assert stream.make_train(5).element_spec[0].shape.as_list() == [None, 32, 32, 3]
    assert all(in_range(x) for x, _ in a)
    _, labels = raw("cifar10", "train", mocked)
    assert set(np.concatenate([y for _, y in a]).tolist()) <= set(labels.tolist())


def test_training_stream_is_epochs_that_end_with_their_short_batch(mocked):
    """DataLoader(shuffle=True) of finetune.py: every epoch each training image once, batches of 4, 4, 2 for 10
    images, and the next epoch in another order; the schedule counts the same 3 steps per epoch."""
    stream, config = data.target_data(SCALE, TARGETS["cifar10"], mocked)
    _, labels = raw("cifar10", "train", mocked)
    epochs = [[y.numpy() for _, y in stream.make_train(5).skip(3 * e).take(3)] for e in range(2)]
    for batches in epochs:
        assert [len(y) for y in batches] == [4, 4, 2]
        assert sorted(np.concatenate(batches).tolist()) == sorted(labels.tolist())
    assert "each ending with its short batch" in config["train_order"]
    assert SCALE.finetune.resolve(N).steps_per_epoch == 3


def test_train_transform_crops_resizes_and_flips():
    # red = column index * 8: a crop keeps the order of columns unless flipped
    cols = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    image = np.stack([cols, np.zeros_like(cols), np.full_like(cols, 200)], axis=-1)
    encoded = tf.io.encode_png(image)
    seeds = tf.data.Dataset.range(60).map(lambda i: element_seed(9, i))
    out = np.stack(list(seeds.map(lambda s: data.train_image(encoded, s, 32)).as_numpy_iterator()))
    assert out.shape == (60, 32, 32, 3) and in_range(out)
    pixels = (out * NORMALIZE_STD + NORMALIZE_MEAN) * 255.0
    np.testing.assert_allclose(pixels[..., 2], 200.0, atol=1e-3)  # a constant channel stays constant
    slope = pixels[:, 16, -1, 0] - pixels[:, 16, 0, 0]
    assert np.sum(slope > 0) > 10 and np.sum(slope < 0) > 10  # flipped about half of the time
    spans = np.abs(slope)
    assert spans.min() < 150 < spans.max()  # crops of different sizes, resized back to 32


def test_caltech101_is_224(mocked):
    stream, config = data.target_data(SCALE, TARGETS["caltech101"], mocked)
    x, y = next(iter(stream.validation))
    assert x.shape == (BATCH, 224, 224, 3) and x.dtype == tf.float32 and y.dtype == tf.int64 and in_range(x.numpy())
    x, y = next(iter(stream.make_train(0)))
    assert x.shape == (BATCH, 224, 224, 3) and int(tf.reduce_max(y)) < 102 and in_range(x.numpy())
    assert (config["classes"], config["image_size"], config["test_split"]) == (102, 224, "test")


def test_unprepared_catalog_target_raises_dataset_missing(tmp_path):
    with pytest.raises(DatasetMissing, match="dtd"):
        data.target_data(SCALE, TARGETS["dtd"], str(tmp_path))
    with pytest.raises(DatasetMissing, match="imagenet2012"):
        data.source_data(SCALE, str(tmp_path))


# ----------------------------------------------------------------------------- folder targets

def write_image(path, shape, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full(shape, value, np.uint8)
    pixels[0, 0] = 255 - value
    encode = tf.io.encode_jpeg if path.suffix.lower() in (".jpg", ".jpeg") else tf.io.encode_png
    path.write_bytes(encode(pixels).numpy())


POCUS = {"covid19": 5, "pneumonia": 6, "regular": 10}


def test_pocus_class_folders_grayscale_to_three_channels(tmp_path):
    root = tmp_path / "manual" / "pocus"
    for k, (name, count) in enumerate(POCUS.items()):
        for i in range(count):
            write_image(root / name / f"img{i:02d}{'.jpg' if i % 2 else '.png'}", (20 + i, 30, 1), 40 * k + i)
        (root / name / "notes.txt").write_text("not an image")
    stream, config = data.target_data(SCALE, TARGETS["pocus"], str(tmp_path))
    assert (stream.n_train, config["n_test"]) == (4 + 5 + 8, 1 + 1 + 2)
    assert config["source"] == "folder" and config["class_names"] == ["covid19", "pneumonia", "regular"]
    json.dumps(config)
    x, y = batches(stream.validation)
    assert x.shape == (4, 224, 224, 3) and sorted(y.tolist()) == [0, 1, 2, 2] and in_range(x)
    np.testing.assert_array_equal(x[..., 0], x[..., 1])  # grayscale -> three equal channels
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    xt, yt = next(iter(stream.make_train(3)))
    assert xt.shape == (BATCH, 224, 224, 3) and in_range(xt.numpy())
    np.testing.assert_array_equal(xt[..., 0], xt[..., 2])
    xe, ye = data.target_examples(SCALE, TARGETS["pocus"], str(tmp_path), 3)
    assert xe.shape == (3, 224, 224, 3) and xe.dtype == np.float32 and ye.tolist() == [0, 0, 0]


def test_missing_folder_dataset_names_the_expected_layout(tmp_path):
    with pytest.raises(DatasetMissing, match=r"manual/pocus/<class>/<image>\.jpg"):
        data.target_data(SCALE, TARGETS["pocus"], str(tmp_path))
    with pytest.raises(DatasetMissing, match=r"images_variant_trainval\.txt.*or class folders"):
        data.target_examples(SCALE, TARGETS["aircraft"], str(tmp_path), 2)
    with pytest.raises(DatasetMissing, match=r"manual/oxford_flowers17/jpg/image_0001\.jpg"):
        data.target_data(SCALE, TARGETS["flowers17"], str(tmp_path))
    for k in range(2):  # two classes where three are declared
        write_image(tmp_path / "manual" / "pocus" / f"class{k}" / "a.png", (4, 4, 1), 0)
    with pytest.raises(DatasetMissing, match="holds 2 classes.*which has 3"):
        data.target_data(SCALE, TARGETS["pocus"], str(tmp_path))


def test_flowers17_archive_layout(tmp_path):
    directory = tmp_path / "manual" / "oxford_flowers17" / "jpg"
    for k in range(17):
        for i in range(5):
            write_image(directory / f"image_{80 * k + i + 1:04d}.jpg", (4, 4, 3), k)
    (directory / "files.txt").write_text("")
    train_paths, train_labels, test_paths, test_labels, config = data.folder_lists(
        data.LOADERS["flowers17"], TARGETS["flowers17"], str(tmp_path))
    assert (len(train_paths), len(test_paths)) == (17 * 4, 17)
    assert sorted(set(train_labels)) == list(range(17)) and sorted(test_labels) == list(range(17))
    assert not set(train_paths) & set(test_paths)
    for path, label in zip(train_paths + test_paths, train_labels + test_labels):
        assert (int(path[-8:-4]) - 1) // 80 == label  # image_0001-0080 = class 0, image_0081-0160 = class 1, ...
    assert config["layout"].startswith("17flowers.tgz")


def test_fgvc_aircraft_official_lists(tmp_path):
    root = tmp_path / "manual" / "fgvc_aircraft" / "fgvc-aircraft-2013b" / "data"
    variants = ["707-320", "F-16A/B", "Cessna 172"] + [f"V{i}" for i in range(97)]
    root.mkdir(parents=True)
    (root / "variants.txt").write_text("\n".join(variants) + "\n")
    (root / "images_variant_trainval.txt").write_text("0001 707-320\n0002 F-16A/B\n0003 Cessna 172\n0004 V96\n")
    (root / "images_variant_test.txt").write_text("0005 F-16A/B\n")
    for i in range(1, 6):
        write_image(root / "images" / f"{i:04d}.jpg", (6, 6, 3), i)
    train_paths, train_labels, test_paths, test_labels, config = data.folder_lists(
        data.LOADERS["aircraft"], TARGETS["aircraft"], str(tmp_path))
    assert [p[-8:] for p in train_paths] == ["0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg"]
    assert train_labels == [0, 1, 2, 99] and test_labels == [1] and test_paths[0].endswith("0005.jpg")
    assert config["split_rule"]["train"] == "images_variant_trainval.txt"
    stream, full = data.target_data(SCALE, TARGETS["aircraft"], str(tmp_path))
    assert (stream.n_train, full["n_test"], full["classes"]) == (4, 1, 100)


# ----------------------------------------------------------------------------- the source

def test_source_imagenet_stream_and_examples(mocked_imagenet):
    stream, config = data.source_data(SCALE, mocked_imagenet)
    assert isinstance(stream, StreamData) and stream.n_train == 48
    assert (config["dataset"], config["n_val"], config["batch_size"]) == ("imagenet2012", 48, BATCH)
    assert "ColorJitter() [default arguments: a no-op" in config["train_transform"]
    json.dumps(config)
    x, y = next(iter(stream.make_train(2)))
    assert x.shape == (BATCH, 224, 224, 3) and y.dtype == tf.int64 and in_range(x.numpy())
    xv, yv = next(iter(stream.validation))
    xe, ye = data.source_examples(SCALE, mocked_imagenet, 3)
    assert xe.shape == (3, 224, 224, 3) and xe.dtype == np.float32 and ye.dtype == np.int64 and in_range(xe)
    np.testing.assert_array_equal(xe, xv.numpy()[:3])  # the first validation images, validation transform
    np.testing.assert_array_equal(ye, yv.numpy()[:3])
