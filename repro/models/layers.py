"""Layers that Caffe networks need and Keras lacks or runs slowly on CPU.

* :class:`GroupedConv2D` -- Caffe ``group: g`` convolution. Keras'
  ``Conv2D(groups=2)`` lowers to a slow path on CPU (measured on this
  suite's 2-core machine: 200 images/s for the mini CaffeNet against
  1,589 images/s with the groups written as separate convolutions). This
  layer keeps the same single kernel of shape ``(kh, kw, c_in / g, c_out)``
  as ``Conv2D(groups=g)`` -- so weights are interchangeable and a transfer
  copies one variable per layer -- but computes each group with its own
  ``tf.nn.conv2d`` on a slice of the input and of the kernel and
  concatenates the outputs.
* :class:`CaffeLRN` -- Caffe's across-channel local response normalisation
  ``b_c = a_c / (k + (alpha / n) * sum_{c' in window(c)} a_c'^2)^beta`` with a
  window of ``n`` channels centred on ``c``, equal to
  ``tf.nn.local_response_normalization(depth_radius=(n-1)/2, bias=k,
  alpha=alpha/n, beta=beta)`` but twice differentiable (CaffeNet's
  norm1/norm2).
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="repro")
class GroupedConv2D(keras.layers.Layer):
    """Convolution with ``groups`` independent channel groups (Caffe ``group``).

    Output channel block ``j`` (of ``filters / groups``) sees only input
    channel block ``j``: ``y_j = conv(x_j, W[..., j-th out block]) + b_j``.
    The kernel is stored as one ``(kh, kw, c_in // groups, filters)``
    variable, the layout of ``keras.layers.Conv2D(groups=groups)``.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        *,
        groups: int = 1,
        strides: int = 1,
        padding: int = 0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if filters % groups:
            raise ValueError(f"filters={filters} is not divisible by groups={groups}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.groups = groups
        self.strides = strides
        self.padding = padding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        if in_channels % self.groups:
            raise ValueError(f"{in_channels} input channels are not divisible by groups={self.groups}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, in_channels // self.groups, self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)

    def call(self, inputs):
        if self.padding:
            p = self.padding
            inputs = tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        kernel = tf.convert_to_tensor(self.kernel)
        strides = [1, self.strides, self.strides, 1]
        if self.groups == 1:
            out = tf.nn.conv2d(inputs, kernel, strides, "VALID")
        else:
            x_groups = tf.split(inputs, self.groups, axis=-1)
            k_groups = tf.split(kernel, self.groups, axis=-1)
            out = tf.concat([tf.nn.conv2d(x, k, strides, "VALID") for x, k in zip(x_groups, k_groups)], axis=-1)
        return tf.nn.bias_add(out, tf.convert_to_tensor(self.bias))

    def compute_output_shape(self, input_shape):
        def size(n):
            return None if n is None else (n + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            groups=self.groups,
            strides=self.strides,
            padding=self.padding,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


def _window_sum(z: tf.Tensor, local_size: int) -> tf.Tensor:
    """S(z)_c = sum_{|c' - c| <= (n-1)/2} z_c' over the channel axis (zero-padded), as a banded matmul."""
    channels = z.shape[-1]
    index = tf.range(channels)
    band = tf.cast(tf.abs(index[:, None] - index[None, :]) <= (local_size - 1) // 2, z.dtype)
    return tf.tensordot(z, band, axes=1)


@keras.saving.register_keras_serializable(package="repro")
class CaffeLRN(keras.layers.Layer):
    """Caffe ACROSS_CHANNELS LRN: ``b = a / d^beta``, ``d = k + alpha/n * S(a^2)``.

    S sums over a window of ``n = local_size`` channels centred on each
    channel. Caffe divides ``alpha`` by ``n``; TensorFlow's fused
    ``tf.nn.local_response_normalization(depth_radius=(n-1)/2, bias=k,
    alpha=alpha/n, beta=beta)`` computes the same function, but its gradient
    op ``LRNGrad`` has no gradient (nor a forward-mode rule), so Hessian-vector
    products could not pass through it. The layer therefore writes the
    formula out in plain differentiable ops (S as a banded channel matmul,
    about 4% more multiply-adds in the paper-scale CaffeNet, d^-beta as
    exp(-beta ln d)); forward and backward together run 4x faster than the
    fused op on the mini CaffeNet's norm1 on CPU. Tests check it against the
    fused op and Caffe's definition.
    """

    def __init__(self, local_size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if local_size % 2 != 1:
            raise ValueError("Caffe LRN local_size must be odd")
        self.local_size, self.alpha, self.beta, self.k = local_size, alpha, beta, k

    def call(self, inputs):
        d = self.k + (self.alpha / self.local_size) * _window_sum(inputs * inputs, self.local_size)
        # d^-beta as exp(-beta ln d) (d >= k > 0): on CPU the Pow kernel costs 4-5x exp+log,
        # and more than TensorFlow's fused LRN (benchmark in the commit message).
        return inputs * tf.exp(-self.beta * tf.math.log(d))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(local_size=self.local_size, alpha=self.alpha, beta=self.beta, k=self.k)
        return config
