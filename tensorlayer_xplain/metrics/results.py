"""Result types of the metrics: curves, mu-fidelity, sanity check, agreement."""
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CurveResult", "FidelityResult", "SanityCheckResult", "Agreement", "MetricResult", "FAMILIES"]


@dataclass
class CurveResult:
    """What :func:`deletion` and :func:`insertion` return.

    Attributes
    ----------
    metric : str
        ``'deletion'`` or ``'insertion'``.
    method : str
        The explanation's method.
    fractions : ndarray, shape (steps + 1,)
        Fraction of pixels removed (deletion) or inserted (insertion), 0 to 1.
    curve : ndarray, shape (N, steps + 1)
        Score of the explained class after each step, per input.
    auc : ndarray, shape (N,)
        Area under each input's curve (trapezoid rule over ``fractions``).
    mean_auc : float
        ``auc.mean()``; :attr:`score` is the same number.
    """

    metric: str
    method: str
    fractions: np.ndarray
    curve: np.ndarray
    auc: np.ndarray
    mean_auc: float

    @property
    def score(self):
        """The summary number (mean AUC)."""
        return self.mean_auc


@dataclass
class FidelityResult:
    """What :func:`mu_fidelity` returns.

    Attributes
    ----------
    method : str
    correlations : ndarray, shape (N,)
        Pearson correlation per input (NaN where either side is constant, e.g. for
        a constant attribution map).
    mean : float
        Mean of the defined correlations (NaN when none is); :attr:`score` too.
    attribution_sums : ndarray, shape (N, n_subsets)
        Attribution mass of each random subset.
    output_drops : ndarray, shape (N, n_subsets)
        ``f(x) - f(x with the subset set to the baseline)`` for the explained class.
    subset_size : int
        Pixels per subset.
    """

    method: str
    correlations: np.ndarray
    mean: float
    attribution_sums: np.ndarray
    output_drops: np.ndarray
    subset_size: int

    @property
    def score(self):
        """The summary number (mean correlation)."""
        return self.mean


@dataclass
class SanityCheckResult:
    """What :func:`randomization_sanity_check` returns.

    Attributes
    ----------
    method : str
    mode : {'cascading', 'independent'}
    layers : list of str
        The randomized layers, top (output) layer first.
    correlations : ndarray, shape (n_layers,)
        Mean Spearman rank correlation between the original and the randomized
        explanation (absolute values) after each stage.
    per_input : ndarray, shape (n_layers, N)
        The same, per input.
    threshold : float
        The check passes when the deciding correlation (:attr:`score`) is below it.
    passed : bool
        Cascading: the fully randomized model's correlation (last stage) is below
        ``threshold``; independent: the mean over the single-layer
        randomizations is.
    """

    method: str
    mode: str
    layers: list
    correlations: np.ndarray
    per_input: np.ndarray
    threshold: float
    passed: bool = field(default=False)

    @property
    def score(self):
        """The deciding correlation: last stage (cascading) or the mean over layers (independent)."""
        if len(self.correlations) == 0:
            return float("nan")
        if self.mode == "cascading":
            return float(self.correlations[-1])
        return float(np.mean(self.correlations))

    def to_frame(self):
        """``pandas.DataFrame`` with one row per stage: layer and mean correlation."""
        import pandas as pd

        return pd.DataFrame({"layer": list(self.layers), "spearman": np.asarray(self.correlations)},
                            index=pd.RangeIndex(1, len(self.layers) + 1, name="stage"))


Agreement = namedtuple("Agreement", ["spearman", "iou"])
Agreement.__doc__ = """What :func:`method_agreement` returns (unpacks as ``rho, iou = ...``).

Attributes
----------
spearman : pandas.DataFrame
    Method x method mean Spearman rank correlation of the heatmaps (1 on the diagonal).
iou : pandas.DataFrame
    Method x method mean intersection over union of the top-k pixels.
"""


#: Metric families (Quantus's grouping) a registered metric belongs to.
FAMILIES = ("faithfulness", "robustness", "localisation", "complexity", "randomisation", "axiomatic", "agreement")


@dataclass
class MetricResult:
    """What the per-input metrics (complexity, localisation, robustness, ...) return.

    Behaves like the array of its scores (``np.asarray(result)``, ``len(result)``).

    Attributes
    ----------
    metric : str
        The metric's name (Quantus's, in snake case).
    family : str
        One of :data:`FAMILIES`.
    scores : ndarray, shape (N,)
        One score per input (NaN where the metric is undefined for that input,
        e.g. an empty mask).
    higher_is_better : bool
        The direction: True when a higher score means a better explanation.
    method : str or None
        The explanation's method (None for a bare attributions array).
    params : dict
        The settings the metric ran with.
    details : dict
        What the score summarises, where a metric has more: e.g. ``'curves'``
        ``(N, steps)`` of the perturbation curves, or per-layer similarities
        ``(n_layers, N)`` of model parameter randomisation.
    """

    metric: str
    family: str
    scores: np.ndarray
    higher_is_better: bool
    method: object = None
    params: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def direction(self):
        """``'higher'`` or ``'lower'`` (is better)."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def score(self):
        """Mean of the defined (non-NaN) scores; NaN when none is defined."""
        scores = np.asarray(self.scores, np.float64)
        finite = scores[~np.isnan(scores)]
        return float(finite.mean()) if finite.size else float("nan")

    @property
    def spread(self):
        """Standard deviation of the defined scores (NaN when none is defined)."""
        scores = np.asarray(self.scores, np.float64)
        finite = scores[~np.isnan(scores)]
        return float(finite.std()) if finite.size else float("nan")

    def __array__(self, dtype=None, copy=None):
        scores = np.asarray(self.scores)
        return scores if dtype is None else scores.astype(dtype)

    def __len__(self):
        return len(self.scores)

    def __repr__(self):
        return "MetricResult(%s, %s, n=%d, mean=%.4g, %s is better)" % (
            self.metric, self.family, len(self.scores), self.score, self.direction)
