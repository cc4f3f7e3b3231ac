"""Explanations over HTTP: ``create_app(explainer)`` returns a FastAPI app (extra ``serve``).

Endpoints
---------
``POST /predict``, ``POST /explain``
    Either ``multipart/form-data`` with a ``file`` (PNG, JPEG or ``.npy``) and
    optional text fields ``method``, ``targets`` (JSON: ``3`` or ``[3, 5]``),
    ``params`` (a JSON object of method parameters) and ``overlay``
    (``true``/``false``); or ``application/json`` ``{"inputs": [...], "method":
    ..., "targets": ..., "params": {...}, "overlay": false}`` where ``inputs`` is
    one sample or a batch as a nested list. Images are not resized: a PNG/JPEG
    must have the model's ``image_shape`` height and width (gray for one
    channel, RGB for three; alpha is ignored) and pixels are scaled to [0, 1].
``GET /methods``
    The methods this server runs, with their parameters and defaults.
``GET /health``
    Model kind, input and image shapes, methods, cache statistics and limits.

Errors are JSON ``{"detail": "<message>"}`` with a 4xx status: 400 unreadable
body or image, 413 upload over ``max_upload_bytes`` or more than ``max_batch``
samples, 415 unsupported content type, 422 wrong shape, unknown method or
parameter (with a did-you-mean), bad targets.

One :class:`~tensorlayer_xplain.ModelExplainer` serves every request, so its
cache is shared. Its calls are serialized by a lock kept per explainer (the
explanation cache is not thread-safe, and model calls are serialized by the
adapter anyway); ``/predict`` only takes the adapter's own lock. Request
parsing, JSON and PNG encoding run outside the lock.

Examples
--------
>>> from tensorlayer_xplain import ModelExplainer                       # doctest: +SKIP
>>> from tensorlayer_xplain.serve import create_app                     # doctest: +SKIP
>>> app = create_app(ModelExplainer(model, methods=['gradient', 'gradcam']))  # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host='127.0.0.1', port=8000)       # doctest: +SKIP

From the shell (``pip install 'tensorlayer-xplain[serve]'``)::

    python -m tensorlayer_xplain serve --model tensorlayer_xplain.models:cnn --weights cnn.npz --port 8000
    curl -F file=@digit.png -F method=gradcam -F overlay=true http://127.0.0.1:8000/explain
"""
import contextlib
import io
import json
import numbers
import threading
import time
import weakref

import numpy as np

from . import _deadline
from ._batching import MicroBatcher, QueueFull
from .cache import fingerprint
from .explanation import Explanation
from .methods.costs import batchable, check_max_cost
from .methods.registry import method_info
from .pixels import check_scaled, image_pixels, scale_pixels
from .report import _png
from .visualize._draw import OVERLAY_CMAP, _image_for_display, normalize_map

__all__ = ["create_app", "ExplainService", "RequestError", "decode_upload", "overlay_rgb",
           "explainer_lock", "MAX_UPLOAD_BYTES", "MAX_BATCH", "MAX_COST", "TIMEOUT", "QUEUE_SIZE", "BATCH_WINDOW"]

#: Default largest request body (bytes); larger uploads get 413.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
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
#: Largest class index accepted in ``targets`` before the model's own range check.
_MAX_INDEX = 2 ** 31 - 1

_NPY_MAGIC = b"\x93NUMPY"
_SERVE_HINT = "pip install 'tensorlayer-xplain[serve]' (fastapi, uvicorn, python-multipart, pillow, orjson)"


class RequestError(Exception):
    """A client error: HTTP ``status``, a one-line ``message`` and optional response ``headers``."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)
        self.headers = dict(headers or {})


def _import_or_hint(module, hint):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError("%s is needed here but is not installed (%s); install it with: %s"
                          % (module, err, hint)) from None


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
    >>> with explainer_lock(explainer):                      # doctest: +SKIP
    ...     exp = explainer.explain(x, method='gradient')
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(explainer)
        if lock is None:
            lock = _LOCKS[explainer] = threading.RLock()
        return lock


# ---------------------------------------------------------------------- decoding
def decode_upload(data, image_shape, name="file"):
    """Decode an uploaded PNG, JPEG or ``.npy`` file to an array.

    Parameters
    ----------
    data : bytes
        The file's content.
    image_shape : tuple of int
        ``(H, W, C)`` the model's inputs are drawn in. PNG/JPEG images must be
        ``W x H`` pixels (no resizing); they are converted to gray (C=1) or RGB
        (C=3) and scaled to [0, 1] by their bit depth (8-bit by 1/255, 16-bit PNG
        by 1/65535). ``.npy`` arrays are returned as stored (one sample or a
        batch; the shape is checked by the adapter), except ``uint8`` / ``uint16``
        arrays, which are scaled by 1/255 and 1/65535 like images.
    name : str
        Field name used in messages.

    Returns
    -------
    ndarray
        ``(H, W, C)`` float32 for an image, the stored array for ``.npy``.

    Raises
    ------
    RequestError
        400 for empty or unreadable data, 422 for a wrong image size or a model
        whose images are neither gray nor RGB.

    Examples
    --------
    >>> decode_upload(open('digit.png', 'rb').read(), (28, 28, 1)).shape    # doctest: +SKIP
    (28, 28, 1)
    """
    if not data:
        raise RequestError(400, "%s: expected a PNG, JPEG or .npy file, got an empty upload" % name)
    if data[:6] == _NPY_MAGIC:
        try:
            return scale_pixels(_load_npy(data))  # uint8/uint16: by bit depth
        except (ValueError, OSError, EOFError) as err:
            raise RequestError(400, "%s: not a readable .npy array (%s)" % (name, err)) from None
    image_module = _import_or_hint("PIL.Image", _SERVE_HINT)
    h, w, c = image_shape
    try:
        with image_module.open(io.BytesIO(data)) as im:
            if im.format not in ("PNG", "JPEG"):
                raise RequestError(400, "%s: expected a PNG, JPEG or .npy file, got %s" % (name, im.format))
            if im.size != (w, h):
                raise RequestError(422, "%s: expected a %dx%d image (the model's image_shape is %s), got %dx%d; "
                                        "images are not resized" % (name, w, h, tuple(image_shape), *im.size))
            if c not in (1, 3):
                raise RequestError(422, "%s: this model takes image_shape %s; PNG/JPEG give 1 or 3 channels, "
                                        "upload a .npy array instead" % (name, tuple(image_shape)))
            pixels = image_pixels(im, c)  # scaled by bit depth (8- or 16-bit)
    except RequestError:
        raise
    except image_module.UnidentifiedImageError:
        raise RequestError(400, "%s: expected a PNG, JPEG or .npy file, got %d bytes of something else "
                                "(starting %r)" % (name, len(data), data[:8])) from None
    except Exception as err:  # PIL raises many types for corrupt data
        raise RequestError(400, "%s: expected a PNG, JPEG or .npy file, got unreadable data (%s: %s)"
                           % (name, type(err).__name__, err)) from None
    return pixels.reshape(h, w, c)


def _load_npy(data):
    """A ``.npy`` array from bytes, refusing (ValueError) a header that declares more data than the file holds."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError("unsupported .npy format version %s" % (version,))
    shape, _, dtype = readers[version](stream)
    if dtype.hasobject:
        raise ValueError("object arrays are not accepted")
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    if needed > len(data) - stream.tell():
        raise ValueError("the header declares shape %s of %s (%d bytes) but the file holds %d bytes of data"
                         % (shape, dtype, needed, len(data) - stream.tell()))
    return np.load(io.BytesIO(data), allow_pickle=False)


def _parse_json(text, name):
    try:
        return json.loads(text)
    except (ValueError, TypeError) as err:
        raise RequestError(400, "%s: expected JSON, got %.60r (%s)" % (name, text, err)) from None
    except RecursionError:
        raise RequestError(400, "%s: expected JSON nested at most a few hundred levels deep, got deeper" % name) from None


@contextlib.contextmanager
def client_errors(timeout=None):
    """Turn what a bad request raises into :class:`RequestError`: 504 past the deadline, 422 otherwise."""
    try:
        yield
    except _deadline.DeadlineExceeded as err:
        raise RequestError(504, "explain: %s (the service's timeout is %g s)" % (err, timeout)) from None
    except KeyError as err:
        raise RequestError(422, err.args[0] if err.args else str(err)) from None
    except (TypeError, ValueError) as err:
        raise RequestError(422, str(err)) from None


def _parse_bool(value, name):
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise RequestError(422, "%s: expected true or false, got %r" % (name, value))


def _check_targets(targets):
    """None, an int or a (nested) list of ints -> None, int or int array."""
    if targets is None:
        return None
    if isinstance(targets, bool) or not isinstance(targets, (numbers.Integral, list)):
        raise RequestError(422, "targets: expected null, a class index or a list of class indices, got %r" % (targets,))
    if isinstance(targets, numbers.Integral):
        flat = [targets]
    else:
        try:
            flat = np.asarray(targets, dtype=object).ravel() if targets else np.array([], dtype=object)
        except (ValueError, RecursionError) as err:
            raise RequestError(422, "targets: expected a list of class indices (ints), got %.80r (%s)"
                               % (targets, type(err).__name__)) from None
    if not all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in flat):
        raise RequestError(422, "targets: expected a list of class indices (ints), got %.80r" % (targets,))
    big = [t for t in flat if not 0 <= t <= _MAX_INDEX]
    if big:
        raise RequestError(422, "targets: class index %.40r is out of range (expected 0 up to the number of "
                                "classes - 1)" % (big[0],))
    if isinstance(targets, numbers.Integral):
        return int(targets)
    try:
        return np.asarray(targets, dtype=np.int64)
    except ValueError as err:
        raise RequestError(422, "targets: expected a rectangular list of ints (%s)" % err) from None


# ---------------------------------------------------------------------- encoding
def overlay_rgb(image, heat, alpha=0.4):
    """Blend a magnitude heatmap (jet) over an input image, as :func:`draw_overlay` draws it.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1) or (H, W, 3)
    heat : ndarray, shape (H, W)
    alpha : float
        Weight of the heatmap.

    Returns
    -------
    ndarray, float32, shape (H, W, 3), values in [0, 1]

    Examples
    --------
    >>> overlay_rgb(np.zeros((28, 28, 1)), np.ones((28, 28))).shape
    (28, 28, 3)
    """
    import matplotlib

    base = _image_for_display(image)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)
    colors = matplotlib.colormaps[OVERLAY_CMAP](normalize_map(heat))[..., :3]
    return np.clip((1 - alpha) * base + alpha * colors, 0, 1).astype(np.float32)


def _softmax(scores):
    scores = np.asarray(scores, np.float64)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return "<array %s>" % (value.shape,)
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


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
    >>> service = ExplainService(ModelExplainer(model, methods=['gradient']))   # doctest: +SKIP
    >>> service.explain(x_test[:1], method='gradient')['predicted']             # doctest: +SKIP
    [7]
    """

    def __init__(self, explainer, methods=None, max_batch=MAX_BATCH, overlay_alpha=0.4, max_cost=MAX_COST,
                 timeout=TIMEOUT, workers=1, queue_size=QUEUE_SIZE, batch_window=BATCH_WINDOW):
        from .explainer import ModelExplainer

        if not isinstance(explainer, ModelExplainer):
            raise TypeError("explainer: expected a ModelExplainer, got %s" % type(explainer).__name__)
        if explainer.adapter.input_shape is None:
            raise ValueError("explainer: the model's input shape is unknown (a dynamic model?); build it as "
                             "ModelExplainer(ModelAdapter(model, input_shape=(28, 28, 1)), ...)")
        if not isinstance(max_batch, numbers.Integral) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError("max_batch: expected a positive int, got %r" % (max_batch,))
        self.explainer = explainer
        self.adapter = explainer.adapter
        self.methods = [method_info(m).name for m in (explainer.methods if methods is None else methods)]
        if not self.methods:
            raise ValueError("methods: expected at least one method name, got an empty list")
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
                                    max_rows=max(self.max_batch, self.adapter.batch_size))
        self._predict = None
        self.predict_fn()  # traced now, in inference mode; also tells the adapter its number of classes

    # -- validation ------------------------------------------------------------
    def method_name(self, method):
        """The canonical name of an enabled method, or RequestError 422 (with a did-you-mean)."""
        if method is None:
            return self.methods[0]
        if not isinstance(method, str):
            raise RequestError(422, "method: expected a method name, got %r" % (method,))
        try:
            name = method_info(method).name
        except KeyError as err:
            raise RequestError(422, err.args[0]) from None
        if name not in self.methods:
            raise RequestError(422, "method: %r is not enabled on this server; enabled: %s"
                               % (method, ", ".join(self.methods)))
        return name

    def inputs(self, inputs):
        """Validate one sample or a batch; return it with a batch dimension (RequestError 422/413)."""
        try:
            check_scaled(inputs)  # integer-typed values above 1: 422 (the rule in tensorlayer_xplain.pixels)
            x, batch_shape = self.adapter.prepare(inputs)
        except (TypeError, ValueError) as err:
            raise RequestError(422, str(err)) from None
        if batch_shape[0] > self.max_batch:
            raise RequestError(413, "inputs: expected at most %d samples per request, got %d"
                               % (self.max_batch, batch_shape[0]))
        return x.reshape(batch_shape)

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

            from .methods._graph import concrete

            step = self.adapter.compiled("predict", self.adapter._predict_step)
            with self.adapter.inference_mode():
                fn = concrete(step)
                scores = np.asarray(fn(tf.zeros((1,) + tuple(self.adapter.input_shape), tf.float32)))
            self.adapter.n_classes = self.adapter.n_classes or scores.shape[1]
            self._predict = lambda x: np.asarray(fn(tf.constant(x)), np.float32)
        return self._predict

    def predict(self, inputs):
        """Scores, predicted classes and probabilities of ``inputs`` (arrays as float32 ndarrays)."""
        x = self.inputs(inputs)
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
        targets = _check_targets(targets)
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RequestError(422, "params: expected a JSON object of method parameters, got %.80r" % (params,))
        x = self.inputs(inputs)
        with client_errors():
            name, full = self.explainer.method_params(name, **params)  # names (did-you-mean) and types
            if targets is not None:
                targets = self.adapter.resolve_targets(targets, len(x)).astype(np.int64)  # shape and class range
            cost = self.explainer.check_cost(name, full, len(x), self.max_cost)  # ranges and budgets
        return {"name": name, "params": full, "x": x, "targets": targets, "cost": cost}

    def submit(self, request):
        """Queue a prepared request; the job's future resolves to its Explanation (RequestError 503 when full)."""
        key = (request["name"], fingerprint(request["params"]), request["targets"] is None, request["x"].shape[1:])
        try:
            return self.batcher.submit(key, request, len(request["x"]), self.timeout,
                                       mergeable=self.micro_batching and batchable(request["name"], request["params"]))
        except QueueFull as err:
            raise RequestError(503, str(err), headers={"Retry-After": "1"}) from None

    def _run_jobs(self, jobs):
        """Run jobs with one method and parameters as one batch (a worker calls this); one result per job."""
        requests = [job.payload for job in jobs]
        try:
            return self._run_merged(requests)
        except _deadline.DeadlineExceeded:
            raise
        except Exception:  # noqa: BLE001  one bad member must not fail the others: run each alone
            if len(requests) == 1:
                raise
        results = []
        for request in requests:
            try:
                results.append(self._run_merged([request])[0])
            except _deadline.DeadlineExceeded:
                raise
            except Exception as err:  # noqa: BLE001  (delivered to that request's caller)
                results.append(err)
        return results

    def _run_merged(self, requests):
        name, params = requests[0]["name"], requests[0]["params"]
        explainer = self.explainer
        with self.lock:
            if len(requests) == 1:
                r = requests[0]
                return [explainer.explain(r["x"], method=name, targets=r["targets"], progress=False, **params)]
            cache = explainer._cache
            weights = self.adapter.weights_fingerprint() if cache is not None else None  # once per batch
            results, todo = [None] * len(requests), []
            for i, r in enumerate(requests):
                key = explainer._cache_key(name, params, r["targets"], r["x"], weights) if cache is not None else None
                results[i] = cache.get(key) if cache is not None else None
                if results[i] is None:
                    todo.append((i, key))
            if todo:
                from .runner import explain as run_method

                xs = np.concatenate([requests[i]["x"] for i, _ in todo])
                ts = None if requests[0]["targets"] is None else np.concatenate([requests[i]["targets"] for i, _ in todo])
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
        heat = exp.heatmap()
        out = {"method": exp.method, "family": exp.meta.get("family"), "signed": bool(exp.meta.get("signed")),
               "params": {k: _jsonable(v) for k, v in exp.params.items()}, "targets": exp.targets.tolist(),
               "image_shape": list(exp.image_shape),
               "attributions": np.ascontiguousarray(exp.attributions, np.float32),
               "heatmap": np.ascontiguousarray(heat, np.float32), "timings": exp.timings}
        out.update(self._prediction_fields(exp.predictions))
        if overlay:
            images = exp.images()
            out["overlay"] = [_png(overlay_rgb(images[i], heat[i], self.overlay_alpha)) for i in range(len(heat))]
        return out

    def methods_info(self):
        """``{'default': name, 'methods': {name: {family, signed, aliases, parameters, config}}}``."""
        info = {}
        for name in self.methods:
            spec = method_info(name)
            info[name] = {"family": spec.family, "signed": spec.signed, "aliases": list(spec.aliases),
                          "parameters": {k: _jsonable(v) for k, v in spec.parameters.items()},
                          "config": {k: _jsonable(v) for k, v in self.explainer.config.get(name, {}).items()}}
        return {"default": self.methods[0], "methods": info}

    def health(self):
        """Model and server facts as a JSON-able dict."""
        return {"status": "ok", "model": type(self.explainer.model).__name__, "kind": self.adapter.kind,
                "input_shape": list(self.adapter.input_shape), "image_shape": list(self.adapter.image_shape),
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


# ---------------------------------------------------------------------- the app
_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "PNG, JPEG or .npy"},
            "method": {"type": "string"},
            "targets": {"type": "string", "description": "JSON: 3 or [3, 5]"},
            "params": {"type": "string", "description": "JSON object of method parameters"},
            "overlay": {"type": "boolean"}}}},
        "application/json": {"schema": {"type": "object", "required": ["inputs"], "properties": {
            "inputs": {"type": "array", "description": "one sample or a batch, nested lists"},
            "method": {"type": "string"},
            "targets": {"description": "null, a class index or a list of them"},
            "params": {"type": "object"},
            "overlay": {"type": "boolean"}}}},
    },
}


def _body_limit_middleware(app, max_bytes, http_exception):
    """Wrap an ASGI app: bodies over ``max_bytes`` (declared or streamed) get 413."""
    message = "upload: expected a request body of at most %d bytes, got %s"

    async def reject(send, size):
        body = json.dumps({"detail": message % (max_bytes, size)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            return await reject(send, int(declared))
        received = 0

        async def counting_receive():
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > max_bytes:
                    raise http_exception(413, message % (max_bytes, "more"))
            return event

        return await app(scope, counting_receive, send)

    return limited


async def _read_request(request, service):
    """``(inputs, method, targets, params, overlay)`` from a multipart or JSON request."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise RequestError(422, "file: expected an uploaded file field 'file' (PNG, JPEG or .npy), got %s"
                               % ("text" if isinstance(upload, str) else "none"))
        inputs = decode_upload(await upload.read(), service.adapter.image_shape)
        targets = form.get("targets")
        params = form.get("params")
        return (inputs, form.get("method") or None,
                _parse_json(targets, "targets") if targets not in (None, "") else None,
                _parse_json(params, "params") if params not in (None, "") else None,
                _parse_bool(form.get("overlay"), "overlay"))
    if content_type in ("application/json", ""):
        body = _parse_json((await request.body()).decode("utf-8", "replace"), "body")
        if not isinstance(body, dict) or "inputs" not in body:
            raise RequestError(422, "body: expected a JSON object with 'inputs' (and optional method, targets, "
                                    "params, overlay), got %.80r" % (body,))
        unknown = sorted(set(body) - {"inputs", "method", "targets", "params", "overlay"})
        if unknown:
            raise RequestError(422, "body: unknown field(s) %s; expected inputs, method, targets, params, overlay"
                               % ", ".join(unknown))
        inputs = body["inputs"]
        if not isinstance(inputs, list):
            raise RequestError(422, "inputs: expected a (nested) list of numbers, got %.60r" % (inputs,))
        return (inputs, body.get("method"), body.get("targets"), body.get("params"),
                _parse_bool(body.get("overlay", False), "overlay"))
    raise RequestError(415, "content-type: expected multipart/form-data (file upload) or application/json, got %r"
                       % content_type)


_ERROR = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}}}}
_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}
#: Statuses each route may answer (documented in the OpenAPI schema; the fuzz test holds the app to them).
_STATUSES = {
    "/predict": {"200": "scores, predicted classes, probabilities", "400": "unreadable body or file",
                 "413": "body or batch too large", "415": "unsupported content type",
                 "422": "wrong shape, values or fields"},
    "/explain": {"200": "attributions, heatmaps and predictions", "400": "unreadable body or file",
                 "413": "body or batch too large", "415": "unsupported content type",
                 "422": "wrong shape, values, fields, method, parameter, target, or over the cost budget",
                 "503": "explanation queue full (see Retry-After)", "504": "past the request's deadline"},
}


def _responses(path):
    return {code: dict(_OBJECT if code == "200" else _ERROR, description=text)
            for code, text in _STATUSES[path].items()}


def create_app(explainer, max_upload_bytes=MAX_UPLOAD_BYTES, methods=None, max_batch=MAX_BATCH,
               overlay_alpha=0.4, title="tensorlayer-xplain", max_cost=MAX_COST, timeout=TIMEOUT, workers=1,
               queue_size=QUEUE_SIZE, batch_window=BATCH_WINDOW):
    """A FastAPI app serving predictions and explanations of one explainer's model.

    ``/health``, ``/methods`` and ``/predict`` never wait for explanations:
    explanations run in a pool of ``workers`` threads fed by a queue of at most
    ``queue_size`` requests (beyond: 503 with ``Retry-After``), concurrent
    requests with the same method and parameters are merged into one model
    batch (micro-batching, within ``batch_window``), and each request has a
    deadline of ``timeout`` seconds (then 504; its work stops at the next
    compiled piece).

    Parameters
    ----------
    explainer : ModelExplainer
        One explainer for every request: its cache and compiled steps are shared.
    max_upload_bytes : int
        Largest request body; larger ones get 413.
    methods : list of str, optional
        Methods clients may request; default ``explainer.methods``. The first is
        used when a request names none.
    max_batch : int
        Largest number of samples per request; more get 413.
    overlay_alpha : float
        Heatmap weight in overlay PNGs.
    title : str
        OpenAPI title.
    max_cost : int or None
        Budget of one explanation request in model passes (default
        :data:`MAX_COST`); requests over it get 422 before any model call.
    timeout : float
        Seconds per explanation request, waiting included (default :data:`TIMEOUT`).
    workers : int
        Threads running explanations.
    queue_size : int
        Most explanation requests waiting (default :data:`QUEUE_SIZE`).
    batch_window : float or None
        Seconds a request waits for others to share its batch (default
        :data:`BATCH_WINDOW`; 0 merges only requests that already wait; None
        turns micro-batching off).

    Returns
    -------
    fastapi.FastAPI
        With ``POST /predict``, ``POST /explain``, ``GET /methods``, ``GET /health``
        (see the module docstring for the request and response formats) and
        ``GET /docs``; ``/redoc`` is disabled.

    Raises
    ------
    ImportError
        When FastAPI is missing, telling how to install the ``serve`` extra.

    Examples
    --------
    >>> from fastapi.testclient import TestClient                                # doctest: +SKIP
    >>> client = TestClient(create_app(ModelExplainer(model, methods=['gradient'])))   # doctest: +SKIP
    >>> client.post('/explain', json={'inputs': x_test[:1].tolist()}).json()['predicted']   # doctest: +SKIP
    [7]
    """
    import asyncio

    fastapi = _import_or_hint("fastapi", _SERVE_HINT)
    _import_or_hint("python_multipart", _SERVE_HINT)  # needed to read uploads
    orjson = _import_or_hint("orjson", _SERVE_HINT)  # 20x faster than json on attribution arrays
    from fastapi.responses import JSONResponse, Response

    class ArrayJSONResponse(Response):
        """JSON with numpy arrays written by orjson (float32 in their shortest exact form)."""

        media_type = "application/json"

        def render(self, content):
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    from starlette.concurrency import run_in_threadpool

    if not isinstance(max_upload_bytes, numbers.Integral) or isinstance(max_upload_bytes, bool) or max_upload_bytes < 1:
        raise ValueError("max_upload_bytes: expected a positive int, got %r" % (max_upload_bytes,))
    service = ExplainService(explainer, methods=methods, max_batch=max_batch, overlay_alpha=overlay_alpha,
                             max_cost=max_cost, timeout=timeout, workers=workers, queue_size=queue_size,
                             batch_window=batch_window)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.close()

    app = fastapi.FastAPI(title=title, description="Predictions and explanations of a TensorLayer model.",
                          redoc_url=None, lifespan=lifespan)
    app.state.service = service
    app.state.max_upload_bytes = int(max_upload_bytes)

    @app.exception_handler(RequestError)
    async def request_error(request, err):
        return JSONResponse({"detail": err.message}, status_code=err.status, headers=err.headers or None)

    @app.exception_handler(RecursionError)
    async def too_deep(request, err):
        return JSONResponse({"detail": "body: expected data nested at most a few hundred levels deep"}, status_code=400)

    @app.exception_handler(OverflowError)
    async def overflow(request, err):
        return JSONResponse({"detail": "body: a number is out of range (%s)" % err}, status_code=422)

    @app.exception_handler(MemoryError)
    async def too_big(request, err):
        return JSONResponse({"detail": "body: the request needs more memory than the server grants"}, status_code=413)

    async def wait_for(job, request):
        """The job's Explanation; 504 past its deadline; the job is cancelled if the client goes away."""
        waiter = asyncio.wrap_future(job.future)
        while True:
            left = job.deadline - time.monotonic()
            done, _ = await asyncio.wait({waiter}, timeout=max(0.0, min(0.1, left)))
            if done:
                break
            if left <= 0 or await request.is_disconnected():
                job.cancel()
                waiter.cancel()
                raise RequestError(504, "explain: no result within the service's timeout of %g s; the work was "
                                        "stopped (ask for less, or raise --timeout)" % service.timeout)
        with client_errors(service.timeout):
            return waiter.result()

    @app.post("/predict", openapi_extra={"requestBody": _REQUEST_BODY}, responses=_responses("/predict"),
              summary="Scores, predicted class and probabilities (method fields are ignored)")
    async def predict(request: fastapi.Request):
        inputs, _, _, _, _ = await _read_request(request, service)
        return ArrayJSONResponse(await run_in_threadpool(service.predict, inputs))

    @app.post("/explain", openapi_extra={"requestBody": _REQUEST_BODY}, responses=_responses("/explain"),
              summary="Attributions (nested lists), heatmaps, predictions and optional overlay PNGs")
    async def explain(request: fastapi.Request):
        inputs, method, targets, params, overlay = await _read_request(request, service)
        prepared = await run_in_threadpool(service.prepare, inputs, method, targets, params)
        exp = await wait_for(service.submit(prepared), request)
        return ArrayJSONResponse(await run_in_threadpool(service.respond, exp, overlay))

    @app.get("/methods", summary="Methods served, with parameters and defaults")
    async def methods_route():
        return service.methods_info()

    @app.get("/health", summary="Model, shapes, methods, cache statistics, limits and the explanation queue")
    async def health():
        return dict(service.health(), max_upload_bytes=app.state.max_upload_bytes)

    app.add_middleware(_BodyLimit, max_bytes=int(max_upload_bytes), http_exception=fastapi.HTTPException)
    return app


class _BodyLimit:
    """ASGI middleware (Starlette's ``add_middleware`` form) around :func:`_body_limit_middleware`."""

    def __init__(self, app, max_bytes, http_exception):
        self._call = _body_limit_middleware(app, max_bytes, http_exception)

    async def __call__(self, scope, receive, send):
        await self._call(scope, receive, send)

