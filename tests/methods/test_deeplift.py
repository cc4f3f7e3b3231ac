"""deeplift: equal to shap.DeepExplainer with a single baseline, complete, and the model left as it was."""
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import BatchNorm, Conv2d, Dense, Elementwise, GlobalMaxPool2d, Input, MaxPool2d

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.deeplift import rescale

from conftest import assert_same_state, model_state, tiny_keras_cnn, tiny_static_cnn

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*TensorFlow version is newer")]


def _scaled(model, seed):
    """Weights large enough for logits of order one (TL's initializer gives ~1e-3)."""
    rng = np.random.default_rng(seed)
    for w in model.all_weights:
        w.assign(rng.normal(0, 0.5 if len(w.shape) >= 2 else 0.1, w.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def cnn():
    return _scaled(tiny_static_cnn(seed=1), 1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((4, 12, 12, 1)).astype(np.float32), (rng.random((12, 12, 1)) * 0.5).astype(np.float32)


def test_equals_shap_deep_explainer_with_one_baseline(cnn, data):
    x, base = data
    ours = tlxp.explain(cnn, x, "deeplift", baseline=base, targets=[0, 1, 2, 3])
    # the project's call of shap.DeepExplainer (TL model wrapped as Keras) with that baseline as background
    theirs = tlxp.explain(cnn, x, "shap_deep", background=base[None], max_background=1, targets=[0, 1, 2, 3])
    np.testing.assert_allclose(ours.attributions, theirs.attributions, rtol=1e-5, atol=1e-6)
    # the rescale rule is doing something: not gradient x (input - baseline)
    grads = tlxp.ModelAdapter(cnn).gradients(x, np.array([0, 1, 2, 3]))
    assert not np.allclose(ours.attributions, grads * (x - base), atol=1e-3)


def test_equals_shap_on_a_keras_model(data):
    import shap

    x, base = data
    model = tiny_keras_cnn(seed=2)
    rng = np.random.default_rng(2)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = np.asarray(shap.DeepExplainer(model, base[None]).shap_values(x, check_additivity=False))
    ours = tlxp.explain(model, x, "deeplift", baseline=base, targets=2)
    np.testing.assert_allclose(ours.attributions, phi[..., 2], rtol=1e-5, atol=1e-6)


def test_completeness_with_biases_batchnorm_residual_and_global_max():
    tf.random.set_seed(0)
    ni = Input([None, 8, 8, 2])
    a = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2)(ni)
    h = Conv2d(3, (3, 3), (1, 1), padding="SAME", in_channels=3)(a)
    h = BatchNorm(act=tf.nn.relu, num_features=3)(h)
    nn = Elementwise(tf.add, act=tf.nn.relu)([h, a])
    nn = MaxPool2d((2, 2), (2, 2), padding="SAME")(nn)
    g = GlobalMaxPool2d()(nn)
    nn = Dense(4, act=tf.nn.sigmoid, in_channels=3)(g)
    nn = Dense(3, in_channels=4)(nn)
    model = _scaled(tl.models.Model(inputs=ni, outputs=nn), 3)
    for layer in model.all_layers:
        if isinstance(layer, BatchNorm):
            layer.moving_var.assign(np.full(3, 1.5, np.float32))
    x = np.random.default_rng(1).random((5, 8, 8, 2)).astype(np.float32)
    for baseline in ("zeros", "blurred", 0.3):
        exp = tlxp.explain(model, x, "deeplift", baseline=baseline)
        sums = exp.attributions.reshape(len(x), -1).sum(axis=1)
        np.testing.assert_allclose(sums, exp.meta["score_differences"], rtol=1e-4, atol=1e-5)
        assert exp.meta["max_completeness_gap"] < 1e-3, baseline


def test_rescale_multiplier_by_hand():
    z = tf.constant([[2.0, 1.0], [-1.0, 1.0 + 1e-8]])  # x = (2, 1), baseline = (-1, 1): the second is below tolerance
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = rescale(tf.nn.sigmoid, z)
    g = tape.gradient(y, z).numpy()
    s = 1 / (1 + np.exp(-np.array([2.0, -1.0, 1.0])))
    np.testing.assert_allclose(g[0, 0], (s[0] - s[1]) / 3.0, rtol=1e-6)
    np.testing.assert_allclose(g[0, 1], s[2] * (1 - s[2]), rtol=1e-5)  # ordinary gradient below the tolerance


def test_model_unchanged_and_batch_independent(cnn, data):
    x, base = data
    before = model_state(cnn)
    whole = tlxp.explain(cnn, x, "deeplift", baseline=base).attributions
    pieces = tlxp.explain(cnn, x, "deeplift", baseline=base, batch_size=1).attributions
    assert_same_state(before, model_state(cnn))
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-7)


def test_bad_arguments(cnn, data):
    x, _ = data
    with pytest.raises(ValueError, match="baseline"):
        tlxp.explain(cnn, x, "deeplift", baseline="mean")
    with pytest.raises(ValueError, match="baseline"):
        tlxp.explain(cnn, x, "deeplift", baseline=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="targets: deeplift"):
        tlxp.explain(cnn, x, "deeplift", targets=lambda s: s[:, 0])


def test_randomization_sanity_check_passes(cnn, data):
    assert tlxp.randomization_sanity_check(cnn, data[0], "deeplift").passed
