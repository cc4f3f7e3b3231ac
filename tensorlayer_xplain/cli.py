"""Command line: ``python -m tensorlayer_xplain explain ...`` and ``... methods``.

Examples
--------
Explain 16 MNIST test digits with three methods, writing figures and a report::

    python -m tensorlayer_xplain explain --model tensorlayer_xplain.models:cnn \\
        --weights cnn.npz --data mnist --n 16 --methods gradient,gradcam,lime --out report_dir/

Errors are printed as one line (``tensorlayer_xplain: error: ...``) with exit code 2.
"""
import argparse
import importlib
import json
import os
import sys

__all__ = ["main", "build_parser", "load_model"]

PROG = "python -m tensorlayer_xplain"


class CLIError(Exception):
    """A user error, reported as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise CLIError("%s (see %s --help)" % (message, self.prog))


def build_parser():
    parser = _Parser(prog=PROG, description="Explain TensorLayer models from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="{explain,methods}", parser_class=_Parser)
    sub.required = True
    sub.add_parser("methods", help="list the registered explanation methods and their parameters")
    ex = sub.add_parser("explain", help="explain a model on data; write one figure per method, a comparison "
                                        "grid and report.html", description="Explain a model on data and write "
                                        "one figure per method, a comparison grid and a self-contained report.html.")
    ex.add_argument("--model", required=True, metavar="MODULE:BUILDER",
                    help="a TL model object or a function building one, e.g. tensorlayer_xplain.models:cnn")
    ex.add_argument("--weights", help="weights file: .npz (TL 'npz' or 'npz_dict') or .h5 (hdf5)")
    ex.add_argument("--data", default="mnist", help="'mnist' (test split) or a .npy/.npz file of inputs (default: mnist)")
    ex.add_argument("--data-dir", help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    ex.add_argument("--n", type=int, default=16, help="number of inputs to explain (default: 16)")
    ex.add_argument("--methods", default="gradient,gradcam", help="comma-separated method names (default: gradient,gradcam)")
    ex.add_argument("--config", help="JSON file {method: {param: value}} of method parameters")
    ex.add_argument("--background", type=int, default=50,
                    help="training inputs used as background by methods that need one, e.g. shap (default: 50)")
    ex.add_argument("--out", default="xplain_out", help="output folder (default: xplain_out)")
    ex.add_argument("--format", default="png", choices=["png", "pdf", "svg"], help="figure format (default: png)")
    ex.add_argument("--seed", type=int, default=0, help="seed for stochastic methods (default: 0)")
    ex.add_argument("--output", default="logits", choices=["logits", "probabilities"], help="what is explained")
    return parser


def load_model(spec, weights=None):
    """Import ``module:attribute``; call it when it is a builder; load ``weights`` if given."""
    import tensorlayer as tl

    if ":" not in spec:
        raise CLIError("--model: expected MODULE:BUILDER (e.g. tensorlayer_xplain.models:cnn), got %r" % spec)
    module_name, attr = spec.split(":", 1)
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise CLIError("--model: cannot import %r (%s)" % (module_name, err)) from None
    finally:
        sys.path.pop(0)
    if not hasattr(module, attr):
        raise CLIError("--model: module %r has no attribute %r" % (module_name, attr))
    model = getattr(module, attr)
    if not isinstance(model, tl.models.Model) and callable(model) and not hasattr(model, "trainable_weights"):
        model = model()
    if weights:
        if not os.path.isfile(weights):
            raise CLIError("--weights: no such file %r" % weights)
        if weights.endswith((".h5", ".hdf5")):
            model.load_weights(weights, format="hdf5")
        else:
            try:
                model.load_weights(weights, format="npz")
            except (KeyError, ValueError):
                model.load_weights(weights, format="npz_dict")
    return model


def _load_inputs(args, needs_background):
    import numpy as np

    from . import datasets

    if args.data == "mnist":
        X_train, _, _, _, X_test, _ = datasets.load_mnist(path=args.data_dir)
        return X_test[: args.n], (X_train[: args.background] if needs_background else None)
    if not os.path.isfile(args.data):
        raise CLIError("--data: expected 'mnist' or an existing .npy/.npz file, got %r" % args.data)
    data = np.load(args.data)
    if hasattr(data, "files"):
        data = data[data.files[0]]
    return data[: args.n], (data[: args.background] if needs_background else None)


def _explain(args):
    from .explainer import ModelExplainer
    from .methods.registry import method_info

    if args.n < 1:
        raise CLIError("--n: expected a positive number of inputs, got %d" % args.n)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        specs = [method_info(m) for m in methods]
    except KeyError as err:
        raise CLIError("--methods: %s" % err.args[0]) from None
    config = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as err:
            raise CLIError("--config: cannot read %r as JSON (%s)" % (args.config, err)) from None
    needs_background = [s.name for s in specs if "background" in s.parameters and "background" not in config.get(s.name, {})]
    model = load_model(args.model, args.weights)
    inputs, background = _load_inputs(args, bool(needs_background))
    for name in needs_background:
        config.setdefault(name, {})["background"] = background
    explainer = ModelExplainer(model, methods=methods, config=config, output=args.output, seed=args.seed)
    explanations = explainer.visualize_all(inputs, save_path=args.out, format=args.format)
    report = explainer.report(inputs, os.path.join(args.out, "report.html"))
    for name, exp in explanations.items():
        print("%-22s %.3f s/input" % (name, exp.timings["per_sample"]))
    print("wrote %d figures and %s" % (len(explanations) + 1, report))


def _methods():
    from .methods.registry import available_methods, method_info

    for name in available_methods():
        spec = method_info(name)
        params = ", ".join("%s=%r" % kv for kv in spec.parameters.items() if not hasattr(kv[1], "shape"))
        alias = " (alias %s)" % ", ".join(spec.aliases) if spec.aliases else ""
        print("%-22s [%s]%s %s" % (name, spec.family, alias, params))


def main(argv=None):
    """Entry point; returns the exit code (0 ok, 2 user error, 1 unexpected failure)."""
    try:
        args = build_parser().parse_args(argv)
        import tensorlayer_xplain  # noqa: F401  (registers every method, applies _compat)

        if args.command == "methods":
            _methods()
        else:
            _explain(args)
        return 0
    except CLIError as err:
        print("tensorlayer_xplain: error: %s" % err, file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print("tensorlayer_xplain: error: %s" % message, file=sys.stderr)
        return 2
