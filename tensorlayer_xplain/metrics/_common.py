"""Shared checks and scoring machinery of the metrics (argument checks, scorers, batched pair scoring)."""
import numbers

import numpy as np
import tensorflow as tf

from ..adapter import ModelAdapter, as_adapter
from ..explanation import Explanation
from ..methods._engine.baselines import make_baseline
from ..methods._engine.sampling import row_uniform
from ..methods._engine.utils import rng_for
from ..methods._ranges import check_seed

__all__ = ["SCORES"]


#: What a metric follows on the perturbed inputs: the softmax probability of the
#: explained class, or the adapter's own output (logits unless it was built with
#: ``output='probabilities'``).
SCORES = ("probability", "output")


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
    return check_seed(seed, name)


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


def _spearman_rows(a, b, identical=1.0):
    """Row-wise Spearman rank correlation (average ranks for ties).

    Two maps that are both constant, or equal, correlate ``identical`` (1 by
    default); a constant map against a varying one correlates 0. With
    ``identical=None`` a constant row gives NaN, as ``scipy.stats.spearmanr``.
    """
    from scipy.stats import rankdata

    ra = rankdata(np.asarray(a, np.float64), axis=1)
    rb = rankdata(np.asarray(b, np.float64), axis=1)
    return _pearson_rows(ra, rb, identical=identical)


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
