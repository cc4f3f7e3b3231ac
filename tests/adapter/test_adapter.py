"""ModelAdapter: model kinds, modes, batching, compilation, layers, capture, input validation."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter import image_shape_for, temporarily_set

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_keras_cnn, tiny_mlp, tiny_static_cnn


def tape_gradient(model, x, targets):
    """Hand-written reference: d logits[target] / d x with a plain GradientTape."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
        selected = tf.gather(logits, tf.constant(targets), batch_dims=1)
    return tape.gradient(selected, x).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
def test_gradients_match_hand_written_tape(builder, images):
    model = builder()
    adapter = tlxp.ModelAdapter(model, batch_size=2)  # 5 inputs -> 3 batches
    targets = np.array([0, 1, 2, 3, 0], np.int32)
    grads = adapter.gradients(images, targets)
    model.eval()
    expected = tape_gradient(model, images, targets)
    np.testing.assert_allclose(grads, expected, atol=1e-6)


@pytest.mark.slow
def test_explainer_gradient_matches_tape_for_static_and_dynamic(images):
    for model in (tiny_static_cnn(), tiny_dynamic_cnn()):
        exp = tlxp.ModelExplainer(model, methods=["gradient"]).explain(images)
        model.eval()
        expected = np.abs(tape_gradient(model, images, exp.predicted.astype(np.int32)))
        np.testing.assert_allclose(exp.attributions, expected, atol=1e-6)


def test_keras_model_and_callable_are_supported(images):
    keras_model = tiny_keras_cnn()
    adapter = tlxp.ModelAdapter(keras_model)
    assert adapter.kind == "keras" and adapter.input_shape == (12, 12, 1)
    np.testing.assert_allclose(adapter.predict(images), keras_model(images).numpy(), atol=1e-5)
    grads = adapter.gradients(images, np.zeros(5, np.int32))
    assert grads.shape == images.shape and np.abs(grads).sum() > 0

    weights = np.linspace(-1, 1, 144 * 3, dtype=np.float32).reshape(144, 3)
    fn = lambda x: tf.matmul(tf.reshape(x, (-1, 144)), weights)  # noqa: E731
    adapter = tlxp.ModelAdapter(fn)
    assert adapter.kind == "callable"
    grads = adapter.gradients(images, np.full(5, 2, np.int32))
    np.testing.assert_allclose(grads[0].reshape(-1), weights[:, 2], atol=1e-6)


def test_eval_mode_is_used_and_callers_mode_restored(rng):
    model = tlxp.models.mlp(seed=0)  # has Dropout: train mode would be random
    x = rng.random((4, 784), dtype=np.float32)
    model.train()
    before = model_state(model)
    adapter = tlxp.ModelAdapter(model)
    a, b = adapter.predict(x), adapter.predict(x)
    np.testing.assert_array_equal(a, b)  # deterministic => dropout off
    assert_same_state(before, model_state(model))
    assert model.is_train is True
    model.eval()
    adapter.predict(x)
    assert model.is_train is False


def test_fresh_model_without_mode_keeps_no_mode(rng):
    model = tiny_mlp()
    assert model.is_train is None
    tlxp.ModelAdapter(model).predict(rng.random((2, 64), dtype=np.float32))
    assert model.is_train is None


def test_predict_batches_and_compiles_once(static_cnn, rng):
    adapter = tlxp.ModelAdapter(static_cnn, batch_size=4)
    x = rng.random((10, 12, 12, 1), dtype=np.float32)
    out = adapter.predict(x)
    static_cnn.eval()
    np.testing.assert_allclose(out, static_cnn(x).numpy(), atol=1e-5)
    adapter.gradients(x, np.zeros(10, np.int32))
    traces = adapter.trace_count
    for n in (3, 7, 10):  # new batch sizes must not retrace
        adapter.predict(x[:n])
        adapter.gradients(x[:n], np.zeros(n, np.int32))
    assert adapter.trace_count == traces


def test_as_adapter_reuses_one_adapter_per_model(static_cnn):
    assert tlxp.as_adapter(static_cnn) is tlxp.as_adapter(static_cnn)
    assert tlxp.as_adapter(static_cnn, output="probabilities") is not tlxp.as_adapter(static_cnn)


def test_probabilities_output_applies_softmax_only_when_asked(static_cnn, images):
    logits = tlxp.ModelAdapter(static_cnn).predict(images)
    probs = tlxp.ModelAdapter(static_cnn, output="probabilities").predict(images)
    np.testing.assert_allclose(probs, tf.nn.softmax(logits).numpy(), atol=1e-6)
    assert not np.allclose(logits.sum(1), 1)


def test_flat_model_takes_images_and_maps_shapes(rng):
    model = tiny_mlp(n_in=64)
    adapter = tlxp.ModelAdapter(model)
    assert adapter.image_shape == (8, 8, 1)
    imgs = rng.random((3, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(adapter.predict(imgs), adapter.predict(imgs.reshape(3, 64)), atol=1e-6)
    exp = tlxp.explain(model, imgs, "gradient")
    assert exp.attributions.shape == (3, 8, 8, 1) and exp.heatmap().shape == (3, 8, 8)
    single = tlxp.explain(model, imgs[0, ..., 0], "gradient")  # one (H, W) image
    assert single.shape == (1, 8, 8)


def test_image_shape_guess():
    assert image_shape_for((784,)) == (28, 28, 1)
    assert image_shape_for((3 * 32 * 32,)) == (32, 32, 3)
    assert image_shape_for((10,)) == (1, 10, 1)
    assert image_shape_for((28, 28)) == (28, 28, 1)


def test_layer_lookup_finds_nested_layers_and_lists_names(dynamic_cnn, images):
    adapter = tlxp.ModelAdapter(dynamic_cnn)
    adapter.predict(images)
    conv = dynamic_cnn.features.layers[1]
    assert adapter.layer(conv.name) is conv
    with pytest.raises(KeyError, match="no layer named 'nope'.*available layers: .*" + conv.name):
        adapter.layer("nope")


def test_layer_call_order_is_call_order_for_dynamic_models(dynamic_cnn, images):
    adapter = tlxp.ModelAdapter(dynamic_cnn)
    adapter.predict(images)
    order = [name for name, _ in adapter.layer_call_order()]
    convs = [layer.name for layer in dynamic_cnn.features.layers]
    assert order.index(convs[0]) < order.index(convs[1]) < order.index(dynamic_cnn.flat.name)
    shapes = dict(adapter.layer_call_order())
    assert shapes[convs[1]] == (12, 12, 6)


@pytest.mark.slow
@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
def test_capture_outputs_and_gradients_match_manual_split(builder, images):
    model = builder()
    adapter = tlxp.ModelAdapter(model, batch_size=3)
    name = adapter.layer_call_order()[-3][0] if builder is tiny_static_cnn else model.features.layers[1].name
    targets = np.array([1, 0, 2, 3, 1], np.int32)
    before = model_state(model)
    res = adapter.capture(images, [name], targets=targets, gradients=True)
    assert_same_state(before, model_state(model))
    acts, grads = res.outputs[name], res.gradients[name]
    assert acts.shape[0] == 5 and grads.shape == acts.shape
    np.testing.assert_allclose(res.scores, adapter.predict(images), atol=1e-5)
    # independent check: the gradient w.r.t. the captured activation, times a small step, predicts the change
    layer = adapter.layer(name)
    model.eval()
    with tf.GradientTape() as tape:
        records = {}
        original = layer.forward

        def forward(*a, **k):
            out = original(*a, **k)
            records["a"] = out
            return out

        layer.forward = forward
        try:
            logits = model(tf.constant(images))
        finally:
            del layer.forward
        sel = tf.gather(logits, targets, batch_dims=1)
    np.testing.assert_allclose(tape.gradient(sel, records["a"]).numpy(), grads, atol=1e-5)
    np.testing.assert_allclose(records["a"].numpy(), acts, atol=1e-5)


def test_capture_restores_forward_after_an_exception(static_cnn, images):
    adapter = tlxp.ModelAdapter(static_cnn)
    names = adapter.layer_names()
    victim = adapter.layer(names[-1])
    before = model_state(static_cnn)
    original = type(victim).forward

    def boom(self, inputs):
        raise RuntimeError("boom inside the model")

    with temporarily_set(victim, "forward", boom.__get__(victim)):
        with pytest.raises(RuntimeError, match="boom"):
            adapter.capture(images, [names[1]])
    assert "forward" not in vars(victim) and type(victim).forward is original
    assert_same_state(before, model_state(static_cnn))
    assert adapter.predict(images).shape == (5, 4)  # still usable


def test_oom_halves_the_batch_and_warns(static_cnn, images):
    adapter = tlxp.ModelAdapter(static_cnn, batch_size=4)
    seen = []

    def fn(xb):
        seen.append(len(xb))
        if len(xb) > 2:
            raise tf.errors.ResourceExhaustedError(None, None, "injected OOM")
        return xb * 2

    with pytest.warns(RuntimeWarning, match="out of memory at batch size 4; retrying with batch size 2"):
        out = adapter.map_batches(fn, images)
    np.testing.assert_array_equal(out, images * 2)
    assert seen[0] == 4 and max(seen[1:]) <= 2


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((2, 5, 5, 1), np.float32), ValueError,
     r"inputs: expected shape \(N, 12, 12, 1\).*got shape \(2, 5, 5, 1\)"),
    (np.zeros((0, 12, 12, 1), np.float32), ValueError, "empty batch"),
    (np.full((1, 12, 12, 1), np.nan, np.float32), ValueError, "NaN/inf"),
    (np.array([["a"]]), TypeError, "numeric array"),
])
def test_bad_inputs_get_clear_errors(static_cnn, bad, error, message):
    with pytest.raises(error, match=message):
        tlxp.ModelAdapter(static_cnn).predict(bad)


def test_bad_targets_and_models(static_cnn, images):
    with pytest.raises(ValueError, match="targets: class index 9 is out of range for a model with 4 outputs"):
        tlxp.explain(static_cnn, images, "gradient", targets=9)
    with pytest.raises(ValueError, match=r"targets: expected one class index per input \(5\), got shape \(2,\)"):
        tlxp.explain(static_cnn, images, "gradient", targets=[1, 2])
    with pytest.raises(TypeError, match="targets: expected None, an int"):
        tlxp.explain(static_cnn, images, "gradient", targets=1.5)
    with pytest.raises(TypeError, match="model: expected a TensorLayer Model, a Keras model or a callable"):
        tlxp.ModelAdapter(42)
    with pytest.raises(ValueError, match="output: expected one of"):
        tlxp.ModelAdapter(static_cnn, output="logit")


def test_callable_targets_are_differentiated(static_cnn, images):
    exp = tlxp.explain(static_cnn, images, "gradient", targets=lambda s: s[:, 1] - s[:, 2], absolute=False)
    g1 = tlxp.explain(static_cnn, images, "gradient", targets=1, absolute=False).attributions
    g2 = tlxp.explain(static_cnn, images, "gradient", targets=2, absolute=False).attributions
    np.testing.assert_allclose(exp.attributions, g1 - g2, atol=1e-5)
    assert (exp.targets == -1).all()


def test_weights_fingerprint_tracks_weight_changes(rng):
    model = tiny_mlp()
    adapter = tlxp.ModelAdapter(model)
    before = adapter.weights_fingerprint()
    assert adapter.weights_fingerprint() == before
    model.all_weights[0].assign_add(tf.ones_like(model.all_weights[0]))
    assert adapter.weights_fingerprint() != before


@pytest.mark.slow
def test_weights_fingerprint_is_equal_for_equal_weights_and_sees_every_kind_of_change():
    a, b = tiny_mlp(seed=4), tiny_mlp(seed=4)
    fa, fb = tlxp.ModelAdapter(a).weights_fingerprint(), tlxp.ModelAdapter(b).weights_fingerprint()
    assert fa == fb and fa != tlxp.ModelAdapter(tiny_mlp(seed=5)).weights_fingerprint()
    keras_model = tiny_keras_cnn(seed=1)
    adapter = tlxp.ModelAdapter(keras_model)
    before = adapter.weights_fingerprint()
    w = keras_model.weights[-1]
    w.assign(np.asarray(w.numpy()) * np.float32(-1.0))  # a sign flip only
    assert adapter.weights_fingerprint() != before
    w.assign(np.asarray(w.numpy()) * np.float32(-1.0))
    assert adapter.weights_fingerprint() == before


def test_weights_fingerprint_sees_changes_to_large_weights_hashed_on_the_host():
    def build():
        tf.keras.utils.set_random_seed(3)
        return tf.keras.Sequential([tf.keras.Input((600,)), tf.keras.layers.Dense(600)])  # 1.4 MB kernel

    model = build()
    adapter = tlxp.ModelAdapter(model)
    before = adapter.weights_fingerprint()
    kernel, bias = model.weights
    assert id(kernel) not in adapter._weights_hasher[2] and id(bias) in adapter._weights_hasher[2]
    assert tlxp.ModelAdapter(build()).weights_fingerprint() == before
    value = kernel.numpy()
    value[599, 599] += 1.0
    kernel.assign(value)
    after_kernel = adapter.weights_fingerprint()
    bias.assign(bias.numpy() + 1.0)
    assert len({before, after_kernel, adapter.weights_fingerprint()}) == 3


class _HostWeight:
    """A weight TensorFlow cannot read in a graph (only ``numpy()``)."""

    def __init__(self, value):
        self.value = np.asarray(value, np.float32)

    def numpy(self):
        return self.value


class _HostWeightModel:
    def __init__(self):
        self.weights = [_HostWeight([1.0, 2.0])]

    def __call__(self, x):
        return x * 2.0


def test_weights_fingerprint_of_weights_outside_tensorflow_hashes_their_numpy_values():
    model = _HostWeightModel()
    adapter = tlxp.ModelAdapter(model, input_shape=(2,))
    before = adapter.weights_fingerprint()
    assert adapter._weights_hasher[1] is None  # the graph hasher failed once and is not tried again
    assert adapter.weights_fingerprint() == before
    model.weights[0].value[1] = 3.0
    assert adapter.weights_fingerprint() != before


@pytest.mark.slow
def test_models_built_twice_do_not_clash():
    a, b = tlxp.models.mlp(seed=1), tlxp.models.mlp(seed=1)
    assert a is not b and isinstance(b, tl.models.Model)
    tlxp.models.cnn(), tlxp.models.cnn()


def test_capture_gradients_of_the_input_layer(static_cnn, images):
    adapter = tlxp.ModelAdapter(static_cnn)
    input_name = adapter.layer_call_order()[0][0]
    res = adapter.capture(images, [input_name], targets=np.zeros(5, np.int32), gradients=True)
    np.testing.assert_allclose(res.gradients[input_name], adapter.gradients(images, np.zeros(5, np.int32)), atol=1e-6)
