"""Registry entry of Liu, Long, Wang, Jordan 2019."""
from __future__ import annotations

from repro.liu2019 import protocol
from repro.liu2019.experiment import FLATNESS_FIELDS, OPTIMIZATION_FIELDS, THEORY_FIELDS, TRAIN_FIELDS, execute
from repro.registry import Paper, declare_experiments, lazy_compare

IDENTITY = ("paper", "experiment", "scale", "run_key", "condition", "n", "source", "target", "split", "seed")

ROW_FIELDS = {
    "deviation": IDENTITY + TRAIN_FIELDS,
    "flatness": IDENTITY + FLATNESS_FIELDS,
    "optimization": IDENTITY + OPTIMIZATION_FIELDS,
    "input_similarity": IDENTITY + TRAIN_FIELDS,
    "label_similarity": IDENTITY + TRAIN_FIELDS,
    "checkpoints": IDENTITY + TRAIN_FIELDS,
    "theory": IDENTITY + THEORY_FIELDS,
}

PAPER = Paper(
    key=protocol.PAPER,
    title="Liu, Long, Wang, Jordan. Towards Understanding the Transferability of Deep Representations. arXiv 2019",
    experiments=declare_experiments(protocol.EXPERIMENTS, protocol.SCALES),
    scales=tuple(protocol.SCALES),
    grid=protocol.grid,
    execute=execute,
    row_fields=ROW_FIELDS,
    compare=lazy_compare("repro.liu2019.compare"),
)
