"""TokenAdapter: integer ids reach the embedding as integers; embedding discovery; the lookup swap."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter import TokenAdapter
from tensorlayer_xplain.adapter._tokens import replaced_embeddings

from conftest import tiny_token_model


class TwoEmbeddings(tl.models.Model):
    """Word and position-like embeddings summed; records the dtype its forward receives."""

    def __init__(self):
        super().__init__()
        self.words = tl.layers.Embedding(20, 3)
        self.w2v = tl.layers.Word2vecEmbedding(20, 3, activate_nce_loss=False)
        self.dense = tl.layers.Dense(2, in_channels=3)
        self.seen = []

    def forward(self, ids):
        self.seen.append(ids.dtype)
        return self.dense(tf.reduce_mean(self.words(ids) + self.w2v(ids), axis=1))


@pytest.mark.slow
def test_ids_stay_integers_up_to_the_embedding():
    model = TwoEmbeddings()
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    exp = tlxp.explain(model, ids, "integrated_gradients", steps=8, embedding_layer=model.w2v.name)
    assert model.seen and all(dt.is_integer for dt in model.seen)
    assert exp.inputs.dtype.kind == "i"
    adapter = tlxp.as_adapter(model, embedding_layer=model.w2v.name)
    assert isinstance(adapter, TokenAdapter) and adapter.embedding is model.w2v
    assert tlxp.as_adapter(model).embedding in (model.words, model.w2v)  # found automatically


def test_named_layer_must_be_an_embedding():
    model = TwoEmbeddings()
    with pytest.raises(ValueError, match="embedding_layer: layer .* is a Dense, not an embedding layer"):
        TokenAdapter(model, embedding_layer=model.dense.name)
    with pytest.raises(KeyError, match="embedding_layer: no layer named 'nope'; embedding layers of this model"):
        TokenAdapter(model, embedding_layer="nope")


def test_replaced_embeddings_swaps_and_restores():
    model = tiny_token_model("dynamic", seed=3)
    ids = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]], np.int32)
    adapter = tlxp.as_adapter(model)
    emb = adapter.embed(ids)
    assert emb.shape == (1, 10, 4)
    np.testing.assert_allclose(emb[0, 3], model.emb.embeddings.numpy()[4])
    with adapter.inference_mode():
        direct = adapter.scores(tf.constant(ids)).numpy()
        swapped = adapter.embedding_scores(tf.constant(ids), tf.constant(emb)).numpy()
        moved = adapter.embedding_scores(tf.constant(ids), tf.constant(emb * 0)).numpy()
    np.testing.assert_allclose(direct, swapped, atol=1e-6)
    assert not np.allclose(direct, moved)
    assert "forward" not in vars(model.emb)
    with pytest.raises(RuntimeError):
        with replaced_embeddings(model.emb, emb):
            raise RuntimeError("boom")
    assert "forward" not in vars(model.emb)


def test_prepare_checks_ids():
    adapter = tlxp.as_adapter(tiny_token_model("fasttext", seed=4))
    ids, shape = adapter.prepare(np.arange(10))
    assert ids.dtype == np.int32 and shape == (1, 10)
    with pytest.raises(ValueError, match=r"inputs: expected token ids of shape \(N, 10\)"):
        adapter.prepare(np.zeros((2, 7), int))
    with pytest.raises(TypeError, match="inputs: this is a token model"):
        adapter.prepare(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match=r"inputs: expected token ids in \[0, 30\).*got id -1"):
        adapter.prepare(-np.ones((2, 10), int))
    assert adapter.predict(np.ones((3, 10), np.int64)).shape == (3, 3)
    pad = adapter.padding(np.array([[1, 2, 0], [3, 0, 0]]), sequence_length=[1, 3])
    np.testing.assert_array_equal(pad, [[False, True, True], [False, True, True]])


def test_image_shape_is_refused_for_token_models():
    with pytest.raises(ValueError, match="image_shape: a token model"):
        tlxp.as_adapter(tiny_token_model("fasttext", seed=5), image_shape=(2, 5, 1))
