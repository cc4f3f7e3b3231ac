"""LIME/SHAP figures: files written, TL conventions, what is returned, precomputed explanations, errors."""
import os

import numpy as np
import pandas as pd
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.visualize.lime_shap import lime_overlay, top_segments

from conftest import tiny_mlp, tiny_static_cnn


@pytest.fixture(scope="module")
def cnn():
    return tiny_static_cnn(seed=8)


@pytest.fixture
def x(rng):
    return rng.random((2, 12, 12, 1), dtype=np.float32)


def test_lime_visualization_writes_png_and_returns_the_explanation(cnn, x, tmp_path):
    path = str(tmp_path / "lime.png")
    exp = tlxp.lime_visualization(cnn, x, name=path, num_samples=60, num_features=3, seed=0)
    assert os.path.getsize(path) > 1000
    assert exp.method == "lime" and exp.shape == x.shape
    # a precomputed explanation is drawn without recomputation, default name gets '.pdf'
    again = tlxp.lime_visualization(None, exp, name=str(tmp_path / "again"))
    assert again is exp and os.path.exists(str(tmp_path / "again.pdf"))
    grad = tlxp.explain(cnn, x, "gradient")
    with pytest.raises(ValueError, match="'lime' Explanation"):
        tlxp.lime_visualization(None, grad, name=str(tmp_path / "bad.png"))
    assert not os.path.exists(str(tmp_path / "bad.png"))


def test_top_segments_and_overlay_colours():
    segments = np.repeat(np.arange(4), 4).reshape(4, 4)  # 4 horizontal bands
    weights = np.array([0.5, -0.9, 0.0, 0.1])[segments]
    positive, negative = top_segments(weights, segments, 2)
    assert positive == [0] and negative == [1]
    rgb = lime_overlay(np.zeros((4, 4, 1)), segments, positive, negative, scale=4)
    assert rgb.shape == (16, 16, 3)
    assert rgb[0:4, :, 1].max() > 0.7 and rgb[0:4, :, 0].max() == 0  # band 0 green
    assert rgb[4:8, :, 0].max() > 0.8 and rgb[4:8, :, 1].max() < 0.2  # band 1 red
    assert rgb[8:, :].max() == 0  # untouched


def test_shap_visualization_per_class_columns(cnn, x, rng, tmp_path):
    path = str(tmp_path / "shap.png")
    background = rng.random((8, 12, 12, 1), dtype=np.float32)
    columns = tlxp.shap_visualization(cnn, x, name=path, background=background, n_samples=10, top_k=2)
    assert os.path.getsize(path) > 1000
    assert len(columns) == 2
    ranks = np.argsort(-columns[0].predictions, axis=1)
    np.testing.assert_array_equal(columns[0].targets, ranks[:, 0])
    np.testing.assert_array_equal(columns[1].targets, ranks[:, 1])
    fixed = tlxp.shap_visualization(cnn, x, name=str(tmp_path / "c.png"), method="shap_partition", classes=[0, 3],
                                   max_evals=50)
    assert [list(c.targets) for c in fixed] == [[0, 0], [3, 3]]
    redrawn = tlxp.shap_visualization(None, fixed, name=str(tmp_path / "again.png"))
    assert redrawn[0] is fixed[0]
    with pytest.raises(ValueError, match="classes"):
        tlxp.shap_visualization(cnn, x, name=str(tmp_path / "bad.png"), method="shap_partition", classes=[9])
    with pytest.raises(ValueError, match="top_k"):
        tlxp.shap_visualization(cnn, x, name=str(tmp_path / "bad.png"), method="shap_partition", top_k=0)


def test_feature_importance_table_and_plot(rng, tmp_path, capsys):
    mlp = tiny_mlp(seed=9, n_in=16, n_classes=3)
    data = rng.random((12, 16), dtype=np.float32)
    names = ["feat_%d" % i for i in range(16)]
    path = str(tmp_path / "fi.png")
    table = tlxp.feature_importance(mlp, data, feature_names=names, top_k=5, name=path, n_samples=20)
    assert os.path.getsize(path) > 1000
    assert isinstance(table, pd.DataFrame) and len(table) == 5 and table.index.name == "rank"
    assert list(table["mean_abs_shap"]) == sorted(table["mean_abs_shap"], reverse=True)
    full = table.attrs["importance"]
    exp = table.attrs["explanation"]
    np.testing.assert_allclose(full, np.abs(exp.attributions).mean(0), rtol=1e-6)
    assert table.iloc[0]["feature"] == names[int(np.argmax(full))]
    assert "feat_" in capsys.readouterr().out  # printed readable
    # the tutorial's name is the same function; default names for images are pixel positions
    assert tlxp.feature_importance_analysis is tlxp.feature_importance
    table = tlxp.feature_importance_analysis(mlp, exp, top_k=3, name=str(tmp_path / "fi2.png"), verbose=False)
    assert table.iloc[0]["feature"].startswith("px(")
    with pytest.raises(ValueError, match="feature_names: expected 16 names"):
        tlxp.feature_importance(mlp, exp, feature_names=["a"], name=str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="top_k"):
        tlxp.feature_importance(mlp, exp, top_k=0, name=str(tmp_path / "bad.png"))
    assert not os.path.exists(str(tmp_path / "bad.png"))


def test_feature_importance_with_model_agnostic_method(rng, tmp_path):
    mlp = tiny_mlp(seed=9, n_in=16, n_classes=3)
    data = rng.random((4, 16), dtype=np.float32)
    table = tlxp.feature_importance(mlp, data, method="shap_kernel", granularity="feature", nsamples=40,
                                   name=str(tmp_path / "k.png"), verbose=False)
    assert len(table) == 10 and table.attrs["explanation"].method == "shap_kernel"
