"""The method registry: every explanation method is a plain function registered by name.

A method has the signature ``fn(adapter, inputs, targets, **params)`` where
``adapter`` is a :class:`~tensorlayer_xplain.adapter.ModelAdapter`, ``inputs`` a
float32 array ``(N, *input_shape)`` already validated, and ``targets`` an int
array ``(N,)`` (or a callable on the scores). It returns attributions of the
inputs' shape (or ``(N, H, W)`` for spatial maps such as CAMs), optionally with a
dict of extras: ``return attributions, {'completeness_gap': gap}``.

Examples
--------
>>> import numpy as np
>>> from tensorlayer_xplain import register_method
>>> @register_method("input_times_two", signed=True)
... def input_times_two(adapter, inputs, targets, factor=2.0):
...     return factor * inputs
>>> "input_times_two" in available_methods()
True
>>> unregister_method("input_times_two")
"""
import difflib
import inspect
from dataclasses import dataclass, field

__all__ = [
    "MethodSpec",
    "register_method",
    "unregister_method",
    "get_method",
    "method_info",
    "available_methods",
    "method_parameters",
    "check_params",
]

_POSITIONAL = ("adapter", "inputs", "targets")


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its function and how to draw its output.

    Attributes
    ----------
    name : str
    fn : callable
    signed : bool
        True when attributions carry a sign (drawn with a diverging colormap).
    aliases : tuple of str
    family : str
        'gradient', 'cam', 'perturbation', 'attention', 'lime', 'shap' or 'custom'.
    predicts : bool
        True when the method computes the model's scores itself: it accepts
        ``targets=PREDICTED`` (the predicted class, found in its own forward pass)
        and returns ``meta['scores']`` (N, K), so the runner needs no prediction pass.
    """

    name: str
    fn: object
    signed: bool = False
    aliases: tuple = ()
    family: str = "custom"
    parameters: dict = field(default_factory=dict)
    predicts: bool = False


_REGISTRY = {}
_ALIASES = {}
#: Per canonical name: the cost function and the batchable rule given to ``register_method``.
_COSTS = {}
_BATCHABLE = {}


def _parameters_of(fn):
    sig = inspect.signature(fn)
    names = list(sig.parameters)
    if tuple(names[:3]) != _POSITIONAL:
        raise TypeError(
            "fn: a method must take (adapter, inputs, targets, **params) as its first arguments, "
            "got (%s)" % ", ".join(names)
        )
    return {
        name: p.default
        for name, p in list(sig.parameters.items())[3:]
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def register_method(name, *, aliases=(), signed=False, family="custom", overwrite=False, predicts=False, cost=None,
                    batchable=False):
    """Decorator registering ``fn(adapter, inputs, targets, **params)`` under ``name``.

    Parameters
    ----------
    name : str
        Name used by ``ModelExplainer(methods=[...])`` and ``explain(method=...)``.
    aliases : tuple of str
        Other names for the same method (e.g. ``saliency`` for ``gradient``).
    signed : bool
        Whether attributions are signed (drawn with a diverging colormap).
    family : str
        Method family, used to group methods in figures and reports.
    overwrite : bool
        Allow replacing an existing registration.
    predicts : bool
        The method takes ``targets=tensorlayer_xplain.adapter.PREDICTED`` (resolve the
        predicted class inside its own forward pass) and returns ``meta['scores']``
        (N, K); :func:`~tensorlayer_xplain.explain` then skips its prediction pass.
    cost : callable, optional
        ``cost(adapter, n_inputs, **params) -> (forward, backward)`` model passes
        (rows) of one call; default one forward and one backward pass per input
        (see :mod:`tensorlayer_xplain.methods.costs`).
    batchable : bool or callable
        Whether each input's result depends on that input alone, so concurrent
        service requests may be merged into one batch (or ``batchable(params)``).

    Examples
    --------
    >>> @register_method("my_method")              # doctest: +SKIP
    ... def my_method(adapter, inputs, targets, scale=1.0):
    ...     return scale * adapter.gradients(inputs, targets)
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name: expected a non-empty str, got %r" % (name,))

    def decorator(fn):
        taken = [n for n in (name,) + tuple(aliases) if (n in _REGISTRY or n in _ALIASES)]
        if taken and not overwrite:
            raise ValueError("name: method name(s) %s already registered; pass overwrite=True to replace" % taken)
        if overwrite:
            for n in taken:
                unregister_method(n)
        spec = MethodSpec(name, fn, bool(signed), tuple(aliases), family, _parameters_of(fn), bool(predicts))
        set_method_traits(name, cost, batchable)
        _REGISTRY[name] = spec
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return decorator


def set_method_traits(name, cost=None, batchable=False):
    """Record a method's cost function and whether its rows may be merged (``register_method`` calls this).

    Parameters
    ----------
    name : str
        The canonical method name.
    cost : callable, optional
        ``cost(adapter, n_inputs, **params) -> (forward, backward)``, totals for
        ``n_inputs`` inputs; None means one forward and one backward pass per input.
    batchable : bool or callable
        True when each input's result depends only on that input (not on the
        other rows of the batch or their position): the service may then merge
        concurrent requests into one batch. A callable ``batchable(params) ->
        bool`` decides per call.

    Examples
    --------
    >>> set_method_traits('my_method', cost=lambda adapter, n, reps=4: (n * reps, 0))   # doctest: +SKIP
    """
    if cost is not None and not callable(cost):
        raise TypeError("cost: expected a callable cost(adapter, n_inputs, **params) -> (forward, backward), "
                        "got %r" % (cost,))
    _COSTS.pop(name, None)
    _BATCHABLE.pop(name, None)
    if cost is not None:
        _COSTS[name] = cost
    if batchable:
        _BATCHABLE[name] = batchable


def unregister_method(name):
    """Remove a method (and its aliases) from the registry.

    Parameters
    ----------
    name : str
        The method's name or one of its aliases.

    Raises
    ------
    KeyError
        For an unknown name, listing the known ones.

    Examples
    --------
    >>> @register_method("doubled_input")
    ... def doubled_input(adapter, inputs, targets):
    ...     return 2 * inputs
    >>> unregister_method("doubled_input")
    >>> "doubled_input" in available_methods()
    False
    """
    spec = method_info(name)
    _REGISTRY.pop(spec.name, None)
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)


def _unknown(kind, name, known):
    text = str(name)
    close = difflib.get_close_matches(text, known, n=1) if len(text) <= 100 else []
    hint = "; did you mean %r?" % close[0] if close else ""
    return "%s: unknown %.80r%s Known: %s" % (kind, name, hint, ", ".join(sorted(known)))


def method_info(name):
    """The :class:`MethodSpec` registered under ``name`` or an alias.

    Parameters
    ----------
    name : str
        A method name or alias, e.g. ``'ig'``.

    Returns
    -------
    MethodSpec
        The canonical ``name``, ``fn``, ``signed``, ``aliases``, ``family`` and ``parameters``.

    Raises
    ------
    TypeError
        For a name that is not a str.
    KeyError
        For an unknown name, listing the known ones (with a did-you-mean).

    Examples
    --------
    >>> spec = method_info("ig")                  # doctest: +SKIP
    >>> spec.name, spec.family, spec.signed       # doctest: +SKIP
    ('integrated_gradients', 'gradient', True)
    """
    if not isinstance(name, str):
        raise TypeError("method: expected a method name (str), got %r" % (name,))
    spec = _REGISTRY.get(_ALIASES.get(name, name))
    if spec is None:
        raise KeyError(_unknown("method", name, list(_REGISTRY) + list(_ALIASES)))
    return spec


def get_method(name):
    """The function registered under ``name`` (or an alias).

    Parameters
    ----------
    name : str
        A method name or alias.

    Returns
    -------
    callable
        ``fn(adapter, inputs, targets, **params)``.

    Examples
    --------
    >>> get_method("saliency").__name__          # doctest: +SKIP
    'gradient'
    """
    return method_info(name).fn


def available_methods():
    """Sorted names of all registered methods (aliases not included).

    Returns
    -------
    list of str

    Examples
    --------
    >>> "gradcam" in available_methods()         # doctest: +SKIP
    True
    """
    return sorted(_REGISTRY)


def method_parameters(name):
    """``{parameter: default}`` a method accepts beyond (adapter, inputs, targets).

    These are the keys allowed in ``ModelExplainer(config={name: {...}})`` and as
    keyword arguments of :func:`~tensorlayer_xplain.explain`.

    Parameters
    ----------
    name : str
        A method name or alias.

    Returns
    -------
    dict of str -> object

    Examples
    --------
    >>> method_parameters("gradcam")             # doctest: +SKIP
    {'layer_name': None, 'relu': True, 'batch_size': None}
    """
    return dict(method_info(name).parameters)


def check_params(name, params):
    """Raise ``TypeError`` for parameters the method does not take, with a did-you-mean."""
    known = method_parameters(name)
    for key in params:
        if key not in known:
            raise TypeError(_unknown("method %r parameter" % method_info(name).name, key, list(known)))
