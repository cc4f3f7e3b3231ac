"""Encoder-decoder (seq2seq) models: teacher-forced logits, greedy decoding, source embeddings, Luong alignments.

A seq2seq model is explained position by position on its *teacher-forced* logits:
``model([src, decoder_inputs])`` as TensorLayer's training mode takes it, returning
``(N, T_out, V)``. :class:`Seq2seqAdapter` runs that forward with every layer in eval
mode (no dropout) and only the model's own branch flag set to training, restores
every flag afterwards, and compiles each step once per (source length, output
length). It serves TensorLayer's ``Seq2seq`` and ``Seq2seqLuongAttention`` and
users' own TL or Keras encoder-decoders that take ``[src, decoder_inputs]``.

Every batched call is sized in source sequences from ``max_batch_bytes`` and the
bytes one sequence occupies in that kind of call, measured from a one-row trace
(:mod:`~tensorlayer_xplain.adapter._seq2seq_memory`). The per-position gradient
methods get their attributions, logits and predicted tokens from one compiled step
per piece (:meth:`Seq2seqAdapter.source_attributions`).

Gradients are taken in embedding space: the output of the embedding layer for the
*source* ids is replaced by a given tensor while the decoder's own lookups (the
zoo models share one embedding layer) are left alone (the token models' swap,
:func:`~tensorlayer_xplain.adapter._tokens.replaced_embeddings` with ``only=`` the source).
The Luong alignment is recorded by wrapping ``Decoder_Attention.score`` while a
step is traced (:func:`recording_alignments`), as layer outputs are captured.
"""
import contextlib

import numpy as np
import tensorflow as tf
import tensorlayer as tl

from ._common import _describe, temporarily_set
from ._memory import DEFAULT_MAX_BATCH_BYTES
from ._model import ModelAdapter
from ._seq2seq_memory import call_bytes, row_activation_bytes
from ._tokens import check_token, check_token_ids, embedding_table, is_embedding, replaced_embeddings

#: Points of an integrated-gradients path in flight at once inside the step (the byte estimate assumes 1).
PATH_PARALLEL_ITERATIONS = 1

__all__ = ["Seq2seqAdapter", "is_seq2seq_model", "is_keras_encoder_decoder",
           "recording_alignments"]


def _zoo_classes():
    from tensorlayer.models.seq2seq import Seq2seq
    from tensorlayer.models.seq2seq_with_attention import Seq2seqLuongAttention

    return Seq2seq, Seq2seqLuongAttention


def _decoder_attention_class():
    from tensorlayer.models.seq2seq_with_attention import Decoder_Attention

    return Decoder_Attention


def is_seq2seq_model(model):
    """True for TensorLayer's ``Seq2seq`` and ``Seq2seqLuongAttention`` (and subclasses).

    Examples
    --------
    >>> is_seq2seq_model(object())
    False
    """
    return isinstance(model, _zoo_classes())


def _source_embedding(layer):
    """An embedding layer that looks ids up one by one (``AverageEmbedding`` pools them: not a seq2seq source)."""
    return is_embedding(layer) and not isinstance(layer, tl.layers.AverageEmbedding)


def is_keras_encoder_decoder(model):
    """True for a Keras model taking two integer inputs ``[src, decoder_inputs]`` and returning ``(N, T_out, V)``.

    Examples
    --------
    >>> is_keras_encoder_decoder(object())
    False
    """
    if not isinstance(model, tf.keras.Model):
        return False
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return False
    if not inputs or len(inputs) != 2 or not outputs or len(outputs) != 1:
        return False
    return (all(tf.as_dtype(i.dtype).is_integer for i in inputs) and len(outputs[0].shape) == 3
            and any(_source_embedding(layer) for layer in model.layers))


@contextlib.contextmanager
def recording_alignments(layers, records):
    """Record every alignment ``(N, T_src)`` a ``Decoder_Attention`` layer computes, in call order.

    ``Decoder_Attention.score`` (the softmax over source positions, one call per
    decoder step) is wrapped on each layer for the duration of the block and
    restored exactly afterwards.

    Parameters
    ----------
    layers : list of Decoder_Attention
    records : list
        Receives the alignment tensors.

    Examples
    --------
    >>> records = []
    >>> with recording_alignments([luong.dec_layer], records):       # greedy decoding of 5 tokens
    ...     ids = luong([tf.constant(src, tf.int32)], seq_length=5, sos=1)
    >>> len(records), tuple(records[0].shape)                  # one (N, T_src) alignment per decoder step
    (5, (4, 7))
    """
    with contextlib.ExitStack() as stack:
        for layer in layers:
            original = layer.score

            def score(encoding_hidden, hidden, method, _original=original):
                weights = _original(encoding_hidden, hidden, method)
                records.append(weights)
                return weights

            stack.enter_context(temporarily_set(layer, "score", score))
        yield


def _check_int(value, name, low=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s: expected an int, got %s" % (name, _describe(value)))
    if low is not None and value < low:
        raise ValueError("%s: expected an int >= %d, got %d" % (name, low, value))
    return int(value)


class Seq2seqAdapter(ModelAdapter):
    """A :class:`ModelAdapter` for encoder-decoder models explained on teacher-forced logits.

    Parameters
    ----------
    model : tl.models.Model or keras.Model
        ``tl.models.Seq2seq``, ``tl.models.Seq2seqLuongAttention``, a TensorLayer model
        whose training call ``model([src, decoder_inputs])`` returns logits ``(N, T_out, V)``,
        or a Keras encoder-decoder with the inputs ``[src, decoder_inputs]`` (integer ids)
        and the output ``(N, T_out, V)``.
    embedding_layer : str, optional
        Name of the layer that embeds the source ids (default: the zoo models'
        ``embedding_layer``, else the model's first embedding layer).
    pad_id : int or None
        Source padding id (default 0): padded source tokens get no attribution and
        are never perturbed. None: no padding.
    output : {'logits', 'probabilities'}
        What is explained at each position.
    batch_size : int
        Most source sequences sent to the model at once (an upper bound).
    max_batch_bytes : int
        Memory budget of one model call (default 1 GiB, as :class:`ModelAdapter`):
        every batched call (teacher forcing, alignments, per-position gradients,
        the integrated-gradients path, greedy decoding) takes at most
        ``max_batch_bytes // call_bytes`` source sequences, at least one, where
        ``call_bytes`` is the estimated bytes of one source sequence in that call
        at the current lengths, from the activations measured on a one-row trace
        (:mod:`tensorlayer_xplain.adapter._seq2seq_memory`; :meth:`sequence_rows`).
    sos : int, optional
        Start-of-sequence id: the default of ``explain(..., sos=)`` (greedy decoding
        explained when no ``decoder_inputs`` are given).
    seq_length : int, optional
        Output length of the greedy decoding (default of ``explain(..., seq_length=)``).

    Examples
    --------
    >>> adapter = Seq2seqAdapter(luong)
    >>> tuple(adapter.teacher_forced(src, dec).shape)                 # (N, T_out, vocabulary)
    (4, 5, 9)
    >>> alignments, logits = adapter.alignments(src, dec)
    >>> alignments.shape                                             # (N, T_out, T_src)
    (4, 5, 7)
    """

    seq2seq = True

    def __init__(self, model, embedding_layer=None, pad_id=0, output="logits", batch_size=256, sos=None,
                 seq_length=None, image_shape=None, strategy=None, max_batch_bytes=DEFAULT_MAX_BATCH_BYTES):
        if not isinstance(model, (tl.models.Model, tf.keras.Model)):
            raise TypeError("model: a seq2seq model must be a TensorLayer model whose training call takes "
                            "[src, decoder_inputs] or a Keras model with those two inputs, got %s" % _describe(model))
        for option, value in (("image_shape", image_shape), ("strategy", strategy)):
            if value is not None:
                raise ValueError("%s: not supported for an encoder-decoder (source ids are drawn as text, steps run "
                                 "on one device), got %r" % (option, value))
        super().__init__(model, output=output, batch_size=batch_size, max_batch_bytes=max_batch_bytes)
        self._row_bytes = {}  # (T_src, T_out) -> (activation bytes of one row, logits width)
        self.embedding = self._find_embedding(embedding_layer)
        self.vocab_size = int(embedding_table(self.embedding).shape[0])
        if pad_id is not None:
            pad_id = _check_int(pad_id, "pad_id", 0)
            if pad_id >= self.vocab_size:
                raise ValueError("pad_id: expected an id in [0, %d) or None, got %d" % (self.vocab_size, pad_id))
        self.pad_id = pad_id
        self.sos = None if sos is None else self.check_token("sos", sos)
        self.seq_length = None if seq_length is None else _check_int(seq_length, "seq_length", 1)
        self._lengths = None
        self._facts = {}  # what one probe pass found, by (question, T_src, T_out)

    # ------------------------------------------------------------------ model facts
    def _infer_input_shape(self):
        return None

    def _find_embedding(self, name):
        if name is not None:
            layer = self.layer(name)
            if not _source_embedding(layer):
                raise ValueError("embedding_layer: layer %r is a %s, not an embedding layer"
                                 % (name, type(layer).__name__))
            return layer
        layer = getattr(self.model, "embedding_layer", None)
        if _source_embedding(layer):
            return layer
        found = [layer for layer in self.iter_layers() if _source_embedding(layer)]
        if not found:
            raise ValueError("embedding_layer: the seq2seq model has no embedding layer (TL Embedding, "
                             "Word2vecEmbedding or Keras Embedding); name it with embedding_layer=")
        return found[0]

    @property
    def fixed_output_length(self):
        """The decoder length a ``tl.models.Seq2seq`` was built for (its logits reshape), else None."""
        seq2seq, _ = _zoo_classes()
        if isinstance(self.model, seq2seq):
            return int(self.model.reshape_layer_after.shape[1])
        return None

    @property
    def attention_layers(self):
        """The model's ``Decoder_Attention`` layers (Luong attention), in definition order."""
        cls = _decoder_attention_class()
        found = [layer for layer in self.iter_layers() if isinstance(layer, cls)]
        dec = getattr(self.model, "dec_layer", None)
        if isinstance(dec, cls) and dec not in found:
            found.insert(0, dec)
        return found

    # ------------------------------------------------------------------ inputs
    def check_ids(self, ids, name):
        """Integer ids ``(N, T)`` inside the vocabulary, as int32.

        Raises
        ------
        TypeError
            Not integers.
        ValueError
            Wrong rank, empty, or an id outside ``[0, vocab_size)``.
        """
        if isinstance(ids, tf.Variable):
            ids = ids.numpy()
        arr = check_token_ids(ids, self.vocab_size, name, why="")
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError("%s: expected token ids of shape (N, T) with N, T >= 1, got shape %s"
                             % (name, arr.shape))
        return arr

    def check_token(self, name, value):
        """Validate one token id argument (``sos``, ``baseline_token``, ``mask_token``)."""
        return check_token(name, value, self.vocab_size)

    def check_decoder_inputs(self, decoder_inputs, n, seq_length=None):
        """Validated teacher-forcing ids ``(N, T_out)`` for ``n`` source sequences."""
        dec = self.check_ids(decoder_inputs, "decoder_inputs")
        if len(dec) != n:
            raise ValueError("decoder_inputs: expected one row per source sequence (%d), got %d rows" % (n, len(dec)))
        fixed = self.fixed_output_length
        if fixed is not None and dec.shape[1] != fixed:
            raise ValueError("decoder_inputs: expected length %d (the Seq2seq model's decoder_seq_length), got %d"
                             % (fixed, dec.shape[1]))
        if seq_length is not None and dec.shape[1] != seq_length:
            raise ValueError("decoder_inputs: expected length %d (seq_length), got %d" % (seq_length, dec.shape[1]))
        return dec

    def prepare(self, inputs, name="inputs"):
        """Source ids ``(N, T_src)`` as int32 (see :meth:`check_ids`); ``input_shape`` becomes ``(T_src,)``."""
        ids = self.check_ids(inputs, name)
        self.input_shape = (int(ids.shape[1]),)  # any source length: the last one seen
        return ids, tuple(ids.shape)

    @property
    def image_shape(self):
        """``(1, T_src, 1)``: a source sequence is drawn as one row."""
        return None if self.input_shape is None else (1, int(self.input_shape[0]), 1)

    def _input_specs(self):
        return [tf.TensorSpec((None, self._lengths[0]), tf.int32)]

    def padding(self, src):
        """Boolean ``(N, T_src)``: True at source padding (the pad id)."""
        src = np.asarray(src)
        return np.zeros(src.shape, bool) if self.pad_id is None else src == self.pad_id

    def embed(self, ids):
        """Embedding vectors ``(N, T, D)`` float32 of ids, read from the layer's table."""
        return tf.gather(embedding_table(self.embedding), np.asarray(ids, np.int32)).numpy().astype(np.float32)

    @property
    def embedding_dim(self):
        """Width ``D`` of the source embeddings."""
        return int(embedding_table(self.embedding).shape[1])

    # ------------------------------------------------------------------ byte budgets
    def row_bytes(self, t_src, t_out):
        """``(A, V)``: activation bytes of one source sequence and the logits' width at these lengths.

        Measured once per lengths from a one-row trace of the teacher-forced pass
        (:func:`~tensorlayer_xplain.adapter._seq2seq_memory.row_activation_bytes`).
        """
        key = (int(t_src), int(t_out))
        if key not in self._row_bytes:
            with self._lock:
                self._row_bytes[key] = row_activation_bytes(self, *key)
        return self._row_bytes[key]

    def sequence_bytes(self, kind, t_src, t_out):
        """Estimated bytes of one source sequence in a call of ``kind`` ('forward', 'gradient' or 'path').

        See :func:`~tensorlayer_xplain.adapter._seq2seq_memory.call_bytes` for the formulas.
        """
        return call_bytes(kind, self.row_bytes(t_src, t_out)[0], int(t_src), int(t_out), self.embedding_dim)

    def sequence_rows(self, kind, t_src, t_out, batch_size=None):
        """Source sequences per call of ``kind``: ``batch_size`` capped by ``max_batch_bytes``, at least 1.

        Returns
        -------
        int
            ``max(1, min(batch_size, max_batch_bytes // sequence_bytes(kind, t_src, t_out)))``
            (``batch_size`` at most the adapter's).

        Examples
        --------
        >>> Seq2seqAdapter(luong, max_batch_bytes=1).sequence_rows('gradient', 7, 5)   # below one row: one row
        1
        """
        limit = min(int(batch_size or self.batch_size), self.batch_size)
        return max(1, min(limit, self.max_batch_bytes // self.sequence_bytes(kind, t_src, t_out)))

    def sample_bytes(self, backward=False):
        """Estimated bytes of one source sequence at the last lengths seen (a forward or a gradient call)."""
        if self._lengths is None:
            raise ValueError("inputs: the sequence lengths are not known yet; explain a batch first")
        return self.sequence_bytes("gradient" if backward else "forward", *self._lengths)

    # ------------------------------------------------------------------ forward passes (inside a step)
    def teacher_forced_call(self, src, dec):
        """Logits ``(B, T_out, V)`` of ``model([src, dec])``: a TL model's branch flag set to training only."""
        if self.kind == "keras":
            out = self.model([src, dec], training=False)
        else:
            with temporarily_set(self.model, "is_train", True):
                out = self.model([src, dec])
        if isinstance(out, (list, tuple)):
            out = out[0]
        out = tf.cast(tf.convert_to_tensor(out), tf.float32)
        if out.shape.rank != 3:
            raise TypeError("model: expected teacher-forced logits (N, T_out, V) from model([src, decoder_inputs]), "
                            "got shape %s" % (out.shape,))
        return tf.nn.softmax(out, -1) if self.output == "probabilities" else out

    def _step(self, name, fn, src_len, dec_len, extra):
        """A compiled step ``fn(src, dec, *extra)`` for these lengths (one trace per name and lengths)."""
        self._lengths = (src_len, dec_len)
        specs = [tf.TensorSpec((None, dec_len), tf.int32)] + list(extra)
        return self.compiled((name, src_len, dec_len), fn, extra_dtypes=specs)

    def _run(self, name, fn, src, dec, *extra, extra_specs=(), kind="forward", batch_size=None):
        """``fn`` compiled for these lengths, over pieces of :meth:`sequence_rows` source sequences."""
        rows = self.sequence_rows(kind, src.shape[1], dec.shape[1], batch_size)
        step = self._step(name, fn, src.shape[1], dec.shape[1], extra_specs)
        with self.inference_mode():
            return self.map_batches(
                lambda *parts: tuple(np.asarray(v) for v in _as_tuple(step(*(tf.constant(p) for p in parts)))),
                src, dec, *extra, batch_size=rows)

    # ------------------------------------------------------------------ public, batched
    def teacher_forced(self, src, dec, batch_size=None):
        """Teacher-forced logits (or probabilities) ``(N, T_out, V)`` as numpy, batched and compiled."""
        src, dec = self.check_ids(src, "src"), self.check_ids(dec, "dec")
        return self._run("teacher_forced", self.teacher_forced_call, src, dec, batch_size=batch_size)[0]

    def alignments(self, src, dec, batch_size=None):
        """Luong alignments ``(N, T_out, T_src)`` of the teacher-forced pass, and its logits ``(N, T_out, V)``.

        Raises
        ------
        ValueError
            The model has no ``Decoder_Attention`` layer.
        """
        layers = self.attention_layers
        if not layers:
            raise ValueError("model: attention alignments need a Luong attention decoder (Decoder_Attention, as in "
                             "tl.models.Seq2seqLuongAttention); %s has none" % type(self.model).__name__)
        src, dec = self.check_ids(src, "src"), self.check_ids(dec, "dec")
        n_steps = dec.shape[1]

        def step(s, d):
            records = []
            with recording_alignments(layers[:1], records):
                logits = self.teacher_forced_call(s, d)
            if len(records) != n_steps:
                raise ValueError("model: expected one alignment per decoder step (%d), recorded %d"
                                 % (n_steps, len(records)))
            return tf.stack(records, axis=1), logits

        return self._run("alignments", step, src, dec, batch_size=batch_size)

    def _source_logits(self, s, e, d):
        """Inside a step: teacher-forced logits with the source embeddings replaced by ``e``."""
        with replaced_embeddings(self.embedding, e, self._forward_attr(), only=s):
            return self.teacher_forced_call(s, d)

    def _position_gradients(self, s, d, e, k, t_out, e_dec=None):
        """Inside a step: ``(d score_t / d e`` for every position t ``(B, T_out, T_src, D)``, scores ``(B, T_out)``,
        logits ``(B, T_out, V)``, tokens ``(B, T_out)``, decoder gradients or None``)``.

        One forward pass on a persistent tape and one backward pass per output position;
        a negative token is the position's argmax. With ``e_dec`` (the embeddings of the
        decoder inputs ``d``, ``(B, T_out, D)``), the decoder's lookup of ``d`` returns it
        too, and the gradients with respect to it ``(B, T_out, T_out, D)`` come last.
        """
        watched = [e] if e_dec is None else [e, e_dec]
        with tf.GradientTape(persistent=True) as tape:
            for tensor in watched:
                tape.watch(tensor)
            with contextlib.ExitStack() as swaps:
                swaps.enter_context(replaced_embeddings(self.embedding, e, self._forward_attr(), only=s))
                if e_dec is not None:
                    swaps.enter_context(replaced_embeddings(self.embedding, e_dec, self._forward_attr(), only=d,
                                                            what="decoder inputs"))
                logits = self.teacher_forced_call(s, d)
            k = tf.where(k < 0, tf.argmax(logits, -1, output_type=tf.int32), k)
            selected = tf.gather(logits, k, batch_dims=2)  # (B, T_out)
            columns = [selected[:, t] for t in range(t_out)]
        grads = [tape.gradient(column, watched, unconnected_gradients=tf.UnconnectedGradients.ZERO
                               if e_dec is not None else tf.UnconnectedGradients.NONE) for column in columns]
        del tape
        if any(g[0] is None for g in grads):
            raise TypeError("embedding_layer: the output does not depend on the output of layer %r"
                            % self.embedding.name)
        source = tf.stack([g[0] for g in grads], axis=1)
        decoder = None if e_dec is None else tf.stack([g[1] for g in grads], axis=1)
        return source, selected, logits, k, decoder

    def _path_sum(self, s, d, e, b, k, alphas, weights, t_out):
        """Inside a step: ``sum_i weights[i] * grads(b + alphas[i] (e - b))`` and the scores at the path's ends.

        The points run one after the other (``parallel_iterations=1``): one point's
        tape in flight at a time, as the byte estimate assumes.
        """
        def body(i, total, ends):
            grads, selected = self._position_gradients(s, d, b + alphas[i] * (e - b), k, t_out)[:2]
            ends = tf.where(tf.equal(i, 0), tf.concat([selected[..., None], ends[..., 1:]], -1), ends)
            ends = tf.where(tf.equal(i, tf.size(alphas) - 1), tf.concat([ends[..., :1], selected[..., None]], -1),
                            ends)
            return i + 1, total + weights[i] * grads, ends

        total = tf.zeros(tf.concat([tf.shape(e)[:1], [t_out], tf.shape(e)[1:]], 0))
        ends = tf.zeros(tf.concat([tf.shape(e)[:1], [t_out, 2]], 0))
        _, total, ends = tf.while_loop(lambda i, *_: i < tf.size(alphas), body, (tf.constant(0), total, ends),
                                       parallel_iterations=PATH_PARALLEL_ITERATIONS)
        return total, ends

    def _specs(self, src, emb, t_out):
        return (tf.TensorSpec((None, src.shape[1], emb.shape[2]), tf.float32),
                tf.TensorSpec((None, t_out), tf.int32))

    def decoder_shares_the_embedding(self, src, dec):
        """True when the decoder inputs are looked up by the source's embedding layer in one call.

        Decoder-side gradients swap that lookup (the zoo models embed source and
        decoder inputs with one layer); a model with its own decoder embedding has none.
        """
        key = ("decoder_shares", src.shape[1], dec.shape[1])
        if key not in self._facts:
            s, d = tf.constant(src[:1]), tf.constant(dec[:1])
            zeros = tf.zeros((1, dec.shape[1], int(embedding_table(self.embedding).shape[1])))
            try:
                with self.inference_mode(), replaced_embeddings(self.embedding, zeros, self._forward_attr(), only=d,
                                                                what="decoder inputs"):
                    self.teacher_forced_call(s, d)
                self._facts[key] = True
            except ValueError as err:
                if "never reached" not in str(err):
                    raise
                self._facts[key] = False
        return self._facts[key]

    def source_gradients(self, src, dec, emb, tokens, batch_size=None):
        """Per output position, gradients w.r.t. the source embeddings of the score of ``tokens``.

        One forward pass per source sequence and one backward pass per output position
        (a persistent tape), in one compiled step; pieces of :meth:`sequence_rows`
        source sequences (at most ``batch_size``, within ``max_batch_bytes``).
        :meth:`source_attributions` computes the per-token sums (and the IG path)
        inside the step instead.

        Parameters
        ----------
        src : ndarray int32 (N, T_src)
        dec : ndarray int32 (N, T_out)
        emb : ndarray float32 (N, T_src, D)
            What the embedding layer returns for the source ids.
        tokens : ndarray int32 (N, T_out)
            The token explained at each position.

        Returns
        -------
        grads : ndarray (N, T_out, T_src, D)
        scores : ndarray (N, T_out)
        """
        t_out = dec.shape[1]
        emb_spec, tok_spec = self._specs(src, emb, t_out)
        emb, tokens = np.asarray(emb, np.float32), np.asarray(tokens, np.int32)
        return self._run("source_gradients", lambda s, d, e, k: self._position_gradients(s, d, e, k, t_out)[:2],
                         src, dec, emb, tokens, extra_specs=[emb_spec, tok_spec], kind="gradient",
                         batch_size=batch_size)

    def source_attributions(self, src, dec, emb, tokens, method="gradient", batch_size=None, alphas=None,
                            weights=None, base=None, dec_emb=None):
        """Per-token attributions ``(N, T_out, T_src)`` with the logits, in one compiled pass per piece.

        What :meth:`source_gradients` computes, reduced inside the step: summed over
        the embedding dimension (``gradient``), times the embeddings first
        (``gradient_x_input``), or times ``emb - base`` after the path sum
        (``integrated_gradients``). The same step returns the teacher-forced logits
        and resolves negative ``tokens`` to the argmax at that position, so no
        separate forward pass is needed.

        Parameters
        ----------
        src, dec, emb, tokens
            As :meth:`source_gradients`; ``tokens`` < 0 means the predicted token.
        method : {'gradient', 'gradient_x_input', 'integrated_gradients'}
        alphas, weights : ndarray float32 (S,), optional
            Integrated gradients: the path points and their weights (e.g. the
            trapezoid rule's); the weighted gradient sum runs inside the step.
        base : ndarray float32 (N, T_src, D), optional
            Integrated gradients: the path's start.
        dec_emb : ndarray float32 (N, T_out, D), optional
            ``gradient``/``gradient_x_input``: the decoder inputs' embeddings, whose
            lookup is replaced too (see :meth:`decoder_shares_the_embedding`).

        Returns
        -------
        attributions : ndarray float32 (N, T_out, T_src)
        logits : ndarray float32 (N, T_out, V)
        tokens : ndarray int32 (N, T_out)
            The explained tokens.
        extra : ndarray or None
            Integrated gradients: the scores at the path's first and last point
            ``(N, T_out, 2)``; with ``dec_emb``: the decoder-side attributions
            ``(N, T_out, T_out)`` from the same backward passes.
        """
        t_out = dec.shape[1]
        emb_spec, tok_spec = self._specs(src, emb, t_out)
        emb, tokens = np.asarray(emb, np.float32), np.asarray(tokens, np.int32)
        if method in ("gradient", "gradient_x_input"):
            times_input = method == "gradient_x_input"

            def per_token(grads, inputs):
                return tf.reduce_sum(grads * inputs[:, None] if times_input else grads, -1)

            if dec_emb is None:
                def step(s, d, e, k):
                    grads, _, logits, k, _ = self._position_gradients(s, d, e, k, t_out)
                    return per_token(grads, e), logits, k

                return self._run("source_" + method, step, src, dec, emb, tokens, extra_specs=[emb_spec, tok_spec],
                                 kind="gradient", batch_size=batch_size) + (None,)

            def with_decoder(s, d, e, k, ed):
                grads, _, logits, k, dec_grads = self._position_gradients(s, d, e, k, t_out, ed)
                return per_token(grads, e), logits, k, per_token(dec_grads, ed)

            dec_spec = tf.TensorSpec((None, t_out, emb.shape[2]), tf.float32)
            return self._run("source_decoder_" + method, with_decoder, src, dec, emb, tokens,
                             np.asarray(dec_emb, np.float32), extra_specs=[emb_spec, tok_spec, dec_spec],
                             kind="gradient", batch_size=batch_size)
        if method != "integrated_gradients":
            raise ValueError("method: expected 'gradient', 'gradient_x_input' or 'integrated_gradients', got %r"
                             % (method,))
        a_t = tf.constant(np.asarray(alphas, np.float32))
        w_t = tf.constant(np.asarray(weights, np.float32))

        def path(s, d, e, b, k):
            logits = self._source_logits(s, e, d)
            k = tf.where(k < 0, tf.argmax(logits, -1, output_type=tf.int32), k)
            total, ends = self._path_sum(s, d, e, b, k, a_t, w_t, t_out)
            return tf.reduce_sum(total * (e - b)[:, None], -1), logits, k, ends

        return self._run("source_ig_%s" % fingerprint_floats(alphas, weights), path, src, dec, emb,
                         np.asarray(base, np.float32), tokens, extra_specs=[emb_spec, emb_spec, tok_spec],
                         kind="path", batch_size=batch_size)

    def source_embedding_scores(self, src, dec, emb, batch_size=None):
        """Teacher-forced logits ``(R, T_out, V)`` with the source embeddings replaced by ``emb``."""
        specs = [tf.TensorSpec((None, src.shape[1], emb.shape[2]), tf.float32)]
        return self._run("source_embedding_scores", lambda s, d, e: self._source_logits(s, e, d), src, dec,
                         np.asarray(emb, np.float32), extra_specs=specs, batch_size=batch_size)[0]

    def greedy_decode(self, src, sos, seq_length, batch_size=None):
        """The model's own greedy decoding ``(N, seq_length)`` int32, starting from ``sos``.

        The zoo models decode with their inference mode (``sos=`` / ``start_token=``);
        other models by repeated teacher forcing (position ``t`` reads the argmax of
        position ``t - 1``). Pieces of :meth:`sequence_rows` source sequences (a
        forward call at lengths ``(T_src, seq_length)``).
        """
        sos = _check_int(sos, "sos", 0)
        if sos >= self.vocab_size:
            raise ValueError("sos: expected a token id in [0, %d), got %d" % (self.vocab_size, sos))
        seq_length = _check_int(seq_length, "seq_length", 1)
        seq2seq, luong = _zoo_classes()
        if isinstance(self.model, (seq2seq, luong)):
            kw = {"start_token": sos} if isinstance(self.model, seq2seq) else {"sos": sos}
            rows = self.sequence_rows("forward", src.shape[1], seq_length, batch_size)
            self._lengths = (src.shape[1], seq_length)
            step = self.compiled(("greedy", src.shape[1], seq_length, sos),
                                 lambda s: tf.cast(self.model([s], seq_length=seq_length, **kw), tf.int32))
            with self.inference_mode():
                return self.map_batches(lambda s: step(tf.constant(s)).numpy(), src, batch_size=rows)
        dec = np.full((len(src), seq_length), sos, np.int32)
        out = np.zeros((len(src), seq_length), np.int32)
        for t in range(seq_length):
            out[:, t] = np.argmax(self.teacher_forced(src, dec, batch_size)[:, t], -1)
            if t + 1 < seq_length:
                dec[:, t + 1] = out[:, t]
        return out


def fingerprint_floats(*arrays):
    """A short key naming float arrays (a compiled step per path: its points are baked into the trace)."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, np.float32).tobytes())
    return h.hexdigest()


def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)
