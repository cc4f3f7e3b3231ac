"""Flags for explanations that look like maps but carry no information.

Two cases mislead users without any error:

* **all-equal outputs**: the model's scores for an input are all the same (e.g. all
  zero: the TL tutorial MLP ends in ``Dense(10, act=relu)`` and for some digits
  every output unit is dead). The "predicted class" is then arbitrary and every
  gradient is zero;
* **constant maps**: an attribution map with one value everywhere (often all zero).
  Drawn after normalization it is a flat black (or white) square, indistinguishable
  from "nothing matters here" versus "the method saw nothing".

:func:`flag_maps` finds both per input; the runner stores the flags in
``Explanation.meta`` (``'equal_outputs'``, ``'constant_map'``, bool arrays (N,))
and warns; figures and the report print a note next to such maps.
"""
import warnings

import numpy as np

__all__ = ["flag_maps", "constant_rows", "map_note"]


def constant_rows(values, rtol=1e-7):
    """Which rows of ``values`` (N, ...) hold a single value (up to ``rtol`` of their largest magnitude).

    Parameters
    ----------
    values : array-like, shape (N, ...)
    rtol : float
        Rows whose spread (max - min) is at most ``rtol * max|row|`` count as constant.

    Returns
    -------
    ndarray of bool, shape (N,)

    Examples
    --------
    >>> constant_rows(np.array([[0.0, 0.0], [0.0, 1.0]])).tolist()
    [True, False]
    """
    rows = np.asarray(values)
    rows = rows.reshape(len(rows), -1)
    high, low = rows.max(axis=1).astype(np.float64), rows.min(axis=1).astype(np.float64)
    return high - low <= rtol * np.maximum(np.abs(high), np.abs(low))


def _which(mask, limit=8):
    index = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in index[:limit])
    return shown + (", ..." if len(index) > limit else "")


def flag_maps(method, predictions, attributions, warn=True):
    """Per-input flags for non-finite maps, all-equal model outputs and constant maps, with a warning for each kind.

    Parameters
    ----------
    method : str
        Named in the warnings.
    predictions : ndarray, shape (N, K)
        The model's scores for the explained inputs.
    attributions : ndarray, shape (N, ...)
    warn : bool
        Emit ``RuntimeWarning`` s naming the inputs concerned.

    Returns
    -------
    dict
        ``{'equal_outputs': bool (N,), 'constant_map': bool (N,), 'non_finite': bool (N,)}``
        (``non_finite``: the map holds a NaN or an infinite value).

    Examples
    --------
    >>> flags = flag_maps('gradient', np.zeros((2, 10)), np.zeros((2, 784)), warn=False)
    >>> flags['equal_outputs'].tolist(), flags['constant_map'].tolist()
    ([True, True], [True, True])
    """
    attributions = np.asarray(attributions)
    finite = np.isfinite(attributions.reshape(len(attributions), -1)).all(axis=1) if attributions.size else \
        np.ones(len(attributions), bool)
    if warn and not finite.all():
        bad = ~finite
        count = int(np.size(attributions) - np.count_nonzero(np.isfinite(attributions)))
        outputs_finite = bool(np.isfinite(np.asarray(predictions, np.float64)[bad]).all())
        warnings.warn(
            "%s: %d attribution values are NaN or infinite, in %d of %d inputs (%s); %s"
            % (method, count, int(bad.sum()), len(bad), _which(bad),
               "the model's outputs for them are finite, so the method overflowed or divided by zero "
               "(try another method or check the model's layers)" if outputs_finite else
               "the model's outputs for them are NaN or infinite too (uncalibrated BatchNorm statistics, "
               "untrained or diverged weights?)"),
            RuntimeWarning, stacklevel=3)
    equal = constant_rows(predictions, rtol=0.0)
    constant = constant_rows(attributions) & finite
    if warn and equal.any():
        zero = bool(np.all(np.asarray(predictions)[equal] == 0))
        warnings.warn(
            "%s: the model's outputs are all %s for %d of %d inputs (%s)%s; the predicted class of those "
            "inputs is arbitrary and their gradients are zero"
            % (method, "zero" if zero else "equal", int(equal.sum()), len(equal), _which(equal),
               " (a ReLU on the output layer?)" if zero else ""),
            RuntimeWarning, stacklevel=3)
    if warn and constant.any():
        warnings.warn(
            "%s: the map is constant (one value everywhere, shown as a flat square) for %d of %d inputs (%s)"
            % (method, int(constant.sum()), len(constant), _which(constant)), RuntimeWarning, stacklevel=3)
    return {"equal_outputs": equal, "constant_map": constant, "non_finite": ~finite}


def map_note(exp, i):
    """A short note for input ``i`` of an Explanation when its map or outputs are flagged, else ``''``.

    Parameters
    ----------
    exp : Explanation
    i : int

    Returns
    -------
    str
        ``'constant map'``, ``'all outputs equal'``, both joined by ``'; '``, or ``''``.

    Examples
    --------
    >>> map_note(exp, 0)  # doctest: +IGNORE_RESULT
    'constant map; all outputs equal'
    """
    notes = []
    for key, text in (("constant_map", "constant map"), ("equal_outputs", "all outputs equal")):
        flags = exp.meta.get(key)
        if flags is not None and bool(np.asarray(flags).reshape(-1)[i]):
            notes.append(text)
    return "; ".join(notes)
