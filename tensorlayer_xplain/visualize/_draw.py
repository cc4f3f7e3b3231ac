"""Drawing helpers shared by every figure function: images, heatmaps, overlays, titles."""
import numpy as np

__all__ = ["as_probabilities", "normalize_map", "draw_image", "draw_heatmap", "draw_overlay", "overlay_rgb",
           "heatmap_rgb", "class_label", "prediction_title"]

SIGNED_CMAP = "bwr"
MAGNITUDE_CMAP = "hot"
OVERLAY_CMAP = "jet"


def normalize_map(heat, signed=False):
    """Scale one map to [0, 1] (magnitudes) or [-1, 1] (signed, zero kept at zero).

    Parameters
    ----------
    heat : ndarray, shape (H, W)
    signed : bool

    Returns
    -------
    ndarray, float32, same shape
    """
    heat = np.asarray(heat, dtype=np.float32)
    if signed:
        scale = np.abs(heat).max()
        return heat / scale if scale > 0 else np.zeros_like(heat)
    low, high = heat.min(), heat.max()
    return (heat - low) / (high - low) if high > low else np.zeros_like(heat)


def _image_for_display(image):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = image.min(), image.max()
    if low < 0 or high > 1:
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image


def draw_image(ax, image, title=None):
    """Draw an input image (H, W) or (H, W, C) on ``ax``, gray for one channel."""
    image = _image_for_display(image)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def draw_heatmap(ax, heat, signed=False, title=None, colorbar=True):
    """Draw a normalized attribution map with a colorbar.

    Signed maps use a diverging colormap centred on zero; magnitudes a sequential one.
    """
    norm = normalize_map(heat, signed)
    if signed:
        im = ax.imshow(norm, cmap=SIGNED_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    else:
        im = ax.imshow(norm, cmap=MAGNITUDE_CMAP, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def draw_overlay(ax, image, heat, alpha=0.4, title=None, cmap=OVERLAY_CMAP, colorbar=False):
    """Superimpose a magnitude heatmap (jet) on the input, as in the Keras Grad-CAM recipe."""
    draw_image(ax, image, title)
    im = ax.imshow(normalize_map(heat), cmap=cmap, alpha=alpha, vmin=0, vmax=1, interpolation="bilinear")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def overlay_rgb(image, heat, alpha=0.4):
    """Blend a magnitude heatmap (jet) over an input image, as :func:`draw_overlay` draws it.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1) or (H, W, 3)
    heat : ndarray, shape (H, W)
    alpha : float
        Weight of the heatmap.

    Returns
    -------
    ndarray, float32, shape (H, W, 3), values in [0, 1]

    Examples
    --------
    >>> overlay_rgb(np.zeros((28, 28, 1)), np.ones((28, 28))).shape
    (28, 28, 3)
    """
    import matplotlib

    base = _image_for_display(image)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)
    colors = matplotlib.colormaps[OVERLAY_CMAP](normalize_map(heat))[..., :3]
    return np.clip((1 - alpha) * base + alpha * colors, 0, 1).astype(np.float32)


def heatmap_rgb(heat, signed=False):
    """Colour one map as :func:`draw_heatmap` draws it (diverging when signed, sequential otherwise).

    Parameters
    ----------
    heat : ndarray, shape (H, W)
    signed : bool
        Centre a diverging colormap on zero (``bwr``); else ``hot`` from the minimum to the maximum.

    Returns
    -------
    ndarray, float32, shape (H, W, 3), values in [0, 1]

    Examples
    --------
    >>> heatmap_rgb(np.ones((28, 28)), signed=True).shape
    (28, 28, 3)
    """
    import matplotlib

    norm = normalize_map(heat, signed)
    if signed:
        return matplotlib.colormaps[SIGNED_CMAP]((norm + 1) / 2)[..., :3].astype(np.float32)
    return matplotlib.colormaps[MAGNITUDE_CMAP](norm)[..., :3].astype(np.float32)


def class_label(index, class_names=None):
    """``class_names[index]`` when given, else the index as text."""
    if class_names is not None and 0 <= int(index) < len(class_names):
        return str(class_names[int(index)])
    return str(int(index))


def as_probabilities(scores):
    """Scores as class probabilities along the last axis: kept when every row already is one, else softmax.

    Parameters
    ----------
    scores : array-like, shape (K,) or (N, K)
        Logits or probabilities.

    Returns
    -------
    ndarray, float64, same shape

    Examples
    --------
    >>> as_probabilities([0.0, 0.0]).tolist()
    [0.5, 0.5]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=-1), 1.0, atol=1e-3):
        return scores
    z = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def prediction_title(scores, target=None, class_names=None):
    """'pred 7 (0.98)' and, when the explained target differs, ' | target 3'."""
    scores = np.asarray(scores, dtype=np.float64)
    probs = as_probabilities(scores)
    pred = int(np.argmax(scores))
    title = "pred %s (%.2f)" % (class_label(pred, class_names), probs[pred])
    if target is not None and int(target) >= 0 and int(target) != pred:
        title += " | target %s" % class_label(target, class_names)
    return title
