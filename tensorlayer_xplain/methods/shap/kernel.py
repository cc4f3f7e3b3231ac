"""KernelSHAP (``shap.KernelExplainer``) over flat features or superpixels.

Lundberg & Lee (2017). Registered as ``shap_kernel``; see :mod:`~tensorlayer_xplain.methods.shap`
for the SHAP family as a whole.
"""
import numpy as np

from ..._utils.docstrings import shared_docstring
from .._engine.background import check_background, subsample
from .._engine.blackbox import global_numpy_seed, score_function, target_groups
from .._engine.blocks import host_rows
from .._engine.checks import positive_int, seed_value
from .._engine.segmentation import SEGMENTATION_RANGES, segments_to_pixels
from .._ranges import BACKGROUND
from ..costs import background_rows
from ..registry import COUNT, TrainingRows, register_method
from ._common import _additivity, _granularity, _model_outputs, _segmentations, _spatial_to_input, import_shap

__all__ = ["shap_kernel"]


# ----------------------------------------------------------------------------- kernel
def _kernel_features(adapter, x, targets, background, nsamples, l1_reg, batch_size):
    """KernelSHAP over the flat input values: (N, D) values and (N,) expected values."""
    shap = import_shap()

    n_features = int(np.prod(adapter.input_shape))
    flat, bg = x.reshape(len(x), n_features), background.reshape(len(background), n_features)
    values, expected = np.zeros(flat.shape), np.zeros(len(flat))
    for target, index in target_groups(targets, len(flat)):
        f = score_function(adapter, target, batch_size, shape=(n_features,))
        explainer = shap.KernelExplainer(f, bg)
        values[index] = np.asarray(explainer.shap_values(flat[index], nsamples=nsamples, l1_reg=l1_reg,
                                                         silent=True)).reshape(len(index), n_features)
        expected[index] = float(np.ravel(explainer.expected_value)[0])
    return values.reshape(x.shape), expected


def _superpixel_game(adapter, image, target, seg, background_images, batch_size):
    """v(z) = E_b f(image where z keeps a superpixel, else the background image b), for z in {0,1}^S."""
    f_image = score_function(adapter, target, batch_size)
    m = len(background_images)
    rows_per_call = max(1, host_rows(4 * batch_size, image.nbytes) // m)  # mixed images at most BLOCK_BYTES

    def v(z):
        z = np.asarray(z) > 0.5
        out = np.empty(len(z))
        for start in range(0, len(z), rows_per_call):
            block = z[start:start + rows_per_call]
            keep = block[:, seg][..., None]  # (b, H, W, 1)
            mixed = np.where(keep[:, None], image[None, None], background_images[None])  # (b, M, H, W, C)
            out[start:start + len(block)] = f_image(mixed.reshape((-1,) + image.shape)).reshape(len(block), m).mean(1)
        return out

    return v


def _kernel_superpixels(adapter, images, targets, background, segs, nsamples, l1_reg, batch_size):
    """KernelSHAP over superpixels (expectation over the background).

    Returns (N, H, W) pixel maps, (N,) expected values and, per input and scale, the superpixel values.
    """
    shap = import_shap()

    bg_images = adapter.to_image(background).astype(np.float32)
    maps, expected, segment_values = np.zeros(images.shape[:3]), np.zeros(len(images)), []
    for i, image in enumerate(images):
        target = targets if callable(targets) else int(targets[i])
        per_scale, bases = [], []
        segment_values.append([])
        for seg in segs[i]:
            n_seg = int(seg.max()) + 1
            explainer = shap.KernelExplainer(_superpixel_game(adapter, image, target, seg, bg_images, batch_size),
                                             np.zeros((1, n_seg)))
            phi = np.asarray(explainer.shap_values(np.ones((1, n_seg)), nsamples=nsamples, l1_reg=l1_reg,
                                                   silent=True)).reshape(n_seg)
            per_scale.append(segments_to_pixels(phi, seg, spread="divide"))
            segment_values[-1].append(phi)
            bases.append(float(np.ravel(explainer.expected_value)[0]))
        maps[i], expected[i] = np.mean(per_scale, axis=0), np.mean(bases)
    return maps, expected, segment_values


def _cost(adapter, n, nsamples, background, max_background, granularity, n_segments, **_):
    """Coalitions per input (one game per scale) times the background rows each is scored with."""
    h, w, _ = adapter.image_shape
    if granularity == "feature" or (granularity == "auto" and min(h, w) == 1):
        scales = (int(np.prod(adapter.input_shape)),)  # one game over the input values
    else:
        scales = tuple(n_segments) if isinstance(n_segments, (tuple, list)) else (n_segments,)  # one per scale
    coalitions = sum(2 * m + 2048 if nsamples == "auto" else int(nsamples) for m in scales)
    return n * coalitions * max(1, background_rows(background, max_background)), 0


@register_method("shap_kernel", signed=True, family="shap", cost=_cost, figure="shap_visualization",
                 ranges=dict(SEGMENTATION_RANGES, nsamples=COUNT, max_background=COUNT, background=BACKGROUND),
                 benchmark={"full": {"background": TrainingRows(100)},
                            "quick": {"background": TrainingRows(20), "nsamples": 300, "max_background": 5},
                            "images": {"full": 8, "quick": 2}, "inputs": "flat",
                            "work": ("nsamples", "max_background")})
@shared_docstring
def shap_kernel(adapter, inputs, targets, background=None, nsamples="auto", granularity="auto", max_background=20,
                l1_reg=False, segmentation="slic", n_segments=40, compactness=0.1, batch_size=None, seed=0):
    """KernelSHAP (``shap.KernelExplainer``) over flat features or superpixels; exactly additive.

    Lundberg & Lee (2017). Model-agnostic: a weighted linear regression on
    coalitions of features, with removed features drawn from ``background``.

    Parameters
    ----------
    %(method_inputs)s
    background : array-like, shape (M, *input_shape)
        Required: reference inputs; the expected value is ``E f(background)``.
    nsamples : int or 'auto'
        Coalitions per input (shap's 'auto' = ``2 * n_features + 2048``).
    granularity : {'auto', 'feature', 'superpixel'}
        'feature': every input value is a player (tabular / flat inputs);
        'superpixel': superpixels are players, removed ones replaced by each background
        image in turn (cost: ``nsamples * M`` model calls per input); 'auto': 'superpixel'
        for inputs drawn as 2-D images, 'feature' otherwise.
    max_background : int
        Background rows kept (a seeded subsample), since cost grows with them.
    l1_reg : False, float or str
        shap's ``l1_reg``; False (default) estimates every feature's value.
    %(method_superpixels)s
    %(method_batch_size)s
    seed : int or None
        Seeds shap's coalition sampling and the background subsample.

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``expected_value``, ``model_output``, ``additivity_gap`` (N,), ``granularity``; with superpixels
        also ``segments`` and ``segment_values`` (per input, per scale: labels and Shapley values).

    Examples
    --------
    >>> exp = tlxp.explain(mlp, X_test[:2], 'shap_kernel', background=X_train[:20], granularity='feature',
    ...                    nsamples=200, max_background=5)
    >>> exp.attributions.shape
    (2, 28, 28, 1)
    """
    background = check_background(adapter, background, "shap_kernel")
    seed = seed_value("seed", seed)
    background = subsample(background, positive_int("max_background", max_background), seed)
    batch_size = positive_int("batch_size", batch_size or adapter.batch_size)
    if nsamples != "auto":
        nsamples = positive_int("nsamples", nsamples, minimum=2)
    h, w, _ = adapter.image_shape
    if granularity == "auto":
        granularity = "superpixel" if min(h, w) > 1 else "feature"
    _granularity(granularity, ("feature", "superpixel"))
    extra = {"granularity": granularity}
    with global_numpy_seed(seed):
        if granularity == "feature":
            values, expected = _kernel_features(adapter, inputs, targets, background, nsamples, l1_reg, batch_size)
        else:
            images = adapter.to_image(inputs).astype(np.float32)
            extra["segments"] = segs = _segmentations(images, segmentation, n_segments, compactness, seed)
            maps, expected, extra["segment_values"] = _kernel_superpixels(
                adapter, images, targets, background, segs, nsamples, l1_reg, batch_size)
            values = _spatial_to_input(maps, adapter)
    outputs = _model_outputs(adapter, inputs, targets, batch_size)
    return values.astype(np.float32), _additivity(values, expected, outputs, **extra)
