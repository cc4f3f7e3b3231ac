"""LRP rules and composites next to DeepLIFT on the MNIST CNN: one comparison grid and the conservation numbers.

Trains the reference CNN (``tlxp.models.cnn``, 1 epoch by default), explains 4 test digits with
``gradient_x_input``, ``lrp`` (epsilon, ``epsilon_plus_flat``, ``sequential_preset_a``) and
``deeplift`` (zeros baseline), prints each method's conservation / completeness gap, and draws
them side by side with :func:`tensorlayer_xplain.compare_methods` (the guide's figure
``docs/guide/_images/lrp_deeplift_mnist.png`` comes from ``--out docs/guide/_images``).

Run ``python examples/lrp_deeplift_mnist.py --help`` for the options.
"""
import argparse
import os

import tensorlayer_xplain as tlxp

#: Column label -> (method, parameters).
RUNS = {
    "gradient_x_input": ("gradient_x_input", {}),
    "lrp epsilon=0.1": ("lrp", {"rule": "epsilon", "epsilon": 0.1}),
    "lrp epsilon_plus_flat": ("lrp", {"rule": "epsilon_plus_flat"}),
    "lrp sequential_preset_a": ("lrp", {"rule": "sequential_preset_a"}),
    "deeplift (zeros)": ("deeplift", {}),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA)")
    parser.add_argument("--out", default="xplain_out/lrp", help="output folder (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default: %(default)s)")
    parser.add_argument("--n", type=int, default=4, help="test digits (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1), path=args.data)
    model = tlxp.models.cnn(seed=0)
    tlxp.models.train(model, X_train, y_train, epochs=args.epochs, seed=0, progress=False)
    print("test accuracy: %.4f" % tlxp.models.accuracy(model, X_test, y_test))
    x = X_test[:args.n]
    exps = {}
    for label, (method, params) in RUNS.items():
        tlxp.explain(model, x, method, **params)  # traces the compiled step: the figure shows warm times
        exp = tlxp.explain(model, x, method, **params)
        exps[label] = exp
        gap = exp.meta.get("max_conservation_gap", exp.meta.get("max_completeness_gap"))
        print("%-26s max gap %s" % (label, "—" if gap is None else "%.2e" % gap))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "lrp_deeplift_mnist.png")
    tlxp.compare_methods(model, exps, name=path)
    print("written: %s" % path)
    return exps


if __name__ == "__main__":
    main()
