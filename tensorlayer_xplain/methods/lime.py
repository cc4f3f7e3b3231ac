"""LIME for TensorLayer models: images (superpixels) and flat feature vectors, on the ``lime`` package.

Ribeiro, Singh & Guestrin (2016), "Why Should I Trust You?": Explaining the
Predictions of Any Classifier. KDD.

``lime`` does the sampling and the locally weighted regression; this module
makes it fast and dependable on TL models:

* the neighbourhood of an image is built vectorised, chunk by chunk, with the
  *same* random draws and the *same* perturbed images as ``lime_image`` (its
  per-sample Python loop is the slow part besides the model), and every chunk goes
  through :meth:`ModelAdapter.predict` as one batch of ``batch_size`` images
  (``lime`` defaults to 10);
* gray images (28x28x1 digits, or a flat-784 MLP drawn as 28x28 via
  ``adapter.image_shape``) are turned into RGB for ``lime`` and back for the model;
* the segmentation works on small gray digits (SLIC with ``channel_axis=None``, or
  a grid) and is configurable;
* ``seed`` fixes everything: same seed, same result, and each input's stream
  starts from ``seed`` (an image's explanation does not depend on its position
  in the batch).

The raw ``lime`` explanation objects are kept in ``Explanation.meta['lime_explanations']``.
"""
import warnings

import numpy as np
from lime import lime_image
from lime import lime_tabular as _lime_tabular

from .._utils.docstrings import shared_docstring
from ._engine.blackbox import score_function, small_blas
from ._engine.blocks import host_rows
from ._engine.checks import check_feature_selection, positive_int, seed_value
from ._engine.segmentation import SEGMENTATION_RANGES, compose, segment_image, segments_to_pixels
from ._ranges import VALUES
from .costs import per_input
from .registry import COUNT, Range, TrainingRows, register_method

__all__ = ["lime", "lime_tabular", "BatchedLimeImageExplainer", "restart_stream", "segment_image"]


class BatchedLimeImageExplainer(lime_image.LimeImageExplainer):
    """``lime_image.LimeImageExplainer`` with a vectorised, batched neighbourhood.

    Draws the on/off superpixel matrix exactly as ``lime`` does (same
    ``random_state`` calls), builds the perturbed images with one ``np.where`` per
    chunk of ``batch_size`` rows instead of a Python loop over samples and
    segments, and calls ``classifier_fn`` once per chunk. With the same random
    state the result is identical to ``lime_image``'s.
    """

    def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10,
                    progress_bar=False):
        n_features = np.unique(segments).shape[0]
        data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
        data[0, :] = 1
        size = max(1, int(batch_size))
        labels = [np.asarray(classifier_fn(compose(data[start:start + size], segments, image, fudged_image)))
                  for start in range(0, num_samples, size)]
        return data, np.concatenate(labels, axis=0)



def restart_stream(explainer, seed):
    """Reseed a ``lime`` explainer's random stream so that each input starts from ``seed``.

    ``lime`` explainers draw every input's neighbourhood from one
    ``numpy.random.RandomState`` created from ``random_state`` (shared with their
    regression and discretizer), so without this an input's explanation would
    depend on how many inputs were explained before it in the batch. With
    ``seed=None`` the stream is left as it is (not reproducible anyway).

    Examples
    --------
    >>> e = lime_image.LimeImageExplainer(random_state=3)
    >>> first = e.random_state.randint(1000); restart_stream(e, 3)
    >>> e.random_state.randint(1000) == first
    True
    """
    if seed is not None:
        explainer.random_state.seed(int(seed))


def _channels(adapter):
    h, w, c = adapter.image_shape
    if c not in (1, 3):
        raise ValueError("inputs: LIME for images needs gray (1 channel) or RGB (3 channels) images, got "
                         "image_shape %s; pass image_shape=(H, W, C) to the adapter or use 'lime_tabular'"
                         % (adapter.image_shape,))
    return c


def _hide_value(hide_color, channels):
    """``hide_color`` checked against the model's channels (a gray model takes one value)."""
    if hide_color is None:
        return None
    value = np.asarray(hide_color, dtype=np.float64)
    if value.ndim == 0:
        return float(value)
    if value.shape != (channels,):
        raise ValueError("hide_color: expected None, a number or %d value(s) (one per channel of this %s model), "
                         "got %r" % (channels, "gray" if channels == 1 else "RGB", hide_color))
    return tuple(float(v) for v in value)


def _image_classifier(adapter, target, batch_size, gray):
    """lime's classifier_fn: RGB batch -> model (gray models get channel 0 back) -> scores."""
    scores = score_function(adapter, target, batch_size, all_scores=True)

    def classifier_fn(images):
        images = np.asarray(images, dtype=np.float32)
        return scores(images[..., :1] if gray else images)

    return classifier_fn


def _explain_one_image(explainer, image, target, adapter, segmentation, n_segments, compactness, num_samples,
                       num_features, hide_color, batch_size, seed):
    gray = image.shape[-1] == 1
    segments = segment_image(image, segmentation, n_segments, compactness, seed)
    rgb = np.repeat(image, 3, axis=-1) if gray else image
    label = 0 if callable(target) else int(target)
    n_segs = int(segments.max()) + 1
    exp = explainer.explain_instance(
        rgb, _image_classifier(adapter, target, batch_size, gray), labels=(label,),
        hide_color=hide_color, top_labels=None, num_features=n_segs if num_features is None else num_features,
        num_samples=num_samples, batch_size=batch_size, segmentation_fn=lambda _: segments,
        random_seed=0 if seed is None else seed)
    weights = np.zeros(n_segs)
    for feature, weight in exp.local_exp[label]:
        weights[feature] = weight
    return exp, segments, weights, label


#: LIME's kernel width (an exponential kernel on distances): tiny widths underflow every weight to 0.
KERNEL_WIDTH = Range(1e-3, 1e3)


@register_method("lime", aliases=("lime_image",), signed=True, family="lime", cost=per_input("num_samples"),
                 figure="lime_visualization",
                 ranges=dict(SEGMENTATION_RANGES, num_samples=COUNT, num_features=COUNT, hide_color=VALUES,
                             kernel_width=KERNEL_WIDTH),
                 benchmark={"quick": {"num_samples": 200}, "images": {"full": 8, "quick": 2},
                            "work": ("num_samples",)})
@shared_docstring
def lime(adapter, inputs, targets, num_samples=1000, num_features=None, positive_only=False, hide_color=0.0,
         segmentation="slic", n_segments=40, compactness=0.1, kernel_width=0.25, feature_selection="auto",
         batch_size=None, seed=0):
    """LIME on superpixels: a per-pixel map of the local linear model's segment weights.

    Ribeiro, Singh & Guestrin (2016), "Why Should I Trust You?". Uses
    ``lime.lime_image`` (sampling, kernel, weighted ridge regression) with a
    batched, vectorised neighbourhood (:class:`BatchedLimeImageExplainer`).
    Inputs are drawn as ``adapter.image_shape`` (H, W, 1 or 3); a flat-784 model is explained
    on 28x28 images.

    Parameters
    ----------
    %(method_inputs)s
    num_samples : int
        Perturbed images per input (lime's neighbourhood size).
    num_features : int, optional
        Superpixels given a weight (lime's feature selection); None weighs all.
    positive_only : bool
        Keep only positive evidence (negative weights set to 0).
    hide_color : float, sequence of float, or None
        Value of switched-off superpixels (one per channel for RGB); None uses each
        superpixel's mean, as ``lime`` does by default.
    segmentation : {'slic', 'grid', 'quickshift', 'felzenszwalb'}, callable or ndarray
        See :func:`~tensorlayer_xplain.methods._engine.segmentation.segment_image`.
    n_segments : int
        Wanted number of superpixels (SLIC, grid).
    compactness : float
        SLIC compactness on the [0, 1]-rescaled image.
    kernel_width : float
        Width of lime's exponential kernel on cosine distance.
    feature_selection : str
        lime's ``feature_selection`` ('auto', 'none', 'forward_selection', 'highest_weights', 'lasso_path');
        'auto' with ``num_features=None`` fits once on all superpixels ('none').
    %(method_batch_size)s
    seed : int or None
        Seeds lime's ``random_state`` (and random segmentations), restarted for every
        input: same seed, same result, and one image gives the same map alone as
        anywhere in a batch.

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
        Each pixel carries its superpixel's weight.
    meta : dict
        ``lime_explanations`` (the raw ``lime_image.ImageExplanation`` objects),
        ``segments`` (N, H, W), ``intercept``, ``score`` (R^2 of the local model) and
        ``local_pred`` (N,), ``signed``.

    Examples
    --------
    >>> exp = tlxp.explain(cnn, X_test[:2], 'lime', num_samples=500, seed=0)
    >>> exp.meta['lime_explanations'][0].get_image_and_mask(exp.targets[0])
    """
    channels = _channels(adapter)
    num_samples = positive_int("num_samples", num_samples)
    num_features = None if num_features is None else positive_int("num_features", num_features)
    # perturbed images built at once: batch_size, at most BLOCK_BYTES (the model takes them in byte-bounded pieces)
    batch_size = host_rows(positive_int("batch_size", batch_size or adapter.batch_size),
                           4 * int(np.prod(adapter.image_shape)))
    seed = seed_value("seed", seed)
    hide = _hide_value(hide_color, channels)
    images = adapter.to_image(inputs)
    feature_selection = check_feature_selection(feature_selection)
    if num_features is None and feature_selection == "auto":
        feature_selection = "none"  # every superpixel is kept: selecting them first would only cost a second fit
    explainer = BatchedLimeImageExplainer(kernel_width=kernel_width, feature_selection=feature_selection,
                                          random_state=seed)
    maps, raw, segs, labels = [], [], [], []
    for i, image in enumerate(images):
        target = targets if callable(targets) else targets[i]
        restart_stream(explainer, seed)
        with small_blas():
            exp, segments, weights, label = _explain_one_image(
                explainer, image, target, adapter, segmentation, n_segments, compactness, num_samples, num_features,
                hide, batch_size, seed)
        if positive_only:
            weights = np.maximum(weights, 0.0)
        maps.append(segments_to_pixels(weights, segments))
        raw.append(exp)
        segs.append(segments)
        labels.append(label)
    meta = {
        "lime_explanations": raw,
        "lime_labels": labels,
        "segments": np.stack(segs).astype(np.int32),
        "intercept": np.array([e.intercept[lbl] for e, lbl in zip(raw, labels)]),
        "score": np.array([e.score for e in raw]),
        "local_pred": np.array([np.ravel(e.local_pred)[0] for e in raw]),
        "signed": not positive_only,
    }
    return np.stack(maps).astype(np.float32), meta


def _feature_indices(indices, n_features, what="categorical_features"):
    """None or a list of distinct feature indices in ``[0, n_features)``."""
    if indices is None:
        return None
    ok = isinstance(indices, (list, tuple, np.ndarray)) and all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < n_features for i in indices)
    if not ok:
        raise TypeError("%s: expected None or a list of feature indices in [0, %d), got %.80r"
                        % (what, n_features, indices))
    return sorted(set(int(i) for i in indices))


def _tabular_names(names, expected, what, default):
    if names is None:
        return default
    if isinstance(names, (str, bytes, dict)) or not isinstance(names, (list, tuple, np.ndarray)):
        raise TypeError("%s: expected a sequence of %d names, got %.80r" % (what, expected, names))
    names = [str(n) for n in names]
    if len(names) != expected:
        raise ValueError("%s: expected %d names (one per %s), got %d"
                         % (what, expected, "input feature" if what == "feature_names" else "model output",
                            len(names)))
    return names


@register_method("lime_tabular", signed=True, family="lime", cost=per_input("num_samples"),
                 figure="lime_visualization",
                 ranges={"num_samples": COUNT, "num_features": COUNT, "kernel_width": KERNEL_WIDTH},
                 benchmark={"full": {"training_data": TrainingRows(1000)},
                            "quick": {"training_data": TrainingRows(1000), "num_samples": 500},
                            "images": {"full": 8, "quick": 2}, "inputs": "flat", "work": ("num_samples",)})
@shared_docstring
def lime_tabular(adapter, inputs, targets, training_data=None, feature_names=None, class_names=None,
                 num_features=10, num_samples=5000, discretize_continuous=True, kernel_width=None,
                 categorical_features=None, batch_size=None, seed=0):
    """LIME on flat feature vectors (``lime.lime_tabular``): one weight per input feature.

    Ribeiro, Singh & Guestrin (2016), "Why Should I Trust You?". Every input value is
    a feature (an MNIST MLP has 784); the neighbourhood is sampled from the training
    data's statistics and scored through the adapter in batches of ``batch_size``.

    Parameters
    ----------
    %(method_inputs)s
    training_data : array-like, shape (M, *input_shape)
        Required: lime learns feature means, spreads and quartiles from it.
    feature_names : sequence of str, optional
        One per input value (default ``f0, f1, ...``).
    class_names : sequence of str, optional
        One per model output (default ``'0', '1', ...``).
    num_features : int
        Features given a weight (the others get 0).
    num_samples : int
        Neighbourhood size.
    discretize_continuous : bool
        lime's quartile discretization (weights then describe the sample's bin).
    kernel_width : float, optional
        lime's default: ``0.75 * sqrt(n_features)``.
    categorical_features : sequence of int, optional
    %(method_batch_size)s
    seed : int or None
        Seeds lime's sampling, restarted for every row (a row's weights do not
        depend on its position in the batch).

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``lime_explanations`` (raw ``lime.explanation.Explanation`` objects),
        ``feature_names``, ``class_names``, ``intercept``, ``score``.

    Raises
    ------
    ValueError
        Missing ``training_data``, or ``feature_names``/``class_names`` of the wrong length.

    Examples
    --------
    >>> exp = tlxp.explain(mlp, X_test[:1], 'lime_tabular', training_data=X_train[:1000])
    """
    n_features = int(np.prod(adapter.input_shape))
    if training_data is None:
        raise ValueError("training_data: method 'lime_tabular' needs the training set (an array (M, %s)) to learn "
                         "feature statistics, got None; pass explain(..., training_data=X_train) or "
                         "ModelExplainer(config={'lime_tabular': {'training_data': X_train}})"
                         % ", ".join(str(int(d)) for d in adapter.input_shape))
    train, _ = adapter.prepare(training_data, name="training_data")
    train = train.reshape(len(train), n_features)
    feature_names = _tabular_names(feature_names, n_features, "feature_names",
                                   ["f%d" % i for i in range(n_features)])
    n_classes = adapter.n_classes or adapter.predict(inputs[:1]).shape[1]
    class_names = _tabular_names(class_names, 1 if callable(targets) else n_classes, "class_names",
                                 [str(k) for k in range(1 if callable(targets) else n_classes)])
    num_features = positive_int("num_features", num_features)
    num_samples = positive_int("num_samples", num_samples)
    batch_size = positive_int("batch_size", batch_size or adapter.batch_size)
    seed = seed_value("seed", seed)
    categorical_features = _feature_indices(categorical_features, n_features)
    explainer = _lime_tabular.LimeTabularExplainer(
        train, mode="classification", feature_names=feature_names, class_names=class_names,
        categorical_features=categorical_features, discretize_continuous=discretize_continuous,
        kernel_width=kernel_width, random_state=seed)
    rows = inputs.reshape(len(inputs), n_features)
    out, raw, labels = np.zeros((len(rows), n_features)), [], []
    for i, row in enumerate(rows):
        target = targets if callable(targets) else int(targets[i])
        restart_stream(explainer, seed)
        label = 0 if callable(target) else target
        labels.append(label)
        predict_fn = score_function(adapter, target, batch_size, shape=(n_features,), all_scores=True)
        with warnings.catch_warnings(), small_blas():
            # LIME regresses whatever the adapter explains (logits by default), not only probabilities
            warnings.filterwarnings("ignore", message=r"\s*Prediction probabilties do not sum to 1")
            exp = explainer.explain_instance(row, predict_fn, labels=(label,), num_features=num_features,
                                             num_samples=num_samples)
        for feature, weight in exp.as_map()[label]:
            out[i, feature] = weight
        raw.append(exp)
    meta = {
        "lime_explanations": raw,
        "feature_names": feature_names,
        "class_names": class_names,
        "lime_labels": labels,
        "intercept": np.array([e.intercept[label] for e, label in zip(raw, labels)]),
        "score": np.array([e.score for e in raw]),
        "signed": True,
    }
    return out.reshape(inputs.shape).astype(np.float32), meta
