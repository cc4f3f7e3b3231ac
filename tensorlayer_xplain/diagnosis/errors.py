"""Errors ranked by confidence, the confusion pairs behind them, and per-class attribution profiles."""
import numpy as np
import pandas as pd

from .._utils.drawing import as_probabilities

__all__ = ["error_table", "confusion_table", "class_profiles"]


def error_table(scores, labels, top_k, outside=None):
    """One row per misclassified input, most confident first.

    Parameters
    ----------
    scores : ndarray, shape (N, K)
    labels : ndarray of int, shape (N,)
    top_k : int
        The first ``top_k`` rows are marked ``explained``.
    outside : ndarray, shape (N,), optional
        Outside-object share of each input's map for its predicted class.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, index, true, predicted, confidence, true_probability,
        margin, outside_share, explained``; ``margin`` = confidence minus the
        true class's probability.
    """
    probs = as_probabilities(scores)
    predicted = np.argmax(scores, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")]
    table = pd.DataFrame({
        "rank": np.arange(len(order)),
        "index": order,
        "true": labels[order],
        "predicted": predicted[order],
        "confidence": probs[order, predicted[order]],
        "true_probability": probs[order, labels[order]],
    })
    table["margin"] = table["confidence"] - table["true_probability"]
    table["outside_share"] = outside[order] if outside is not None else np.nan
    table["explained"] = table["rank"] < top_k
    return table


def confusion_table(labels, predicted, class_names=None):
    """Confusion pairs (true -> predicted) sorted by count, with their share of all errors.

    Returns
    -------
    pandas.DataFrame
        Columns ``true, predicted, pair, count, share, cumulative_share``.
    """
    wrong = predicted != labels
    pairs, counts = np.unique(np.stack([labels[wrong], predicted[wrong]], axis=1), axis=0, return_counts=True)
    if len(counts) == 0:
        return pd.DataFrame(columns=["true", "predicted", "pair", "count", "share", "cumulative_share"])
    order = np.argsort(-counts, kind="stable")
    pairs, counts = pairs[order], counts[order]

    def label(k):
        return class_names[k] if class_names else str(k)

    share = counts / counts.sum()
    return pd.DataFrame({"true": pairs[:, 0], "predicted": pairs[:, 1],
                         "pair": ["%s -> %s" % (label(t), label(p)) for t, p in pairs],
                         "count": counts, "share": share, "cumulative_share": np.cumsum(share)})


def class_profiles(maps, labels, predicted, n_classes):
    """Mean normalized map per true class, for correct and for wrong predictions (NaN where none).

    Parameters
    ----------
    maps : ndarray, shape (N, H, W)
        Normalized maps (see :func:`~tensorlayer_xplain.diagnosis.reliance.normalized_maps`)
        of the predicted class.

    Returns
    -------
    dict
        ``{'correct': (K, H, W), 'wrong': (K, H, W), 'n_correct': (K,), 'n_wrong': (K,)}``.
    """
    shape = (n_classes,) + maps.shape[1:]
    out = {"correct": np.full(shape, np.nan), "wrong": np.full(shape, np.nan),
           "n_correct": np.zeros(n_classes, int), "n_wrong": np.zeros(n_classes, int)}
    for k in range(n_classes):
        for part, sel in (("correct", (labels == k) & (predicted == k)), ("wrong", (labels == k) & (predicted != k))):
            out["n_" + part][k] = int(sel.sum())
            if sel.any():
                out[part][k] = maps[sel].mean(axis=0)
    return out
