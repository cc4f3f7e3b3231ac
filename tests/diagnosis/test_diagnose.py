"""diagnose: a tiny CNN trained here with a planted shortcut is caught; a clean one raises no alarm."""
import os
import re
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.diagnosis import RELIANCE_THRESHOLD, default_probes, object_regions, replace_region

from conftest import tiny_static_cnn

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

SIZE, N_CLASSES, PLANTED = 12, 4, 2
PATCH = (slice(0, 2), slice(10, 12))  # top-right corner, away from every stroke
# Grad-CAM's 6x6 maps on 12x12 images spill far outside 1-pixel strokes; pixel-level methods measure reliance
METHODS = ("integrated_gradients", "gradient_x_input")
CONFIG = {"integrated_gradients": {"steps": 16}}


def strokes(n, seed):
    """Gray 12x12 images of four stroke classes (horizontal, vertical, diagonal, anti-diagonal), jittered."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x = np.zeros((n, SIZE, SIZE, 1), np.float32)
    # class 2 is drawn as a diagonal or (half the time) as the anti-diagonal of class 3: its shape alone
    # is ambiguous, so a patch correlated with it is a shortcut the model takes
    shape = np.where((y == 2) & (rng.random(n) < 0.5), 3, y)
    for i, kind in enumerate(shape):
        r, c = rng.integers(3, 6, 2)
        for t in range(5):
            rr, cc = [(r + 2, c + t), (r + t, c + 2), (r + t, c + t), (r + t, c + 4 - t)][kind]
            x[i, rr, cc, 0] = 1.0
    x += rng.uniform(0, 0.05, x.shape).astype(np.float32)
    return np.clip(x, 0, 1), y


def plant(x, y, share, seed):
    rng = np.random.default_rng(seed)
    x = x.copy()
    hit = (y == PLANTED) & (rng.random(len(y)) < share)
    x[hit, PATCH[0], PATCH[1]] = 1.0
    return x


def trained(x, y, seed):
    model = tiny_static_cnn(seed=seed, size=SIZE, n_classes=N_CLASSES)
    tlxp.models.train(model, x, y, epochs=25, batch_size=32, learning_rate=3e-3, seed=seed, progress=False)
    model.eval()
    return model


@pytest.fixture(scope="module")
def data():
    x_train, y_train = strokes(400, 0)
    x_test, y_test = strokes(200, 1)
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="module")
def shortcut(data):
    x_train, y_train, x_test, y_test = data
    model = trained(plant(x_train, y_train, 0.95, 0), y_train, 0)
    explainer = tlxp.ModelExplainer(model, methods=list(METHODS), config=CONFIG)
    return model, explainer.diagnose(plant(x_test, y_test, 0.95, 1), y_test, methods=METHODS, top_k=5)


@pytest.fixture(scope="module")
def clean(data):
    x_train, y_train, x_test, y_test = data
    model = trained(x_train, y_train, 1)
    y_noisy = y_test.copy()
    y_noisy[:6] = (y_noisy[:6] + 1) % N_CLASSES  # a few wrong labels: errors are guaranteed
    return model, tlxp.diagnose(model, x_test, y_noisy, methods=METHODS, config=CONFIG, top_k=4)


def test_planted_class_relies_outside_the_object(shortcut):
    _, d = shortcut
    rel = d.reliance.set_index("class")
    assert rel["outside_share"].idxmax() == PLANTED
    others = rel.drop(PLANTED)
    assert rel.loc[PLANTED, "flip_rate"] > others["flip_rate"].max()
    assert rel.loc[PLANTED, "score_drop"] > others["score_drop"].max()
    assert d.flagged_classes == [PLANTED]
    region = d.flagged_region(PLANTED)
    assert region[PATCH].any()  # the flagged region sits on the planted patch
    assert region[PATCH].sum() / region.sum() > 0.5


def test_user_masks_give_the_same_finding(shortcut, data):
    model, d = shortcut
    _, _, x_test, y_test = data
    masks = object_regions(x_test, "ink", dilation=1)  # the strokes of the unpatched images
    d2 = tlxp.diagnose(model, plant(x_test, y_test, 0.95, 1), y_test, methods=METHODS, config=CONFIG,
                       regions=masks, top_k=0)
    assert d2.region_source == "user masks"
    assert d2.flagged_classes == [PLANTED]


def test_no_false_alarm_without_shortcut(clean):
    _, d = clean
    assert d.flagged_classes == []
    assert not d.reliance["flagged"].any()
    # the documented rule: excess over the median > RELIANCE_THRESHOLD and flip rate >= FLIP_THRESHOLD
    rule = (d.reliance["excess"] > RELIANCE_THRESHOLD) & (d.reliance["flip_rate"] >= d.thresholds["flip_threshold"])
    assert (rule == d.reliance["flagged"]).all()


def test_errors_ranked_and_explained_for_both_classes(clean):
    _, d = clean
    errors = d.errors
    assert len(errors) >= 6
    assert np.all(np.diff(errors["confidence"].to_numpy()) <= 0)
    assert (errors["predicted"] != errors["true"]).all()
    assert np.allclose(errors["margin"], errors["confidence"] - errors["true_probability"])
    assert errors["explained"].sum() == 4 and errors["explained"].iloc[:4].all()
    top = errors[errors["explained"]]
    for method in METHODS:
        pred, true = d.error_explanations[method]
        np.testing.assert_array_equal(pred.targets, top["predicted"])
        np.testing.assert_array_equal(true.targets, top["true"])
        np.testing.assert_allclose(d.error_differences(method), pred.heatmap() - true.heatmap())
    conf = d.confusions
    assert conf["count"].sum() == len(errors)
    assert np.all(np.diff(conf["count"].to_numpy()) <= 0)
    assert np.isclose(conf["cumulative_share"].iloc[-1], 1.0)


def test_dataframes_have_documented_columns(clean):
    _, d = clean
    assert list(d.errors.columns) == ["rank", "index", "true", "predicted", "confidence", "true_probability",
                                      "margin", "outside_share", "explained"]
    assert list(d.confusions.columns) == ["true", "predicted", "pair", "count", "share", "cumulative_share"]
    assert list(d.reliance.columns) == ["class", "name", "n"] + ["outside_share_%s" % m for m in METHODS] + [
        "outside_share", "flip_rate", "score_drop", "excess", "flagged"]
    assert d.reliance["flagged"].dtype == bool and list(d.reliance["class"]) == list(range(N_CLASSES))
    assert list(d.sensitivity.columns) == ["probe", "class", "name", "n", "flip_rate", "score_change",
                                           "accuracy_before", "accuracy_after"]
    assert set(d.sensitivity["probe"]) == {"brightness", "contrast", "blur", "noise", "translate"}
    prof = d.profiles["integrated_gradients"]
    assert prof["correct"].shape == (N_CLASSES, SIZE, SIZE)
    assert (prof["n_correct"] + prof["n_wrong"]).sum() == len(d.labels)


def test_report_has_one_section_per_part(clean, tmp_path):
    _, d = clean
    path = d.report(str(tmp_path / "diagnosis.html"))
    text = open(path, encoding="utf-8").read()
    parts = re.findall(r"id='diagnosis-(\w+)'", text)
    assert parts == ["errors", "confusions", "profiles", "reliance", "sensitivity"]
    assert text.count("<section class='extra'>") == 5
    assert text.count("data:image/png;base64,") >= 5 + 2 * 4  # five figures + the explained errors' maps
    assert "http://" not in text and "https://" not in text  # self-contained
    assert os.listdir(tmp_path) == ["diagnosis.html"]
    assert plt.get_fignums() == []


def test_figures_follow_tl_conventions(clean, tmp_path):
    _, d = clean
    paths = d.save_figures(tmp_path)
    assert sorted(paths) == ["confusions", "errors", "profiles", "reliance", "sensitivity"]
    assert all(os.path.getsize(p) > 1000 for p in paths.values())
    d.plot_reliance(name=str(tmp_path / "rel"), fig_idx=7)  # TL default: name + '.pdf'
    assert (tmp_path / "rel.pdf").exists()
    d.plot_sensitivity(saveable=False, second=0)
    assert plt.get_fignums() == []


def test_model_unchanged(data):
    _, _, x_test, y_test = data
    model = tiny_static_cnn(seed=3, size=SIZE, n_classes=N_CLASSES)
    model.train()
    flags = [getattr(layer, "is_train", None) for layer in model.all_layers]
    before = [w.numpy().copy() for w in model.all_weights]
    tlxp.diagnose(model, x_test[:40], y_test[:40], methods=METHODS, config=CONFIG, top_k=2)
    assert model.is_train is True
    assert [getattr(layer, "is_train", None) for layer in model.all_layers] == flags
    for w, b in zip(model.all_weights, before):
        np.testing.assert_array_equal(w.numpy(), b)


def test_bad_input_names_the_argument(clean, data):
    model, _ = clean
    _, _, x_test, y_test = data
    x, y = x_test[:8], y_test[:8]
    with pytest.raises(ValueError, match="y: expected 8 integer"):
        tlxp.diagnose(model, x, y[:5])
    with pytest.raises(ValueError, match=r"y: expected labels in \[0, 4\)"):
        tlxp.diagnose(model, x, y + 10)
    with pytest.raises(ValueError, match="regions: expected object masks"):
        tlxp.diagnose(model, x, y, regions=np.ones((3, 5, 5), bool))
    with pytest.raises(ValueError, match="regions: expected masks or one of"):
        tlxp.diagnose(model, x, y, regions="sky")
    with pytest.raises(ValueError, match="fill: expected one of"):
        tlxp.diagnose(model, x, y, fill="paint")
    with pytest.raises(ValueError, match="probes: unknown probe 'channel_swap'"):
        tlxp.diagnose(model, x, y, probes=["channel_swap"])  # gray images: no channel swap
    with pytest.raises(ValueError, match="top_k: expected"):
        tlxp.diagnose(model, x, y, top_k=-1)


def test_regions_and_fills_on_arrays():
    img = np.zeros((1, 10, 10, 1), np.float32)
    img[0, 3:7, 3:7] = 1.0
    img[0, 0, 9] = 1.0  # a separate blob is not the object
    mask = object_regions(img, "ink", dilation=0)
    assert mask.sum() == 16 and not mask[0, 0, 9]
    rgb = np.zeros((1, 16, 16, 3), np.float32) + [0.2, 0.5, 0.2]
    rgb[0, 5:11, 5:11] = [0.9, 0.1, 0.1]
    sal = object_regions(rgb, "auto", dilation=0)  # colour images: contrast to the border
    assert sal[0, 6:10, 6:10].all() and not sal[0, :3].any()
    blob = np.zeros((1, 10, 10), bool)
    blob[0, 0:2, 8:10] = True
    for fill in ("inpaint", "blur", "zero"):
        out = replace_region(img, blob, fill)
        assert out[0, 0, 9, 0] < 0.5 and np.array_equal(out[~blob], img[~blob])
    assert "channel_swap" in default_probes(rgb) and "channel_swap" not in default_probes(img)


@pytest.mark.slow
def test_cli_diagnose(clean, data, tmp_path):
    model, _ = clean
    _, _, x_test, y_test = data
    weights = str(tmp_path / "w.h5")
    model.save_weights(weights, format="hdf5")  # loaded by order into the freshly built model
    np.savez(tmp_path / "data.npz", x=x_test[:60], y=y_test[:60])
    builder = tmp_path / "tiny_builder.py"
    builder.write_text("from conftest import tiny_static_cnn\n\ndef build():\n"
                       "    return tiny_static_cnn(seed=9, size=%d, n_classes=%d)\n" % (SIZE, N_CLASSES))
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), tests_dir, os.path.dirname(tests_dir)]))
    out = subprocess.run([sys.executable, "-m", "tensorlayer_xplain", "diagnose", "--model", "tiny_builder:build",
                          "--weights", weights, "--data", str(tmp_path / "data.npz"), "--methods",
                          "integrated_gradients", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "flagged classes: none" in out.stdout
    assert (tmp_path / "out" / "report.html").exists() and (tmp_path / "out" / "diagnosis_reliance.png").exists()
