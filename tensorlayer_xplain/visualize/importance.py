"""Permutation feature importance, batched through the adapter, with a TL-style bar plot.

Breiman, "Random Forests", Machine Learning 45, 2001 (permutation importance);
Fisher, Rudin & Dominici, "All Models are Wrong, but Many are Useful", JMLR 2019
(model reliance). A feature (or a group of features: an image patch) matters as
much as the score drops when its values are shuffled across the samples.
"""
import math

import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import SIGNED_CMAP, as_probabilities
from .._utils.figure import tl_figure
from ..adapter import as_adapter
from ..methods._engine.utils import rng_for
from .embedding import as_labels

__all__ = ["permutation_importance"]

#: Built-in scores (higher is better); a callable ``metric(y, scores) -> float`` also works.
PERMUTATION_METRICS = ("accuracy", "neg_log_loss")


# ---------------------------------------------------------------------------- features
def _patch_shape(patch_size):
    size = (patch_size, patch_size) if np.isscalar(patch_size) else tuple(patch_size)
    if len(size) != 2 or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1 for s in size):
        raise ValueError("patch_size: expected a positive int or (height, width), got %r" % (patch_size,))
    return int(size[0]), int(size[1])


def feature_groups(adapter, patch_size=None, groups=None):
    """Which flat input features are permuted together.

    Parameters
    ----------
    adapter : ModelAdapter
        With a known ``input_shape`` and ``image_shape``.
    patch_size : None, int or (int, int)
        None: every flat feature on its own. An int/pair: square/rectangular
        patches of the image (all channels of a pixel together); 1 = per pixel.
    groups : array-like of int, optional
        Explicit group id (0..G-1) per input value, shape ``input_shape``,
        ``image_shape`` or flat ``(D,)``. Excludes ``patch_size``.

    Returns
    -------
    ids : ndarray of int, shape (D,)
        Group of every flat feature.
    names : list of str, length G
        Default names: ``'f12'`` per feature, ``'r0:4 c8:12'`` per patch (pixel rows/cols).
    grid : (int, int) or None
        ``(rows, cols)`` of the patch grid (to draw importances as an image), else None.
    """
    d = int(np.prod(adapter.input_shape))
    if groups is not None and patch_size is not None:
        raise ValueError("groups: pass either groups or patch_size, not both")
    if groups is not None:
        ids = np.asarray(groups)
        if ids.size != d or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError("groups: expected one integer group id per input value (%d values, shape %s), "
                             "got %s of shape %s" % (d, adapter.input_shape, ids.dtype, ids.shape))
        ids = ids.reshape(-1)
        uniq = np.unique(ids)
        if uniq[0] != 0 or uniq[-1] != len(uniq) - 1:
            raise ValueError("groups: expected ids 0..G-1 with every id used, got ids %s..%s with %d distinct"
                             % (uniq[0], uniq[-1], len(uniq)))
        return ids.astype(np.int64), ["g%d" % g for g in range(len(uniq))], None
    if patch_size is None:
        return np.arange(d), ["f%d" % i for i in range(d)], None
    ph, pw = _patch_shape(patch_size)
    h, w, c = adapter.image_shape
    rows, cols = math.ceil(h / ph), math.ceil(w / pw)
    r = np.arange(h)[:, None, None] // ph
    q = np.arange(w)[None, :, None] // pw
    ids = np.broadcast_to(r * cols + q, (h, w, c)).reshape(-1)
    names = ["r%d:%d c%d:%d" % (i * ph, min(h, (i + 1) * ph), j * pw, min(w, (j + 1) * pw))
             for i in range(rows) for j in range(cols)]
    if ph == pw == 1:
        names = ["r%d c%d" % (i, j) for i in range(rows) for j in range(cols)]
    return ids.astype(np.int64), names, (rows, cols)


# ---------------------------------------------------------------------------- scores
def _score_fn(metric):
    """A function ``(labels (N,), scores (P, N, K)) -> (P,)`` for the metric (higher is better)."""
    if callable(metric):
        return lambda labels, scores: np.array([float(metric(labels, s)) for s in scores])
    if metric == "accuracy":
        return lambda labels, scores: np.mean(np.argmax(scores, axis=-1) == labels[None], axis=1)
    if metric == "neg_log_loss":
        def neg_log_loss(labels, scores):
            probs = as_probabilities(scores)
            picked = np.take_along_axis(probs, np.broadcast_to(labels[None, :, None], probs.shape[:2] + (1,)), -1)
            return np.mean(np.log(np.clip(picked[..., 0], 1e-12, None)), axis=1)
        return neg_log_loss
    raise ValueError("metric: expected one of %s or a callable metric(y, scores) -> float, got %r"
                     % (PERMUTATION_METRICS, metric))


def _check_params(n_repeats, top_k, max_samples):
    for value, name, low in ((n_repeats, "n_repeats", 1), (top_k, "top_k", 1), (max_samples, "max_samples", 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError("%s: expected an int >= %d, got %r" % (name, low, value))


# ---------------------------------------------------------------------------- computation
def _permutation_drops(adapter, x, labels, ids, n_groups, n_repeats, rng, score, batch_size, max_samples):
    """Score drop for every (group, repeat): ALL permuted copies go through the model in chunks.

    One chunk holds as many (group, repeat) copies of the N samples as fit in
    ``max_samples`` rows; permutations are drawn in a fixed (group, repeat) order,
    so results do not depend on the chunking.
    """
    n = len(x)
    flat = x.reshape(n, -1)
    members = [np.flatnonzero(ids == g) for g in range(n_groups)]
    pairs = [(g, r) for g in range(n_groups) for r in range(n_repeats)]
    per_chunk = max(1, int(max_samples) // n)
    baseline = float(score(labels, adapter.predict(x, batch_size=batch_size)[None])[0])
    drops = np.empty(len(pairs), np.float64)
    for start in range(0, len(pairs), per_chunk):
        chunk = pairs[start:start + per_chunk]
        copies = np.broadcast_to(flat, (len(chunk), n, flat.shape[1])).copy()
        for p, (g, _) in enumerate(chunk):
            cols = members[g]
            copies[p][:, cols] = flat[rng.permutation(n)[:, None], cols]
        scores = adapter.predict(copies.reshape((-1,) + adapter.input_shape), batch_size=batch_size)
        drops[start:start + len(chunk)] = baseline - score(labels, scores.reshape(len(chunk), n, -1))
    return baseline, drops.reshape(n_groups, n_repeats)


def _draw_importance(fig, table, top_k, metric_name, grid, importance):
    top = table.head(top_k).iloc[::-1]
    ax = fig.add_subplot(1, 2 if grid else 1, 1)
    ax.barh(np.arange(len(top)), top["importance_mean"], xerr=top["importance_std"],
            color="tab:blue", ecolor="0.3", capsize=2)
    ax.set_yticks(np.arange(len(top)))
    ax.set_yticklabels(top["feature"], fontsize=7)
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set_xlabel("drop in %s when permuted" % metric_name)
    ax.set_title("Permutation importance (top %d)" % len(top), fontsize=10)
    if grid:
        _draw_importance_map(fig.add_subplot(1, 2, 2), importance.reshape(grid), metric_name)


def _draw_importance_map(ax, importance_map, metric_name):
    """The mean drop per patch laid out as the image, in the metric's units, zero in white."""
    scale = float(np.abs(importance_map).max()) or 1.0
    im = ax.imshow(importance_map, cmap=SIGNED_CMAP, vmin=-scale, vmax=scale, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("drop in %s per patch" % metric_name, fontsize=10)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


@shared_docstring
def permutation_importance(model, x, y, feature_names=None, n_repeats=5, seed=0, metric="accuracy", top_k=20,
                           saveable=True, name="permutation_importance", fig_idx=2396332, second=10,
                           patch_size=None, groups=None, batch_size=None, max_samples=16384):
    """How much the model's score drops when each feature (or patch) is shuffled across samples.

    For every feature group and repeat, the group's values are permuted across
    the N samples (one seeded ``numpy.random.Generator``), and the score
    (accuracy by default) of the permuted copy is subtracted from the score on
    the intact data. All copies go through :meth:`ModelAdapter.predict` in large
    batches, ``max_samples`` rows at a time. References: Breiman 2001;
    Fisher, Rudin & Dominici, JMLR 2019.

    Parameters
    ----------
    %(figure_model)s
    x : array-like, shape (N, *input_shape) or (N, H, W, C)
    y : array-like of int (N,) or one-hot (N, K)
        True classes.
    feature_names : sequence of str, optional
        One name per feature group (per flat feature, patch or ``groups`` id).
    n_repeats : int
        Permutations per group (>= 1); the spread gives ``importance_std``.
    seed : int
        Same seed, same importances.
    metric : {'accuracy', 'neg_log_loss'} or callable
        Higher-is-better score; a callable gets ``(y (N,), scores (N, K))``.
    top_k : int
        Bars drawn (the table holds every group).
    %(figure_conventions)s
    patch_size : None, int or (int, int)
        Group image pixels into patches (all channels together); 1 = per pixel.
        On 28x28 MNIST, ``patch_size=4`` gives 49 groups (784 per-pixel groups
        cost 784 * n_repeats passes over x). Adds an importance map to the figure.
    groups : array-like of int, optional
        Explicit group id per input value (see :func:`feature_groups`).
    batch_size : int, optional
        Samples per model call.
    max_samples : int
        Permuted rows held in memory at once (bounds memory to about
        ``max_samples * D * 4`` bytes).

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``importance_mean``, ``importance_std``, ``feature_index``
        (the group id), sorted by ``importance_mean`` descending. ``df.attrs`` holds
        ``baseline`` (score on intact data), ``metric``, ``importances`` (G, n_repeats)
        and ``importance_map`` (rows, cols) when ``patch_size`` is given.

    Examples
    --------
    >>> df = tlxp.permutation_importance(model, X_test[:500], y_test[:500], patch_size=4,
    ...                                 name='out/perm.png')
    >>> df.head(3)
    """
    import pandas as pd

    _check_params(n_repeats, top_k, max_samples)
    score = _score_fn(metric)
    adapter = as_adapter(model)
    prepared, _ = adapter.prepare(x, name="x")
    if y is None:
        raise ValueError("y: expected the true class of each of the %d samples, got None" % len(prepared))
    labels = as_labels(y, len(prepared))
    if len(prepared) < 2:
        raise ValueError("x: expected at least 2 samples to permute across, got 1")
    ids, names, grid = feature_groups(adapter, patch_size, groups)
    if feature_names is not None:
        feature_names = [str(f) for f in feature_names]
        if len(feature_names) != len(names):
            raise ValueError("feature_names: expected %d names (one per feature group), got %d"
                             % (len(names), len(feature_names)))
        names = feature_names
    baseline, drops = _permutation_drops(adapter, prepared, labels, ids, len(names), int(n_repeats),
                                         rng_for(seed), score, batch_size, max_samples)
    mean = drops.mean(axis=1)
    table = pd.DataFrame({"feature": names, "importance_mean": mean, "importance_std": drops.std(axis=1),
                          "feature_index": np.arange(len(names))})
    table = table.sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)
    metric_name = getattr(metric, "__name__", str(metric))
    table.attrs.update(baseline=baseline, metric=metric_name, importances=drops)
    if grid:
        table.attrs["importance_map"] = mean.reshape(grid)
    k = min(int(top_k), len(table))
    with tl_figure(saveable, name, fig_idx, second, figsize=(11 if grid else 6.5, max(3.0, 0.28 * k + 1.2))) as fig:
        _draw_importance(fig, table, k, metric_name, grid, mean)
    return table
