"""Occlusion and RISE: a model that looks at one region, a brute-force reference, seeding, model state."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.perturbation import occlusion_windows, rise_masks

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_static_cnn

ROWS, COLS = slice(2, 5), slice(6, 9)


class RegionModel(tl.models.Model):
    """Dynamic TL model whose scores depend only on pixels [2:5, 6:9]: class 0 = their sum, class 1 = minus it."""

    def __init__(self):
        super().__init__()
        self.flat = tl.layers.Flatten()
        self.dense = tl.layers.Dense(2, in_channels=9, b_init=None)
        self.dense.W.assign(np.stack([np.ones(9), -np.ones(9)], axis=1).astype(np.float32))

    def forward(self, x):
        return self.dense(self.flat(x[:, ROWS, COLS, :]))


@pytest.fixture(scope="module")
def region_model():
    return RegionModel()


def _outside_reach(window):
    """Pixels no window touching the region can cover (their attribution must be exactly 0)."""
    far = np.ones((12, 12), bool)
    rows = slice(max(0, ROWS.start - window + 1), ROWS.stop + window - 1)
    cols = slice(max(0, COLS.start - window + 1), COLS.stop + window - 1)
    far[rows, cols] = False
    return far


def test_occlusion_highlights_the_region(region_model, images):
    exp = tlxp.explain(region_model, images, "occlusion", targets=0, window=2, stride=1)
    heat = exp.heatmap()
    inside = np.zeros((12, 12), bool)
    inside[ROWS, COLS] = True
    for h, _img in zip(heat, images[..., 0]):
        assert inside[np.unravel_index(np.argmax(h), h.shape)]
        assert (h[inside] > 0).all()
        np.testing.assert_array_equal(h[_outside_reach(2)], 0)
        # with window 2, stride 1: each region pixel's windows remove it once each (4 windows) and some neighbours
        assert h[inside].sum() > 0.5 * np.abs(h).sum()
    flipped = tlxp.explain(region_model, images, "occlusion", targets=1, window=2, stride=1).heatmap()
    np.testing.assert_allclose(flipped, -heat, atol=1e-6)


def test_occlusion_equals_brute_force(static_cnn, images):
    window, stride, value = 5, 3, 0.25
    exp = tlxp.explain(static_cnn, images[:2], "occlusion", targets=[1, 2], window=window, stride=stride,
                      baseline_value=value, batch_size=5)
    adapter = tlxp.as_adapter(static_cnn)
    expected = np.zeros((2, 12, 12))
    counts = np.zeros((12, 12))
    starts = [0, 3, 6, 7]  # 12 - 5 = 7 is appended so the border is covered
    base = adapter.predict(images[:2])[[0, 1], [1, 2]]
    for r in starts:
        for c in starts:
            x = images[:2].copy()
            x[:, r:r + window, c:c + window, :] = value
            drop = base - adapter.predict(x)[[0, 1], [1, 2]]
            expected[:, r:r + window, c:c + window] += drop[:, None, None]
            counts[r:r + window, c:c + window] += 1
    np.testing.assert_allclose(exp.heatmap(), expected / counts, rtol=1e-4, atol=1e-6)
    assert exp.meta["n_windows"] == 16


def test_occlusion_windows_cover_everything():
    for size, window, stride in [(12, 5, 3), (28, 4, 4), (7, 7, 1), (9, 2, 2), (10, 3, 1)]:
        rows, cols = occlusion_windows((size, size), (window, window), (stride, stride))
        cover = (rows[:, :, None] & cols[:, None, :]).sum(axis=0)
        assert (cover > 0).all()
        assert (rows.sum(axis=1) == window).all()


def test_occlusion_errors(static_cnn, images):
    with pytest.raises(ValueError, match="window"):
        tlxp.explain(static_cnn, images, "occlusion", window=13)
    with pytest.raises(TypeError, match="stride"):
        tlxp.explain(static_cnn, images, "occlusion", stride=(1, 2, 3))
    with pytest.raises(ValueError, match="stride.*window"):
        tlxp.explain(static_cnn, images, "occlusion", window=2, stride=3)
    with pytest.raises(ValueError, match="baseline_value"):
        tlxp.explain(static_cnn, images, "occlusion", baseline_value=float("nan"))


def test_rise_highlights_the_region(region_model, images):
    exp = tlxp.explain(region_model, images, "rise", targets=0, n_masks=600, mask_size=4, seed=0,
                      use_probabilities=False)
    heat = exp.heatmap()
    inside = np.zeros((12, 12), bool)
    inside[ROWS, COLS] = True
    far = _outside_reach(4)
    for h in heat:
        # RISE maps carry a constant offset E[f]; the region must still stand out from every far pixel
        assert h[inside].min() > h[far].max()


def test_rise_seeded(static_cnn, images):
    a = tlxp.explain(static_cnn, images, "rise", n_masks=64, seed=5)
    b = tlxp.explain(static_cnn, images, "rise", n_masks=64, seed=5)
    c = tlxp.explain(static_cnn, images, "rise", n_masks=64, seed=6)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.allclose(a.attributions, c.attributions)
    d = tlxp.explain(static_cnn, images, "rise", n_masks=64, seed=5, batch_size=7)
    np.testing.assert_allclose(a.attributions, d.attributions, rtol=1e-5)


def test_rise_masks():
    masks = rise_masks(1, np.arange(400), (12, 12), 4, 0.3)
    assert masks.shape == (400, 12, 12)
    assert masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.3) < 0.05
    np.testing.assert_array_equal(rise_masks(1, np.array([7, 3]), (12, 12), 4, 0.3), masks[[7, 3]])


def test_rise_errors(static_cnn, images):
    with pytest.raises(ValueError, match="p_keep"):
        tlxp.explain(static_cnn, images, "rise", p_keep=0.0)
    with pytest.raises(ValueError, match="n_masks"):
        tlxp.explain(static_cnn, images, "rise", n_masks=0)
    with pytest.raises(ValueError, match="mask_size"):
        tlxp.explain(static_cnn, images, "rise", mask_size=20)


@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
def test_model_state_unchanged_even_after_errors(builder, images):
    model = builder(seed=8)
    before = model_state(model)

    def boom(scores):
        raise RuntimeError("boom")

    for method, params in [("occlusion", {}), ("rise", {"n_masks": 16})]:
        tlxp.explain(model, images, method, **params)
        assert_same_state(before, model_state(model))
        with pytest.raises(RuntimeError, match="boom"):
            tlxp.explain(model, images, method, targets=boom, **params)
        assert_same_state(before, model_state(model))


def test_perturbation_compiled_once(static_cnn, images):
    adapter = tlxp.as_adapter(static_cnn)
    tlxp.explain(static_cnn, images, "occlusion")
    tlxp.explain(static_cnn, images, "rise", n_masks=32)
    traces = adapter.trace_count
    t = np.zeros(3, np.int32)
    tlxp.get_method("occlusion")(adapter, images[:3], t, window=3, stride=1, batch_size=9)
    tlxp.get_method("rise")(adapter, images[:3], t, n_masks=40, mask_size=3, batch_size=13)
    assert adapter.trace_count == traces


def test_works_on_a_plain_callable(images):
    """A black-box callable (no layers): perturbation methods need only forward calls."""
    def model(x):
        region = tf.reduce_sum(x[:, ROWS, COLS, 0], axis=(1, 2))
        return tf.stack([region, -region], axis=1)

    heat = tlxp.explain(model, images, "occlusion", targets=0, window=2, stride=1).heatmap()
    inside = np.zeros((12, 12), bool)
    inside[ROWS, COLS] = True
    assert inside[np.unravel_index(np.argmax(heat[0]), (12, 12))]
