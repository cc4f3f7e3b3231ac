"""Faster Score-CAM (scorecam(max_channels=k)): tf-keras-vis' channel rule, equal to full Score-CAM at k = C."""
import numpy as np
import pytest
import tensorflow as tf
from test_cam import _scaled, _static_parts

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics
from tensorlayer_xplain.methods.cam import top_variance_channels

from conftest import assert_same_state, model_state, tiny_static_cnn

pytestmark = pytest.mark.slow  # about 25 s on two shared cores (service, sanity check)


@pytest.fixture(scope="module")
def model():
    return _scaled(tiny_static_cnn(seed=21))


def test_max_channels_equal_to_the_channel_count_is_full_scorecam(model, images):
    t = np.array([0, 1, 2, 3, 0])
    full = tlxp.explain(model, images, "scorecam", t)
    for k in (6, 7, 1000):  # the layer has 6 channels: k >= 6 keeps them all
        same = tlxp.explain(model, images, "scorecam", t, max_channels=k)
        np.testing.assert_array_equal(same.attributions, full.attributions)
        np.testing.assert_array_equal(same.meta["weights"], full.meta["weights"])
    assert full.meta["channels"].shape == (5, 6)
    assert tlxp.estimate_cost(model, "scorecam", 5, max_channels=1000).total == tlxp.estimate_cost(
        model, "scorecam", 5).total == 5 * 7


def test_faster_scorecam_keeps_the_most_varied_channels_and_combines_only_those(model, images):
    """The k channels of largest spatial std (tf-keras-vis' rule, per image), the others weigh nothing."""
    t = np.array([2, 0, 1, 3, 2])
    head, _ = _static_parts(model)
    model.eval()
    acts = tf.constant(images)
    for layer in head:
        acts = layer.forward(acts)
    acts = acts.numpy().astype(np.float64)
    std = acts.std(axis=(1, 2))  # population std per (image, channel), as tf.math.reduce_std
    expected_channels = np.sort(np.argsort(-std, axis=1, kind="stable")[:, :3], axis=1)
    full = tlxp.explain(model, images, "scorecam", t)
    fast = tlxp.explain(model, images, "scorecam", t, max_channels=3, batch_size=4)
    np.testing.assert_array_equal(fast.meta["channels"], expected_channels)
    weights = np.zeros((5, 6))
    rows = np.arange(5)[:, None]
    weights[rows, expected_channels] = full.meta["weights"][rows, expected_channels]  # the same masked scores
    np.testing.assert_allclose(fast.meta["weights"], weights, rtol=1e-5, atol=1e-7)
    cam = np.maximum(np.einsum("nc,nhwc->nhw", weights, acts), 0)
    expected = tf.image.resize(cam[..., None].astype(np.float32), (12, 12))[..., 0].numpy()
    np.testing.assert_allclose(fast.heatmap(), expected, rtol=1e-4, atol=1e-6)
    assert tlxp.estimate_cost(model, "scorecam", 5, max_channels=3).total == 5 * 4
    masks = tlxp.explain(model, images, "scorecam", t, max_channels=3, combine="masks")
    assert np.isfinite(masks.attributions).all()


def test_an_image_keeps_its_channels_whatever_its_batch(model, images):
    one = tlxp.explain(model, images[3:4], "scorecam", [1], max_channels=2)
    batch = tlxp.explain(model, images, "scorecam", [0, 0, 0, 1, 0], max_channels=2)
    np.testing.assert_array_equal(one.meta["channels"][0], batch.meta["channels"][3])
    np.testing.assert_allclose(one.attributions[0], batch.attributions[3], rtol=1e-5, atol=1e-7)


def test_top_variance_channels_ties_pick_the_lower_channel():
    acts = np.zeros((1, 2, 2, 4), np.float32)
    acts[0, 0, 0] = [1.0, 2.0, 2.0, 0.0]
    np.testing.assert_array_equal(top_variance_channels(acts, 2), [[1, 2]])
    np.testing.assert_array_equal(top_variance_channels(acts, 1), [[1]])
    np.testing.assert_array_equal(top_variance_channels(acts, None), [[0, 1, 2, 3]])


@pytest.mark.parametrize("bad", [0, -3, 1.5, "8", True, 10 ** 7])
def test_max_channels_out_of_range_is_a_clear_error(model, images, bad):
    with pytest.raises((ValueError, TypeError), match=r"max_channels: expected (None \(every channel\) or )?an int"):
        tlxp.explain(model, images, "scorecam", max_channels=bad)


def test_model_unchanged_and_randomization_check_passes(model, images):
    before = model_state(model)
    res = metrics.randomization_sanity_check(model, images, "scorecam", max_channels=3)
    assert res.passed, res.correlations
    assert_same_state(before, model_state(model))


def test_faster_scorecam_through_the_explainer_and_the_service(model, images):
    from fastapi.testclient import TestClient

    from tensorlayer_xplain.serve import create_app

    explainer = tlxp.ModelExplainer(model, methods=["scorecam"], config={"scorecam": {"max_channels": 2}})
    exp = explainer.explain(images[:2], method="scorecam", targets=[1, 3])
    direct = tlxp.explain(model, images[:2], "scorecam", [1, 3], max_channels=2)
    np.testing.assert_allclose(exp.attributions, direct.attributions, rtol=1e-6)
    assert exp.meta["channels"].shape == (2, 2)
    with TestClient(create_app(tlxp.ModelExplainer(model, methods=["scorecam"]))) as client:
        response = client.post("/explain", json={"inputs": images[:2].tolist(), "method": "scorecam",
                                                 "targets": [1, 3], "params": {"max_channels": 2}})
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)
        bad = client.post("/explain", json={"inputs": images[:2].tolist(), "method": "scorecam",
                                            "params": {"max_channels": 0}})
        assert bad.status_code in (400, 422) and "max_channels" in bad.text
