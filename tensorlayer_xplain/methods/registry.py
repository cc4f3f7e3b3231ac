"""The method registry: every explanation method is a plain function registered by name.

A method has the signature ``fn(adapter, inputs, targets, **params)`` where
``adapter`` is a :class:`~tensorlayer_xplain.adapter.ModelAdapter`, ``inputs`` a
float32 array ``(N, *input_shape)`` already validated, and ``targets`` an int
array ``(N,)`` (or a callable on the scores). It returns attributions of the
inputs' shape (or ``(N, H, W)`` for spatial maps such as CAMs), optionally with a
dict of extras: ``return attributions, {'completeness_gap': gap}``.

Everything about a method is declared with it: its cost, whether its rows are
independent, when it applies to a model, its figure, its family and the valid
ranges of its parameters. Every other part of the package (cost estimates,
budgets, ``compare_methods``/``visualize_all``, the HTTP service, the benchmark
suite) reads these declarations; no other table names methods.

Examples
--------
>>> from tensorlayer_xplain import register_method
>>> @register_method("input_times_two", signed=True, family="gradient",
...                  cost=lambda adapter, n, **params: (n, 0),
...                  batchable=True,
...                  applies=lambda adapter, params: None if adapter.kind != "callable" else "needs layers",
...                  figure="gradient_visualization",
...                  ranges={"factor": Range(0.0, 10.0)})
... def input_times_two(adapter, inputs, targets, factor=2.0):
...     return factor * inputs
>>> "input_times_two" in available_methods()
True
>>> check_ranges("input_times_two", {"factor": 20.0})
Traceback (most recent call last):
...
ValueError: factor: expected a number between 0 and 10 for input_times_two, got 20.0
>>> unregister_method("input_times_two")
"""
import difflib
import inspect
from dataclasses import dataclass, field

from ._ranges import COUNT, Range, check_value, count, rule_of

__all__ = [
    "MethodSpec",
    "register_method",
    "unregister_method",
    "get_method",
    "method_info",
    "available_methods",
    "method_parameters",
    "check_params",
    "check_ranges",
    "skip_reason",
    "count_parameters",
    "Range",
    "COUNT",
    "count",
    "TrainingRows",
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
    cost : callable or None
        ``cost(adapter, n_inputs, **params) -> (forward, backward)`` model passes
        (None: one forward and one backward pass per input).
    batchable : bool or callable
        Rows are independent (``batchable(params) -> bool`` decides per call).
    applies : callable or None
        ``applies(adapter, params) -> reason (str) or None``.
    figure : str or callable or None
        The figure function drawing it (a name in ``tensorlayer_xplain.visualize``);
        None: ``gradient_visualization``.
    ranges : dict of str -> Range
        Valid values of its numeric parameters.
    benchmark : dict
        Settings of the benchmark suite (``quick`` / ``full`` parameters,
        ``images``, ``inputs``, ``work``; see ``benchmarks/run.py``).
    """

    name: str
    fn: object
    signed: bool = False
    aliases: tuple = ()
    family: str = "custom"
    parameters: dict = field(default_factory=dict)
    predicts: bool = False
    cost: object = None
    batchable: object = False
    applies: object = None
    figure: object = None
    ranges: dict = field(default_factory=dict)
    benchmark: dict = field(default_factory=dict)


class TrainingRows:
    """``n`` rows of the model's training data, as a parameter value in benchmark settings.

    Examples
    --------
    >>> TrainingRows(100)
    TrainingRows(100)
    """

    def __init__(self, n):
        self.n = int(n)

    def __repr__(self):
        return "TrainingRows(%d)" % self.n


_REGISTRY = {}
_ALIASES = {}


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
                    batchable=False, applies=None, figure=None, ranges=None, benchmark=None):
    """Decorator registering ``fn(adapter, inputs, targets, **params)`` under ``name``, with everything about it.

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
        (rows) of one call, all parameters given (defaults filled in); default one
        forward and one backward pass per input (see
        :func:`~tensorlayer_xplain.estimate_cost`).
    batchable : bool or callable
        Whether each input's result depends on that input alone, so concurrent
        service requests may be merged into one batch (or ``batchable(params)``).
    applies : callable, optional
        ``applies(adapter, params) -> str or None``: why the method cannot explain
        the model behind ``adapter`` (None when it can); ``compare_methods`` and
        ``visualize_all`` skip it with that reason. Default: it always applies.
    figure : str or callable, optional
        The figure function drawing its explanations: a name in
        :mod:`tensorlayer_xplain.visualize` (e.g. ``'gradcam_visualization'``) or a
        function ``fn(model, explanation, saveable=, name=)``; default
        ``'gradient_visualization'``.
    ranges : dict of str -> Range, optional
        Valid values of numeric parameters (:class:`Range`, :func:`count`), checked
        before the method runs by every caller (:func:`check_ranges`).
        ``batch_size``, ``seed`` and non-finite floats are checked without a declaration.
    benchmark : dict, optional
        Settings for ``benchmarks/run.py``: ``quick`` / ``full`` parameters
        (``{}`` = the defaults; :class:`TrainingRows` for training data),
        ``images`` (per mode, when fewer than the batch), ``inputs='flat'`` and
        ``work`` (the parameters shown in the table).

    Examples
    --------
    >>> @register_method("scaled_gradient", ranges={"scale": Range(0.0, 100.0)})
    ... def scaled_gradient(adapter, inputs, targets, scale=1.0):
    ...     return scale * adapter.gradients(inputs, targets)
    >>> tlxp.explain(model, x, "scaled_gradient", scale=2.0).attributions.shape == x.shape
    True
    >>> unregister_method("scaled_gradient")
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name: expected a non-empty str, got %r" % (name,))
    for key, value in (("cost", cost), ("applies", applies)):
        if value is not None and not callable(value):
            raise TypeError("%s: expected a callable %s, got %r" % (key, _CALLABLES[key], value))
    if figure is not None and not (isinstance(figure, str) or callable(figure)):
        raise TypeError("figure: expected the name of a tensorlayer_xplain.visualize function or a callable, got %r"
                        % (figure,))
    ranges = dict(ranges or {})
    for key, rule in ranges.items():
        if not isinstance(rule, Range):
            raise TypeError("ranges: expected a Range for %r, got %r" % (key, rule))
    if benchmark is not None and not isinstance(benchmark, dict):
        raise TypeError("benchmark: expected a dict of benchmark settings, got %r" % (benchmark,))

    def decorator(fn):
        parameters = _parameters_of(fn)
        unknown = sorted(set(ranges) - set(parameters))
        if unknown:
            raise ValueError("ranges: %s declared for parameters %s does not take (it takes %s)"
                             % (unknown, name, sorted(parameters)))
        taken = [n for n in (name,) + tuple(aliases) if (n in _REGISTRY or n in _ALIASES)]
        if taken and not overwrite:
            raise ValueError("name: method name(s) %s already registered; pass overwrite=True to replace" % taken)
        if overwrite:
            for n in taken:
                unregister_method(n)
        spec = MethodSpec(name, fn, bool(signed), tuple(aliases), family, parameters, bool(predicts), cost,
                          batchable, applies, figure, ranges, dict(benchmark or {}))
        _REGISTRY[name] = spec
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return decorator


_CALLABLES = {"cost": "cost(adapter, n_inputs, **params) -> (forward, backward)",
              "applies": "applies(adapter, params) -> reason or None"}


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
    >>> spec = method_info("ig")
    >>> spec.name, spec.family, spec.signed
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
    >>> get_method("saliency").__name__
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
    >>> "gradcam" in available_methods()
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
    >>> method_parameters("gradcam")
    {'layer_name': None, 'relu': True, 'batch_size': None}
    """
    return dict(method_info(name).parameters)


def check_params(name, params, fn=None):
    """Raise ``TypeError`` for parameters the method does not take, with a did-you-mean.

    ``fn``: check against this implementation's parameters instead of the registered
    function's (the token-model version of a method, see :mod:`.tokens`).
    """
    known = method_parameters(name) if fn is None else _parameters_of(fn)
    for key in params:
        if key not in known:
            raise TypeError(_unknown("method %r parameter" % method_info(name).name, key, list(known)))


def check_ranges(method, params, image_shape=None):
    """Reject parameters outside the ranges ``method`` declares (the one range checker).

    Declared ranges (``register_method(..., ranges=...)``) plus the rules every
    method shares: ``batch_size`` an int in ``[1, MAX_BATCH_SIZE]``, ``seed``
    None or an int in ``[0, 2**32 - 1]``, other floats finite. A ranged
    parameter whose default is not None cannot be None; strings are left to the
    method (or to the range's string check), unless the default is a number.
    A method that runs another (``base_params`` of smoothgrad, vargrad) has
    those parameters checked for its base method too.

    Parameters
    ----------
    method : str
        A method name or alias.
    params : dict
        The parameters of one call.
    image_shape : tuple (H, W, C), optional
        The inputs' image shape: bounds sizes declared with ``bound='side'`` or
        ``'area'`` (``blur_sigma``, ``n_segments``, ``mask_size``...).

    Raises
    ------
    ValueError
        Naming the parameter, the accepted range, the method and the value.
    TypeError
        For a value of the wrong kind (a list, a bool or a string for a number).

    Examples
    --------
    >>> check_ranges('integrated_gradients', {'steps': -5})
    Traceback (most recent call last):
    ...
    ValueError: steps: expected an int between 1 and 1000000 for integrated_gradients, got -5
    """
    spec = method_info(method)
    for key, value in params.items():
        rule, default = rule_of(spec.ranges, key), spec.parameters.get(key)
        # a string is the method's to read only where its default is one (e.g. 'auto'); a count takes that string only
        if rule is not None and (value is None and default is not None or isinstance(value, str) and rule.text is None
                                 and (not isinstance(default, str) or rule.integer and value != default)):
            raise TypeError("%s: expected %s for %s, got %.80r" % (key, rule.describe(image_shape), spec.name,
                                                                   value))
        check_value(spec.name, key, value, spec.ranges, image_shape)
    if "base_params" in spec.parameters:
        _check_base_params(spec, params, image_shape)


def _check_base_params(spec, params, image_shape):
    """``base_params`` of a method that runs another (smoothgrad, vargrad): a dict, checked for ``base_method``."""
    nested = params.get("base_params")
    if nested is not None and not isinstance(nested, dict):
        raise TypeError("base_params: expected a dict of the base method's parameters (or None) for %s, got %.80r"
                        % (spec.name, nested))
    base = params.get("base_method", spec.parameters.get("base_method"))
    if (not nested or not isinstance(base, str) or _ALIASES.get(base, base) not in _REGISTRY
            or "base_params" in method_info(base).parameters):
        return  # the method itself names a bad base_method
    try:
        check_params(base, nested)
        check_ranges(base, nested, image_shape)
    except (TypeError, ValueError) as err:
        raise type(err)("base_params: %s" % err) from None


def count_parameters(method):
    """Names of the parameters of ``method`` declared as counts (int ranges): what its cost grows with.

    Examples
    --------
    >>> count_parameters('rise')
    ['mask_size', 'n_masks']
    """
    return sorted(key for key, rule in method_info(method).ranges.items() if rule.integer)


def skip_reason(adapter, method, params=None):
    """Why ``method`` cannot explain the model behind ``adapter`` (its ``applies`` declaration), or None.

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
    spec = method_info(method)
    return None if spec.applies is None else spec.applies(adapter, dict(params or {}))
