"""Argument checks shared by the methods: each error names the argument, what was expected and what came."""
import numbers
import re

import numpy as np

from ...adapter._common import needs_layers
from .._ranges import check_seed

__all__ = ["positive_int", "fraction", "non_negative", "seed_value", "window_pair", "needs_layers", "l1_reg_value",
           "FEATURE_SELECTIONS", "check_feature_selection"]

#: lime's ``feature_selection`` choices.
FEATURE_SELECTIONS = ("auto", "none", "forward_selection", "highest_weights", "lasso_path")


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def positive_int(name, value, minimum=1):
    """``int(value)`` when it is an int >= ``minimum``, else ``ValueError``/``TypeError`` naming ``name``."""
    if not _is_int(value):
        raise TypeError("%s: expected an int >= %d, got %r" % (name, minimum, value))
    if value < minimum:
        raise ValueError("%s: expected an int >= %d, got %d" % (name, minimum, value))
    return int(value)


def non_negative(name, value):
    """``float(value)`` when it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError("%s: expected a number >= 0, got %r" % (name, value))
    if not np.isfinite(value) or value < 0:
        raise ValueError("%s: expected a finite number >= 0, got %r" % (name, value))
    return float(value)


def fraction(name, value, open_low=True):
    """``float(value)`` when it lies in (0, 1] (or [0, 1] with ``open_low=False``)."""
    value = non_negative(name, value)
    if value > 1 or (open_low and value == 0):
        raise ValueError("%s: expected a number in %s0, 1], got %r" % (name, "(" if open_low else "[", value))
    return value


def seed_value(name, value):
    """Check a seed with the one seed rule (:func:`~._ranges.check_seed`): None (fresh entropy) or an int >= 0."""
    return check_seed(value, name)


def window_pair(name, value, limits):
    """Turn an int or an (h, w) pair into a pair of ints within ``limits`` (H, W)."""
    pair = (value, value) if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise TypeError("%s: expected an int or a pair of ints (h, w), got %r" % (name, value))
    for v, limit in zip(pair, limits):
        if not 1 <= v <= limit:
            raise ValueError("%s: expected sizes between 1 and the image size %s, got %r"
                             % (name, tuple(limits), value))
    return int(pair[0]), int(pair[1])


def l1_reg_value(name, value):
    """shap's KernelExplainer ``l1_reg``: False (or 0), ``'auto'``, ``'aic'``, ``'bic'``, ``'num_features(k)'``
    or Lasso's ``alpha`` (a finite number > 0); else ``ValueError`` naming ``name``.

    Examples
    --------
    >>> l1_reg_value('l1_reg', 'num_features(5)')
    'num_features(5)'
    """
    if value is False or (_is_int(value) and value == 0):
        return value
    if isinstance(value, str) and (value in ("auto", "aic", "bic") or re.fullmatch(r"num_features\([1-9]\d{0,6}\)",
                                                                                   value)):
        return value
    if (isinstance(value, (numbers.Real, np.floating)) and not isinstance(value, bool) and np.isfinite(value)
            and 0 < value <= 1e6):
        return value
    raise ValueError("%s: expected False, 'auto', 'aic', 'bic', 'num_features(k)' or a Lasso alpha in (0, 1e6], got "
                     "%.80r" % (name, value))


def check_feature_selection(value):
    """``value`` when it is one of lime's ``feature_selection`` choices, else ``ValueError`` naming it."""
    if not isinstance(value, str) or value not in FEATURE_SELECTIONS:
        raise ValueError("feature_selection: expected one of %s, got %.80r" % (", ".join(FEATURE_SELECTIONS), value))
    return value
