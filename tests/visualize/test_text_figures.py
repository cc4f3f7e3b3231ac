"""Sequence figures: coloured tokens (PNG and HTML), alignment matrices, time-step maps."""
import os

import matplotlib.image as mpimg
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.visualize.text import token_colors, token_labels

from conftest import planted_token_model

VOCAB = ["<pad>"] + ["w%d" % i for i in range(1, 30)]
VOCAB[5], VOCAB[7] = "great", "superb"


@pytest.fixture(scope="module")
def planted():
    return planted_token_model()


@pytest.fixture
def ids():
    ids = np.full((2, 12), 0, np.int32)
    ids[0, :5] = [9, 5, 11, 12, 13]
    ids[1, :4] = [7, 14, 5, 15]
    return ids


def test_token_labels_and_colors():
    assert token_labels([5, 0, 40], VOCAB) == ["great", "<pad>", "40"]
    assert token_labels([5], {i: w for i, w in enumerate(VOCAB)}) == ["great"]
    assert token_labels([5], {w: i for i, w in enumerate(VOCAB)}) == ["great"]
    with pytest.raises(TypeError, match="vocab"):
        token_labels([1], "words")
    c = token_colors([2.0, -2.0, 0.0, 1.0])
    assert c[0, 1] > c[0, 0] and c[1, 0] > c[1, 1] and np.allclose(c[2, :3], 1.0)
    assert 0 < c[3, 0] < 1  # half strength


def test_token_visualization_png_and_html(tmp_path, planted, ids):
    exp = tlxp.token_visualization(planted, ids, targets=1, vocab=VOCAB, name=str(tmp_path / "tokens.png"),
                                   steps=16)
    assert exp.attributions.shape == (2, 12)
    image = mpimg.imread(str(tmp_path / "tokens.png"))
    greenish = (image[..., 1] > 0.5) & (image[..., 0] < 0.2) & (image[..., 2] < 0.2)
    assert greenish.sum() > 50  # the planted words are drawn on green
    again = tlxp.token_visualization(planted, exp, vocab=VOCAB, name=str(tmp_path / "tokens.html"))
    assert again is exp
    page = (tmp_path / "tokens.html").read_text()
    assert page.count("<tr>") == 3 and "great" in page and "superb" in page and "&lt;pad&gt;" not in page
    assert "rgba(0,153,0,1)" in page  # the strongest token at full green
    with pytest.raises(ValueError, match="inputs: token_visualization draws token ids"):
        tlxp.token_visualization(None, tlxp.Explanation("x", np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), [0],
                                                        np.zeros((1, 2)), (3, 2, 1)), saveable=False)


def test_alignment_visualization(tmp_path):
    matrix = np.random.default_rng(0).dirichlet(np.ones(5), 3)
    out = tlxp.alignment_visualization(matrix, [1, 5, 7, 2, 3], ["x", "y", "z"], vocab=VOCAB,
                                       name=str(tmp_path / "align.png"), title="Luong")
    np.testing.assert_array_equal(out, matrix)
    assert os.path.getsize(tmp_path / "align.png") > 1000
    with pytest.raises(ValueError, match="source_tokens: expected 5 labels"):
        tlxp.alignment_visualization(matrix, [1, 2], saveable=False)
    with pytest.raises(ValueError, match="alignment: expected one matrix"):
        tlxp.alignment_visualization(matrix[None], saveable=False)


def test_timestep_visualization(tmp_path):
    inp = tf.keras.Input((6, 3))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2)(tf.keras.layers.Flatten()(inp)))
    x = np.random.default_rng(0).random((2, 6, 3)).astype(np.float32)
    exp = tlxp.timestep_visualization(model, x, targets=1, name=str(tmp_path / "steps.png"),
                                      feature_names=["a", "b", "c"])
    assert exp.attributions.shape == (2, 6, 3)
    w = model.layers[-1].kernel.numpy()[:, 1].reshape(6, 3)
    np.testing.assert_allclose(exp.attributions, x * w, atol=1e-5)  # IG of a linear model: x * w
    assert os.path.getsize(tmp_path / "steps.png") > 1000
    with pytest.raises(ValueError, match="feature_names: expected 3 names"):
        tlxp.timestep_visualization(model, exp, feature_names=["a"], saveable=False)


def test_compare_methods_draws_tokens(tmp_path, planted, ids):
    with pytest.warns(UserWarning, match="gradcam"):
        exps = tlxp.compare_methods(planted, ids, methods=["integrated_gradients", "occlusion", "gradcam"],
                                    name=str(tmp_path / "cmp.png"))
    assert sorted(exps) == ["integrated_gradients", "occlusion"] and "gradcam" in exps.skipped
    image = mpimg.imread(str(tmp_path / "cmp.png"))
    assert image.shape[0] > 100 and ((image[..., 1] > 0.5) & (image[..., 0] < 0.2)).sum() > 50
