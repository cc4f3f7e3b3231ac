"""TensorLayer's classic RNN demo: an LSTM reading MNIST row by row, explained per time step.

Each 28x28 digit is a sequence of T = 28 rows of F = 28 pixels. The model is
TensorLayer's own ``LSTMRNN`` (a Keras 3 ``LSTMCell`` underneath, run by TensorLayer's
loop, which ``tensorlayer_xplain`` makes work on today's stack) and a ``Dense`` head:

    Input([None, 28, 28]) -> LSTMRNN(128, return_last_output=True) -> Dense(10)

It is trained with Adam (a compiled TensorLayer training step), then integrated
gradients explain a few test digits. The attributions have the input's shape
``(T, F)``: one value per row (time step) and pixel (feature). The figure
``lstm_timesteps.<fmt>`` shows, per digit, the input, the ``(T, F)`` IG map and the
attribution summed over each time step; the script prints the IG completeness and a
measured check of the time-step attributions: blanking the 4 rows with the largest
summed IG changes far more predictions than blanking 4 random rows holding ink.

Run ``python examples/mnist_lstm.py --help`` for the options. MNIST is read from
``--data`` (a folder containing ``mnist/``), else ``$TENSORLAYER_XPLAIN_DATA``, else
``data/``; see :func:`tensorlayer_xplain.datasets.load_mnist`. The defaults train
for about 3 to 5 minutes on two CPU cores and reach about 98% test accuracy.
"""
import argparse
import os
import tempfile
import time

import keras
import numpy as np
import tensorlayer as tl

import tensorlayer_xplain as tlxp


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train TensorLayer's LSTMRNN on MNIST read row by row, print its test accuracy, and save "
        "integrated-gradients time-step maps of a few test digits.")
    parser.add_argument("--data", default=None,
                        help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    parser.add_argument("--out", default=None,
                        help="folder for the figures (default: a new folder xplain_out_* in the temp directory)")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default: %(default)s)")
    parser.add_argument("--units", type=int, default=128, help="LSTM units (default: %(default)s)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="use only the first N training digits (default: all 50,000)")
    parser.add_argument("--n", type=int, default=4, help="number of test digits to explain (default: %(default)s)")
    parser.add_argument("--check", type=int, default=200,
                        help="test digits for the row-blanking check (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=64, help="integrated-gradients steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (default: %(default)s)")
    parser.add_argument("--format", default="png", choices=["png", "pdf", "svg"],
                        help="figure format (default: %(default)s)")
    return parser.parse_args(argv)


def lstm_classifier(units=128, steps=28, features=28, n_classes=10, seed=0):
    """``Input([None, T, F]) -> LSTMRNN(units, last output) -> Dense(n_classes)``: a static TL model."""
    keras.utils.set_random_seed(seed)  # TensorLayer's and the Keras cell's initializers
    ni = tl.layers.Input([None, steps, features])
    nn = tl.layers.LSTMRNN(units=units, in_channels=features, return_last_output=True, return_last_state=False)(ni)
    nn = tl.layers.Dense(n_classes, in_channels=units)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def blank_rows(images, rows):
    """Copy of ``images`` (N, T, F) with the given time steps ``rows`` (N, k) set to 0 (blank rows)."""
    out = images.copy()
    np.put_along_axis(out, rows[:, :, None], 0.0, axis=1)
    return out


def row_deletion(model, images, attributions, k=4, seed=0):
    """Blank the ``k`` time steps with the largest summed IG, or ``k`` random rows holding ink.

    Returns the share of predictions that change and the mean drop of the predicted
    class's logit, for the IG rows and for the random ink rows.
    """
    adapter = tlxp.as_adapter(model)
    before = adapter.predict(images)
    predicted = before.argmax(1)
    top = np.argsort(-attributions.sum(axis=2), axis=1)[:, :k]
    rng = np.random.RandomState(seed)
    ink = (images > 0.3).any(axis=2)
    random_rows = np.stack([rng.choice(np.flatnonzero(row), k, replace=False) for row in ink])
    results = {}
    for name, rows in (("ig", top), ("random", random_rows)):
        after = adapter.predict(blank_rows(images, rows))
        results[name] = (float((after.argmax(1) != predicted).mean()),
                         float(np.mean(np.take_along_axis(before - after, predicted[:, None], 1))))
    return results


def draw_timesteps(exp, labels, path):
    """Per digit: the input, the signed (T, F) IG map, and IG summed per time step. Closes the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(exp)
    fig, axes = plt.subplots(n, 3, figsize=(9, 2.6 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 0.8]})
    try:
        for i in range(n):
            attr = exp.attributions[i]
            bound = float(np.abs(attr).max()) or 1.0
            axes[i, 0].imshow(exp.inputs[i], cmap="gray")
            axes[i, 0].set_title("label %d, predicted %d" % (labels[i], exp.predicted[i]), fontsize=9)
            image = axes[i, 1].imshow(attr, cmap="bwr", vmin=-bound, vmax=bound)
            axes[i, 1].set_title("IG per time step x pixel (T x F)", fontsize=9)
            fig.colorbar(image, ax=axes[i, 1], fraction=0.046)
            per_step = attr.sum(axis=1)
            axes[i, 2].barh(np.arange(len(per_step)), per_step,
                            color=np.where(per_step >= 0, "tab:red", "tab:blue"))
            axes[i, 2].set_ylim(len(per_step) - 0.5, -0.5)  # rows aligned with the maps
            axes[i, 2].set_title("IG summed per time step", fontsize=9)
            for ax in axes[i, :2]:
                ax.set_xlabel("pixel in the row (feature)", fontsize=8)
                ax.set_ylabel("row (time step)", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    finally:
        plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    X_train, y_train, X_val, y_val, X_test, y_test = tlxp.datasets.load_mnist(path=args.data, shape=(-1, 28, 28))
    if args.train_size:
        X_train, y_train = X_train[:args.train_size], y_train[:args.train_size]
    model = lstm_classifier(units=args.units, seed=args.seed)
    start = time.perf_counter()
    history = tlxp.models.train(model, X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                               learning_rate=args.learning_rate, seed=args.seed, X_val=X_val[:2000],
                               y_val=y_val[:2000], progress=False)
    seconds = time.perf_counter() - start
    accuracy = tlxp.models.accuracy(model, X_test, y_test)
    print("trained %d epochs on %d digits in %.1f s; val accuracy per epoch: %s" % (
        args.epochs, len(X_train), seconds, ", ".join("%.4f" % a for a in history["val_accuracy"])))
    print("test accuracy: %.4f" % accuracy)

    out = args.out or tempfile.mkdtemp(prefix="xplain_out_")
    os.makedirs(out, exist_ok=True)
    digits = X_test[:args.n]
    exp = tlxp.explain(model, digits, "integrated_gradients", steps=args.steps)
    print("integrated gradients: attributions %s (N, T, F); max completeness gap %.4f"
          % (exp.shape, exp.meta["max_completeness_gap"]))
    path = os.path.join(out, "lstm_timesteps.%s" % args.format)
    draw_timesteps(exp, y_test[:args.n], path)
    print("saved %s" % path)
    sample = X_test[:args.check]
    attributions = tlxp.explain(model, sample, "integrated_gradients", steps=args.steps).attributions
    results = row_deletion(model, sample, attributions, k=4, seed=args.seed)
    print("blanking 4 time steps (rows) of %d test digits: predictions changed / predicted-logit drop" % len(sample))
    print("  the 4 rows with the largest IG: %.1f%% / %.2f" % (100 * results["ig"][0], results["ig"][1]))
    print("  4 random rows holding ink:      %.1f%% / %.2f" % (100 * results["random"][0], results["random"][1]))
    return accuracy


if __name__ == "__main__":
    main()
