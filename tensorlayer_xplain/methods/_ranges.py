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

__all__ = ["Range", "COUNT", "SEED", "BATCH_SIZE", "BACKGROUND", "VALUES", "MAX_COUNT", "MAX_BATCH_SIZE", "MAX_SEED",
           "MAX_VALUE", "count", "values", "check_value", "check_seed", "is_int", "image_limit", "rule_of"]

#: Largest ``batch_size`` accepted anywhere (rows in flight at once).
MAX_BATCH_SIZE = 8192
#: Largest value of a count parameter (steps, samples, masks, evaluations per input).
MAX_COUNT = 1_000_000
#: Largest seed: numpy's legacy ``RandomState`` (LIME, scikit-image) takes at most 2**32 - 1.
MAX_SEED = 2 ** 32 - 1
#: Largest magnitude of a value written into an input (a fill colour, a baseline): float32 stays finite.
MAX_VALUE = 1e6


def is_int(value):
    """True for Python and numpy ints, not bools."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value):
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


def image_limit(bound, image_shape):
    """The largest value a size parameter takes from the image ``(H, W, C)``: a side or its area."""
    if bound is None or image_shape is None or len(image_shape) < 2:
        return None
    h, w = int(image_shape[0]), int(image_shape[1])
    return {"side": max(h, w), "short_side": min(h, w), "area": h * w}[bound]


@dataclass(frozen=True)
class Range:
    """Valid values of one parameter: numbers in ``[low, high]``, declared with the method.

    Attributes
    ----------
    low, high : float
        Bounds (``high`` inclusive; ``low`` too unless ``low_open``).
    integer : bool
        Only ints are valid (bools are not).
    pairs : bool
        A tuple or list of such values is valid too (an ``(h, w)`` window, one
        ``n_segments`` per scale).
    note : str
        Why the bounds are there, shown in the error (e.g. what native code needs).
    low_open : bool
        ``low`` itself is not valid.
    bound : {None, 'side', 'short_side', 'area'}
        With the input's image shape known, ``high`` is at most the image's
        longer side (``'side'``), its shorter side (``'short_side'``: a grid of
        cells per side in both directions) or its pixel count (``'area'``).
    kind : {'number', 'values', 'rows'}
        One number; a number or an array of numbers (a fill colour per channel,
        a baseline image); or an array ``(M, ...)`` of M inputs (a background).
        Each value must be in range.
    text : callable, optional
        ``text(method, key, value, image_shape)`` checks a string value (such as
        ``'blur(8,8)'``); without it strings are left to the method.
    """

    low: float
    high: float
    integer: bool = False
    pairs: bool = False
    note: str = ""
    low_open: bool = False
    bound: str = None
    kind: str = "number"
    text: object = None

    def describe(self, image_shape=None):
        """``'an int between 1 and 1000000'`` (plus the note), the image's bound applied when known."""
        what = {"number": "an int" if self.integer else "a number", "values": "finite numbers",
                "rows": "an array (M, ...) of M inputs with values"}[self.kind]
        note = " (%s)" % self.note if self.note else ""
        high, limit = self.high, image_limit(self.bound, image_shape)
        if limit is not None and limit < high:
            high = limit
            note += " (the image is %dx%d)" % (image_shape[0], image_shape[1])
        elif self.bound is not None and limit is None:
            note += " (at most the image's %s)" % {"side": "longer side", "short_side": "shorter side",
                                                   "area": "pixel count"}[self.bound]
        if high == float("inf"):
            return "%s %s %s%s" % (what, ">" if self.low_open else ">=", _fmt(self.low), note)
        if self.low_open:
            return "%s in (%s, %s]%s" % (what, _fmt(self.low), _fmt(high), note)
        return "%s between %s and %s%s" % (what, _fmt(self.low), _fmt(high), note)

    def check(self, method, key, value, image_shape=None):
        """``value`` when it is in range, else ``ValueError`` (``TypeError`` for a value of the wrong kind).

        None is left to the caller, strings to :attr:`text` or the method. The
        error names the parameter, the range, the method and the value.
        """
        if value is None:
            return value
        if isinstance(value, str):
            if self.text is not None:
                self.text(method, key, value, image_shape)
            return value
        high = self.high
        limit = image_limit(self.bound, image_shape)
        if limit is not None:
            high = min(high, limit)
        if self.kind != "number":
            self._check_array(method, key, value, high, image_shape)
            return value
        values = value if self.pairs and isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if not _is_number(v) and not (self.integer and isinstance(v, (bool, np.bool_))):
                raise TypeError("%s: expected %s for %s, got %s %.80r"
                                % (key, self.describe(image_shape), method, type(v).__name__, value))
            if (self.integer and not is_int(v) or not np.isfinite(float(v)) or not self.low <= v <= high
                    or (self.low_open and v == self.low)):
                raise ValueError("%s: expected %s for %s, got %.80r" % (key, self.describe(image_shape), method, value))
        return value

    def _check_array(self, method, key, value, high, image_shape):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError, RecursionError):
            array = None
        if (array is None or array.dtype.kind not in "iuf" or array.size == 0
                or (self.kind == "rows" and array.ndim == 0)):
            raise TypeError("%s: expected %s for %s, got %.80r" % (key, self.describe(image_shape), method, value))
        if not np.all(np.isfinite(array)) or array.min() < self.low or array.max() > high:
            raise ValueError("%s: expected %s for %s, got %.80r" % (key, self.describe(image_shape), method, value))


def _fmt(bound):
    return "%d" % bound if float(bound).is_integer() and abs(bound) < 1e16 else "%g" % bound


def count(high=MAX_COUNT, pairs=False, low=1, bound=None):
    """A count parameter: an int in ``[low, high]`` (steps, samples, masks, windows...).

    Examples
    --------
    >>> count(pairs=True).check("occlusion", "window", (4, 2))
    (4, 2)
    >>> count(bound="side").check("rise", "mask_size", 40, image_shape=(28, 28, 1))
    Traceback (most recent call last):
    ...
    ValueError: mask_size: expected an int between 1 and 28 (the image is 28x28) for rise, got 40
    """
    return Range(low, high, integer=True, pairs=pairs, bound=bound)


def values(low=-MAX_VALUE, high=MAX_VALUE, text=None):
    """A value written into inputs: a number or an array of numbers in ``[low, high]`` (a colour, a baseline)."""
    return Range(low, high, kind="values", text=text)


#: The usual count: an int in ``[1, MAX_COUNT]``.
COUNT = count()
#: ``batch_size`` of every method.
BATCH_SIZE = count(MAX_BATCH_SIZE)
#: The one seed rule: None (fresh entropy) or an int in ``[0, MAX_SEED]``.
SEED = Range(0, MAX_SEED, integer=True)
#: A background of inputs (SHAP): rows of values in ``[-MAX_VALUE, MAX_VALUE]``.
BACKGROUND = Range(-MAX_VALUE, MAX_VALUE, kind="rows")
#: A fill value or baseline written into inputs.
VALUES = values()


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
    ValueError: seed: expected None or an int between 0 and 4294967295, got -1
    """
    if seed is None:
        return None
    if not is_int(seed):
        raise TypeError("%s: expected None or an int between 0 and %d, got %r" % (name, MAX_SEED, seed))
    if not 0 <= seed <= MAX_SEED:
        raise ValueError("%s: expected None or an int between 0 and %d, got %r" % (name, MAX_SEED, seed))
    return int(seed)


def check_value(method, key, value, declared, image_shape=None):
    """Check one parameter of ``method`` against its declared range (``declared``: ``{key: Range}``).

    Undeclared keys: ``batch_size`` takes :data:`BATCH_SIZE`, ``seed`` the seed
    rule, other floats must be finite; anything else is left to the method.
    """
    rule = declared.get(key)
    if rule is not None:
        return rule.check(method, key, value, image_shape)
    if key == "batch_size":
        return BATCH_SIZE.check(method, key, value)
    if key == "seed":
        return check_seed(value)
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        raise ValueError("%s: expected a finite number for %s, got %r" % (key, method, value))
    return value


def rule_of(declared, key):
    """The rule ``key`` follows: its declared :class:`Range`, or the shared one (``batch_size``, ``seed``)."""
    return declared.get(key) or {"batch_size": BATCH_SIZE, "seed": SEED}.get(key)
