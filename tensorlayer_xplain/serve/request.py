"""Reading a request: uploads (PNG, JPEG, ``.npy``), JSON fields, booleans and targets, multipart or JSON bodies."""
import io
import json
import numbers

import numpy as np

from ..adapter.pixels import image_pixels, scale_pixels
from .body import NumericText, parse_json_body
from .errors import _SERVE_HINT, RequestError, _import_or_hint

#: Largest class index accepted in ``targets`` before the model's own range check.
_MAX_INDEX = 2 ** 31 - 1

_NPY_MAGIC = b"\x93NUMPY"
#: JSON bodies up to this size are parsed on the event loop (less than a thread hop).
_INLINE_BODY = 16 * 1024


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
    >>> from PIL import Image
    >>> Image.fromarray(np.zeros((28, 28), np.uint8)).save('digit.png')
    >>> decode_upload(open('digit.png', 'rb').read(), (28, 28, 1)).shape
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
    if dtype.kind not in "iuf":  # readable, but not pixel values: complex, bool, strings
        raise RequestError(422, "file: expected a numeric .npy array (ints or floats), got dtype %s" % dtype)
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
        raise RequestError(400, "%s: expected JSON nested at most a few hundred levels deep, got deeper"
                           % name) from None


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


class TextInput(str):
    """The ``text`` field of a JSON request (a string or a list of strings), encoded by the service's vocabulary."""

    def __new__(cls, text):
        obj = super().__new__(cls, text if isinstance(text, str) else "\n".join(text))
        obj.texts = [text] if isinstance(text, str) else list(text)
        return obj


async def _read_request(request, run=None):
    """``(inputs, method, targets, params, overlay)`` from a multipart or JSON request, undecoded.

    ``inputs`` is the uploaded file's bytes (multipart; decoded by
    :meth:`ExplainService.inputs`) or the JSON body's numbers as a
    :class:`~tensorlayer_xplain._serve_body.NumericText` (declared shape now,
    values when converted). ``run(fn, *args)``, awaitable, runs large bodies'
    parsing off the event loop.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise RequestError(422, "file: expected an uploaded file field 'file' (PNG, JPEG or .npy), got %s"
                               % ("text" if isinstance(upload, str) else "none"))
        targets = form.get("targets")
        params = form.get("params")
        return (await upload.read(), form.get("method") or None,
                _parse_json(targets, "targets") if targets not in (None, "") else None,
                _parse_json(params, "params") if params not in (None, "") else None,
                _parse_bool(form.get("overlay"), "overlay"))
    if content_type in ("application/json", ""):
        raw = await request.body()
        # a large body is read in a worker thread, in slices short enough for the event loop to run between them
        body = parse_json_body(raw) if len(raw) <= _INLINE_BODY or run is None else await run(parse_json_body, raw)
        if not isinstance(body, dict) or ("inputs" not in body and "text" not in body):
            raise RequestError(422, "body: expected a JSON object with 'inputs' (or 'text' for a token model or an "
                                    "encoder-decoder served with a vocabulary; and optional method, targets, params, "
                                    "overlay), got %.80r" % (body,))
        unknown = sorted(set(body) - {"inputs", "text", "method", "targets", "params", "overlay"})
        if unknown:
            raise RequestError(422, "body: unknown field(s) %s; expected inputs (or text), method, targets, params, "
                                    "overlay" % ", ".join(unknown))
        if "text" in body and "inputs" in body:
            raise RequestError(422, "body: expected 'inputs' (token ids) or 'text', not both")
        if "text" in body:
            text = body["text"]
            if not (isinstance(text, str) or (isinstance(text, list) and text and
                                              all(isinstance(t, str) for t in text))):
                raise RequestError(422, "text: expected a string or a non-empty list of strings, got %.60r" % (text,))
            return (TextInput(text), body.get("method"), body.get("targets"), body.get("params"),
                    _parse_bool(body.get("overlay", False), "overlay"))
        inputs = body["inputs"]
        if not isinstance(inputs, (list, NumericText)):
            raise RequestError(422, "inputs: expected a (nested) list of numbers, got %.60r" % (inputs,))
        return (inputs, body.get("method"), body.get("targets"), body.get("params"),
                _parse_bool(body.get("overlay", False), "overlay"))
    raise RequestError(415, "content-type: expected multipart/form-data (file upload) or application/json, got %r"
                       % content_type)

