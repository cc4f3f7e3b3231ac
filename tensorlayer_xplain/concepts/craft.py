"""CRAFT: concept recursive activation factorisation (Fel et al., CVPR 2023), after Xplique's ``Craft``.

The model is split at a layer into ``g`` (input -> layer, non-negative activations such as a
ReLU's output) and ``h`` (layer -> scores). For the inputs of one class:

1. crops: square patches of each input (``patch_size``, ``stride``), resized to the input size
   (``crop_mode='resize'``, the paper's) or kept in place on a blank canvas (``'mask'``);
2. their activations ``A = g(crops)``, averaged over space (over the crop's cells with ``'mask'``):
   ``(P, C)``, non-negative;
3. non-negative matrix factorisation ``A ~ U W`` (:class:`sklearn.decomposition.NMF`, on ``A`` divided by
   its RMS so that the regularisation does not depend on the layer's scale): the rows of
   ``W`` (``(n_concepts, C)``) are the concepts, ``U`` (``(P, n_concepts)``) how much of each a crop holds;
4. importance: for each input, its activations ``g(x)`` at every position are written in the concept
   basis (``U_x = transform(g(x))``), the concept coefficients are scaled by random masks of a
   replicated design, ``h(mask * U_x W)`` gives the class score, and the total-order Sobol index of
   each concept (:mod:`.sobol`) is averaged over the inputs;
5. each concept is shown by its best crops (largest ``U``) and by its coefficient map over each input
   (``U_x`` per position, upsampled; at a layer without a grid, the coefficients of the crops
   covering each pixel).

``h`` is evaluated through the adapter: the layer's output is replaced by the rebuilt activations
while the model runs (:meth:`ModelAdapter.scores_with_layer_output`), batched and compiled once.
"""
import dataclasses

import numpy as np

from ..adapter import as_adapter
from .activations import MAX_SET_SIZE, check_layer, check_set, layer_activations, scores_from_layer
from .sobol import MAX_DESIGN, jansen_total_indices, replicated_design

__all__ = ["craft", "CraftResult", "MAX_CONCEPTS", "extract_crops"]

#: Largest ``n_concepts``.
MAX_CONCEPTS = 64
#: Bytes of resized crops (or of rows of ``h``) prepared at once.
CHUNK_BYTES = 64 << 20
#: Largest bytes of the crops kept in the result.
MAX_CROP_BYTES = 1 << 30
#: Largest number of rows ``h`` is evaluated on: ``len(inputs) * nb_design * (n_concepts + 2)``.
MAX_H_ROWS = 20_000_000


@dataclasses.dataclass
class CraftResult:
    """What :func:`craft` found for one class at one layer.

    Attributes
    ----------
    layer : str
    class_index : int
    concepts : ndarray, float32, shape (n_concepts, C)
        The concept bank ``W``: each row a non-negative direction in the layer's channels.
    crops : ndarray, float32, shape (P, patch, patch, channels)
        The crops, as cut from the images (before resizing).
    crop_origins : ndarray, int, shape (P, 3)
        ``(image index, row, column)`` of each crop's top-left corner.
    crop_coefficients : ndarray, float32, shape (P, n_concepts)
        ``U``: each crop's amount of each concept.
    importances : ndarray, float64, shape (n_concepts,)
        Total-order Sobol index of each concept for the class score, averaged over the inputs.
    order : ndarray of int, shape (n_concepts,)
        Concepts from most to least important.
    reconstruction_error : float
        ``||A - U W||_F / ||A||_F`` on the crop activations.
    maps : ndarray, float32, shape (N, h, w, n_concepts)
        Each input's concept coefficients at every position of the layer's grid ``(h, w)``; for a
        layer without a grid (a dense layer), the coefficients of the crops covering each pixel,
        averaged, at the images' size.
    images : ndarray, float32, shape (N, H, W, channels)
        The inputs, as images.
    patch_size, stride : int
    params : dict
        The remaining parameters of the call.

    Examples
    --------
    >>> conv2 = tlxp.as_adapter(model).layer_call_order()[3][0]
    >>> res = tlxp.craft(model, x, conv2, n_concepts=3, patch_size=14, stride=7, nb_design=8)
    >>> res.concepts.shape, res.crops.shape, res.maps.shape
    ((3, 32), (36, 14, 14, 1), (4, 14, 14, 3))
    >>> sorted(res.order.tolist())
    [0, 1, 2]
    """

    layer: str
    class_index: int
    concepts: np.ndarray
    crops: np.ndarray
    crop_origins: np.ndarray
    crop_coefficients: np.ndarray
    importances: np.ndarray
    order: np.ndarray
    reconstruction_error: float
    maps: object
    images: np.ndarray
    patch_size: int
    stride: int
    params: dict = dataclasses.field(default_factory=dict)

    def best_crops(self, concept, k=10):
        """Indices of the ``k`` crops holding the most of ``concept`` (largest coefficient first).

        Parameters
        ----------
        concept : int
            A concept index (``order[0]`` is the most important).
        k : int

        Returns
        -------
        ndarray of int, shape (min(k, P),)

        Examples
        --------
        >>> res = tlxp.craft(model, x, adapter.layer_call_order()[3][0], n_concepts=3, patch_size=14, nb_design=8)
        >>> res.crops[res.best_crops(res.order[0], 5)].shape
        (5, 14, 14, 1)
        """
        n = self.concepts.shape[0]
        if isinstance(concept, bool) or not isinstance(concept, (int, np.integer)) or not 0 <= concept < n:
            raise ValueError("concept: expected a concept index in [0, %d), got %r" % (n, concept))
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError("k: expected a positive int, got %r" % (k,))
        return np.argsort(-self.crop_coefficients[:, concept], kind="stable")[:k]

    def concept_maps(self):
        """The concept coefficient maps upsampled to the images' size (bilinear).

        Returns
        -------
        ndarray, float32, shape (N, H, W, n_concepts)

        Examples
        --------
        >>> res = tlxp.craft(model, x, adapter.layer_call_order()[3][0], n_concepts=3, patch_size=14, nb_design=8)
        >>> res.concept_maps().shape
        (4, 28, 28, 3)
        """
        import tensorflow as tf

        return tf.image.resize(self.maps, self.images.shape[1:3], method="bilinear").numpy()

    def plot(self, **kwargs):
        """Draw the concepts (see :func:`tensorlayer_xplain.visualize.craft_visualization`).

        Parameters
        ----------
        **kwargs
            Passed to :func:`~tensorlayer_xplain.visualize.craft_visualization`.

        Returns
        -------
        CraftResult
            ``self``.

        Examples
        --------
        >>> res = tlxp.craft(model, x, adapter.layer_call_order()[3][0], n_concepts=3, patch_size=14, nb_design=8)
        >>> res.plot(name='craft.png') is res
        True
        """
        from ..visualize.concepts import craft_visualization

        return craft_visualization(self, **kwargs)


def _check_int(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError("%s: expected an int in [%d, %d], got %r" % (name, low, high, value))
    return int(value)


def extract_crops(images, patch_size, stride):
    """Square crops of every image on a regular grid (no padding), with their top-left corners.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    patch_size : int
    stride : int

    Returns
    -------
    crops : ndarray, shape (N * n_rows * n_cols, patch_size, patch_size, C)
    origins : ndarray of int, shape (N * n_rows * n_cols, 3)
        ``(image index, row, column)``.

    Examples
    --------
    >>> crops, origins = extract_crops(np.zeros((2, 28, 28, 1)), 12, 8)
    >>> crops.shape, origins[:4].tolist()
    ((18, 12, 12, 1), [[0, 0, 0], [0, 0, 8], [0, 0, 16], [0, 8, 0]])
    """
    n, height, width, _ = images.shape
    rows = range(0, height - patch_size + 1, stride)
    cols = range(0, width - patch_size + 1, stride)
    origins = np.array([(i, r, c) for i in range(n) for r in rows for c in cols], np.int64)
    crops = np.stack([images[i, r:r + patch_size, c:c + patch_size] for i, r, c in origins])
    return crops, origins


def _grid_mean(acts, origins, patch_size, image_shape):
    """Mean of each row's activations over the grid cells whose centres fall inside its crop."""
    if acts.ndim != 4:
        return acts.reshape(len(acts), -1) if acts.ndim > 2 else acts
    h, w = acts.shape[1:3]
    centres_y = (np.arange(h) + 0.5) * image_shape[0] / h
    centres_x = (np.arange(w) + 0.5) * image_shape[1] / w
    out = np.empty((len(acts), acts.shape[-1]), np.float32)
    for i, (_, r, c) in enumerate(origins):
        rows = (centres_y >= r) & (centres_y < r + patch_size)
        cols = (centres_x >= c) & (centres_x < c + patch_size)
        if not rows.any():
            rows = np.abs(centres_y - (r + patch_size / 2)) == np.abs(centres_y - (r + patch_size / 2)).min()
        if not cols.any():
            cols = np.abs(centres_x - (c + patch_size / 2)) == np.abs(centres_x - (c + patch_size / 2)).min()
        out[i] = acts[i][rows][:, cols].mean(axis=(0, 1))
    return out


def _crop_activations(adapter, crops, origins, images, layer_name, crop_mode, fill, batch_size):
    """``g`` on each crop, one vector per crop: resized to the input size and averaged over space
    (``'resize'``), or kept in place on a ``fill`` canvas and averaged over the grid cells it covers
    (``'mask'``); chunk by chunk."""
    import tensorflow as tf

    image_shape = images.shape[1:]
    patch_size = crops.shape[1]
    step = max(1, CHUNK_BYTES // (4 * int(np.prod(image_shape))))
    out = []
    for start in range(0, len(crops), step):
        part, where = crops[start:start + step], origins[start:start + step]
        if crop_mode == "resize":
            batch = tf.image.resize(part, image_shape[:2], method="bicubic").numpy()
        else:
            batch = np.full((len(part),) + image_shape, fill, np.float32)
            for j, (_, r, c) in enumerate(where):
                batch[j, r:r + patch_size, c:c + patch_size] = part[j]
        acts = layer_activations(adapter, batch, layer_name, batch_size, "inputs (crops)")
        if crop_mode == "resize" or acts.ndim != 4:
            out.append(acts.reshape(len(acts), -1, acts.shape[-1]).mean(axis=1) if acts.ndim > 2 else acts)
        else:
            out.append(_grid_mean(acts, where, patch_size, image_shape))
    return np.concatenate(out, axis=0)


def _importances(adapter, x, layer_name, image_acts, coeffs, bank, class_index, nb_design, batch_size):
    """Sobol total indices of the concepts for each input, averaged (the rows of ``h`` in bounded chunks)."""
    n_concepts = bank.shape[0]
    masks = replicated_design(n_concepts, nb_design)  # (M, r)
    m = len(masks)
    layer_shape = image_acts.shape[1:]
    row_bytes = 4 * (int(np.prod(x.shape[1:])) + int(np.prod(layer_shape)))
    per_chunk = max(1, CHUNK_BYTES // (m * row_bytes))
    positions = coeffs.reshape(len(x), -1, n_concepts)  # (N, positions, r)
    indices = []
    for start in range(0, len(x), per_chunk):
        stop = min(len(x), start + per_chunk)
        u = positions[start:stop, None, :, :] * masks[None, :, None, :]  # (k, M, positions, r)
        acts = (u @ bank).reshape((-1,) + layer_shape).astype(np.float32)
        rows = np.repeat(x[start:stop], m, axis=0)
        scores = scores_from_layer(adapter, rows, layer_name, acts, batch_size)[:, class_index]
        indices.extend(jansen_total_indices(s, nb_design, n_concepts) for s in scores.reshape(stop - start, m))
    return np.mean(indices, axis=0)


def craft(model, inputs, layer_name, n_concepts=10, patch_size=None, stride=None, class_index=None,
          nb_design=32, seed=0, alpha_w=1e-2, max_iter=500, crop_mode="resize", fill=0.0, batch_size=None):
    """Extract a class's concepts at a layer by NMF of crop activations and rank them by Sobol importance.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or ModelAdapter
        A model with named layers and image inputs (or inputs that reshape to images, e.g. a flat MLP).
    inputs : ndarray, shape (N, ...)
        Inputs of one class (at most 100000 crops in all).
    layer_name : str
        The split point: its output must be non-negative (e.g. a ReLU's); spatial outputs
        ``(N, h, w, C)`` are averaged over space for the crops and give concept maps for the inputs.
    n_concepts : int in [1, 64]
        Concepts to extract (at most the number of crops and of channels).
    patch_size : int, optional
        Side of the crops in pixels, in [2, min(H, W)]; default ``min(H, W) // 2``.
    stride : int, optional
        Step between crops, in [1, patch_size]; default ``max(1, int(0.8 * patch_size))`` (Xplique's).
    class_index : int, optional
        The class whose score ``h`` is explained; default: the class most inputs are predicted as.
    nb_design : int in [2, 4096]
        Points of the Sobol replicated design: ``h`` runs ``nb_design * (n_concepts + 2)`` times per input.
    seed : int
        Seeds the NMF initialisation.
    alpha_w : float >= 0
        NMF regularisation of the concept bank (``alpha_W``, as Xplique).
    max_iter : int in [1, 10000]
        NMF iterations.
    crop_mode : {'resize', 'mask'}
        How a crop reaches ``g``: ``'resize'`` (the paper's and Xplique's) resizes it to the input
        size (bicubic) and averages its activations over space; ``'mask'`` keeps it at its place and
        scale on a canvas of ``fill`` and averages the activations over the grid cells it covers. On
        small inputs (28x28 digits) resizing magnifies a crop several times, past the scales the
        model was trained on; ``'mask'`` shows the model each crop as it appears in its inputs.
    fill : float
        Canvas value of ``'mask'`` crops (the input's background, e.g. 0 for MNIST).
    batch_size : int, optional
        Upper bound on rows per model call.

    Returns
    -------
    CraftResult
        The concept bank, crops and their coefficients, importances, concept maps and the
        factorisation's relative reconstruction error; ``.plot(...)`` draws them.

    Raises
    ------
    KeyError
        ``layer_name`` is not a layer of the model.
    ValueError
        Negative activations at the layer, inputs that are not images, parameters out of range.

    Examples
    --------
    >>> hidden = tlxp.as_adapter(model).layer_call_order()[-2][0]   # the dense ReLU layer before the logits
    >>> res = tlxp.craft(model, X_test[:6], hidden, n_concepts=4, patch_size=14, stride=7, class_index=3,
    ...                  nb_design=16, crop_mode='mask')
    >>> res.concepts.shape, res.importances.shape, res.maps.shape        # maps: from the crops at a dense layer
    ((4, 64), (4,), (6, 28, 28, 4))
    >>> bool(0 <= res.reconstruction_error < 1)
    True
    >>> res.plot(name='craft_3.png', n_concepts=2, n_crops=4, n_images=3) is res
    True

    On MNIST (``examples/mnist_concepts.py``), the top concept of the shortcut model's 7s holds the
    planted corner square in all of its 20 best crops (Sobol importance 0.83; the next concept 0.03).
    """
    from sklearn.decomposition import NMF

    adapter = as_adapter(model)
    layer_name = check_layer(adapter, layer_name)
    x = check_set(adapter, inputs, "inputs", 1)
    images = adapter.to_image(x)
    height, width, channels = images.shape[1:]
    n_concepts = _check_int(n_concepts, "n_concepts", 1, MAX_CONCEPTS)
    patch_size = min(height, width) // 2 if patch_size is None else patch_size
    patch_size = _check_int(patch_size, "patch_size", 2, min(height, width))
    stride = max(1, int(0.8 * patch_size)) if stride is None else stride
    stride = _check_int(stride, "stride", 1, patch_size)
    nb_design = _check_int(nb_design, "nb_design", 2, MAX_DESIGN)
    max_iter = _check_int(max_iter, "max_iter", 1, 10_000)
    seed = _check_int(seed, "seed", 0, 2 ** 32 - 1)
    if crop_mode not in ("resize", "mask"):
        raise ValueError("crop_mode: expected 'resize' or 'mask', got %r" % (crop_mode,))
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not np.isfinite(fill):
        raise ValueError("fill: expected a finite number, got %r" % (fill,))
    if isinstance(alpha_w, bool) or not isinstance(alpha_w, (int, float)) or not 0 <= alpha_w <= 100:
        raise ValueError("alpha_w: expected a regularisation strength in [0, 100], got %r" % (alpha_w,))
    n_crops = len(x) * len(range(0, height - patch_size + 1, stride)) * len(range(0, width - patch_size + 1, stride))
    if n_crops > MAX_SET_SIZE:
        raise ValueError("inputs: %d inputs give %d crops of %d pixels with stride %d, more than %d; pass fewer "
                         "inputs or a larger stride" % (len(x), n_crops, patch_size, stride, MAX_SET_SIZE))
    crop_bytes = 4 * n_crops * patch_size * patch_size * channels
    if crop_bytes > MAX_CROP_BYTES:
        raise ValueError("inputs: %d crops of %dx%dx%d take %.1f GiB, more than %.0f GiB; pass fewer inputs, a "
                         "smaller patch_size or a larger stride"
                         % (n_crops, patch_size, patch_size, channels, crop_bytes / 2 ** 30, MAX_CROP_BYTES / 2 ** 30))
    h_rows = len(x) * nb_design * (n_concepts + 2)
    if h_rows > MAX_H_ROWS:
        raise ValueError("nb_design: %d inputs x %d design points x (%d concepts + 2) = %d evaluations of the model, "
                         "more than %d; pass fewer inputs, concepts or design points"
                         % (len(x), nb_design, n_concepts, h_rows, MAX_H_ROWS))
    scores = adapter.predict(x, batch_size=batch_size)
    if class_index is None:
        class_index = int(np.bincount(scores.argmax(axis=1)).argmax())
    class_index = _check_int(class_index, "class_index", 0, scores.shape[1] - 1)

    crops, origins = extract_crops(images, patch_size, stride)
    crop_acts = _crop_activations(adapter, crops, origins, images, layer_name, crop_mode, fill, batch_size)
    if crop_acts.min() < 0:
        raise ValueError("layer_name: CRAFT factorises non-negative activations (e.g. a ReLU's output); layer %r "
                         "has values down to %.3g" % (layer_name, crop_acts.min()))
    if n_concepts > min(crop_acts.shape):
        raise ValueError("n_concepts: expected at most min(crops, channels) = %d concepts, got %d"
                         % (min(crop_acts.shape), n_concepts))
    # factorised at unit RMS (alpha_w then means the same at any activation scale); the bank is scaled back
    scale = max(float(np.sqrt(np.mean(crop_acts.astype(np.float64) ** 2))), 1e-30)
    reducer = NMF(n_components=n_concepts, alpha_W=alpha_w, random_state=seed, max_iter=max_iter)
    u = reducer.fit_transform(crop_acts.astype(np.float64) / scale)
    bank = reducer.components_ * scale
    error = float(np.linalg.norm(crop_acts - u @ bank) / max(np.linalg.norm(crop_acts), 1e-12))

    image_acts = layer_activations(adapter, x, layer_name, batch_size)
    if image_acts.shape[-1] != bank.shape[1]:
        raise ValueError("layer_name: layer %r's last axis (%d) is not its channels"
                         % (layer_name, image_acts.shape[-1]))
    coeffs = reducer.transform(np.maximum(image_acts, 0).reshape(-1, bank.shape[1]).astype(np.float64) / scale)
    coeffs = coeffs.reshape(image_acts.shape[:-1] + (n_concepts,))
    importances = _importances(adapter, x, layer_name, image_acts, coeffs, bank, class_index, nb_design, batch_size)
    if image_acts.ndim == 4:
        maps = coeffs.astype(np.float32)
    else:  # no grid at the layer: each pixel gets the mean coefficients of the crops covering it
        maps = np.zeros(images.shape[:3] + (n_concepts,), np.float32)
        counts = np.zeros(images.shape[:3] + (1,), np.float32)
        for (i, r, c), coefficients in zip(origins, u):
            maps[i, r:r + patch_size, c:c + patch_size] += coefficients
            counts[i, r:r + patch_size, c:c + patch_size] += 1
        maps /= np.maximum(counts, 1)
    return CraftResult(
        layer=layer_name, class_index=class_index, concepts=bank.astype(np.float32),
        crops=crops.astype(np.float32), crop_origins=origins, crop_coefficients=u.astype(np.float32),
        importances=importances, order=np.argsort(-importances, kind="stable"), reconstruction_error=error,
        maps=maps, images=images.astype(np.float32),
        patch_size=patch_size, stride=stride,
        params={"n_concepts": n_concepts, "nb_design": nb_design, "seed": seed, "alpha_w": alpha_w,
                "max_iter": max_iter, "crop_mode": crop_mode, "fill": float(fill)},
    )
