"""Class splits: the shared recipe and subset helpers (repro.data.splits) and the layer-transfer grids' splits
(repro.yosinski2014.splits, the paper's §2 and the official ilsvrc12 scripts)."""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

import json

import numpy as np
import pytest

from repro.data import splits
from repro.yosinski2014 import splits as transfer_splits
from repro.errors import BadArgument


def global_recipe(seed, n, k):
    """The official recipe verbatim, on numpy's global RNG (state restored afterwards)."""
    saved = np.random.get_state()
    try:
        np.random.seed([seed])
        return sorted(int(c) for c in np.random.choice(np.arange(n), k, replace=False))
    finally:
        np.random.set_state(saved)


def test_split0_a_starts_like_the_official_split():
    assert transfer_splits.imagenet_random_split(0).classes_a[:11] == (0, 1, 2, 5, 9, 10, 15, 16, 17, 19, 20)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_split_matches_global_seed_recipe_and_is_a_partition(seed):
    split = transfer_splits.imagenet_random_split(seed)
    assert list(split.classes_a) == global_recipe(seed, 1000, 500)
    assert len(split.classes_a) == len(split.classes_b) == 500
    assert set(split.classes_a).isdisjoint(split.classes_b)
    assert sorted(split.classes_a + split.classes_b) == list(range(1000))
    assert split.name == f"half{seed}" and split.note == "official Yosinski split"


def test_random_splits_differ_between_seeds():
    assert transfer_splits.imagenet_random_split(0).classes_a != transfer_splits.imagenet_random_split(1).classes_a


def test_split_leaves_global_rng_untouched():
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    transfer_splits.imagenet_random_split(2)
    splits.fashion_random_split(1)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_natman_split_ranges_sizes_and_naming_flip():
    split = transfer_splits.imagenet_natman_split()
    assert len(split.classes_a) == 449 and len(split.classes_b) == 551
    assert sorted(split.classes_a + split.classes_b) == list(range(1000))
    assert split.classes_a[397:401] == (397, 936, 937, 938)
    assert 970 in split.classes_a and 971 in split.classes_b and 999 in split.classes_b
    assert split.half("A").name == "halfnatmanA"
    assert "paper names man-made A" in split.note


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fashion_random_split_follows_recipe_and_records_it(seed):
    split = splits.fashion_random_split(seed)
    assert list(split.classes_a) == global_recipe(seed, 10, 5)
    assert sorted(split.classes_a + split.classes_b) == list(range(10))
    config = json.loads(json.dumps(split.to_config()))
    assert config["recipe"].startswith(f"numpy.random.RandomState([{seed}]).choice(numpy.arange(10), 5")
    assert config["classes_a"] == list(split.classes_a) and config["num_classes"] == 10


@pytest.mark.parametrize("seed", [0, 1])
def test_fashion_digits_random_split_follows_recipe_over_20_classes(seed):
    split = transfer_splits.fashion_digits_random_split(seed)
    assert list(split.classes_a) == global_recipe(seed, 20, 10)
    assert sorted(split.classes_a + split.classes_b) == list(range(20))


def test_fashion_digits_domain_split_is_clothing_against_digits():
    split = transfer_splits.fashion_digits_domain_split()
    assert split.classes_a == tuple(range(10)) and split.classes_b == tuple(range(10, 20))


def test_half_remap_is_increasing_original_id_order():
    half = transfer_splits.imagenet_random_split(0).half("B")
    table = half.remap()
    assert half.name == "half0B"
    config = json.loads(json.dumps(half.to_config()))
    assert config == {"name": "half0B", "classes": list(half.classes), "num_classes": 1000}
    assert table.shape == (1000,)
    np.testing.assert_array_equal(table[list(half.classes)], np.arange(500))
    assert (table[list(transfer_splits.imagenet_random_split(0).classes_a)] == -1).all()
    with pytest.raises(BadArgument, match="accepted: A, B"):
        transfer_splits.imagenet_random_split(0).half("C")


def test_bad_seed_and_bad_subset_are_rejected():
    with pytest.raises(BadArgument, match="seed"):
        transfer_splits.imagenet_random_split(-1)
    with pytest.raises(BadArgument, match="distinct ids"):
        splits.label_remap([3, 3], 10)
    with pytest.raises(BadArgument, match="distinct ids"):
        splits.label_remap([10], 10)


def test_filter_classes_keeps_order_and_remaps():
    y = np.array([5, 1, 3, 1, 9, 5, 0])
    x = np.arange(7) * 10
    fx, fy = splits.filter_classes(x, y, [5, 1])
    np.testing.assert_array_equal(fx, [0, 10, 30, 50])
    np.testing.assert_array_equal(fy, [1, 0, 0, 1])
    gx, gy = splits.filter_classes(x, y, splits.ClassSubset("B", (1, 3, 5, 9), 10))
    np.testing.assert_array_equal(gx, [0, 10, 20, 30, 40, 50])
    np.testing.assert_array_equal(gy, [2, 0, 1, 0, 3, 2])


def test_first_k_per_class_in_dataset_order():
    y = np.array([2, 0, 2, 2, 1, 0, 0, 2])
    x = np.arange(8)
    kx, ky = splits.first_k_per_class(x, y, 2)
    np.testing.assert_array_equal(kx, [0, 1, 2, 4, 5])
    np.testing.assert_array_equal(ky, [2, 0, 2, 1, 0])
    with pytest.raises(BadArgument):
        splits.first_k_per_class(x, y, 0)
