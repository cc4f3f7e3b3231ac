"""Trained MNIST reference models for the benchmarks, cached in a temp dir.

Weights are saved with :func:`tensorlayer_xplain.save_weights` as ``.safetensors`` (by
position, so TL's global layer names, which differ when other models were built first in the
same process, do not matter; and no pickle).

The cache lives under ``$TMPDIR/tensorlayer_xplain_bench`` (not in the repo): a
second run loads the weights instead of training again.
"""
import os
import tempfile

import numpy as np

import tensorlayer_xplain as tlxp

CACHE = os.path.join(tempfile.gettempdir(), "tensorlayer_xplain_bench")


def _trained(builder, shape, epochs, tag):
    X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(shape=shape)
    model = builder(seed=0)
    path = os.path.join(CACHE, "%s_e%d_n%d.safetensors" % (tag, epochs, len(X_train)))
    if os.path.exists(path):
        tlxp.load_weights(model, path)
    else:
        tlxp.models.train(model, X_train, y_train, epochs=epochs, seed=0, progress=False)
        os.makedirs(CACHE, exist_ok=True)
        tlxp.save_weights(model, path)
    return model, X_train, y_train, X_test, y_test


def trained_cnn(epochs=1):
    """``(model, X_train, y_train, X_test, y_test)`` for the reference CNN on 28x28x1 MNIST."""
    return _trained(tlxp.models.cnn, (-1, 28, 28, 1), epochs, "cnn")


def trained_mlp(epochs=2):
    """``(model, X_train, y_train, X_test, y_test)`` for the tutorial MLP on flat MNIST."""
    return _trained(tlxp.models.mlp, (-1, 784), epochs, "mlp")


def accuracy(model, X, y):
    return tlxp.models.accuracy(model, X, y)


__all__ = ["trained_cnn", "trained_mlp", "accuracy", "CACHE", "np"]
