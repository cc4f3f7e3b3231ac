"""What ``GET /methods`` tells a client: the methods that apply to the served model, their parameters and ranges.

Everything is read from the method declarations (``register_method(..., applies=,
ranges=)``, :mod:`tensorlayer_xplain.methods._ranges`) and from the version of each
method that runs on the served model (:func:`~tensorlayer_xplain.methods.tokens.implementation`):
an image model lists the image methods with their image parameters (sizes bounded by
the image), a token model the token versions (``baseline_token``, ``mask_token``,
``window`` in tokens...), an encoder-decoder the seq2seq versions plus the decoding
options (``decoder_inputs``, ``sos``, ``seq_length``). Enabled methods that do not apply
are listed under ``skipped`` with the reason the declarations give.

Examples
--------
>>> from tensorlayer_xplain.serve import ExplainService
>>> service = ExplainService(tlxp.ModelExplainer(fasttext, methods=['occlusion', 'gradcam']))
>>> info = describe_methods(service)
>>> info['model']['kind'], sorted(info['methods']['occlusion']['parameters'])
('tokens', ['batch_size', 'mask_token', 'sequence_length', 'stride', 'window'])
>>> info['methods']['occlusion']['ranges']['mask_token']['description']
'a token id in [0, 30)'
>>> info['skipped']['gradcam']
"'gradcam' does not apply to token ids (it needs images, spatial layers or float inputs); ..."
>>> service.close()
"""
import dataclasses

from ..methods._ranges import count, image_limit, rule_of
from ..methods.applicability import skip_reason
from ..methods.registry import _parameters_of, method_info
from ..methods.tokens import implementation
from . import seq2seq
from .encode import _jsonable

__all__ = ["model_kind", "applicability", "describe_methods", "parameter_range", "token_range", "seq2seq_options"]


def model_kind(adapter):
    """``'seq2seq'``, ``'tokens'`` or ``'image'``: how the served model reads its inputs."""
    if getattr(adapter, "seq2seq", False):
        return "seq2seq"
    return "tokens" if getattr(adapter, "token_inputs", False) else "image"


def applicability(adapter, methods, config):
    """``(applicable, skipped)``: the enabled ``methods`` that apply to the model, and ``{name: reason}`` for the rest.

    Asks each method's declaration (:func:`~tensorlayer_xplain.methods.applicability.skip_reason`)
    with its configured parameters, once, when the service starts.
    """
    kept, skipped = [], {}
    for name in methods:
        reason = skip_reason(adapter, name, config.get(name))
        if reason is None:
            kept.append(name)
        else:
            skipped[name] = reason
    return kept, skipped


def _number(value):
    return None if value is None or value in (float("inf"), float("-inf")) else value


def parameter_range(rule, image_shape=None):
    """A declared :class:`~tensorlayer_xplain.methods._ranges.Range` as JSON, the image's bound applied."""
    high, limit = rule.high, image_limit(rule.bound, image_shape)
    if limit is not None:
        high = min(high, limit)
    return {"low": _number(rule.low), "high": _number(high), "integer": rule.integer, "low_open": rule.low_open,
            "pairs": rule.pairs, "kind": rule.kind, "description": rule.describe(image_shape)}


def token_range(vocab_size):
    """The range of a token id argument (``baseline_token``, ``mask_token``, ``sos``): the adapter's vocabulary."""
    return {"low": 0, "high": int(vocab_size) - 1, "integer": True, "low_open": False, "pairs": False,
            "kind": "number", "description": "a token id in [0, %d)" % int(vocab_size)}


def _ranges(adapter, spec, parameters, kind):
    """``{parameter: range}`` of the parameters that have one, as checked for this model."""
    # sizes are bounded by the image for image and token models (runner.explain); seq2seq checks them unbounded
    image_shape = None if kind == "seq2seq" else adapter.image_shape
    out = {}
    for key in parameters:
        rule = rule_of(spec.ranges, key)
        if rule is not None:
            if kind == "seq2seq" and rule.bound is not None:
                rule = dataclasses.replace(rule, bound=None)
            out[key] = parameter_range(rule, image_shape)
        elif kind != "image" and key.endswith("_token"):  # token ids: checked against the vocabulary (check_token)
            out[key] = token_range(adapter.vocab_size)
    return out


def describe_method(adapter, name, config=None):
    """``{family, signed, aliases, parameters, ranges, config}`` of one method as it runs on ``adapter``'s model."""
    spec = method_info(name)
    kind = model_kind(adapter)
    fn = implementation(adapter, spec.name) or spec.fn
    parameters = _parameters_of(fn)
    return {"family": spec.family, "signed": spec.signed, "aliases": list(spec.aliases),
            "parameters": {k: _jsonable(v) for k, v in parameters.items()},
            "ranges": _ranges(adapter, spec, parameters, kind),
            "config": {k: _jsonable(v) for k, v in (config or {}).items()}}


def describe_methods(service):
    """The ``GET /methods`` answer of an :class:`~tensorlayer_xplain.serve.ExplainService`.

    Returns
    -------
    dict
        ``default`` (the method a request without one runs), ``methods``
        ``{name: {family, signed, aliases, parameters, ranges, config}}`` (those that
        apply), ``skipped`` ``{name: reason}`` (enabled but not applicable), ``model``
        (``kind``, shapes, whether ``text`` is accepted and its limits) and, for an
        encoder-decoder, ``options`` (the decoding fields of ``params``).
    """
    adapter, explainer = service.adapter, service.explainer
    kind = model_kind(adapter)
    methods = {name: describe_method(adapter, name, explainer.config.get(name, {})) for name in service.applicable}
    shape = adapter.input_shape
    model = {"kind": kind, "input_shape": None if shape is None or kind == "seq2seq" else list(shape),
             "image_shape": None if kind != "image" else list(adapter.image_shape),
             "text": service.text_limits()}
    if kind != "image":
        model["vocab_size"] = int(adapter.vocab_size)
        model["pad_id"] = adapter.pad_id
    out = {"default": service.default_method, "methods": methods, "skipped": dict(service.skipped), "model": model}
    if kind == "seq2seq":
        out["options"] = seq2seq_options(adapter)
    return out


def seq2seq_options(adapter):
    """The decoding fields of a request's ``params`` on this encoder-decoder, for ``GET /methods``."""
    return {"decoder_inputs": {"default": None, "description": "teacher-forcing token ids (N, T_out), or text "
                                                               "with a vocabulary; default: the greedy decoding "
                                                               "from sos, fed back shifted by one",
                               "max_length": seq2seq.MAX_OUTPUT_TOKENS},
            "sos": {"default": adapter.sos, "range": token_range(adapter.vocab_size)},
            "seq_length": {"default": adapter.seq_length or adapter.fixed_output_length,
                           "range": parameter_range(count(seq2seq.MAX_OUTPUT_TOKENS))}}
