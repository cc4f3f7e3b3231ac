"""Noise tunnel: SmoothGrad and VarGrad, the mean and variance of any registered method over noisy copies.

The (input, sample) pairs go in large blocks to the base method through the
registry; the noise patterns depend only on ``(seed, sample)`` (:mod:`._sampling`).
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from ._engine.blocks import block_rows, row_bytes, run_blocks
from ._engine.checks import non_negative, positive_int, seed_value
from ._engine.sampling import block_normal, noise_scale, pair_index, segment_add
from .costs import estimate_cost
from .registry import COUNT, Range, check_params, method_info, register_method

__all__ = ["smoothgrad", "vargrad"]


def _split(result):
    """A method's result as ``(attributions, meta)``."""
    return result if isinstance(result, tuple) else (result, {})


def _rows(targets, index):
    """Targets of the pairs ``index``: the callable itself, or the gathered class indices."""
    return targets if callable(targets) else np.asarray(targets)[index]


def _expand(values, ndim):
    """``values`` (B,) reshaped to broadcast against a (B, ...) array of ``ndim`` dimensions."""
    return np.asarray(values, np.float32).reshape((-1,) + (1,) * (ndim - 1))


def _base_method(base_method, base_params, batch_size, seed, caller):
    """Resolve the wrapped method through the registry and the parameters it runs with."""
    if not isinstance(base_method, str):
        raise TypeError("base_method: expected a registered method name (str), got %r" % (base_method,))
    spec = method_info(base_method)
    if spec.name in ("smoothgrad", "vargrad"):
        raise ValueError("base_method: %s cannot wrap %r (noise over noise); pick a base attribution method"
                         % (caller, spec.name))
    if base_params is not None and not isinstance(base_params, dict):
        raise TypeError("base_params: expected a dict of %r parameters, got %r" % (spec.name, base_params))
    params = dict(base_params or {})
    check_params(spec.name, params)
    if "batch_size" in spec.parameters and batch_size is not None:
        params.setdefault("batch_size", batch_size)
    if "seed" in spec.parameters and seed is not None:
        params.setdefault("seed", seed)
    return spec, params


def _noise_tunnel(adapter, x, targets, base_method, n_samples, noise_level, seed, batch_size, base_params,
                  caller, variance=False):
    """Mean and variance of ``base_method`` over ``n_samples`` Gaussian-noised copies of each input.

    Noisy copy ``j`` of input ``i`` is ``x_i + sigma_i * z_j``: the ``n_samples``
    standard normal patterns ``z_j`` depend only on ``(seed, j)`` and serve every
    input (each input still averages over independent draws), so drawing them
    costs ``n_samples`` draws, not ``N * n_samples``, and no result depends on
    ``batch_size``. The (input, sample) pairs go in blocks (at most
    :data:`~._graph.BLOCK_BYTES` of inputs) to the base method through the
    registry, which batches them by ``batch_size``.

    Returns
    -------
    mean, var : ndarray, float32, shape (N, ...) as the base method's output (var None unless ``variance``)
    spec : MethodSpec of the base method
    signed : bool
        Whether the base method's attributions are signed.
    """
    n_samples = positive_int("n_samples", n_samples)
    noise_level = non_negative("noise_level", noise_level)
    seed = seed_value("seed", seed)
    spec, params = _base_method(base_method, base_params, batch_size, seed, caller)
    x = np.asarray(x, np.float32)
    sigma = noise_scale(x, noise_level)
    sums = {}
    signed = [spec.signed]
    i_all, j_all = pair_index(len(x), n_samples)

    def run(start, stop, piece):
        ib, jb = i_all[start:stop], j_all[start:stop]
        used, local = np.unique(jb, return_inverse=True)
        patterns = block_normal(seed, used, x.shape[1:])
        noisy = x[ib] + _expand(sigma[ib], x.ndim) * patterns[local]
        attr, meta = _split(spec.fn(adapter, noisy, _rows(targets, ib), **params))
        attr = np.asarray(attr, np.float32)  # summed per input in float32, accumulated in float64
        signed[0] = bool(meta.get("signed", spec.signed))
        if not sums:
            sums["s1"] = np.zeros((len(x),) + attr.shape[1:])
            sums["s2"] = np.zeros((len(x),) + attr.shape[1:]) if variance else None
        segment_add(sums["s1"], ib, attr)
        if variance:
            segment_add(sums["s2"], ib, attr * attr)

    # blocks of noisy copies as large as the base method's compiled calls take
    run_blocks(len(i_all), block_rows(adapter.batch_rows(batch_size, backward=True), row_bytes(x)), 1, run)
    mean = sums["s1"] / n_samples
    var = np.maximum(sums["s2"] / n_samples - mean * mean, 0.0).astype(np.float32) if variance else None
    return mean.astype(np.float32), var, spec, signed[0]


def _cost(adapter, n, base_method, n_samples, base_params=None, **_):
    """The base method's cost on ``n * n_samples`` noisy copies."""
    if not isinstance(base_method, str) or method_info(base_method).name in ("smoothgrad", "vargrad"):
        return n * n_samples, n * n_samples  # the method itself rejects these
    base = estimate_cost(adapter, base_method, n * n_samples, **dict(base_params or {}))
    return base.forward, base.backward


#: Declarations shared by SmoothGrad and VarGrad (same noise, same parameters).
_DECLARED = {"family": "gradient", "cost": _cost, "batchable": False,
             "ranges": {"n_samples": COUNT, "noise_level": Range(0.0, 10.0, note="x the input's value range")},
             "benchmark": {"quick": {"n_samples": 8}, "work": ("n_samples",)}}


@register_method("smoothgrad", **_DECLARED)
@shared_docstring
def smoothgrad(adapter, inputs, targets, base_method="gradient", n_samples=32, noise_level=0.15, seed=0,
               batch_size=None, base_params=None):
    """SmoothGrad: the mean of a base method over Gaussian-noised copies of the input.

    Smilkov, Thorat, Kim, Viegas & Wattenberg (2017), "SmoothGrad: removing
    noise by adding noise". Noise has standard deviation ``noise_level`` times the
    input's value range. Any registered method can be smoothed:
    ``base_method='integrated_gradients'`` or ``'gradcam'`` is one parameter.
    With the default base (``gradient``, ``absolute=True``) this averages
    ``|grad|``, as Captum's ``NoiseTunnel(Saliency)`` does; pass
    ``base_params={'absolute': False}`` to average signed gradients.

    Parameters
    ----------
    %(method_inputs)s
    %(method_noise_tunnel)s

    Returns
    -------
    attributions : ndarray, float32, shape of the base method's output
        ``(N, *input_shape)`` or ``(N, H, W)`` for a CAM base.
    meta : dict
        ``signed`` (the base's), ``base_method``.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'smoothgrad', n_samples=50)
    >>> exp = tlxp.explain(model, x, 'smoothgrad', base_method='integrated_gradients',
    ...                   base_params={'steps': 16})
    """
    mean, _, spec, signed = _noise_tunnel(adapter, inputs, targets, base_method, n_samples, noise_level, seed,
                                          batch_size, base_params, "smoothgrad")
    return mean, {"signed": signed, "base_method": spec.name}


@register_method("vargrad", **_DECLARED)
@shared_docstring
def vargrad(adapter, inputs, targets, base_method="gradient", n_samples=32, noise_level=0.15, seed=0,
            batch_size=None, base_params=None):
    """VarGrad: the variance of a base method over Gaussian-noised copies of the input.

    Adebayo, Gilmer, Goodfellow & Kim (2018), "Local Explanation Methods for
    Deep Neural Networks Lack Sensitivity to Parameter Values"; also Hooker et
    al. (2019), "A Benchmark for Interpretability Methods in Deep Neural
    Networks". Same noise and parameters as :func:`smoothgrad` (same seed, same
    noisy copies); the result is a magnitude (never signed).

    Parameters
    ----------
    %(method_inputs)s
    %(method_noise_tunnel)s

    Returns
    -------
    attributions : ndarray, float32, shape of the base method's output
    meta : dict

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'vargrad', n_samples=50, seed=1)
    """
    _, var, spec, _ = _noise_tunnel(adapter, inputs, targets, base_method, n_samples, noise_level, seed,
                                    batch_size, base_params, "vargrad", variance=True)
    return var, {"signed": False, "base_method": spec.name}
