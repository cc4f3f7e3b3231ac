"""Class and channel visualizations of a small CNN trained on MNIST (14x14, a few seconds of training)."""
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import objectives as O
from tensorlayer_xplain.features import objective_values

from conftest import mnist_dir, tiny_static_cnn

pytestmark = pytest.mark.slow


def _half(x):
    """28x28 digits to 14x14 (2x2 means): a smaller, faster CNN."""
    return x.reshape(-1, 14, 2, 14, 2, 1).mean(axis=(2, 4))


@pytest.fixture(scope="module")
def trained():
    X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(path=mnist_dir(), shape=(-1, 28, 28, 1))
    model = tiny_static_cnn(seed=0, size=14, n_classes=10)
    tlxp.models.train(model, _half(X_train[:12000]), y_train[:12000], epochs=2, learning_rate=3e-3, seed=0,
                      progress=False)
    x, y = _half(X_test[:500]), y_test[:500]
    assert tlxp.models.accuracy(model, x, y) > 0.8
    conv = [n for n, s in tlxp.ModelAdapter(model).layer_call_order() if len(s) == 3 and "conv" in n][-1]
    return model, x, conv


@pytest.mark.parametrize("param", ["fourier", "pixels"])
def test_class_visualizations_are_classified_as_their_class(trained, param):
    model, x, _ = trained
    objs = [O.class_logit(k) for k in range(10)]
    res = tlxp.feature_visualization(model, objs, steps=128, parameterization=param)  # standard transforms
    predicted = tlxp.ModelAdapter(model).predict(res.images).argmax(axis=1)
    assert list(predicted) == list(range(10))
    # and each class's logit is well above its value on every one of 500 test digits
    best = objective_values(model, objs, x).max(axis=1)
    assert (res.values > 1.2 * best).all(), (res.values, best)


def test_channel_visualizations_beat_every_test_digit(trained):
    model, x, conv = trained
    objs = [O.channel(conv, c) for c in range(6)]
    on_digits = objective_values(model, objs, x).max(axis=1)
    live = on_digits > 1e-3
    res = tlxp.feature_visualization(model, objs, steps=128)
    assert live.sum() >= 3
    assert (res.values[live] > 1.2 * on_digits[live]).all(), (res.values, on_digits)
