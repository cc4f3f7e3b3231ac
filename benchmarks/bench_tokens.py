"""Token integrated gradients against a hand-written embedding-space IG in one ``tf.function``, and its memory.

Two TensorLayer token models, random weights, CPU:

* ``fasttext``: TensorLayer's IMDB fastText model (``AverageEmbedding`` 20000 x 50,
  ``Dense(10)``, ``Dense(2)``), 64 sequences of 256 ids (a quarter of them padding);
* ``conv``: ``Embedding`` 20000 x 64, ``Conv1d(64, 5)``, a max over time, ``Dense(2)``,
  64 sequences of 128 ids.

``ours`` is the registered method on the token model (``integrated_gradients``,
32 steps, baseline token 0, as :func:`tensorlayer_xplain.explain` runs it with
resolved targets); ``user path`` is :func:`tensorlayer_xplain.explain` itself (input
checks, the prediction pass it stores with the explanation, the map checks). The
*floor* is what a user writes by hand, Captum's ``LayerIntegratedGradients`` recipe:
look the ids up once, run the rest of the model on interpolated embeddings (the model split at its embedding by hand),
trapezoid rule, chunks of 256 (sequence, step) pairs in a ``tf.range`` loop, all
in one ``tf.function``. Both sides run after a warm-up (tracing excluded), in
back-to-back pairs whose order alternates; the ratio is the median of the
per-pair ratios. Both compute the same numbers (``max rel. diff``). Goal: ≤ 1.2x.

Memory: the same IG on long sequences (64 x 2048 ids, 64-dim embeddings: all
(sequence, step) points at once would be 64 x 33 x 2048 x 64 x 4 bytes = 1.1 GB)
under two ``max_batch_bytes`` budgets: the rows in flight, the Python-side peak
(``tracemalloc``) and the growth of the process's peak RSS during the call.

Run::

    python -m benchmarks.bench_tokens [--budget 4] [--out DIR]
"""
import functools
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from benchmarks.memory import RSS_HOW, peak_memory
from benchmarks.report import speed_memory_main
from benchmarks.timing import time_pairs
from tensorlayer_xplain.methods.tokens import TOKEN_METHODS

STEPS = 32
CHUNK = 256
BATCH = 64
VOCAB = 20000
GOAL = 1.2


class FastText(tl.models.Model):
    """TensorLayer's IMDB fastText tutorial model."""

    def __init__(self, dim=50):
        super().__init__()
        self.avg_embed = tl.layers.AverageEmbedding(VOCAB, dim)
        self.dense1 = tl.layers.Dense(n_units=10, in_channels=dim)
        self.dense2 = tl.layers.Dense(n_units=2, in_channels=10)

    def forward(self, x):
        return self.dense2(self.dense1(self.avg_embed(x)))

    def after_embedding(self, emb, ids):
        """The rest of the model on word vectors ``emb`` (the floor's hand-made split)."""
        mask = tf.cast(tf.not_equal(ids, 0), tf.float32)[..., None]
        avg = tf.reduce_sum(emb * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        return self.dense2(self.dense1(avg))


class ConvText(tl.models.Model):
    """Embedding -> Conv1d -> max over time -> Dense."""

    def __init__(self, dim=64):
        super().__init__()
        self.embed = tl.layers.Embedding(VOCAB, dim)
        self.conv = tl.layers.Conv1d(64, 5, 1, act=tf.nn.relu, padding="SAME", in_channels=dim)
        self.out = tl.layers.Dense(2, in_channels=64)

    def forward(self, x):
        return self.after_embedding(self.embed(x), x)

    def after_embedding(self, emb, ids):
        return self.out(tf.reduce_max(self.conv(emb), axis=1))


def make_ids(n, length, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (n, length)).astype(np.int32)
    lengths = rng.integers(length * 3 // 4, length + 1, n)
    ids[np.arange(length)[None] >= lengths[:, None]] = 0
    return ids


def embedding_table(model):
    return model.avg_embed.embeddings if isinstance(model, FastText) else model.embed.embeddings


def make_floor(model, steps=STEPS):
    """Hand-written embedding-space IG (baseline: the pad id 0 at non-pad positions) in one tf.function."""
    table = embedding_table(model)

    @tf.function
    def ig(ids, targets):
        n = tf.shape(ids)[0]
        emb = tf.gather(table, ids)
        base = tf.gather(table, tf.zeros_like(ids))  # the pad id everywhere; padding keeps its own (same) vector
        alphas = tf.linspace(0.0, 1.0, steps + 1)
        weights = tf.concat([[0.5], tf.ones(steps - 1), [0.5]], 0) / steps
        idx_i = tf.repeat(tf.range(n), steps + 1)
        idx_k = tf.tile(tf.range(steps + 1), [n])
        total = tf.zeros_like(emb)
        for start in tf.range(0, n * (steps + 1), CHUNK):
            i = idx_i[start:start + CHUNK]
            k = idx_k[start:start + CHUNK]
            x0 = tf.gather(base, i)
            point = x0 + tf.reshape(tf.gather(alphas, k), (-1, 1, 1)) * (tf.gather(emb, i) - x0)
            with tf.GradientTape() as tape:
                tape.watch(point)
                scores = model.after_embedding(point, tf.gather(ids, i))
                selected = tf.gather(scores, tf.gather(targets, i), batch_dims=1)
            g = tape.gradient(selected, point) * tf.reshape(tf.gather(weights, k), (-1, 1, 1))
            total += tf.math.unsorted_segment_sum(g, i, n)
        per_token = tf.reduce_sum((emb - base) * total, axis=-1)
        return tf.where(ids == 0, 0.0, per_token)

    return lambda ids, t: ig(tf.constant(ids), tf.constant(t)).numpy()


def time_pair(ours, floor, budget, low=5, high=40):
    """Median times, median of per-pair ratios, pairs, ratio of the best runs (see benchmarks.timing.time_pairs)."""
    t = time_pairs(ours, floor, budget, low, high)
    return (statistics.median(t["ours"]), statistics.median(t["baseline"]), t["ratio"], len(t["ours"]),
            min(t["ours"]) / min(t["baseline"]))


def speed(budget):
    rows = []
    for name, model, length in (("fasttext", FastText(), 256), ("conv", ConvText(), 128)):
        model.eval()
        ids = make_ids(BATCH, length)
        adapter = tlxp.TokenAdapter(model)
        t = np.argmax(adapter.predict(ids), axis=1).astype(np.int32)
        ig = TOKEN_METHODS["integrated_gradients"]
        floor = make_floor(model)
        ours_out, meta = ig(adapter, ids, t, steps=STEPS)
        floor_out = floor(ids, t)
        diff = float(np.abs(ours_out - floor_out).max() / max(np.abs(floor_out).max(), 1e-12))
        ours_t, floor_t, ratio, repeats, best = time_pair(functools.partial(ig, adapter, ids, t, steps=STEPS),
                                                          functools.partial(floor, ids, t), budget)
        user = functools.partial(tlxp.explain, model, ids, "integrated_gradients", targets=t, steps=STEPS)
        user_t, user_floor_t, user_ratio, _, _ = time_pair(user, functools.partial(floor, ids, t), budget)
        rows.append({"model": name, "batch": "%d x %d ids" % ids.shape, "ours_ms": 1000 * ours_t,
                     "floor_ms": 1000 * floor_t, "ratio": ratio, "best_ratio": best, "max_rel_diff": diff,
                     "completeness_gap": meta["max_completeness_gap"], "repeats": repeats,
                     "user_ms": 1000 * user_t, "user_ratio": user_ratio})
    return rows


def memory():
    """Peak memory of token IG on long sequences under two byte budgets."""
    rows = []
    ids = make_ids(BATCH, 2048, seed=1)
    model = ConvText()
    model.eval()
    for budget_mb in (64, 256):
        adapter = tlxp.TokenAdapter(model, max_batch_bytes=budget_mb << 20)
        adapter.prepare(ids)  # the input shape (T,) sets the byte estimate, as explain() does
        t = np.zeros(len(ids), np.int32)
        TOKEN_METHODS["integrated_gradients"](adapter, ids[:2], t[:2], steps=STEPS)  # trace outside the peak
        start = time.perf_counter()
        python_peak, rss = peak_memory(functools.partial(TOKEN_METHODS["integrated_gradients"], adapter, ids, t,
                                                         steps=STEPS))
        seconds = (time.perf_counter() - start) / 2  # peak_memory calls it twice
        rows.append({"max_batch_bytes_mb": budget_mb, "rows_in_flight": adapter.batch_rows(backward=True),
                     "sample_bytes_backward_mb": adapter.sample_bytes(backward=True) / 2 ** 20,
                     "python_peak_mb": python_peak, "rss_growth_mb": rss, "seconds": seconds})
    return rows


def markdown(speed_rows, memory_rows):
    lines = ["Token integrated gradients (%d steps) vs a hand-written embedding-space IG in one tf.function "
             "(goal <= %.1fx)" % (STEPS, GOAL), "",
             "| model | batch | ours (ms) | floor (ms) | ratio (median of pairs) | ratio of best runs | max rel. diff "
             "| IG gap | pairs | user path (ms) | user path ratio |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in speed_rows:
        lines.append("| %s | %s | %.1f | %.1f | %.2fx | %.2fx | %.1e | %.1e | %d | %.1f | %.2fx |" % (
            r["model"], r["batch"], r["ours_ms"], r["floor_ms"], r["ratio"], r["best_ratio"], r["max_rel_diff"],
            r["completeness_gap"], r["repeats"], r["user_ms"], r["user_ratio"]))
    lines += ["", "Memory: IG on 64 x 2048 ids (conv model, 64-dim embeddings; all points at once = 1.1 GB); RSS: "
              + RSS_HOW, "",
              "| max_batch_bytes | rows in flight | est. bytes/row (backward) | Python peak | peak RSS growth | time |",
              "|---|---|---|---|---|---|"]
    for r in memory_rows:
        lines.append("| %d MB | %d | %.2f MB | %.1f MB | %.0f MB | %.1f s |" % (
            r["max_batch_bytes_mb"], r["rows_in_flight"], r["sample_bytes_backward_mb"], r["python_peak_mb"],
            r["rss_growth_mb"], r["seconds"]))
    return "\n".join(lines)


def main(argv=None):
    return speed_memory_main(
        argv, "bench_tokens", "Token IG vs a hand-written embedding-space IG; its memory.",
        speed, memory, markdown)


if __name__ == "__main__":
    main()
