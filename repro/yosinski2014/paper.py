"""Registry entry of Yosinski et al. 2014."""
from __future__ import annotations

from pathlib import Path

from repro.registry import Paper, declare_experiments
from repro.yosinski2014 import protocol
from repro.yosinski2014.experiment import ROW_FIELDS, execute


def _compare(scale_dir: Path, scale: str):
    from repro.yosinski2014.compare import compare

    return compare(scale_dir, scale)


PAPER = Paper(
    key=protocol.PAPER,
    title="Yosinski, Clune, Bengio, Lipson. How transferable are features in deep neural networks? NeurIPS 2014",
    experiments=declare_experiments(protocol.EXPERIMENTS, protocol.SCALES),
    scales=tuple(protocol.SCALES),
    grid=protocol.grid,
    execute=execute,
    row_fields=ROW_FIELDS,
    compare=_compare,
)
