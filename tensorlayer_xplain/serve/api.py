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
    A token model or an encoder-decoder served with a vocabulary also takes
    ``{"text": "..." or [...]}`` instead of ``inputs`` (and, for an encoder-decoder,
    ``targets`` and ``params.decoder_inputs`` as text).
``GET /methods``
    The methods this server runs that apply to its model (as their declarations
    say), with the parameters, defaults and ranges of the version that runs on it
    (image, token or seq2seq); enabled methods that do not apply under ``skipped``.
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
>>> from tensorlayer_xplain import ModelExplainer
>>> from tensorlayer_xplain.serve import create_app
>>> app = create_app(ModelExplainer(model, methods=['gradient', 'gradcam']))
>>> # serves until stopped
>>> import uvicorn; uvicorn.run(app, host='127.0.0.1', port=8000)       # doctest: +SKIP

From the shell (``pip install 'tensorlayer-xplain[serve]'``)::

    python -m tensorlayer_xplain serve --model tensorlayer_xplain.models:cnn --weights cnn.npz --port 8000
    curl -F file=@digit.png -F method=gradcam -F overlay=true http://127.0.0.1:8000/explain
"""
import contextlib
import numbers
import time

from .encode import overlay_rgb
from .errors import _SERVE_HINT, RequestError, _import_or_hint, client_errors
from .http import _REQUEST_BODY, _BodyLimit, _responses
from .request import _read_request, decode_upload
from .service import BATCH_WINDOW, MAX_BATCH, MAX_COST, QUEUE_SIZE, TIMEOUT, ExplainService, explainer_lock

__all__ = ["create_app", "ExplainService", "RequestError", "decode_upload", "overlay_rgb",
           "explainer_lock", "MAX_UPLOAD_BYTES", "MAX_BATCH", "MAX_COST", "TIMEOUT", "QUEUE_SIZE", "BATCH_WINDOW"]

#: Default largest request body (bytes); larger uploads get 413.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# Uploads up to this size are decoded and validated on the event loop (a 28x28 PNG takes ~0.1 ms,
# less than handing it to a thread); larger uploads and JSON bodies go to the thread pool.
_INLINE_BYTES = 16 * 1024
# Seconds a 504 waits for the worker to reach its next deadline check before saying whether the work stopped.
_STOP_GRACE = 2.0


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
        Most seconds a request waits for others to share its batch (default
        :data:`BATCH_WINDOW`): it waits only while other requests are still
        being read, so a lone request runs at once; 0 merges only requests
        that already wait; None turns micro-batching off.

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
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app(ModelExplainer(model, methods=['gradient'])))
    >>> client.post('/explain', json={'inputs': x_test[:1].tolist()}).json()['predicted']  # doctest: +IGNORE_RESULT
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
                started = job.future.running() or job.future.done()
                if started:  # the worker stops at its next deadline check (blocks take about a second)
                    await asyncio.wait({waiter}, timeout=_STOP_GRACE)
                stopped = waiter.done()
                waiter.cancel()
                if not started:
                    what = "it was dropped before it started"
                elif stopped:
                    what = "the work was stopped"
                else:
                    what = ("the work is still running and stops at its next check (the worker stays busy "
                            "until then)")
                raise RequestError(504, "explain: no result within the service's timeout of %g s; %s (ask for "
                                        "less, or raise --timeout)" % (service.timeout, what))
        with client_errors(service.timeout):
            return waiter.result()

    @app.post("/predict", openapi_extra={"requestBody": _REQUEST_BODY}, responses=_responses("/predict"),
              summary="Scores, predicted class and probabilities (method fields are ignored)")
    async def predict(request: fastapi.Request):
        inputs, _, _, _, _ = await _read_request(request, run_in_threadpool)
        return ArrayJSONResponse(await run_in_threadpool(service.predict, inputs))

    @app.post("/explain", openapi_extra={"requestBody": _REQUEST_BODY}, responses=_responses("/explain"),
              summary="Attributions (nested lists), heatmaps, predictions and optional overlay PNGs")
    async def explain(request: fastapi.Request):
        with service.batcher.expecting():  # a worker gathering a batch waits for this request
            inputs, method, targets, params, overlay = await _read_request(request, run_in_threadpool)
            if isinstance(inputs, bytes) and len(inputs) <= _INLINE_BYTES:  # decoding costs less than a thread hop
                prepared = service.prepare(inputs, method, targets, params)
            else:
                prepared = await run_in_threadpool(service.prepare, inputs, method, targets, params)
            # the worker builds the response fields: the event loop only serializes them
            job = service.submit(prepared, respond=True, overlay=overlay)
        return ArrayJSONResponse(await wait_for(job, request))

    @app.get("/methods", summary="Methods that apply to the served model, with parameters, defaults and ranges")
    async def methods_route():
        return service.methods_info()

    @app.get("/health", summary="Model, shapes, methods, cache statistics, limits and the explanation queue")
    async def health():
        return dict(service.health(), max_upload_bytes=app.state.max_upload_bytes)

    app.add_middleware(_BodyLimit, max_bytes=int(max_upload_bytes), http_exception=fastapi.HTTPException)
    return app
