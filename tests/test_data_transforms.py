"""Derived-domain transforms of repro.data.transforms (Neyshabur 2020 §1.5(b) and mini domains)."""
import repro  # noqa: F401  (first: pins the TensorFlow backend before keras loads)

import json

import numpy as np
import pytest

from repro.data.transforms import BlockShuffle, GaussianNoise, Invert, Jitter, PixelShuffle, Rotate, StreetRendering
from repro.errors import BadArgument


@pytest.fixture
def images():
    return np.random.default_rng(0).random((3, 8, 8, 2), dtype=np.float32)


def test_block_equal_to_image_size_is_identity(images):
    np.testing.assert_array_equal(BlockShuffle(8, seed=5)(images), images)


def test_block_one_is_a_pixel_permutation_shared_by_channels(images):
    perm = np.random.RandomState(7).permutation(64)
    expected = images.reshape(3, 64, 2)[:, perm, :].reshape(images.shape)
    np.testing.assert_array_equal(BlockShuffle(1, seed=7)(images), expected)


def test_block_shuffle_moves_whole_blocks(images):
    out = BlockShuffle(4, seed=3)(images)
    perm = np.random.RandomState(3).permutation(4)
    tiles = [images[:, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4, :] for r in range(2) for c in range(2)]
    for i in range(4):
        r, c = divmod(i, 2)
        np.testing.assert_array_equal(out[:, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4, :], tiles[perm[i]])


def test_same_seed_same_permutation_different_seed_different(images):
    np.testing.assert_array_equal(BlockShuffle(2, seed=1)(images), BlockShuffle(2, seed=1)(images))
    assert not np.array_equal(BlockShuffle(2, seed=1)(images), BlockShuffle(2, seed=2)(images))
    np.testing.assert_array_equal(PixelShuffle(seed=4)(images), PixelShuffle(seed=4)(images))
    assert not np.array_equal(PixelShuffle(seed=4)(images), PixelShuffle(seed=5)(images))


def test_same_permutation_for_every_image(images):
    stacked = np.concatenate([images, images[:1]])
    out = BlockShuffle(2, seed=9)(stacked)
    np.testing.assert_array_equal(out[3], out[0])


def test_non_divisor_block_is_rejected(images):
    with pytest.raises(BadArgument, match=r"block size 3 does not divide .*accepted: \[1, 2, 4, 8\]"):
        BlockShuffle(3, seed=0)(images)


def test_pixel_shuffle_matches_channel_major_torch_convention(images):
    seed = 11
    perm = np.random.RandomState(seed).permutation(8 * 8 * 2)
    chw = images.transpose(0, 3, 1, 2).reshape(3, -1)[:, perm].reshape(3, 2, 8, 8)
    np.testing.assert_array_equal(PixelShuffle(seed)(images), chw.transpose(0, 2, 3, 1))


def test_pixel_shuffle_mixes_channels(images):
    out = PixelShuffle(seed=0)(images)
    np.testing.assert_array_equal(np.sort(out.reshape(3, -1)), np.sort(images.reshape(3, -1)))
    assert not np.array_equal(np.sort(out[..., 0].ravel()), np.sort(images[..., 0].ravel()))


def test_invert_rotate_noise(images):
    np.testing.assert_allclose(Invert()(images), 1.0 - images)
    np.testing.assert_array_equal(Rotate(90)(images), np.rot90(images, 1, axes=(1, 2)))
    np.testing.assert_array_equal(Rotate(360)(images), images)
    tilted = Rotate(30)(images)
    assert tilted.shape == images.shape and not np.allclose(tilted, images)
    noisy = GaussianNoise(0.1, seed=2)(images)
    np.testing.assert_array_equal(noisy, GaussianNoise(0.1, seed=2)(images))
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    raw = GaussianNoise(0.1, seed=2, clip=None)(images)
    assert 0.08 < float(np.std(raw - images)) < 0.12


def test_describe_is_json_ready():
    records = [
        BlockShuffle(4, seed=1234).describe(),
        PixelShuffle(seed=1235).describe(),
        Invert().describe(),
        Rotate(15.0).describe(),
        GaussianNoise(0.2, seed=3).describe(),
    ]
    assert json.loads(json.dumps(records))[0] == {"transform": "block_shuffle", "block": 4, "seed": 1234}
    assert records[4] == {"transform": "gaussian_noise", "std": 0.2, "seed": 3, "clip": [0.0, 1.0]}


def test_non_nhwc_input_is_rejected():
    with pytest.raises(BadArgument, match="NHWC"):
        Invert()(np.zeros((8, 8)))


def test_jitter_moves_each_image_by_its_own_affine_map_within_the_stated_ranges():
    """A single bright pixel off the centre: at strength s it lands within (rotation, scale, shift) reach of its
    position, images get different maps, strength 0 is the identity, and the seed fixes everything."""
    x = np.zeros((200, 32, 32, 1), np.float32)
    x[:, 15, 23, 0] = 1.0  # 7.5 px right of the centre (15.5, 15.5)
    assert np.array_equal(Jitter(0, 1)(x), x)
    jittered = Jitter(2, 1)(x)
    assert np.array_equal(jittered, Jitter(2, 1)(x)) and not np.array_equal(jittered, Jitter(2, 2)(x))
    assert jittered.min() >= 0 and jittered.max() <= 1
    noiseless = Jitter(2, 1)(x) - np.clip(Jitter(2, 1)(np.zeros_like(x)), 0, 1)  # the map's share, roughly
    rows, cols = np.indices((32, 32))
    weights = np.clip(noiseless[..., 0], 0, None) * (np.hypot(rows - 15, cols - 23) < 9)
    r = (weights * rows).sum((1, 2)) / weights.sum((1, 2))
    c = (weights * cols).sum((1, 2)) / weights.sum((1, 2))
    # rotation <= 30 deg, scale 0.8-1.2 about the centre, shift <= 2 px per axis: within about 5.5 px
    assert np.all(np.hypot(r - 15, c - 23) < 6.5)
    assert np.std(c) > 0.5 and np.std(r) > 0.5  # each image its own map
    noise = Jitter(2, 1)(np.full((50, 32, 32, 1), 0.5, np.float32))[:, 10:22, 10:22] - 0.5  # inside every map
    assert abs(float(noise.std()) - 0.2) < 0.01  # pixel noise of std 0.1 s; clipping is rare at 0.5
    with pytest.raises(BadArgument, match="jitter strength"):
        Jitter(-1, 0)(x)


def test_street_rendering_paints_strokes_in_two_grey_levels_of_either_polarity_with_neighbours_at_the_sides():
    """Noiseless, unblurred: every pixel is b + (f - b) * stroke with |f - b| >= contrast, both polarities occur,
    the neighbours reach only the sides, and the seed fixes the data set."""
    x = np.zeros((400, 28, 28, 1), np.float32)
    x[:, 10:18, 12:16, 0] = 1.0  # a bar in the middle columns 12-15
    plain = StreetRendering(0, neighbours=False, contrast=0.3)(x)
    background, foreground = plain[:, 0, 0, 0], plain[:, 12, 13, 0]
    assert np.all(np.abs(foreground - background) >= 0.3 - 1e-6)
    assert 0.3 < np.mean(foreground < background) < 0.7  # dark on light about half the time
    assert np.allclose(plain[:, 0, :, 0], background[:, None])  # flat background without noise
    with_neighbours = StreetRendering(0, neighbours=True, contrast=0.3)(x)
    sides = (with_neighbours[:, 12, :, 0] != with_neighbours[:, 0, :1, 0])  # stroke pixels on the middle row
    assert sides[:, :8].any() and sides[:, 20:].any()  # the neighbours' bars 14-18 px away show at both sides
    assert not (plain[:, 12, :8, 0] != plain[:, 0, :1, 0]).any()  # and only with neighbours
    assert not sides[:, 3:11].any() and not sides[:, 17:24].any()  # only at the sides, not beside the digit
    shifted = StreetRendering(0, neighbours=False, shift=2.0)(x)
    stroke = np.abs(shifted[:, 14, :, 0] - shifted[:, 0, :1, 0]) > 1e-3  # the bar's columns on a middle row
    assert len({tuple(np.flatnonzero(row)) for row in stroke[:50]}) > 3  # each image its own position
    blank = StreetRendering(0, neighbours=False, noise=0.1)(np.zeros((300, 28, 28, 1), np.float32))
    unclipped = blank[(blank.min((1, 2, 3)) > 0) & (blank.max((1, 2, 3)) < 1)]
    assert len(unclipped) > 10 and abs(float(unclipped.std((1, 2, 3)).mean()) - 0.1) < 0.01  # noise sd 0.1
    again = StreetRendering(0, neighbours=True, noise=0.1)(x)
    assert np.array_equal(again, StreetRendering(0, neighbours=True, noise=0.1)(x))
    assert not np.array_equal(again, StreetRendering(1, neighbours=True, noise=0.1)(x))
    assert again.min() >= 0 and again.max() <= 1
    with pytest.raises(BadArgument, match="contrast"):
        StreetRendering(0, contrast=1.5)(x)
