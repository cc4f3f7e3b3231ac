"""The HTTP service on an encoder-decoder: source ids in, ``(N, T_out, T_src)`` attributions out.

A request's ``inputs`` are source token ids (one sequence ``[...]`` or a batch
``[[...], ...]``). Without more, the model's greedy decoding from the explainer's
``sos`` (``ModelExplainer(model, sos=..., seq_length=...)``) is explained; ``params``
may carry ``decoder_inputs`` (teacher forcing, ``(N, T_out)`` ids), ``sos`` and
``seq_length`` next to the method's own parameters, and ``targets`` may be the
token ids to explain ``(N, T_out)``. The response holds the attributions, the source
``tokens``, the ``decoder_inputs`` and the explained ``targets``, the teacher-forced
argmax ``predicted``, the ``decoder_attributions`` ``(N, T_out, T_out)`` of the methods
that give them (gradient, gradient_x_input, occlusion) and, for a greedy decoding, its
``outputs`` (and the words of each through the explainer's vocabulary).

With a vocabulary (``ModelExplainer(model, vocab=...)``) a request may send ``text``
(one source sentence or a list) instead of ``inputs``, ``params.decoder_inputs`` and
``targets`` as text too: whitespace-split words, lower-cased, mapped through the
vocabulary as for a token model (an unknown word is the vocabulary's ``<unk>`` when it
has one, else a 422 naming the field), padded with the pad id to the longest text.
Sources are at most :data:`MAX_SOURCE_TOKENS` tokens, decodings (``seq_length``,
``decoder_inputs``, ``targets``) at most :data:`MAX_OUTPUT_TOKENS`.
"""
import numbers

import numpy as np

from .errors import RequestError

__all__ = ["split_options", "respond", "predict", "declared_rows", "is_text", "check_cost", "output_length",
           "MAX_SOURCE_TOKENS", "MAX_OUTPUT_TOKENS"]

#: Request ``params`` keys that configure the decoding rather than the method.
OPTIONS = ("decoder_inputs", "sos", "seq_length")
_MAX_OPTION_VALUES = 1 << 20
#: Longest source sequence a request may send (ids or words): each length is one more compiled step.
MAX_SOURCE_TOKENS = 512
#: Longest decoding a request may ask for (``seq_length``, ``decoder_inputs``, ``targets``).
MAX_OUTPUT_TOKENS = 256


def is_text(value):
    """True for a string or a non-empty list of strings (a text field rather than token ids)."""
    return isinstance(value, str) or (isinstance(value, list) and bool(value) and all(isinstance(v, str)
                                                                                       for v in value))


def _check_seq_length(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_OUTPUT_TOKENS:
        raise RequestError(422, "params.seq_length: expected an int between 1 and %d (tokens to decode), got %.60r"
                           % (MAX_OUTPUT_TOKENS, value))
    return int(value)


def split_options(params, text_ids=None):
    """``(method params, decoding options)`` of a request's ``params`` (``decoder_inputs`` as int32 ids).

    ``text_ids(texts, field, max_length)`` encodes a ``decoder_inputs`` given as text.
    """
    method_params = {k: v for k, v in params.items() if k not in OPTIONS}
    options = {k: params[k] for k in OPTIONS if k in params and params[k] is not None}
    if "seq_length" in options:
        options["seq_length"] = _check_seq_length(options["seq_length"])
    if "decoder_inputs" in options:
        value = options["decoder_inputs"]
        if is_text(value) and text_ids is not None:
            options["decoder_inputs"] = text_ids([value] if isinstance(value, str) else value,
                                                 "params.decoder_inputs", MAX_OUTPUT_TOKENS)
            return method_params, options
        if not isinstance(value, list):
            raise RequestError(422, "params.decoder_inputs: expected a (nested) list of token ids (or text with a "
                                    "vocabulary), got %.60r" % (value,))
        try:
            arr = np.asarray(value)
        except (ValueError, RecursionError) as err:
            raise RequestError(422, "params.decoder_inputs: expected a rectangular list of token ids (%s)"
                               % type(err).__name__) from None
        if arr.size > _MAX_OPTION_VALUES:
            raise RequestError(413, "params.decoder_inputs: expected at most %d ids, got %d"
                               % (_MAX_OPTION_VALUES, arr.size))
        if arr.dtype.kind not in "iu":
            raise RequestError(422, "params.decoder_inputs: expected integer token ids, got %s values" % arr.dtype)
        if arr.ndim and arr.shape[-1] > MAX_OUTPUT_TOKENS:
            raise RequestError(422, "params.decoder_inputs: expected at most %d tokens per sequence, got %d"
                               % (MAX_OUTPUT_TOKENS, arr.shape[-1]))
        options["decoder_inputs"] = arr
    return method_params, options


def output_length(adapter, options):
    """``T_out`` of a request: its ``decoder_inputs``' width, its ``seq_length``, else the adapter's (None: unknown)."""
    dec = options.get("decoder_inputs")
    if dec is not None and np.ndim(dec):
        return int(np.shape(dec)[-1])
    return options.get("seq_length") or adapter.seq_length or adapter.fixed_output_length


def check_cost(explainer, name, params, x, options, max_cost):
    """The request's :class:`~tensorlayer_xplain.methods.costs.Cost` with its own source and output lengths.

    ``ValueError`` (422) over the explainer's or the service's budget.
    """
    from ..methods.costs import Cost, check_budget
    from ..methods.registry import _parameters_of
    from ..methods.seq2seq import SEQ2SEQ_SIGNATURES, seq2seq_cost

    full = dict(_parameters_of(SEQ2SEQ_SIGNATURES[name]), **params)
    forward, backward = seq2seq_cost(name, explainer.adapter, len(x), t_src=int(x.shape[1]),
                                     t_out=output_length(explainer.adapter, options),
                                     greedy=options.get("decoder_inputs") is None, **full)
    cost = Cost(name, len(x), int(forward), int(backward), int(forward) + int(backward))
    for limit in (explainer.max_cost, max_cost):
        check_budget(cost, limit, params)
    return cost


def declared_rows(inputs):
    """Source sequences a JSON ``inputs`` declares: 1 for one sequence ``[ids]``, N for ``[[ids], ...]``."""
    return len(inputs) if isinstance(inputs, list) and inputs and isinstance(inputs[0], list) else 1


def _words(ids, vocab):
    from .._utils.token_text import token_labels

    return [token_labels(row, vocab) for row in np.asarray(ids)]


def respond(exp, vocab=None):
    """The response fields of a :class:`~tensorlayer_xplain.Seq2seqExplanation`."""
    out = {"method": exp.method, "family": exp.meta.get("family"), "signed": bool(exp.meta.get("signed")),
           "params": {k: v for k, v in exp.params.items() if isinstance(v, (int, float, str, bool, type(None)))},
           "attributions": np.ascontiguousarray(exp.attributions, np.float32),
           "tokens": np.asarray(exp.inputs).tolist(), "decoder_inputs": np.asarray(exp.decoder_inputs).tolist(),
           "targets": np.asarray(exp.targets).tolist(), "predicted": exp.predicted.tolist(),
           "timings": exp.timings}
    if "outputs" in exp.meta:
        out["outputs"] = np.asarray(exp.meta["outputs"]).tolist()
    if getattr(exp, "decoder_attributions", None) is not None:
        out["decoder_attributions"] = np.ascontiguousarray(exp.decoder_attributions, np.float32)
    if "max_completeness_gap" in exp.meta:
        out["max_completeness_gap"] = float(exp.meta["max_completeness_gap"])
    if vocab is not None:
        out["words"] = _words(exp.inputs, vocab)
        out["decoder_words"] = _words(exp.decoder_inputs, vocab)
        out["target_words"] = _words(exp.targets, vocab)
        if "outputs" in exp.meta:
            out["output_words"] = _words(exp.meta["outputs"], vocab)
    return out


def predict(adapter, x, vocab=None):
    """``/predict`` on an encoder-decoder: the greedy decoding of ``x`` from the adapter's ``sos``."""
    if adapter.sos is None or (adapter.seq_length is None and adapter.fixed_output_length is None):
        raise RequestError(422, "inputs: /predict on an encoder-decoder decodes greedily; serve it with "
                                "ModelExplainer(model, sos=..., seq_length=...)")
    outputs = adapter.greedy_decode(x, adapter.sos, adapter.seq_length or adapter.fixed_output_length)
    out = {"outputs": outputs.tolist(), "tokens": np.asarray(x).tolist()}
    if vocab is not None:
        out["words"] = _words(x, vocab)
        out["output_words"] = _words(outputs, vocab)
    return out
