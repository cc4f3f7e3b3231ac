"""TensorLayer layers the library needs and TensorLayer 2.2.5 lacks: self-attention and a tiny ViT.

Every class here is a real :class:`tensorlayer.layers.Layer`: it can be called in a
static model (``Input`` ... ``Model(inputs=, outputs=)``) and registered as an attribute
of a dynamic model. Pass the sizes (``in_channels``, ``embed_dim``, ...) and the layer
is built at once, as TL's own ``Dense(in_channels=...)`` is, so dynamic models see
its weights.

Attention weights are exposed without changing any output
------------------------------------------------------------
:class:`MultiHeadSelfAttention` computes its softmax with a child layer,
:class:`AttentionSoftmax`, held as the attribute ``attention_softmax`` and named
``<attention layer name>_attention``. Its output *is* the attention matrix
``(N, heads, tokens, tokens)`` (rows sum to 1). Capturing that child's output
records the weights of any call, static or dynamic model, with the model untouched:

>>> ni = tl.layers.Input([None, 50, 64])
>>> mhsa = MultiHeadSelfAttention(4, 16, in_channels=64)
>>> model = tl.models.Model(inputs=ni, outputs=mhsa(ni))
>>> x = np.random.default_rng(0).random((8, 50, 64), np.float32)
>>> adapter = tlxp.as_adapter(model)
>>> name = mhsa.attention_layer_name
>>> weights = adapter.capture(x, [name]).outputs[name]
>>> weights.shape
(8, 4, 50, 50)

Layers describing how tokens map to the image carry plain attributes that the
``attention`` methods read: :class:`PatchEmbedding` has ``patch_size`` and
``grid_shape``; :class:`ClassToken` has ``num_prefix_tokens``.

References
----------
Vaswani et al. (2017), "Attention Is All You Need" (scaled dot-product multi-head attention).
Dosovitskiy et al. (2021), "An Image is Worth 16x16 Words: Transformers for Image
Recognition at Scale" (patch embedding, class token, position embedding, pre-norm blocks).
"""
import math

import numpy as np
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Layer

__all__ = [
    "AttentionSoftmax",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "ClassToken",
    "PositionEmbedding",
    "LayerNormalization",
    "TransformerBlock",
    "TokenPooling",
    "is_attention_weights_layer",
]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError("%s: expected a positive int, got %r" % (name, value))
    return int(value)


def _pair(value, name):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise ValueError("%s: expected an int or a pair of ints, got %r" % (name, value))
    return tuple(_positive_int(v, name) for v in value)


def _glorot(fan_in, fan_out):
    """Glorot-uniform initializer for a (fan_in, fan_out) matrix (TL 2.2.5 has none by that name)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return tl.initializers.random_uniform(minval=-limit, maxval=limit)


class _Composite(Layer):
    """A layer holding child layers as attributes: train/eval mode reaches the children too."""

    def _set_mode_for_layers(self, is_train):
        self.is_train = is_train
        for child in self._layers or []:
            child._set_mode_for_layers(is_train)


def is_attention_weights_layer(layer):
    """True when ``layer``'s output is an attention matrix ``(N, heads, T, T)``.

    The protocol is a class attribute ``exposes_attention_weights = True``; user
    layers that set it are found by the ``attention`` methods like
    :class:`AttentionSoftmax`.
    """
    return bool(getattr(layer, "exposes_attention_weights", False))


class AttentionSoftmax(Layer):
    """Softmax over the last axis whose output is the attention matrix; the capture point.

    Held by :class:`MultiHeadSelfAttention`; it has no weights. Its output is
    ``softmax(scores)`` with scores ``(N, heads, T_query, T_key)``, so each row
    ``[n, h, i, :]`` sums to 1.

    Parameters
    ----------
    name : str, optional

    Examples
    --------
    >>> AttentionSoftmax().forward(tf.zeros((1, 2, 3, 3))).numpy()[0, 0, 0]
    array([0.33333334, 0.33333334, 0.33333334], dtype=float32)
    """

    exposes_attention_weights = True

    def __init__(self, name=None):
        super().__init__(name)
        self._built = True

    def __repr__(self):
        return "%s(name='%s')" % (self.__class__.__name__, self.name)

    def build(self, inputs_shape):
        pass

    def forward(self, inputs):
        return tf.nn.softmax(inputs, axis=-1)


class MultiHeadSelfAttention(_Composite):
    """Multi-head scaled dot-product self-attention over tokens (Vaswani et al., 2017).

    ``out = concat_h(softmax(Q_h K_h^T / sqrt(key_dim)) V_h) W_o + b_o`` with
    ``Q = x W_q + b_q``, ``K = x W_k + b_k``, ``V = x W_v + b_v``.

    The softmax is computed by the child layer ``self.attention_softmax``
    (:class:`AttentionSoftmax`, named :attr:`attention_layer_name`); its output is
    the attention matrix ``(N, num_heads, T, T)``. Capture it with
    ``adapter.capture(x, [layer.attention_layer_name])``; the layer's output is
    the same whether or not it is captured.

    Parameters
    ----------
    num_heads : int
    key_dim : int
        Size of each head's queries, keys and values.
    in_channels : int, optional
        Token size D. When given the layer is built at once (needed in dynamic models).
    out_channels : int, optional
        Output token size; default ``in_channels``.
    use_bias : bool
    W_init, b_init : TL initializers, optional
        Default Glorot-uniform weights and zero biases.
    name : str, optional

    Input / output
    --------------
    ``(N, T, D)`` -> ``(N, T, out_channels)``.

    Examples
    --------
    >>> ni = tl.layers.Input([None, 50, 64])
    >>> mhsa = MultiHeadSelfAttention(4, 16, in_channels=64)
    >>> model = tl.models.Model(inputs=ni, outputs=mhsa(ni))
    >>> mhsa.attention_layer_name  # doctest: +IGNORE_RESULT
    'multiheadselfattention_attention'
    """

    def __init__(self, num_heads, key_dim, in_channels=None, out_channels=None, use_bias=True, W_init=None,
                 b_init=tl.initializers.zeros(), name=None):
        super().__init__(name)
        self.num_heads = _positive_int(num_heads, "num_heads")
        self.key_dim = _positive_int(key_dim, "key_dim")
        self.in_channels = None if in_channels is None else _positive_int(in_channels, "in_channels")
        self.out_channels = None if out_channels is None else _positive_int(out_channels, "out_channels")
        self.use_bias = bool(use_bias)
        self.W_init = W_init
        self.b_init = b_init
        self.attention_softmax = AttentionSoftmax(name="%s_attention" % self.name)
        if self.in_channels is not None:
            self.build((None, None, self.in_channels))
            self._built = True

    @property
    def attention_layer_name(self):
        """Name of the child layer whose output is the attention matrix ``(N, heads, T, T)``."""
        return self.attention_softmax.name

    def __repr__(self):
        return "%s(num_heads=%d, key_dim=%d, in_channels=%s, out_channels=%s, name='%s')" % (
            self.__class__.__name__, self.num_heads, self.key_dim, self.in_channels, self.out_channels, self.name)

    def build(self, inputs_shape):
        if len(inputs_shape) != 3:
            raise ValueError("inputs: %s expects tokens (N, T, D), got shape %s" % (self.name, tuple(inputs_shape)))
        if self.in_channels is None:
            self.in_channels = int(inputs_shape[-1])
        if self.out_channels is None:
            self.out_channels = self.in_channels
        d, hk = self.in_channels, self.num_heads * self.key_dim
        for part in ("query", "key", "value"):
            init = self.W_init or _glorot(d, hk)
            setattr(self, "W_" + part[0], self._get_weights("W_" + part, shape=(d, hk), init=init))
            if self.use_bias:
                setattr(self, "b_" + part[0], self._get_weights("b_" + part, shape=(hk,), init=self.b_init))
        self.W_o = self._get_weights("W_output", shape=(hk, self.out_channels),
                                     init=self.W_init or _glorot(hk, self.out_channels))
        if self.use_bias:
            self.b_o = self._get_weights("b_output", shape=(self.out_channels,), init=self.b_init)

    def _heads(self, x, part):
        """Project tokens (N, T, D) to one part, split into heads: (N, heads, T, key_dim)."""
        y = tf.matmul(x, getattr(self, "W_" + part))
        if self.use_bias:
            y = y + getattr(self, "b_" + part)
        shape = tf.shape(x)
        y = tf.reshape(y, (shape[0], shape[1], self.num_heads, self.key_dim))
        return tf.transpose(y, (0, 2, 1, 3))

    def attention_scores(self, inputs):
        """Scaled logits ``Q K^T / sqrt(key_dim)``, shape (N, heads, T, T) (before the softmax)."""
        q, k = self._heads(inputs, "q"), self._heads(inputs, "k")
        return tf.matmul(q, k, transpose_b=True) / math.sqrt(self.key_dim)

    def forward(self, inputs):
        weights = self.attention_softmax(self.attention_scores(inputs))
        mixed = tf.matmul(weights, self._heads(inputs, "v"))            # (N, h, T, k)
        mixed = tf.transpose(mixed, (0, 2, 1, 3))                        # (N, T, h, k)
        shape = tf.shape(inputs)
        mixed = tf.reshape(mixed, (shape[0], shape[1], self.num_heads * self.key_dim))
        out = tf.matmul(mixed, self.W_o)
        return out + self.b_o if self.use_bias else out


class PatchEmbedding(Layer):
    """Cut an image into non-overlapping patches and embed each linearly (Dosovitskiy et al., 2021).

    Implemented as a convolution with kernel = stride = ``patch_size``; pixels of a
    partial patch at the bottom/right edge are dropped.

    Parameters
    ----------
    patch_size : int or (int, int)
    embed_dim : int
    in_channels : int, optional
        Image channels; give it (and ``image_size``) to build at once.
    image_size : int or (int, int), optional
        ``(H, W)``; sets :attr:`grid_shape`. Read from the input in a static model.
    W_init, b_init : TL initializers, optional
    name : str, optional

    Attributes
    ----------
    patch_size : (int, int)
    grid_shape : (int, int) or None
        Patches per column and per row; token ``i`` covers grid cell
        ``divmod(i, grid_shape[1])``.

    Input / output
    --------------
    ``(N, H, W, C)`` -> ``(N, (H // ph) * (W // pw), embed_dim)``.

    Examples
    --------
    >>> emb = PatchEmbedding(4, 64, in_channels=1, image_size=28)
    >>> emb.forward(tf.zeros((2, 28, 28, 1))).shape, emb.grid_shape
    (TensorShape([2, 49, 64]), (7, 7))
    """

    def __init__(self, patch_size, embed_dim, in_channels=None, image_size=None, W_init=None,
                 b_init=tl.initializers.zeros(), name=None):
        super().__init__(name)
        self.patch_size = _pair(patch_size, "patch_size")
        self.embed_dim = _positive_int(embed_dim, "embed_dim")
        self.in_channels = None if in_channels is None else _positive_int(in_channels, "in_channels")
        self.image_size = None if image_size is None else _pair(image_size, "image_size")
        self.grid_shape = None
        self.W_init = W_init
        self.b_init = b_init
        if self.in_channels is not None:
            h, w = self.image_size or (None, None)
            self.build((None, h, w, self.in_channels))
            self._built = True

    def __repr__(self):
        return "%s(patch_size=%s, embed_dim=%d, in_channels=%s, name='%s')" % (
            self.__class__.__name__, self.patch_size, self.embed_dim, self.in_channels, self.name)

    def build(self, inputs_shape):
        if len(inputs_shape) != 4:
            raise ValueError("inputs: %s expects images (N, H, W, C), got shape %s" % (self.name, tuple(inputs_shape)))
        if self.in_channels is None:
            self.in_channels = int(inputs_shape[-1])
        self._set_grid(inputs_shape[1], inputs_shape[2])
        ph, pw = self.patch_size
        fan_in = ph * pw * self.in_channels
        self.W = self._get_weights("weights", shape=(ph, pw, self.in_channels, self.embed_dim),
                                   init=self.W_init or _glorot(fan_in, self.embed_dim))
        self.b = self._get_weights("biases", shape=(self.embed_dim,), init=self.b_init)

    def _set_grid(self, height, width):
        if height is not None and width is not None:
            self.grid_shape = (int(height) // self.patch_size[0], int(width) // self.patch_size[1])

    def forward(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.shape.rank == 4 and inputs.shape[1] is not None and self.grid_shape is None:
            self._set_grid(inputs.shape[1], inputs.shape[2])
        y = tf.nn.conv2d(inputs, self.W, strides=(1,) + self.patch_size + (1,), padding="VALID") + self.b
        shape = tf.shape(y)
        return tf.reshape(y, (shape[0], shape[1] * shape[2], self.embed_dim))


class ClassToken(Layer):
    """Prepend one learnable class token to the token sequence (Dosovitskiy et al., 2021).

    Parameters
    ----------
    embed_dim : int
    init : TL initializer, optional
        Default zeros (as in ViT).
    name : str, optional

    Attributes
    ----------
    num_prefix_tokens : int
        1: token 0 is the class token, the patches follow.

    Input / output
    --------------
    ``(N, T, D)`` -> ``(N, T + 1, D)``.
    """

    num_prefix_tokens = 1

    def __init__(self, embed_dim, init=tl.initializers.zeros(), name=None):
        super().__init__(name)
        self.embed_dim = _positive_int(embed_dim, "embed_dim")
        self.init = init
        self.build((None, None, self.embed_dim))
        self._built = True

    def __repr__(self):
        return "%s(embed_dim=%d, name='%s')" % (self.__class__.__name__, self.embed_dim, self.name)

    def build(self, inputs_shape):
        self.token = self._get_weights("class_token", shape=(1, 1, self.embed_dim), init=self.init)

    def forward(self, inputs):
        token = tf.tile(self.token, (tf.shape(inputs)[0], 1, 1))
        return tf.concat([token, inputs], axis=1)


class PositionEmbedding(Layer):
    """Add a learnable embedding per token position (Dosovitskiy et al., 2021).

    Parameters
    ----------
    num_tokens : int
    embed_dim : int
    init : TL initializer, optional
        Default truncated normal, stddev 0.02.
    name : str, optional

    Input / output
    --------------
    ``(N, num_tokens, D)`` -> same shape.
    """

    def __init__(self, num_tokens, embed_dim, init=tl.initializers.truncated_normal(stddev=0.02), name=None):
        super().__init__(name)
        self.num_tokens = _positive_int(num_tokens, "num_tokens")
        self.embed_dim = _positive_int(embed_dim, "embed_dim")
        self.init = init
        self.build((None, self.num_tokens, self.embed_dim))
        self._built = True

    def __repr__(self):
        return "%s(num_tokens=%d, embed_dim=%d, name='%s')" % (
            self.__class__.__name__, self.num_tokens, self.embed_dim, self.name)

    def build(self, inputs_shape):
        self.embedding = self._get_weights("position_embedding", shape=(1, self.num_tokens, self.embed_dim),
                                           init=self.init)

    def forward(self, inputs):
        return inputs + self.embedding


class LayerNormalization(Layer):
    """Layer normalization over the last axis (Ba, Kiros & Hinton, 2016), per token.

    TL 2.2.5's ``LayerNorm`` normalizes over every non-batch axis by default and
    builds lazily; this one normalizes each token and builds at once.

    Parameters
    ----------
    in_channels : int
        Size of the last axis.
    epsilon : float
    name : str, optional
    """

    def __init__(self, in_channels, epsilon=1e-6, name=None):
        super().__init__(name)
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.epsilon = float(epsilon)
        self.build((None, self.in_channels))
        self._built = True

    def __repr__(self):
        return "%s(in_channels=%d, name='%s')" % (self.__class__.__name__, self.in_channels, self.name)

    def build(self, inputs_shape):
        self.gamma = self._get_weights("gamma", shape=(self.in_channels,), init=tl.initializers.ones())
        self.beta = self._get_weights("beta", shape=(self.in_channels,), init=tl.initializers.zeros())

    def forward(self, inputs):
        mean, var = tf.nn.moments(inputs, axes=[-1], keepdims=True)
        return (inputs - mean) * tf.math.rsqrt(var + self.epsilon) * self.gamma + self.beta


class TransformerBlock(_Composite):
    """A pre-norm transformer encoder block (Dosovitskiy et al., 2021).

    ``x = x + MHSA(LN(x)); x = x + MLP(LN(x))`` with a two-layer MLP
    (``mlp_dim`` units, ``act``, then back to ``in_channels``).

    Parameters
    ----------
    num_heads, key_dim : int
        Of the :class:`MultiHeadSelfAttention` child ``self.attention``.
    mlp_dim : int
    in_channels : int
        Token size D.
    act : callable
        MLP activation (default GELU).
    name : str, optional

    Attributes
    ----------
    attention : MultiHeadSelfAttention
        Its ``attention_layer_name`` names the capture point of this block's weights.

    Input / output
    --------------
    ``(N, T, D)`` -> ``(N, T, D)``.
    """

    def __init__(self, num_heads, key_dim, mlp_dim, in_channels, act=tf.nn.gelu, name=None):
        super().__init__(name)
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.mlp_dim = _positive_int(mlp_dim, "mlp_dim")
        self.norm1 = LayerNormalization(self.in_channels, name="%s_norm1" % self.name)
        self.attention = MultiHeadSelfAttention(num_heads, key_dim, in_channels=self.in_channels,
                                                name="%s_mhsa" % self.name)
        self.norm2 = LayerNormalization(self.in_channels, name="%s_norm2" % self.name)
        self.mlp_hidden = Dense(self.mlp_dim, act=act, in_channels=self.in_channels,
                                W_init=_glorot(self.in_channels, self.mlp_dim), name="%s_mlp1" % self.name)
        self.mlp_output = Dense(self.in_channels, in_channels=self.mlp_dim,
                                W_init=_glorot(self.mlp_dim, self.in_channels), name="%s_mlp2" % self.name)
        self._built = True

    def __repr__(self):
        return "%s(num_heads=%d, key_dim=%d, mlp_dim=%d, in_channels=%d, name='%s')" % (
            self.__class__.__name__, self.attention.num_heads, self.attention.key_dim, self.mlp_dim,
            self.in_channels, self.name)

    def build(self, inputs_shape):
        pass

    def forward(self, inputs):
        x = inputs + self.attention(self.norm1(inputs))
        return x + self.mlp_output(self.mlp_hidden(self.norm2(x)))


class TokenPooling(Layer):
    """Reduce tokens to one vector: the class token (``'cls'``, token 0) or the mean of all tokens.

    Parameters
    ----------
    mode : {'cls', 'mean'}
    name : str, optional

    Input / output
    --------------
    ``(N, T, D)`` -> ``(N, D)``.
    """

    MODES = ("cls", "mean")

    def __init__(self, mode="cls", name=None):
        super().__init__(name)
        if mode not in self.MODES:
            raise ValueError("mode: expected one of %s, got %r" % (self.MODES, mode))
        self.mode = mode
        self._built = True

    def __repr__(self):
        return "%s(mode='%s', name='%s')" % (self.__class__.__name__, self.mode, self.name)

    def build(self, inputs_shape):
        pass

    def forward(self, inputs):
        return inputs[:, 0] if self.mode == "cls" else tf.reduce_mean(inputs, axis=1)
