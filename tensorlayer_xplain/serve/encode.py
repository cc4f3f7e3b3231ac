"""Response encoding: overlay images, softmax probabilities, JSON-able parameter values."""
import json

import numpy as np

from ..visualize._draw import overlay_rgb  # noqa: F401  (kept importable from here)


def _softmax(scores):
    scores = np.asarray(scores, np.float64)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return "<array %s>" % (value.shape,)
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
