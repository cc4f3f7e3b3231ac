"""Small helpers every part of the adapter uses: error-message descriptions, temporary attributes."""
import contextlib

import numpy as np


_MISSING = object()


def _describe(value):
    """Short description of a value for error messages."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return "%s of shape %s and dtype %s" % (type(value).__name__, tuple(value.shape), value.dtype)
    return "%s %r" % (type(value).__name__, value) if np.isscalar(value) else type(value).__name__


@contextlib.contextmanager
def temporarily_set(obj, attr, value):
    """Set ``obj.attr = value`` for the duration of a ``with`` block, then restore it exactly.

    An attribute that lived only on the class is deleted from the instance
    afterwards, so the object is left byte-for-byte as it was.
    """
    had = attr in vars(obj)
    old = vars(obj).get(attr, _MISSING)
    object.__setattr__(obj, attr, value)
    try:
        yield
    finally:
        if had:
            object.__setattr__(obj, attr, old)
        else:
            object.__delattr__(obj, attr)
