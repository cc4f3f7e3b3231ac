"""What :class:`~tensorlayer_xplain.ModelExplainer` draws and writes: per-method figures and the HTML report."""
import inspect
import os

import numpy as np

from ..methods.applicability import applicable_methods
from ..methods.registry import method_info
from ..runner import explain as run_method
from ._chunks import is_stream

__all__ = ["applicable", "figure_function", "visualize_all", "report"]


def applicable(explainer, inputs, methods):
    """``(kept, skipped)``: the methods (default: the explainer's) that apply to the model."""
    names = explainer.methods if methods is None else [method_info(m).name for m in methods]
    if not isinstance(inputs, np.ndarray) and is_stream(inputs):
        return names, {}
    return applicable_methods(explainer.adapter, inputs, names, explainer.config)


def figure_function(name):
    """The figure function drawing method ``name``: its declared ``figure`` (default ``gradient_visualization``)."""
    from .. import visualize

    figure = method_info(name).figure or "gradient_visualization"
    if callable(figure):
        return figure
    fn = getattr(visualize, figure, None)
    if fn is None:
        raise ValueError("figure: method %r declares figure %r, which is not a function of "
                         "tensorlayer_xplain.visualize" % (name, figure))
    return fn


def _check_folder(save_path):
    """``save_path`` as a str, created and writable; ``TypeError`` / ``ValueError`` naming it otherwise."""
    if not isinstance(save_path, (str, os.PathLike)):
        raise TypeError("save_path: expected a folder path, got %r" % (save_path,))
    save_path = os.fspath(save_path)
    try:
        os.makedirs(save_path, exist_ok=True)
    except OSError as err:
        raise ValueError("save_path: cannot create %r (%s)" % (save_path, err)) from None
    if not os.access(save_path, os.W_OK):
        raise ValueError("save_path: %r is not writable" % save_path)
    return save_path


def _warm_timings(explainer, explanations, targets):
    """Replace the timings of explanations whose call traced by a warm rerun's (bypassing the cache)."""
    from .._utils.timing import steady_timings

    if not explanations:
        return explanations
    x = next(iter(explanations.values())).inputs

    def rerun(name):
        return run_method(explainer.adapter, x, name, targets, **explainer.method_params(name)[1])

    return steady_timings(explanations, rerun)


def _seq2seq_options(decoder_inputs):
    return {} if decoder_inputs is None else {"decoder_inputs": decoder_inputs}


def visualize_all(explainer, inputs, save_path, targets, methods, format, compare, decoder_inputs=None):
    """:meth:`ModelExplainer.visualize_all <tensorlayer_xplain.ModelExplainer.visualize_all>` (see there)."""
    save_path = _check_folder(save_path)
    explanations = explainer.explain_all(inputs, targets, methods, **_seq2seq_options(decoder_inputs))
    _warm_timings(explainer, explanations, targets)  # figures show warm times, not the first call's tracing
    if getattr(explainer.adapter, "token_inputs", False):
        return _visualize_tokens(explainer, explanations, save_path, format, compare)
    if getattr(explainer.adapter, "seq2seq", False):
        return _visualize_seq2seq(explainer, explanations, save_path, format, compare)
    for name, exp in explanations.items():
        fn = figure_function(name)
        kwargs = {"saveable": True, "name": os.path.join(save_path, "%s.%s" % (name, format))}
        if "class_names" in inspect.signature(fn).parameters:
            kwargs["class_names"] = explainer.class_names
        fn(explainer.adapter, exp, **kwargs)
    if compare:
        from ..visualize import compare_methods

        compare_methods(explainer.adapter, explanations, name=os.path.join(save_path, "compare_methods.%s" % format),
                        class_names=explainer.class_names)
    return explanations


def _visualize_tokens(explainer, explanations, save_path, format, compare):
    """visualize_all for a token model: coloured tokens per method (and their comparison)."""
    from ..visualize import token_comparison, token_visualization

    for name, exp in explanations.items():
        token_visualization(explainer.adapter, exp, name=os.path.join(save_path, "%s.%s" % (name, format)),
                            vocab=explainer.vocab, class_names=explainer.class_names)
    if compare and explanations:
        token_comparison(explanations, name=os.path.join(save_path, "compare_methods.%s" % format),
                         vocab=explainer.vocab, class_names=explainer.class_names)
    return explanations


def _ranking_uri(tidy):
    """The ranking figure of an evaluation table as a PNG data URI (drawn to a temporary file, then removed)."""
    import base64
    import tempfile

    from ..visualize.metrics import metric_ranking_visualization

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ranking.png")
        metric_ranking_visualization(tidy, saveable=True, name=path)
        with open(path, "rb") as f:
            return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def evaluation_sections(explainer, evaluation):
    """``[('Evaluation', html)]`` for ``evaluation`` (None: the explainer's last tidy evaluate() table), or []."""
    from ..report import evaluation_section

    if evaluation is None:
        evaluation = getattr(explainer, "last_evaluation", None)
    if evaluation is None or evaluation is False:
        return []
    if not hasattr(evaluation, "columns") or "family" not in evaluation.columns:
        raise TypeError("evaluation: expected the tidy table of ModelExplainer.evaluate (tidy=True), None or False, "
                        "got %s" % type(evaluation).__name__)
    ranked = evaluation[np.isfinite(evaluation["mean"].astype(float))]
    return [evaluation_section(evaluation, _ranking_uri(ranked) if len(ranked) else None)]


def _visualize_seq2seq(explainer, explanations, save_path, format, compare):
    """visualize_all for an encoder-decoder: per method the (T_out, T_src) maps with tokens (and their comparison)."""
    from ..visualize import seq2seq_comparison, seq2seq_visualization

    for name, exp in explanations.items():
        seq2seq_visualization(exp, name=os.path.join(save_path, "%s.%s" % (name, format)), vocab=explainer.vocab)
    if compare and explanations:
        seq2seq_comparison(explanations, name=os.path.join(save_path, "compare_methods.%s" % format),
                           vocab=explainer.vocab)
    return explanations


def report(explainer, inputs, path, targets, methods, metrics, title, labels, sections, evaluation=None,
           decoder_inputs=None):
    """:meth:`ModelExplainer.report <tensorlayer_xplain.ModelExplainer.report>` (see there)."""
    from ..report import write_report

    sections = evaluation_sections(explainer, evaluation) + list(sections or [])
    explanations = explainer.explain_all(inputs, targets, methods, **_seq2seq_options(decoder_inputs))
    skipped = explanations.skipped
    _warm_timings(explainer, explanations, targets)
    table, curves = None, None
    if metrics:
        from .. import metrics as metrics_module

        table, results = metrics_module.evaluate(explainer.adapter, explanations, metrics=list(metrics),
                                                 return_results=True)
        curves = {name: {k: r for k, r in per.items() if k in ("deletion", "insertion")}
                  for name, per in results.items()}
    model_name = explainer.model_name()
    return write_report(path, explanations, class_names=explainer.class_names, metrics=table,
                        title=title or "tensorlayer-xplain report: %s" % model_name,
                        labels=labels, model_name=model_name, curves=curves, sections=sections,
                        skipped=skipped, vocab=getattr(explainer, "vocab", None))
