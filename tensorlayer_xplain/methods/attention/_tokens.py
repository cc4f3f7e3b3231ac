"""Where the tokens of an attention layer lie on the image: prefix tokens, the patch grid, upsampling."""
import math
from collections import namedtuple

import numpy as np

from .._engine.utils import upsample

__all__ = ["TokenLayout", "token_layout", "tokens_to_image"]

TokenLayout = namedtuple("TokenLayout", ["n_prefix", "grid_shape", "covered"])
TokenLayout.__doc__ = """How the tokens of an attention layer map to the image.

n_prefix : int
    Tokens before the patches (1 for a class token).
grid_shape : (int, int)
    Patch grid (rows, columns); patch token ``k`` is cell ``divmod(k, columns)``.
covered : (int, int)
    Image pixels ``(H', W')`` the grid covers from the top-left corner (the rest
    of the image, if any, belongs to no patch).
"""



def _square_side(n):
    side = math.isqrt(n) if n > 0 else 0
    return side if side * side == n and side > 0 else None


def token_layout(adapter, n_tokens):
    """Work out which tokens are patches and where they lie on the image.

    Read from the model's layers when they say it (a layer with ``grid_shape`` and
    ``patch_size`` such as :class:`~tensorlayer_xplain.layers.PatchEmbedding`, a
    layer with ``num_prefix_tokens`` such as ``ClassToken``); otherwise the patch
    tokens are assumed to form a square grid covering the whole image, after one
    class token when ``n_tokens - 1`` is a square and ``n_tokens`` is not.

    Parameters
    ----------
    adapter : ModelAdapter
    n_tokens : int
        Tokens per sequence of the attention layer (T).

    Returns
    -------
    TokenLayout

    Raises
    ------
    ValueError
        When the tokens cannot be placed on a grid.

    Examples
    --------
    >>> token_layout(as_adapter(tlxp.models.attention_mnist(seed=0)), 50)
    TokenLayout(n_prefix=1, grid_shape=(7, 7), covered=(28, 28))
    """
    height, width = adapter.image_shape[:2]
    layers = adapter.iter_layers()
    patches = [layer for layer in layers
               if getattr(layer, "grid_shape", None) is not None and getattr(layer, "patch_size", None) is not None]
    prefix_layers = [layer for layer in layers if isinstance(getattr(layer, "num_prefix_tokens", None), int)]
    if patches:
        (gh, gw), (ph, pw) = patches[-1].grid_shape, patches[-1].patch_size
        n_prefix = n_tokens - gh * gw
        if n_prefix < 0:
            raise ValueError("layer_name: the attention layer has %d tokens, fewer than the %dx%d patches of %r"
                             % (n_tokens, gh, gw, patches[-1].name))
        return TokenLayout(n_prefix, (gh, gw), (min(gh * ph, height), min(gw * pw, width)))
    if prefix_layers:
        n_prefix = sum(layer.num_prefix_tokens for layer in prefix_layers)
    else:
        n_prefix = 0 if _square_side(n_tokens) else (1 if _square_side(n_tokens - 1) else 0)
    side = _square_side(n_tokens - n_prefix)
    if side is None:
        raise ValueError(
            "layer_name: cannot place %d attention tokens (%d prefix) on a square patch grid; give the patch "
            "layer `grid_shape` and `patch_size` attributes (as PatchEmbedding has)" % (n_tokens, n_prefix))
    return TokenLayout(n_prefix, (side, side), (height, width))


def tokens_to_image(token_maps, layout, image_size, interpolation="bilinear"):
    """Place one value per patch token on the image: ``(N, gh*gw)`` -> ``(N, H, W)``.

    The patch grid is upsampled to the pixels it covers; pixels outside any patch are 0.

    Parameters
    ----------
    token_maps : ndarray, shape (N, gh * gw) or (N, K, gh * gw)
    layout : TokenLayout
    image_size : (int, int)
    interpolation : str
        ``'bilinear'`` (smooth) or ``'nearest'`` (one flat block per patch), or any
        ``tf.image.resize`` method.

    Returns
    -------
    ndarray, float32, shape (N, H, W) or (N, K, H, W)
    """
    token_maps = np.asarray(token_maps, np.float32)
    lead = token_maps.shape[:-1]
    grid = token_maps.reshape((-1,) + tuple(layout.grid_shape))
    covered = upsample(grid, layout.covered, method=interpolation)
    out = np.zeros((len(grid),) + tuple(image_size), np.float32)
    out[:, :layout.covered[0], :layout.covered[1]] = covered
    return out.reshape(lead + tuple(image_size))
