"""Explanation, registry, runner, minimal ModelExplainer, the first figure, and _compat."""
import os

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import _compat
from tensorlayer_xplain.visualize import figure_path

from conftest import assert_same_state, model_state, tiny_mlp


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


def test_registry_register_lookup_alias_and_errors(static_cnn, images):
    assert "gradient" in tlxp.available_methods()
    assert tlxp.get_method("saliency") is tlxp.get_method("gradient")

    @tlxp.register_method("double_input_test", signed=True)
    def double_input_test(adapter, inputs, targets, factor=2.0):
        return factor * inputs

    try:
        assert tlxp.method_parameters("double_input_test") == {"factor": 2.0}
        exp = tlxp.ModelExplainer(static_cnn, methods=["double_input_test"]).explain(images, "double_input_test", factor=3.0)
        np.testing.assert_allclose(exp.attributions, 3 * images)
        assert exp.meta["signed"] is True
        with pytest.raises(ValueError, match="already registered"):
            tlxp.register_method("double_input_test")(double_input_test)
        with pytest.raises(TypeError, match="unknown 'factr'; did you mean 'factor'"):
            tlxp.explain(static_cnn, images, "double_input_test", factr=1)
    finally:
        tlxp.unregister_method("double_input_test")
    with pytest.raises(KeyError, match="method: unknown 'double_input_test'.*Known: .*gradient"):
        tlxp.get_method("double_input_test")
    with pytest.raises(TypeError, match=r"must take \(adapter, inputs, targets"):
        tlxp.register_method("bad_signature")(lambda x: x)


def test_explainer_minimal_api(static_cnn, images):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient"], config={"gradient": {"absolute": False}})
    exp = explainer.explain(images, method="gradient", target_class=2)
    assert isinstance(exp, tlxp.Explanation) and (exp.targets == 2).all()
    assert exp.attributions.min() < 0  # config absolute=False honoured
    assert exp.timings["total"] > 0 and exp.predictions.shape == (5, 4)
    with pytest.raises(KeyError, match="unknown 'gradiant'; did you mean 'gradient'"):
        tlxp.ModelExplainer(static_cnn, methods=["gradiant"])
    with pytest.raises(TypeError, match="unknown 'absolut'; did you mean 'absolute'"):
        tlxp.ModelExplainer(static_cnn, methods=["gradient"], config={"gradient": {"absolut": True}})


def test_no_method_mutates_the_model_even_on_error(static_cnn, images):
    before = model_state(static_cnn)
    tlxp.explain(static_cnn, images, "gradient")
    with pytest.raises(ValueError):
        tlxp.explain(static_cnn, images, "gradient", targets=99)
    assert_same_state(before, model_state(static_cnn))


def test_gradient_visualization_writes_file_and_closes(tmp_path, static_cnn, images):
    exp = tlxp.gradient_visualization(static_cnn, images[:2], 1, name=str(tmp_path / "grad"))
    assert os.path.getsize(tmp_path / "grad.pdf") > 1000
    assert isinstance(exp, tlxp.Explanation) and (exp.targets == 1).all()
    again = tlxp.gradient_visualization(static_cnn, exp, name=str(tmp_path / "sub" / "grad.png"))
    assert again is exp and (tmp_path / "sub" / "grad.png").read_bytes()[:4] == b"\x89PNG"
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "grad.pdf").st_mode & 0o777 == 0o666 & ~umask  # not a temp file's 0600
    # a failure while drawing leaves no file behind
    with pytest.raises(ValueError):
        tlxp.gradient_visualization(static_cnn, images, targets=99, name=str(tmp_path / "bad.png"))
    assert not (tmp_path / "bad.png").exists()


def test_gradient_visualization_display_mode_is_headless(static_cnn, images):
    exp = tlxp.gradient_visualization(static_cnn, images[:1], saveable=False, second=0.01)
    assert exp.attributions.shape == (1, 12, 12, 1)


def test_figure_path_follows_tl():
    assert figure_path("gradient") == "gradient.pdf"
    assert figure_path("out/x.png") == "out/x.png"
    assert figure_path("v1.5") == "v1.5.pdf"


def test_compat_patches_fix_the_symptoms(tmp_path, rng):
    assert {"h5py3_weight_names", "npz_without_pickle", "batchnorm_tf_function"} <= set(_compat.apply_patches())
    model = tiny_mlp(seed=1)
    x = rng.random((2, 64), dtype=np.float32)
    model.eval()
    expected = model(x).numpy()
    # hdf5 (h5py 3) and plain npz (numpy 2) load by order into another instance
    for fmt, ext in (("hdf5", "h5"), ("npz", "npz")):
        path = str(tmp_path / ("w_%s.%s" % (fmt, ext)))
        model.save_weights(path, format=fmt)
        other = tiny_mlp(seed=2)
        other.load_weights(path, format=fmt)
        other.eval()
        np.testing.assert_allclose(other(x).numpy(), expected, atol=1e-6)
    # by-name hdf5 loading goes through the patched group reader too
    model.save_weights(str(tmp_path / "byname.h5"), format="hdf5")
    model.all_weights[0].assign(tf.zeros_like(model.all_weights[0]))
    model.load_weights(str(tmp_path / "byname.h5"), format="hdf5", in_order=False)
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)


def test_import_is_quiet():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", "import tensorlayer_xplain"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tensorlayer_xplain" not in out.stderr  # no warnings of our own


def test_display_mode_rejects_a_negative_display_time(static_cnn, images):
    with pytest.raises(ValueError, match="second: expected a non-negative number"):
        tlxp.gradient_visualization(static_cnn, images[:1], saveable=False, second=-1)
