"""Quality metrics for explanations: faithfulness, sanity, agreement.

Every metric takes a model (or :class:`~tensorlayer_xplain.ModelAdapter`) and an
:class:`~tensorlayer_xplain.Explanation` of any registered method, and sends all
its perturbed inputs through the model in batches of ``batch_size`` (built chunk
by chunk, so memory stays bounded whatever the number of inputs and steps).

* :func:`deletion` / :func:`insertion` (Petsiuk, Das & Saenko, 2018, RISE):
  remove (or insert) pixels in the order of the attribution map and follow the
  probability of the explained class; the area under that curve (AUC) is low for
  a faithful map under deletion and high under insertion.
* :func:`mu_fidelity` (Bhatt, Weller & Moura, 2020): correlation between the
  attribution mass of random pixel subsets and the output drop when those subsets
  are removed.
* :func:`randomization_sanity_check` (Adebayo et al., 2018): an explanation that
  does not change when the model's weights are randomized does not explain the
  model.
* :func:`method_agreement`: pairwise Spearman rank correlation and top-k IoU
  between methods.
* :func:`evaluate`: a table (``pandas.DataFrame``) of methods x metrics, driven by
  a small registry (:func:`register_metric`), so a new metric needs no change
  elsewhere.

Pixels are the image pixels of the explanation's ``image_shape`` (H, W); a pixel
is removed or inserted with all its channels together, ranked by
``explanation.heatmap()``.

Examples
--------
>>> import tensorlayer_xplain as tlx                                   # doctest: +SKIP
>>> exp = tlx.explain(model, x_test[:32], 'integrated_gradients')      # doctest: +SKIP
>>> tlx.metrics.deletion(model, exp).mean_auc                          # doctest: +SKIP
0.12
>>> tlx.metrics.evaluate(model, {'ig': exp, 'grad': tlx.explain(model, x_test[:32])})  # doctest: +SKIP
metric  deletion  insertion  mu_fidelity
method
ig          0.12       0.71         0.35
grad        0.25       0.55         0.12
"""
import inspect
import math
import numbers
import warnings
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from .adapter import ModelAdapter, as_adapter
from .explanation import Explanation
from .methods._baselines import make_baseline
from .methods._sampling import pair_index, row_uniform
from .methods._utils import rng_for
from .methods.registry import check_params, method_info
from .runner import explain

__all__ = [
    "CurveResult",
    "FidelityResult",
    "SanityCheckResult",
    "Agreement",
    "MetricSpec",
    "METRICS",
    "SCORES",
    "SANITY_MODES",
    "DEFAULT_METRICS",
    "deletion",
    "insertion",
    "mu_fidelity",
    "randomization_sanity_check",
    "method_agreement",
    "register_metric",
    "available_metrics",
    "evaluate",
]

#: What a metric follows on the perturbed inputs: the softmax probability of the
#: explained class, or the adapter's own output (logits unless it was built with
#: ``output='probabilities'``).
SCORES = ("probability", "output")

#: Layer randomization orders of :func:`randomization_sanity_check`.
SANITY_MODES = ("cascading", "independent")


# ---------------------------------------------------------------------------- results
@dataclass
class CurveResult:
    """What :func:`deletion` and :func:`insertion` return.

    Attributes
    ----------
    metric : str
        ``'deletion'`` or ``'insertion'``.
    method : str
        The explanation's method.
    fractions : ndarray, shape (steps + 1,)
        Fraction of pixels removed (deletion) or inserted (insertion), 0 to 1.
    curve : ndarray, shape (N, steps + 1)
        Score of the explained class after each step, per input.
    auc : ndarray, shape (N,)
        Area under each input's curve (trapezoid rule over ``fractions``).
    mean_auc : float
        ``auc.mean()``; :attr:`score` is the same number.
    """

    metric: str
    method: str
    fractions: np.ndarray
    curve: np.ndarray
    auc: np.ndarray
    mean_auc: float

    @property
    def score(self):
        """The summary number (mean AUC)."""
        return self.mean_auc


@dataclass
class FidelityResult:
    """What :func:`mu_fidelity` returns.

    Attributes
    ----------
    method : str
    correlations : ndarray, shape (N,)
        Pearson correlation per input (NaN where either side is constant, e.g. for
        a constant attribution map).
    mean : float
        Mean of the defined correlations (NaN when none is); :attr:`score` too.
    attribution_sums : ndarray, shape (N, n_subsets)
        Attribution mass of each random subset.
    output_drops : ndarray, shape (N, n_subsets)
        ``f(x) - f(x with the subset set to the baseline)`` for the explained class.
    subset_size : int
        Pixels per subset.
    """

    method: str
    correlations: np.ndarray
    mean: float
    attribution_sums: np.ndarray
    output_drops: np.ndarray
    subset_size: int

    @property
    def score(self):
        """The summary number (mean correlation)."""
        return self.mean


@dataclass
class SanityCheckResult:
    """What :func:`randomization_sanity_check` returns.

    Attributes
    ----------
    method : str
    mode : {'cascading', 'independent'}
    layers : list of str
        The randomized layers, top (output) layer first.
    correlations : ndarray, shape (n_layers,)
        Mean Spearman rank correlation between the original and the randomized
        explanation (absolute values) after each stage.
    per_input : ndarray, shape (n_layers, N)
        The same, per input.
    threshold : float
        The check passes when the deciding correlation (:attr:`score`) is below it.
    passed : bool
        Cascading: the fully randomized model's correlation (last stage) is below
        ``threshold``; independent: the mean over the single-layer
        randomizations is.
    """

    method: str
    mode: str
    layers: list
    correlations: np.ndarray
    per_input: np.ndarray
    threshold: float
    passed: bool = field(default=False)

    @property
    def score(self):
        """The deciding correlation: last stage (cascading) or the mean over layers (independent)."""
        if len(self.correlations) == 0:
            return float("nan")
        if self.mode == "cascading":
            return float(self.correlations[-1])
        return float(np.mean(self.correlations))

    def to_frame(self):
        """``pandas.DataFrame`` with one row per stage: layer and mean correlation."""
        import pandas as pd

        return pd.DataFrame({"layer": list(self.layers), "spearman": np.asarray(self.correlations)},
                            index=pd.RangeIndex(1, len(self.layers) + 1, name="stage"))


Agreement = namedtuple("Agreement", ["spearman", "iou"])
Agreement.__doc__ = """What :func:`method_agreement` returns (unpacks as ``rho, iou = ...``).

Attributes
----------
spearman : pandas.DataFrame
    Method x method mean Spearman rank correlation of the heatmaps (1 on the diagonal).
iou : pandas.DataFrame
    Method x method mean intersection over union of the top-k pixels.
"""


# ---------------------------------------------------------------------------- checks
def _check_explanation(explanation, name="explanation"):
    if not isinstance(explanation, Explanation):
        raise TypeError("%s: expected an Explanation (from tensorlayer_xplain.explain), got %s"
                        % (name, type(explanation).__name__))
    return explanation


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError("%s: expected an int >= %d, got %r" % (name, minimum, value))
    if value < minimum:
        raise ValueError("%s: expected an int >= %d, got %d" % (name, minimum, value))
    return int(value)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError("%s: expected one of %s, got %r" % (name, choices, value))
    return value


def _check_seed(seed, name="seed"):
    """A non-negative int, or None replaced by fresh entropy (so all draws of one call share it)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return _check_int(name, seed, 0)


def _n_pixels(name, value, total):
    """A subset / top-k size given as a fraction in (0, 1) or a pixel count in [1, total]."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError("%s: expected a fraction in (0, 1) or a number of pixels, got %r" % (name, value))
    if isinstance(value, (numbers.Integral, np.integer)):
        if not 1 <= value <= total:
            raise ValueError("%s: expected between 1 and %d pixels, got %d" % (name, total, value))
        return int(value)
    if not 0 < value < 1:
        raise ValueError("%s: expected a fraction in (0, 1) or an int number of pixels, got %r" % (name, value))
    return max(1, int(round(value * total)))


# ---------------------------------------------------------------------------- shared machinery
def _adapter_for(model, explanation):
    """An adapter for ``model`` whose image shape matches the explanation's.

    ``batch_size`` is never an adapter option here (it goes to ``map_batches``):
    the adapter, and its compiled steps, are the ones the explanation used.
    """
    adapter = as_adapter(model)
    if adapter.input_shape is None:
        adapter.prepare(explanation.inputs[:1], name="explanation.inputs")
    if adapter.image_shape != explanation.image_shape:
        if isinstance(model, ModelAdapter):
            raise ValueError(
                "explanation: its image_shape %s differs from the adapter's %s; explain with this adapter"
                % (explanation.image_shape, adapter.image_shape))
        adapter = as_adapter(model, image_shape=explanation.image_shape)
    return adapter


def _explained_targets(adapter, explanation):
    """The explained class per input; -1 (a callable target) falls back to the predicted class."""
    targets = np.asarray(explanation.targets).astype(np.int64).reshape(-1)
    if targets.shape != (len(explanation),):
        raise ValueError("explanation.targets: expected one class per input (%d), got shape %s"
                         % (len(explanation), np.shape(explanation.targets)))
    missing = targets < 0
    if missing.any():
        targets = np.where(missing, explanation.predicted, targets)
    return adapter.resolve_targets(targets, len(targets), name="explanation.targets")


def _target_scorer(adapter, score):
    """Compiled step ``(x, targets) -> score of each target`` (probability or raw output)."""
    _check_choice("score", score, SCORES)
    softmax = score == "probability" and adapter.output == "logits"

    def step(xb, tb):
        scores = adapter.scores(xb)
        if softmax:
            scores = tf.nn.softmax(scores, axis=-1)
        return adapter.select(scores, tb)

    compiled = adapter.compiled(("metric_target_scores", softmax), step, n_extra=1)
    return lambda xb, tb: np.asarray(compiled(tf.constant(xb, tf.float32), tf.constant(tb, tf.int32)))


def _baseline_images(adapter, x, image_shape, baseline_value, blur_sigma, seed=0, name="baseline_value"):
    """Baseline batch as images ``(N, H*W, C)``: 'blur' (= 'blurred'), 'zeros', 'uniform', a number or an array."""
    if isinstance(baseline_value, str) and baseline_value == "blur":
        baseline_value = "blurred"
    base = make_baseline(baseline_value, x, adapter, rng=rng_for(seed), blur_sigma=blur_sigma, name=name)
    h, w, c = image_shape
    return np.asarray(base, np.float32).reshape(len(x), h * w, c)


def _setup(model, explanation, batch_size, score):
    """Everything a perturbation metric needs: adapter, pixels, targets, scorer."""
    _check_explanation(explanation)
    if batch_size is not None:
        _check_int("batch_size", batch_size, 1)
    adapter = _adapter_for(model, explanation)
    x, _ = adapter.prepare(explanation.inputs, name="explanation.inputs")
    h, w, c = explanation.image_shape
    images = x.reshape(len(x), h * w, c)
    return adapter, x, images, _explained_targets(adapter, explanation), _target_scorer(adapter, score)


def _score_pairs(adapter, scorer, i_all, j_all, build, targets, batch_size):
    """Score ``build(i, j) -> images`` for all pairs, ``batch_size`` pairs per model call."""
    input_shape = adapter.input_shape

    def run(ib, jb):
        batch = build(ib, jb).reshape((len(ib),) + input_shape)
        return scorer(batch, targets[ib])

    with adapter.inference_mode():
        return adapter.map_batches(run, i_all, j_all, batch_size=batch_size)


def _trapezoid(y, dx):
    integrate = getattr(np, "trapezoid", None) or np.trapz
    return integrate(y, dx=dx, axis=-1)


def _pearson_rows(a, b, identical=None):
    """Row-wise Pearson correlation of ``a`` and ``b``, both (N, P).

    A row where either side is constant (up to rounding) has no correlation: it
    gets NaN when ``identical`` is None; otherwise ``identical`` when the two rows
    are equal and 0 when they are not.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    scale_a = np.abs(a).max(axis=1)
    scale_b = np.abs(b).max(axis=1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    na = np.sqrt((a * a).sum(axis=1))
    nb = np.sqrt((b * b).sum(axis=1))
    rounding = 1e-9 * np.sqrt(a.shape[1])
    defined = (na > rounding * scale_a) & (nb > rounding * scale_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((a * b).sum(axis=1) / (na * nb), -1.0, 1.0)
    if identical is None:
        return np.where(defined, r, np.nan)
    same = np.all(a == b, axis=1)
    return np.where(defined, r, np.where(same, identical, 0.0))


def _spearman_rows(a, b):
    """Row-wise Spearman rank correlation (average ranks for ties).

    Two maps that are both constant, or equal, correlate 1; a constant map against
    a varying one correlates 0.
    """
    from scipy.stats import rankdata

    ra = rankdata(np.asarray(a, np.float64), axis=1)
    rb = rankdata(np.asarray(b, np.float64), axis=1)
    return _pearson_rows(ra, rb, identical=1.0)


def _flat_heat(explanation, reduce="sum", absolute=False):
    heat = explanation.heatmap(reduce).astype(np.float64)
    heat = heat.reshape(len(heat), -1)
    return np.abs(heat) if absolute else heat


def _importance_order(heat, seed):
    """Pixel indices per row, most important first; ties broken at random (seeded, per input).

    Random tie-breaking makes a map without information (e.g. an all-zero
    Grad-CAM) behave like a random ranking instead of a raster scan, and gives
    two equal maps the same order.
    """
    keys = row_uniform(seed, np.arange(len(heat)), (heat.shape[1],))
    return np.lexsort((keys, -heat), axis=1)


# ---------------------------------------------------------------------------- deletion / insertion
def _curve(kind, model, explanation, steps, baseline_value, batch_size, reduce, score, blur_sigma, seed):
    steps = _check_int("steps", steps, 1)
    seed = _check_seed(seed)
    adapter, x, images, targets, scorer = _setup(model, explanation, batch_size, score)
    base = _baseline_images(adapter, x, explanation.image_shape, baseline_value, blur_sigma, seed)
    n, n_pixels = images.shape[:2]
    order = _importance_order(_flat_heat(explanation, reduce), seed)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_pixels)[None, :], axis=1)  # rank[i, p]: position of pixel p
    counts = np.round(np.linspace(0, n_pixels, steps + 1)).astype(np.int64)

    def build(ib, kb):
        changed = (rank[ib] < counts[kb][:, None])[..., None]  # (B, P, 1): the first counts[k] pixels
        if kind == "deletion":
            return np.where(changed, base[ib], images[ib])
        return np.where(changed, images[ib], base[ib])

    i_all, k_all = pair_index(n, steps + 1)
    curve = _score_pairs(adapter, scorer, i_all, k_all, build, targets, batch_size).reshape(n, steps + 1)
    auc = _trapezoid(curve.astype(np.float64), 1.0 / steps)
    return CurveResult(kind, explanation.method, counts / float(n_pixels), curve, auc, float(auc.mean()))


def deletion(model, explanation, steps=25, baseline_value=0.0, batch_size=None, reduce="sum",
             score="probability", blur_sigma=3.0, seed=0):
    """Deletion curve and AUC: remove the most important pixels first; a faithful map makes the score fall fast.

    Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation
    of Black-box Models", BMVC. Pixels are ranked by ``explanation.heatmap(reduce)``
    (descending: for signed maps, positive evidence first; ties in random order)
    and set, all channels together, to the baseline in ``steps`` equal steps;
    after each step the probability of the explained class is recorded. Lower
    AUC is better.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
        The model that was explained.
    explanation : Explanation
        Any method's explanation of ``N`` inputs; its ``targets`` are the explained
        classes (-1, a callable target, falls back to the predicted class).
    steps : int
        Number of removal steps; the curve has ``steps + 1`` points (0 to all pixels).
    baseline_value : float, 'blur', 'zeros', 'uniform' or array
        What removed pixels become: a constant (default 0, black), the input
        blurred with a Gaussian of ``blur_sigma`` pixels, uniform noise, or an
        array (one sample or one per input).
    batch_size : int, optional
        Perturbed images per model call (default: the adapter's); they are built
        per batch, so memory is bounded by it.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
        How the heatmap combines channels (see :meth:`Explanation.heatmap`).
    score : {'probability', 'output'}
        Follow the softmax probability (default) or the adapter's raw output.
    blur_sigma : float
        Blur for ``baseline_value='blur'``.
    seed : int or None
        Seed of the random order among tied pixels (and of a ``'uniform'``
        baseline); a fixed seed gives the same result at any ``batch_size``.

    Returns
    -------
    CurveResult
        ``curve`` (N, steps + 1), ``auc`` (N,), ``mean_auc``, ``fractions`` (steps + 1,).

    Examples
    --------
    >>> exp = tlx.explain(model, x_test[:16], 'gradcam')              # doctest: +SKIP
    >>> res = tlx.metrics.deletion(model, exp, steps=20)              # doctest: +SKIP
    >>> res.curve.shape, round(res.mean_auc, 2)                       # doctest: +SKIP
    ((16, 21), 0.18)
    """
    return _curve("deletion", model, explanation, steps, baseline_value, batch_size, reduce, score, blur_sigma,
                  seed)


def insertion(model, explanation, steps=25, baseline_value="blur", batch_size=None, reduce="sum",
              score="probability", blur_sigma=3.0, seed=0):
    """Insertion curve and AUC: start from a baseline and insert the most important pixels first.

    Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation
    of Black-box Models", BMVC. The mirror of :func:`deletion`: the image starts
    as the baseline (by default the input blurred, as in the paper) and its pixels
    are restored in descending attribution order in ``steps`` steps. A faithful
    map makes the probability of the explained class rise fast: higher AUC is
    better.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanation : Explanation
    steps : int
        Insertion steps; the curve has ``steps + 1`` points.
    baseline_value : 'blur', float, 'zeros', 'uniform' or array
        The starting image (default: the input blurred with ``blur_sigma``).
    batch_size : int, optional
        Perturbed images per model call.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
    score : {'probability', 'output'}
    blur_sigma : float
    seed : int or None
        Seed of the random order among tied pixels.

    Returns
    -------
    CurveResult
        ``curve`` (N, steps + 1), ``auc`` (N,), ``mean_auc``, ``fractions``.

    Examples
    --------
    >>> exp = tlx.explain(model, x_test[:16], 'integrated_gradients')  # doctest: +SKIP
    >>> tlx.metrics.insertion(model, exp).mean_auc                     # doctest: +SKIP
    0.74
    """
    return _curve("insertion", model, explanation, steps, baseline_value, batch_size, reduce, score, blur_sigma,
                  seed)


# ---------------------------------------------------------------------------- mu-fidelity
def mu_fidelity(model, explanation, n_subsets=128, subset_size=0.2, baseline_value=0.0, seed=0, batch_size=None,
                reduce="sum", score="probability", blur_sigma=3.0):
    """μ-fidelity: do the attributions of random pixel subsets predict the output drop when they are removed?

    Bhatt, Weller & Moura (2020), "Evaluating and Aggregating Feature-based Model
    Explanations", IJCAI. For each input, ``n_subsets`` random subsets ``S`` of
    ``subset_size`` pixels are drawn; the metric is the Pearson correlation,
    over the subsets, between ``sum_{p in S} heatmap[p]`` and
    ``f(x) - f(x with S set to the baseline)`` (``f``: probability of the explained
    class). Higher is better. Subsets are drawn from a counter-based stream per
    (input, subset), so a seed gives the same result at any ``batch_size``.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanation : Explanation
    n_subsets : int
        Random subsets per input (at least 2).
    subset_size : float or int
        Fraction of the pixels in (0, 1) (default 0.2, as Xplique's
        ``subset_percent``) or a number of pixels.
    baseline_value : float, 'blur', 'zeros', 'uniform' or array
        What removed pixels become.
    seed : int or None
        Seed of the subsets (None: fresh entropy, not reproducible).
    batch_size : int, optional
        Perturbed images per model call.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
    score : {'probability', 'output'}
    blur_sigma : float

    Returns
    -------
    FidelityResult
        ``correlations`` (N,), ``mean``, ``attribution_sums`` and ``output_drops``
        (N, n_subsets).

    Examples
    --------
    >>> exp = tlx.explain(model, x_test[:16], 'gradient_x_input')      # doctest: +SKIP
    >>> tlx.metrics.mu_fidelity(model, exp, n_subsets=64).mean         # doctest: +SKIP
    0.41
    """
    n_subsets = _check_int("n_subsets", n_subsets, 2)
    seed = _check_seed(seed)
    adapter, x, images, targets, scorer = _setup(model, explanation, batch_size, score)
    base = _baseline_images(adapter, x, explanation.image_shape, baseline_value, blur_sigma, seed)
    n, n_pixels = images.shape[:2]
    k = _n_pixels("subset_size", subset_size, n_pixels)
    heat = _flat_heat(explanation, reduce)
    i_all, s_all = pair_index(n, n_subsets)
    sums = np.empty(len(i_all), np.float64)

    def subsets(ib, sb):
        keys = row_uniform(seed, ib * n_subsets + sb, (n_pixels,))
        chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
        mask = np.zeros((len(ib), n_pixels), bool)
        np.put_along_axis(mask, chosen, True, axis=1)
        return mask

    def build(ib, sb):
        mask = subsets(ib, sb)
        sums[ib * n_subsets + sb] = (heat[ib] * mask).sum(axis=1)
        return np.where(mask[..., None], base[ib], images[ib])

    with adapter.inference_mode():
        full = adapter.map_batches(lambda xb, tb: scorer(xb, tb), x, targets, batch_size=batch_size)
    perturbed = _score_pairs(adapter, scorer, i_all, s_all, build, targets, batch_size)
    drops = (full[i_all] - perturbed).reshape(n, n_subsets).astype(np.float64)
    sums = sums.reshape(n, n_subsets)
    corr = _pearson_rows(sums, drops)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = float(np.nanmean(corr)) if np.isfinite(corr).any() else float("nan")
    return FidelityResult(explanation.method, corr, mean, sums, drops, k)


# ---------------------------------------------------------------------------- randomization sanity check
def _variables_of(obj):
    """The weight variables an object (model or layer) holds, nested ones included."""
    weights = getattr(obj, "all_weights", None)
    if weights is None:
        weights = getattr(obj, "weights", None)
    return list(weights or [])


def _layer_stages(adapter):
    """``[(layer_name, [variables])]`` top (output) layer first, each weight in its innermost layer only."""
    layers = adapter.iter_layers()
    owned = {}
    for layer in layers:
        variables = _variables_of(layer)
        for var in variables:
            current = owned.get(id(var))
            if current is None or len(variables) < current[0]:
                owned[id(var)] = (len(variables), layer.name)
    by_name = {layer.name: layer for layer in layers}
    stages = []
    for name, _ in reversed(adapter.layer_call_order()):
        own = [v for v in _variables_of(by_name[name]) if owned.get(id(v), (0, None))[1] == name]
        if own and name not in [s[0] for s in stages]:
            stages.append((name, own))
    return stages


def _randomize(variables, rng):
    """Replace weight values in place (``assign``): kernels by N(0, their std), vectors by a permutation.

    Kernels (2-D and more) get fresh normal values with the tensor's own standard
    deviation (``1/sqrt(fan_in)`` when that is 0), as a re-initialization would;
    vectors (biases, normalization parameters) get their values shuffled, which
    keeps e.g. variances positive.
    """
    for var in variables:
        value = var.numpy()
        if value.ndim >= 2:
            std = float(value.std())
            if not std > 0:
                std = 1.0 / math.sqrt(max(1, int(np.prod(value.shape[:-1]))))
            new = rng.normal(0.0, std, size=value.shape)
        else:
            new = rng.permutation(value.reshape(-1)).reshape(value.shape)
        var.assign(new.astype(value.dtype))


def _absolute_heat(explanation):
    return _flat_heat(explanation, "abs_sum")


def randomization_sanity_check(model, inputs, method="gradient", mode="cascading", threshold=0.5, targets=None,
                               seed=0, **method_params):
    """Model parameter randomization test: the explanation must change when the weights are randomized.

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim (2018), "Sanity Checks for
    Saliency Maps", NeurIPS. The layers' weights are randomized from the top
    (output) layer down, either cumulatively (``'cascading'``) or one layer at a
    time with the others trained (``'independent'``). After each stage the method
    is run again (through :func:`tensorlayer_xplain.explain`, never a cache) for
    the same inputs and target classes, and the Spearman rank correlation between
    the absolute original and randomized maps is recorded.

    The user's model is left bit-identical: every weight is snapshotted first,
    randomized in place with ``assign`` (so compiled steps see the new values),
    and restored in ``finally`` — also when the method raises. The adapter's lock
    is held throughout, so other threads using the same adapter never see
    randomized weights.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or ModelAdapter
        A model with layers and weights (a plain callable cannot be randomized).
    inputs : array-like, shape (N, *input_shape) or (N, H, W, C)
    method : str
        Any registered method.
    mode : {'cascading', 'independent'}
    threshold : float
        The check passes when the deciding correlation is below it: for
        ``'cascading'``, that of the fully randomized model (last stage); for
        ``'independent'``, the mean over the single-layer randomizations. The
        per-stage correlations are all returned, to judge layer by layer.
    targets : None, int, array-like of int or callable
        Explained classes, fixed across stages (None: the trained model's predictions).
    seed : int
        Seed of the random weights; also the method's ``seed`` when it takes one,
        so noise in the method is the same before and after randomization.
    **method_params
        The method's own parameters (``batch_size`` included, for methods that
        take it).

    Returns
    -------
    SanityCheckResult
        ``layers`` (top first), ``correlations`` per stage, ``per_input``,
        ``threshold``, ``passed``; ``to_frame()`` gives a table.

    Raises
    ------
    TypeError
        ``model`` is a plain callable, or unknown method parameters.
    ValueError
        Unknown ``mode``, a ``threshold`` outside [-1, 1], or a model without weights.

    Examples
    --------
    >>> res = tlx.metrics.randomization_sanity_check(model, x_test[:8], 'gradient')   # doctest: +SKIP
    >>> res.passed, res.score                                                          # doctest: +SKIP
    (True, 0.34)
    >>> res.to_frame()                                                                 # doctest: +SKIP
              layer  spearman
    stage
    1       dense_2  0.550
    2       dense_1  0.419
    3      conv2d_2  0.339
    4      conv2d_1  0.344
    """
    if isinstance(inputs, Explanation):
        raise TypeError("inputs: expected the input array, got an Explanation; pass explanation.inputs and "
                        "method=explanation.method (the method is rerun at every stage)")
    _check_choice("mode", mode, SANITY_MODES)
    if isinstance(threshold, bool) or not isinstance(threshold, (numbers.Real, np.number)) \
            or not -1.0 <= float(threshold) <= 1.0:
        raise ValueError("threshold: expected a rank correlation in [-1, 1], got %r" % (threshold,))
    _check_int("seed", seed, 0)
    spec = method_info(method)
    params = dict(method_params)
    if "seed" in spec.parameters:
        params.setdefault("seed", seed)
    check_params(spec.name, params)
    adapter = as_adapter(model)
    if adapter.kind == "callable":
        raise TypeError("model: the randomization check needs a TensorLayer or Keras model with weights, "
                        "got a plain callable")
    adapter.prepare(inputs)  # validates and fixes the input shape before the layers are traced
    stages = _layer_stages(adapter)
    if not stages:
        raise ValueError("model: expected layers with weights to randomize, found none")
    variables, seen = [], set()
    for var in _variables_of(adapter.model) + [v for _, vs in stages for v in vs]:
        if id(var) not in seen:
            seen.add(id(var))
            variables.append(var)
    rng = rng_for(seed)
    per_input = []
    with adapter._lock:
        snapshot = [var.numpy().copy() for var in variables]
        try:
            original = explain(adapter, inputs, spec.name, targets, **params)
            fixed = targets if callable(targets) else original.targets
            reference = _absolute_heat(original)
            for index, (_, layer_vars) in enumerate(stages):
                if mode == "independent" and index > 0:
                    for var, value in zip(variables, snapshot):
                        var.assign(value)
                _randomize(layer_vars, rng)
                randomized = explain(adapter, original.inputs, spec.name, fixed, **params)
                per_input.append(_spearman_rows(reference, _absolute_heat(randomized)))
        finally:
            for var, value in zip(variables, snapshot):
                var.assign(value)
    per_input = np.asarray(per_input)
    result = SanityCheckResult(spec.name, mode, [name for name, _ in stages], per_input.mean(axis=1), per_input,
                               float(threshold))
    result.passed = bool(result.score < result.threshold)
    return result


# ---------------------------------------------------------------------------- agreement
def _named_explanations(explanations, name="explanations"):
    """dict name -> Explanation from a dict, a list/tuple or a single Explanation (names made unique)."""
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    if isinstance(explanations, dict):
        items = list(explanations.items())
    elif isinstance(explanations, (list, tuple)):
        items, counts = [], {}
        for exp in explanations:
            _check_explanation(exp, "%s[%d]" % (name, len(items)))
            counts[exp.method] = counts.get(exp.method, 0) + 1
            label = exp.method if counts[exp.method] == 1 else "%s#%d" % (exp.method, counts[exp.method])
            items.append((label, exp))
    else:
        raise TypeError("%s: expected a dict of name -> Explanation, a list of Explanations or one Explanation, "
                        "got %s" % (name, type(explanations).__name__))
    if not items:
        raise ValueError("%s: expected at least one Explanation, got none" % name)
    for key, exp in items:
        _check_explanation(exp, "%s[%r]" % (name, key))
    return dict((str(k), v) for k, v in items)


def method_agreement(explanations, top_k=0.1, absolute=True, seed=0):
    """Pairwise agreement between methods: Spearman rank correlation and top-k IoU of their maps.

    The rank correlation compares whole maps (the standard similarity of
    Adebayo et al., 2018); the intersection over union of the ``top_k`` most
    important pixels compares what a user would look at (feature agreement of
    Krishna et al., 2022, "The Disagreement Problem in Explainable Machine
    Learning"). Both are averaged over the inputs.

    Parameters
    ----------
    explanations : dict of str -> Explanation, or list of Explanation
        Explanations of the *same* inputs by different methods (a list is named by
        ``Explanation.method``; repeated names get ``#2``, ``#3``...).
    top_k : float or int
        Fraction of pixels in (0, 1) (default 0.1) or a number of pixels.
    absolute : bool
        Compare magnitudes (``|heatmap|``, default), so signed and unsigned
        methods are comparable; False ranks signed values.
    seed : int
        Seed of the random order among tied pixels at the top-k boundary (the
        same for every method, so equal maps select equal pixels).

    Returns
    -------
    Agreement
        ``(spearman, iou)``: two method x method ``pandas.DataFrame`` s, symmetric,
        1 on the diagonal; their ``attrs`` hold ``n_inputs``, ``top_k_pixels``,
        ``n_pixels`` and ``absolute``.

    Raises
    ------
    ValueError
        Explanations of different inputs or image shapes.

    Examples
    --------
    >>> rho, iou = tlx.metrics.method_agreement({'grad': g, 'ig': ig, 'cam': cam})   # doctest: +SKIP
    >>> rho.loc['grad', 'ig']                                                        # doctest: +SKIP
    0.63
    """
    import pandas as pd

    named = _named_explanations(explanations)
    names = list(named)
    first = named[names[0]]
    for key in names[1:]:
        exp = named[key]
        if exp.image_shape != first.image_shape or len(exp) != len(first):
            raise ValueError("explanations: expected explanations of the same inputs; %r has %d inputs of image "
                             "shape %s, %r has %d of %s" % (names[0], len(first), first.image_shape, key, len(exp),
                                                              exp.image_shape))
        if not np.array_equal(np.asarray(exp.inputs).reshape(len(exp), -1),
                              np.asarray(first.inputs).reshape(len(first), -1)):
            raise ValueError("explanations: expected explanations of the same inputs; %r and %r explain different "
                             "inputs" % (names[0], key))
    heats = {key: _flat_heat(exp, "sum", absolute) for key, exp in named.items()}
    n_pixels = heats[names[0]].shape[1]
    k = _n_pixels("top_k", top_k, n_pixels)
    seed = _check_seed(seed)
    tops = {}
    for key, heat in heats.items():
        top = np.zeros(heat.shape, bool)
        np.put_along_axis(top, _importance_order(heat, seed)[:, :k], True, axis=1)
        tops[key] = top
    rho = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    iou = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a_index, a in enumerate(names):
        for b in names[a_index + 1:]:
            r = float(np.mean(_spearman_rows(heats[a], heats[b])))
            inter = (tops[a] & tops[b]).sum(axis=1)
            union = (tops[a] | tops[b]).sum(axis=1)
            j = float(np.mean(inter / union))
            rho.loc[a, b] = rho.loc[b, a] = r
            iou.loc[a, b] = iou.loc[b, a] = j
    for frame in (rho, iou):
        frame.index.name = "method"
        frame.columns.name = "method"
        frame.attrs.update(n_inputs=len(first), top_k_pixels=k, n_pixels=n_pixels, absolute=bool(absolute))
    return Agreement(rho, iou)


# ---------------------------------------------------------------------------- registry and table
@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes
    ----------
    name : str
    fn : callable
        ``fn(model, explanation, **params) -> result``.
    higher_is_better : bool
    summary : callable
        ``summary(result) -> float``, the number shown by :func:`evaluate`.
    parameters : dict
        ``{parameter: default}`` beyond (model, explanation).
    """

    name: str
    fn: object
    higher_is_better: bool
    summary: object
    parameters: dict


#: name -> :class:`MetricSpec`; :func:`evaluate` looks metrics up here.
METRICS = {}


def _score_of(result):
    return float(result.score)


def register_metric(name, higher_is_better, summary=_score_of, overwrite=False):
    """Decorator registering ``fn(model, explanation, **params)`` as a metric for :func:`evaluate`.

    Parameters
    ----------
    name : str
        Column name in :func:`evaluate`'s table.
    higher_is_better : bool
    summary : callable
        Maps the metric's result to one float (default ``result.score``).
    overwrite : bool
        Allow replacing a registered metric.

    Examples
    --------
    >>> @register_metric('sparsity', higher_is_better=True, summary=float)   # doctest: +SKIP
    ... def sparsity(model, explanation, quantile=0.9):
    ...     heat = abs(explanation.heatmap()).reshape(len(explanation), -1)
    ...     return (heat < np.quantile(heat, quantile)).mean()
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name: expected a non-empty str, got %r" % (name,))

    def decorator(fn):
        if name in METRICS and not overwrite:
            raise ValueError("name: metric %r already registered; pass overwrite=True to replace" % name)
        sig = inspect.signature(fn)
        names = list(sig.parameters)
        if names[:2] != ["model", "explanation"]:
            raise TypeError("fn: a metric must take (model, explanation, **params), got (%s)" % ", ".join(names))
        params = {p.name: p.default for p in list(sig.parameters.values())[2:]
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        METRICS[name] = MetricSpec(name, fn, bool(higher_is_better), summary, params)
        return fn

    return decorator


def available_metrics():
    """Sorted names of the registered metrics.

    Returns
    -------
    list of str
        The names :func:`evaluate` accepts in ``metrics``.

    Examples
    --------
    >>> available_metrics()                                      # doctest: +SKIP
    ['deletion', 'insertion', 'mu_fidelity', 'randomization']
    """
    return sorted(METRICS)


def _metric_spec(name):
    spec = METRICS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise KeyError("metrics: unknown metric %r; known: %s" % (name, ", ".join(available_metrics())))
    return spec


_CHECK_ARGUMENTS = tuple(inspect.signature(randomization_sanity_check).parameters)


def _randomization_metric(model, explanation, mode="cascading", threshold=0.5, seed=0):
    """Sanity-check metric for :func:`evaluate`: reruns the explanation's method and params on randomized weights.

    The method's own ``seed`` is replaced by ``seed`` (the check uses one seed for both).
    """
    targets = np.asarray(explanation.targets)
    targets = None if (targets < 0).any() else targets
    params = {k: v for k, v in explanation.params.items()
              if k in method_info(explanation.method).parameters and k not in _CHECK_ARGUMENTS}
    return randomization_sanity_check(model, explanation.inputs, explanation.method, mode=mode,
                                      threshold=threshold, targets=targets, seed=seed, **params)


register_metric("deletion", higher_is_better=False)(deletion)
register_metric("insertion", higher_is_better=True)(insertion)
register_metric("mu_fidelity", higher_is_better=True)(mu_fidelity)
register_metric("randomization", higher_is_better=False)(_randomization_metric)

#: Metrics :func:`evaluate` computes when none are named.
DEFAULT_METRICS = ("deletion", "insertion", "mu_fidelity")


def _route_params(specs, metric_params):
    """Split ``metric_params`` per metric: ``{metric: {...}}`` entries, then shared keys each metric accepts."""
    per_metric = {spec.name: {} for spec in specs}
    shared = {}
    for key, value in metric_params.items():
        if key in METRICS:
            if not isinstance(value, dict):
                raise TypeError("%s: per-metric parameters must be a dict, got %s" % (key, type(value).__name__))
            if key not in per_metric:
                raise ValueError("%s: parameters given for a metric that is not in metrics=%s"
                                 % (key, list(per_metric)))
            unknown = [p for p in value if p not in METRICS[key].parameters]
            if unknown:
                raise TypeError("%s: unknown parameter(s) %s; it takes %s"
                                % (key, unknown, ", ".join(METRICS[key].parameters)))
            per_metric[key].update(value)
        else:
            shared[key] = value
    for key, value in shared.items():
        takers = [spec.name for spec in specs if key in spec.parameters]
        if not takers:
            raise TypeError("metric_params: no metric in %s takes %r" % ([s.name for s in specs], key))
        for name in takers:
            per_metric[name].setdefault(key, value)
    return per_metric


def evaluate(model, explanations, metrics=DEFAULT_METRICS, return_results=False, **metric_params):
    """Table of metrics for several explanations of the same model: rows = methods, columns = metrics.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanations : dict of str -> Explanation, list of Explanation, or Explanation
    metrics : sequence of str
        Registered metric names (:func:`available_metrics`); default
        ``('deletion', 'insertion', 'mu_fidelity')``. ``'randomization'`` runs the
        sanity check again for each explanation's method and reports its deciding
        correlation (lower is better).
    return_results : bool
        Also return ``{method: {metric: result}}`` with the full result objects.
    **metric_params
        Parameters for the metrics: a key a metric takes goes to every metric that
        takes it (``batch_size=128``, ``seed=1``); a metric's name with a dict
        targets one metric (``deletion={'baseline_value': 'blur'}``).

    Returns
    -------
    pandas.DataFrame
        Index ``method``, one column per metric; ``df.attrs['higher_is_better']``
        maps each metric to its direction. With ``return_results``, ``(df, results)``.

    Raises
    ------
    KeyError
        Unknown metric name.
    TypeError
        A parameter no selected metric takes.

    Examples
    --------
    >>> exps = {m: tlx.explain(model, x_test[:32], m) for m in ['gradient', 'gradcam']}   # doctest: +SKIP
    >>> tlx.metrics.evaluate(model, exps, steps=20, n_subsets=64)                      # doctest: +SKIP
    metric    deletion  insertion  mu_fidelity
    method
    gradient      0.31       0.52         0.10
    gradcam       0.22       0.61         0.18
    """
    import pandas as pd

    if isinstance(metrics, str):
        metrics = [metrics]
    specs = [_metric_spec(name) for name in metrics]
    if not specs:
        raise ValueError("metrics: expected at least one metric name, got none")
    named = _named_explanations(explanations)
    params = _route_params(specs, metric_params)
    results = {key: {} for key in named}
    table = pd.DataFrame(index=pd.Index(list(named), name="method"),
                         columns=pd.Index([spec.name for spec in specs], name="metric"), dtype=float)
    for key, exp in named.items():
        for spec in specs:
            result = spec.fn(model, exp, **params[spec.name])
            results[key][spec.name] = result
            table.loc[key, spec.name] = float(spec.summary(result))
    table.attrs["higher_is_better"] = {spec.name: spec.higher_is_better for spec in specs}
    return (table, results) if return_results else table
