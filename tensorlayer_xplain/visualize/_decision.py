"""The model's decision regions drawn in the plane of the inputs' first two principal components."""
from collections import namedtuple

import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.figure import tl_figure
from ..adapter import as_adapter
from ._classes import as_labels, class_colors, scatter_classes
from ._reduction import check_int

__all__ = ["decision_boundary", "DecisionBoundary"]

DecisionBoundary = namedtuple(
    "DecisionBoundary", ["grid_predictions", "xx", "yy", "pca", "projected", "point_predictions"])
DecisionBoundary.__doc__ = """What :func:`decision_boundary` returns.

Attributes
----------
grid_predictions : ndarray of int, shape (resolution, resolution)
    The model's predicted class at each grid point (row = PC2, column = PC1).
xx, yy : ndarray, shape (resolution, resolution)
    PCA coordinates of the grid points (as from ``np.meshgrid``).
pca : sklearn.decomposition.PCA
    Fitted on the flattened inputs; ``pca.inverse_transform`` maps the plane back to inputs.
projected : ndarray, shape (N, 2)
    The inputs in PCA coordinates.
point_predictions : ndarray of int, shape (N,)
    The model's predicted class for each input.

Examples
--------
>>> result = tlxp.decision_boundary(mlp, X_test[:500], y_test[:500], name='out/regions.png')
>>> result.grid_predictions.shape, result.projected.shape  # doctest: +IGNORE_RESULT
((100, 100), (500, 2))
"""


def _plane_grid(projected, resolution, margin=0.1):
    low, high = projected.min(axis=0), projected.max(axis=0)
    pad = np.maximum(high - low, 1e-6) * margin
    gx = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    gy = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    return np.meshgrid(gx, gy)


def _predict_plane(adapter, pca, plane, batch_size):
    """Predicted class of every 2-D point, mapped back to inputs chunk by chunk (memory bounded)."""
    size = int(batch_size or adapter.batch_size)

    def classify(chunk):
        inputs = pca.inverse_transform(chunk).astype(np.float32).reshape((len(chunk),) + adapter.input_shape)
        return np.argmax(adapter.predict(inputs, batch_size=size), axis=1)

    return adapter.map_batches(classify, plane, batch_size=size)


def _draw_regions(ax, result, labels, n_classes, class_names, pca):
    from matplotlib.colors import ListedColormap

    colors = class_colors(n_classes)
    # one flat cell per grid point: contourf would interpolate the class ids and draw
    # thin bands of the classes numbered in between along every boundary
    ax.pcolormesh(result.xx, result.yy, result.grid_predictions, shading="nearest", cmap=ListedColormap(colors),
                  vmin=-0.5, vmax=n_classes - 0.5, alpha=0.35, rasterized=True)
    shown = labels if labels is not None else result.point_predictions
    scatter_classes(ax, result.projected, shown, class_names, n_classes=n_classes,
                    legend_title="class" if labels is not None else "predicted")
    if labels is not None:
        wrong = result.point_predictions != labels
        if wrong.any():
            ax.scatter(result.projected[wrong, 0], result.projected[wrong, 1], s=18, marker="x", color="k",
                       linewidths=0.8, label="misclassified")
            ax.legend(fontsize=7, title="class", title_fontsize=8, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), frameon=False)
    ratio = pca.explained_variance_ratio_
    ax.set_xlabel("PC1 (%.0f%% of variance)" % (100 * ratio[0]))
    ax.set_ylabel("PC2 (%.0f%% of variance)" % (100 * ratio[1]))
    ax.set_xlim(result.xx.min(), result.xx.max())
    ax.set_ylim(result.yy.min(), result.yy.max())


@shared_docstring
def decision_boundary(model, x, y=None, resolution=100, saveable=True, name="decision_boundary", fig_idx=2396331,
                      second=10, class_names=None, batch_size=None, seed=0):
    """Draw the model's decision regions in the plane of the inputs' first two principal components.

    The inputs are flattened and projected with PCA; a ``resolution`` x
    ``resolution`` grid over the projected points is mapped back to input space
    with ``pca.inverse_transform`` (the input closest to the data that projects
    there), classified by the model in batches, and drawn as flat regions (one cell per grid point) with
    the points on top (coloured by ``y``; misclassified points crossed).
    Exact for inputs that live in a 2-D subspace; otherwise a slice through the
    input space along the two directions of largest variance.

    Parameters
    ----------
    %(figure_model)s
    x : array-like, shape (N, *input_shape) or (N, H, W, C)
        N >= 2 inputs with at least 2 features.
    y : array-like of int (N,) or one-hot (N, K), optional
        True classes (None colours points by the predicted class).
    resolution : int
        Grid points per axis (>= 2); ``resolution**2`` inputs go through the model.
    %(figure_conventions)s
    %(figure_class_names)s
    batch_size : int, optional
        Grid points mapped back and classified at once (bounds memory).
    seed : int
        PCA ``random_state`` (matters only for the randomized solver on large data).

    Returns
    -------
    DecisionBoundary
        ``(grid_predictions (R, R), xx (R, R), yy (R, R), pca, projected (N, 2), point_predictions (N,))``.

    Examples
    --------
    >>> res = tlxp.decision_boundary(model, X_test[:500], y_test[:500], resolution=80,
    ...                             name='out/regions.png')
    >>> res.grid_predictions.shape, res.projected.shape  # doctest: +IGNORE_RESULT
    ((80, 80), (500, 2))
    """
    from sklearn.decomposition import PCA

    resolution = check_int(resolution, "resolution", 2)
    adapter = as_adapter(model)
    prepared, _ = adapter.prepare(x, name="x")
    flat = prepared.reshape(len(prepared), -1).astype(np.float64)
    if len(flat) < 2 or flat.shape[1] < 2:
        raise ValueError("x: expected at least 2 samples with at least 2 features for a 2-D projection, "
                         "got shape %s" % (prepared.shape,))
    labels = as_labels(y, len(flat))
    pca = PCA(2, random_state=seed).fit(flat)
    projected = pca.transform(flat)
    xx, yy = _plane_grid(projected, resolution)
    grid = _predict_plane(adapter, pca, np.column_stack([xx.ravel(), yy.ravel()]), batch_size)
    point_predictions = np.argmax(adapter.predict(prepared, batch_size=batch_size), axis=1)
    result = DecisionBoundary(grid.reshape(xx.shape), xx, yy, pca, projected.astype(np.float32), point_predictions)
    n_classes = max(int(adapter.n_classes or 0), int(grid.max()) + 1,
                    int(labels.max()) + 1 if labels is not None else 0)
    with tl_figure(saveable, name, fig_idx, second, figsize=(7.5, 6)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        _draw_regions(ax, result, labels, n_classes, class_names, pca)
        ax.set_title("Decision regions in the inputs' PCA plane (%dx%d grid)" % (resolution, resolution),
                     fontsize=10)
    return result
