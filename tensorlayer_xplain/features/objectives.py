"""Objectives of feature visualization: what an optimised image should make the model do.

An :class:`Objective` is a weighted sum of *terms*, each read from the model's output or from one
layer's output on the image being optimised:

==========================  ===============================================================  =============
term                        value for one image (``A``: the layer's output for that image)   needs
==========================  ===============================================================  =============
``class_logit(k)``          the model's score of class ``k`` (a logit unless the adapter     the output
                            returns probabilities)
``neuron(layer, i)``        one unit: ``A[i]`` on a vector output; on a map ``(h, w, C)``,   any layer
                            channel ``i`` at the centre position (as Lucid), or ``A[y, x,
                            c]`` for ``i = (y, x, c)``
``channel(layer, c)``       ``mean_{y,x} A[y, x, c]``, the mean of channel ``c``'s map       channels
``layer(layer)``            ``mean(A ** 2)``, DeepDream's objective                          any layer
``direction(layer, v)``     ``mean_{y,x} <A[y, x, :], v>`` (a vector of the layer's          any layer
                            channel count; on a vector output ``<A, v>``)
``diversity(layer)``        the mean cosine similarity of this image's Gram matrix           channels
                            ``G = A^T A / (h w)`` with those of the other images optimised
                            for the same objective (Lucid's diversity, a penalty: subtract
                            it; 0 for a single image)
==========================  ===============================================================  =============

Objectives compose: ``channel('conv2', 3) - 0.5 * diversity('conv2')``, ``a + b``, ``2 * a``,
``a / 4``. The value of ``a + b`` is the value of ``a`` plus the value of ``b``. A list of objectives
with the same shape (the same kinds of terms on the same layers, e.g. every channel of a layer) is
optimised in one batch, its indices, vectors and weights fed to one compiled loop as tensors.
"""
import numbers

import numpy as np
import tensorflow as tf

__all__ = ["Objective", "class_logit", "neuron", "channel", "layer", "direction", "diversity", "as_objective_list"]

#: Term kinds that read a layer's output, and those that need a channel axis (a map (h, w, C) or (T, C)).
LAYER_KINDS = ("neuron", "channel", "layer", "direction", "diversity")
CHANNEL_KINDS = ("channel", "diversity")
#: The largest weight magnitude of a term (the loop is in float32).
MAX_WEIGHT = 1e6


def _check_index(value, name):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 0:
        raise TypeError("%s: expected a non-negative int, got %r" % (name, value))
    return int(value)


def _check_layer_name(value):
    if not isinstance(value, str) or not value:
        raise TypeError("layer_name: expected a layer name (non-empty str), got %r" % (value,))
    return value


class _Term:
    """One primitive term: ``kind``, the layer it reads (None for the model output) and its argument."""

    __slots__ = ("kind", "layer", "arg")

    def __init__(self, kind, layer, arg):
        self.kind, self.layer, self.arg = kind, layer, arg

    def signature(self):
        """What must be equal for two terms to share a compiled loop (vectors: their length)."""
        if self.kind == "direction":
            return (self.kind, self.layer, len(self.arg))
        if self.kind == "neuron":
            return (self.kind, self.layer, isinstance(self.arg, tuple))
        return (self.kind, self.layer)

    def describe(self):
        if self.kind == "class_logit":
            return "class_logit(%d)" % self.arg
        if self.kind in ("layer", "diversity"):
            return "%s(%r)" % (self.kind, self.layer)
        if self.kind == "direction":
            return "direction(%r, <%d values>)" % (self.layer, len(self.arg))
        return "%s(%r, %r)" % (self.kind, self.layer, self.arg)


class Objective:
    """A weighted sum of terms, maximised by :func:`~tensorlayer_xplain.feature_visualization`.

    Build one with the functions of this module (``class_logit``, ``neuron``, ``channel``,
    ``layer``, ``direction``, ``diversity``) and combine with ``+``, ``-``, ``*`` and ``/`` by
    numbers.

    Attributes
    ----------
    terms : tuple of (float, term)
        The weights and terms, in the order written.

    Examples
    --------
    >>> from tensorlayer_xplain import objectives
    >>> obj = objectives.channel('conv2', 3) - 0.5 * objectives.diversity('conv2')
    >>> obj
    Objective(channel('conv2', 3) - 0.5 * diversity('conv2'))
    >>> len(obj.terms)
    2
    """

    __array_priority__ = 1000  # numpy scalars on the left call our __rmul__

    def __init__(self, terms):
        self.terms = tuple(terms)

    # --- composition
    def __add__(self, other):
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return self  # sum([...]) starts from 0
        if not isinstance(other, Objective):
            raise TypeError("objective: can add only another Objective, got %s" % type(other).__name__)
        return Objective(self.terms + other.terms)

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Objective):
            raise TypeError("objective: can subtract only another Objective, got %s" % type(other).__name__)
        return self + (-other)

    def __mul__(self, factor):
        if isinstance(factor, bool) or not isinstance(factor, (numbers.Real, np.floating, np.integer)):
            raise TypeError("objective: can multiply only by a real number, got %s" % type(factor).__name__)
        factor = float(factor)
        if not np.isfinite(factor):
            raise ValueError("objective: expected a finite weight, got %r" % factor)
        terms = tuple((w * factor, t) for w, t in self.terms)
        if any(abs(w) > MAX_WEIGHT for w, _ in terms):
            raise ValueError("objective: a term's weight is above %g in magnitude (got %r)"
                             % (MAX_WEIGHT, max(abs(w) for w, _ in terms)))
        return Objective(terms)

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        if isinstance(divisor, bool) or not isinstance(divisor, (numbers.Real, np.floating, np.integer)) \
                or divisor == 0:
            raise TypeError("objective: can divide only by a non-zero real number, got %r" % (divisor,))
        return self * (1.0 / float(divisor))

    # --- description
    def __repr__(self):
        parts = []
        for i, (w, t) in enumerate(self.terms):
            sign = "-" if w < 0 else "+"
            mag = abs(w)
            text = t.describe() if mag == 1 else "%g * %s" % (mag, t.describe())
            parts.append(("-" + text if sign == "-" else text) if i == 0 else "%s %s" % (sign, text))
        return "Objective(%s)" % " ".join(parts)

    def structure(self):
        """The terms' signatures (kinds, layers, vector lengths): objectives with the same structure share a
        compiled loop."""
        return tuple(t.signature() for _, t in self.terms)

    def layers(self):
        """Names of the layers the objective reads, in order, without repeats."""
        return list(dict.fromkeys(t.layer for _, t in self.terms if t.layer is not None))


def _single(kind, layer_name, arg):
    return Objective([(1.0, _Term(kind, layer_name, arg))])


def class_logit(index):
    """The model's score of class ``index`` (its logit, unless the adapter returns probabilities).

    Parameters
    ----------
    index : int
        Class index, ``0 <= index < K``.

    Returns
    -------
    Objective

    Examples
    --------
    >>> class_logit(3)
    Objective(class_logit(3))
    """
    return _single("class_logit", None, _check_index(index, "index"))


def neuron(layer_name, index):
    """One unit of a layer's output.

    Parameters
    ----------
    layer_name : str
    index : int or tuple of int
        On a vector output ``(N, U)``: the unit. On a map ``(N, h, w, C)``: an int is a channel, read at
        the centre position ``(h // 2, w // 2)`` (Lucid's neuron); a tuple ``(y, x, c)`` (one index per
        axis after the batch) is that exact unit.

    Returns
    -------
    Objective

    Examples
    --------
    >>> neuron('dense1', 7), neuron('conv2', (3, 3, 5))
    (Objective(neuron('dense1', 7)), Objective(neuron('conv2', (3, 3, 5))))
    """
    layer_name = _check_layer_name(layer_name)
    if isinstance(index, (tuple, list)):
        if not index:
            raise TypeError("index: expected an int or a non-empty tuple of ints, got %r" % (index,))
        arg = tuple(_check_index(i, "index") for i in index)
    else:
        arg = _check_index(index, "index")
    return _single("neuron", layer_name, arg)


def channel(layer_name, index):
    """The mean of channel ``index`` of a layer's output map, ``mean_{y,x} A[y, x, index]``.

    Parameters
    ----------
    layer_name : str
        A layer with channels: output ``(N, h, w, C)`` (or ``(N, T, C)``).
    index : int

    Returns
    -------
    Objective

    Examples
    --------
    >>> [channel('conv1', c) for c in range(2)]   # one image per channel, in one batch
    [Objective(channel('conv1', 0)), Objective(channel('conv1', 1))]
    """
    return _single("channel", _check_layer_name(layer_name), _check_index(index, "index"))


def layer(layer_name):
    """DeepDream: the mean of the squared output of a layer, ``mean(A ** 2)``.

    Examples
    --------
    >>> layer('conv2')
    Objective(layer('conv2'))
    """
    return _single("layer", _check_layer_name(layer_name), None)


def direction(layer_name, vector):
    """The mean projection of a layer's activation vectors on ``vector``: ``mean_{y,x} <A[y, x, :], v>``.

    Parameters
    ----------
    layer_name : str
    vector : array-like, shape (C,)
        One value per channel of the layer (finite; e.g. a concept activation vector).

    Examples
    --------
    >>> direction('conv2', [1.0, -1.0, 0.0])
    Objective(direction('conv2', <3 values>))
    """
    layer_name = _check_layer_name(layer_name)
    try:
        v = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError("vector: expected a 1-D array of numbers, got %s" % type(vector).__name__) from None
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise ValueError("vector: expected a non-empty 1-D array of finite numbers, got shape %s" % (v.shape,))
    return _single("direction", layer_name, tuple(float(x) for x in v))


def diversity(layer_name):
    """Similarity of the images optimised for the same objective, to subtract: the mean cosine similarity of
    each image's Gram matrix at ``layer_name`` with the others' (Lucid's diversity, Olah et al., 2017;
    Lucid sums over the others and divides by the batch size, this is the mean over the others). Use it
    as ``objective - weight * diversity(layer)`` with ``images_per_objective > 1``.

    Examples
    --------
    >>> channel('conv2', 0) - 0.5 * diversity('conv2')
    Objective(channel('conv2', 0) - 0.5 * diversity('conv2'))
    """
    return _single("diversity", _check_layer_name(layer_name), None)


def as_objective_list(objective):
    """``(list of Objective, single)``: one objective or a non-empty list of them.

    Raises
    ------
    TypeError
        Anything else, naming ``objective``.
    """
    if isinstance(objective, Objective):
        return [objective], True
    if isinstance(objective, (list, tuple)) and objective and all(isinstance(o, Objective) for o in objective):
        return list(objective), False
    raise TypeError("objective: expected an Objective (e.g. tlxp.objectives.channel('conv1', 0)) or a non-empty "
                    "list of them, got %r" % (objective if not isinstance(objective, (list, tuple)) else
                                              [type(o).__name__ for o in objective],))


# --------------------------------------------------------------------------- resolution against a model
class ResolvedGroup:
    """Objectives of one structure, checked against a model and turned into arrays (one row per objective).

    Attributes
    ----------
    structure : tuple
    weights : ndarray, float32 (n, n_terms)
    args : list of ndarray
        Per term: int32 (n,) indices (``class_logit``, ``neuron``, ``channel``), float32 (n, C) vectors
        (``direction``), or None (``layer``, ``diversity``).
    positions : list of int
        Where each objective sits in the caller's list.
    """

    def __init__(self, structure, weights, args, positions):
        self.structure, self.weights, self.args, self.positions = structure, weights, args, positions


def _term_arg(term, shapes, n_classes):
    """The term's argument as a number or vector, after checking it against the layer's output shape."""
    if term.kind == "class_logit":
        if n_classes is not None and term.arg >= n_classes:
            raise ValueError("index: class_logit(%d) is out of range for a model with %d outputs"
                             % (term.arg, n_classes))
        return term.arg
    if term.layer not in shapes:
        raise ValueError("layer_name: layer %r is not called in the model's forward pass" % term.layer)
    shape = shapes[term.layer]
    text = "(N, %s)" % ", ".join(map(str, shape))
    if term.kind in CHANNEL_KINDS and len(shape) < 2:
        raise ValueError("objective: %s needs a layer output with channels, (N, H, W, C) or (N, T, C); "
                         "layer %r outputs %s (use neuron(%r, i) for one unit of it)"
                         % (term.describe(), term.layer, text, term.layer))
    if term.kind == "channel":
        if term.arg >= shape[-1]:
            raise ValueError("index: %s is out of range: layer %r has %d channels" % (term.describe(), term.layer,
                                                                                    shape[-1]))
        return term.arg
    if term.kind == "direction":
        if len(term.arg) != shape[-1]:
            raise ValueError("vector: %s has %d values but layer %r has %d channels (output %s)"
                             % (term.describe(), len(term.arg), term.layer, shape[-1], text))
        return np.asarray(term.arg, np.float32)
    if term.kind == "neuron":
        if isinstance(term.arg, tuple):
            if len(term.arg) != len(shape) or any(i >= s for i, s in zip(term.arg, shape)):
                raise ValueError("index: %s does not fit layer %r's output %s" % (term.describe(), term.layer, text))
            return int(np.ravel_multi_index(term.arg, shape))
        if term.arg >= shape[-1]:
            raise ValueError("index: %s is out of range: layer %r has %d %s" % (
                term.describe(), term.layer, shape[-1], "units" if len(shape) == 1 else "channels"))
        centre = tuple(s // 2 for s in shape[:-1]) + (term.arg,)
        return int(np.ravel_multi_index(centre, shape))
    return None


def resolve(objectives, shapes, n_classes):
    """Group objectives by structure and check each against the model.

    Parameters
    ----------
    objectives : list of Objective
    shapes : dict of str -> tuple
        Each layer's output shape without the batch axis (the adapter's call order).
    n_classes : int or None

    Returns
    -------
    list of ResolvedGroup
    """
    groups = {}
    for pos, obj in enumerate(objectives):
        groups.setdefault(obj.structure(), []).append(pos)
    resolved = []
    for structure, positions in groups.items():
        n_terms = len(structure)
        weights = np.zeros((len(positions), n_terms), np.float32)
        per_term = [[] for _ in range(n_terms)]
        for row, pos in enumerate(positions):
            for t, (w, term) in enumerate(objectives[pos].terms):
                weights[row, t] = w
                per_term[t].append(_term_arg(term, shapes, n_classes))
        args = []
        for t, values in enumerate(per_term):
            kind = structure[t][0]
            if kind in ("layer", "diversity"):
                args.append(None)
            elif kind == "direction":
                args.append(np.stack(values).astype(np.float32))
            else:
                args.append(np.asarray(values, np.int32))
        resolved.append(ResolvedGroup(structure, weights, args, positions))
    return resolved


# --------------------------------------------------------------------------- values in the graph
def _spatial_mean(acts):
    """``(B, C)``: the mean over every axis between the batch and the channels (identity on (B, C))."""
    return tf.reduce_mean(acts, axis=list(range(1, acts.shape.rank - 1))) if acts.shape.rank > 2 else acts


def _diversity(acts, group_size):
    b = tf.shape(acts)[0]
    c = tf.shape(acts)[-1]
    flat = tf.reshape(acts, (b, -1, c))
    gram = tf.einsum("bpi,bpj->bij", flat, flat) / tf.cast(tf.shape(flat)[1], acts.dtype)
    gram = tf.math.l2_normalize(tf.reshape(gram, (b, -1)), axis=1)
    if group_size < 2:
        return tf.zeros((b,), acts.dtype)
    grouped = tf.reshape(gram, (-1, group_size, tf.shape(gram)[1]))
    sim = tf.einsum("gkd,gld->gkl", grouped, grouped)
    others = (tf.reduce_sum(sim, axis=2) - tf.linalg.diag_part(sim)) / float(group_size - 1)
    return tf.reshape(others, (b,))


def term_values(structure, args, acts, scores, group_size):
    """``(B, n_terms)`` values of each term for each row (graph code).

    Parameters
    ----------
    structure : tuple
    args : list of tf.Tensor or None
        Per-row arguments, as :class:`ResolvedGroup` but with one row per image.
    acts : dict of str -> tf.Tensor
        Captured layer outputs ``(B, ...)``.
    scores : tf.Tensor (B, K)
    group_size : int
        Images per objective (consecutive rows), for ``diversity``.
    """
    cols = []
    for (kind, name, *_), arg in zip(structure, args):
        if kind == "class_logit":
            cols.append(tf.gather(scores, arg, batch_dims=1))
            continue
        a = tf.cast(acts[name], tf.float32)
        b = tf.shape(a)[0]
        if kind == "neuron":
            cols.append(tf.gather(tf.reshape(a, (b, -1)), arg, batch_dims=1))
        elif kind == "channel":
            cols.append(tf.gather(_spatial_mean(a), arg, batch_dims=1))
        elif kind == "layer":
            cols.append(tf.reduce_mean(tf.reshape(a * a, (b, -1)), axis=1))
        elif kind == "direction":
            flat = tf.reshape(a, (b, -1, tf.shape(a)[-1]))
            cols.append(tf.reduce_mean(tf.einsum("bpc,bc->bp", flat, arg), axis=1))
        elif kind == "diversity":
            cols.append(_diversity(a, group_size))
        else:  # pragma: no cover - structures come from this module
            raise ValueError("objective: unknown term kind %r" % kind)
    return tf.stack(cols, axis=1)
