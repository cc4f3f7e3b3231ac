"""Seq2seq models explained position by position; Luong alignments (issue 24 items 4 and 5)."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp

from conftest import assert_luong_unchanged, luong_state, tiny_luong

V, E, H, T_SRC, T_OUT = 9, 5, 6, 5, 4
SOS = 1


def _luong(method, seed=0, cell=tf.keras.layers.GRUCell):
    return tiny_luong(method, seed, vocab=V, dim=E, hidden=H, cell=cell)  # scaled embeddings and score weights


def _data(seed=0, n=3):
    rng = np.random.RandomState(seed)
    src = rng.randint(2, V, size=(n, T_SRC)).astype(np.int32)
    src[0, -2:] = 0  # padding at the end of the first sequence
    dec = rng.randint(1, V, size=(n, T_OUT)).astype(np.int32)
    return src, dec


def _hand_luong(model, src, dec):
    """Alignments and logits of the teacher-forced pass, the scores computed with numpy."""
    table = model.embedding_layer.embeddings.numpy()
    _, hs, last = model.enc_layer(tf.constant(table[src]))
    enc = tf.stack(hs, axis=1).numpy()  # (N, T_src, H)
    h = last.numpy()
    dec_layer = model.dec_layer
    method = dec_layer.method
    alignments, outputs = [], []
    for t in range(dec.shape[1]):
        if method == "dot":
            scores = np.einsum("nth,nh->nt", enc, h)
        elif method == "general":
            scores = np.einsum("nth,nh->nt", enc, h @ dec_layer.W.numpy())
        else:
            both = np.concatenate([np.repeat(h[:, None], enc.shape[1], 1), enc], axis=2)
            scores = (np.tanh(both @ dec_layer.W.numpy()) @ dec_layer.V.numpy())[..., 0]
        e = np.exp(scores - scores.max(1, keepdims=True))
        align = e / e.sum(1, keepdims=True)
        alignments.append(align)
        context = np.einsum("nt,nth->nh", align, enc)
        x = np.concatenate([table[dec[:, t]], context], 1).astype("float32")
        out, states = dec_layer.cell.call(tf.constant(x), [tf.constant(h)], training=False)
        h = states[0].numpy()
        outputs.append(out.numpy())
    hidden = np.stack(outputs, 1).reshape(-1, H)
    logits = model.dense_layer(tf.constant(hidden)).numpy().reshape(len(src), dec.shape[1], -1)
    return np.stack(alignments, 1), logits


@pytest.mark.parametrize("method", ["dot", "general", "concat"])
def test_luong_alignment_equals_hand_computed_softmax(method):
    model = _luong(method)
    src, dec = _data()
    before = luong_state(model)
    exp = tlxp.explain(model, src, "attention", decoder_inputs=dec)
    ref_align, ref_logits = _hand_luong(model, src, dec)
    assert exp.shape == (3, T_OUT, T_SRC)
    assert np.abs(exp.attributions.sum(-1) - 1).max() < 1e-5
    assert np.abs(exp.attributions - ref_align).max() < 1e-5
    assert np.abs(exp.predictions - ref_logits).max() < 1e-4
    assert np.ptp(exp.attributions, axis=-1).max() > 0.1  # far from uniform: the check above means something
    assert exp.meta["attention_kind"] == "luong_alignment" and exp.meta["method"] == method
    assert_luong_unchanged(model, before)


def test_luong_greedy_alignment_follows_the_models_own_decoding():
    model = _luong("general", seed=1)
    src, _ = _data(1)
    exp = tlxp.explain(model, src, "attention", sos=SOS, seq_length=T_OUT)
    own = np.asarray(model(inputs=[src], seq_length=T_OUT, sos=SOS))
    assert (exp.meta["outputs"] == own).all()
    assert (exp.decoder_inputs[:, 0] == SOS).all() and (exp.decoder_inputs[:, 1:] == own[:, :-1]).all()
    assert exp.meta["decoding_consistent"] and (exp.targets == own).all()
    ref_align, _ = _hand_luong(model, src, exp.decoder_inputs)
    assert np.abs(exp.attributions - ref_align).max() < 1e-5


def _hand_logits_from_embeddings(model, emb, dec):
    """The Luong model's teacher-forced logits with the *source* embeddings given (decoder lookups kept)."""
    _, hs, last = model.enc_layer(emb)
    out = model.dec_layer(model.embedding_layer(dec), tf.stack(hs, 1), last, method=model.method)
    logits = model.dense_layer(tf.reshape(out, [-1, H]))
    return tf.reshape(logits, [tf.shape(dec)[0], dec.shape[1], -1])


@pytest.fixture(scope="module")
def trained():
    """A Luong GRU model trained a little to copy its source (so its logits are not flat)."""
    model = _luong("dot", seed=2)
    rng = np.random.RandomState(2)
    src = rng.randint(2, V, size=(64, T_OUT)).astype(np.int32)
    dec = np.concatenate([np.full((64, 1), SOS, np.int32), src[:, :-1]], 1)
    opt = tf.optimizers.Adam(0.03)
    weights = model.trainable_weights
    model.train()
    for _ in range(25):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(src, model([src, dec])))
        opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
    model.eval()
    return model


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input"])
def test_gradient_methods_equal_a_hand_written_tape(trained, method):
    src, dec = _data(3)
    before = luong_state(trained)
    exp = tlxp.explain(trained, src, method, decoder_inputs=dec)
    table = trained.embedding_layer.embeddings.numpy()
    emb = tf.constant(table[src])
    targets = exp.targets
    ref = np.zeros((len(src), T_OUT, T_SRC), np.float32)
    for t in range(T_OUT):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            logits = _hand_logits_from_embeddings(trained, emb, tf.constant(dec))
            picked = tf.reduce_sum(tf.gather(logits[:, t], targets[:, t], batch_dims=1))
        grad = tape.gradient(picked, emb).numpy()
        ref[:, t] = (grad if method == "gradient" else grad * table[src]).sum(-1)
    ref[src[:, None, :].repeat(T_OUT, 1) == 0] = 0.0  # padding gets no attribution
    assert exp.shape == (3, T_OUT, T_SRC)
    assert np.abs(exp.attributions - ref).max() < 1e-5 * max(1.0, np.abs(ref).max())
    assert (exp.targets == exp.predictions.argmax(-1)).all()
    assert_luong_unchanged(trained, before)


def test_integrated_gradients_is_complete_and_pads_get_zero(trained):
    src, dec = _data(4)
    exp = tlxp.explain(trained, src, "ig", decoder_inputs=dec, steps=128)
    assert exp.method == "integrated_gradients" and exp.shape == (3, T_OUT, T_SRC)
    assert exp.meta["max_completeness_gap"] < 0.01
    picked = np.take_along_axis(exp.predictions, exp.targets[..., None], -1)[..., 0]
    assert np.allclose(exp.attributions.sum(-1), picked - exp.meta["baseline_scores"], rtol=0.01, atol=1e-3)
    assert (exp.attributions[0, :, -2:] == 0).all()
    # the baseline: every source token replaced by the pad id 0
    pad_src = np.zeros_like(src)
    ref = tlxp.explain(trained, pad_src, "occlusion", decoder_inputs=dec, targets=exp.targets)
    assert np.allclose(np.take_along_axis(ref.predictions, exp.targets[..., None], -1)[..., 0],
                       exp.meta["baseline_scores"], atol=1e-4)


def test_occlusion_equals_a_hand_written_loop(trained):
    src, dec = _data(5)
    exp = tlxp.explain(trained, src, "occlusion", decoder_inputs=dec, mask_token=0)
    trained.is_train = True  # the zoo model's teacher-forcing branch; its layers stay in eval mode
    try:
        base = trained([src, dec]).numpy()
        ref = np.zeros((len(src), T_OUT, T_SRC), np.float32)
        for j in range(T_SRC):
            masked = src.copy()
            masked[:, j] = 0
            after = trained([masked, dec]).numpy()
            ref[:, :, j] = (np.take_along_axis(base, exp.targets[..., None], -1)
                            - np.take_along_axis(after, exp.targets[..., None], -1))[..., 0]
    finally:
        trained.is_train = False
    ref[0, :, -2:] = 0.0  # padding is never perturbed
    assert np.abs(exp.attributions - ref).max() < 1e-5
    assert np.abs(exp.attributions).max() > 1e-3


def test_given_targets_are_explained(trained):
    src, dec = _data(6)
    targets = np.full((3, T_OUT), 4, np.int32)
    a = tlxp.explain(trained, src, "gradient", decoder_inputs=dec, targets=targets)
    b = tlxp.explain(trained, src, "gradient", decoder_inputs=dec)
    assert (a.targets == 4).all()
    assert not np.allclose(a.attributions, b.attributions)


def test_vanilla_seq2seq_greedy_explanation():
    tf.random.set_seed(7)
    model = tl.models.Seq2seq(decoder_seq_length=T_OUT, cell_enc=tf.keras.layers.GRUCell,
                              cell_dec=tf.keras.layers.GRUCell, n_units=8, n_layer=1,
                              embedding_layer=tl.layers.Embedding(vocabulary_size=V, embedding_size=E))
    model.eval()
    src, _ = _data(8)
    before = model.is_train
    exp = tlxp.explain(model, src, "gradient_x_input", sos=SOS)
    own = np.asarray(model(inputs=[src], seq_length=T_OUT, start_token=SOS))
    assert exp.shape == (3, T_OUT, T_SRC) and (exp.meta["outputs"] == own).all()
    assert exp.meta["decoding_consistent"]
    assert model.is_train == before
    with pytest.raises(ValueError, match=r"decoder_inputs: expected length 4 \(the Seq2seq model's decoder_seq_len"):
        tlxp.explain(model, src, "gradient", decoder_inputs=np.ones((3, 6), np.int32))
    with pytest.raises(ValueError, match="attention alignments need a Luong attention decoder"):
        tlxp.explain(model, src, "attention", sos=SOS)


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"decoder_inputs": np.ones((2, T_OUT), np.int32)}, ValueError, "decoder_inputs: expected one row per source"),
    ({"decoder_inputs": np.full((3, T_OUT), V, np.int32)}, ValueError,
     r"decoder_inputs: expected token ids in \[0, 9\)"),
    ({"decoder_inputs": np.ones((3, T_OUT), np.float32)}, TypeError, "decoder_inputs: expected integer token ids"),
    ({"decoder_inputs": np.ones((3, T_OUT), np.int32), "seq_length": 6}, ValueError,
     r"decoder_inputs: expected length 6 \(seq_length\), got 4"),
    ({}, ValueError, "sos: required without decoder_inputs"),
    ({"sos": SOS}, ValueError, "seq_length: required for greedy decoding"),
    ({"sos": V, "seq_length": 3}, ValueError, r"sos: expected a token id in \[0, 9\)"),
    ({"sos": SOS, "seq_length": 3, "targets": np.ones((3, 4), int)}, ValueError,
     r"targets: expected token ids of shape \(3, 3\)"),
    ({"sos": SOS, "seq_length": 3, "steps": 8}, TypeError, "gradient: unexpected parameter"),
])
def test_bad_arguments_name_the_argument(kwargs, exc, message):
    model = _luong("dot", seed=9)
    src, _ = _data(9)
    before = luong_state(model)
    with pytest.raises(exc, match=message):
        tlxp.explain(model, src, "gradient", **kwargs)
    assert_luong_unchanged(model, before)


def test_bad_source_and_method():
    model = _luong("dot", seed=10)
    src, dec = _data(10)
    bad = src.copy()
    bad[1, 2] = 12
    with pytest.raises(ValueError, match=r"inputs: expected token ids in \[0, 9\).*got id 12 at index \(1, 2\)"):
        tlxp.explain(model, bad, "gradient", decoder_inputs=dec)
    with pytest.raises(TypeError, match="inputs: expected integer token ids"):
        tlxp.explain(model, src.astype(np.float32), "gradient", decoder_inputs=dec)
    with pytest.raises(ValueError, match="method: seq2seq models are explained with"):
        tlxp.explain(model, src, "gradcam", decoder_inputs=dec)


@pytest.mark.slow
def test_agreement_metric_compares_attention_with_gradients(trained):
    src, dec = _data(11)
    att = tlxp.explain(trained, src, "attention", decoder_inputs=dec)
    ig = tlxp.explain(trained, src, "integrated_gradients", decoder_inputs=dec, steps=16)
    rho, iou = tlxp.method_agreement({"attention": att, "ig": ig}, top_k=T_OUT)
    assert rho.shape == (2, 2) and -1 <= rho.loc["attention", "ig"] <= 1 and 0 <= iou.loc["attention", "ig"] <= 1
    same, _ = tlxp.method_agreement({"a": att, "b": att}, top_k=T_OUT)
    assert same.loc["a", "b"] == pytest.approx(1.0)
