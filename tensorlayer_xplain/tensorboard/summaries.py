"""Low-level TensorBoard writers: image grids, :func:`log_explanations`, :func:`log_class_means`.

They depend on explanations, stores and figure colours only (not on the explainer), so
:meth:`ExplanationStore.to_tensorboard <tensorlayer_xplain.ExplanationStore.to_tensorboard>` can use
them without an import cycle. :class:`~tensorlayer_xplain.tensorboard.ExplanationLogger` builds on them.
"""
import numbers
import os

import numpy as np
import tensorflow as tf

from .._utils.drawing import heatmap_rgb, overlay_rgb
from ..methods.registry import method_parameters
from ..metrics._common import _check_int
from ..metrics.agreement import _named_explanations

__all__ = ["log_explanations", "log_class_means", "image_grid", "INSTALL_HINT", "MAX_IMAGES"]

#: What to run when the optional ``tensorboard`` package is missing.
INSTALL_HINT = "pip install tensorlayer-xplain[tensorboard]"

#: Largest number of images in one grid.
MAX_IMAGES = 64
#: Tiles of a grid are enlarged (nearest neighbour) to at least this many pixels.
_TILE_PIXELS = 112

def _require_tensorboard():
    """Import ``tensorboard`` or raise an ImportError naming the extra to install."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ImportError("tensorlayer_xplain.tensorboard needs the optional 'tensorboard' package: %s "
                          "(or pip install tensorboard)" % INSTALL_HINT) from None


def _check_logdir(logdir, name="logdir"):
    if not isinstance(logdir, (str, os.PathLike)) or not os.fspath(logdir):
        raise TypeError("%s: expected a folder path (str or os.PathLike), got %r" % (name, logdir))
    return os.fspath(logdir)


def _check_step(step):
    return _check_int("step", step, 0)


def _check_bounded(name, value, low, high):
    value = _check_int(name, value, low)
    if value > high:
        raise ValueError("%s: expected an int between %d and %d, got %d" % (name, low, high, value))
    return value


def _writer(writer_or_logdir):
    """``(writer, owned)``: a ``tf.summary`` writer, created for a folder (then owned and closed by the caller)."""
    if hasattr(writer_or_logdir, "as_default") and hasattr(writer_or_logdir, "flush"):
        return writer_or_logdir, False
    return tf.summary.create_file_writer(_check_logdir(writer_or_logdir, "writer_or_logdir")), True


# ---------------------------------------------------------------------------- images
def _tile_scale(image_shape):
    return int(min(8, max(1, -(-_TILE_PIXELS // max(image_shape[:2])))))


def image_grid(tiles, columns=4, gap=2):
    """Arrange RGB tiles ``(N, H, W, 3)`` in a grid with white gaps, each enlarged to about 112 pixels.

    Parameters
    ----------
    tiles : ndarray, shape (N, H, W, 3), values in [0, 1]
    columns : int
        Tiles per row (fewer when N is smaller).
    gap : int
        White pixels between tiles.

    Returns
    -------
    ndarray, float32, shape (rows * (s*H + gap) - gap, cols * (s*W + gap) - gap, 3)
        ``s`` is the enlargement factor (1 for tiles of 112 pixels or more, at most 8).

    Examples
    --------
    >>> image_grid(np.zeros((8, 28, 28, 3)), columns=4).shape
    (226, 454, 3)
    """
    tiles = np.asarray(tiles, np.float32)
    n, h, w = tiles.shape[:3]
    scale = _tile_scale((h, w))
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
    cols = min(n, columns)
    rows = -(-n // cols)
    grid = np.ones((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[i]
    return grid


def _overlay_grid(explanation, max_images, alpha):
    n = min(len(explanation), max_images)
    images = explanation.images()[:n]
    heat = explanation.heatmap()[:n]
    tiles = np.stack([overlay_rgb(images[i], heat[i], alpha) for i in range(n)])
    return image_grid(tiles)


def _params_markdown(title, params):
    rows = ["| parameter | value |", "|---|---|"]
    for key in sorted(params):
        value = params[key]
        text = "array %s" % (np.shape(value),) if isinstance(value, np.ndarray) else repr(value)
        rows.append("| %s | `%s` |" % (key, text.replace("|", "\\|")))
    return "**%s**\n\n%s" % (title, "\n".join(rows))


def _method_params(explanation):
    """Every parameter the explanation's method ran with: its defaults, then the explicit ones."""
    try:
        params = dict(method_parameters(explanation.method))
    except KeyError:  # a method no longer registered (e.g. an explanation loaded from a file)
        params = {}
    params.update(explanation.params)
    return params


def _write_explanations(named, step, max_images, alpha, text):
    tags = []
    for key, exp in named.items():
        grid = _overlay_grid(exp, max_images, alpha)
        tf.summary.image("explanations/%s" % key, grid[None], step=step, max_outputs=1,
                         description="%d watched inputs with their %s heatmap overlaid" % (min(len(exp), max_images),
                                                                                            exp.method))
        tf.summary.histogram("attributions/%s" % key, np.asarray(exp.attributions, np.float32).reshape(-1), step=step)
        tags += ["explanations/%s" % key, "attributions/%s" % key]
        if text:
            tf.summary.text("parameters/%s" % key, _params_markdown(exp.method, _method_params(exp)), step=step)
            tags.append("parameters/%s" % key)
    return tags


def log_explanations(writer_or_logdir, explanations, step, max_images=8, alpha=0.4, text=True):
    """Write explanations already computed to TensorBoard: overlay grids, histograms and parameters.

    Parameters
    ----------
    writer_or_logdir : str, os.PathLike or tf.summary.SummaryWriter
        A folder (a writer is opened, flushed and closed) or an open writer.
    explanations : dict of str -> Explanation, list of Explanation, or Explanation
        A list is named by each ``Explanation.method`` (repeats get ``#2``...).
    step : int
        The step (epoch, batch...) the summaries are written at, >= 0.
    max_images : int
        Inputs drawn per grid, between 1 and 64 (the first ones).
    alpha : float
        Weight of the heatmap in the overlays, in [0, 1].
    text : bool
        Also write each method's parameters (defaults included) as text.

    Returns
    -------
    list of str
        The tags written: ``explanations/<name>`` (image), ``attributions/<name>``
        (histogram) and, with ``text``, ``parameters/<name>``.

    Raises
    ------
    ImportError
        ``tensorboard`` is not installed (``pip install tensorlayer-xplain[tensorboard]``).

    Examples
    --------
    >>> exps = tlxp.ModelExplainer(model, methods=['gradient', 'gradcam']).explain_all(x_test[:8])
    >>> tlxp.tensorboard.log_explanations('runs/final', exps, step=0)
    ['explanations/gradient', 'attributions/gradient', 'parameters/gradient', ...]
    """
    _require_tensorboard()
    named = _named_explanations(explanations)
    step = _check_step(step)
    max_images = _check_bounded("max_images", max_images, 1, MAX_IMAGES)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError("alpha: expected a number in [0, 1], got %r" % (alpha,))
    writer, owned = _writer(writer_or_logdir)
    try:
        with writer.as_default():
            tags = _write_explanations(named, step, max_images, float(alpha), bool(text))
        writer.flush()
    finally:
        if owned:
            writer.close()
    return tags


def log_class_means(writer_or_logdir, store, methods=None, by="target", reduce="sum", step=0):
    """Write an :class:`~tensorlayer_xplain.ExplanationStore`'s per-class mean heatmaps to TensorBoard.

    See :meth:`ExplanationStore.to_tensorboard`, which calls this.

    Parameters
    ----------
    writer_or_logdir : str, os.PathLike or tf.summary.SummaryWriter
    store : ExplanationStore
    methods : list of str, optional
        Default: every method of the store.
    by : {'target', 'prediction', 'label'}
        Which class each sample counts for.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
        Channel reduction.
    step : int

    Returns
    -------
    list of str
        Tags written: ``class_means/<method>`` (image grid, one tile per class with
        samples, coloured as :func:`~tensorlayer_xplain.visualize.class_mean_heatmaps`
        draws maps) and ``class_counts/<method>`` (text).

    Examples
    --------
    >>> tlxp.tensorboard.log_class_means('runs/store', store)
    ['class_means/gradient', 'class_counts/gradient', ...]
    """
    _require_tensorboard()
    step = _check_step(step)
    if methods is not None and (isinstance(methods, str) or not hasattr(methods, "__iter__")):
        raise TypeError("methods: expected a list of method names, got %r" % (methods,))
    names = store.methods if methods is None else [store[m].name for m in methods]
    writer, owned = _writer(writer_or_logdir)
    tags = []
    try:
        with writer.as_default():
            for name in names:
                means, counts = store.class_mean_heatmaps(name, by=by, reduce=reduce)
                present = np.flatnonzero(counts > 0)
                if not len(present):
                    continue
                signed = bool(store.attrs["methods"][name].get("signed", False))
                tiles = np.stack([heatmap_rgb(means[k], signed) for k in present])
                tf.summary.image("class_means/%s" % name, image_grid(tiles, columns=5)[None], step=step,
                                 description="mean %s heatmap of classes %s (by %s)" % (name, present.tolist(), by))
                table = ["| class | samples |", "|---|---|"] + ["| %d | %d |" % (k, counts[k]) for k in present]
                tf.summary.text("class_counts/%s" % name, "\n".join(table), step=step)
                tags += ["class_means/%s" % name, "class_counts/%s" % name]
        writer.flush()
    finally:
        if owned:
            writer.close()
    return tags


