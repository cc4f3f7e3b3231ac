"""Draw the feature-visualization figures of docs/guide/feature_visualization.rst (small PNGs in guide/_images).

The MNIST CNN is the benchmarks' trained reference CNN (``benchmarks/_models.trained_cnn``, cached in the temp
dir); VGG16 is TensorLayer's zoo model with random weights (the pretrained weights' host is unreachable).
Prints each run's time and the classification of the class visualizations.

Run from the repository root::

    python docs/make_feature_visualization_figures.py
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "guide", "_images")


def _timed(label, fn):
    start = time.perf_counter()
    out = fn()
    print("%s: %.1f s" % (label, time.perf_counter() - start), flush=True)
    return out


def mnist():
    import tensorlayer_xplain as tlxp
    from benchmarks._models import trained_cnn
    from tensorlayer_xplain import objectives as O

    model = trained_cnn()[0]
    order = tlxp.ModelAdapter(model).layer_call_order()
    conv2 = [n for n, s in order if len(s) == 3 and "conv" in n][-1]
    classes = _timed("MNIST CNN, 10 classes x 256 steps", lambda: tlxp.feature_visualization(
        model, [O.class_logit(k) for k in range(10)]))
    predicted = tlxp.ModelAdapter(model).predict(classes.images).argmax(axis=1)
    print("  classified as", predicted.tolist())
    tlxp.feature_visualization_figure(classes, name=os.path.join(OUT, "fv_mnist_classes.png"), columns=10)
    channels = _timed("MNIST CNN, %s: 16 channels x 256 steps" % conv2, lambda: tlxp.feature_visualization(
        model, [O.channel(conv2, c) for c in range(16)]))
    tlxp.feature_visualization_figure(channels, name=os.path.join(OUT, "fv_mnist_channels.png"), columns=8)
    pixels = _timed("MNIST CNN, 10 classes, pixels, no transforms", lambda: tlxp.feature_visualization(
        model, [O.class_logit(k) for k in range(10)], parameterization="pixels", transforms=None))
    tlxp.feature_visualization_figure(pixels, name=os.path.join(OUT, "fv_mnist_classes_pixels.png"), columns=10)


def vgg16(steps=64):
    import tensorlayer as tl

    import tensorlayer_xplain as tlxp
    from tensorlayer_xplain import objectives as O

    model = tl.models.vgg16(pretrained=False, mode="static")
    layer = "conv3_1" if "conv3_1" in tlxp.ModelAdapter(model).layer_names() else None
    if layer is None:
        layer = [n for n, s in tlxp.ModelAdapter(model).layer_call_order() if len(s) == 3 and "conv" in n][4]
    channels = _timed("VGG16 %s, 4 channels x %d steps" % (layer, steps), lambda: tlxp.feature_visualization(
        model, [O.channel(layer, c) for c in range(4)], steps=steps))
    tlxp.feature_visualization_figure(channels, name=os.path.join(OUT, "fv_vgg16_channels.png"), columns=4)
    classes = _timed("VGG16, 2 classes x %d steps" % steps, lambda: tlxp.feature_visualization(
        model, [O.class_logit(k) for k in (0, 1)], steps=steps))
    print("  classified as", tlxp.ModelAdapter(model).predict(classes.images).argmax(axis=1).tolist())
    tlxp.feature_visualization_figure(classes, name=os.path.join(OUT, "fv_vgg16_classes.png"), columns=2)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))  # the repository root: tensorlayer_xplain and benchmarks
    os.makedirs(OUT, exist_ok=True)
    which = sys.argv[1:] or ["mnist", "vgg16"]
    if "mnist" in which:
        mnist()
    if "vgg16" in which:
        vgg16()
    for name in sorted(os.listdir(OUT)):
        if name.startswith("fv_"):
            print("%s: %d KB" % (name, os.path.getsize(os.path.join(OUT, name)) // 1024))
