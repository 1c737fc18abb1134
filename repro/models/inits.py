"""Initialisers shared by the model builders: seed streams and PyTorch's default layer init."""
from __future__ import annotations

import numpy as np

import keras


class Seeds:
    """Distinct integer seeds for successive initializers, drawn from one init seed (None: unseeded)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = None if seed is None else np.random.default_rng(seed)

    def next(self) -> int | None:
        return None if self._rng is None else int(self._rng.integers(0, 2**31 - 1))


def torch_default_kernel(seed: int | None) -> keras.initializers.Initializer:
    """PyTorch's default conv/linear kernel init, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    (``kaiming_uniform_(a=sqrt(5))``; Keras' ``fan_in`` includes the receptive field)."""
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed)


def torch_default(fan_in: int, seeds: Seeds) -> dict:
    """Kernel and bias initializers of a PyTorch conv/linear layer, both ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    The kernel's seed is drawn before the bias's.
    """
    bound = 1.0 / np.sqrt(fan_in)
    kernel = torch_default_kernel(seeds.next())
    return dict(kernel_initializer=kernel,
                bias_initializer=keras.initializers.RandomUniform(-bound, bound, seed=seeds.next()))
