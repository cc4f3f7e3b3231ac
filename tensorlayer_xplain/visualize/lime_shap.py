"""LIME and SHAP figures in the plots users know, with the TL conventions.

* :func:`lime_visualization`: the input with the boundaries of its top superpixels,
  positive evidence in green and negative in red (as ``lime``'s
  ``get_image_and_mask`` + ``mark_boundaries``), next to the weight map;
* :func:`shap_visualization`: red/blue attribution images over a faded input, one
  column per class, as ``shap.image_plot``;
* :func:`feature_importance` (alias :func:`feature_importance_analysis`): mean |SHAP|
  per feature, a top-k table (pandas) and a summary bar plot, as
  ``shap.summary_plot(plot_type='bar')``; for images also the importance map.
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import class_label, draw_heatmap, draw_image, prediction_title
from .._utils.figure import tl_figure
from ..adapter import as_adapter
from ..explanation import Explanation
from ..methods.registry import method_info
from ._common import obtain_explanation, pick_targets

__all__ = ["lime_visualization", "shap_visualization", "feature_importance", "feature_importance_analysis"]

POSITIVE_RGB = (0.0, 0.75, 0.2)   # green: supports the class
NEGATIVE_RGB = (0.9, 0.1, 0.1)    # red: speaks against it
SHAP_BLUE = "#008bfb"             # shap's bar colour


# ----------------------------------------------------------------------------- LIME
def _as_rgb(image):
    """(H, W, C) -> (H, W, 3) float in [0, 1] for drawing."""
    image = np.asarray(image, np.float64)
    low, high = image.min(), image.max()
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def top_segments(weights, segments, num_features):
    """Top ``num_features`` superpixels by |weight|: ``(positive ids, negative ids)``.

    Parameters
    ----------
    weights : ndarray, shape (H, W)
        Per-pixel LIME weights (each pixel holds its superpixel's weight).
    segments : ndarray of int, shape (H, W)
    num_features : int

    Returns
    -------
    positive, negative : list of int
    """
    n = int(segments.max()) + 1
    sizes = np.maximum(np.bincount(segments.ravel(), minlength=n), 1)
    per_segment = np.bincount(segments.ravel(), weights.ravel(), n) / sizes
    order = [s for s in np.argsort(-np.abs(per_segment), kind="stable") if per_segment[s] != 0][:num_features]
    return [int(s) for s in order if per_segment[s] > 0], [int(s) for s in order if per_segment[s] < 0]


def lime_overlay(image, segments, positive, negative, scale=None, alpha=0.35):
    """The input (upscaled, nearest) with chosen superpixels tinted and their boundaries drawn.

    Parameters
    ----------
    image : ndarray, shape (H, W, C)
    segments : ndarray of int, shape (H, W)
    positive, negative : list of int
        Superpixels drawn green / red.
    scale : int, optional
        Upscaling factor so thin boundaries fit on tiny images (default: to ~112 px).
    alpha : float
        Tint strength inside the superpixels.

    Returns
    -------
    ndarray, shape (H * scale, W * scale, 3)
    """
    from skimage.segmentation import find_boundaries

    scale = scale or max(1, 112 // max(segments.shape))
    rgb = np.kron(_as_rgb(image), np.ones((scale, scale, 1)))
    segs = np.kron(segments, np.ones((scale, scale), dtype=segments.dtype))
    for ids, colour in ((positive, POSITIVE_RGB), (negative, NEGATIVE_RGB)):
        if not ids:
            continue
        mask = np.isin(segs, ids)
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * np.asarray(colour)
        # boundaries of each chosen superpixel (not only of their union)
        edges = find_boundaries(np.where(mask, segs + 1, 0), mode="inner") & mask  # 0 = background
        rgb[edges] = colour
    return rgb


@shared_docstring
def lime_visualization(model, inputs, targets=None, saveable=True, name="lime", fig_idx=2396350, second=10,
                       num_features=5, class_names=None, target_class=None, **params):
    """Draw LIME explanations: top superpixels on the input (green for, red against) and the weight map.

    Ribeiro, Singh & Guestrin (2016). One row per input: the input titled with the
    prediction; the input with the boundaries of the ``num_features`` superpixels of
    largest |weight| (positive evidence green, negative red); the per-pixel weight map.

    Parameters
    ----------
    %(figure_model)s
    inputs : ndarray (N, ...) or Explanation
        A precomputed ``'lime'`` :class:`Explanation` is drawn as is.
    %(figure_targets)s
    %(figure_conventions)s
    num_features : int
        Superpixels outlined per input.
    %(figure_class_names)s
    **params
        Passed to the ``lime`` method (``num_samples``, ``segmentation``, ``seed``, ...).

    Returns
    -------
    Explanation

    Examples
    --------
    >>> exp = tlxp.lime_visualization(cnn, X_test[:3], name='/tmp/lime.png', num_samples=500)
    """
    exp = obtain_explanation(model, inputs, "lime", pick_targets(targets, target_class), **params)
    if "segments" not in exp.meta:
        raise ValueError("inputs: expected inputs or a 'lime' Explanation (with meta['segments']), got an "
                         "Explanation of method %r" % exp.method)
    images, heat, segments = exp.images(), exp.heatmap("mean"), np.asarray(exp.meta["segments"])
    n = len(exp)
    with tl_figure(saveable, name, fig_idx, second, figsize=(8, 2.6 * n)) as fig:
        for i in range(n):
            draw_image(fig.add_subplot(n, 3, 3 * i + 1), images[i],
                       prediction_title(exp.predictions[i], exp.targets[i], class_names))
            positive, negative = top_segments(heat[i], segments[i], int(num_features))
            ax = fig.add_subplot(n, 3, 3 * i + 2)
            ax.imshow(lime_overlay(images[i], segments[i], positive, negative), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title("top %d superpixels: %d for, %d against" % (len(positive) + len(negative), len(positive),
                                                                    len(negative)), fontsize=8)
            draw_heatmap(fig.add_subplot(n, 3, 3 * i + 3), heat[i], exp.meta.get("signed", True),
                         title="LIME weights (class %s)" % class_label(exp.targets[i], class_names))
    return exp


# ----------------------------------------------------------------------------- SHAP images
def _column_targets(adapter, x, classes, top_k):
    """Per column, the class explained for every input: (n_columns, N) ints and column titles."""
    scores = adapter.predict(x)
    if classes is not None:
        classes = [int(c) for c in np.atleast_1d(classes)]
        bad = [c for c in classes if not 0 <= c < scores.shape[1]]
        if bad:
            raise ValueError("classes: class %d is out of range for a model with %d outputs" % (bad[0],
                                                                                                  scores.shape[1]))
        return np.array([[c] * len(x) for c in classes]), None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= scores.shape[1]:
        raise ValueError("top_k: expected an int between 1 and %d (the number of classes), got %r"
                         % (scores.shape[1], top_k))
    ranks = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    return ranks.T, ["rank %d" % (r + 1) for r in range(top_k)]


def _shap_cmap():
    try:
        from ..methods.shap._common import import_shap

        import_shap()  # first import: without keeping this call's frames alive
        from shap.plots.colors import red_transparent_blue

        return red_transparent_blue
    except ImportError:  # pragma: no cover - shap is a dependency
        return "bwr"


def draw_shap_row(fig, n_rows, n_cols, row, image, maps, titles, limit):
    """One ``shap.image_plot`` row: the input, then each map in red/blue over a faded gray input."""
    draw_image(fig.add_subplot(n_rows, n_cols, row * n_cols + 1), image, titles[0])
    gray = _as_rgb(image).mean(axis=-1)
    im = None
    for c, heat in enumerate(maps):
        ax = fig.add_subplot(n_rows, n_cols, row * n_cols + c + 2)
        ax.imshow(gray, cmap="gray", alpha=0.25, interpolation="nearest")
        im = ax.imshow(heat, cmap=_shap_cmap(), vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[c + 1], fontsize=8)
    return im


@shared_docstring
def shap_visualization(model, inputs, targets=None, saveable=True, name="shap", fig_idx=2396351, second=10,
                       method="shap", classes=None, top_k=3, class_names=None, target_class=None, **params):
    """SHAP image plot: per input a row, per class a column, red = pushes the class up, blue = down.

    Lundberg & Lee (2017); the layout of ``shap.image_plot``. Colours share one
    symmetric scale (the 99.9th percentile of |SHAP| over the figure).

    Parameters
    ----------
    %(figure_model)s
    inputs : ndarray (N, ...), Explanation, or list of Explanation
        Precomputed SHAP explanations are drawn as they are (one column each).
    targets : None, int or sequence of int
        Explain this class in one column (``target_class`` is another name); when
        None, ``classes`` or the ``top_k`` predicted classes give the columns.
    %(figure_conventions)s
    method : str
        'shap' (expected gradients, needs ``background=``), 'shap_partition', 'shap_kernel', ...
    classes : sequence of int, optional
        The same classes for every input, one column each.
    top_k : int
        Without ``targets``/``classes``: columns are each input's top-k predicted classes.
    %(figure_class_names)s
    **params
        Passed to the method (``background``, ``n_samples``, ``seed``, ``max_evals``...).

    Returns
    -------
    list of Explanation
        One per column.

    Examples
    --------
    >>> exps = tlxp.shap_visualization(cnn, X_test[:3], background=X_train[:100],
    ...                               name='/tmp/shap.png')
    """
    targets = pick_targets(targets, target_class)
    if isinstance(inputs, Explanation):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(e, Explanation) for e in inputs):
        columns = list(inputs)
    elif targets is not None:
        columns = [obtain_explanation(model, inputs, method, targets, **params)]
    else:
        adapter = as_adapter(model)
        x, _ = adapter.prepare(inputs)
        per_column, _ = _column_targets(adapter, x, classes, top_k)
        columns = [obtain_explanation(adapter, x, method, t, **params) for t in per_column]
    first = columns[0]
    heats = np.stack([e.heatmap("sum") for e in columns], axis=1)  # (N, n_cols, H, W)
    limit = float(np.nanpercentile(np.abs(heats), 99.9)) or 1.0
    n, n_cols = len(first), len(columns) + 1
    with tl_figure(saveable, name, fig_idx, second, figsize=(2.0 * n_cols + 0.6, 2.3 * n + 0.8)) as fig:
        im = None
        for i in range(n):
            titles = [prediction_title(first.predictions[i], None, class_names)]
            titles += ["%s: class %s" % (e.method, class_label(e.targets[i], class_names)) for e in columns]
            im = draw_shap_row(fig, n, n_cols, i, first.images()[i], heats[i], titles, limit)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        cax = fig.add_axes((0.3, 0.03, 0.4, 0.02))
        fig.colorbar(im, cax=cax, orientation="horizontal", label="SHAP value")
    return columns


# ----------------------------------------------------------------------------- feature importance
def _default_feature_names(image_shape):
    """'px(r,c)' per pixel for images (with ',cK' per channel when several), else 'f0', 'f1', ..."""
    h, w, c = image_shape
    if min(h, w) == 1:
        return ["f%d" % i for i in range(h * w * c)]
    if c == 1:
        return ["px(%d,%d)" % (r, col) for r in range(h) for col in range(w)]
    return ["px(%d,%d,c%d)" % (r, col, k) for r in range(h) for col in range(w) for k in range(c)]


def _with_background(method, data, params, seed=0, max_rows=100):
    """Methods that need a background get a seeded sample of ``data`` when none is given."""
    if "background" in method_info(method).parameters and params.get("background") is None:
        rows = np.asarray(data)
        if len(rows) > max_rows:
            rows = rows[np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))]
        params = dict(params, background=rows)
    return params


def _importance_table(exp, feature_names, top_k):
    import pandas as pd

    flat = exp.attributions.reshape(len(exp), -1).astype(np.float64)
    names = _default_feature_names(exp.image_shape) if feature_names is None else [str(f) for f in feature_names]
    if len(names) != flat.shape[1]:
        raise ValueError("feature_names: expected %d names (one per input feature), got %d"
                         % (flat.shape[1], len(names)))
    importance = np.abs(flat).mean(axis=0)
    table = pd.DataFrame({"feature": names, "mean_abs_shap": importance, "mean_shap": flat.mean(axis=0),
                          "feature_index": np.arange(flat.shape[1])})
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    table.index = table.index + 1
    table.index.name = "rank"
    table.attrs.update(method=exp.method, n_samples=len(exp), importance=importance, explanation=exp)
    return table.head(int(top_k)), importance


def _draw_summary(fig, top, importance, image_shape, method):
    is_image = min(image_shape[:2]) > 1
    ax = fig.add_subplot(1, 2 if is_image else 1, 1)
    rows = top.iloc[::-1]
    ax.barh(np.arange(len(rows)), rows["mean_abs_shap"], color=SHAP_BLUE)
    ax.set_yticks(np.arange(len(rows)))
    ax.set_yticklabels(rows["feature"], fontsize=8)
    ax.set_xlabel("mean(|SHAP value|)  (%s)" % method)
    ax.set_title("Feature importance (top %d)" % len(rows), fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if is_image:
        imap = importance.reshape(image_shape).sum(axis=-1)
        ax2 = fig.add_subplot(1, 2, 2)
        im = ax2.imshow(imap, cmap="hot", interpolation="nearest")
        ax2.set_xticks([])
        ax2.set_yticks([])
        ax2.set_title("mean |SHAP| per pixel", fontsize=10)
        fig.colorbar(im, ax=ax2, fraction=0.046, pad=0.04)


@shared_docstring
def feature_importance(model, data, feature_names=None, top_k=10, method="shap", saveable=True,
                       name="feature_importance", fig_idx=2396352, second=10, targets=None, target_class=None,
                       verbose=True, **params):
    """Global feature importance: mean |SHAP| per feature over ``data``, a top-k table and a summary plot.

    Lundberg & Lee (2017); the bar form of ``shap.summary_plot``. Each row of
    ``data`` is explained (for its predicted class unless ``targets`` says
    otherwise) and the absolute attributions are averaged per input feature.

    Parameters
    ----------
    %(figure_model)s
    data : ndarray (N, ...) or Explanation
        Samples to average over (a precomputed Explanation is used as is).
    feature_names : sequence of str, optional
        One per input value (default ``'px(r,c)'`` for images, ``f0, f1, ...`` otherwise).
    top_k : int
        Rows of the returned table and bars of the plot.
    method : str
        Any registered method ('shap', 'shap_kernel', 'shap_partition', 'lime_tabular'...).
        When the method takes a ``background`` and none is passed, a seeded sample
        of up to 100 rows of ``data`` is used.
    %(figure_conventions)s
    targets, target_class : optional
        Class explained per row (default: the predicted class).
    verbose : bool
        Print the table.
    **params
        Passed to the method.

    Returns
    -------
    pandas.DataFrame
        Top-k rows indexed by ``rank`` with ``feature``, ``mean_abs_shap``, ``mean_shap``,
        ``feature_index``; ``df.attrs['importance']`` holds every feature's value and
        ``df.attrs['explanation']`` the Explanation.

    Examples
    --------
    >>> df = tlxp.feature_importance(mlp, X_test[:50], top_k=10, name='/tmp/fi.png')
    >>> df.iloc[0]['feature']  # doctest: +IGNORE_RESULT
    'px(12,14)'
    """
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError("top_k: expected a positive int, got %r" % (top_k,))
    if not isinstance(data, Explanation):
        params = _with_background(method, data, params, seed=params.get("seed", 0) or 0)
    exp = obtain_explanation(model, data, method, pick_targets(targets, target_class), **params)
    top, importance = _importance_table(exp, feature_names, top_k)
    if verbose:
        print("Top %d features by mean |%s attribution| over %d samples:" % (len(top), exp.method, len(exp)))
        print(top.to_string(float_format=lambda v: "%.4g" % v))
    is_image = min(exp.image_shape[:2]) > 1
    with tl_figure(saveable, name, fig_idx, second, figsize=(10 if is_image else 6, max(3.0, 0.3 * len(top) + 1.2))) \
            as fig:
        _draw_summary(fig, top, importance, exp.image_shape, exp.method)
    return top


#: The TensorLayer visualize tutorial's name for :func:`feature_importance`.
feature_importance_analysis = feature_importance
