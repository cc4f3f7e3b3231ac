"""Issue 29, row 14: non-finite maps are flagged naming the method and inputs; a weights path is accepted by the
Ray path's explainer builder; figures show warm times; the command line is quiet (one-line errors)."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.scale.ray import build_explainer

from conftest import tiny_static_cnn


def _sqrt_model(x):
    """Finite outputs everywhere, an infinite gradient where an input is 0 (d sqrt(x)/dx at 0)."""
    flat = tf.reshape(x, (tf.shape(x)[0], -1))
    total = tf.reduce_sum(tf.sqrt(tf.abs(flat)), axis=1, keepdims=True)
    return tf.concat([total, -total], axis=1)


def test_non_finite_maps_warn_naming_the_method_and_inputs():
    x = np.ones((3, 4, 4, 1), np.float32)
    x[1, 2, 2, 0] = 0.0  # only input 1 reaches sqrt's infinite slope
    with pytest.warns(RuntimeWarning, match=r"gradient: 1 attribution values are NaN or infinite, in 1 of 3 inputs "
                                            r"\(1\); the model's outputs for them are finite"):
        exp = tlxp.explain(_sqrt_model, x, "gradient", targets=0, image_shape=(4, 4, 1))
    assert exp.meta["non_finite"].tolist() == [False, True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fine = np.random.default_rng(0).uniform(0.5, 1.0, (2, 4, 4, 1)).astype(np.float32)
        tlxp.explain(_sqrt_model, fine, "gradient", targets=0, image_shape=(4, 4, 1))


@pytest.mark.slow
def test_non_finite_model_outputs_are_named_as_the_cause():
    model = tiny_static_cnn(seed=3)
    kernel = model.all_weights[-2]
    kernel.assign(tf.fill(kernel.shape, np.float32(np.nan)))  # diverged weights of the last layer
    with pytest.warns(RuntimeWarning, match=r"gradient: .* NaN or infinite, in 2 of 2 inputs \(0, 1\); the model's "
                                            r"outputs for them are NaN or infinite too"):
        tlxp.explain(model, np.random.default_rng(0).random((2, 12, 12, 1)).astype("f4"), "gradient", targets=1)


@pytest.mark.slow
def test_ray_builder_accepts_a_weights_path(tmp_path):
    trained = tiny_static_cnn(seed=5)
    path = tlxp.save_weights(trained, str(tmp_path / "model.h5"))

    def model_fn():
        return tiny_static_cnn(seed=6)

    explainer = build_explainer(model_fn, path, ["gradient"])
    for a, b in zip(explainer.model.all_weights, trained.all_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    explainer = build_explainer(model_fn, tmp_path / "model.h5", ["gradient"])  # os.PathLike too
    np.testing.assert_array_equal(explainer.model.all_weights[0].numpy(), trained.all_weights[0].numpy())
    with pytest.raises(TypeError, match="weights: expected a weights file path .* got dict"):
        build_explainer(model_fn, {"w": 1}, ["gradient"])


@pytest.mark.slow
def test_visualize_all_shows_warm_times(tmp_path):
    explainer = tlxp.ModelExplainer(tiny_static_cnn(seed=7), methods=["gradient", "gradcam"])
    x = np.random.default_rng(1).random((2, 12, 12, 1)).astype("f4")
    exps = explainer.visualize_all(x, save_path=str(tmp_path / "figs"))
    for name, exp in exps.items():
        assert "traces" not in exp.timings, (name, exp.timings)  # a warm rerun's time, not the traced first call's
        assert exp.timings["compile"] >= 0 and exp.timings["per_sample"] > 0
    assert (tmp_path / "figs" / "compare_methods.png").exists()


@pytest.mark.slow
def test_cli_error_is_one_line_without_tensorflow_logging(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("TENSORLAYER_XPLAIN_NATIVE_LOGS", None)
    proc = subprocess.run([sys.executable, "-m", "tensorlayer_xplain", "explain", "--model", "nosuch_module:build"],
                          cwd=tmp_path, env=env, capture_output=True, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    expected = "tensorlayer_xplain: error: --model: cannot import 'nosuch_module' (No module named 'nosuch_module')\n"
    assert err == expected, err
    env["TENSORLAYER_XPLAIN_NATIVE_LOGS"] = "1"  # the opt-out keeps TensorFlow's own lines
    proc = subprocess.run([sys.executable, "-m", "tensorlayer_xplain", "explain", "--model", "nosuch_module:build"],
                          cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.decode().strip().splitlines()) > 1
