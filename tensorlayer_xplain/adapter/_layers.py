"""Layer discovery: walking nested TensorLayer and Keras layers, finding one by name, the call order."""
import tensorflow as tf
import tensorlayer as tl

from ._common import _describe
from ._compile import SHAPE_ERROR, TRACE_ERRORS


def _walk_tl(obj, seen):
    """Yield the TL layers and sub-models under ``obj`` (depth first, definition order)."""
    children = []
    if isinstance(obj, tl.models.Model):
        children = list(obj.all_layers)
    elif isinstance(obj, tl.layers.ModelLayer):
        children = list(obj.model.all_layers)
    elif isinstance(obj, tl.layers.LayerList):
        children = list(obj.layers)
    if isinstance(obj, tl.layers.Layer) and not isinstance(obj, (tl.layers.LayerList, tl.layers.ModelLayer)):
        # custom layers may hold sub-layers as attributes (e.g. an attention block)
        for value in vars(obj).values():
            if isinstance(value, (tl.layers.Layer, tl.models.Model)):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(v for v in value if isinstance(v, (tl.layers.Layer, tl.models.Model)))
    for child in children:
        if id(child) in seen:
            continue
        seen.add(id(child))
        yield child
        yield from _walk_tl(child, seen)


def _is_container(layer):
    """A layer that only groups other layers (its output is also a child's output)."""
    if isinstance(layer, (tl.layers.LayerList, tl.layers.ModelLayer, tl.models.Model)):
        return True
    return bool(getattr(layer, "layers", None)) and not isinstance(layer, tl.layers.Layer)


def _walk_keras(obj, seen):
    for child in getattr(obj, "layers", []) or []:
        if id(child) in seen:
            continue
        seen.add(id(child))
        yield child
        yield from _walk_keras(child, seen)


def iter_layers(adapter):
    """All layers of the model, nested ones included (definition order).

    Walked once per adapter (a built model's layers do not change) and then reused:
    every call in inference mode needs them.
    """
    if adapter._layers is None:
        if adapter.kind in ("tl_static", "tl_dynamic"):
            adapter._layers = list(_walk_tl(adapter.model, {id(adapter.model)}))
        elif adapter.kind == "keras":
            adapter._layers = list(_walk_keras(adapter.model, {id(adapter.model)}))
        else:
            adapter._layers = []
    return list(adapter._layers)


def layer_names(adapter):
    """Names of all layers, nested ones included."""
    return [layer.name for layer in adapter.iter_layers()]


def layer(adapter, name):
    """Find a layer by name, searching nested ``LayerList``/``ModelLayer``/sub-models.

    Raises
    ------
    KeyError
        Naming the unknown layer and listing the available names.
    """
    if adapter.kind == "callable":
        from ._common import needs_layers

        raise needs_layers("finding a layer by name (layer_name=%r)" % (name,))
    if not isinstance(name, str):
        raise TypeError("layer_name: expected a str, got %s" % _describe(name))
    for layer in adapter.iter_layers():
        if layer.name == name:
            return layer
    raise KeyError("layer_name: no layer named %r; available layers: %s" % (name, ", ".join(adapter.layer_names())))


def layer_call_order(adapter):
    """``[(name, output_shape_without_batch), ...]`` of every layer, in the order called.

    Needed because a dynamic TL model lists its layers alphabetically. Found
    once with one forward pass of a zero sample, then cached.
    """
    if adapter._call_order is None:
        if adapter._input_bytes() is None:
            raise ValueError("inputs: the model's input shape is not known yet; explain a batch first")
        layers = adapter.iter_layers()
        records, order = {}, []
        with adapter.inference_mode(), adapter._recording(layers, records, order):
            if adapter.kind == "callable":
                adapter._raw_call(adapter._zero_sample())
            else:
                # traced, not run: only shapes are needed, and an input that does not fit the model
                # raises a Python error here where an eager conv2d of the wrong rank aborts the process;
                # a model that cannot be traced at all gets the eager pass
                sample = adapter._zero_sample()
                try:
                    tf.function(adapter._raw_call).get_concrete_function(sample)
                except TRACE_ERRORS as err:
                    if SHAPE_ERROR.search(str(err)):
                        raise
                    records.clear()
                    order.clear()
                    adapter._raw_call(sample)
        adapter._call_order = [
            (name, tuple(records[name].shape[1:]))
            for name in order
            if hasattr(records[name], "shape")
        ]
    return list(adapter._call_order)
