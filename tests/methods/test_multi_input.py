"""Models with several inputs: one attribution array per input, equal to hand-written references."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Concat, Conv2d, Dense, Flatten, Input

import tensorlayer_xplain as tlxp


@pytest.fixture(scope="module")
def tl_two_inputs():
    """TL static: an 8x8 image through a conv, concatenated with a 5-feature vector, then two dense layers."""
    tf.random.set_seed(0)
    a, b = Input([None, 8, 8, 1]), Input([None, 5])
    fa = Flatten()(Conv2d(4, (3, 3), act=tf.nn.relu, padding="SAME", in_channels=1)(a))
    h = Dense(16, act=tf.nn.tanh, in_channels=8 * 8 * 4 + 5)(Concat(1)([fa, b]))
    return tl.models.Model(inputs=[a, b], outputs=Dense(3, in_channels=16)(h))


@pytest.fixture(scope="module")
def keras_two_inputs():
    """A Keras functional model on two 6x6x1 images (a siamese-style shared encoder, difference, dense)."""
    keras = tf.keras
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(8, activation="tanh")])
    xa, xb = keras.Input((6, 6, 1)), keras.Input((6, 6, 1))
    out = keras.layers.Dense(2)(keras.layers.Subtract()([encoder(xa), encoder(xb)]))
    return keras.Model([xa, xb], out)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((3, 8, 8, 1), np.float32), rng.random((3, 5), np.float32)


def reference_gradients(model, xs, target, training_kw):
    """d model(xs)[:, target] / d each input, eager GradientTape."""
    ts = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(ts)
        score = model(ts, **training_kw)[:, target]
    return [g.numpy() for g in tape.gradient(score, ts)], model(ts, **training_kw).numpy()


def test_tl_static_gradients_per_input_equal_a_hand_written_tape(tl_two_inputs, data):
    tl_two_inputs.eval()
    ref, _ = reference_gradients(tl_two_inputs, data, 1, {})
    exp = tlxp.explain(tl_two_inputs, list(data), "gradient", targets=1, absolute=False)
    assert isinstance(exp, tlxp.MultiInputExplanation) and exp.n_inputs == 2
    assert [a.shape for a in exp.attributions] == [(3, 8, 8, 1), (3, 5)]
    for got, want in zip(exp.attributions, ref):
        np.testing.assert_allclose(got, want, atol=1e-6)
    saliency = tlxp.explain(tl_two_inputs, list(data), "saliency", targets=1)
    np.testing.assert_allclose(saliency.attributions[1], np.abs(ref[1]), atol=1e-6)
    gxi = tlxp.explain(tl_two_inputs, list(data), "gradient_x_input", targets=1)
    for got, want, x in zip(gxi.attributions, ref, data):
        np.testing.assert_allclose(got, x * want, atol=1e-6)
    assert exp.heatmap(input=0).shape == (3, 8, 8) and exp.heatmap(input=1).shape == (3, 1, 5)


def test_keras_gradients_per_input_equal_a_hand_written_tape(keras_two_inputs):
    rng = np.random.default_rng(1)
    xs = [rng.random((2, 6, 6, 1), np.float32), rng.random((2, 6, 6, 1), np.float32)]
    ref, _ = reference_gradients(keras_two_inputs, xs, 0, {"training": False})
    exp = tlxp.ModelExplainer(keras_two_inputs).explain(xs, method="gradient", targets=0, absolute=False)
    for got, want in zip(exp.attributions, ref):
        np.testing.assert_allclose(got, want, atol=1e-6)
    same = tlxp.explain(keras_two_inputs, [xs[0], xs[0]], "gradient", targets=0, absolute=False)
    np.testing.assert_allclose(same.attributions[0], -same.attributions[1], atol=1e-6)  # f(e(a) - e(b)) at a == b


def test_integrated_gradients_are_complete_over_all_inputs(tl_two_inputs, data):
    exp = tlxp.explain(tl_two_inputs, list(data), "integrated_gradients", targets=2, steps=64)
    tl_two_inputs.eval()
    f = lambda xs: tl_two_inputs([tf.constant(x) for x in xs]).numpy()[:, 2]  # noqa: E731
    delta = f(data) - f([np.zeros_like(x) for x in data])
    total = sum(a.reshape(3, -1).sum(1) for a in exp.attributions)
    np.testing.assert_allclose(total, delta, rtol=1e-2, atol=1e-4)


def test_smoothgrad_without_noise_is_the_absolute_gradient(tl_two_inputs, data):
    tl_two_inputs.eval()
    ref, _ = reference_gradients(tl_two_inputs, data, 0, {})
    exp = tlxp.explain(tl_two_inputs, list(data), "smoothgrad", targets=0, n_samples=3, noise_level=0.0)
    for got, want in zip(exp.attributions, ref):
        np.testing.assert_allclose(got, np.abs(want), atol=1e-6)
    noisy = [tlxp.explain(tl_two_inputs, list(data), "smoothgrad", targets=0, n_samples=4, seed=3) for _ in range(2)]
    np.testing.assert_array_equal(noisy[0].attributions[0], noisy[1].attributions[0])


def test_occlusion_per_input_equals_a_hand_written_loop(tl_two_inputs, data):
    exp = tlxp.explain(tl_two_inputs, list(data), "occlusion", targets=1, window=4, stride=4)
    tl_two_inputs.eval()
    f = lambda xs: tl_two_inputs([tf.constant(x) for x in xs]).numpy()[:, 1]  # noqa: E731
    full = f(data)
    want_a = np.zeros((3, 8, 8))
    for r in (0, 4):
        for c in (0, 4):  # non-overlapping windows: each pixel gets its window's score drop
            xa = data[0].copy()
            xa[:, r:r + 4, c:c + 4] = 0
            want_a[:, r:r + 4, c:c + 4] = (full - f([xa, data[1]]))[:, None, None]
    np.testing.assert_allclose(exp.attributions[0][..., 0], want_a, atol=1e-5)
    want_b = np.zeros((3, 5))  # the 5-feature row takes (1, 4) windows at stride (1, 4): starts 0 and 1
    counts = np.zeros(5)
    for start in (0, 1):
        xb = data[1].copy()
        xb[:, start:start + 4] = 0
        want_b[:, start:start + 4] += (full - f([data[0], xb]))[:, None]
        counts[start:start + 4] += 1
    np.testing.assert_allclose(exp.attributions[1], want_b / counts, atol=1e-5)


def test_single_input_methods_raise_naming_the_method(tl_two_inputs, data):
    with pytest.raises(ValueError, match="'lime' is single-input only.*2 inputs.*gradient"):
        tlxp.explain(tl_two_inputs, list(data), "lime")
    with pytest.raises(ValueError, match="'gradcam' is single-input only"):
        tlxp.ModelExplainer(tl_two_inputs).explain(list(data), method="gradcam")


def test_bad_multi_inputs_get_clear_errors(tl_two_inputs, data):
    with pytest.raises(TypeError, match="inputs: this model takes 2 inputs; expected a list of 2 arrays"):
        tlxp.explain(tl_two_inputs, data[0], "gradient")
    with pytest.raises(ValueError, match="inputs: expected the same number of samples in every input"):
        tlxp.explain(tl_two_inputs, [data[0], data[1][:2]], "gradient")
    with pytest.raises(ValueError, match=r"inputs\[1\]: expected shape"):
        tlxp.explain(tl_two_inputs, [data[0], np.ones((3, 4), np.float32)], "gradient")
    with pytest.raises(TypeError, match="model: this model has 2 inputs; use tlxp.as_adapter"):
        tlxp.ModelAdapter(tl_two_inputs)
    exp = tlxp.explain(tl_two_inputs, list(data), "gradient")
    with pytest.raises(TypeError, match="one per model input"):
        np.asarray(exp)
    with pytest.raises(ValueError, match="input: expected an input index 0..1, got 2"):
        exp.heatmap(input=2)
