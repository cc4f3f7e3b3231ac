"""Faithfulness by perturbation curves, as Quantus 0.6.0 computes them, every step of every input stacked.

``pixel_flipping`` (Bach et al., 2015), ``region_perturbation`` (Samek et al.,
2016), ``monotonicity_correlation`` (Nguyen & Rodriguez Martinez, 2020) and
``infidelity`` (Yeh et al., 2019). Quantus calls the model once per step for a
batch of inputs; here the perturbed copies of all steps and inputs are built as
arrays and sent through the model in as few batched calls as memory allows
(:func:`~._model_inputs.perturbed_outputs`).

Layout: values are counted in the model's input layout (channel-last images).
Quantus works channel-first and broadcasts a ``(N, 1, H, W)`` map over the
channels; for one channel (MNIST) both orders are the same and the scores are
equal; with several channels the same values are ranked, ties may be visited in
another order.
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from ._common import _check_choice, _check_int, _check_seed, _spearman_rows
from ._maps import prepare_rows
from ._model_inputs import black_fill, model_outputs, model_setup, perturbed_outputs
from .registry import register_metric, scored

__all__ = ["pixel_flipping", "region_perturbation", "monotonicity_correlation", "infidelity"]

ORDERS = ("morf", "lerf", "random")
INFIDELITY_PERTURBATIONS = ("patches", "noise")


def _fill(flat, baseline, name="perturb_baseline"):
    """Per-input replacement value ``(N,)``: 'black' (the input's minimum), 'white', 'mean' or a number."""
    if isinstance(baseline, str):
        fills = {"black": black_fill, "white": lambda f: f.max(axis=1), "mean": lambda f: f.mean(axis=1)}
        if baseline not in fills:
            raise ValueError("%s: expected 'black', 'white', 'mean' or a number, got %r" % (name, baseline))
        return fills[baseline](flat)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float, np.number)) or not np.isfinite(baseline):
        raise TypeError("%s: expected 'black', 'white', 'mean' or a finite number, got %r" % (name, baseline))
    return np.full(len(flat), float(baseline))


def _ranks(order):
    """``rank[i, p]``: the position of value ``p`` in row ``i`` of ``order``."""
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
    return rank


def _image_geometry(attributions, adapter, d):
    """``(H, W, C)`` of the inputs: the explanation's image shape, else the adapter's."""
    shape = getattr(attributions, "image_shape", None) or adapter.image_shape
    if shape is None or len(shape) != 3 or int(np.prod(shape)) != d:
        raise ValueError("inputs: expected images (N, H, W, C) with %d values, got image shape %s" % (d, shape))
    return tuple(int(s) for s in shape)


def _padding(dim, patch):
    """Quantus's ``get_padding_size``: the padding that makes ``dim`` a multiple of ``patch``, split in two."""
    extra = (-dim) % patch
    return extra // 2, extra - extra // 2


def _pixel_blocks(h, w, patch):
    """Block id of each pixel ``(H*W,)`` on Quantus's padded grid, row-major, and the number of blocks."""
    (top, bottom), (left, right) = _padding(h, patch), _padding(w, patch)
    n_cols = (w + left + right) // patch
    ids = ((np.arange(h) + top) // patch)[:, None] * n_cols + ((np.arange(w) + left) // patch)[None, :]
    return ids.reshape(-1), ((h + top + bottom) // patch) * n_cols


def _block_sums(rows, geometry, patch):
    """Attribution sum per block ``(N, n_blocks)``, summed in Quantus's order (zero-padded, channel-first)."""
    h, w, c = geometry
    n = len(rows)
    cf = np.moveaxis(rows.reshape(n, h, w, c), -1, 1)
    (top, bottom), (left, right) = _padding(h, patch), _padding(w, patch)
    pad = np.pad(cf, ((0, 0), (0, 0), (top, bottom), (left, right)))
    hb, wb = pad.shape[2] // patch, pad.shape[3] // patch
    blocks = pad.reshape(n, c, hb, patch, wb, patch).transpose(0, 2, 4, 1, 3, 5).reshape(n, hb * wb, -1)
    return blocks.sum(axis=-1)


def _patch_remover(pixel_rank, fill, images):
    """``build(start, k)`` for :func:`perturbed_outputs`: step ``j`` fills every pixel of rank <= ``j``.

    ``pixel_rank`` (N, H*W) is the step at which each pixel's patch is removed;
    ``images`` (N, H*W, C); ``fill`` (N,).
    """
    def build(start, k):
        removed = pixel_rank[None] <= np.arange(start, start + k)[:, None, None]
        return np.where(removed[..., None], fill[None, :, None, None], images[None])

    return build


def _setup_curve(metric, attributions, model, inputs, targets, abs, normalise):
    adapter, x, targets, attr, method = model_setup(metric, attributions, model, inputs, targets)
    flat = x.reshape(len(x), -1)
    if attr.shape[1] != flat.shape[1]:
        raise ValueError("attributions: expected one value per input value (%d), got %d"
                         % (flat.shape[1], attr.shape[1]))
    return adapter, x, flat, targets, prepare_rows(attr, abs, normalise), method


@register_metric("pixel_flipping", direction="lower", family="faithfulness")
@shared_docstring
def pixel_flipping(attributions, model=None, inputs=None, targets=None, features_in_step=1,
                   perturb_baseline="black", abs=False, normalise=True, softmax=True, batch_size=None):
    """Pixel flipping: remove input values in descending attribution order; a faithful map makes the score fall fast.

    Bach et al. (2015), "On Pixel-Wise Explanations for Non-Linear Classifier
    Decisions by Layer-Wise Relevance Propagation", PLoS ONE;
    ``quantus.PixelFlipping``. Values are set to the baseline
    ``features_in_step`` at a time, cumulatively; after each step the softmax
    probability of the explained class is recorded (the curve). The score is the
    area under that curve (trapezoid rule, unit spacing: Quantus's
    ``return_auc_per_sample=True``). Lower is better. ``ceil(D /
    features_in_step)`` model calls per input, all batched.

    Parameters
    ----------
    %(metric_attributions)s
    features_in_step : int
        Input values removed per step (Quantus's default 1: one step per value).
    perturb_baseline : {'black', 'white', 'mean'} or float
        What removed values become: each input's minimum (Quantus's default
        'black'), maximum, mean, or a number.
    %(metric_preprocess)s
    %(metric_softmax)s
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) the area under each curve, ``details['curves']``
        ``(N, steps)``, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.pixel_flipping(exp, model=model, features_in_step=28).scores   # doctest: +IGNORE_RESULT
    """
    adapter, x, flat, targets, rows, method = _setup_curve("pixel_flipping", attributions, model, inputs, targets,
                                                           abs, normalise)
    d = flat.shape[1]
    step = _check_int("features_in_step", features_in_step, 1)
    if step > d:
        raise ValueError("features_in_step: expected at most the %d input values, got %d" % (d, step))
    fill = _fill(flat, perturb_baseline)
    rank = _ranks(np.argsort(-rows, axis=1))
    n_steps = -(-d // step)

    def build(start, k):
        limit = (np.arange(start, start + k) + 1) * step
        return np.where(rank[None] < limit[:, None, None], fill[None, :, None], flat[None])

    curves = perturbed_outputs(adapter, x, n_steps, build, batch_size, softmax=softmax, targets=targets)
    return scored("pixel_flipping", np.trapezoid(curves, dx=1, axis=1), method, details={"curves": curves},
                  features_in_step=step, perturb_baseline=perturb_baseline, abs=abs, normalise=normalise)


@register_metric("region_perturbation", direction="higher", family="faithfulness")
@shared_docstring
def region_perturbation(attributions, model=None, inputs=None, targets=None, patch_size=8, order="morf",
                        regions_evaluation=100, perturb_baseline="black", abs=False, normalise=True, seed=0,
                        softmax=True, batch_size=None):
    """Region perturbation: remove square patches in attribution order and follow the drop of the score.

    Samek et al. (2016), "Evaluating the Visualization of What a Deep Neural
    Network Has Learned", IEEE TNNLS; ``quantus.RegionPerturbation``. The image is
    cut into ``patch_size`` squares (padded to a multiple as Quantus: the
    attributions with zeros, the input with its edge values), patches are ranked
    by their attribution sum and removed cumulatively (all channels);
    after each removal ``f(x) - f(x perturbed)`` (softmax probability of the
    explained class) is recorded. The score is the area under that curve (unit
    spacing, Quantus's ``get_auc_score`` per input, the AOPC up to a factor):
    with ``order='morf'`` (most relevant first) higher is better. Quantus 0.6.0
    labels this metric 'lower is better'; a larger drop when the most relevant
    regions go is what the paper calls faithful, so the direction here is
    'higher' (with ``order='lerf'`` read it the other way). ``min(regions_evaluation,
    n_patches)`` model calls per input, all batched.

    Parameters
    ----------
    %(metric_attributions)s
    patch_size : int
        Side of the square patches in pixels (Quantus's default 8).
    order : {'morf', 'lerf', 'random'}
        Most relevant first (default), least relevant first, or random.
    regions_evaluation : int
        Patches removed (Quantus's default 100).
    perturb_baseline : {'black', 'white', 'mean'} or float
        What removed values become (Quantus's default 'black').
    %(metric_preprocess)s
    seed : int
        Seed of ``order='random'`` (``np.random.RandomState(seed).permutation``
        per input: Quantus's draws after ``np.random.seed(seed)``).
    %(metric_softmax)s
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,), ``details['curves']`` ``(N, regions)``, ``direction`` 'higher'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.region_perturbation(exp, model=model, patch_size=4).scores   # doctest: +IGNORE_RESULT
    """
    adapter, x, flat, targets, rows, method = _setup_curve("region_perturbation", attributions, model, inputs,
                                                           targets, abs, normalise)
    h, w, c = _image_geometry(attributions, adapter, flat.shape[1])
    patch = _check_int("patch_size", patch_size, 1)
    if patch > min(h, w):
        raise ValueError("patch_size: expected at most the image's smaller side %d, got %d" % (min(h, w), patch))
    order = _check_choice("order", order, ORDERS)
    n_regions = _check_int("regions_evaluation", regions_evaluation, 1)
    seed = _check_seed(seed)
    fill = _fill(flat, perturb_baseline)
    block_of, n_blocks = _pixel_blocks(h, w, patch)
    n_regions = min(n_regions, n_blocks)
    sums = _block_sums(rows, (h, w, c), patch)
    if order == "random":
        rng = np.random.RandomState(seed)
        ranking = np.array([rng.permutation(n_blocks) for _ in range(len(x))])
    else:
        ranking = np.argsort(-sums if order == "morf" else sums, axis=-1)
    pixel_rank = _ranks(ranking)[:, block_of]  # (N, H*W): when each pixel's patch is removed
    build = _patch_remover(pixel_rank, fill, flat.reshape(len(x), h * w, c))
    full = model_outputs(adapter, x, softmax, batch_size)[np.arange(len(x)), targets]
    drops = full[:, None] - perturbed_outputs(adapter, x, n_regions, build, batch_size, softmax=softmax,
                                              targets=targets)
    return scored("region_perturbation", np.trapezoid(drops, dx=1, axis=1), method, details={"curves": drops},
                  patch_size=patch, order=order, regions_evaluation=n_regions, perturb_baseline=perturb_baseline,
                  seed=seed)


@register_metric("monotonicity_correlation", direction="higher", family="faithfulness")
@shared_docstring
def monotonicity_correlation(attributions, model=None, inputs=None, targets=None, nr_samples=100,
                             features_in_step=1, eps=1e-5, abs=True, normalise=True, seed=0, softmax=True,
                             batch_size=None):
    """Monotonicity correlation: Spearman correlation of each feature group's attribution and its effect on the output.

    Nguyen & Rodriguez Martinez (2020), "On Quantitative Aspects of Model
    Interpretability"; ``quantus.MonotonicityCorrelation``. Values are taken in
    ascending attribution order, ``features_in_step`` at a time; each group is
    replaced ``nr_samples`` times by a uniform random value in [0, 1) (one per
    input and draw: Quantus's ``perturb_baseline='uniform'``), and its effect is
    the mean of ``(f(x perturbed) - f(x))**2 / f(x)**2`` (softmax probability of
    the explained class; ``1 / f(x)**2`` replaced by 1 when ``|f(x)| < eps``).
    The score is the Spearman correlation, over the groups, of the attribution
    sum and the effect: 1 when more attribution always means a larger effect.
    Higher is better. ``ceil(D / features_in_step) * nr_samples`` model calls per
    input, all batched.

    Parameters
    ----------
    %(metric_attributions)s
    nr_samples : int
        Random replacements per group (Quantus's default 100).
    features_in_step : int
        Input values per group (Quantus's default 1).
    eps : float
        Smallest ``|f(x)|`` divided by (Quantus's default 1e-5).
    %(metric_preprocess)s
        Defaults as Quantus: ``abs=True``, ``normalise=True``.
    seed : int
        Seed of the random values, drawn from ``np.random.RandomState(seed)`` in
        Quantus's order (group by group, draw by draw, one per input): Quantus
        after ``np.random.seed(seed)`` draws the same ones.
    %(metric_softmax)s
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [-1, 1] (NaN for a constant map), ``direction`` 'higher'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.monotonicity_correlation(exp, model=model, nr_samples=10,
    ...                                       features_in_step=28).scores
    """
    adapter, x, flat, targets, rows, method = _setup_curve("monotonicity_correlation", attributions, model, inputs,
                                                           targets, abs, normalise)
    n, d = flat.shape
    samples = _check_int("nr_samples", nr_samples, 1)
    step = _check_int("features_in_step", features_in_step, 1)
    if step > d:
        raise ValueError("features_in_step: expected at most the %d input values, got %d" % (d, step))
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.number)) or not eps >= 0:
        raise ValueError("eps: expected a number >= 0, got %r" % (eps,))
    seed = _check_seed(seed)
    order = np.argsort(rows, axis=1)
    group = _ranks(order) // step  # (N, D): the step at which each value is replaced
    n_steps = -(-d // step)
    rng = np.random.RandomState(seed)

    def build(start, k):
        fills = rng.uniform(size=(k, n))
        steps = np.arange(start, start + k) // samples
        return np.where(group[None] == steps[:, None, None], fills[:, :, None], flat[None])

    y = model_outputs(adapter, x, softmax, batch_size)[np.arange(n), targets]
    inverse = np.where(np.abs(y) >= eps, 1.0 / np.where(np.abs(y) > 0, np.abs(y), 1.0), 1.0) ** 2
    perturbed = perturbed_outputs(adapter, x, n_steps * samples, build, batch_size, softmax=softmax, targets=targets)
    effects = ((perturbed.reshape(n, n_steps, samples) - y[:, None, None]) ** 2).mean(axis=2) * inverse[:, None]
    sorted_rows = np.take_along_axis(rows, order, axis=1)
    sums = np.pad(sorted_rows, ((0, 0), (0, n_steps * step - d))).reshape(n, n_steps, step).sum(axis=2)
    return scored("monotonicity_correlation", _spearman_rows(sums, effects, identical=None), method,
                  details={"attribution_sums": sums, "effects": effects}, nr_samples=samples,
                  features_in_step=step, eps=eps, seed=seed)


@register_metric("infidelity", direction="lower", family="faithfulness")
@shared_docstring
def infidelity(attributions, model=None, inputs=None, targets=None, perturbation="patches", perturb_patch_sizes=(4,),
               perturb_baseline="black", n_perturb_samples=10, noise_std=0.1, abs=False, normalise=False, seed=0,
               batch_size=None):
    """Infidelity: mean squared error between the attribution-predicted and the real output change.

    Yeh et al. (2019), "On the (In)fidelity and Sensitivity of Explanations",
    NeurIPS. For perturbations ``I`` of the input: ``mean_I (sum(a * I) -
    (f(x) - f(x - I)))**2``, ``f`` the explained class's output (logits, as
    Quantus with ``softmax=False``). Zero for the gradient of a linear model.
    Lower is better.

    * ``perturbation='patches'`` (``quantus.Infidelity``): the image is cut into
      ``patch_size`` squares, which are set to the baseline one after another,
      cumulatively, in raster order; ``I = x - x perturbed`` after each square;
      the error is averaged over the squares, then over ``perturb_patch_sizes``.
      This perturbation is deterministic, so Quantus's ``n_perturb_samples``
      repetitions all give the same number; it is computed once here. Quantus
      0.6.0 fails when a side is not a multiple of the patch size (it reshapes
      the unpadded image to the padded shape); here the image is padded as in
      ``region_perturbation``.
    * ``perturbation='noise'`` (Yeh et al.'s and Captum's
      ``infidelity`` with a Gaussian ``perturb_func``): ``n_perturb_samples``
      draws of ``I ~ N(0, noise_std**2)`` per input value.

    Parameters
    ----------
    %(metric_attributions)s
    perturbation : {'patches', 'noise'}
    perturb_patch_sizes : sequence of int
        Square sides for 'patches' (Quantus's default ``[4]``).
    perturb_baseline : {'black', 'white', 'mean'} or float
        What a square becomes for 'patches' (Quantus's default 'black').
    n_perturb_samples : int
        Noise draws for 'noise' (Quantus's default 10).
    noise_std : float
        Noise standard deviation for 'noise'.
    %(metric_preprocess)s
        Both off by default, as Quantus.
    seed : int
        Seed of the noise for 'noise'.
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) >= 0, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.infidelity(exp, model=model).scores   # doctest: +IGNORE_RESULT
    """
    adapter, x, flat, targets, rows, method = _setup_curve("infidelity", attributions, model, inputs, targets, abs,
                                                           normalise)
    n, d = flat.shape
    perturbation = _check_choice("perturbation", perturbation, INFIDELITY_PERTURBATIONS)
    y = model_outputs(adapter, x, False, batch_size)[np.arange(n), targets]
    if perturbation == "noise":
        samples = _check_int("n_perturb_samples", n_perturb_samples, 1)
        if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float, np.number)) or not noise_std > 0:
            raise ValueError("noise_std: expected a number > 0, got %r" % (noise_std,))
        rng = np.random.RandomState(_check_seed(seed))
        noise = np.empty((samples, n, d), np.float32)

        def build_noise(start, k):
            noise[start:start + k] = rng.normal(0.0, noise_std, size=(k, n, d))
            return flat[None] - noise[start:start + k]

        out = perturbed_outputs(adapter, x, samples, build_noise, batch_size, targets=targets)
        predicted = np.einsum("nd,knd->nk", rows, noise.astype(np.float64))
        errors = ((y[:, None] - out) - predicted) ** 2
        return scored("infidelity", errors.mean(axis=1), method, perturbation=perturbation,
                      n_perturb_samples=samples, noise_std=noise_std, seed=seed)
    h, w, c = _image_geometry(attributions, adapter, d)
    sizes = [perturb_patch_sizes] if isinstance(perturb_patch_sizes, (int, np.integer)) else list(perturb_patch_sizes)
    if not sizes:
        raise ValueError("perturb_patch_sizes: expected at least one patch size, got none")
    fill = _fill(flat, perturb_baseline)
    images = flat.reshape(n, h * w, c)
    per_size = []
    for size in sizes:
        patch = _check_int("perturb_patch_sizes", size, 1)
        if patch > min(h, w):
            raise ValueError("perturb_patch_sizes: expected sizes up to the image's smaller side %d, got %d"
                             % (min(h, w), patch))
        block_of, n_blocks = _pixel_blocks(h, w, patch)
        build = _patch_remover(np.broadcast_to(block_of[None], (n, h * w)), fill, images)
        out = perturbed_outputs(adapter, x, n_blocks, build, batch_size, targets=targets)  # (N, n_blocks)
        # sum(a * (x - x_j)) after blocks 0..j are filled: cumulative per-block sums of a * (x - fill)
        gain = (rows.reshape(n, h * w, c) * (images - fill[:, None, None])).sum(axis=2)  # (N, H*W)
        per_block = np.zeros((n, n_blocks))
        np.add.at(per_block, (slice(None), block_of), gain)
        predicted = np.cumsum(per_block, axis=1)
        per_size.append((((y[:, None] - out) - predicted) ** 2).mean(axis=1))
    return scored("infidelity", np.mean(per_size, axis=0), method, perturbation=perturbation,
                  perturb_patch_sizes=sizes, perturb_baseline=perturb_baseline)
