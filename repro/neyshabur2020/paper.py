"""Registry entry of Neyshabur, Sedghi, Zhang 2020."""
from __future__ import annotations

from repro.neyshabur2020 import protocol
from repro.neyshabur2020.experiment import TRAIN_FIELDS, execute
from repro.registry import Paper, declare_experiments, lazy_compare

IDENTITY = ("paper", "experiment", "scale", "run_key", "condition", "n", "source", "target", "split", "seed")
MODULE_COLUMNS = tuple(f"acc_{m.replace('.', '_')}" for m in protocol.MODULES)
PAIR_COLUMNS = ("pair", "model_a", "model_b")

ROW_FIELDS = {
    "learning_curves": IDENTITY + TRAIN_FIELDS + ("chosen_lr", "score_lr0.1", "score_lr0.02"),
    "block_shuffle": IDENTITY + TRAIN_FIELDS,
    "checkpoints": IDENTITY + TRAIN_FIELDS,
    "mistakes": IDENTITY + PAIR_COLUMNS + ("n_test", "errors_a", "errors_b", "common_errors", "only_a", "only_b",
                                           "jaccard", "disagreement", "seconds"),
    "cka": IDENTITY + PAIR_COLUMNS + ("n_examples",) + tuple(f"cka_{s}" for s in protocol.STAGES) + ("seconds",),
    "distances": IDENTITY + PAIR_COLUMNS + ("l2", "n_parameters")
    + tuple(f"{kind}_{s}" for kind in ("l2", "rms") for s in protocol.STAGES) + ("seconds",),
    "interpolation": IDENTITY + PAIR_COLUMNS + ("points", "acc_start", "acc_end", "acc_mid", "acc_min", "alpha_min",
                                                "acc_barrier", "loss_barrier", "max_rise", "seconds"),
    "basin": IDENTITY + PAIR_COLUMNS + ("epsilon", "delta", "mu", "level", "alpha_low", "alpha_high", "closed",
                                        "line_length", "dimension", "n_samples", "seconds"),
    "criticality": IDENTITY + ("arm", "lr", "run", "acc_final", "loss_final") + MODULE_COLUMNS
    + ("modules_absent", "seconds"),
    "criticality_paths": IDENTITY + ("arm", "path", "module", "run", "measure", "distance", "final_train_loss",
                                     "points", "points_within_threshold", "seconds"),
}


PAPER = Paper(
    key=protocol.PAPER,
    title="Neyshabur, Sedghi, Zhang. What is being transferred in transfer learning? NeurIPS 2020",
    experiments=declare_experiments(protocol.EXPERIMENTS, protocol.SCALES),
    scales=tuple(protocol.SCALES),
    grid=protocol.grid,
    execute=execute,
    row_fields=ROW_FIELDS,
    compare=lazy_compare("repro.neyshabur2020.compare"),
    searches=protocol.searches,
)
