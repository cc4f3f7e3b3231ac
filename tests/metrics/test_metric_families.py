"""Per-input metric families: known answers, registry (family, direction), evaluate, and clear errors."""
import numpy as np
import pytest

from tensorlayer_xplain import metrics as M
from tensorlayer_xplain.explanation import Explanation

LOCALISATION = [M.pointing_game, M.attribution_localisation, M.relevance_rank_accuracy, M.relevance_mass_accuracy,
                M.auc]


def _mask(n=3, h=8, w=8):
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        masks[i, i:i + 3, 2:5 + i] = True
    return masks


def test_constant_map_has_maximal_complexity_and_zero_sparseness():
    const = np.full((2, 6, 7), 0.3)
    np.testing.assert_allclose(M.complexity(const).scores, np.log(42), rtol=1e-9)
    np.testing.assert_allclose(M.sparseness(const).scores, 0.0, atol=1e-9)
    np.testing.assert_array_equal(M.effective_complexity(const).scores, [42, 42])
    rng = np.random.default_rng(0)
    varied = rng.uniform(size=(20, 6, 7))
    assert (M.complexity(varied).scores < np.log(42)).all()
    assert (M.sparseness(varied).scores > 0).all()


def test_one_hot_map_is_maximally_sparse_and_simple():
    peak = np.zeros((1, 10, 10))
    peak[0, 4, 7] = -3.0
    assert M.sparseness(peak).scores[0] == pytest.approx(0.99, abs=1e-4)  # (d - 1) / d
    assert M.complexity(peak).scores[0] == pytest.approx(0.0, abs=1e-9)
    assert M.effective_complexity(peak).scores[0] == 1


def test_map_equal_to_the_mask_localises_perfectly():
    masks = _mask()
    for fn in LOCALISATION:
        res = fn(masks.astype(float), masks=masks)
        np.testing.assert_allclose(res.scores, 1.0, rtol=1e-6, err_msg=fn.__name__)
        assert res.family == "localisation" and res.direction == "higher"
    np.testing.assert_allclose(M.top_k_intersection(masks.astype(float), masks=masks, k=9).scores, 1.0)


def test_map_outside_the_mask_localises_worst():
    masks = _mask()
    outside = (~masks).astype(float)
    np.testing.assert_array_equal(M.pointing_game(outside, masks=masks).scores, 0.0)
    np.testing.assert_allclose(M.relevance_mass_accuracy(outside, masks=masks).scores, 0.0)
    np.testing.assert_allclose(M.auc(outside, masks=masks).scores, 0.0)
    np.testing.assert_allclose(M.relevance_rank_accuracy(outside, masks=masks).scores, 0.0)


def test_auc_of_a_random_map_is_near_chance():
    rng = np.random.default_rng(1)
    masks = rng.uniform(size=(200, 16, 16)) > 0.7
    scores = M.auc(rng.normal(size=(200, 16, 16)), masks=masks).scores
    assert abs(scores.mean() - 0.5) < 0.01


def test_masks_in_any_layout_with_the_map_size_and_one_mask_for_all():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 8, 8))
    masks = _mask()
    ref = M.relevance_mass_accuracy(a, masks=masks).scores
    for layout in (masks[:, None], masks[..., None], masks.reshape(3, 64)):
        np.testing.assert_array_equal(M.relevance_mass_accuracy(a, masks=layout).scores, ref)
    shared = M.auc(a, masks=masks[0]).scores
    np.testing.assert_array_equal(shared, M.auc(a, masks=np.repeat(masks[:1], 3, axis=0)).scores)


def test_explanation_input_uses_its_heatmap_and_records_the_method():
    rng = np.random.default_rng(3)
    attr = rng.normal(size=(2, 8 * 8 * 3))
    exp = Explanation("gradient", attr, np.zeros_like(attr), np.array([1, 2]), np.zeros((2, 10)), (8, 8, 3))
    res = M.sparseness(exp)
    assert res.method == "gradient" and res.scores.shape == (2,)
    np.testing.assert_allclose(res.scores, M.sparseness(exp.heatmap()).scores)
    np.testing.assert_allclose(M.sparseness(exp, reduce="abs_sum").scores,
                               M.sparseness(np.abs(attr.reshape(2, 8, 8, 3)).sum(-1)).scores)


def test_normalise_batch_changes_only_the_threshold_metrics():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(2, 8, 8))
    a[0] *= 1e4
    np.testing.assert_allclose(M.complexity(a).scores, M.complexity(a, normalise="batch").scores)
    assert M.effective_complexity(a, eps=1e-3).scores[1] > M.effective_complexity(a, eps=1e-3,
                                                                                  normalise="batch").scores[1]


@pytest.mark.parametrize("fn", [M.sparseness, M.complexity, M.effective_complexity])
def test_nan_attributions_are_refused_naming_the_input(fn):
    a = np.ones((3, 4, 4))
    a[1, 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"attributions: expected finite values.*\[1\]"):
        fn(a)


@pytest.mark.parametrize("fn", LOCALISATION)
def test_mask_of_the_wrong_shape_is_refused(fn):
    with pytest.raises(ValueError, match=r"masks: expected one mask per input with 64 values.*got shape \(3, 7, 7\)"):
        fn(np.ones((3, 8, 8)), masks=np.ones((3, 7, 7)))
    with pytest.raises(TypeError, match="masks: a localisation metric needs masks"):
        fn(np.ones((3, 8, 8)))
    with pytest.raises(ValueError, match="masks: expected finite"):
        fn(np.ones((3, 8, 8)), masks=np.full((3, 8, 8), np.nan))


def test_other_bad_arguments():
    with pytest.raises(TypeError, match="attributions: expected an Explanation or an array"):
        M.sparseness("map")
    with pytest.raises(ValueError, match=r"attributions: expected an array \(N, \.\.\.\)"):
        M.sparseness(np.ones(5))
    with pytest.raises(ValueError, match="normalise: expected True"):
        M.complexity(np.ones((2, 3)), normalise="max")
    with pytest.raises(TypeError, match="abs: expected a bool"):
        M.complexity(np.ones((2, 3)), abs=1)
    with pytest.raises(ValueError, match="k: expected between 1 and the map's 64 values, got 1000"):
        M.top_k_intersection(np.ones((3, 8, 8)), masks=_mask())
    with pytest.raises(TypeError, match="eps: expected a finite number"):
        M.effective_complexity(np.ones((2, 3)), eps=None)


def test_registry_knows_family_and_direction_and_selects_families():
    spec = M.METRICS["complexity"]
    assert (spec.family, spec.direction, spec.needs_model) == ("complexity", "lower", False)
    assert M.METRICS["deletion"].family == "faithfulness" and M.METRICS["deletion"].needs_model
    assert M.metrics_of("localisation") == ["pointing_game", "attribution_localisation", "top_k_intersection",
                                            "relevance_rank_accuracy", "relevance_mass_accuracy", "auc"]
    assert M.metrics_of(["complexity", "auc"]) == ["complexity", "auc"]
    assert set(M.metrics_of("all")) >= set(M.metrics_of("complexity")) | {"deletion"}
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        M.metrics_of(["nope"])
    with pytest.raises(ValueError, match="direction: expected 'higher' or 'lower'"):
        M.register_metric("x", direction="up")
    with pytest.raises(ValueError, match="family: expected one of"):
        M.register_metric("x", True, family="speed")
    with pytest.raises(TypeError, match="higher_is_better: give the metric's direction"):
        M.register_metric("x")


def test_evaluate_runs_model_free_metrics_with_masks_routed():
    rng = np.random.default_rng(5)
    masks = _mask(2)
    exps = {}
    for name, attr in [("good", masks[..., None] * 1.0 + 0.01 * rng.uniform(size=(2, 8, 8, 1))),
                       ("bad", rng.uniform(size=(2, 8, 8, 1)))]:
        exps[name] = Explanation(name, attr.reshape(2, 64), np.zeros((2, 64)), np.array([0, 1]),
                                 np.zeros((2, 3)), (8, 8, 1))
    table = M.evaluate(None, exps, metrics=["sparseness", "relevance_mass_accuracy", "auc"], masks=masks)
    assert table.loc["good", "auc"] == pytest.approx(1.0)
    assert table.loc["good", "relevance_mass_accuracy"] > table.loc["bad", "relevance_mass_accuracy"]
    assert table.attrs["higher_is_better"] == {"sparseness": True, "relevance_mass_accuracy": True, "auc": True}
