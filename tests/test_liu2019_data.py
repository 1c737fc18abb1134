"""Liu et al. 2019's paper-scale inputs (repro.liu2019.data) on ``tfds.testing.mock_data``.

A temporary data_dir holds the metadata of mnist, fashion_mnist,
svhn_cropped, caltech_birds2011 and food101 (as prepared datasets would);
tfds serves random images (fixed sizes for the digits, 5-50 px for the
others) with random labels. The class-balanced stream runs on a custom mock
with imbalanced labels. Pillow is the reference for the PIL conversions.
"""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.data.imagenet_stats import IMAGENET_MEAN, IMAGENET_STD
from repro.errors import BadArgument, DatasetMissing
from repro.liu2019 import data
from repro.train import StreamData

N = 12
SPLITS = {
    "mnist": ("train", "test"),
    "fashion_mnist": ("train", "test"),
    "svhn_cropped": ("train", "test"),
    "caltech_birds2011": ("train", "test"),
    "food101": ("train", "validation"),
}
MEAN = np.array(IMAGENET_MEAN, np.float32)
STD = np.array(IMAGENET_STD, np.float32)


def write_metadata(root, name, num_examples=N):
    builder = tfds.builder(name, data_dir=root)
    infos = [tfds.core.SplitInfo(name=s, shard_lengths=[num_examples], num_bytes=0) for s in SPLITS[name]]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)


@pytest.fixture
def mocked(tmp_path):
    """A data_dir where the five datasets look prepared (N examples per split), served by mock data."""
    for name in SPLITS:
        write_metadata(tmp_path, name)
    with tfds.testing.mock_data(num_examples=N, data_dir=str(tmp_path)):
        yield str(tmp_path)


def raw(name, split, data_dir, features=("image", "label")):
    """Decoded uint8 images and labels as tfds serves them.

    Mock examples are the same on every call for the same features; the
    mock draws other examples for another feature subset, so the features
    the pipeline parses (image and label; label only for the class counts)
    are the ones read here.
    """
    decoders = tfds.decode.PartialDecoding({f: True for f in features})
    examples = list(tfds.as_numpy(tfds.builder(name, data_dir=data_dir).as_dataset(split=split, decoders=decoders)))
    return [ex.get("image") for ex in examples], np.array([ex["label"] for ex in examples])


def pixels(normalized):
    """Undo the ImageNet normalisation and x / 255: the 0..255 values of the transform."""
    return (np.asarray(normalized) * STD + MEAN) * 255.0


def pil_resize(image, size):
    from PIL import Image

    squeeze = image.ndim == 3 and image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(pil.resize((size, size), Image.BILINEAR), np.float32)
    return out[..., None] if squeeze else out


# ----------------------------------------------------------------------------- LeNet digits

def test_pil_gray_matches_hand_computed_pixels():
    # (19595 R + 38470 G + 7471 B + 32768) >> 16, PIL's convert('L'):
    # (83, 123, 13): 1626385 + 4731810 + 97123 + 32768 = 6488086 -> 99 (float rule 98.5 would round to 98)
    # (176, 30, 169): 3448720 + 1154100 + 1262599 + 32768 = 5898187 -> 89 (float rule 89.5 would round up to 90)
    # (255, 0, 0): 4996725 + 32768 = 5029493 -> 76; (10, 200, 30): 8114080 + 32768 -> 124
    rgb = np.array([[[83, 123, 13], [176, 30, 169], [255, 0, 0], [10, 200, 30], [255, 255, 255], [0, 0, 0]]],
                   np.uint8)
    gray = data._pil_gray(tf.constant(rgb)).numpy()
    assert gray.dtype == np.uint8 and gray.shape == (1, 6, 1)
    np.testing.assert_array_equal(gray[0, :, 0], [99, 89, 76, 124, 255, 0])


def test_pil_gray_equals_pillow_on_random_pixels():
    Image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    np.testing.assert_array_equal(data._pil_gray(tf.constant(rgb)).numpy()[..., 0], expected)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_lenet_arrays_grayscale_28(mocked, name):
    x, y = data.lenet_arrays(name, "train", mocked)
    images, labels = raw(name, "train", mocked)
    assert x.shape == (N, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (N,) and y.dtype == np.int64
    assert x.min() >= -0.5 and x.max() <= 0.5
    np.testing.assert_array_equal(y, labels)
    expected = np.stack(images).astype(np.float32) / np.float32(255.0) - np.float32(0.5)
    np.testing.assert_array_equal(x, expected)


def test_lenet_arrays_svhn_gray_resized_like_pil(mocked):
    pytest.importorskip("PIL")
    from PIL import Image

    x, y = data.lenet_arrays("svhn_cropped", "test", mocked)
    images, labels = raw("svhn_cropped", "test", mocked)
    assert x.shape == (N, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= -0.5 and x.max() <= 0.5
    np.testing.assert_array_equal(y, labels)
    levels = (x + 0.5) * 255.0
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)  # uint8 grey levels, as PIL's output
    for image, got in zip(images, levels):
        assert image.shape == (32, 32, 3)
        gray = np.asarray(Image.fromarray(image, "RGB").convert("L"))
        expected = np.asarray(Image.fromarray(gray).resize((28, 28), Image.BILINEAR), np.float32)
        assert np.abs(got[..., 0] - expected).max() <= 1.0 + 1e-3


def test_unknown_names_are_rejected(tmp_path):
    with pytest.raises(BadArgument, match="accepted: mnist, fashion_mnist, svhn_cropped"):
        data.lenet_arrays("cifar10", "train", tmp_path)
    with pytest.raises(BadArgument, match="accepted: caltech_birds2011, food101"):
        data.resnet_stream("cars196", tmp_path, batch_size=4, class_balanced=False)
    with pytest.raises(BadArgument, match="accepted: caltech_birds2011, food101"):
        data.resnet_classes("caltech101")
    assert data.resnet_classes("caltech_birds2011") == 200 and data.resnet_classes("food101") == 101


def test_unprepared_dataset_raises_dataset_missing(tmp_path):
    with pytest.raises(DatasetMissing, match="svhn_cropped"):
        data.lenet_arrays("svhn_cropped", "train", tmp_path)
    with pytest.raises(DatasetMissing, match="caltech_birds2011"):
        data.resnet_stream("caltech_birds2011", tmp_path, batch_size=4, class_balanced=True)


# ----------------------------------------------------------------------------- ResNet targets

def test_balanced_weights_rule():
    assert data._balanced_weights([30] * 194 + [29] * 6) is None  # CUB-like, near uniform
    assert data._balanced_weights([750] * 101) is None  # Food-101
    assert data._balanced_weights([4, 3, 0]) is None  # 4 / 3 < 1.5; the absent class is ignored
    assert data._balanced_weights([]) is None and data._balanced_weights([0, 0]) is None
    np.testing.assert_allclose(data._balanced_weights([3, 2]), [2 / 3, 1.0])  # max / min = 1.5: active
    keep = data._balanced_weights([100, 10, 0, 50])
    np.testing.assert_allclose(keep, [0.1, 1.0, 0.0, 0.2])
    counts = np.array([100, 10, 0, 50])
    # kept examples per class proportional to count * keep: equal for every present class (p_i ~ 1 / count)
    np.testing.assert_allclose((counts * keep)[counts > 0], 10.0)
    assert data._count_ratio([100, 10, 0, 50]) == 10.0 and data._count_ratio([29, 30]) == pytest.approx(30 / 29)


def find_window(resized, crop, limit=data.RESIZE - data.CROP):
    """(top, left) of the 224 window of ``resized`` (0..255) equal to ``crop`` within 1 grey level, or None."""
    size = crop.shape[0]
    corner = crop[:8, :8]
    for top in range(limit + 1):
        for left in range(limit + 1):
            if np.abs(resized[top : top + 8, left : left + 8] - corner).max() > 1.01:
                continue
            if np.abs(resized[top : top + size, left : left + size] - crop).max() <= 1.01:
                return top, left
    return None


def test_crop_offsets_are_official_and_unflipped():
    # a 256 x 256 image (resize is the identity) whose red/green values are the row/column indices
    rows, cols = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    image = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    encoded = tf.io.encode_png(image)
    centre = pixels(data._eval_image(encoded).numpy())
    np.testing.assert_allclose(centre[0, 0, :2], [16, 16], atol=1e-3)
    np.testing.assert_allclose(centre[-1, -1, :2], [239, 239], atol=1e-3)
    seeds = tf.data.Dataset.range(200).map(lambda i: data._element_seed(7, i, data._CROP_KEY))
    crops = np.stack([pixels(c) for c in seeds.map(lambda s: data._train_image(encoded, s)).as_numpy_iterator()])
    corner = np.round(crops[:, 0, 0, :2]).astype(int)  # (top, left) of each window
    np.testing.assert_allclose(crops[:, 5, 9, :2], corner + [5, 9], atol=1e-3)  # a plain window: no flip
    assert corner.min() == 0 and corner.max() == 31  # int(U(0, 32)): 0..31, never 32
    assert len({tuple(c) for c in corner}) > 150


def test_cub_validation_is_resize_and_centre_crop(mocked):
    pytest.importorskip("PIL")
    stream, config = data.resnet_stream("caltech_birds2011", mocked, batch_size=5, class_balanced=False)
    assert isinstance(stream, StreamData) and stream.n_train == N
    batches = [(x.numpy(), y.numpy()) for x, y in stream.validation_batches()]
    assert [len(y) for _, y in batches] == [5, 5, 2]  # the last partial batch is kept
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.shape == (N, 224, 224, 3) and x.dtype == np.float32 and y.dtype == np.int64
    images, labels = raw("caltech_birds2011", "test", mocked)
    np.testing.assert_array_equal(y, labels)
    for image, got in zip(images, x):
        expected = pil_resize(image, 256)[16:240, 16:240]
        assert np.abs(pixels(got) - expected).max() <= 1.01
    assert np.all(x >= (0 - MEAN) / STD - 1e-5) and np.all(x <= (1 - MEAN) / STD + 1e-5)
    train_eval = list(stream.train_eval_batches(7))
    assert sum(len(b[1]) for b in train_eval) == 7
    assert config["class_balanced"] == {**config["class_balanced"], "requested": False, "active": False,
                                        "class_count_ratio": None}


def test_cub_training_stream_is_seeded_random_crops(mocked):
    pytest.importorskip("PIL")
    stream, config = data.resnet_stream("caltech_birds2011", mocked, batch_size=4, class_balanced=True)
    images, labels = raw("caltech_birds2011", "train", mocked)
    counts = np.bincount(raw("caltech_birds2011", "train", mocked, features=("label",))[1], minlength=200)
    assert config["class_balanced"]["requested"] is True
    assert config["class_balanced"]["class_count_ratio"] == pytest.approx(data._count_ratio(counts))
    assert config["class_balanced"]["active"] == (data._count_ratio(counts) >= 1.5)
    assert (config["dataset"], config["train_split"], config["test_split"]) == ("caltech_birds2011", "train", "test")
    assert (config["n_train"], config["n_test"], config["classes"]) == (N, N, 200)
    assert config["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    json.dumps(config)

    def first(seed, batches=3):
        return [(x.numpy(), y.numpy()) for x, y in stream.make_train(seed).take(batches)]

    a, b, c = first(5), first(5), first(6)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    assert stream.make_train(5).element_spec[0].shape.as_list() == [4, 224, 224, 3]
    x, y = a[0]
    assert x.dtype == np.float32 and y.dtype == np.int64 and set(y.tolist()) <= set(labels.tolist())
    # each image is an unflipped 224 window of its example resized to 256 x 256, offsets 0..31
    resized = {i: pil_resize(image, 256) for i, image in enumerate(images)}
    offsets = []
    for image, label in zip(np.concatenate([x for x, _ in a]), np.concatenate([y for _, y in a])):
        found = [find_window(resized[i], pixels(image)) for i in np.flatnonzero(labels == label)]
        found = [f for f in found if f is not None]
        assert found, f"no 224 window of an example of class {label} matches"
        offsets.extend(found[0])
    assert max(offsets) <= 31 and len(set(offsets)) > 1


def test_food101_stream_uses_validation_split(mocked):
    stream, config = data.resnet_stream("food101", mocked, batch_size=3, class_balanced=False)
    assert (config["test_split"], config["classes"], config["n_test"]) == ("validation", 101, N)
    x, y = next(iter(stream.make_train(0)))
    assert x.shape == (3, 224, 224, 3) and y.shape == (3,) and y.dtype == tf.int64
    assert int(tf.reduce_max(y)) < 101
    assert sum(int(tf.shape(b[1])[0]) for b in stream.validation_batches()) == N


IMBALANCED = [0] * 12 + [1] * 4


def imbalanced_as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False):
    """Mock ``_as_dataset``: PNGs of sizes 10..25 px with labels 12 x class 0 and 4 x class 1."""
    rng = np.random.default_rng(1)
    encoded = [tf.io.encode_png(rng.integers(0, 256, (10 + i, 12 + i, 3), dtype=np.uint8)).numpy()
               for i in range(len(IMBALANCED))]
    return tf.data.Dataset.from_tensor_slices({"image": encoded, "label": np.array(IMBALANCED, np.int64)})


def test_class_balanced_stream_draws_classes_equally(tmp_path):
    write_metadata(tmp_path, "caltech_birds2011", len(IMBALANCED))
    with tfds.testing.mock_data(num_examples=len(IMBALANCED), data_dir=str(tmp_path),
                                as_dataset_fn=imbalanced_as_dataset):
        balanced, config = data.resnet_stream("caltech_birds2011", str(tmp_path), batch_size=8, class_balanced=True)
        plain, plain_config = data.resnet_stream("caltech_birds2011", str(tmp_path), batch_size=8,
                                                 class_balanced=False)
        draws = np.concatenate([y.numpy() for _, y in balanced.make_train(3).take(40)])
        again = np.concatenate([y.numpy() for _, y in balanced.make_train(3).take(40)])
        other = np.concatenate([y.numpy() for _, y in balanced.make_train(4).take(40)])
        unbalanced = np.concatenate([y.numpy() for _, y in plain.make_train(3).take(40)])
    assert config["class_balanced"]["active"] is True
    assert config["class_balanced"]["class_count_ratio"] == pytest.approx(3.0)
    assert plain_config["class_balanced"]["active"] is False
    np.testing.assert_array_equal(draws, again)
    assert not np.array_equal(draws, other)
    assert len(draws) == 320
    assert 0.38 < np.mean(draws == 1) < 0.62  # p_i ~ 1 / count: both classes equally often
    assert np.mean(unbalanced == 1) == pytest.approx(0.25)  # 20 whole passes over the 16 records
