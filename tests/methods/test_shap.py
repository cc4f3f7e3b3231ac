"""SHAP: additivity (kernel, partition, deep), expected gradients = shap.GradientExplainer, seeds, batching, errors."""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_mlp, tiny_static_cnn


class CountingModel:
    def __init__(self, fn):
        self.fn = fn
        self.calls = []

    def __call__(self, x):
        self.calls.append(int(x.shape[0]))
        return self.fn(x)


@pytest.fixture(scope="module")
def cnn():
    return tiny_static_cnn(seed=5)


@pytest.fixture(scope="module")
def mlp():
    return tiny_mlp(seed=2, n_in=16, n_classes=3)  # 16 features, drawn as 4x4


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return {"x": rng.random((3, 12, 12, 1), dtype=np.float32), "bg": rng.random((16, 12, 12, 1), dtype=np.float32),
            "flat": rng.random((3, 16), dtype=np.float32), "flat_bg": rng.random((8, 16), dtype=np.float32)}


def assert_additive(exp, rel=1e-3):
    """sum(attributions) + expected value == f(x) for the explained class, within rel of the output scale."""
    total = exp.attributions.reshape(len(exp), -1).sum(1).astype(np.float64)
    out = exp.predictions[np.arange(len(exp)), exp.targets]
    np.testing.assert_allclose(exp.meta["model_output"], out, rtol=1e-5, atol=1e-7)
    scale = max(np.abs(out).max(), np.abs(exp.meta["expected_value"]).max())
    np.testing.assert_allclose(total + exp.meta["expected_value"], out, rtol=0, atol=rel * scale)


# ----------------------------------------------------------------------------- additivity
def test_kernel_is_additive_over_features_and_superpixels(mlp, cnn, data):
    exp = tlxp.explain(mlp, data["flat"], "shap_kernel", background=data["flat_bg"], granularity="feature",
                      nsamples=200)
    assert_additive(exp)
    assert exp.meta["granularity"] == "feature"
    np.testing.assert_allclose(exp.meta["expected_value"],
                               tlxp.as_adapter(mlp).predict(data["flat_bg"]).mean(0)[exp.targets], rtol=1e-5)
    exp = tlxp.explain(cnn, data["x"][:2], "shap_kernel", background=data["bg"][:4], n_segments=(4, 9), nsamples=100)
    assert exp.meta["granularity"] == "superpixel"  # 'auto' on images
    assert_additive(exp)
    for i in range(2):  # raw values: each scale is additive on its own, one value per superpixel
        for seg, phi in zip(exp.meta["segments"][i], exp.meta["segment_values"][i]):
            assert phi.shape == (seg.max() + 1,)
            assert abs(phi.sum() + exp.meta["expected_value"][i] - exp.meta["model_output"][i]) < 1e-6


@pytest.mark.slow
def test_partition_is_additive_pixels_superpixels_and_inpaint(cnn, data):
    x = data["x"][:2]
    for params in ({"max_evals": 200}, {"max_evals": 100, "masker": "inpaint_telea"},
                   {"granularity": "superpixel", "n_segments": (1, 9), "masker": 0.0}):
        exp = tlxp.explain(cnn, x, "shap_partition", **params)
        assert_additive(exp)
    assert len(exp.meta["shap_explanations"]) == 2


def test_deep_is_additive_on_static_and_dynamic_tl_models(data):
    for model in (tiny_static_cnn(seed=6), tiny_dynamic_cnn(seed=6)):
        exp = tlxp.explain(model, data["x"][:2], "shap_deep", background=data["bg"][:8])
        assert_additive(exp, rel=1e-4)


def gelu_model(x):
    """Uses erf (GELU): an op shap.DeepExplainer has no DeepLIFT rule for."""
    h = tf.reshape(x, (-1, 144))
    h = tf.nn.gelu(h[:, :8] - 0.5, approximate=False)
    return tf.stack([tf.reduce_sum(h, axis=1), -tf.reduce_sum(h, axis=1)], axis=1)


def test_deep_refuses_unsupported_ops_and_never_poisons_tensorflow(data, monkeypatch):
    adapter = tlxp.ModelAdapter(gelu_model, input_shape=(12, 12, 1))
    with pytest.raises(ValueError, match="no DeepLIFT rule for the op.*Erf"):
        tlxp.explain(adapter, data["x"][:1], "shap_deep", background=data["bg"][:4])
    # a failure inside shap (which patches TF's gradient recording) is undone
    import shap
    from tensorflow.python.eager import execute

    original = execute.record_gradient

    class Failing:
        def __init__(self, *args, **kwargs):
            execute.record_gradient = lambda *a, **k: None
            raise RuntimeError("shap failed half-way")

    monkeypatch.setattr(shap, "DeepExplainer", Failing)
    with pytest.raises(RuntimeError, match="half-way"):
        tlxp.explain(tiny_static_cnn(seed=7), data["x"][:1], "shap_deep", background=data["bg"][:4])
    assert execute.record_gradient is original
    exp = tlxp.explain(adapter, data["x"][:1], "shap", background=data["bg"][:4], n_samples=8)  # gradients still work
    assert np.isfinite(exp.attributions).all() and np.abs(exp.attributions).max() > 0


def test_expected_gradients_sum_approaches_output_minus_background_mean(mlp, data):
    gaps = []
    for n_samples in (4, 2000):
        exp = tlxp.explain(mlp, data["flat"], "shap", background=data["flat_bg"], n_samples=n_samples, seed=0)
        delta = exp.meta["model_output"] - exp.meta["expected_value"]
        gaps.append(np.abs(exp.meta["additivity_gap"]).max() / np.abs(delta).max())
    assert gaps[1] < 0.05  # loose: Monte Carlo estimate of the path integral
    assert gaps[1] < gaps[0]


def test_expected_gradients_equal_shap_gradient_explainer(cnn, data):
    """The compiled implementation reproduces shap.GradientExplainer's values (same draws)."""
    ours = tlxp.explain(cnn, data["x"], "shap", background=data["bg"], n_samples=30, seed=4, local_smoothing=0.05)
    theirs = tlxp.explain(cnn, data["x"], "shap", background=data["bg"], n_samples=30, seed=4, local_smoothing=0.05,
                         implementation="shap")
    scale = np.abs(theirs.attributions).max()
    np.testing.assert_allclose(ours.attributions, theirs.attributions, rtol=0, atol=1e-5 * scale)


def test_superpixel_granularity_keeps_sums(cnn, data):
    pixel = tlxp.explain(cnn, data["x"], "shap", background=data["bg"], n_samples=20, seed=1)
    superpixel = tlxp.explain(cnn, data["x"], "shap", background=data["bg"], n_samples=20, seed=1,
                             granularity="superpixel", segmentation="grid", n_segments=(4, 16))
    np.testing.assert_allclose(superpixel.attributions.reshape(3, -1).sum(1), pixel.attributions.reshape(3, -1).sum(1),
                               rtol=1e-4)
    # a 2x2 grid: constant over each 6x6 quadrant at that scale, so far fewer distinct values than pixels
    assert len(np.unique(np.round(superpixel.heatmap()[0], 7))) <= 20


# ----------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("method,params", [
    ("shap", {"n_samples": 10}),
    ("shap_kernel", {"nsamples": 40, "granularity": "feature"}),
    ("shap_partition", {"max_evals": 60}),
])
@pytest.mark.slow
def test_same_seed_same_values_and_global_state_restored(mlp, data, method, params):
    if method != "shap_partition":
        params = dict(params, background=data["flat_bg"])
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    a = tlxp.explain(mlp, data["flat"][:2], method, seed=3, **params)
    assert np.array_equal(np.random.get_state()[1], state), "the global numpy stream was changed"
    b = tlxp.explain(mlp, data["flat"][:2], method, seed=3, **params)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    if method != "shap_partition":  # partition draws only to break ties
        c = tlxp.explain(mlp, data["flat"][:2], method, seed=4, **params)
        assert not np.array_equal(a.attributions, c.attributions)


# ----------------------------------------------------------------------------- batching
def test_model_called_in_batches_of_the_configured_size(data):
    weights = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    model = CountingModel(lambda x: tf.tanh(tf.matmul(tf.reshape(x, (-1, 16)), weights)))
    adapter = tlxp.ModelAdapter(model, input_shape=(16,), batch_size=64)
    tlxp.explain(adapter, data["flat"][:1], "shap_kernel", background=data["flat_bg"], nsamples=50,
                granularity="feature")
    assert max(model.calls) == 64 and model.calls.count(64) >= 6  # 50 coalitions x 8 background rows = 400
    model.calls.clear()
    tlxp.explain(adapter, data["flat"][:2], "shap", background=data["flat_bg"], n_samples=50, batch_size=30)
    assert max(model.calls) == 30 and model.calls.count(30) >= 3
    model.calls.clear()
    tlxp.explain(adapter, data["flat"][:1], "shap_partition", max_evals=100, batch_size=16)
    assert max(model.calls) <= 16 and len(model.calls) > 3


# ----------------------------------------------------------------------------- errors and state
def test_missing_or_mismatched_background_errors(cnn, data):
    for method in ("shap", "shap_kernel", "shap_deep"):
        with pytest.raises(ValueError, match="background: method '%s' needs a background set" % method):
            tlxp.explain(cnn, data["x"][:1], method)
    rgb = np.repeat(data["bg"], 3, axis=-1)
    with pytest.raises(ValueError, match="background: expected shape"):
        tlxp.explain(cnn, data["x"][:1], "shap", background=rgb)
    with pytest.raises(ValueError, match="granularity"):
        tlxp.explain(cnn, data["x"][:1], "shap", background=data["bg"], granularity="patch")
    with pytest.raises(ValueError, match="implementation"):
        tlxp.explain(cnn, data["x"][:1], "shap", background=data["bg"], implementation="torch")
    with pytest.raises(ValueError, match="masker"):
        tlxp.explain(cnn, data["x"][:1], "shap_partition", masker="inpaint_ns", granularity="superpixel")
    with pytest.raises(ValueError, match="n_segments"):
        tlxp.explain(cnn, data["x"][:1], "shap_kernel", background=data["bg"], n_segments=(0, 4))


def test_shap_methods_leave_the_model_unchanged(cnn, data):
    before = model_state(cnn)
    tlxp.explain(cnn, data["x"][:1], "shap", background=data["bg"], n_samples=8)
    tlxp.explain(cnn, data["x"][:1], "shap_deep", background=data["bg"][:4])
    assert_same_state(before, model_state(cnn))


def test_model_explainer_runs_every_lime_and_shap_method(mlp, data):
    config = {name: {"background": data["flat_bg"]} for name in ("shap", "shap_kernel", "shap_deep")}
    config["lime_tabular"] = {"training_data": data["flat_bg"], "num_samples": 200}
    config["shap_kernel"]["nsamples"] = 60
    explainer = tlxp.ModelExplainer(mlp, config=config)
    for method in ("lime", "lime_tabular", "shap", "shap_partition", "shap_kernel", "shap_deep"):
        params = {"num_samples": 60} if method == "lime" else {"max_evals": 60} if method == "shap_partition" else {}
        exp = explainer.explain(data["flat"][:1], method=method, **params)
        assert exp.shape == (1, 16) and np.isfinite(exp.attributions).all(), method
        assert np.abs(exp.attributions).max() > 0, method
