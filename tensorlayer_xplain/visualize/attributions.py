"""Figures of pixel attributions: the input next to its attribution map."""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import draw_heatmap, draw_image, draw_overlay, prediction_title
from .._utils.figure import tl_figure
from .._utils.map_checks import map_note
from ._common import obtain_explanation, pick_targets

__all__ = ["gradient_visualization", "saliency_visualization", "draw_attribution_rows"]


def method_title(exp, i=None, timing=False):
    """A cell title: the method, its quality note (completeness or conservation gap), optionally its time, and a
    note when the map is constant or the model's outputs are all equal (:func:`~..map_checks.map_note`).

    Parameters
    ----------
    exp : Explanation
    i : int, optional
        Sample index for per-sample notes.
    timing : bool
        Append the time per input.
    """
    title = exp.method
    base = exp.meta.get("base_method") or exp.params.get("rule")  # smoothgrad's base method, lrp's rule
    if isinstance(base, str):
        title += "(%s)" % base
    gap = exp.meta.get("completeness_gap", exp.meta.get("conservation_gap"))  # IG/deeplift, lrp
    if gap is not None and i is not None:
        title += "\ngap %.2g%%" % (100 * float(np.asarray(gap).reshape(-1)[i]))
    if timing and "per_sample" in exp.timings:
        title += "\n%.3g ms/input" % (1000 * exp.timings["per_sample"])
    note = map_note(exp, i) if i is not None else ""
    if note:
        title += "\n(%s)" % note
    return title


def draw_attribution_rows(fig, exp, class_names=None, signed=None):
    """Draw one row per input: the image (titled with the prediction) and its map.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    exp : Explanation
    class_names : sequence of str, optional
    signed : bool, optional
        Colormap choice; defaults to ``exp.meta['signed']``.

    Returns
    -------
    None
        Draws ``2 * len(exp)`` axes on ``fig``.

    Examples
    --------
    >>> with tl_figure(True, 'out/rows.png', fig_idx=1, figsize=(5.5, 5)) as fig:
    ...     draw_attribution_rows(fig, exp, class_names=[str(d) for d in range(10)])
    """
    signed = exp.meta.get("signed", False) if signed is None else signed
    images, heat = exp.images(), exp.heatmap()
    n = len(exp)
    for i in range(n):
        draw_image(fig.add_subplot(n, 2, 2 * i + 1), images[i],
                   prediction_title(exp.predictions[i], exp.targets[i], class_names))
        draw_heatmap(fig.add_subplot(n, 2, 2 * i + 2), heat[i], signed, title=method_title(exp, i))


@shared_docstring
def gradient_visualization(model, inputs, targets=None, saveable=True, name="gradient", fig_idx=2396320,
                           second=10, method="gradient", class_names=None, target_class=None, **params):
    """Draw inputs next to their gradient (saliency) maps, TL style.

    Parameters
    ----------
    %(figure_inputs)s
    %(figure_targets)s
    %(figure_conventions)s
    method : str
        Any gradient method name (default ``'gradient'``).
    %(figure_class_names)s
    **params
        Passed to the method.

    Returns
    -------
    Explanation

    Examples
    --------
    >>> import tensorlayer_xplain as tlxp
    >>> exp = tlxp.gradient_visualization(model, X_test[:4], name='out/grad.png')
    >>> exp.heatmap().shape
    (4, 28, 28)
    """
    exp = obtain_explanation(model, inputs, method, pick_targets(targets, target_class), **params)
    n = len(exp)
    with tl_figure(saveable, name, fig_idx, second, figsize=(5.5, 2.5 * n)) as fig:
        draw_attribution_rows(fig, exp, class_names)
    return exp


def draw_saliency_rows(fig, exp, class_names=None, alpha=0.5):
    """One row per input: the image, its attribution map with a colorbar, and |map| over the image.

    Signed attributions use a diverging colormap centred on zero, magnitudes a
    sequential one; the overlay shows magnitudes (jet) on the input.
    """
    signed = exp.meta.get("signed", False)
    images, heat = exp.images(), exp.heatmap()
    n = len(exp)
    for i in range(n):
        draw_image(fig.add_subplot(n, 3, 3 * i + 1), images[i],
                   prediction_title(exp.predictions[i], exp.targets[i], class_names))
        draw_heatmap(fig.add_subplot(n, 3, 3 * i + 2), heat[i], signed, title=method_title(exp, i))
        draw_overlay(fig.add_subplot(n, 3, 3 * i + 3), images[i], np.abs(heat[i]), alpha,
                     title="|%s| on input" % exp.method, colorbar=True)


@shared_docstring
def saliency_visualization(model, inputs, method="integrated_gradients", targets=None, saveable=True,
                           name="saliency", fig_idx=2396331, second=10, class_names=None, alpha=0.5,
                           target_class=None, **params):
    """Draw each input, its attribution map from a gradient method, and the map over the input.

    Rows are inputs; columns: the input (titled with the prediction), the map
    (diverging colormap for signed methods such as integrated gradients,
    sequential for magnitudes, with a colorbar), and ``|map|`` superimposed on
    the input (jet). Integrated gradients' completeness gap is shown in the title.

    Parameters
    ----------
    %(figure_inputs)s
    method : str
        Any registered method; meant for ``gradient``, ``gradient_x_input``,
        ``integrated_gradients``, ``smoothgrad``, ``vargrad``, ``guided_backprop``.
    %(figure_targets)s
    %(figure_conventions)s
    %(figure_class_names)s
    alpha : float
        Opacity of the overlay.
    **params
        The method's parameters (e.g. ``steps=128``, ``baseline='blurred'``).

    Returns
    -------
    Explanation

    Examples
    --------
    >>> exp = tlxp.saliency_visualization(model, X_test[:3], 'integrated_gradients', steps=64,
    ...                                  name='out/ig.png')
    """
    exp = obtain_explanation(model, inputs, method, pick_targets(targets, target_class), **params)
    with tl_figure(saveable, name, fig_idx, second, figsize=(8.0, 2.6 * len(exp))) as fig:
        draw_saliency_rows(fig, exp, class_names, alpha)
    return exp
