"""Sobol attribution: equal to a straightforward numpy Jansen estimator on the same masks, seeded, batch-free."""
import cv2
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import qmc
from test_cam import _scaled

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics
from tensorlayer_xplain.methods.sobol import jansen_total_indices, sobol_masks

from conftest import assert_same_state, model_state, tiny_mlp, tiny_static_cnn

pytestmark = pytest.mark.slow  # about 20 s on two shared cores (three perturbations, service, sanity check)


@pytest.fixture(scope="module")
def model():
    return _scaled(tiny_static_cnn(seed=31))


def _nearest(grid, size):
    """Nearest-neighbour upsampling with half-pixel centres (tf.image.resize 'nearest'), in numpy."""
    g = grid.shape[-1]
    idx = np.minimum(np.floor((np.arange(size) + 0.5) * g / size).astype(int), g - 1)
    return grid[..., idx[:, None], idx[None, :]]


def _reference(model, x, target, grid_size, nb_design, seed, perturbation):
    """Saltelli's design, the perturbed images and Jansen's estimator written out plainly, one input at a time."""
    d = grid_size ** 2
    ab = qmc.Sobol(2 * d, scramble=True, seed=seed).random(nb_design).astype(np.float32)
    a, b = ab[:, :d], ab[:, d:]

    def scores(masks):  # masks (nb, d) -> the target's logit on each perturbed image
        up = _nearest(masks.reshape(-1, grid_size, grid_size), x.shape[0])[..., None]
        if perturbation == "inpainting":
            batch = x[None] * up
        elif perturbation == "blur":
            blurred = cv2.blur(x, (10, 10)).reshape(x.shape)
            batch = x[None] * up + blurred[None] * (1 - up)
        else:
            batch = x[None] * (up - 0.5)
        return model(tf.constant(batch.astype(np.float32))).numpy()[:, target].astype(np.float64)

    f_a = scores(a)
    var = f_a.var(ddof=1)
    out = np.zeros(d)
    for k in range(d):
        c = a.copy()
        c[:, k] = b[:, k]
        out[k] = np.sum((f_a - scores(c)) ** 2) / (2 * nb_design * var)
    return out.reshape(grid_size, grid_size)


@pytest.mark.parametrize("perturbation", ["inpainting", "blur", "amplitude"])
def test_sobol_equals_a_numpy_jansen_estimator_on_the_same_masks(model, images, perturbation):
    model.eval()
    t = np.array([0, 2, 1, 3, 1])
    exp = tlxp.explain(model, images[:3], "sobol", t[:3], grid_size=3, nb_design=8, seed=4,
                       perturbation=perturbation)
    grid = exp.meta["grid_indices"]
    assert grid.shape == (3, 3, 3) and exp.meta["n_masks"] == 8 * 11
    for n in range(3):
        expected = _reference(model, images[n], t[n], 3, 8, 4, perturbation)
        assert expected.max() > 0.01
        np.testing.assert_allclose(grid[n], expected, rtol=1e-4, atol=1e-5 * expected.max())
    up = tf.image.resize(grid[..., None], (12, 12), method="bicubic")[..., 0].numpy()
    np.testing.assert_allclose(exp.heatmap(), up, rtol=1e-5, atol=1e-6)


def test_sobol_is_seeded_and_the_same_for_any_batch_size_or_batch(model, images):
    t = np.array([1, 0, 3, 2, 1])
    one = tlxp.explain(model, images, "sobol", t, grid_size=4, nb_design=8, seed=7, batch_size=5)
    again = tlxp.explain(model, images, "sobol", t, grid_size=4, nb_design=8, seed=7, batch_size=512)
    tol = 1e-5 * np.abs(one.attributions).max()  # float32 scores differ by ~1e-7 from batch size to batch size
    np.testing.assert_allclose(again.attributions, one.attributions, rtol=1e-4, atol=tol)
    alone = tlxp.explain(model, images[2:3], "sobol", t[2:3], grid_size=4, nb_design=8, seed=7)
    np.testing.assert_allclose(alone.attributions[0], one.attributions[2], rtol=1e-4, atol=tol)
    repeat = tlxp.explain(model, images, "sobol", t, grid_size=4, nb_design=8, seed=7, batch_size=5)
    np.testing.assert_array_equal(repeat.attributions, one.attributions)
    other = tlxp.explain(model, images, "sobol", t, grid_size=4, nb_design=8, seed=8)
    assert not np.allclose(other.attributions, one.attributions)


def test_masks_follow_xpliques_design_order():
    a = np.arange(8, dtype=np.float32).reshape(2, 4) / 10
    b = a + 0.5
    masks = sobol_masks(a, b, np.arange(12), 2).reshape(12, 4)
    np.testing.assert_array_equal(masks[:2], a)
    np.testing.assert_array_equal(masks[2:4], b)
    for k in range(4):
        c = a.copy()
        c[:, k] = b[:, k]
        np.testing.assert_array_equal(masks[4 + 2 * k: 6 + 2 * k], c)
    scores = np.random.default_rng(0).random((3, 12))
    by_hand = np.array([[np.sum((s[:2] - s[4 + 2 * k: 6 + 2 * k]) ** 2) / (2 * 2 * s[:2].var(ddof=1))
                         for k in range(4)] for s in scores])
    np.testing.assert_allclose(jansen_total_indices(scores, 2, 4), by_hand, rtol=1e-12)


def test_sobol_on_flat_inputs(rng):
    mlp = tiny_mlp(seed=3)
    x = rng.random((2, 64), dtype=np.float32)
    exp = tlxp.explain(mlp, x, "sobol", grid_size=4, nb_design=4)
    assert exp.attributions.shape == (2, 64) and np.isfinite(exp.attributions).all()


@pytest.mark.parametrize("params, match", [
    ({"grid_size": 0}, "grid_size: expected an int between 1 and (12|100)"),
    ({"grid_size": 13}, "grid_size: expected an int between 1 and 12"),
    ({"grid_size": 2.5}, "grid_size: expected an int"),
    ({"nb_design": 12}, "nb_design: expected a power of two between 2 and 1024"),
    ({"nb_design": 1}, "nb_design: expected an int between 2 and 1024"),
    ({"nb_design": 2048}, "nb_design: expected an int between 2 and 1024"),
    ({"perturbation": "noise"}, "perturbation: expected one of"),
    ({"seed": -1}, "seed"),
])
def test_bad_parameters_are_clear_errors(model, images, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        tlxp.explain(model, images, "sobol", **params)


def test_too_many_masks_is_refused_before_any_model_call():
    calls = []

    def f(x):
        calls.append(len(x))
        return tf.reduce_mean(x, axis=(1, 2))

    x = np.zeros((1, 100, 100, 2), np.float32)
    with pytest.raises(ValueError, match="nb_design: nb_design \\* \\(grid_size\\*\\*2 \\+ 2\\) = .* over the limit"):
        tlxp.explain(f, x, "sobol", targets=[0], grid_size=100, nb_design=128)
    assert sum(calls) <= 1  # at most the adapter's shape probe


def test_model_unchanged_and_randomization_check_passes(model, images):
    before = model_state(model)
    res = metrics.randomization_sanity_check(model, images, "sobol", grid_size=4, nb_design=8)
    assert res.passed, res.correlations
    assert_same_state(before, model_state(model))


def test_sobol_through_the_explainer_and_the_service(model, images):
    from fastapi.testclient import TestClient

    from tensorlayer_xplain.serve import create_app

    params = {"grid_size": 3, "nb_design": 4, "seed": 1}
    explainer = tlxp.ModelExplainer(model, methods=["sobol"], config={"sobol": params})
    exp = explainer.explain(images[:2], method="sobol", targets=[1, 3])
    direct = tlxp.explain(model, images[:2], "sobol", [1, 3], **params)
    np.testing.assert_allclose(exp.attributions, direct.attributions, rtol=1e-6)
    assert tlxp.estimate_cost(model, "sobol", 2, **params).total == 2 * 4 * 11
    with TestClient(create_app(tlxp.ModelExplainer(model, methods=["sobol"]))) as client:
        response = client.post("/explain", json={"inputs": images[:2].tolist(), "method": "sobol",
                                                 "targets": [1, 3], "params": params})
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)
        bad = client.post("/explain", json={"inputs": images[:2].tolist(), "method": "sobol",
                                            "params": {"grid_size": 40}})
        assert bad.status_code in (400, 422) and "grid_size" in bad.text
