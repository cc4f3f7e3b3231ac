"""Defaults that fit the model (issue 16, items 3-5): applicable methods, flagged maps, one forward pass, warm
timings."""
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Dropout, Input

import tensorlayer_xplain as tlxp
from tensorlayer_xplain._utils.map_checks import constant_rows, map_note
from tensorlayer_xplain.adapter import PREDICTED
from tensorlayer_xplain.methods.applicability import applicable_methods, skip_reason

from conftest import tiny_static_cnn


def tutorial_mlp(seed=0):
    """The TL tutorial MLP (tutorial_mnist_mlp_static.py): dropout, 800-800 ReLU, and Dense(10, act=relu)."""
    tf.random.set_seed(seed)
    ni = Input([None, 784])
    nn = Dropout(keep=0.8)(ni)
    nn = Dense(n_units=800, act=tf.nn.relu)(nn)
    nn = Dropout(keep=0.8)(nn)
    nn = Dense(n_units=800, act=tf.nn.relu)(nn)
    nn = Dropout(keep=0.8)(nn)
    nn = Dense(n_units=10, act=tf.nn.relu)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


@pytest.fixture(scope="module")
def mlp():
    return tutorial_mlp()


@pytest.fixture
def digits():
    return np.random.default_rng(1).random((2, 784), dtype=np.float32)


def test_compare_methods_defaults_work_on_the_tutorial_mlp(mlp, digits, tmp_path):
    path = str(tmp_path / "compare.png")
    with pytest.warns(UserWarning, match="skipped methods") as record:
        exps = tlxp.compare_methods(mlp, digits, name=path)
    assert os.path.getsize(path) > 0
    assert list(exps) == ["gradient", "integrated_gradients", "smoothgrad", "guided_backprop", "occlusion"]
    assert list(exps.skipped) == ["gradcam"] and "4-D output" in exps.skipped["gradcam"]
    assert any("gradcam" in str(w.message) for w in record)
    for exp in exps.values():
        assert exp.attributions.shape == digits.shape
        assert "traces" not in exp.timings  # warm timings (a first call that traced was run again)


def test_a_plain_callable_skips_layer_methods(digits):
    weights = np.random.default_rng(0).normal(size=(784, 3)).astype(np.float32)
    adapter = tlxp.as_adapter(lambda x: tf.matmul(x, weights))
    kept, skipped = applicable_methods(adapter, digits, ["gradient", "guided_backprop", "gradcam"], warn=False)
    assert kept == ["gradient"]
    assert "plain callable" in skipped["guided_backprop"] and "plain callable" in skipped["gradcam"]
    with pytest.raises(ValueError, match="methods: none of .*gradcam.*plain callable"):
        applicable_methods(adapter, digits, ["gradcam"])


def test_cam_applies_to_a_cnn_and_visualize_all_reports_skips(mlp, digits, tmp_path):
    assert skip_reason(tlxp.as_adapter(tiny_static_cnn(seed=3)), "gradcam") is None
    explainer = tlxp.ModelExplainer(mlp, methods=["gradient", "gradcam"], cache=False)
    with pytest.warns(UserWarning, match="gradcam: no layer with a 4-D output"):
        exps = explainer.visualize_all(digits, save_path=str(tmp_path))
    assert list(exps) == ["gradient"] and "gradcam" in exps.skipped
    assert sorted(os.listdir(tmp_path)) == ["compare_methods.png", "gradient.png"]


def test_all_zero_outputs_and_constant_maps_are_flagged(digits):
    model = tutorial_mlp(seed=1)
    last = model.all_layers[-1]
    last.b.assign(tf.fill(last.b.shape, -1e4))  # every output unit is a dead ReLU: all outputs 0
    with pytest.warns(RuntimeWarning) as record:
        exp = tlxp.explain(model, digits, "gradient")
    messages = " | ".join(str(w.message) for w in record)
    assert "outputs are all zero for 2 of 2 inputs" in messages and "ReLU on the output layer" in messages
    assert "map is constant" in messages
    assert exp.meta["equal_outputs"].tolist() == [True, True]
    assert exp.meta["constant_map"].tolist() == [True, True]
    assert np.all(exp.attributions == 0)
    assert map_note(exp, 0) == "constant map; all outputs equal"


def test_informative_maps_are_not_flagged(mlp, digits):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        exp = tlxp.explain(mlp, digits, "gradient_x_input")
    assert not exp.meta["constant_map"].any() and not exp.meta["equal_outputs"].any()
    assert map_note(exp, 1) == ""
    assert constant_rows(np.array([[1.0, 1.0 + 1e-9], [0.0, 1e-3]])).tolist() == [True, False]


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input", "gradcam", "gradcam_plus_plus"])
def test_predictions_come_from_the_methods_own_forward_pass(method, monkeypatch):
    model = tiny_static_cnn(seed=4)
    x = np.random.default_rng(2).random((6, 12, 12, 1), dtype=np.float32)
    adapter = tlxp.ModelAdapter(model)
    expected = adapter.predict(x)
    reference = tlxp.explain(adapter, x, method, targets=np.argmax(expected, 1))

    def no_predict(*args, **kwargs):
        raise AssertionError("explain ran an extra prediction pass")

    monkeypatch.setattr(adapter, "predict", no_predict)
    exp = tlxp.explain(adapter, x, method)
    np.testing.assert_allclose(exp.predictions, expected, rtol=1e-5, atol=1e-6)
    assert exp.targets.tolist() == np.argmax(expected, 1).tolist()
    np.testing.assert_allclose(exp.attributions, reference.attributions, rtol=1e-5, atol=1e-7)
    other = tlxp.explain(adapter, x, method, targets=1)  # explicit targets: no prediction pass either
    assert other.targets.tolist() == [1] * 6
    with pytest.raises(ValueError, match="targets: class index 4 is out of range"):
        tlxp.explain(adapter, x, method, targets=4)


def test_predicted_marker_selects_the_argmax_in_graph():
    scores = tf.constant([[0.1, 0.9, 0.0], [2.0, -1.0, 3.0]])
    adapter = tlxp.ModelAdapter(lambda v: v, input_shape=(3,))
    t = adapter.resolve_targets(PREDICTED, 2)
    assert t.tolist() == [-1, -1]
    np.testing.assert_allclose(adapter.select(scores, t).numpy(), [0.9, 3.0])
    with pytest.raises(ValueError, match="targets: class index -1 is out of range"):
        adapter.resolve_targets([-1, 0], 2)


def test_first_call_timings_exclude_tracing(tmp_path):
    model = tiny_static_cnn(seed=5)
    x = np.random.default_rng(3).random((3, 12, 12, 1), dtype=np.float32)
    first = tlxp.explain(model, x, "gradcam")
    assert first.timings["traces"] >= 1  # a fresh model: this call compiled the capture step
    assert "traces" not in tlxp.explain(model, x, "gradcam").timings
    exps = tlxp.compare_methods(tiny_static_cnn(seed=6), x, ["gradient", "gradcam"], name=str(tmp_path / "c.png"))
    for exp in exps.values():  # first calls on a fresh model: re-timed warm, tracing kept apart
        assert set(exp.timings) == {"total", "per_sample", "compile"} and exp.timings["compile"] >= 0
        assert exp.timings["per_sample"] == pytest.approx(exp.timings["total"] / 3)
