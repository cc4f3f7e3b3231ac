"""Sensitivity probes (data bias): simple input shifts, and how each class's predictions react."""
import numpy as np
import pandas as pd
from scipy import ndimage

from ..methods._engine.baselines import blur_images
from ..visualize._draw import as_probabilities

__all__ = ["default_probes", "check_probes", "sensitivity_table"]


def _range(images):
    return float(images.min()), float(images.max())


def default_probes(images, seed=0):
    """The default shifts, as ``{name: fn(images) -> images}``, scaled to the data's value range.

    ``brightness`` (+20% of the range), ``contrast`` (halved around each
    image's mean), ``blur`` (Gaussian, sigma 1 px), ``noise`` (Gaussian, 10% of
    the range, seeded), ``translate`` (2 px right and down, edges filled with
    the minimum) and, for RGB images, ``channel_swap`` (RGB -> BGR). Results are
    clipped to the data's range.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    seed : int

    Returns
    -------
    dict of str -> callable
    """
    low, high = _range(images)
    span = (high - low) or 1.0

    def clip(a):
        return np.clip(a, low, high).astype(np.float32)

    def noise(a):
        return clip(a + np.random.default_rng(seed).normal(0.0, 0.1 * span, a.shape))

    probes = {
        "brightness": lambda a: clip(a + 0.2 * span),
        "contrast": lambda a: clip(a.mean(axis=(1, 2, 3), keepdims=True)
                                   + 0.5 * (a - a.mean(axis=(1, 2, 3), keepdims=True))),
        "blur": lambda a: clip(blur_images(a, 1.0)),
        "noise": noise,
        "translate": lambda a: clip(ndimage.shift(a, (0, 2, 2, 0), order=0, cval=low)),
    }
    if images.shape[-1] == 3:
        probes["channel_swap"] = lambda a: a[..., ::-1].astype(np.float32)
    return probes


def check_probes(probes, images, seed=0):
    """Resolve ``probes``: None (defaults), names of default probes, or a dict of name -> callable."""
    defaults = default_probes(images, seed)
    if probes is None:
        return defaults
    if isinstance(probes, dict):
        bad = [k for k, fn in probes.items() if not callable(fn)]
        if bad:
            raise TypeError("probes[%r]: expected a callable images -> images, got %r" % (bad[0], probes[bad[0]]))
        return dict(probes)
    if isinstance(probes, str) or not hasattr(probes, "__iter__"):
        raise TypeError("probes: expected None, a list of probe names or a dict {name: fn}, got %r" % (probes,))
    unknown = [p for p in probes if p not in defaults]
    if unknown:
        raise ValueError("probes: unknown probe %r for these images; expected some of %s"
                         % (unknown[0], sorted(defaults)))
    return {p: defaults[p] for p in probes}


def sensitivity_table(adapter, images, labels, scores, probes, n_classes, class_names):
    """Per probe and true class: flip rate and the change of the true class's probability.

    Parameters
    ----------
    adapter : ModelAdapter
    images : ndarray, shape (N, H, W, C)
    labels : ndarray of int, shape (N,)
    scores : ndarray, shape (N, K)
        Scores on the original inputs.
    probes : dict of str -> callable
    n_classes : int
    class_names : sequence of str or None

    Returns
    -------
    pandas.DataFrame
        Columns ``probe, class, name, n, flip_rate, score_change, accuracy_before, accuracy_after``.
    """
    predicted = np.argmax(scores, axis=1)
    rows = np.arange(len(images))
    p_before = as_probabilities(scores)[rows, labels]
    out = []
    for name, fn in probes.items():
        shifted = np.asarray(fn(images.copy()), np.float32)
        if shifted.shape != images.shape:
            raise ValueError("probes[%r]: expected images of shape %s back, got %s"
                             % (name, images.shape, shifted.shape))
        after = adapter.predict(shifted.reshape((len(images),) + tuple(adapter.input_shape)))
        new = np.argmax(after, axis=1)
        change = as_probabilities(after)[rows, labels] - p_before
        for k in range(n_classes):
            sel = labels == k
            if not sel.any():
                continue
            out.append({"probe": name, "class": k, "name": class_names[k] if class_names else str(k),
                        "n": int(sel.sum()), "flip_rate": float((new[sel] != predicted[sel]).mean()),
                        "score_change": float(change[sel].mean()),
                        "accuracy_before": float((predicted[sel] == k).mean()),
                        "accuracy_after": float((new[sel] == k).mean())})
    return pd.DataFrame(out, columns=["probe", "class", "name", "n", "flip_rate", "score_change",
                                      "accuracy_before", "accuracy_after"])
