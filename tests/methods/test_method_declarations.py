"""A method declared in one place: a new module registers it with its cost, rows, applicability, figure,
family, ranges and benchmark settings, and every part of the package picks it up without another file
being touched (issue 23, item 3)."""
import importlib
import importlib.util
import os

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods import costs, registry
from tensorlayer_xplain.methods.applicability import applicable_methods

NAME = "tmp_repeated_gradient"

MODULE = '''
"""A user's method, written in its own module: the mean of ``repeats`` identical gradients."""
import numpy as np

from tensorlayer_xplain import register_method
from tensorlayer_xplain.methods import engine
from tensorlayer_xplain.methods.registry import count

FIGURES = []


def needs_images(adapter, params):
    return None if len(adapter.input_shape) == 3 else "needs image inputs (H, W, C), got %s" % (adapter.input_shape,)


def draw(model, explanation, saveable=True, name="tmp"):
    FIGURES.append(name)
    with open(name, "w") as fh:
        fh.write("drawn %s" % (explanation.attributions.shape,))


@register_method("__NAME__", signed=True, family="gradient",
                 cost=lambda adapter, n, repeats, **_: (n * repeats, n * repeats),
                 batchable=True, applies=needs_images, figure=draw,
                 ranges={"repeats": count(100)},
                 benchmark={"quick": {"repeats": 2}, "work": ("repeats",)})
def repeated_gradient(adapter, inputs, targets, repeats=3, batch_size=None):
    x = np.asarray(inputs, np.float32)

    def one_pair(xb, k, t):
        return adapter.differentiate(xb, t)[0] / repeats

    return engine.sum_over_samples(adapter, "__NAME__", one_pair, (x,), (np.arange(repeats, dtype=np.float32),),
                                   targets, batch_size=batch_size)
'''.replace("__NAME__", NAME)


@pytest.fixture(scope="module")
def declared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_methods")
    path = folder / "tmp_declared_method.py"
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("tmp_declared_method", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    tlxp.unregister_method(NAME)


@pytest.fixture(scope="module")
def cnn():
    from conftest import tiny_static_cnn

    return tiny_static_cnn(seed=5)


@pytest.fixture(scope="module")
def mlp():
    from conftest import tiny_mlp

    return tiny_mlp(seed=5)


def test_it_is_costed_from_its_declaration(declared, cnn):
    assert tlxp.estimate_cost(cnn, NAME, 3, repeats=4) == tlxp.Cost(NAME, 3, 12, 12, 24)
    assert tlxp.estimate_cost(cnn, NAME, 2).total == 2 * 2 * 3  # its own default
    assert costs.batchable(NAME)
    with pytest.raises(ValueError, match="^max_cost: %s on 1 input\\(s\\) with repeats=50" % NAME):
        costs.check_budget(tlxp.estimate_cost(cnn, NAME, 1, repeats=50), 10, {"repeats": 50})


def test_its_ranges_are_checked_everywhere(declared, cnn):
    x = np.zeros((1, 12, 12, 1), np.float32)
    for call in (lambda: tlxp.estimate_cost(cnn, NAME, 1, repeats=101),
                 lambda: tlxp.explain(cnn, x, NAME, repeats=0),
                 lambda: tlxp.ModelExplainer(cnn, methods=[NAME]).explain(x, NAME, repeats=1000)):
        with pytest.raises(ValueError, match="^repeats: expected an int between 1 and 100 for %s" % NAME):
            call()
    assert registry.count_parameters(NAME) == ["repeats"]


def test_it_runs_on_the_engine_and_equals_the_gradient(declared, cnn):
    x = np.random.default_rng(0).random((5, 12, 12, 1)).astype(np.float32)
    ours = tlxp.explain(cnn, x, NAME, targets=1, repeats=3, batch_size=4)
    plain = tlxp.explain(cnn, x, "gradient", targets=1, absolute=False)
    np.testing.assert_allclose(ours.attributions, plain.attributions, rtol=1e-4, atol=1e-6)


def test_it_is_skipped_where_it_does_not_apply(declared, cnn, mlp):
    flat = tlxp.as_adapter(mlp)
    kept, skipped = applicable_methods(flat, np.zeros((2, 64), np.float32), ["gradient", NAME], warn=False)
    assert kept == ["gradient"] and skipped[NAME].startswith("needs image inputs")
    image = tlxp.as_adapter(cnn)
    kept, skipped = applicable_methods(image, np.zeros((2, 12, 12, 1), np.float32), ["gradient", NAME], warn=False)
    assert kept == ["gradient", NAME] and skipped == {}


def test_visualize_all_draws_it_with_its_figure_and_skips_it_on_an_mlp(declared, cnn, mlp, tmp_path):
    x = np.random.default_rng(1).random((2, 12, 12, 1)).astype(np.float32)
    exps = tlxp.ModelExplainer(cnn, methods=["gradient", NAME]).visualize_all(x, str(tmp_path / "cnn"),
                                                                            format="png", compare=False)
    drawn = str(tmp_path / "cnn" / ("%s.png" % NAME))
    assert declared.FIGURES[-1] == drawn and open(drawn).read() == "drawn (2, 12, 12, 1)"
    assert os.path.getsize(str(tmp_path / "cnn" / "gradient.png")) > 1000 and NAME in exps
    with pytest.warns(UserWarning, match=NAME):
        exps = tlxp.ModelExplainer(mlp, methods=["gradient", NAME]).visualize_all(
            np.random.default_rng(3).random((2, 64)).astype(np.float32), str(tmp_path / "mlp"), format="png",
            compare=False)
    assert list(exps) == ["gradient"] and "needs image inputs" in exps.skipped[NAME]
    assert not os.path.exists(str(tmp_path / "mlp" / ("%s.png" % NAME)))


def test_the_benchmark_suite_runs_it_with_its_settings(declared, cnn, mlp):
    from benchmarks import run as suite

    x = np.random.default_rng(2).random((10, 12, 12, 1)).astype(np.float32)
    tiny = {"batch": 4, "min_repeats": 1, "max_repeats": 1, "budget": 0.0, "metric_images": 3, "steps": 4,
            "n_subsets": 4}
    table, notes = suite.build_table({"tiny": (cnn, x, x), "flat": (mlp, np.zeros((10, 64), np.float32),
                                                                     np.zeros((10, 64), np.float32))},
                                     "quick", methods=[NAME], run=tiny, log=None)
    row = table[(table["method"] == NAME)].iloc[0]
    assert row["model"] == "tiny" and row["work"] == "repeats=2" and row["ours_ms_per_image"] > 0
    assert any(NAME in note and "needs image inputs" in note for note in notes), notes


def test_declarations_are_checked_when_registering():
    def fn(adapter, inputs, targets, k=1):
        return inputs

    with pytest.raises(TypeError, match="applies: expected a callable"):
        tlxp.register_method("tmp_bad", applies="yes")(fn)
    with pytest.raises(TypeError, match="ranges: expected a Range for 'k'"):
        tlxp.register_method("tmp_bad", ranges={"k": (1, 5)})(fn)
    with pytest.raises(ValueError, match="ranges: \\['q'\\] declared for parameters tmp_bad does not take"):
        tlxp.register_method("tmp_bad", ranges={"q": registry.COUNT})(fn)
    with pytest.raises(TypeError, match="figure: expected"):
        tlxp.register_method("tmp_bad", figure=3)(fn)
    assert "tmp_bad" not in tlxp.available_methods()


def test_no_table_outside_the_declarations_names_the_builtins():
    """The built-ins carry their own declarations: costs, figures and applicability are attributes of the spec."""
    for name in ("integrated_gradients", "smoothgrad", "rise", "lime", "shap_kernel", "scorecam", "occlusion"):
        assert callable(tlxp.method_info(name).cost), name
    assert tlxp.method_info("gradcam").figure == "gradcam_visualization"
    assert tlxp.method_info("guided_backprop").applies is not None
    assert not hasattr(costs, "COUNT_PARAMETERS") and not hasattr(costs, "_BUILTIN")
    ig = tlxp.method_parameters("integrated_gradients")
    multi = importlib.import_module("tensorlayer_xplain.multi_input")
    assert "steps" not in str(multi._integrated_gradients.__defaults__) and ig["steps"] == 64
