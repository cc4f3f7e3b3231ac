"""The ``as_adapter`` cache: one adapter per (model, options), kept on the model itself."""
import threading

from ._model import ModelAdapter

#: Attribute under which :func:`as_adapter` keeps a model's adapters on the model itself.
ADAPTERS_ATTRIBUTE = "_tensorlayer_xplain_adapters"
_ADAPTERS_GUARD = threading.Lock()


class _AdapterCache(dict):
    """The per-model dict; a deep-copied model starts with an empty one (adapters hold compiled steps)."""

    def __deepcopy__(self, memo):
        return _AdapterCache()


def _adapters_of(model):
    """The ``{options: adapter}`` dict kept on ``model`` (None when it takes no attributes).

    Kept on the model rather than in a module-level table: an adapter refers to
    its model (and its compiled steps to the adapter), so a global table, even a
    weak-keyed one, would keep every model alive. On the model, the model and its
    adapters form one cycle that the garbage collector frees with the model.
    """
    with _ADAPTERS_GUARD:
        per_model = getattr(model, "__dict__", {}).get(ADAPTERS_ATTRIBUTE)
        if per_model is not None and any(a.model is not model for a in per_model.values()):
            per_model = None  # a shallow copy shares the original's dict: start its own
        if per_model is None:
            per_model = _AdapterCache()
            try:  # object.__setattr__: bypass TL's and Keras's attribute tracking
                object.__setattr__(model, ADAPTERS_ATTRIBUTE, per_model)
            except (AttributeError, TypeError):
                return None
        return per_model


def _options_key(options):
    """A hashable key of adapter options; typed, so ``True`` (rejected by the adapter) never finds ``1``'s adapter."""
    return tuple(sorted((k, type(v).__name__, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def as_adapter(model, **options):
    """Return a :class:`ModelAdapter` for ``model``, reusing one per (model, options).

    Reuse keeps compiled steps across calls of the figure functions, so calling
    ``gradient_visualization`` in a loop traces once. The reused adapters are
    kept on the model (attribute ``_tensorlayer_xplain_adapters``), not in a
    global table, so a deleted model is freed with its adapters and their
    compiled steps.

    Parameters
    ----------
    model : ModelAdapter, tl.models.Model, keras.Model or callable
    **options
        ``ModelAdapter`` keyword arguments; None values are ignored.

    Examples
    --------
    >>> as_adapter(model) is as_adapter(model)
    True
    """
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(model, ModelAdapter):
        return model
    from ._seq2seq import Seq2seqAdapter, is_keras_encoder_decoder, is_seq2seq_model
    from ._tokens import TokenAdapter, is_token_model
    from .multi_input import MultiInputAdapter, input_count

    if "sos" in options or "seq_length" in options or is_seq2seq_model(model) or is_keras_encoder_decoder(model):
        cls = Seq2seqAdapter  # an encoder-decoder: explained position by position over its source
    elif input_count(model) > 1:
        cls = MultiInputAdapter
        if "image_shape" in options:
            raise ValueError("image_shape: a model with several inputs takes image_shapes (one per input); "
                             "build tlxp.MultiInputAdapter(model, image_shapes=[...])")
    elif "embedding_layer" in options or "pad_id" in options or is_token_model(model):
        cls = TokenAdapter
        if "image_shape" in options:
            raise ValueError("image_shape: a token model takes (N, T) ids and draws them as text; got image_shape=%r"
                             % (options["image_shape"],))
    else:
        cls = ModelAdapter
    key = _options_key(options)
    per_model = _adapters_of(model)
    if per_model is None:  # takes no attributes (a builtin, a bound method): no reuse
        return cls(model, **options)
    adapter = per_model.get(key)
    if adapter is None:
        adapter = per_model[key] = cls(model, **options)
    return adapter


def seq2seq_adapter(model, embedding_layer=None, pad_id=0, output="logits", max_batch_bytes=None):
    """The :class:`Seq2seqAdapter` of ``model`` for these options, reused across calls (compiled steps kept).

    Kept on the model like :func:`~tensorlayer_xplain.adapter.as_adapter`'s adapters;
    ``max_batch_bytes`` None means the default budget.

    Examples
    --------
    >>> seq2seq_adapter(luong) is seq2seq_adapter(luong)   # doctest: +SKIP
    True
    """
    from ._seq2seq import Seq2seqAdapter

    if isinstance(model, Seq2seqAdapter):
        return model
    if isinstance(model, ModelAdapter):
        model = model.model
    options = {"embedding_layer": embedding_layer, "pad_id": pad_id, "output": output}
    if max_batch_bytes is not None:
        options["max_batch_bytes"] = max_batch_bytes
    key = ("seq2seq",) + _options_key(options)
    per_model = _adapters_of(model)
    if per_model is None:
        return Seq2seqAdapter(model, **options)
    adapter = per_model.get(key)
    if adapter is None:
        adapter = per_model[key] = Seq2seqAdapter(model, **options)
    return adapter
