"""Randomisation metrics: random logit (Sixt et al., 2020), one batched re-explanation for all inputs."""
import numpy as np

from ..runner import explain
from ._common import _check_int, _check_seed
from ._maps import prepare_rows
from ._model_inputs import model_setup, rerun_params
from .registry import register_metric, scored

__all__ = ["random_logit"]


def ssim_rows(a, b):
    """Quantus's ``ssim`` on each pair of flattened rows: scikit-image SSIM, data range of the pair."""
    from skimage.metrics import structural_similarity

    out = np.empty(len(a), np.float64)
    for i, (aa, bb) in enumerate(zip(a, b)):
        both = np.concatenate([aa, bb])
        out[i] = structural_similarity(aa, bb, data_range=float(np.abs(both.max() - both.min())))
    return out


def off_classes(targets, num_classes, seed):
    """A random class other than each target, drawn as Quantus draws it after ``np.random.seed(seed)``."""
    index = np.random.RandomState(seed).randint(0, num_classes - 1, len(targets))
    return index + (index >= targets)


@register_metric("random_logit", direction="lower", family="randomisation")
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
    attributions : Explanation or ndarray, shape (N, ...)
        An explanation, or attributions with the inputs' shape (then pass
        ``inputs``, ``targets`` and ``method``).
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    inputs : ndarray, shape (N, ...), optional
    targets : int or ndarray (N,), optional
    method : str, optional
        Method to re-explain with (default: the explanation's).
    method_params : dict, optional
        Its parameters (default: the explanation's).
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
    >>> exp = tlxp.explain(model, x[:8], 'gradient')                    # doctest: +SKIP
    >>> tlxp.metrics.random_logit(exp, model=model).scores              # doctest: +SKIP
    """
    seed = _check_seed(seed)
    adapter, x, targets, attr, exp_method = model_setup("random_logit", attributions, model, inputs, targets)
    method = method or exp_method
    if method is None:
        raise TypeError("method: random_logit re-explains another class; pass method= with an attributions array")
    params = dict(method_params or {})
    if not params and exp_method == method:
        params = rerun_params(attributions)
    if num_classes is None:
        num_classes = int(np.asarray(adapter.predict(x[:1])).shape[-1])
    num_classes = _check_int("num_classes", num_classes, 2)
    if (targets >= num_classes).any():
        raise ValueError("num_classes: expected more than the largest target (%d), got %d"
                         % (int(targets.max()), num_classes))
    other = off_classes(targets, num_classes, seed)
    exp = explain(adapter, x, method, targets=other, batch_size=batch_size, **params)
    rows = prepare_rows(attr, abs, normalise)
    perturbed = prepare_rows(np.asarray(exp.attributions, np.float64).reshape(len(x), -1), abs, normalise)
    return scored("random_logit", ssim_rows(rows, perturbed), method, num_classes=num_classes, seed=seed,
                  other_classes=other.tolist())
