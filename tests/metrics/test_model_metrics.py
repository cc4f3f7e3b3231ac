"""Model-calling per-input metrics (completeness, max/avg-sensitivity): known answers, batching, errors."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Input

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics as M


@pytest.fixture(scope="module")
def linear_model():
    tf.random.set_seed(3)
    ni = Input([None, 16])
    return tl.models.Model(inputs=ni, outputs=Dense(3, in_channels=16)(ni))


@pytest.fixture
def xs():
    return np.random.default_rng(0).uniform(size=(5, 16)).astype(np.float32)


def test_gradient_x_input_of_a_linear_model_is_complete_and_the_gradient_is_not(linear_model, xs):
    exp = tlxp.explain(linear_model, xs, "gradient_x_input")
    res = M.completeness(exp, model=linear_model, baseline="zeros")
    assert res.family == "axiomatic" and res.direction == "lower"
    np.testing.assert_allclose(res.scores, 0.0, atol=1e-5)
    gaps = M.completeness(tlxp.explain(linear_model, xs, "gradient"), model=linear_model, baseline="zeros").scores
    assert (gaps > 1e-3).all()
    # an array needs inputs and targets; it gives the same numbers
    same = M.completeness(exp.attributions, model=linear_model, inputs=xs, targets=exp.targets, baseline="zeros")
    np.testing.assert_allclose(same.scores, res.scores)


def test_completeness_black_baseline_is_each_inputs_minimum(linear_model, xs):
    exp = tlxp.explain(linear_model, xs, "gradient_x_input")
    w = np.asarray(linear_model.all_weights[0].numpy(), np.float64)
    delta = np.array([((xs[i] - xs[i].min()) * w[:, t]).sum() for i, t in enumerate(exp.targets)])
    expected = np.abs(exp.attributions.astype(np.float64).sum(1) - delta)
    np.testing.assert_allclose(M.completeness(exp, model=linear_model).scores, expected, rtol=1e-4, atol=1e-5)


def test_gradient_of_a_linear_model_has_zero_sensitivity(linear_model, xs):
    exp = tlxp.explain(linear_model, xs, "gradient")
    for fn in (M.max_sensitivity, M.avg_sensitivity):
        res = fn(exp, model=linear_model, nr_samples=7)
        assert res.family == "robustness" and res.direction == "lower"
        np.testing.assert_allclose(res.scores, 0.0, atol=1e-6)


def test_sensitivity_on_a_cnn_is_positive_seeded_and_batch_size_free(static_cnn, images):
    exp = tlxp.explain(static_cnn, images[:3], "gradient")
    mx = M.max_sensitivity(exp, model=static_cnn, nr_samples=6, seed=1)
    av = M.avg_sensitivity(exp, model=static_cnn, nr_samples=6, seed=1)
    assert (mx.scores > 0).all() and (mx.scores >= av.scores - 1e-12).all()
    again = M.max_sensitivity(exp, model=static_cnn, nr_samples=6, seed=1, batch_size=4)
    np.testing.assert_allclose(again.scores, mx.scores, rtol=1e-5)
    smaller = M.max_sensitivity(exp, model=static_cnn, nr_samples=6, seed=1, lower_bound=0.001)
    assert (smaller.scores < mx.scores).all()


def test_noisy_copies_are_explained_in_stacked_calls_not_one_per_sample(static_cnn, images, monkeypatch):
    from tensorlayer_xplain.metrics import robustness

    calls = []
    real = robustness.reexplain

    def counting(model, inputs, *args, **kwargs):
        calls.append(len(inputs))
        return real(model, inputs, *args, **kwargs)

    monkeypatch.setattr(robustness, "reexplain", counting)
    exp = tlxp.explain(static_cnn, images[:3], "gradient")
    M.avg_sensitivity(exp, model=static_cnn, nr_samples=10)
    assert calls == [30]


def test_model_metrics_refuse_bad_arguments(linear_model, xs):
    exp = tlxp.explain(linear_model, xs, "gradient")
    with pytest.raises(TypeError, match="model: completeness calls the model; pass model="):
        M.completeness(exp)
    with pytest.raises(TypeError, match="model: max_sensitivity calls the model"):
        M.max_sensitivity(exp)
    with pytest.raises(TypeError, match="inputs, targets: completeness on an attributions array needs"):
        M.completeness(exp.attributions, model=linear_model)
    with pytest.raises(TypeError, match="method: avg_sensitivity re-explains"):
        M.avg_sensitivity(exp.attributions, model=linear_model, inputs=xs, targets=exp.targets)
    bad = exp.attributions.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"attributions: expected finite values.*\[2\]"):
        M.completeness(bad, model=linear_model, inputs=xs, targets=exp.targets)
    with pytest.raises(ValueError, match="baseline: expected one of"):
        M.completeness(exp, model=linear_model, baseline="grey")
    with pytest.raises(ValueError, match="upper_bound: expected more than lower_bound"):
        M.max_sensitivity(exp, model=linear_model, lower_bound=0.2, upper_bound=0.1)


def test_evaluate_passes_the_model_to_model_metrics(linear_model, xs):
    exps = {m: tlxp.explain(linear_model, xs, m) for m in ("gradient", "gradient_x_input")}
    table = M.evaluate(linear_model, exps, metrics=["completeness", "sparseness"], baseline="zeros")
    assert table.loc["gradient_x_input", "completeness"] < 1e-5 < table.loc["gradient", "completeness"]


def test_random_logit_is_one_for_a_class_blind_model_and_lower_otherwise(static_cnn, images):
    exp = tlxp.explain(static_cnn, images[:4], "gradient")
    res = M.random_logit(exp, model=static_cnn)
    assert res.family == "randomisation" and res.direction == "lower"
    assert (res.scores < 0.99).all()
    others = np.asarray(res.params["other_classes"])
    assert (others != exp.targets).all() and (others < 4).all()
    with pytest.raises(ValueError, match="num_classes: expected more than the largest target"):
        M.random_logit(exp, model=static_cnn, num_classes=int(exp.targets.max()))


@pytest.mark.filterwarnings("ignore:gradient. the model's outputs are all equal:RuntimeWarning")
def test_random_logit_of_identical_classes_is_one():
    """Every class has the same weights: all outputs tie (the method warns so), every class's map is the same."""
    tf.random.set_seed(4)
    ni = Input([None, 16])
    model = tl.models.Model(inputs=ni, outputs=Dense(3, in_channels=16, b_init=None)(ni))
    kernel = model.all_weights[0]
    column = np.random.default_rng(1).normal(size=(16, 1)).astype(np.float32)
    kernel.assign(np.repeat(column, 3, axis=1))  # every class has the same gradient
    x = np.random.default_rng(2).uniform(size=(3, 16)).astype(np.float32)
    res = M.random_logit(tlxp.explain(model, x, "gradient", targets=[0, 1, 2]), model=model)
    np.testing.assert_allclose(res.scores, 1.0, atol=1e-6)


def test_faithfulness_correlation_of_an_exact_linear_attribution_is_one(linear_model, xs):
    exp = tlxp.explain(linear_model, xs, "gradient_x_input")  # w * x: a subset's sum is exactly the logit drop
    res = M.faithfulness_correlation(exp, model=linear_model, nr_runs=20, subset_size=4, baseline="zeros")
    assert res.family == "faithfulness" and res.direction == "higher"
    np.testing.assert_allclose(res.scores, 1.0, atol=1e-4)
    noise = np.random.default_rng(3).normal(size=exp.attributions.shape)
    random = M.faithfulness_correlation(noise, model=linear_model, inputs=xs, targets=exp.targets, nr_runs=20,
                                        subset_size=4, baseline="zeros")
    assert (random.scores < 0.9).all()
    with pytest.raises(ValueError, match="subset_size: expected at most the 16 input values, got 224"):
        M.faithfulness_correlation(exp, model=linear_model)
    with pytest.raises(TypeError, match="model: faithfulness_correlation calls the model"):
        M.faithfulness_correlation(exp, subset_size=4)
