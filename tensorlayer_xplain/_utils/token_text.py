"""Tokens as text: words through a vocabulary, signed colours, HTML spans (no figure, no explainer).

Shared by :mod:`tensorlayer_xplain.visualize.text` (figures) and :mod:`tensorlayer_xplain.report`,
which sits below the figure functions.
"""
import html as _html

import numpy as np

__all__ = ["token_labels", "token_colors", "token_spans", "token_matrix_html", "is_token_explanation",
           "is_seq2seq_explanation"]


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


def is_seq2seq_explanation(exp):
    """True for explanations of an encoder-decoder: attributions ``(N, T_out, T_src)`` and ``decoder_inputs``."""
    return getattr(exp, "decoder_inputs", None) is not None and np.ndim(getattr(exp, "attributions", None)) == 3


def token_matrix_html(exp, i, vocab=None):
    """An HTML table of sample ``i``'s ``(T_out, T_src)`` map: source tokens across, explained tokens down.

    Cells are coloured as :func:`token_colors` (green positive, red negative, one scale
    for the whole matrix); padding columns are left out.

    Parameters
    ----------
    exp : Seq2seqExplanation
    i : int
    vocab : list or dict, optional

    Returns
    -------
    str
    """
    keep = _visible(exp, i)
    cols = token_labels(np.asarray(exp.inputs[i])[keep], vocab)
    rows = token_labels(np.asarray(exp.targets[i]), vocab)
    matrix = np.asarray(exp.attributions[i], np.float64)[:, keep]
    colors = token_colors(matrix, float(np.max(np.abs(matrix))) if matrix.size else 0.0)
    head = "".join("<th>%s</th>" % _html.escape(c) for c in cols)
    body = "".join(
        "<tr><th>%s</th>%s</tr>" % (_html.escape(r), "".join(
            '<td style="background-color: rgba(%d,%d,%d,1)" title="%.4g"></td>'
            % (int(255 * c[0]), int(255 * c[1]), int(255 * c[2]), v) for v, c in zip(values, cc)))
        for r, values, cc in zip(rows, matrix, colors))
    return "<table class='matrix'><tr><th></th>%s</tr>%s</table>" % (head, body)
