"""``Explanation``: the one result type every method returns."""
import json
import os

import numpy as np

from ._utils.io import atomic_path

__all__ = ["Explanation", "MultiInputExplanation"]

_ARRAY_FIELDS = ("attributions", "inputs", "targets", "predictions")
_REDUCTIONS = ("sum", "mean", "abs_sum", "max_abs")


def _jsonable(value):
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


class Explanation:
    """Attributions of one method for a batch of inputs, with what produced them.

    Behaves like the numpy array of its attributions where code expects one
    (``np.asarray(exp)``, ``exp.shape``, ``exp.reshape(28, 28)``, ``exp[0]``).

    Parameters
    ----------
    method : str
        Registered method name.
    attributions : ndarray, shape (N, *input_dims)
        Same shape as ``inputs``.
    inputs : ndarray, shape (N, *input_dims)
    targets : ndarray of int, shape (N,)
        Explained class per input (-1 where a callable target was used).
    predictions : ndarray, shape (N, K)
        Model scores for the inputs.
    image_shape : tuple of int
        ``(H, W, C)`` used by :meth:`heatmap` and plots.
    params : dict, optional
        Parameters the method ran with.
    timings : dict, optional
        Seconds: ``total`` and ``per_sample``.
    meta : dict, optional
        Method-specific extras (e.g. ``completeness_gap`` for integrated
        gradients, the raw ``lime`` explanations). Only JSON-able entries and
        arrays survive :meth:`save`.

    Examples
    --------
    >>> exp = Explanation('gradient', np.ones((2, 784)), np.zeros((2, 784)),
    ...                   np.array([3, 5]), np.zeros((2, 10)), (28, 28, 1))
    >>> exp.heatmap().shape
    (2, 28, 28)
    >>> exp[0].reshape(28, 28).shape
    (28, 28)
    """

    def __init__(self, method, attributions, inputs, targets, predictions, image_shape,
                 params=None, timings=None, meta=None):
        self.method = str(method)
        self.attributions = np.asarray(attributions)
        self.inputs = np.asarray(inputs)
        self.targets = np.asarray(targets)
        self.predictions = np.asarray(predictions)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.params = dict(params or {})
        self.timings = dict(timings or {})
        self.meta = dict(meta or {})
        if self.attributions.shape != self.inputs.shape:
            raise ValueError(
                "attributions: expected the inputs' shape %s, got %s" % (self.inputs.shape, self.attributions.shape)
            )

    # -- array behaviour -------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        return self.attributions if dtype is None else self.attributions.astype(dtype)

    @property
    def shape(self):
        """Shape of the attributions."""
        return self.attributions.shape

    @property
    def ndim(self):
        return self.attributions.ndim

    @property
    def dtype(self):
        return self.attributions.dtype

    def __len__(self):
        return len(self.attributions)

    def __getitem__(self, index):
        return self.attributions[index]

    def reshape(self, *shape):
        """``attributions.reshape(*shape)``."""
        return self.attributions.reshape(*shape)

    # -- views ---------------------------------------------------------------------
    @property
    def predicted(self):
        """Predicted class per input, shape (N,)."""
        return np.argmax(self.predictions, axis=1)

    def heatmap(self, reduce="sum"):
        """Attributions as images, channels reduced: shape (N, H, W).

        Parameters
        ----------
        reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
            How channels are combined (irrelevant for one channel, and for
            per-pixel maps such as CAMs, ``meta['spatial']``, which repeat one value
            over the channels: the map itself is returned, ``abs`` applied for
            'abs_sum' and 'max_abs').
        """
        if reduce not in _REDUCTIONS:
            raise ValueError("reduce: expected one of %s, got %r" % (_REDUCTIONS, reduce))
        maps = self.attributions.reshape((len(self),) + self.image_shape).astype(np.float64)
        if self.meta.get("spatial"):
            maps = maps[..., :1]
        if reduce == "sum":
            out = maps.sum(-1)
        elif reduce == "mean":
            out = maps.mean(-1)
        elif reduce == "abs_sum":
            out = np.abs(maps).sum(-1)
        else:
            out = np.abs(maps).max(-1)
        return out.astype(self.attributions.dtype if self.attributions.dtype.kind == "f" else np.float32)

    def images(self):
        """Inputs as images, shape (N, H, W, C)."""
        return self.inputs.reshape((len(self),) + self.image_shape)

    def __repr__(self):
        timing = self.timings.get("total")
        return "Explanation(method=%r, n=%d, input_shape=%s, image_shape=%s, targets=%s%s%s)" % (
            self.method,
            len(self),
            self.inputs.shape[1:],
            self.image_shape,
            np.array2string(self.targets, threshold=8),
            (", params=%s" % {k: v for k, v in self.params.items() if np.isscalar(v) or v is None}
             if self.params else ""),
            ", time=%.3fs" % timing if timing is not None else "",
        )

    @classmethod
    def concatenate(cls, parts):
        """Join explanations of consecutive batches (same method) into one.

        Timings are added; params, meta and image shape come from the first part
        (meta arrays/lists with one entry per sample are concatenated too).
        """
        parts = list(parts)
        if not parts:
            raise ValueError("parts: expected at least one Explanation, got none")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        if any(p.method != first.method for p in parts):
            raise ValueError("parts: cannot concatenate different methods %s" % sorted({p.method for p in parts}))
        n_first = len(first)
        meta = dict(first.meta)
        for key, value in first.meta.items():
            if isinstance(value, np.ndarray) and value.ndim and len(value) == n_first:
                meta[key] = np.concatenate([p.meta[key] for p in parts])
            elif isinstance(value, list) and len(value) == n_first:
                meta[key] = [item for p in parts for item in p.meta[key]]
        join = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        total = sum(p.timings.get("total", 0.0) for p in parts)
        n = sum(len(p) for p in parts)
        return cls(first.method, join("attributions"), join("inputs"), join("targets"), join("predictions"),
                   first.image_shape, params=first.params, timings={"total": total, "per_sample": total / n},
                   meta=meta)

    # -- persistence -----------------------------------------------------------
    def save(self, path):
        """Write to ``path`` (``.npz``) atomically; returns the path written.

        Arrays round-trip exactly; ``params``/``meta`` entries that are neither
        JSON-able nor arrays (e.g. raw ``lime`` objects) are skipped and listed
        under ``meta['_unsaved']`` of the loaded copy.
        """
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        arrays = {name: getattr(self, name) for name in self._saved_arrays if getattr(self, name) is not None}
        header = {"kind": type(self).__name__, "method": self.method, "image_shape": list(self.image_shape),
                  "timings": self.timings}
        unsaved = []
        for group in ("params", "meta"):
            plain = {}
            for key, value in getattr(self, group).items():
                if isinstance(value, np.ndarray):
                    arrays["%s__%s" % (group, key)] = value
                elif _jsonable(value):
                    plain[key] = value
                else:
                    unsaved.append("%s.%s" % (group, key))
            header[group] = plain
        header["unsaved"] = unsaved
        arrays["header"] = np.array(json.dumps(header))
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)
        return path

    #: The array attributes :meth:`save` writes (None-valued ones are left out).
    _saved_arrays = _ARRAY_FIELDS

    @classmethod
    def load(cls, path):
        """Read an explanation written by :meth:`save` (of this class: ``ValueError`` names the one saved)."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            kind = header.get("kind", "Explanation")  # files written before kinds were recorded: Explanation
            if kind != cls.__name__:
                raise ValueError("path: %s holds a saved %s; read it with %s.load" % (os.fspath(path), kind, kind))
            fields = {name: data[name] if name in data.files else None for name in cls._saved_arrays}
            groups = {"params": dict(header["params"]), "meta": dict(header["meta"])}
            for key in data.files:
                if "__" in key:
                    group, name = key.split("__", 1)
                    groups[group][name] = data[key]
        if header["unsaved"]:
            groups["meta"]["_unsaved"] = header["unsaved"]
        return cls._from_saved(header, fields, groups)

    @classmethod
    def _from_saved(cls, header, fields, groups):
        return cls(header["method"], fields["attributions"], fields["inputs"], fields["targets"],
                   fields["predictions"], header["image_shape"], params=groups["params"],
                   timings=header["timings"], meta=groups["meta"])


class MultiInputExplanation(Explanation):
    """An :class:`Explanation` with one attribution array per model input.

    ``attributions`` and ``inputs`` are lists (input ``i`` in the shape the
    caller gave it); ``image_shapes`` lists each input's ``(H, W, C)``;
    ``heatmap(input=i)`` and ``images(input=i)`` draw input ``i``. It is not an
    array: ``np.asarray(exp)`` raises (pick ``exp.attributions[i]``), and it is
    not saved to ``.npz`` (:meth:`save` raises).

    Parameters
    ----------
    method : str
        The registered method that produced it.
    attributions : list of ndarray
        One array per model input, ``(N, *input_shape_i)``.
    inputs : list of ndarray
        The explained inputs, one array per model input.
    targets : ndarray of int, shape (N,)
        The explained class per sample.
    predictions : ndarray, shape (N, K)
        The model's scores.
    image_shapes : list of tuple of int
        ``(H, W, C)`` in which each input is drawn.
    params, timings, meta : dict, optional
        As for :class:`Explanation`.

    Examples
    --------
    >>> exp = tlxp.explain(siamese, [xa, xb], 'gradient')
    >>> [a.shape for a in exp.attributions]
    [(4, 28, 28, 1), (4, 28, 28, 1)]
    >>> exp.heatmap(input=1).shape
    (4, 28, 28)
    """

    def __init__(self, method, attributions, inputs, targets, predictions, image_shapes, params=None,
                 timings=None, meta=None):
        self.method = str(method)
        self.attributions = [np.asarray(a) for a in attributions]
        self.inputs = [np.asarray(x) for x in inputs]
        self.targets = np.asarray(targets)
        self.predictions = np.asarray(predictions)
        self.image_shapes = [tuple(int(s) for s in shape) for shape in image_shapes]
        self.image_shape = self.image_shapes[0]
        self.params = dict(params or {})
        self.timings = dict(timings or {})
        self.meta = dict(meta or {})
        for i, (a, x) in enumerate(zip(self.attributions, self.inputs)):
            if a.shape != x.shape:
                raise ValueError("attributions[%d]: expected the shape of inputs[%d] %s, got %s"
                                 % (i, i, x.shape, a.shape))

    @property
    def n_inputs(self):
        return len(self.attributions)

    def _check_input(self, input):
        if not isinstance(input, (int, np.integer)) or isinstance(input, bool) or not 0 <= input < self.n_inputs:
            raise ValueError("input: expected an input index 0..%d, got %r" % (self.n_inputs - 1, input))
        return int(input)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("this Explanation holds %d attribution arrays (one per model input); use "
                        "exp.attributions[i]" % self.n_inputs)

    @property
    def shape(self):
        """Shapes of the attribution arrays, one per input."""
        return [a.shape for a in self.attributions]

    def __len__(self):
        return len(self.targets)

    def heatmap(self, reduce="sum", input=0):
        """Attributions of input ``input`` as images, channels reduced: (N, H, W)."""
        i = self._check_input(input)
        single = Explanation(self.method, self.attributions[i], self.inputs[i], self.targets, self.predictions,
                             self.image_shapes[i])
        return single.heatmap(reduce)

    def images(self, input=0):
        """Input ``input`` as images, shape (N, H, W, C)."""
        i = self._check_input(input)
        return self.inputs[i].reshape((len(self),) + self.image_shapes[i])

    def save(self, path):
        raise TypeError("save: explanations of multi-input models are not written to .npz; save "
                        "exp.attributions[i] yourself")

    def __repr__(self):
        return "MultiInputExplanation(method=%r, n=%d, inputs=%d, shapes=%s)" % (
            self.method, len(self), self.n_inputs, [a.shape[1:] for a in self.attributions])
