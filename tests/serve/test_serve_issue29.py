"""Issue 29 rows 2-4, 8, 9: parameter ranges checked once before any work, costs that count every
parameter, deadlines that stop long loops, nested method names, honest 504s."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods._engine.baselines import blur_images, blur_radius
from tensorlayer_xplain.serve import create_app

from conftest import tiny_static_cnn

SIZE = 12


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=5, size=SIZE, n_classes=3)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((2, SIZE, SIZE, 1)).astype(np.float32)


class Counting:
    """A plain-callable image model that counts its calls (no call may happen before a range error)."""

    def __init__(self):
        self.w = np.random.default_rng(0).normal(size=(SIZE * SIZE, 3)).astype(np.float32)
        self.calls = 0

    def __call__(self, x):
        import tensorflow as tf

        self.calls += 1
        return tf.matmul(tf.reshape(tf.cast(x, tf.float32), (-1, SIZE * SIZE)), self.w)


BAD = [
    ("lime", {"compactness": 1e-300}, "compactness"), ("lime", {"compactness": 0}, "compactness"),
    ("lime", {"compactness": -1e-300}, "compactness"), ("lime", {"kernel_width": 0.0}, "kernel_width"),
    ("lime", {"hide_color": 1e308}, "hide_color"), ("lime", {"n_segments": SIZE * SIZE + 1}, "n_segments"),
    ("lime", {"num_samples": True}, "num_samples"), ("lime", {"batch_size": "big"}, "batch_size"),
    ("smoothgrad", {"noise_level": 1e30}, "noise_level"), ("rise", {"p_keep": 0.0}, "p_keep"),
    ("integrated_gradients", {"baseline": "blurred", "blur_sigma": 1e7}, "blur_sigma"),
    ("integrated_gradients", {"baseline": 1e30}, "baseline"), ("integrated_gradients", {"steps": None}, "steps"),
    ("occlusion", {"baseline_value": -1e30}, "baseline_value"), ("rise", {"seed": 2 ** 63}, "seed"),
    ("shap_partition", {"masker": "blur(99999999999,1)"}, "masker"),
    ("shap_kernel", {"background": 0.0}, "background"),
    ("smoothgrad", {"base_method": "lime", "base_params": {"compactness": 1e-300}}, "compactness"),
    ("smoothgrad", {"base_params": [1, 2]}, "base_params"),
]


@pytest.mark.parametrize("method, params, name", BAD)
def test_out_of_range_parameters_are_refused_before_any_model_call(method, params, name):
    model = Counting()
    adapter = tlxp.ModelAdapter(model, input_shape=(SIZE, SIZE, 1))
    with pytest.raises((ValueError, TypeError), match=name):
        tlxp.explain(adapter, np.zeros((1, SIZE, SIZE, 1), np.float32), method, targets=0, **params)
    assert model.calls == 0


def _declared_ranges():
    return {(method, key) for method in tlxp.available_methods() for key in tlxp.method_info(method).ranges}


def test_every_ranged_parameter_is_documented():
    with open("docs/serving.rst") as f:
        serving = f.read()
    for method, key in _declared_ranges():
        assert "``%s``" % key in serving, (method, key)


def test_a_native_parameter_of_every_method_is_declared():
    """Every float parameter of a registered method has a declared range, so none reaches native code raw."""
    declared = _declared_ranges()
    for method in tlxp.available_methods():
        for key, default in tlxp.method_parameters(method).items():
            if isinstance(default, float):
                assert (method, key) in declared, (method, key)


# ------------------------------------------------------------------ row 3: costs count every parameter
def test_blurred_baseline_is_bounded_by_the_image_and_counted(model, x):
    zeros = tlxp.estimate_cost(model, "integrated_gradients", 2, steps=1)
    blurred = tlxp.estimate_cost(model, "integrated_gradients", 2, steps=1, baseline="blurred", blur_sigma=SIZE)
    assert blurred.forward == zeros.forward + 2 and blurred.backward == zeros.backward
    with pytest.raises(ValueError, match="blur_sigma: expected a number in \\(0, 12\\]"):
        tlxp.estimate_cost(model, "integrated_gradients", 1, baseline="blurred", blur_sigma=SIZE + 0.5)
    assert blur_radius(3.0, (28, 28)) == 12 and blur_radius(1e7, (28, 28)) == 28
    from scipy.ndimage import gaussian_filter

    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    # within the image the kernel is SciPy's own (4 sigma): the default blur is unchanged
    np.testing.assert_array_equal(blur_images(images, 3.0), gaussian_filter(images, (0, 3, 3, 0), mode="nearest"))


# ------------------------------------------------------------------ rows 8, 9: HTTP answers
@pytest.fixture(scope="module")
def client(model):
    app = create_app(tlxp.ModelExplainer(model, methods=["gradient", "smoothgrad", "lime"], cache=False),
                     max_cost=50_000)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("value", [0, 1e-300, -1e-300, 5e-324])
def test_compactness_zero_or_tiny_is_a_422_and_the_connection_lives(client, x, value):
    r = client.post("/explain", json={"inputs": x[:1].tolist(), "method": "lime",
                                      "params": {"compactness": value, "num_samples": 20}})
    assert r.status_code == 422 and "compactness" in r.json()["detail"]
    assert client.get("/health").status_code == 200


def test_base_method_must_be_enabled_on_the_server(model, x):
    app = create_app(tlxp.ModelExplainer(model, methods=["gradient", "smoothgrad"], cache=False))
    with TestClient(app) as c:
        r = c.post("/explain", json={"inputs": x[:1].tolist(), "method": "smoothgrad",
                                     "params": {"base_method": "lime", "n_samples": 2}})
        assert r.status_code == 422 and "base_method" in r.json()["detail"] and "not enabled" in r.json()["detail"]
        ok = c.post("/explain", json={"inputs": x[:1].tolist(), "method": "smoothgrad",
                                      "params": {"base_method": "saliency", "n_samples": 2}})  # an alias of gradient
        assert ok.status_code == 200
        r = c.post("/explain", json={"inputs": x[:1].tolist(), "method": "smoothgrad",
                                     "params": {"base_method": "no_such_method"}})
        assert r.status_code == 422 and "base_method" in r.json()["detail"]


def test_long_method_names_are_not_echoed(client, x):
    r = client.post("/explain", json={"inputs": x[:1].tolist(), "method": "m" * 1_000_000})
    assert r.status_code == 422 and len(r.content) < 500


# ------------------------------------------------------------------ row 4: deadlines stop long loops
@pytest.mark.slow
def test_integrated_gradients_with_a_million_steps_frees_the_worker_soon_after_its_504():
    """All of one input's steps were one compiled call (~20 s here): the deadline could only stop between inputs."""
    big = tiny_static_cnn(seed=6, size=28, n_classes=3)
    explainer = tlxp.ModelExplainer(big, methods=["gradient", "integrated_gradients"], cache=False)
    x = np.random.default_rng(2).random((1, 28, 28, 1)).astype(np.float32)
    explainer.explain(x, "integrated_gradients", steps=2)  # traces predict and the IG step before the clock runs
    app = create_app(explainer, max_cost=None, timeout=3)
    with TestClient(app) as c:
        start = time.monotonic()
        r = c.post("/explain", json={"inputs": x.tolist(), "method": "integrated_gradients",
                                     "params": {"steps": 10 ** 6}})
        answered = time.monotonic() - start
        assert r.status_code == 504 and "the work was stopped" in r.json()["detail"], r.text
        assert answered < 3 + 2.5
        while c.get("/health").json()["queue"]["running"]:
            assert time.monotonic() - start < 3 + 2.5, "the worker is still busy"
            time.sleep(0.02)
        assert c.post("/explain", json={"inputs": x[:1].tolist(), "method": "gradient"}).status_code == 200


def test_a_504_does_not_claim_stopped_work_that_still_runs():
    release = threading.Event()

    @tlxp.register_method("one_long_piece")
    def one_long_piece(adapter, inputs, targets):
        release.wait(10)  # one piece that no deadline check can interrupt
        return inputs

    try:
        explainer = tlxp.ModelExplainer(tlxp.ModelAdapter(Counting(), input_shape=(SIZE, SIZE, 1)),
                                        methods=["one_long_piece"], cache=False)
        with TestClient(create_app(explainer, timeout=0.3, max_cost=None)) as c:
            pool = ThreadPoolExecutor(1)
            r = pool.submit(c.post, "/explain", json={"inputs": np.zeros((1, SIZE, SIZE, 1)).tolist(),
                                                      "targets": 0}).result()
            release.set()
            detail = r.json()["detail"]
            assert r.status_code == 504 and "still running" in detail and "was stopped" not in detail, detail
    finally:
        release.set()
        tlxp.unregister_method("one_long_piece")
