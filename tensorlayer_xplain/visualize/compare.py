"""One grid comparing several methods on the same inputs: rows = inputs, columns = methods."""
from .._utils.docstrings import shared_docstring
from .._utils.drawing import draw_heatmap, draw_image, prediction_title
from .._utils.figure import tl_figure
from .._utils.timing import steady_timings
from ..adapter import as_adapter
from ..methods.applicability import Explanations, applicable_methods
from ..methods.registry import method_info
from ._common import obtain_explanation, pick_targets
from .attributions import method_title

__all__ = ["compare_methods"]

#: Methods drawn by :func:`compare_methods` when none are given.
DEFAULT_COMPARE_METHODS = ("gradient", "integrated_gradients", "smoothgrad", "guided_backprop", "gradcam",
                           "occlusion")


def draw_method_grid(fig, explanations, class_names=None, colorbar=True):
    """Draw ``{method: Explanation}`` (same inputs) as a grid; returns the axes (rows x columns).

    Column 0 shows the inputs titled with the prediction; each further cell the
    method's map for that input, titled with the method and its time per input.
    Signed maps get a diverging colormap, magnitudes a sequential one.
    """
    exps = list(explanations.values())
    first = exps[0]
    n, n_cols = len(first), 1 + len(exps)
    images = first.images()
    axes = []
    for i in range(n):
        row = [fig.add_subplot(n, n_cols, i * n_cols + 1)]
        draw_image(row[0], images[i], prediction_title(first.predictions[i], first.targets[i], class_names))
        for k, exp in enumerate(exps):
            ax = fig.add_subplot(n, n_cols, i * n_cols + 2 + k)
            draw_heatmap(ax, exp.heatmap()[i], exp.meta.get("signed", False),
                         title=method_title(exp, i, timing=True), colorbar=colorbar)
            row.append(ax)
        axes.append(row)
    return axes


def _precomputed(explanations):
    """Check a ``{method: Explanation}`` dict describes the same inputs."""
    from ..explanation import Explanation

    if not explanations or not all(isinstance(e, Explanation) for e in explanations.values()):
        raise TypeError("inputs: expected an array or a non-empty dict of Explanations, got %r"
                        % ({k: type(v).__name__ for k, v in explanations.items()},))
    shapes = {e.inputs.shape for e in explanations.values()}
    if len(shapes) != 1:
        raise ValueError("inputs: the explanations cover different inputs (shapes %s)" % sorted(shapes))
    return dict(explanations)


@shared_docstring
def compare_methods(model, inputs, methods=DEFAULT_COMPARE_METHODS, targets=None, saveable=True,
                    name="compare_methods", fig_idx=2396333, second=10, class_names=None, config=None,
                    target_class=None):
    """Explain the same inputs with several methods and draw them in one grid, TL style.

    Rows are inputs, columns methods (after a first column with the inputs). Each
    cell is titled with the method and its time per input (a warm run's: the first
    call's tracing is left out, see :func:`~tensorlayer_xplain._utils.timing.steady_timings`),
    notes a constant map, and carries a colorbar: diverging for signed methods,
    sequential for magnitudes.

    Methods that do not apply to the model are skipped with a warning (an MLP has
    no CAM layer, a plain callable no ReLU layers for guided backprop); the
    reasons are in the returned ``skipped``.

    Parameters
    ----------
    %(figure_model)s
    inputs : ndarray (N, ...) or dict of str -> Explanation
        Inputs to explain, or explanations of the same inputs already computed
        (e.g. ``ModelExplainer.explain_all``), drawn as they are.
    methods : sequence of str
        Registered method names (aliases allowed); ignored for precomputed explanations.
    %(figure_targets)s
    %(figure_conventions)s
    %(figure_class_names)s
    config : dict of str -> dict, optional
        Per-method parameters, e.g. ``{'integrated_gradients': {'steps': 32}}``.

    Returns
    -------
    Explanations
        A dict of str -> Explanation keyed by method name, in the order drawn;
        ``.skipped`` maps each method left out to the reason.

    Examples
    --------
    >>> exps = tlxp.compare_methods(model, X_test[:3], ['gradient', 'gradcam', 'rise'],
    ...                            name='out/compare.png')
    >>> exps['gradcam'].timings['per_sample']  # doctest: +IGNORE_RESULT
    0.0012
    """
    if isinstance(inputs, dict):
        exps = _precomputed(inputs)
    else:
        if isinstance(methods, str) or not methods:
            raise TypeError("methods: expected a non-empty list of method names, got %r" % (methods,))
        config = dict(config or {})
        unknown = [key for key in config if key not in methods]
        if unknown:
            raise KeyError("config: parameters given for %s, which are not in methods %s" % (unknown, list(methods)))
        targets = pick_targets(targets, target_class)
        kept, skipped = applicable_methods(as_adapter(model), inputs, methods, config)
        by_name = {method_info(m).name: config.get(m, {}) for m in methods}

        def run(m):
            return obtain_explanation(model, inputs, m, targets, **by_name[m])

        exps = Explanations(steady_timings({m: run(m) for m in kept}, run), skipped)
    first = next(iter(exps.values()))
    from .._utils.token_text import is_seq2seq_explanation, is_token_explanation
    from .text import token_comparison

    if is_seq2seq_explanation(first):  # encoder-decoders: one (T_out, T_src) map per (sequence, method)
        from .seq2seq import seq2seq_comparison

        seq2seq_comparison(exps, saveable, name, fig_idx, second)
        return exps
    if is_token_explanation(first):  # token ids: coloured text, one line per (sequence, method)
        token_comparison(exps, saveable, name, fig_idx, second, class_names=class_names)
        return exps
    n, n_cols = len(first), 1 + len(exps)
    with tl_figure(saveable, name, fig_idx, second, figsize=(2.4 * n_cols, 2.3 * n)) as fig:
        draw_method_grid(fig, exps, class_names)
    return exps
