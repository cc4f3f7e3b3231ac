"""Overhead of ``tlxp.tensorboard.ExplanationLogger`` on a TensorLayer MNIST CNN epoch (issue 28: goal <= 5%).

Two copies of the reference CNN (``tlxp.models.cnn``, same seed) are trained in
the same process with the TensorLayer tutorial loop (``tl.iterate.minibatches``,
a compiled ``GradientTape`` step, Adam) on the 50,000 training digits: one
without the logger, one with an ``ExplanationLogger`` at its defaults
(``methods=('gradient', 'gradcam')``, ``metrics=('deletion',)``, ``every=1``,
8 watched test digits) called after each epoch. Epochs alternate between the two
(A B, B A, A B...), so both see the same machine load; the time of a logged
epoch includes its ``log`` call (the first one includes tracing the logger's
compiled steps, done once per model; each variant's first epoch also traces its
own training step).

Printed: per pair the two epoch times and their ratio; the median of the
per-pair ratios, the ratio of the total times, the logger's own time per call
(first and later calls), the peak RSS of the process during the epochs of each
variant, and whether both models ended with identical weights (the logger does
not change training numerics).

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_tensorboard [--pairs 4] [--train-size 50000]
"""
import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from benchmarks.memory import peak_mb, reset_peak


class Run:
    """One model, its optimizer and its compiled tutorial step; its own shuffling generator."""

    def __init__(self, X, y, seed, batch_size):
        self.model = tlxp.models.cnn(seed=seed)
        self.optimizer = tf.optimizers.Adam(learning_rate=1e-3)
        self.X, self.y, self.batch_size = X, y, batch_size
        self.rng_state = np.random.RandomState(seed).get_state()
        weights = self.model.trainable_weights
        model, optimizer = self.model, self.optimizer

        @tf.function
        def train_step(X_batch, y_batch):
            with tf.GradientTape() as tape:
                loss = tl.cost.cross_entropy(model(X_batch), y_batch, name="train_loss")
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
            return loss

        self.train_step = train_step

    def epoch(self):
        np.random.set_state(self.rng_state)  # tl.iterate.minibatches shuffles with numpy's global generator
        for X_batch, y_batch in tl.iterate.minibatches(self.X, self.y, self.batch_size, shuffle=True):
            self.model.train()
            self.train_step(tf.constant(X_batch), tf.constant(y_batch))
        self.rng_state = np.random.get_state()
        self.model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=4, help="epochs per variant (default: %(default)s)")
    parser.add_argument("--train-size", type=int, default=50000, help="digits per epoch (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--watch", type=int, default=8, help="watched test digits (default: %(default)s)")
    args = parser.parse_args(argv)

    X_train, y_train, _, _, X_test, _ = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))
    X_train, y_train = X_train[:args.train_size], y_train[:args.train_size]
    plain = Run(X_train, y_train, 0, args.batch_size)
    logged = Run(X_train, y_train, 0, args.batch_size)
    logdir = tempfile.mkdtemp(prefix="bench_tensorboard_")
    logger = tlxp.tensorboard.ExplanationLogger(logdir, X_test[:args.watch])  # the defaults
    times = {"plain": [], "logged": []}
    peaks = {"plain": [], "logged": []}
    log_seconds = []
    for pair in range(args.pairs):
        order = ("plain", "logged") if pair % 2 == 0 else ("logged", "plain")
        for name in order:
            reset_peak()
            start = time.perf_counter()
            if name == "plain":
                plain.epoch()
            else:
                logged.epoch()
                scalars = logger.log(logged.model, pair)
                log_seconds.append(scalars["logger/seconds"])
            times[name].append(time.perf_counter() - start)
            peaks[name].append(peak_mb())
        print("pair %d: epoch %.2f s, with logger %.2f s, ratio %.3f (log call %.2f s)" % (
            pair, times["plain"][-1], times["logged"][-1], times["logged"][-1] / times["plain"][-1],
            log_seconds[-1]), flush=True)
    logger.close()

    ratios = [b / a for a, b in zip(times["plain"], times["logged"])]
    same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(plain.model.all_weights, logged.model.all_weights))
    print()
    print("TensorLayer MNIST CNN, %d digits per epoch, batch %d, logger defaults (gradient + gradcam, deletion, "
          "%d watched digits, every=1 epoch), %d epochs per variant, alternating" % (
              args.train_size, args.batch_size, args.watch, args.pairs))
    print("median per-pair ratio (with / without logger): %.3f  (goal <= 1.05)" % statistics.median(ratios))
    print("ratio of total times:                         %.3f" % (sum(times["logged"]) / sum(times["plain"])))
    print("ratio of total times without the first (tracing) call: %.3f" % (
        (sum(times["logged"][1:])) / sum(times["plain"][1:]) if args.pairs > 1 else float("nan")))
    print("logger time / epoch time without logger (direct, less noisy): all calls %.3f, later calls %.3f" % (
        sum(log_seconds) / sum(times["plain"]),
        sum(log_seconds[1:]) / sum(times["plain"][1:]) if args.pairs > 1 else float("nan")))
    print("logger call: first %.2f s (traces its compiled steps), later median %.3f s" % (
        log_seconds[0], statistics.median(log_seconds[1:]) if len(log_seconds) > 1 else float("nan")))
    print("peak RSS during epochs: without logger %.0f MB, with logger %.0f MB" % (max(peaks["plain"]),
                                                                                  max(peaks["logged"])))
    print("identical weights with and without the logger: %s" % same)
    return ratios


if __name__ == "__main__":
    main()
