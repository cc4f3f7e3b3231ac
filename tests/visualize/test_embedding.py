"""embedding_visualization, tsne_embedding (TL-compatible) and decision_boundary."""
import os

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.visualize.embedding import as_labels, default_embedding_layer

from conftest import assert_same_state, model_state


@pytest.fixture
def data(rng):
    x = rng.random((30, 12, 12, 1), dtype=np.float32)
    y = rng.integers(0, 4, 30)
    return x, y


# ---------------------------------------------------------------------------- embeddings
def test_tsne_shape_file_and_determinism(static_cnn, data, tmp_path):
    x, y = data
    before = model_state(static_cnn)
    a = tlxp.embedding_visualization(static_cnn, x, y, method="tsne", seed=3, perplexity=8,
                                     name=str(tmp_path / "a.png"))
    b = tlxp.embedding_visualization(static_cnn, x, y, method="tsne", seed=3, perplexity=8,
                                     name=str(tmp_path / "b.png"))
    c = tlxp.embedding_visualization(static_cnn, x[::-1], y, method="tsne", perplexity=8, saveable=True,
                                     name=str(tmp_path / "c"))
    assert a.shape == (30, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert c.shape == (30, 2) and not np.allclose(a, c)  # other data, other layout
    assert os.path.getsize(tmp_path / "a.png") > 1000
    assert os.path.exists(tmp_path / "c.pdf")  # TL convention: .pdf appended
    assert_same_state(before, model_state(static_cnn))


def test_default_layer_is_the_one_before_the_output(static_cnn, dynamic_cnn, images):
    tlxp.as_adapter(dynamic_cnn).prepare(images)  # a dynamic model's input shape comes from data
    order = tlxp.as_adapter(static_cnn).layer_call_order()
    assert default_embedding_layer(tlxp.as_adapter(static_cnn)) == order[-2][0]
    assert order[-2][0].startswith("flatten")
    # dynamic model: the container LayerList and the head are skipped, the Flatten is used
    assert default_embedding_layer(tlxp.as_adapter(dynamic_cnn)).startswith("flatten")


def test_pca_returns_the_captured_activations(dynamic_cnn, data, tmp_path):
    x, _ = data
    adapter = tlxp.as_adapter(dynamic_cnn)
    layer = default_embedding_layer(adapter)
    emb, acts = tlxp.embedding_visualization(dynamic_cnn, x, None, method="pca", name=str(tmp_path / "p.png"),
                                            return_activations=True, batch_size=7)
    expected = adapter.capture(x, [layer]).outputs[layer].reshape(len(x), -1)
    np.testing.assert_allclose(acts, expected, rtol=1e-5, atol=1e-6)
    assert emb.shape == (30, 2)
    # PCA of the activations: the first coordinate carries the most variance
    assert emb[:, 0].var() >= emb[:, 1].var()


def test_explicit_layer_and_three_components(static_cnn, data, tmp_path):
    x, y = data
    conv = [n for n, _ in tlxp.as_adapter(static_cnn).layer_call_order() if n.startswith("conv2d")][0]
    emb, acts = tlxp.embedding_visualization(static_cnn, x, y, layer_name=conv, method="pca", n_components=3,
                                            name=str(tmp_path / "e3.png"), return_activations=True)
    assert emb.shape == (30, 3)
    assert acts.shape == (30, 12 * 12 * 4)
    assert os.path.exists(tmp_path / "e3.png")


def test_callable_model_embeds_its_outputs(rng, tmp_path):
    w = rng.normal(size=(8, 3)).astype(np.float32)
    model = lambda z: z @ w  # noqa: E731
    x = rng.normal(size=(20, 8)).astype(np.float32)
    emb, acts = tlxp.embedding_visualization(model, x, method="pca", name=str(tmp_path / "c.png"),
                                            return_activations=True)
    np.testing.assert_allclose(acts, x @ w, rtol=1e-5, atol=1e-5)
    assert emb.shape == (20, 2)


def test_features_without_model_and_tl_compatible_tsne_embedding(rng, tmp_path):
    emb = rng.normal(size=(40, 16)).astype(np.float32)
    words = {i: "w%d" % i for i in range(40)}
    low = tlxp.tsne_embedding(emb, words, plot_only=35, saveable=True, name=str(tmp_path / "tsne"))
    assert low.shape == (35, 2)
    assert os.path.exists(tmp_path / "tsne.pdf")
    same = tlxp.embedding_visualization(None, emb[:35], method="tsne", seed=0, name=str(tmp_path / "f.png"))
    np.testing.assert_array_equal(low, same)


def test_small_batch_lowers_perplexity_with_a_warning(static_cnn, data, tmp_path):
    x, y = data
    with pytest.warns(RuntimeWarning, match="perplexity"):
        emb = tlxp.embedding_visualization(static_cnn, x[:8], y[:8], perplexity=30, name=str(tmp_path / "s.png"))
    assert emb.shape == (8, 2)


def test_embedding_errors(static_cnn, data, tmp_path):
    x, y = data
    name = str(tmp_path / "err.png")
    with pytest.raises(ValueError, match="y: expected one label per sample"):
        tlxp.embedding_visualization(static_cnn, x, y[:-1], name=name)
    with pytest.raises(ValueError, match="method: expected one of"):
        tlxp.embedding_visualization(static_cnn, x, y, method="lda", name=name)
    with pytest.raises(KeyError, match="no_such_layer"):
        tlxp.embedding_visualization(static_cnn, x, y, layer_name="no_such_layer", name=name)
    with pytest.raises(ValueError, match="n_components"):
        tlxp.embedding_visualization(static_cnn, x[:3], None, method="pca", n_components=3, name=name)
    with pytest.raises(ValueError, match="annotations"):
        tlxp.embedding_visualization(None, x.reshape(30, -1), annotations=["a"], name=name)
    assert not os.path.exists(name)


def test_labels_accept_one_hot_and_reject_negatives():
    np.testing.assert_array_equal(as_labels(np.eye(3)[[2, 0, 1]], 3), [2, 0, 1])
    np.testing.assert_array_equal(as_labels([1.0, 2.0], 2), [1, 2])
    with pytest.raises(ValueError, match="non-negative integer"):
        as_labels([-1, 2], 2)


# ---------------------------------------------------------------------------- decision regions
def _linear_model(rng, d, k=3):
    w = rng.normal(size=(d, k)).astype(np.float32)
    b = rng.normal(size=k).astype(np.float32)
    return (lambda z: np.asarray(z, np.float32).reshape(len(z), -1) @ w + b), w, b


def test_decision_regions_match_predictions_for_a_linear_model(rng, tmp_path):
    # inputs on a 2-D plane inside 5-D space: PCA is exact, so the drawn plane is the model's
    z = rng.normal(size=(60, 2))
    basis = rng.normal(size=(2, 5))
    x = (z @ basis + 0.5).astype(np.float32)
    model, _, _ = _linear_model(rng, 5)
    res = tlxp.decision_boundary(model, x, resolution=60, name=str(tmp_path / "db.png"))
    predicted = np.argmax(tlxp.as_adapter(model).predict(x), axis=1)
    np.testing.assert_array_equal(res.point_predictions, predicted)
    assert res.grid_predictions.shape == res.xx.shape == res.yy.shape == (60, 60)
    assert res.projected.shape == (60, 2)
    np.testing.assert_allclose(res.pca.inverse_transform(res.projected), x, atol=1e-4)
    # the region under each data point is the class the model predicts for it
    # (points within one grid cell of a boundary may fall in the neighbouring cell)
    col = np.abs(res.xx[0][None, :] - res.projected[:, :1]).argmin(axis=1)
    row = np.abs(res.yy[:, 0][None, :] - res.projected[:, 1:]).argmin(axis=1)
    under = res.grid_predictions[row, col]
    assert np.mean(under == predicted) >= 0.9
    # and every grid cell is the model's prediction at the input the cell maps back to
    some = np.column_stack([res.xx.ravel(), res.yy.ravel()])[::97]
    back = res.pca.inverse_transform(some).astype(np.float32)
    np.testing.assert_array_equal(np.argmax(model(back), 1), res.grid_predictions.ravel()[::97])
    assert os.path.getsize(tmp_path / "db.png") > 1000


def test_decision_boundary_on_tl_model_with_one_hot_labels(mlp_model, rng, tmp_path):
    x = rng.random((25, 64), dtype=np.float32)
    y = np.eye(5)[rng.integers(0, 5, 25)]
    before = model_state(mlp_model)
    res = tlxp.decision_boundary(mlp_model, x, y, resolution=12, batch_size=32, class_names=list("abcde"),
                                name=str(tmp_path / "tl_db"))
    assert res.grid_predictions.shape == (12, 12)
    assert res.grid_predictions.min() >= 0 and res.grid_predictions.max() < 5
    assert os.path.exists(tmp_path / "tl_db.pdf")
    assert_same_state(before, model_state(mlp_model))


def test_decision_boundary_errors(rng, tmp_path):
    model, _, _ = _linear_model(rng, 4)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    name = str(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="resolution"):
        tlxp.decision_boundary(model, x, resolution=1, name=name)
    with pytest.raises(ValueError, match="y: expected one label per sample"):
        tlxp.decision_boundary(model, x, np.zeros(9, int), name=name)
    with pytest.raises(ValueError, match="at least 2 samples"):
        tlxp.decision_boundary(model, x[:1], name=name)
    assert not os.path.exists(name)


def test_umap_without_the_package_is_a_clear_import_error(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    feats = np.random.default_rng(0).normal(size=(12, 4))
    with pytest.raises(ImportError, match="umap-learn"):
        tlxp.embedding_visualization(None, feats, method="umap", name=str(tmp_path / "u.png"))
