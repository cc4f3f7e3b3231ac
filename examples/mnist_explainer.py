"""Explain 8 MNIST test digits with every applicable method through one ModelExplainer.

Trains the chosen reference model (``--model cnn`` by default; ``mlp`` is the
TensorLayer tutorial MLP, ``attention`` the tiny ViT), then

* ``explainer.visualize_all`` writes one figure per method and a comparison grid,
* ``explainer.evaluate`` scores each method (deletion / insertion AUC, then every metric family for the
  gradient-family methods, drawn by ``metric_ranking_visualization``),
* ``explainer.report`` writes a self-contained ``report.html`` with the table.

Run ``python examples/mnist_explainer.py --help`` for the options.
"""
import argparse
import os
import time

import tensorlayer_xplain as tlxp

#: Methods that only make sense for some models.
FLAT_ONLY = {"lime_tabular", "shap_kernel"}  # tabular: one feature per input value
NEEDS_ATTENTION = {"attention_rollout"}
NEEDS_CONV = {"gradcam", "gradcam_plus_plus", "scorecam"}

#: Per-method settings that keep the example quick on 2 CPU cores.
CONFIG = {
    "integrated_gradients": {"steps": 64},
    "smoothgrad": {"n_samples": 16},
    "vargrad": {"n_samples": 16},
    "rise": {"n_masks": 1000},
    "lime": {"num_samples": 500},
    "shap": {"n_samples": 32},
    "shap_partition": {"max_evals": 500},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a reference MNIST model and explain 8 test digits with every "
                                     "applicable method: figures, comparison grid, metrics and report.html.")
    parser.add_argument("--model", default="cnn", choices=["cnn", "mlp", "attention"],
                        help="model (default: %(default)s)")
    parser.add_argument("--data", default=None,
                        help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    parser.add_argument("--out", default="xplain_out/explainer", help="output folder (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default: %(default)s)")
    parser.add_argument("--n", type=int, default=8, help="test digits to explain (default: %(default)s)")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: every applicable one)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    parser.add_argument("--no-evaluate-all", dest="evaluate_all", action="store_false",
                        help="skip evaluate(metrics='all') and its ranking figure (about a minute)")
    return parser.parse_args(argv)


def applicable_methods(adapter):
    """Registered methods that apply to this model (no CAM without conv layers, etc.)."""
    from tensorlayer_xplain.methods.attention import attention_layer_names

    four_d = any(len(shape) == 3 for _, shape in adapter.layer_call_order()[1:])
    has_attention = bool(attention_layer_names(adapter))
    flat = len(adapter.input_shape) == 1
    names = []
    for name in tlxp.available_methods():
        if (name in FLAT_ONLY and not flat) or (name in NEEDS_ATTENTION and not has_attention):
            continue
        if name in NEEDS_CONV and (not four_d or has_attention):
            continue
        if name == "shap_deep":
            continue  # see the SHAP guide: slow and fragile on TF2 eager models
        names.append(name)
    return names


def main(argv=None):
    args = parse_args(argv)
    shape = (-1, 784) if args.model == "mlp" else (-1, 28, 28, 1)
    X_train, y_train, X_val, y_val, X_test, y_test = tlxp.datasets.load_mnist(path=args.data, shape=shape)
    build = {"cnn": tlxp.models.cnn, "mlp": tlxp.models.mlp, "attention": tlxp.models.attention_mnist}[args.model]
    model = build(seed=args.seed)
    start = time.perf_counter()
    tlxp.models.train(model, X_train, y_train, epochs=args.epochs, seed=args.seed)
    print("%s: test accuracy %.4f after %d epochs (%.0f s)" % (
        args.model, tlxp.models.accuracy(model, X_test, y_test), args.epochs, time.perf_counter() - start))

    adapter = tlxp.as_adapter(model, image_shape=(28, 28, 1))
    methods = args.methods.split(",") if args.methods else applicable_methods(adapter)
    config = {name: dict(CONFIG.get(name, {})) for name in methods}
    for name in methods:
        params = tlxp.method_parameters(name)
        if "background" in params:
            config[name]["background"] = X_train[:64]
        if "training_data" in params:
            config[name]["training_data"] = X_train[:500]
    config = {k: v for k, v in config.items() if v}
    explainer = tlxp.ModelExplainer(adapter, methods=methods, config=config, class_names=[str(i) for i in range(10)],
                                   seed=args.seed)
    digits = X_test[: args.n]
    exps = explainer.visualize_all(digits, save_path=args.out)
    for name, exp in exps.items():
        print("%-22s %7.4f s/digit" % (name, exp.timings["per_sample"]))
    table = explainer.evaluate(digits, metrics=["deletion", "insertion"])
    print(table.round(3).to_string())
    # every metric family (Quantus's definitions) for the gradient-family methods: their re-explanations are cheap
    fast = [m for m in exps if m in ("gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "gradcam")]
    if fast and args.evaluate_all:
        table = explainer.evaluate(digits, metrics="all", methods=fast, nr_samples=20,
                                   monotonicity_correlation={"features_in_step": 28},
                                   pixel_flipping={"features_in_step": 7})
        print(table.round(3).to_string())
        tlxp.visualize.metric_ranking_visualization(table, name=os.path.join(args.out, "metric_ranking.png"))
    report = os.path.join(args.out, "report.html")
    explainer.report(digits, report, metrics=["deletion", "insertion"])  # with the evaluation section, if any
    print("figures and %s written to %s" % (os.path.basename(report), args.out))
    return exps


if __name__ == "__main__":
    main()
