"""Watch explanations evolve while a TensorLayer CNN trains on MNIST, in TensorBoard.

The training loop is the TensorLayer tutorial's own (``tl.iterate.minibatches``,
``network.train()``, a ``GradientTape`` step with ``tl.cost.cross_entropy``,
``network.eval()`` for validation); the only additions are the two lines that
build an :class:`~tensorlayer_xplain.tensorboard.ExplanationLogger` on 8 fixed
test digits and call ``logger.log(network, epoch)`` after each epoch. Each call
writes, for Grad-CAM and the gradient: an image grid of the digits with their
heatmaps, a histogram of the attributions, the deletion AUC (lower is better),
the agreement of the two methods and the drift of each method's maps (Spearman
correlation with the previous epoch's and the first epoch's maps).

Per epoch it prints the validation accuracy, the deletion AUC and the drift, so
the maps can be seen settling as accuracy rises; then how to open TensorBoard.

MNIST is read from ``$TENSORLAYER_XPLAIN_DATA/mnist`` (or ``--data``). A few
minutes on 2 CPU cores with the defaults (5 epochs of the 50,000 training digits).

Run::

    TENSORLAYER_XPLAIN_DATA=/path/to/data python examples/mnist_training_tensorboard.py --logdir runs/mnist
    tensorboard --logdir runs/mnist --host 127.0.0.1
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train the TensorLayer MNIST CNN with the tutorial's loop and log "
                                     "explanations (Grad-CAM, gradient) and their quality to TensorBoard each epoch.")
    parser.add_argument("--logdir", default="runs/mnist_explanations", help="TensorBoard folder (default: %(default)s)")
    parser.add_argument("--data", default=None, help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default: %(default)s)")
    parser.add_argument("--train-size", type=int, default=50000,
                        help="training digits used per epoch, at most 50000 (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=128, help="(default: %(default)s)")
    parser.add_argument("--watch", type=int, default=8, help="test digits watched (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    return parser.parse_args(argv)


def _fmt(scalars, tag):
    """A drift value, or '-' at the first logged epoch (nothing to compare with yet)."""
    return "%.3f" % scalars[tag] if tag in scalars else "-"


def main(argv=None):
    args = parse_args(argv)
    X_train, y_train, X_val, y_val, X_test, y_test = tlxp.datasets.load_mnist(path=args.data, shape=(-1, 28, 28, 1))
    X_train, y_train = X_train[:args.train_size], y_train[:args.train_size]
    np.random.seed(args.seed)  # tl.iterate.minibatches shuffles with numpy's global generator

    network = tlxp.models.cnn(seed=args.seed)  # Conv-Pool-Conv-Pool-Dense-Dense, a static TL model
    optimizer = tf.optimizers.Adam(learning_rate=1e-3)
    train_weights = network.trainable_weights

    @tf.function  # as in TensorLayer's static-model tutorials
    def train_step(X_batch, y_batch):
        with tf.GradientTape() as tape:
            _logits = network(X_batch)
            _loss = tl.cost.cross_entropy(_logits, y_batch, name="train_loss")
        grad = tape.gradient(_loss, train_weights)
        optimizer.apply_gradients(zip(grad, train_weights))
        return _loss

    # the two added lines: a fixed batch of test digits, logged after every epoch
    logger = tlxp.tensorboard.ExplanationLogger(args.logdir, X_test[:args.watch], labels=y_test[:args.watch],
                                                methods=("gradient", "gradcam"), metrics=("deletion",))
    print("epoch  val_acc | deletion AUC: gradient gradcam | drift vs previous: gradient gradcam "
          "| vs first: gradcam | agreement | log s  train s")
    for epoch in range(args.epochs):
        start = time.perf_counter()
        for X_batch, y_batch in tl.iterate.minibatches(X_train, y_train, args.batch_size, shuffle=True):
            network.train()
            train_step(tf.constant(X_batch), tf.constant(y_batch))
        train_s = time.perf_counter() - start

        network.eval()
        val_acc = tlxp.models.accuracy(network, X_val, y_val)
        s = logger.log(network, epoch)
        print("%5d  %7.4f | %21.3f %7.3f | %26s %7s | %17s | %9.3f | %5.2f  %7.1f" % (
            epoch, val_acc, s["metrics/deletion/gradient"], s["metrics/deletion/gradcam"],
            _fmt(s, "drift/gradient/previous"), _fmt(s, "drift/gradcam/previous"), _fmt(s, "drift/gradcam/first"),
            s["agreement/spearman/gradient_vs_gradcam"], s["logger/seconds"], train_s), flush=True)
        with logger.writer.as_default():
            tf.summary.scalar("training/val_accuracy", val_acc, step=epoch)
    logger.close()
    print("\nEvents written to %s. Open them with:\n    tensorboard --logdir %s --host 127.0.0.1\n"
          "then http://127.0.0.1:6006 (IMAGES: explanations/*, SCALARS: metrics/, drift/, agreement/)."
          % (args.logdir, args.logdir))
    return logger


if __name__ == "__main__":
    main()
