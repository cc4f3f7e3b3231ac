"""The sampling methods on an encoder-decoder: every output position from one sample set.

:func:`~tensorlayer_xplain.methods.seq2seq.explain_seq2seq` runs these; each returns
attributions ``(N, T_out, T_src)`` over the source tokens and a dict of extras.

* ``smoothgrad`` and ``shap`` (expected gradients) sample in embedding space: the
  samples of all sequences are rows of the adapter's compiled ``source_gradients``
  (one forward pass per row, one backward pass per output position), in blocks
  bounded in bytes. The noise rule, the background and the path points are the
  token models' (:mod:`tensorlayer_xplain.methods.tokens`); sequence ``i``'s draws
  come from ``default_rng([seed, i, first sample])``, so they do not depend on the
  other sequences.
* ``lime``, ``shap_kernel`` and ``shap_partition`` draw one sample set of masked
  sources per sequence and score it at every output position at once (the
  teacher-forced scores of the explained tokens, ``(B, T_out)``): lime's
  ``LimeTextExplainer`` fits each position (``labels=range(T_out)``) on the same
  samples, and shap's Kernel and Partition explainers take the multi-output function
  (one explanation per output). Padding is never perturbed.
"""
import numpy as np

from ._engine.blocks import BLOCK_BYTES
from ._engine.checks import check_feature_selection, l1_reg_value, non_negative, positive_int, seed_value
from ._engine.token_sampling import (
    background_ids,
    binary_model,
    embedding_noise,
    kernel_shap,
    lime_text,
    noise_sigma,
    partition_shap,
    path_draws,
)
from .shap._common import _additivity

__all__ = ["SAMPLED_METHODS", "GRADIENT_SAMPLING", "PERTURBATION", "explain_sampled", "position_scores",
           "token_or_pad", "sampling_cost"]

#: Expected gradients and SmoothGrad: gradients at sampled source embeddings.
GRADIENT_SAMPLING = ("smoothgrad", "shap")
#: LIME and SHAP on masked source tokens.
PERTURBATION = ("lime", "shap_kernel", "shap_partition")
#: Every method of this module (registry names).
SAMPLED_METHODS = GRADIENT_SAMPLING + PERTURBATION


def token_or_pad(adapter, name, value):
    """The token id argument ``name`` (``mask_token``, ``baseline_token``), the pad id when None.

    Examples
    --------
    >>> adapter = tlxp.Seq2seqAdapter(luong)
    >>> token_or_pad(adapter, 'mask_token', None), token_or_pad(adapter, 'mask_token', 3)
    (0, 3)
    """
    token = adapter.pad_id if value is None else adapter.check_token(name, value)
    if token is None:
        raise ValueError("%s: the adapter has no pad id; give %s=" % (name, name))
    return int(token)


def position_scores(adapter, src, dec, tokens, batch_size=None):
    """Teacher-forced scores of ``tokens`` ``(R, T_out)`` for source rows ``src`` ``(R, T_src)``.

    ``dec`` and ``tokens`` ``(R, T_out)``: each row's decoder inputs and explained
    tokens. The logits ``(R, T_out, V)`` are taken in blocks of at most
    :data:`~tensorlayer_xplain.methods.engine.BLOCK_BYTES` and reduced to the selected
    scores at once.

    Examples
    --------
    >>> adapter = tlxp.Seq2seqAdapter(luong)
    >>> scores = position_scores(adapter, src, dec, np.zeros(dec.shape, np.int32))   # token 0 at every position
    >>> scores.shape, bool(np.allclose(scores, adapter.teacher_forced(src, dec)[..., 0], atol=1e-6))
    ((4, 5), True)
    """
    out = np.zeros(tokens.shape, np.float32)
    rows = max(1, BLOCK_BYTES // (4 * tokens.shape[1] * max(1, adapter.vocab_size)))
    start = 0
    while start < len(src):
        stop = min(len(src), start + rows)
        logits = adapter.teacher_forced(src[start:stop], dec[start:stop], batch_size)
        out[start:stop] = np.take_along_axis(logits, tokens[start:stop, :, None], -1)[..., 0]
        rows = max(1, BLOCK_BYTES // max(1, logits[0].nbytes))  # the output's own vocabulary
        start = stop
    return out


def _sample_blocks(n, n_samples, per_block):
    """``(first sequence, last + 1, first sample, last + 1)`` blocks of at most ``per_block`` rows (or one sample)."""
    if n_samples <= per_block:
        step = per_block // n_samples
        return [(i, min(n, i + step), 0, n_samples) for i in range(0, n, step)]
    return [(i, i + 1, k, min(n_samples, k + per_block)) for i in range(n) for k in range(0, n_samples, per_block)]


def _draws(seed, i0, i1, k0, k1):
    """Each sequence's generator for samples ``k0..k1`` (independent of the other sequences)."""
    return [np.random.default_rng(None if seed is None else [seed, i, k0]) for i in range(i0, i1)]


def _gradient_sampling(adapter, name, src, dec, targets, logits, batch_size, n_samples, seed, noise_level=0.15,
                       absolute=True, background=None, baseline_token=None):
    n, t_src = src.shape
    t_out = targets.shape[1]
    pad = adapter.padding(src)
    emb = adapter.embed(src)
    if name == "smoothgrad":
        sigma = noise_sigma(emb, non_negative("noise_level", noise_level))
    else:
        back = background_ids(adapter, background, token_or_pad(adapter, "baseline_token", baseline_token), t_src)
    total = np.zeros((n, t_out, t_src), np.float64)
    per_block = max(1, BLOCK_BYTES // (4 * t_out * t_src * emb.shape[2]))  # the gradients of one row
    for i0, i1, k0, k1 in _sample_blocks(n, n_samples, per_block):
        rows = np.repeat(np.arange(i0, i1), k1 - k0)
        if name == "smoothgrad":
            noise = np.concatenate([embedding_noise(rng, emb.shape[1:], sigma[[i] * (k1 - k0)], pad[[i] * (k1 - k0)])
                                    for rng, i in zip(_draws(seed, i0, i1, k0, k1), range(i0, i1))])
            grads, _ = adapter.source_gradients(src[rows], dec[rows], emb[rows] + noise, targets[rows], batch_size)
            per = grads.sum(-1, dtype=np.float64)
            per = np.abs(per) if absolute else per
        else:
            picks, alpha = (np.concatenate(parts) for parts in zip(*[path_draws(rng, k1 - k0, len(back))
                                                                    for rng in _draws(seed, i0, i1, k0, k1)]))
            base = adapter.embed(np.where(pad[rows], src[rows], back[picks]))
            grads, _ = adapter.source_gradients(src[rows], dec[rows], base + alpha * (emb[rows] - base),
                                                targets[rows], batch_size)
            per = ((emb[rows] - base)[:, None] * grads).sum(-1, dtype=np.float64)
        total[i0:i1] += per.reshape(i1 - i0, k1 - k0, t_out, t_src).sum(axis=1)
    attributions = np.where(pad[:, None], 0.0, total / n_samples)
    if name == "smoothgrad":
        return attributions, {"signed": not absolute, "n_samples": n_samples}
    # additivity per position: sum over the source = f(x) - E_background f
    pairs = np.repeat(np.arange(n), len(back))
    mixed = np.where(pad[pairs], src[pairs], np.tile(back, (n, 1)))
    expected = position_scores(adapter, mixed, dec[pairs], targets[pairs], batch_size)
    expected = expected.reshape(n, len(back), t_out).mean(axis=1)
    return attributions, _per_position_additivity(attributions, expected, _selected(logits, targets),
                                                  n_samples=n_samples, space="embedding")


def _selected(logits, targets):
    return np.take_along_axis(logits, targets[..., None], -1)[..., 0]


def _per_position_additivity(attributions, expected, outputs, **extra):
    """SHAP's additivity meta (expected value, model output, gap) per output position ``(N, T_out)``."""
    n, t_out, t_src = attributions.shape
    meta = _additivity(attributions.reshape(n * t_out, t_src), np.ravel(expected), np.ravel(outputs), **extra)
    for key in ("expected_value", "model_output", "additivity_gap"):
        meta[key] = meta[key].reshape(n, t_out)
    meta["max_additivity_gap"] = float(np.abs(meta["additivity_gap"]).max())
    return meta


def _perturbation(adapter, name, src, dec, targets, logits, batch_size, seed, mask_token=None, num_samples=1000,
                  num_features=None, kernel_width=25.0, feature_selection="auto", nsamples="auto", l1_reg=False,
                  max_evals=500):
    mask_id = token_or_pad(adapter, "mask_token", mask_token)
    n, t_src = src.shape
    t_out = targets.shape[1]
    pad = adapter.padding(src)
    attributions = np.zeros((n, t_out, t_src), np.float64)
    expected = np.zeros((n, t_out))
    raw = []
    if name == "lime":
        feature_selection = check_feature_selection(feature_selection)
        num_samples = positive_int("num_samples", num_samples)
        num_features = None if num_features is None else positive_int("num_features", num_features)
        if num_features is None and feature_selection == "auto":
            feature_selection = "none"
    elif name == "shap_partition":
        max_evals = positive_int("max_evals", max_evals)
    else:
        l1_reg = l1_reg_value("l1_reg", l1_reg)
    for i in range(n):
        positions = np.flatnonzero(~pad[i])
        if not len(positions):
            raw.append(None)
            continue

        def scores(ids, i=i):  # masked sources of sequence i -> its explained tokens' scores (B, T_out)
            return position_scores(adapter, ids, np.repeat(dec[i:i + 1], len(ids), 0),
                                   np.repeat(targets[i:i + 1], len(ids), 0), batch_size)

        if name == "lime":
            exp = lime_text(src[i], positions, scores, range(t_out), num_samples, num_features, mask_id,
                            kernel_width, feature_selection, seed)
            for t in range(t_out):
                for feature, weight in exp.local_exp[t]:
                    attributions[i, t, positions[feature]] = weight
                expected[i, t] = exp.intercept[t]
            raw.append(exp)
            continue
        f = binary_model(src[i], positions, mask_id, scores)
        if name == "shap_kernel":
            values, expected[i] = kernel_shap(f, len(positions), nsamples, l1_reg, seed)
        else:
            values, expected[i] = partition_shap(f, len(positions), max_evals, seed)
        attributions[i][:, positions] = values.T
    extra = {"mask_token": mask_id}
    if name == "lime":
        return attributions, dict(extra, signed=True, intercept=expected, lime_explanations=raw)
    return attributions, _per_position_additivity(attributions, expected, _selected(logits, targets), **extra)


def explain_sampled(adapter, name, src, dec, targets, logits, params, batch_size=None):
    """Attributions ``(N, T_out, T_src)`` and extras of the sampling method ``name`` (see the module).

    Parameters
    ----------
    adapter : Seq2seqAdapter
    name : str
        One of :data:`SAMPLED_METHODS`.
    src, dec, targets : ndarray int32
        ``(N, T_src)``, ``(N, T_out)``, ``(N, T_out)``.
    logits : ndarray (N, T_out, V)
        The teacher-forced logits of ``src`` (the outputs SHAP's additivity is stated for).
    params : dict
        All the method's parameters, defaults filled in (``SEQ2SEQ_SIGNATURES``).
    batch_size : int, optional

    Returns
    -------
    attributions : ndarray (N, T_out, T_src)
    meta : dict
        ``expected_value``, ``model_output``, ``additivity_gap`` ``(N, T_out)`` and
        ``max_additivity_gap`` for the SHAP methods; ``intercept`` ``(N, T_out)`` and
        ``lime_explanations`` for LIME; ``signed``.

    Examples
    --------
    >>> exp = tlxp.explain(luong, src, 'shap_kernel', decoder_inputs=dec)     # runs explain_sampled
    >>> exp.shape, bool(exp.meta['max_additivity_gap'] < 1e-4)
    ((4, 5, 7), True)
    """
    params = dict(params)
    seed = seed_value("seed", params.pop("seed"))
    if name in GRADIENT_SAMPLING:
        n_samples = positive_int("n_samples", params.pop("n_samples"))
        return _gradient_sampling(adapter, name, src, dec, targets, logits, batch_size, n_samples, seed, **params)
    return _perturbation(adapter, name, src, dec, targets, logits, batch_size, seed, **params)


def sampling_cost(name, n, t_src, t_out, n_samples=None, background=None, num_samples=1000, nsamples="auto",
                  max_evals=500, **_):
    """``(forward, backward)`` rows of a sampling method on ``n`` sequences (one row: a source x all positions).

    The gradient methods count one row per output position, as the other gradient methods do.

    Examples
    --------
    >>> sampling_cost('lime', 2, 30, 10, num_samples=100), sampling_cost('smoothgrad', 2, 30, 10, n_samples=8)
    ((200, 0), (160, 160))
    """
    if name in GRADIENT_SAMPLING:
        rows = n * t_out * int(n_samples)
        back = 0 if name == "smoothgrad" else n * (1 if background is None else len(np.asarray(background)))
        return rows + back, rows
    if name == "lime":
        return n * int(num_samples), 0
    if name == "shap_kernel":
        return n * (2 * int(t_src) + 2048 if nsamples == "auto" else int(nsamples)), 0
    return n * int(max_evals), 0
