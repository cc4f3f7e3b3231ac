"""What every figure function does before drawing: get an Explanation through the one path."""
from ..explanation import Explanation
from ..runner import explain, pick_targets

__all__ = ["obtain_explanation", "pick_targets"]


def obtain_explanation(model, inputs, method, targets=None, **params):
    """Return ``inputs`` when it already is an :class:`Explanation`, else compute one.

    Lets every figure function draw a precomputed explanation (no recomputation)
    or compute it through :func:`~tensorlayer_xplain.runner.explain`.
    """
    if isinstance(inputs, Explanation):
        return inputs
    return explain(model, inputs, method, targets, **params)
