"""Feature visualization against tf-keras-vis and a hand-written floor: time, reached activation, peak RSS.

For the trained MNIST CNN (``benchmarks/_models.trained_cnn``, 28x28x1, ten class objectives in one
batch) and TensorLayer's VGG16 (``tl.models.vgg16(pretrained=False)``: random weights, 224x224x3, the
download host is unreachable), each run maximises the logits of the same classes for the same number
of steps, and the table gives

* **seconds**: the median of ``--*-rounds`` warm calls (each side is called once with 2 steps first,
  so tracing is excluded; our loop and the floor take the step count as a tensor and are not traced
  again), the rounds interleaved and their order reversed every other round; seconds per step, and
  the ratio to the floor (median of the per-round ratios: robust to a shared machine's drift);
* **the reached activation**: the mean target logit of the returned images (untransformed, through
  the model) and the share of images classified as their target class;
* **peak RSS** during the timed call (the Linux peak mark is reset just before it,
  ``benchmarks/memory.py``) and its growth over the RSS before the call (first round).

Rows:

``ours pixels``
    ``tlxp.feature_visualization(..., parameterization='pixels', transforms=None)``: Adam (lr 0.05) on
    sigmoid pixels, one compiled ``tf.while_loop``.
``ours default``
    the defaults: Lucid's decorrelated Fourier basis and standard transforms (jitter, scale,
    rotation, padding), Adam (lr 0.05).
``tf-keras-vis``
    ``tf_keras_vis.activation_maximization.ActivationMaximization`` (0.8.7, runs on Keras 3 on a Keras
    functional wrapper of the TL model) with ``CategoricalScore`` on the logits, ``input_range=(0, 1)``,
    no input modifiers and no regularizers, ``Adam(0.05)``: the same pure gradient ascent as
    ``ours pixels`` (on raw pixels clipped to the range at the end, where ours uses sigmoid pixels).
``tf-keras-vis defaults``
    its defaults (Jitter(4), Rotate2D(1), TotalVariation2D(1), Norm(0.3), RMSprop(1.0)) with
    ``input_range=(0, 1)``; MNIST only.
``floor``
    a hand-written ``tf.function`` ``tf.while_loop`` of Adam steps on sigmoid pixels with a
    ``GradientTape`` through the TL model (the minimal pixel-space loop).

Run::

    python -m benchmarks.bench_feature_visualization            # MNIST CNN (256 steps) and VGG16 (32 steps)
    python -m benchmarks.bench_feature_visualization --models mnist --mnist-steps 64
"""
import argparse
import statistics
import time
import warnings

import numpy as np
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import objectives

from . import memory
from ._models import trained_cnn

LEARNING_RATE = 0.05


def keras_wrapper(model, shape):
    """A Keras functional model calling the TL model (in eval mode): what tf-keras-vis takes."""
    import keras

    model.eval()
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Lambda(lambda t: model(t))(inputs))


def floor_function(model, n_classes):
    """The hand-written floor: Adam on sigmoid pixels, ``steps`` as a tensor, one trace."""

    @tf.function
    def run(params, classes, steps):
        def body(i, p, m, v):
            with tf.GradientTape() as tape:
                tape.watch(p)
                logits = tf.reshape(model(tf.sigmoid(p)), (-1, n_classes))
                loss = -tf.reduce_sum(tf.gather(logits, classes, batch_dims=1))
            g = tape.gradient(loss, p)
            t = tf.cast(i + 1, tf.float32)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            p = p - LEARNING_RATE * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            return i + 1, p, m, v

        zeros = tf.zeros_like(params)
        _, p, _, _ = tf.while_loop(lambda i, *_: i < steps, body, (tf.constant(0), params, zeros, zeros))
        return tf.sigmoid(p)

    return run


def runners(model, shape, classes, include_tkv_defaults):
    """``{row name: fn(steps) -> images}``; without tf-keras-vis (extra ``bench``) its rows are left out."""
    try:
        from tf_keras_vis.activation_maximization import ActivationMaximization
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        print("  tf-keras-vis is not installed (pip install tf-keras-vis): its rows are left out", flush=True)
        ActivationMaximization = None

    objs = [objectives.class_logit(int(k)) for k in classes]
    am = ActivationMaximization(keras_wrapper(model, shape), clone=False) if ActivationMaximization else None
    start = np.random.default_rng(0).uniform(0.4, 0.6, (len(classes),) + shape).astype(np.float32)
    n_classes = int(tlxp.as_adapter(model).predict(start[:1]).shape[1])
    floor = floor_function(model, n_classes)
    floor_start = tf.constant(np.random.default_rng(0).normal(0, 0.01, (len(classes),) + shape).astype(np.float32))

    def ours(param, transforms):
        return lambda steps: tlxp.feature_visualization(model, objs, steps=steps, parameterization=param,
                                                        transforms=transforms, learning_rate=LEARNING_RATE).images

    def tkv(defaults):
        def run(steps):
            import keras

            kw = {} if defaults else dict(input_modifiers=[], regularizers=[],
                                          optimizer=keras.optimizers.Adam(LEARNING_RATE))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Keras: "The structure of `inputs` doesn't match"
                return np.asarray(am(CategoricalScore([int(k) for k in classes]), seed_input=tf.constant(start),
                                     steps=steps, input_range=(0.0, 1.0), **kw))
        return run

    def floor_run(steps):
        model.eval()
        return floor(floor_start, tf.constant(np.asarray(classes, np.int32)), tf.constant(steps)).numpy()

    rows = {"floor": floor_run, "ours pixels": ours("pixels", None), "ours default": ours("fourier", "standard")}
    if am is not None:
        rows["tf-keras-vis"] = tkv(False)
        if include_tkv_defaults:
            rows["tf-keras-vis defaults"] = tkv(True)
    return rows


def measure(fn, steps):
    """One timed call (after the warm-up): ``(images, seconds, peak RSS MB, growth MB)``."""
    memory.reset_peak()
    before = memory.rss_mb()
    start = time.perf_counter()
    images = fn(steps)
    seconds = time.perf_counter() - start
    peak = memory.peak_mb()
    return images, seconds, peak, peak - before


def bench_model(label, model, shape, classes, steps, include_tkv_defaults, rounds):
    """Every run once with 2 steps (warm-up), then ``rounds`` rounds of timed calls, the order reversed
    every other round; seconds are medians, ratios the median of the per-round ratios to the floor."""
    adapter = tlxp.as_adapter(model)
    runs = runners(model, shape, classes, include_tkv_defaults)
    for fn in runs.values():
        fn(2)  # traces the compiled loops (tf-keras-vis, eager: builds its functions)
    seconds = {name: [] for name in runs}
    first = {}
    for r in range(rounds):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            images, sec, peak, growth = measure(runs[name], steps)
            seconds[name].append(sec)
            if name not in first:
                first[name] = (images, peak, growth)
    rows = []
    for name in runs:
        images, peak, growth = first[name]
        logits = adapter.predict(np.asarray(images, np.float32).reshape((-1,) + shape))
        reached = logits[np.arange(len(classes)), classes]
        median = statistics.median(seconds[name])
        ratio = statistics.median(a / b for a, b in zip(seconds[name], seconds["floor"]))
        rows.append(dict(model=label, row=name, images=len(classes), steps=steps, seconds=median,
                         per_step=median / steps, ratio=ratio, rounds=rounds, logit=float(reached.mean()),
                         on_target=float((logits.argmax(axis=1) == classes).mean()), peak_rss=peak, growth=growth))
        print("  %-22s %7.2f s (median of %d)  x%.2f floor  logit %8.2f  on target %.0f%%  peak RSS %6.0f MB" % (
            name, median, rounds, ratio, reached.mean(), 100 * rows[-1]["on_target"], peak), flush=True)
    return rows


def table(rows):
    lines = ["| model | run | images | steps | seconds (median) | s/step | ratio to floor | rounds | mean target logit "
             "| on target | peak RSS MB (+growth) |", "|" + "---|" * 11]
    for r in rows:
        lines.append("| %s | %s | %d | %d | %.2f | %.4f | %.2f | %d | %.2f | %.0f%% | %.0f (+%.0f) |" % (
            r["model"], r["row"], r["images"], r["steps"], r["seconds"], r["per_step"], r["ratio"], r["rounds"],
            r["logit"], 100 * r["on_target"], r["peak_rss"], r["growth"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist,vgg16", help="comma-separated: mnist, vgg16")
    parser.add_argument("--mnist-steps", type=int, default=256)
    parser.add_argument("--vgg-steps", type=int, default=32)
    parser.add_argument("--vgg-images", type=int, default=1, help="VGG16 classes optimised in one batch")
    parser.add_argument("--mnist-rounds", type=int, default=5)
    parser.add_argument("--vgg-rounds", type=int, default=1)
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        if name == "mnist":
            model = trained_cnn()[0]
            print("MNIST CNN, 10 classes, %d steps" % args.mnist_steps, flush=True)
            rows += bench_model("MNIST CNN 28x28x1", model, (28, 28, 1), np.arange(10), args.mnist_steps, True,
                                args.mnist_rounds)
        elif name == "vgg16":
            import tensorlayer as tl

            model = tl.models.vgg16(pretrained=False, mode="static")
            classes = np.arange(args.vgg_images) * 97 % 1000
            print("VGG16 (random weights), %d image(s), %d steps" % (args.vgg_images, args.vgg_steps), flush=True)
            rows += bench_model("VGG16 224x224x3", model, (224, 224, 3), classes, args.vgg_steps, False,
                                args.vgg_rounds)
        else:
            parser.error("--models: expected mnist and/or vgg16, got %r" % name)
    print()
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
