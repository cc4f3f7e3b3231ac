"""Reading a JSON request body without holding the interpreter for long: the ``inputs`` numbers as text.

A 2 MB JSON body of numbers takes ``json.loads`` about 130 ms of C code that
never releases the GIL, so the event loop (``/health``) stalls that long
whatever thread parses it. Here the body's ``inputs`` array is found and
checked as bytes (brackets, commas, digits), its *declared shape* read from the
brackets (so budgets are checked before any conversion, see
:meth:`~tensorlayer_xplain.serve.ExplainService.prepare`), and its numbers
converted by :func:`numpy.fromstring` in slices of :data:`SLICE_BYTES`, each a
few milliseconds: between slices the event loop runs. The rest of the body
(method, targets, params) is small and parsed by :mod:`json`.

Examples
--------
>>> body = parse_json_body(b'{"inputs": [[1, 2.5], [3, 4]], "method": "gradient"}')
>>> body["method"], body["inputs"].shape
('gradient', (2, 2))
>>> body["inputs"].array()
array([[1. , 2.5],
       [3. , 4. ]], dtype=float32)
"""
import json
import re

import numpy as np

from .errors import RequestError

__all__ = ["NumericText", "parse_json_body", "SLICE_BYTES"]

#: Bytes of number text converted at once (a few ms of C code holding the GIL).
SLICE_BYTES = 64 * 1024
#: Deepest nesting of ``inputs`` (an image batch has 4 levels).
MAX_DEPTH = 32
#: Bodies without a recognisable ``"inputs": [...]`` are parsed whole by :mod:`json` up to this size only.
PLAIN_JSON_BYTES = 64 * 1024

_INPUTS = re.compile(rb'"inputs"\s*:\s*(?=\[)')
_SENTINEL = 7.25e-301  # what the inputs span is replaced by while the rest of the body is parsed


class NumericText:
    """The ``inputs`` of a JSON body as text: its declared ``shape`` now, its values on :meth:`array`.

    Attributes
    ----------
    shape : tuple of int
        From the brackets (a regular nested list of numbers; checked).
    """

    __slots__ = ("text", "shape")

    def __init__(self, text, shape):
        self.text, self.shape = text, tuple(shape)

    def __len__(self):
        return self.shape[0]

    def array(self):
        """The values, float32, in ``shape`` (converted slice by slice).

        Raises
        ------
        RequestError
            422 when a number is unreadable or the count disagrees with the brackets.
        """
        flat = self.text.translate(None, b"[] \t\r\n")
        parts, start, n = [], 0, len(flat)
        while start < n:
            stop = flat.find(b",", min(n, start + SLICE_BYTES))
            stop = n if stop < 0 else stop
            chunk = flat[start:stop]
            try:
                parts.append(np.array(chunk.split(b","), dtype=bytes).astype(np.float64).astype(np.float32))
            except (ValueError, TypeError):
                raise RequestError(422, "inputs: expected a nested list of finite numbers, got an unreadable "
                                        "number near %.40r" % chunk[:40]) from None
            start = stop + 1
        values = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        if values.size != int(np.prod(self.shape)):
            raise RequestError(422, "inputs: expected a rectangular nested list of numbers, got %d numbers for "
                                    "shape %s" % (values.size, self.shape))
        return values.reshape(self.shape)


_KIND = np.zeros(256, np.int8)  # 0: other, 1: '[', 2: ']', 3: ',', 4: a number's character, 5: whitespace
_KIND[91], _KIND[93], _KIND[44] = 1, 2, 3
_KIND[np.frombuffer(b"0123456789+-.eE", np.uint8)] = 4
_KIND[np.frombuffer(b" \t\r\n", np.uint8)] = 5


def _numeric_span(raw, start):
    """``(end, shape)`` of the nested list of numbers opening at ``raw[start]`` (shape None when irregular).

    Works on the structural tokens (brackets and commas) only, a few array operations over the bytes.
    """
    kind = _KIND[np.frombuffer(raw, np.uint8, offset=start)]
    tokens = np.flatnonzero((kind >= 1) & (kind <= 3))
    tk = kind[tokens]
    depth = np.cumsum(np.where(tk == 1, 1, np.where(tk == 2, -1, 0)))
    closed = np.flatnonzero(depth == 0)
    if not len(closed):
        raise RequestError(400, "body: expected JSON, got an unclosed '[' in inputs")
    last = int(closed[0])
    end = start + int(tokens[last]) + 1
    tokens, tk, depth = tokens[:last + 1], tk[:last + 1], depth[:last + 1]
    span = kind[:tokens[-1] + 1]
    if (span == 0).any():
        return end, None  # strings, true/false/null, NaN...
    levels = int(depth.max())
    if levels > MAX_DEPTH:
        raise RequestError(400, "body: expected inputs nested at most %d levels deep, got %d" % (MAX_DEPTH, levels))
    # characters of numbers between consecutive tokens: a gap holds one number or nothing
    filled = np.diff(np.concatenate([[0], np.cumsum(span == 4)])[tokens]) > 0
    prev_kind, next_kind = tk[:-1], tk[1:]
    inner = depth[:-1]  # depth between token i and i + 1
    # numbers only in the deepest lists, never beside a list; no empty list or element
    if filled[inner < levels].any():
        return end, None
    deepest = inner == levels
    needs_number = deepest & ~((prev_kind == 2) | (next_kind == 1))
    if not filled[needs_number].all() or (deepest & ((prev_kind == 2) | (next_kind == 1))).any():
        return end, None
    shallow = (inner < levels) & (inner > 0)
    if (shallow & ~(((prev_kind == 1) | (prev_kind == 3)) & (next_kind == 1)
                    | ((prev_kind == 2) & ((next_kind == 3) | (next_kind == 2))))).any():
        return end, None
    shape = []
    opens = tk == 1
    for level in range(1, levels + 1):
        starts = opens & (depth == level)
        list_id = np.cumsum(starts) - 1
        commas = (tk == 3) & (depth == level)
        counts = np.bincount(list_id[commas], minlength=int(starts.sum())) + 1
        if counts.min() != counts.max():
            return end, None
        shape.append(int(counts[0]))
    return end, tuple(shape)


def parse_json_body(raw):
    """A request's JSON body as a dict, with ``inputs`` a :class:`NumericText` when it is a list of numbers.

    Parameters
    ----------
    raw : bytes

    Returns
    -------
    dict
        The body; ``inputs`` is a :class:`NumericText` for a regular nested list
        of numbers, else whatever JSON gave (checked by the caller).

    Raises
    ------
    RequestError
        400 for a body that is not JSON (or not UTF-8), 422 for a large body with no ``inputs`` list.
    """
    try:
        raw.decode("utf-8")  # about a millisecond for 2 MB
    except UnicodeDecodeError as err:
        raise RequestError(400, "body: expected UTF-8 JSON, got invalid UTF-8 at byte %d" % err.start) from None
    match = _INPUTS.search(raw)
    if match is not None:
        end, shape = _numeric_span(raw, match.end())
        if shape is None:
            raise RequestError(422, "inputs: expected a rectangular nested list of finite numbers (no strings, "
                                    "booleans, nulls, NaN or empty lists), got %.60r..." % raw[match.end():end][:60])
        rest = raw[:match.end()] + repr(_SENTINEL).encode() + raw[end:]
        body = _loads(rest)
        if isinstance(body, dict) and body.get("inputs") == _SENTINEL:
            body["inputs"] = NumericText(raw[match.end():end], shape)
            return body
    if len(raw) > PLAIN_JSON_BYTES:
        raise RequestError(422, "body: expected a JSON object with 'inputs' (a nested list of numbers) and optional "
                                "method, targets, params, overlay; got %d bytes without one" % len(raw))
    return _loads(raw)


def _loads(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, "body: expected UTF-8 JSON, got invalid UTF-8 at byte %d" % err.start) from None
    except ValueError as err:
        raise RequestError(400, "body: expected JSON, got %.60r (%s)" % (raw[:60], err)) from None
    except RecursionError:
        raise RequestError(400, "body: expected JSON nested at most a few hundred levels deep, got deeper") from None
