"""Methods against their references on a trained MNIST CNN and the tutorial MLP.

RISE per-pixel normalization (seed-to-seed and against an independent RISE written
here), Score-CAM against the paper's recipe, LIME independent of batch position,
expected gradients against ``shap.GradientExplainer``, and the MLP ``attention`` map
depending on the model.
"""
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp

from conftest import tiny_mlp

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

def _pearson(a, b):
    """Per-row Pearson correlation of two (N, ...) arrays."""
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    return np.array([np.corrcoef(p, q)[0, 1] for p, q in zip(a, b)])


@pytest.fixture(scope="module")
def mnist():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shipped sample warns when the full set is missing
        X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))
    return X_train[:3000], y_train[:3000], X_test[:8], y_test[:8]


@pytest.fixture(scope="module")
def cnn(mnist):
    """The reference CNN after 3 quick epochs on 3,000 digits (~85-90% test accuracy, a few seconds)."""
    X, y, _, _ = mnist
    model = tlxp.models.cnn(seed=0)
    tlxp.models.train(model, X, y, epochs=3, learning_rate=3e-3, seed=0, progress=False)
    return model


# ----------------------------------------------------------------------------- RISE
def _independent_rise(model, x, target, n_masks, seed, cells=7, p_keep=0.5):
    """RISE written from the paper, with its own masks, normalized by each pixel's mask sum."""
    rng = np.random.default_rng(seed + 1000)
    cell = int(np.ceil(28 / cells))
    grids = (rng.random((n_masks, cells, cells, 1)) < p_keep).astype(np.float32)
    big = tf.image.resize(grids, ((cells + 1) * cell, (cells + 1) * cell)).numpy()[..., 0]
    dx, dy = rng.integers(0, cell, n_masks), rng.integers(0, cell, n_masks)
    masks = np.stack([b[i:i + 28, j:j + 28] for b, i, j in zip(big, dx, dy)])
    model.eval()
    probs = np.concatenate([tf.nn.softmax(model(x[None] * masks[k:k + 500, :, :, None])).numpy()[:, target]
                            for k in range(0, n_masks, 500)])
    return np.tensordot(probs, masks, axes=1) / masks.sum(axis=0)


@pytest.mark.slow
def test_rise_is_stable_from_seed_to_seed_and_matches_an_independent_rise(cnn, mnist):
    _, _, x, _ = mnist
    x = x[:4]
    a = tlxp.explain(cnn, x, "rise", n_masks=2000, seed=0)
    b = tlxp.explain(cnn, x, "rise", n_masks=2000, seed=1)
    assert a.meta["normalization"] == "coverage" and a.meta["uncovered_pixels"] == 0
    assert _pearson(a.heatmap(), b.heatmap()).min() >= 0.95
    reference = np.stack([_independent_rise(cnn, xi, t, 2000, seed=i) for i, (xi, t) in enumerate(zip(x, a.targets))])
    assert _pearson(a.heatmap(), reference).min() >= 0.95


def test_rise_paper_normalization_is_the_mask_sum_over_n_p(cnn, mnist):
    _, _, x, _ = mnist
    kw = dict(n_masks=300, seed=3, p_keep=0.4)
    coverage = tlxp.explain(cnn, x[:2], "rise", **kw)
    paper = tlxp.explain(cnn, x[:2], "rise", normalization="paper", **kw)
    masks = tlxp.methods.perturbation.rise_masks(3, np.arange(300), (28, 28), 7, 0.4).astype(np.float64)
    # the two differ exactly by the ratio of each pixel's coverage to n * p
    np.testing.assert_allclose(paper.heatmap(), coverage.heatmap() * masks.sum(0) / (300 * 0.4), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="normalization"):
        tlxp.explain(cnn, x[:1], "rise", normalization="mean")


# ----------------------------------------------------------------------------- Score-CAM
def test_scorecam_equals_the_paper_recipe(cnn, mnist):
    _, _, x, _ = mnist
    x = x[:3]
    exp = tlxp.explain(cnn, x, "scorecam")
    name = exp.meta["layer_name"]
    acts = tlxp.as_adapter(cnn).capture(x, [name]).outputs[name]  # (N, 7, 7, C)
    cnn.eval()
    expected = []
    for n in range(len(x)):
        up = tf.image.resize(acts[n][None], (28, 28)).numpy()[0]  # (28, 28, C)
        low, high = up.min(axis=(0, 1)), up.max(axis=(0, 1))
        masks = np.where(high > low, (up - low) / np.where(high > low, high - low, 1), 0.0)
        masked = x[n][None] * np.moveaxis(masks, -1, 0)[..., None]  # one masked input per channel
        weights = tf.nn.softmax(cnn(masked.astype(np.float32))).numpy()[:, exp.targets[n]]
        cam = np.maximum(np.einsum("hwc,c->hw", acts[n], weights), 0)  # raw activations, the paper's L^c
        expected.append(tf.image.resize(cam[None, :, :, None].astype(np.float32), (28, 28)).numpy()[0, :, :, 0])
    expected = np.stack(expected)
    scale = expected.max()
    np.testing.assert_allclose(exp.heatmap() / scale, expected / scale, rtol=0, atol=1e-5)
    masks_variant = tlxp.explain(cnn, x, "scorecam", combine="masks")
    assert masks_variant.meta["combine"] == "masks"
    assert not np.allclose(masks_variant.heatmap() / masks_variant.heatmap().max(), expected / scale, atol=1e-2)


# ----------------------------------------------------------------------------- LIME
def test_lime_of_a_digit_alone_equals_the_same_digit_in_a_batch(cnn, mnist):
    _, _, x, _ = mnist
    kw = dict(num_samples=200, seed=4, segmentation="grid", n_segments=16)
    batch = tlxp.explain(cnn, x[:4], "lime", **kw)
    alone = tlxp.explain(cnn, x[2:3], "lime", **kw)
    np.testing.assert_array_equal(alone.attributions[0], batch.attributions[2])
    mlp = tiny_mlp(seed=1, n_in=16, n_classes=3)
    rows = np.random.default_rng(0).random((6, 16), dtype=np.float32)
    tab = dict(training_data=rows, num_samples=300, num_features=5, seed=4, targets=[0, 1, 2, 0])
    within = tlxp.explain(mlp, rows[:4], "lime_tabular", **tab)
    tab["targets"] = [2]
    first = tlxp.explain(mlp, rows[2:3], "lime_tabular", **tab)
    np.testing.assert_array_equal(first.attributions[0], within.attributions[2])


# ----------------------------------------------------------------------------- expected gradients
@pytest.mark.parametrize("local_smoothing", [0.0, 0.1])
@pytest.mark.slow
def test_expected_gradients_equal_shap_gradient_explainer_on_the_trained_cnn(cnn, mnist, local_smoothing):
    X, _, x, _ = mnist
    kw = dict(background=X[-50:], n_samples=50, seed=2, local_smoothing=local_smoothing)
    ours = tlxp.explain(cnn, x[:4], "shap", **kw)
    theirs = tlxp.explain(cnn, x[:4], "shap", implementation="shap", **kw)
    np.testing.assert_allclose(ours.attributions, theirs.attributions, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- attention on an MLP
@pytest.mark.slow
def test_mlp_attention_depends_on_the_model(mnist):
    X, y, x, _ = mnist
    flat = x.reshape(len(x), 784)
    maps = []
    for seed in (0, 1):
        exp = tlxp.explain(tlxp.models.mlp(seed=seed), flat, "attention")
        assert exp.meta["attention_kind"] == "dense_units" and exp.meta["class_agnostic"] is False
        maps.append(exp.attributions)
    assert _pearson(*maps).mean() < 0.9  # the old |x|^2-like map gave 0.998
    model = tlxp.models.mlp(seed=2)
    tlxp.models.train(model, X.reshape(len(X), 784), y, epochs=1, seed=0, progress=False)
    result = tlxp.metrics.randomization_sanity_check(model, flat[:4], "attention")
    assert result.passed, result.correlations
    predicted = tlxp.explain(model, flat[:4], "attention")
    other_class = tlxp.explain(model, flat[:4], "attention", targets=(predicted.targets + 1) % 10)
    assert _pearson(predicted.attributions, other_class.attributions).mean() < 0.9
