"""``tlxp.diagnose``: build a :class:`ModelExplainer` for a model and run the diagnosis pass with it.

The pass itself (:func:`tensorlayer_xplain.diagnosis.core.diagnose_with`) takes a ready explainer, so
``diagnosis`` never imports the explainer; this module is the one place that joins them.
"""
from ..diagnosis.core import (
    DEFAULT_METHODS,
    FLIP_THRESHOLD,
    RELIANCE_THRESHOLD,
    check_arguments,
    diagnose_with,
)
from .model_explainer import ModelExplainer

__all__ = ["diagnose"]


def diagnose(model, x, y, methods=DEFAULT_METHODS, regions=None, top_k=20, fill="inpaint", probes=None,
             reliance_threshold=RELIANCE_THRESHOLD, flip_threshold=FLIP_THRESHOLD, class_names=None, config=None,
             batch_size=256, seed=0):
    """Diagnose a classifier on labelled inputs: why it errs, what it relies on, how sensitive each class is.

    Every input is explained for its predicted class with each of ``methods``.
    From these maps and a few extra batches of predictions:

    errors (misclassified inputs ranked by confidence; the ``top_k`` explained
    for the predicted class P and the true class T, "P rather than T"),
    confusions (the true -> predicted pairs behind the errors), profiles (mean
    normalized map per true class for correct and wrong predictions), reliance
    and sensitivity.

    Reliance: per predicted class, the share of attribution mass outside the
    object (``regions``) and the counterfactual check. Each input's suspected
    region, where its attribution outside the object concentrates (see
    :func:`~tensorlayer_xplain.diagnosis.reliance.suspected_regions`), is
    replaced (``fill``); the flip rate and score drop are measured. A class is
    ``flagged`` when its share exceeds the median over classes by more than
    ``reliance_threshold`` and its flip rate reaches ``flip_threshold``.

    Sensitivity: per true class, flip rate and score change under ``probes``.

    The model is only called in inference mode; its weights and train/eval flags are unchanged.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable, ModelAdapter or ModelExplainer
        A ``ModelExplainer`` is used with its config, cache and class names.
    x : ndarray, shape (N, *input_shape) or (N, H, W, C)
    y : ndarray of int, shape (N,) (or one-hot (N, K))
    methods : sequence of str
        Attribution methods (registered names).
    regions : None, str or ndarray of bool (N, H, W) or (H, W)
        Object masks (True on the object), or the name of an estimate
        (``'auto'``, ``'ink'``, ``'saliency'``; None = ``'auto'``; see
        :func:`~tensorlayer_xplain.diagnosis.object_regions`).
    top_k : int
        Number of errors explained for both classes.
    fill : {'inpaint', 'blur', 'zero'}
        How the suspected region is replaced in the counterfactual (inpainted from
        the rest of the image, blurred, or set to zero).
    probes : None, list of str or dict of str -> callable
        Sensitivity probes; None = all defaults for the data
        (see :func:`~tensorlayer_xplain.diagnosis.default_probes`).
    reliance_threshold, flip_threshold : float in [0, 1]
    class_names : sequence of str, optional
    config : dict, optional
        Per-method parameters, as for :class:`~tensorlayer_xplain.ModelExplainer`.
    batch_size : int
    seed : int

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> d = tlxp.diagnose(model, X_test[:1000], y_test[:1000])
    >>> d.reliance[d.reliance.flagged]
    >>> d.report('xplain_out/diagnosis.html')
    """
    check_arguments(methods, top_k, fill, reliance_threshold, flip_threshold)
    if isinstance(model, ModelExplainer):
        explainer = model
    else:
        explainer = ModelExplainer(model, methods=list(methods), config=config, class_names=class_names,
                                   batch_size=batch_size, seed=seed)
    return diagnose_with(explainer, x, y, methods=methods, regions=regions, top_k=top_k, fill=fill, probes=probes,
                         reliance_threshold=reliance_threshold, flip_threshold=flip_threshold,
                         class_names=class_names, seed=seed)
