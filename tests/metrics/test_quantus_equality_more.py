"""The model-calling metrics of issue 27 equal Quantus 0.6.0 on a tiny Keras CNN (Quantus is in the test extra).

Quantus gets the same model, inputs (channel-last with ``channel_first=False``, which it
turns channel-first inside: one channel, so the same value order as ours), targets,
attributions ``(N, 1, H, W)`` and, for the random metrics, ``np.random.seed(seed)`` right
before its call; ours gets ``seed=``. Per-input
normalisation (ours) is emulated in Quantus with ``normalise_axes=(1, 2, 3)``.
"""
import warnings

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics as M

quantus = pytest.importorskip("quantus")

PER_INPUT = {"normalise_func_kwargs": {"normalise_axes": (1, 2, 3)}}
SIZE = 12


def _explain_func(method="gradient"):
    def explain_func(model, inputs, targets, **kwargs):
        inputs = np.asarray(inputs)
        images = inputs.reshape(len(inputs), SIZE, SIZE, 1)
        exp = tlxp.explain(model, images, method, targets=np.asarray(targets))
        return exp.attributions.reshape(inputs.shape)
    return explain_func


def _quantus(metric, model, x, exp, seed=None, method="gradient", **call):
    """Run a Quantus metric on channel-first inputs, seeding numpy's global state as asked, restoring it after."""
    state = np.random.get_state()
    try:
        if seed is not None:
            np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return metric(model=model, x_batch=x, y_batch=np.asarray(exp.targets),
                          a_batch=np.moveaxis(exp.attributions, -1, 1).astype(np.float64), channel_first=False,
                          explain_func=_explain_func(method), **call)
    finally:
        np.random.set_state(state)


def _inputs(seed, n=4):
    return np.random.default_rng(seed).uniform(size=(n, SIZE, SIZE, 1)).astype(np.float32)


def test_pixel_flipping_equals_quantus(keras_cnn):
    x = _inputs(1)
    exp = tlxp.explain(keras_cnn, x, "gradient_x_input")
    mine = M.pixel_flipping(exp, model=keras_cnn, features_in_step=8)
    q = _quantus(quantus.PixelFlipping(features_in_step=8, disable_warnings=True, **PER_INPUT), keras_cnn, x, exp)
    np.testing.assert_allclose(mine.details["curves"], np.asarray(q), rtol=1e-4, atol=1e-6)
    # Quantus's return_auc_per_sample calls np.trapz, gone in numpy 2.4: its curves' trapezoid is the same number
    np.testing.assert_allclose(mine.scores, np.trapezoid(np.asarray(q), axis=1), rtol=1e-4, atol=1e-6)
    assert mine.direction == "lower" and mine.family == "faithfulness"


@pytest.mark.parametrize("patch_size,order", [(4, "morf"), (5, "lerf"), (3, "random")])
def test_region_perturbation_equals_quantus(keras_cnn, patch_size, order):
    x = _inputs(2)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = M.region_perturbation(exp, model=keras_cnn, patch_size=patch_size, order=order, regions_evaluation=6,
                                 seed=3)
    q = _quantus(quantus.RegionPerturbation(patch_size=patch_size, order=order, regions_evaluation=6,
                                            disable_warnings=True, **PER_INPUT), keras_cnn, x, exp, seed=3)
    np.testing.assert_allclose(mine.details["curves"], np.asarray(q), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mine.scores, np.trapezoid(np.asarray(q), axis=1), rtol=1e-4, atol=1e-6)


def test_monotonicity_correlation_equals_quantus(keras_cnn):
    x = _inputs(3)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = M.monotonicity_correlation(exp, model=keras_cnn, nr_samples=5, features_in_step=12, seed=7)
    q = _quantus(quantus.MonotonicityCorrelation(nr_samples=5, features_in_step=12, disable_warnings=True,
                                                 **PER_INPUT), keras_cnn, x, exp, seed=7)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sizes", [[4], [3, 6]])
def test_infidelity_equals_quantus(keras_cnn, sizes):
    x = _inputs(4)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = M.infidelity(exp, model=keras_cnn, perturb_patch_sizes=sizes)
    q = _quantus(quantus.Infidelity(perturb_patch_sizes=sizes, n_perturb_samples=2, disable_warnings=True),
                 keras_cnn, x, exp)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-4)


def test_road_equals_quantus(keras_cnn):
    x = _inputs(5, n=5)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    percentages = [5, 30, 60, 95]
    mine = M.road(exp, model=keras_cnn, percentages=percentages, seed=9, noise=0.0)
    q = _quantus(quantus.ROAD(percentages=percentages, noise=0.0, disable_warnings=True, **PER_INPUT),
                 keras_cnn, x, exp, seed=9)
    np.testing.assert_allclose(mine.details["curves"].mean(axis=0), [q[p] for p in percentages])


def test_road_imputation_equals_quantus_with_noise():
    from quantus.functions.perturb_func import noisy_linear_imputation as theirs

    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 7, 9, 2))
    removed = [rng.permutation(63)[:k] for k in (5, 30, 62)]
    mine = M.faithfulness_road.noisy_linear_imputation(images, removed, 0.05, np.random.RandomState(4))
    state = np.random.get_state()
    try:
        np.random.seed(4)
        expected = [theirs(np.moveaxis(img, -1, 0), idx, noise=0.05) for img, idx in zip(images, removed)]
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(mine, np.moveaxis(np.stack(expected), 1, -1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("normalise,kwargs", [(True, PER_INPUT), ("batch", {})])
def test_local_lipschitz_estimate_equals_quantus(keras_cnn, normalise, kwargs):
    x = _inputs(6)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = M.local_lipschitz_estimate(exp, model=keras_cnn, nr_samples=5, seed=2, normalise=normalise)
    q = _quantus(quantus.LocalLipschitzEstimate(nr_samples=5, disable_warnings=True, **kwargs), keras_cnn, x, exp,
                 seed=2)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-4)
    assert mine.direction == "lower" and mine.family == "robustness"


@pytest.fixture(scope="module")
def channel_first_cnn():
    """The tiny CNN taking channel-first inputs (N, 1, H, W).

    Quantus 0.6.0's relative stabilities call ``model.predict`` on its channel-first
    batch without reshaping it for the model, and compare channel-first maps with the
    explain function's maps of the model's layout: both only line up for a model
    that takes channel-first inputs.
    """
    import tensorflow as tf

    tf.random.set_seed(1)
    inputs = tf.keras.Input((1, SIZE, SIZE))
    h = tf.keras.layers.Permute((2, 3, 1))(inputs)
    h = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(h)
    outputs = tf.keras.layers.Dense(4)(tf.keras.layers.Flatten()(h))
    return tf.keras.Model(inputs, outputs)


@pytest.mark.parametrize("ours,theirs", [(M.relative_input_stability, "RelativeInputStability"),
                                         (M.relative_output_stability, "RelativeOutputStability")])
@pytest.mark.parametrize("nan_when_changed", [True, False])
def test_relative_stability_equals_quantus(channel_first_cnn, ours, theirs, nan_when_changed):
    x = np.moveaxis(_inputs(7, n=6), -1, 1)
    exp = tlxp.explain(channel_first_cnn, x, "gradient")
    mine = ours(exp, model=channel_first_cnn, nr_samples=5, seed=4,
                return_nan_when_prediction_changes=nan_when_changed)
    state = np.random.get_state()
    try:
        np.random.seed(4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = getattr(quantus, theirs)(nr_samples=5, disable_warnings=True,
                                              return_nan_when_prediction_changes=nan_when_changed)
            q = metric(model=channel_first_cnn, x_batch=x, y_batch=exp.targets,
                       a_batch=exp.attributions.astype(np.float64), channel_first=True,
                       explain_func=lambda model, inputs, targets, **kw: tlxp.explain(
                           model, np.asarray(inputs), "gradient", targets=np.asarray(targets)).attributions)
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-4)
    assert np.isfinite(mine.scores).any()


@pytest.mark.parametrize("ours,theirs", [(M.max_sensitivity, "MaxSensitivity"), (M.avg_sensitivity, "AvgSensitivity")])
def test_sensitivity_with_batch_normalisation_equals_quantus(keras_cnn, ours, theirs):
    """normalise='batch' normalises each batch of noisy maps (Quantus's explain_batch), not all copies at once."""
    x = _inputs(8)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = ours(exp, model=keras_cnn, nr_samples=4, seed=1, normalise="batch")
    q = _quantus(getattr(quantus, theirs)(nr_samples=4, normalise=True, disable_warnings=True), keras_cnn, x, exp,
                 seed=1)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-4)


def _quantus_ssim(a, b, batched=False, **kwargs):
    """quantus.ssim returns a list when batched, which its MPRT then calls .tolist() on: give it an array."""
    return np.asarray(quantus.similarity_func.ssim(a, b, batched=batched, **kwargs))


def test_model_parameter_randomisation_equals_quantus(keras_cnn):
    """Same permutations (np.random.seed(seed + 1) per layer), same per-layer Spearman and SSIM; weights restored.

    Compared in Quantus's 'independent' order: its cascading orders randomise a
    ``keras.models.clone_model`` copy, which Keras re-initialises, so every one of
    its cascading stages is a fully random model. Our cascading first stage (the top
    layer alone) is Quantus's independent stage of the top layer.
    """
    x = _inputs(9, n=5)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    before = [w.copy() for w in keras_cnn.get_weights()]
    mine = M.model_parameter_randomisation(exp, model=keras_cnn, layer_order="independent", seed=42)
    cascading = M.model_parameter_randomisation(exp, model=keras_cnn, seed=42)
    for w, b in zip(keras_cnn.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert cascading.details["layers"] == mine.details["layers"][::-1]
    for similarity, func in [("spearman", None), ("ssim", _quantus_ssim)]:
        kwargs = {} if func is None else {"similarity_func": func}
        q = _quantus(quantus.MPRT(layer_order="independent", seed=42, disable_warnings=True, **kwargs, **PER_INPUT),
                     keras_cnn, x, exp)
        layers = [name for name in q if name != "original"]
        assert layers == mine.details["layers"]
        expected = np.array([q[name] for name in layers])
        np.testing.assert_allclose(mine.details[similarity], expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(cascading.details[similarity][0], expected[-1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mine.scores, mine.details["spearman"].mean(axis=0))
    np.testing.assert_allclose(cascading.scores, cascading.details["spearman"][-1])
    assert mine.direction == "lower" and mine.family == "randomisation"
