"""Grad-CAM figures: the heatmap superimposed on the input, and class-comparison rows."""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import (
    OVERLAY_CMAP,
    as_probabilities,
    class_label,
    draw_heatmap,
    draw_image,
    draw_overlay,
    prediction_title,
)
from .._utils.figure import tl_figure
from ._common import obtain_explanation, pick_targets

__all__ = ["gradcam_visualization"]


def target_columns(targets, n):
    """Read a ``targets`` argument as one or several target columns.

    Parameters
    ----------
    targets : None, int, sequence of int (N,), 2-D array-like (N, T) or callable
        A 2-D argument asks for a class comparison: column ``t`` holds the
        ``t``-th class to explain for each input. For a single input, a flat list
        of several classes (``[3, 8]``) means the same as ``[[3, 8]]``.
    n : int
        Number of inputs.

    Returns
    -------
    columns : list
        One target specification per column (each passed to the method as is).
    comparison : bool
        True when several classes per input were asked for.

    Raises
    ------
    ValueError
        For arrays of more than two dimensions or the wrong number of rows.
    """
    if targets is None or callable(targets) or np.isscalar(targets):
        return [targets], False
    t = np.asarray(targets)
    if t.ndim == 1 and n == 1 and len(t) > 1:
        t = t[None, :]
    if t.ndim <= 1:
        return [targets], False
    if t.ndim != 2 or t.shape[0] != n:
        raise ValueError(
            "targets: expected None, an int, one class per input (%d,) or a class-comparison array (%d, T), "
            "got shape %s" % (n, n, t.shape)
        )
    return [t[:, k] for k in range(t.shape[1])], True


def _n_inputs(model, inputs, params):
    """Number of inputs, as the adapter reads them (a single image counts as one)."""
    from ..adapter import as_adapter
    from ..explanation import Explanation

    if isinstance(inputs, Explanation):
        return len(inputs)
    options = {k: params.get(k) for k in ("output", "batch_size", "image_shape")}
    return as_adapter(model, **options).prepare(inputs)[1][0]


def _comparison_row(fig, row, n_rows, n_cols, exps, i, alpha, class_names):
    """Input, one overlay per target class and, for two classes, their signed difference."""
    images = exps[0].images()
    maps = [e.heatmap()[i] for e in exps]
    draw_image(fig.add_subplot(n_rows, n_cols, row * n_cols + 1), images[i],
               prediction_title(exps[0].predictions[i], None, class_names))
    scale = max(float(np.abs(m).max()) for m in maps) or 1.0
    probs = as_probabilities(exps[0].predictions[i])
    for k, (exp, heat) in enumerate(zip(exps, maps)):
        ax = fig.add_subplot(n_rows, n_cols, row * n_cols + 2 + k)
        target = int(exp.targets[i])
        title = "why %s (p=%.2f)" % (class_label(target, class_names), probs[target]) if target >= 0 else "why?"
        # one colour scale for all classes of the row, so a weak class looks weak
        draw_image(ax, images[i], "%s\n%s" % (title, exp.method))
        im = ax.imshow(np.clip(heat / scale, 0, 1), cmap=OVERLAY_CMAP, alpha=alpha, vmin=0, vmax=1,
                       interpolation="bilinear")
        if k == len(exps) - 1:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if len(exps) == 2:
        a, b = (class_label(e.targets[i], class_names) for e in exps)
        draw_heatmap(fig.add_subplot(n_rows, n_cols, row * n_cols + 4), maps[0] - maps[1], signed=True,
                     title="%s rather than %s" % (a, b))


def _single_row(fig, row, n_rows, exp, i, alpha, class_names):
    """Input, the CAM with a colorbar, and the CAM superimposed on the input (jet)."""
    images, heat = exp.images(), exp.heatmap()
    draw_image(fig.add_subplot(n_rows, 3, 3 * row + 1), images[i],
               prediction_title(exp.predictions[i], exp.targets[i], class_names))
    layer = exp.meta.get("layer_name")
    draw_heatmap(fig.add_subplot(n_rows, 3, 3 * row + 2), heat[i], exp.meta.get("signed", False),
                 title="%s%s" % (exp.method, " @ %s" % layer if layer else ""))
    draw_overlay(fig.add_subplot(n_rows, 3, 3 * row + 3), images[i], heat[i], alpha,
                 title="%s on input" % exp.method, colorbar=True)


@shared_docstring
def gradcam_visualization(model, inputs, targets=None, layer_name=None, alpha=0.4, saveable=True,
                          name="gradcam", fig_idx=2396332, second=10, method="gradcam", class_names=None,
                          target_class=None, **params):
    """Grad-CAM heatmaps superimposed on the inputs (jet), TL style; class comparisons too.

    As in the Keras Grad-CAM recipe, the class activation map is drawn in the jet
    colormap over the input. With one class per input, each row shows the input,
    the CAM (with a colorbar) and the overlay. With several classes per input
    (``targets=[[3, 8]]``, or an (N, T) array), each row shows the input, one
    overlay per class on a common scale, and for two classes the signed
    difference of their maps ("why 3 rather than 8").

    Parameters
    ----------
    %(figure_model)s
    inputs : ndarray (N, ...) or Explanation
        A precomputed :class:`Explanation` is drawn as is (one class per input).
    targets : None, int, sequence of int (N,) or array-like (N, T)
        Class(es) to explain; None = predicted class. For a single input a flat
        list of several classes is a comparison. ``target_class`` is another name.
    layer_name : str, optional
        Convolutional layer; default: the last layer with a 4-D output.
    alpha : float
        Opacity of the heatmap over the input.
    %(figure_conventions)s
    method : str
        ``'gradcam'``, ``'gradcam_plus_plus'``, ``'scorecam'`` (or any method
        taking ``layer_name``).
    %(figure_class_names)s
    **params
        Further method parameters.

    Returns
    -------
    Explanation, or list of Explanation
        One per target column when several classes per input were asked for.

    Examples
    --------
    >>> exp = tlxp.gradcam_visualization(model, X_test[:4], name='out/gradcam.png')
    >>> e3, e8 = tlxp.gradcam_visualization(model, X_test[:1], targets=[[3, 8]], name='out/3v8.png')
    """
    targets = pick_targets(targets, target_class)
    if layer_name is not None:
        params["layer_name"] = layer_name
    from ..explanation import Explanation

    columns, comparison = target_columns(targets, _n_inputs(model, inputs, params))
    if comparison and isinstance(inputs, Explanation):
        raise TypeError("inputs: a precomputed Explanation holds one class per input; pass the raw inputs "
                        "to compare several classes")
    exps = [obtain_explanation(model, inputs, method, column, **params) for column in columns]
    n = len(exps[0])
    n_cols = 1 + len(exps) + (1 if len(exps) == 2 else 0) if comparison else 3
    with tl_figure(saveable, name, fig_idx, second, figsize=(2.7 * n_cols, 2.5 * n)) as fig:
        for i in range(n):
            if comparison:
                _comparison_row(fig, i, n, n_cols, exps, i, alpha, class_names)
            else:
                _single_row(fig, i, n, exps[0], i, alpha, class_names)
    return exps if comparison else exps[0]
