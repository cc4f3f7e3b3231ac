"""SmoothGrad, expected gradients, LIME, kernel and partition SHAP on an encoder-decoder (issue 24, point 4).

Every output position is explained over the source tokens ``(N, T_out, T_src)``; each method
equals a hand-written computation (a plain tape, lime's or shap's explainer run by hand, exact
Shapley values by enumeration), padding gets nothing and is never perturbed, seeded runs repeat,
the model is unchanged and bad parameters name themselves.
"""
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods._engine.token_sampling import _sequential_tree

from conftest import assert_luong_unchanged, luong_logits, luong_state, tiny_keras_seq2seq, tiny_luong

pytestmark = pytest.mark.slow  # ~40 s: a compiled step per method and the first lime / shap imports

V, T_SRC, T_OUT, SOS = 9, 5, 4, 1
FAST = {"smoothgrad": {"n_samples": 8}, "shap": {"n_samples": 16}, "lime": {"num_samples": 200},
        "shap_kernel": {}, "shap_partition": {}}
METHODS = sorted(FAST)


@pytest.fixture(scope="module")
def luong():
    return tiny_luong("general", seed=5, vocab=V)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(5)
    src = rng.randint(2, V, size=(3, T_SRC)).astype(np.int32)
    src[0, -2:] = 0  # padding at the end of the first source
    dec = rng.randint(1, V, size=(3, T_OUT)).astype(np.int32)
    return src, dec


def _scores(model, src, dec, targets):
    """Hand-written teacher-forced scores of ``targets`` (R, T_out), the model's own layers, eagerly."""
    logits = luong_logits(model, src, dec).numpy()
    return np.take_along_axis(logits, targets[..., None], -1)[..., 0]


def _hand_gradients(model, src, dec, targets, emb):
    """d score_t / d source embedding for every position t: (R, T_out, T_src, D), one tape per position."""
    emb = tf.constant(emb)
    grads = []
    for t in range(dec.shape[1]):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            logits = luong_logits(model, src, dec, emb)
            picked = tf.reduce_sum(tf.gather(logits[:, t], targets[:, t], batch_dims=1))
        grads.append(tape.gradient(picked, emb).numpy())
    return np.stack(grads, 1)


def test_hand_forward_is_the_models(luong, data):
    src, dec = data
    exp = tlxp.explain(luong, src, "gradient", decoder_inputs=dec)
    np.testing.assert_allclose(luong_logits(luong, src, dec).numpy(), exp.predictions, atol=1e-5)


def test_smoothgrad_without_noise_is_the_gradient(luong, data):
    src, dec = data
    grad = tlxp.explain(luong, src, "gradient", decoder_inputs=dec)
    signed = tlxp.explain(luong, src, "smoothgrad", decoder_inputs=dec, noise_level=0.0, absolute=False, n_samples=3)
    absolute = tlxp.explain(luong, src, "smoothgrad", decoder_inputs=dec, noise_level=0.0, n_samples=3)
    assert signed.shape == (3, T_OUT, T_SRC) and signed.meta["signed"] and not absolute.meta["signed"]
    np.testing.assert_allclose(signed.attributions, grad.attributions, atol=1e-6)
    np.testing.assert_allclose(absolute.attributions, np.abs(grad.attributions), atol=1e-6)


def test_smoothgrad_equals_a_hand_tape_on_the_documented_draws(luong, data):
    """Sequence i's noise comes from default_rng([seed, i, 0]); sigma = noise_level x its embedding range."""
    src, dec = data
    seed, n_samples, level = 3, 6, 0.2
    exp = tlxp.explain(luong, src, "smoothgrad", decoder_inputs=dec, n_samples=n_samples, noise_level=level,
                       seed=seed, absolute=True)
    table = luong.embedding_layer.embeddings.numpy()
    ref = np.zeros((3, T_OUT, T_SRC))
    for i in range(3):
        emb = table[src[i]]
        sigma = level * (emb.max() - emb.min())
        noise = np.random.default_rng([seed, i, 0]).standard_normal((n_samples, T_SRC, emb.shape[1]))
        noise = noise.astype(np.float32) * np.float32(sigma) * (src[i] != 0)[None, :, None]
        rows = np.repeat(src[i:i + 1], n_samples, 0)
        grads = _hand_gradients(luong, rows, np.repeat(dec[i:i + 1], n_samples, 0),
                                np.repeat(exp.targets[i:i + 1], n_samples, 0), emb[None] + noise)
        ref[i] = np.abs(grads.sum(-1)).mean(0)
    ref[0, :, -2:] = 0.0
    np.testing.assert_allclose(exp.attributions, ref, atol=1e-5 * max(1.0, np.abs(ref).max()))


def test_expected_gradients_are_additive_per_position(luong, data):
    src, dec = data
    exp = tlxp.explain(luong, src, "shap", decoder_inputs=dec, n_samples=1024)
    picked = _scores(luong, src, dec, exp.targets)
    # the default background: every source token the pad id (the padding kept, as it is)
    expected = _scores(luong, np.zeros_like(src), dec, exp.targets)
    np.testing.assert_allclose(exp.meta["model_output"], picked, atol=1e-4)
    np.testing.assert_allclose(exp.meta["expected_value"], expected, atol=1e-4)
    gap = exp.attributions.sum(-1) + expected - picked
    np.testing.assert_allclose(exp.meta["additivity_gap"], gap, atol=1e-4)
    scale = np.abs(picked - expected).max()
    assert np.abs(gap).max() < 0.05 * scale  # Monte Carlo: 1024 path points per sequence
    assert exp.meta["max_additivity_gap"] == pytest.approx(np.abs(gap).max(), abs=1e-4)


def test_expected_gradients_with_a_background(luong, data):
    src, dec = data
    background = np.array([[2, 3, 4, 5, 6], [7, 7, 2, 2, 8]], np.int32)
    exp = tlxp.explain(luong, src, "shap", decoder_inputs=dec, background=background, n_samples=512, seed=1)
    expected = np.zeros((3, T_OUT))
    for row in background:
        mixed = np.where(src == 0, src, row[None])  # padding keeps the input's own ids
        expected += _scores(luong, mixed, dec, exp.targets) / len(background)
    np.testing.assert_allclose(exp.meta["expected_value"], expected, atol=1e-4)
    scale = np.abs(exp.meta["model_output"] - expected).max()
    assert np.abs(exp.meta["additivity_gap"]).max() < 0.08 * scale
    with pytest.raises(ValueError, match=r"background: expected token ids \(M, 5\) like the inputs"):
        tlxp.explain(luong, src, "shap", decoder_inputs=dec, background=background[:, :3])


def test_lime_is_lime_text_on_the_same_samples(luong, data):
    from lime.lime_text import LimeTextExplainer

    src, dec = data
    exp = tlxp.explain(luong, src, "lime", decoder_inputs=dec, num_samples=300, seed=4)
    i, t = 1, 2
    row = src[i]

    def classifier(texts):  # position t of sequence i only, through the hand-written forward pass
        ids = np.array([[int(w) for w in text.split()] for text in texts], np.int32)
        n = len(ids)
        return _scores(luong, ids, np.repeat(dec[i:i + 1], n, 0), np.repeat(exp.targets[i:i + 1], n, 0))[:, [t]]

    ref = LimeTextExplainer(kernel_width=25.0, bow=False, mask_string="0", split_expression=r"\s+",
                            feature_selection="none", random_state=4).explain_instance(
        " ".join(str(v) for v in row), classifier, labels=(0,), num_features=T_SRC, num_samples=300)
    weights = np.zeros(T_SRC)
    for feature, weight in ref.local_exp[0]:
        weights[feature] = weight
    np.testing.assert_allclose(exp.attributions[i, t], weights, atol=1e-5)
    assert exp.meta["intercept"][i, t] == pytest.approx(ref.intercept[0], abs=1e-5)
    assert np.abs(exp.attributions).max() > 1e-3


def _exact_shapley(model, src_row, dec_row, target_row, mask):
    """Shapley values (M, T_out) of the non-pad source tokens, every coalition enumerated (masked: ``mask``)."""
    positions = np.flatnonzero(src_row != 0)
    m = len(positions)
    coalitions = list(itertools.product((0, 1), repeat=m))
    batch = np.repeat(src_row[None], len(coalitions), 0)
    for k, keep in enumerate(coalitions):
        batch[k, positions] = np.where(np.array(keep, bool), src_row[positions], mask)
    f = dict(zip(coalitions, _scores(model, batch, np.repeat(dec_row[None], len(batch), 0),
                                     np.repeat(target_row[None], len(batch), 0))))
    values = np.zeros((m, len(dec_row)))
    for j in range(m):
        for keep in coalitions:
            if keep[j]:
                continue
            size = sum(keep)
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            values[j] += weight * (f[keep[:j] + (1,) + keep[j + 1:]] - f[keep])
    return positions, values, f[(0,) * m], f[(1,) * m]


def test_kernel_shap_is_the_exact_shapley_value_per_position(luong, data):
    src, dec = data
    exp = tlxp.explain(luong, src, "shap_kernel", decoder_inputs=dec, mask_token=1)
    for i in range(3):
        positions, values, empty, full = _exact_shapley(luong, src[i], dec[i], exp.targets[i], 1)
        np.testing.assert_allclose(exp.attributions[i][:, positions], values.T, atol=1e-4)
        np.testing.assert_allclose(exp.meta["expected_value"][i], empty, atol=1e-4)
        np.testing.assert_allclose(exp.meta["model_output"][i], full, atol=1e-4)
    assert exp.meta["max_additivity_gap"] < 1e-4 and exp.meta["mask_token"] == 1
    np.testing.assert_allclose(exp.attributions.sum(-1), exp.meta["model_output"] - exp.meta["expected_value"],
                               atol=1e-4)


def test_partition_shap_is_shaps_partition_explainer_on_one_sequence(luong, data):
    from tensorlayer_xplain.methods.shap._common import import_shap

    shap = import_shap()
    src, dec = data
    exp = tlxp.explain(luong, src, "shap_partition", decoder_inputs=dec, max_evals=12)
    i = 2
    positions = np.flatnonzero(src[i] != 0)

    def f(z):  # every position at once, through the hand-written forward pass
        batch = np.repeat(src[i:i + 1], len(z), 0)
        batch[:, positions] = np.where(np.asarray(z) > 0.5, src[i, positions], 0)
        return _scores(luong, batch, np.repeat(dec[i:i + 1], len(z), 0), np.repeat(exp.targets[i:i + 1], len(z), 0))

    masker = shap.maskers.Partition(np.zeros((1, len(positions))), clustering=_sequential_tree(len(positions)))
    ref = shap.PartitionExplainer(f, masker)(np.ones((1, len(positions))), max_evals=12, silent=True)
    np.testing.assert_allclose(exp.attributions[i][:, positions], np.asarray(ref.values)[0].T, atol=1e-5)
    np.testing.assert_allclose(exp.meta["expected_value"][i], np.ravel(ref.base_values), atol=1e-5)
    assert exp.meta["max_additivity_gap"] < 1e-4  # Owen values are exactly additive


@pytest.mark.parametrize("method", METHODS)
def test_padding_gets_nothing_and_is_never_perturbed(method, luong, data):
    src, dec = data
    assert len({tuple(row) for row in dec}) == len(dec)  # a row's decoder inputs tell its source
    adapter = tlxp.Seq2seqAdapter(luong)
    sent, moved = [], []
    forced, grads = adapter.teacher_forced, adapter.source_gradients
    table = luong.embedding_layer.embeddings.numpy()

    def teacher_forced(s, d, batch_size=None):
        sent.append((np.array(s), np.array(d)))
        return forced(s, d, batch_size)

    def source_gradients(s, d, emb, *args, **kwargs):
        moved.append((np.array(s), np.array(emb)))
        return grads(s, d, emb, *args, **kwargs)

    adapter.teacher_forced, adapter.source_gradients = teacher_forced, source_gradients
    params = dict(FAST[method], **({} if method in ("smoothgrad", "shap") else {"mask_token": 1}))
    exp = tlxp.explain(adapter, src, method, decoder_inputs=dec, **params)
    assert np.all(exp.attributions[0, :, -2:] == 0) and np.abs(exp.attributions[0, :, :3]).max() > 0
    if method in ("smoothgrad", "shap"):  # the embeddings at the padding are never moved
        for s, emb in moved:
            pad = s == 0
            assert pad.any() and (s[:, :3] != 0).all()
            np.testing.assert_allclose(emb[pad], np.broadcast_to(table[0], emb[pad].shape), atol=1e-6)
            assert np.abs(emb[~pad] - table[s[~pad]]).max() > 1e-3  # the other tokens are
        return
    rows = 0
    for s, d in sent:  # masked sources (mask_token 1): the padding of source 0 stays, nothing else is 0
        first = (d == dec[0]).all(1)
        assert np.all(s[first][:, -2:] == 0) and np.all(s[~first] != 0)
        rows += first.sum()
    assert rows > 1


@pytest.mark.parametrize("method", METHODS)
def test_seeded_runs_repeat_and_the_model_is_unchanged(method, luong, data):
    src, dec = data
    before = luong_state(luong)
    a = tlxp.explain(luong, src, method, decoder_inputs=dec, seed=7, **FAST[method])
    b = tlxp.explain(luong, src, method, decoder_inputs=dec, seed=7, **FAST[method])
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert a.method == method and a.shape == (3, T_OUT, T_SRC) and a.decoder_attributions is None
    if method in ("smoothgrad", "shap", "lime"):
        c = tlxp.explain(luong, src, method, decoder_inputs=dec, seed=8, **FAST[method])
        assert not np.array_equal(a.attributions, c.attributions)
    assert_luong_unchanged(luong, before)


@pytest.mark.parametrize("method, params, exc, message", [
    ("smoothgrad", {"n_samples": 0}, ValueError, r"n_samples: expected an int between 1 and 1000000 for smoothgrad"),
    ("smoothgrad", {"noise_level": -0.5}, ValueError, r"noise_level: expected a number between 0 and 10"),
    ("smoothgrad", {"n_samples": 2.5}, ValueError, "n_samples: expected an int"),
    ("shap", {"n_samples": 10 ** 7}, ValueError, r"n_samples: expected an int between 1 and 1000000 for shap"),
    ("shap", {"baseline_token": V}, ValueError, r"baseline_token: expected a token id in \[0, 9\)"),
    ("lime", {"num_samples": 0}, ValueError, "num_samples: expected an int between 1 and 1000000 for lime"),
    ("lime", {"kernel_width": 0.0}, ValueError, "kernel_width: expected a number between 0.001 and 1000"),
    ("lime", {"mask_token": -1}, ValueError, r"mask_token: expected a token id in \[0, 9\)"),
    ("lime", {"steps": 8}, TypeError, "lime: unexpected parameter.s. steps for a seq2seq model"),
    ("shap_kernel", {"nsamples": "many"}, TypeError, "nsamples: expected an int between 1 and 1000000"),
    ("shap_kernel", {"nsamples": 0}, ValueError, "nsamples: expected an int between 1 and 1000000 for shap_kernel"),
    ("shap_partition", {"max_evals": -3}, ValueError, "max_evals: expected an int between 1 and 1000000"),
    ("shap_partition", {"seed": -1}, ValueError, "seed: expected None or an int between 0 and 4294967295"),
])
def test_bad_parameters_name_themselves(method, params, exc, message, luong, data):
    src, dec = data
    before = luong_state(luong)
    with pytest.raises(exc, match=message):
        tlxp.explain(luong, src, method, decoder_inputs=dec, **params)
    assert_luong_unchanged(luong, before)


def test_model_explainer_config_costs_and_greedy_decoding(luong, data):
    src, dec = data
    explainer = tlxp.ModelExplainer(luong, methods=METHODS, sos=SOS, seq_length=T_OUT, config=FAST)
    exps = explainer.explain_all(src)
    assert sorted(exps) == METHODS and not exps.skipped
    for exp in exps.values():
        assert exp.shape == (3, T_OUT, T_SRC) and exp.meta["decoding_consistent"]
        np.testing.assert_array_equal(exp.targets, exp.meta["outputs"])
    direct = tlxp.explain(luong, src, "lime", sos=SOS, seq_length=T_OUT, seed=0, num_samples=200)
    np.testing.assert_allclose(exps["lime"].attributions, direct.attributions, atol=1e-6)
    with pytest.raises(TypeError, match=r"config\['lime'\]\['num_samples'\]: expected an int"):
        tlxp.ModelExplainer(luong, methods=["lime"], config={"lime": {"num_samples": "many"}})
    with pytest.raises(TypeError, match="unknown 'steps'"):
        tlxp.ModelExplainer(luong, methods=["smoothgrad"], config={"smoothgrad": {"steps": 3}})
    cost = tlxp.estimate_cost(explainer.adapter, "smoothgrad", 3, n_samples=8)
    assert (cost.forward, cost.backward) == (3 * T_OUT + 3 + 3 * T_OUT * 8, 3 * T_OUT * 8)
    assert tlxp.estimate_cost(explainer.adapter, "lime", 2, num_samples=100).forward == 2 * T_OUT + 2 + 200
    assert tlxp.estimate_cost(explainer.adapter, "shap", 2, n_samples=4, background=src).backward == 2 * T_OUT * 4
    with pytest.raises(ValueError, match="max_evals: expected an int between 1 and 1000000"):
        tlxp.estimate_cost(explainer.adapter, "shap_partition", 2, max_evals=0)


def test_a_keras_encoder_decoder():
    model = tiny_keras_seq2seq(seed=6)
    rng = np.random.RandomState(6)
    src = rng.randint(1, V, size=(2, 4)).astype(np.int32)
    src[1, -1] = 0
    dec = rng.randint(1, V, size=(2, 3)).astype(np.int32)
    kernel = tlxp.explain(model, src, "shap_kernel", decoder_inputs=dec)
    assert kernel.shape == (2, 3, 4) and kernel.meta["max_additivity_gap"] < 1e-4
    assert np.all(kernel.attributions[1, :, -1] == 0)
    smooth = tlxp.explain(model, src, "smoothgrad", decoder_inputs=dec, n_samples=4)
    assert smooth.shape == (2, 3, 4) and np.all(smooth.attributions[1, :, -1] == 0)
    assert np.all(smooth.attributions >= 0) and smooth.attributions.max() > 0  # |per sample|, averaged


def test_saved_and_loaded(luong, data, tmp_path):
    src, dec = data
    for method in ("lime", "shap"):
        exp = tlxp.explain(luong, src, method, decoder_inputs=dec, **FAST[method])
        back = tlxp.Seq2seqExplanation.load(exp.save(str(tmp_path / ("%s.npz" % method))))
        np.testing.assert_array_equal(back.attributions, exp.attributions)
        key = "intercept" if method == "lime" else "additivity_gap"
        np.testing.assert_allclose(back.meta[key], exp.meta[key])


def test_byte_bounded_blocks_give_the_same_results(luong, data, monkeypatch):
    """With a block budget of one row, samples and scored rows go one block each: the numbers do not change."""
    from tensorlayer_xplain.methods import seq2seq_sampling

    src, dec = data
    grad = tlxp.explain(luong, src, "gradient", decoder_inputs=dec)
    kernel = tlxp.explain(luong, src, "shap_kernel", decoder_inputs=dec)
    monkeypatch.setattr(seq2seq_sampling, "BLOCK_BYTES", 1)
    smooth = tlxp.explain(luong, src, "smoothgrad", decoder_inputs=dec, noise_level=0.0, absolute=False, n_samples=3)
    np.testing.assert_allclose(smooth.attributions, grad.attributions, atol=1e-6)
    np.testing.assert_allclose(tlxp.explain(luong, src, "shap_kernel", decoder_inputs=dec).attributions,
                               kernel.attributions, atol=1e-5)
