"""Class labels and their colours: labels from ints or one-hot, one colour per class, scatter with a legend."""
import numpy as np

from .._utils.drawing import class_label

__all__ = ["as_labels", "class_colors", "scatter_classes"]


def as_labels(y, n, name="y"):
    """Class labels as int array ``(N,)``: accepts ints, integral floats or one-hot ``(N, K)``.

    Parameters
    ----------
    y : None or array-like, shape (N,) or (N, K)
    n : int
        Number of samples ``y`` must describe.
    name : str
        Argument name for error messages.

    Returns
    -------
    None or ndarray of int64, shape (N,)
    """
    if y is None:
        return None
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = np.argmax(labels, axis=1)
    labels = labels.reshape(-1) if labels.ndim == 2 else labels
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError("%s: expected one label per sample (%d,) or one-hot (%d, K), got shape %s"
                         % (name, n, n, np.shape(y)))
    if not np.issubdtype(labels.dtype, np.number) or not np.all(np.mod(labels, 1) == 0) or labels.min() < 0:
        raise ValueError("%s: expected non-negative integer class labels, got %s values" % (name, labels.dtype))
    return labels.astype(np.int64)


def class_colors(n_classes):
    """One distinct RGBA colour per class index (tab10, tab20, then a continuous map)."""
    import matplotlib

    n_classes = max(1, int(n_classes))
    if n_classes <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n_classes)]
    if n_classes <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n_classes)]
    cmap = matplotlib.colormaps["nipy_spectral"]
    return [cmap(i / (n_classes - 1)) for i in range(n_classes)]


def scatter_classes(ax, points, labels=None, class_names=None, n_classes=None, size=None, legend_title=None):
    """Scatter 2-D or 3-D ``points`` coloured by class with a legend (one entry per class present).

    Parameters
    ----------
    ax : matplotlib Axes (a 3-D Axes for 3 columns)
    points : ndarray, shape (N, 2) or (N, 3)
    labels : ndarray of int (N,), optional
        None draws every point in one colour.
    class_names : sequence of str, optional
    n_classes : int, optional
        Size of the palette (so colours match other plots of the same classes).
    """
    size = size if size is not None else max(4.0, min(30.0, 3000.0 / max(1, len(points))))
    coords = [points[:, i] for i in range(points.shape[1])]
    if labels is None:
        ax.scatter(*coords, s=size, color="tab:blue", edgecolors="none")
        return
    present = np.unique(labels)
    colors = class_colors(n_classes if n_classes is not None else present.max() + 1)
    for k in present:
        mask = labels == k
        ax.scatter(*[c[mask] for c in coords], s=size, color=colors[int(k) % len(colors)],
                   edgecolors="none", label=class_label(k, class_names))
    if len(present) <= 30:
        ax.legend(title=legend_title, fontsize=7, title_fontsize=8, markerscale=max(1.0, 20.0 / size),
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
