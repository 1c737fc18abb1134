"""Paper-scale pipelines: repro.data.catalog and the Caffe ImageNet pipeline of repro.data.imagenet.

The pipeline runs on ``tfds.testing.mock_data``: a temporary data_dir holds
imagenet2012's metadata only (as a prepared dataset would), and tfds serves
random JPEG images of random sizes with labels in 0..999.
"""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.data import imagenet
from repro.data.catalog import tfds_catalog
from repro.yosinski2014.splits import imagenet_random_split
from repro.errors import BadArgument, DatasetMissing

from conftest import MOCK_IMAGENET_EXAMPLES as NUM_EXAMPLES


def record_labels(data_dir, **kwargs):
    return np.array([int(label) for _, label in imagenet.imagenet_records("validation", data_dir, **kwargs)])


def test_unprepared_imagenet_names_directory_and_manual_files(tmp_path):
    with pytest.raises(DatasetMissing) as caught:
        tfds_catalog("imagenet2012", "train", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "imagenet2012") in message
    manual = tmp_path / "downloads" / "manual"
    assert f"ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in {manual}" in message


def test_prepare_without_manual_files_is_refused(tmp_path):
    with pytest.raises(DatasetMissing, match="cannot prepare .*ILSVRC2012_img_val.tar"):
        tfds_catalog("imagenet2012", "train", tmp_path, prepare=True)
    with pytest.raises(DatasetMissing, match="imagenet_v2"):
        tfds_catalog("imagenet_v2", "test", tmp_path)


def test_unknown_dataset_and_split_are_rejected(mocked_imagenet):
    with pytest.raises(BadArgument, match="unknown tfds dataset"):
        tfds_catalog("no_such_dataset_xyz", "train", mocked_imagenet)
    with pytest.raises(BadArgument, match="accepted: train, validation"):
        tfds_catalog("imagenet2012", "test[:10]", mocked_imagenet)


def test_training_batches_shapes_labels_and_determinism(mocked_imagenet):
    half = imagenet_random_split(0).half("A")
    mean = np.zeros((256, 256, 3), np.float32)
    default = imagenet.imagenet_caffe("train", mocked_imagenet, mean, classes=half)
    assert default.element_spec[0].shape.as_list() == [256, 227, 227, 3]
    assert imagenet.caffe_pipeline_config(True)["batch_size"] == 256
    assert imagenet.caffe_pipeline_config(False) | {"batch_size": 50} == imagenet.caffe_pipeline_config(False)
    assert imagenet.caffe_pipeline_config(False)["crop_position"] == "centre"
    ds = imagenet.imagenet_caffe("train", mocked_imagenet, mean, classes=half, batch_size=8, seed=3)
    batches = list(ds.take(3))
    for images, labels in batches:
        assert images.shape == (8, 227, 227, 3) and images.dtype == tf.float32
        assert labels.dtype == tf.int64
        assert 0 <= int(tf.reduce_min(labels)) and int(tf.reduce_max(labels)) < 500
        assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0
    def first_batch(seed):
        ds = imagenet.imagenet_caffe("train", mocked_imagenet, mean, classes=half, batch_size=8, seed=seed)
        return next(iter(ds))[0].numpy()

    np.testing.assert_array_equal(first_batch(3), batches[0][0].numpy())
    assert not np.array_equal(first_batch(4), batches[0][0].numpy())


def test_validation_is_centre_crop_of_mean_subtracted_image(mocked_imagenet):
    mean = np.random.default_rng(0).uniform(0, 255, (256, 256, 3)).astype(np.float32)
    zero = np.zeros_like(mean)
    plain = list(imagenet.imagenet_caffe("validation", mocked_imagenet, zero))
    centred = list(imagenet.imagenet_caffe("validation", mocked_imagenet, mean))
    assert plain[0][0].shape == (NUM_EXAMPLES, 227, 227, 3)
    resized = imagenet.imagenet_resized("validation", mocked_imagenet)
    resized = np.stack([image for image, _ in tfds.as_numpy(resized)])
    np.testing.assert_array_equal(plain[0][0].numpy(), resized[:, 14:241, 14:241, :].astype(np.float32))
    difference = plain[0][0].numpy() - centred[0][0].numpy()
    np.testing.assert_allclose(difference, np.broadcast_to(mean[14:241, 14:241], difference.shape), atol=1e-4)


def test_mean_image_round_trip(mocked_imagenet, tmp_path):
    resized = imagenet.imagenet_resized("train", mocked_imagenet)
    images = np.stack([image for image, _ in tfds.as_numpy(resized)]).astype(np.float64)
    mean = imagenet.compute_mean_image(resized)
    assert mean.shape == (256, 256, 3) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, images.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(imagenet.compute_mean_image(resized.batch(5)), mean, rtol=1e-6)
    path = imagenet.save_mean_image(mean, tmp_path / "means" / "half0A.npy")
    np.testing.assert_array_equal(imagenet.load_mean_image(path), mean)
    with pytest.raises(DatasetMissing, match="compute_mean_image"):
        imagenet.load_mean_image(tmp_path / "missing.npy")


def test_class_subset_remap(mocked_imagenet):
    labels = record_labels(mocked_imagenet)
    table = imagenet_random_split(1).half("B").remap()
    expected = table[labels][table[labels] >= 0]
    np.testing.assert_array_equal(record_labels(mocked_imagenet, classes=imagenet_random_split(1).half("B")), expected)


def test_first_k_per_class_follows_file_name_order_and_is_kept(mocked_imagenet):
    """makeit_keep_first_n on a files.txt in name order within each class: the k lexicographically first file
    names of every class, whatever the record order; the list is written once under the data_dir."""
    records = tfds_catalog("imagenet2012", "validation", mocked_imagenet, shuffle_files=False,
                           decoders={"image": tfds.decode.SkipDecoding()})
    names, labels = zip(*((n.decode(), int(y)) for n, y in tfds.as_numpy(records.map(
        lambda ex: (ex["file_name"], ex["label"])))))
    for k in (1, 2):
        first = {name for label in set(labels) for name in sorted(n for n, y in zip(names, labels) if y == label)[:k]}
        assert imagenet.first_k_file_names("validation", mocked_imagenet, k) == first
        expected = [y for n, y in zip(names, labels) if n in first]
        np.testing.assert_array_equal(record_labels(mocked_imagenet, per_class=k), expected)
    assert len(list((Path(mocked_imagenet) / "repro_lists").glob("imagenet2012_validation_first*.txt"))) == 2
