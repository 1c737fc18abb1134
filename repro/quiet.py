"""Quiet by default: the libraries' start-up and progress chatter kept off the terminal.

``repro`` prints one line per finished run and one ``error:`` line when
something is wrong; TensorFlow's C++ start-up lines (absl's
``InitializeLog`` notice, oneDNN's ``port.cc`` line), Python warnings of
TensorFlow and Keras (``tf.function`` retracing), tfds's download-and-prepare
progress bars and its notices about the embedded datasets would bury them.
:func:`quiet_libraries` silences them; ``repro --verbose`` keeps them.

The C++ lines are written straight to file descriptor 2 while TensorFlow is
imported, below Python's reach, so the import runs with that descriptor
pointed at ``/dev/null`` and restored afterwards. Nothing else is silenced:
an error raised later still reaches the terminal.
"""
from __future__ import annotations

import io
import logging
import os
import warnings
from contextlib import contextmanager, nullcontext, redirect_stdout
from typing import Iterator


@contextmanager
def _stderr_to_null() -> Iterator[None]:
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


_quiet = False


def library_stdout():
    """Where a library's own prints go while it prepares embedded data: nowhere once
    :func:`quiet_libraries` ran (tfds prints "Downloading and preparing dataset ..." for local files too),
    the terminal otherwise."""
    return redirect_stdout(io.StringIO()) if _quiet else nullcontext()


def quiet_libraries(verbose: bool = False) -> None:
    """Import TensorFlow (and tfds) silently and turn their logging down to errors, unless ``verbose``."""
    global _quiet
    if verbose:
        return
    _quiet = True
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _stderr_to_null():
        import tensorflow as tf
        import tensorflow_datasets as tfds
    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)
    for name in ("absl", "tensorflow", "tensorflow_datasets", "keras", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    tfds.disable_progress_bar()
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|tensorflow_datasets|absl)(\.|$)")
