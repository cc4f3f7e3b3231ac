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


def needs_layers(what):
    """The ``TypeError`` for a method that reads layers, given a plain callable: it says how to pass the model.

    Parameters
    ----------
    what : str
        What needs the layers, e.g. ``'gradcam'``.

    Returns
    -------
    TypeError

    Examples
    --------
    >>> str(needs_layers('gradcam')).split(',')[0]
    "model: gradcam reads the model's layers"
    """
    return TypeError(
        "model: %s reads the model's layers, and a plain function has none (got a plain callable). Pass the "
        "tl.models.Model or keras.Model itself, e.g. ModelExplainer(model) rather than "
        "ModelExplainer(lambda x: model(x)). For several models chained in a function (lambda x: "
        "head(body(x))), wrap them in one tl.models.Model subclass whose forward calls them "
        "(self.body, self.head = body, head; forward: return self.head(self.body(x))) and pass that. "
        "Gradient, occlusion, RISE, LIME and SHAP methods work on plain callables as they are." % what
    )
