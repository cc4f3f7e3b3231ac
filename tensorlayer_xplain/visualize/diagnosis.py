"""Figures of a :class:`~tensorlayer_xplain.diagnosis.Diagnosis`: errors, confusions, profiles, reliance,
sensitivity."""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import draw_heatmap, draw_image, draw_overlay
from .._utils.figure import tl_figure
from .cam import gradcam_visualization
from .metrics import draw_agreement_matrix

__all__ = ["diagnosis_errors_visualization", "confusions_visualization", "class_profile_visualization",
           "reliance_visualization", "sensitivity_visualization"]


def _check_diagnosis(diagnosis):
    # Checked by what a Diagnosis holds, not by class: ``diagnosis`` sits above ``visualize`` (its plot
    # methods call these figures), so importing its class here would close an import cycle.
    if not all(hasattr(diagnosis, a) for a in ("errors", "confusions", "profiles", "reliance", "sensitivity",
                                                "error_explanations", "class_names")):
        raise TypeError("diagnosis: expected a Diagnosis (from tensorlayer_xplain.diagnose), got %s"
                        % type(diagnosis).__name__)


def _label(diagnosis, k):
    return diagnosis.class_names[k] if diagnosis.class_names else str(k)


@shared_docstring
def diagnosis_errors_visualization(diagnosis, n=6, method=None, saveable=True, name="diagnosis_errors",
                                   fig_idx=2396390, second=10):
    """The ``n`` most confident errors, each explained for its predicted and true class, "P rather than T".

    Draws with the class-comparison mode of
    :func:`~tensorlayer_xplain.gradcam_visualization` (input, one overlay per
    class on a common scale, the signed difference), using ``method`` with the
    diagnosis' parameters.

    Parameters
    ----------
    diagnosis : Diagnosis
    n : int
        Errors drawn (at most the number explained, ``top_k``).
    method : str, optional
        One of the diagnosed methods; default the first.
    %(figure_conventions)s

    Returns
    -------
    list of Explanation or None
        (predicted-class, true-class) explanations of the drawn errors; None when there is no error.

    Examples
    --------
    >>> tlxp.visualize.diagnosis_errors_visualization(d, n=4, name='out/errors.png')
    """
    _check_diagnosis(diagnosis)
    method = diagnosis._method(method)
    top = diagnosis.errors[diagnosis.errors["explained"]].head(int(n))
    if not len(top):
        with tl_figure(saveable, name, fig_idx, second, figsize=(4, 1.5)) as fig:
            ax = fig.add_subplot(1, 1, 1)
            ax.axis("off")
            ax.text(0.5, 0.5, "no misclassified input", ha="center", va="center")
        return None
    _, params = diagnosis.explainer.method_params(method)
    x = diagnosis.explainer.adapter.prepare(diagnosis.inputs[top["index"].to_numpy()])[0]
    targets = np.stack([top["predicted"].to_numpy(), top["true"].to_numpy()], axis=1)
    return gradcam_visualization(diagnosis.explainer.adapter, x, targets=targets, method=method,
                                 class_names=diagnosis.class_names, saveable=saveable, name=name, fig_idx=fig_idx,
                                 second=second, **params)


@shared_docstring
def confusions_visualization(diagnosis, top=10, saveable=True, name="diagnosis_confusions", fig_idx=2396391,
                             second=10):
    """Horizontal bars: the ``top`` confusion pairs (true -> predicted) by count, with their share of errors.

    Parameters
    ----------
    diagnosis : Diagnosis
    top : int
        Pairs drawn.
    %(figure_conventions)s

    Returns
    -------
    pandas.DataFrame
        The rows drawn.

    Examples
    --------
    >>> tlxp.visualize.confusions_visualization(d, top=5, name='out/confusions.png')
    """
    _check_diagnosis(diagnosis)
    rows = diagnosis.confusions.head(int(top))
    with tl_figure(saveable, name, fig_idx, second, figsize=(5, 0.35 * max(len(rows), 3) + 1)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        if len(rows):
            ax.barh(range(len(rows)), rows["count"], color="tab:red")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels(rows["pair"], fontsize=8)
            ax.invert_yaxis()
            for i, (count, share) in enumerate(zip(rows["count"], rows["share"])):
                ax.text(count, i, " %d (%.0f%%)" % (count, 100 * share), va="center", fontsize=7)
        else:
            ax.text(0.5, 0.5, "no misclassified input", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("errors (true -> predicted)")
        ax.set_title("confusion pairs (%d errors)" % len(diagnosis.errors), fontsize=9)
    return rows


@shared_docstring
def class_profile_visualization(diagnosis, method=None, saveable=True, name="diagnosis_profiles",
                                fig_idx=2396392, second=10):
    """Per true class: mean normalized map of correct predictions, of wrong ones, and wrong minus correct.

    Three rows (correct, wrong, difference) and one column per class; empty
    panels where a class has no correct or no wrong prediction.

    Parameters
    ----------
    diagnosis : Diagnosis
    method : str, optional
        One of the diagnosed methods; default the first.
    %(figure_conventions)s

    Returns
    -------
    dict
        The profile drawn (see :attr:`Diagnosis.profiles`).

    Examples
    --------
    >>> tlxp.visualize.class_profile_visualization(d, method='gradcam', name='out/profiles.png')
    """
    _check_diagnosis(diagnosis)
    method = diagnosis._method(method)
    prof = diagnosis.profiles[method]
    k = len(prof["correct"])
    with tl_figure(saveable, name, fig_idx, second, figsize=(1.5 * k + 1, 5)) as fig:
        for c in range(k):
            cells = (("correct (n=%d)" % prof["n_correct"][c], prof["correct"][c], False),
                     ("wrong (n=%d)" % prof["n_wrong"][c], prof["wrong"][c], False),
                     ("wrong - correct", prof["wrong"][c] - prof["correct"][c], True))
            for r, (title, heat, signed) in enumerate(cells):
                ax = fig.add_subplot(3, k, r * k + c + 1)
                title = ("class %s\n" % _label(diagnosis, c) if r == 0 else "") + title
                if np.all(np.isfinite(heat)):
                    draw_heatmap(ax, heat, signed=signed, title=title, colorbar=False)
                else:
                    ax.axis("off")
                    ax.set_title(title, fontsize=8)
        fig.suptitle("per-class attribution profile (%s, true class)" % method, fontsize=9)
    return prof


def _bars(ax, table, column, threshold, title, label):
    colors = ["tab:red" if f else "tab:gray" for f in table["flagged"]]
    ax.bar(range(len(table)), table[column].fillna(0), color=colors)
    ax.axhline(threshold, color="k", ls="--", lw=0.8, label=label)
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels(table["name"], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


@shared_docstring
def reliance_visualization(diagnosis, saveable=True, name="diagnosis_reliance", fig_idx=2396393, second=10):
    """Shortcut detection: outside-object share and counterfactual flip rate per class, and the suspect class.

    Panels: outside share per class (flagged in red, dashed line: median +
    ``reliance_threshold``); flip rate when the suspected region is replaced
    (dashed: ``flip_threshold``); the suspect class's mean outside-object
    attribution over its mean input, with the flagged region outlined; one of
    its inputs and the counterfactual (suspected region outlined in red).

    The suspect class is the first flagged class, else the one with the largest excess.

    Parameters
    ----------
    diagnosis : Diagnosis
    %(figure_conventions)s

    Returns
    -------
    pandas.DataFrame
        :attr:`Diagnosis.reliance`.

    Examples
    --------
    >>> tlxp.visualize.reliance_visualization(d, name='out/reliance.png')
    """
    _check_diagnosis(diagnosis)
    table = diagnosis.reliance
    thr = diagnosis.thresholds
    median = float(np.nanmedian(table["outside_share"]))
    flagged = diagnosis.flagged_classes
    suspect = flagged[0] if flagged else int(table["excess"].fillna(-np.inf).idxmax())
    members = np.flatnonzero(diagnosis.predicted == suspect)
    with tl_figure(saveable, name, fig_idx, second, figsize=(15, 3)) as fig:
        _bars(fig.add_subplot(1, 5, 1), table, "outside_share", median + thr["reliance_threshold"],
              "attribution mass outside the object", "median + %.2f" % thr["reliance_threshold"])
        _bars(fig.add_subplot(1, 5, 2), table, "flip_rate", thr["flip_threshold"],
              "flip rate, suspected region replaced (%s)" % diagnosis.fill, "flip threshold")
        state = "flagged" if flagged else "not flagged"
        ax = fig.add_subplot(1, 5, 3)
        if len(members):
            draw_overlay(ax, diagnosis.inputs[members].mean(axis=0), diagnosis.outside_maps[suspect], alpha=0.5,
                         title="class %s (%s): outside attribution" % (_label(diagnosis, suspect), state))
            ax.contour(diagnosis.flagged_region(suspect), levels=[0.5], colors="white", linewidths=0.8)
            i = members[np.argmax(diagnosis.flipped[members])]  # a flipped one when there is one
            draw_image(fig.add_subplot(1, 5, 4), diagnosis.inputs[i], "input %d (pred %s)"
                       % (i, _label(diagnosis, suspect)))
            draw_image(fig.add_subplot(1, 5, 5), diagnosis.counterfactual_inputs[i],
                       "suspected region replaced: %s" % ("flipped" if diagnosis.flipped[i] else "kept"))
            fig.axes[-1].contour(diagnosis.suspected[i], levels=[0.5], colors="red", linewidths=0.6)
        else:
            ax.axis("off")
    return table


@shared_docstring
def sensitivity_visualization(diagnosis, saveable=True, name="diagnosis_sensitivity", fig_idx=2396394, second=10):
    """Flip rate per true class (rows) and probe (columns), annotated; and the mean score change per probe.

    Parameters
    ----------
    diagnosis : Diagnosis
    %(figure_conventions)s

    Returns
    -------
    pandas.DataFrame
        The class x probe flip-rate table drawn.

    Examples
    --------
    >>> tlxp.visualize.sensitivity_visualization(d, name='out/sensitivity.png')
    """
    _check_diagnosis(diagnosis)
    table = diagnosis.sensitivity
    flips = table.pivot(index="name", columns="probe", values="flip_rate")
    flips = flips.reindex(index=list(dict.fromkeys(table["name"])), columns=list(dict.fromkeys(table["probe"])))
    with tl_figure(saveable, name, fig_idx, second, figsize=(4 + 0.7 * flips.shape[1], 0.35 * len(flips) + 2)) as fig:
        draw_agreement_matrix(fig.add_subplot(1, 1, 1), flips, title="flip rate per class and probe",
                              vmin=0.0, vmax=1.0, cmap="Reds")
    return flips
