"""ModelExplainer complete: config validation, dispatch, custom methods, cache, streaming, report, CLI."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.explainer.cache import ExplanationCache, fingerprint

from conftest import assert_same_state, model_state, tiny_mlp, tiny_static_cnn


class CountingModel:
    """A plain callable linear model that counts its calls and the samples it saw."""

    def __init__(self, n_in=64, n_classes=3):
        self.w = tf.constant(np.linspace(-1, 1, n_in * n_classes, dtype=np.float32).reshape(n_in, n_classes))
        self.calls = 0
        self.samples = 0

    def __call__(self, x):
        self.calls += 1
        self.samples += int(x.shape[0])
        return tf.matmul(tf.reshape(x, (-1, self.w.shape[0])), self.w)


@pytest.fixture
def custom_method():
    @tlxp.register_method("scaled_input_test", signed=True)
    def scaled_input_test(adapter, inputs, targets, scale=2.0, steps=3, use_abs=False):
        adapter.predict(inputs)  # a model call, so the cache can be observed
        out = scale * inputs
        return np.abs(out) if use_abs else out

    yield "scaled_input_test"
    tlxp.unregister_method("scaled_input_test")


def test_default_methods_are_the_tutorials(static_cnn):
    assert tlxp.ModelExplainer(static_cnn).methods == ["gradient", "attention", "lime"]


def test_config_is_validated_at_construction(static_cnn, custom_method):
    with pytest.raises(KeyError, match="unknown 'gradcm'; did you mean 'gradcam'"):
        tlxp.ModelExplainer(static_cnn, methods=["gradient", "gradcm"])
    with pytest.raises(KeyError, match="unknown 'lim'"):
        tlxp.ModelExplainer(static_cnn, methods=["gradient"], config={"lim": {}})
    with pytest.raises(TypeError, match="parameter: unknown 'scal'; did you mean 'scale'"):
        tlxp.ModelExplainer(static_cnn, methods=[custom_method], config={custom_method: {"scal": 1.0}})
    with pytest.raises(TypeError,
                       match=r"config\['scaled_input_test'\]\['steps'\]: expected an int \(default 3\), got str"):
        tlxp.ModelExplainer(static_cnn, methods=[custom_method], config={custom_method: {"steps": "many"}})
    with pytest.raises(TypeError, match="expected a bool"):
        tlxp.ModelExplainer(static_cnn, methods=[custom_method], config={custom_method: {"use_abs": 1}})
    with pytest.raises(TypeError, match="config: expected a dict"):
        tlxp.ModelExplainer(static_cnn, config=[("gradient", {})])
    with pytest.raises(TypeError, match="methods: expected a list of method names"):
        tlxp.ModelExplainer(static_cnn, methods="gradient")
    with pytest.raises(ValueError, match="cache: expected True, False or a positive int"):
        tlxp.ModelExplainer(static_cnn, methods=["gradient"], cache=0)


@pytest.mark.slow
def test_dispatches_to_every_registered_method(rng):
    model = tiny_static_cnn(size=8)
    x = rng.random((2, 8, 8, 1), dtype=np.float32)
    background = rng.random((4, 8, 8, 1), dtype=np.float32)
    explainer = tlxp.ModelExplainer(model, methods=["gradient"], cache=False)
    ran = []
    for name in tlxp.available_methods():
        params = tlxp.method_parameters(name)
        overrides = {}
        if "background" in params:
            overrides["background"] = background
        if "training_data" in params:
            overrides["training_data"] = background.reshape(4, -1)
        for key, small in (("num_samples", 40), ("n_samples", 4), ("nsamples", 40), ("max_evals", 40),
                           ("steps", 8), ("n_masks", 16), ("n_subsets", 8)):
            if key in params:
                overrides[key] = small
        if name in ("lime_tabular", "shap_kernel"):
            continue  # flat-feature methods: covered on an MLP below
        if name == "attention_rollout":
            continue  # needs self-attention layers: covered in methods/test_attention.py
        exp = explainer.explain(x, method=name, **overrides)
        assert isinstance(exp, tlxp.Explanation) and exp.method == name
        assert exp.attributions.shape == x.shape and np.isfinite(exp.attributions).all()
        ran.append(name)
    assert "gradient" in ran and len(ran) >= 1


def test_custom_method_end_to_end_with_config_and_overrides(static_cnn, images, custom_method):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient", custom_method],
                                    config={custom_method: {"scale": 3.0}})
    exp = explainer.explain(images, method=custom_method)
    np.testing.assert_allclose(exp.attributions, 3.0 * images, rtol=1e-6)
    assert exp.params == {"scale": 3.0}
    exp2 = explainer.explain(images, method=custom_method, scale=0.5)
    np.testing.assert_allclose(exp2.attributions, 0.5 * images, rtol=1e-6)
    exps = explainer.explain_all(images)
    assert list(exps) == ["gradient", custom_method]


def test_cache_hits_without_calling_the_model_and_misses_after_weight_change(rng, custom_method):
    model = CountingModel()
    explainer = tlxp.ModelExplainer(model, methods=[custom_method], cache=4)
    x = rng.random((3, 64), dtype=np.float32)
    first = explainer.explain(x, method=custom_method)
    calls = model.calls
    again = explainer.explain(x.copy(), method=custom_method)
    assert again is first and model.calls == calls
    assert explainer.cache_info["hits"] == 1 and explainer.cache_info["misses"] == 1
    other = explainer.explain(x, method=custom_method, scale=5.0)  # other params: miss
    assert other is not first and explainer.cache_info["misses"] == 2
    explainer.explain(x, method=custom_method, targets=[0, 1, 2])  # other targets: miss
    assert explainer.cache_info["misses"] == 3
    explainer.clear_cache()
    assert explainer.cache_info["size"] == 0
    assert explainer.explain(x, method=custom_method) is not first


def test_cache_invalidated_by_weight_change_on_tl_model(static_cnn, images):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient"])
    first = explainer.explain(images)
    assert explainer.explain(images) is first
    w = static_cnn.all_weights[0]
    saved = w.numpy().copy()
    try:
        w.assign(saved * 1.5)
        changed = explainer.explain(images)
        assert changed is not first and not np.allclose(changed.attributions, first.attributions)
    finally:
        w.assign(saved)
    assert explainer.explain(images) is first  # back to the old weights: the old entry is valid again


def test_cache_is_bounded_lru():
    cache = ExplanationCache(maxsize=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    assert fingerprint(np.zeros(3)) != fingerprint(np.zeros(4)) != fingerprint(np.zeros(3, np.float64) + 1)


def test_failed_run_is_not_cached_and_leaves_model_intact(static_cnn, images):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient"])
    before = model_state(static_cnn)
    with pytest.raises(ValueError):
        explainer.explain(images, targets=17)
    assert explainer.cache_info["size"] == 0
    assert_same_state(before, model_state(static_cnn))


def test_large_inputs_and_datasets_are_streamed_in_batches(rng):
    model = CountingModel()
    explainer = tlxp.ModelExplainer(model, methods=["gradient"], batch_size=8, cache=False)
    x = rng.random((30, 64), dtype=np.float32)
    whole = tlxp.explain(model, x, "gradient", batch_size=64)
    model.calls = 0
    streamed = explainer.explain(x, progress=False)
    np.testing.assert_allclose(streamed.attributions, whole.attributions, atol=1e-6)
    assert model.calls >= 4 and streamed.timings["total"] > 0
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(30))).batch(8)
    from_dataset = explainer.explain(dataset, targets=np.arange(30) % 3, progress=False)
    assert from_dataset.shape == (30, 64) and list(from_dataset.targets[:4]) == [0, 1, 2, 0]


def test_report_has_one_section_per_input_and_method(tmp_path, static_cnn, images, custom_method):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient", custom_method], class_names=list("abcd"))
    path = explainer.report(images[:3], str(tmp_path / "r" / "report.html"))
    text = open(path, encoding="utf-8").read()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert len(re.findall(r"<section class='input'", text)) == 3
    assert len(re.findall(r"<figure class='method'>", text)) == 3 * 2
    assert len(re.findall(r"<tr class='method-row'>", text)) == 2
    assert "src='http" not in text and text.count("data:image/png;base64,") == 2 + 3 + 6  # legend, inputs, maps
    assert os.listdir(tmp_path / "r") == ["report.html"]


@pytest.mark.slow
def test_cli_explain_writes_outputs_and_errors_are_one_line(tmp_path):
    model = tiny_mlp(seed=3, n_in=784, n_classes=10)
    weights = str(tmp_path / "w.npz")
    model.save_weights(weights, format="npz")
    data = str(tmp_path / "x.npy")
    np.save(data, np.random.default_rng(0).random((6, 784), dtype=np.float32))
    module = tmp_path / "cli_model_module.py"
    module.write_text("import tensorflow as tf\nfrom tensorlayer.layers import Dense, Input\nimport tensorlayer as tl\n"
                      "def build():\n    ni = Input([None, 784])\n"
                      "    nn = Dense(16, act=tf.nn.relu, in_channels=784)(ni)\n"
                      "    return tl.models.Model(ni, Dense(10, in_channels=16)(nn))\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "tensorlayer_xplain", "explain", "--model", "cli_model_module:build",
                          "--weights", weights, "--data", data, "--n", "4", "--methods", "gradient", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "gradient.png").stat().st_size > 1000 and (out / "report.html").exists()
    for bad in (["explain", "--model", "nomodule_xyz:build"],
                ["explain", "--model", "cli_model_module:build", "--methods", "gradiant"],
                ["explain"], ["frobnicate"]):
        run = subprocess.run([sys.executable, "-m", "tensorlayer_xplain"] + bad, capture_output=True, text=True,
                             timeout=300, env=env, cwd=str(tmp_path))
        assert run.returncode == 2
        lines = [line for line in run.stderr.splitlines() if line.startswith("tensorlayer_xplain")]
        assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    help_run = subprocess.run([sys.executable, "-m", "tensorlayer_xplain", "explain", "--help"], capture_output=True,
                              text=True, timeout=300)
    assert help_run.returncode == 0 and "--methods" in help_run.stdout
