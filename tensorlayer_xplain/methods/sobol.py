"""Sobol attribution: total-order Sobol indices of the cells of a grid of masks (Fel et al., 2021).

Fel, Cadène, Chalvidal, Cord, Vigouroux & Serre (2021), "Look at the Variance!
Efficient Black-box Explanations with Sobol-based Sensitivity Analysis", NeurIPS;
the reference implementation is Xplique's ``SobolAttributionMethod``. The input
is cut into ``grid_size x grid_size`` cells; each cell gets a mask value in
[0, 1] drawn from a quasi-Monte Carlo (Sobol) sequence; the model scores the
input perturbed by the masks (upsampled to the nearest cell), and the total-order
Sobol index of a cell measures how much of the score's variance involves that
cell, interactions included (Jansen's estimator).

Design (Saltelli's scheme, as Xplique): two matrices ``A`` and ``B`` of
``nb_design`` points in ``[0, 1]^d`` (``d = grid_size**2``) come from one
``2d``-dimensional Sobol sequence; for each cell ``k`` the matrix ``C_k`` is
``A`` with column ``k`` taken from ``B``. The masks are the rows of
``[A; B; C_1; ...; C_d]``, ``nb_design * (d + 2)`` per input, and mask ``j`` is
built from ``(A, B, j)`` alone, so only the masks of a block exist at a time.
"""
import cv2
import numpy as np
from scipy.stats import qmc

from .._utils.docstrings import shared_docstring
from ._engine.blocks import BLOCK_BYTES
from ._engine.checks import seed_value
from ._engine.masking import masked_scores
from ._engine.sampling import pair_index
from ._engine.utils import upsample
from .registry import count, register_method

__all__ = ["sobol", "default_grid_size", "sobol_design", "sobol_masks", "jansen_total_indices", "SOBOL_PERTURBATIONS",
           "MAX_GRID_SIZE", "MAX_NB_DESIGN", "MAX_SOBOL_MASKS"]

#: Perturbation functions (Xplique's ``inpainting``, ``blurring``, ``amplitude``).
SOBOL_PERTURBATIONS = ("inpainting", "blur", "amplitude")
#: Largest ``grid_size``: SciPy's Sobol sequences have at most 21201 dimensions (``2 * grid_size**2``).
MAX_GRID_SIZE = 100
#: Largest ``nb_design`` (a power of two).
MAX_NB_DESIGN = 1024
#: Largest number of masks per input, ``nb_design * (grid_size**2 + 2)``.
MAX_SOBOL_MASKS = 1_000_000
#: Box-blur kernel (pixels) of the ``'blur'`` perturbation and scale of ``'amplitude'`` (Xplique's defaults).
BLUR_KERNEL, AMPLITUDE_SIGMA = 10, 1.0
#: Floor of the variance in Jansen's estimator (Xplique's ``EPS``).
_EPS = 1e-12


def sobol_design(grid_size, nb_design, seed=0):
    """The matrices ``A`` and ``B`` of the design: ``nb_design`` points of a scrambled Sobol sequence.

    Parameters
    ----------
    grid_size : int
    nb_design : int
        A power of two (the balance of Sobol points needs it).
    seed : int or None
        Seed of the scrambling (Owen scrambling, :class:`scipy.stats.qmc.Sobol`).

    Returns
    -------
    a, b : ndarray, float32, shape (nb_design, grid_size**2)

    Examples
    --------
    >>> a, b = sobol_design(2, 4, seed=0)
    >>> a.shape, b.shape, bool(((a >= 0) & (a < 1)).all())
    ((4, 4), (4, 4), True)
    """
    d = int(grid_size) ** 2
    points = qmc.Sobol(2 * d, scramble=True, seed=seed).random(int(nb_design)).astype(np.float32)
    return points[:, :d], points[:, d:]


def sobol_masks(a, b, indices, grid_size):
    """Masks number ``indices`` of the design ``[A; B; C_1; ...; C_d]`` at grid resolution.

    Rows ``0 .. nb-1`` are ``A``, ``nb .. 2nb-1`` are ``B``, and row
    ``2nb + k nb + r`` is ``A[r]`` with cell ``k`` from ``B[r]`` (Xplique's order).

    Parameters
    ----------
    a, b : ndarray, shape (nb_design, grid_size**2)
    indices : array of int
    grid_size : int

    Returns
    -------
    ndarray, float32, shape (len(indices), grid_size, grid_size)

    Examples
    --------
    >>> a, b = np.zeros((2, 4), np.float32), np.ones((2, 4), np.float32)
    >>> sobol_masks(a, b, [0, 2, 5, 7], 2).reshape(4, 4)   # A[0], B[0], C_1[1], C_2[1]
    array([[0., 0., 0., 0.],
           [1., 1., 1., 1.],
           [1., 0., 0., 0.],
           [0., 1., 0., 0.]], dtype=float32)
    """
    nb = len(a)
    j = np.asarray(indices, np.int64)
    out = np.empty((len(j), a.shape[1]), np.float32)
    out[j < nb] = a[j[j < nb]]
    in_b = (j >= nb) & (j < 2 * nb)
    out[in_b] = b[j[in_b] - nb]
    in_c = np.flatnonzero(j >= 2 * nb)
    cell, row = np.divmod(j[in_c] - 2 * nb, nb)
    out[in_c] = a[row]
    out[in_c, cell] = b[row, cell]
    return out.reshape(len(j), grid_size, grid_size)


def jansen_total_indices(scores, nb_design, n_cells):
    """Jansen's estimator of the total-order Sobol indices from the scores of the design.

    ``ST_k = sum_r (f(A_r) - f(C_k,r))^2 / (2 nb Var[f(A)])`` (sample variance,
    ``ddof=1``, floored at 1e-12 as in Xplique).

    Parameters
    ----------
    scores : ndarray, shape (N, nb_design * (n_cells + 2))
        Scores of the masks in design order (:func:`sobol_masks`).
    nb_design, n_cells : int

    Returns
    -------
    ndarray, float64, shape (N, n_cells)

    Examples
    --------
    >>> f = np.array([[0., 2., 9., 9., 0., 2., 1., 1.]])   # f(A), f(B), f(C_1) = f(A), f(C_2)
    >>> jansen_total_indices(f, 2, 2)                       # Var f(A) = 2; cell 2: (1 + 1) / (2 * 2 * 2)
    array([[0.  , 0.25]])
    """
    scores = np.asarray(scores, np.float64)
    a = scores[:, :nb_design]
    c = scores[:, 2 * nb_design:].reshape(len(scores), n_cells, nb_design)
    var_a = np.maximum(a.var(axis=1, ddof=1), _EPS)
    return ((a[:, None, :] - c) ** 2).sum(axis=2) / (2.0 * nb_design * var_a[:, None])


def _perturbed_pair(adapter, x, perturbation):
    """``(kept, removed)``: the masked input is ``kept * m + removed * (1 - m)`` (Xplique's perturbations).

    ``inpainting``: ``x * m``; ``blur``: ``x * m + box_blur(x) * (1 - m)``;
    ``amplitude``: ``x * (m - 0.5) * sigma``, i.e. kept ``sigma x / 2``, removed ``-sigma x / 2``.
    """
    if perturbation == "inpainting":
        return x, 0.0
    if perturbation == "amplitude":
        return 0.5 * AMPLITUDE_SIGMA * x, -0.5 * AMPLITUDE_SIGMA * x
    h, w, c = adapter.image_shape
    images = x.reshape((len(x), h, w, c))
    blurred = np.stack([cv2.blur(image, (BLUR_KERNEL, BLUR_KERNEL)).reshape(h, w, c) for image in images])
    return x, blurred.reshape(x.shape).astype(np.float32)


#: ``grid_size`` when none is given (Xplique's), lowered to the input's sides when they are smaller.
DEFAULT_GRID_SIZE = 8


def default_grid_size(image_shape):
    """The cells per side ``sobol`` uses without ``grid_size``: ``min(8, H, W)`` of ``(H, W, C)``.

    Examples
    --------
    >>> default_grid_size((28, 28, 1)), default_grid_size((7, 4, 1))
    (8, 4)
    """
    return min(DEFAULT_GRID_SIZE, int(image_shape[0]), int(image_shape[1]))


def _grid_size(adapter, grid_size):
    return default_grid_size(adapter.image_shape) if grid_size is None else grid_size


def _check(adapter, grid_size, nb_design, perturbation):
    h, w, _ = adapter.image_shape
    for key, value in (("grid_size", grid_size), ("nb_design", nb_design)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError("%s: expected an int for sobol, got %r" % (key, value))
    limit = min(MAX_GRID_SIZE, h, w)
    if not 1 <= grid_size <= limit:
        raise ValueError("grid_size: expected an int between 1 and %d (at most %d, and the image is %dx%d) for "
                         "sobol, got %r" % (limit, MAX_GRID_SIZE, h, w, grid_size))
    if not 2 <= nb_design <= MAX_NB_DESIGN or nb_design & (nb_design - 1):
        raise ValueError("nb_design: expected a power of two between 2 and %d for sobol, got %r"
                         % (MAX_NB_DESIGN, nb_design))
    masks = int(nb_design) * (int(grid_size) ** 2 + 2)
    if masks > MAX_SOBOL_MASKS:
        raise ValueError("nb_design: nb_design * (grid_size**2 + 2) = %d masks per input, over the limit of %d for "
                         "sobol; lower grid_size or nb_design" % (masks, MAX_SOBOL_MASKS))
    if perturbation not in SOBOL_PERTURBATIONS:
        raise ValueError("perturbation: expected one of %s, got %r" % (SOBOL_PERTURBATIONS, perturbation))
    return masks


def _sobol_cost(adapter, n, grid_size=None, nb_design=32, perturbation="inpainting", **_):
    """One forward pass per mask: ``nb_design * (grid_size**2 + 2)`` per input (parameters checked first)."""
    return n * _check(adapter, _grid_size(adapter, grid_size), nb_design, perturbation), 0


@register_method("sobol", aliases=("sobol_attribution",), family="perturbation", cost=_sobol_cost,
                 batchable=lambda params: params.get("seed") is not None,
                 ranges={"grid_size": count(MAX_GRID_SIZE, bound="short_side"),
                         "nb_design": count(MAX_NB_DESIGN, low=2)},
                 benchmark={"quick": {"nb_design": 8}, "work": ("grid_size", "nb_design")})
@shared_docstring
def sobol(adapter, inputs, targets, grid_size=None, nb_design=32, perturbation="inpainting", seed=0, batch_size=None):
    """Sobol attribution: total-order Sobol indices of the cells of a grid of quasi-random masks.

    Fel et al. (2021), "Look at the Variance! Efficient Black-box Explanations
    with Sobol-based Sensitivity Analysis" (Xplique ``SobolAttributionMethod``).
    The input is cut into ``grid_size x grid_size`` cells whose mask values
    ``m`` in [0, 1] follow a scrambled Sobol sequence in Saltelli's design
    (``nb_design * (grid_size**2 + 2)`` masks, the same for every input). Each
    mask is upsampled to the nearest cell and applied with ``perturbation``:

    * ``'inpainting'``: ``x * m`` (a cell fades to black);
    * ``'blur'``: ``x * m + blur(x) * (1 - m)`` (a 10-pixel box blur, as Xplique);
    * ``'amplitude'``: ``x * (m - 0.5)`` (Xplique's operator with ``sigma=1``).

    A cell's total-order index ``ST_k = E[Var(f | all cells but k)] / Var(f)``
    (Jansen's estimator on the scores the adapter explains: logits by default)
    is the share of the score's variance in which cell ``k`` takes part,
    interactions included; the ``(grid_size, grid_size)`` indices are upsampled
    bicubically to the input size (as Xplique). The ``(input, mask)`` pairs are
    scored mask by mask in compiled blocks, each block building only the masks
    it uses, at most ``batch_size`` perturbed inputs in flight at once.

    Parameters
    ----------
    %(method_inputs)s
    grid_size : int or None
        Cells per side, between 1 and ``min(100, H, W)``; None: ``min(8, H, W)``
        (Xplique's 8, fewer on a smaller input such as a short sequence).
    nb_design : int
        Points of the Sobol sequence, a power of two between 2 and 1024 (Xplique: 32);
        ``nb_design * (grid_size**2 + 2)`` at most 1,000,000.
    perturbation : {'inpainting', 'blur', 'amplitude'}
    seed : int or None
        Seed of the sequence's scrambling: the same seed gives the same masks and
        the same result (independently of ``batch_size`` and of the batch); None
        is not reproducible.
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``grid_indices`` (N, grid_size, grid_size): the total-order indices per
        cell before upsampling; ``n_masks`` per input.

    Raises
    ------
    ValueError
        ``grid_size``, ``nb_design`` or ``perturbation`` out of range.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'sobol', grid_size=4, nb_design=8, seed=0)
    >>> exp.meta['grid_indices'].shape, exp.meta['n_masks']
    ((4, 4, 4), 144)
    >>> blur = tlxp.explain(model, x, 'sobol', grid_size=4, nb_design=8, perturbation='blur')
    """
    grid_size = _grid_size(adapter, grid_size)
    n_masks = _check(adapter, grid_size, nb_design, perturbation)
    seed = seed_value("seed", seed)
    grid_size, nb_design = int(grid_size), int(nb_design)
    h, w, _ = adapter.image_shape
    a, b = sobol_design(grid_size, nb_design, seed)
    x = np.asarray(inputs, np.float32)
    kept, removed = _perturbed_pair(adapter, x, perturbation)
    # scores of (input, mask) pairs, int64 pair indices included: inputs in chunks of at most BLOCK_BYTES of them
    step = max(1, BLOCK_BYTES // (20 * n_masks))
    indices = []
    for start in range(0, len(x), step):
        stop = min(len(x), start + step)
        i, j = pair_index(stop - start, n_masks, major="sample")  # mask-major: a block needs few masks
        scores = masked_scores(adapter, kept[start:stop], targets[start:stop] if not callable(targets) else targets,
                               (i, j), lambda js: sobol_masks(a, b, js, grid_size),
                               baseline=removed if np.ndim(removed) == 0 else removed[start:stop],
                               upsample="nearest", batch_size=batch_size)
        indices.append(jansen_total_indices(scores.reshape(n_masks, stop - start).T, nb_design, grid_size ** 2))
    grid = np.concatenate(indices).reshape(len(x), grid_size, grid_size).astype(np.float32)
    maps = upsample(grid, (h, w), method="bicubic")
    return maps.astype(np.float32), {"grid_indices": grid, "n_masks": n_masks}
