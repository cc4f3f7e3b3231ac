"""Train the TensorLayer tutorial MLP on MNIST and explain a few test digits with gradients.

Run ``python examples/mnist_mlp.py --help`` for the options. MNIST is read from
``--data`` (a folder containing ``mnist/``), else ``$TENSORLAYER_XPLAIN_DATA``,
else ``data/``; see :func:`tensorlayer_xplain.datasets.load_mnist`.
"""
import argparse
import os
import time

import tensorlayer_xplain as tlxp


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train the TensorLayer tutorial MLP (784-256-128-10) on MNIST, print its test accuracy, "
        "and save gradient (saliency) figures of a few test digits.")
    parser.add_argument("--data", default=None,
                        help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    parser.add_argument("--out", default="xplain_out", help="folder for the figures (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default: %(default)s)")
    parser.add_argument("--n", type=int, default=4, help="number of test digits to explain (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--format", default="png", choices=["png", "pdf", "svg"],
                        help="figure format (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    X_train, y_train, X_val, y_val, X_test, y_test = tlxp.datasets.load_mnist(path=args.data, shape=(-1, 784))
    model = tlxp.models.mlp(seed=args.seed)
    start = time.perf_counter()
    history = tlxp.models.train(model, X_train, y_train, epochs=args.epochs, seed=args.seed, X_val=X_val, y_val=y_val)
    accuracy = tlxp.models.accuracy(model, X_test, y_test)
    print("trained %d epochs in %.1f s; val accuracy per epoch: %s" % (
        args.epochs, time.perf_counter() - start, ", ".join("%.4f" % a for a in history["val_accuracy"])))
    print("test accuracy: %.4f" % accuracy)

    os.makedirs(args.out, exist_ok=True)
    digits = X_test[: args.n]
    explainer = tlxp.ModelExplainer(model, methods=["gradient"], image_shape=(28, 28, 1))
    exp = explainer.explain(digits, method="gradient")
    path = os.path.join(args.out, "mlp_gradient.%s" % args.format)
    tlxp.gradient_visualization(explainer.adapter, exp, name=path)
    print("predicted %s for true labels %s; saved %s" % (exp.predicted.tolist(), y_test[: args.n].tolist(), path))
    # explain why each digit is its true class rather than the predicted one, one figure per digit
    for i, label in enumerate(y_test[: args.n]):
        name = os.path.join(args.out, "mlp_gradient_digit%d_label%d.%s" % (i, label, args.format))
        tlxp.gradient_visualization(explainer.adapter, digits[i:i + 1], int(label), name=name)
    exp.save(os.path.join(args.out, "mlp_gradient.npz"))
    return accuracy


if __name__ == "__main__":
    main()
