"""Threads per run: one by default, so a run's numbers do not depend on ``--jobs`` or on the machine's cores.

TensorFlow's CPU kernels split a reduction (a convolution's sum over its inputs, a matrix product, a
batch mean) into one partial sum per intra-op thread; float addition is not associative, so one run
trained with one and with two threads differs in its last bits after the first step, and after a
thousand SGD steps by whole tenths of a point of accuracy (a mini grid trained at two threads per run
against one: 0.67 points apart per run on average, and three of its nine verdicts moved). With the count
fixed at one per run, a run gives the same numbers at any ``--jobs`` (and, if its CPU runs the same kernels,
on another machine), and the cores are used by running runs side by side (``--jobs``), which for networks
this small is also the faster use of them (README, "Parallel, and the same numbers at any ``--jobs``").
``--threads N`` trades that identity for speed on a single large run.
"""
from __future__ import annotations

import os

DEFAULT_THREADS = 1


def pin_threads(threads: int) -> None:
    """Size TensorFlow's intra-op pool to ``threads`` and its inter-op pool to one.

    Call it before the first TensorFlow op runs (after :func:`repro.quiet.quiet_libraries`, which imports
    TensorFlow quietly). In a process whose runtime has started already (a library caller, the test suite)
    the pools stay as they are, and :func:`threads_in_use` says what they are.
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime has started: its pools cannot change any more
        pass


def threads_in_use() -> int | None:
    """The intra-op threads of this process's TensorFlow runtime as configured (None: TensorFlow's default, one
    per core)."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or None
