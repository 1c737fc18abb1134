"""Weights files: Keras' ``.weights.h5`` and the suite's own ``.weights.npz``, written atomically.

* ``.weights.h5`` (Keras ``model.save_weights``) holds a run's final weights
  and every weights file a user brings (``weights=<path>``): any Keras user
  can load it.
* ``.weights.npz`` holds the weights of every epoch of a run that keeps them
  (a best-validation epoch, the checkpoints a protocol fine-tunes from). It is
  ``numpy.savez`` of ``model.weights`` in order, uncompressed: the arrays
  Keras' ``.weights.h5`` holds (trainable and non-trainable weights, BN
  statistics included, no dropout seed state), bit for bit, matched to a
  model by position and shape as Keras matches its own files by layer
  position. Keras walks the model's object graph and writes one HDF5 dataset
  per variable, which cost 225 ms per save of the mini ResNet against 20 ms
  for the same arrays in a ``.npz`` (``benchmarks/results/step_profile.md``:
  28-41 % of a mini run that keeps every epoch went to epoch saves).

Both are written to a temporary file renamed over the target
(:func:`repro.files.atomic_write`), so a crash or a full disk never leaves a
truncated weights file that a later run would load.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from repro.errors import CorruptCheckpoint
from repro.files import atomic_write

KERAS_SUFFIX = ".weights.h5"
NPZ_SUFFIX = ".weights.npz"


def save_weights(model, path: "str | os.PathLike") -> None:
    """Write ``model``'s weights to ``path`` (``.weights.h5`` or ``.weights.npz``), atomically."""
    path = Path(path)
    if path.name.endswith(NPZ_SUFFIX):
        write_npz(path, {f"w{i}": value for i, value in enumerate(read_values(model, model.weights))})
        return
    if not path.name.endswith(KERAS_SUFFIX):
        raise ValueError(f"weights file {path} must end in {KERAS_SUFFIX} or {NPZ_SUFFIX}")
    content = _keras_h5_bytes(model)
    atomic_write(path, lambda out: out.write(content), binary=True)


def write_npz(path: Path, arrays: dict) -> None:
    """``numpy.savez(path, **arrays)``, built in memory and written atomically in one write (a zip entry per
    array straight to a file costs a system call per entry)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, lambda out: out.write(buffer.getbuffer()), binary=True)


def read_values(owner, variables) -> list[np.ndarray]:
    """The values of ``variables`` as NumPy arrays, read in one traced call cached on ``owner`` (a model or an
    optimizer). Reading them one by one costs an eager operation each: 13-20 ms for the mini ResNet's 267
    weights against 1.5-3.5 ms traced, per save."""
    variables = list(variables)
    import tensorflow as tf

    cache = owner.__dict__.setdefault("_repro_value_readers", {})
    key = tuple(id(v) for v in variables)
    if key not in cache:
        cache[key] = tf.function(lambda: [tf.identity(v.value) for v in variables])
    return [value.numpy() for value in cache[key]()] if variables else []


def _keras_h5_bytes(model) -> bytes:
    """The bytes ``model.save_weights`` writes to a ``.weights.h5``, built in memory.

    HDF5 must never write to the disk itself: on a full disk h5py reports the
    failure from object destructors and the process can crash (a segmentation
    fault was seen), with no exception to turn into one line. So the file is
    built in a buffer with the store ``keras.saving`` uses (Keras is pinned in
    ``setup.cfg``; ``tests/test_weightfiles.py`` checks that Keras loads it),
    and written by :func:`repro.files.atomic_write`, whose ``OSError`` the
    command reports.
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built: nothing to save")
    from keras.src.saving.saving_lib import H5IOStore, _save_state

    buffer = io.BytesIO()
    store = H5IOStore(buffer, mode="w")
    _save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    store.close()
    return buffer.getvalue()


def load_weights(model, path: "str | os.PathLike") -> None:
    """Assign the weights file ``path`` to ``model`` (every weight, as ``model.load_weights`` does)."""
    path = Path(path)
    if not path.name.endswith(NPZ_SUFFIX):
        model.load_weights(os.fspath(path))
        return
    weights = list(model.weights)
    try:
        with np.load(path) as stored:
            if len(stored.files) != len(weights):
                raise ValueError(f"it holds {len(stored.files)} arrays, the model {model.name!r} has {len(weights)} "
                                 f"weights")
            arrays = [stored[f"w{i}"] for i in range(len(weights))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpoint(f"cannot read weights file {path} ({exc.__class__.__name__}: {exc}); delete the run "
                                f"directory it belongs to to train that run again") from exc
    for variable, array in zip(weights, arrays):
        if tuple(array.shape) != tuple(variable.shape):
            raise CorruptCheckpoint(f"weights file {path} gives shape {array.shape} to {variable.path!r} of shape "
                                    f"{tuple(variable.shape)}: it was saved from another network")
    for variable, array in zip(weights, arrays):
        variable.assign(array)
