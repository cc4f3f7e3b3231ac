"""The diagnosis pass: errors, confusions, class profiles, reliance on regions and sensitivity, with a ready
explainer (:func:`tensorlayer_xplain.diagnose` builds one from a model)."""
import numbers

import numpy as np

from .errors import class_profiles, confusion_table, error_table
from .probes import check_probes, sensitivity_table
from .regions import check_regions, object_regions
from .reliance import FILLS, _mean, counterfactual, normalized_maps, outside_share, reliance_table, suspected_regions
from .result import Diagnosis

__all__ = ["diagnose_with", "check_arguments", "DEFAULT_METHODS", "RELIANCE_THRESHOLD", "FLIP_THRESHOLD"]

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
                                    (np.issubdtype(labels.dtype, np.floating) and np.all(np.isfinite(labels))
                                     and np.all(labels == np.round(labels)))):
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


def _explain_errors(explainer, x, errors, methods, top_k):
    """For the ``top_k`` most confident errors: (predicted-class, true-class) explanations per method."""
    top = errors[errors["explained"]]
    if not len(top):
        return {}, top["index"].to_numpy()
    idx = top["index"].to_numpy()
    return {m: (explainer.explain(x[idx], method=m, targets=top["predicted"].to_numpy()),
                explainer.explain(x[idx], method=m, targets=top["true"].to_numpy())) for m in methods}, idx


def check_arguments(methods, top_k, fill, reliance_threshold, flip_threshold):
    """Check :func:`~tensorlayer_xplain.diagnose`'s arguments before any model call (ValueError naming the argument)."""
    if isinstance(methods, str) or not methods:
        raise ValueError("methods: expected a non-empty list of method names, got %r" % (methods,))
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0:
        raise ValueError("top_k: expected a non-negative int, got %r" % (top_k,))
    if fill not in FILLS:
        raise ValueError("fill: expected one of %s, got %r" % (FILLS, fill))
    _check_number("reliance_threshold", reliance_threshold, 0, 1)
    _check_number("flip_threshold", flip_threshold, 0, 1)


def diagnose_with(explainer, x, y, methods=DEFAULT_METHODS, regions=None, top_k=20, fill="inpaint", probes=None,
                  reliance_threshold=RELIANCE_THRESHOLD, flip_threshold=FLIP_THRESHOLD, class_names=None, seed=0):
    """Run the diagnosis with a ready explainer (see :func:`tensorlayer_xplain.diagnose` for the parameters).

    ``explainer`` is a :class:`~tensorlayer_xplain.ModelExplainer` or any object with its ``explain(x,
    method=..., targets=...)``, ``adapter`` and ``class_names``; :func:`tensorlayer_xplain.diagnose` builds
    one from a model, :meth:`ModelExplainer.diagnose <tensorlayer_xplain.ModelExplainer.diagnose>` passes
    itself. ``seed`` seeds the sensitivity probes.

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> d = diagnose_with(tlxp.ModelExplainer(model), X_test[:1000], y_test[:1000])
    """
    check_arguments(methods, top_k, fill, reliance_threshold, flip_threshold)
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
        region_source=region_source, suspected=suspected, errors=errors,
        confusions=confusion_table(labels, predicted, class_names),
        error_explanations=error_explanations, error_index=error_index,
        profiles={m: class_profiles(maps[m], labels, predicted, n_classes) for m in methods},
        reliance=reliance, outside_maps=outside_maps, counterfactual_inputs=replaced, flipped=flipped, fill=fill,
        sensitivity=sensitivity_table(adapter, images, labels, scores, probe_fns, n_classes, class_names),
        thresholds={"reliance_threshold": float(reliance_threshold), "flip_threshold": float(flip_threshold)},
        class_names=class_names)
