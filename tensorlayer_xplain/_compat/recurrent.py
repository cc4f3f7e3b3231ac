"""TensorLayer 2.2.5's recurrent layers and seq2seq zoo models on Keras 3 cells.

Installed once by :func:`apply_recurrent_patches` (called from
:func:`tensorlayer_xplain._compat.apply_patches` on ``import tensorlayer_xplain``).
No ``tf-keras`` and no ``TF_USE_LEGACY_KERAS``: the cells stay the Keras 3 cells
``tf.keras.layers.LSTMCell`` / ``GRUCell`` / ``SimpleRNNCell`` are on this stack.

Patches
-------
``rnn_keras3_cells``
    Symptom: ``RNN``, ``SimpleRNN``, ``GRURNN``, ``LSTMRNN`` (and through them the
    encoder and decoder of ``tl.models.Seq2seq``) fail on their first call with
    ``Shapes of all inputs must match: values[0].shape = [N,T,F] != values[1].shape = []``.
    Cause: they call ``cell.get_initial_state(inputs)``; a Keras 3 cell takes a
    batch size there. Besides, the forward read the batch size from the static
    shape (``None`` inside a ``tf.function`` with an open batch dimension) and
    2.2.5 replaced any given ``sequence_length`` by lengths recomputed from the
    all-zero rows of the input. Fix: ``RNN.forward`` starts from the cell's zero
    state for ``tf.shape(inputs)[0]``, runs the same unrolled loop of
    ``cell.call(x_t, states, training=is_train)``, and implements what TL documents:
    with ``sequence_length`` (list, array or integer tensor, one length per sample,
    ``1 <= length <= T``) and ``return_last_output`` / ``return_last_state``, the
    last output / state is the one at step ``length - 1`` of each sample; without
    it the whole sequence is read. Every ``return_*`` option and the per-call
    overrides (``layer(x, return_last_output=True)``) work as before.
``birnn_keras3_cells``
    Same symptom and fix for ``BiRNN``. Its outputs stay TensorLayer's: the
    backward half at position ``t`` is the backward cell's output after reading
    ``inputs[:, T-1-t]`` (TensorLayer does not re-reverse it, unlike Keras'
    ``Bidirectional``).
``seq2seq_attention_keras3``
    Same symptom for ``Seq2seqLuongAttention``'s ``Encoder``. Also: its
    ``__init__`` passed ``name`` positionally to ``Model.__init__(inputs, ...)``
    (any ``name=`` raised "The argument `inputs` should be either Tensor or a list
    of Tensor"); ``Decoder_Attention`` compared ``method is "dot"`` (a method
    string built at run time matched no branch and the call failed with an
    ``UnboundLocalError``): the method is validated and interned; the forward and
    greedy decoding read the batch size from the static shape (``None`` inside a
    ``tf.function`` with an open batch; now ``tf.shape``).
``seq2seq_greedy_graph``
    ``Seq2seq``'s greedy decoding (``top_n=None``) read the batch size with
    ``.numpy()``, so it ran eagerly only; it now builds the start tokens with
    ``tf.fill``. Sampling with ``top_n`` keeps TensorLayer's (eager) code.
"""
import sys

import numpy as np
import tensorflow as tf

__all__ = ["apply_recurrent_patches", "zero_state", "run_cell", "start_ids", "normalise_method", "LUONG_METHODS"]

#: The score functions of ``Seq2seqLuongAttention``'s decoder.
LUONG_METHODS = ("dot", "general", "concat")


def _as_list(states):
    return list(states) if isinstance(states, (list, tuple)) else [states]


def zero_state(cell, inputs):
    """The zero initial state of a Keras 3 ``cell`` for the batch of ``inputs``.

    Parameters
    ----------
    cell : keras.layers.Layer
        An RNN cell (``LSTMCell``, ``GRUCell``, ``SimpleRNNCell`` or a user cell with
        ``state_size``).
    inputs : tf.Tensor, shape (N, ...)
        Only its (possibly dynamic) batch size is used.

    Returns
    -------
    list of tf.Tensor
        One ``(N, units)`` tensor per state (two for an LSTM).

    Examples
    --------
    >>> import keras
    >>> cell = keras.layers.LSTMCell(4)
    >>> [s.shape for s in zero_state(cell, tf.zeros((2, 3, 5)))]
    [TensorShape([2, 4]), TensorShape([2, 4])]
    """
    batch = tf.shape(inputs)[0]
    if hasattr(cell, "get_initial_state"):
        return _as_list(cell.get_initial_state(batch_size=batch))
    dtype = getattr(cell, "compute_dtype", None) or tf.float32
    return [tf.zeros(tf.stack([batch, size]), dtype=dtype) for size in _as_list(cell.state_size)]


def _reset_dropout(cell):
    for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
        if hasattr(cell, reset):
            getattr(cell, reset)()


def run_cell(cell, inputs, states, training, reverse=False, keep_states=False, keep_outputs=True):
    """Unroll ``cell`` over the static time axis of ``inputs``, TensorLayer's loop.

    Parameters
    ----------
    cell : keras.layers.Layer
        The cell; ``cell.call(x_t, states, training=training)`` is called per step.
    inputs : tf.Tensor, shape (N, T, F)
        ``T`` must be known when the step is traced.
    states : list of tf.Tensor
        Initial states, each ``(N, units)``.
    training : bool
        Passed to the cell (dropout).
    reverse : bool
        Read ``inputs[:, T-1]`` first (the backward half of ``BiRNN``).
    keep_states : bool
        Also return the states after every step.
    keep_outputs : bool
        Return every step's output (else only the last one, in a list of one).

    Returns
    -------
    outputs : list of tf.Tensor
        ``T`` tensors ``(N, units)`` in the order they were computed.
    states : list of tf.Tensor
        The final states.
    stored : list of list of tf.Tensor
        The states after every step (empty unless ``keep_states``).

    Examples
    --------
    >>> import keras
    >>> cell = keras.layers.GRUCell(4); cell.build((None, 3))
    >>> x = tf.ones((2, 5, 3))
    >>> outputs, states, _ = run_cell(cell, x, zero_state(cell, x), training=False)
    >>> len(outputs), outputs[-1].shape
    (5, TensorShape([2, 4]))
    """
    total_steps = _static_steps(inputs)
    outputs, stored = [], []
    states = _as_list(states)
    _reset_dropout(cell)
    try:
        for step in range(total_steps):
            t = total_steps - 1 - step if reverse else step
            output, states = cell.call(inputs[:, t, :], states, training=training)
            states = _as_list(states)
            if keep_outputs or not outputs:
                outputs.append(output)
            else:
                outputs[-1] = output
            if keep_states:
                stored.append(states)
    finally:
        _reset_dropout(cell)  # never keep a traced mask on the cell
    return outputs, states, stored


def _static_steps(inputs):
    shape = inputs.shape
    if shape.rank != 3:
        raise ValueError("inputs: expected a rank-3 tensor [batch_size, n_steps, n_features], got shape %s"
                         % (shape,))
    if shape[1] is None:
        raise ValueError("inputs: the number of time steps must be known when the RNN is traced "
                         "(TensorLayer unrolls the loop), got shape %s" % (shape,))
    return int(shape[1])


def _check_lengths(sequence_length, inputs, total_steps):
    """``sequence_length`` as an int32 tensor ``(N,)``, checked (eagerly where values are known)."""
    if isinstance(sequence_length, (tf.Tensor, tf.Variable)):
        lengths = tf.convert_to_tensor(sequence_length)
        if not lengths.dtype.is_integer:
            raise TypeError("sequence_length: expected integers, got a %s tensor" % lengths.dtype.name)
        lengths = tf.cast(lengths, tf.int32)
    elif isinstance(sequence_length, (list, tuple, np.ndarray)):
        values = np.asarray([int(v) if isinstance(v, tf.Tensor) and v.shape.rank == 0 else v
                             for v in sequence_length] if not isinstance(sequence_length, np.ndarray)
                            else sequence_length)
        if values.dtype.kind not in "iu":
            raise TypeError("sequence_length: expected integers, got %s" % values.dtype)
        lengths = tf.constant(values, tf.int32)
    else:
        raise TypeError("sequence_length: expected None, a list of integers, an integer array or tensor, got %s"
                        % type(sequence_length).__name__)
    if lengths.shape.rank != 1:
        raise ValueError("sequence_length: expected one length per sample (rank 1), got shape %s" % (lengths.shape,))
    batch = inputs.shape[0]
    if batch is not None and lengths.shape[0] is not None and lengths.shape[0] != batch:
        raise ValueError("sequence_length: expected %d lengths (one per sample), got %d" % (batch, lengths.shape[0]))
    if tf.executing_eagerly():
        values = lengths.numpy()
        if values.size and (values.min() < 1 or values.max() > total_steps):
            raise ValueError("sequence_length: expected lengths in [1, %d] (the number of time steps), got %s"
                             % (total_steps, values.tolist()))
    else:
        tf.debugging.assert_equal(tf.shape(lengths)[0], tf.shape(inputs)[0],
                                  message="sequence_length: expected one length per sample")
        tf.debugging.assert_greater_equal(lengths, 1, message="sequence_length: lengths must be >= 1")
        tf.debugging.assert_less_equal(lengths, total_steps,
                                       message="sequence_length: lengths must be <= the number of time steps")
    return lengths


def _at_lengths(per_step, last_index):
    """``per_step[last_index[b]][b]`` for every sample ``b``: ``(N, units)``."""
    return tf.gather(tf.stack(per_step, axis=1), last_index, axis=1, batch_dims=1)


def _update_attrs(layer, kwargs):
    for attr, value in kwargs.items():
        if attr in layer.__dict__:
            setattr(layer, attr, value)


@tf.autograph.experimental.do_not_convert
def _rnn_forward(self, inputs, sequence_length=None, initial_state=None, **kwargs):
    _update_attrs(self, kwargs)
    total_steps = _static_steps(inputs)
    lengths = None if sequence_length is None else _check_lengths(sequence_length, inputs, total_steps)
    states = zero_state(self.cell, inputs) if initial_state is None else _as_list(initial_state)
    last_only = self.return_last_output and lengths is None
    outputs, states, stored = run_cell(self.cell, inputs, states, self.is_train,
                                       keep_states=self.return_last_state and lengths is not None,
                                       keep_outputs=not last_only)
    if last_only:
        outputs = outputs[-1]
    elif self.return_last_output:
        outputs = _at_lengths(outputs, lengths - 1)
    elif self.return_seq_2d:
        outputs = tf.reshape(tf.stack(outputs, axis=1), [-1, self.cell.units])
    else:
        outputs = tf.stack(outputs, axis=1)
    if not self.return_last_state:
        return outputs
    if lengths is not None:
        states = [_at_lengths([s[k] for s in stored], lengths - 1) for k in range(len(states))]
    return outputs, states


@tf.autograph.experimental.do_not_convert
def _birnn_forward(self, inputs, fw_initial_state=None, bw_initial_state=None, **kwargs):
    _update_attrs(self, kwargs)
    fw_states = zero_state(self.fw_cell, inputs) if fw_initial_state is None else _as_list(fw_initial_state)
    bw_states = zero_state(self.bw_cell, inputs) if bw_initial_state is None else _as_list(bw_initial_state)
    fw_outputs, fw_states, _ = run_cell(self.fw_cell, inputs, fw_states, self.is_train)
    bw_outputs, bw_states, _ = run_cell(self.bw_cell, inputs, bw_states, self.is_train, reverse=True)
    fw_outputs, bw_outputs = tf.stack(fw_outputs, axis=1), tf.stack(bw_outputs, axis=1)
    if self.return_seq_2d:
        fw_outputs = tf.reshape(fw_outputs, [-1, self.fw_cell.units])
        bw_outputs = tf.reshape(bw_outputs, [-1, self.bw_cell.units])
    outputs = tf.concat([fw_outputs, bw_outputs], -1)
    if self.return_last_state:
        return outputs, fw_states, bw_states
    return outputs


@tf.autograph.experimental.do_not_convert
def _encoder_forward(self, src_seq, initial_state=None):
    states = zero_state(self.cell, src_seq) if initial_state is None else _as_list(initial_state)
    outputs, states, stored = run_cell(self.cell, src_seq, states, self.is_train, keep_states=True,
                                       keep_outputs=False)
    return outputs[-1], [s[0] for s in stored], states[0]


def normalise_method(method):
    """The Luong score method as the interned literal TensorLayer compares with ``is``.

    Parameters
    ----------
    method : str
        ``'dot'``, ``'general'`` or ``'concat'`` (any string equal to one of them).

    Returns
    -------
    str

    Examples
    --------
    >>> normalise_method('DOT'.lower())
    'dot'
    """
    if not isinstance(method, str) or method not in LUONG_METHODS:
        raise ValueError("method: expected one of %s, got %r" % (", ".join(repr(m) for m in LUONG_METHODS), method))
    return sys.intern(method)


def _attention_init(original):
    def __init__(self, hidden_size, embedding_layer, cell, method, name=None):
        import tensorlayer as tl
        from tensorlayer.models import seq2seq_with_attention as att

        method = normalise_method(method)
        tl.models.Model.__init__(self, name=name)
        self.enc_layer = att.Encoder(hidden_size, cell, embedding_layer)
        self.dec_layer = att.Decoder_Attention(hidden_size, cell, embedding_layer, method=method)
        self.embedding_layer = embedding_layer
        self.dense_layer = tl.layers.Dense(n_units=embedding_layer.vocabulary_size, in_channels=hidden_size)
        self.method = method

    __init__.__doc__ = original.__doc__
    return __init__


def _score(original):
    # TensorLayer's own score, kept out of AutoGraph: its ``method is "dot"`` comparisons made
    # every trace print three SyntaxWarnings from the converted copy.
    @tf.autograph.experimental.do_not_convert
    def score(self, encoding_hidden, hidden, method):
        return original(self, encoding_hidden, hidden, method)

    return score


def _decoder_init(original):
    def __init__(self, hidden_size, cell, embedding_layer, method, name=None):
        original(self, hidden_size, cell, embedding_layer, normalise_method(method), name=name)

    __init__.__doc__ = original.__doc__
    return __init__


@tf.autograph.experimental.do_not_convert
def _attention_inference(self, src_seq, encoding_hidden_states, last_hidden_states, seq_length, sos):
    dec_input = self.embedding_layer(start_ids(src_seq, sos))
    outputs = []
    for _ in range(seq_length):
        dec_output, last_hidden_states = self.dec_layer(dec_input, encoding_hidden_states, last_hidden_states,
                                                        method=self.method, return_last_state=True)
        logits = self.dense_layer(tf.reshape(dec_output, [-1, dec_output.shape[-1]]))
        ids = tf.expand_dims(tf.argmax(logits, -1), 1)
        outputs.append(ids)
        dec_input = self.embedding_layer(ids)
    return tf.concat(outputs, 1)


@tf.autograph.experimental.do_not_convert
def _attention_forward(self, inputs, seq_length=20, sos=None):
    src = self.embedding_layer(inputs[0])
    _, encoding_hidden_states, last_hidden_states = self.enc_layer(src)
    encoding_hidden_states = tf.stack(encoding_hidden_states, axis=1)  # (N, T_src, H)
    if not self.is_train:
        return self.inference(src, encoding_hidden_states, last_hidden_states, seq_length, sos)
    dec_output = self.dec_layer(self.embedding_layer(inputs[1]), encoding_hidden_states, last_hidden_states,
                                method=self.method)
    logits = self.dense_layer(tf.reshape(dec_output, [-1, dec_output.shape[-1]]))
    return tf.reshape(logits, tf.concat([tf.shape(dec_output)[:2], tf.shape(logits)[-1:]], 0))


def start_ids(src, sos, argument="sos"):
    """``(N, 1)`` int64 start tokens for the batch of ``src`` (static shape ``(N or None, 1)``).

    Parameters
    ----------
    src : tf.Tensor, shape (N, ...)
    sos : int
        The start-of-sequence id.
    argument : str
        The caller's name for ``sos`` (in the error message).

    Returns
    -------
    tf.Tensor, shape (N, 1), int64

    Examples
    --------
    >>> start_ids(tf.zeros((2, 5)), 1).numpy().tolist()
    [[1], [1]]
    """
    if sos is None or isinstance(sos, bool) or not isinstance(sos, (int, np.integer)):
        raise TypeError("%s: expected the integer id of the start-of-sequence token, got %r" % (argument, sos))
    return tf.fill(tf.shape(src)[:1], tf.constant(int(sos), tf.int64))[:, None]


def _seq2seq_inference(original):
    @tf.autograph.experimental.do_not_convert
    def inference(self, encoding, seq_length, start_token, top_n):
        if top_n is not None:
            return original(self, encoding, seq_length, start_token, top_n)
        src = encoding[0]
        feed = self.embedding_layer(src)
        state = [None] * self.n_layer
        for i in range(self.n_layer):
            feed, state[i] = self.enc_layers[i](feed, return_state=True)
        ids = start_ids(src, start_token, "start_token")
        outputs = []
        for _ in range(seq_length):
            feed = self.embedding_layer(ids)
            for i in range(self.n_layer):
                feed, state[i] = self.dec_layers[i](feed, initial_state=state[i], return_state=True)
            feed = self.dense_layer(self.reshape_layer(feed))
            ids = tf.argmax(self.reshape_layer_individual_sequence(feed), -1)
            outputs.append(ids)
        return tf.concat(outputs, 1), state

    inference.__doc__ = original.__doc__
    return inference


def _patches(tl):
    """``[(patch name, class, attribute, replacement)]``."""
    import tensorlayer.models.seq2seq as s2s
    import tensorlayer.models.seq2seq_with_attention as att

    return [
        ("rnn_keras3_cells", tl.layers.RNN, "forward", _rnn_forward),
        ("birnn_keras3_cells", tl.layers.BiRNN, "forward", _birnn_forward),
        ("seq2seq_attention_keras3", att.Encoder, "forward", _encoder_forward),
        ("seq2seq_attention_keras3", att.Seq2seqLuongAttention, "__init__",
         _attention_init(att.Seq2seqLuongAttention.__init__)),
        ("seq2seq_attention_keras3", att.Decoder_Attention, "__init__", _decoder_init(att.Decoder_Attention.__init__)),
        ("seq2seq_attention_keras3", att.Seq2seqLuongAttention, "inference", _attention_inference),
        ("seq2seq_attention_keras3", att.Seq2seqLuongAttention, "forward", _attention_forward),
        ("seq2seq_attention_keras3", att.Decoder_Attention, "score", _score(att.Decoder_Attention.score)),
        ("seq2seq_greedy_graph", s2s.Seq2seq, "inference", _seq2seq_inference(s2s.Seq2seq.inference)),
    ]


def _keras_major():
    import keras

    return int(keras.__version__.split(".")[0])


def apply_recurrent_patches(tl):
    """Install the patches listed in the module docstring (on Keras >= 3 only).

    Only TensorLayer's own attribute is replaced: one already replaced (by this
    module or by the user) is left alone.

    Parameters
    ----------
    tl : module
        ``tensorlayer``.

    Returns
    -------
    list of str
        Names of the patches installed by this call.

    Examples
    --------
    >>> import tensorlayer as tl
    >>> apply_recurrent_patches(tl)   # already applied on import: nothing new
    []
    """
    if _keras_major() < 3:
        return []
    from .layers import install

    installed = []
    for name, cls, attr, fn in _patches(tl):
        if install(cls, attr, fn, name) and name not in installed:
            installed.append(name)
    return installed
