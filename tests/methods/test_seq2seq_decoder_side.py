"""Seq2seq attributions to the decoder inputs (issue 24, point 4: "plus the decoder-side inputs").

``gradient`` and ``gradient_x_input`` take them from the same backward passes as the
source attributions, ``occlusion`` by replacing each decoder input with ``mask_token``;
each equals a hand-written computation, and position ``t`` owes nothing to decoder
inputs after ``t`` (the decoder is causal).
"""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp

from conftest import tiny_keras_seq2seq, tiny_luong

pytestmark = pytest.mark.slow  # ~40 s: a compiled step per method and length

V, T_SRC, T_OUT = 9, 5, 4


@pytest.fixture(scope="module")
def luong_and_data():
    model = tiny_luong("general", seed=3, vocab=V)
    rng = np.random.RandomState(3)
    src = rng.randint(2, V, size=(3, T_SRC)).astype(np.int32)
    src[0, -2:] = 0
    dec = rng.randint(1, V, size=(3, T_OUT)).astype(np.int32)
    dec[1, -1] = 0  # a padded decoder input
    return model, src, dec


def _hand_decoder_gradients(model, src, dec, targets):
    """d score_t / d (embedding of decoder input j), summed over the embedding: a plain tape, eager."""
    layer = model.embedding_layer
    original = layer.forward
    s, d = tf.constant(src), tf.constant(dec)
    e_dec = tf.gather(layer.embeddings, dec)
    object.__setattr__(layer, "forward", lambda ids, *a, **k: e_dec if ids is d else original(ids, *a, **k))
    object.__setattr__(model, "is_train", True)
    try:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(e_dec)
            selected = tf.gather(model([s, d]), tf.constant(targets), batch_dims=2)
            columns = [selected[:, t] for t in range(dec.shape[1])]
        grads = np.stack([tape.gradient(c, e_dec).numpy() for c in columns], 1)  # (N, T_out, T_out, D)
    finally:
        object.__delattr__(layer, "forward")
        object.__setattr__(model, "is_train", False)
    return grads, e_dec.numpy()


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input"])
def test_decoder_gradients_equal_a_hand_tape_and_are_causal(method, luong_and_data):
    model, src, dec = luong_and_data
    exp = tlxp.explain(model, src, method, decoder_inputs=dec)
    grads, e_dec = _hand_decoder_gradients(model, src, dec, exp.targets)
    expected = (grads if method == "gradient" else grads * e_dec[:, None]).sum(-1)
    expected[1, :, -1] = 0.0  # padding gets nothing
    assert exp.decoder_attributions.shape == (3, T_OUT, T_OUT)
    np.testing.assert_allclose(exp.decoder_attributions, expected, atol=1e-6)
    assert np.abs(expected).max() > 1e-3
    assert np.abs(np.triu(exp.decoder_attributions, 1)).max() == 0.0  # no position reads a later input


def test_decoder_occlusion_equals_a_hand_loop(luong_and_data):
    model, src, dec = luong_and_data
    exp = tlxp.explain(model, src, "occlusion", decoder_inputs=dec, mask_token=2)
    adapter = tlxp.as_adapter(model)
    base = np.take_along_axis(adapter.teacher_forced(src, dec), exp.targets[..., None], -1)[..., 0]
    expected = np.zeros((3, T_OUT, T_OUT), np.float32)
    for i in range(3):
        for j in range(T_OUT):
            if dec[i, j] == 0:
                continue
            masked = dec[i:i + 1].copy()
            masked[0, j] = 2
            after = adapter.teacher_forced(src[i:i + 1], masked)[0, np.arange(T_OUT), exp.targets[i]]
            expected[i, :, j] = base[i] - after
    np.testing.assert_allclose(exp.decoder_attributions, expected, atol=1e-5)
    assert np.abs(np.triu(exp.decoder_attributions, 1)).max() < 1e-5
    assert np.abs(expected).max() > 1e-3


@pytest.mark.parametrize("method", ["integrated_gradients", "attention"])
def test_methods_that_do_not_say_it_give_none(method, luong_and_data):
    model, src, dec = luong_and_data
    params = {"steps": 8} if method == "integrated_gradients" else {}
    assert tlxp.explain(model, src, method, decoder_inputs=dec, **params).decoder_attributions is None


def test_keras_encoder_decoder_with_a_shared_embedding():
    model = tiny_keras_seq2seq(seed=4, vocab=V)
    rng = np.random.RandomState(4)
    src = rng.randint(1, V, size=(2, T_SRC)).astype(np.int32)
    dec = rng.randint(1, V, size=(2, T_OUT)).astype(np.int32)
    grad = tlxp.explain(model, src, "gradient", decoder_inputs=dec)
    occ = tlxp.explain(model, src, "occlusion", decoder_inputs=dec)
    for exp in (grad, occ):
        assert exp.decoder_attributions.shape == (2, T_OUT, T_OUT)
        assert np.abs(exp.decoder_attributions).max() > 0
        assert np.abs(np.triu(exp.decoder_attributions, 1)).max() < 1e-5  # a causal GRU decoder
