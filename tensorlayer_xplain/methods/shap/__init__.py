"""SHAP for TensorLayer models: expected gradients, Partition, Kernel and Deep explainers.

Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions", NeurIPS;
Erion et al. (2021), "Improving performance of deep learning models with axiomatic
attribution priors and expected gradients", Nature Machine Intelligence.

Registered methods (all return signed attributions whose sum plus
``meta['expected_value']`` approximates ``meta['model_output']``):

``shap`` (expected gradients)
    The algorithm of ``shap.GradientExplainer``, run as one batched, compiled
    gradient step through :meth:`ModelAdapter.gradients` instead of one call per
    input and per output. It draws the *same* random numbers as
    ``GradientExplainer(...).shap_values(..., rseed=seed)`` and gives the same values
    (``implementation='shap'`` runs ``shap`` itself, for comparison).
``shap_partition``
    ``shap.PartitionExplainer`` (Owen values over a hierarchy of pixels with
    ``shap.maskers.Image``: blur or inpaint), or over superpixels; exactly additive.
``shap_kernel``
    ``shap.KernelExplainer`` over flat features (tabular / flat inputs) or over
    superpixels; expectations over a ``background`` set; exactly additive.
``shap_deep``
    ``shap.DeepExplainer`` (DeepLIFT rescale rule) on the TL model wrapped as a
    Keras model. Tested under TF 2.21 / Keras 3 on TL static and dynamic models
    built from Dense, Conv2d, MaxPool2d, Flatten, Dropout (eval mode), ReLU and
    softmax outputs: additive to ~1e-7. It is kept because it is reliable *there*,
    with guards for where ``shap`` is not: (1) ``shap`` fails half-way on any op it
    has no rule for (self-attention's ``BatchMatMulV2``, GELU's ``Erfc``...) and then
    leaves TensorFlow's gradient recording patched, breaking every later gradient
    in the process; we check the model's ops first (:func:`deep_unsupported_ops`)
    and raise a clear ``ValueError`` instead, and restore TF's recording in
    ``finally`` regardless; (2) ``shap`` patches TF's global gradient registry
    while it runs, so ``shap_deep`` calls are serialized by a lock, but gradients
    computed concurrently in *other* threads could see the patch: do not run
    ``shap_deep`` next to other gradient work in a multi-threaded server; (3) one
    ``tf.function`` is traced per explained class.

Granularity: ``'pixel'`` or ``'superpixel'`` (segments from
:mod:`~tensorlayer_xplain.methods._engine.segmentation`; a superpixel's value is spread
evenly over its pixels, so sums are preserved). Passing two segment counts,
``n_segments=(20, 60)``, explains at both scales and averages the pixel maps
(the multi-scale recipe of the SHAP image guidance); additivity still holds.

Seeds: methods that draw random numbers take ``seed``; ``shap`` draws from numpy's
global stream, so it is seeded for the call and the caller's global state is
restored afterwards.
"""
import functools

import numpy as np

from ..._utils.docstrings import shared_docstring
from .._engine.background import MASKER, check_background, parse_masker, replacement_images
from .._engine.blackbox import global_numpy_seed, score_function, target_groups
from .._engine.blocks import host_rows
from .._engine.checks import positive_int, seed_value
from .._engine.segmentation import SEGMENTATION_RANGES, compose, segment_centroids, segments_to_pixels
from .._ranges import BACKGROUND
from ..costs import background_rows, per_input
from ..registry import COUNT, Range, TrainingRows, register_method
from ._common import (
    GRANULARITIES,
    _additivity,
    _expected_values,
    _granularity,
    _model_outputs,
    _pool_to_superpixels,
    _segmentations,
    _spatial_to_input,
    import_shap,
    keras_model,
)
from .deep import deep_unsupported_ops, shap_deep
from .kernel import shap_kernel

__all__ = ["shap_expected_gradients", "shap_partition", "shap_kernel", "shap_deep", "keras_model",
           "deep_unsupported_ops", "GRANULARITIES"]


# ----------------------------------------------------------------------------- expected gradients
def _eg_draws(rs, n_samples, n_background, sample_shape, local_smoothing):
    """One input's draws, in the order ``shap.GradientExplainer`` makes them: index, t, (noise)."""
    index = np.empty(n_samples, np.int64)
    t = np.empty(n_samples, np.float64)
    noise = np.zeros((n_samples,) + sample_shape, np.float64) if local_smoothing > 0 else None
    for k in range(n_samples):
        index[k] = rs.choice(n_background)
        t[k] = rs.uniform()
        if noise is not None:
            noise[k] = rs.randn(*sample_shape) * local_smoothing
    return index, t, noise


def _eg_points(x, ref, t, noise):
    """Path points ``t x + (1 - t) b`` and deltas ``x - b``, float32, computed as ``shap.GradientExplainer`` does.

    shap multiplies each point's Python-float ``t`` with the float32 input and
    background, so without noise the arithmetic is float32 (``t`` and ``1 - t``
    rounded to float32 first); with noise the input becomes float64 and the point
    is computed in float64, then stored as float32. Matching this, not just the
    draws, keeps the values equal to shap's to float precision (float64 points
    rounded once differ by an ulp, which a ReLU or max-pool can turn into a
    different gradient).

    Parameters
    ----------
    x : ndarray, float32, shape (*input_shape)
    ref : ndarray, float32, shape (S, *input_shape)
        The drawn background rows.
    t : ndarray, float64, shape (S,)
    noise : ndarray, float64, shape (S, *input_shape), or None

    Returns
    -------
    points, deltas : ndarray, float32, shape (S, *input_shape)
    """
    t = t.reshape((-1,) + (1,) * x.ndim)
    if noise is None:
        xj = x[None]
        points = t.astype(np.float32) * xj + (1.0 - t).astype(np.float32) * ref
    else:
        xj = x[None] + noise  # float64, as shap's ``X[j] + randn(...) * local_smoothing``
        points = t * xj + (1.0 - t) * ref
    return points.astype(np.float32), (xj - ref).astype(np.float32)


def _eg_compiled(adapter, x, targets, background, n_samples, seed, local_smoothing, batch_size):
    """Expected gradients as batched compiled gradients: (N, *input_shape), float64 holding float32 means."""
    rs = np.random.RandomState(seed)
    shape = tuple(adapter.input_shape)
    x = np.asarray(x, np.float32)
    background = np.asarray(background, np.float32)
    per_chunk = max(1, host_rows(8 * batch_size, 4 * int(np.prod(shape))) // n_samples)  # points held at once
    out = np.zeros((len(x),) + shape, np.float64)
    for start in range(0, len(x), per_chunk):
        rows = range(start, min(len(x), start + per_chunk))
        points, deltas = [], []
        for j in rows:
            index, t, noise = _eg_draws(rs, n_samples, len(background), shape, local_smoothing)
            p, d = _eg_points(x[j], background[index], t, noise)
            points.append(p)
            deltas.append(d)
        chunk_targets = targets if callable(targets) else np.repeat(targets[list(rows)], n_samples)
        grads = adapter.gradients(np.concatenate(points), chunk_targets, batch_size=batch_size)
        products = np.asarray(grads, np.float32) * np.concatenate(deltas)  # float32, as shap's grad * delta
        out[list(rows)] = products.reshape((len(rows), n_samples) + shape).mean(axis=1)
    return out


def _eg_with_shap(adapter, x, targets, background, n_samples, seed, local_smoothing, batch_size):
    """Expected gradients by ``shap.GradientExplainer`` itself (for comparisons)."""
    shap = import_shap()

    if callable(targets):
        raise ValueError("targets: implementation='shap' explains class indices only, got a callable")
    explainer = shap.GradientExplainer(keras_model(adapter), background, batch_size=batch_size,
                                       local_smoothing=local_smoothing)
    with adapter.inference_mode(), global_numpy_seed(seed):
        values, _ = explainer.shap_values(x, nsamples=n_samples, ranked_outputs=np.asarray(targets)[:, None],
                                          output_rank_order="custom", rseed=seed)
    return np.asarray(values)[..., 0]


def _expected_gradients_cost(adapter, n, n_samples, background, **_):
    """``n_samples`` gradients per input, plus the background's forward pass once."""
    return n * n_samples + background_rows(background), n * n_samples


@register_method("shap", aliases=("expected_gradients", "shap_gradient"), signed=True, family="shap",
                 cost=_expected_gradients_cost, figure="shap_visualization",
                 ranges=dict(SEGMENTATION_RANGES, n_samples=COUNT, background=BACKGROUND,
                             local_smoothing=Range(0.0, 10.0)),
                 benchmark={"full": {"background": TrainingRows(100)},
                            "quick": {"background": TrainingRows(20), "n_samples": 50},
                            "work": ("n_samples", "background")})
@shared_docstring
def shap_expected_gradients(adapter, inputs, targets, background=None, n_samples=200, seed=0, local_smoothing=0.0,
                            granularity="pixel", segmentation="slic", n_segments=40, compactness=0.1,
                            implementation="compiled", batch_size=None):
    """SHAP values by expected gradients (``shap.GradientExplainer``'s algorithm, batched and compiled).

    Erion et al. (2021); Lundberg & Lee (2017). For each input ``x``, ``n_samples``
    points ``b + t (x - b)`` with ``b`` drawn from ``background`` and ``t ~ U(0, 1)``;
    the attribution is the mean of ``grad f(point) * (x - b)``. Its sum tends to
    ``f(x) - E f(background)`` as ``n_samples`` grows.

    Parameters
    ----------
    %(method_inputs)s
    background : array-like, shape (M, *input_shape) or images (M, H, W, C)
        Required: reference inputs (e.g. 100 training samples), usually given once in
        ``ModelExplainer(config={'shap': {'background': X_train[:100]}})``.
    n_samples : int
        Points per input.
    seed : int or None
        Same seed, same values; the draws equal ``shap_values(..., rseed=seed)``'s.
    local_smoothing : float
        Std of Gaussian noise added to the input per point (shap's ``local_smoothing``).
    granularity : {'pixel', 'superpixel'}
        'superpixel' sums pixel values per segment and spreads them evenly.
    %(method_superpixels)s
    implementation : {'compiled', 'shap'}
        'compiled' (default): one batched ``tf.function`` gradient step; 'shap':
        ``shap.GradientExplainer`` on the model wrapped as Keras (same values, slower).
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``expected_value`` (N,), ``model_output`` (N,), ``additivity_gap`` (N,); with superpixels
        also ``segments`` (per input, one label map per scale) and ``pixel_values`` (before pooling).

    Examples
    --------
    >>> exp = tlxp.explain(cnn, X_test[:4], 'shap', background=X_train[:100], seed=0)
    >>> exp.meta['expected_value'].shape
    (4,)
    """
    background = check_background(adapter, background, "shap")
    n_samples = positive_int("n_samples", n_samples)
    batch_size = positive_int("batch_size", batch_size or adapter.batch_size)
    seed = seed_value("seed", seed)
    _granularity(granularity, GRANULARITIES)
    if implementation == "compiled":
        values = _eg_compiled(adapter, inputs, targets, background, n_samples, seed, float(local_smoothing),
                              batch_size)
    elif implementation == "shap":
        values = _eg_with_shap(adapter, inputs, targets, background, n_samples, seed, float(local_smoothing),
                               batch_size)
    else:
        raise ValueError("implementation: expected 'compiled' or 'shap', got %r" % (implementation,))
    extra = {}
    if granularity == "superpixel":
        extra["segments"] = segs = _segmentations(adapter.to_image(inputs), segmentation, n_segments, compactness,
                                                  seed)
        extra["pixel_values"] = values
        values = _pool_to_superpixels(values, adapter, segs)
    expected = _expected_values(adapter, background, targets, len(inputs), batch_size)
    outputs = _model_outputs(adapter, inputs, targets, batch_size)
    return values.astype(np.float32), _additivity(values, expected, outputs, **extra)


# ----------------------------------------------------------------------------- partition
@functools.lru_cache(maxsize=4)
def _image_partition_tree(shape):
    """``shap.maskers.Image``'s pixel hierarchy for an image shape (read-only).

    It depends on the shape alone, and shap rebuilt it for every masker: 2-4 s per
    224x224x3 image on the benchmark machine, more than the 65 forward passes of
    MobileNetV1 it organises. Kept for the last 4 shapes (4.8 MB each at 224x224x3).
    """
    shap = import_shap()
    tree = shap.maskers.Image(0.0, shape).clustering
    tree.setflags(write=False)
    return tree


def _exact_image_masker(spec, shape):
    """``shap.maskers.Image`` whose inpainting leaves unmasked pixels exact (shap rounds the whole image to uint8)."""
    shap = import_shap()

    class ExactImageMasker(shap.maskers.Image):
        def build_partition_tree(self):
            self.clustering = _image_partition_tree(tuple(int(n) for n in self.input_shape))

        def inpaint(self, x, mask, method):
            out = np.array(super().inpaint(x, mask, method), dtype=x.dtype)
            keep = ~np.broadcast_to(mask.reshape(self.input_shape).max(axis=2, keepdims=True),
                                    self.input_shape).ravel()
            out[keep] = x[keep]
            return out

    return ExactImageMasker(spec, shape)


def _partition_pixels(adapter, images, target, masker, max_evals, batch_size):
    """Owen values over ``shap.maskers.Image``'s pixel hierarchy: values (n, H, W, C), base values (n,)."""
    shap = import_shap()

    f = score_function(adapter, target, batch_size)
    scale = 1.0
    if isinstance(masker, str) and masker.startswith("inpaint"):
        # OpenCV inpainting works on 8-bit images: explain a [0, 255]-scaled copy, unscale inside f
        scale = 255.0 / max(float(np.abs(images).max()), 1e-12)
        unscaled = f
        f = lambda z: unscaled(np.asarray(z) / scale)  # noqa: E731
    image_masker = _exact_image_masker(masker, images.shape[1:])
    explainer = shap.PartitionExplainer(f, image_masker)
    result = explainer(images * scale, max_evals=max_evals, batch_size=batch_size, silent=True)
    return np.asarray(result.values), np.asarray(result.base_values).reshape(-1), result


def _superpixel_hierarchy(segments):
    """A Ward linkage over segment centroids: nearby superpixels merge first (as the Image masker's tree)."""
    from scipy.cluster.hierarchy import linkage

    return linkage(segment_centroids(segments), method="ward")


def _partition_superpixels(adapter, image, target, segs, replacement, max_evals, batch_size):
    """Owen values over superpixels, one explainer per scale: pixel map (H, W), base value."""
    shap = import_shap()

    maps, bases, raw = [], [], []
    f_image = score_function(adapter, target, batch_size)
    for seg in segs:
        n_seg = int(seg.max()) + 1

        def f(z, seg=seg):
            return f_image(compose(z, seg, image, replacement))

        if n_seg == 1:  # one player takes all: f(x) - f(replacement)
            base, full = f(np.array([[0.0], [1.0]]))
            maps.append(segments_to_pixels(np.array([full - base]), seg, spread="divide"))
            bases.append(float(base))
            raw.append(None)
            continue
        masker = shap.maskers.Partition(np.zeros((1, n_seg)), clustering=_superpixel_hierarchy(seg))
        result = shap.PartitionExplainer(f, masker)(np.ones((1, n_seg)), max_evals=max_evals,
                                                    batch_size=batch_size, silent=True)
        maps.append(segments_to_pixels(np.asarray(result.values)[0], seg, spread="divide"))
        bases.append(float(np.ravel(result.base_values)[0]))
        raw.append(result)
    return np.mean(maps, axis=0), float(np.mean(bases)), raw


@register_method("shap_partition", signed=True, family="shap", cost=per_input("max_evals"), figure="shap_visualization",
                 ranges=dict(SEGMENTATION_RANGES, max_evals=COUNT, masker=MASKER),
                 benchmark={"quick": {"max_evals": 100}, "images": {"full": 16, "quick": 4}, "work": ("max_evals",)})
@shared_docstring
def shap_partition(adapter, inputs, targets, masker="blur", max_evals=500, batch_size=None, granularity="pixel",
                   segmentation="slic", n_segments=40, compactness=0.1, seed=0):
    """SHAP (Owen) values with ``shap.PartitionExplainer``: model-agnostic, exactly additive.

    Lundberg & Lee (2017); the Partition explainer of the ``shap`` package. Removed
    pixels are blurred (or inpainted, or set to a constant); the explanation is
    computed over a hierarchy of pixel blocks (``shap.maskers.Image``) or of superpixels.

    Parameters
    ----------
    %(method_inputs)s
    masker : str or float
        ``'blur'`` (box blur over a quarter of the image side), ``'blur(kx,ky)'``,
        ``'inpaint_telea'``, ``'inpaint_ns'`` (pixel granularity only) or a constant.
    max_evals : int
        Model evaluations per input (shap's budget; more = finer).
    batch_size : int, optional
        Masked images per model call (passed to shap and to the adapter).
    granularity : {'pixel', 'superpixel'}
    %(method_superpixels)s
    seed : int or None
        Seeds shap's tie-breaking draws (numpy's global stream, restored afterwards).

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``expected_value`` (N,) — the score of the fully masked input —, ``model_output``,
        ``additivity_gap``, ``shap_explanations`` (the raw ``shap.Explanation`` objects; per scale
        with superpixels) and, with superpixels, ``segments`` (per input, one label map per scale).

    Examples
    --------
    >>> exp = tlxp.explain(cnn, X_test[:2], 'shap_partition', max_evals=1000)
    """
    _granularity(granularity, GRANULARITIES)
    max_evals = positive_int("max_evals", max_evals, minimum=3)
    # masked images shap builds at once: batch_size, at most BLOCK_BYTES
    batch_size = host_rows(positive_int("batch_size", batch_size or adapter.batch_size),
                           4 * int(np.prod(adapter.image_shape)))
    seed = seed_value("seed", seed)
    images = adapter.to_image(inputs).astype(np.float32)
    spec = parse_masker(masker, adapter.image_shape, allow_inpaint=granularity == "pixel")
    maps = np.zeros(images.shape, np.float64)
    expected = np.zeros(len(images))
    raw = [None] * len(images)
    extra = {}
    with global_numpy_seed(seed):
        if granularity == "pixel":
            for target, index in target_groups(targets, len(images)):
                values, bases, result = _partition_pixels(adapter, images[index], target, spec, max_evals,
                                                          batch_size)
                maps[index] = values.reshape(images[index].shape)
                expected[index] = bases
                for k, i in enumerate(index):
                    raw[i] = result[k]
            values = maps.reshape(inputs.shape)
        else:
            extra["segments"] = segs = _segmentations(images, segmentation, n_segments, compactness, seed)
            replacements = replacement_images(images, spec)
            spatial = np.zeros(images.shape[:3])
            for i in range(len(images)):
                target = targets if callable(targets) else int(targets[i])
                spatial[i], expected[i], raw[i] = _partition_superpixels(
                    adapter, images[i], target, segs[i], replacements[i], max_evals, batch_size)
            values = _spatial_to_input(spatial, adapter)
    outputs = _model_outputs(adapter, inputs, targets, batch_size)
    return values.astype(np.float32), _additivity(values, expected, outputs, shap_explanations=raw, **extra)
