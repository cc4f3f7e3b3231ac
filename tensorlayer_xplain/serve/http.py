"""The HTTP contract around the routes: their OpenAPI request body and statuses, and the body-size limit."""
import json

_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "PNG, JPEG or .npy"},
            "method": {"type": "string"},
            "targets": {"type": "string", "description": "JSON: 3 or [3, 5]"},
            "params": {"type": "string", "description": "JSON object of method parameters"},
            "overlay": {"type": "boolean"}}}},
        "application/json": {"schema": {"type": "object", "properties": {
            "inputs": {"type": "array", "description": "one sample or a batch, nested lists (token ids for a token "
                                                       "model or an encoder-decoder)"},
            "text": {"description": "instead of inputs, for a token model or an encoder-decoder served with a "
                                    "vocabulary: one text or a list of texts (words split on whitespace)",
                     "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "method": {"type": "string"},
            "targets": {"description": "null, a class index or a list of them; for an encoder-decoder the token "
                                       "ids (N, T_out) to explain, or text with a vocabulary"},
            "params": {"type": "object", "description": "method parameters (GET /methods lists them); for an "
                                                        "encoder-decoder also decoder_inputs (ids or text), sos, "
                                                        "seq_length"},
            "overlay": {"type": "boolean"}},
            "anyOf": [{"required": ["inputs"]}, {"required": ["text"]}]}},
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


class _BodyLimit:
    """ASGI middleware (Starlette's ``add_middleware`` form) around :func:`_body_limit_middleware`."""

    def __init__(self, app, max_bytes, http_exception):
        self._call = _body_limit_middleware(app, max_bytes, http_exception)

    async def __call__(self, scope, receive, send):
        await self._call(scope, receive, send)
