"""CAM methods against an independent Grad-CAM reference (the Keras recipe) on static and dynamic TL models."""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.cam import gradcam_plus_plus_weights

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_keras_cnn, tiny_static_cnn

CAM_METHODS = ["gradcam", "gradcam_plus_plus", "scorecam"]


def _scaled(model, seed=0):
    """He-scaled weights, so the CAMs are not all ~0 on an untrained model."""
    rng = np.random.default_rng(seed)
    for w in model.all_weights:
        fan_in = int(np.prod(w.shape[:-1])) if len(w.shape) > 1 else 10
        w.assign(rng.normal(0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32))
    return model


# -- the reference: layers called by hand, gradients with a GradientTape (Keras make_gradcam_heatmap) ---------
def _static_parts(model):
    """(layers up to the last conv, layers after it) of tiny_static_cnn, called by hand via ``forward``."""
    layers = [layer for layer in model.all_layers if type(layer).__name__ != "_InputLayer"]
    # conv, pool, conv | flatten, dense
    return layers[:3], layers[3:]


def _dynamic_parts(model, upto=2):
    convs = list(model.features.layers)
    return convs[:upto], convs[upto:] + [model.flat, model.head]


def _manual_acts_and_grads(head, tail, x, class_index):
    """Call the layers by hand: the conv output and d score[class] / d conv output (no adapter involved)."""
    with tf.GradientTape() as tape:
        conv_out = tf.constant(x)
        for layer in head:
            conv_out = layer.forward(conv_out)
        preds = conv_out
        for layer in tail:
            preds = layer.forward(preds)
        class_channel = tf.gather(preds, class_index, axis=1, batch_dims=1)
    return conv_out, tape.gradient(class_channel, conv_out)


def _reference_gradcam(head, tail, x, class_index, size):
    """The Keras recipe, per image: grads of the class score w.r.t. the conv output, pooled, weighted, ReLU."""
    conv_out, grads = _manual_acts_and_grads(head, tail, x, class_index)
    pooled_grads = tf.reduce_mean(grads, axis=(1, 2))  # per image
    heatmap = tf.einsum("nhwc,nc->nhw", conv_out, pooled_grads)
    heatmap = tf.maximum(heatmap, 0)
    return tf.image.resize(heatmap[..., None], size, method="bilinear")[..., 0].numpy(), head[-1].name


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["static", "dynamic", "dynamic_nested_first"])
def test_gradcam_equals_keras_recipe(kind, images):
    if kind == "static":
        model = _scaled(tiny_static_cnn(seed=1))
        head, tail = _static_parts(model)
        layer_name = None  # the default must be the last 4-D layer: the second conv
    else:
        model = _scaled(tiny_dynamic_cnn(seed=1))
        head, tail = _dynamic_parts(model, upto=2 if kind == "dynamic" else 1)
        layer_name = None if kind == "dynamic" else head[-1].name
    targets = np.array([0, 1, 2, 3, 1])
    model.eval()
    expected, expected_layer = _reference_gradcam(head, tail, images, targets, (12, 12))
    exp = tlxp.explain(model, images, "gradcam", targets, layer_name=layer_name)
    assert exp.meta["layer_name"] == expected_layer
    got = exp.heatmap()
    assert expected.max() > 0
    np.testing.assert_allclose(got / expected.max(), expected / expected.max(), atol=1e-5)


def test_gradcam_plus_plus_equals_formula(images):
    """Grad-CAM++ weights on hand-computed activations/gradients (Chattopadhay et al., eq. 19)."""
    model = _scaled(tiny_static_cnn(seed=2))
    head, tail = _static_parts(model)
    t = np.array([1, 1, 0, 2, 3])
    model.eval()
    acts, grads = _manual_acts_and_grads(head, tail, images, t)
    g = grads.numpy().astype(np.float64)
    a = acts.numpy().astype(np.float64)
    weights = np.zeros((5, a.shape[-1]))
    for n in range(5):
        for c in range(a.shape[-1]):
            g1 = g[n, :, :, c]
            denom = 2 * g1 ** 2 + a[n, :, :, c].sum() * g1 ** 3
            alpha = np.divide(g1 ** 2, denom, out=np.zeros_like(g1), where=denom != 0)
            weights[n, c] = (alpha * np.maximum(g1, 0)).sum()
    np.testing.assert_allclose(gradcam_plus_plus_weights(a, g), weights, rtol=1e-10)
    cam = np.maximum(np.einsum("nhwc,nc->nhw", a, weights), 0)
    expected = tf.image.resize(cam[..., None].astype(np.float32), (12, 12))[..., 0].numpy()
    got = tlxp.explain(model, images, "gradcam_plus_plus", t).heatmap()
    np.testing.assert_allclose(got / expected.max(), expected / expected.max(), atol=1e-5)


def test_scorecam_weights_are_masked_probabilities(images):
    model = _scaled(tiny_static_cnn(seed=3))
    head, tail = _static_parts(model)
    t = np.array([2, 0, 1, 3, 2])
    exp = tlxp.explain(model, images, "scorecam", t, batch_size=4)
    weights = exp.meta["weights"]
    assert weights.shape == (5, 6)
    model.eval()
    acts = tf.constant(images)
    for layer in head:
        acts = layer.forward(acts)
    for n, c in [(0, 0), (3, 5), (4, 2)]:
        up = tf.image.resize(acts[n:n + 1, :, :, c:c + 1], (12, 12)).numpy()
        span = up.max() - up.min()
        mask = (up - up.min()) / span if span > 0 else np.zeros_like(up)
        probs = tf.nn.softmax(model(images[n:n + 1] * mask)).numpy()
        assert weights[n, c] == pytest.approx(probs[0, t[n]], rel=1e-5)
    same = tlxp.explain(model, images, "scorecam", t, batch_size=512)
    np.testing.assert_allclose(same.attributions, exp.attributions, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", CAM_METHODS)
def test_cams_upsampled_to_input(static_cnn, dynamic_cnn, images, method):
    for model in (static_cnn, dynamic_cnn):
        exp = tlxp.explain(model, images, method)
        assert exp.shape == images.shape
        assert np.isfinite(exp.attributions).all()
        assert exp.attributions.min() >= 0
        assert exp.meta["signed"] is False


def test_cam_on_pooled_layer_is_upsampled(static_cnn, images):
    pool = [n for n in tlxp.as_adapter(static_cnn).layer_names() if n.startswith("maxpool")][0]
    exp = tlxp.explain(static_cnn, images, "gradcam", layer_name=pool)
    assert exp.heatmap().shape == (5, 12, 12)
    assert exp.meta["layer_name"] == pool


def test_cam_on_keras_model(images):
    model = tiny_keras_cnn(seed=2)
    exp = tlxp.explain(model, images, "gradcam")
    assert exp.meta["layer_name"] == model.layers[1].name
    assert exp.heatmap().shape == (5, 12, 12)


def test_cam_errors(mlp_model, static_cnn, images, rng):
    with pytest.raises(ValueError, match="layer_name.*4-D"):
        tlxp.explain(mlp_model, rng.random((2, 64), dtype=np.float32), "gradcam")
    dense = [n for n in tlxp.as_adapter(static_cnn).layer_names() if n.startswith("dense")][0]
    with pytest.raises(ValueError, match="layer_name.*%s" % dense):
        tlxp.explain(static_cnn, images, "gradcam_plus_plus", layer_name=dense)
    with pytest.raises(KeyError, match="layer_name.*no_such_layer"):
        tlxp.explain(static_cnn, images, "scorecam", layer_name="no_such_layer")
    with pytest.raises(TypeError, match="model: CAM .* Pass the tl.models.Model"):
        tlxp.explain(lambda x: tf.reduce_sum(x, axis=(1, 2)), images, "gradcam")


@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
@pytest.mark.slow
def test_model_state_unchanged_even_after_errors(builder, images):
    model = builder(seed=4)
    before = model_state(model)
    for method in CAM_METHODS:
        tlxp.explain(model, images, method)
        assert_same_state(before, model_state(model))
        with pytest.raises(RuntimeError, match="boom"):
            tlxp.explain(model, images, method, targets=lambda s: (_ for _ in ()).throw(RuntimeError("boom")))
        assert_same_state(before, model_state(model))
        with pytest.raises(KeyError):
            tlxp.explain(model, images, method, layer_name="missing")
        assert_same_state(before, model_state(model))


def test_cams_compiled_once(static_cnn, images):
    adapter = tlxp.as_adapter(static_cnn)
    for method in CAM_METHODS:
        tlxp.explain(static_cnn, images, method)
    traces = adapter.trace_count
    for method in CAM_METHODS:
        tlxp.explain(static_cnn, images[:2], method)
        tlxp.get_method(method)(adapter, images, np.ones(5, np.int32), batch_size=3)
    assert adapter.trace_count == traces


def test_cam_default_layer_skips_attention_matrices():
    """A ViT's only 4-D outputs are attention weights (N, heads, T, T): no CAM layer, a clear error."""
    import tensorlayer_xplain as tlxp

    model = tlxp.models.attention_mnist(seed=0)
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="layer_name: CAM methods need a layer with a 4-D output"):
        tlxp.explain(model, x, "gradcam")
