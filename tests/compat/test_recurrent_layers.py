"""TensorLayer's recurrent layers and seq2seq zoo models on Keras 3 cells (issue 24 item 1).

Every TL layer is compared with Keras 3 ``keras.layers.RNN`` / ``Bidirectional`` over the
*same* cell object (same weights), eagerly and inside ``tf.function`` with an open batch.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain  # noqa: F401  (applies the patches)
from tensorlayer_xplain import _compat

TOL = 1e-5
N, T, F, H = 3, 6, 5, 4

CELLS = {"lstm": tl.layers.LSTMRNN, "gru": tl.layers.GRURNN, "simple": tl.layers.SimpleRNN}


@pytest.fixture
def x():
    return np.random.RandomState(0).randn(N, T, F).astype("float32")


def _keras(cell, x, mask=None, **kw):
    out = keras.layers.RNN(cell, return_sequences=True, return_state=True, **kw)(x, mask=mask)
    return np.asarray(out[0]), [np.asarray(s) for s in out[1:]]


def _max(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _static(layer_fn, x, n_outputs):
    tf.random.set_seed(1)
    ni = tl.layers.Input([None, T, F])
    layer = layer_fn()
    out = layer(ni)
    outs = list(out[:1]) + list(out[1]) if isinstance(out, tuple) else [out]
    model = tl.models.Model(inputs=ni, outputs=outs if len(outs) > 1 else outs[0])
    return model, layer


class _Dynamic(tl.models.Model):
    def __init__(self, layer):
        super().__init__()
        self.rnn = layer

    def forward(self, x, **kw):
        return self.rnn(x, **kw)


def test_patches_are_applied():
    assert {"rnn_keras3_cells", "birnn_keras3_cells", "seq2seq_attention_keras3",
            "seq2seq_greedy_graph"} <= set(_compat.APPLIED)
    assert tl.layers.RNN.forward._tlxp_patch == "rnn_keras3_cells"


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("build", ["static", "dynamic"])
def test_rnn_equals_keras_rnn(kind, build, x):
    """All outputs and the last state equal keras.layers.RNN over the same cell, eager and compiled."""
    tf.random.set_seed(2)
    layer = CELLS[kind](units=H, in_channels=F, return_last_output=False, return_last_state=True)
    if build == "static":
        ni = tl.layers.Input([None, T, F])
        out, states = layer(ni)
        model = tl.models.Model(inputs=ni, outputs=[out] + list(states))
    else:
        model = _Dynamic(layer)
    model.eval()
    ref_out, ref_states = _keras(layer.cell, x)
    got = model(x)
    out, states = (got[0], got[1:]) if build == "static" else got
    assert len(states) == len(ref_states) == (2 if kind == "lstm" else 1)
    assert _max(out, ref_out) < TOL
    for s, r in zip(states, ref_states):
        assert _max(s, r) < TOL
    compiled = tf.function(lambda v: model(v), input_signature=[tf.TensorSpec((None, T, F), tf.float32)])
    got_c = compiled(x)
    assert _max(got_c[0], ref_out) < TOL
    got_c2 = compiled(x[:2])  # another batch size, same trace
    assert _max(got_c2[0], ref_out[:2]) < TOL


@pytest.mark.parametrize("option", ["last_output", "seq_2d", "no_state", "last_output_state"])
def test_return_options(option, x):
    """return_last_output / return_seq_2d / return_last_state, as constructor and per-call arguments."""
    tf.random.set_seed(3)
    cell = keras.layers.LSTMCell(H)
    layer = tl.layers.RNN(cell=cell, in_channels=F, return_last_state=False)
    model = _Dynamic(layer)
    model.eval()
    ref_out, ref_states = _keras(cell, x)
    if option == "last_output":
        got = model(x, return_last_output=True)
        assert got.shape == (N, H) and _max(got, ref_out[:, -1]) < TOL
    elif option == "seq_2d":
        got = model(x, return_last_output=False, return_seq_2d=True)
        assert got.shape == (N * T, H) and _max(got, ref_out.reshape(N * T, H)) < TOL
    elif option == "no_state":
        got = model(x, return_last_output=False, return_seq_2d=False)
        assert got.shape == (N, T, H) and _max(got, ref_out) < TOL
    else:
        out, (h, c) = model(x, return_last_output=True, return_last_state=True)
        assert _max(out, ref_out[:, -1]) < TOL and _max(h, ref_states[0]) < TOL and _max(c, ref_states[1]) < TOL


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_sequence_length_equals_keras_mask(kind, as_tensor, x):
    """With sequence_length, the last output and states are those at step length-1 (= Keras with a mask)."""
    tf.random.set_seed(4)
    lengths = [2, 6, 4]
    layer = CELLS[kind](units=H, in_channels=F, return_last_output=True, return_last_state=True)
    model = _Dynamic(layer)
    model.eval()
    mask = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    ref_out, ref_states = _keras(layer.cell, x, mask=mask)
    seq = tf.constant(lengths, tf.int64) if as_tensor else lengths
    out, states = model(x, sequence_length=seq)
    for b, n in enumerate(lengths):
        assert _max(out[b], ref_out[b, n - 1]) < TOL
    for s, r in zip(states, ref_states):
        assert _max(s, r) < TOL
    compiled = tf.function(lambda v, n: model(v, sequence_length=n),
                           input_signature=[tf.TensorSpec((None, T, F)), tf.TensorSpec((None,), tf.int32)])
    out_c, states_c = compiled(x, tf.constant(lengths, tf.int32))
    assert _max(out_c, out) < TOL and all(_max(a, b) < TOL for a, b in zip(states_c, states))
    # without sequence_length the whole sequence is read (padding included)
    full, _ = model(x)
    assert _max(full, ref_out[:, -1]) > 1e-3 or lengths == [T] * N
    assert _max(model(x)[0], _keras(layer.cell, x)[0][:, -1]) < TOL


@pytest.mark.parametrize("bad, exc, words", [
    ([2, 3], ValueError, "expected 3 lengths"),
    ([2, 7, 1], ValueError, "in [1, 6]"),
    ([0, 2, 1], ValueError, "in [1, 6]"),
    ([1.5, 2, 1], TypeError, "integers"),
    ("abc", TypeError, "sequence_length"),
])
def test_sequence_length_errors(bad, exc, words, x):
    layer = tl.layers.GRURNN(units=H, in_channels=F, return_last_output=True, return_last_state=False)
    model = _Dynamic(layer)
    model.eval()
    with pytest.raises(exc, match="sequence_length") as info:
        model(x, sequence_length=bad)
    assert words in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("build", ["static", "dynamic"])
def test_birnn_equals_keras_bidirectional(build, x):
    """Forward half = Keras' forward half; backward half = Keras' backward half, in TL's (unreversed) order."""
    tf.random.set_seed(5)
    fw, bw = keras.layers.LSTMCell(H), keras.layers.GRUCell(H + 1)
    layer = tl.layers.BiRNN(fw_cell=fw, bw_cell=bw, in_channels=F, return_last_state=True)
    if build == "static":
        ni = tl.layers.Input([None, T, F])
        out, fws, bws = layer(ni)
        model = tl.models.Model(inputs=ni, outputs=[out] + list(fws) + list(bws))
        model.eval()
        got = model(x)
        out, fws, bws = got[0], got[1:3], got[3:]
    else:
        model = _Dynamic(layer)
        model.eval()
        out, fws, bws = model(x)
    bi = keras.layers.Bidirectional(keras.layers.RNN(fw, return_sequences=True, return_state=True),
                                    backward_layer=keras.layers.RNN(bw, return_sequences=True, return_state=True,
                                                                    go_backwards=True))
    bi(x)  # builds; Keras re-creates the forward layer from its config, so copy the weights in
    bi.forward_layer.cell.set_weights(fw.get_weights())
    bi.backward_layer.cell.set_weights(bw.get_weights())
    ref = [np.asarray(v) for v in bi(x)]
    ref_out, ref_fw, ref_bw = ref[0], ref[1:3], ref[3:]
    assert out.shape == (N, T, 2 * H + 1)
    assert _max(out[..., :H], ref_out[..., :H]) < TOL
    assert _max(out[..., H:], ref_out[:, ::-1, H:]) < TOL  # TL keeps the backward outputs in reading order
    for s, r in zip(list(fws) + list(bws), ref_fw + ref_bw):
        assert _max(s, r) < TOL
    compiled = tf.function(lambda v: model(v), input_signature=[tf.TensorSpec((None, T, F), tf.float32)])
    assert _max(compiled(x)[0], out) < TOL
    # return_seq_2d as a per-call override
    if build == "dynamic":
        flat = model(x, return_seq_2d=True, return_last_state=False)
        assert _max(flat, np.asarray(out).reshape(N * T, -1)) < TOL


def test_initial_state_is_used(x):
    tf.random.set_seed(6)
    layer = tl.layers.GRURNN(units=H, in_channels=F, return_last_output=False, return_last_state=True)
    model = _Dynamic(layer)
    model.eval()
    h0 = np.random.RandomState(1).randn(N, H).astype("float32")
    out, _ = model(x, initial_state=[tf.constant(h0)])
    ref = keras.layers.RNN(layer.cell, return_sequences=True)(x, initial_state=[h0])
    assert _max(out, ref) < TOL


@pytest.mark.slow
def test_compiled_train_step_lowers_loss():
    """An LSTMRNN classifier trained with a compiled step: the loss falls, dropout runs in training."""
    rng = np.random.RandomState(0)
    x = rng.randn(64, 8, 3).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64")
    tf.random.set_seed(7)
    ni = tl.layers.Input([None, 8, 3])
    nn = tl.layers.LSTMRNN(units=8, in_channels=3, return_last_output=True, return_last_state=False,
                           dropout=0.1)(ni)
    nn = tl.layers.Dense(2, in_channels=8)(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    opt = tf.optimizers.Adam(learning_rate=0.05)
    weights = model.trainable_weights
    assert len(weights) == 5  # kernel, recurrent kernel, bias of the cell; W, b of the Dense

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tl.cost.cross_entropy(model(xb), yb)
        grads = tape.gradient(loss, weights)
        opt.apply_gradients(zip(grads, weights))
        return loss

    model.train()
    first = float(step(x, y))
    for _ in range(40):
        last = float(step(x, y))
    assert last < 0.5 * first, (first, last)
    model.eval()
    assert float(np.mean(np.argmax(model(x), 1) == y)) > 0.85


def _copy_batch(rng, n, t, vocab):
    src = rng.randint(2, vocab, size=(n, t))
    dec_in = np.concatenate([np.ones((n, 1), int), src[:, :-1]], 1)  # sos = 1
    return src, dec_in, src


def _train(model, src, dec_in, target, steps, lr=0.03):
    opt = tf.optimizers.Adam(learning_rate=lr)
    weights = model.trainable_weights

    @tf.function
    def step(s, d, y):
        with tf.GradientTape() as tape:
            logits = model([s, d])
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    model.train()
    losses = [float(step(src, dec_in, target)) for _ in range(steps)]
    model.eval()
    return losses


def _seq2seq():
    tf.random.set_seed(8)
    return tl.models.Seq2seq(decoder_seq_length=4, cell_enc=tf.keras.layers.GRUCell,
                             cell_dec=tf.keras.layers.GRUCell, n_units=16, n_layer=2,
                             embedding_layer=tl.layers.Embedding(vocabulary_size=8, embedding_size=6))


def _luong(method="dot", cell=tf.keras.layers.GRUCell, name=None):
    tf.random.set_seed(9)
    return tl.models.Seq2seqLuongAttention(hidden_size=16, cell=cell, method=method, name=name,
                                           embedding_layer=tl.layers.Embedding(vocabulary_size=8, embedding_size=6))


@pytest.mark.slow
@pytest.mark.parametrize("zoo", ["seq2seq", "luong"])
def test_zoo_seq2seq_trains_and_greedy_decodes(zoo):
    """Teacher forcing lowers the loss; greedy decoding (sos=) equals argmax of teacher-forced logits."""
    rng = np.random.RandomState(0)
    src, dec_in, target = _copy_batch(rng, 32, 4, 8)
    model = _seq2seq() if zoo == "seq2seq" else _luong()
    losses = _train(model, src, dec_in, target, steps=60, lr=0.05)
    assert losses[-1] < 0.6 * losses[0], losses[::10]
    if zoo == "seq2seq":
        decoded = model(inputs=[src[:5]], seq_length=4, start_token=1)
    else:
        decoded = model(inputs=[src[:5]], seq_length=4, sos=1)
    decoded = np.asarray(decoded)
    assert decoded.shape == (5, 4) and decoded.dtype == np.int64
    # the model's own prefix fed back by teacher forcing gives the same argmax at every position
    own = np.concatenate([np.ones((5, 1), np.int64), decoded[:, :-1]], 1)
    model.train()  # the zoo models take [src, decoder_inputs] in training mode only
    try:
        logits = np.asarray(model([src[:5], own]))
    finally:
        model.eval()
    assert (np.argmax(logits, -1) == decoded).all()


@pytest.mark.slow
@pytest.mark.parametrize("zoo", ["seq2seq", "luong"])
def test_zoo_greedy_decoding_compiles(zoo):
    rng = np.random.RandomState(1)
    src = rng.randint(2, 8, size=(3, 5))
    model = _seq2seq() if zoo == "seq2seq" else _luong()
    model.eval()
    kw = {"start_token": 1} if zoo == "seq2seq" else {"sos": 1}
    eager = np.asarray(model(inputs=[src], seq_length=3, **kw))
    compiled = tf.function(lambda s: model(inputs=[s], seq_length=3, **kw),
                           input_signature=[tf.TensorSpec((None, 5), tf.int64)])
    assert (np.asarray(compiled(src)) == eager).all()
    assert (np.asarray(compiled(src[:1])) == eager[:1]).all()


@pytest.mark.slow
def test_luong_name_and_runtime_method_string():
    """name= works (TL passed it as `inputs`); a method string built at run time matches its branch."""
    method = "".join(["gen", "eral"])
    model = _luong(method=method, name="luong_named_%d" % id(method))
    assert model.name.startswith("luong_named_") and model.dec_layer.method == "general"
    assert model.dec_layer.W.shape == (16, 16)
    model.eval()
    assert np.asarray(model(inputs=[np.array([[2, 3, 4]])], seq_length=2, sos=1)).shape == (1, 2)
    with pytest.raises(ValueError, match="method: expected one of 'dot', 'general', 'concat', got 'luong'"):
        _luong(method="luong")


def test_rnn_errors_name_the_argument():
    layer = tl.layers.SimpleRNN(units=H, in_channels=F)
    model = _Dynamic(layer)
    model.eval()
    with pytest.raises(ValueError, match="inputs: expected a rank-3"):
        model(np.zeros((2, F), "float32"))
    f = tf.function(lambda v: model(v), input_signature=[tf.TensorSpec((None, None, F))])
    with pytest.raises(ValueError, match="number of time steps must be known"):
        f(np.zeros((2, 3, F), "float32"))


def test_npz_dict_round_trip_with_two_rnn_layers(tmp_path, x):
    """Keras 3 cells name every variable 'kernel'/'bias'; save_npz_dict keys by the unique path."""
    tf.random.set_seed(10)
    ni = tl.layers.Input([None, T, F])
    nn = tl.layers.LSTMRNN(units=H, in_channels=F, return_last_output=False, return_last_state=False)(ni)
    nn = tl.layers.GRURNN(units=H, in_channels=H, return_last_output=True, return_last_state=False)(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    model.eval()
    before = np.asarray(model(x))
    path = str(tmp_path / "w.npz")
    model.save_weights(path, format="npz_dict")
    for w in model.all_weights:
        w.assign(tf.zeros_like(w))
    assert _max(model(x), before) > 1e-3
    model.load_weights(path, format="npz_dict")
    assert _max(model(x), before) == 0.0


@pytest.mark.slow
def test_layer_table_rows_for_recurrent_layers_hold():
    """docs/layer_table.inc's rows for the recurrent layers, re-run here (patched process)."""
    import importlib.util
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location("make_layer_table", os.path.join(root, "docs", "make_layer_table.py"))
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    names = ["RNN", "SimpleRNN", "GRURNN", "LSTMRNN", "BiRNN"]
    assert table.run_cases([case for case in table.CASES if case[0] in names]) == {n: ("ok", "") for n in names}
    with open(os.path.join(root, "docs", "layer_table.inc"), encoding="utf-8") as f:
        committed = f.read()
    for name in names:
        row = committed.split("* - ``%s``\n" % name, 1)[1].splitlines()
        assert row[0].strip().startswith("- build fails") and row[1].strip() == "- ok", (name, row[:3])
