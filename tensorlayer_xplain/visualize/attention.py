"""Attention figures: the input, per-head (or fused) attention, attention rollout and an overlay."""
from .._utils.docstrings import shared_docstring
from .._utils.drawing import draw_heatmap, draw_image, draw_overlay, prediction_title
from .._utils.figure import tl_figure
from ..explanation import Explanation
from ._common import obtain_explanation, pick_targets

__all__ = ["attention_visualization"]


def _attention_columns(att, roll, show_heads):
    """``[(title, maps (N, H, W) or None for the input, overlay?)]`` for one figure."""
    columns = [("input", None, False)]
    if att.meta.get("attention_kind") == "self_attention":
        if show_heads and att.meta.get("head") is None and "head_maps" in att.meta:
            head_maps = att.meta["head_maps"]
            columns += [("head %d" % k, head_maps[:, k], False) for k in range(head_maps.shape[1])]
        head = att.meta.get("head")
        which = "head %d" % head if head is not None else "heads %s" % att.meta.get("head_fusion", "mean")
        columns.append(("attention (%s)" % which, att.heatmap(), False))
    else:
        source = att.meta.get("layer_name") or att.meta.get("activation_source", "input")
        columns.append(("activation attention\n%s, p=%g" % (source, att.meta.get("p", 2.0)), att.heatmap(), False))
    if roll is not None:
        columns.append(("rollout (%s)" % roll.meta.get("head_fusion", "mean"), roll.heatmap(), False))
        columns.append(("rollout overlay", roll.heatmap(), True))
    else:
        columns.append(("overlay", att.heatmap(), True))
    return columns


@shared_docstring
def attention_visualization(model, inputs, layer_name=None, head=None, saveable=True, name="attention",
                            fig_idx=4719305, second=10, targets=None, rollout=True, show_heads=True,
                            head_fusion="mean", query="auto", alpha=0.5, class_names=None, target_class=None,
                            **params):
    """Draw where a model attends, TL style: one row per input.

    Columns: the input (titled with the prediction); for a self-attention model,
    each head's map (``head=None`` and ``show_heads``) and the fused map (or the
    chosen ``head``), then the attention rollout across all layers and the rollout
    superimposed on the input; for a model without attention (CNN, MLP), the
    activation attention map and its overlay. See the ``attention`` and
    ``attention_rollout`` methods.

    Parameters
    ----------
    %(figure_model)s
    inputs : ndarray (N, ...) or Explanation
        Inputs, or a precomputed ``attention`` :class:`Explanation` (drawn as is;
        the rollout is computed for its inputs).
    layer_name : str, optional
        Attention layer (or a layer holding one); default the last one. For models
        without attention, a layer with a 4-D output.
    head : int, optional
        Draw this head only; None draws every head and their fusion.
    %(figure_conventions)s
    targets : ignored by attention, used for the prediction titles only
        (``target_class`` is another name).
    rollout : bool
        Add the attention rollout (self-attention models only).
    show_heads : bool
        Draw one column per head when ``head`` is None.
    head_fusion : {'mean', 'max', 'min'}
    query : {'auto', 'cls', 'mean'}
    alpha : float
        Opacity of the overlay.
    %(figure_class_names)s
    **params
        Other ``attention`` parameters (``p``, ``interpolation``, ``batch_size``).

    Returns
    -------
    dict of str -> Explanation
        ``'attention'`` and, for a self-attention model with ``rollout``, ``'attention_rollout'``.

    Examples
    --------
    >>> import tensorlayer_xplain as tlxp
    >>> exps = tlxp.attention_visualization(vit, X_test[:4], name='out/attention.png')
    >>> exps['attention_rollout'].meta['rollout'].shape
    (4, 50, 50)
    """
    targets = pick_targets(targets, target_class)
    if isinstance(inputs, Explanation) and inputs.method != "attention":
        raise ValueError("inputs: expected an 'attention' Explanation or an array, got an Explanation of %r"
                         % inputs.method)
    att = obtain_explanation(model, inputs, "attention", targets, layer_name=layer_name, head=head,
                             head_fusion=head_fusion, query=query, **params)
    exps = {"attention": att}
    roll = None
    if rollout and att.meta.get("attention_kind") == "self_attention":
        source = att.inputs if isinstance(inputs, Explanation) else inputs
        roll_params = {k: v for k, v in params.items() if k in ("interpolation", "batch_size")}
        roll = obtain_explanation(model, source, "attention_rollout", None if source is not inputs else targets,
                                  head_fusion=head_fusion, query=att.meta.get("query", query), **roll_params)
        exps["attention_rollout"] = roll
    columns = _attention_columns(att, roll, show_heads)
    images, n, n_cols = att.images(), len(att), len(columns)
    with tl_figure(saveable, name, fig_idx, second, figsize=(2.1 * n_cols, 2.2 * n)) as fig:
        for i in range(n):
            for c, (title, maps, overlay) in enumerate(columns):
                ax = fig.add_subplot(n, n_cols, i * n_cols + c + 1)
                if maps is None:
                    draw_image(ax, images[i], prediction_title(att.predictions[i], att.targets[i], class_names))
                elif overlay:
                    draw_overlay(ax, images[i], maps[i], alpha, title=title if i == 0 else None)
                else:
                    draw_heatmap(ax, maps[i], False, title=title if i == 0 else None, colorbar=False)
    return exps
