"""The mean heatmap of each class over a whole stored dataset, as one TL-style figure."""
from .._utils.docstrings import shared_docstring

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
    from ..scale.store import ExplanationStore, open_store

    store = store if isinstance(store, ExplanationStore) else open_store(store)
    return store.plot_class_means(method, by=by, reduce=reduce, class_names=class_names, columns=columns,
                                  saveable=saveable, name=name, fig_idx=fig_idx, second=second)
