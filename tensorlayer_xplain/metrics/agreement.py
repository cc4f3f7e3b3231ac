"""Agreement between methods: rank correlation and top-k overlap of their heatmaps."""

import numpy as np

from ..explanation import Explanation
from ._common import (
    _check_explanation,
    _check_seed,
    _flat_heat,
    _importance_order,
    _n_pixels,
    _spearman_rows,
)
from .results import Agreement

__all__ = ["method_agreement"]


def _named_explanations(explanations, name="explanations"):
    """dict name -> Explanation from a dict, a list/tuple or a single Explanation (names made unique)."""
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    if isinstance(explanations, dict):
        items = list(explanations.items())
    elif isinstance(explanations, (list, tuple)):
        items, counts = [], {}
        for exp in explanations:
            _check_explanation(exp, "%s[%d]" % (name, len(items)))
            counts[exp.method] = counts.get(exp.method, 0) + 1
            label = exp.method if counts[exp.method] == 1 else "%s#%d" % (exp.method, counts[exp.method])
            items.append((label, exp))
    else:
        raise TypeError("%s: expected a dict of name -> Explanation, a list of Explanations or one Explanation, "
                        "got %s" % (name, type(explanations).__name__))
    if not items:
        raise ValueError("%s: expected at least one Explanation, got none" % name)
    for key, exp in items:
        _check_explanation(exp, "%s[%r]" % (name, key))
    return dict((str(k), v) for k, v in items)


def method_agreement(explanations, top_k=0.1, absolute=True, seed=0):
    """Pairwise agreement between methods: Spearman rank correlation and top-k IoU of their maps.

    The rank correlation compares whole maps (the standard similarity of
    Adebayo et al., 2018); the intersection over union of the ``top_k`` most
    important pixels compares what a user would look at (feature agreement of
    Krishna et al., 2022, "The Disagreement Problem in Explainable Machine
    Learning"). Both are averaged over the inputs.

    Parameters
    ----------
    explanations : dict of str -> Explanation, or list of Explanation
        Explanations of the *same* inputs by different methods (a list is named by
        ``Explanation.method``; repeated names get ``#2``, ``#3``...).
    top_k : float or int
        Fraction of pixels in (0, 1) (default 0.1) or a number of pixels.
    absolute : bool
        Compare magnitudes (``|heatmap|``, default), so signed and unsigned
        methods are comparable; False ranks signed values.
    seed : int
        Seed of the random order among tied pixels at the top-k boundary (the
        same for every method, so equal maps select equal pixels).

    Returns
    -------
    Agreement
        ``(spearman, iou)``: two method x method ``pandas.DataFrame`` s, symmetric,
        1 on the diagonal; their ``attrs`` hold ``n_inputs``, ``top_k_pixels``,
        ``n_pixels`` and ``absolute``.

    Raises
    ------
    ValueError
        Explanations of different inputs or image shapes.

    Examples
    --------
    >>> g, ig, cam = (tlxp.explain(model, x, m) for m in ('gradient', 'integrated_gradients', 'gradcam'))
    >>> rho, iou = tlxp.metrics.method_agreement({'grad': g, 'ig': ig, 'cam': cam})
    >>> rho.loc['grad', 'ig']  # doctest: +IGNORE_RESULT
    0.63
    """
    import pandas as pd

    named = _named_explanations(explanations)
    names = list(named)
    first = named[names[0]]
    for key in names[1:]:
        exp = named[key]
        if exp.image_shape != first.image_shape or len(exp) != len(first):
            raise ValueError("explanations: expected explanations of the same inputs; %r has %d inputs of image "
                             "shape %s, %r has %d of %s" % (names[0], len(first), first.image_shape, key, len(exp),
                                                              exp.image_shape))
        if not np.array_equal(np.asarray(exp.inputs).reshape(len(exp), -1),
                              np.asarray(first.inputs).reshape(len(first), -1)):
            raise ValueError("explanations: expected explanations of the same inputs; %r and %r explain different "
                             "inputs" % (names[0], key))
    heats = {key: _flat_heat(exp, "sum", absolute) for key, exp in named.items()}
    n_pixels = heats[names[0]].shape[1]
    k = _n_pixels("top_k", top_k, n_pixels)
    seed = _check_seed(seed)
    tops = {}
    for key, heat in heats.items():
        top = np.zeros(heat.shape, bool)
        np.put_along_axis(top, _importance_order(heat, seed)[:, :k], True, axis=1)
        tops[key] = top
    rho = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    iou = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a_index, a in enumerate(names):
        for b in names[a_index + 1:]:
            r = float(np.mean(_spearman_rows(heats[a], heats[b])))
            inter = (tops[a] & tops[b]).sum(axis=1)
            union = (tops[a] | tops[b]).sum(axis=1)
            j = float(np.mean(inter / union))
            rho.loc[a, b] = rho.loc[b, a] = r
            iou.loc[a, b] = iou.loc[b, a] = j
    for frame in (rho, iou):
        frame.index.name = "method"
        frame.columns.name = "method"
        frame.attrs.update(n_inputs=len(first), top_k_pixels=k, n_pixels=n_pixels, absolute=bool(absolute))
    return Agreement(rho, iou)
