"""No leaks: deleted models are freed with their adapters and compiled steps; the cache is bounded by bytes."""
import gc
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter import ADAPTERS_ATTRIBUTE
from tensorlayer_xplain.explainer.cache import ExplanationCache, nbytes

from conftest import tiny_dynamic_cnn, tiny_keras_cnn, tiny_mlp, tiny_static_cnn

pytestmark = pytest.mark.slow  # minutes on two cores; `pytest -m "not slow"` leaves it out


def test_fifty_models_explained_and_deleted_leave_no_model_alive(rng):
    flat, images = rng.random((1, 64), dtype=np.float32), rng.random((1, 12, 12, 1), dtype=np.float32)
    models, functions = [], []
    for i in range(50):
        if i % 10 == 0:  # a few CNNs of each kind, through Grad-CAM
            model = (tiny_static_cnn, tiny_dynamic_cnn, tiny_keras_cnn)[(i // 10) % 3](seed=i)
            tlxp.explain(model, images, method="gradcam")
        elif i % 2:
            model = tiny_mlp(seed=i)
            tlxp.explain(model, flat, method="gradient")
        else:
            model = tiny_mlp(seed=i)
            tlxp.ModelExplainer(model, methods=["gradient"]).explain(flat)
        adapters = list(vars(model)[ADAPTERS_ATTRIBUTE].values())
        functions += [weakref.ref(fn) for a in adapters for fn in a._functions.values()]
        models.append(weakref.ref(model))
        del model, adapters
    gc.collect()
    alive = [i for i, ref in enumerate(models) if ref() is not None]
    assert not alive, "models still alive after del + gc: %s" % alive
    assert functions and all(ref() is None for ref in functions), "compiled steps outlived their model"


_FIRST_SHAP_IMPORT = textwrap.dedent("""
    import gc, sys, weakref
    import numpy as np
    import tensorlayer_xplain as tlxp
    from conftest import tiny_mlp, tiny_static_cnn
    assert "shap" not in sys.modules  # the first import happens inside explain, below
    rng = np.random.default_rng(0)

    def explained(method, build, shape):
        model = build(seed=1)
        x, bg = rng.random((1,) + shape, dtype=np.float32), rng.random((4,) + shape, dtype=np.float32)
        extra = {"nsamples": 30} if method == "shap_kernel" else {}
        tlxp.explain(model, x, method=method, background=bg, **extra)
        return weakref.ref(model)

    refs = [explained("shap_deep", tiny_static_cnn, (12, 12, 1)), explained("shap_kernel", tiny_mlp, (64,))]
    gc.collect()
    alive = [i for i, ref in enumerate(refs) if ref() is not None]
    print("alive:", alive)
    sys.exit(1 if alive else 0)
""")


def test_models_explained_when_shap_is_first_imported_are_freed():
    # shap keeps the tracebacks of its optional imports, which held the frames (and model) of its first caller;
    # only a fresh process imports shap for the first time
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, for conftest
    done = subprocess.run([sys.executable, "-c", _FIRST_SHAP_IMPORT], cwd=here, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.path.dirname(here)]),
                                                CUDA_VISIBLE_DEVICES="-1"))
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-2000:]


def _shap_import_errors_with_frames():
    from shap.utils import _general

    return [name for name, (_message, error) in _general.import_errors.items() if error.__traceback__ is not None]


@pytest.mark.filterwarnings("ignore:Linear regression equation is singular")  # 20 KernelSHAP samples, 64 features
def test_models_explained_with_shap_and_lime_and_deleted_leave_no_model_alive(rng):
    images, flat = rng.random((2, 12, 12, 1), dtype=np.float32), rng.random((2, 64), dtype=np.float32)
    calls = [(tiny_static_cnn, images, "shap_deep", {"background": images}),
             (tiny_static_cnn, images, "shap_partition", {"max_evals": 20}),
             (tiny_static_cnn, images, "lime", {"num_samples": 20, "segmentation": "grid", "n_segments": 4}),
             (tiny_mlp, flat, "shap_deep", {"background": flat}),
             (tiny_mlp, flat, "shap_kernel", {"background": flat, "nsamples": 20}),
             (tiny_mlp, flat, "shap", {"background": flat, "n_samples": 4})]
    models = []
    for seed, (build, x, method, params) in enumerate(calls):
        model = build(seed=seed)
        tlxp.explain(model, x, method=method, **params)
        models.append(weakref.ref(model))
        del model
    gc.collect()
    alive = [calls[i][2] for i, ref in enumerate(models) if ref() is not None]
    assert not alive, "models still alive after del + gc: %s" % alive
    # the tracebacks shap records for its optional imports hold their callers' frames (caught even when an
    # earlier test imported shap first)
    assert not _shap_import_errors_with_frames()


def _gradient_state():
    from tensorflow.python.eager import execute
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    return execute.record_gradient, {name: (entry, dict(entry)) for name, entry in registry.items()}


def _assert_same_gradient_state(before, after):
    assert after[0] is before[0], "execute.record_gradient was left replaced"
    assert after[1].keys() == before[1].keys(), "registry keys changed: %s" % (after[1].keys() ^ before[1].keys())
    for name, (entry, values) in before[1].items():
        assert after[1][name][0] is entry and after[1][name][1].keys() == values.keys(), name
        assert all(after[1][name][1][key] is value for key, value in values.items()), name


def test_shap_deep_restores_tensorflow_gradient_registry_and_recording(rng, monkeypatch):
    from shap.explainers._deep import deep_tf

    x = rng.random((2, 64), dtype=np.float32)
    model = tiny_mlp(seed=4)
    before = _gradient_state()
    tlxp.explain(model, x, method="shap_deep", background=x)
    _assert_same_gradient_state(before, _gradient_state())

    def failing(*args):
        raise RuntimeError("DeepLIFT rule failed half-way")

    # fails inside shap's gradient graph, while the registry and the recording are patched
    monkeypatch.setitem(deep_tf.op_handlers, "Relu", failing)
    with pytest.raises(RuntimeError, match="half-way"):
        tlxp.explain(model, x[:1], method="shap_deep", background=x)
    _assert_same_gradient_state(before, _gradient_state())


def test_as_adapter_still_reuses_and_keeps_a_temporary_model_alive(rng):
    model = tiny_mlp(seed=1)
    assert tlxp.as_adapter(model) is tlxp.as_adapter(model)
    assert tlxp.as_adapter(model, batch_size=8) is not tlxp.as_adapter(model)
    adapter = tlxp.as_adapter(tiny_mlp(seed=2))  # nobody else holds this model
    gc.collect()
    assert adapter.predict(rng.random((2, 64), dtype=np.float32)).shape == (2, 5)


class _Doubler:
    def __call__(self, x):
        return x * 2.0


def test_a_copied_model_does_not_carry_the_adapters():
    import copy

    model = _Doubler()
    adapter = tlxp.as_adapter(model, input_shape=(3,))
    clone = copy.deepcopy(model)
    assert vars(clone)[ADAPTERS_ATTRIBUTE] == {}
    for other in (clone, copy.copy(model)):  # a shallow copy shares the dict until it asks
        assert tlxp.as_adapter(other, input_shape=(3,)).model is other
    assert tlxp.as_adapter(model, input_shape=(3,)) is adapter


def test_cache_evicts_by_bytes_and_skips_values_over_the_budget():
    cache = ExplanationCache(maxsize=100, max_bytes=10_000)
    for i in range(5):
        cache.put(i, np.zeros(500))  # 4,000 bytes each: two fit
        assert cache.bytes <= 10_000
    assert len(cache) == 2 and cache.get(0) is None and cache.get(4) is not None
    cache.get(3)
    cache.put(5, np.zeros(500))  # evicts the least recently used (4), keeps 3
    assert cache.get(3) is not None and cache.get(4) is None and cache.bytes == 8_000
    cache.put(6, np.zeros(2_000))  # 16,000 bytes > budget: not stored, nothing evicted
    assert cache.get(6) is None and len(cache) == 2 and cache.too_big == 1
    assert cache.stats()["bytes"] == 8_000 and cache.stats()["max_bytes"] == 10_000
    with pytest.raises(ValueError, match="cache_bytes: expected a positive int number of bytes, got 0"):
        ExplanationCache(max_bytes=0)


def test_explainer_cache_bytes_bounds_results_and_streamed_chunks(rng):
    model = tiny_mlp(seed=3)
    x = rng.random((6, 64), dtype=np.float32)
    one = nbytes(tlxp.ModelExplainer(model, methods=["gradient"], cache=False).explain(x[:1]))
    explainer = tlxp.ModelExplainer(model, methods=["gradient"], cache_bytes=2 * one + one // 2)
    for i in range(4):
        explainer.explain(x[i:i + 1])
    info = explainer.cache_info
    assert info["size"] == 2 and info["bytes"] <= 2 * one + one // 2 and info["max_bytes"] == 2 * one + one // 2
    # streamed: every 3-sample chunk is bigger than the budget of one sample, so none is cached
    streaming = tlxp.ModelExplainer(model, methods=["gradient"], batch_size=3, cache_bytes=one)
    exp = streaming.explain(x)
    assert exp.attributions.shape == (6, 64)
    assert streaming.cache_info["size"] == 0 and streaming.cache_info["too_big"] == 2
    assert tlxp.ModelExplainer(model).cache_info["max_bytes"] == 256 * 2 ** 20
