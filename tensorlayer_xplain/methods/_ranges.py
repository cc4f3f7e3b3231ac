"""Valid ranges of method parameters, declared with the method (``register_method(..., ranges=...)``).

One checker (:func:`check_value`) reads them for every caller: ``explain``,
``ModelExplainer``, :func:`~tensorlayer_xplain.estimate_cost` and the HTTP
service, before anything reaches the model or native code (SLIC, filters).
Parameters every method shares need no declaration: ``batch_size`` is an int
in ``[1, MAX_BATCH_SIZE]``, ``seed`` follows :data:`SEED` (the one seed rule),
and any other float must be finite.

Examples
--------
>>> COUNT.check("lime", "num_samples", 100)
100
>>> Range(0.0, 1.0).check("rise", "p_keep", 1.5)
Traceback (most recent call last):
...
ValueError: p_keep: expected a number between 0 and 1 for rise, got 1.5
"""
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Range", "COUNT", "SEED", "BATCH_SIZE", "MAX_COUNT", "MAX_BATCH_SIZE", "MAX_SEED", "count",
           "check_value", "check_seed", "is_int"]

#: Largest ``batch_size`` accepted anywhere (rows in flight at once).
MAX_BATCH_SIZE = 8192
#: Largest value of a count parameter (steps, samples, masks, evaluations per input).
MAX_COUNT = 1_000_000
#: Largest seed (numpy's ``SeedSequence`` takes any non-negative int; 2**63 - 1 keeps it an int64).
MAX_SEED = 2 ** 63 - 1


def is_int(value):
    """True for Python and numpy ints, not bools."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value):
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class Range:
    """Valid values of one numeric parameter: ``low <= value <= high``.

    Attributes
    ----------
    low, high : float
        Inclusive bounds.
    integer : bool
        Only ints are valid (bools are not).
    pairs : bool
        A tuple or list of such values is valid too (an ``(h, w)`` window, one
        ``n_segments`` per scale).
    note : str
        Why the bounds are there, shown in the error (e.g. what native code needs).
    """

    low: float
    high: float
    integer: bool = False
    pairs: bool = False
    note: str = ""

    def describe(self):
        """``'an int between 1 and 1000000'`` (plus the note)."""
        what = "an int" if self.integer else "a number"
        note = " (%s)" % self.note if self.note else ""
        if self.high == float("inf"):
            return "a finite %s >= %s%s" % (what[what.index(" ") + 1:], _fmt(self.low), note)
        return "%s between %s and %s%s" % (what, _fmt(self.low), _fmt(self.high), note)

    def check(self, method, key, value):
        """``value`` when it is in range (None and strings are left to the method), else ``ValueError``.

        The error names the parameter, the range, the method and the value.
        """
        if value is None or isinstance(value, str):
            return value
        values = value if self.pairs and isinstance(value, (tuple, list)) else (value,)
        for v in values:
            ok = is_int(v) if self.integer else _is_number(v)
            if not ok or not np.isfinite(float(v)) or not self.low <= v <= self.high:
                raise ValueError("%s: expected %s for %s, got %r" % (key, self.describe(), method, value))
        return value


def _fmt(bound):
    return "%d" % bound if float(bound).is_integer() and abs(bound) < 1e16 else "%g" % bound


def count(high=MAX_COUNT, pairs=False, low=1):
    """A count parameter: an int in ``[low, high]`` (steps, samples, masks, windows...).

    Examples
    --------
    >>> count(pairs=True).check("occlusion", "window", (4, 2))
    (4, 2)
    """
    return Range(low, high, integer=True, pairs=pairs)


#: The usual count: an int in ``[1, MAX_COUNT]``.
COUNT = count()
#: ``batch_size`` of every method.
BATCH_SIZE = count(MAX_BATCH_SIZE)
#: The one seed rule: None (fresh entropy) or an int in ``[0, MAX_SEED]``.
SEED = Range(0, MAX_SEED, integer=True)


def check_seed(seed, name="seed"):
    """The one seed rule: ``seed`` as an int in ``[0, MAX_SEED]``, or None (fresh entropy).

    Raises ``TypeError`` for a value that is not an int (bools included), ``ValueError``
    for a negative or too large one; both name the argument.

    Examples
    --------
    >>> check_seed(3), check_seed(None)
    (3, None)
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed: expected None or an int between 0 and 9223372036854775807, got -1
    """
    if seed is None:
        return None
    if not is_int(seed):
        raise TypeError("%s: expected None or an int between 0 and %d, got %r" % (name, MAX_SEED, seed))
    if not 0 <= seed <= MAX_SEED:
        raise ValueError("%s: expected None or an int between 0 and %d, got %r" % (name, MAX_SEED, seed))
    return int(seed)


def check_value(method, key, value, declared):
    """Check one parameter of ``method`` against its declared range (``declared``: ``{key: Range}``).

    Undeclared keys: ``batch_size`` takes :data:`BATCH_SIZE`, ``seed`` the seed
    rule, other floats must be finite; anything else is left to the method.
    """
    rule = declared.get(key)
    if rule is not None:
        return rule.check(method, key, value)
    if key == "batch_size":
        return BATCH_SIZE.check(method, key, value)
    if key == "seed":
        return check_seed(value)
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        raise ValueError("%s: expected a finite number for %s, got %r" % (key, method, value))
    return value
