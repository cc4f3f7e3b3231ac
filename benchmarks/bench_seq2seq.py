"""Seq2seq per-position attribution cost against a hand-written ``tf.function`` loop over the output positions.

TensorLayer's ``Seq2seqLuongAttention`` (GRU, ``general`` score, hidden 128, embedding 64,
vocabulary 2000, random weights scaled so the alignments are not uniform), 32 source
sequences of 30 ids (a quarter padded), 10 teacher-forced output positions, CPU.

``ours`` is :func:`tensorlayer_xplain.explain` (``gradient`` and ``integrated_gradients``
with 16 steps, as a user calls it with ``decoder_inputs=`` and ``targets=``). The *floor* is
what a user writes by hand in one ``tf.function``: look the source ids up once, run the
model's own encoder, decoder and dense layer on those embeddings (the model split by hand),
and take one gradient per output position from one persistent tape (one forward pass,
``T_out`` backward passes); integrated gradients run that per-position gradient on the
interpolated source embeddings (trapezoid rule) in a ``tf.range`` loop. Both compute the
same numbers (``max rel. diff``) and run after a warm-up, in back-to-back pairs whose order
alternates; the ratio is the median of the per-pair ratios. The table also gives the time
per output position and per (output position, source token) attribution.

``ModelExplainer(model, cache=False).explain(...)`` is timed against the same floor too
(``explainer ratio``).

Memory: a larger case, 256 source sequences of 30 ids -> 10 positions with hidden 256
(``gradient``, and ``integrated_gradients`` with 8 steps), under ``max_batch_bytes`` = 64 MB and the
default (1 GiB), in that order in one process: the source sequences per call the adapter chose, its
estimated bytes per sequence (``Seq2seqAdapter.sequence_bytes``), the process's peak RSS growth and the
Python-side peak during the call, and the time.

Run::

    python -m benchmarks.bench_seq2seq [--budget 4] [--out DIR]
"""
import functools
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from benchmarks.memory import RSS_HOW, peak_memory
from benchmarks.report import speed_memory_main
from benchmarks.timing import time_pairs

VOCAB, EMB, HIDDEN = 2000, 64, 128
N, T_SRC, T_OUT = 32, 30, 10
IG_STEPS = 16
SOS = 1


MEMORY_N, MEMORY_HIDDEN, MEMORY_IG_STEPS = 256, 256, 8
BUDGETS_MB = (64, None)  # None: the default max_batch_bytes (1 GiB)


def make_model(seed=0, hidden=HIDDEN):
    keras.utils.set_random_seed(seed)
    model = tl.models.Seq2seqLuongAttention(hidden_size=hidden, cell=tf.keras.layers.GRUCell, method="general",
                                            embedding_layer=tl.layers.Embedding(vocabulary_size=VOCAB,
                                                                                embedding_size=EMB))
    rng = np.random.RandomState(seed)
    model.embedding_layer.embeddings.assign(rng.randn(VOCAB, EMB).astype("float32") * 0.5)
    model.eval()
    return model


def make_data(n, seed=0):
    rng = np.random.RandomState(seed)
    src = rng.randint(2, VOCAB, size=(n, T_SRC)).astype(np.int32)
    lengths = rng.randint(T_SRC * 3 // 4, T_SRC + 1, n)
    src[np.arange(T_SRC)[None] >= lengths[:, None]] = 0
    dec = np.concatenate([np.full((n, 1), SOS, np.int32), rng.randint(2, VOCAB, size=(n, T_OUT - 1))], 1)
    return src, dec.astype(np.int32)


def make_floor(model):
    """Per-position source-embedding gradients, and IG over them, written by hand in one tf.function each."""
    table = model.embedding_layer.embeddings

    def logits_from(emb, dec):
        _, hidden, last = model.enc_layer(emb)
        out = model.dec_layer(model.embedding_layer(dec), tf.stack(hidden, 1), last, method=model.method)
        logits = model.dense_layer(tf.reshape(out, [-1, out.shape[-1]]))
        return tf.reshape(logits, [tf.shape(dec)[0], T_OUT, VOCAB])

    def position_grads(emb, dec, targets):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(emb)
            picked = tf.gather(logits_from(emb, dec), targets, batch_dims=2)  # (N, T_out)
            columns = [picked[:, t] for t in range(T_OUT)]
        grads = tf.stack([tape.gradient(columns[t], emb) for t in range(T_OUT)], 1)  # (N, T_out, T_src, D)
        del tape
        return grads, picked

    @tf.function
    def gradient(src, dec, targets):
        grads, _ = position_grads(tf.gather(table, src), dec, targets)
        return tf.where((src == 0)[:, None, :], 0.0, tf.reduce_sum(grads, -1))

    @tf.function
    def integrated(src, dec, targets):
        emb = tf.gather(table, src)
        base = tf.gather(table, tf.zeros_like(src))
        total = tf.zeros(tf.concat([tf.shape(src)[:1], [T_OUT], tf.shape(emb)[1:]], 0))
        for k in tf.range(IG_STEPS + 1):
            alpha = tf.cast(k, tf.float32) / IG_STEPS
            weight = tf.where((k == 0) | (k == IG_STEPS), 0.5, 1.0) / IG_STEPS
            grads, _ = position_grads(base + alpha * (emb - base), dec, targets)
            total += weight * grads
        per_token = tf.reduce_sum(total * (emb - base)[:, None], -1)
        return tf.where((src == 0)[:, None, :], 0.0, per_token)

    run = {"gradient": gradient, "integrated_gradients": integrated}
    return lambda name, src, dec, targets: run[name](tf.constant(src), tf.constant(dec), tf.constant(targets)).numpy()


def speed(budget):
    model = make_model()
    src, dec = make_data(N)
    targets = np.argmax(tlxp.Seq2seqAdapter(model).teacher_forced(src, dec), -1).astype(np.int32)
    floor = make_floor(model)
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "integrated_gradients"], cache=False)
    rows = []
    for name, params in (("gradient", {}), ("integrated_gradients", {"steps": IG_STEPS})):
        ours = functools.partial(tlxp.explain, model, src, name, targets=targets, decoder_inputs=dec, **params)
        theirs = functools.partial(floor, name, src, dec, targets)
        via_explainer = functools.partial(explainer.explain, src, name, targets=targets, decoder_inputs=dec,
                                          **params)
        a, b = np.asarray(ours().attributions), theirs()
        diff = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
        diff = max(diff, float(np.abs(np.asarray(via_explainer().attributions) - b).max()
                               / max(np.abs(b).max(), 1e-12)))
        t = time_pairs(ours, theirs, budget, 3, 30)
        e = time_pairs(via_explainer, theirs, budget, 3, 30)
        ours_s, floor_s = statistics.median(t["ours"]), statistics.median(t["baseline"])
        rows.append({"method": name, "ours_ms": 1000 * ours_s, "floor_ms": 1000 * floor_s, "ratio": t["ratio"],
                     "explainer_ms": 1000 * statistics.median(e["ours"]), "explainer_ratio": e["ratio"],
                     "per_position_ms": 1000 * ours_s / (N * T_OUT),
                     "per_attribution_us": 1e6 * ours_s / (N * T_OUT * T_SRC), "max_rel_diff": diff,
                     "pairs": len(t["ours"]) + len(e["ours"])})
    return rows


def memory():
    model = make_model(1, hidden=MEMORY_HIDDEN)
    src, dec = make_data(MEMORY_N, seed=1)
    rows = []
    for name, params in (("gradient", {}), ("integrated_gradients", {"steps": MEMORY_IG_STEPS})):
        for budget_mb in BUDGETS_MB:
            budget = None if budget_mb is None else budget_mb << 20
            adapter = tlxp.Seq2seqAdapter(model) if budget is None else tlxp.Seq2seqAdapter(model,
                                                                                            max_batch_bytes=budget)
            call = functools.partial(tlxp.explain, adapter, src, name, decoder_inputs=dec, **params)
            tlxp.explain(adapter, src[:1], name, decoder_inputs=dec[:1], **params)  # traced outside the peak
            kind = "gradient" if name == "gradient" else "path"
            start = time.perf_counter()
            python_peak, rss = peak_memory(call)
            seconds = (time.perf_counter() - start) / 2  # peak_memory calls it twice
            rows.append({"method": name, "max_batch_bytes_mb": adapter.max_batch_bytes / 2 ** 20,
                         "sequences_per_call": adapter.sequence_rows(kind, T_SRC, T_OUT),
                         "sequence_bytes_mb": adapter.sequence_bytes(kind, T_SRC, T_OUT) / 2 ** 20,
                         "python_peak_mb": python_peak, "rss_growth_mb": rss, "seconds": seconds})
    return rows


def markdown(speed_rows, memory_rows):
    lines = ["Seq2seq (Luong, %d sources x %d ids -> %d positions) vs a hand-written per-position gradient loop "
             "in one tf.function" % (N, T_SRC, T_OUT), "",
             "| method | ours: tlxp.explain (ms) | floor (ms) | ratio (median of pairs) | ModelExplainer.explain (ms) "
             "| its ratio | per output position | per attribution | max rel. diff | pairs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in speed_rows:
        lines.append("| %s | %.1f | %.1f | %.2fx | %.1f | %.2fx | %.2f ms | %.1f us | %.1e | %d |" % (
            r["method"], r["ours_ms"], r["floor_ms"], r["ratio"], r["explainer_ms"], r["explainer_ratio"],
            r["per_position_ms"], r["per_attribution_us"], r["max_rel_diff"], r["pairs"]))
    lines += ["", "Memory: %d sources x %d ids -> %d positions, hidden %d (IG: %d steps), the budgets in this order "
              "in one process; RSS: %s" % (MEMORY_N, T_SRC, T_OUT, MEMORY_HIDDEN, MEMORY_IG_STEPS, RSS_HOW), "",
              "| method | max_batch_bytes | sequences per call | est. bytes per sequence | Python peak "
              "| peak RSS growth | time |", "|---|---|---|---|---|---|---|"]
    for r in memory_rows:
        lines.append("| %s | %.0f MB | %d | %.1f MB | %.1f MB | %.0f MB | %.1f s |" % (
            r["method"], r["max_batch_bytes_mb"], r["sequences_per_call"], r["sequence_bytes_mb"],
            r["python_peak_mb"], r["rss_growth_mb"], r["seconds"]))
    return "\n".join(lines)


def main(argv=None):
    return speed_memory_main(
        argv, "bench_seq2seq", "Seq2seq per-position attribution cost vs a hand-written loop.",
        speed, memory, markdown)


if __name__ == "__main__":
    main()
