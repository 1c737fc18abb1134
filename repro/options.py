"""The command line's shared options, defined without TensorFlow so ``repro --help`` and ``repro list`` stay instant.

:mod:`repro.execution` builds what these options choose (the tf.distribute strategy, the Keras
mixed-precision policy, XLA) when a command runs.
"""
from __future__ import annotations

import argparse

from repro.threads import DEFAULT_THREADS

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")
PRECISIONS = ("off", "float16", "bfloat16")


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--strategy``, ``--mixed-precision`` and ``--jit-compile`` options of a command."""
    parser.add_argument("--strategy", default="default", choices=STRATEGIES,
                        help="tf.distribute strategy: default (one device), mirrored (all local GPUs), "
                             "multi_worker_mirrored (the cluster in TF_CONFIG; run the same command on every worker)")
    parser.add_argument("--mixed-precision", default="off", choices=PRECISIONS,
                        help="Keras mixed precision policy (float16 adds dynamic loss scaling; default: off)")
    parser.add_argument("--jit-compile", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                        help="TensorFlow intra-op threads per run (default: 1, so a run's numbers are the same at "
                             "any --jobs; a run's float sums depend on this count)")
