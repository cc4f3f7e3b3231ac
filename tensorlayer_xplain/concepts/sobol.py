"""Total-order Sobol indices of a function of ``d`` factors in [0, 1]: replicated designs and Jansen's estimator.

CRAFT (Fel et al. 2023) ranks concepts by how much of the class score's variance each concept
explains, interactions included, when the concept coefficients are scaled by random masks in
[0, 1]: the total-order Sobol index ``ST_i``. As Xplique's ``HaltonSequenceRS`` and
``JansenEstimator``: two quasi-random matrices ``A`` and ``B`` (a Halton sequence in ``2d``
dimensions, split in halves), and for each factor ``i`` the matrix ``C_i`` = ``A`` with column ``i``
taken from ``B``; then (Jansen 1999, the estimator of :mod:`tensorlayer_xplain.methods.sobol`)::

    ST_i = sum_n (f(A_n) - f(C_i,n))^2 / (2 N Var f(A))
"""
import numpy as np

__all__ = ["replicated_design", "jansen_total_indices", "MAX_DESIGN"]

#: Largest ``nb_design`` (points of ``A``); the function is evaluated ``nb_design * (d + 2)`` times.
MAX_DESIGN = 4096


def replicated_design(d, nb_design):
    """The masks ``[A; B; C_0; ...; C_{d-1}]`` of a replicated design, shape ``(nb_design * (d + 2), d)``.

    Parameters
    ----------
    d : int >= 1
        Number of factors.
    nb_design : int in [2, 4096]
        Points per matrix.

    Returns
    -------
    ndarray, float32, shape (nb_design * (d + 2), d)
        Values in [0, 1); deterministic (an unscrambled Halton sequence).

    Examples
    --------
    >>> replicated_design(3, 8).shape
    (40, 3)
    """
    from scipy.stats import qmc

    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError("d: expected a positive number of factors, got %r" % (d,))
    if isinstance(nb_design, bool) or not isinstance(nb_design, (int, np.integer)) or not 2 <= nb_design <= MAX_DESIGN:
        raise ValueError("nb_design: expected an int in [2, %d], got %r" % (MAX_DESIGN, nb_design))
    ab = qmc.Halton(2 * d, scramble=False).random(nb_design).astype(np.float32)
    a, b = ab[:, :d], ab[:, d:]
    c = np.repeat(a[None], d, axis=0)  # (d, nb_design, d)
    c[np.arange(d), :, np.arange(d)] = b.T
    return np.concatenate([a, b, c.reshape(d * nb_design, d)], axis=0)


def jansen_total_indices(outputs, nb_design, d):
    """Jansen's estimator of the total-order Sobol indices from the outputs on a replicated design.

    The estimator of :func:`tensorlayer_xplain.methods.sobol.jansen_total_indices` (the Sobol
    attribution method's, in the design order of :func:`replicated_design`), for one function.

    Parameters
    ----------
    outputs : ndarray, shape (nb_design * (d + 2),)
        ``f`` on the rows of :func:`replicated_design` (in its order).
    nb_design : int
    d : int

    Returns
    -------
    ndarray, float64, shape (d,)
        ``ST_i``; 0 for every factor when ``f`` is constant on ``A``.

    Examples
    --------
    >>> masks = replicated_design(2, 256)
    >>> st = jansen_total_indices(3 * masks[:, 0] + masks[:, 1], 256, 2)   # additive: ST_i = a_i^2 / sum a_j^2
    >>> np.round(st, 1)
    array([0.9, 0.1])
    """
    from ..methods.sobol import jansen_total_indices as jansen

    y = np.asarray(outputs, np.float64).reshape(-1)
    if len(y) != nb_design * (d + 2):
        raise ValueError("outputs: expected nb_design * (d + 2) = %d values, got %d" % (nb_design * (d + 2), len(y)))
    return jansen(y[None], nb_design, d)[0]
