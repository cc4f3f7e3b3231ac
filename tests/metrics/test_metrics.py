"""Explanation quality metrics: deletion/insertion, mu-fidelity, randomization sanity check, agreement, evaluate."""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics
from tensorlayer_xplain.runner import explain

from conftest import assert_same_state, model_state, tiny_static_cnn

# ---------------------------------------------------------------------------- fixtures
pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

@pytest.fixture(scope="module")
def mnist_cnn():
    """The reference CNN trained one epoch on 20k MNIST digits (~10 s), and 48 test digits.

    At 10k digits Grad-CAM on the 7x7 pooled layer is not yet better than a random
    ranking on insertion (many of its maps are all zero); at 20k (lr 3e-3) it is.
    """
    X_train, y_train, _, _, X_test, _ = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))
    model = tlxp.models.cnn(seed=0)
    tlxp.models.train(model, X_train[:20000], y_train[:20000], epochs=1, learning_rate=3e-3, seed=0, progress=False)
    return model, X_test[:48]


@pytest.fixture(scope="module")
def random_scores(mnist_cnn):
    """Deletion AUC, insertion AUC and mu-fidelity of a random attribution of the fixture's digits (predicted class)."""
    model, x = mnist_cnn
    rand = random_explanation(explain(model, x, "gradient"))
    return (metrics.deletion(model, rand).mean_auc, metrics.insertion(model, rand).mean_auc,
            metrics.mu_fidelity(model, rand, n_subsets=32).mean)


def random_explanation(exp, seed=0):
    """An explanation of the same inputs and targets with uniform random attributions."""
    rng = np.random.default_rng(seed)
    return tlxp.Explanation("random", rng.random(exp.attributions.shape).astype(np.float32), exp.inputs,
                           exp.targets, exp.predictions, exp.image_shape)


class CountingModel:
    """A plain-callable model that records the size of every batch it is called with."""

    def __init__(self, model):
        self.model = model
        self.calls = []

    def __call__(self, x):
        self.calls.append(int(x.shape[0]))
        return self.model(x, is_train=False)


@pytest.fixture
def constant_method():
    """A throwaway method whose 'explanation' ignores the model: the same map for every input."""

    @tlxp.register_method("_test_constant_map")
    def constant(adapter, inputs, targets, value=1.0):
        h, w, _ = adapter.image_shape
        return np.broadcast_to(np.linspace(0.0, value, h * w, dtype=np.float32).reshape(1, h, w),
                               (len(inputs), h, w)).copy()

    try:
        yield "_test_constant_map"
    finally:
        tlxp.unregister_method("_test_constant_map")


# ---------------------------------------------------------------------------- deletion / insertion
@pytest.mark.parametrize("method", ["gradcam", "integrated_gradients", "gradient", "occlusion"])
def test_faithful_methods_beat_a_random_attribution(mnist_cnn, random_scores, method):
    model, x = mnist_cnn
    exp = explain(model, x, method)
    d_rand, i_rand, mu_rand = random_scores
    d, i = metrics.deletion(model, exp).mean_auc, metrics.insertion(model, exp).mean_auc
    assert d < d_rand - 0.05, (d, d_rand)
    assert i > i_rand + 0.02, (i, i_rand)
    assert metrics.mu_fidelity(model, exp, n_subsets=32).mean > mu_rand + 0.05 and abs(mu_rand) < 0.1


def test_curve_shapes_endpoints_and_auc(mnist_cnn):
    model, x = mnist_cnn
    exp = explain(model, x[:6], "gradient")
    probs = tf.nn.softmax(exp.predictions).numpy()[np.arange(6), exp.targets]
    d = metrics.deletion(model, exp, steps=8)
    assert d.metric == "deletion" and d.method == "gradient"
    assert d.curve.shape == (6, 9) and d.auc.shape == (6,)
    np.testing.assert_allclose(d.fractions, np.linspace(0, 1, 9), atol=1e-3)
    np.testing.assert_allclose(d.curve[:, 0], probs, rtol=1e-4, atol=1e-6)  # nothing removed yet
    black = tf.nn.softmax(model(np.zeros((1, 28, 28, 1), np.float32), is_train=False)).numpy()[0]
    np.testing.assert_allclose(d.curve[:, -1], black[exp.targets], rtol=1e-4, atol=1e-6)  # all pixels black
    np.testing.assert_allclose(d.auc, np.trapezoid(d.curve, dx=1 / 8, axis=1), rtol=1e-6)
    assert d.mean_auc == pytest.approx(d.auc.mean()) and d.score == d.mean_auc
    ins = metrics.insertion(model, exp, steps=8)
    np.testing.assert_allclose(ins.curve[:, -1], probs, rtol=1e-4, atol=1e-6)  # everything inserted back
    assert not np.allclose(ins.curve[:, 0], probs)  # starts from the blurred image
    same = metrics.insertion(model, exp, steps=8, baseline_value=0.0)
    np.testing.assert_allclose(same.curve[:, 0], black[exp.targets], rtol=1e-4, atol=1e-6)


def test_an_all_zero_map_ranks_like_a_random_one(mnist_cnn):
    """Ties are broken at random (seeded), so a map without information is not scored as a raster scan."""
    model, x = mnist_cnn
    exp = explain(model, x[:24], "gradient")
    zero = tlxp.Explanation("zero", np.zeros_like(exp.attributions), exp.inputs, exp.targets, exp.predictions,
                           exp.image_shape)
    rand = random_explanation(exp)
    assert metrics.deletion(model, zero).mean_auc == pytest.approx(metrics.deletion(model, rand).mean_auc, abs=0.08)
    assert metrics.insertion(model, zero).mean_auc == pytest.approx(metrics.insertion(model, rand).mean_auc,
                                                                    abs=0.08)


# ---------------------------------------------------------------------------- batching and determinism
def test_metrics_batch_their_model_calls(images):
    counting = CountingModel(tiny_static_cnn(seed=3))
    adapter = tlxp.ModelAdapter(counting)
    exp = explain(adapter, images, "gradient")  # 5 inputs of 12x12
    counting.calls.clear()
    res = metrics.deletion(adapter, exp, steps=9, batch_size=16)
    assert res.curve.shape == (5, 10)
    assert counting.calls == [16, 16, 16, 2]  # 50 perturbed images in batches of 16, never one by one
    counting.calls.clear()
    metrics.insertion(adapter, exp, steps=9, batch_size=25)
    assert counting.calls == [25, 25]
    counting.calls.clear()
    mu = metrics.mu_fidelity(adapter, exp, n_subsets=10, batch_size=16)
    assert mu.attribution_sums.shape == (5, 10)
    assert counting.calls == [5, 16, 16, 16, 2]  # the unperturbed inputs once, then the 50 subsets


def test_batching_is_also_used_for_tl_models(mnist_cnn, monkeypatch):
    model, x = mnist_cnn
    exp = explain(model, x[:4], "gradient")
    adapter = tlxp.as_adapter(model)
    batches = []
    original = adapter.map_batches

    def spy(fn, *arrays, batch_size=None, desc=None):
        batches.append((len(arrays[0]), batch_size))
        return original(fn, *arrays, batch_size=batch_size, desc=desc)

    monkeypatch.setattr(adapter, "map_batches", spy)
    metrics.deletion(model, exp, steps=10, batch_size=20)
    assert batches == [(44, 20)]


def test_metrics_are_deterministic_with_a_seed(mnist_cnn):
    model, x = mnist_cnn
    exp = explain(model, x[:8], "gradient")
    a = metrics.mu_fidelity(model, exp, n_subsets=32, seed=5)
    b = metrics.mu_fidelity(model, exp, n_subsets=32, seed=5, batch_size=7)  # other chunking, same draws
    np.testing.assert_array_equal(a.attribution_sums, b.attribution_sums)
    np.testing.assert_allclose(a.correlations, b.correlations, rtol=1e-5, atol=1e-6)
    c = metrics.mu_fidelity(model, exp, n_subsets=32, seed=6)
    assert not np.array_equal(a.attribution_sums, c.attribution_sums)
    tied = tlxp.Explanation("tied", np.round(exp.attributions * 20) / 20, exp.inputs, exp.targets, exp.predictions,
                           exp.image_shape)  # many ties: the seeded tie-break decides the order
    d1 = metrics.deletion(model, tied, steps=10, seed=1)
    d2 = metrics.deletion(model, tied, steps=10, seed=1, batch_size=13)
    np.testing.assert_allclose(d1.curve, d2.curve, rtol=1e-5, atol=1e-7)
    assert not np.allclose(d1.curve, metrics.deletion(model, tied, steps=10, seed=2).curve)


def test_mu_fidelity_result_and_subset_sizes(mnist_cnn):
    model, x = mnist_cnn
    exp = explain(model, x[:4], "gradient")
    res = metrics.mu_fidelity(model, exp, n_subsets=16, subset_size=50)
    assert res.subset_size == 50 and res.correlations.shape == (4,) and res.output_drops.shape == (4, 16)
    heat = exp.heatmap().reshape(4, -1)
    assert np.all(res.attribution_sums <= np.sort(heat, axis=1)[:, -50:].sum(axis=1)[:, None] + 1e-5)
    assert metrics.mu_fidelity(model, exp, n_subsets=4, subset_size=0.5).subset_size == 392
    constant = tlxp.Explanation("flat", np.ones_like(exp.attributions), exp.inputs, exp.targets, exp.predictions,
                               exp.image_shape)
    flat = metrics.mu_fidelity(model, constant, n_subsets=8)
    assert np.all(np.isnan(flat.correlations)) and np.isnan(flat.mean)  # undefined, not a fake number


# ---------------------------------------------------------------------------- randomization sanity check
def test_gradient_passes_the_randomization_check_and_the_model_is_untouched(mnist_cnn):
    model, x = mnist_cnn
    before = model_state(model)
    scores = tlxp.as_adapter(model).predict(x[:8])
    res = metrics.randomization_sanity_check(model, x[:8], "gradient", threshold=0.5)
    assert_same_state(before, model_state(model))  # bit-identical weights, flags, forwards
    np.testing.assert_array_equal(tlxp.as_adapter(model).predict(x[:8]), scores)  # compiled steps see them too
    assert res.passed and res.threshold == 0.5 and res.mode == "cascading"
    assert len(res.layers) == 4 and res.layers[0] == tlxp.as_adapter(model).layer_call_order()[-1][0]
    assert res.correlations.shape == (4,) and res.per_input.shape == (4, 8)
    assert res.score == res.correlations[-1] < 0.5
    assert np.all(res.correlations < 0.8)  # already the top layer alone changes the map
    frame = res.to_frame()
    assert list(frame["layer"]) == res.layers and frame.index[0] == 1


def test_independent_randomization_changes_gradient_maps_at_every_layer(mnist_cnn):
    model, x = mnist_cnn
    before = model_state(model)
    res = metrics.randomization_sanity_check(model, x[:8], "gradient", mode="independent")
    assert_same_state(before, model_state(model))
    assert res.mode == "independent" and np.all(res.correlations < 0.8)
    assert res.score == pytest.approx(res.correlations.mean())
    assert res.passed == (res.score < 0.5)


def test_gradcam_passes_and_a_constant_explanation_fails(mnist_cnn, constant_method):
    model, x = mnist_cnn
    assert metrics.randomization_sanity_check(model, x[:8], "gradcam").passed
    assert metrics.randomization_sanity_check(model, x[:8], "gradcam", mode="independent").passed
    res = metrics.randomization_sanity_check(model, x[:8], constant_method)
    assert not res.passed
    np.testing.assert_allclose(res.correlations, 1.0)
    assert res.score == pytest.approx(1.0)


def test_model_is_restored_when_the_method_raises(mnist_cnn):
    model, x = mnist_cnn
    before = model_state(model)
    calls = []

    @tlxp.register_method("_test_fails_later")
    def fails_later(adapter, inputs, targets):
        calls.append(1)
        if len(calls) == 3:  # after two layers were randomized
            raise RuntimeError("boom")
        return adapter.gradients(inputs, targets)

    try:
        with pytest.raises(RuntimeError, match="boom"):
            metrics.randomization_sanity_check(model, x[:4], "_test_fails_later")
    finally:
        tlxp.unregister_method("_test_fails_later")
    assert len(calls) == 3
    assert_same_state(before, model_state(model))


def test_randomization_check_walks_nested_dynamic_models(dynamic_cnn, images):
    before = model_state(dynamic_cnn)
    res = metrics.randomization_sanity_check(dynamic_cnn, images, "gradient", mode="independent")
    assert_same_state(before, model_state(dynamic_cnn))
    adapter = tlxp.as_adapter(dynamic_cnn)
    assert res.layers == [dynamic_cnn.head.name, dynamic_cnn.features[1].name, dynamic_cnn.features[0].name]
    assert set(res.layers) <= set(adapter.layer_names())


def test_randomization_check_passes_seed_and_params_to_the_method(mnist_cnn):
    model, x = mnist_cnn
    seen = []

    @tlxp.register_method("_test_records_params")
    def records(adapter, inputs, targets, seed=None, scale=1.0):
        seen.append((seed, scale, tuple(np.asarray(targets))))
        return scale * np.abs(adapter.gradients(inputs, targets))

    try:
        metrics.randomization_sanity_check(model, x[:3], "_test_records_params", targets=[1, 2, 3], seed=7, scale=2.0)
    finally:
        tlxp.unregister_method("_test_records_params")
    assert len(seen) == 5 and set(seen) == {(7, 2.0, (1, 2, 3))}  # same seed, params and targets every stage


# ---------------------------------------------------------------------------- agreement
def test_agreement_of_a_method_with_itself_is_one_and_with_noise_near_zero(mnist_cnn):
    model, x = mnist_cnn
    grad = explain(model, x[:16], "gradient")
    cam = explain(model, x[:16], "gradcam")
    noise = random_explanation(grad, seed=1)
    rho, iou = metrics.method_agreement({"gradient": grad, "again": grad, "gradcam": cam, "noise": noise})
    assert list(rho.index) == ["gradient", "again", "gradcam", "noise"]
    np.testing.assert_allclose(np.diag(rho.values), 1.0)
    np.testing.assert_allclose(np.diag(iou.values), 1.0)
    assert rho.loc["gradient", "again"] == pytest.approx(1.0) and iou.loc["gradient", "again"] == pytest.approx(1.0)
    np.testing.assert_allclose(rho.values, rho.values.T)
    np.testing.assert_allclose(iou.values, iou.values.T)
    assert abs(rho.loc["gradient", "noise"]) < 0.1 and abs(rho.loc["gradcam", "noise"]) < 0.1
    assert iou.loc["gradient", "noise"] < 0.12  # chance level for top 10%: 0.1 / 1.9 ~ 0.053
    assert rho.loc["gradient", "gradcam"] > rho.loc["gradient", "noise"] + 0.1
    assert iou.attrs["top_k_pixels"] == 78 and iou.attrs["n_inputs"] == 16


def test_agreement_names_lists_and_rejects_different_inputs(mnist_cnn):
    model, x = mnist_cnn
    a = explain(model, x[:4], "gradient")
    rho, _ = metrics.method_agreement([a, a], top_k=20)
    assert list(rho.columns) == ["gradient", "gradient#2"]
    other = explain(model, x[4:8], "gradient")
    with pytest.raises(ValueError, match="explanations: expected explanations of the same inputs"):
        metrics.method_agreement([a, other])
    with pytest.raises(TypeError, match="explanations"):
        metrics.method_agreement("gradient")
    with pytest.raises(ValueError, match="top_k"):
        metrics.method_agreement([a, a], top_k=1.5)


def test_method_agreement_figure(mnist_cnn, tmp_path):
    model, x = mnist_cnn
    exps = [explain(model, x[:8], m) for m in ("gradient", "integrated_gradients", "gradcam")]
    path = tmp_path / "agreement.png"
    rho, iou = tlxp.method_agreement_visualization(exps, name=str(path))
    assert path.exists() and path.stat().st_size > 5000
    assert rho.shape == (3, 3) and iou.shape == (3, 3)
    assert list(tmp_path.iterdir()) == [path]  # no temporary leftovers


# ---------------------------------------------------------------------------- evaluate and the registry
def test_evaluate_builds_the_method_by_metric_table(mnist_cnn):
    model, x = mnist_cnn
    grad = explain(model, x[:8], "gradient")
    exps = {"gradient": grad, "random": random_explanation(grad)}
    table, results = metrics.evaluate(model, exps, steps=10, n_subsets=16, deletion={"baseline_value": "blur"},
                                      return_results=True)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["gradient", "random"] and list(table.columns) == ["deletion", "insertion",
                                                                                     "mu_fidelity"]
    assert table.attrs["higher_is_better"] == {"deletion": False, "insertion": True, "mu_fidelity": True}
    assert results["gradient"]["deletion"].curve.shape == (8, 11)  # steps routed to deletion and insertion
    assert results["gradient"]["mu_fidelity"].output_drops.shape == (8, 16)
    blurred = metrics.deletion(model, grad, steps=10, baseline_value="blur")
    assert table.loc["gradient", "deletion"] == pytest.approx(blurred.mean_auc)
    assert table.loc["gradient", "insertion"] > table.loc["random", "insertion"]


def test_evaluate_runs_the_sanity_check_as_a_metric(mnist_cnn):
    model, x = mnist_cnn
    grad = explain(model, x[:4], "gradient")
    table = tlxp.evaluate(model, [grad], metrics=["randomization", "deletion"], steps=5)
    assert list(table.columns) == ["randomization", "deletion"]
    assert table.loc["gradient", "randomization"] < 0.5


def test_evaluate_errors_name_the_argument(mnist_cnn):
    model, x = mnist_cnn
    grad = explain(model, x[:2], "gradient")
    with pytest.raises(KeyError, match="metrics: unknown metric 'delet'"):
        metrics.evaluate(model, grad, metrics=["delet"])
    with pytest.raises(TypeError, match="no metric in .* takes 'stepz'"):
        metrics.evaluate(model, grad, stepz=3)
    with pytest.raises(TypeError, match="deletion: unknown parameter"):
        metrics.evaluate(model, grad, deletion={"n_subsets": 3})
    with pytest.raises(ValueError, match="mu_fidelity: parameters given for a metric that is not in"):
        metrics.evaluate(model, grad, metrics=["deletion"], mu_fidelity={"seed": 1})


def test_a_registered_metric_joins_the_table(mnist_cnn):
    model, x = mnist_cnn
    grad = explain(model, x[:3], "gradient")

    @metrics.register_metric("_test_sparsity", higher_is_better=True, summary=float)
    def sparsity(model, explanation, quantile=0.9):
        heat = np.abs(explanation.heatmap()).reshape(len(explanation), -1)
        return float((heat < np.quantile(heat, quantile, axis=1, keepdims=True)).mean())

    try:
        assert "_test_sparsity" in metrics.available_metrics()
        table = metrics.evaluate(model, grad, metrics=["_test_sparsity"], quantile=0.5)
        assert table.loc["gradient", "_test_sparsity"] == pytest.approx(0.5, abs=0.05)
        with pytest.raises(ValueError, match="already registered"):
            metrics.register_metric("_test_sparsity", higher_is_better=True)(sparsity)
    finally:
        metrics.METRICS.pop("_test_sparsity", None)


def test_model_explainer_evaluate_uses_the_metrics(mnist_cnn):
    model, x = mnist_cnn
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "gradcam"])
    table = explainer.evaluate(x[:4], metrics=["deletion", "insertion"], steps=5, tidy=False)
    assert list(table.index) == ["gradient", "gradcam"] and list(table.columns) == ["deletion", "insertion"]
    assert table.notna().all().all()


# ---------------------------------------------------------------------------- bad input
def test_bad_input_raises_errors_naming_the_argument(mnist_cnn, images):
    model, x = mnist_cnn
    grad = explain(model, x[:2], "gradient")
    with pytest.raises(TypeError, match="explanation: expected an Explanation"):
        metrics.deletion(model, np.asarray(grad))
    with pytest.raises(ValueError, match="steps: expected an int >= 1, got 0"):
        metrics.deletion(model, grad, steps=0)
    with pytest.raises(ValueError, match="baseline_value: expected one of"):
        metrics.insertion(model, grad, baseline_value="gray")
    with pytest.raises(ValueError, match="score: expected one of"):
        metrics.deletion(model, grad, score="logit")
    with pytest.raises(ValueError, match="n_subsets: expected an int >= 2"):
        metrics.mu_fidelity(model, grad, n_subsets=1)
    with pytest.raises(ValueError, match="subset_size"):
        metrics.mu_fidelity(model, grad, subset_size=0.0)
    with pytest.raises(ValueError, match="mode: expected one of"):
        metrics.randomization_sanity_check(model, x[:2], mode="sideways")
    with pytest.raises(ValueError, match="threshold: expected a rank correlation in"):
        metrics.randomization_sanity_check(model, x[:2], threshold=2)
    with pytest.raises(TypeError, match="model: the randomization check needs"):
        metrics.randomization_sanity_check(lambda b: b.reshape(len(b), -1)[:, :3], images)
    with pytest.raises(TypeError, match="absolut"):
        metrics.randomization_sanity_check(model, x[:2], "gradient", absolut=False)
    with pytest.raises(KeyError, match="method"):
        metrics.randomization_sanity_check(model, x[:2], "no_such_method")
    with pytest.raises(TypeError, match="inputs: expected the input array, got an Explanation"):
        metrics.randomization_sanity_check(model, grad)
