"""Train a tiny vision transformer on MNIST and show where it attends.

The model is :func:`tensorlayer_xplain.models.attention_mnist`: 7x7 patches of 4x4
pixels, a class token, two pre-norm transformer blocks with 4 heads, built from the
TensorLayer layers in :mod:`tensorlayer_xplain.layers`. It is trained with Adam and a
warm-up + cosine learning rate, then a few test digits are drawn with

* ``attention_layer<k>.<fmt>``: the input, each head's class-token attention in block k,
  the heads' mean, the attention rollout over both blocks and the rollout overlay;
* ``attention_vs_gradients.<fmt>``: attention (last block) and rollout next to gradient
  maps (saliency, SmoothGrad) of the same digits;

and it prints how much of the attention falls on patches holding strokes, against the
share of such patches (what uniform attention would give).

Grad-CAM is not drawn: a ViT has no convolutional feature map (its only 4-D outputs
are the attention matrices), so the gradient methods are the comparison.

Run ``python examples/mnist_attention.py --help`` for the options. MNIST is read from
``--data`` (a folder containing ``mnist/``), else ``$TENSORLAYER_XPLAIN_DATA``, else
``data/``; see :func:`tensorlayer_xplain.datasets.load_mnist`.
"""
import argparse
import os
import time

import numpy as np
import tensorflow as tf

import tensorlayer_xplain as tlxp


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a tiny TensorLayer vision transformer on MNIST, print its test accuracy, and save "
        "attention, attention-rollout and gradient figures of a few test digits.")
    parser.add_argument("--data", default=None,
                        help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    parser.add_argument("--out", default="xplain_out", help="folder for the figures (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs (default: %(default)s)")
    parser.add_argument("--n", type=int, default=4, help="number of test digits to explain (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (default: %(default)s)")
    parser.add_argument("--format", default="png", choices=["png", "pdf", "svg"],
                        help="figure format (default: %(default)s)")
    return parser.parse_args(argv)


def warmup_cosine(peak, total_steps, warmup_fraction=0.1):
    """Learning rate rising linearly to ``peak`` over the first steps, then cosine decay to 2% of it."""
    warmup = max(1, int(total_steps * warmup_fraction))
    return tf.keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total_steps - warmup), alpha=0.02, warmup_target=peak, warmup_steps=warmup)


def main(argv=None):
    args = parse_args(argv)
    X_train, y_train, X_val, y_val, X_test, y_test = tlxp.datasets.load_mnist(path=args.data, shape=(-1, 28, 28, 1))
    model = tlxp.models.attention_mnist(seed=args.seed)
    steps = args.epochs * int(np.ceil(len(X_train) / args.batch_size))
    start = time.perf_counter()
    history = tlxp.models.train(model, X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                               learning_rate=warmup_cosine(args.learning_rate, steps), seed=args.seed,
                               X_val=X_val[:2000], y_val=y_val[:2000])
    seconds = time.perf_counter() - start
    accuracy = tlxp.models.accuracy(model, X_test, y_test)
    print("trained %d epochs in %.1f s; val accuracy per epoch: %s" % (
        args.epochs, seconds, ", ".join("%.4f" % a for a in history["val_accuracy"])))
    print("test accuracy: %.4f" % accuracy)
    if accuracy < 0.95:
        print("warning: below the 0.95 target; train longer (--epochs)")

    os.makedirs(args.out, exist_ok=True)
    digits = X_test[: args.n]
    explainer = tlxp.ModelExplainer(model, methods=["attention", "attention_rollout", "gradient", "smoothgrad"])
    layers = tlxp.methods.attention.attention_layer_names(explainer.adapter)
    for k, layer_name in enumerate(layers):
        path = os.path.join(args.out, "attention_layer%d.%s" % (k + 1, args.format))
        exps = tlxp.attention_visualization(explainer.adapter, digits, layer_name=layer_name, name=path)
        print("saved %s (%s; predicted %s for true labels %s)" % (
            path, layer_name, exps["attention"].predicted.tolist(), y_test[: args.n].tolist()))
    exps["attention"].save(os.path.join(args.out, "attention.npz"))
    exps["attention_rollout"].save(os.path.join(args.out, "attention_rollout.npz"))

    path = os.path.join(args.out, "attention_vs_gradients.%s" % args.format)
    tlxp.compare_methods(explainer.adapter, digits, explainer.methods, name=path)
    print("saved %s" % path)
    report_stroke_shares(explainer, X_test[:500], layers)
    return accuracy


def _patch_ink(images, patch=4, threshold=0.3):
    """(N, 7, 7) bool: patches holding a stroke pixel, and those patches with their 8 neighbours."""
    n, h, w = images.shape[:3]
    ink = images[..., 0].reshape(n, h // patch, patch, w // patch, patch).max(axis=(2, 4)) > threshold
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    near = np.zeros_like(ink)
    for dy in range(3):
        for dx in range(3):
            near |= padded[:, dy:dy + ink.shape[1], dx:dx + ink.shape[2]]
    return ink, near


def _shares(exp, masks, patch=4):
    """Mean share of each map's mass on the masked patches (maps placed on patches with 'nearest')."""
    heat = exp.heatmap()
    n, h, w = heat.shape
    tokens = heat.reshape(n, h // patch, patch, w // patch, patch).mean(axis=(2, 4))
    tokens = tokens / tokens.sum(axis=(1, 2), keepdims=True)
    return [float((tokens * m).sum(axis=(1, 2)).mean()) for m in masks]


def report_stroke_shares(explainer, images, layers):
    """Print how much attention falls on patches with strokes, against the share of such patches."""
    masks = _patch_ink(images)
    print("share of the class token's attention on patches with strokes | on strokes or next to them "
          "(%d test digits; uniform attention would give %.0f%% | %.0f%%):"
          % (len(images), 100 * masks[0].mean(), 100 * masks[1].mean()))
    for k, layer_name in enumerate(layers):
        exp = explainer.explain(images, method="attention", layer_name=layer_name, interpolation="nearest")
        shares = tuple(100 * s for s in _shares(exp, masks))
        print("  layer %d attention (heads mean): %.0f%% | %.0f%%" % ((k + 1,) + shares))
    exp = explainer.explain(images, method="attention_rollout", interpolation="nearest")
    print("  attention rollout:               %.0f%% | %.0f%%" % tuple(100 * s for s in _shares(exp, masks)))


if __name__ == "__main__":
    main()
