"""Tokens as text: words through a vocabulary, signed colours, HTML spans (no figure, no explainer).

Shared by :mod:`tensorlayer_xplain.visualize.text` (figures) and :mod:`tensorlayer_xplain.report`,
which sits below the figure functions.
"""
import html as _html

import numpy as np

__all__ = ["token_labels", "token_colors", "token_spans", "is_token_explanation"]


def token_labels(ids, vocab=None):
    """The words of a sequence of ids.

    Parameters
    ----------
    ids : sequence of int
    vocab : list, tuple, dict or None
        A list (index = id), a dict id -> word, or a dict word -> id.

    Returns
    -------
    list of str

    Examples
    --------
    >>> token_labels([2, 0, 7], ['<pad>', 'a', 'good', 'film'])
    ['good', '<pad>', '7']
    >>> token_labels([1], {'great': 1})
    ['great']
    """
    if vocab is None:
        return [str(int(i)) for i in ids]
    if isinstance(vocab, dict):
        if vocab and all(isinstance(k, str) for k in vocab):
            vocab = {int(v): k for k, v in vocab.items()}
        return [str(vocab.get(int(i), int(i))) for i in ids]
    if isinstance(vocab, (list, tuple)):
        return [str(vocab[int(i)]) if 0 <= int(i) < len(vocab) else str(int(i)) for i in ids]
    raise TypeError("vocab: expected a list (id -> word) or a dict (id -> word or word -> id), got %s"
                    % type(vocab).__name__)


def token_colors(scores, scale=None):
    """RGBA colours of signed scores: green for positive, red for negative, white at 0.

    Parameters
    ----------
    scores : array-like (T,)
    scale : float, optional
        The score drawn at full colour (default: the largest ``|score|``).

    Returns
    -------
    ndarray (T, 4)

    Examples
    --------
    >>> token_colors([1.0, -0.5, 0.0]).round(2)[:, :3].tolist()
    [[0.0, 0.6, 0.0], [1.0, 0.5, 0.5], [1.0, 1.0, 1.0]]
    """
    s = np.asarray(scores, np.float64)
    scale = float(np.max(np.abs(s))) if scale is None else float(scale)
    v = np.clip(s / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(s)
    rgba = np.ones(s.shape + (4,))
    pos, neg = np.maximum(v, 0), np.maximum(-v, 0)
    rgba[..., 0] = 1.0 - pos  # towards (0, 0.6, 0) for positive
    rgba[..., 1] = 1.0 - 0.4 * pos - neg
    rgba[..., 2] = 1.0 - pos - neg
    return rgba


def _visible(exp, i):
    """Positions of sample ``i`` that are not padding (attribution exactly 0 at the pad id)."""
    ids = np.asarray(exp.inputs[i]).reshape(-1)
    pad = exp.meta.get("pad_id", 0)
    keep = ids != pad if pad is not None else np.ones(len(ids), bool)
    return np.flatnonzero(keep) if keep.any() else np.arange(len(ids))


def token_spans(exp, i, vocab=None):
    """HTML ``<mark>`` spans of sample ``i``'s tokens, coloured by attribution (padding left out).

    Parameters
    ----------
    exp : Explanation
        Of a token model.
    i : int
        The sample.
    vocab : list or dict, optional

    Returns
    -------
    str
    """
    keep = _visible(exp, i)
    words = token_labels(np.asarray(exp.inputs[i]).reshape(-1)[keep], vocab)
    scores = np.asarray(exp.attributions[i]).reshape(-1)[keep]
    return "".join(
        '<mark style="background-color: rgba(%d,%d,%d,1); padding: 1px 2px; margin: 0 1px" title="%.4g">%s</mark>'
        % (int(255 * c[0]), int(255 * c[1]), int(255 * c[2]), s, _html.escape(w))
        for w, s, c in zip(words, scores, token_colors(scores)))


def is_token_explanation(exp):
    """True for explanations of token ids (integer inputs ``(N, T)``).

    Parameters
    ----------
    exp : Explanation

    Returns
    -------
    bool
    """
    x = np.asarray(exp.inputs)
    return x.ndim == 2 and x.dtype.kind in "iu"
