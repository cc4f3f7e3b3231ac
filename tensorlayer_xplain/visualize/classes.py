"""The mean heatmap of each class over a whole stored dataset, as one TL-style figure."""
import math

import numpy as np

from .._docstrings import shared_docstring
from ._draw import class_label, draw_heatmap
from ._figure import tl_figure

__all__ = ["class_mean_heatmaps"]


@shared_docstring
def class_mean_heatmaps(store, method, by="target", reduce="sum", class_names=None, columns=5, saveable=True,
                        name="class_mean_heatmaps", fig_idx=2410, second=10):
    """Draw the mean heatmap per class of one method of an :class:`~tensorlayer_xplain.ExplanationStore`.

    The means are streamed from the store chunk by chunk
    (:meth:`ExplanationStore.class_mean_heatmaps`), so any dataset size fits.

    Parameters
    ----------
    store : ExplanationStore or str
        A store or its path.
    method : str
        A method in the store.
    by : {'target', 'prediction', 'label'}
        Which class each sample counts for.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
        Channel reduction.
    %(figure_class_names)s
    columns : int
        Panels per row.
    %(figure_conventions)s

    Returns
    -------
    means : ndarray, shape (K, H, W)
        NaN rows for classes without samples (drawn blank).
    counts : ndarray of int, shape (K,)

    Examples
    --------
    >>> means, counts = tlxp.class_mean_heatmaps(store, 'gradient', by='label',
    ...                                          name='class_means.png')
    """
    from ..store import ExplanationStore, open_store

    store = store if isinstance(store, ExplanationStore) else open_store(store)
    if not isinstance(columns, (int, np.integer)) or isinstance(columns, bool) or columns < 1:
        raise ValueError("columns: expected a positive int, got %r" % (columns,))
    means, counts = store.class_mean_heatmaps(method, by=by, reduce=reduce)
    signed = store.attrs["methods"][store[method].name]["signed"]
    k = len(counts)
    cols = min(int(columns), k)
    rows = math.ceil(k / cols)
    with tl_figure(saveable, name, fig_idx, second, figsize=(2.2 * cols, 2.4 * rows)) as fig:
        for c in range(k):
            ax = fig.add_subplot(rows, cols, c + 1)
            title = "%s (n=%d)" % (class_label(c, class_names), counts[c])
            heat = np.nan_to_num(means[c]) if counts[c] else np.zeros(means.shape[1:])
            draw_heatmap(ax, heat, signed=signed, title=title, colorbar=False)
        fig.suptitle("%s: mean heatmap per %s" % (store[method].name, by))
    return means, counts
