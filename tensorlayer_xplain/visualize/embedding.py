"""2-D views of what a model has learned: layer embeddings (t-SNE / PCA / UMAP) and decision regions.

``embedding_visualization`` is what ``tl.visualize.tsne_embedding`` does, on any
layer's activations and on current scikit-learn (TL 2.2.5 passes ``n_iter`` to
``TSNE``, a keyword scikit-learn renamed ``max_iter`` in 1.5 and removed in 1.7,
so TL's function raises ``TypeError`` today). ``tsne_embedding`` keeps TL's
signature for word-embedding code. ``decision_boundary`` projects the inputs
on their first two principal components and colours the plane by the class the
model predicts there.

The parts live in their own modules: the activations (``_activations``), the reductions
(``_reduction``), class labels and colours (``_classes``) and the decision regions
(``_decision``); this module draws the embedding figure and re-exports those names.
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.figure import tl_figure
from ._activations import default_embedding_layer, layer_activations  # noqa: F401
from ._classes import as_labels, class_colors, scatter_classes  # noqa: F401
from ._decision import DecisionBoundary, decision_boundary
from ._reduction import EMBEDDING_METHODS, TSNE_SINGLE_THREAD_BELOW, check_int, reduce_dimensions  # noqa: F401

__all__ = ["embedding_visualization", "decision_boundary", "tsne_embedding", "DecisionBoundary"]

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


@shared_docstring
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
    %(figure_conventions)s
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
    >>> import tensorlayer_xplain as tlxp
    >>> emb = tlxp.embedding_visualization(model, X_test[:1000], y_test[:1000],
    ...                                   method='tsne', name='out/tsne.png')
    >>> emb.shape  # doctest: +IGNORE_RESULT
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


@shared_docstring
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
    %(figure_conventions)s
    seed : int

    Returns
    -------
    ndarray, float32, shape (min(plot_only, V), 2)

    Examples
    --------
    >>> final_embeddings = np.random.default_rng(0).random((60, 8))
    >>> reverse_dictionary = {i: 'w%d' % i for i in range(60)}
    >>> low = tsne_embedding(final_embeddings, reverse_dictionary, plot_only=500,
    ...                      saveable=True, name='tsne')
    """
    plot_only = check_int(plot_only, "plot_only", 1)
    embeddings = np.asarray(embeddings)[:plot_only]
    words = [reverse_dictionary[i] for i in range(len(embeddings))]
    return embedding_visualization(None, embeddings, annotations=words, method="tsne", seed=seed,
                                   saveable=saveable, name=name, fig_idx=fig_idx, second=second)
