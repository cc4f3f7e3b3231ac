"""Dimensionality reduction of features to a few components: t-SNE, PCA or UMAP, deterministic per seed."""
import inspect
import warnings

import numpy as np

__all__ = ["EMBEDDING_METHODS", "TSNE_SINGLE_THREAD_BELOW", "check_int", "reduce_dimensions"]

#: Dimensionality reductions understood by :func:`embedding_visualization`.
EMBEDDING_METHODS = ("tsne", "pca", "umap")


def check_int(value, name, low):
    """``int(value)`` when it is an int >= ``low``, else ``ValueError`` naming ``name``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError("%s: expected an int >= %d, got %r" % (name, low, value))
    return int(value)


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
    n_components = check_int(n_components, "n_components", 1)
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
