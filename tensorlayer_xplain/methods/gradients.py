"""Gradient-based attribution methods.

Every method here gets its gradients from steps compiled once per adapter
(:meth:`ModelAdapter.compiled`) and never calls the model itself. Work that
multiplies the number of model evaluations (integration steps, noise samples)
is enumerated as (input, sample) pairs and sent in large blocks that the
compiled step walks through in pieces (:mod:`._graph`), so activation memory is
bounded by ``batch_size`` whatever ``steps`` or ``n_samples``.

Methods: ``gradient`` (alias ``saliency``), ``gradient_x_input``,
``integrated_gradients``, ``smoothgrad``, ``vargrad``, ``guided_backprop``.
"""
import warnings

import numpy as np

from .._utils.docstrings import shared_docstring
from ._engine.checks import needs_layers
from ._engine.input_gradients import guided_relu, input_gradients, relu_sites  # noqa: F401 (re-exported)
from .costs import one_gradient
from .integrated_gradients import integrated_gradients, trapezoid_alphas
from .noise_tunnel import smoothgrad, vargrad
from .registry import register_method

__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "vargrad", "guided_backprop",
           "trapezoid_alphas"]


# ----------------------------------------------------------------------------- plain gradients
@register_method("gradient", aliases=("saliency",), family="gradient", predicts=True, cost=one_gradient,
                 batchable=True)
@shared_docstring
def gradient(adapter, inputs, targets, absolute=True, batch_size=None):
    """Saliency: the magnitude of the gradient of the target score w.r.t. the input.

    Simonyan, Vedaldi & Zisserman (2014), "Deep Inside Convolutional Networks:
    Visualising Image Classification Models and Saliency Maps".

    Parameters
    ----------
    %(method_inputs)s
    absolute : bool
        Return ``|grad|`` (the classic saliency map); False keeps the sign.
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``scores`` (N, K): the model's scores from the same forward pass (the
        explanation's predictions); ``signed`` when ``absolute=False``.

    Examples
    --------
    >>> exp = ModelExplainer(model, methods=['gradient']).explain(x)
    """
    grads, scores = input_gradients(adapter, inputs, targets, batch_size, return_scores=True)
    if absolute:
        return np.abs(grads), {"scores": scores}
    return grads, {"signed": True, "scores": scores}


@register_method("gradient_x_input", aliases=("input_x_gradient",), signed=True, family="gradient", predicts=True,
                 cost=one_gradient, batchable=True)
@shared_docstring
def gradient_x_input(adapter, inputs, targets, batch_size=None):
    """Gradient times input: ``x * d score[target] / dx``, signed.

    Shrikumar, Greenside, Shcherbina & Kundaje (2016), "Not Just a Black Box:
    Learning Important Features Through Propagating Activation Differences".

    Parameters
    ----------
    %(method_inputs)s
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, *input_shape)
    meta : dict
        ``scores`` (N, K) from the same forward pass.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'gradient_x_input')
    """
    grads, scores = input_gradients(adapter, inputs, targets, batch_size, return_scores=True)
    return inputs * grads, {"scores": scores}


# ----------------------------------------------------------------------------- guided backprop
def _guided_gradients(adapter, x, targets, batch_size):
    """Input gradients with guided ReLUs (the swap is baked into the trace, see :func:`_gradient_step`)."""
    if adapter.kind == "callable":
        raise needs_layers("guided_backprop (it swaps the ReLU activations of the layers)")
    sites = relu_sites(adapter)
    if not sites:
        warnings.warn("guided_backprop: the model has no layer with a ReLU activation (layer.act / "
                      "layer.activation); the result is the plain gradient", RuntimeWarning, stacklevel=3)
    return input_gradients(adapter, x, targets, batch_size, sites)


def _guided_applies(adapter, params):
    """Why guided backprop does not apply (no layers, or no ReLU to guide), or None."""
    if adapter.kind == "callable":
        return "a plain callable has no layers whose ReLUs could be guided"
    if not relu_sites(adapter):
        return "no layer with a ReLU activation (guided backprop would be the plain gradient)"
    return None


@register_method("guided_backprop", aliases=("guided_backpropagation",), signed=True, family="gradient",
                 cost=one_gradient, batchable=True, applies=_guided_applies)
@shared_docstring
def guided_backprop(adapter, inputs, targets, batch_size=None):
    """Guided backpropagation: gradients through ReLUs that pass only positive signals both ways.

    Springenberg, Dosovitskiy, Brox & Riedmiller (2015), "Striving for
    Simplicity: The All Convolutional Net". Every layer whose activation is a
    ReLU (``tf.nn.relu`` or ``tf.keras.activations.relu`` in TL's ``layer.act`` or
    Keras' ``layer.activation``) gets a ``tf.custom_gradient`` ReLU, only inside
    the compiled step's trace: the user's model is never left modified. ReLUs
    called directly inside a custom ``forward`` are not seen (plain gradient there).

    Parameters
    ----------
    %(method_inputs)s
    %(method_batch_size)s

    Returns
    -------
    ndarray, float32, shape (N, *input_shape), signed

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'guided_backprop')
    """
    return _guided_gradients(adapter, np.asarray(inputs, np.float32), targets, batch_size)
