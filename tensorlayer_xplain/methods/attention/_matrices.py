"""Attention matrices reduced to maps: heads chosen or fused, the query row read, layers rolled out."""
import numpy as np

__all__ = ["HEAD_FUSIONS", "QUERIES", "check_choice", "fuse_heads", "resolve_query", "query_map", "rollout"]

HEAD_FUSIONS = ("mean", "max", "min")
QUERIES = ("auto", "cls", "mean")


def check_choice(value, choices, name):
    if value not in choices:
        raise ValueError("%s: expected one of %s, got %r" % (name, choices, value))


def fuse_heads(weights, head=None, head_fusion="mean"):
    """One attention matrix per sample from ``(N, heads, T, T)``: a chosen head, or heads fused.

    Parameters
    ----------
    weights : ndarray, shape (N, heads, T, T)
    head : int, optional
        Keep this head only (negative indices count from the end).
    head_fusion : {'mean', 'max', 'min'}
        How heads are combined when ``head`` is None.

    Returns
    -------
    ndarray, shape (N, T, T)
    """
    weights = np.asarray(weights)
    if head is not None:
        n_heads = weights.shape[1]
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not -n_heads <= head < n_heads:
            raise ValueError("head: expected None or a head index in 0..%d, got %r" % (n_heads - 1, head))
        return weights[:, int(head)]
    check_choice(head_fusion, HEAD_FUSIONS, "head_fusion")
    return getattr(np, head_fusion)(weights, axis=1)


def resolve_query(query, n_prefix):
    check_choice(query, QUERIES, "query")
    if query == "auto":
        return "cls" if n_prefix else "mean"
    if query == "cls" and not n_prefix:
        raise ValueError("query: 'cls' needs a class token, and this model's attention has none; use 'mean'")
    return query


def query_map(matrix, query, n_prefix):
    """Attention paid to each patch token: the class-token row, or the mean over all query rows.

    Parameters
    ----------
    matrix : ndarray, shape (..., T, T)
        Rows are queries, columns keys.
    query : {'cls', 'mean'}
    n_prefix : int
        Prefix tokens (dropped from the keys).

    Returns
    -------
    ndarray, shape (..., T - n_prefix)
    """
    rows = matrix[..., 0, :] if query == "cls" else matrix.mean(axis=-2)
    return rows[..., n_prefix:]


def rollout(attentions, head_fusion="mean", residual=True):
    """Attention rollout (Abnar & Zuidema, 2020): how much each token draws on each input token.

    Per layer the heads are fused, the residual connection is modelled as
    ``0.5 * A + 0.5 * I`` and rows are renormalized to sum to 1; the layers are then
    multiplied in call order: ``R = A_L ... A_2 A_1``.

    Abnar & Zuidema (2020), "Quantifying Attention Flow in Transformers", ACL.

    Parameters
    ----------
    attentions : list of ndarray, each (N, heads, T, T)
        The attention of every layer, in call order.
    head_fusion : {'mean', 'max', 'min'}
    residual : bool
        Add the identity for the skip connection (as the paper does).

    Returns
    -------
    ndarray, float64, shape (N, T, T)
        Rows sum to 1.

    Examples
    --------
    >>> eye = np.broadcast_to(np.eye(5), (2, 3, 5, 5))
    >>> np.allclose(rollout([eye, eye]), np.eye(5))
    True
    """
    if not len(attentions):
        raise ValueError("attentions: expected at least one (N, heads, T, T) array, got none")
    result = None
    for weights in attentions:
        a = fuse_heads(np.asarray(weights, np.float64), None, head_fusion)
        if residual:
            a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
        a = a / np.maximum(a.sum(axis=-1, keepdims=True), 1e-12)
        result = a if result is None else np.matmul(a, result)
    return result
