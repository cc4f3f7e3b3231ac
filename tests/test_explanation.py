"""Explanation: exact round trip through .npz, array behaviour, channel-reduced heatmaps."""
import os

import numpy as np
import pytest

import tensorlayer_xplain as tlxp


def make_explanation(rng, n=3):
    return tlxp.Explanation(
        "gradient", rng.random((n, 784), dtype=np.float32), rng.random((n, 784), dtype=np.float32),
        np.arange(n, dtype=np.int32), rng.random((n, 10), dtype=np.float32), (28, 28, 1),
        params={"absolute": True, "baseline": np.ones(3)}, timings={"total": 0.5, "per_sample": 0.1},
        meta={"signed": False, "completeness_gap": 0.01, "raw": object()},
    )


def test_explanation_round_trips_exactly(tmp_path, rng):
    exp = make_explanation(rng)
    path = exp.save(tmp_path / "exp")
    assert path.endswith(".npz") and os.listdir(tmp_path) == ["exp.npz"]
    back = tlxp.Explanation.load(path)
    for field in ("attributions", "inputs", "targets", "predictions"):
        np.testing.assert_array_equal(getattr(back, field), getattr(exp, field))
        assert getattr(back, field).dtype == getattr(exp, field).dtype
    assert back.method == "gradient" and back.image_shape == (28, 28, 1)
    assert back.params["absolute"] is True
    np.testing.assert_array_equal(back.params["baseline"], np.ones(3))
    assert back.timings == exp.timings
    assert back.meta["completeness_gap"] == 0.01 and back.meta["_unsaved"] == ["meta.raw"]


def test_explanation_acts_like_its_array(rng):
    exp = make_explanation(rng)
    assert np.asarray(exp) is exp.attributions
    assert exp.shape == (3, 784) and len(exp) == 3
    assert exp[0].reshape(28, 28).shape == (28, 28)
    assert exp.reshape(3, 28, 28).shape == (3, 28, 28)
    assert exp.heatmap().shape == (3, 28, 28)
    np.testing.assert_allclose(exp.heatmap()[1], exp.attributions[1].reshape(28, 28), rtol=1e-6)
    text = repr(exp)
    assert "method='gradient'" in text and "n=3" in text and "time=0.500s" in text
    with pytest.raises(ValueError, match="reduce: expected one of"):
        exp.heatmap("median")


def test_explanation_heatmap_reduces_channels(rng):
    attr = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    exp = tlxp.Explanation("x", attr, attr, [0, 1], np.zeros((2, 2)), (4, 4, 3))
    np.testing.assert_allclose(exp.heatmap("sum"), attr.sum(-1), rtol=1e-5)
    np.testing.assert_allclose(exp.heatmap("abs_sum"), np.abs(attr).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(exp.heatmap("max_abs"), np.abs(attr).max(-1), rtol=1e-5)
