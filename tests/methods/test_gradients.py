"""Gradient methods: completeness, composability, seeding, sanity checks, model left untouched."""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods import gradients as G
from tensorlayer_xplain.methods._engine.sampling import block_normal, row_normal

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_mlp, tiny_static_cnn

GRADIENT_METHODS = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "vargrad",
                    "guided_backprop"]
FAST = {"integrated_gradients": {"steps": 8}, "smoothgrad": {"n_samples": 4}, "vargrad": {"n_samples": 4}}


def _raising_target(scores):
    raise RuntimeError("boom inside the traced step")


def _with_biases(model, seed=3):
    """He-scaled random weights and random biases, so scores move by O(1) over an input.

    TL initializes weights with std 0.02 and biases at zero: the scores of such a
    model barely differ between an input and the baseline, which makes a relative
    completeness gap meaningless.
    """
    rng = np.random.default_rng(seed)
    for w in model.all_weights:
        if len(w.shape) == 1:
            w.assign(rng.normal(0, 0.1, w.shape).astype(np.float32))
        else:
            fan_in = int(np.prod(w.shape[:-1]))
            w.assign(rng.normal(0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32))
    return model


def test_all_gradient_methods_registered():
    names = tlxp.available_methods()
    for name in GRADIENT_METHODS:
        assert name in names
        assert tlxp.method_info(name).family == "gradient"
    assert tlxp.method_info("saliency").name == "gradient"
    assert tlxp.method_info("ig").name == "integrated_gradients"


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_shapes_and_finite(static_cnn, images, method):
    exp = tlxp.explain(static_cnn, images, method, **FAST.get(method, {}))
    assert exp.shape == images.shape
    assert np.isfinite(exp.attributions).all()
    assert np.abs(exp.attributions).sum() > 0


def test_gradient_keeps_seed_behaviour(static_cnn, images):
    adapter = tlxp.as_adapter(static_cnn)
    targets = np.array([0, 1, 2, 3, 0])
    raw = adapter.gradients(images, targets)
    np.testing.assert_allclose(tlxp.explain(static_cnn, images, "gradient", targets).attributions, np.abs(raw),
                               rtol=1e-5, atol=1e-8)
    signed = tlxp.explain(static_cnn, images, "saliency", targets, absolute=False)
    np.testing.assert_allclose(signed.attributions, raw, rtol=1e-5, atol=1e-8)
    assert signed.meta["signed"] is True


def test_gradient_x_input_is_product(dynamic_cnn, images):
    adapter = tlxp.as_adapter(dynamic_cnn)
    exp = tlxp.explain(dynamic_cnn, images, "gradient_x_input", targets=1)
    np.testing.assert_allclose(exp.attributions, images * adapter.gradients(images, np.ones(5, np.int32)),
                               rtol=1e-6, atol=1e-8)
    assert exp.meta["signed"] is True


@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
def test_integrated_gradients_completeness(builder, images):
    model = _with_biases(builder(seed=5))
    exp = tlxp.explain(model, images, "integrated_gradients", steps=128)
    adapter = tlxp.as_adapter(model)
    scores = adapter.predict(images)
    base_scores = adapter.predict(np.zeros_like(images))
    t = exp.targets
    delta = scores[np.arange(5), t] - base_scores[np.arange(5), t]
    sums = exp.attributions.reshape(5, -1).sum(axis=1)
    gap = np.abs(sums - delta) / np.abs(delta)
    assert gap.max() < 0.01, gap
    np.testing.assert_allclose(exp.meta["completeness_gap"], gap, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(exp.meta["attribution_sums"], sums, rtol=1e-5)
    np.testing.assert_allclose(exp.meta["score_differences"], delta, rtol=1e-4, atol=1e-5)
    assert exp.meta["max_completeness_gap"] == pytest.approx(float(exp.meta["completeness_gap"].max()))


def test_integrated_gradients_gap_shrinks_with_steps(static_cnn, images):
    model = _with_biases(tiny_static_cnn(seed=6))
    coarse = tlxp.explain(model, images, "integrated_gradients", steps=2, baseline="blurred")
    fine = tlxp.explain(model, images, "integrated_gradients", steps=64, baseline="blurred")
    assert fine.meta["max_completeness_gap"] < coarse.meta["max_completeness_gap"]


def test_integrated_gradients_independent_of_batch_size(static_cnn, images):
    a = tlxp.explain(static_cnn, images, "integrated_gradients", steps=16, batch_size=7)
    b = tlxp.explain(static_cnn, images, "integrated_gradients", steps=16, batch_size=512)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-7)


def test_integrated_gradients_baselines(static_cnn, images):
    adapter = tlxp.as_adapter(static_cnn)
    for baseline in ("zeros", "blurred", "uniform", 0.5, images[0], np.full_like(images, 0.2)):
        exp = tlxp.explain(static_cnn, images, "integrated_gradients", steps=8, baseline=baseline)
        assert exp.shape == images.shape
    # the baseline array equal to the input gives zero attributions
    same = tlxp.explain(static_cnn, images, "integrated_gradients", steps=4, baseline=images)
    np.testing.assert_array_equal(same.attributions, 0)
    # 'uniform' is seeded
    u1 = G.integrated_gradients(adapter, images, np.zeros(5, np.int32), steps=4, baseline="uniform", seed=1)[0]
    u2 = G.integrated_gradients(adapter, images, np.zeros(5, np.int32), steps=4, baseline="uniform", seed=1)[0]
    np.testing.assert_array_equal(u1, u2)
    with pytest.raises(ValueError, match="baseline.*zeros"):
        tlxp.explain(static_cnn, images, "integrated_gradients", baseline="black")
    with pytest.raises(ValueError, match="baseline"):
        tlxp.explain(static_cnn, images, "integrated_gradients", baseline=np.zeros((3, 7)))
    with pytest.raises(ValueError, match="steps"):
        tlxp.explain(static_cnn, images, "integrated_gradients", steps=0)
    with pytest.raises(ValueError, match="blur_sigma"):
        tlxp.explain(static_cnn, images, "integrated_gradients", baseline="blurred", blur_sigma=0)


def test_trapezoid_weights():
    alphas, weights = G.trapezoid_alphas(4)
    np.testing.assert_allclose(alphas, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(weights, [0.125, 0.25, 0.25, 0.25, 0.125])
    # exact for a quadratic path integrand? no: exact for linear ones
    assert weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["smoothgrad", "vargrad"])
def test_noise_methods_seeded(static_cnn, images, method):
    a = tlxp.explain(static_cnn, images, method, n_samples=6, seed=11)
    b = tlxp.explain(static_cnn, images, method, n_samples=6, seed=11)
    c = tlxp.explain(static_cnn, images, method, n_samples=6, seed=12)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert not np.allclose(a.attributions, c.attributions)
    # the noise does not depend on how the samples are batched
    d = tlxp.explain(static_cnn, images, method, n_samples=6, seed=11, batch_size=4)
    np.testing.assert_allclose(a.attributions, d.attributions, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("draw", [row_normal, block_normal])
def test_noise_independent_of_split(draw):
    rows = np.arange(150)
    whole = draw(3, rows, (4,))
    parts = np.concatenate([draw(3, rows[:3], (4,)), draw(3, rows[3:70], (4,)), draw(3, rows[70:], (4,))])
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(draw(3, rows[[120, 5]], (4,)), whole[[120, 5]])
    assert not np.allclose(draw(4, rows, (4,)), whole)
    assert abs(whole.std() - 1) < 0.1


def test_smoothgrad_matches_manual_average(static_cnn, images):
    """SmoothGrad = the mean of the base method over the same noisy copies, through the registry."""
    adapter = tlxp.as_adapter(static_cnn)
    t = np.array([0, 1, 2, 3, 1], np.int32)
    n_samples, level, seed = 5, 0.2, 4
    sigma = level * (images.reshape(5, -1).max(1) - images.reshape(5, -1).min(1))
    manual = np.zeros_like(images, dtype=np.float64)
    manual_sq = np.zeros_like(manual)
    for j in range(n_samples):
        noise = block_normal(seed, np.full(5, j), images.shape[1:])  # pattern j, shared by the inputs
        g = np.abs(adapter.gradients(images + sigma[:, None, None, None].astype(np.float32) * noise, t))
        manual += g
        manual_sq += g.astype(np.float64) ** 2
    manual /= n_samples
    exp = tlxp.explain(static_cnn, images, "smoothgrad", t, n_samples=n_samples, noise_level=level, seed=seed)
    np.testing.assert_allclose(exp.attributions, manual, rtol=1e-5, atol=1e-8)
    var = tlxp.explain(static_cnn, images, "vargrad", t, n_samples=n_samples, noise_level=level, seed=seed)
    np.testing.assert_allclose(var.attributions, manual_sq / n_samples - manual ** 2, rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("base, params", [("integrated_gradients", {"steps": 4}), ("gradcam", {}),
                                          ("gradient", {"absolute": False})])
def test_smoothgrad_wraps_any_method(static_cnn, images, base, params):
    """Zero noise reproduces the base method exactly; real noise changes it; signedness follows the base."""
    exact = tlxp.explain(static_cnn, images, base, **params)
    zero = tlxp.explain(static_cnn, images, "smoothgrad", base_method=base, base_params=params, n_samples=2,
                       noise_level=0.0)
    np.testing.assert_allclose(zero.attributions, exact.attributions, rtol=1e-5, atol=1e-7)
    assert zero.meta["base_method"] == base
    assert zero.meta["signed"] == exact.meta["signed"]
    noisy = tlxp.explain(static_cnn, images, "smoothgrad", base_method=base, base_params=params, n_samples=3)
    assert not np.allclose(noisy.attributions, exact.attributions)
    flat = tlxp.explain(static_cnn, images, "vargrad", base_method=base, base_params=params, n_samples=2,
                       noise_level=0.0)
    np.testing.assert_allclose(flat.attributions, 0, atol=1e-6)


def test_noise_method_errors(static_cnn, images):
    with pytest.raises(KeyError, match="method"):
        tlxp.explain(static_cnn, images, "smoothgrad", base_method="gradiant")
    with pytest.raises(ValueError, match="base_method"):
        tlxp.explain(static_cnn, images, "smoothgrad", base_method="vargrad")
    with pytest.raises(TypeError, match="absolut"):
        tlxp.explain(static_cnn, images, "smoothgrad", base_params={"absolut": True})
    with pytest.raises(ValueError, match="n_samples"):
        tlxp.explain(static_cnn, images, "vargrad", n_samples=0)
    with pytest.raises(ValueError, match="noise_level"):
        tlxp.explain(static_cnn, images, "smoothgrad", noise_level=-1.0)
    with pytest.raises(TypeError, match="seed"):
        tlxp.explain(static_cnn, images, "smoothgrad", seed=1.5)


def test_guided_backprop_matches_closed_form(rng):
    """On Dense(relu) -> Dense the guided gradient is W1 @ (relu(w2) * [pre > 0]), written out here."""
    model = _with_biases(tiny_mlp(seed=2), seed=4)
    x = rng.normal(size=(6, 64)).astype(np.float32)
    t = np.array([0, 1, 2, 3, 4, 0])
    exp = tlxp.explain(model, x, "guided_backprop", t)
    dense1, dense2 = [layer for layer in tlxp.as_adapter(model).iter_layers() if type(layer).__name__ == "Dense"]
    w1, b1 = dense1.W.numpy(), dense1.b.numpy()
    w2 = dense2.W.numpy()
    pre = x @ w1 + b1
    up = w2[:, t].T  # (N, 16): d logit_t / d hidden
    expected = (np.maximum(up, 0) * (pre > 0)) @ w1.T
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-5, atol=1e-6)
    plain = tlxp.explain(model, x, "gradient", t, absolute=False)
    assert not np.allclose(exp.attributions, plain.attributions)
    assert dense1.act is tf.nn.relu


def test_guided_backprop_keras_relu(images):
    from conftest import tiny_keras_cnn

    model = tiny_keras_cnn(seed=1)
    conv = model.layers[1]
    before = conv.activation
    exp = tlxp.explain(model, images, "guided_backprop")
    assert exp.shape == images.shape
    assert conv.activation is before
    assert len(G.relu_sites(tlxp.as_adapter(model))) == 1


def test_guided_backprop_warns_without_relu(rng):
    tf.random.set_seed(0)
    import tensorlayer as tl

    ni = tl.layers.Input([None, 16])
    model = tl.models.Model(inputs=ni, outputs=tl.layers.Dense(3, in_channels=16)(ni))
    with pytest.warns(RuntimeWarning, match="no layer with a ReLU"):
        tlxp.explain(model, rng.random((2, 16), dtype=np.float32), "guided_backprop")


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad",
                                    "guided_backprop"])
def test_randomized_weights_change_explanations(images, method):
    """Sanity check (Adebayo et al. 2018): randomizing the output layer changes the map."""
    model = tiny_static_cnn(seed=7)
    params = dict(FAST.get(method, {}), **({"seed": 0} if method == "smoothgrad" else {}))
    before = tlxp.explain(model, images, method, targets=1, **params).attributions
    dense = model.all_layers[-1]
    saved = dense.W.numpy()
    try:
        dense.W.assign(np.random.default_rng(0).normal(size=saved.shape).astype(np.float32))
        after = tlxp.explain(model, images, method, targets=1, **params).attributions
    finally:
        dense.W.assign(saved)
    corr = np.corrcoef(np.abs(before).ravel(), np.abs(after).ravel())[0, 1]
    assert corr < 0.95, corr
    np.testing.assert_array_equal(tlxp.explain(model, images, method, targets=1, **params).attributions, before)


@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
def test_model_state_unchanged_even_after_errors(builder, images):
    model = builder(seed=1)
    model.train()  # the caller's mode must come back
    before = model_state(model)
    acts = [(layer, layer.act) for layer in tlxp.as_adapter(model).iter_layers() if hasattr(layer, "act")]
    for method in GRADIENT_METHODS:
        tlxp.explain(model, images, method, **FAST.get(method, {}))
        assert_same_state(before, model_state(model))
        with pytest.raises(RuntimeError, match="boom"):
            tlxp.explain(model, images, method, targets=_raising_target, **FAST.get(method, {}))
        assert_same_state(before, model_state(model))
        assert all(layer.act is act for layer, act in acts), method
        assert model.is_train is True


def test_compiled_once(static_cnn, images):
    """Each variant (one batch, or a block looped in pieces) is traced once, never per call or batch size."""
    adapter = tlxp.as_adapter(static_cnn)
    runs = [(images, None), (images, 2), (images[:3], 1)]

    def run_all(runs):
        for x, batch_size in runs:
            t = np.zeros(len(x), np.int32)
            for method in GRADIENT_METHODS:
                tlxp.get_method(method)(adapter, x, t, batch_size=batch_size, **FAST.get(method, {}))

    run_all(runs)
    traces = adapter.trace_count
    run_all(runs + [(images[:2], 3), (images[:4], 7), (images, 64)])
    assert adapter.trace_count == traces


def test_callable_targets(static_cnn, images):
    """A callable target (here: the sum of two logits) flows through the batched steps."""
    exp = tlxp.explain(static_cnn, images, "integrated_gradients", targets=lambda s: s[:, 0] + s[:, 1], steps=64)
    assert exp.meta["max_completeness_gap"] < 0.05
