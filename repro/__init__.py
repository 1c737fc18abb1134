"""transfer-repro: reproductions of four papers on the transferability of deep features.

Importing the package pins Keras 3 to the TensorFlow backend (the suite's
analyses use ``tf.GradientTape``/``tf.autodiff`` and ``tf.distribute``).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
