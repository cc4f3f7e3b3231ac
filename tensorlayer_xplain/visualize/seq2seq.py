"""Figures of encoder-decoder explanations: one ``(T_out, T_src)`` map per sequence, tokens on both axes.

* :func:`seq2seq_visualization` draws a
  :class:`~tensorlayer_xplain.methods.seq2seq.Seq2seqExplanation` (or computes one):
  per sequence, its output tokens down the side, its source tokens along the top
  (padding shown as ``'.'``), alignments on a 0..max scale, signed attributions on a
  red-blue scale around 0.
* :func:`seq2seq_comparison` puts several methods side by side (rows: sequences).

Both follow TensorLayer's figure conventions (``saveable``, ``name``, ``fig_idx``,
``second``) and return what they drew.
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.figure import tl_figure
from .._utils.token_text import token_labels
from .text import draw_token_matrix

__all__ = ["seq2seq_visualization", "seq2seq_comparison"]

_MAX_SEQUENCES = 64


def _check_n(n, total):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= _MAX_SEQUENCES:
        raise ValueError("n: expected an int in [1, %d] (sequences drawn), got %r" % (_MAX_SEQUENCES, n))
    return min(int(n), total)


def _is_seq2seq_explanation(exp):
    return getattr(exp, "decoder_inputs", None) is not None and np.ndim(getattr(exp, "attributions", None)) == 3


def _labels(exp, i, vocab):
    """Source labels (padding as '.') and output labels (the explained tokens) of sequence ``i``."""
    pad = exp.params.get("pad_id", 0)
    src = exp.inputs[i]
    cols = token_labels(src, vocab)
    cols = ["." if pad is not None and int(t) == pad else c for t, c in zip(src, cols)]
    rows = token_labels(exp.targets[i], vocab)
    return cols, rows


def _signed(exp):
    return bool(exp.meta.get("signed", exp.method != "attention"))


@shared_docstring
def seq2seq_visualization(model, inputs=None, method="attention", saveable=True, name="seq2seq", fig_idx=2396406,
                          second=10, vocab=None, n=4, **explain_params):
    """Draw each sequence's ``(T_out, T_src)`` map with its tokens on both axes.

    When the method also attributes the decoder inputs (``decoder_attributions``:
    ``gradient``, ``gradient_x_input``, ``occlusion``), their ``(T_out, T_out)`` map
    is drawn beside it on the same colour scale.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, Seq2seqAdapter or Seq2seqExplanation
        An encoder-decoder (explained here with ``method`` on ``inputs``), or an
        explanation to draw as it is.
    inputs : array-like of int (N, T_src), optional
        Source ids (not needed with an explanation).
    method : str
        ``'attention'``, ``'integrated_gradients'``, ``'occlusion'``...
    %(figure_conventions)s
    vocab : list or dict, optional
        Turns ids into words (see :func:`token_labels`).
    n : int
        Sequences drawn (the first ``n``; at most 64).
    **explain_params
        ``decoder_inputs``, ``sos``, ``seq_length``, ``targets`` and the method's parameters.

    Returns
    -------
    Seq2seqExplanation

    Examples
    --------
    >>> VOCAB = ['<pad>', '<s>'] + list('abcdefg')
    >>> exp = seq2seq_visualization(luong, src[:2], 'attention', sos=1, seq_length=10,
    ...                             name='out/align.png', vocab=VOCAB)
    >>> exp.attributions.shape                                              # (N, T_out, T_src)
    (2, 10, 7)
    """
    if _is_seq2seq_explanation(model):
        exp = model
    else:
        if inputs is None:
            raise ValueError("inputs: expected source ids (N, T_src) to explain, got None")
        from ..runner import explain

        exp = explain(model, inputs, method, **explain_params)
    if not _is_seq2seq_explanation(exp):
        raise TypeError("model: expected an encoder-decoder or a Seq2seqExplanation, got %s" % type(exp).__name__)
    n = _check_n(n, len(exp))
    t_out, t_src = exp.attributions.shape[1:]
    decoder = getattr(exp, "decoder_attributions", None)
    width = max(3.5, 0.32 * t_src + 2.0) + (0 if decoder is None else max(3.0, 0.32 * t_out + 2.0))
    size = (width, max(2.5, (0.3 * t_out + 1.2) * n))
    columns = 1 if decoder is None else 2
    with tl_figure(saveable, name, fig_idx, second, figsize=size) as fig:
        for i in range(n):
            cols, rows = _labels(exp, i, vocab)
            # one colour scale for the source and decoder panels: their magnitudes compare
            bound = None if decoder is None else max(np.abs(exp.attributions[i]).max(), np.abs(decoder[i]).max())
            draw_token_matrix(fig, fig.add_subplot(n, columns, i * columns + 1), exp.attributions[i], cols, rows,
                              signed=_signed(exp), title="%s, sequence %d" % (exp.method, i), bound=bound)
            if decoder is not None:
                draw_token_matrix(fig, fig.add_subplot(n, columns, i * columns + 2), decoder[i],
                                  token_labels(exp.decoder_inputs[i], vocab), rows, signed=True, bound=bound,
                                  title="%s, sequence %d: decoder inputs" % (exp.method, i), xlabel="decoder input")
        fig.tight_layout()
    return exp


@shared_docstring
def seq2seq_comparison(explanations, saveable=True, name="compare_seq2seq", fig_idx=2396407, second=10, vocab=None,
                       n=2):
    """Several methods' ``(T_out, T_src)`` maps side by side: one row per sequence, one column per method.

    Parameters
    ----------
    explanations : dict of str -> Seq2seqExplanation
        Of the same source sequences (e.g. ``ModelExplainer.explain_all``).
    %(figure_conventions)s
    vocab : list or dict, optional
    n : int
        Sequences drawn (at most 64).

    Returns
    -------
    dict of str -> Seq2seqExplanation
        ``explanations``.

    Examples
    --------
    >>> explainer = tlxp.ModelExplainer(luong, methods=['gradient', 'attention'], sos=1, seq_length=5)
    >>> seq2seq_comparison(explainer.explain_all(src[:2]), name='out/compare.png')   # doctest: +IGNORE_RESULT
    """
    if not explanations:
        raise ValueError("explanations: expected at least one explanation, got none")
    for key, exp in explanations.items():
        if not _is_seq2seq_explanation(exp):
            raise TypeError("explanations[%r]: expected a Seq2seqExplanation, got %s" % (key, type(exp).__name__))
    first = next(iter(explanations.values()))
    n = _check_n(n, len(first))
    t_out, t_src = first.attributions.shape[1:]
    columns = len(explanations)
    size = (columns * max(3.5, 0.32 * t_src + 2.0), n * max(2.5, 0.3 * t_out + 1.5))
    with tl_figure(saveable, name, fig_idx, second, figsize=size) as fig:
        for i in range(n):
            for j, (method, exp) in enumerate(explanations.items()):
                cols, rows = _labels(exp, i, vocab)
                draw_token_matrix(fig, fig.add_subplot(n, columns, i * columns + j + 1), exp.attributions[i], cols,
                                  rows, signed=_signed(exp), title="%s, sequence %d" % (method, i))
        fig.tight_layout()
    return explanations
