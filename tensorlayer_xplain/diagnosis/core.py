"""``diagnose``: errors, confusions, class profiles, reliance on regions and sensitivity in one pass."""
import numbers

import numpy as np

from .errors import class_profiles, confusion_table, error_table
from .probes import check_probes, sensitivity_table
from .regions import check_regions, object_regions
from .reliance import FILLS, _mean, counterfactual, normalized_maps, outside_share, reliance_table, suspected_regions
from .result import Diagnosis

__all__ = ["diagnose", "DEFAULT_METHODS", "RELIANCE_THRESHOLD", "FLIP_THRESHOLD"]

#: Methods whose maps are compared with the object (cheap and class-discriminative + a completeness method).
DEFAULT_METHODS = ("gradcam", "integrated_gradients")
#: A class is flagged when its outside-object share exceeds the median over classes by more than this ...
RELIANCE_THRESHOLD = 0.1
#: ... and replacing its suspected regions flips at least this share of its predictions.
FLIP_THRESHOLD = 0.1


def _check_labels(y, n, n_classes):
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape == (n, n_classes):  # one-hot
        labels = labels.argmax(axis=1)
    if labels.shape != (n,) or not (np.issubdtype(labels.dtype, np.integer) or
                                    (np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)))):
        raise ValueError("y: expected %d integer class labels (one per input), got %s of shape %s"
                         % (n, labels.dtype, labels.shape))
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError("y: expected labels in [0, %d), got values in [%d, %d]"
                         % (n_classes, labels.min(), labels.max()))
    return labels


def _check_number(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError("%s: expected a number in [%g, %g], got %r" % (name, low, high, value))


def _explainer_for(model, methods, config, class_names, batch_size, seed):
    from ..explainer import ModelExplainer

    if isinstance(model, ModelExplainer):
        return model
    return ModelExplainer(model, methods=list(methods), config=config, class_names=class_names,
                          batch_size=batch_size, seed=seed)


def _explain_errors(explainer, x, errors, methods, top_k):
    """For the ``top_k`` most confident errors: (predicted-class, true-class) explanations per method."""
    top = errors[errors["explained"]]
    if not len(top):
        return {}, top["index"].to_numpy()
    idx = top["index"].to_numpy()
    return {m: (explainer.explain(x[idx], method=m, targets=top["predicted"].to_numpy()),
                explainer.explain(x[idx], method=m, targets=top["true"].to_numpy())) for m in methods}, idx


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
    if isinstance(methods, str) or not methods:
        raise ValueError("methods: expected a non-empty list of method names, got %r" % (methods,))
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0:
        raise ValueError("top_k: expected a non-negative int, got %r" % (top_k,))
    if fill not in FILLS:
        raise ValueError("fill: expected one of %s, got %r" % (FILLS, fill))
    _check_number("reliance_threshold", reliance_threshold, 0, 1)
    _check_number("flip_threshold", flip_threshold, 0, 1)
    explainer = _explainer_for(model, methods, config, class_names, batch_size, seed)
    class_names = explainer.class_names if class_names is None else list(class_names)
    adapter = explainer.adapter
    xs, _ = adapter.prepare(x, name="x")
    images = adapter.to_image(xs)
    scores = adapter.predict(xs)
    n, n_classes = scores.shape
    labels = _check_labels(y, n, n_classes)
    if regions is None or isinstance(regions, str):
        masks = object_regions(images, regions or "auto")
        region_source = "estimate: %s" % (regions or "auto")
    else:
        masks = check_regions(regions, n, images.shape[1:])
        region_source = "user masks"
    probe_fns = check_probes(probes, images, seed)
    predicted = np.argmax(scores, axis=1)
    maps, shares = {}, {}
    for m in methods:
        maps[m] = normalized_maps(explainer.explain(xs, method=m, targets=predicted).heatmap())
        shares[m] = outside_share(maps[m], masks)
    mean_maps = np.mean([maps[m] for m in methods], axis=0)
    suspected = suspected_regions(mean_maps, masks)
    flipped, drop, replaced = counterfactual(adapter, images, suspected, predicted, scores, fill)
    reliance = reliance_table(shares, predicted, flipped, drop, n_classes, class_names, reliance_threshold,
                              flip_threshold)
    outside_maps = np.stack([(mean_maps * ~masks)[predicted == k].mean(axis=0) if (predicted == k).any()
                             else np.zeros(masks.shape[1:]) for k in range(n_classes)])
    overall_share = np.array([_mean(col) for col in np.stack(list(shares.values())).T])
    errors = error_table(scores, labels, top_k, overall_share)
    error_explanations, error_index = _explain_errors(explainer, xs, errors, methods, top_k)
    return Diagnosis(
        explainer=explainer, methods=list(methods), inputs=images, labels=labels, scores=scores, masks=masks,
        region_source=region_source, suspected=suspected, errors=errors, confusions=confusion_table(labels, predicted, class_names),
        error_explanations=error_explanations, error_index=error_index,
        profiles={m: class_profiles(maps[m], labels, predicted, n_classes) for m in methods},
        reliance=reliance, outside_maps=outside_maps, counterfactual_inputs=replaced, flipped=flipped, fill=fill,
        sensitivity=sensitivity_table(adapter, images, labels, scores, probe_fns, n_classes, class_names),
        thresholds={"reliance_threshold": float(reliance_threshold), "flip_threshold": float(flip_threshold)},
        class_names=class_names)
