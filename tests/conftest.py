"""Shared fixtures: tiny TensorLayer models (static, dynamic, nested), Keras, synthetic data.

Models are built fresh per test module where cheap; no fixed layer names (TL names are global).
"""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Conv2d, Dense, Flatten, Input, LayerList, MaxPool2d

import tensorlayer_xplain as tlxp


def tiny_static_cnn(seed=0, size=12, channels=1, n_classes=4):
    """Conv(4) -> pool -> Conv(6) -> Flatten -> Dense: a static TL CNN on size x size images."""
    tf.random.set_seed(seed)
    ni = Input([None, size, size, channels])
    nn = Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=channels)(ni)
    nn = MaxPool2d((2, 2), (2, 2), padding="SAME")(nn)
    nn = Conv2d(6, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=4)(nn)
    nn = Flatten()(nn)
    nn = Dense(n_classes, in_channels=(size // 2) ** 2 * 6)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


class TinyDynamicCNN(tl.models.Model):
    """A dynamic TL CNN with a nested LayerList (so layers are found only by walking)."""

    def __init__(self, size=12, channels=1, n_classes=4):
        super().__init__()
        self.features = LayerList([
            Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=channels),
            Conv2d(6, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=4),
        ])
        self.flat = Flatten()
        self.head = Dense(n_classes, in_channels=size * size * 6)

    def forward(self, x):
        return self.head(self.flat(self.features(x)))


def tiny_dynamic_cnn(seed=0, **kw):
    tf.random.set_seed(seed)
    return TinyDynamicCNN(**kw)


def tiny_mlp(seed=0, n_in=64, n_classes=5):
    """Static TL MLP on n_in features (8x8 gray when drawn)."""
    tf.random.set_seed(seed)
    ni = Input([None, n_in])
    nn = Dense(16, act=tf.nn.relu, in_channels=n_in)(ni)
    nn = Dense(n_classes, in_channels=16)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def tiny_keras_cnn(seed=0, size=12, n_classes=4):
    tf.random.set_seed(seed)
    inputs = tf.keras.Input((size, size, 1))
    h = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=None)(inputs)
    h = tf.keras.layers.Flatten()(h)
    outputs = tf.keras.layers.Dense(n_classes)(h)
    return tf.keras.Model(inputs, outputs)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def static_cnn():
    return tiny_static_cnn()


@pytest.fixture(scope="module")
def static_cnn_layers():
    """``(model, [conv1, conv2], dense)``: a tiny static CNN (seed 3) and its layer names (TL names are global)."""
    model = tiny_static_cnn(seed=3)
    order = tlxp.ModelAdapter(model).layer_call_order()
    convs = [n for n, s in order if len(s) == 3 and "conv" in n]
    return model, convs, [n for n, s in order if len(s) == 1 and "dense" in n][-1]


@pytest.fixture(scope="module")
def dynamic_cnn():
    return tiny_dynamic_cnn()


@pytest.fixture(scope="module")
def mlp_model():
    return tiny_mlp()


@pytest.fixture(scope="module")
def keras_cnn():
    return tiny_keras_cnn()


@pytest.fixture
def tiny_model_builders():
    """Builders of fresh tiny models on 12x12x1 images, each taking ``seed``: static TL, dynamic TL, Keras."""
    return (tiny_static_cnn, tiny_dynamic_cnn, tiny_keras_cnn)


@pytest.fixture
def images(rng):
    return rng.random((5, 12, 12, 1), dtype=np.float32)


@pytest.fixture(autouse=True)
def _no_open_figures():
    """Every test must leave no matplotlib figure open."""
    import matplotlib.pyplot as plt

    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, "test left figures open: %s" % leaked


def model_state(model):
    """Weights, train flags and instance-level forward overrides: everything a call must not change."""
    adapter = tlxp.ModelAdapter(model)
    layers = adapter.iter_layers()
    return (
        [w.numpy().copy() for w in model.all_weights],
        [model.is_train] + [getattr(layer, "is_train", None) for layer in layers],
        [("forward" in vars(layer)) for layer in layers],
    )


def assert_same_state(before, after):
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1] == after[1], "train/eval flags changed"
    assert before[2] == after[2], "a layer's forward was left patched"


def mnist_dir():
    """Folder holding mnist/ (the CI sets TENSORLAYER_XPLAIN_DATA to ../shared/data)."""
    return tlxp.datasets.find_mnist_dir()


# ----------------------------------------------------------------------------- token models
class TinyTokenCNN(tl.models.Model):
    """Embedding -> flatten -> tanh Dense -> Dense: a dynamic TL token model (order matters, unlike fastText)."""

    def __init__(self, vocab=30, dim=4, length=10, n_classes=3):
        super().__init__()
        self.emb = tl.layers.Embedding(vocab, dim, E_init=tl.initializers.random_uniform(-1.0, 1.0))
        self.flat = tl.layers.Reshape([-1, dim * length])  # (TL's Flatten cannot be traced with an open batch)
        self.hidden = Dense(8, act=tf.nn.tanh, in_channels=dim * length)
        self.out = Dense(n_classes, in_channels=8)

    def forward(self, ids):
        return self.out(self.hidden(self.flat(self.emb(ids))))


def tiny_token_model(kind="fasttext", seed=0, vocab=30, dim=4, length=10, n_classes=3):
    """Tiny token models on ids (N, length): 'fasttext' (static, AverageEmbedding), 'dynamic' (Embedding),
    'keras' (Keras Embedding + Dense)."""
    tf.random.set_seed(seed)
    if kind == "fasttext":
        ni = Input([None, length], dtype=tf.int32)
        nn = tl.layers.AverageEmbedding(vocab, dim, E_init=tl.initializers.random_uniform(-1.0, 1.0))(ni)
        nn = Dense(8, act=tf.nn.tanh, in_channels=dim)(nn)
        return tl.models.Model(inputs=ni, outputs=Dense(n_classes, in_channels=8)(nn))
    if kind == "dynamic":
        model = TinyTokenCNN(vocab, dim, length, n_classes)
        model.eval()
        return model
    if kind == "keras":
        inp = tf.keras.Input((length,), dtype="int32")
        nn = tf.keras.layers.Embedding(vocab, dim, embeddings_initializer=tf.keras.initializers.RandomUniform(-1, 1,
                                                                                                               seed))(inp)
        nn = tf.keras.layers.Flatten()(nn)
        nn = tf.keras.layers.Dense(8, activation="tanh")(nn)
        return tf.keras.Model(inp, tf.keras.layers.Dense(n_classes)(nn))
    raise ValueError(kind)


def planted_token_model(planted=(5, 7), vocab=30, dim=4, seed=0, length=12):
    """A fastText model (AverageEmbedding -> Dense(2)) whose class 1 logit rises with the planted ids only.

    The planted ids' vectors are 3 along dimension 0, every other id's is 0 there (small noise elsewhere),
    and the classifier reads dimension 0: the planted tokens are the only evidence for class 1.
    """
    rng = np.random.default_rng(seed)
    ni = Input([None, length], dtype=tf.int32)
    emb = tl.layers.AverageEmbedding(vocab, dim)
    dense = Dense(2, in_channels=dim)
    model = tl.models.Model(inputs=ni, outputs=dense(emb(ni)))
    table = rng.uniform(-0.1, 0.1, (vocab, dim)).astype(np.float32)
    table[:, 0] = 0.0
    table[list(planted), 0] = 3.0
    emb.embeddings.assign(table)
    kernel = np.zeros((dim, 2), np.float32)
    kernel[0, 1] = 2.0
    kernel[1:, 0] = 0.1
    dense.W.assign(kernel)
    return model


class CountingLinear:
    """A plain-callable linear model (fast) that counts its calls: ``(N, n_in) -> (N, n_out)``."""

    def __init__(self, n_in=6, n_out=3):
        self.w = np.random.default_rng(0).normal(size=(n_in, n_out)).astype(np.float32)
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return tf.matmul(tf.reshape(tf.cast(x, tf.float32), (-1, self.w.shape[0])), self.w)


# ----------------------------------------------------------------------------- encoder-decoders
def tiny_luong(method="general", seed=0, vocab=9, dim=5, hidden=6, cell=None):
    """A tiny ``tl.models.Seq2seqLuongAttention`` (GRU) whose embeddings and score weights are scaled up
    (TL's +-0.1 embeddings give near-uniform alignments)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = tl.models.Seq2seqLuongAttention(hidden_size=hidden, cell=cell or tf.keras.layers.GRUCell, method=method,
                                            embedding_layer=tl.layers.Embedding(vocabulary_size=vocab,
                                                                                embedding_size=dim))
    rng = np.random.RandomState(seed)
    model.embedding_layer.embeddings.assign(rng.randn(vocab, dim).astype("float32"))
    for w in model.dec_layer.trainable_weights:
        if w.shape in ((hidden, hidden), (2 * hidden, hidden), (hidden, 1)):
            w.assign(rng.randn(*w.shape).astype("float32"))
    model.eval()
    return model


def luong_logits(model, src, dec, src_emb=None):
    """A ``tiny_luong`` model's teacher-forced logits ``(N, T_out, V)`` written out from its layers (eager).

    ``src_emb`` ``(N, T_src, D)`` replaces the source's embedding lookup (the decoder's own lookup is kept).
    """
    emb = model.embedding_layer(tf.constant(src)) if src_emb is None else src_emb
    _, hs, last = model.enc_layer(emb)
    out = model.dec_layer(model.embedding_layer(tf.constant(dec)), tf.stack(hs, 1), last, method=model.method)
    logits = model.dense_layer(tf.reshape(out, [-1, out.shape[-1]]))
    return tf.reshape(logits, [len(dec), dec.shape[1], -1])


def luong_state(model):
    """Weights, train flags and instance-level patches (``score``, ``forward``) of a zoo seq2seq model."""
    return ([w.numpy().copy() for w in model.all_weights], model.is_train,
            [getattr(layer, "is_train", None) for layer in model.all_layers],
            sorted(k for k in vars(model.dec_layer) if k in ("score", "forward")),
            sorted(k for k in vars(model.embedding_layer) if k in ("forward", "call")))


def assert_luong_unchanged(model, before):
    """The model's :func:`luong_state` equals ``before``."""
    after = luong_state(model)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], after[0]))
    assert before[1:] == after[1:]


def tiny_keras_seq2seq(seed=0, vocab=9, dim=5, hidden=6):
    """A user's own Keras encoder-decoder: inputs [src, decoder_inputs] (int ids), one shared Embedding,
    GRU encoder and decoder, dot-product attention, logits (N, T_out, vocab)."""
    import keras

    keras.utils.set_random_seed(seed)
    src = keras.Input((None,), dtype="int32", name="src")
    dec = keras.Input((None,), dtype="int32", name="decoder_inputs")
    emb = keras.layers.Embedding(vocab, dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))
    enc_seq, enc_state = keras.layers.GRU(hidden, return_sequences=True, return_state=True)(emb(src))
    dec_seq = keras.layers.GRU(hidden, return_sequences=True)(emb(dec), initial_state=enc_state)
    context = keras.layers.Attention()([dec_seq, enc_seq])
    logits = keras.layers.Dense(vocab)(keras.layers.Concatenate()([dec_seq, context]))
    return keras.Model([src, dec], logits)
