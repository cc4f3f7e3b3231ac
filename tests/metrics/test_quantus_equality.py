"""Per-input metrics equal Quantus 0.6.0 on the same attributions and masks (Quantus is in the test extra).

Quantus takes ``a_batch`` / ``s_batch`` channel-first ``(N, 1, H, W)`` with ``model=None``
for these model-free metrics. Its ``normalise_by_max`` divides by the maximum over the
whole batch; ours divides per input by default, reproduced in Quantus by
``normalise_func_kwargs={'normalise_axes': (1, 2, 3)}``, and ours with
``normalise='batch'`` reproduces Quantus's default.
"""
import warnings

import numpy as np
import pytest

from tensorlayer_xplain import metrics as M

quantus = pytest.importorskip("quantus")

PER_INPUT = {"normalise_func_kwargs": {"normalise_axes": (1, 2, 3)}}


def _data(seed=0, n=6, h=12, w=10, ties=False):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, h, w))
    if ties:
        a = np.round(a * 2) / 2
    a[0] *= 50.0  # inputs on very different scales: batch vs per-input normalisation matter
    a[1] *= 0.01
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        r, c = rng.integers(0, h - 4), rng.integers(0, w - 4)
        masks[i, r:r + rng.integers(2, 5), c:c + rng.integers(2, 5)] = True
    x = rng.uniform(size=(n, 1, h, w))
    return x, a, masks


def _quantus(metric_cls, x, a, masks=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric = metric_cls(disable_warnings=True, **kwargs)
        scores = metric(model=None, x_batch=x, y_batch=np.zeros(len(x), int), a_batch=a[:, None].copy(),
                        s_batch=None if masks is None else masks[:, None].astype(float), channel_first=True)
    return np.asarray(scores, np.float64)


COMPLEXITY = [
    (M.sparseness, quantus.Sparseness, {}),
    (M.complexity, quantus.Complexity, {}),
    (M.effective_complexity, quantus.EffectiveComplexity, {}),
    (M.effective_complexity, quantus.EffectiveComplexity, {"eps": 0.05}),
    (M.sparseness, quantus.Sparseness, {"abs": False, "normalise": False}),
]


@pytest.mark.parametrize("ours,theirs,kwargs", COMPLEXITY, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("ties", [False, True])
def test_complexity_equals_quantus(ours, theirs, kwargs, ties):
    x, a, _ = _data(ties=ties)
    q_kwargs = dict(kwargs)  # abs=False: Quantus only prints a warning, both compute on signed values
    ours_default = ours(a, **kwargs).scores
    np.testing.assert_allclose(ours_default, _quantus(theirs, x, a, **q_kwargs, **PER_INPUT), rtol=1e-9, atol=1e-9)
    if "normalise" not in kwargs:
        ours_batch = ours(a, normalise="batch", **kwargs).scores
        np.testing.assert_allclose(ours_batch, _quantus(theirs, x, a, **q_kwargs), rtol=1e-9, atol=1e-9)


def test_effective_complexity_default_differs_from_quantus_only_through_batch_normalisation():
    x, a, _ = _data()
    ours = M.effective_complexity(a, eps=0.05).scores
    theirs = _quantus(quantus.EffectiveComplexity, x, a, eps=0.05)
    assert not np.array_equal(ours, theirs)  # the scales of inputs 0 and 1 differ 5000x
    np.testing.assert_array_equal(M.effective_complexity(a, eps=0.05, normalise="batch").scores, theirs)


LOCALISATION = [
    (M.pointing_game, quantus.PointingGame, {}),
    (M.attribution_localisation, quantus.AttributionLocalisation, {}),
    (M.attribution_localisation, quantus.AttributionLocalisation, {"positive_attributions": True, "abs": False}),
    (M.top_k_intersection, quantus.TopKIntersection, {"k": 20}),
    (M.top_k_intersection, quantus.TopKIntersection, {"k": 7, "concept_influence": True, "abs": True}),
    (M.relevance_rank_accuracy, quantus.RelevanceRankAccuracy, {}),
    (M.relevance_mass_accuracy, quantus.RelevanceMassAccuracy, {}),
    (M.relevance_mass_accuracy, quantus.RelevanceMassAccuracy, {"abs": True}),
    (M.auc, quantus.AUC, {}),
    (M.auc, quantus.AUC, {"abs": True}),
]


@pytest.mark.parametrize("ours,theirs,kwargs", LOCALISATION, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("ties", [False, True])
def test_localisation_equals_quantus(ours, theirs, kwargs, ties):
    x, a, masks = _data(seed=1, ties=ties)
    a = np.where(masks, np.abs(a) + 0.5, a)  # maps that partly agree with the masks
    mine = ours(a, masks=masks, **kwargs).scores
    np.testing.assert_allclose(mine, _quantus(theirs, x, a, masks, **kwargs, **PER_INPUT), rtol=1e-9, atol=1e-12)
    mine = ours(a, masks=masks, normalise="batch", **kwargs).scores
    np.testing.assert_allclose(mine, _quantus(theirs, x, a, masks, **kwargs), rtol=1e-9, atol=1e-12)


def test_localisation_on_an_explanation_uses_its_heatmap_like_quantus_channel_sum():
    from tensorlayer_xplain.explanation import Explanation

    rng = np.random.default_rng(3)
    attributions = rng.normal(size=(4, 8, 8, 3))
    exp = Explanation("gradient", attributions, rng.uniform(size=(4, 8, 8, 3)), np.zeros(4, int),
                      np.zeros((4, 10)), (8, 8, 3))
    masks = rng.uniform(size=(4, 8, 8)) > 0.6
    x = np.moveaxis(exp.inputs, -1, 1)
    summed = attributions.sum(-1)  # Quantus's usual a_batch: the channel sum, (N, 1, H, W)
    np.testing.assert_allclose(M.relevance_mass_accuracy(exp, masks=masks).scores,
                               _quantus(quantus.RelevanceMassAccuracy, x, summed, masks, **PER_INPUT), rtol=1e-6)
    np.testing.assert_allclose(M.sparseness(exp).scores, _quantus(quantus.Sparseness, x, summed, **PER_INPUT),
                               rtol=1e-6)


def test_empty_mask_scores_nan_where_quantus_does():
    x, a, masks = _data(seed=2)
    masks[2] = False
    for ours, theirs in [(M.relevance_mass_accuracy, quantus.RelevanceMassAccuracy), (M.auc, quantus.AUC),
                         (M.relevance_rank_accuracy, quantus.RelevanceRankAccuracy),
                         (M.attribution_localisation, quantus.AttributionLocalisation)]:
        mine = ours(a, masks=masks).scores
        theirs_scores = _quantus(theirs, x, a, masks, **PER_INPUT)
        assert np.isnan(mine[2]) and np.isnan(theirs_scores[2])
        np.testing.assert_allclose(np.delete(mine, 2), np.delete(theirs_scores, 2), rtol=1e-9)
    # Quantus's pointing game returns a bool array, so its NaN for an empty mask becomes True; ours stays NaN
    assert np.isnan(M.pointing_game(a, masks=masks).scores[2])


# ---------------------------------------------------------------------------- model-calling metrics
def _gradient_explain_func(model, inputs, targets, **kwargs):
    """Quantus's explain_func through tensorlayer_xplain (Quantus hands inputs over channel-first)."""
    import tensorlayer_xplain as tlxp

    inputs = np.asarray(inputs)
    images = inputs.reshape(len(inputs), 12, 12, 1)  # one channel: (N, 1, H, W) and (N, H, W, 1) share the order
    return tlxp.explain(model, images, "gradient", targets=np.asarray(targets)).attributions.reshape(inputs.shape)


@pytest.mark.parametrize("ours,theirs", [(M.max_sensitivity, "MaxSensitivity"), (M.avg_sensitivity, "AvgSensitivity")])
def test_sensitivity_equals_quantus_with_the_same_seed(keras_cnn, ours, theirs):
    """Same noise (our RandomState(seed) stream = Quantus's draws after np.random.seed(seed)), same scores."""
    import tensorlayer_xplain as tlxp

    x = np.random.default_rng(5).uniform(size=(4, 12, 12, 1)).astype(np.float32)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = ours(exp, model=keras_cnn, nr_samples=6, seed=11).scores
    state = np.random.get_state()
    try:
        np.random.seed(11)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = getattr(quantus, theirs)(nr_samples=6, disable_warnings=True)
            q = metric(model=keras_cnn, x_batch=np.moveaxis(x, -1, 1), y_batch=exp.targets,
                       a_batch=np.moveaxis(exp.heatmap()[..., None], -1, 1), channel_first=True,
                       explain_func=_gradient_explain_func)
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(mine, np.asarray(q, np.float64), rtol=1e-4)


@pytest.mark.parametrize("normalise", [True, "batch"])
def test_random_logit_equals_quantus_with_the_same_seed(keras_cnn, normalise):
    """Same off classes (np.random.seed(seed) then randint), same SSIM; per-input normalisation emulated in Quantus."""
    import tensorlayer_xplain as tlxp

    x = np.random.default_rng(6).uniform(size=(5, 12, 12, 1)).astype(np.float32)
    exp = tlxp.explain(keras_cnn, x, "gradient")
    mine = M.random_logit(exp, model=keras_cnn, seed=42, normalise=normalise)
    assert (np.asarray(mine.params["other_classes"]) != exp.targets).all()
    kwargs = {} if normalise == "batch" else PER_INPUT
    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = quantus.RandomLogit(num_classes=4, seed=42, disable_warnings=True, **kwargs)
            q = metric(model=keras_cnn, x_batch=np.moveaxis(x, -1, 1), y_batch=exp.targets,
                       a_batch=np.moveaxis(exp.heatmap()[..., None], -1, 1), channel_first=True,
                       explain_func=_gradient_explain_func)
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-4, atol=1e-6)


def test_faithfulness_correlation_equals_quantus_with_the_same_seed(keras_cnn):
    """Same subsets (np.random.choice after np.random.seed(seed)), same correlations (return_aggregate=False)."""
    import tensorlayer_xplain as tlxp

    x = np.random.default_rng(7).uniform(size=(4, 12, 12, 1)).astype(np.float32)
    exp = tlxp.explain(keras_cnn, x, "gradient_x_input")
    mine = M.faithfulness_correlation(exp, model=keras_cnn, nr_runs=12, subset_size=20, seed=5)
    state = np.random.get_state()
    try:
        np.random.seed(5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = quantus.FaithfulnessCorrelation(nr_runs=12, subset_size=20, return_aggregate=False,
                                                     disable_warnings=True, **PER_INPUT)
            q = metric(model=keras_cnn, x_batch=x, y_batch=exp.targets, a_batch=exp.heatmap()[:, None],
                       channel_first=False)
    finally:
        np.random.set_state(state)
    np.testing.assert_allclose(mine.scores, np.asarray(q, np.float64), rtol=1e-4, atol=1e-6)
    assert mine.family == "faithfulness" and mine.direction == "higher"
