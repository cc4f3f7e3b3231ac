"""Explaining encoder-decoder (seq2seq) models position by position.

``explain(model, src_ids, method, decoder_inputs=None, targets=None, sos=None, seq_length=None)``
explains every output position of a seq2seq model over its *source* tokens:

* the logits are the teacher-forced ones, ``model([src, decoder_inputs])``, exactly as
  TensorLayer's training mode takes them (no dropout: every layer stays in eval mode);
* without ``decoder_inputs`` the model's own greedy decoding is explained: it is
  decoded from ``sos`` for ``seq_length`` steps and fed back shifted by one
  (``[sos, y_0, ..., y_{T-2}]``), so the explained token at each position is the one
  the model produced;
* position ``t`` is explained for ``targets[:, t]`` (default: the argmax of the
  teacher-forced logits at ``t``), and the attributions are ``(N, T_out, T_src)``.

Methods (names and aliases as in the registry):

``gradient``, ``gradient_x_input``, ``integrated_gradients``
    In embedding space, as Captum's ``LayerIntegratedGradients``: gradients of the
    position's score with respect to the output of the embedding layer for the
    source ids (the decoder's own lookups are untouched), summed over the embedding
    dimension; integrated gradients run from the embeddings of ``baseline_token``
    (default the pad id) with the trapezoid rule, and
    ``meta['completeness_gap']`` is ``|sum attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)|``
    per position.
``occlusion``
    ``f(x)[t] - f(x with source token j replaced by mask_token)[t]`` for every source
    token ``j`` (every output position from the same masked passes).
``attention``
    The Luong alignment (``Seq2seqLuongAttention``): the softmax over source
    positions that the decoder computes at each step, recorded from
    ``Decoder_Attention.score``; rows sum to 1; class-agnostic.

Source padding (``pad_id``, default 0) gets zero attribution and is never perturbed.

Where a method can say it, the decoder inputs get attributions too,
``exp.decoder_attributions`` ``(N, T_out, T_out)`` (row ``t``: what position ``t`` owes
each teacher-forcing input; zero above the diagonal in a causal decoder): ``gradient``
and ``gradient_x_input`` from the same backward passes (when the decoder inputs go
through the source's embedding layer, as in both zoo models), ``occlusion`` by
replacing each decoder input with ``mask_token`` in the same batched run. Integrated
gradients keeps its path on the source (its completeness is stated there) and the
Luong alignment reads the source only.

The id checks and the embedding swap are the token models' own
(:mod:`tensorlayer_xplain.adapter._tokens`): the swap replaces only the lookup of the
source ids, since a zoo model's embedding layer also embeds the decoder inputs.
"""
import inspect
import time

import numpy as np

from ..adapter._reuse import seq2seq_adapter
from ..adapter._seq2seq import is_seq2seq_model
from ..explanation import Explanation
from .integrated_gradients import _completeness, trapezoid_alphas
from .registry import method_info

__all__ = ["explain_seq2seq", "Seq2seqExplanation", "SEQ2SEQ_METHODS", "SEQ2SEQ_PARAMETERS", "SEQ2SEQ_SIGNATURES",
           "seq2seq_skip_reason", "seq2seq_cost", "is_seq2seq_model"]

#: Methods that explain a seq2seq model (registry names).
SEQ2SEQ_METHODS = ("gradient", "gradient_x_input", "integrated_gradients", "occlusion", "attention")

#: Keyword arguments that route :func:`tensorlayer_xplain.explain` to :func:`explain_seq2seq`.
SEQ2SEQ_PARAMETERS = ("decoder_inputs", "sos", "seq_length")

_MAX_STEPS = 1024


# The parameters each method takes on a seq2seq model, declared once as signatures (what
# ModelExplainer's config, the service and the cost estimate check against); explain_seq2seq runs them.
def _gradient(adapter, inputs, targets, batch_size=None):
    """Per source token: the gradient of each output position's score, summed over the embedding."""


def _gradient_x_input(adapter, inputs, targets, batch_size=None):
    """Per source token: gradient times embedding, summed over the embedding dimension."""


def _integrated_gradients(adapter, inputs, targets, steps=64, baseline_token=None, batch_size=None):
    """Integrated gradients in embedding space from the ``baseline_token`` embeddings (default: the pad id)."""


def _occlusion(adapter, inputs, targets, mask_token=None, batch_size=None):
    """``f(x)[t] - f(x with source token j replaced by mask_token)[t]``."""


def _attention(adapter, inputs, targets, batch_size=None):
    """The Luong alignment recorded from ``Decoder_Attention.score``."""


#: name -> a function whose signature declares the method's parameters on a seq2seq model.
SEQ2SEQ_SIGNATURES = {"gradient": _gradient, "gradient_x_input": _gradient_x_input,
                      "integrated_gradients": _integrated_gradients, "occlusion": _occlusion,
                      "attention": _attention}
_METHOD_PARAMETERS = {name: tuple(p for p in inspect.signature(fn).parameters
                                  if p not in ("adapter", "inputs", "targets", "batch_size"))
                      for name, fn in SEQ2SEQ_SIGNATURES.items()}


def seq2seq_skip_reason(adapter, name):
    """Why the registered method ``name`` cannot explain the encoder-decoder behind ``adapter``, or None.

    Examples
    --------
    >>> seq2seq_skip_reason(tlxp.as_adapter(luong), 'gradcam')
    "'gradcam' does not apply to an encoder-decoder (it needs images, spatial layers or one output per input); ..."
    """
    if name not in SEQ2SEQ_METHODS:
        return ("%r does not apply to an encoder-decoder (it needs images, spatial layers or one output per "
                "input); seq2seq models take %s" % (name, ", ".join(SEQ2SEQ_METHODS)))
    if name == "attention" and not adapter.attention_layers:
        return ("no Luong attention decoder (Decoder_Attention, as in tl.models.Seq2seqLuongAttention) to read "
                "alignments from")
    return None


def seq2seq_cost(name, adapter, n, steps=64, t_src=None, t_out=None, greedy=None, **_):
    """``(forward, backward)`` rows through the model for ``n`` source sequences (teacher-forced passes).

    One row is one source sequence with all its output positions; the per-position
    gradient methods take one row per output position (``T_out``: ``t_out`` when the
    caller knows it, else the last one seen, else the adapter's ``seq_length`` or output
    length; 1 when unknown) and occlusion one per source token (``T_src``: ``t_src``,
    else the last length seen, else 1). ``greedy``: whether a greedy decoding runs first
    (None: when the adapter has a ``sos`` or ``seq_length``).
    """
    last_src, last_out = adapter._lengths or (1, None)
    t_src = t_src or last_src
    t_out = t_out or last_out or adapter.seq_length or adapter.fixed_output_length or 1
    if greedy is None:
        greedy = adapter.sos is not None or adapter.seq_length is not None
    decode = n * t_out if greedy else 0  # greedy decoding
    if name in ("gradient", "gradient_x_input"):
        return decode + n * t_out, n * t_out
    if name == "integrated_gradients":
        return decode + n * t_out * (int(steps) + 1), n * t_out * (int(steps) + 1)
    if name == "occlusion":
        return decode + n * (int(t_src) + 1), 0
    return decode + n, 0


class Seq2seqExplanation(Explanation):
    """An :class:`Explanation` of a seq2seq model: one map over the source per output position.

    Behaves like the array of its attributions ``(N, T_out, T_src)``; ``heatmap()``
    returns them as ``(N, T_out, T_src)`` images (output positions as rows).

    Parameters
    ----------
    method : str
    attributions : ndarray, shape (N, T_out, T_src)
    inputs : ndarray, int, shape (N, T_src)
        The source ids.
    decoder_inputs : ndarray, int, shape (N, T_out)
        The teacher-forcing ids the logits were computed with.
    targets : ndarray, int, shape (N, T_out)
        The explained token at each output position.
    predictions : ndarray, shape (N, T_out, V)
        Teacher-forced logits (or probabilities).
    params, timings, meta : dict, optional
    decoder_attributions : ndarray, shape (N, T_out, T_out), optional
        Attributions to the decoder inputs (teacher-forcing ids): row ``t`` over the
        decoder inputs that position ``t`` read. ``gradient``, ``gradient_x_input``
        (the same backward passes, when the decoder's lookup goes through the source's
        embedding layer, as in the zoo models) and ``occlusion`` (each decoder input
        replaced by ``mask_token``) give them; None for the other methods.

    Examples
    --------
    >>> exp = Seq2seqExplanation('occlusion', np.zeros((1, 2, 3)), np.ones((1, 3), int), np.ones((1, 2), int),
    ...                          np.zeros((1, 2), int), np.zeros((1, 2, 5)))
    >>> exp.shape, exp.heatmap().shape
    ((1, 2, 3), (1, 2, 3))
    """

    def __init__(self, method, attributions, inputs, decoder_inputs, targets, predictions, params=None,
                 timings=None, meta=None, decoder_attributions=None):
        attributions = np.asarray(attributions)
        inputs = np.asarray(inputs)
        if attributions.ndim != 3 or attributions.shape[0] != inputs.shape[0] or \
                attributions.shape[2] != inputs.shape[1]:
            raise ValueError("attributions: expected (N, T_out, T_src) = (%d, T_out, %d), got %s"
                             % (inputs.shape[0], inputs.shape[1], attributions.shape))
        self.method = str(method)
        self.attributions = attributions
        self.inputs = inputs
        self.decoder_inputs = np.asarray(decoder_inputs)
        self.targets = np.asarray(targets)
        self.predictions = np.asarray(predictions)
        self.image_shape = (attributions.shape[1], attributions.shape[2], 1)
        self.params = dict(params or {})
        self.timings = dict(timings or {})
        self.meta = dict(meta or {})
        self.decoder_attributions = None if decoder_attributions is None else np.asarray(decoder_attributions)

    @property
    def predicted(self):
        """Predicted token per output position, ``(N, T_out)``."""
        return np.argmax(self.predictions, axis=-1)

    def images(self):
        """The source ids as one row each, ``(N, 1, T_src, 1)``."""
        return self.inputs.reshape(len(self), 1, -1, 1)

    _saved_arrays = ("attributions", "inputs", "decoder_inputs", "targets", "predictions", "decoder_attributions")

    @classmethod
    def _from_saved(cls, header, fields, groups):
        return cls(header["method"], fields["attributions"], fields["inputs"], fields["decoder_inputs"],
                   fields["targets"], fields["predictions"], params=groups["params"], timings=header["timings"],
                   meta=groups["meta"], decoder_attributions=fields["decoder_attributions"])

    def __repr__(self):
        return "Seq2seqExplanation(method=%r, n=%d, T_out=%d, T_src=%d)" % (
            self.method, len(self), self.attributions.shape[1], self.attributions.shape[2])


def _resolve_method(method):
    name = method_info(method).name
    if name not in SEQ2SEQ_METHODS:
        raise ValueError("method: seq2seq models are explained with %s; got %r"
                         % (", ".join(repr(m) for m in SEQ2SEQ_METHODS), method))
    return name


def _check_params(name, params):
    allowed = _METHOD_PARAMETERS[name]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TypeError("%s: unexpected parameter(s) %s for a seq2seq model; allowed: %s"
                        % (name, ", ".join(unknown), ", ".join(allowed) or "none"))


def _targets(adapter, targets, logits):
    n, t_out, vocab = logits.shape
    if targets is None:
        return np.argmax(logits, -1).astype(np.int32)
    arr = np.asarray(targets)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError("targets: expected integer token ids (N, T_out), got dtype %s" % arr.dtype)
    if arr.shape != (n, t_out):
        raise ValueError("targets: expected token ids of shape (%d, %d) (one per output position), got %s"
                         % (n, t_out, arr.shape))
    if arr.min() < 0 or arr.max() >= vocab:
        raise ValueError("targets: expected token ids in [0, %d), got %s" % (vocab, [int(arr.min()), int(arr.max())]))
    return arr.astype(np.int32)


def _gradient_family(adapter, name, src, dec, targets, batch_size, steps=64, baseline_token=None):
    n, t_out = targets.shape
    emb = adapter.embed(src)
    meta = {}
    if name in ("gradient", "gradient_x_input"):
        if not adapter.decoder_shares_the_embedding(src, dec):
            grads, _ = adapter.source_gradients(src, dec, emb, targets, batch_size)  # (N, T_out, T_src, D)
            return (grads if name == "gradient" else grads * emb[:, None]).sum(-1), meta
        dec_emb = adapter.embed(dec)
        grads, _, dec_grads = adapter.source_gradients(src, dec, emb, targets, batch_size, dec_emb=dec_emb)
        if name == "gradient_x_input":
            grads, dec_grads = grads * emb[:, None], dec_grads * dec_emb[:, None]
        meta["decoder_attributions"] = dec_grads.sum(-1)  # (N, T_out, T_out): the same backward passes
        return grads.sum(-1), meta
    steps = int(steps)
    if not 1 <= steps <= _MAX_STEPS:
        raise ValueError("steps: expected an int in [1, %d], got %d" % (_MAX_STEPS, steps))
    base_id = adapter.pad_id if baseline_token is None else adapter.check_token("baseline_token", baseline_token)
    if base_id is None:
        raise ValueError("baseline_token: the adapter has no pad id; give baseline_token=")
    base = adapter.embed(np.full(src.shape, base_id, np.int32))
    alphas, weights = trapezoid_alphas(steps)
    total, ends = adapter.source_gradients(src, dec, emb, targets, batch_size, alphas=alphas, weights=weights,
                                           base=base)  # the path runs inside one compiled step
    ends = {0.0: ends[..., 0].reshape(-1), 1.0: ends[..., 1].reshape(-1)}
    attributions = (total * (emb - base)[:, None]).sum(-1)  # (N, T_out, T_src)
    gap, _, _ = _completeness(attributions.reshape(n * t_out, -1), ends[1.0], ends[0.0])
    meta.update({"completeness_gap": gap.reshape(n, t_out).astype(np.float32),
                 "max_completeness_gap": float(gap.max()),
                 "baseline_scores": ends[0.0].reshape(n, t_out).astype(np.float32),
                 "baseline_token": int(base_id), "steps": steps})
    return attributions, meta


def _occlusion(adapter, src, dec, targets, logits, batch_size, mask_token=None):
    mask_id = adapter.pad_id if mask_token is None else adapter.check_token("mask_token", mask_token)
    if mask_id is None:
        raise ValueError("mask_token: the adapter has no pad id; give mask_token=")
    n, t_src = src.shape
    t_out = targets.shape[1]
    pad = adapter.padding(src)
    which = [(i, j) for i in range(n) for j in range(t_src) if not pad[i, j]]
    attributions = np.zeros((n, t_out, t_src), np.float32)
    rows = np.array([i for i, _ in which], np.int64)
    cols = np.array([j for _, j in which], np.int64)
    masked = src[rows].copy()
    masked[np.arange(len(rows)), cols] = mask_id
    base = np.take_along_axis(logits, targets[..., None], -1)[..., 0]  # (N, T_out)
    # the decoder inputs too: decoder input j (not padding) replaced by mask_token, every position's change
    dec_pad = adapter.padding(dec)
    dec_which = [(i, j) for i in range(n) for j in range(t_out) if not dec_pad[i, j]]
    dec_rows = np.array([i for i, _ in dec_which], np.int64)
    dec_cols = np.array([j for _, j in dec_which], np.int64)
    masked_dec = dec[dec_rows].copy()
    masked_dec[np.arange(len(dec_rows)), dec_cols] = mask_id
    all_src = np.concatenate([masked, src[dec_rows]])
    all_dec = np.concatenate([dec[rows], masked_dec])  # one batched run for both sides
    if not len(all_src):
        return attributions, {"mask_token": int(mask_id), "decoder_attributions": np.zeros((n, t_out, t_out))}
    masked_logits = adapter.teacher_forced(all_src, all_dec, batch_size)
    all_targets = np.concatenate([targets[rows], targets[dec_rows]])
    after = np.take_along_axis(masked_logits, all_targets[..., None], -1)[..., 0]  # (R, T_out)
    attributions[rows, :, cols] = base[rows] - after[:len(rows)]
    decoder = np.zeros((n, t_out, t_out), np.float32)
    decoder[dec_rows, :, dec_cols] = base[dec_rows] - after[len(rows):]
    return attributions, {"mask_token": int(mask_id), "decoder_attributions": decoder}


def explain_seq2seq(model, inputs, method="integrated_gradients", decoder_inputs=None, targets=None, sos=None,
                    seq_length=None, *, embedding_layer=None, pad_id=0, output="logits", batch_size=None, **params):
    """Explain every output position of an encoder-decoder model over its source tokens.

    Parameters
    ----------
    model : tl.models.Model or Seq2seqAdapter
        ``tl.models.Seq2seq``, ``tl.models.Seq2seqLuongAttention`` or a TensorLayer model
        whose training call ``model([src, decoder_inputs])`` returns ``(N, T_out, V)`` logits.
    inputs : array-like of int, shape (N, T_src)
        Source token ids.
    method : str
        One of ``SEQ2SEQ_METHODS`` (or a registry alias, e.g. ``'ig'``).
    decoder_inputs : array-like of int, shape (N, T_out), optional
        Teacher-forcing ids, as TensorLayer's training mode takes them. Without
        them the model's greedy decoding is explained (``sos`` required).
    targets : array-like of int, shape (N, T_out), optional
        Token explained at each position (default: the teacher-forced argmax).
    sos : int, optional
        Start-of-sequence id for greedy decoding.
    seq_length : int, optional
        Output length for greedy decoding (default: a ``Seq2seq`` model's
        ``decoder_seq_length``); checked against ``decoder_inputs`` when both are given.
    embedding_layer : str, optional
        Name of the layer that embeds the source ids.
    pad_id : int or None
        Source padding id (zero attribution, never perturbed).
    output : {'logits', 'probabilities'}
    batch_size : int, optional
        Rows (source sequence x output position) per model call (integrated gradients runs its whole path
        inside each call).
    **params
        ``steps`` (default 64, as for images) and ``baseline_token`` for integrated gradients;
        ``mask_token`` for occlusion.

    Returns
    -------
    Seq2seqExplanation
        ``attributions`` ``(N, T_out, T_src)``; ``decoder_inputs``; ``targets``
        ``(N, T_out)``; ``predictions`` the teacher-forced logits ``(N, T_out, V)``;
        ``meta['outputs']`` the greedy decoding (when it was run).

    Examples
    --------
    >>> exp = tlxp.explain(luong, src, 'attention', sos=1, seq_length=6)
    >>> exp.attributions.shape, bool(np.allclose(exp.attributions.sum(-1), 1))
    ((4, 6, 7), True)
    >>> exp = tlxp.explain(luong, src, 'ig', decoder_inputs=dec, steps=64)
    >>> bool(exp.meta['completeness_gap'].max() < 0.01)
    True
    """
    name = _resolve_method(method)
    _check_params(name, params)
    decoder = None
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError("batch_size: expected a positive int, got %r" % (batch_size,))
    adapter = seq2seq_adapter(model, embedding_layer=embedding_layer, pad_id=pad_id, output=output)
    src, _ = adapter.prepare(inputs)
    if decoder_inputs is None:  # the adapter's defaults (e.g. ModelExplainer(model, sos=1, seq_length=10))
        sos = adapter.sos if sos is None else sos
        seq_length = adapter.seq_length if seq_length is None else seq_length
    if seq_length is not None:
        if isinstance(seq_length, bool) or not isinstance(seq_length, (int, np.integer)) or seq_length < 1:
            raise ValueError("seq_length: expected a positive int, got %r" % (seq_length,))
        fixed = adapter.fixed_output_length
        if fixed is not None and seq_length != fixed:
            raise ValueError("seq_length: expected %d (the Seq2seq model's decoder_seq_length), got %d"
                             % (fixed, seq_length))
    start = time.perf_counter()
    meta = {"sos": None if sos is None else adapter.check_token("sos", sos)}
    if decoder_inputs is None:
        if sos is None:
            raise ValueError("sos: required without decoder_inputs (the model's greedy decoding is explained from "
                             "the start-of-sequence id); give sos= or decoder_inputs=")
        length = seq_length or adapter.fixed_output_length
        if length is None:
            raise ValueError("seq_length: required for greedy decoding (how many tokens to decode)")
        decoded = adapter.greedy_decode(src, sos, length, batch_size)
        dec = np.concatenate([np.full((len(src), 1), int(sos), np.int32), decoded[:, :-1]], 1)
        meta["outputs"] = decoded
    else:
        dec = adapter.check_decoder_inputs(decoder_inputs, len(src), seq_length)
    if name == "attention":
        attributions, logits = adapter.alignments(src, dec, batch_size)
        meta.update({"attention_kind": "luong_alignment", "class_agnostic": True,
                     "method": getattr(adapter.attention_layers[0], "method", None)})
        resolved = _targets(adapter, targets, logits)
    else:
        logits = adapter.teacher_forced(src, dec, batch_size)
        resolved = _targets(adapter, targets, logits)
        if name == "occlusion":
            attributions, extra = _occlusion(adapter, src, dec, resolved, logits, batch_size, **params)
        else:
            attributions, extra = _gradient_family(adapter, name, src, dec, resolved, batch_size, **params)
        attributions = np.where(adapter.padding(src)[:, None, :], 0.0, attributions)
        decoder = extra.pop("decoder_attributions", None)
        if decoder is not None:  # padded decoder inputs get nothing either
            decoder = np.where(adapter.padding(dec)[:, None, :], 0.0, decoder).astype(np.float32)
        meta.update(extra)
    if "outputs" in meta:
        # the greedy decoding and the teacher-forced argmax agree (the model's own prefix is fed back)
        meta["decoding_consistent"] = bool((np.argmax(logits, -1) == meta["outputs"]).all())
    total = time.perf_counter() - start
    signed = name != "attention"
    meta.update({"signed": signed, "family": method_info(name).family})
    return Seq2seqExplanation(name, attributions.astype(np.float32), src, dec, resolved, logits,
                              params=dict(params, pad_id=adapter.pad_id),
                              timings={"total": total, "per_sample": total / len(src)}, meta=meta,
                              decoder_attributions=decoder)
