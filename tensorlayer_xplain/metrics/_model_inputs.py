"""What the model-calling per-input metrics share: model, inputs, targets and the method to re-run."""
import numpy as np

from ..adapter import as_adapter
from ..explanation import Explanation
from ..methods.registry import method_info


def rerun_params(explanation, exclude=()):
    """The explanation's method parameters, to explain other inputs the same way."""
    known = method_info(explanation.method).parameters
    return {k: v for k, v in explanation.params.items() if k in known and k not in exclude}


def model_setup(metric, attributions, model, inputs, targets):
    """``(adapter, x (N, *input_shape) float32, targets (N,), attributions (N, D) float64, method or None)``.

    An Explanation brings its inputs and targets; an attributions array needs
    ``inputs=`` and ``targets=``.
    """
    if model is None:
        raise TypeError("model: %s calls the model; pass model= (the model that was explained)" % metric)
    if isinstance(attributions, Explanation):
        if inputs is not None:
            raise TypeError("inputs: an Explanation brings its inputs; do not pass inputs= too")
        x, method = attributions.inputs, attributions.method
        if targets is None:
            targets = np.where(attributions.targets < 0, attributions.predicted, attributions.targets)
        attr = attributions.attributions
    else:
        if inputs is None or targets is None:
            raise TypeError("inputs, targets: %s on an attributions array needs inputs= (N, ...) and targets= (N,)"
                            % metric)
        attr, x, method = np.asarray(attributions), np.asarray(inputs), None
    adapter = as_adapter(model)
    x, _ = adapter.prepare(x, name="inputs")
    attr = np.asarray(attr, np.float64).reshape(len(attr), -1)
    if len(attr) != len(x):
        raise ValueError("attributions: expected one row per input (%d), got %d" % (len(x), len(attr)))
    if not np.isfinite(attr).all():
        raise ValueError("attributions: expected finite values, got NaN or inf in input(s) %s"
                         % np.flatnonzero(~np.isfinite(attr).all(axis=1))[:10].tolist())
    targets = adapter.resolve_targets(targets, len(x), name="targets")
    return adapter, np.asarray(x, np.float32), np.asarray(targets), attr, method


def target_outputs(adapter, x, targets, batch_size=None):
    """The adapter's output (logits unless built with ``output='probabilities'``) of each input's target."""
    out = adapter.predict(x, batch_size=batch_size)
    return np.asarray(out, np.float64)[np.arange(len(x)), targets]
