"""Small models and checks shared by the curvature and smoothness tests."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

import repro  # noqa: F401
import keras


def squared_error(y_true, outputs):
    return tf.square(outputs[:, 0] - tf.cast(y_true, outputs.dtype))


def identity_loss(y_true, outputs):
    return outputs[:, 0]


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        if variable.trainable:
            variable.assign(rng.normal(0.0, 0.7, size=variable.shape))


def dense_net(seed=0, batchnorm=False):
    layers = [keras.Input((3,), dtype="float64"), keras.layers.Dense(4, activation="tanh", name="hidden", dtype="float64")]
    if batchnorm:
        layers.append(keras.layers.BatchNormalization(name="bn", dtype="float64"))
    layers.append(keras.layers.Dense(3, name="out", dtype="float64"))
    model = keras.Sequential(layers)
    randomize(model, seed)
    return model


def snapshot(model):
    return [np.array(v.numpy(), copy=True) for v in model.variables]


def assert_restored(model, before):
    after = snapshot(model)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


class Quadratic(keras.layers.Layer):
    """Outputs 0.5 w^T Q w + b^T w for every example (so the mean loss is that quadratic)."""

    def __init__(self, q, b, **kwargs):
        super().__init__(dtype="float64", **kwargs)
        self.q = tf.constant(q, dtype=tf.float64)
        self.b = tf.constant(b, dtype=tf.float64)
        self.w = self.add_weight(shape=(len(b),), initializer="zeros", name="w")

    def call(self, x):
        value = 0.5 * tf.tensordot(self.w, tf.linalg.matvec(self.q, self.w), 1) + tf.tensordot(self.b, self.w, 1)
        return tf.zeros([tf.shape(x)[0], 1], dtype=tf.float64) + value
