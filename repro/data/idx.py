"""Reader for the IDX file format (LeCun's MNIST format, also used by Fashion-MNIST).

An IDX file is a big-endian header ``0x00 0x00 <type code> <ndim>`` followed by
``ndim`` int32 dimension sizes and the row-major data. The Debian package
``dataset-fashion-mnist`` ships four gzip-compressed IDX files; this module
turns one of them into a numpy array for the TFDS builder in
:mod:`repro.data.fashion_mnist` (the suite's mini-scale data).
"""
from __future__ import annotations

import gzip
import os

import numpy as np

from repro.errors import DatasetMissing

_TYPE_CODES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzip-compressed if it ends in .gz).

    Raises DatasetMissing when the file cannot be read, the header is not an
    IDX header, or the payload size does not match the dimensions (a truncated
    or foreign file).
    """
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DatasetMissing(f"{path} cannot be read as an IDX file: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPE_CODES:
        raise DatasetMissing(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _TYPE_CODES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetMissing(
            f"{path} is truncated or corrupt: {len(raw)} bytes for shape {shape}, expected {expected}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
