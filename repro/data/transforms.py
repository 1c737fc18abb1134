"""Derived domains: seeded, recorded transforms of NHWC image arrays.

Each transform is a frozen dataclass: calling it on ``x`` of shape
(N, H, W, C) returns a new float32 array, and ``describe()`` returns the
JSON-ready record (kind + parameters + seed) written to config.json.

- :class:`BlockShuffle` and :class:`PixelShuffle` are block and pixel
  shuffles as in ``libdata/utils.py`` and ``configs/p200_pix_shuffle.py`` of
  google-research/understanding-transfer-learning: ONE fixed random
  permutation per seed, the same for every image (train and test). Block
  shuffle cuts the image into non-overlapping b x b blocks (row-major, like
  ``torch.nn.Unfold``), permutes them with ``RandomState(seed).permutation``
  and keeps the channels of a block together; b = image size is the identity
  and b = 1 permutes pixel positions. Pixel shuffle '*' permutes all H*W*C
  scalars, mixing channels; its permutation is drawn over the channel-major
  (C, H, W) flattening of that PyTorch code, so a seed means the same
  permutation there and here. That code's seeds are 1234 + run seed.
- :class:`Invert`, :class:`Rotate`, :class:`GaussianNoise` are further
  derived domains of the mini scale (target domains that stand in for
  datasets the embedded data does not have).
- :class:`Jitter` gives every image its own random pose, scale, position
  and pixel noise: a harder version of a task whose images are all centred,
  upright and clean.
- :class:`StreetRendering` renders centred digits the way house-number
  crops look (SVHN): parts of neighbouring digits at the sides, a random
  foreground and background grey level of either polarity, blur and noise.

Both shuffles are a fixed gather of the flattened image: ``gather_index``
exposes it, so a tf.data pipeline can apply the same permutation with
``tf.gather(tf.reshape(x, [-1]), index)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.ndimage

from repro.errors import BadArgument


def _check_nhwc(x: np.ndarray) -> tuple[int, int, int]:
    if np.ndim(x) != 4:
        raise BadArgument(f"transforms take NHWC arrays (4 dimensions); got shape {np.shape(x)}")
    return tuple(int(d) for d in np.shape(x)[1:])


def _gather(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, dtype=np.float32).reshape(x.shape[0], -1)
    return np.take(flat, index, axis=1).reshape(x.shape)


@dataclass(frozen=True)
class BlockShuffle:
    """Permute the non-overlapping ``block`` x ``block`` tiles with one permutation per ``seed``.

    Output tile i (row-major) is input tile ``RandomState(seed).permutation(n)[i]``.
    ``block`` must divide the height and the width.
    """

    block: int
    seed: int

    def gather_index(self, height: int, width: int, channels: int) -> np.ndarray:
        """Flat (H*W*C, HWC order) index: ``out.ravel() = in.ravel()[index]`` for one image."""
        b = self.block
        if not isinstance(b, (int, np.integer)) or b < 1 or height % b or width % b:
            divisors = [d for d in range(1, min(height, width) + 1) if height % d == 0 and width % d == 0]
            raise BadArgument(
                f"block size {b!r} does not divide the {height}x{width} image; accepted: {divisors}"
            )
        rows, cols = height // b, width // b
        perm = np.random.RandomState(self.seed).permutation(rows * cols)
        grid = np.arange(height * width * channels).reshape(rows, b, cols, b, channels)
        tiles = grid.transpose(0, 2, 1, 3, 4).reshape(rows * cols, b, b, channels)[perm]
        return tiles.reshape(rows, cols, b, b, channels).transpose(0, 2, 1, 3, 4).reshape(-1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The block-shuffled copy of ``x`` (N, H, W, C), float32."""
        return _gather(x, self.gather_index(*_check_nhwc(x)))

    def describe(self) -> dict:
        """Record for config.json."""
        return {"transform": "block_shuffle", **asdict(self)}


@dataclass(frozen=True)
class PixelShuffle:
    """Permute all H*W*C scalars with one permutation per ``seed`` (block size '*')."""

    seed: int

    def gather_index(self, height: int, width: int, channels: int) -> np.ndarray:
        """Flat HWC index; the permutation is drawn over the (C, H, W) flattening as in PyTorch."""
        size = height * width * channels
        perm_chw = np.random.RandomState(self.seed).permutation(size)
        c_src, rest = np.divmod(perm_chw, height * width)
        hwc_of_src = rest * channels + c_src  # HWC flat index of each CHW source element
        c_dst, rest_dst = np.divmod(np.arange(size), height * width)
        index = np.empty(size, dtype=np.int64)
        index[rest_dst * channels + c_dst] = hwc_of_src
        return index

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The pixel-shuffled copy of ``x`` (N, H, W, C), float32."""
        return _gather(x, self.gather_index(*_check_nhwc(x)))

    def describe(self) -> dict:
        """Record for config.json."""
        return {"transform": "pixel_shuffle", **asdict(self)}


@dataclass(frozen=True)
class Invert:
    """Photometric inversion ``max_value - x`` (1 - x for images in [0, 1])."""

    max_value: float = 1.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The inverted copy of ``x`` (N, H, W, C), float32."""
        _check_nhwc(x)
        return np.float32(self.max_value) - np.asarray(x, dtype=np.float32)

    def describe(self) -> dict:
        """Record for config.json."""
        return {"transform": "invert", **asdict(self)}


@dataclass(frozen=True)
class Rotate:
    """Rotation of every image by the fixed angle ``degrees`` (counter-clockwise) about its centre.

    Multiples of 90 degrees on square images are exact (``np.rot90``); other
    angles use bilinear interpolation with zero fill outside the image
    (``scipy.ndimage.rotate``, output shape kept).
    """

    degrees: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The rotated copy of ``x`` (N, H, W, C), float32."""
        height, width, _ = _check_nhwc(x)
        x = np.asarray(x, dtype=np.float32)
        if float(self.degrees) % 90 == 0 and height == width:
            return np.ascontiguousarray(np.rot90(x, k=int(self.degrees // 90) % 4, axes=(1, 2)))
        return scipy.ndimage.rotate(x, self.degrees, axes=(1, 2), reshape=False, order=1, mode="constant")

    def describe(self) -> dict:
        """Record for config.json."""
        return {"transform": "rotate", **asdict(self)}


@dataclass(frozen=True)
class GaussianNoise:
    """Additive noise ``x + std * eps``, eps ~ N(0, 1) drawn by ``default_rng(seed)``, then clipped.

    The noise is a function of (seed, array shape): the same call on the same
    array gives the same domain. ``clip`` = None leaves the values unclipped.
    """

    std: float
    seed: int
    clip: tuple[float, float] | None = (0.0, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The noisy copy of ``x`` (N, H, W, C), float32."""
        _check_nhwc(x)
        if not self.std >= 0:
            raise BadArgument(f"noise std {self.std!r} is not accepted; accepted: a number >= 0")
        noise = np.random.default_rng(self.seed).standard_normal(np.shape(x), dtype=np.float32)
        out = np.asarray(x, dtype=np.float32) + np.float32(self.std) * noise
        return out if self.clip is None else np.clip(out, *self.clip)

    def describe(self) -> dict:
        """Record for config.json."""
        record = asdict(self)
        record["clip"] = None if self.clip is None else list(self.clip)
        return {"transform": "gaussian_noise", **record}


@dataclass(frozen=True)
class Jitter:
    """Per-image random affine distortion and pixel noise at ``strength`` s >= 0.

    Image i is rotated by an angle uniform in [-15 s, 15 s] degrees, scaled by a factor uniform in
    [1 - 0.1 s, 1 + 0.1 s] and shifted by a vector uniform in [-s, s]^2 pixels, all about the image centre
    (one bilinear resampling, ``scipy.ndimage.affine_transform``, zero outside the image), then receives
    Gaussian noise of std 0.1 s and is clipped to [0, 1]. Parameters and noise come from
    ``default_rng(seed)`` in array order, so the same array gives the same images; s = 0 is the identity.
    """

    strength: float
    seed: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The distorted copy of ``x`` (N, H, W, C) with values in [0, 1], float32."""
        height, width, channels = _check_nhwc(x)
        if not self.strength >= 0:
            raise BadArgument(f"jitter strength {self.strength!r} is not accepted; accepted: a number >= 0")
        x = np.asarray(x, dtype=np.float32)
        s = float(self.strength)
        if s == 0:
            return x.copy()
        rng = np.random.default_rng(self.seed)
        n = len(x)
        angles = np.deg2rad(rng.uniform(-15 * s, 15 * s, n))
        scales = rng.uniform(1 - 0.1 * s, 1 + 0.1 * s, n)
        shifts = rng.uniform(-s, s, (n, 2))
        noise = rng.standard_normal(x.shape, dtype=np.float32)
        centre = np.array([(height - 1) / 2, (width - 1) / 2])
        out = np.empty_like(x)
        for i in range(n):
            cos, sin = np.cos(angles[i]), np.sin(angles[i])
            inverse = np.array([[cos, sin], [-sin, cos]]) / scales[i]  # output pixel -> input pixel
            offset = centre - inverse @ (centre + shifts[i])
            for c in range(channels):
                out[i, :, :, c] = scipy.ndimage.affine_transform(x[i, :, :, c], inverse, offset, order=1,
                                                                 mode="constant", cval=0.0)
        return np.clip(out + np.float32(0.1 * s) * noise, 0.0, 1.0)

    def describe(self) -> dict:
        """Record for config.json."""
        return {"transform": "jitter", **asdict(self),
                "rule": "per image: rotation U(-15s, 15s) deg, scale U(1-0.1s, 1+0.1s), shift U(-s, s) px, "
                        "bilinear, zero fill; then + N(0, (0.1s)^2) noise, clipped to [0, 1]"}


@dataclass(frozen=True)
class StreetRendering:
    """House-number-like rendering of centred digit images in [0, 1] (SVHN's look on MNIST strokes).

    Image i becomes ``clip(b + (f - b) * stroke + noise * eps, 0, 1)``: ``stroke`` is the image shifted by a
    vector uniform in [-shift, shift]^2 pixels, with, when ``neighbours``, two other images of the same array
    (drawn uniformly) shifted left and right by a distance uniform in [``gap``, ``gap`` + 4] pixels and merged
    by the pixel-wise maximum, so parts of them show at the sides as in a house-number crop; then blurred by a
    Gaussian of sigma uniform in [0, ``blur``]. Background b and foreground f are grey levels uniform in
    [0, 1] with |f - b| >= ``contrast`` (drawn again until it holds), so half the images are dark on light;
    eps ~ N(0, 1) per pixel. Everything comes from ``default_rng(seed)`` in array order: the same array
    gives the same images, as a fixed data set does.
    """

    seed: int
    neighbours: bool = True
    shift: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    contrast: float = 0.3
    gap: float = 14.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The rendered copy of ``x`` (N, H, W, C) with values in [0, 1], float32."""
        _check_nhwc(x)
        if not 0 <= self.contrast < 1:
            raise BadArgument(f"contrast {self.contrast!r} is not accepted; accepted: a number in [0, 1)")
        x = np.asarray(x, dtype=np.float32)
        rng = np.random.default_rng(self.seed)
        n = len(x)
        out = np.empty_like(x)
        for i in range(n):
            shift = rng.uniform(-self.shift, self.shift, 2)
            stroke = scipy.ndimage.shift(x[i], (shift[0], shift[1], 0), order=1, mode="constant")
            if self.neighbours:
                for side in (-1, 1):
                    other = x[rng.integers(n)]
                    offset = side * rng.uniform(self.gap, self.gap + 4)
                    dy = rng.uniform(-self.shift, self.shift)
                    stroke = np.maximum(stroke, scipy.ndimage.shift(other, (dy, offset, 0), order=1,
                                                                    mode="constant"))
            sigma = rng.uniform(0, self.blur)
            if sigma > 0:
                stroke = scipy.ndimage.gaussian_filter(stroke, (sigma, sigma, 0))
            background, foreground = rng.uniform(0, 1, 2)
            while abs(foreground - background) < self.contrast:
                background, foreground = rng.uniform(0, 1, 2)
            eps = rng.standard_normal(stroke.shape).astype(np.float32)
            out[i] = background + (foreground - background) * stroke + self.noise * eps
        return np.clip(out, 0.0, 1.0)

    def describe(self) -> dict:
        """Record for config.json."""
        return {"transform": "street_rendering", **asdict(self)}


def image_shuffle(block: str, seed: int) -> "BlockShuffle | PixelShuffle":
    """Image shuffles by name: ``"*"`` is the pixel shuffle, a number the block size."""
    return PixelShuffle(seed) if block == "*" else BlockShuffle(int(block), seed)
