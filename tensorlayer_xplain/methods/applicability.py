"""Which methods apply to a model, and why the others do not.

An MLP has no layer with a 4-D output for a CAM; a plain callable has no layers
at all (no CAM layer, no ReLU to guide, no attention layer). Functions that run a
list of methods (:func:`~tensorlayer_xplain.compare_methods`,
:meth:`~tensorlayer_xplain.ModelExplainer.visualize_all`) keep the methods that
apply, warn about the others and return the reasons in
:attr:`Explanations.skipped`. Each method declares when it applies
(``register_method(..., applies=...)``); :func:`skip_reason` asks it.
"""
import warnings

from . import registry
from .registry import method_info

__all__ = ["Explanations", "skip_reason", "applicable_methods"]


def skip_reason(adapter, method, params=None):
    """Why ``method`` cannot explain the model behind ``adapter``, or None when it can.

    A token model (integer ids into an embedding) runs the token version of a
    method where there is one; otherwise the method's ``applies`` declaration
    (``register_method(..., applies=...)``) answers.

    Parameters
    ----------
    adapter : ModelAdapter
        Its input shape must be known (an adapter that has prepared a batch).
    method : str
        A registered method name or alias.
    params : dict, optional
        The parameters it would run with.

    Returns
    -------
    str or None

    Examples
    --------
    >>> skip_reason(tlxp.as_adapter(lambda v: v), 'gradcam')
    'a plain callable has no layers to take a class activation map from'
    """
    if getattr(adapter, "token_inputs", False):
        from .tokens import token_skip_reason

        return token_skip_reason(method_info(method).name)
    if getattr(adapter, "seq2seq", False):
        from .seq2seq import seq2seq_skip_reason

        return seq2seq_skip_reason(adapter, method_info(method).name)
    return registry.skip_reason(adapter, method, params)


class Explanations(dict):
    """``{method: Explanation}`` in the order run, plus ``skipped``: ``{method: reason}`` for those left out.

    Examples
    --------
    >>> exps = tlxp.compare_methods(mlp, x, name='out/compare.png')
    >>> exps.skipped['gradcam']
    'no layer with a 4-D output (N, H, W, C) to take a class activation map from (e.g. an MLP)'
    """

    def __init__(self, explanations=(), skipped=None):
        super().__init__(explanations)
        self.skipped = dict(skipped or {})


def applicable_methods(adapter, inputs, methods, config=None, warn=True):
    """Split ``methods`` into those that apply to the model and ``{method: reason}`` for the rest.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : array-like
        A batch the methods will explain (fixes the input shape of the adapter).
    methods : sequence of str
    config : dict of str -> dict, optional
        Per-method parameters.
    warn : bool
        One ``UserWarning`` listing the skipped methods and why.

    Returns
    -------
    kept : list of str
        Canonical names, in the given order.
    skipped : dict of str -> str

    Raises
    ------
    ValueError
        When no method applies, with every reason.

    Examples
    --------
    >>> kept, skipped = applicable_methods(tlxp.as_adapter(mlp), x, ['gradient', 'gradcam'])
    >>> kept, list(skipped)
    (['gradient'], ['gradcam'])
    """
    adapter.prepare(inputs)  # learns the input shape, rejects bad input early
    config = config or {}
    kept, skipped = [], {}
    for method in methods:
        name = method_info(method).name
        reason = skip_reason(adapter, name, config.get(method, config.get(name)))
        if reason is None:
            kept.append(name)
        else:
            skipped[name] = reason
    listing = "; ".join("%s: %s" % kv for kv in skipped.items())
    if not kept:
        raise ValueError("methods: none of %s applies to this model (%s)" % (list(methods), listing))
    if skipped and warn:
        warnings.warn("skipped methods that do not apply to this model: %s" % listing, UserWarning, stacklevel=3)
    return kept, skipped
