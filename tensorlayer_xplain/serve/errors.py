"""What the HTTP service raises: :class:`RequestError`, the 4xx/5xx mapping of other errors, the install hint."""
import contextlib

from .._utils import deadline as _deadline

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
