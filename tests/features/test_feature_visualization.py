"""Feature visualization on tiny models: the compiled loop raises its objectives, batched equals one by one,
the model is left unchanged (each run traces a loop: about a minute in all on two cores)."""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import objectives as O
from tensorlayer_xplain.features import objective_values

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_keras_cnn, tiny_mlp, tiny_static_cnn

pytestmark = pytest.mark.slow


def _live_channels(model, layer, x, count):
    """Channels of ``layer`` that some input activates (a ReLU channel dead on every input cannot be raised)."""
    acts = tlxp.ModelAdapter(model).capture(x, [layer]).outputs[layer]
    peak = acts.reshape(-1, acts.shape[-1]).max(axis=0)
    return [int(c) for c in np.argsort(-peak)[:count] if peak[c] > 0]


def _test_inputs(shape, n=64):
    """Uniform noise images and a mid-gray image."""
    rng = np.random.default_rng(1)
    return np.concatenate([rng.random((n,) + shape, dtype=np.float32), np.full((1,) + shape, 0.5, np.float32)])


def test_optimised_images_beat_every_test_input(static_cnn_layers):
    model, (conv1, conv2), dense = static_cnn_layers
    x = _test_inputs((12, 12, 1))
    channels = _live_channels(model, conv2, x, 3)
    objs = [O.channel(conv2, c) for c in channels] + [O.class_logit(1), O.neuron(dense, 2), O.layer(conv1)]
    res = tlxp.feature_visualization(model, objs, steps=96, learning_rate=0.2, parameterization="pixels",
                                     transforms=None)
    on_inputs = objective_values(model, objs, x)
    assert res.images.shape == (len(objs), 12, 12, 1) and res.trace.shape == (len(objs), 96)
    assert res.images.min() >= 0.0 and res.images.max() <= 1.0
    best = on_inputs.max(axis=1)
    assert (best > 0).all() and (res.values > 1.5 * best).all(), (res.values, best)
    # the final values equal the model's response to the returned images
    np.testing.assert_allclose(np.diag(objective_values(model, objs, res.images)[:, :]), res.values, rtol=1e-4,
                               atol=1e-6)
    # the trace rises
    assert (res.trace[:, -8:].mean(axis=1) > res.trace[:, :8].mean(axis=1)).all()


@pytest.mark.parametrize("param", ["pixels", "fourier", "maco"])
def test_each_parameterization_raises_a_channel(static_cnn_layers, param):
    model, (_, conv2), _ = static_cnn_layers
    x = _test_inputs((12, 12, 1))
    c = _live_channels(model, conv2, x, 1)[0]
    res = tlxp.feature_visualization(model, O.channel(conv2, c), steps=96, parameterization=param,
                                     learning_rate=0.2)  # with the standard transforms
    on_inputs = objective_values(model, O.channel(conv2, c), x)
    assert res.trace[0, -8:].mean() > 1.2 * res.trace[0, :8].mean()
    if param == "maco":
        # the fixed 1/f magnitude caps the contrast: MaCo beats the gray image, not the best of 64 noise
        # images (white spectra it cannot produce)
        assert res.values[0] > 1.2 * on_inputs[-1]
    else:
        assert res.values[0] > 1.2 * on_inputs.max()


def test_batched_objectives_equal_one_by_one_runs(static_cnn_layers):
    model, (_, conv2), _ = static_cnn_layers
    objs = [O.channel(conv2, c) for c in range(3)]
    batched = tlxp.feature_visualization(model, objs, steps=24, seed=5)
    for i, obj in enumerate(objs):
        alone = tlxp.feature_visualization(model, obj, steps=24, seed=5)
        np.testing.assert_allclose(batched.images[i], alone.images[0], atol=1e-5)
        np.testing.assert_allclose(batched.trace[i], alone.trace[0], rtol=1e-4, atol=1e-6)
    # a batch split into pieces of one objective gives the same images too
    split = tlxp.feature_visualization(model, objs, steps=24, seed=5, batch_size=1)
    np.testing.assert_allclose(split.images, batched.images, atol=1e-5)


def test_seeded_and_deterministic(static_cnn_layers):
    model, (_, conv2), _ = static_cnn_layers
    a = tlxp.feature_visualization(model, O.channel(conv2, 0), steps=16, seed=1)
    b = tlxp.feature_visualization(model, O.channel(conv2, 0), steps=16, seed=1)
    c = tlxp.feature_visualization(model, O.channel(conv2, 0), steps=16, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    assert np.abs(a.images - c.images).max() > 1e-4


def test_one_trace_for_a_list_and_for_repeated_calls(static_cnn_layers):
    model, (_, conv2), _ = static_cnn_layers
    adapter = tlxp.as_adapter(model)
    tlxp.feature_visualization(model, [O.channel(conv2, c) for c in range(2)], steps=4)
    before = adapter.trace_count
    res = tlxp.feature_visualization(model, [O.channel(conv2, c) for c in range(6)], steps=9, seed=3,
                                     learning_rate=0.2, batch_size=2)
    assert adapter.trace_count == before and res.timings["traces"] == 0


def test_diversity_pushes_an_objectives_images_apart(static_cnn_layers):
    model, (_, conv2), _ = static_cnn_layers
    kw = dict(steps=48, images_per_objective=3, parameterization="pixels", transforms=None, learning_rate=0.1)
    plain = tlxp.feature_visualization(model, O.channel(conv2, 0), **kw)
    diverse = tlxp.feature_visualization(model, O.channel(conv2, 0) - 1e3 * O.diversity(conv2), **kw)
    assert plain.images.shape == (3, 12, 12, 1) and list(plain.objective_index) == [0, 0, 0]

    def gram_similarity(images):
        """Per image, the mean cosine similarity of its Gram matrix with the other two's."""
        acts = tlxp.ModelAdapter(model).capture(images, [conv2]).outputs[conv2].reshape(3, -1, 6)
        grams = np.einsum("bpi,bpj->bij", acts, acts).reshape(3, -1)
        grams /= np.linalg.norm(grams, axis=1, keepdims=True)
        return np.array([np.mean([grams[i] @ grams[j] for j in range(3) if j != i]) for i in range(3)])

    assert gram_similarity(diverse.images).mean() < gram_similarity(plain.images).mean() - 0.01
    # the final values are the channel's mean minus 1000 times that similarity
    channel_values = objective_values(model, O.channel(conv2, 0), diverse.images)
    np.testing.assert_allclose(diverse.values, channel_values - 1e3 * gram_similarity(diverse.images), rtol=1e-4)


@pytest.mark.parametrize("build", [tiny_static_cnn, tiny_dynamic_cnn, tiny_keras_cnn])
def test_model_unchanged_afterwards(build):
    model = build(seed=0)
    adapter = tlxp.ModelAdapter(model, input_shape=(12, 12, 1))
    conv = [n for n, s in adapter.layer_call_order() if len(s) == 3 and "conv" in n][-1]
    if hasattr(model, "all_weights"):
        model.train()
        before = model_state(model)
    else:
        before = [w.numpy().copy() for w in model.weights]
    res = tlxp.feature_visualization(model, [O.channel(conv, 0), O.class_logit(1)], steps=8,
                                     image_shape=(12, 12, 1))
    assert res.images.shape == (2, 12, 12, 1)
    with pytest.raises(KeyError):
        tlxp.feature_visualization(model, O.channel("no_such_layer", 0), steps=2, image_shape=(12, 12, 1))
    if hasattr(model, "all_weights"):
        assert_same_state(before, model_state(model))
        assert model.is_train
    else:
        for a, b in zip(before, model.weights):
            np.testing.assert_array_equal(a, b.numpy())


def test_flat_mlp_is_drawn_as_an_image_and_a_callable_takes_class_objectives():
    mlp = tiny_mlp(seed=0)  # 64 inputs: 8x8 gray images
    res = tlxp.feature_visualization(mlp, O.class_logit(2), steps=8, parameterization="pixels")
    assert res.images.shape == (1, 8, 8, 1)
    mlp.eval()  # a plain function is called as it is: the model inside must be in eval mode already
    fn = lambda x: mlp(tf.reshape(x, (-1, 64)))  # noqa: E731
    res = tlxp.feature_visualization(fn, O.class_logit(2), steps=8, image_shape=(8, 8, 1))
    assert res.images.shape == (1, 8, 8, 1)
    with pytest.raises(TypeError, match="plain function"):
        tlxp.feature_visualization(fn, O.layer("dense_1"), steps=2, image_shape=(8, 8, 1))


def test_value_range_maps_images():
    model = tiny_static_cnn(seed=1)
    res = tlxp.feature_visualization(model, O.class_logit(0), steps=4, value_range=(-1.0, 1.0))
    assert res.images.min() >= -1.0 and res.images.max() <= 1.0 and res.images.min() < 0.0


def test_regularizers_smooth_the_images(static_cnn_layers):
    model, (_, conv2), _ = static_cnn_layers
    kw = dict(steps=48, parameterization="pixels", transforms=None, learning_rate=0.1)
    rough = tlxp.feature_visualization(model, O.channel(conv2, 0), **kw).images
    smooth = tlxp.feature_visualization(model, O.channel(conv2, 0), regularizers={"tv": 5.0}, **kw).images

    def tv(im):
        return np.abs(np.diff(im, axis=1)).mean() + np.abs(np.diff(im, axis=2)).mean()

    assert tv(smooth) < tv(rough)


@pytest.mark.parametrize("param", ["fourier", "maco"])
def test_rgb_model_gets_rgb_images(param):
    model = tiny_static_cnn(seed=2, size=16, channels=3)
    res = tlxp.feature_visualization(model, O.class_logit(1), steps=32, parameterization=param, learning_rate=0.1)
    assert res.images.shape == (1, 16, 16, 3)
    assert res.trace[0, -4:].mean() > res.trace[0, :4].mean()
    assert res.images[0].reshape(-1, 3).std(axis=0).min() > 0.001  # each colour channel moves
