"""Shared fixtures: tiny TensorLayer models (static, dynamic, nested), Keras, synthetic data.

Models are built fresh per test module where cheap; no fixed layer names (TL names are global).
"""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Conv2d, Dense, Flatten, Input, LayerList, MaxPool2d

import tensorlayer_xplain as tlxp


def tiny_static_cnn(seed=0, size=12, channels=1, n_classes=4):
    """Conv(4) -> pool -> Conv(6) -> Flatten -> Dense: a static TL CNN on size x size images."""
    tf.random.set_seed(seed)
    ni = Input([None, size, size, channels])
    nn = Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=channels)(ni)
    nn = MaxPool2d((2, 2), (2, 2), padding="SAME")(nn)
    nn = Conv2d(6, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=4)(nn)
    nn = Flatten()(nn)
    nn = Dense(n_classes, in_channels=(size // 2) ** 2 * 6)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


class TinyDynamicCNN(tl.models.Model):
    """A dynamic TL CNN with a nested LayerList (so layers are found only by walking)."""

    def __init__(self, size=12, channels=1, n_classes=4):
        super().__init__()
        self.features = LayerList([
            Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=channels),
            Conv2d(6, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=4),
        ])
        self.flat = Flatten()
        self.head = Dense(n_classes, in_channels=size * size * 6)

    def forward(self, x):
        return self.head(self.flat(self.features(x)))


def tiny_dynamic_cnn(seed=0, **kw):
    tf.random.set_seed(seed)
    return TinyDynamicCNN(**kw)


def tiny_mlp(seed=0, n_in=64, n_classes=5):
    """Static TL MLP on n_in features (8x8 gray when drawn)."""
    tf.random.set_seed(seed)
    ni = Input([None, n_in])
    nn = Dense(16, act=tf.nn.relu, in_channels=n_in)(ni)
    nn = Dense(n_classes, in_channels=16)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def tiny_keras_cnn(seed=0, size=12, n_classes=4):
    tf.random.set_seed(seed)
    inputs = tf.keras.Input((size, size, 1))
    h = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=None)(inputs)
    h = tf.keras.layers.Flatten()(h)
    outputs = tf.keras.layers.Dense(n_classes)(h)
    return tf.keras.Model(inputs, outputs)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def static_cnn():
    return tiny_static_cnn()


@pytest.fixture(scope="module")
def dynamic_cnn():
    return tiny_dynamic_cnn()


@pytest.fixture(scope="module")
def mlp_model():
    return tiny_mlp()


@pytest.fixture
def tiny_model_builders():
    """Builders of fresh tiny models on 12x12x1 images, each taking ``seed``: static TL, dynamic TL, Keras."""
    return (tiny_static_cnn, tiny_dynamic_cnn, tiny_keras_cnn)


@pytest.fixture
def images(rng):
    return rng.random((5, 12, 12, 1), dtype=np.float32)


@pytest.fixture(autouse=True)
def _no_open_figures():
    """Every test must leave no matplotlib figure open."""
    import matplotlib.pyplot as plt

    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, "test left figures open: %s" % leaked


def model_state(model):
    """Weights, train flags and instance-level forward overrides: everything a call must not change."""
    adapter = tlxp.ModelAdapter(model)
    layers = adapter.iter_layers()
    return (
        [w.numpy().copy() for w in model.all_weights],
        [model.is_train] + [getattr(layer, "is_train", None) for layer in layers],
        [("forward" in vars(layer)) for layer in layers],
    )


def assert_same_state(before, after):
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1] == after[1], "train/eval flags changed"
    assert before[2] == after[2], "a layer's forward was left patched"


def mnist_dir():
    """Folder holding mnist/ (the CI sets TENSORLAYER_XPLAIN_DATA to ../shared/data)."""
    return tlxp.datasets.find_mnist_dir()
