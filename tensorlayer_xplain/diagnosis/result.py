"""``Diagnosis``: the result of :func:`~tensorlayer_xplain.diagnose`: tables, maps, figures, report."""
import numpy as np

__all__ = ["Diagnosis"]


class Diagnosis:
    """What :func:`~tensorlayer_xplain.diagnose` found, as DataFrames, arrays, figures and a report.

    Attributes
    ----------
    errors : pandas.DataFrame
        One row per misclassified input, most confident first: ``rank, index,
        true, predicted, confidence, true_probability, margin, outside_share, explained``.
    confusions : pandas.DataFrame
        ``true, predicted, pair, count, share, cumulative_share``, largest first.
    reliance : pandas.DataFrame
        One row per class (by predicted class): ``class, name, n,
        outside_share_<method>..., outside_share, flip_rate, score_drop, excess, flagged``.
    sensitivity : pandas.DataFrame
        One row per (probe, true class): ``probe, class, name, n, flip_rate,
        score_change, accuracy_before, accuracy_after``.
    profiles : dict of str -> dict
        Per method: ``{'correct': (K, H, W), 'wrong': (K, H, W), 'n_correct', 'n_wrong'}``.
    error_explanations : dict of str -> (Explanation, Explanation)
        Per method: the ``top_k`` errors explained for the predicted and the true class.
    masks : ndarray of bool, shape (N, H, W)
        Object regions (True on the object).
    outside_maps : ndarray, shape (K, H, W)
        Mean normalized attribution outside the object, per predicted class.
    suspected : ndarray of bool, shape (N, H, W)
        Per input, the outside-object region where its attribution concentrates.
    counterfactual_inputs : ndarray, shape (N, H, W, C)
        Inputs with the suspected region replaced.

    Examples
    --------
    >>> d = tlxp.diagnose(model, X_test[:500], y_test[:500])
    >>> d.flagged_classes  # doctest: +IGNORE_RESULT
    [7]
    >>> d.plot_reliance(name='out/reliance.png')
    """

    def __init__(self, **parts):
        self.__dict__.update(parts)

    # ------------------------------------------------------------------ views
    @property
    def predicted(self):
        """Predicted class per input, shape (N,)."""
        return np.argmax(self.scores, axis=1)

    @property
    def flagged_classes(self):
        """Classes flagged as relying on the region outside the object, as a list of ints."""
        return [int(k) for k in self.reliance.loc[self.reliance["flagged"], "class"]]

    def flagged_region(self, cls, level=0.5):
        """Where class ``cls``'s attribution outside the object concentrates: (H, W) bool.

        Pixels of :attr:`outside_maps` ``[cls]`` at or above ``level`` times its maximum.
        """
        n_classes = len(self.outside_maps)
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= cls < n_classes:
            raise ValueError("cls: expected a class in [0, %d), got %r" % (n_classes, cls))
        heat = self.outside_maps[cls]
        peak = float(heat.max())
        return heat >= level * peak if peak > 0 else np.zeros(heat.shape, bool)

    def error_differences(self, method=None):
        """"P rather than T" maps of the explained errors: predicted-class minus true-class heatmap, (k, H, W)."""
        method = self._method(method)
        if not self.error_explanations:
            return np.zeros((0,) + self.masks.shape[1:])
        pred, true = self.error_explanations[method]
        return pred.heatmap() - true.heatmap()

    def _method(self, method):
        if method is None:
            return self.methods[0]
        if method not in self.methods:
            raise ValueError("method: expected one of the diagnosed methods %s, got %r" % (self.methods, method))
        return method

    # ------------------------------------------------------------------ figures
    def plot_errors(self, n=6, method=None, saveable=True, name="diagnosis_errors", fig_idx=2396390, second=10):
        """The existing class-comparison figure for the ``n`` most confident errors (see
        :func:`~tensorlayer_xplain.visualize.diagnosis_errors_visualization`)."""
        from ..visualize.diagnosis import diagnosis_errors_visualization

        return diagnosis_errors_visualization(self, n, method, saveable=saveable, name=name, fig_idx=fig_idx,
                                              second=second)

    def plot_confusions(self, top=10, saveable=True, name="diagnosis_confusions", fig_idx=2396391, second=10):
        """Bar chart of the confusion pairs (see :func:`~tensorlayer_xplain.visualize.confusions_visualization`)."""
        from ..visualize.diagnosis import confusions_visualization

        return confusions_visualization(self, top, saveable=saveable, name=name, fig_idx=fig_idx, second=second)

    def plot_profiles(self, method=None, saveable=True, name="diagnosis_profiles", fig_idx=2396392, second=10):
        """Per-class mean maps, correct vs wrong
        (see :func:`~tensorlayer_xplain.visualize.class_profile_visualization`)."""
        from ..visualize.diagnosis import class_profile_visualization

        return class_profile_visualization(self, method, saveable=saveable, name=name, fig_idx=fig_idx,
                                           second=second)

    def plot_reliance(self, saveable=True, name="diagnosis_reliance", fig_idx=2396393, second=10):
        """Outside share and flip rate per class, flagged regions
        (see :func:`~tensorlayer_xplain.visualize.reliance_visualization`)."""
        from ..visualize.diagnosis import reliance_visualization

        return reliance_visualization(self, saveable=saveable, name=name, fig_idx=fig_idx, second=second)

    def plot_sensitivity(self, saveable=True, name="diagnosis_sensitivity", fig_idx=2396394, second=10):
        """Flip rate per class and probe (see :func:`~tensorlayer_xplain.visualize.sensitivity_visualization`)."""
        from ..visualize.diagnosis import sensitivity_visualization

        return sensitivity_visualization(self, saveable=saveable, name=name, fig_idx=fig_idx, second=second)

    def save_figures(self, folder, format="png"):
        """Write the five figures to ``folder`` (``diagnosis_<part>.<format>``); return ``{part: path}``."""
        import os

        from .._utils.figure import figure_path

        paths = {}
        for part in ("errors", "confusions", "profiles", "reliance", "sensitivity"):
            name = os.path.join(os.fspath(folder), "diagnosis_%s.%s" % (part, format))
            getattr(self, "plot_" + part)(name=name)
            paths[part] = figure_path(name)
        return paths

    # ------------------------------------------------------------------ report
    def report_sections(self):
        """The report's diagnosis parts as ``[(title, html), ...]`` (one per part, figures embedded)."""
        from .html import diagnosis_sections

        return diagnosis_sections(self)

    def report(self, path="xplain_diagnosis.html", title=None):
        """Write the self-contained HTML report: the top errors' explanations, then one section per part.

        Parameters
        ----------
        path : str
        title : str, optional

        Returns
        -------
        str
            ``path``.
        """
        from ..report import write_report

        if self.error_explanations:
            explanations = {m: pair[0] for m, pair in self.error_explanations.items()}
        else:
            first = self.explainer.adapter.prepare(self.inputs[:8])[0]
            explanations = {m: self.explainer.explain(first, method=m, targets=self.predicted[:8])
                            for m in self.methods}
        return write_report(path, explanations, class_names=self.class_names,
                            title=title or "tensorlayer-xplain diagnosis", sections=self.report_sections())

    def __repr__(self):
        return "Diagnosis(n=%d, errors=%d, flagged=%s, methods=%s)" % (
            len(self.labels), len(self.errors), self.flagged_classes, self.methods)
