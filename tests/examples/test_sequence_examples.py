"""The sequence examples' core on tiny settings: examples/mnist_lstm.py and examples/date_translation.py."""
import datetime
import importlib.util
import os

import numpy as np
import pytest

from tensorlayer_xplain import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_mnist = pytest.mark.skipif(datasets.find_mnist_dir() is None,
                                 reason="set TENSORLAYER_XPLAIN_DATA to a folder with mnist/ (the CI does)")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dates():
    return _load("date_translation")


@pytest.fixture(scope="module")
def lstm():
    return _load("mnist_lstm")


def test_date_formats_and_field_spans(dates):
    """At least 10 distinct formats; each span holds its field, as the ISO date says."""
    assert len(dates.FORMATS) >= 10
    day = datetime.date(1996, 3, 5)
    texts = [dates.render(day, f)[0] for f in dates.FORMATS]
    assert len(set(texts)) == len(texts)
    assert {"tuesday 5 march 1996", "5/3/96", "march 5, 1996", "05.03.1996"} <= set(texts)
    for date in (day, datetime.date(2031, 12, 22), datetime.date(1950, 1, 1), datetime.date(2049, 11, 13)):
        for parts in dates.FORMATS:
            text, spans = dates.render(date, parts)
            assert set(spans) == {"year", "month", "day"}
            year = text[slice(*spans["year"])]
            assert year in (str(date.year), str(date.year)[2:])
            assert int(text[slice(*spans["day"])]) == date.day
            month = text[slice(*spans["month"])]
            assert (int(month) == date.month) if month.isdigit() else \
                (month == date.strftime("%B").lower() or month == date.strftime("%b").lower())
            assert len(text) <= dates.SOURCE_LENGTH


def test_date_dataset(dates):
    rng = np.random.RandomState(0)
    train, test = dates.split_dates(300, 50, seed=1)
    assert not set(train) & set(test)
    src, tgt, spans, formats = dates.make_dataset(test, rng)
    assert src.shape == (50, dates.SOURCE_LENGTH) and tgt.shape == (50, dates.OUTPUT_LENGTH)
    for i, date in enumerate(test):
        assert dates.decode(tgt[i]) == date.isoformat()
        text = dates.decode(src[i])
        assert (src[i, :dates.SOURCE_LENGTH - len(text)] == dates.PAD).all()  # padded in front
        year = dates.decode(src[i, slice(*spans[i]["year"])])
        assert year in (str(date.year), str(date.year)[2:])
    dec = dates.teacher_inputs(tgt)
    assert (dec[:, 0] == dates.SOS).all() and (dec[:, 1:] == tgt[:, :-1]).all()
    masks = dates.field_masks(spans)
    assert all(m.shape == src.shape for m in masks.values())
    uniform = np.full((50, dates.OUTPUT_LENGTH, dates.SOURCE_LENGTH), 1.0 / dates.SOURCE_LENGTH)
    shares = dates.field_attention(uniform, masks)
    assert shares["year"] == pytest.approx(masks["year"].sum(1).mean() / dates.SOURCE_LENGTH)


@pytest.mark.slow
def test_date_model_decoder_starts_from_a_learned_constant(dates):
    """The example's model: the decoder's start state is one learned vector, whatever the source."""
    import tensorflow as tf

    import tensorlayer_xplain as tlxp

    model = dates.build_model(hidden=8, embedding=4, seed=0)
    assert isinstance(model, dates.AttentionOnlyLuong)
    start = model.enc_layer.start_state
    assert any(w is start for w in model.trainable_weights)
    rng = np.random.RandomState(0)
    train, _ = dates.split_dates(6, 0, seed=0)
    src, tgt, _, _ = dates.make_dataset(train, rng)
    start.assign(tf.fill(start.shape, 0.25))
    emb = model.embedding_layer.forward(src)
    output, hiddens, last = model.enc_layer.forward(emb)
    assert np.allclose(last.numpy(), 0.25) and last.shape == (6, 8)
    _, ref_hiddens, ref_last = dates.Encoder.forward(model.enc_layer, emb)  # TensorLayer's, same weights
    skip = emb.numpy() @ model.enc_layer.skip.numpy()  # each character's own embedding, projected
    assert np.allclose(np.stack(hiddens, 1), np.stack(ref_hiddens, 1) + skip, atol=1e-6)
    assert np.abs(skip).max() > 1e-3 and not np.allclose(ref_last.numpy(), 0.25)
    gru = dates.build_model(hidden=8, embedding=4, seed=0, encoder="gru")  # TensorLayer's encoder states
    gru_emb = gru.embedding_layer.forward(src)
    assert np.allclose(np.stack(gru.enc_layer.forward(gru_emb)[1], 1),
                       np.stack(dates.Encoder.forward(gru.enc_layer, gru_emb)[1], 1), atol=1e-6)
    assert type(dates.build_model(hidden=8, decoder_start="encoder")) is dates.tl.models.Seq2seqLuongAttention
    model.train()
    logits = model([src, dates.teacher_inputs(tgt)])
    model.eval()
    assert logits.shape == (6, dates.OUTPUT_LENGTH, len(dates.VOCAB))
    exp = tlxp.explain(model, src, "attention", sos=dates.SOS, seq_length=dates.OUTPUT_LENGTH)
    assert exp.shape == (6, dates.OUTPUT_LENGTH, dates.SOURCE_LENGTH)
    assert np.allclose(exp.attributions.sum(-1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="decoder_start"):
        dates.build_model(hidden=8, decoder_start="zero")


@pytest.mark.slow
def test_date_model_local_values(dates):
    """Values: each character with its two neighbours, nothing further; the alignment scores the keys."""
    import tensorflow as tf

    model = dates.build_model(hidden=8, embedding=4, seed=0, encoder="local")
    src = np.array([dates.encode(t, 12, pre=True) for t in ("5 march 96", "5 march 97", "6 march 96")], np.int32)
    emb = model.embedding_layer.forward(src)
    try:
        v = np.stack(model.enc_layer.forward(emb)[1], 1)  # (3, 12, 8)
    finally:
        model.enc_layer.shared.keys = None
    assert v.shape == (3, 12, 8)
    # "96"/"97" differ at position 11: only positions 10 and 11 change; "5"/"6" at position 2: only 1 to 3
    changed = lambda a, b: [t for t in range(12) if not np.allclose(v[a, t], v[b, t], atol=1e-7)]  # noqa: E731
    assert changed(0, 1) == [10, 11] and changed(0, 2) == [1, 2, 3]
    kernel, bias = model.enc_layer.value_kernel.numpy(), model.enc_layer.value_bias.numpy()
    e = np.pad(emb.numpy(), [(0, 0), (1, 1), (0, 0)])
    manual = np.tanh(sum(e[:, k:k + 12] @ kernel[k] for k in range(3)) + bias)
    assert np.allclose(v, manual, atol=1e-5)
    dec = model.dec_layer
    rng = np.random.RandomState(1)
    keys, vals = (tf.constant(rng.randn(3, 12, 8), tf.float32) for _ in range(2))
    hidden = tf.constant(rng.randn(3, 8), tf.float32)
    dec.source_mask = tf.constant((src != dates.PAD).astype(np.float32))
    try:
        dec.shared.keys = keys
        scored = dec.score(vals, hidden, "general").numpy()
        dec.shared.keys = None
        expected = dec.score(keys, hidden, "general").numpy()
    finally:
        dec.source_mask = dec.shared.keys = None
    assert np.allclose(scored, expected, atol=1e-6)
    logits = (keys.numpy() @ (hidden.numpy() @ dec.W.numpy())[..., None])[..., 0] - 1e9 * (src == dates.PAD)
    manual = np.exp(logits - logits.max(-1, keepdims=True))
    assert np.allclose(scored, manual / manual.sum(-1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError, match="encoder"):
        dates.build_model(hidden=8, encoder="lstm")
    with pytest.raises(ValueError, match="mask_padding"):
        dates.build_model(hidden=8, encoder="local", mask_padding=False)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dot", "general", "concat"])
def test_date_model_masked_alignment(dates, method):
    """TensorLayer's softmax restricted to the date: 0 on the padding, rows sum to 1 when the padding dominates."""
    import tensorflow as tf

    model = dates.build_model(hidden=8, embedding=4, method=method, seed=0)
    dec = model.dec_layer
    rng = np.random.RandomState(0)
    enc = tf.constant(rng.randn(3, 6, 8), tf.float32)
    hidden = tf.constant(rng.randn(3, 8), tf.float32)
    mask = np.ones((3, 6), np.float32)
    mask[:, :2] = 0
    mask[2, :4] = 0
    full = dates.Decoder_Attention.score(dec, enc, hidden, method).numpy()  # TensorLayer's own
    dec.source_mask = tf.constant(mask)
    try:
        masked = dec.score(enc, hidden, method).numpy()
        expected = full * mask / (full * mask).sum(-1, keepdims=True)
        assert np.allclose(masked, expected, atol=1e-5)
        far = tf.concat([enc[:, :2] * 1e4, enc[:, 2:]], 1)  # the padding's scores swamp the date's
        rows = dec.score(far, hidden, method).numpy()
        assert np.allclose(rows.sum(-1), 1, atol=1e-5) and (rows[:, :2] == 0).all()
    finally:
        dec.source_mask = None


@pytest.mark.slow
def test_date_translation_runs_on_tiny_settings(dates, tmp_path, capsys):
    exact, shares = dates.main(["--train-size", "256", "--test-size", "32", "--epochs", "1", "--hidden", "8",
                                "--check", "8", "--ig-check", "4", "--n", "2", "--ig-steps", "4",
                                "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert 0.0 <= exact <= 1.0 and set(shares) == {"year", "month", "day"}
    assert "held-out exact match" in out and "rows sum to 1" in out
    assert (tmp_path / "date_alignment.png").stat().st_size > 1000


@pytest.mark.slow
def test_mnist_lstm_blanking_and_figure(lstm, tmp_path):
    rng = np.random.RandomState(0)
    images = (rng.rand(6, 28, 28) > 0.7).astype(np.float32)
    rows = np.array([[0, 3]] * 6)
    blanked = lstm.blank_rows(images, rows)
    assert (blanked[:, [0, 3]] == 0).all() and np.array_equal(blanked[:, 1], images[:, 1])
    model = lstm.lstm_classifier(units=8, seed=0)
    import tensorlayer_xplain as tlxp

    exp = tlxp.explain(model, images, "integrated_gradients", steps=8)
    assert exp.shape == (6, 28, 28)
    results = lstm.row_deletion(model, images, exp.attributions, k=2)
    assert set(results) == {"ig", "random"} and all(0 <= r[0] <= 1 for r in results.values())
    path = tmp_path / "t.png"
    lstm.draw_timesteps(exp, np.zeros(6, int), str(path))
    assert path.stat().st_size > 1000


@needs_mnist
@pytest.mark.slow
def test_mnist_lstm_runs_on_tiny_settings(lstm, tmp_path, capsys):
    accuracy = lstm.main(["--epochs", "1", "--train-size", "2000", "--units", "32", "--n", "2", "--check", "16",
                          "--steps", "8", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert accuracy > 0.15  # 2,000 digits, one epoch: above chance (0.1), far from the full run (0.98)
    assert "test accuracy" in out and "the 4 rows with the largest IG" in out
    assert (tmp_path / "lstm_timesteps.png").stat().st_size > 1000
