"""Representation similarity: centered kernel alignment (CKA), full-matrix and minibatch.

Full-matrix CKA (Kornblith et al. 2019, §3) compares two representations
``X in R^{n x p1}`` and ``Y in R^{n x p2}`` of the same ``n`` examples
(features flattened to ``[n, p]``) through their Gram matrices ``K``, ``L``:

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) * HSIC(L, L))

with the biased HSIC of Gretton et al. 2005 or the unbiased U-statistic
HSIC of Song et al. 2012 (in the U-centering form of Szekely & Rizzo 2014).
The biased estimator reports spurious similarity at small ``n`` (about 0.2
for independent inputs at n = 32); the unbiased one is near 0 there.

Minibatch CKA (Nguyen, Raghu & Kornblith 2021, §3, "minibatch CKA")
accumulates the unbiased HSIC over fixed-size minibatches and takes the
ratio once at the end; it never averages per-batch CKA values. It serves
the within-model heat-maps and the cross-model comparisons of Nguyen et
al. 2021, such as the feature similarity of the same layer across
pre-trained, fine-tuned and randomly initialised models.

Degenerate case: if a representation's centered Gram matrix is zero (e.g.
constant features, a dead ReLU layer), CKA is 0/0; every function here
returns 0.0 for it. Self-HSIC terms are clipped at 0 before the square root
(they are sums of squares, so only rounding can make them negative), so no
NaN ever comes out of the square root.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from repro.errors import BadArgument


def flatten_features(x: np.ndarray | tf.Tensor) -> np.ndarray:
    """Features of ``n`` examples as a float64 ``[n, p]`` matrix: X[i] = vec(x_i)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] < 2:
        raise BadArgument(f"need features of at least 2 examples, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def gram_linear(x: np.ndarray | tf.Tensor) -> np.ndarray:
    """Linear-kernel Gram matrix K = X X^T (Kornblith et al. 2019, §3, linear CKA)."""
    x = flatten_features(x)
    return x @ x.T


def gram_rbf(x: np.ndarray | tf.Tensor, threshold: float = 1.0) -> np.ndarray:
    """RBF Gram matrix K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)), sigma = threshold * median_{i<j} ||x_i - x_j||.

    Kornblith et al. 2019, §3 (RBF CKA; bandwidth a fraction ``threshold``
    of the median distance between examples, 0.2-0.8 and 1.0 in the paper).
    The median is taken over distinct pairs i < j (the zero self-distances
    are left out), so the kernel is invariant to isotropic scaling of X.
    """
    if threshold <= 0:
        raise BadArgument(f"RBF threshold {threshold!r} must be positive")
    x = flatten_features(x)
    dot = x @ x.T
    norms = np.diag(dot)
    sq_dist = np.maximum(norms[:, None] + norms[None, :] - 2.0 * dot, 0.0)
    median = np.median(np.sqrt(sq_dist[np.triu_indices(x.shape[0], k=1)]))
    if median == 0:
        raise BadArgument("RBF bandwidth undefined: the median pairwise distance of the features is 0")
    return np.exp(-sq_dist / (2.0 * (threshold * median) ** 2))


def center_gram(gram: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Centered Gram matrix: H K H (biased) or the U-centered K (unbiased).

    Biased (Gretton et al. 2005): ``K_c = H K H`` with ``H = I - 1 1^T / n``.
    Unbiased (Song et al. 2012 via Szekely & Rizzo 2014, U-centering), with
    ``K~ = K`` with zeroed diagonal, row sums ``r_i = sum_j K~_ij`` and total
    ``s = sum_ij K~_ij``:

        K^_ij = K~_ij - r_i / (n-2) - r_j / (n-2) + s / ((n-1)(n-2))   (i != j),
        K^_ii = 0,

    so that ``HSIC_1(K, L) = <K^, L^>_F / (n(n-3))`` (needs n > 3). Used by
    minibatch CKA (Nguyen et al. 2021, §3) and the "debiased" CKA variant of
    Kornblith et al. 2019's CKA.
    """
    gram = np.asarray(gram, dtype=np.float64)
    n = gram.shape[0]
    if gram.ndim != 2 or gram.shape[1] != n:
        raise BadArgument(f"Gram matrix must be square, got shape {gram.shape}")
    if not unbiased:
        centered = gram - gram.mean(axis=0, keepdims=True)
        return centered - centered.mean(axis=1, keepdims=True)
    if n <= 3:
        raise BadArgument(f"unbiased HSIC needs more than 3 examples, got {n}")
    off_diag = gram.copy()
    np.fill_diagonal(off_diag, 0.0)
    rows = off_diag.sum(axis=1)
    centered = off_diag - (rows[:, None] + rows[None, :]) / (n - 2) + rows.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(centered, 0.0)
    return centered


def hsic(gram_x: np.ndarray, gram_y: np.ndarray, unbiased: bool = False) -> float:
    """HSIC(K, L): <HKH, HLH>_F / (n-1)^2 (biased) or <K^, L^>_F / (n(n-3)) (unbiased).

    Gretton et al. 2005 (biased) and Song et al. 2012 (unbiased
    U-statistic); the HSIC inside CKA, Kornblith et al. 2019 §3.
    """
    n = np.shape(gram_x)[0]
    if np.shape(gram_y)[0] != n:
        raise BadArgument(f"Gram matrices cover different numbers of examples: {n} and {np.shape(gram_y)[0]}")
    inner = float(np.sum(center_gram(gram_x, unbiased) * center_gram(gram_y, unbiased)))
    return inner / (n * (n - 3)) if unbiased else inner / (n - 1) ** 2


def _ratio(hsic_xy: np.ndarray, hsic_xx: np.ndarray, hsic_yy: np.ndarray) -> np.ndarray:
    """CKA = HSIC_xy / sqrt(max(HSIC_xx, 0) max(HSIC_yy, 0)); 0 where the denominator is 0."""
    denominator = np.sqrt(np.maximum(hsic_xx, 0.0) * np.maximum(hsic_yy, 0.0))
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, hsic_xy / safe, 0.0)


def cka(gram_x: np.ndarray, gram_y: np.ndarray, unbiased: bool = False) -> float:
    """CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) (Kornblith et al. 2019, §3).

    ``unbiased=True`` uses the U-statistic HSIC ("debiased CKA"). Returns
    0.0 when either representation's centered Gram matrix vanishes.
    """
    kx = center_gram(gram_x, unbiased)
    ky = center_gram(gram_y, unbiased)
    if kx.shape != ky.shape:
        raise BadArgument(f"Gram matrices cover different numbers of examples: {kx.shape[0]} and {ky.shape[0]}")
    # The HSIC normalisations 1/(n-1)^2 or 1/(n(n-3)) cancel in the ratio.
    return float(_ratio(np.sum(kx * ky), np.sum(kx * kx), np.sum(ky * ky)))


def linear_cka(x: np.ndarray | tf.Tensor, y: np.ndarray | tf.Tensor, unbiased: bool = False) -> float:
    """Linear CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) for column-centered X, Y (biased form).

    Kornblith et al. 2019, §3 (linear CKA); with ``unbiased=True`` the same ratio
    of U-statistic HSICs of K = X X^T and L = Y Y^T. Inputs are any
    ``[n, ...]`` feature arrays, flattened to ``[n, p]``.
    """
    return cka(gram_linear(x), gram_linear(y), unbiased)


def rbf_cka(
    x: np.ndarray | tf.Tensor, y: np.ndarray | tf.Tensor, threshold: float = 1.0, unbiased: bool = False
) -> float:
    """RBF CKA = CKA(K_rbf(X), K_rbf(Y)), sigma = threshold * median distance (Kornblith et al. 2019, §3)."""
    return cka(gram_rbf(x, threshold), gram_rbf(y, threshold), unbiased)


class MinibatchCKA:
    """Unbiased HSIC accumulated over minibatches of a fixed size n (Nguyen et al. 2021, §3).

    For minibatches b = 1..B of the same n > 3 examples and U-centered
    Gram matrices ``K^_{b,i}`` (representation i of set X) and ``L^_{b,j}``
    (representation j of set Y):

        CKA_ij = sum_b <K^_{b,i}, L^_{b,j}> / sqrt(sum_b ||K^_{b,i}||^2 * sum_b ||L^_{b,j}||^2)

    The factor 1/(n(n-3)) of each batch's HSIC cancels in this ratio only
    because every batch has the same n, which is why n is fixed and a
    remainder batch must be dropped. HSIC terms are summed in float64; the
    ratio is taken once in :meth:`result`, never per batch (averaging per-batch
    CKA is a different, biased quantity). Within one set (``update`` with
    ``grams_y=None``) the self terms are the diagonal of the matrix.
    """

    def __init__(self) -> None:
        self.batch_size: int | None = None
        self.batches = 0
        self._xy: np.ndarray | None = None
        self._xx: np.ndarray | None = None
        self._yy: np.ndarray | None = None

    def update(self, grams_x: Sequence[np.ndarray], grams_y: Sequence[np.ndarray] | None = None) -> None:
        """Add one minibatch: the Gram matrices of every representation of X (and of Y, if compared)."""
        n = np.shape(grams_x[0])[0]
        if self.batch_size is None:
            if n <= 3:
                raise BadArgument(f"minibatch CKA needs batches of more than 3 examples, got {n}")
            self.batch_size = n
        if any(np.shape(g)[0] != self.batch_size for g in [*grams_x, *(grams_y or [])]):
            raise BadArgument(
                f"every minibatch must hold {self.batch_size} examples (the 1/(n(n-3)) factor must cancel)"
            )
        a = np.stack([center_gram(g, unbiased=True).ravel() for g in grams_x])
        if grams_y is None:
            xy = a @ a.T
            xx = yy = np.diag(xy).copy()
        else:
            b = np.stack([center_gram(g, unbiased=True).ravel() for g in grams_y])
            xy, xx, yy = a @ b.T, np.sum(a * a, axis=1), np.sum(b * b, axis=1)
        if self._xy is None:
            self._xy, self._xx, self._yy = xy, xx, yy
        else:
            if xy.shape != self._xy.shape:
                raise BadArgument(f"got {xy.shape} representation pairs, earlier batches had {self._xy.shape}")
            self._xy += xy
            self._xx += xx
            self._yy += yy
        self.batches += 1

    def result(self) -> np.ndarray:
        """The ``[len(grams_x), len(grams_y)]`` CKA matrix of everything accumulated so far."""
        if self._xy is None:
            raise BadArgument("minibatch CKA has no batches: the input holds fewer examples than one batch")
        return _ratio(self._xy, self._xx[:, None], self._yy[None, :])


def feature_taps(model: keras.Model, layer_names: Sequence[str]) -> keras.Model:
    """Multi-output model x -> [h_l(x) for l in layer_names] sharing ``model``'s layers and weights.

    The features CKA compares (Kornblith et al. 2019; Nguyen et al. 2021 §3):
    the outputs of the named top-level layers
    of an already built functional or Sequential model. No layer is rebuilt
    and no weight copied.
    """
    known = [layer.name for layer in model.layers]
    missing = [name for name in layer_names if name not in known]
    if not layer_names or missing:
        raise BadArgument(
            f"layers {missing or list(layer_names)} not in model {model.name!r} "
            f"(its {len(known)} layers start {known[:8]})"
        )
    if isinstance(model, keras.Sequential):
        # Keras 3 Sequential models expose no symbolic graph to tap: replay the
        # same layer objects (shared weights, nothing rebuilt) on a new input.
        inputs = keras.Input(tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)
        taps, x = {}, inputs
        for layer in model.layers:
            x = layer(x)
            taps[layer.name] = x
        return keras.Model(inputs, [taps[name] for name in layer_names], name=f"{model.name}_taps")
    outputs = [model.get_layer(name).output for name in layer_names]
    return keras.Model(model.input, outputs, name=f"{model.name}_taps")


def _gram_step(taps: keras.Model):
    """Traced step x -> [X_l X_l^T] with X_l the batch-mean-centered, flattened tap l (float32)."""

    @tf.function(reduce_retracing=True)
    def step(x: tf.Tensor) -> list[tf.Tensor]:
        grams = []
        for features in tf.nest.flatten(taps(x, training=False)):
            features = tf.reshape(tf.cast(features, tf.float32), [tf.shape(features)[0], -1])
            # Subtracting the batch mean adds terms a 1^T + 1 a^T to K off the diagonal, which
            # U-centering removes exactly; it only keeps the float32 Gram well conditioned.
            features -= tf.reduce_mean(features, axis=0, keepdims=True)
            grams.append(tf.matmul(features, features, transpose_b=True))
        return grams

    return step


def _fixed_batches(
    inputs: "np.ndarray | tf.data.Dataset | Iterable", batch_size: int, passes: int, seed: int | None
) -> Iterator[tf.Tensor]:
    """Batches of exactly ``batch_size`` inputs, ``passes`` times over ``inputs`` (an array, a dataset, or a
    re-iterable of batches), remainder dropped."""
    if batch_size <= 3:
        raise BadArgument(f"CKA batch size {batch_size} must be more than 3")
    if passes < 1:
        raise BadArgument(f"passes {passes} must be at least 1")
    if isinstance(inputs, tf.data.Dataset):
        if seed is not None:
            raise BadArgument("seed applies to array inputs; shuffle a tf.data.Dataset before passing it")
        if isinstance(inputs.element_spec, tuple):
            inputs = inputs.map(lambda x, *rest: x)
        batched = inputs.unbatch().batch(batch_size, drop_remainder=True)
        for _ in range(passes):
            yield from batched
        return
    if not hasattr(inputs, "shape"):  # a re-iterable of batches (x, ...) or x: re-cut into batches of batch_size
        if seed is not None:
            raise BadArgument("seed applies to array inputs; shuffle the batches before passing them")
        for _ in range(passes):
            pending = np.zeros((0,), np.float32)
            for batch in inputs:
                x = np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch)
                pending = x if len(pending) == 0 else np.concatenate([pending, x])
                while len(pending) >= batch_size:
                    yield tf.convert_to_tensor(pending[:batch_size])
                    pending = pending[batch_size:]
        return
    inputs = np.asarray(inputs)
    rng = None if seed is None else np.random.default_rng(seed)
    for _ in range(passes):
        order = np.arange(len(inputs)) if rng is None else rng.permutation(len(inputs))
        for start in range(0, len(inputs) - batch_size + 1, batch_size):
            yield tf.convert_to_tensor(inputs[order[start : start + batch_size]])


def within_model_cka(
    model: keras.Model,
    layer_names: Sequence[str],
    inputs: np.ndarray | tf.data.Dataset,
    batch_size: int = 256,
    passes: int = 1,
    seed: int | None = None,
) -> np.ndarray:
    """Minibatch linear CKA between every pair of the named layers of one model: an [L, L] matrix.

    CKA_ij as in :class:`MinibatchCKA` with X = Y = the model's layer
    outputs (Nguyen et al. 2021, §3, and their within-model heat-maps).
    Symmetric, with unit diagonal for every non-degenerate layer.
    ``inputs``: an array of examples, or a ``tf.data.Dataset`` of batches of
    inputs or ``(inputs, labels, ...)`` (re-batched here). Batches of exactly
    ``batch_size`` (> 3), remainder dropped; ``passes`` passes over the
    inputs, each reshuffled with ``seed`` for arrays (without a seed arrays
    are read in order; the paper: 10 reshuffled passes, batch 256). Forward
    passes use ``training=False``; Gram matrices are float32 products of
    batch-mean-centered features, HSIC sums are float64.
    """
    step = _gram_step(feature_taps(model, layer_names))
    accumulator = MinibatchCKA()
    for x in _fixed_batches(inputs, batch_size, passes, seed):
        accumulator.update([g.numpy() for g in step(x)])
    return accumulator.result()


def cross_model_cka(
    model_a: keras.Model,
    model_b: keras.Model,
    layer_names: Sequence[str],
    inputs: np.ndarray | tf.data.Dataset,
    batch_size: int = 256,
    passes: int = 1,
    seed: int | None = None,
) -> dict[str, float]:
    """Minibatch linear CKA between the same named layer of two models: {layer: CKA(h_l^A, h_l^B)}.

    CKA_ll as in :class:`MinibatchCKA` with X = model A's and Y = model B's
    outputs of layer l on the same minibatches (Nguyen et al. 2021 §3,
    cross-model comparisons, e.g. feature similarity of P-T / P / RI-T
    models). ``inputs``, ``batch_size``, ``passes`` and
    ``seed`` as in :func:`within_model_cka`.
    """
    step_a = _gram_step(feature_taps(model_a, layer_names))
    step_b = _gram_step(feature_taps(model_b, layer_names))
    accumulator = MinibatchCKA()
    for x in _fixed_batches(inputs, batch_size, passes, seed):
        accumulator.update([g.numpy() for g in step_a(x)], [g.numpy() for g in step_b(x)])
    return {name: float(value) for name, value in zip(layer_names, np.diag(accumulator.result()))}
