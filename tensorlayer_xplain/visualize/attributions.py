"""Figures of pixel attributions: the input next to its attribution map."""
import numpy as np

from ._common import obtain_explanation, pick_targets
from ._draw import draw_heatmap, draw_image, prediction_title
from ._figure import tl_figure

__all__ = ["gradient_visualization", "draw_attribution_rows"]


def draw_attribution_rows(fig, exp, class_names=None, signed=None):
    """Draw one row per input: the image (titled with the prediction) and its map.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    exp : Explanation
    class_names : sequence of str, optional
    signed : bool, optional
        Colormap choice; defaults to ``exp.meta['signed']``.
    """
    signed = exp.meta.get("signed", False) if signed is None else signed
    images, heat = exp.images(), exp.heatmap()
    n = len(exp)
    for i in range(n):
        draw_image(fig.add_subplot(n, 2, 2 * i + 1), images[i],
                   prediction_title(exp.predictions[i], exp.targets[i], class_names))
        draw_heatmap(fig.add_subplot(n, 2, 2 * i + 2), heat[i], signed, title=exp.method)


def gradient_visualization(model, inputs, targets=None, saveable=True, name="gradient", fig_idx=2396320,
                           second=10, method="gradient", class_names=None, target_class=None, **params):
    """Draw inputs next to their gradient (saliency) maps, TL style.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    inputs : ndarray (N, ...) or Explanation
        One or several inputs; a precomputed :class:`Explanation` is drawn as is.
    targets : None, int or sequence of int
        Class to explain; None = predicted class. ``target_class`` is accepted as
        another name (the TL visualize tutorial's).
    saveable : bool
        Save to ``name + '.pdf'`` (or the extension in ``name``) instead of showing.
    name : str
    fig_idx : int
    second : float
        Display time when ``saveable=False``.
    method : str
        Any gradient method name (default ``'gradient'``).
    class_names : sequence of str, optional
    **params
        Passed to the method.

    Returns
    -------
    Explanation

    Examples
    --------
    >>> import tensorlayer_xplain as tlx                                  # doctest: +SKIP
    >>> exp = tlx.gradient_visualization(model, X_test[:4], name='out/grad.png')   # doctest: +SKIP
    >>> exp.heatmap().shape                                              # doctest: +SKIP
    (4, 28, 28)
    """
    exp = obtain_explanation(model, inputs, method, pick_targets(targets, target_class), **params)
    n = len(exp)
    with tl_figure(saveable, name, fig_idx, second, figsize=(5.5, 2.5 * n)) as fig:
        draw_attribution_rows(fig, exp, class_names)
        fig.tight_layout()
    return exp
