"""Shared preparation of attribution maps and masks for the per-input metrics.

Quantus 0.6.0's preprocessing (``Metric.general_preprocess``) is: normalise the
attributions by their maximum absolute value (``normalise_by_max``), then take
the absolute value if the metric's ``abs`` is set. Quantus normalises over the
whole ``a_batch`` at once (all axes, the batch included); here each input is
normalised by its own maximum (``normalise=True``), so an input's score does not
depend on the other inputs; ``normalise='batch'`` reproduces Quantus.
"""
import numbers

import numpy as np

from ..explanation import Explanation

#: Accepted values of ``normalise``.
NORMALISE = (True, False, "batch")


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError("%s: expected a bool, got %r" % (name, value))
    return bool(value)


def attribution_maps(attributions, reduce="sum", name="attributions"):
    """Attributions as float64 maps ``(N, ...)`` and the method that produced them.

    An :class:`Explanation` gives its heatmap ``(N, H, W)`` (channels combined by
    ``reduce``, as Quantus expects ``a_batch`` of shape ``(N, 1, H, W)``); an
    array is used as it is (at least 2-D: one row per input).
    """
    if isinstance(attributions, Explanation):
        maps, method = attributions.heatmap(reduce), attributions.method
    else:
        if isinstance(attributions, (str, bytes, dict)) or attributions is None:
            raise TypeError("%s: expected an Explanation or an array (N, ...), got %s"
                            % (name, type(attributions).__name__))
        maps, method = np.asarray(attributions), None
        if maps.dtype.kind not in "biuf":
            raise TypeError("%s: expected a numeric array (N, ...), got dtype %s" % (name, maps.dtype))
        if maps.ndim < 2:
            raise ValueError("%s: expected an array (N, ...) with one row per input, got shape %s"
                             % (name, maps.shape))
    maps = np.asarray(maps, np.float64)
    if len(maps) == 0 or maps[0].size == 0:
        raise ValueError("%s: expected at least one input with at least one value, got shape %s"
                         % (name, maps.shape))
    bad = ~np.isfinite(maps.reshape(len(maps), -1)).all(axis=1)
    if bad.any():
        raise ValueError("%s: expected finite values, got NaN or inf in input(s) %s"
                         % (name, np.flatnonzero(bad)[:10].tolist()))
    return maps, method


def prepare_rows(maps, absolute, normalise):
    """Quantus's preprocessing on ``(N, ...)`` maps, flattened to rows ``(N, P)``: normalise by max, then abs."""
    absolute = _check_bool("abs", absolute)
    if normalise not in NORMALISE or not isinstance(normalise, (bool, np.bool_, str)):
        raise ValueError("normalise: expected True (per input), False or 'batch' (Quantus), got %r" % (normalise,))
    rows = maps.reshape(len(maps), -1).copy()
    if normalise == "batch":
        peak = np.abs(rows).max()
        if peak > 0:
            rows /= peak
    elif normalise:
        peak = np.abs(rows).max(axis=1, keepdims=True)
        rows = np.divide(rows, peak, out=rows, where=peak > 0)
    return np.abs(rows) if absolute else rows


def mask_rows(masks, n, n_values, name="masks"):
    """Boolean masks ``(N, P)`` matching ``n`` maps of ``n_values`` values each.

    Accepts one mask per input with the maps' number of values in any layout
    (``(N, H, W)``, ``(N, H, W, 1)``, ``(N, 1, H, W)``, ``(N, H*W)``) or one mask
    for all inputs (``(H, W)``); nonzero means inside.
    """
    if masks is None:
        raise TypeError("%s: a localisation metric needs masks (N, H, W) of the regions the maps should "
                        "highlight, got None" % name)
    arr = np.asarray(masks)
    if arr.dtype.kind not in "biuf":
        raise TypeError("%s: expected a numeric or boolean array, got dtype %s" % (name, arr.dtype))
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("%s: expected finite values (0 outside, nonzero inside), got NaN or inf" % name)
    if arr.size == n_values:
        arr = np.broadcast_to(arr.reshape(1, n_values), (n, n_values))
    elif arr.ndim >= 1 and arr.shape[0] == n and arr.size == n * n_values:
        arr = arr.reshape(n, n_values)
    else:
        raise ValueError("%s: expected one mask per input with %d values each (e.g. shape (%d, H, W)) or one mask "
                         "of %d values for all, got shape %s" % (name, n_values, n, n_values, arr.shape))
    return arr != 0


def check_fraction(name, value, low=0.0, high=1.0):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError("%s: expected a number in [%g, %g], got %r" % (name, low, high, value))
    if not low <= float(value) <= high:
        raise ValueError("%s: expected a number in [%g, %g], got %r" % (name, low, high, value))
    return float(value)

