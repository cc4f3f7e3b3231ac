"""The HTML report (issue 16, item 6): its content, and how it renders in headless Chromium.

The browser test drives Debian's ``chromium`` (``apt-get install chromium``) with
Playwright through ``executable_path`` (Playwright's own browser download is not
used). It fails, not skips, when Chromium is missing: the check is the feature.
"""
import html
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Input

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.report import render_report

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def _mlp(name=None):
    """A small MLP on 28x28 digits whose last layer is a ReLU (as the TL tutorial's)."""
    tf.random.set_seed(7)
    ni = Input([None, 784])
    nn = Dense(n_units=32, act=tf.nn.relu)(ni)
    nn = Dense(n_units=10, act=tf.nn.relu)(nn)
    return tl.models.Model(inputs=ni, outputs=nn, name=name)


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    x[2] = 0.0  # zero input, zero biases: every output is 0, the gradient map is constant
    explainer = tlxp.ModelExplainer(_mlp("tutorial_mlp_report"),
                                    methods=["gradient", "integrated_gradients", "gradcam"],
                                    image_shape=(28, 28, 1), class_names=[str(d) for d in range(10)])
    path = str(tmp_path_factory.mktemp("report") / "report.html")
    with pytest.warns(Warning):
        explainer.report(x, path, labels=[3, 1, 4], metrics=["deletion", "insertion"],
                         sections=[("Diagnosis", "<p id='diagnosis'>two errors</p>")])
    return path


@pytest.fixture(scope="module")
def text(report_path):
    with open(report_path, encoding="utf-8") as f:
        return f.read()


def test_report_names_the_model_and_shows_true_labels(text):
    assert "<title>tensorlayer-xplain report: tutorial_mlp_report (Model)</title>" in text
    assert len(re.findall(r"<span( class='wrong')?>true \d</span>", text)) == 3
    assert "true 3" in text and "true 1" in text and "true 4" in text


def test_report_shows_effective_parameters_with_defaults(text):
    row = re.search(r"<tr class='method-row'><td>integrated_gradients</td>.*?</tr>", text).group(0)
    params = html.unescape(row)
    assert "steps=64" in params and "baseline='zeros'" in params and "seed=0" in params
    assert "magnitude" in re.search(r"<tr class='method-row'><td>gradient</td>.*?</tr>", text).group(0)
    assert "signed" in row


def test_report_lists_skipped_methods_metric_directions_and_curves(text):
    assert "<b>gradcam</b>: no layer with a 4-D output" in text
    assert "deletion<br><small>lower is better &darr;</small>" in text
    assert "insertion<br><small>higher is better &uarr;</small>" in text
    assert text.count("alt='gradient curves'") == 1 and text.count("alt='integrated_gradients curves'") == 1
    assert "alt='signed scale'" in text and "alt='magnitude scale'" in text


def test_report_notes_constant_maps_and_appends_sections(text):
    third = text[text.index("id='input-2'"):]
    assert "constant map; all outputs equal" in third
    assert "constant map" not in text[text.index("id='input-0'"):text.index("id='input-1'")]
    diagnosis = text.index("<section class='extra'><h2>Diagnosis</h2><p id='diagnosis'>two errors</p></section>")
    assert text.index("<h2>Methods</h2>") < diagnosis < text.index("<h2>Inputs</h2>")
    assert "src='http" not in text and "<link" not in text and "<script" not in text  # one self-contained file


def test_report_rejects_bad_labels_and_sections():
    exp = tlxp.explain(_mlp(), np.ones((2, 784), np.float32) / 2, "gradient", image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match=r"labels: expected one class index per input \(2,\), got shape \(3,\)"):
        render_report({"gradient": exp}, labels=[1, 2, 3])
    with pytest.raises(TypeError, match="sections: expected a list of \\(title, html\\) pairs"):
        render_report({"gradient": exp}, sections=["just html"])


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "the report test needs Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _open(browser, path, viewport, screenshot=None):
    """Load the report at ``viewport``; return (console errors, page errors, image widths, overflow px)."""
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        console, errors = [], []
        page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto("file://" + path)
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if screenshot:
            page.screenshot(path=screenshot, full_page=True)
        return console, errors, widths, overflow
    finally:
        context.close()


def test_report_renders_in_chromium_at_desktop_and_phone_width(chromium, report_path, tmp_path):
    for viewport in (DESKTOP, PHONE):
        console, errors, widths, overflow = _open(chromium, report_path, viewport,
                                                  str(tmp_path / ("%d.png" % viewport["width"])))
        assert console == [] and errors == []
        assert len(widths) == 2 + 3 + 2 * 3 + 2 and min(widths) > 0  # legend, inputs, maps, curve plots
        assert overflow <= 0, "horizontal overflow of %d px at width %d" % (overflow, viewport["width"])
        assert (tmp_path / ("%d.png" % viewport["width"])).stat().st_size > 10000
