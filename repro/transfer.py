"""Shared layer transfer: copy the first ``n`` weight layers of a source model.

The treatments of layer-transfer experiments (AnB, AnB+, BnB, BnB+, random
frozen), which every paper of the suite builds on. A target network is built
*fresh* with the protocol's initialisers, then

* the first ``n`` weight layers (modules) get the source's values
  (``W_l^target <- W_l^source`` for ``l <= n``),
* those layers are either **frozen** (``layer.trainable = False``: no update,
  no weight decay -- Caffe ``blobs_lr: 0, weight_decay: 0``; AnB / BnB) or
  **fine-tuned** (trained at the same learning rate as the new layers;
  AnB+ / BnB+, and P-T, pre-trained then fine-tuned),
* layers above ``n`` keep the fresh initialisation (the code's
  ``conv4-new ... fc8-new`` renaming), i.e. they are re-initialised;
* ``random_frozen`` keeps the first ``n`` layers at their random
  initialisation and freezes them (the Caffe ``nolearn_1_n`` nets).

A "layer" here is a module: one Keras layer name or a tuple of names moved
together (a conv and its BatchNorm, a residual block). Frozen BatchNorm runs
in inference mode, as Keras does for non-trainable BN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import keras

Module = "str | tuple[str, ...]"
MODES = ("frozen", "finetune", "random_frozen")


@dataclass(frozen=True)
class TransferRecord:
    """What a transfer did, written into the run's config.json."""

    mode: str
    n_transferred: int
    copied: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    reinitialized: list[str] = field(default_factory=list)
    trainable_params: int = 0
    non_trainable_params: int = 0
    source: dict = field(default_factory=dict)  # the run and checkpoint the copied values come from

    def to_config(self) -> dict:
        return dict(
            mode=self.mode, n_transferred=self.n_transferred, copied=self.copied, frozen=self.frozen,
            reinitialized=self.reinitialized, trainable_params=self.trainable_params,
            non_trainable_params=self.non_trainable_params, source=self.source,
        )


def _names(module) -> tuple[str, ...]:
    return (module,) if isinstance(module, str) else tuple(module)


def _count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def transfer(
    target: keras.Model,
    modules: Sequence,
    n_transferred: int,
    mode: str,
    source: keras.Model | None = None,
) -> TransferRecord:
    """Apply a layer transfer in place to the freshly built ``target``.

    ``modules`` lists the model's weight modules bottom-up (for CaffeNet
    ``conv1 ... fc8``). The first ``n_transferred`` are copied from
    ``source`` (not for ``random_frozen``) and frozen unless ``mode`` is
    ``finetune``; the rest keep ``target``'s fresh initialisation.
    """
    if mode not in MODES:
        raise ValueError(f"unknown transfer mode {mode!r}; accepted: {', '.join(MODES)}")
    if not 0 <= n_transferred <= len(modules):
        raise ValueError(f"n_transferred={n_transferred} outside 0..{len(modules)}")
    if mode != "random_frozen" and source is None and n_transferred:
        raise ValueError(f"mode {mode!r} copies layers and needs a source model")
    lower, upper = modules[:n_transferred], modules[n_transferred:]
    copied, frozen = [], []
    for module in lower:
        for name in _names(module):
            layer = target.get_layer(name)
            if mode != "random_frozen":
                source_values = source.get_layer(name).get_weights()
                target_shapes = [w.shape for w in layer.get_weights()]
                if [v.shape for v in source_values] != target_shapes:
                    raise ValueError(
                        f"layer {name!r}: source shapes {[v.shape for v in source_values]} != target {target_shapes}"
                    )
                layer.set_weights(source_values)
                copied.append(name)
            if mode in ("frozen", "random_frozen"):
                layer.trainable = False
                frozen.append(name)
    reinitialized = [name for module in upper for name in _names(module)]
    return TransferRecord(
        mode=mode,
        n_transferred=n_transferred,
        copied=copied,
        frozen=frozen,
        reinitialized=reinitialized,
        trainable_params=_count(target.trainable_weights),
        non_trainable_params=_count(target.non_trainable_weights),
    )
