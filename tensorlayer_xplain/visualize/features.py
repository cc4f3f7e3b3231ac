"""The figure of feature visualization: the optimised images in a grid, titled by objective, and their traces."""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import class_label, draw_image
from .._utils.figure import tl_figure

__all__ = ["feature_visualization_figure"]

#: Most images drawn in one figure.
MAX_IMAGES = 256


def objective_label(objective, class_names=None):
    """A short title for an objective: ``'class 3'``, ``'conv2 ch 5'``, ``'dense1 unit 7'``, or its terms.

    Examples
    --------
    >>> from tensorlayer_xplain import objectives
    >>> objective_label(objectives.channel('conv2', 5)), objective_label(objectives.class_logit(1), ['a', 'b'])
    ('conv2 ch 5', 'b')
    """
    if len(objective.terms) == 1 and objective.terms[0][0] == 1.0:
        term = objective.terms[0][1]
        if term.kind == "class_logit":
            return class_label(term.arg, class_names) if class_names is not None else "class %d" % term.arg
        if term.kind == "channel":
            return "%s ch %d" % (term.layer, term.arg)
        if term.kind == "neuron":
            return "%s unit %s" % (term.layer, term.arg if not isinstance(term.arg, tuple) else
                                   ",".join(map(str, term.arg)))
        return "%s %s" % (term.layer, term.kind)
    text = repr(objective)[len("Objective("):-1]
    return text if len(text) <= 40 else text[:37] + "..."


@shared_docstring
def feature_visualization_figure(result, saveable=True, name="feature_visualization", fig_idx=2396410, second=10,
                                 columns=None, class_names=None, show_trace=False):
    """Draw the images of :func:`~tensorlayer_xplain.feature_visualization`, one per cell, TL style.

    Parameters
    ----------
    result : FeatureVisualization
        What :func:`~tensorlayer_xplain.feature_visualization` returned.
    %(figure_conventions)s
    columns : int, optional
        Cells per row (default: up to 8, or ``images_per_objective`` when above 1).
    %(figure_class_names)s
    show_trace : bool
        Add a panel with each image's objective value per step.

    Returns
    -------
    FeatureVisualization
        ``result``, unchanged.

    Examples
    --------
    >>> from tensorlayer_xplain import objectives
    >>> res = tlxp.feature_visualization(model, [objectives.class_logit(k) for k in range(3)], steps=2)
    >>> tlxp.feature_visualization_figure(res, name='classes.png', show_trace=True)
    FeatureVisualization(3 images of 28x28x1, 3 objectives, 2 steps, fourier)
    """
    images = getattr(result, "images", None)
    if images is None or not hasattr(result, "objectives") or not hasattr(result, "trace"):
        raise TypeError("result: expected what tlxp.feature_visualization returned (a FeatureVisualization), "
                        "got %s" % type(result).__name__)
    images = np.asarray(images)
    n = len(images)
    if n > MAX_IMAGES:
        raise ValueError("result: at most %d images are drawn in one figure, got %d; draw a slice of the "
                         "objectives at a time" % (MAX_IMAGES, n))
    per_objective = int(result.params.get("images_per_objective", 1))
    if columns is None:
        columns = per_objective if per_objective > 1 else min(8, n)
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or not 1 <= columns <= MAX_IMAGES:
        raise ValueError("columns: expected an int in [1, %d], got %r" % (MAX_IMAGES, columns))
    rows = -(-n // columns)
    extra = 1 if show_trace else 0
    with tl_figure(saveable, name, fig_idx, second, figsize=(1.4 * columns, 1.5 * rows + 2.0 * extra)) as fig:
        grid = fig.add_gridspec(rows + extra, columns, height_ratios=[1] * rows + [1.4] * extra)
        for i in range(n):
            obj = result.objectives[int(result.objective_index[i])]
            title = objective_label(obj, class_names)
            if per_objective > 1:
                title += " #%d" % (i % per_objective)
            draw_image(fig.add_subplot(grid[i // columns, i % columns]), images[i], title)
        if show_trace:
            ax = fig.add_subplot(grid[rows, :])
            ax.plot(np.asarray(result.trace).T, linewidth=0.8)
            ax.set_xlabel("step", fontsize=8)
            ax.set_ylabel("objective", fontsize=8)
            ax.tick_params(labelsize=7)
    return result
