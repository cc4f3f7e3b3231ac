"""Validation of a :class:`~tensorlayer_xplain.ModelExplainer`'s configuration (methods, config, seed, cache).

Every check raises at construction, naming the argument, what was expected and what was given.
"""
import numbers

import numpy as np

from ..methods._ranges import check_seed as _check_seed
from ..methods.registry import _parameters_of, check_params, method_info
from .cache import ExplanationCache

__all__ = ["validate_params", "check_methods", "check_config", "check_seed", "make_cache"]


def _check_type(method, key, value, default):
    """Reject values whose type cannot be what a numeric/bool default asks for."""
    if default is None or value is None or isinstance(default, str):
        return  # None / str defaults also accept arrays, callables or other spellings
    if isinstance(default, bool):
        ok = isinstance(value, (bool, np.bool_))
        expected = "a bool"
    elif isinstance(default, numbers.Integral):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        expected = "an int"
    elif isinstance(default, numbers.Real):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        expected = "a number"
    else:
        return
    if not ok:
        raise TypeError("config[%r][%r]: expected %s (default %r), got %s %r"
                        % (method, key, expected, default, type(value).__name__, value))


def validate_params(method, params, adapter=None):
    """Check names (with a did-you-mean) and basic types of a method's parameters; return its canonical name.

    Parameters
    ----------
    method : str
        A registered method name or alias.
    params : dict
        Its parameters.
    adapter : ModelAdapter, optional
        Checks against the version of the method that runs on this adapter (a
        token model's methods take ``mask_token``, ``baseline_token``...).

    Returns
    -------
    str
        The canonical method name.

    Examples
    --------
    >>> validate_params('lime', {'num_samples': 500})
    'lime'
    """
    spec = method_info(method)
    if not isinstance(params, dict):
        raise TypeError("config[%r]: expected a dict of parameters, got %s" % (method, type(params).__name__))
    fn = None
    if adapter is not None:
        from ..methods.tokens import implementation

        fn = implementation(adapter, spec.name)
        fn = None if fn is spec.fn else fn
    known = spec.parameters if fn is None else _parameters_of(fn)
    check_params(spec.name, params, fn)
    for key, value in params.items():
        _check_type(spec.name, key, value, known[key])
    return spec.name


def check_methods(methods, default):
    """Canonical names of ``methods`` (``default`` when None); raises on a string, a non-list or none."""
    if methods is not None and (isinstance(methods, str) or not hasattr(methods, "__iter__")):
        raise TypeError("methods: expected a list of method names, got %r" % (methods,))
    names = [method_info(m).name for m in (default if methods is None else methods)]
    if not names:
        raise ValueError("methods: expected at least one method name, got an empty list")
    return names


def check_config(config, adapter=None):
    """``{canonical method: dict(params)}`` of a validated ``config`` (None: empty); see :func:`validate_params`."""
    if config is not None and not isinstance(config, dict):
        raise TypeError("config: expected a dict {method: {param: value}}, got %s" % type(config).__name__)
    return {validate_params(name, params, adapter): dict(params) for name, params in (config or {}).items()}


def check_seed(seed):
    """``seed`` checked by the one seed rule (None or an int >= 0, see :func:`~.methods._ranges.check_seed`)."""
    return _check_seed(seed)


def make_cache(cache, cache_bytes):
    """The explainer's :class:`ExplanationCache`: True (default size), an int (entries), False/None (no cache)."""
    if cache is True:
        return ExplanationCache(max_bytes=cache_bytes)
    if cache is False or cache is None:
        return None
    return ExplanationCache(cache, max_bytes=cache_bytes)
