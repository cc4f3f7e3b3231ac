"""2-D views of what a model has learned: layer embeddings (t-SNE / PCA / UMAP) and decision regions.

``embedding_visualization`` is what ``tl.visualize.tsne_embedding`` does, on any
layer's activations and on current scikit-learn (TL 2.2.5 passes ``n_iter`` to
``TSNE``, a keyword scikit-learn renamed ``max_iter`` in 1.5 and removed in 1.7,
so TL's function raises ``TypeError`` today). ``tsne_embedding`` keeps TL's
signature for word-embedding code. ``decision_boundary`` projects the inputs
on their first two principal components and colours the plane by the class the
model predicts there.
"""
import inspect
import warnings
from collections import namedtuple

import numpy as np

from ..adapter import as_adapter
from ._draw import class_label
from ._figure import tl_figure

__all__ = ["embedding_visualization", "decision_boundary", "tsne_embedding", "DecisionBoundary"]

#: Dimensionality reductions understood by :func:`embedding_visualization`.
EMBEDDING_METHODS = ("tsne", "pca", "umap")

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
>>> result = tlx.decision_boundary(mlp, X_test[:500], y_test[:500], name='out/regions.png')  # doctest: +SKIP
>>> result.grid_predictions.shape, result.projected.shape                                    # doctest: +SKIP
((100, 100), (500, 2))
"""


# ---------------------------------------------------------------------------- shared helpers
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


def _check_int(value, name, low):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError("%s: expected an int >= %d, got %r" % (name, low, value))
    return int(value)


# ---------------------------------------------------------------------------- activations
def default_embedding_layer(adapter):
    """The layer whose activations are embedded by default: the last one before the output.

    Walks :meth:`ModelAdapter.layer_call_order` backwards and returns the last
    layer whose output shape differs from the model output's (so a container
    ``LayerList`` wrapping the head is skipped as well as the head itself).
    Falls back to the last layer for one-layer models.
    """
    order = adapter.layer_call_order()
    if not order:
        raise ValueError("layer_name: the model has no layers to capture; pass layer_name explicitly")
    out_shape = order[-1][1]
    for name, shape in reversed(order[:-1]):
        if shape != out_shape:
            return name
    return order[-1][0]


def layer_activations(model, x, layer_name=None, batch_size=None):
    """Activations of one layer, flattened per sample, computed in batches.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable, ModelAdapter or None
        None means ``x`` already holds the features (e.g. word embeddings).
    x : array-like, shape (N, *input_shape)
    layer_name : str, optional
        Default: :func:`default_embedding_layer`; for a plain callable, the model output.
    batch_size : int, optional

    Returns
    -------
    features : ndarray, float32, shape (N, D)
    scores : ndarray (N, K) or None
        The model's scores from the same pass (None when ``model`` is None).
    layer_name : str or None
        The layer used (None for the model output or raw features).
    """
    if model is None:
        features = np.asarray(x, dtype=np.float32)
        if features.ndim < 2 or len(features) == 0:
            raise ValueError("x: expected features of shape (N, D) with N >= 1, got shape %s" % (features.shape,))
        return features.reshape(len(features), -1), None, None
    adapter = as_adapter(model)
    prepared, _ = adapter.prepare(x, name="x")
    if layer_name is None and adapter.kind == "callable":
        scores = adapter.predict(prepared, batch_size=batch_size)
        return scores.reshape(len(scores), -1), scores, None
    if layer_name is None:
        layer_name = default_embedding_layer(adapter)
    result = adapter.capture(prepared, [layer_name], batch_size=batch_size)
    features = np.asarray(result.outputs[layer_name], dtype=np.float32)
    return features.reshape(len(features), -1), result.scores, layer_name


# ---------------------------------------------------------------------------- reductions
#: Below this many points t-SNE runs on one OpenMP thread by default (see ``reduce_dimensions``).
TSNE_SINGLE_THREAD_BELOW = 5000


def _tsne(features, n_components, perplexity, seed, max_iter, n_threads):
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(features)
    if perplexity >= n:
        new = max(1.0, (n - 1) / 3.0)
        warnings.warn("perplexity: %g must be less than the number of samples (%d); using %g"
                      % (perplexity, n, new), RuntimeWarning, stacklevel=3)
        perplexity = new
    kwargs = dict(n_components=n_components, perplexity=perplexity, init="pca", random_state=seed,
                  learning_rate="auto")
    # scikit-learn renamed n_iter -> max_iter in 1.5 and removed n_iter in 1.7 (what breaks TL 2.2.5)
    params = inspect.signature(TSNE.__init__).parameters
    kwargs["max_iter" if "max_iter" in params else "n_iter"] = max_iter
    if n_components > 3:
        kwargs["method"] = "exact"  # Barnes-Hut supports at most 3 components
    if n_threads is None:
        n_threads = 1 if n < TSNE_SINGLE_THREAD_BELOW else None
    with threadpool_limits(n_threads, user_api="openmp"):
        return TSNE(**kwargs).fit_transform(features)


def _umap(features, n_components, seed):
    try:
        import umap
    except ImportError:
        raise ImportError("method='umap' needs the umap-learn package (pip install umap-learn); "
                          "use method='tsne' or 'pca' otherwise") from None
    return umap.UMAP(n_components=n_components, random_state=seed).fit_transform(features)


def reduce_dimensions(features, method="tsne", n_components=2, perplexity=30.0, seed=0, pca_dims=50,
                      max_iter=1000, n_threads=None):
    """Embed ``features`` in ``n_components`` dimensions, deterministically for a given ``seed``.

    Parameters
    ----------
    features : ndarray, shape (N, D)
    method : {'tsne', 'pca', 'umap'}
    n_components : int
    perplexity : float
        t-SNE only; lowered (with a warning) when not below N.
    seed : int
    pca_dims : int or None
        t-SNE/UMAP only: first reduce to this many principal components when
        D is larger (the usual speed-up; None keeps all dimensions).
    max_iter : int
        t-SNE optimisation steps (at least 250).
    n_threads : int or None
        OpenMP threads for t-SNE's Barnes-Hut gradient. None: one thread below
        ``TSNE_SINGLE_THREAD_BELOW`` (5000) points, scikit-learn's default above.
        For small sets thread synchronisation costs more than it saves: 300 and
        1000 points ran 5-7x faster on one thread than on two on a busy 2-core machine.

    Returns
    -------
    ndarray, float32, shape (N, n_components)
    """
    from sklearn.decomposition import PCA

    if method not in EMBEDDING_METHODS:
        raise ValueError("method: expected one of %s, got %r" % (EMBEDDING_METHODS, method))
    n_components = _check_int(n_components, "n_components", 1)
    features = np.asarray(features, dtype=np.float64)
    n, d = features.shape
    if n <= n_components or n < 3:
        raise ValueError("x: expected more samples than n_components (%d) and at least 3 for an embedding, got %d"
                         % (n_components, n))
    if method == "pca":
        if d < n_components:
            raise ValueError("n_components: %d is more than the %d features of the embedded layer" % (n_components, d))
        return PCA(n_components, random_state=seed).fit_transform(features).astype(np.float32)
    if pca_dims is not None and d > pca_dims and n > pca_dims:
        features = PCA(pca_dims, random_state=seed).fit_transform(features)
    if method == "tsne":
        out = _tsne(features, n_components, float(perplexity), seed, max_iter, n_threads)
    else:
        out = _umap(features, n_components, seed)
    return np.asarray(out, dtype=np.float32)


# ---------------------------------------------------------------------------- figures
_METHOD_TITLES = {"tsne": "t-SNE", "pca": "PCA", "umap": "UMAP"}


def _draw_embedding(fig, embedding, labels, class_names, annotations, title, legend_title):
    if embedding.shape[1] >= 3:
        ax = fig.add_subplot(1, 1, 1, projection="3d")
        points = embedding[:, :3]
    else:
        ax = fig.add_subplot(1, 1, 1)
        points = embedding if embedding.shape[1] == 2 else np.column_stack([embedding[:, 0], np.zeros(len(embedding))])
    scatter_classes(ax, points, labels, class_names, legend_title=legend_title)
    if annotations is not None and points.shape[1] == 2:
        for (px, py), text in zip(points, annotations):
            ax.annotate(str(text), xy=(px, py), xytext=(5, 2), textcoords="offset points",
                        ha="right", va="bottom", fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def embedding_visualization(model, x, y=None, layer_name=None, method="tsne", n_components=2, perplexity=30.0,
                            seed=0, class_names=None, saveable=True, name="embedding", fig_idx=2396330,
                            second=10, batch_size=None, annotations=None, pca_dims=50, max_iter=1000,
                            return_activations=False, n_threads=None):
    """Scatter a layer's activations embedded in 2-D (t-SNE, PCA or UMAP), coloured by class.

    What ``tl.visualize.tsne_embedding`` does, on the activations of any layer
    captured through the adapter, and on current scikit-learn. t-SNE: van der
    Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 2008.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable, ModelAdapter or None
        None: ``x`` already holds feature vectors (N, D), embedded as they are.
    x : array-like, shape (N, *input_shape) or (N, H, W, C)
    y : array-like of int (N,) or one-hot (N, K), optional
        Colours the points; None colours them by the model's predicted class.
    layer_name : str, optional
        Layer whose output is embedded (flattened per sample). Default: the last
        layer before the output in call order (e.g. the penultimate Dense);
        for a plain callable, the model's outputs.
    method : {'tsne', 'pca', 'umap'}
        'umap' needs the optional ``umap-learn`` package.
    n_components : int
        2 (plotted in 2-D) or 3 (3-D scatter); more is computed and the first 3 drawn.
    perplexity : float
        t-SNE perplexity (lowered with a warning when not below N).
    seed : int
        ``random_state`` of the reduction: same seed, same embedding. (t-SNE starts
        from the PCA layout, so its result does not depend on the seed at all.)
    class_names : sequence of str, optional
        Legend text per class index.
    saveable, name, fig_idx, second
        TL figure conventions (``name + '.pdf'`` unless ``name`` has an extension).
    batch_size : int, optional
        Samples per model call when capturing activations.
    annotations : sequence of str, optional
        A text label per point (as TL's ``tsne_embedding`` draws words).
    pca_dims : int or None
        t-SNE/UMAP run on this many principal components when the layer is wider.
    max_iter : int
        t-SNE optimisation steps.
    return_activations : bool
        Also return the flattened activations.
    n_threads : int or None
        t-SNE OpenMP threads (None: one below 5000 points, see :func:`reduce_dimensions`).

    Returns
    -------
    embedding : ndarray, float32, shape (N, n_components)
    activations : ndarray, float32, shape (N, D)
        Only when ``return_activations``.

    Examples
    --------
    >>> import tensorlayer_xplain as tlx                                          # doctest: +SKIP
    >>> emb = tlx.embedding_visualization(model, X_test[:1000], y_test[:1000],
    ...                                   method='tsne', name='out/tsne.png')    # doctest: +SKIP
    >>> emb.shape                                                                 # doctest: +SKIP
    (1000, 2)
    """
    features, scores, used_layer = layer_activations(model, x, layer_name, batch_size)
    labels = as_labels(y, len(features))
    legend_title = "class"
    if labels is None and scores is not None:
        labels, legend_title = np.argmax(scores, axis=1), "predicted"
    if annotations is not None and len(annotations) != len(features):
        raise ValueError("annotations: expected one text per sample (%d), got %d" % (len(features), len(annotations)))
    embedding = reduce_dimensions(features, method, n_components, perplexity, seed, pca_dims, max_iter, n_threads)
    where = "layer %r" % used_layer if used_layer else ("model outputs" if model is not None else "features")
    title = "%s of %s (N=%d, D=%d)" % (_METHOD_TITLES[method], where, len(features), features.shape[1])
    with tl_figure(saveable, name, fig_idx, second, figsize=(7.5, 6)) as fig:
        _draw_embedding(fig, embedding, labels, class_names, annotations, title, legend_title)
    return (embedding, features) if return_activations else embedding


def tsne_embedding(embeddings, reverse_dictionary, plot_only=500, second=5, saveable=False, name="tsne",
                   fig_idx=9862, seed=0):
    """TL's ``tsne_embedding`` (word vectors with their words), working on current scikit-learn.

    Same arguments as ``tl.visualize.tsne_embedding``; the figure is closed after
    saving and the 2-D embedding is returned.

    Parameters
    ----------
    embeddings : ndarray, shape (V, D)
        The embedding matrix (e.g. word2vec's normalized embeddings).
    reverse_dictionary : dict or sequence
        id -> word, used to annotate the first ``plot_only`` points.
    plot_only : int
        Number of rows (the most frequent words) to embed.
    second, saveable, name, fig_idx
        TL figure conventions.
    seed : int

    Returns
    -------
    ndarray, float32, shape (min(plot_only, V), 2)

    Examples
    --------
    >>> low = tsne_embedding(final_embeddings, reverse_dictionary, plot_only=500,
    ...                      saveable=True, name='tsne')                          # doctest: +SKIP
    """
    plot_only = _check_int(plot_only, "plot_only", 1)
    embeddings = np.asarray(embeddings)[:plot_only]
    words = [reverse_dictionary[i] for i in range(len(embeddings))]
    return embedding_visualization(None, embeddings, annotations=words, method="tsne", seed=seed,
                                   saveable=saveable, name=name, fig_idx=fig_idx, second=second)


# ---------------------------------------------------------------------------- decision regions
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
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    x : array-like, shape (N, *input_shape) or (N, H, W, C)
        N >= 2 inputs with at least 2 features.
    y : array-like of int (N,) or one-hot (N, K), optional
        True classes (None colours points by the predicted class).
    resolution : int
        Grid points per axis (>= 2); ``resolution**2`` inputs go through the model.
    saveable, name, fig_idx, second
        TL figure conventions.
    class_names : sequence of str, optional
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
    >>> res = tlx.decision_boundary(model, X_test[:500], y_test[:500], resolution=80,
    ...                             name='out/regions.png')                    # doctest: +SKIP
    >>> res.grid_predictions.shape, res.projected.shape                          # doctest: +SKIP
    ((80, 80), (500, 2))
    """
    from sklearn.decomposition import PCA

    resolution = _check_int(resolution, "resolution", 2)
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
