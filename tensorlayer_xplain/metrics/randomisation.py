"""Randomisation metrics: random logit (Sixt et al., 2020) and model parameter randomisation (Adebayo et al., 2018)."""
import numpy as np

from .._utils.docstrings import shared_docstring
from ..methods.registry import method_info
from ._common import _check_choice, _check_int, _check_seed, _spearman_rows
from ._maps import prepare_rows
from ._model_inputs import model_setup, reexplain, rerun_method
from .registry import register_metric, scored
from .sanity import _layer_stages, _randomize, explain_per_stage

__all__ = ["random_logit", "model_parameter_randomisation"]

#: Layer orders of :func:`model_parameter_randomisation` (Quantus's ``layer_order``).
LAYER_ORDERS = ("top_down", "bottom_up", "independent")
#: How :func:`model_parameter_randomisation` randomises a layer.
RANDOMISATIONS = ("permute", "normal")
#: Similarities :func:`model_parameter_randomisation` reports per layer; ``similarity`` picks the score.
SIMILARITIES = ("spearman", "ssim")


def ssim_rows(a, b, win_size=7):
    """Quantus's ``ssim`` on each pair of flattened rows, all rows at once.

    The formula of ``skimage.metrics.structural_similarity`` on 1-D arrays
    (uniform ``win_size`` window, reflected borders, sample covariance, K1 0.01,
    K2 0.03, the border ``(win_size - 1) // 2`` values left out of the mean),
    with Quantus's data range: max - min of the pair. One vectorised pass
    instead of one scikit-image call per row (equal to it within float
    rounding, checked against Quantus in the tests).

    Parameters
    ----------
    a, b : ndarray, shape (N, D)
        ``D >= win_size``.
    win_size : int

    Returns
    -------
    ndarray, shape (N,)
    """
    from scipy.ndimage import uniform_filter1d

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape[1] < win_size:
        raise ValueError("attributions: SSIM needs at least %d values per map, got %d" % (win_size, a.shape[1]))
    both = np.concatenate([a, b], axis=1)
    data_range = np.abs(both.max(axis=1) - both.min(axis=1))[:, None]

    def mean(v):
        return uniform_filter1d(v, win_size, axis=1, mode="reflect")

    cov_norm = win_size / (win_size - 1.0)
    ux, uy = mean(a), mean(b)
    vx = cov_norm * (mean(a * a) - ux * ux)
    vy = cov_norm * (mean(b * b) - uy * uy)
    vxy = cov_norm * (mean(a * b) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return s[:, pad:a.shape[1] - pad].mean(axis=1)


def off_classes(targets, num_classes, seed):
    """A random class other than each target, drawn as Quantus draws it after ``np.random.seed(seed)``."""
    index = np.random.RandomState(seed).randint(0, num_classes - 1, len(targets))
    return index + (index >= targets)


@register_metric("random_logit", direction="lower", family="randomisation")
@shared_docstring
def random_logit(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                 num_classes=None, seed=42, abs=False, normalise=True, batch_size=None):
    """Random logit: SSIM between the map of the explained class and the map of a random other class.

    Sixt, Granz & Landgraf (2020), "When Explanations Lie: Why Many Modified BP
    Attributions Fail", ICML. A method whose map hardly changes when another class
    is explained does not explain the class. Lower is better. The other classes
    of all inputs are re-explained in one batched call, with the explanation's
    method and parameters.

    Differences from ``quantus.RandomLogit`` (0.6.0): ``num_classes`` defaults to
    the model's number of outputs (Quantus's default is 1000, which picks classes
    a 10-class model does not have: pass ``num_classes=10`` to Quantus); the
    attributions are normalised per input (``normalise='batch'`` is Quantus's
    whole-batch normalisation). With the same ``seed`` the other classes are the
    ones Quantus draws (``np.random.seed(seed)`` then ``randint``), so the scores
    equal Quantus's.

    Parameters
    ----------
    %(metric_attributions)s
    %(metric_rerun)s
    num_classes : int, optional
        Number of classes to draw from (default: the model's outputs).
    seed : int
        Seed of the random classes (Quantus's default 42).
    abs : bool
        Absolute values first (Quantus's default False).
    normalise : bool or 'batch'
        Max normalisation of both maps (Quantus's default normalises).
    batch_size : int, optional
        Inputs per model call of the re-explanation.

    Returns
    -------
    MetricResult
        ``scores`` (N,) SSIM in [-1, 1], ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.random_logit(exp, model=model).scores   # doctest: +IGNORE_RESULT
    """
    seed = _check_seed(seed)
    adapter, x, targets, attr, exp_method = model_setup("random_logit", attributions, model, inputs, targets)
    method, params = rerun_method("random_logit", attributions, method, method_params, exp_method)
    if num_classes is None:
        num_classes = int(np.asarray(adapter.predict(x[:1])).shape[-1])
    num_classes = _check_int("num_classes", num_classes, 2)
    if (targets >= num_classes).any():
        raise ValueError("num_classes: expected more than the largest target (%d), got %d"
                         % (int(targets.max()), num_classes))
    other = off_classes(targets, num_classes, seed)
    exp = reexplain(adapter, x, method, other, batch_size, **params)
    rows = prepare_rows(attr, abs, normalise)
    perturbed = prepare_rows(np.asarray(exp.attributions, np.float64).reshape(len(x), -1), abs, normalise)
    return scored("random_logit", ssim_rows(rows, perturbed), method, num_classes=num_classes, seed=seed,
                  other_classes=other.tolist())


def _permute_layer(seed):
    """Quantus's TF randomisation: ``np.random.seed(seed + 1)`` per layer, each weight permuted along axis 0."""
    def randomize(_, variables):
        rng = np.random.RandomState(seed + 1)
        for var in variables:
            var.assign(rng.permutation(var.numpy()))
    return randomize


@register_metric("model_parameter_randomisation", direction="lower", family="randomisation")
@shared_docstring
def model_parameter_randomisation(attributions, model=None, inputs=None, targets=None, method=None,
                                  method_params=None, layer_order="top_down", similarity="spearman",
                                  randomisation="permute", seed=42, abs=True, normalise=True):
    """Model parameter randomisation test: similarity of the map to the maps of ever more randomised models.

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim (2018), "Sanity Checks for
    Saliency Maps", NeurIPS; ``quantus.MPRT`` (``ModelParameterRandomisation``).
    The layers with weights are randomised one after another, from the top
    (output) layer down (``'top_down'``, cascading), and after each layer the
    inputs are explained again with the same method and parameters (all inputs
    in one batched call per layer); the Spearman rank correlation and the SSIM
    between the original and the randomised map are recorded per layer and
    input (``details``). The score per input is the ``similarity`` after the
    last layer, i.e. of the fully randomised model (Quantus's
    ``return_last_correlation=True``); for ``'independent'`` (one layer at a
    time, the others trained) the mean over layers (Quantus's
    ``return_average_correlation=True``). Lower is better: a map that stays the
    same on a random model does not explain the model. ``n_layers``
    re-explanations per input. Extends
    :func:`~tensorlayer_xplain.metrics.randomization_sanity_check`, whose weight
    handling it shares: the model is left bit-identical, also on error.

    Differences from Quantus 0.6.0: Quantus returns ``{layer: scores}``
    (with an ``'original'`` entry comparing the map with a fresh explanation of
    the unchanged model); ``details['spearman']`` / ``details['ssim']`` hold
    those per layer. The SSIM is Quantus's ``quantus.ssim`` on the flattened
    maps (``similarity_func=quantus.ssim``), not a 2-D SSIM. Quantus randomises
    Keras models only (a clone, weights permuted); here TensorLayer models too,
    in place and restored.

    Parameters
    ----------
    %(metric_attributions)s
    %(metric_rerun)s
    layer_order : {'top_down', 'bottom_up', 'independent'}
        Cascading from the output layer (default, as Quantus and the paper),
        cascading from the input layer, or one layer at a time (in Quantus's
        order, input layer first).
    similarity : {'spearman', 'ssim'}
        Which similarity the score is (both are in ``details``); Quantus's
        default is the Spearman rank correlation.
    randomisation : {'permute', 'normal'}
        Permute each weight tensor along its first axis with
        ``np.random.RandomState(seed + 1)`` per layer (Quantus's TensorFlow
        randomisation, default), or draw kernels from N(0, their std) and shuffle
        vectors (:func:`~tensorlayer_xplain.metrics.randomization_sanity_check`'s).
    seed : int
        Seed of the randomisation (Quantus's default 42); also the method's
        ``seed`` when it takes one and none is given.
    %(metric_preprocess)s
        Quantus's defaults: ``abs=True``, ``normalise=True`` (no effect on the
        rank correlation).

    Returns
    -------
    MetricResult
        ``scores`` (N,) (NaN where a map is constant), ``direction`` 'lower',
        ``details``: ``layers`` (randomised in this order), ``spearman`` and
        ``ssim`` ``(n_layers, N)``.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> res = tlxp.metrics.model_parameter_randomisation(exp, model=model)
    >>> res.details['layers'], res.details['spearman'].mean(axis=1)   # doctest: +IGNORE_RESULT
    """
    layer_order = _check_choice("layer_order", layer_order, LAYER_ORDERS)
    similarity = _check_choice("similarity", similarity, SIMILARITIES)
    randomisation = _check_choice("randomisation", randomisation, RANDOMISATIONS)
    seed = _check_seed(seed)
    adapter, x, targets, attr, exp_method = model_setup("model_parameter_randomisation", attributions, model, inputs,
                                                        targets)
    method, params = rerun_method("model_parameter_randomisation", attributions, method, method_params, exp_method)
    if "seed" in method_info(method).parameters:
        params.setdefault("seed", seed)
    if adapter.kind == "callable":
        raise TypeError("model: model_parameter_randomisation needs a TensorLayer or Keras model with weights, "
                        "got a plain callable")
    stages = _layer_stages(adapter)
    if layer_order != "top_down":
        stages = stages[::-1]
    if randomisation == "permute":
        randomize = _permute_layer(seed)
    else:
        rng = np.random.default_rng(seed)
        randomize = lambda _, variables: _randomize(variables, rng)  # noqa: E731
    rows = prepare_rows(attr, abs, normalise)
    spearman, ssim = [], []

    def compare(_, original, randomized):
        other = prepare_rows(np.asarray(randomized.attributions, np.float64).reshape(len(x), -1), abs, normalise)
        spearman.append(_spearman_rows(rows, other, identical=None))
        ssim.append(ssim_rows(rows, other))

    _, layers = explain_per_stage(adapter, x, method, targets, params,
                                  "independent" if layer_order == "independent" else "cascading", randomize,
                                  compare, stages)
    per_layer = np.asarray(spearman if similarity == "spearman" else ssim)
    scores = per_layer.mean(axis=0) if layer_order == "independent" else per_layer[-1]
    return scored("model_parameter_randomisation", scores, method,
                  details={"layers": layers, "spearman": np.asarray(spearman), "ssim": np.asarray(ssim)},
                  layer_order=layer_order, similarity=similarity, randomisation=randomisation, seed=seed)
