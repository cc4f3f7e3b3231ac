"""Token inputs: integer ids ``(N, T)`` that stay integers up to the embedding layer.

Gradient methods explain a token model in *embedding space*, as Captum's
``LayerIntegratedGradients`` does: the model is run on the ids while the output
of its embedding layer is replaced by a given tensor (the embeddings of the ids,
of a baseline token, or any point in between), and differentiated with respect
to that tensor. The pieces here are plain functions so that other adapters (the
seq2seq encoders) reuse them:

* :func:`embedding_layers` finds TL ``Embedding``, ``AverageEmbedding``,
  ``Word2vecEmbedding`` and Keras ``Embedding`` layers;
* :func:`embedding_table` is a layer's ``(vocab_size, dim)`` table;
* :func:`replaced_embeddings` swaps a layer's lookup for a given tensor while a
  step runs (or is traced), and restores the layer exactly afterwards;
* :func:`check_token_ids` validates ids (integer dtype, inside the vocabulary).

:class:`TokenAdapter` is the :class:`~tensorlayer_xplain.adapter.ModelAdapter` of
a model whose single input is token ids; it adds :meth:`TokenAdapter.embed`,
:meth:`TokenAdapter.embedding_gradients` and the padding mask.
"""
import contextlib

import numpy as np
import tensorflow as tf
import tensorlayer as tl

from ._common import _describe, temporarily_set
from ._model import ModelAdapter

__all__ = ["TokenAdapter", "embedding_layers", "embedding_table", "replaced_embeddings", "check_token_ids",
           "check_token", "is_embedding", "declares_integer_input", "is_token_model"]

_TL_LOOKUPS = (tl.layers.Embedding, tl.layers.Word2vecEmbedding)
_SEQ2SEQ_MODELS = tuple(getattr(tl.models, name) for name in ("Seq2seq", "Seq2seqLuongAttention")
                        if hasattr(tl.models, name))


def _keras_embedding_types():
    types = [tf.keras.layers.Embedding]
    try:
        import keras

        types.append(keras.layers.Embedding)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def is_embedding(layer):
    """True for TL ``Embedding``, ``AverageEmbedding``, ``Word2vecEmbedding`` and Keras ``Embedding`` layers."""
    return isinstance(layer, _TL_LOOKUPS + (tl.layers.AverageEmbedding,) + _keras_embedding_types())


def embedding_layers(layers):
    """The embedding layers among ``layers`` (in the given order)."""
    return [layer for layer in layers if is_embedding(layer)]


def embedding_table(layer):
    """The ``(vocab_size, dim)`` embedding table (a variable) of an embedding layer."""
    table = getattr(layer, "embeddings", None)
    if table is None:
        raise ValueError("embedding_layer: layer %r has no built embedding table (call the model once first)"
                         % getattr(layer, "name", layer))
    return table


def _replacement(layer, emb, original, only, hits):
    """A forward function for ``layer`` returning ``emb`` where the layer would return its lookup.

    With ``only`` (a tensor), ``emb`` replaces the lookup of that very tensor and every
    other call runs ``original`` (a shared embedding's other lookups are untouched).
    """
    if isinstance(layer, tl.layers.AverageEmbedding):
        pad = layer.pad_value

        def average(inputs, *args, **kwargs):
            # the layer's own computation with the word vectors taken from `emb`: pads excluded from the mean
            if only is not None and inputs is not only:
                return original(inputs, *args, **kwargs)
            hits.append(True)
            mask = tf.cast(tf.not_equal(inputs, pad), emb.dtype)[..., None]
            total = tf.reduce_sum(emb * mask, axis=1)
            count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return total / count

        return average

    def lookup(inputs, *args, **kwargs):
        if only is not None and inputs is not only:
            return original(inputs, *args, **kwargs)
        hits.append(True)
        return emb

    return lookup


@contextlib.contextmanager
def replaced_embeddings(layer, emb, attr="forward", only=None, what="source ids"):
    """Within the block, ``layer`` returns ``emb`` (B, T, D) instead of looking its ids up.

    ``AverageEmbedding`` averages ``emb`` over the non-pad positions of its ids
    (its own rule), every other embedding returns ``emb`` itself. The layer's
    ``forward`` (``call`` for Keras: ``attr``) is restored exactly afterwards,
    also on errors; inside a ``tf.function`` the swap is baked into the trace.

    Parameters
    ----------
    layer : embedding layer
    emb : tf.Tensor, float32, shape (B, T, D)
    attr : str
        ``'forward'`` (TL) or ``'call'`` (Keras).
    only : tf.Tensor, optional
        Replace only the lookup of this very tensor (e.g. an encoder-decoder's source ids
        when one embedding layer also embeds the decoder inputs); the layer's other calls
        run its own lookup. ``ValueError`` when it never reached the layer.
    what : str
        What ``only`` holds, for that error (``'source ids'``, ``'decoder inputs'``).

    Examples
    --------
    >>> layer = fasttext.all_layers[1]                                  # its AverageEmbedding
    >>> emb = tf.zeros((4, 10, 4))                                        # (B, T, D): every word vector 0
    >>> with replaced_embeddings(layer, emb):
    ...     logits = fasttext(tf.constant(ids, tf.int32))
    >>> bool(np.allclose(logits.numpy(), logits.numpy()[0]))             # all inputs now look alike
    True
    >>> src_ids = tf.constant(src, tf.int32)                             # an encoder-decoder's source only
    >>> with replaced_embeddings(luong.embedding_layer, tf.zeros((4, 7, 5)), only=src_ids):
    ...     ids_out = luong([src_ids], seq_length=5, sos=1)               # greedy decoding from zero vectors
    """
    hits = []
    replacement = _replacement(layer, tf.convert_to_tensor(emb), getattr(layer, attr), only, hits)
    with temporarily_set(layer, attr, replacement):
        yield
    if only is not None and not hits:
        raise ValueError("embedding_layer: the %s never reached layer %r; name the layer that embeds the "
                         "source with embedding_layer=" % (what, getattr(layer, "name", layer)))


def check_token(name, value, vocab_size):
    """Validate one token id argument (``baseline_token``, ``mask_token``, ``sos``): an int in the vocabulary.

    Examples
    --------
    >>> check_token('mask_token', 3, 10)
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s: expected an int token id, got %s" % (name, _describe(value)))
    if not 0 <= int(value) < vocab_size:
        raise ValueError("%s: expected a token id in [0, %d), got %d" % (name, vocab_size, int(value)))
    return int(value)


_TOKEN_MODEL = "this is a token model (its input goes to an embedding layer); "


def check_token_ids(ids, vocab_size, name="inputs", why=_TOKEN_MODEL):
    """Validate token ids: an integer array with every id in ``[0, vocab_size)``.

    ``why`` starts the message of a float array (what takes the ids).

    Returns
    -------
    ndarray, int32

    Raises
    ------
    TypeError
        Float (or non-numeric) data: a token model takes integer ids.
    ValueError
        An id outside the vocabulary.
    """
    if isinstance(ids, tf.Tensor):
        ids = ids.numpy()
    try:
        arr = np.asarray(ids)
    except (ValueError, TypeError) as err:
        raise TypeError("%s: expected integer token ids, got %s (%s)" % (name, _describe(ids), err)) from None
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError("%s: %sexpected integer token ids, got %s. Pass the ids as integers (e.g. x.astype('int32'))"
                        % (name, why, _describe(arr)))
    if arr.size:
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high >= vocab_size:
            bad = np.argwhere((arr < 0) | (arr >= vocab_size))[0]
            raise ValueError("%s: expected token ids in [0, %d) (the embedding's vocabulary), got id %d at index %s"
                             % (name, vocab_size, int(arr[tuple(bad)]), tuple(int(i) for i in bad)))
    return arr.astype(np.int32, copy=False)


def is_token_model(model):
    """True when ``model`` declares an integer input or holds an embedding layer (and has one input)."""
    from ._layers import _walk_keras, _walk_tl

    if declares_integer_input(model):
        return True
    if isinstance(model, _SEQ2SEQ_MODELS):
        return False  # encoder-decoders take [source, decoder inputs]: explained position by position
    if isinstance(model, tl.models.Model):
        return bool(embedding_layers(_walk_tl(model, {id(model)})))
    if isinstance(model, tf.keras.Model):
        return bool(embedding_layers(_walk_keras(model, {id(model)})))
    return False


def declares_integer_input(model):
    """True when a TL static or Keras model declares an integer input tensor."""
    if isinstance(model, tl.models.Model) and model._inputs is not None and not isinstance(model._inputs, list):
        return model._inputs.dtype.is_integer
    if isinstance(model, tf.keras.Model):
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):
            return False
        if inputs and len(inputs) == 1:
            return tf.as_dtype(inputs[0].dtype).is_integer
    return False


class TokenAdapter(ModelAdapter):
    """A :class:`ModelAdapter` for a model whose input is token ids ``(N, T)``.

    The ids stay integers all the way into the model. Gradients are taken with
    respect to the output of the embedding layer (:meth:`embedding_gradients`),
    perturbations replace tokens by other ids.

    Parameters
    ----------
    model : tl.models.Model or keras.Model
        A model with an embedding layer (TL ``Embedding``, ``AverageEmbedding``,
        ``Word2vecEmbedding`` or Keras ``Embedding``) reading its input ids.
    embedding_layer : str, optional
        Name of the embedding layer; found automatically when the model has one.
    pad_id : int or None
        The padding id (default 0): padded positions get no attribution and are
        never perturbed. None: no padding.
    input_shape : tuple of int, optional
        ``(T,)``; read from a static model, else taken from the first batch
        (a model that takes any length accepts any ``T`` afterwards too).
    output, batch_size, max_batch_bytes, strategy
        As :class:`ModelAdapter`.

    Examples
    --------
    >>> adapter = TokenAdapter(fasttext)
    >>> tuple(adapter.embed(ids).shape)
    (4, 10, 4)
    >>> tuple(adapter.embedding_gradients(ids, adapter.embed(ids), [1, 0, 1, 1]).shape)
    (4, 10, 4)
    """

    token_inputs = True

    def __init__(self, model, embedding_layer=None, pad_id=0, input_shape=None, output="logits", batch_size=256,
                 max_batch_bytes=None, strategy=None):
        options = {} if max_batch_bytes is None else {"max_batch_bytes": max_batch_bytes}
        super().__init__(model, input_shape=input_shape, output=output, batch_size=batch_size, strategy=strategy,
                         **options)
        if self.kind == "callable":
            raise TypeError("model: a token model must be a TL or Keras model with an embedding layer, got %s"
                            % _describe(model))
        self._free_length = self.input_shape is None
        if self.input_shape is not None and len(self.input_shape) != 1:
            raise ValueError("input_shape: a token model takes (N, T) ids; expected (T,), got %s"
                             % (self.input_shape,))
        self.embedding = self.find_embedding(embedding_layer)
        if pad_id is not None and not (0 <= int(pad_id) < self.vocab_size):
            raise ValueError("pad_id: expected an id in [0, %d) or None, got %r" % (self.vocab_size, pad_id))
        self.pad_id = None if pad_id is None else int(pad_id)

    # ------------------------------------------------------------------ the embedding layer
    def find_embedding(self, name=None):
        """The embedding layer named ``name``, or the model's only (first) one.

        Raises
        ------
        ValueError
            ``embedding_layer``: the named layer is no embedding, or the model has none.
        """
        if name is not None:
            if not isinstance(name, str):
                raise TypeError("embedding_layer: expected a layer name (str), got %s" % _describe(name))
            try:
                layer = self.layer(name)
            except KeyError:
                names = ", ".join(found.name for found in embedding_layers(self.iter_layers())) or "none"
                raise KeyError("embedding_layer: no layer named %r; embedding layers of this model: %s"
                               % (name, names)) from None
            if not is_embedding(layer):
                raise ValueError("embedding_layer: layer %r is a %s, not an embedding layer (TL Embedding, "
                                 "AverageEmbedding, Word2vecEmbedding or Keras Embedding)"
                                 % (name, type(layer).__name__))
            return layer
        found = embedding_layers(self.iter_layers())
        if not found:
            raise ValueError("embedding_layer: the model takes integer token ids but has no embedding layer (TL "
                             "Embedding, AverageEmbedding, Word2vecEmbedding or Keras Embedding); name the layer "
                             "that embeds the ids with embedding_layer=, or give float inputs to a model without one")
        return found[0]

    @property
    def vocab_size(self):
        """Rows of the embedding table."""
        return int(embedding_table(self.embedding).shape[0])

    @property
    def embedding_dim(self):
        """Width of the embedding vectors."""
        return int(embedding_table(self.embedding).shape[1])

    # ------------------------------------------------------------------ inputs
    def _infer_input_shape(self):
        if self.kind == "tl_static" and any(s is None for s in self.model._inputs.shape[1:]):
            return None  # declared with a free length: any T
        return super()._infer_input_shape()

    @property
    def image_shape(self):
        """``(1, T, 1)``: a sequence is drawn as one row."""
        return None if self.input_shape is None else (1, int(self.input_shape[0]), 1)

    def prepare(self, inputs, name="inputs"):
        """Validate token ids: ``(N, T)`` (or one sequence ``(T,)``) integers inside the vocabulary.

        Returns
        -------
        ids : ndarray, int32, shape (N, T)
        batch_shape : tuple
        """
        ids = check_token_ids(inputs, self.vocab_size, name)
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2:
            raise ValueError("%s: expected token ids of shape (N, T), got shape %s" % (name, ids.shape))
        if len(ids) == 0 or ids.shape[1] == 0:
            raise ValueError("%s: expected at least one sample and one token, got shape %s" % (name, ids.shape))
        if self.input_shape is None or self._free_length:
            if self.input_shape != (ids.shape[1],):
                self.input_shape = (int(ids.shape[1]),)
                self._sample_bytes = self._call_order = None
        elif ids.shape[1] != self.input_shape[0]:
            raise ValueError("%s: expected token ids of shape (N, %d) for this model, got shape %s"
                             % (name, self.input_shape[0], ids.shape))
        return ids, tuple(ids.shape)

    def _input_specs(self):
        length = None if self._free_length else self.input_shape[0]
        return [tf.TensorSpec((None, length), tf.int32)]

    def _zero_sample(self):
        return tf.fill((1,) + tuple(self.input_shape), tf.constant(self.pad_id or 0, tf.int32))

    def check_token(self, name, value):
        """Validate one token id argument (``baseline_token``, ``mask_token``)."""
        return check_token(name, value, self.vocab_size)

    def padding(self, ids, sequence_length=None):
        """Boolean mask ``(N, T)``: True at padding (the pad id, or positions at or past ``sequence_length``).

        Parameters
        ----------
        ids : ndarray (N, T)
        sequence_length : array-like of int (N,), optional
            Valid length of each sequence.
        """
        ids = np.asarray(ids)
        pad = np.zeros(ids.shape, bool) if self.pad_id is None else ids == self.pad_id
        if sequence_length is not None:
            lengths = np.asarray(sequence_length)
            if lengths.shape != (len(ids),) or not np.issubdtype(lengths.dtype, np.integer):
                raise ValueError("sequence_length: expected %d ints (one per sequence), got %s"
                                 % (len(ids), _describe(lengths)))
            if lengths.min() < 0 or lengths.max() > ids.shape[1]:
                raise ValueError("sequence_length: expected lengths in [0, %d], got %s"
                                 % (ids.shape[1], lengths.tolist()))
            pad = pad | (np.arange(ids.shape[1])[None] >= lengths[:, None])
        return pad

    # ------------------------------------------------------------------ embedding space
    def embed(self, ids):
        """Embedding vectors of ids ``(N, T)`` -> ``(N, T, D)`` float32 (the layer's table, not the model)."""
        return tf.gather(embedding_table(self.embedding), np.asarray(ids, np.int32)).numpy().astype(np.float32)

    def embedding_scores(self, ids, emb):
        """Scores ``(B, K)`` of ids ``(B, T)`` with the embedding output replaced by ``emb`` ``(B, T, D)``.

        For use inside a ``GradientTape`` or a compiled step, in :meth:`inference_mode`.
        """
        with replaced_embeddings(self.embedding, emb, self._forward_attr()):
            return self.scores(ids)

    def embedding_differentiate(self, ids, emb, targets, return_scores=False):
        """``(d selected / d emb, selected[, scores])`` inside a step; ``targets`` as :meth:`select` takes them."""
        with tf.GradientTape() as tape:
            tape.watch(emb)
            scores = self.embedding_scores(ids, emb)
            selected = self.select(scores, targets)
        grads = tape.gradient(selected, emb)
        if grads is None:
            raise TypeError("embedding_layer: the output does not depend on the output of layer %r"
                            % self.embedding.name)
        return (grads, selected, scores) if return_scores else (grads, selected)

    def embedding_gradients(self, ids, emb, targets, batch_size=None, return_scores=False):
        """Gradients of the target scores w.r.t. the embedding output, batched and compiled.

        Parameters
        ----------
        ids : ndarray, int (N, T)
        emb : ndarray, float32 (N, T, D)
            What the embedding layer outputs instead of its lookup of ``ids``.
        targets : ndarray of int (N,) or callable (negative rows: the predicted class)
        return_scores : bool
            Also return the scores ``(N, K)``.

        Returns
        -------
        grads : ndarray, float32 (N, T, D)
        scores : ndarray (N, K), only when ``return_scores``.
        """
        ids = np.asarray(ids, np.int32)
        emb = np.asarray(emb, np.float32)
        fn_targets = callable(targets)
        t = np.zeros(len(ids), np.int32) if fn_targets else self.resolve_targets(targets, len(ids))

        def step(idb, eb, tb):
            grads, _, scores = self.embedding_differentiate(idb, eb, targets if fn_targets else tb, True)
            return grads, scores

        specs = [tf.TensorSpec((None, None, None), tf.float32), tf.TensorSpec((None,), tf.int32)]
        compiled = self.compiled(("embedding_gradients", self._target_key(targets)), step, extra_dtypes=specs,
                                 rows=(0, 1, 2))
        with self.inference_mode():
            grads, scores = self.map_batches(
                lambda i, e, tb: tuple(v.numpy() for v in compiled(tf.constant(i), tf.constant(e), tf.constant(tb))),
                ids, emb, t, batch_size=self.batch_rows(batch_size, backward=True))
        return (grads, scores) if return_scores else grads

    def _input_bytes(self):
        if self.input_shape is None:
            return None
        # the ids and their embeddings (the embedding output is what the gradient methods move)
        return int(self.input_shape[0]) * (4 + 4 * self.embedding_dim)
