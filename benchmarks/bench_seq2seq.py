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

Memory: ``integrated_gradients`` (32 steps) on 64 sources under two ``batch_size`` values (rows of
one source x one output position x one step per model call): the process's peak RSS growth and
the Python-side peak during the call, next to the bytes of the rows in flight.

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


def make_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = tl.models.Seq2seqLuongAttention(hidden_size=HIDDEN, cell=tf.keras.layers.GRUCell, method="general",
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
        logits = model.dense_layer(tf.reshape(out, [-1, HIDDEN]))
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
    rows = []
    for name, params in (("gradient", {}), ("integrated_gradients", {"steps": IG_STEPS})):
        ours = functools.partial(tlxp.explain, model, src, name, targets=targets, decoder_inputs=dec, **params)
        theirs = functools.partial(floor, name, src, dec, targets)
        a, b = np.asarray(ours().attributions), theirs()
        diff = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
        t = time_pairs(ours, theirs, budget, 3, 30)
        ours_s, floor_s = statistics.median(t["ours"]), statistics.median(t["baseline"])
        rows.append({"method": name, "ours_ms": 1000 * ours_s, "floor_ms": 1000 * floor_s, "ratio": t["ratio"],
                     "per_position_ms": 1000 * ours_s / (N * T_OUT),
                     "per_attribution_us": 1e6 * ours_s / (N * T_OUT * T_SRC), "max_rel_diff": diff,
                     "pairs": len(t["ours"])})
    return rows


def memory():
    model = make_model(1)
    src, dec = make_data(2 * N, seed=1)
    rows = []
    for batch_size in (32, 256):
        call = functools.partial(tlxp.explain, model, src, "integrated_gradients", decoder_inputs=dec, steps=32,
                                 batch_size=batch_size)
        call()  # traced outside the peak
        start = time.perf_counter()
        python_peak, rss = peak_memory(call)
        seconds = (time.perf_counter() - start) / 2  # peak_memory calls it twice
        # one row in flight: the source embeddings in and their gradients out, the decoder's activations
        row_bytes = 4 * (2 * T_SRC * EMB + T_SRC * HIDDEN * 4 + T_OUT * (EMB + 3 * HIDDEN + VOCAB))
        rows.append({"batch_size": batch_size, "row_bytes_kb": row_bytes / 1024.0,
                     "in_flight_mb": batch_size * row_bytes / 2 ** 20, "python_peak_mb": python_peak,
                     "rss_growth_mb": rss, "seconds": seconds})
    return rows


def markdown(speed_rows, memory_rows):
    lines = ["Seq2seq (Luong, %d sources x %d ids -> %d positions) vs a hand-written per-position gradient loop "
             "in one tf.function" % (N, T_SRC, T_OUT), "",
             "| method | ours (ms) | floor (ms) | ratio (median of pairs) | per output position | per attribution "
             "| max rel. diff | pairs |", "|---|---|---|---|---|---|---|---|"]
    for r in speed_rows:
        lines.append("| %s | %.1f | %.1f | %.2fx | %.2f ms | %.1f us | %.1e | %d |" % (
            r["method"], r["ours_ms"], r["floor_ms"], r["ratio"], r["per_position_ms"], r["per_attribution_us"],
            r["max_rel_diff"], r["pairs"]))
    lines += ["", "Memory: integrated gradients (32 steps) on %d sources; RSS: %s" % (2 * N, RSS_HOW), "",
              "| batch_size (rows) | est. bytes/row | rows in flight | Python peak | peak RSS growth | time |",
              "|---|---|---|---|---|---|"]
    for r in memory_rows:
        lines.append("| %d | %.0f KB | %.1f MB | %.1f MB | %.0f MB | %.1f s |" % (
            r["batch_size"], r["row_bytes_kb"], r["in_flight_mb"], r["python_peak_mb"], r["rss_growth_mb"],
            r["seconds"]))
    return "\n".join(lines)


def main(argv=None):
    return speed_memory_main(
        argv, "bench_seq2seq", "Seq2seq per-position attribution cost vs a hand-written loop.",
        speed, memory, markdown)


if __name__ == "__main__":
    main()
