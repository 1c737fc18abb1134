"""Writing result files so that a kill, a crash or a concurrent writer never leaves half a file.

The one owner of atomic writes and of the lock the suite's writers take turns on:

* :func:`atomic_write` writes to a temporary file in the same directory,
  flushes and fsyncs it, then renames it over the target (``os.replace`` is
  atomic on POSIX): a reader sees the old file or the new one, never a mix.
* :func:`locked` holds an exclusive ``flock`` for the body of a ``with``.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def atomic_write(path: Path, write: Callable[[object], None], binary: bool = False) -> None:
    """Create or replace ``path`` (and its directory) with what ``write(handle)`` writes, atomically.

    The temporary file is removed if ``write`` (or the rename) fails, and
    the previous ``path`` is then left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:  # name the file being written, not the temporary (a full disk fails on write())
        Path(temporary).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Create or replace ``path`` with ``text`` (UTF-8), atomically."""
    atomic_write(path, lambda out: out.write(text))


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` as indented, key-sorted JSON, atomically (values JSON cannot hold become strings)."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the body of the ``with``."""
    with Path(path).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
