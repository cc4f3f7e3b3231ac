"""A self-contained HTML report of explanations: one file, images embedded, no server needed.

What it shows: the model's name; a legend of the two map kinds (signed maps on a
diverging scale centred on zero, magnitudes on a sequential scale); per method its
kind, warm time per input (tracing excluded, compile time apart), and every
parameter it ran with, defaults included; the metrics table with each metric's
direction ("lower is better" for deletion); a deletion/insertion curve plot per
method when those metrics were computed; any extra sections a caller adds; and
per input the image, the prediction, the true label when given, and each map,
with a note under maps that are constant or whose model outputs are all equal.
The layout reflows to a phone's width (wide tables scroll inside their box).

Extra sections
--------------
``render_report(..., sections=[(title, html), ...])`` (and ``write_report``,
``ModelExplainer.report``) appends each ``(title, html)`` as
``<section class="extra"><h2>title</h2>html</section>`` after the method and
metric sections, before the inputs. ``title`` is escaped; ``html`` is inserted
as is (trusted markup from the caller, e.g. a diagnosis table; embed images as
``data:`` URIs with :func:`figure_uri` to keep the file self-contained).
"""
import base64
import html
import io
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ._utils.drawing import MAGNITUDE_CMAP, SIGNED_CMAP, as_probabilities, class_label, normalize_map
from ._utils.io import atomic_path
from ._utils.map_checks import map_note
from ._utils.token_text import (
    is_seq2seq_explanation,
    is_token_explanation,
    token_labels,
    token_matrix_html,
    token_spans,
)
from .methods.registry import method_parameters

__all__ = ["write_report", "render_report", "figure_uri"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; padding: 0 .8em; max-width: 70em; color: #222; }
h1 { font-size: 1.4em; overflow-wrap: anywhere; } h2 { font-size: 1.1em; margin-top: 1.5em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; }
td.params { max-width: 32em; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: .85em; }
.legend { display: flex; flex-wrap: wrap; gap: 1.5em; font-size: .85em; }
.legend img { width: 180px; max-width: 100%; height: 12px; display: block; border: 1px solid #ccc; }
.ticks { display: flex; justify-content: space-between; width: 180px; max-width: 100%; }
.curves { display: flex; flex-wrap: wrap; gap: 10px; }
.curves img { width: 260px; max-width: 100%; height: auto; }
.input { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; border-top: 1px solid #ddd;
         padding-top: .6em; margin-top: .6em; }
figure { margin: 0; text-align: center; font-size: .8em; width: 114px; }
figure img { width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid #ccc; }
figure img.constant { border: 2px dashed #a33; width: 110px; height: 110px; }
.note { color: #a33; }
.wrong { color: #a33; font-weight: bold; }
.top { font-size: .85em; flex-basis: 100%; margin: 0; }
figure.seq { width: auto; max-width: 100%; overflow-x: auto; }
table.matrix th { font-size: .75em; padding: 1px 2px; } table.matrix td { padding: 0; min-width: .9em; height: .9em; }
"""


def _encode(buffer):
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png(array, cmap=None, vmin=None, vmax=None):
    """Encode a (H, W) or (H, W, 3) array as a base64 PNG data URI."""
    buffer = io.BytesIO()
    plt.imsave(buffer, array, cmap=cmap, vmin=vmin, vmax=vmax, format="png")
    return _encode(buffer)


def figure_uri(fig, dpi=100):
    """A matplotlib figure as a base64 PNG data URI (the figure is closed afterwards).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int

    Returns
    -------
    str
        ``'data:image/png;base64,...'``, for an ``<img src=...>`` in an extra section.

    Examples
    --------
    >>> fig = Figure(); _ = fig.add_subplot().plot([0, 1])
    >>> figure_uri(fig).startswith('data:image/png;base64,')
    True
    """
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return _encode(buffer)


def _image_uri(image):
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        return _png(normalize_map(image[..., 0]), cmap="gray", vmin=0, vmax=1)
    low, high = image.min(), image.max()
    return _png((image - low) / (high - low) if high > low else np.zeros_like(image))


def _heatmap_uri(heat, signed):
    if signed:
        return _png(normalize_map(heat, True), cmap=SIGNED_CMAP, vmin=-1, vmax=1)
    return _png(normalize_map(heat), cmap=MAGNITUDE_CMAP, vmin=0, vmax=1)


def _legend():
    """The two colour scales, with what their ends mean."""
    ramp = np.linspace(-1.0, 1.0, 256)[None, :].repeat(8, axis=0)
    signed = _png(ramp, cmap=SIGNED_CMAP, vmin=-1, vmax=1)
    magnitude = _png((ramp + 1) / 2, cmap=MAGNITUDE_CMAP, vmin=0, vmax=1)
    return ("<h2>How to read the maps</h2><div class='legend'>"
            "<div><b>signed</b> maps (scaled by each map's largest |value|)<img alt='signed scale' src='%s'>"
            "<div class='ticks'><span>&minus;1 against</span><span>0</span><span>+1 for</span></div></div>"
            "<div><b>magnitude</b> maps (scaled to each map's min..max)<img alt='magnitude scale' src='%s'>"
            "<div class='ticks'><span>0 least</span><span>1 most</span></div></div></div>"
            "<p class='top'>Every map is scaled on its own: colours compare pixels within a map, not across maps. "
            "A <span class='note'>constant map</span> (one value everywhere, dashed border) shows as a flat "
            "square and carries no information.</p>" % (signed, magnitude))


def _value_text(value):
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return "array%s" % (tuple(value.shape),)
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def effective_params(exp):
    """Every parameter ``exp``'s method ran with: its defaults updated by the ones given.

    Parameters
    ----------
    exp : Explanation

    Returns
    -------
    dict of str -> object

    Examples
    --------
    >>> effective_params(tlxp.explain(model, x, 'ig', seed=0))
    {'steps': 64, 'baseline': 'zeros', 'blur_sigma': 3.0, 'seed': 0, ...}
    """
    try:
        params = method_parameters(exp.method)
    except KeyError:  # a method unregistered since (e.g. a loaded Explanation)
        params = {}
    params.update(exp.params)
    return params


def _methods_table(explanations, skipped=None):
    rows = ["<h2>Methods</h2><div class='scroll'><table><tr><th>method</th><th>map kind</th>"
            "<th>time per input (ms)</th><th>total (s)</th><th>compile (s)</th>"
            "<th>parameters (defaults included)</th></tr>"]
    for name, exp in explanations.items():
        compile_s = exp.timings.get("compile")
        params = ", ".join("%s=%s" % (k, _value_text(v)) for k, v in effective_params(exp).items())
        rows.append("<tr class='method-row'><td>%s</td><td>%s</td><td>%.3g</td><td>%.3f</td><td>%s</td>"
                    "<td class='params'>%s</td></tr>" % (
                        html.escape(name), "signed" if exp.meta.get("signed", False) else "magnitude",
                        1000 * exp.timings.get("per_sample", float("nan")), exp.timings.get("total", float("nan")),
                        "%.3f" % compile_s if compile_s is not None else "&mdash;", html.escape(params) or "&mdash;"))
    rows.append("</table></div><p class='top'>Times are a warm run's: the first call's tracing of the compiled steps "
                "is the compile column, not part of the time per input.</p>")
    if skipped:
        rows.append("<p class='top skipped'>Skipped (do not apply to this model): %s.</p>" % "; ".join(
            "<b>%s</b>: %s" % (html.escape(k), html.escape(v)) for k, v in skipped.items()))
    return "".join(rows)


def _metrics_table(metrics):
    directions = metrics.attrs.get("higher_is_better", {})
    head = "".join("<th>%s<br><small>%s</small></th>" % (
        html.escape(str(col)), {True: "higher is better &uarr;", False: "lower is better &darr;"}.get(
            directions.get(col), "")) for col in metrics.columns)
    body = "".join("<tr><td>%s</td>%s</tr>" % (html.escape(str(idx)), "".join(
        "<td>%.4f</td>" % v for v in row)) for idx, row in zip(metrics.index, metrics.to_numpy(float)))
    return ("<h2>Metrics</h2><div class='scroll'><table class='metrics'><tr><th>method</th>%s</tr>%s</table></div>"
            % (head, body))


def evaluation_section(tidy, ranking_uri=None):
    """The report's evaluation section: one table per metric family, then the ranking figure.

    Parameters
    ----------
    tidy : pandas.DataFrame
        The long table of :meth:`ModelExplainer.evaluate` (columns ``method,
        metric, family, direction, mean, spread``).
    ranking_uri : str, optional
        The ranking figure (:func:`~tensorlayer_xplain.visualize.metric_ranking_visualization`)
        as a data URI (:func:`figure_uri`).

    Returns
    -------
    (str, str)
        ``('Evaluation', html)``, an extra section for :func:`render_report`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({'method': ['a'], 'metric': ['sparseness'], 'family': ['complexity'],
    ...                   'direction': ['higher'], 'mean': [0.5], 'spread': [0.1]})
    >>> evaluation_section(t)[0]
    'Evaluation'
    """
    needed = {"method", "metric", "family", "direction", "mean", "spread"}
    missing = needed - set(getattr(tidy, "columns", ()))
    if missing:
        raise ValueError("evaluation: expected the long table of ModelExplainer.evaluate (columns %s), missing %s"
                         % (sorted(needed), sorted(missing)))
    methods = list(dict.fromkeys(tidy["method"]))
    parts = ["<p class='top'>Mean &plusmn; standard deviation over the inputs; the arrow is each metric's direction "
             "(&uarr; higher is better, &darr; lower is better). Definitions and costs: docs/metrics.rst.</p>"]
    for family in dict.fromkeys(tidy["family"]):
        part = tidy[tidy["family"] == family]
        metric_names = list(dict.fromkeys(part["metric"]))
        head = "".join("<th>%s %s</th>" % (html.escape(str(m)), "&uarr;" if part.loc[
            part["metric"] == m, "direction"].iloc[0] == "higher" else "&darr;") for m in metric_names)
        rows = []
        for method in methods:
            cells = []
            for m in metric_names:
                row = part[(part["method"] == method) & (part["metric"] == m)]
                if row.empty or not np.isfinite(float(row["mean"].iloc[0])):
                    cells.append("<td>n/a</td>")
                else:
                    spread = float(row["spread"].iloc[0])
                    cells.append("<td>%.4g%s</td>" % (float(row["mean"].iloc[0]), " &plusmn; %.2g" % spread
                                                        if np.isfinite(spread) else ""))
            rows.append("<tr><td>%s</td>%s</tr>" % (html.escape(str(method)), "".join(cells)))
        parts.append("<h3>%s</h3><div class='scroll'><table class='metrics'><tr><th>method</th>%s</tr>%s</table>"
                     "</div>" % (html.escape(str(family)), head, "".join(rows)))
    skipped = getattr(tidy, "attrs", {}).get("skipped") or {}
    if skipped:
        parts.append("<p class='top'>Not computed: %s.</p>" % html.escape(
            ", ".join("%s (%s)" % item for item in skipped.items())))
    if ranking_uri:
        parts.append("<img alt='methods ranked per metric' style='max-width: 100%%' src='%s'>" % ranking_uri)
    return "Evaluation", "\n".join(parts)


def curve_figure(method, curves):
    """One small figure of a method's mean deletion / insertion curves (with the AUC in the legend).

    Parameters
    ----------
    method : str
    curves : dict of str -> CurveResult
        ``{'deletion': ..., 'insertion': ...}`` (either may be missing).

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot (no figure manager): nothing to close.
    """
    fig = Figure(figsize=(3.2, 2.4))
    ax = fig.add_subplot()
    styles = {"deletion": ("#c0392b", "deletion (AUC %.3f, lower is better)"),
              "insertion": ("#2471a3", "insertion (AUC %.3f, higher is better)")}
    for kind, result in curves.items():
        color, label = styles[kind]
        mean = np.asarray(result.curve, np.float64).mean(axis=0)
        ax.plot(result.fractions, mean, color=color, label=label % result.mean_auc)
    ax.set_xlabel("fraction of pixels removed / inserted", fontsize=7)
    ax.set_ylabel("score of the explained class\n(probability by default)", fontsize=7)
    ax.set_title(method, fontsize=8)
    ax.tick_params(labelsize=6)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=6)
    return fig


def _curves_section(curves):
    figures = "".join("<img alt='%s curves' src='%s'>" % (html.escape(m), figure_uri(curve_figure(m, c)))
                      for m, c in curves.items() if c)
    if not figures:
        return ""
    return ("<h2>Deletion and insertion curves</h2><div class='curves'>%s</div><p class='top'>Mean over the "
            "inputs. A faithful map makes the score fall fast when its top pixels are deleted (low deletion AUC) "
            "and rise fast when they are inserted (high insertion AUC).</p>" % figures)


def _top_classes(scores, class_names, k=3):
    probs = as_probabilities(scores)
    order = np.argsort(-probs)[:k]
    return ", ".join("%s (%.2f)" % (html.escape(class_label(i, class_names)), probs[i]) for i in order)


def _input_caption(i, pred, labels, class_names):
    caption = "input %d<br>pred <b>%s</b>" % (i, html.escape(class_label(pred, class_names)))
    if labels is not None:
        true = int(labels[i])
        css = " class='wrong'" if true != pred else ""
        caption += "<br><span%s>true %s</span>" % (css, html.escape(class_label(true, class_names)))
    return caption


def _check_labels(labels, n):
    if labels is None:
        return None
    y = np.asarray(labels)
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    if y.shape != (n,) or not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        raise ValueError("labels: expected one class index per input (%d,), got shape %s dtype %s"
                         % (n, y.shape, y.dtype))
    return y.astype(np.int64)


def _check_sections(sections):
    sections = list(sections or ())
    for item in sections:
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(v, str) for v in item)):
            raise TypeError("sections: expected a list of (title, html) pairs of str, got %r" % (item,))
    return sections


def _token_inputs(explanations, labels, class_names, vocab):
    """The inputs of a token model: one line of coloured tokens per method under each sequence."""
    first = next(iter(explanations.values()))
    parts = ["<h2>Inputs</h2>"]
    for i in range(len(first)):
        pred = int(np.argmax(first.predictions[i]))
        parts.append("<section class='input' id='input-%d'><p>%s</p><table>" % (
            i, _input_caption(i, pred, labels, class_names)))
        for name, exp in explanations.items():
            parts.append("<tr><td>%s</td><td style='line-height: 1.8'>%s</td></tr>"
                         % (html.escape(name), token_spans(exp, i, vocab)))
        parts.append("</table><p class='top'>top classes: %s</p></section>"
                     % _top_classes(first.predictions[i], class_names))
    return "\n".join(parts)


def _seq2seq_inputs(explanations, vocab):
    """The inputs of an encoder-decoder: per source sequence, its output and one token matrix per method."""
    first = next(iter(explanations.values()))
    parts = ["<h2>Inputs</h2>"]
    for i in range(len(first)):
        outputs = " ".join(token_labels(first.predicted[i], vocab))
        source = " ".join(token_labels(first.inputs[i][first.inputs[i] != first.params.get("pad_id", -1)], vocab))
        parts.append("<section class='input' id='input-%d'><p>source %d: <b>%s</b><br>output (teacher-forced argmax): "
                     "<b>%s</b></p>" % (i, i, html.escape(source), html.escape(outputs)))
        for name, exp in explanations.items():
            parts.append("<figure class='seq'>%s<figcaption>%s</figcaption></figure>"
                         % (token_matrix_html(exp, i, vocab), html.escape(name)))
        parts.append("</section>")
    return "\n".join(parts)


def render_report(explanations, class_names=None, metrics=None, title="tensorlayer-xplain report", labels=None,
                  model_name=None, curves=None, sections=None, skipped=None, vocab=None):
    """The report as an HTML string.

    Parameters
    ----------
    explanations : dict of str -> Explanation
        Explanations of the same inputs, one per method.
    class_names : sequence of str, optional
    metrics : pandas.DataFrame, optional
        Metric table (methods x metrics, as :func:`tensorlayer_xplain.metrics.evaluate`
        returns it), shown with each metric's direction.
    title : str
    labels : array-like of int (N,), optional
        True classes, shown next to the predictions (mismatches highlighted).
    model_name : str, optional
        Shown under the title.
    curves : dict of str -> dict of str -> CurveResult, optional
        ``{method: {'deletion': result, 'insertion': result}}``: one curve plot per method.
    sections : list of (str, str), optional
        Extra ``(title, html)`` sections, appended before the inputs (see the module docs).
    skipped : dict of str -> str, optional
        Methods left out and why, listed under the methods table.
    vocab : list or dict, optional
        Token models: words shown instead of ids (the inputs are drawn as coloured text).

    Returns
    -------
    str

    Examples
    --------
    >>> text = render_report(exps, labels=y_test[:4], sections=[('Diagnosis', '<p>3 errors</p>')])
    """
    if not explanations:
        raise ValueError("explanations: expected at least one method's explanation, got none")
    sections = _check_sections(sections)
    names = list(explanations)
    first = explanations[names[0]]
    labels = _check_labels(labels, len(first))
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'><title>%s</title>"
             "<style>%s</style></head><body>" % (html.escape(title), _STYLE), "<h1>%s</h1>" % html.escape(title)]
    if model_name:
        parts.append("<p>model: <b>%s</b> &middot; %d inputs</p>" % (html.escape(model_name), len(first)))
    parts.append(_legend())
    parts.append(_methods_table(explanations, skipped))
    if metrics is not None:
        parts.append(_metrics_table(metrics))
    if curves:
        parts.append(_curves_section(curves))
    for section_title, body in sections:
        parts.append("<section class='extra'><h2>%s</h2>%s</section>" % (html.escape(section_title), body))
    if is_seq2seq_explanation(first):
        parts.append(_seq2seq_inputs(explanations, vocab))
        parts.append("</body></html>")
        return "\n".join(parts)
    if is_token_explanation(first):
        parts.append(_token_inputs(explanations, labels, class_names, vocab))
        parts.append("</body></html>")
        return "\n".join(parts)
    heatmaps = {name: explanations[name].heatmap() for name in names}
    images = first.images()
    parts.append("<h2>Inputs</h2>")
    for i in range(len(first)):
        pred = int(np.argmax(first.predictions[i]))
        parts.append("<section class='input' id='input-%d'><figure><img alt='input %d' src='%s'>"
                     "<figcaption>%s</figcaption></figure>"
                     % (i, i, _image_uri(images[i]), _input_caption(i, pred, labels, class_names)))
        for name in names:
            exp = explanations[name]
            target = int(exp.targets[i])
            caption = "%s<br>target %s" % (html.escape(name), html.escape(class_label(target, class_names))
                                           if target >= 0 else "custom")
            note = map_note(exp, i)
            if note:
                caption += "<br><span class='note'>%s</span>" % html.escape(note)
            parts.append("<figure class='method'><img alt='%s'%s src='%s'><figcaption>%s</figcaption></figure>"
                         % (html.escape(name), " class='constant'" if "constant map" in note else "",
                            _heatmap_uri(heatmaps[name][i], exp.meta.get("signed", False)), caption))
        parts.append("<p class='top'>top classes: %s</p></section>" % _top_classes(first.predictions[i], class_names))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path, explanations, class_names=None, metrics=None, title="tensorlayer-xplain report", **options):
    """Write :func:`render_report` to ``path`` atomically and return the path.

    Parameters
    ----------
    path : str or os.PathLike
    explanations, class_names, metrics, title
        As for :func:`render_report`.
    **options
        ``labels``, ``model_name``, ``curves``, ``sections``, ``skipped``, ``vocab`` of :func:`render_report`.

    Examples
    --------
    >>> write_report('out/report.html', explainer.explain_all(X_test[:8]),
    ...              sections=[('Notes', '<p>trained 1 epoch</p>')])
    'out/report.html'
    """
    path = os.fspath(path)
    text = render_report(explanations, class_names, metrics, title, **options)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return path
