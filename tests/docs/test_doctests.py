"""The docstring examples run: every ``>>>`` line of the package is a doctest on a tiny model.

Examples use a shared namespace (:func:`doctest_namespace`): ``tlxp``, ``np``, ``tf``, ``tl``, a
small MNIST-shaped CNN ``model`` (28x28x1, 10 classes, seeded random weights), ``mlp`` (flat 784),
``x`` (4 images), ``X_test`` / ``y_test`` (16 images and labels), ``adapter``, ``explainer`` and an
explanation ``exp``; for sequences a fastText-style token model ``fasttext`` with ``ids`` (4, 10) and
``words`` (its 30-word vocabulary), a Keras LSTM ``lstm`` reading ``x_rows`` (MNIST rows), and a tiny
``Seq2seqLuongAttention`` ``luong`` with source ids ``src`` (4, 7) and teacher-forced ``dec`` (4, 5).
Each module's examples run in a fresh temporary folder (figures land there)
with the module's own globals. Examples that cannot run here (network, GPU, a server, minutes of
work) carry ``# doctest: +SKIP`` and say why in the line before.
"""
import doctest
import importlib
import os
import pkgutil
import warnings

import numpy as np
import pytest

import tensorlayer_xplain as tlxp

from conftest import tiny_luong, tiny_token_model

_OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules():
    names = [tlxp.__name__]
    for info in pkgutil.walk_packages(tlxp.__path__, tlxp.__name__ + "."):
        names.append(info.name)
    return sorted(names)


def _has_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError:  # optional extras (ray, gradio...) not installed
        return False
    finder = doctest.DocTestFinder(exclude_empty=True)
    return any(t.examples for t in finder.find(module, module=module))


MODULES = [name for name in _modules() if name.rsplit(".", 1)[-1] not in ("__main__",)]


def _two_input_model():
    """A TL static model on two 28x28x1 images (shared-shape encoders, concatenated, dense)."""
    import tensorflow as tf
    import tensorlayer as tl
    from tensorlayer.layers import Concat, Dense, Flatten, Input

    a, b = Input([None, 28, 28, 1]), Input([None, 28, 28, 1])
    h = Dense(8, act=tf.nn.tanh, in_channels=2 * 784)(Concat(1)([Flatten()(a), Flatten()(b)]))
    return tl.models.Model(inputs=[a, b], outputs=Dense(2, in_channels=8)(h))


def make_namespace(folder):
    """The names docstring examples may use without defining them (``folder``: where the shared store goes)."""
    import tensorflow as tf
    import tensorlayer as tl

    model = tlxp.models.cnn(seed=0)
    mlp = tlxp.models.mlp(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((4, 28, 28, 1), dtype=np.float32)
    X_test = rng.random((16, 28, 28, 1), dtype=np.float32)
    y_test = rng.integers(0, 10, 16)
    X_train = rng.random((32, 28, 28, 1), dtype=np.float32)
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "gradcam"], class_names=[str(i) for i in range(10)])
    exp = tlxp.explain(model, x, "gradient")
    adapter = tlxp.as_adapter(model)
    store = explainer.explain_dataset(X_test, os.path.join(folder, "shared.zarr"), methods=["gradient", "gradcam"],
                                      labels=y_test, progress=False)
    siamese = _two_input_model()
    fasttext = tiny_token_model("fasttext", seed=0)
    fasttext.eval()  # called directly in examples (TL's static models need a mode)
    keras_lstm = tf.keras.Sequential([tf.keras.Input((28, 28)), tf.keras.layers.LSTM(8), tf.keras.layers.Dense(10)])
    return {"tlxp": tlxp, "np": np, "tf": tf, "tl": tl, "os": os, "model": model, "cnn": model, "mlp": mlp,
            "x": x, "X_test": X_test, "x_test": X_test, "y_test": y_test, "X_train": X_train,
            "y_train": rng.integers(0, 10, 32), "adapter": adapter, "explainer": explainer, "exp": exp,
            "t": adapter.predict(x).argmax(1), "exps": explainer.explain_all(x), "store": store,
            "siamese": siamese, "xa": x, "xb": x[::-1].copy(), "ModelExplainer": tlxp.ModelExplainer,
            "ModelAdapter": tlxp.ModelAdapter, "as_adapter": tlxp.as_adapter, "explain": tlxp.explain,
            "vit": tlxp.models.attention_mnist(seed=0), "d": tlxp.diagnose(model, X_test, y_test),
            "fasttext": fasttext, "ids": rng.integers(1, 30, (4, 10)),
            "words": ["<pad>"] + ["w%d" % i for i in range(1, 30)], "lstm": keras_lstm, "x_rows": X_test[..., 0],
            "luong": tiny_luong("general", seed=0), "src": rng.integers(2, 9, (4, 7)),
            "dec": rng.integers(2, 9, (4, 5))}


#: ``# doctest: +IGNORE_RESULT``: the example runs (it must not raise) but the value it shows is
#: illustrative (timings, scores of a trained model); the tiny random model gives other numbers.
IGNORE_RESULT = doctest.register_optionflag("IGNORE_RESULT")


class Checker(doctest.OutputChecker):
    """Doctest's checker, except that an example showing no output is run for its effect (a figure
    function returns what it drew; the example need not print it) and ``IGNORE_RESULT`` is honoured."""

    def check_output(self, want, got, optionflags):
        if not want.strip() or optionflags & IGNORE_RESULT:
            return True
        return super().check_output(want, got, optionflags)


@pytest.fixture(scope="module")
def namespace(tmp_path_factory):
    return make_namespace(str(tmp_path_factory.mktemp("doctest_store")))


@pytest.mark.slow  # about 2-8 minutes on two cores for the whole package (LIME, SHAP, a diagnosis, a store)
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, namespace, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    module = importlib.import_module(name) if _has_examples(name) else None
    if module is None:
        return
    monkeypatch.chdir(tmp_path)
    printing = np.get_printoptions()
    np.set_printoptions(legacy="1.25")  # reprs as the docstrings write them: 16, not np.int64(16)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(checker=Checker(), optionflags=_OPTIONS)
    failures = []
    methods, metrics = set(tlxp.available_methods()), set(tlxp.metrics.registry.METRICS)
    try:
        for test in finder.find(module, module=module, globs=dict(namespace, **vars(module))):
            if test.examples:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runner.run(test, out=failures.append, clear_globs=True)
                plt.close("all")
    finally:
        np.set_printoptions(**printing)
        for name in set(tlxp.available_methods()) - methods:  # an example's own method must not reach other tests
            tlxp.unregister_method(name)
        for name in set(tlxp.metrics.registry.METRICS) - metrics:  # nor its own metric
            del tlxp.metrics.registry.METRICS[name]
    assert runner.failures == 0, "".join(failures)
