"""Figures of explanation metrics: how much methods agree (annotated method x method heatmaps)."""
import numpy as np

from .._utils.docstrings import shared_docstring
from ..metrics import method_agreement
from ._figure import tl_figure

__all__ = ["method_agreement_visualization", "draw_agreement_matrix"]


def draw_agreement_matrix(ax, frame, title=None, vmin=-1.0, vmax=1.0, cmap="RdBu_r", fmt="%.2f"):
    """Draw a square method x method ``pandas.DataFrame`` as a heatmap with each value written in its cell.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    frame : pandas.DataFrame
        Rows x columns, e.g. the square ``method_agreement(...).spearman``
        (rectangular tables work too: rows on the y axis, columns on the x axis).
    title : str, optional
    vmin, vmax : float
        Color range (-1..1 for correlations, 0..1 for IoU).
    cmap : str
    fmt : str
        Format of the cell annotations.

    Returns
    -------
    matplotlib.image.AxesImage

    Examples
    --------
    >>> rho, iou = tlxp.metrics.method_agreement(exps)
    >>> with tl_figure(True, 'out/rho.png', fig_idx=1) as fig:
    ...     draw_agreement_matrix(fig.add_subplot(1, 1, 1), rho, title='Spearman')
    """
    values = np.asarray(frame.values, dtype=np.float64)
    labels = [str(v) for v in frame.index]
    columns = [str(v) for v in frame.columns]
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(len(columns)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    colormap = im.get_cmap()
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            value = values[row, col]
            if not np.isfinite(value):
                text, color = "n/a", "black"
            else:
                r, g, b, _ = colormap(im.norm(value))
                color = "white" if (0.299 * r + 0.587 * g + 0.114 * b) < 0.5 else "black"
                text = fmt % value
                if text.startswith("-") and float(text) == 0:
                    text = text[1:]  # no "-0.00"
            ax.text(col, row, text, ha="center", va="center", color=color, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


@shared_docstring
def method_agreement_visualization(explanations, saveable=True, name="method_agreement", fig_idx=2396380,
                                   second=10, top_k=0.1, absolute=True, seed=0):
    """Draw how much explanation methods agree: Spearman rank correlation and top-k IoU, TL style.

    Two annotated method x method heatmaps side by side, computed by
    :func:`tensorlayer_xplain.metrics.method_agreement` (rank correlation as in
    Adebayo et al., 2018; top-k feature agreement as in Krishna et al., 2022).

    Parameters
    ----------
    explanations : dict of str -> Explanation, or list of Explanation
        Explanations of the same inputs by different methods.
    %(figure_conventions)s
    top_k : float or int
        Fraction (or number) of most important pixels compared by the IoU.
    absolute : bool
        Compare magnitudes (default) rather than signed values.
    seed : int
        Seed of the random order among tied pixels at the top-k boundary.

    Returns
    -------
    Agreement
        ``(spearman, iou)`` DataFrames, as :func:`~tensorlayer_xplain.metrics.method_agreement`.

    Examples
    --------
    >>> exps = [tlxp.explain(model, x[:16], m) for m in ('gradient', 'gradcam', 'occlusion')]
    >>> rho, iou = tlxp.method_agreement_visualization(exps, name='out/agreement.png')
    """
    agreement = method_agreement(explanations, top_k=top_k, absolute=absolute, seed=seed)
    info = agreement.iou.attrs
    side = 2.2 + 0.55 * len(agreement.spearman)
    with tl_figure(saveable, name, fig_idx, second, figsize=(2 * side + 1.0, side)) as fig:
        draw_agreement_matrix(fig.add_subplot(1, 2, 1), agreement.spearman,
                              "Spearman rank correlation (%s)" % ("|map|" if absolute else "map"))
        draw_agreement_matrix(fig.add_subplot(1, 2, 2), agreement.iou,
                              "top-%d pixel IoU (%.0f%% of pixels)"
                              % (info["top_k_pixels"], 100.0 * info["top_k_pixels"] / info["n_pixels"]),
                              vmin=0.0, vmax=1.0,
                              cmap="viridis")
        fig.suptitle("Method agreement over %d inputs" % info["n_inputs"], fontsize=10)
    return agreement
