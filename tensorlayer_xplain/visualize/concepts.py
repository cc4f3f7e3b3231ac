"""Figures of concept explanations: TCAV scores per class and concept, CRAFT's concepts with crops and maps.

Both draw what :func:`~tensorlayer_xplain.tcav` and :func:`~tensorlayer_xplain.craft` computed (a
table, a result object); neither recomputes anything.
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from .._utils.drawing import draw_image, normalize_map
from .._utils.figure import tl_figure

__all__ = ["tcav_visualization", "craft_visualization"]

#: One colour per concept (matplotlib's tab10), reused in order of importance.
CONCEPT_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                  "#bcbd22", "#7f7f7f")

_TCAV_NEEDS = ("concept", "class", "score", "score_std", "random_score", "random_std", "significant")


@shared_docstring
def tcav_visualization(results, class_names=None, title=None, saveable=True, name="tcav", fig_idx=7117,
                       second=10):
    """Bar chart of TCAV scores: one group per class, one bar per concept, the random CAVs' level beside it.

    Bars of significant rows are solid; the others are hatched and marked ``n.s.`` (as the TCAV
    reference draws non-significant scores differently). Error bars are the standard deviation over
    the runs; a black tick marks the random CAVs' mean score for the class.

    Parameters
    ----------
    results : pandas.DataFrame
        What :func:`~tensorlayer_xplain.tcav` returned.
    %(figure_class_names)s
    title : str, optional
        Default: the layer and the significance threshold.
    %(figure_conventions)s

    Returns
    -------
    pandas.DataFrame
        ``results``, unchanged.

    Examples
    --------
    >>> hidden = tlxp.as_adapter(model).layer_call_order()[-2][0]
    >>> df = tlxp.tcav(model, hidden, X_test, y_test, {'bright': np.clip(X_train[:8] + 0.5, 0, 1)},
    ...                random_sets=X_train, n_runs=3)
    >>> tlxp.tcav_visualization(df, name='tcav.png') is df
    True
    """
    missing = [c for c in _TCAV_NEEDS if not hasattr(results, "columns") or c not in results.columns]
    if missing:
        raise TypeError("results: expected the DataFrame tlxp.tcav returns (columns %s), got %s%s"
                        % (", ".join(_TCAV_NEEDS), type(results).__name__,
                           " without %s" % ", ".join(missing) if hasattr(results, "columns") else ""))
    if len(results) == 0:
        raise ValueError("results: expected at least one row, got an empty table")
    concepts = list(dict.fromkeys(results["concept"]))
    classes = list(dict.fromkeys(results["class"]))
    width = 0.8 / len(concepts)
    with tl_figure(saveable, name, fig_idx, second, figsize=(max(4.0, 0.9 * len(classes) + 2), 3.2)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        for j, concept in enumerate(concepts):
            rows = results[results["concept"] == concept].set_index("class").reindex(classes)
            xs = np.arange(len(classes)) - 0.4 + width * (j + 0.5)
            color = CONCEPT_COLORS[j % len(CONCEPT_COLORS)]
            for x, (_, row) in zip(xs, rows.iterrows()):
                if np.isnan(row["score"]):
                    continue
                significant = bool(row["significant"])
                ax.bar(x, row["score"], width * 0.9, yerr=row["score_std"], color=color if significant else "none",
                       edgecolor=color, hatch=None if significant else "///", capsize=2, error_kw={"lw": 0.8},
                       label=concept if x == xs[0] else None)
                ax.plot([x - width * 0.45, x + width * 0.45], [row["random_score"]] * 2, color="black", lw=1.2)
                if not significant:
                    ax.text(x, min(row["score"] + row["score_std"], 1.0) + 0.02, "n.s.", ha="center", fontsize=6)
        ax.set_xticks(np.arange(len(classes)))
        ax.set_xticklabels([class_names[k] if class_names is not None else str(k) for k in classes])
        ax.set_ylim(0, 1.12)
        ax.set_ylabel("TCAV score")
        ax.set_xlabel("class")
        ax.plot([], [], color="black", lw=1.2, label="random CAVs")
        ax.legend(fontsize=7, loc="upper right", ncol=min(4, len(concepts) + 1))
        if title is None:
            layer = results["layer"].iloc[0] if "layer" in results.columns else "?"
            threshold = results.attrs.get("threshold")
            title = "TCAV at %s%s" % (layer, "" if threshold is None else " (significant: p < %.2g)" % threshold)
        ax.set_title(title, fontsize=9)
    return results


def _alpha_cmap(color):
    from matplotlib.colors import ListedColormap, to_rgb

    rgba = np.ones((256, 4))
    rgba[:, :3] = to_rgb(color)
    rgba[:, 3] = np.linspace(0.0, 0.85, 256)
    return ListedColormap(rgba)


@shared_docstring
def craft_visualization(result, n_concepts=3, n_crops=8, n_images=4, percentile=90, saveable=True, name="craft",
                        fig_idx=7118, second=10):
    """CRAFT's most important concepts: their best crops, importances and maps on the inputs.

    One row per concept (most important first): its Sobol importance and its ``n_crops`` crops with
    the largest coefficient. A last row shows ``n_images`` inputs with each drawn concept's map
    overlaid in that concept's colour where it exceeds its ``percentile``-th percentile (as Xplique
    draws concept attribution maps).

    Parameters
    ----------
    result : CraftResult
        What :func:`~tensorlayer_xplain.craft` returned.
    n_concepts : int in [1, 10]
        Concepts drawn (at most those extracted).
    n_crops : int in [1, 20]
    n_images : int in [0, 20]
        Inputs drawn with the concept maps (0: none).
    percentile : float in [0, 100)
        A map is drawn where it exceeds this percentile of its values.
    %(figure_conventions)s

    Returns
    -------
    CraftResult
        ``result``, unchanged.

    Examples
    --------
    >>> res = tlxp.craft(model, x, adapter.layer_call_order()[3][0], n_concepts=3, patch_size=14, nb_design=8)
    >>> tlxp.craft_visualization(res, name='craft.png', n_crops=4) is res
    True
    """
    needed = ("order", "importances", "crops", "crop_coefficients", "images", "concept_maps")
    if not all(hasattr(result, a) for a in needed):
        raise TypeError("result: expected the CraftResult tlxp.craft returns, got %s" % type(result).__name__)
    for value, label, low, high in ((n_concepts, "n_concepts", 1, 10), (n_crops, "n_crops", 1, 20),
                                    (n_images, "n_images", 0, 20)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError("%s: expected an int in [%d, %d], got %r" % (label, low, high, value))
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 <= percentile < 100:
        raise ValueError("percentile: expected a number in [0, 100), got %r" % (percentile,))
    shown = [int(c) for c in result.order[:n_concepts]]
    maps = result.concept_maps() if n_images else None
    n_images = min(n_images, len(result.images))
    cols = max(n_crops + 1, n_images)
    rows = len(shown) + (1 if n_images else 0)
    with tl_figure(saveable, name, fig_idx, second, figsize=(1.1 * cols, 1.25 * rows)) as fig:
        for i, c in enumerate(shown):
            color = CONCEPT_COLORS[i % len(CONCEPT_COLORS)]
            ax = fig.add_subplot(rows, cols, i * cols + 1)
            ax.axis("off")
            ax.text(0.5, 0.5, "concept %d\nimportance\n%.3f" % (c, result.importances[c]), ha="center",
                    va="center", fontsize=7, color=color, transform=ax.transAxes)
            for j, k in enumerate(result.best_crops(c, n_crops)):
                ax = fig.add_subplot(rows, cols, i * cols + j + 2)
                draw_image(ax, result.crops[k])
                for spine in ax.spines.values():
                    spine.set_edgecolor(color)
                    spine.set_linewidth(2)
        for j in range(n_images):
            ax = fig.add_subplot(rows, cols, len(shown) * cols + j + 1)
            draw_image(ax, result.images[j], title="input %d" % j)
            for i, c in reversed(list(enumerate(shown))):
                heat = normalize_map(maps[j, :, :, c])
                heat = np.where(heat > np.percentile(heat, percentile), heat, 0.0)
                ax.imshow(heat, cmap=_alpha_cmap(CONCEPT_COLORS[i % len(CONCEPT_COLORS)]), vmin=0, vmax=1,
                          interpolation="bilinear")
        fig.suptitle("CRAFT concepts of class %d at %s (reconstruction error %.2f)"
                     % (result.class_index, result.layer, result.reconstruction_error), fontsize=8)
    return result
