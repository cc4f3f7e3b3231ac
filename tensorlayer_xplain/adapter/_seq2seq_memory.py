"""Byte budgets of an encoder-decoder: the bytes one source sequence occupies in each kind of call.

A seq2seq call holds, per source sequence, far more than its ids: the encoder's
and decoder's states at every step, the logits ``(T_out, V)`` and, for the
per-position gradients, everything the persistent tape keeps. The activations
are *measured* once per (source length, output length) from a one-row trace of
the teacher-forced pass (:func:`row_activation_bytes`), and each call is sized
from them (:func:`call_bytes`)::

    I   = 4 (T_src + T_out) + 4 T_src D             ids and source embeddings in
    A   = measured activations of one row             (the one-row trace)
    P   = 4 T_out T_src D                             per-position gradients (T_out, T_src, D)

    forward   (teacher_forced, alignments,
               source_embedding_scores, greedy)  F = I + A
    gradient  (source_gradients)                 G = I + BACKWARD_FACTOR * A + 2 P
    path      (source_gradients on a path, IG)   G + 4 T_src D + P

``A`` sums every float tensor of the one-row trace that depends on the inputs
(weights read from variables are per call, not per row), not counting ops that
return a view (``Reshape``, ``Identity``...); a ``while`` loop inside the model
(a Keras RNN) is counted ``max(T_src, T_out)`` times. A forward pass frees most
of these as it goes: ``F`` errs on the safe side. The gradient step keeps every
activation on its persistent tape until the last position's backward pass and
each backward pass allocates at most as much again (``BACKWARD_FACTOR``, as for
images); the ``T_out`` gradients ``(T_src, D)`` and their stack are ``2 P``. The
integrated-gradients path runs its points one after the other inside the step
(``parallel_iterations=1``), adding the baseline, the difference and the
running sum. Measured on a 256-unit Luong model (30 ids -> 10 positions, see
``benchmarks/bench_seq2seq.py``) the peak RSS per sequence stays below these
estimates.
"""
import numpy as np
import tensorflow as tf

from ._compile import TRACE_ERRORS
from ._memory import BACKWARD_FACTOR, CALLABLE_ACTIVATION_FACTOR

__all__ = ["row_activation_bytes", "call_bytes", "CALL_KINDS", "VIEW_OPS"]

#: The kinds of batched calls a :class:`~tensorlayer_xplain.adapter.Seq2seqAdapter` sizes.
CALL_KINDS = ("forward", "gradient", "path")
#: Ops whose output is a view of their input (no new buffer): not counted.
VIEW_OPS = frozenset({"Identity", "IdentityN", "Reshape", "ExpandDims", "Squeeze", "Snapshot", "StopGradient"})
#: Function-valued attributes of the ops that call a function graph (loop bodies are counted per iteration).
_FUNCTION_ATTRS = {"While": ("body",), "StatelessWhile": ("body",), "PartitionedCall": ("f",),
                   "StatefulPartitionedCall": ("f",), "If": ("then_branch", "else_branch"),
                   "StatelessIf": ("then_branch", "else_branch")}


def _dependent_bytes(graph, row_inputs, trips):
    """Bytes of the float tensors of ``graph`` that depend on ``row_inputs`` (recursing into called functions)."""
    dependent = {t.ref() for t in row_inputs}
    total = 0
    for op in graph.get_operations():
        flags = [t.ref() in dependent for t in op.inputs]
        if not any(flags):
            continue  # constants, variable reads and what is computed from them alone: per call, not per row
        for t in op.outputs:
            dependent.add(t.ref())
            if op.type not in VIEW_OPS and t.dtype.is_floating and t.shape.is_fully_defined():
                total += t.dtype.size * int(np.prod(t.shape.as_list()))
        called = 0
        for attr in _FUNCTION_ATTRS.get(op.type, ()):
            sub = graph._get_function(op.get_attr(attr).name)
            if sub is None:
                continue
            offset = 1 if attr.endswith("branch") else 0  # an If's first input is its condition
            inner = [t for t, flag in zip(sub.graph.inputs, flags[offset:]) if flag]
            called = max(called, _dependent_bytes(sub.graph, inner, trips) * (trips if attr == "body" else 1))
        total += called
    return total


def row_activation_bytes(adapter, t_src, t_out):
    """``(A, V)``: measured activation bytes of one row of the teacher-forced pass, and the logits' width.

    The pass is traced once for one row at these lengths, with the source
    embeddings swapped in as the gradient methods run it. A model that cannot be
    traced is called eagerly on one row instead and its activations taken as
    ``CALLABLE_ACTIVATION_FACTOR`` times its inputs and logits.

    Examples
    --------
    >>> a, v = row_activation_bytes(tlxp.Seq2seqAdapter(luong), 7, 5)
    >>> v, a > 4 * 5 * v                                # the logits (5, 9) are part of it
    (9, True)
    """
    from ._tokens import replaced_embeddings

    dim = adapter.embedding_dim

    def forward(s, d, e):
        with replaced_embeddings(adapter.embedding, e, adapter._forward_attr(), only=s):
            return adapter.teacher_forced_call(s, d)

    specs = (tf.TensorSpec((1, t_src), tf.int32), tf.TensorSpec((1, t_out), tf.int32),
             tf.TensorSpec((1, t_src, dim), tf.float32))
    with adapter.inference_mode():
        try:
            graph = tf.function(forward).get_concrete_function(*specs).graph
        except TRACE_ERRORS:
            zeros = [tf.zeros(spec.shape, spec.dtype) for spec in specs]
            width = int(forward(*zeros).shape[-1])
            return CALLABLE_ACTIVATION_FACTOR * 4 * (t_src * (1 + dim) + t_out * (1 + width)), width
    width = int(graph.outputs[0].shape[-1])
    return _dependent_bytes(graph, graph.inputs[:3], max(t_src, t_out)), width


def call_bytes(kind, activations, t_src, t_out, dim):
    """Estimated bytes of one source sequence in a call of ``kind`` (see the module's formulas).

    Parameters
    ----------
    kind : {'forward', 'gradient', 'path'}
    activations : int
        ``A``, from :func:`row_activation_bytes`.
    t_src, t_out, dim : int
        Source length, output length, embedding width.

    Examples
    --------
    >>> call_bytes('forward', 1000, 7, 5, 4)
    1160
    >>> call_bytes('gradient', 1000, 7, 5, 4)
    3280
    """
    if kind not in CALL_KINDS:
        raise ValueError("kind: expected one of %s, got %r" % (CALL_KINDS, kind))
    inputs = 4 * (t_src + t_out) + 4 * t_src * dim
    positions = 4 * t_out * t_src * dim
    if kind == "forward":
        return inputs + activations
    gradient = inputs + BACKWARD_FACTOR * activations + 2 * positions
    return gradient if kind == "gradient" else gradient + 4 * t_src * dim + positions
