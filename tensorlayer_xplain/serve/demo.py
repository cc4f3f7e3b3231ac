"""An interactive Gradio demo (extra ``app``): pick or draw a digit, choose methods, compare the maps.

``build_demo(explainer)`` returns a ``gradio.Blocks``; call ``.launch()`` on it
to serve it (by default on 127.0.0.1). The request handling is the HTTP
service's (:class:`~tensorlayer_xplain.serve.ExplainService`): the same
validation, the same shared cache and the same per-explainer lock, so a demo
and an API built on one explainer can run side by side.

Drawings are turned into MNIST-style inputs by :func:`sketch_to_image`: dark
strokes on a light (or transparent) canvas become a light digit on black,
cropped to its bounding box, scaled to fit 20/28 of the image and centred on
its centre of mass, as the MNIST digits were prepared (LeCun et al., 1998).

Examples
--------
>>> import tensorlayer_xplain as tlxp
>>> from tensorlayer_xplain.app import build_demo
>>> explainer = tlxp.ModelExplainer(model, methods=['gradient', 'gradcam', 'integrated_gradients'])
>>> # opens a web server and blocks until it is stopped
>>> build_demo(explainer).launch()                                         # doctest: +SKIP
"""
import numpy as np

from .._utils.drawing import class_label, draw_heatmap, draw_image, prediction_title
from ..adapter.pixels import MAX_IMAGE_PIXELS, open_image_bounded
from .api import MAX_UPLOAD_BYTES, ExplainService
from .encode import _softmax
from .errors import RequestError, _import_or_hint

__all__ = ["build_demo", "sketch_to_image", "decode_drawing", "explain_image", "maps_figure", "default_examples"]

_APP_HINT = "pip install 'tensorlayer-xplain[app]' (gradio)"


def _import_gradio():
    return _import_or_hint("gradio", _APP_HINT)


def default_examples(image_shape, n=12):
    """``n`` MNIST test digits from the sample shipped with the package, for 28x28 gray models.

    Parameters
    ----------
    image_shape : tuple of int
        The model's ``(H, W, C)``.
    n : int

    Returns
    -------
    ndarray, float32, shape (n, 28, 28, 1), or None when ``image_shape`` is not (28, 28, 1).

    Examples
    --------
    >>> default_examples((28, 28, 1), n=4).shape
    (4, 28, 28, 1)
    """
    if tuple(image_shape) != (28, 28, 1):
        return None
    from ..datasets import _load_sample

    x_test = _load_sample()[4]
    return (x_test[:n].astype(np.float32) / np.float32(256.0)).reshape(-1, 28, 28, 1)


def _ink(value):
    """Stroke intensity in [0, 1], (H, W), from a Sketchpad value or an image array."""
    if isinstance(value, dict):  # gradio ImageEditor/Sketchpad: {'background', 'layers', 'composite'}
        if value.get("error"):
            raise ValueError(value["error"])
        value = value.get("composite")
    if value is None:
        raise ValueError("sketch: expected a drawing, got nothing; draw a digit first")
    image = np.asarray(value, dtype=np.float32)
    if image.ndim not in (2, 3):
        raise ValueError("sketch: expected an image (H, W) or (H, W, C), got shape %s" % (image.shape,))
    if image.max() > 1:
        image = image / 255.0
    if image.ndim == 2:
        return 1.0 - image  # gray: dark strokes on white
    if image.shape[-1] == 4:  # RGBA: transparent background; strokes are opaque and dark
        rgb, alpha = image[..., :3], image[..., 3]
        return np.clip(alpha * (1.0 - rgb.mean(-1)), 0, 1)
    return 1.0 - image[..., :3].mean(-1)


def sketch_to_image(value, image_shape=(28, 28, 1), box=20):
    """A drawing as a model input: a light digit on black, MNIST-style.

    Parameters
    ----------
    value : dict or ndarray
        A Gradio Sketchpad value (``composite`` is used) or an image array
        ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` (uint8 or [0, 1]) with dark
        strokes on a light or transparent canvas.
    image_shape : tuple of int
        ``(H, W, C)`` of the model's images.
    box : int
        Side of the square the digit's bounding box is scaled into (MNIST: 20 of 28).

    Returns
    -------
    ndarray, float32, shape image_shape, values in [0, 1]

    Raises
    ------
    ValueError
        When nothing was drawn.

    Examples
    --------
    >>> canvas = np.full((280, 280), 255, np.uint8); canvas[60:220, 130:150] = 0   # a "1"
    >>> digit = sketch_to_image(canvas)
    >>> digit.shape, float(digit.max()) > 0.9
    ((28, 28, 1), True)
    """
    from PIL import Image

    h, w, c = image_shape
    ink = _ink(value)
    rows, cols = np.nonzero(ink > 0.1)
    if rows.size == 0:
        raise ValueError("sketch: the canvas is empty; draw a digit first")
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = min(box, h, w) / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float32) / 255
    out = np.zeros((h, w), np.float32)
    top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    total = out.sum()
    if total > 0:  # centre of mass to the centre, as MNIST
        yy, xx = np.indices(out.shape)
        dy = int(round((h - 1) / 2 - (yy * out).sum() / total))
        dx = int(round((w - 1) / 2 - (xx * out).sum() / total))
        out = np.roll(out, (dy, dx), axis=(0, 1))
    return np.repeat(np.clip(out, 0, 1)[..., None], c, axis=-1)


#: Drawings are reduced (a cheap box average) to at most this side before anything else is done with them.
DRAWING_SIDE = 560


def decode_drawing(file, max_bytes=MAX_UPLOAD_BYTES, max_pixels=MAX_IMAGE_PIXELS, side=DRAWING_SIDE):
    """A drawn or uploaded image as an RGBA array, bounded before it is decoded.

    The same rule as the HTTP service: the file's bytes are checked against its
    ``max_upload_bytes`` and its pixels from the header
    (:func:`~tensorlayer_xplain.pixels.open_image_bounded`) before decoding; an
    image larger than ``side`` is then reduced by an integer factor (box average).

    Parameters
    ----------
    file : str, bytes or gradio.FileData
        The composite image of a Sketchpad (a path Gradio stored it at) or its content.
    max_bytes, max_pixels : int
    side : int

    Returns
    -------
    ndarray, uint8, shape (H, W, 4), ``max(H, W) <= side``

    Raises
    ------
    ValueError
        Too many bytes or pixels, or not an image.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGBA", (1400, 1400), "white").save(buf, "PNG")
    >>> decode_drawing(buf.getvalue()).shape
    (467, 467, 4)
    """
    source = getattr(file, "path", file)
    with open_image_bounded(source, max_bytes, max_pixels, name="sketch") as im:
        factor = -(-max(im.size) // side)
        image = im.reduce(factor) if factor > 1 else im
        return np.asarray(image.convert("RGBA"))


def _bound_sketchpad(sketchpad):
    """Make ``sketchpad`` decode only its composite image, bounded by :func:`decode_drawing`, instead of
    Gradio's preprocessing (which decodes the background, every layer and the composite at full size)."""

    def preprocess(payload):
        if payload is None:
            return None
        if getattr(payload, "id", None) is not None:  # a payload sent in pieces: Gradio assembled it
            cached = sketchpad.blob_storage.pop(payload.id, None)
            composite = getattr(cached, "composite", None)
        else:
            composite = payload.composite
        if composite is None:
            return {"background": None, "layers": [], "composite": None}
        try:
            return {"background": None, "layers": [], "composite": decode_drawing(composite)}
        except ValueError as err:
            return {"background": None, "layers": [], "composite": None, "error": str(err)}

    sketchpad.preprocess = preprocess
    return sketchpad


def maps_figure(explanations, class_names=None, width=2.6):
    """One row: the input with its prediction, then each method's map with a colorbar.

    Parameters
    ----------
    explanations : dict of str -> Explanation
        Explanations of the same single input.
    class_names : sequence of str, optional
    width : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot (nothing to close; safe in server threads).

    Examples
    --------
    >>> exp_g, exp_c = tlxp.explain(model, x[:1], 'gradient'), tlxp.explain(model, x[:1], 'gradcam')
    >>> fig = maps_figure({'gradient': exp_g, 'gradcam': exp_c})
    """
    from matplotlib.figure import Figure

    names = list(explanations)
    first = explanations[names[0]]
    fig = Figure(figsize=(width * (len(names) + 1), width * 1.05), layout="constrained")
    axes = fig.subplots(1, len(names) + 1, squeeze=False)[0]
    draw_image(axes[0], first.images()[0], prediction_title(first.predictions[0], None, class_names))
    for ax, name in zip(axes[1:], names):
        exp = explanations[name]
        target = int(exp.targets[0])
        title = "%s\ntarget %s" % (name, class_label(target, class_names) if target >= 0 else "custom")
        draw_heatmap(ax, exp.heatmap()[0], exp.meta.get("signed", False), title)
    return fig


def explain_image(service, image, methods, target=None):
    """Explain one image with several methods through the service.

    Parameters
    ----------
    service : ExplainService
    image : ndarray
        One input, ``image_shape`` or the model's input shape.
    methods : list of str
        Enabled method names.
    target : int or None
        Class to explain; None explains the predicted class.

    Returns
    -------
    probabilities : dict of str -> float
        Class label -> probability (for ``gradio.Label``).
    figure : matplotlib.figure.Figure or None
        :func:`maps_figure` of the methods' maps (None when no method is chosen).

    Raises
    ------
    ValueError
        Invalid input, method or target, with the service's message.

    Examples
    --------
    >>> probs, fig = explain_image(ExplainService(explainer), x_test[0], ['gradient', 'gradcam'])
    """
    class_names = service.explainer.class_names
    try:
        x = service.inputs(image)
        if not methods:
            scores = service.adapter.predict(x)
            explanations = {}
        else:
            explanations = {m: service.explanation(x, m, target) for m in methods}
            scores = explanations[methods[0]].predictions
    except RequestError as err:
        raise ValueError(err.message) from None
    probs = scores[0] if service.adapter.output == "probabilities" else _softmax(scores)[0]
    labels = {class_label(i, class_names): float(p) for i, p in enumerate(probs)}
    return labels, (maps_figure(explanations, class_names) if explanations else None)


def _thumbnail(image, scale=4):
    """uint8 image (H*scale, W*scale[, 3]) for the example gallery."""
    image = np.asarray(image, np.float32)
    image = image[..., 0] if image.shape[-1] == 1 else image
    big = np.kron(image, np.ones((scale, scale) + (1,) * (image.ndim - 2), np.float32))
    return (np.clip(big, 0, 1) * 255).astype(np.uint8)


def build_demo(explainer, examples=None, methods=None, title="tensorlayer-xplain: why this digit?"):
    """Build the Gradio demo (not launched).

    Parameters
    ----------
    explainer : ModelExplainer
        Serves every interaction (its cache is shared).
    examples : array-like (N, *image_shape), optional
        Inputs offered in a clickable gallery; default: 12 MNIST test digits
        from the package's sample when the model takes 28x28x1 images.
    methods : list of str, optional
        Methods offered (those of them that apply to the model); default ``explainer.methods``.
        The first two are preselected.
    title : str

    Returns
    -------
    gradio.Blocks
        Call ``.launch()`` to serve it.

    Raises
    ------
    ImportError
        When Gradio is missing, telling how to install the ``app`` extra.

    Examples
    --------
    >>> demo = build_demo(tlxp.ModelExplainer(model, methods=['gradient', 'gradcam']))
    >>> # opens a web server and blocks until it is stopped
    >>> demo.launch(server_name='127.0.0.1')                                           # doctest: +SKIP
    """
    gr = _import_gradio()
    service = ExplainService(explainer, methods=methods)
    image_shape = tuple(service.adapter.image_shape)
    if examples is None:
        examples = default_examples(image_shape)
    examples = [] if examples is None else [np.asarray(service.inputs(e)[0], np.float32).reshape(image_shape)
                                            for e in examples]
    class_names = explainer.class_names
    adapter = service.adapter
    n_classes = adapter.n_classes or adapter.predict(np.zeros((1,) + adapter.input_shape)).shape[1]
    target_choices = ["predicted class"] + [class_label(i, class_names) for i in range(n_classes)]

    def run(image, chosen, target):
        if image is None:
            return None, None, "Pick a test digit or draw one."
        index = target_choices.index(target) - 1 if target in target_choices else -1
        try:
            labels, figure = explain_image(service, image, list(chosen or []), None if index < 0 else index)
        except ValueError as err:
            return None, None, "**Error:** %s" % err
        return labels, figure, "" if chosen else "Choose at least one method to see maps."

    def pick(chosen, target, evt: gr.SelectData):
        image = examples[evt.index]
        return (image, _thumbnail(image, 8)) + run(image, chosen, target)

    def use_drawing(sketch, chosen, target):
        try:
            image = sketch_to_image(sketch, image_shape)
        except ValueError as err:
            return None, None, None, None, "**Error:** %s" % err
        return (image, _thumbnail(image, 8)) + run(image, chosen, target)

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown("## %s\nPick a test digit or draw one, choose methods, and compare where each method "
                    "says the model looked." % title)
        current = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Pick a test digit"):
                    gallery = gr.Gallery(value=[_thumbnail(e) for e in examples], columns=3, height="auto",
                                         allow_preview=False, label="Click a digit", type="numpy")
                with gr.Tab("Draw a digit"):
                    sketch = _bound_sketchpad(gr.Sketchpad(
                        canvas_size=(280, 280), type="numpy", image_mode="RGBA",
                        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
                        label="Pick the brush (left), then draw a digit"))
                    draw_button = gr.Button("Explain the drawing", variant="primary")
                # the methods that apply to the model (GET /methods lists the same)
                chosen = gr.CheckboxGroup(service.applicable, value=service.applicable[:2], label="Methods")
                target = gr.Dropdown(target_choices, value=target_choices[0], label="Explain the class")
                shown = gr.Image(label="Model input", interactive=False, height=160)
            with gr.Column(scale=2):
                prediction = gr.Label(num_top_classes=3, label="Prediction")
                maps = gr.Plot(label="Attribution maps", show_label=False)
                status = gr.Markdown()
        outputs = [current, shown, prediction, maps, status]
        gallery.select(pick, inputs=[chosen, target], outputs=outputs)
        draw_button.click(use_drawing, inputs=[sketch, chosen, target], outputs=outputs)
        for control in (chosen, target):
            control.change(run, inputs=[current, chosen, target], outputs=[prediction, maps, status])
        if examples:  # open on the first example, already explained
            demo.load(lambda chosen, target: pick(chosen, target, gr.SelectData(None, {"index": 0, "value": None})),
                      inputs=[chosen, target], outputs=outputs)
    demo.xplain_handlers = {"run": run, "pick": pick, "use_drawing": use_drawing}  # for tests and embedding
    demo.xplain_examples = examples
    return demo
