"""Encoder-decoders through ModelExplainer: explain, explain_all, visualize_all, report (zoo Luong and Keras)."""
import os

import numpy as np
import pytest

import tensorlayer_xplain as tlxp

from conftest import tiny_keras_seq2seq, tiny_luong

V, SOS = 9, 1
VOCAB = ["<pad>", "<sos>"] + list("abcdefg")


@pytest.fixture(scope="module")
def luong():
    return tiny_luong("general", seed=3)


@pytest.fixture(scope="module")
def keras_model():
    return tiny_keras_seq2seq(seed=4)


def _data(seed=0, n=3, t_src=5, t_out=4):
    rng = np.random.RandomState(seed)
    src = rng.randint(2, V, size=(n, t_src)).astype(np.int32)
    src[0, -2:] = 0
    dec = rng.randint(1, V, size=(n, t_out)).astype(np.int32)
    return src, dec


@pytest.mark.slow
def test_explain_equals_the_function_and_is_cached(luong):
    src, dec = _data(1)
    explainer = tlxp.ModelExplainer(luong, methods=["integrated_gradients", "occlusion"], sos=SOS, seq_length=4,
                                    config={"integrated_gradients": {"steps": 16}})
    assert isinstance(explainer.adapter, tlxp.Seq2seqAdapter)
    greedy = explainer.explain(src, "integrated_gradients")
    direct = tlxp.explain(luong, src, "integrated_gradients", sos=SOS, seq_length=4, steps=16)
    assert isinstance(greedy, tlxp.Seq2seqExplanation) and greedy.shape == (3, 4, 5)
    np.testing.assert_allclose(greedy.attributions, direct.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(greedy.meta["outputs"], direct.meta["outputs"])
    assert explainer.explain(src, "integrated_gradients") is greedy  # cached
    forced = explainer.explain(src, "occlusion", decoder_inputs=dec, targets=np.full((3, 4), 2))
    np.testing.assert_array_equal(forced.decoder_inputs, dec)
    assert (forced.targets == 2).all() and np.all(forced.attributions[0, :, -2:] == 0)  # padding
    np.testing.assert_allclose(forced.attributions, tlxp.explain(luong, src, "occlusion", decoder_inputs=dec,
                                                                 targets=np.full((3, 4), 2)).attributions, atol=1e-6)
    with pytest.raises(TypeError, match="parameter: unknown 'window' Known: baseline_token, batch_size, steps"):
        explainer.explain(src, "integrated_gradients", window=3)
    with pytest.raises(ValueError, match=r"decoder_inputs: expected one row per source sequence \(3\)"):
        explainer.explain(src, "occlusion", decoder_inputs=dec[:2])


def test_seq2seq_options_on_other_models():
    from conftest import tiny_mlp

    explainer = tlxp.ModelExplainer(tiny_mlp(seed=1), methods=["gradient"])
    with pytest.raises(TypeError, match="decoder_inputs: only an encoder-decoder takes it"):
        explainer.explain(np.zeros((1, 784), np.float32), "gradient", decoder_inputs=np.ones((1, 3), np.int32))


@pytest.mark.slow
def test_explain_all_skips_methods_that_do_not_apply(luong):
    src, _ = _data(2)
    explainer = tlxp.ModelExplainer(luong, methods=["attention", "gradcam", "rise", "gradient"], sos=SOS,
                                    seq_length=4)
    with pytest.warns(UserWarning, match="gradcam"):
        exps = explainer.explain_all(src)
    assert list(exps) == ["attention", "gradient"]
    assert set(exps.skipped) == {"gradcam", "rise"} and "encoder-decoder" in exps.skipped["rise"]
    np.testing.assert_allclose(exps["attention"].attributions.sum(-1), 1.0, atol=1e-5)


def test_visualize_all_and_report(luong, tmp_path):
    src, dec = _data(3)
    explainer = tlxp.ModelExplainer(luong, methods=["attention", "integrated_gradients", "rise"], vocab=VOCAB,
                                    config={"integrated_gradients": {"steps": 8}})
    with pytest.warns(UserWarning, match="rise"):
        exps = explainer.visualize_all(src[:2], save_path=str(tmp_path / "out"), decoder_inputs=dec[:2])
    assert sorted(os.listdir(tmp_path / "out")) == ["attention.png", "compare_methods.png",
                                                  "integrated_gradients.png"]
    assert all(os.path.getsize(tmp_path / "out" / f) > 2000 for f in os.listdir(tmp_path / "out"))
    assert exps["integrated_gradients"].shape == (2, 4, 5) and "rise" in exps.skipped
    with pytest.warns(UserWarning, match="rise"):
        path = explainer.report(src[:2], str(tmp_path / "report.html"), decoder_inputs=dec[:2])
    page = open(path).read()
    assert page.count("<table class='matrix'>") == 4  # 2 sources x 2 methods
    words = [VOCAB[i] for i in src[1]]
    assert "source 1: <b>%s</b>" % " ".join(words) in page and "rise" in page  # skipped, with its reason


@pytest.mark.slow
def test_keras_encoder_decoder(keras_model):
    """A user's own Keras encoder-decoder: IG complete against the model's own outputs, occlusion a hand loop."""
    src, dec = _data(5)
    explainer = tlxp.ModelExplainer(keras_model, methods=["integrated_gradients", "occlusion", "attention"],
                                    config={"integrated_gradients": {"steps": 128}})
    assert isinstance(explainer.adapter, tlxp.Seq2seqAdapter)
    with pytest.warns(UserWarning, match="no Luong attention decoder"):
        exps = explainer.explain_all(src, decoder_inputs=dec)
    ig, occ = exps["integrated_gradients"], exps["occlusion"]
    logits = keras_model([src, dec], training=False).numpy()
    np.testing.assert_allclose(ig.predictions, logits, atol=1e-5)
    picked = np.take_along_axis(logits, ig.targets[..., None], -1)[..., 0]
    base = keras_model([np.zeros_like(src), dec], training=False).numpy()  # the pad-id baseline
    base = np.take_along_axis(base, ig.targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(ig.attributions.sum(-1), picked - base, rtol=0.02, atol=2e-3)
    for i, j in [(0, 1), (1, 4), (2, 0)]:
        masked = src.copy()
        masked[i, j] = 0
        after = np.take_along_axis(keras_model([masked, dec], training=False).numpy()[i], occ.targets[i][:, None],
                                   -1)[:, 0]
        np.testing.assert_allclose(occ.attributions[i, :, j], picked[i] - after, atol=1e-5)
    assert np.all(occ.attributions[0, :, -2:] == 0)
    greedy = tlxp.ModelExplainer(keras_model, methods=["gradient"], sos=SOS, seq_length=3).explain(src, "gradient")
    assert greedy.shape == (3, 3, 5) and greedy.meta["decoding_consistent"]


def test_explain_dataset_stores_per_position_attributions(luong, tmp_path):
    src, _ = _data(6, n=5)
    explainer = tlxp.ModelExplainer(luong, methods=["attention", "occlusion", "gradcam"], sos=SOS, seq_length=4)
    with pytest.raises(ValueError, match="method: seq2seq models are explained with .*got 'gradcam'"):
        explainer.explain_dataset(src, str(tmp_path / "bad.zarr"), progress=False)  # every method must apply
    store = explainer.explain_dataset(src, str(tmp_path / "s.zarr"), methods=["attention", "occlusion"],
                                      chunk_size=2, store_inputs=True, progress=False)
    read = store["occlusion"][1:5]
    direct = explainer.explain(src, "occlusion")
    assert isinstance(read, tlxp.Seq2seqExplanation) and read.shape == (4, 4, 5)
    np.testing.assert_allclose(read.attributions, direct.attributions[1:5], atol=1e-6)
    np.testing.assert_array_equal(read.inputs, src[1:5])
    np.testing.assert_array_equal(read.decoder_inputs, direct.decoder_inputs[1:5])
    np.testing.assert_array_equal(read.targets, direct.targets[1:5])
    np.testing.assert_allclose(store["attention"][:].attributions.sum(-1), 1.0, atol=1e-5)
    reopened = tlxp.open_store(str(tmp_path / "s.zarr"), verify=True)
    assert reopened["attention"][4].shape == (1, 4, 5)
    again = explainer.explain_dataset(src, str(tmp_path / "s.zarr"), methods=["attention", "occlusion"],
                                      chunk_size=2, store_inputs=True, progress=False)  # resumed: nothing to do
    np.testing.assert_array_equal(again["occlusion"][:].attributions, store["occlusion"][:].attributions)
    with pytest.raises(ValueError, match="sos: explain_dataset on an encoder-decoder"):
        tlxp.ModelExplainer(luong, methods=["attention"]).explain_dataset(src, str(tmp_path / "x.zarr"),
                                                                         progress=False)
