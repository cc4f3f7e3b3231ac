"""Figures of sequences: tokens as coloured text, alignment matrices, time-step maps.

* :func:`token_visualization` draws each sequence's tokens on a signed colour
  scale (red against, green for the explained class, as Captum's
  ``visualize_text``; padding left out) to PDF/PNG, or writes the same as HTML
  when ``name`` ends in ``.html``; :func:`tokens_html` returns that HTML.
* :func:`alignment_visualization` draws an attention alignment ``(T_out, T_src)``
  with token labels on both axes, as TensorFlow's attention tutorials do.
* :func:`timestep_visualization` draws float sequences ``(N, T, F)`` and their
  attributions as ``(F, T)`` maps (time along the x axis).

Tokens are shown through ``vocab=``: a list (id -> word), a dict id -> word,
or a dict word -> id (a vocabulary file read as a dict); ids without an entry
are shown as numbers.
"""
import html as _html
import os

import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import draw_heatmap, prediction_title
from .._utils.figure import tl_figure
from .._utils.io import atomic_path, ensure_parent
from .._utils.token_text import _visible, token_colors, token_labels, token_spans
from ._common import obtain_explanation, pick_targets

__all__ = ["token_labels", "token_colors", "tokens_html", "token_visualization", "token_comparison",
           "alignment_visualization", "timestep_visualization"]


def tokens_html(exp, vocab=None, class_names=None):
    """An HTML page: one line per sequence, each token's background coloured by its attribution.

    Parameters
    ----------
    exp : Explanation
        Of a token model (``inputs`` are ids ``(N, T)``).
    vocab : list or dict, optional
    class_names : sequence of str, optional

    Returns
    -------
    str

    Examples
    --------
    >>> page = tokens_html(tlxp.explain(fasttext, ids, 'ig'), vocab=words)
    >>> page.count('<mark') == ids.size       # one coloured mark per token (no padding in ids)
    True
    """
    rows = []
    for i in range(len(exp)):
        spans = token_spans(exp, i, vocab)
        scores = np.asarray(exp.attributions[i]).reshape(-1)[_visible(exp, i)]
        title = _html.escape(prediction_title(exp.predictions[i], exp.targets[i], class_names))
        rows.append("<tr><td>%d</td><td>%s</td><td>%.4g</td><td style='line-height: 1.8'>%s</td></tr>"
                    % (i, title, float(scores.sum()), spans))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title></head><body>"
            "<p>%s: green for the explained class, red against (per sequence scale)</p>"
            "<table border='1' cellpadding='4' style='border-collapse: collapse'><tr><th>#</th><th>prediction</th>"
            "<th>sum</th><th>tokens</th></tr>%s</table></body></html>"
            % (_html.escape(exp.method), _html.escape(exp.method), "".join(rows)))


def _draw_tokens(ax, words, colors, title, width_chars=90):
    """Words as coloured boxes, wrapped at about ``width_chars`` characters per line."""
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, loc="left")
    lines, line, used = [], [], 0
    for w, c in zip(words, colors):
        if line and used + len(w) + 1 > width_chars:
            lines.append(line)
            line, used = [], 0
        line.append((w, c, used))
        used += len(w) + 1
    if line:
        lines.append(line)
    n_lines = max(1, len(lines))
    for k, line in enumerate(lines):
        y = 1.0 - (k + 0.5) / n_lines
        for w, c, offset in line:
            ax.text(offset / width_chars, y, w, family="monospace", fontsize=8, va="center", ha="left",
                    bbox=dict(facecolor=tuple(c), edgecolor="none", pad=1.5), transform=ax.transAxes)
    return n_lines


@shared_docstring
def token_visualization(model, inputs, method="integrated_gradients", targets=None, saveable=True, name="tokens",
                        fig_idx=2396401, second=10, vocab=None, class_names=None, target_class=None,
                        **params):
    """Draw each sequence's tokens coloured by their attribution (PNG/PDF, or HTML when ``name`` ends in .html).

    Like Captum's ``visualize_text`` or shap's text plot: a signed colour scale
    (green supports the explained class, red opposes it, per-sequence scale),
    padding left out, the prediction and the attribution sum on each line.

    Parameters
    ----------
    %(figure_inputs)s
    method : str
        Any method that applies to token models.
    %(figure_targets)s
    %(figure_conventions)s
    vocab : list or dict, optional
        Shows words instead of ids (see :func:`token_labels`).
    %(figure_class_names)s
    **params
        Passed to the method.

    Returns
    -------
    Explanation
        Attributions ``(N, T)``.

    Examples
    --------
    >>> exp = tlxp.token_visualization(fasttext, ids[:4], vocab=words, name='out/tokens.png')
    >>> exp = tlxp.token_visualization(fasttext, exp, vocab=words, name='out/tokens.html')
    """
    exp = obtain_explanation(model, inputs, method, pick_targets(targets, target_class), **params)
    if np.ndim(exp.inputs) != 2:
        raise ValueError("inputs: token_visualization draws token ids (N, T); got inputs of shape %s (use "
                         "timestep_visualization for float sequences)" % (np.shape(exp.inputs),))
    if saveable and isinstance(name, (str, os.PathLike)) and os.fspath(name).lower().endswith(".html"):
        path = os.fspath(name)
        ensure_parent(path, "name")
        with atomic_path(path, "name") as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(tokens_html(exp, vocab, class_names))
        return exp
    rows = []
    for i in range(len(exp)):
        scores = np.asarray(exp.attributions[i])[_visible(exp, i)]
        title = "%s | %s | sum %.3g" % (exp.method, prediction_title(exp.predictions[i], exp.targets[i], class_names),
                                        float(scores.sum()))
        gap = exp.meta.get("completeness_gap")
        if gap is not None and np.size(gap) == len(exp):
            title += " | completeness gap %.2g%%" % (100 * float(np.ravel(gap)[i]))
        rows.append(_token_rows(exp, i, vocab, title))
    _draw_token_rows(saveable, name, fig_idx, second, rows)
    return exp


def _token_rows(exp, i, vocab, title):
    """Words, colours, title and line count of sample ``i`` (padding left out)."""
    keep = _visible(exp, i)
    words = token_labels(np.asarray(exp.inputs[i])[keep], vocab)
    scores = np.asarray(exp.attributions[i])[keep]
    return words, token_colors(scores), title, 1 + sum(len(w) + 1 for w in words) // 90


def _draw_token_rows(saveable, name, fig_idx, second, rows):
    heights = [r[3] + 0.6 for r in rows]
    with tl_figure(saveable, name, fig_idx, second, figsize=(10, 0.35 * sum(heights) + 0.3), layout=None) as fig:
        grid = fig.add_gridspec(len(rows), 1, height_ratios=heights, hspace=0.6)
        for k, (words, colors, title, _) in enumerate(rows):
            _draw_tokens(fig.add_subplot(grid[k]), words, colors, title)


@shared_docstring
def token_comparison(explanations, saveable=True, name="compare_tokens", fig_idx=2396404, second=10, vocab=None,
                     class_names=None):
    """Draw several methods' token attributions of the same sequences, one line per (sequence, method).

    Parameters
    ----------
    explanations : dict of str -> Explanation
        Explanations of the same token ids (e.g. ``ModelExplainer.explain_all``).
    %(figure_conventions)s
    vocab : list or dict, optional
    %(figure_class_names)s

    Returns
    -------
    dict of str -> Explanation
        ``explanations``.

    Examples
    --------
    >>> explainer = tlxp.ModelExplainer(fasttext, methods=['gradient', 'occlusion'])
    >>> token_comparison(explainer.explain_all(ids[:2]), name='out/compare.png', vocab=words)
    """
    exps = list(explanations.values())
    if not exps:
        raise ValueError("explanations: expected at least one explanation, got none")
    rows = []
    for i in range(len(exps[0])):
        for exp in exps:
            title = "#%d %s | %s" % (i, exp.method, prediction_title(exp.predictions[i], exp.targets[i], class_names))
            rows.append(_token_rows(exp, i, vocab, title))
    _draw_token_rows(saveable, name, fig_idx, second, rows)
    return explanations


@shared_docstring
def alignment_visualization(alignment, source_tokens=None, target_tokens=None, saveable=True, name="alignment",
                            fig_idx=2396402, second=10, vocab=None, title=None):
    """Draw an attention alignment matrix with token labels on both axes.

    Rows are output positions, columns source positions (as TensorFlow's
    attention tutorials draw them: source along the top, rotated).

    Parameters
    ----------
    alignment : array-like, shape (T_out, T_src)
        E.g. one sample of ``attention`` on ``Seq2seqLuongAttention`` (rows sum to 1).
    source_tokens, target_tokens : sequence of int or str, optional
        Labels of the columns and rows; ids are shown through ``vocab``.
    %(figure_conventions)s
    vocab : list or dict, optional
        Turns ids into words (see :func:`token_labels`); a dict may be
        ``{'source': vocab, 'target': vocab}`` for two vocabularies.
    title : str, optional

    Returns
    -------
    ndarray (T_out, T_src)
        The matrix drawn.

    Examples
    --------
    >>> alignment_visualization(np.eye(3), ['a', 'b', 'c'], ['x', 'y', 'z'], name='out/align.png')
    """
    matrix = np.asarray(alignment, np.float64)
    if matrix.ndim != 2:
        raise ValueError("alignment: expected one matrix (T_out, T_src), got shape %s (pick a sample: "
                         "alignment[i])" % (matrix.shape,))
    if not np.all(np.isfinite(matrix)):
        raise ValueError("alignment: expected finite values")
    src_vocab, tgt_vocab = vocab, vocab
    if isinstance(vocab, dict) and set(vocab) == {"source", "target"}:
        src_vocab, tgt_vocab = vocab["source"], vocab["target"]

    def labels(tokens, n, vocabulary, argument):
        if tokens is None:
            return [str(k) for k in range(n)]
        tokens = list(tokens)
        if len(tokens) != n:
            raise ValueError("%s: expected %d labels (one per %s), got %d"
                             % (argument, n, "column" if argument == "source_tokens" else "row", len(tokens)))
        if all(isinstance(t, str) for t in tokens):
            return tokens
        return token_labels(tokens, vocabulary)

    cols = labels(source_tokens, matrix.shape[1], src_vocab, "source_tokens")
    rows = labels(target_tokens, matrix.shape[0], tgt_vocab, "target_tokens")
    size = (max(3.0, 0.45 * len(cols) + 1.5), max(2.5, 0.4 * len(rows) + 1.2))
    with tl_figure(saveable, name, fig_idx, second, figsize=size) as fig:
        draw_token_matrix(fig, fig.add_subplot(1, 1, 1), matrix, cols, rows, title=title)
    return matrix


def draw_token_matrix(fig, ax, matrix, cols, rows, signed=False, title=None, bound=None, xlabel="source"):
    """Draw ``matrix`` (T_out, T_src) with token labels: source along the top, outputs down the side.

    ``signed``: a symmetric red-blue scale around 0 (attributions; ``bound`` fixes its
    end, e.g. one scale for two panels); else viridis from 0 (alignments). Adds a
    colour bar to ``fig``.
    """
    if signed:
        bound = max(1e-12, float(np.abs(matrix).max()) if bound is None else float(bound))
        image = ax.matshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
    else:
        image = ax.matshow(matrix, cmap="viridis", vmin=0.0, vmax=max(1e-12, float(matrix.max())))
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


@shared_docstring
def timestep_visualization(model, inputs, method="integrated_gradients", targets=None, saveable=True,
                           name="timesteps", fig_idx=2396403, second=10, feature_names=None, class_names=None,
                           target_class=None, **params):
    """Draw float sequences ``(N, T, F)`` and their attributions as time-step maps (features x time).

    Parameters
    ----------
    %(figure_inputs)s
    method : str
    %(figure_targets)s
    %(figure_conventions)s
    feature_names : sequence of str, optional
        Labels of the ``F`` features (rows).
    %(figure_class_names)s
    **params
        Passed to the method.

    Returns
    -------
    Explanation
        Attributions ``(N, T, F)``.

    Examples
    --------
    >>> exp = tlxp.timestep_visualization(lstm, x_rows[:3], name='out/steps.png')
    >>> exp.attributions.shape
    (3, 28, 28)
    """
    exp = obtain_explanation(model, inputs, method, pick_targets(targets, target_class), **params)
    x = np.asarray(exp.inputs)
    if x.ndim != 3:
        raise ValueError("inputs: timestep_visualization draws float sequences (N, T, F); got shape %s"
                         % (x.shape,))
    a = np.asarray(exp.attributions, np.float32).reshape(x.shape)
    n, t, f = x.shape
    if feature_names is not None and len(feature_names) != f:
        raise ValueError("feature_names: expected %d names (one per feature), got %d" % (f, len(feature_names)))
    signed = exp.meta.get("signed", False)
    with tl_figure(saveable, name, fig_idx, second, figsize=(8, 1.0 + 0.12 * max(f, 8) * n * 1.1)) as fig:
        for i in range(n):
            ax = fig.add_subplot(n, 2, 2 * i + 1)
            ax.imshow(x[i].T, aspect="auto", cmap="gray", interpolation="nearest")
            ax.set_title(prediction_title(exp.predictions[i], exp.targets[i], class_names), fontsize=8)
            ax.set_xlabel("time step", fontsize=7)
            draw_heatmap(fig.add_subplot(n, 2, 2 * i + 2), a[i].T, signed, title=exp.method)
            for axis in fig.axes[-3:]:
                axis.set_aspect("auto")
            if feature_names is not None:
                ax.set_yticks(range(f))
                ax.set_yticklabels(feature_names, fontsize=6)
    return exp
