"""Seq2seq memory bounded in bytes: every batched call of a Seq2seqAdapter is sized from max_batch_bytes."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter._reuse import seq2seq_adapter
from tensorlayer_xplain.adapter._seq2seq_memory import call_bytes

from conftest import tiny_keras_seq2seq, tiny_luong

pytestmark = pytest.mark.slow  # each budget traces its own steps: about a minute on two shared cores

V, T_SRC, T_OUT, N = 9, 6, 4, 5
SOS = 1


def _data(n=N, seed=0):
    rng = np.random.RandomState(seed)
    src = rng.randint(2, V, size=(n, T_SRC)).astype(np.int32)
    src[0, -2:] = 0
    dec = np.concatenate([np.full((n, 1), SOS), rng.randint(2, V, size=(n, T_OUT - 1))], 1).astype(np.int32)
    return src, dec


def _record_pieces(adapter):
    """Record the rows of every compiled call the adapter makes (the pieces map_batches sends)."""
    pieces = []
    batched = adapter.map_batches

    def recording(fn, *arrays, **kw):
        def counted(*parts):
            pieces.append(len(parts[0]))
            return fn(*parts)

        return batched(counted, *arrays, **kw)

    adapter.map_batches = recording
    return pieces


@pytest.fixture(scope="module")
def luong():
    return tiny_luong(vocab=V, dim=5, hidden=6)


CASES = [("gradient", {}), ("gradient_x_input", {}), ("integrated_gradients", {"steps": 4}), ("occlusion", {}),
         ("attention", {})]


@pytest.mark.parametrize("method,params", CASES)
def test_small_budget_gives_smaller_pieces_and_equal_results(luong, method, params):
    src, dec = _data()
    free = tlxp.Seq2seqAdapter(luong)
    free_pieces = _record_pieces(free)
    ref = tlxp.explain(free, src, method, decoder_inputs=dec, **params)
    assert len(free_pieces) == (2 if method == "occlusion" else 1)  # the default budget: one call per pass
    kind = {"integrated_gradients": "path", "gradient": "gradient", "gradient_x_input": "gradient"}.get(
        method, "forward")
    budget = 2 * free.sequence_bytes(kind, T_SRC, T_OUT) + 1  # two source sequences per call of this kind
    small = tlxp.Seq2seqAdapter(luong, max_batch_bytes=budget)
    pieces = _record_pieces(small)
    exp = tlxp.explain(small, src, method, decoder_inputs=dec, **params)
    assert small.sequence_rows(kind, T_SRC, T_OUT) == 2
    assert max(pieces) <= 2 and len(pieces) > len(free_pieces)
    assert np.abs(exp.attributions - ref.attributions).max() <= 1e-5 * max(1.0, np.abs(ref.attributions).max())
    assert np.abs(exp.predictions - ref.predictions).max() <= 1e-5 * max(1.0, np.abs(ref.predictions).max())
    np.testing.assert_array_equal(exp.targets, ref.targets)


def test_budget_below_one_sequence_runs_one_at_a_time(luong):
    src, dec = _data()
    ref = tlxp.explain(tlxp.Seq2seqAdapter(luong), src, "integrated_gradients", sos=SOS, seq_length=T_OUT, steps=4)
    tiny = tlxp.Seq2seqAdapter(luong, max_batch_bytes=1)
    pieces = _record_pieces(tiny)
    exp = tlxp.explain(tiny, src, "integrated_gradients", sos=SOS, seq_length=T_OUT, steps=4)
    assert set(pieces) == {1} and len(pieces) == 2 * N  # greedy decoding, then the IG path: one sequence per call
    np.testing.assert_array_equal(exp.meta["outputs"], ref.meta["outputs"])
    assert np.abs(exp.attributions - ref.attributions).max() <= 1e-5 * np.abs(ref.attributions).max()


def test_user_paths_take_the_budget(luong):
    """tlxp.explain(..., max_batch_bytes=) and ModelExplainer(..., max_batch_bytes=) reach the seq2seq adapter."""
    src, dec = _data()
    ref = tlxp.explain(luong, src, "gradient", decoder_inputs=dec)
    adapter = seq2seq_adapter(luong, max_batch_bytes=1)  # the adapter tlxp.explain reuses for this budget
    pieces = _record_pieces(adapter)
    exp = tlxp.explain(luong, src, "gradient", decoder_inputs=dec, max_batch_bytes=1)
    assert adapter.max_batch_bytes == 1 and set(pieces) == {1} and len(pieces) == N
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-6)
    explainer = tlxp.ModelExplainer(luong, methods=["gradient"], max_batch_bytes=12345, cache=False)
    assert isinstance(explainer.adapter, tlxp.Seq2seqAdapter) and explainer.adapter.max_batch_bytes == 12345
    pieces = _record_pieces(explainer.adapter)
    np.testing.assert_allclose(explainer.explain(src, "gradient", decoder_inputs=dec).attributions,
                               ref.attributions, rtol=1e-5, atol=1e-6)
    assert max(pieces) == explainer.adapter.sequence_rows("gradient", T_SRC, T_OUT) < N


def test_estimate_follows_the_formulas(luong):
    adapter = tlxp.Seq2seqAdapter(luong)
    activations, width = adapter.row_bytes(T_SRC, T_OUT)
    assert width == V and activations > 4 * T_OUT * V  # the logits (T_out, V) are among the activations
    longer, _ = adapter.row_bytes(2 * T_SRC, T_OUT)
    assert longer > activations  # a longer source holds more encoder states
    dim = adapter.embedding_dim
    forward = 4 * (T_SRC + T_OUT) + 4 * T_SRC * dim + activations
    assert adapter.sequence_bytes("forward", T_SRC, T_OUT) == forward
    gradient = forward + activations + 2 * 4 * T_OUT * T_SRC * dim
    assert adapter.sequence_bytes("gradient", T_SRC, T_OUT) == gradient
    assert adapter.sequence_bytes("path", T_SRC, T_OUT) == gradient + 4 * T_SRC * dim + 4 * T_OUT * T_SRC * dim
    assert call_bytes("gradient", activations, T_SRC, T_OUT, dim) == gradient
    budgeted = tlxp.Seq2seqAdapter(luong, batch_size=5, max_batch_bytes=10 * gradient)
    assert budgeted.sequence_rows("gradient", T_SRC, T_OUT) == 5  # batch_size caps it
    assert budgeted.sequence_rows("gradient", T_SRC, T_OUT, batch_size=3) == 3
    assert tlxp.Seq2seqAdapter(luong, max_batch_bytes=3 * gradient).sequence_rows("gradient", T_SRC, T_OUT) == 3
    with pytest.raises(ValueError, match="kind: expected one of"):
        call_bytes("backward", activations, T_SRC, T_OUT, dim)


def test_keras_encoder_decoder_loops_are_counted_per_step():
    """A Keras GRU runs a while loop: its body is counted once per step (max(T_src, T_out) times)."""
    model = tiny_keras_seq2seq(vocab=V)
    adapter = tlxp.Seq2seqAdapter(model)
    short, _ = adapter.row_bytes(3, T_OUT)
    long, width = adapter.row_bytes(12, T_OUT)
    assert width == V and long > short > 4 * T_OUT * V
    src, dec = _data()
    ref = tlxp.explain(adapter, src, "gradient", decoder_inputs=dec)
    small = tlxp.Seq2seqAdapter(model, max_batch_bytes=3 * adapter.sequence_bytes("gradient", T_SRC, T_OUT))
    pieces = _record_pieces(small)
    exp = tlxp.explain(small, src, "gradient", decoder_inputs=dec)
    assert max(pieces) == 3
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -5, 1.5, "64MB", True, None])
def test_bad_max_batch_bytes_is_named(luong, bad):
    with pytest.raises(ValueError, match="max_batch_bytes: expected a positive int"):
        tlxp.Seq2seqAdapter(luong, max_batch_bytes=bad)
    if bad is None:
        return  # None means the default on the user paths
    src, dec = _data()
    with pytest.raises(ValueError, match="max_batch_bytes: expected a positive int"):
        tlxp.explain(luong, src, "gradient", decoder_inputs=dec, max_batch_bytes=bad)
    with pytest.raises(ValueError, match="max_batch_bytes: expected a positive int"):
        tlxp.ModelExplainer(luong, max_batch_bytes=bad)
