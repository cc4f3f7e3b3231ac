"""The methods on token models: one signed score per token ``(N, T)``.

A token model reads integer ids ``(N, T)`` through an embedding layer
(:class:`~tensorlayer_xplain.adapter.TokenAdapter`). The registered methods
keep their names; on a token model the runner calls the version here:

* gradient family (``gradient``, ``gradient_x_input``, ``integrated_gradients``,
  ``smoothgrad``, ``shap``) work in *embedding space*, as Captum's
  ``LayerIntegratedGradients`` does: they move the output of the embedding layer
  (from the embeddings of ``baseline_token``, default the pad id 0) and sum the
  result over the embedding dimension;
* perturbation methods (``occlusion``, ``lime``, ``shap_kernel``,
  ``shap_partition``) replace tokens with ``mask_token`` (default 0); ``lime``
  is ``lime.lime_text.LimeTextExplainer`` itself on the ids written as words.

Padding (the adapter's ``pad_id``, or positions past ``sequence_length``) gets
no attribution and is never perturbed. Every other method is not applicable to
token ids (:func:`token_skip_reason`).

What the functions here ask of the adapter (so another adapter over token ids,
e.g. one output position of an encoder-decoder, can reuse them as they are):
``embed(ids) -> (N, T, D)``, ``embedding_differentiate(ids, emb, targets,
return_scores)`` inside a compiled step (the lookup replaced by ``emb``, see
:func:`~tensorlayer_xplain.adapter._tokens.replaced_embeddings`),
``embedding_gradients(ids, emb, targets, batch_size, return_scores)``,
``padding(ids, sequence_length)``, ``check_token(name, id)``, ``predict(ids)``,
and the :class:`~tensorlayer_xplain.ModelAdapter` plumbing (``compiled``,
``inference_mode``, ``batch_rows``, ``resolve_targets``, ``_target_key``).
"""
import numpy as np
import tensorflow as tf

from ._engine.blackbox import global_numpy_seed, selected_scores, small_blas
from ._engine.blocks import PIECE_SPEC, block_rows, concrete, in_pieces, piece_rows, row_bytes, run_blocks
from ._engine.checks import check_feature_selection, l1_reg_value, non_negative, positive_int, seed_value
from .integrated_gradients import _completeness, trapezoid_alphas

__all__ = ["TOKEN_METHODS", "token_method", "token_skip_reason", "implementation", "token_cost"]


# ----------------------------------------------------------------------------- shared helpers
def _padding(adapter, ids, sequence_length):
    return adapter.padding(ids, sequence_length)


def _baseline_ids(adapter, ids, pad, baseline_token):
    """The baseline sequence: ``baseline_token`` everywhere but at padding (kept, so padding gets nothing)."""
    token = adapter.check_token("baseline_token", baseline_token)
    return np.where(pad, ids, token).astype(np.int32)


def _targets(adapter, ids, targets):
    return np.zeros(len(ids), np.int32) if callable(targets) else adapter.resolve_targets(targets, len(ids))


def _per_token(values, pad):
    """Sum ``(N, T, D)`` over the embedding dimension; padding set to exactly 0."""
    out = values.sum(axis=-1, dtype=np.float64)
    out[pad] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- gradient family
def gradient(adapter, inputs, targets, absolute=True, sequence_length=None, batch_size=None):
    """Per-token gradient: ``sum_d d score / d e[t, d]`` (absolute value unless ``absolute=False``)."""
    pad = _padding(adapter, inputs, sequence_length)
    grads, scores = adapter.embedding_gradients(inputs, adapter.embed(inputs), targets, batch_size,
                                                return_scores=True)
    out = _per_token(grads, pad)
    return (np.abs(out) if absolute else out), {"scores": scores, "signed": not absolute}


def gradient_x_input(adapter, inputs, targets, sequence_length=None, batch_size=None):
    """Per-token gradient times embedding: ``sum_d e[t, d] * d score / d e[t, d]``."""
    pad = _padding(adapter, inputs, sequence_length)
    emb = adapter.embed(inputs)
    grads, scores = adapter.embedding_gradients(inputs, emb, targets, batch_size, return_scores=True)
    return _per_token(emb * grads, pad), {"scores": scores}


def _path_step(adapter, targets):
    """Compiled trapezoid sum of embedding-space path gradients for a block of sequences (see IG's step)."""
    fn_targets = callable(targets)

    def step(idb, xb, bb, alphas, weights, tb, piece):
        g, s = tf.shape(xb)[0], tf.shape(alphas)[0]
        pair_i = tf.repeat(tf.range(g), s)
        pair_k = tf.tile(tf.range(s), [g])

        def one_piece(i, k):
            a = tf.reshape(tf.gather(alphas, k), (-1, 1, 1))
            x0 = tf.gather(bb, i)
            grads, selected = adapter.embedding_differentiate(
                tf.gather(idb, i), x0 + a * (tf.gather(xb, i) - x0), targets if fn_targets else tf.gather(tb, i))
            return grads * tf.reshape(tf.gather(weights, k), (-1, 1, 1)), selected, i, k

        def reduce(acc, outs, rows):
            weighted, selected, i, k = outs
            at_end = tf.stack([tf.cast(k == 0, tf.float32), tf.cast(k == s - 1, tf.float32)], axis=1)
            return (acc[0] + tf.math.unsorted_segment_sum(weighted, i, g),
                    acc[1] + tf.math.unsorted_segment_sum(selected[:, None] * at_end, i, g))

        reduce.initial = (tf.zeros_like(xb), tf.zeros((g, 2)))
        return in_pieces(one_piece, piece, pair_i, pair_k, reduce=reduce)

    emb = tf.TensorSpec((None, None, None), tf.float32)
    vector = tf.TensorSpec((None,), tf.float32)
    extras = [emb, emb, vector, vector, tf.TensorSpec((None,), tf.int32), PIECE_SPEC]
    return adapter.compiled(("token_integrated_gradients", adapter._target_key(targets)), step,
                            extra_dtypes=extras, rows=(0, 1, 2, 5))


def integrated_gradients(adapter, inputs, targets, steps=64, baseline_token=0, sequence_length=None,
                         batch_size=None):
    """Integrated gradients in embedding space (Captum's ``LayerIntegratedGradients`` on the embedding layer).

    The embedding output moves on the straight line from the embeddings of the
    baseline sequence (``baseline_token`` at every non-pad position) to those of
    the ids; ``attr[t] = sum_d (e - e0)[t, d] * integral grad[t, d]``. Completeness
    holds in embedding space: ``sum(attr) = F(e) - F(e0)``.
    """
    steps = positive_int("steps", steps)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    emb = adapter.embed(ids)
    base = adapter.embed(_baseline_ids(adapter, ids, pad, baseline_token))
    alphas, weights = trapezoid_alphas(steps)
    batch_size = adapter.batch_rows(batch_size, backward=True)
    integral = np.zeros(emb.shape, np.float32)
    ends = np.zeros((len(ids), 2), np.float32)
    t = _targets(adapter, ids, targets)
    compiled = _path_step(adapter, targets)
    a_t, w_t = tf.constant(alphas), tf.constant(weights)

    def call(start, stop, piece):
        block = slice(start, stop)
        out = step(tf.constant(ids[block]), tf.constant(emb[block]), tf.constant(base[block]), a_t, w_t,
                   tf.constant(t[block]), tf.constant(piece))
        integral[block], ends[block] = out[0].numpy(), out[1].numpy()

    per_call = max(1, block_rows(batch_size, row_bytes(emb)) // (steps + 1))
    with adapter.inference_mode():
        step = concrete(compiled)
        run_blocks(len(ids), per_call, piece_rows(batch_size), call, what="integration steps")
    attributions = _per_token((emb - base) * integral, pad)
    gap, sums, delta = _completeness(attributions, ends[:, 1], ends[:, 0])
    return attributions, {"signed": True, "completeness_gap": gap, "attribution_sums": sums,
                          "score_differences": delta, "max_completeness_gap": float(gap.max()),
                          "baseline": "token %d" % int(baseline_token), "space": "embedding"}


def _chunks(n_rows, per_row, batch_size):
    """Row ranges whose expansion (``per_row`` rows each) stays near ``batch_size`` rows."""
    step = max(1, int(batch_size) // max(1, per_row))
    return [(s, min(n_rows, s + step)) for s in range(0, n_rows, step)]


def smoothgrad(adapter, inputs, targets, n_samples=32, noise_level=0.15, absolute=True, seed=0,
               sequence_length=None, batch_size=None):
    """SmoothGrad in embedding space: per-token gradients averaged over Gaussian noise on the embeddings.

    ``sigma = noise_level * (max - min)`` of each sequence's embeddings; padding is
    never perturbed.
    """
    n_samples = positive_int("n_samples", n_samples)
    noise_level = non_negative("noise_level", noise_level)
    seed = seed_value("seed", seed)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    emb = adapter.embed(ids)
    t = _targets(adapter, ids, targets)
    spread = emb.reshape(len(ids), -1).max(axis=1) - emb.reshape(len(ids), -1).min(axis=1)
    sigma = noise_level * np.where(spread > 0, spread, 1.0)
    out = np.zeros(ids.shape, np.float64)
    for start, stop in _chunks(len(ids), n_samples, adapter.batch_rows(batch_size, backward=True)):
        rng = np.random.default_rng(None if seed is None else [seed, start])
        rows = np.repeat(np.arange(start, stop), n_samples)
        noise = rng.standard_normal((len(rows),) + emb.shape[1:]).astype(np.float32)
        noise *= (sigma[rows, None, None] * ~pad[rows][..., None]).astype(np.float32)
        grads = adapter.embedding_gradients(ids[rows], emb[rows] + noise, t[rows], batch_size)
        per = _per_token(grads, pad[rows])
        per = np.abs(per) if absolute else per
        out[start:stop] = per.reshape(stop - start, n_samples, -1).mean(axis=1)
    return out.astype(np.float32), {"signed": not absolute}


def shap_expected_gradients(adapter, inputs, targets, background=None, n_samples=64, baseline_token=0, seed=0,
                            sequence_length=None, batch_size=None):
    """Expected gradients (``shap.GradientExplainer``'s estimator) in embedding space.

    Each sample draws a background sequence (``background`` ids ``(M, T)``, default
    the ``baseline_token`` sequence) and a point ``a ~ U(0, 1)`` on the line from
    its embeddings to the input's: ``attr[t] = mean sum_d (e - e_b)[t, d] * grad[t, d]``.
    Padding keeps the input's own ids in the background (no attribution).
    """
    n_samples = positive_int("n_samples", n_samples)
    seed = seed_value("seed", seed)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    if background is None:
        back = np.full((1, ids.shape[1]), adapter.check_token("baseline_token", baseline_token), np.int32)
    else:
        back, _ = adapter.prepare(background, name="background")
        if back.shape[1] != ids.shape[1]:
            raise ValueError("background: expected token ids (M, %d) like the inputs, got shape %s"
                             % (ids.shape[1], back.shape))
    emb = adapter.embed(ids)
    t = _targets(adapter, ids, targets)
    rng = np.random.default_rng(seed)
    out = np.zeros(ids.shape, np.float64)
    for start, stop in _chunks(len(ids), n_samples, adapter.batch_rows(batch_size, backward=True)):
        rows = np.repeat(np.arange(start, stop), n_samples)
        picks = rng.integers(0, len(back), len(rows))
        alpha = rng.uniform(0.0, 1.0, len(rows)).astype(np.float32)[:, None, None]
        base = adapter.embed(np.where(pad[rows], ids[rows], back[picks]))
        grads = adapter.embedding_gradients(ids[rows], base + alpha * (emb[rows] - base), t[rows], batch_size)
        per = _per_token((emb[rows] - base) * grads, pad[rows])
        out[start:stop] = per.reshape(stop - start, n_samples, -1).mean(axis=1)
    return out.astype(np.float32), {"signed": True, "space": "embedding"}


# ----------------------------------------------------------------------------- perturbation family
def _masked(ids_row, keep, positions, mask_token):
    """Copies of ``ids_row`` with ``positions[j]`` replaced by ``mask_token`` where ``keep[:, j]`` is False."""
    out = np.repeat(ids_row[None], len(keep), axis=0)
    out[:, positions] = np.where(keep, ids_row[positions][None], mask_token)
    return out


def _window_starts(length, window, stride):
    """First positions of the occlusion windows over ``length`` tokens (the last one ends at the end)."""
    window = min(window, length)
    starts = list(range(0, max(1, length - window + 1), stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def occlusion(adapter, inputs, targets, window=1, stride=1, mask_token=0, sequence_length=None, batch_size=None):
    """Token occlusion: the drop of the target score when a window of tokens is replaced by ``mask_token``.

    Each token gets the mean drop over the windows covering it; padding is never
    masked and gets 0.
    """
    window = positive_int("window", window)
    stride = positive_int("stride", stride)
    if stride > window:
        raise ValueError("stride: expected at most the window size %d, got %d" % (window, stride))
    mask_token = adapter.check_token("mask_token", mask_token)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    length = ids.shape[1]
    starts = _window_starts(length, window, stride)
    covers = np.zeros((len(starts), length), bool)
    for j, s in enumerate(starts):
        covers[j, s:s + window] = True
    out = np.zeros(ids.shape, np.float64)
    for i, row in enumerate(ids):
        target = targets if callable(targets) else int(targets[i])
        live = covers & ~pad[i][None]
        live = live[live.any(axis=1)]  # windows over padding only are not run
        if not len(live):
            continue
        batch = np.where(live, mask_token, row[None]).astype(np.int32)
        scores = selected_scores(adapter, np.concatenate([row[None], batch]), target, batch_size)
        drops = scores[0] - scores[1:]
        out[i] = (drops[:, None] * live).sum(axis=0) / np.maximum(live.sum(axis=0), 1)
    out[pad] = 0.0
    return out.astype(np.float32), {"signed": True, "n_windows": len(starts)}


def _label(target):
    return 0 if callable(target) else int(target)


def _text_classifier(adapter, row, positions, target, batch_size):
    """lime's classifier_fn: texts of space-separated ids (the non-pad positions) -> scores (B, K)."""

    def classifier_fn(texts):
        tokens = np.array([[int(w) for w in text.split()] for text in texts], np.int32)
        batch = np.repeat(row[None], len(texts), axis=0)
        batch[:, positions] = tokens
        scores = adapter.predict(batch, batch_size)
        if callable(target):
            return np.asarray(target(tf.constant(scores)), np.float64).reshape(-1, 1)
        return scores.astype(np.float64)

    return classifier_fn


def ids_as_text(ids):
    """A sequence of ids written as space-separated words (what ``lime_text`` reads)."""
    return " ".join(str(int(i)) for i in ids)


def lime(adapter, inputs, targets, num_samples=1000, num_features=None, mask_token=0, kernel_width=25.0,
         feature_selection="auto", sequence_length=None, batch_size=None, seed=0):
    """LIME on tokens: ``lime.lime_text.LimeTextExplainer`` on the non-pad ids written as words.

    ``bow=False`` (each position is a feature) and ``mask_string`` = the
    ``mask_token`` id, so lime's own sampling, kernel and ridge regression run
    unchanged; its texts are turned back into ids for the model (padding kept).
    """
    from lime.lime_text import LimeTextExplainer

    feature_selection = check_feature_selection(feature_selection)
    num_samples = positive_int("num_samples", num_samples)
    num_features = None if num_features is None else positive_int("num_features", num_features)
    mask_token = adapter.check_token("mask_token", mask_token)
    seed = seed_value("seed", seed)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    if num_features is None and feature_selection == "auto":
        feature_selection = "none"
    out = np.zeros(ids.shape, np.float32)
    raw, scores_r2 = [], []
    for i, row in enumerate(ids):
        positions = np.flatnonzero(~pad[i])
        if not len(positions):
            raw.append(None)
            scores_r2.append(np.nan)
            continue
        target = targets if callable(targets) else int(targets[i])
        explainer = LimeTextExplainer(kernel_width=kernel_width, bow=False, mask_string=str(mask_token),
                                      split_expression=r"\s+", feature_selection=feature_selection,
                                      random_state=seed)
        with small_blas():
            exp = explainer.explain_instance(
                ids_as_text(row[positions]), _text_classifier(adapter, row, positions, target, batch_size),
                labels=(_label(target),), num_features=len(positions) if num_features is None else num_features,
                num_samples=num_samples)
        for feature, weight in exp.local_exp[_label(target)]:
            out[i, positions[feature]] = weight
        raw.append(exp)
        scores_r2.append(exp.score)
    return out, {"signed": True, "lime_explanations": raw, "score": np.array(scores_r2)}


def _binary_model(adapter, row, positions, mask_token, target, batch_size):
    """``f(z)`` for shap: z (B, M) in {0, 1} keeps (1) or masks (0) the non-pad positions -> selected score."""

    def f(z):
        keep = np.asarray(z) > 0.5
        return selected_scores(adapter, _masked(row, keep, positions, mask_token), target, batch_size)

    return f


def shap_kernel(adapter, inputs, targets, nsamples="auto", mask_token=0, l1_reg=False, sequence_length=None,
                batch_size=None, seed=0):
    """Kernel SHAP on tokens: ``shap.KernelExplainer`` over keep/mask switches of the non-pad tokens.

    The background is the all-masked sequence (every non-pad token ``mask_token``),
    so ``sum(attr) + expected_value = f(x)`` (additivity, in ``meta``).
    """
    from .shap._common import import_shap

    shap = import_shap()
    mask_token = adapter.check_token("mask_token", mask_token)
    l1_reg = l1_reg_value("l1_reg", l1_reg)
    seed = seed_value("seed", seed)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    out = np.zeros(ids.shape, np.float32)
    expected = np.zeros(len(ids))
    for i, row in enumerate(ids):
        positions = np.flatnonzero(~pad[i])
        if not len(positions):
            continue
        target = targets if callable(targets) else int(targets[i])
        f = _binary_model(adapter, row, positions, mask_token, target, batch_size)
        with global_numpy_seed(seed), small_blas():
            explainer = shap.KernelExplainer(f, np.zeros((1, len(positions))))
            values = explainer.shap_values(np.ones((1, len(positions))), nsamples=nsamples, l1_reg=l1_reg,
                                           silent=True)
        out[i, positions] = np.asarray(values).reshape(-1)
        expected[i] = float(np.ravel(explainer.expected_value)[0])
    return out, {"signed": True, "expected_value": expected}


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


def shap_partition(adapter, inputs, targets, max_evals=500, mask_token=0, sequence_length=None, batch_size=None,
                   seed=0):
    """Partition SHAP on tokens: ``shap.PartitionExplainer`` over a tree joining adjacent tokens.

    As shap's text masker does, coalitions are contiguous spans; masked tokens are
    ``mask_token``. One token alone is returned exactly (no tree needed).
    """
    from .shap._common import import_shap

    shap = import_shap()
    max_evals = positive_int("max_evals", max_evals)
    mask_token = adapter.check_token("mask_token", mask_token)
    seed = seed_value("seed", seed)
    ids = np.asarray(inputs, np.int32)
    pad = _padding(adapter, ids, sequence_length)
    out = np.zeros(ids.shape, np.float32)
    for i, row in enumerate(ids):
        positions = np.flatnonzero(~pad[i])
        target = targets if callable(targets) else int(targets[i])
        f = _binary_model(adapter, row, positions, mask_token, target, batch_size)
        if len(positions) == 1:
            out[i, positions] = f(np.ones((1, 1)))[0] - f(np.zeros((1, 1)))[0]
            continue
        if not len(positions):
            continue
        masker = shap.maskers.Partition(np.zeros((1, len(positions))), clustering=_sequential_tree(len(positions)))
        with global_numpy_seed(seed), small_blas():
            explanation = shap.PartitionExplainer(f, masker)(np.ones((1, len(positions))), max_evals=max_evals,
                                                             silent=True)
        out[i, positions] = np.asarray(explanation.values).reshape(-1)
    return out, {"signed": True}


#: name -> token version of a registered method (same name, same meaning, one score per token).
TOKEN_METHODS = {
    "gradient": gradient,
    "gradient_x_input": gradient_x_input,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "shap": shap_expected_gradients,
    "occlusion": occlusion,
    "lime": lime,
    "shap_kernel": shap_kernel,
    "shap_partition": shap_partition,
}


def token_skip_reason(name):
    """Why the registered method ``name`` does not apply to a token model, or None when it does."""
    if name in TOKEN_METHODS:
        return None
    return ("%r does not apply to token ids (it needs images, spatial layers or float inputs); token models take "
            "%s" % (name, ", ".join(sorted(TOKEN_METHODS))))


def token_method(name):
    """The token version of the registered method ``name``.

    Raises
    ------
    ValueError
        ``method``: the method does not apply to token inputs.
    """
    reason = token_skip_reason(name)
    if reason is not None:
        raise ValueError("method: " + reason)
    return TOKEN_METHODS[name]


def implementation(adapter, name):
    """The function that runs the registered method ``name`` on ``adapter``'s model.

    The token version for a token model (None when the method does not apply to
    token ids), the seq2seq declaration for an encoder-decoder (its parameters;
    :func:`~tensorlayer_xplain.methods.seq2seq.explain_seq2seq` runs it), the
    registered function otherwise.
    """
    from .registry import method_info

    spec = method_info(name)
    if getattr(adapter, "seq2seq", False):
        from .seq2seq import SEQ2SEQ_SIGNATURES

        return SEQ2SEQ_SIGNATURES.get(spec.name)
    if getattr(adapter, "token_inputs", False):
        return TOKEN_METHODS.get(spec.name)
    return spec.fn


def token_cost(name, adapter, n, **params):
    """``(forward, backward)`` model passes of the token version of ``name`` on ``n`` sequences (upper bounds)."""
    length = int(adapter.input_shape[0]) if adapter.input_shape is not None else 1
    if name in ("gradient", "gradient_x_input"):
        return n, n
    if name == "integrated_gradients":
        return n * (params["steps"] + 1), n * (params["steps"] + 1)
    if name in ("smoothgrad", "shap"):
        return n * params["n_samples"], n * params["n_samples"]
    if name == "occlusion":
        window = positive_int("window", params["window"])
        return n * (len(_window_starts(length, window, positive_int("stride", params["stride"]))) + 1), 0
    if name == "lime":
        return n * params["num_samples"], 0
    if name == "shap_kernel":
        nsamples = params["nsamples"]
        return n * (2 * length + 2048 if nsamples == "auto" else int(nsamples)), 0
    return n * params["max_evals"], 0  # shap_partition
