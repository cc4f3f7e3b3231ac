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
import io
import json
import numbers
import threading
import weakref

import numpy as np

from .methods.registry import method_info
from .pixels import check_scaled, image_pixels, scale_pixels
from .report import _png
from .visualize._draw import OVERLAY_CMAP, _image_for_display, normalize_map

__all__ = ["create_app", "ExplainService", "RequestError", "decode_upload", "overlay_rgb",
           "explainer_lock", "MAX_UPLOAD_BYTES", "MAX_BATCH"]

#: Default largest request body (bytes); larger uploads get 413.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
#: Default largest number of samples in one request; more get 413.
MAX_BATCH = 64

_NPY_MAGIC = b"\x93NUMPY"
_SERVE_HINT = "pip install 'tensorlayer-xplain[serve]' (fastapi, uvicorn, python-multipart, pillow, orjson)"


class RequestError(Exception):
    """A client error: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)


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
            return scale_pixels(np.load(io.BytesIO(data), allow_pickle=False))  # uint8/uint16: by bit depth
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


def _parse_json(text, name):
    try:
        return json.loads(text)
    except (ValueError, TypeError) as err:
        raise RequestError(400, "%s: expected JSON, got %.60r (%s)" % (name, text, err)) from None


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
        return int(targets)
    flat = np.asarray(targets, dtype=object).ravel() if targets else np.array([], dtype=object)
    if not all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in flat):
        raise RequestError(422, "targets: expected a list of class indices (ints), got %.80r" % (targets,))
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

    Examples
    --------
    >>> service = ExplainService(ModelExplainer(model, methods=['gradient']))   # doctest: +SKIP
    >>> service.explain(x_test[:1], method='gradient')['predicted']             # doctest: +SKIP
    [7]
    """

    def __init__(self, explainer, methods=None, max_batch=MAX_BATCH, overlay_alpha=0.4):
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

    def predict(self, inputs):
        """Scores, predicted classes and probabilities of ``inputs`` (arrays as float32 ndarrays)."""
        x = self.inputs(inputs)
        try:
            scores = self.adapter.predict(x)  # the adapter serializes model calls itself
        except (TypeError, ValueError) as err:
            raise RequestError(422, str(err)) from None
        return dict(self._prediction_fields(scores), output=self.adapter.output)

    def explanation(self, inputs, method=None, targets=None, params=None):
        """Validate and run one explanation through the shared explainer; return the Explanation."""
        name = self.method_name(method)
        targets = _check_targets(targets)
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RequestError(422, "params: expected a JSON object of method parameters, got %.80r" % (params,))
        x = self.inputs(inputs)
        try:
            self.explainer.method_params(name, **params)  # unknown names (did-you-mean) and types, before locking
            with self.lock:
                return self.explainer.explain(x, method=name, targets=targets, progress=False, **params)
        except KeyError as err:
            raise RequestError(422, err.args[0] if err.args else str(err)) from None
        except (TypeError, ValueError) as err:
            raise RequestError(422, str(err)) from None

    def explain(self, inputs, method=None, targets=None, params=None, overlay=False):
        """Explain ``inputs``: a dict with predictions, attributions, heatmaps (and overlay PNGs).

        Array fields are float32 ndarrays (the app serializes them with orjson,
        exactly and compactly); everything else is plain JSON.
        """
        exp = self.explanation(inputs, method, targets, params)
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
                "cache": self.explainer.cache_info, "max_batch": self.max_batch}


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


def create_app(explainer, max_upload_bytes=MAX_UPLOAD_BYTES, methods=None, max_batch=MAX_BATCH,
               overlay_alpha=0.4, title="tensorlayer-xplain"):
    """A FastAPI app serving predictions and explanations of one explainer's model.

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

    Returns
    -------
    fastapi.FastAPI
        With ``POST /predict``, ``POST /explain``, ``GET /methods``, ``GET /health``
        (see the module docstring for the request and response formats).

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
    service = ExplainService(explainer, methods=methods, max_batch=max_batch, overlay_alpha=overlay_alpha)
    app = fastapi.FastAPI(title=title, description="Predictions and explanations of a TensorLayer model.")
    app.state.service = service
    app.state.max_upload_bytes = int(max_upload_bytes)

    @app.exception_handler(RequestError)
    async def request_error(request, err):
        return JSONResponse({"detail": err.message}, status_code=err.status)

    async def handle(request, operation):
        inputs, method, targets, params, overlay = await _read_request(request, service)
        if operation == "predict":
            result = await run_in_threadpool(service.predict, inputs)
        else:
            result = await run_in_threadpool(service.explain, inputs, method, targets, params, overlay)
        return ArrayJSONResponse(result)

    @app.post("/predict", openapi_extra={"requestBody": _REQUEST_BODY},
              summary="Scores, predicted class and probabilities (method fields are ignored)")
    async def predict(request: fastapi.Request):
        return await handle(request, "predict")

    @app.post("/explain", openapi_extra={"requestBody": _REQUEST_BODY},
              summary="Attributions (nested lists), heatmaps, predictions and optional overlay PNGs")
    async def explain(request: fastapi.Request):
        return await handle(request, "explain")

    @app.get("/methods", summary="Methods served, with parameters and defaults")
    def methods_route():
        return service.methods_info()

    @app.get("/health", summary="Model, shapes, methods, cache statistics")
    def health():
        return dict(service.health(), max_upload_bytes=app.state.max_upload_bytes)

    app.add_middleware(_BodyLimit, max_bytes=int(max_upload_bytes), http_exception=fastapi.HTTPException)
    return app


class _BodyLimit:
    """ASGI middleware (Starlette's ``add_middleware`` form) around :func:`_body_limit_middleware`."""

    def __init__(self, app, max_bytes, http_exception):
        self._call = _body_limit_middleware(app, max_bytes, http_exception)

    async def __call__(self, scope, receive, send):
        await self._call(scope, receive, send)

