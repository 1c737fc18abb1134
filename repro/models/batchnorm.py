"""BatchNorm as PyTorch updates its running statistics.

``torch.nn.BatchNorm{1,2}d`` in train mode normalises a batch with its
*biased* variance (the mean of squared deviations over the ``n`` values of a
channel) and moves ``running_var`` toward the *unbiased* one,
``n / (n - 1)`` times larger; Keras' ``BatchNormalization`` moves its
``moving_variance`` toward the biased one. The difference is 1/(n-1) of the
variance: 0.02 % for the stem of a ResNet-50 at 224 (n = 32 x 112 x 112),
6 % for its last stage at 64x64 and batch 4 (n = 16), and it decides what a
network computes in eval mode (tests/test_golden_networks.py measures it
against torch). :class:`TorchBatchNormalization` is Keras' layer with
torch's update; its output is Keras' own in both modes.
"""
from __future__ import annotations

import math

import keras
from keras import ops


class TorchBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose moving variance takes the unbiased batch variance, as torch's
    ``running_var`` does (``momentum`` in Keras' sense: torch's 0.1 is Keras' 0.9). No mask, renorm or
    synchronized statistics (the suite uses none)."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable):
            return super().call(inputs, training=training, mask=mask)
        if mask is not None or self.renorm or self.synchronized:
            raise ValueError(f"{self.name}: TorchBatchNormalization supports no mask, renorm or synchronized BN")
        inputs = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = self._moments(inputs, mask)
        reduced = [d for d in range(len(inputs.shape)) if d != self.axis % len(inputs.shape)]
        count = math.prod(inputs.shape[d] for d in reduced[1:]) * ops.shape(inputs)[0]
        unbiased = variance * ops.cast(count / (count - 1), variance.dtype)
        self.moving_mean.assign(ops.cast(self.moving_mean, inputs.dtype) * self.momentum
                                + mean * (1.0 - self.momentum))
        self.moving_variance.assign(ops.cast(self.moving_variance, inputs.dtype) * self.momentum
                                    + unbiased * (1.0 - self.momentum))
        outputs = ops.batch_normalization(
            x=inputs, mean=mean, variance=variance, axis=self.axis,
            offset=ops.cast(self.beta, inputs.dtype) if self.center else None,
            scale=ops.cast(self.gamma, inputs.dtype) if self.scale else None, epsilon=self.epsilon)
        return ops.cast(outputs, self.compute_dtype)
