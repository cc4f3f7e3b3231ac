"""A self-contained HTML report of explanations: one file, images embedded, no server needed."""
import base64
import html
import io
import os

import matplotlib.pyplot as plt
import numpy as np

from ._io import atomic_path
from .visualize._draw import SIGNED_CMAP, MAGNITUDE_CMAP, as_probabilities, class_label, normalize_map

__all__ = ["write_report", "render_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
.input { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; border-top: 1px solid #ddd; padding-top: .6em; }
figure { margin: 0; text-align: center; font-size: .8em; }
figure img { width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid #ccc; }
.top { font-size: .85em; }
"""


def _png(array, cmap=None, vmin=None, vmax=None):
    """Encode a (H, W) or (H, W, 3) array as a base64 PNG data URI."""
    buffer = io.BytesIO()
    plt.imsave(buffer, array, cmap=cmap, vmin=vmin, vmax=vmax, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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


def _top_classes(scores, class_names, k=3):
    probs = as_probabilities(scores)
    order = np.argsort(-probs)[:k]
    return ", ".join("%s (%.2f)" % (html.escape(class_label(i, class_names)), probs[i]) for i in order)


def render_report(explanations, class_names=None, metrics=None, title="tensorlayer-xplain report", sections=None):
    """The report as an HTML string.

    Parameters
    ----------
    explanations : dict of str -> Explanation
        Explanations of the same inputs, one per method.
    class_names : sequence of str, optional
    metrics : pandas.DataFrame, optional
        Metric table (methods x metrics), shown when given.
    title : str
    sections : list of (str, str), optional
        Extra sections ``(title, html)`` appended after the inputs (e.g. a diagnosis).

    Returns
    -------
    str
    """
    if not explanations:
        raise ValueError("explanations: expected at least one method's explanation, got none")
    names = list(explanations)
    first = explanations[names[0]]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title><style>%s</style></head><body>"
             % (html.escape(title), _STYLE), "<h1>%s</h1>" % html.escape(title)]
    parts.append("<h2>Methods</h2><table><tr><th>method</th><th>total time (s)</th><th>per input (s)</th>"
                 "<th>parameters</th></tr>")
    for name in names:
        exp = explanations[name]
        shown = {k: v for k, v in exp.params.items() if np.isscalar(v) or v is None}
        parts.append("<tr class='method-row'><td>%s</td><td>%.3f</td><td>%.4f</td><td>%s</td></tr>" % (
            html.escape(name), exp.timings.get("total", float("nan")), exp.timings.get("per_sample", float("nan")),
            html.escape(", ".join("%s=%r" % kv for kv in sorted(shown.items())))))
    parts.append("</table>")
    if metrics is not None:
        parts.append("<h2>Metrics</h2>" + metrics.to_html(classes="metrics", float_format=lambda v: "%.4f" % v))
    heatmaps = {name: explanations[name].heatmap() for name in names}
    images = first.images()
    parts.append("<h2>Inputs</h2>")
    for i in range(len(first)):
        pred = int(np.argmax(first.predictions[i]))
        parts.append("<section class='input' id='input-%d'><figure><img alt='input %d' src='%s'>"
                     "<figcaption>input %d<br>pred <b>%s</b></figcaption></figure>"
                     % (i, i, _image_uri(images[i]), i, html.escape(class_label(pred, class_names))))
        for name in names:
            exp = explanations[name]
            target = int(exp.targets[i])
            caption = "%s<br>target %s" % (html.escape(name), html.escape(class_label(target, class_names))
                                           if target >= 0 else "custom")
            parts.append("<figure class='method'><img alt='%s' src='%s'><figcaption>%s</figcaption></figure>"
                         % (html.escape(name), _heatmap_uri(heatmaps[name][i], exp.meta.get("signed", False)), caption))
        parts.append("<p class='top'>top classes: %s</p></section>" % _top_classes(first.predictions[i], class_names))
    for heading, body in sections or ():
        parts.append("<section class='extra'><h2>%s</h2>%s</section>" % (html.escape(heading), body))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path, explanations, class_names=None, metrics=None, title="tensorlayer-xplain report", sections=None):
    """Write :func:`render_report` to ``path`` atomically and return the path.

    Examples
    --------
    >>> write_report('out/report.html', explainer.explain_all(X_test[:8]))   # doctest: +SKIP
    'out/report.html'
    """
    path = os.fspath(path)
    text = render_report(explanations, class_names, metrics, title, sections)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return path
