"""Plant a shortcut in MNIST, train the CNN on it, and let ``diagnose`` find it on its own.

A small bright square is drawn in one corner of 95% of one class's training
digits. The CNN learns to use it. ``tlxp.diagnose`` then runs on a clean test
set and on a patched one (the square on 95% of that class's test digits, as in
training) without being told where the square is or which class carries it;
the script checks what it found:

* the flagged class is the planted one,
* its flagged region overlaps the square,
* replacing the suspected region outside the digit (the square) flips a
  measured share of its predictions,

and writes the five diagnosis figures and a self-contained report per test set
(exit code 1 when the shortcut is not found).

Run ``python examples/mnist_shortcut.py --help`` for the options.
"""
import argparse
import os
import time

import numpy as np

import tensorlayer_xplain as tlxp

#: Settings that keep the example within a few minutes on 2 CPU cores.
CONFIG = {"integrated_gradients": {"steps": 32}}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Plant a corner-square shortcut in one MNIST class, train the CNN "
                                     "and check that diagnose finds it; write figures and report.html.")
    parser.add_argument("--data", default=None,
                        help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    parser.add_argument("--out", default="xplain_out/shortcut", help="output folder (default: %(default)s)")
    parser.add_argument("--planted", type=int, default=7, help="class that carries the square (default: %(default)s)")
    parser.add_argument("--share", type=float, default=0.95,
                        help="share of that class's digits patched (default: %(default)s)")
    parser.add_argument("--square", type=int, default=4, help="side of the square in pixels (default: %(default)s)")
    parser.add_argument("--train", type=int, default=12000, help="training digits used (default: %(default)s)")
    parser.add_argument("--test", type=int, default=1000, help="test digits diagnosed (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    return parser.parse_args(argv)


def square_mask(side, shape=(28, 28), margin=1):
    """Boolean (H, W) mask of the planted square: bottom-right corner, ``margin`` pixels from the edges."""
    mask = np.zeros(shape, bool)
    mask[shape[0] - margin - side:shape[0] - margin, shape[1] - margin - side:shape[1] - margin] = True
    return mask


def plant(X, y, cls, share, mask, seed):
    """Copy of ``X`` with the square drawn on ``share`` of the digits of class ``cls``; returns (X, patched)."""
    rng = np.random.default_rng(seed)
    patched = (y == cls) & (rng.random(len(y)) < share)
    X = X.copy()
    X[patched] = np.where(mask[None, :, :, None], X.max(), X[patched])
    return X, patched


def check(name, diagnosis, cls, mask):
    """Print what diagnose found and how it relates to the planted square; return the measured figures."""
    rel = diagnosis.reliance.set_index("class")
    region = diagnosis.flagged_region(cls)
    near = np.zeros_like(mask)
    near[max(0, np.argmax(mask.any(1)) - 1):, max(0, np.argmax(mask.any(0)) - 1):] = True  # square + 1 px
    heat = diagnosis.outside_maps[cls]
    found = {
        "flagged": diagnosis.flagged_classes,
        "accuracy": float(np.mean(diagnosis.predicted == diagnosis.labels)),
        "outside_share": float(rel.loc[cls, "outside_share"]),
        "max_other_outside_share": float(rel.drop(cls)["outside_share"].max()),
        "flip_rate": float(rel.loc[cls, "flip_rate"]),
        "max_other_flip_rate": float(rel.drop(cls)["flip_rate"].max()),
        "score_drop": float(rel.loc[cls, "score_drop"]),
        "region_in_square": float((region & near).sum() / max(region.sum(), 1)),
        "outside_mass_in_square": float((heat * near).sum() / max(heat.sum(), 1e-12)),
    }
    print("\n== %s test set: accuracy %.3f, %d errors, flagged classes %s"
          % (name, found["accuracy"], len(diagnosis.errors), found["flagged"]))
    print(diagnosis.reliance[["class", "n", "outside_share", "excess", "flip_rate", "score_drop", "flagged"]]
          .to_string(index=False, float_format=lambda v: "%.3f" % v))
    print("class %d: outside share %.3f (max of other classes %.3f), flip rate %.3f (max other %.3f), "
          "score drop %.3f" % (cls, found["outside_share"], found["max_other_outside_share"], found["flip_rate"],
                               found["max_other_flip_rate"], found["score_drop"]))
    print("class %d: %.0f%% of its flagged region and %.0f%% of its outside-object attribution lie on the square"
          % (cls, 100 * found["region_in_square"], 100 * found["outside_mass_in_square"]))
    if diagnosis.confusions.shape[0]:
        print("top confusions:", ", ".join(diagnosis.confusions["pair"].head(3)))
    return found


def main(argv=None):
    args = parse_args(argv)
    X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(path=args.data)
    X_train, y_train = X_train[:args.train], y_train[:args.train]
    X_test, y_test = X_test[:args.test], y_test[:args.test]
    mask = square_mask(args.square)
    X_shortcut, patched = plant(X_train, y_train, args.planted, args.share, mask, args.seed)
    print("planted a %dx%d square on %d of %d training digits of class %d"
          % (args.square, args.square, patched.sum(), (y_train == args.planted).sum(), args.planted))
    model = tlxp.models.cnn(seed=args.seed)
    tlxp.models.train(model, X_shortcut, y_train, epochs=args.epochs, seed=args.seed)
    explainer = tlxp.ModelExplainer(model, methods=["gradcam", "integrated_gradients"], config=CONFIG,
                                    seed=args.seed)
    X_patched, _ = plant(X_test, y_test, args.planted, args.share, mask, args.seed + 1)
    results = {}
    for name, X in (("clean", X_test), ("patched", X_patched)):
        start = time.perf_counter()
        diagnosis = explainer.diagnose(X, y_test)
        seconds = time.perf_counter() - start
        found = check(name, diagnosis, args.planted, mask)
        folder = os.path.join(args.out, name)
        figures = diagnosis.save_figures(folder)
        report = diagnosis.report(os.path.join(folder, "report.html"),
                                  title="Diagnosis of the shortcut CNN, %s test set" % name)
        print("diagnosed %d digits in %.1f s; wrote %d figures and %s" % (len(X), seconds, len(figures), report))
        results[name] = found
    patched_found = results["patched"]
    ok = (patched_found["flagged"] == [args.planted] and patched_found["region_in_square"] > 0
          and patched_found["flip_rate"] > patched_found["max_other_flip_rate"])
    print("\nshortcut found on the patched test set: %s" % ("yes" if ok else "NO"))
    return results, ok


if __name__ == "__main__":
    raise SystemExit(0 if main()[1] else 1)
