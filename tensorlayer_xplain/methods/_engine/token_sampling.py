"""What the token models' sampling methods and their encoder-decoder versions share.

SmoothGrad's noise rule and expected gradients' draws in embedding space; LIME on
token ids written as words (``lime.lime_text.LimeTextExplainer``); kernel and
partition SHAP over keep/mask switches of tokens. The LIME and SHAP helpers take a
score function ``ids (B, T) -> (B, K)``: one sample set explains every output
column (a token model's explained class, or every output position of an
encoder-decoder, :mod:`tensorlayer_xplain.methods.seq2seq_sampling`).
"""
import numpy as np

from ..shap._common import import_shap
from .blackbox import global_numpy_seed, small_blas

__all__ = ["noise_sigma", "embedding_noise", "background_ids", "path_draws", "ids_as_text", "lime_text",
           "binary_model", "kernel_shap", "partition_shap"]


def noise_sigma(emb, noise_level):
    """SmoothGrad's noise scale per sequence: ``noise_level * (max - min)`` of its embeddings ``(N, T, D)`` -> (N,).

    Examples
    --------
    >>> noise_sigma(np.array([[[0.0, 2.0]], [[1.0, 1.0]]]), 0.5).tolist()     # a flat sequence: range 1
    [1.0, 0.5]
    """
    flat = emb.reshape(len(emb), -1)
    spread = flat.max(axis=1) - flat.min(axis=1)
    return noise_level * np.where(spread > 0, spread, 1.0)


def embedding_noise(rng, shape, sigma, pad):
    """Gaussian noise ``(R, *shape)`` float32 with standard deviation ``sigma`` (R,) per row; 0 at padding (R, T)."""
    noise = rng.standard_normal((len(sigma),) + tuple(shape)).astype(np.float32)
    noise *= (sigma[:, None, None] * ~pad[..., None]).astype(np.float32)
    return noise


def background_ids(adapter, background, baseline_token, length):
    """Expected gradients' background ids ``(M, length)``: ``background``, or the ``baseline_token`` sequence."""
    if background is None:
        return np.full((1, length), adapter.check_token("baseline_token", baseline_token), np.int32)
    back, _ = adapter.prepare(background, name="background")
    if back.shape[1] != length:
        raise ValueError("background: expected token ids (M, %d) like the inputs, got shape %s"
                         % (length, back.shape))
    return back


def path_draws(rng, n_rows, n_background):
    """Expected gradients' draws for ``n_rows`` samples: a background row each and a path point ``a ~ U(0, 1)``."""
    picks = rng.integers(0, n_background, n_rows)
    alpha = rng.uniform(0.0, 1.0, n_rows).astype(np.float32)[:, None, None]
    return picks, alpha


def _masked(ids_row, keep, positions, mask_token):
    """Copies of ``ids_row`` with ``positions[j]`` replaced by ``mask_token`` where ``keep[:, j]`` is False."""
    out = np.repeat(ids_row[None], len(keep), axis=0)
    out[:, positions] = np.where(keep, ids_row[positions][None], mask_token)
    return out


def _text_classifier(row, positions, scores_fn):
    """lime's classifier_fn: texts of space-separated ids (the non-pad positions) -> ``scores_fn(ids)`` (B, K)."""

    def classifier_fn(texts):
        tokens = np.array([[int(w) for w in text.split()] for text in texts], np.int32)
        batch = np.repeat(row[None], len(texts), axis=0)
        batch[:, positions] = tokens
        return np.asarray(scores_fn(batch), np.float64).reshape(len(texts), -1)

    return classifier_fn


def ids_as_text(ids):
    """A sequence of ids written as space-separated words (what ``lime_text`` reads)."""
    return " ".join(str(int(i)) for i in ids)


def lime_text(row, positions, scores_fn, labels, num_samples, num_features, mask_token, kernel_width,
              feature_selection, seed):
    """``lime.lime_text.LimeTextExplainer`` on the ids ``row[positions]`` written as words, for every label at once.

    ``bow=False`` (each position is a feature), ``mask_string`` the ``mask_token``
    id; lime draws one sample set and fits each of ``labels`` (columns of
    ``scores_fn(ids) -> (B, K)``) on it. Returns lime's explanation.
    """
    from lime.lime_text import LimeTextExplainer  # imported on first use, as the other LIME methods do

    explainer = LimeTextExplainer(kernel_width=kernel_width, bow=False, mask_string=str(mask_token),
                                  split_expression=r"\s+", feature_selection=feature_selection, random_state=seed)
    with small_blas():
        return explainer.explain_instance(
            ids_as_text(row[positions]), _text_classifier(row, positions, scores_fn), labels=tuple(labels),
            num_features=len(positions) if num_features is None else num_features, num_samples=num_samples)


def binary_model(row, positions, mask_token, scores_fn):
    """``f(z)`` for shap: z (B, M) in {0, 1} keeps (1) or masks (0) ``row[positions]`` -> ``scores_fn(ids)``."""

    def f(z):
        return scores_fn(_masked(row, np.asarray(z) > 0.5, positions, mask_token))

    return f


def _columns(values, m):
    """shap's values for one input (any of its layouts) as ``(M, K)``: one column per output."""
    return np.asarray(values, np.float64).reshape(m, -1)


def kernel_shap(f, m, nsamples, l1_reg, seed):
    """``shap.KernelExplainer`` on ``f`` over ``m`` keep/mask switches from the all-masked background.

    ``f(z (B, m)) -> (B,)`` or ``(B, K)``: one sample set explains every output.
    Returns the values ``(m, K)`` and the expected values ``(K,)``.

    Examples
    --------
    >>> values, base = kernel_shap(lambda z: z @ np.array([[1.0, 0.0], [2.0, -1.0]]), 2, 'auto', False, 0)
    >>> values.round(6).tolist(), base.tolist()                 # a linear game: its weights, from f(0) = 0
    ([[1.0, 0.0], [2.0, -1.0]], [0.0, 0.0])
    """
    shap = import_shap()
    with global_numpy_seed(seed), small_blas():
        explainer = shap.KernelExplainer(f, np.zeros((1, m)))
        values = explainer.shap_values(np.ones((1, m)), nsamples=nsamples, l1_reg=l1_reg, silent=True)
    if isinstance(values, list):  # one array per output
        values = np.stack([np.asarray(v).reshape(m) for v in values], axis=-1)
    return _columns(values, m), np.ravel(np.asarray(explainer.expected_value, np.float64))


def partition_shap(f, m, max_evals, seed):
    """``shap.PartitionExplainer`` on ``f`` over ``m`` adjacent switches (:func:`_sequential_tree`).

    ``f(z (B, m)) -> (B,)`` or ``(B, K)``: one traversal explains every output.
    One switch alone is exact (``f(1) - f(0)``). Returns the values ``(m, K)`` and
    the base values ``(K,)``.

    Examples
    --------
    >>> values, base = partition_shap(lambda z: z @ np.array([[1.0], [2.0], [3.0]]), 3, 100, 0)
    >>> values.round(6).ravel().tolist(), base.tolist()
    ([1.0, 2.0, 3.0], [0.0])
    """
    if m == 1:
        full, empty = (np.asarray(f(np.full((1, 1), v)), np.float64).reshape(-1) for v in (1, 0))
        return (full - empty)[None], empty
    shap = import_shap()
    masker = shap.maskers.Partition(np.zeros((1, m)), clustering=_sequential_tree(m))
    with global_numpy_seed(seed), small_blas():
        explanation = shap.PartitionExplainer(f, masker)(np.ones((1, m)), max_evals=max_evals, silent=True)
    return _columns(explanation.values, m), np.ravel(np.asarray(explanation.base_values, np.float64))


def _sequential_tree(m):
    """A linkage matrix joining adjacent positions into a balanced binary tree (shap's text partition)."""
    clusters = [(k, 1) for k in range(m)]
    rows, nxt = [], m
    while len(clusters) > 1:
        merged = []
        for j in range(0, len(clusters) - 1, 2):
            (a, na), (b, nb) = clusters[j], clusters[j + 1]
            rows.append([a, b, float(np.log2(na + nb) + 1), na + nb])
            merged.append((nxt, na + nb))
            nxt += 1
        if len(clusters) % 2:
            merged.append(clusters[-1])
        clusters = merged
    return np.array(rows, np.float64)
