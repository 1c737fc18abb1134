"""Registry entry of Chen, Li, Ding, Liu 2022."""
from __future__ import annotations

from repro.chen2022 import protocol
from repro.chen2022.experiment import DOMAIN_FIELDS, REGRESSION_FIELDS, TRANSFER_FIELDS, execute
from repro.registry import Paper, declare_experiments, lazy_compare

IDENTITY = ("paper", "experiment", "scale", "run_key", "condition", "n", "source", "target", "split", "seed")

PAPER = Paper(
    key=protocol.PAPER,
    title="Chen, Li, Ding, Liu. Rethinking Two Consensuses of the Transferability in Deep Learning. 2022",
    experiments=declare_experiments(protocol.EXPERIMENTS, protocol.SCALES),
    scales=tuple(protocol.SCALES),
    grid=protocol.grid,
    execute=execute,
    row_fields={"transferability": IDENTITY + TRANSFER_FIELDS, "domain_measures": IDENTITY + DOMAIN_FIELDS,
                "regression": IDENTITY + REGRESSION_FIELDS},
    compare=lazy_compare("repro.chen2022.compare"),
)
