"""The Gradio demo (tensorlayer_xplain.serve.demo, also importable as tensorlayer_xplain.app): the interface builds
(never launched) and its handlers work."""
import sys

import gradio as gr
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.serve import ExplainService
from tensorlayer_xplain.serve.demo import build_demo, default_examples, explain_image, maps_figure, sketch_to_image
from tensorlayer_xplain.visualize._draw import normalize_map

from conftest import tiny_static_cnn

SIZE = 12


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=8, size=SIZE, n_classes=4)


@pytest.fixture(scope="module")
def explainer(model):
    return tlxp.ModelExplainer(model, methods=["gradient", "gradcam", "integrated_gradients"],
                              class_names=["zero", "one", "two", "three"])


@pytest.fixture(scope="module")
def examples():
    return np.random.default_rng(3).random((5, SIZE, SIZE, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def demo(explainer, examples):
    return build_demo(explainer, examples=examples)


def _blocks_of(demo, kind):
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def test_interface_builds_with_gallery_sketchpad_and_method_choice(demo, examples):
    assert isinstance(demo, gr.Blocks)
    assert len(_blocks_of(demo, gr.Sketchpad)) == 1 and len(_blocks_of(demo, gr.Plot)) == 1
    (gallery,) = _blocks_of(demo, gr.Gallery)
    assert len(gallery.value) == len(examples)
    (methods,) = _blocks_of(demo, gr.CheckboxGroup)
    assert [c[1] for c in methods.choices] == ["gradient", "gradcam", "integrated_gradients"]
    assert methods.value == ["gradient", "gradcam"]
    (target,) = _blocks_of(demo, gr.Dropdown)
    assert [c[1] for c in target.choices] == ["predicted class", "zero", "one", "two", "three"]
    handlers = {getattr(fn.fn, "__name__", "") for fn in demo.fns.values()}
    assert {"pick", "use_drawing", "run"} <= handlers


def test_picking_an_example_shows_prediction_and_maps_side_by_side(demo, model, examples):
    current, shown, labels, figure, status = demo.xplain_handlers["pick"](
        ["gradient", "gradcam"], "predicted class", gr.SelectData(None, {"index": 2, "value": None}))
    np.testing.assert_array_equal(current, examples[2])
    assert shown.shape == (SIZE * 8, SIZE * 8) and shown.dtype == np.uint8 and status == ""
    scores = tlxp.as_adapter(model).predict(examples[2:3])[0]
    assert max(labels, key=labels.get) == ["zero", "one", "two", "three"][int(np.argmax(scores))]
    assert abs(sum(labels.values()) - 1) < 1e-5
    panels = [ax for ax in figure.axes if ax.images and ax.get_title()]
    assert [ax.get_title().split("\n")[0] for ax in panels[1:]] == ["gradient", "gradcam"]
    direct = tlxp.explain(model, examples[2:3], "gradcam")
    np.testing.assert_allclose(panels[2].images[0].get_array(), normalize_map(direct.heatmap()[0]), atol=1e-5)


def test_target_choice_and_method_errors(demo, explainer, examples):
    run = demo.xplain_handlers["run"]
    labels, figure, status = run(examples[0], ["integrated_gradients"], "three")
    assert "target three" in figure.axes[1].get_title() and status == ""
    labels, figure, status = run(examples[0], ["occlusion"], "predicted class")
    assert labels is None and "not enabled" in status
    labels, figure, status = run(examples[0], [], "predicted class")
    assert len(labels) == 4 and figure is None and "at least one method" in status
    assert run(None, ["gradient"], "predicted class")[2].startswith("Pick a test digit")


def test_drawing_becomes_a_centred_mnist_style_digit(demo):
    canvas = np.zeros((280, 280, 4), np.uint8)  # transparent canvas, one black vertical stroke off-centre
    canvas[30:250, 40:70, 3] = 255
    current, shown, labels, figure, status = demo.xplain_handlers["use_drawing"](
        {"composite": canvas, "background": None, "layers": []}, ["gradient"], "predicted class")
    assert current.shape == (SIZE, SIZE, 1) and status == "" and len(labels) == 4
    rows, cols = np.nonzero(current[..., 0] > 0.1)
    assert rows.max() - rows.min() + 1 <= SIZE and 0 < cols.min() and cols.max() < SIZE - 1
    yy, xx = np.indices(current.shape[:2])
    mass = current[..., 0].sum()
    assert abs((yy * current[..., 0]).sum() / mass - (SIZE - 1) / 2) <= 1
    assert abs((xx * current[..., 0]).sum() / mass - (SIZE - 1) / 2) <= 1
    empty = demo.xplain_handlers["use_drawing"]({"composite": np.zeros((280, 280, 4), np.uint8)}, ["gradient"],
                                                "predicted class")
    assert empty[0] is None and "draw a digit first" in empty[-1]


def test_sketch_to_image_on_a_white_canvas_fits_the_mnist_box():
    canvas = np.full((300, 300, 3), 255, np.uint8)
    canvas[20:280, 100:140] = 0  # a long bar: its height is scaled to 20 of 28 pixels
    digit = sketch_to_image(canvas)
    rows, _ = np.nonzero(digit[..., 0] > 0.05)
    assert digit.shape == (28, 28, 1) and 19 <= rows.max() - rows.min() + 1 <= 21
    assert digit.min() >= 0 and digit.max() <= 1 and digit[0, 0, 0] == 0
    with pytest.raises(ValueError, match="draw a digit first"):
        sketch_to_image(None)


def test_explain_image_and_figure_without_gradio_state(explainer, examples):
    service = ExplainService(explainer)
    labels, figure = explain_image(service, examples[1], ["gradient", "integrated_gradients"], target=1)
    assert len(figure.axes) >= 3 and "target one" in figure.axes[1].get_title()
    with pytest.raises(ValueError, match=r"\(N, 12, 12, 1\)"):
        explain_image(service, np.zeros((5, 5)), ["gradient"])
    exp = explainer.explain(examples[:1], "gradient")
    assert len(maps_figure({"a": exp, "b": exp}).axes) >= 3


def test_default_examples_are_mnist_test_digits():
    digits = default_examples((28, 28, 1), n=4)
    assert digits.shape == (4, 28, 28, 1) and digits.dtype == np.float32
    assert 0 <= digits.min() and digits.max() < 1 and digits.mean() > 0.05
    assert default_examples((12, 12, 1)) is None


def test_missing_gradio_gives_install_hint(monkeypatch, explainer):
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(ImportError, match=r"tensorlayer-xplain\[app\]"):
        build_demo(explainer)
