"""ModelExplainer on token models and float sequences: visualize_all, report, explain_dataset."""
import os

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp

from conftest import planted_token_model

VOCAB = ["<pad>"] + ["w%d" % i for i in range(1, 30)]
VOCAB[5], VOCAB[7] = "great", "superb"


@pytest.fixture(scope="module")
def planted():
    return planted_token_model()


@pytest.fixture
def ids():
    rng = np.random.default_rng(2)
    ids = rng.integers(8, 30, (6, 12)).astype(np.int32)
    ids[:, 8:] = 0
    ids[:, 1] = 5
    ids[::2, 4] = 7
    return ids


def test_visualize_all_and_report(tmp_path, planted, ids):
    explainer = tlxp.ModelExplainer(planted, methods=["integrated_gradients", "occlusion", "lime", "gradcam"],
                                    config={"lime": {"num_samples": 200}, "occlusion": {"mask_token": 1}},
                                    vocab=VOCAB, class_names=["neg", "pos"])
    with pytest.warns(UserWarning, match="gradcam"):
        exps = explainer.visualize_all(ids[:3], save_path=str(tmp_path / "out"))
    assert sorted(exps) == ["integrated_gradients", "lime", "occlusion"] and "gradcam" in exps.skipped
    assert sorted(os.listdir(tmp_path / "out")) == ["compare_methods.png", "integrated_gradients.png", "lime.png",
                                                  "occlusion.png"]
    for exp in exps.values():
        assert exp.attributions.shape == (3, 12)
        assert np.all(exp.attributions[:, 8:] == 0)
    with pytest.warns(UserWarning, match="gradcam"):
        explainer.report(ids[:3], str(tmp_path / "report.html"))
    page = (tmp_path / "report.html").read_text()
    assert page.count("great</mark>") == 9 and "<img alt='input" not in page  # 3 inputs x 3 methods, no images
    with pytest.raises(TypeError, match="method 'occlusion' parameter"):
        tlxp.ModelExplainer(planted, methods=["occlusion"], config={"occlusion": {"baseline_value": 0.0}})


def test_explain_dataset_stores_token_attributions(tmp_path, planted, ids):
    explainer = tlxp.ModelExplainer(planted, methods=["integrated_gradients", "occlusion"])
    store = explainer.explain_dataset(ids, str(tmp_path / "s.zarr"), chunk_size=4, store_inputs=True,
                                      progress=False)
    read = store["integrated_gradients"][:6]
    assert read.inputs.dtype == np.int32
    np.testing.assert_array_equal(read.inputs, ids)
    direct = explainer.explain(ids, "integrated_gradients")
    np.testing.assert_allclose(read.attributions, direct.attributions, atol=1e-6)
    assert read.meta["pad_id"] == 0
    store.report(slice(0, 3), str(tmp_path / "store.html"), vocab=VOCAB)
    assert "great</mark>" in (tmp_path / "store.html").read_text()


def test_vocabulary_file(tmp_path, planted):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    explainer = tlxp.ModelExplainer(planted, methods=["gradient"], vocab=str(path))
    assert explainer.vocab["great"] == 5
    (tmp_path / "bad.txt").write_text("a\na\n")
    with pytest.raises(ValueError, match="vocab: the word 'a' is listed twice"):
        tlxp.ModelExplainer(planted, vocab=str(tmp_path / "bad.txt"))


def test_float_sequences_every_applicable_method(tmp_path):
    """(N, T, F) sequences: per time step and feature attributions; CAMs skipped with a reason."""
    tf.random.set_seed(0)
    inp = tf.keras.Input((7, 4))
    out = tf.keras.layers.Dense(3)(tf.keras.layers.SimpleRNN(5)(inp))
    model = tf.keras.Model(inp, out)
    x = np.random.default_rng(0).random((2, 7, 4)).astype(np.float32)
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "integrated_gradients", "occlusion", "gradcam",
                                                    "smoothgrad"], config={"smoothgrad": {"n_samples": 4},
                                                                           "occlusion": {"window": 2, "stride": 1}})
    with pytest.warns(UserWarning, match="gradcam"):
        exps = explainer.visualize_all(x, save_path=str(tmp_path / "seq"))
    for name, exp in exps.items():
        assert exp.attributions.shape == (2, 7, 4), name
    assert exps["integrated_gradients"].meta["max_completeness_gap"] < 0.01
    assert "4-D output" in exps.skipped["gradcam"]


def test_tensorlayer_rnn_float_sequences(tmp_path):
    """A TL ``RNN`` over an LSTM cell reading (N, T, F): per step and feature, IG complete, a time-step map."""
    import tensorlayer as tl

    ni = tl.layers.Input([None, 7, 4])
    rnn = tl.layers.RNN(cell=tf.keras.layers.LSTMCell(units=6), return_last_output=True, return_last_state=False,
                        in_channels=4)(ni)
    model = tl.models.Model(ni, tl.layers.Dense(3, in_channels=6)(rnn))
    x = np.random.default_rng(1).random((2, 7, 4)).astype(np.float32)
    exp = tlxp.timestep_visualization(model, x, name=str(tmp_path / "steps.png"), steps=64)
    assert exp.attributions.shape == (2, 7, 4) and exp.meta["max_completeness_gap"] < 0.01
    assert os.path.getsize(tmp_path / "steps.png") > 1000
    occ = tlxp.explain(model, x, "occlusion", window=2, stride=1)
    assert occ.attributions.shape == (2, 7, 4)
    from tensorlayer_xplain.methods.applicability import skip_reason

    assert "4-D output" in skip_reason(tlxp.as_adapter(model), "gradcam")
