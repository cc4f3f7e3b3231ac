"""Calling the model in inference mode: eval flags set and restored, raw output, scores, predictions."""
import contextlib

import tensorflow as tf

from ._common import _MISSING

#: Allowed values of ``output``: the raw model output, or its softmax.
OUTPUT_KINDS = ("logits", "probabilities")


def mode_holders(adapter):
    if adapter.kind not in ("tl_static", "tl_dynamic"):
        return []
    return [adapter.model] + adapter.iter_layers()


@contextlib.contextmanager
def inference_mode(adapter):
    """Run the block with the model in eval mode; restore every layer's flag afterwards.

    Also serializes model calls across threads (mode flags are shared state).
    """
    with adapter._lock:
        holders = adapter._mode_holders()
        saved = [(obj, vars(obj).get("is_train", _MISSING)) for obj in holders]
        try:
            if holders:
                adapter.model.is_train = None  # force eval() to reset every layer
                adapter.model.eval()
            yield
        finally:
            for obj, flag in saved:
                if flag is _MISSING:
                    vars(obj).pop("is_train", None)
                else:
                    obj.is_train = flag


def raw_call(adapter, x):
    if adapter.kind in ("tl_static", "tl_dynamic"):
        out = adapter.model(x)
    elif adapter.kind == "keras":
        out = adapter.model(x, training=False)
    else:
        out = adapter.model(x)
    if isinstance(out, (list, tuple)):
        raise TypeError("model: expected a single output tensor (N, K), got %d outputs" % len(out))
    return out


def scores(adapter, x):
    """Differentiable scores ``(N, K)`` of a batch tensor: logits or probabilities.

    For use inside a ``GradientTape`` or a compiled step (see :meth:`compiled`);
    call inside :meth:`inference_mode`.
    """
    out = tf.convert_to_tensor(adapter._raw_call(x))
    out = tf.reshape(tf.cast(out, tf.float32), (tf.shape(out)[0], -1))
    if adapter.output == "probabilities":
        out = tf.nn.softmax(out, axis=-1)
    return out


def predict_step(adapter, x):
    return adapter.scores(x)


def predict(adapter, inputs, batch_size=None):
    """Scores of a batch, computed in batches of ``batch_size``.

    Parameters
    ----------
    inputs : array-like, shape (N, *input_shape) or (N, *image_shape)

    Returns
    -------
    ndarray, float32, shape (N, K)
    """
    x, _ = adapter.prepare(inputs)
    step = adapter.compiled("predict", adapter._predict_step, rows=(0,))
    with adapter.inference_mode():
        out = adapter.map_batches(lambda b: step(tf.constant(b)).numpy(), x, batch_size=adapter.batch_rows(batch_size))
    adapter.n_classes = out.shape[1]
    return out
