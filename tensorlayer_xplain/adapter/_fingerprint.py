"""Fingerprints: a hash of a model's weight values."""
import numpy as np


def weights_fingerprint(adapter):
    """A hash of all weight values; changes whenever a weight changes."""
    import hashlib

    h = hashlib.sha1()
    weights = getattr(adapter.model, "all_weights", None)
    if weights is None:
        weights = getattr(adapter.model, "weights", [])
    for w in weights:
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    return h.hexdigest()
