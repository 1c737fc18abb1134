"""Registry entry of Yosinski et al. 2014."""
from __future__ import annotations

from repro.registry import Paper, declare_experiments, lazy_compare
from repro.yosinski2014 import protocol
from repro.yosinski2014.experiment import ROW_FIELDS, execute


PAPER = Paper(
    key=protocol.PAPER,
    title="Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural networks? NeurIPS 2014",
    experiments=declare_experiments(protocol.EXPERIMENTS, protocol.SCALES),
    scales=tuple(protocol.SCALES),
    grid=protocol.grid,
    execute=execute,
    row_fields=ROW_FIELDS,
    compare=lazy_compare("repro.yosinski2014.compare"),
)
