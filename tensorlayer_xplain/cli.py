"""Command line: ``python -m tensorlayer_xplain explain ...``, ``... methods`` and ``... serve``.

Examples
--------
Explain 16 MNIST test digits with three methods, writing figures and a report::

    python -m tensorlayer_xplain explain --model tensorlayer_xplain.models:cnn \\
        --weights cnn.npz --data mnist --n 16 --methods gradient,gradcam,lime --out report_dir/

Serve predictions and explanations over HTTP (``pip install 'tensorlayer-xplain[serve]'``)::

    python -m tensorlayer_xplain serve --model tensorlayer_xplain.models:cnn --weights cnn.npz --port 8000

Diagnose a model on 1000 labelled test digits (errors, shortcuts, sensitivity)::

    python -m tensorlayer_xplain diagnose --model tensorlayer_xplain.models:cnn --weights cnn.npz \\
        --data mnist --out diagnosis_dir/

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
    sub = parser.add_subparsers(dest="command", metavar="{explain,methods,serve,diagnose}", parser_class=_Parser)
    sub.required = True
    sub.add_parser("methods", help="list the registered explanation methods and their parameters")
    ex = sub.add_parser("explain", help="explain a model on data; write one figure per method, a comparison "
                                        "grid and report.html", description="Explain a model on data and write "
                                        "one figure per method, a comparison grid and a self-contained report.html.")
    ex.add_argument("--model", required=True, metavar="MODULE:BUILDER",
                    help="a TL model object or a function building one, e.g. tensorlayer_xplain.models:cnn")
    ex.add_argument("--weights",
                    help="weights file: .npz, .h5 or .safetensors (read without pickle; see "
                    "tensorlayer_xplain.load_weights)")
    ex.add_argument("--data", default="mnist",
                    help="'mnist' (test split) or a .npy/.npz file of inputs (default: mnist)")
    ex.add_argument("--data-dir", help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    ex.add_argument("--n", type=int, default=16, help="number of inputs to explain (default: 16)")
    ex.add_argument("--methods", default="gradient,gradcam",
                    help="comma-separated method names (default: gradient,gradcam)")
    ex.add_argument("--config", help="JSON file {method: {param: value}} of method parameters")
    ex.add_argument("--background", type=int, default=50,
                    help="training inputs used as background by methods that need one, e.g. shap (default: 50)")
    ex.add_argument("--out", default="xplain_out", help="output folder (default: xplain_out)")
    ex.add_argument("--format", default="png", choices=["png", "pdf", "svg"], help="figure format (default: png)")
    ex.add_argument("--seed", type=int, default=0, help="seed for stochastic methods (default: 0)")
    ex.add_argument("--output", default="logits", choices=["logits", "probabilities"], help="what is explained")
    ex.add_argument("--store", metavar="PATH",
                    help="explain all --n inputs chunk by chunk into a resumable Zarr store at PATH (re-run the "
                         "same command to resume after an interruption) and write a report of the first 16 to --out")
    ex.add_argument("--overwrite", action="store_true",
                    help="with --store: overwrite an existing store instead of resuming")
    _add_serve_parser(sub)
    _add_diagnose_parser(sub)
    return parser


def _add_diagnose_parser(sub):
    dg = sub.add_parser("diagnose", help="diagnose a model on labelled data: errors, confusions, reliance on "
                                         "regions, sensitivity; write five figures and report.html",
                        description="Diagnose a model on labelled data (see docs/guide/diagnosis.rst) and write "
                                    "the five diagnosis figures and a self-contained report.html.")
    dg.add_argument("--model", required=True, metavar="MODULE:BUILDER",
                    help="a TL model object or a function building one, e.g. tensorlayer_xplain.models:cnn")
    dg.add_argument("--weights", help="weights file: .npz (TL 'npz' or 'npz_dict') or .h5 (hdf5)")
    dg.add_argument("--data", default="mnist", help="'mnist' (test split) or a .npz file with arrays x and y "
                                                    "(default: mnist)")
    dg.add_argument("--data-dir", help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    dg.add_argument("--n", type=int, default=1000, help="number of labelled inputs diagnosed (default: 1000)")
    dg.add_argument("--methods", default="gradcam,integrated_gradients",
                    help="comma-separated method names (default: gradcam,integrated_gradients)")
    dg.add_argument("--config", help="JSON file {method: {param: value}} of method parameters")
    dg.add_argument("--fill", default="inpaint", choices=["inpaint", "blur", "zero"],
                    help="how the counterfactual replaces the region outside the object (default: inpaint)")
    dg.add_argument("--top-k", type=int, default=20, help="errors explained for both classes (default: 20)")
    dg.add_argument("--out", default="xplain_out", help="output folder (default: xplain_out)")
    dg.add_argument("--seed", type=int, default=0, help="seed (default: 0)")


def _add_serve_parser(sub):
    sv = sub.add_parser("serve", help="serve /predict and /explain over HTTP (needs the 'serve' extra)",
                        description="Serve POST /predict, POST /explain, GET /methods and GET /health for one "
                                    "model with FastAPI and uvicorn (pip install 'tensorlayer-xplain[serve]').")
    sv.add_argument("--model", required=True, metavar="MODULE:BUILDER",
                    help="a TL model object or a function building one, e.g. tensorlayer_xplain.models:cnn")
    sv.add_argument("--weights",
                    help="weights file: .npz, .h5 or .safetensors (read without pickle; see "
                    "tensorlayer_xplain.load_weights)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="interface to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    sv.add_argument("--methods", default="gradient,gradcam",
                    help="comma-separated methods clients may request; the first is the default "
                    "(default: gradient,gradcam)")
    sv.add_argument("--config", help="JSON file {method: {param: value}} of method parameters")
    sv.add_argument("--input-shape", help="one sample's shape, e.g. 28,28,1 (needed for dynamic TL models)")
    sv.add_argument("--vocab", metavar="PATH",
                    help="token models and encoder-decoders: vocabulary file (one token per line, or 'word id' lines); "
                         "requests may then send text ({\"text\": \"...\"}) and responses carry the words")
    sv.add_argument("--sos", type=int,
                    help="encoder-decoders: start-of-sequence id; requests without decoder_inputs then explain the "
                         "model's greedy decoding from it")
    sv.add_argument("--seq-length", type=int,
                    help="encoder-decoders: length of that greedy decoding (default: a tl.models.Seq2seq's "
                         "decoder_seq_length)")
    sv.add_argument("--max-upload-bytes", type=int, default=2 * 1024 * 1024,
                    help="largest request body; larger ones get 413 (default: 2 MiB)")
    sv.add_argument("--max-batch", type=int, default=64, help="most samples per request (default: 64)")
    sv.add_argument("--max-cost", type=int, default=100_000,
                    help="budget of one explanation request in model passes; over it: 422 (default: 100000; 0: none)")
    sv.add_argument("--timeout", type=float, default=30.0,
                    help="seconds per explanation request, waiting included; then 504 and the work stops (default: 30)")
    sv.add_argument("--workers", type=int, default=1, help="threads running explanations (default: 1)")
    sv.add_argument("--queue-size", type=int, default=32,
                    help="most explanation requests waiting; more get 503 (default: 32)")
    sv.add_argument("--batch-window", type=float, default=5.0,
                    help="most milliseconds a request waits, while others are being read, to share a model batch "
                         "with them (default: 5; 0: no wait)")
    sv.add_argument("--no-micro-batching", action="store_true",
                    help="run every explanation request alone (no merging of concurrent requests)")
    sv.add_argument("--seed", type=int, default=0, help="seed for stochastic methods (default: 0)")
    sv.add_argument("--output", default="logits", choices=["logits", "probabilities"], help="what is explained")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                    help="uvicorn log level (default: info)")


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
        from .weights import load_weights

        try:  # never unpickles; checks every shape before assigning
            load_weights(model, weights)
        except (ValueError, TypeError) as err:
            raise CLIError("--weights: %s" % err) from None
    return model


def _read_config(path):
    """``{method: {param: value}}`` from the ``--config`` JSON file ({} when not given)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise CLIError("--config: cannot read %r as JSON (%s)" % (path, err)) from None


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
    from .explainer.model_explainer import ModelExplainer
    from .methods.registry import method_info

    if args.n < 1:
        raise CLIError("--n: expected a positive number of inputs, got %d" % args.n)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        specs = [method_info(m) for m in methods]
    except KeyError as err:
        raise CLIError("--methods: %s" % err.args[0]) from None
    config = _read_config(args.config)
    needs_background = [s.name for s in specs
                        if "background" in s.parameters and "background" not in config.get(s.name, {})]
    model = load_model(args.model, args.weights)
    inputs, background = _load_inputs(args, bool(needs_background))
    for name in needs_background:
        config.setdefault(name, {})["background"] = background
    explainer = ModelExplainer(model, methods=methods, config=config, output=args.output, seed=args.seed)
    if args.store:
        return _explain_to_store(args, explainer, inputs)
    explanations = explainer.visualize_all(inputs, save_path=args.out, format=args.format)
    report = explainer.report(inputs, os.path.join(args.out, "report.html"))
    for name, exp in explanations.items():
        print("%-22s %.3f s/input" % (name, exp.timings["per_sample"]))
    print("wrote %d figures and %s" % (len(explanations) + 1, report))


def _labelled_inputs(args):
    """``(x, y)`` for ``diagnose``: the MNIST test split or the arrays ``x`` and ``y`` of a .npz file."""
    import numpy as np

    from . import datasets

    if args.data == "mnist":
        _, _, _, _, X_test, y_test = datasets.load_mnist(path=args.data_dir)
        return X_test[: args.n], y_test[: args.n]
    if not os.path.isfile(args.data) or not args.data.endswith(".npz"):
        raise CLIError("--data: expected 'mnist' or an existing .npz file with arrays x and y, got %r" % args.data)
    with np.load(args.data, allow_pickle=False) as data:
        missing = [k for k in ("x", "y") if k not in data.files]
        if missing:
            raise CLIError("--data: expected arrays x and y in %r, got %s" % (args.data, sorted(data.files)))
        return data["x"][: args.n], data["y"][: args.n]


def _diagnose(args):
    from .explainer.model_explainer import ModelExplainer

    if args.n < 1:
        raise CLIError("--n: expected a positive number of inputs, got %d" % args.n)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    x, y = _labelled_inputs(args)
    model = load_model(args.model, args.weights)
    explainer = ModelExplainer(model, methods=methods, config=_read_config(args.config), seed=args.seed)
    diagnosis = explainer.diagnose(x, y, fill=args.fill, top_k=args.top_k)
    figures = diagnosis.save_figures(args.out)
    report = diagnosis.report(os.path.join(args.out, "report.html"))
    print(diagnosis.reliance[["class", "n", "outside_share", "flip_rate", "score_drop", "flagged"]]
          .to_string(index=False, float_format=lambda v: "%.3f" % v))
    print("%d errors of %d; flagged classes: %s" % (len(diagnosis.errors), len(y),
                                                   diagnosis.flagged_classes or "none"))
    print("wrote %d figures and %s" % (len(figures), report))


def _explain_to_store(args, explainer, inputs):
    try:
        store = explainer.explain_dataset(inputs, args.store, resume=not args.overwrite, progress=True)
    except ValueError as err:
        if str(err).startswith("resume:"):
            raise CLIError("--store: %s (here: --overwrite)" % err) from None
        if str(err).startswith("path: "):
            raise CLIError("--store: %s" % str(err)[len("path: "):]) from None
        raise
    report = store.report(range(min(16, len(store))), os.path.join(args.out, "report.html"), inputs=inputs)
    print("wrote %d samples x %d methods to %s and %s" % (len(store), len(store.methods), args.store, report))


def _last_line(err):
    """The last line of an error's message (a TensorFlow error's first lines are its traceback)."""
    lines = str(err).strip().splitlines() or [type(err).__name__]
    return lines[-1].strip()


def _explainer(adapter, methods, config, seed, vocab):
    """The ModelExplainer over a checked adapter; an unreadable vocabulary names ``--vocab``."""
    from .explainer.model_explainer import ModelExplainer

    try:
        return ModelExplainer(adapter, methods=methods, config=config, seed=seed, vocab=vocab)
    except ValueError as err:
        if str(err).startswith("vocab"):
            raise CLIError("--%s" % err) from None
        raise


def _seq2seq_explainer(model, methods, config, input_shape, output, seed, vocab, sos, seq_length):
    """``serve_explainer`` for an encoder-decoder: a Seq2seqAdapter with the decoding options, checked on pads."""
    import numpy as np

    from .adapter._seq2seq import Seq2seqAdapter

    if input_shape is not None:
        raise CLIError("--input-shape: an encoder-decoder takes source ids of any length; leave it out, got %s"
                       % (input_shape,))
    try:
        adapter = Seq2seqAdapter(model, output=output, sos=sos, seq_length=seq_length)
    except (TypeError, ValueError) as err:
        raise CLIError("--%s" % str(err).replace("seq_length:", "seq-length:", 1)) from None
    length = adapter.seq_length or adapter.fixed_output_length
    pads = np.zeros((1, 3), np.int32)
    try:  # fail now, not on the first request
        if adapter.sos is not None and length is not None:
            adapter.greedy_decode(pads, adapter.sos, length)
        adapter.teacher_forced(pads, np.zeros((1, length or 2), np.int32))
    except Exception as err:
        raise CLIError("--model: the encoder-decoder fails on a padded source: %s" % _last_line(err)) from None
    return _explainer(adapter, methods, config, seed, vocab)


def serve_explainer(model, methods, config=None, input_shape=None, output="logits", seed=0, vocab=None, sos=None,
                    seq_length=None):
    """The ModelExplainer ``serve`` runs: the model's adapter (token model, encoder-decoder or not), checked on zeros.

    Raises
    ------
    CLIError
        ``--input-shape`` missing or contradicting the model, ``--model`` failing on a zero batch,
        ``--vocab`` unreadable or given for a model that does not take token ids, ``--sos`` or
        ``--seq-length`` given for a model that is not an encoder-decoder or out of range.
    """
    import numpy as np

    from .adapter import ModelAdapter, TokenAdapter
    from .adapter._seq2seq import is_keras_encoder_decoder, is_seq2seq_model
    from .adapter._tokens import is_token_model

    if is_seq2seq_model(model) or is_keras_encoder_decoder(model):
        return _seq2seq_explainer(model, methods, config, input_shape, output, seed, vocab, sos, seq_length)
    for flag, value in (("--sos", sos), ("--seq-length", seq_length)):
        if value is not None:
            raise CLIError("%s: only for an encoder-decoder (tl.models.Seq2seq, Seq2seqLuongAttention or a Keras "
                           "model with inputs [src, decoder_inputs]), got %d for a %s" % (flag, value,
                                                                                         type(model).__name__))
    tokens = is_token_model(model)
    if vocab is not None and not tokens:
        raise CLIError("--vocab: the model does not take token ids (no embedding layer); a vocabulary is for token "
                       "models")
    try:
        declared = (TokenAdapter(model) if tokens else ModelAdapter(model)).input_shape
    except (TypeError, ValueError) as err:
        raise CLIError("--model: %s" % err) from None
    if input_shape is not None and declared is not None and input_shape != declared:
        raise CLIError("--input-shape: the model declares input shape %s, got %s" % (declared, input_shape))
    shape = input_shape or declared
    adapter = (TokenAdapter(model, input_shape=shape, output=output) if tokens
               else ModelAdapter(model, input_shape=shape, output=output))
    if adapter.input_shape is None:
        raise CLIError("--input-shape: the model does not declare its input shape (a dynamic TL model?); "
                       "pass it, e.g. --input-shape %s" % ("100 (the sequence length)" if tokens else "28,28,1"))
    try:  # fail now, not on the first request
        adapter.predict(np.zeros((1,) + adapter.input_shape, np.int32 if tokens else np.float32))
    except Exception as err:
        raise CLIError("--model: the model fails on a zero batch of shape %s: %s"
                       % ((1,) + adapter.input_shape, _last_line(err))) from None
    return _explainer(adapter, methods, config, seed, vocab)


def _serve(args):
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "python_multipart", "PIL") if importlib.util.find_spec(m) is None]
    if missing:
        raise CLIError("serve: missing %s; install with: pip install 'tensorlayer-xplain[serve]'" % ", ".join(missing))
    if not 0 < args.port < 65536:
        raise CLIError("--port: expected 1..65535, got %d" % args.port)
    for flag, value in (("--max-upload-bytes", args.max_upload_bytes), ("--max-batch", args.max_batch),
                        ("--workers", args.workers), ("--queue-size", args.queue_size)):
        if value < 1:
            raise CLIError("%s: expected a positive number, got %d" % (flag, value))
    if args.max_cost < 0:
        raise CLIError("--max-cost: expected a number of model passes >= 0 (0: no budget), got %d" % args.max_cost)
    if not 0 < args.timeout <= 86400:
        raise CLIError("--timeout: expected seconds in (0, 86400], got %g" % args.timeout)
    if not 0 <= args.batch_window <= 1000:
        raise CLIError("--batch-window: expected milliseconds in [0, 1000], got %g" % args.batch_window)
    from .methods.registry import method_info

    try:
        methods = [method_info(m.strip()).name for m in args.methods.split(",") if m.strip()]
    except KeyError as err:
        raise CLIError("--methods: %s" % err.args[0]) from None
    if not methods:
        raise CLIError("--methods: expected at least one method name, got %r" % args.methods)
    input_shape = None
    if args.input_shape:
        try:
            input_shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise CLIError("--input-shape: expected comma-separated ints such as 28,28,1, got %r"
                           % args.input_shape) from None
    config = _read_config(args.config)
    import uvicorn

    from .serve.api import create_app

    explainer = serve_explainer(load_model(args.model, args.weights), methods, config, input_shape, args.output,
                                args.seed, getattr(args, "vocab", None), args.sos, args.seq_length)
    app = create_app(explainer, max_upload_bytes=args.max_upload_bytes, max_batch=args.max_batch,
                     max_cost=args.max_cost or None, timeout=args.timeout, workers=args.workers,
                     queue_size=args.queue_size,
                     batch_window=None if args.no_micro_batching else args.batch_window / 1000.0)
    print("serving %s (methods: %s) on http://%s:%d" % (args.model, ", ".join(methods), args.host, args.port),
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


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
        elif args.command == "serve":
            _serve(args)
        elif args.command == "diagnose":
            _diagnose(args)
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
