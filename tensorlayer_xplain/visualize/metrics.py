"""Figures of explanation metrics: how much methods agree (annotated method x method heatmaps)."""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.figure import tl_figure
from ..metrics import method_agreement

__all__ = ["method_agreement_visualization", "draw_agreement_matrix", "method_ranks", "metric_ranking_visualization"]


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


def method_ranks(tidy):
    """Rank of each method per metric (1 = best, by the metric's direction; ties share the best rank).

    Parameters
    ----------
    tidy : pandas.DataFrame
        The long table of :meth:`ModelExplainer.evaluate` (columns ``method,
        metric, family, direction, mean``).

    Returns
    -------
    pandas.DataFrame
        The same rows with a ``rank`` column (NaN where the mean is NaN).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({'method': ['a', 'b'], 'metric': ['m', 'm'], 'family': ['complexity'] * 2,
    ...                   'direction': ['lower'] * 2, 'mean': [2.0, 1.0]})
    >>> method_ranks(t)['rank'].tolist()
    [2.0, 1.0]
    """
    needed = {"method", "metric", "family", "direction", "mean"}
    missing = needed - set(getattr(tidy, "columns", ()))
    if missing:
        raise ValueError("tidy: expected the long table of ModelExplainer.evaluate (columns %s), missing %s"
                         % (sorted(needed), sorted(missing)))
    out = tidy.copy()
    signed = np.where(out["direction"] == "higher", -1.0, 1.0) * out["mean"].astype(float)
    out["rank"] = signed.groupby(out["metric"]).rank(method="min")
    return out


def _rank_panel(ax, ranked, family, methods, show_methods):
    """One family's methods x metrics grid coloured by rank, annotated with the means, then the mean rank."""
    part = ranked[ranked["family"] == family]
    metric_names = list(dict.fromkeys(part["metric"]))
    ranks = part.pivot(index="method", columns="metric", values="rank").reindex(methods)[metric_names]
    means = part.pivot(index="method", columns="metric", values="mean").reindex(methods)[metric_names]
    values = np.column_stack([ranks.values, np.nanmean(ranks.values, axis=1)
                              if np.isfinite(ranks.values).any() else np.full(len(methods), np.nan)])
    top = max(len(methods), 2)
    ax.imshow(values, cmap="viridis_r", vmin=1, vmax=top, aspect="auto", interpolation="nearest")
    for r in range(len(methods)):
        for c in range(values.shape[1]):
            if c < len(metric_names):
                text = "%.3g" % means.values[r, c] if np.isfinite(means.values[r, c]) else "n/a"
            else:
                text = "%.1f" % values[r, c] if np.isfinite(values[r, c]) else "n/a"
            light = np.isfinite(values[r, c]) and values[r, c] < 1 + 0.5 * (top - 1)  # yellow-green cells
            ax.text(c, r, text, ha="center", va="center", fontsize=7, color="black" if light else "white")
    arrows = ["%s %s" % (m, "\u2191" if part.loc[part["metric"] == m, "direction"].iloc[0] == "higher" else "\u2193")
              for m in metric_names]
    ax.set_xticks(range(values.shape[1]), arrows + ["mean rank"], rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(methods)), methods if show_methods else [""] * len(methods), fontsize=8)
    ax.set_title(family, fontsize=9)


@shared_docstring
def metric_ranking_visualization(tidy, saveable=True, name="metric_ranking", fig_idx=2396381, second=10):
    """Rank methods per metric, one panel per family: which method is best at what, at a glance.

    Each panel is a methods x metrics grid coloured by rank (1 = best, in the
    metric's own direction, so 'lower is better' metrics need no mental flip),
    each cell annotated with the mean score; the last column is the method's
    mean rank over the family. A readable stand-in for Quantus's spider plot.

    Parameters
    ----------
    tidy : pandas.DataFrame
        The long table of :meth:`ModelExplainer.evaluate` (``tidy=True``).
    %(figure_conventions)s

    Returns
    -------
    pandas.DataFrame
        ``tidy`` with a ``rank`` column (see :func:`method_ranks`).

    Examples
    --------
    >>> table = explainer.evaluate(x[:8], metrics='complexity')     # or metrics='all' (minutes on a CPU)
    >>> tlxp.visualize.metric_ranking_visualization(table, name='out/ranking.png')  # doctest: +IGNORE_RESULT
    """
    ranked = method_ranks(tidy)
    if ranked.empty:
        raise ValueError("tidy: expected at least one (method, metric) row, got an empty table")
    families = list(dict.fromkeys(ranked["family"]))
    methods = list(dict.fromkeys(ranked["method"]))
    widths = [len(set(ranked.loc[ranked["family"] == f, "metric"])) + 1 for f in families]
    # families in rows of at most 10 grid columns (3 panels), so 'all' stays readable instead of one long strip
    rows_of, row, used = [], [], 0
    for family, width in zip(families, widths):
        if row and (used + width > 10 or len(row) == 3):
            rows_of.append(row)
            row, used = [], 0
        row.append((family, width))
        used += width
    rows_of.append(row)
    n_cols = max(sum(w for _, w in r) for r in rows_of)
    panel_height = 1.4 + 0.45 * len(methods)
    with tl_figure(saveable, name, fig_idx, second,
                   figsize=(2.0 + 1.1 * n_cols, panel_height * len(rows_of) + 0.6)) as fig:
        grid = fig.add_gridspec(len(rows_of), n_cols)
        for r_index, row in enumerate(rows_of):
            start = 0
            for family, width in row:
                _rank_panel(fig.add_subplot(grid[r_index, start:start + width]), ranked, family, methods,
                            show_methods=start == 0)
                start += width
        fig.suptitle("Methods ranked per metric (colour: rank, 1 = best; text: mean score)", fontsize=10)
    return ranked
