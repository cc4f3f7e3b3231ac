"""LIME (images and flat features): same as lime_image, batched model calls, seeds, locality, errors."""
import numpy as np
import pytest
import tensorflow as tf
from lime import lime_image

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods._engine.segmentation import grid_segments, segment_image

from conftest import assert_same_state, model_state, tiny_mlp, tiny_static_cnn


class CountingModel:
    """A callable model that records the batch size of every call."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = []

    def __call__(self, x):
        self.calls.append(int(x.shape[0]))
        return self.fn(x)


def left_half_model(x):
    """Class 0 score = mean of the left half of the image, class 1 = minus it: blind to the right half."""
    left = tf.reduce_mean(x[:, :, :6, :], axis=(1, 2, 3))
    return tf.stack([left, -left, 0.0 * left], axis=1)


@pytest.fixture(scope="module")
def cnn():
    return tiny_static_cnn(seed=3)


@pytest.fixture
def digits(rng):
    """Stroke-like gray images: a bright bar on a dark background, plus noise."""
    x = 0.1 * rng.random((3, 12, 12, 1), dtype=np.float32)
    x[:, 2:10, 4:7, 0] += 0.9
    return x


def test_lime_equals_lime_image_with_same_random_state(cnn, digits):
    """Our batched neighbourhood reproduces lime_image's own (same draws, same images, same weights)."""
    adapter = tlxp.as_adapter(cnn)
    exp = tlxp.explain(cnn, digits[:1], "lime", num_samples=150, seed=7, segmentation="grid", n_segments=16,
                      hide_color=0.0)
    segments = grid_segments(12, 12, 16)
    reference = lime_image.LimeImageExplainer(random_state=7).explain_instance(
        np.repeat(digits[0], 3, axis=-1).astype(np.float64), lambda imgs: adapter.predict(imgs[..., :1]),
        labels=(int(exp.targets[0]),), hide_color=0.0, top_labels=None, num_features=16, num_samples=150,
        segmentation_fn=lambda _: segments, random_seed=7)
    expected = np.zeros(16)
    for feature, weight in reference.local_exp[int(exp.targets[0])]:
        expected[feature] = weight
    np.testing.assert_allclose(exp.heatmap()[0], expected[segments], rtol=1e-6, atol=1e-9)
    assert isinstance(exp.meta["lime_explanations"][0], lime_image.ImageExplanation)


def test_lime_same_seed_same_result_other_seed_differs(cnn, digits):
    a = tlxp.explain(cnn, digits, "lime", num_samples=100, seed=1)
    b = tlxp.explain(cnn, digits, "lime", num_samples=100, seed=1)
    c = tlxp.explain(cnn, digits, "lime", num_samples=100, seed=2)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.allclose(a.attributions, c.attributions)


def test_lime_top_segments_lie_where_the_model_looks(rng):
    """A model blind to the right half: LIME's strongest superpixels are all in the left half."""
    x = rng.random((2, 12, 12, 1), dtype=np.float32) + 0.5
    exp = tlxp.explain(left_half_model, x, "lime", targets=0, num_samples=300, segmentation="grid", n_segments=16,
                      seed=0)
    heat = exp.heatmap()
    for i in range(len(x)):
        segments = exp.meta["segments"][i]
        weights = np.array([heat[i][segments == s][0] for s in range(segments.max() + 1)])
        top = np.argsort(-np.abs(weights))[:4]
        for s in top:
            assert np.all(np.nonzero(segments == s)[1] < 6), "a top superpixel lies in the right half"
        assert weights[top].min() > 0  # brighter left half = higher class-0 score
        right = [s for s in range(len(weights)) if np.all(np.nonzero(segments == s)[1] >= 6)]
        assert np.abs(weights[right]).max() < 0.1 * np.abs(weights[top]).min()


def test_lime_calls_the_model_in_batches_of_batch_size(rng):
    model = CountingModel(left_half_model)
    x = rng.random((2, 12, 12, 1), dtype=np.float32)
    adapter = tlxp.ModelAdapter(model)
    adapter.predict(x)  # learn the input shape
    model.calls.clear()
    tlxp.explain(adapter, x, "lime", num_samples=100, batch_size=32, segmentation="grid", seed=0)
    assert model.calls[0] == 2  # the runner's prediction of the inputs
    assert model.calls[1:] == [32, 32, 32, 4] * 2  # 100 samples per image, 32 at a time


def test_lime_on_flat_mlp_uses_the_image_shape(rng):
    mlp = tiny_mlp(seed=1)  # 64 flat inputs, drawn as 8x8
    x = rng.random((2, 64), dtype=np.float32)
    exp = tlxp.ModelExplainer(mlp).explain(x, method="lime", num_samples=80, n_segments=8)
    assert exp.shape == (2, 64)
    assert exp.meta["segments"].shape == (2, 8, 8)
    assert np.abs(exp.attributions).max() > 0


def test_lime_rgb_model(rng):
    model = tiny_static_cnn(seed=4, channels=3)
    x = rng.random((1, 12, 12, 3), dtype=np.float32)
    exp = tlxp.explain(model, x, "lime", num_samples=60, hide_color=(0.0, 0.5, 1.0))
    assert exp.shape == (1, 12, 12, 3)
    # one weight per pixel, shared by the three channels
    np.testing.assert_array_equal(exp.attributions[..., 0], exp.attributions[..., 2])


def test_positive_only_and_num_features(cnn, digits):
    exp = tlxp.explain(cnn, digits[:2], "lime", num_samples=100, positive_only=True)
    assert exp.attributions.min() >= 0 and exp.meta["signed"] is False
    exp = tlxp.explain(cnn, digits[:2], "lime", num_samples=100, num_features=3)
    for i in range(2):
        assert len(np.unique(exp.heatmap()[i][exp.heatmap()[i] != 0])) <= 3


def test_raw_lime_explanation_is_kept_and_usable(cnn, digits):
    exp = tlxp.explain(cnn, digits[:1], "lime", num_samples=60)
    raw = exp.meta["lime_explanations"][0]
    image, mask = raw.get_image_and_mask(int(exp.targets[0]), positive_only=False, num_features=3)
    assert image.shape == (12, 12, 3) and mask.shape == (12, 12)
    assert exp.meta["segments"].shape == (1, 12, 12)


def test_lime_leaves_the_model_unchanged(cnn, digits):
    before = model_state(cnn)
    tlxp.explain(cnn, digits[:1], "lime", num_samples=40)
    assert_same_state(before, model_state(cnn))


def test_gray_rgb_mismatch_errors(cnn, digits, rng):
    with pytest.raises(ValueError, match="hide_color"):
        tlxp.explain(cnn, digits[:1], "lime", hide_color=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="inputs"):
        tlxp.explain(cnn, rng.random((1, 12, 12, 3), dtype=np.float32), "lime")
    two_channel = tlxp.ModelAdapter(lambda x: tf.reduce_sum(x, axis=(1, 2)), input_shape=(6, 6, 2))
    with pytest.raises(ValueError, match="1 channel.*3 channels"):
        tlxp.explain(two_channel, np.ones((1, 6, 6, 2), np.float32), "lime")
    with pytest.raises(ValueError, match="segmentation"):
        tlxp.explain(cnn, digits[:1], "lime", segmentation=np.zeros((5, 5), int))


def test_segmentations_work_on_small_gray_images(digits):
    for name in ("slic", "grid", "quickshift", "felzenszwalb"):
        seg = segment_image(digits[0], name, n_segments=10)
        assert seg.shape == (12, 12) and seg.min() == 0
        np.testing.assert_array_equal(np.unique(seg), np.arange(seg.max() + 1))
    with pytest.raises(ValueError, match="segmentation"):
        segment_image(digits[0], "watershed")


# ----------------------------------------------------------------------------- tabular
def linear_model(x):
    """Class 0 = 3 * f0 - f1; class 1 = f2; features 3.. ignored."""
    return tf.stack([3.0 * x[:, 0] - x[:, 1], x[:, 2]], axis=1)


def test_lime_tabular_finds_the_features_the_model_uses(rng):
    train = rng.normal(size=(300, 6)).astype(np.float32)
    x = np.array([[2.0, -2.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    names = ["a", "b", "c", "d", "e", "f"]
    exp = tlxp.explain(linear_model, x, "lime_tabular", targets=0, training_data=train, feature_names=names,
                      class_names=["up", "side"], num_features=3, num_samples=800, seed=0)
    weights = exp.attributions[0]
    assert set(np.argsort(-np.abs(weights))[:2]) == {0, 1}
    assert weights[0] > 0 and weights[1] > 0  # high f0 and low f1 both push class 0 up
    assert np.count_nonzero(weights) <= 3
    assert exp.meta["feature_names"] == names
    again = tlxp.explain(linear_model, x, "lime_tabular", targets=0, training_data=train, num_samples=800, seed=0)
    np.testing.assert_array_equal(again.attributions, tlxp.explain(
        linear_model, x, "lime_tabular", targets=0, training_data=train, num_samples=800, seed=0).attributions)


def test_lime_tabular_batches_and_errors(rng):
    model = CountingModel(linear_model)
    adapter = tlxp.ModelAdapter(model, input_shape=(6,))
    train = rng.normal(size=(50, 6)).astype(np.float32)
    x = rng.normal(size=(1, 6)).astype(np.float32)
    tlxp.explain(adapter, x, "lime_tabular", training_data=train, num_samples=100, batch_size=40)
    assert model.calls[1:] == [40, 40, 20]
    with pytest.raises(ValueError, match="training_data.*needs the training set"):
        tlxp.explain(adapter, x, "lime_tabular")
    with pytest.raises(ValueError, match="feature_names: expected 6 names"):
        tlxp.explain(adapter, x, "lime_tabular", training_data=train, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="class_names: expected 2 names"):
        tlxp.explain(adapter, x, "lime_tabular", training_data=train, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="training_data"):
        tlxp.explain(adapter, x, "lime_tabular", training_data=np.ones((5, 4), np.float32))
