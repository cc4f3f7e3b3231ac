"""The service behind the HTTP app and the Gradio demo: validation, the explanation workers, micro-batching.

The default limits (:data:`MAX_BATCH`, :data:`MAX_COST`, :data:`TIMEOUT`,
:data:`QUEUE_SIZE`, :data:`BATCH_WINDOW`) live here and are re-exported by
:mod:`tensorlayer_xplain.serve`.
"""
import numbers
import threading
import weakref

import numpy as np

from .._utils import deadline as _deadline
from .._utils.hashing import fingerprint
from ..adapter.pixels import check_scaled
from ..explanation import Explanation
from ..methods.applicability import skip_reason
from ..methods.costs import batchable, check_max_cost
from ..methods.registry import method_info
from ..report import _png
from . import seq2seq as _seq2seq
from .batching import MicroBatcher, QueueFull
from .body import NumericText
from .describe import applicability, describe_methods
from .encode import _jsonable, _softmax, overlay_rgb
from .errors import RequestError, client_errors
from .request import TextInput, _check_targets, decode_upload

#: Default largest number of samples in one request; more get 413.
MAX_BATCH = 64
#: Default budget of one explanation request, in model passes (see :func:`tensorlayer_xplain.estimate_cost`).
MAX_COST = 100_000
#: Default seconds one explanation request may take (waiting included) before it gets 504.
TIMEOUT = 30.0
#: Default most explanation requests waiting for a worker; more get 503.
QUEUE_SIZE = 32
#: Default seconds a request waits for others with the same method and parameters to share its batch.
BATCH_WINDOW = 0.005

#: Words standing for words outside the vocabulary, looked for in this order.
_UNKNOWN_WORDS = ("<unk>", "<UNK>", "UNK", "unk")
#: Longest method name a request may carry (longer ones get 422 without being echoed back).
_MAX_NAME = 100

_LOCKS = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def explainer_lock(explainer):
    """The lock serializing calls of one explainer (shared by every app built on it).

    Parameters
    ----------
    explainer : ModelExplainer

    Returns
    -------
    threading.RLock

    Examples
    --------
    >>> with explainer_lock(explainer):
    ...     exp = explainer.explain(x, method='gradient')
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(explainer)
        if lock is None:
            lock = _LOCKS[explainer] = threading.RLock()
        return lock


class ExplainService:
    """What the HTTP app and the Gradio demo do with a request, independent of both.

    Parameters
    ----------
    explainer : ModelExplainer
        Serves every request (one cache). Its adapter must know its input shape.
    methods : list of str, optional
        Methods clients may ask for; default the explainer's ``methods``.
    max_batch : int
        Largest number of samples in one request.
    overlay_alpha : float
        Heatmap weight in overlay PNGs.
    max_cost : int or None
        Budget of one request in model passes (:func:`~tensorlayer_xplain.estimate_cost`);
        requests over it get 422 before any model call. None: no budget.
    timeout : float
        Seconds an explanation request may take, waiting included (then 504);
        the work stops at the next compiled piece.
    workers : int
        Threads running explanations (they share the explainer's lock).
    queue_size : int
        Most explanation requests waiting for a worker (then 503).
    batch_window : float or None
        Seconds a request waits for others with the same method and parameters
        to be merged into its model batch (0: merge only what already waits;
        None: no micro-batching, every request runs alone).

    Examples
    --------
    >>> service = ExplainService(ModelExplainer(model, methods=['gradient']))
    >>> service.explain(x_test[:1], method='gradient')['predicted']  # doctest: +IGNORE_RESULT
    [7]
    """

    def __init__(self, explainer, methods=None, max_batch=MAX_BATCH, overlay_alpha=0.4, max_cost=MAX_COST,
                 timeout=TIMEOUT, workers=1, queue_size=QUEUE_SIZE, batch_window=BATCH_WINDOW):
        from ..explainer.model_explainer import ModelExplainer

        if not isinstance(explainer, ModelExplainer):
            raise TypeError("explainer: expected a ModelExplainer, got %s" % type(explainer).__name__)
        self.seq2seq = getattr(explainer.adapter, "seq2seq", False)  # source ids in, (N, T_out, T_src) out
        if explainer.adapter.input_shape is None and not self.seq2seq:
            raise ValueError("explainer: the model's input shape is unknown (a dynamic model?); build it as "
                             "ModelExplainer(ModelAdapter(model, input_shape=(28, 28, 1)), ...)")
        if not isinstance(max_batch, numbers.Integral) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError("max_batch: expected a positive int, got %r" % (max_batch,))
        self.explainer = explainer
        self.adapter = explainer.adapter
        self.tokens = getattr(self.adapter, "token_inputs", False) or self.seq2seq  # integer ids, never pixels
        self.methods = [method_info(m).name for m in (explainer.methods if methods is None else methods)]
        if not self.methods:
            raise ValueError("methods: expected at least one method name, got an empty list")
        # what GET /methods lists: the enabled methods that apply to this model (their declarations say)
        self.applicable, self.skipped = applicability(self.adapter, self.methods, explainer.config)
        if not self.applicable:
            raise ValueError("methods: none of %s applies to this model (%s)" % (self.methods, "; ".join(
                "%s: %s" % kv for kv in self.skipped.items())))
        self.default_method = self.applicable[0]
        self._words, self._unknown = None, None  # the vocabulary as word -> id, and its unknown word
        if self.tokens and explainer.vocab is not None:
            from ..vocab import word_to_id

            self._words = word_to_id(explainer.vocab)
            self._unknown = next((w for w in _UNKNOWN_WORDS if w in self._words), None)
        self.max_batch = int(max_batch)
        self.overlay_alpha = float(overlay_alpha)
        self.lock = explainer_lock(explainer)
        self.max_cost = check_max_cost(max_cost)
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout <= 86400:
            raise ValueError("timeout: expected seconds in (0, 86400], got %r" % (timeout,))
        self.timeout = float(timeout)
        self.micro_batching = batch_window is not None
        self.batcher = MicroBatcher(self._run_jobs, workers=workers, queue_size=queue_size,
                                    window=batch_window if self.micro_batching else 0.0,
                                    max_rows=max(self.max_batch, self.adapter.batch_size), announced=True)
        self._predict = None
        if not self.seq2seq:
            self.predict_fn()  # traced now, in inference mode; also tells the adapter its number of classes

    # -- validation ------------------------------------------------------------
    def method_name(self, method):
        """The canonical name of an enabled method, or RequestError 422 (with a did-you-mean)."""
        if method is None:
            return self.default_method
        if not isinstance(method, str):
            raise RequestError(422, "method: expected a method name, got %.80r" % (method,))
        if len(method) > _MAX_NAME:  # never echoed back (nor compared) in full
            raise RequestError(422, "method: expected a method name of at most %d characters, got %d characters "
                                    "starting %.40r" % (_MAX_NAME, len(method), method[:40]))
        try:
            name = method_info(method).name
        except KeyError as err:
            raise RequestError(422, err.args[0]) from None
        if name not in self.methods:
            raise RequestError(422, "method: %r is not enabled on this server; enabled: %s"
                               % (method, ", ".join(self.methods)))
        return name

    def _check_applies(self, name, params, now=False):
        """422 for a method that does not apply to this model (the reason found at start, see ``GET /methods``).

        An image method given parameters of its own (e.g. Grad-CAM's ``layer_name``) may apply with
        them: its declaration is asked again with them by the worker (``now``, under the explainer's
        lock, since it may look at the model's layers); token and seq2seq reasons never depend on
        parameters.
        """
        reason = self.skipped.get(name)
        if reason is None or (params and not self.tokens and not now):
            return
        if now:
            reason = skip_reason(self.adapter, name, params)
        if reason is not None:
            raise RequestError(422, "method: %r is enabled but does not apply to this model (%s); the methods "
                                    "that apply here: %s" % (name, reason, ", ".join(self.applicable)))

    def declared_rows(self, inputs):
        """Samples ``inputs`` declares, read from its shape without converting it (None when unclear)."""
        if isinstance(inputs, TextInput):
            return len(inputs.texts)
        if isinstance(inputs, NumericText):
            shape = inputs.shape
        elif isinstance(inputs, list):
            shape, level = [], inputs
            while isinstance(level, list) and len(shape) < 8:
                shape.append(len(level))
                level = level[0] if level else None
        else:
            return None
        if self.seq2seq:
            return len(shape) and (shape[0] if len(shape) > 1 else 1)
        ranks = {len(self.adapter.input_shape), len(self.adapter.image_shape)}
        if len(shape) - 1 in ranks:
            return shape[0]
        return 1 if len(shape) in ranks else None

    def _check_rows(self, rows, inputs=None):
        if rows is not None and rows > self.max_batch:
            if isinstance(inputs, TextInput):
                raise RequestError(413, "text: expected at most %d texts per request, got %d" % (self.max_batch, rows))
            raise RequestError(413, "inputs: expected at most %d samples per request, got %d"
                               % (self.max_batch, rows))

    def _check_nested(self, name, params):
        """A method that runs another (``base_method`` of smoothgrad/vargrad) may only run an enabled one (422)."""
        spec = method_info(name)
        if "base_method" not in spec.parameters:
            return
        base = params.get("base_method", spec.parameters["base_method"])
        if not isinstance(base, str):
            raise RequestError(422, "params.base_method: expected a method name, got %.80r" % (base,))
        try:
            base_name = method_info(base).name
        except KeyError as err:
            raise RequestError(422, "params.base_method: %s" % err.args[0][:300]) from None
        if base_name not in self.methods:
            raise RequestError(422, "params.base_method: %.80r is not enabled on this server (%s runs it); enabled: "
                                    "%s" % (base, name, ", ".join(self.methods)))

    def inputs(self, inputs):
        """Validate one sample or a batch; return it with a batch dimension (RequestError 400/422/413).

        ``inputs`` may be array-like or the bytes of an uploaded PNG, JPEG or
        ``.npy`` file (see :func:`~tensorlayer_xplain.serve.decode_upload`).
        """
        self._check_rows(self.declared_rows(inputs), inputs)  # before any conversion
        if isinstance(inputs, TextInput):
            inputs = self.encode_text(inputs.texts)
        elif isinstance(inputs, bytes):
            inputs = decode_upload(inputs, self.adapter.image_shape)
        self._check_rows(self.declared_rows(inputs))  # before any conversion
        if isinstance(inputs, NumericText):
            inputs = inputs.array()
        try:
            if not self.tokens:
                check_scaled(inputs)  # integer-typed values above 1: 422 (the rule in tensorlayer_xplain.pixels)
            x, batch_shape = self.adapter.prepare(inputs)
        except (TypeError, ValueError) as err:
            raise RequestError(422, str(err)) from None
        if batch_shape[0] > self.max_batch:
            raise RequestError(413, "inputs: expected at most %d samples per request, got %d"
                               % (self.max_batch, batch_shape[0]))
        if self.seq2seq and batch_shape[1] > _seq2seq.MAX_SOURCE_TOKENS:
            raise RequestError(422, "inputs: expected source sequences of at most %d tokens, got %d"
                               % (_seq2seq.MAX_SOURCE_TOKENS, batch_shape[1]))
        return x.reshape(batch_shape)

    def text_limits(self):
        """What ``text`` this server accepts (None: no text), for ``GET /methods``."""
        if self._words is None:
            return None
        return {"max_texts": self.max_batch,
                "max_words": _seq2seq.MAX_SOURCE_TOKENS if self.seq2seq else int(self.adapter.input_shape[0]),
                "max_output_words": _seq2seq.MAX_OUTPUT_TOKENS if self.seq2seq else None,
                "unknown": self._unknown, "lower_case": True, "vocab_size": len(self._words)}

    def encode_text(self, texts, field="text", max_length=None):
        """Token ids ``(N, T)`` of texts, through the explainer's vocabulary (RequestError 422/413 otherwise).

        A token model's texts are padded to its sequence length; an encoder-decoder's to the
        longest text, at most ``max_length`` words (default :data:`~.seq2seq.MAX_SOURCE_TOKENS`).
        An unknown word is the vocabulary's ``<unk>`` (or ``<UNK>``, ``UNK``, ``unk``) when it has
        one, else a 422 naming ``field``.
        """
        from ..vocab import encode_text

        if self._words is None:
            what = "an encoder-decoder" if self.seq2seq else "a token model" if self.tokens else None
            if what is None:
                raise RequestError(422, "%s: this server takes 'inputs' (arrays); 'text' needs a token model or an "
                                        "encoder-decoder served with a vocabulary (ModelExplainer(..., vocab=...))"
                                   % field)
            raise RequestError(422, "%s: this server has no vocabulary to read text with; send token ids, or serve "
                                    "%s with one (ModelExplainer(..., vocab=...))" % (field, what))
        if len(texts) > self.max_batch:
            raise RequestError(413, "%s: expected at most %d texts per request, got %d" % (field, self.max_batch,
                                                                                            len(texts)))
        pad = self.adapter.pad_id
        if self.seq2seq:
            limit = _seq2seq.MAX_SOURCE_TOKENS if max_length is None else max_length
            counts = [len(text.lower().split()) for text in texts]
            length = max(counts)
            if length == 0:
                raise RequestError(422, "%s: expected at least one word, got only empty text" % field)
            if length > limit:
                i = counts.index(length)
                raise RequestError(422, "%s: text %d has %d words; this service reads at most %d"
                                   % (field, i, length, limit))
            if pad is None and min(counts) != length:
                raise RequestError(422, "%s: texts of different lengths (%d to %d words) need a pad id; the model "
                                        "is served with pad_id=None" % (field, min(counts), length))
        else:
            length = self.adapter.input_shape[0]
        try:
            return encode_text(texts, self._words, length, pad or 0, self._unknown)
        except (TypeError, ValueError) as err:
            message = str(err)
            raise RequestError(422, field + message[4:] if message.startswith("text:") else message) from None

    # -- operations ------------------------------------------------------------
    def _prediction_fields(self, scores):
        scores = np.asarray(scores, np.float32)
        probs = scores if self.adapter.output == "probabilities" else _softmax(scores)
        out = {"predictions": scores, "predicted": np.argmax(scores, axis=1).tolist(),
               "probabilities": np.asarray(probs, np.float32)}
        if self.explainer.class_names is not None:
            out["labels"] = [self.explainer.class_names[i] if i < len(self.explainer.class_names) else str(i)
                             for i in out["predicted"]]
        return out

    def predict_fn(self):
        """The model's compiled predict step, traced once in inference mode and then called without a lock.

        A compiled graph does not read the layers' train/eval flags, so
        ``/predict`` runs beside a long explanation instead of waiting for the
        explainer's lock. A plain-callable model is called as it is.
        """
        if self._predict is None:
            import tensorflow as tf

            from ..methods._engine.blocks import concrete

            step = self.adapter.compiled("predict", self.adapter._predict_step)
            with self.adapter.inference_mode():
                fn = concrete(step)
                scores = np.asarray(fn(tf.zeros((1,) + tuple(self.adapter.input_shape),
                                                 self.adapter._input_specs()[0].dtype)))
            self.adapter.n_classes = self.adapter.n_classes or scores.shape[1]
            self._predict = lambda x: np.asarray(fn(tf.constant(x)), np.float32)
        return self._predict

    def predict(self, inputs):
        """Scores, predicted classes and probabilities of ``inputs`` (arrays as float32 ndarrays)."""
        x = self.inputs(inputs)
        if self.seq2seq:
            with client_errors(), self.lock:
                return _seq2seq.predict(self.adapter, x, self.explainer.vocab)
        try:
            scores = self.predict_fn()(x)  # at most max_batch rows: one call
        except (TypeError, ValueError) as err:
            raise RequestError(422, str(err)) from None
        return dict(self._prediction_fields(scores), output=self.adapter.output)

    def prepare(self, inputs, method=None, targets=None, params=None):
        """Validate one explanation request and check its cost, before any model call.

        Returns
        -------
        dict
            ``name``, ``params`` (all it runs with), ``x`` (N, *input_shape),
            ``targets`` (None or int64 (N,)) and ``cost``.

        Raises
        ------
        RequestError
            422 for a bad method, parameter, target or input, or a cost over
            ``max_cost``; 413 for too many samples.
        """
        name = self.method_name(method)
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RequestError(422, "params: expected a JSON object of method parameters, got %.80r" % (params,))
        self._check_applies(name, params)
        options = {}
        if self.seq2seq:  # decoder_inputs / sos / seq_length configure the decoding, not the method
            params, options = _seq2seq.split_options(params, self.encode_text)
            if _seq2seq.is_text(targets):  # the words to explain at each output position
                targets = self.encode_text([targets] if isinstance(targets, str) else targets, "targets",
                                           _seq2seq.MAX_OUTPUT_TOKENS)
                targets = self._pad_targets(targets, options)
        targets = targets if isinstance(targets, np.ndarray) else _check_targets(targets)
        with client_errors():
            name, full = self.explainer.method_params(name, **params)  # names (did-you-mean) and types
            self._check_nested(name, full)
            declared = self.declared_rows(inputs)
            if declared is not None:  # the budget from the declared shape, before converting the inputs
                self._check_rows(declared, inputs)
                self.explainer.check_cost(name, full, declared, self.max_cost)
        x = self.inputs(inputs)
        with client_errors():
            if targets is not None and self.seq2seq:
                targets = np.asarray(targets, np.int32)  # token ids (N, T_out): checked by the explanation
            elif targets is not None:
                targets = self.adapter.resolve_targets(targets, len(x)).astype(np.int64)  # shape and class range
            cost = self.explainer.check_cost(name, full, len(x), self.max_cost)  # ranges and budgets
            if self.seq2seq:  # again with this request's own source and output lengths
                cost = _seq2seq.check_cost(self.explainer, name, full, x, options, self.max_cost)
        return {"name": name, "params": full, "x": x, "targets": targets, "cost": cost, "options": options}

    def _pad_targets(self, targets, options):
        """Text targets padded (with the pad id) to the decoding's length when it is known and longer."""
        length = _seq2seq.output_length(self.adapter, options)
        if length is None or length <= targets.shape[1] or self.adapter.pad_id is None:
            return targets
        extra = np.full((len(targets), int(length) - targets.shape[1]), self.adapter.pad_id, targets.dtype)
        return np.concatenate([targets, extra], 1)

    def submit(self, request, respond=False, overlay=False):
        """Queue a prepared request (RequestError 503 when the queue is full).

        The job's future resolves to its Explanation, or with ``respond`` to its
        response fields (:meth:`respond`, built by the worker so the event loop
        only serializes them).
        """
        key = (request["name"], fingerprint(request["params"]), request["targets"] is None, request["x"].shape[1:])
        request = dict(request, respond=bool(respond), overlay=bool(overlay))
        try:
            return self.batcher.submit(key, request, len(request["x"]), self.timeout,
                                       mergeable=self.micro_batching and not self.seq2seq
                                       and batchable(request["name"], request["params"]))
        except QueueFull as err:
            raise RequestError(503, str(err), headers={"Retry-After": "1"}) from None

    def _run_jobs(self, jobs):
        """Run jobs with one method and parameters as one batch (a worker calls this); one result per job."""
        requests = [job.payload for job in jobs]
        try:
            results = self._run_merged(requests)
        except _deadline.DeadlineExceeded:
            raise
        except Exception:
            if len(requests) == 1:
                raise
            results = []
            for request in requests:
                try:
                    results.append(self._run_merged([request])[0])
                except _deadline.DeadlineExceeded:
                    raise
                except Exception as err:  # delivered to that request's caller
                    results.append(err)
        return [self.respond(result, request["overlay"]) if request.get("respond") and isinstance(result, Explanation)
                else result for request, result in zip(requests, results)]

    def _run_merged(self, requests):
        name, params = requests[0]["name"], requests[0]["params"]
        explainer = self.explainer
        with self.lock:
            self._check_applies(name, params, now=True)
            if len(requests) == 1:
                r = requests[0]
                return [explainer.explain(r["x"], method=name, targets=r["targets"], progress=False, **params,
                                          **r.get("options", {}))]
            cache = explainer._cache
            weights = self.adapter.weights_fingerprint() if cache is not None else None  # once per batch
            results, todo = [None] * len(requests), []
            for i, r in enumerate(requests):
                key = explainer._cache_key(name, params, r["targets"], r["x"], weights) if cache is not None else None
                results[i] = cache.get(key) if cache is not None else None
                if results[i] is None:
                    todo.append((i, key))
            if todo:
                from ..runner import explain as run_method

                xs = np.concatenate([requests[i]["x"] for i, _ in todo])
                ts = (None if requests[0]["targets"] is None
                      else np.concatenate([requests[i]["targets"] for i, _ in todo]))
                merged = run_method(self.adapter, xs, name, ts, **params)
                start = 0
                for i, key in todo:
                    stop = start + len(requests[i]["x"])
                    results[i] = _rows(merged, start, stop)
                    start = stop
                    if cache is not None:
                        cache.put(key, results[i])
        return results

    def explanation(self, inputs, method=None, targets=None, params=None):
        """Validate and run one explanation through the shared explainer now; return the Explanation.

        The synchronous path (used by the Gradio demo): same checks and budget as
        the HTTP service, run in the calling thread under ``timeout``.
        """
        request = self.prepare(inputs, method, targets, params)
        with client_errors(self.timeout), _deadline.deadline(seconds=self.timeout):
            return self._run_merged([request])[0]

    def explain(self, inputs, method=None, targets=None, params=None, overlay=False):
        """Explain ``inputs``: a dict with predictions, attributions, heatmaps (and overlay PNGs).

        Array fields are float32 ndarrays (the app serializes them with orjson,
        exactly and compactly); everything else is plain JSON.
        """
        return self.respond(self.explanation(inputs, method, targets, params), overlay)

    def respond(self, exp, overlay=False):
        """The response fields of an Explanation (see :meth:`explain`)."""
        if self.seq2seq:
            return _seq2seq.respond(exp, self.explainer.vocab)
        heat = exp.heatmap()
        out = {"method": exp.method, "family": exp.meta.get("family"), "signed": bool(exp.meta.get("signed")),
               "params": {k: _jsonable(v) for k, v in exp.params.items()}, "targets": exp.targets.tolist(),
               "image_shape": list(exp.image_shape),
               "attributions": np.ascontiguousarray(exp.attributions, np.float32),
               "heatmap": np.ascontiguousarray(heat, np.float32), "timings": exp.timings}
        out.update(self._prediction_fields(exp.predictions))
        if self.tokens:  # token ids: the sequences explained (and their words), no image overlay
            out["tokens"] = np.asarray(exp.inputs).tolist()
            if self.explainer.vocab is not None:
                from ..visualize.text import token_labels

                out["words"] = [token_labels(row, self.explainer.vocab) for row in np.asarray(exp.inputs)]
            return out
        if overlay:
            images = exp.images()
            out["overlay"] = [_png(overlay_rgb(images[i], heat[i], self.overlay_alpha)) for i in range(len(heat))]
        return out

    def methods_info(self):
        """The methods that apply to the served model, with their parameters and ranges (see :mod:`.describe`).

        ``{'default': name, 'methods': {name: {family, signed, aliases, parameters, ranges, config}},
        'skipped': {name: reason}, 'model': {...}}`` (and ``options`` for an encoder-decoder).
        """
        return describe_methods(self)

    def health(self):
        """Model and server facts as a JSON-able dict."""
        shape = self.adapter.input_shape
        return {"status": "ok", "model": type(self.explainer.model).__name__, "kind": self.adapter.kind,
                "input_shape": None if shape is None else list(shape),
                "image_shape": None if shape is None else list(self.adapter.image_shape),
                "output": self.adapter.output, "n_classes": self.adapter.n_classes, "methods": self.methods,
                "cache": self.explainer.cache_info, "max_batch": self.max_batch, "max_cost": self.max_cost,
                "timeout": self.timeout, "batch_window": self.batcher.window if self.micro_batching else None,
                "queue": self.batcher.stats()}

    def close(self):
        """Stop the explanation workers."""
        self.batcher.close()


def _rows(exp, start, stop):
    """Rows ``[start, stop)`` of a merged batch's Explanation, as that request's own Explanation.

    Arrays and lists of the meta with one entry per input are sliced, and a
    ``max_<name>`` entry is recomputed from the sliced ``<name>``.
    """
    total = len(exp.attributions)

    def part(value):
        if isinstance(value, (np.ndarray, list)) and np.ndim(value) and len(value) == total:
            return value[start:stop]
        return value

    meta = {key: part(value) for key, value in exp.meta.items()}
    for key in list(meta):
        base = meta.get(key[4:]) if key.startswith("max_") else None
        if base is not None and base is not exp.meta.get(key[4:]):
            meta[key] = float(np.max(base))
    per_sample = exp.timings.get("per_sample", 0.0)
    timings = dict(exp.timings, total=per_sample * (stop - start), batch=total)
    return Explanation(exp.method, exp.attributions[start:stop], exp.inputs[start:stop], exp.targets[start:stop],
                       exp.predictions[start:stop], exp.image_shape, params=exp.params, timings=timings, meta=meta)
