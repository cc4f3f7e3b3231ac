"""Gradient, CAM and perturbation methods against hand-written ``tf.function`` floors.

For the trained MNIST CNN (``benchmarks/_models.trained_cnn``) and a batch of 64
test digits, each method is timed next to a hand-written ``tf.function`` with a
``GradientTape`` (or plain forward passes for the perturbation methods) doing
the same work: the same number of gradients / forward passes, the same
reductions, chunks of 256 rows in a ``tf.range`` loop where there are many. Both
run in the same process after one warm-up call each (compilation excluded), in
back-to-back pairs whose order alternates, for about ``--budget`` seconds per
method; the table shows the median times, the median of the per-pair ratios
(robust to the drift of a shared machine) and the ratio of the best runs.
Methods are called as registered functions with resolved targets (what
``explain`` adds on top — one prediction pass to find the predicted class — is
the same for every method and is timed separately). Deterministic methods are
also checked to compute the floor's result (``max rel. diff``).

Targets (issue "Gradient, CAM and perturbation methods"): saliency <= 1.1x,
integrated gradients and SmoothGrad <= 1.2x of the floor.

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_gradients \
        [--budget 4] [--only NAME ...] [--out DIR]
"""
import argparse
import functools
import json
import os
import statistics
import time

import numpy as np
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.perturbation import occlusion_windows, rise_masks
from tensorlayer_xplain.methods.sobol import sobol_design, sobol_masks

from ._models import trained_cnn

BATCH = 64
IG_STEPS = 32
SG_SAMPLES = 32
NOISE = 0.15
OCC_WINDOW, OCC_STRIDE = 4, 2
RISE_MASKS, RISE_SIZE, RISE_P = 256, 7, 0.5
SOBOL_GRID, SOBOL_DESIGN = 8, 8
CHUNK = 256  # pairs per model call, as the adapter's default batch_size
TARGETS = {"gradient": 1.1, "integrated_gradients": 1.2, "smoothgrad": 1.2}


# ----------------------------------------------------------------------------- hand-written floors
def _layers(model):
    return [layer for layer in model.all_layers if type(layer).__name__ != "_InputLayer"]


def make_floors(model, x, t, ig_steps=IG_STEPS, sg_samples=SG_SAMPLES, noise_level=NOISE,
                occlusion_window=OCC_WINDOW, occlusion_stride=OCC_STRIDE, rise_n_masks=RISE_MASKS,
                rise_mask_size=RISE_SIZE, rise_p_keep=RISE_P, sobol_grid=SOBOL_GRID, sobol_nb_design=SOBOL_DESIGN,
                sobol_seed=0):
    """Hand-written tf.function implementations, written the way a user would, on the same model.

    Returns ``{method name: callable}``; each callable runs its floor on ``x`` (targets ``t``) and
    returns a numpy array. The keyword arguments set the work of the floors (they default to this
    script's settings) so other benchmarks (``python -m benchmarks.run``) can match their methods' settings.
    """
    model.eval()  # a static TL model is called in eval mode (the adapter does this for the methods)
    layers = _layers(model)
    cam_at = max(i for i, layer in enumerate(layers) if type(layer).__name__ == "MaxPool2d")
    head, tail = layers[:cam_at + 1], layers[cam_at + 1:]
    xt, tt = tf.constant(x), tf.constant(t)

    def select(scores, targets):
        return tf.gather(scores, targets, batch_dims=1)

    def grad_py(xb, tb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            s = select(model(xb), tb)
        return tape.gradient(s, xb)

    grad = tf.function(grad_py)

    @tf.custom_gradient
    def guided_relu(v):
        def backward(dy):
            return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(v > 0, dy.dtype)
        return tf.nn.relu(v), backward

    relu_layers = [layer for layer in layers if getattr(layer, "act", None) is tf.nn.relu]

    @tf.function
    def guided(xb, tb):  # the ReLUs swapped while this function is traced, then put back
        saved = [layer.act for layer in relu_layers]
        try:
            for layer in relu_layers:
                layer.act = guided_relu
            return grad_py(xb, tb)
        finally:
            for layer, act in zip(relu_layers, saved):
                layer.act = act

    @tf.function
    def saliency(xb, tb):
        return tf.abs(grad(xb, tb))

    @tf.function
    def grad_x_input(xb, tb):
        return xb * grad(xb, tb)

    @tf.function
    def ig(xb, tb):  # zeros baseline, trapezoid rule, (N x (steps+1)) gradients in chunks of CHUNK pairs
        n = tf.shape(xb)[0]
        alphas = tf.linspace(0.0, 1.0, ig_steps + 1)
        weights = tf.concat([[0.5], tf.ones(ig_steps - 1), [0.5]], 0) / ig_steps
        idx_i = tf.repeat(tf.range(n), ig_steps + 1)
        idx_k = tf.tile(tf.range(ig_steps + 1), [n])
        total = tf.zeros_like(xb)
        for start in tf.range(0, n * (ig_steps + 1), CHUNK):
            i = idx_i[start:start + CHUNK]
            k = idx_k[start:start + CHUNK]
            a = tf.reshape(tf.gather(alphas, k), (-1, 1, 1, 1))
            g = grad(a * tf.gather(xb, i), tf.gather(tb, i))
            total += tf.math.unsorted_segment_sum(g * tf.reshape(tf.gather(weights, k), (-1, 1, 1, 1)), i, n)
        return xb * total

    def _noisy_moments(xb, tb, second):
        n = tf.shape(xb)[0]
        flat = tf.reshape(xb, (n, -1))
        sigma = noise_level * (tf.reduce_max(flat, 1) - tf.reduce_min(flat, 1))
        idx = tf.repeat(tf.range(n), sg_samples)
        sample = tf.tile(tf.range(sg_samples), [n])
        patterns = tf.random.normal((sg_samples,) + tuple(xb.shape[1:]))  # shared by the inputs, as ours
        s1, s2 = tf.zeros_like(xb), tf.zeros_like(xb)
        for start in tf.range(0, n * sg_samples, CHUNK):
            i = idx[start:start + CHUNK]
            noise = tf.gather(patterns, sample[start:start + CHUNK])
            noisy = tf.gather(xb, i) + tf.reshape(tf.gather(sigma, i), (-1, 1, 1, 1)) * noise
            g = tf.abs(grad(noisy, tf.gather(tb, i)))
            s1 += tf.math.unsorted_segment_sum(g, i, n)
            if second:
                s2 += tf.math.unsorted_segment_sum(g * g, i, n)
        return s1 / sg_samples, s2 / sg_samples

    @tf.function
    def smoothgrad(xb, tb):
        return _noisy_moments(xb, tb, False)[0]

    @tf.function
    def vargrad(xb, tb):
        m1, m2 = _noisy_moments(xb, tb, True)
        return m2 - m1 * m1

    def _cam_parts(xb, tb):
        with tf.GradientTape() as tape:
            acts = xb
            for layer in head:
                acts = layer.forward(acts)
            out = acts
            for layer in tail:
                out = layer.forward(out)
            s = select(out, tb)
        return acts, tape.gradient(s, acts)

    def _finish(cam):
        return tf.image.resize(tf.nn.relu(cam)[..., None], (28, 28))[..., 0]

    @tf.function
    def gradcam(xb, tb):
        acts, g = _cam_parts(xb, tb)
        return _finish(tf.einsum("nhwc,nc->nhw", acts, tf.reduce_mean(g, (1, 2))))

    @tf.function
    def gradcam_pp(xb, tb):
        acts, g = _cam_parts(xb, tb)
        g2, g3 = g * g, g * g * g
        denom = 2 * g2 + tf.reduce_sum(acts, (1, 2), keepdims=True) * g3
        alpha = tf.math.divide_no_nan(g2, denom)
        w = tf.reduce_sum(alpha * tf.nn.relu(g), (1, 2))
        return _finish(tf.einsum("nhwc,nc->nhw", acts, w))

    @tf.function
    def layercam(xb, tb):
        acts, g = _cam_parts(xb, tb)
        return _finish(tf.reduce_sum(tf.nn.relu(g) * acts, -1))

    @tf.function
    def scorecam(xb, tb):
        acts = xb
        for layer in head:
            acts = layer.forward(acts)
        n, c = tf.shape(acts)[0], tf.shape(acts)[3]
        up = tf.image.resize(acts, (28, 28))  # (N, 28, 28, C)
        low = tf.reduce_min(up, (1, 2), keepdims=True)
        span = tf.reduce_max(up, (1, 2), keepdims=True) - low
        norm = tf.math.divide_no_nan(up - low, span)
        masks = tf.reshape(tf.transpose(norm, (0, 3, 1, 2)), (-1, 28, 28, 1))  # (N*C, 28, 28, 1)
        idx = tf.repeat(tf.range(n), c)
        scores = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
        for start in tf.range(0, n * c, CHUNK):
            i = idx[start:start + CHUNK]
            probs = tf.nn.softmax(model(tf.gather(xb, i) * masks[start:start + CHUNK]))
            scores = scores.write(scores.size(), select(probs, tf.gather(tb, i)))
        w = tf.reshape(scores.concat(), (n, c))
        return tf.nn.relu(tf.einsum("nc,nhwc->nhw", w, norm))

    rows, cols = occlusion_windows((28, 28), (occlusion_window,) * 2, (occlusion_stride,) * 2)
    covered = tf.constant((rows[:, :, None] & cols[:, None, :]).astype(np.float32))  # (P, 28, 28)
    counts = tf.maximum(tf.reduce_sum(covered, 0), 1.0)

    @tf.function
    def occlusion(xb, tb):
        n, p = tf.shape(xb)[0], tf.shape(covered)[0]
        full = select(model(xb), tb)
        idx_i = tf.repeat(tf.range(n), p)
        idx_p = tf.tile(tf.range(p), [n])
        total = tf.zeros((n, 28, 28))
        for start in tf.range(0, n * p, CHUNK):
            i, j = idx_i[start:start + CHUNK], idx_p[start:start + CHUNK]
            m = tf.gather(covered, j)
            s = select(model(tf.gather(xb, i) * (1.0 - m)[..., None]), tf.gather(tb, i))
            total += tf.math.unsorted_segment_sum((tf.gather(full, i) - s)[:, None, None] * m, i, n)
        return total / counts

    rise_set = tf.constant(rise_masks(0, np.arange(rise_n_masks), (28, 28), rise_mask_size, rise_p_keep))

    @tf.function
    def rise(xb, tb):
        n = tf.shape(xb)[0]
        idx_i = tf.tile(tf.range(n), [rise_n_masks])
        idx_j = tf.repeat(tf.range(rise_n_masks), n)
        sal = tf.zeros((n, 28, 28))
        for start in tf.range(0, n * rise_n_masks, CHUNK):
            i, j = idx_i[start:start + CHUNK], idx_j[start:start + CHUNK]
            m = tf.gather(rise_set, j)
            s = select(tf.nn.softmax(model(tf.gather(xb, i) * m[..., None])), tf.gather(tb, i))
            sal += tf.math.unsorted_segment_sum(s[:, None, None] * m, i, n)
        return sal / (rise_n_masks * rise_p_keep)

    cells, nb = sobol_grid ** 2, sobol_nb_design
    n_sobol = nb * (cells + 2)
    sobol_set = tf.constant(sobol_masks(*sobol_design(sobol_grid, nb, sobol_seed), np.arange(n_sobol),
                                        sobol_grid)[..., None])

    @tf.function
    def sobol(xb, tb):  # inpainting, masks to the nearest cell, Jansen's estimator, bicubic resize
        n = tf.shape(xb)[0]
        idx_i = tf.tile(tf.range(n), [n_sobol])
        idx_j = tf.repeat(tf.range(n_sobol), n)
        scores = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
        for start in tf.range(0, n * n_sobol, CHUNK):
            i, j = idx_i[start:start + CHUNK], idx_j[start:start + CHUNK]
            m = tf.image.resize(tf.gather(sobol_set, j), (28, 28), method="nearest")
            scores = scores.write(scores.size(), select(model(tf.gather(xb, i) * m), tf.gather(tb, i)))
        f = tf.transpose(tf.reshape(scores.concat(), (n_sobol, n)))
        fa, fc = f[:, :nb], tf.reshape(f[:, 2 * nb:], (n, cells, nb))
        var = tf.maximum(tf.math.reduce_variance(fa, 1) * nb / (nb - 1), 1e-12)
        st = tf.reduce_sum((fa[:, None] - fc) ** 2, -1) / (2.0 * nb * var[:, None])
        return tf.image.resize(tf.reshape(st, (n, sobol_grid, sobol_grid, 1)), (28, 28), method="bicubic")[..., 0]

    floors = {
        "gradient": saliency, "gradient_x_input": grad_x_input, "integrated_gradients": ig,
        "smoothgrad": smoothgrad, "vargrad": vargrad, "guided_backprop": guided,
        "gradcam": gradcam, "gradcam_plus_plus": gradcam_pp, "scorecam": scorecam, "occlusion": occlusion,
        "rise": rise, "layercam": layercam, "sobol": sobol,
    }
    return {name: (lambda f=f: f(xt, tt).numpy()) for name, f in floors.items()}


# ----------------------------------------------------------------------------- the methods under test
METHODS = [
    ("gradient", {}, "saliency, abs(grad)"),
    ("gradient_x_input", {}, ""),
    ("integrated_gradients", {"steps": IG_STEPS}, "%d steps" % IG_STEPS),
    ("smoothgrad", {"n_samples": SG_SAMPLES, "noise_level": NOISE}, "%d samples" % SG_SAMPLES),
    ("vargrad", {"n_samples": SG_SAMPLES, "noise_level": NOISE}, "%d samples" % SG_SAMPLES),
    ("guided_backprop", {}, "ReLU gradients overridden"),
    ("gradcam", {}, "last 4-D layer"),
    ("gradcam_plus_plus", {}, ""),
    ("scorecam", {}, "32 channel masks"),
    ("occlusion", {"window": OCC_WINDOW, "stride": OCC_STRIDE}, "%d windows" % len(
        occlusion_windows((28, 28), (OCC_WINDOW,) * 2, (OCC_STRIDE,) * 2)[0])),
    ("rise", {"n_masks": RISE_MASKS, "mask_size": RISE_SIZE, "p_keep": RISE_P, "seed": 0}, "%d masks" % RISE_MASKS),
    ("layercam", {}, "last 4-D layer"),
    ("sobol", {"grid_size": SOBOL_GRID, "nb_design": SOBOL_DESIGN, "seed": 0},
     "%d masks" % (SOBOL_DESIGN * (SOBOL_GRID ** 2 + 2))),
]
DETERMINISTIC = {"gradient", "gradient_x_input", "integrated_gradients", "guided_backprop", "gradcam",
                 "gradcam_plus_plus", "scorecam", "occlusion", "rise", "layercam", "sobol"}


def _timed(fn):
    """Wall time of one call and its result."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _agreement(ours, floor):
    ours = np.asarray(ours, np.float64).reshape(len(ours), -1)
    floor = np.asarray(floor, np.float64).reshape(len(floor), -1)
    return float(np.abs(ours - floor).max() / max(np.abs(floor).max(), 1e-12))


def _repeats(seconds_per_pair, budget, low, high):
    return int(min(high, max(low, budget / max(seconds_per_pair, 1e-6))))


def run(min_repeats=5, max_repeats=40, budget=4.0, only=None):
    """Time every method and its floor in back-to-back pairs; returns table rows and the predict time.

    Each method gets ``budget`` seconds (between ``min_repeats`` and ``max_repeats``
    pairs). Within a pair the two sides run back to back, alternating which goes
    first; the ratio column is the median of the per-pair ratios, which cancels
    most of the drift of a shared, loaded machine.
    """
    model, _, _, X_test, _ = trained_cnn()
    adapter = tlxp.as_adapter(model)
    x = X_test[:BATCH].astype(np.float32)
    t = np.argmax(adapter.predict(x), axis=1).astype(np.int32)
    floors = make_floors(model, x, t)
    methods = [m for m in METHODS if only is None or m[0] in only]
    calls = {name: functools.partial(tlxp.get_method(name), adapter, x, t, **params) for name, params, _ in methods}
    rows = []
    for name, _, note in methods:
        ours = calls[name]()  # warm-up: compile both sides, check they compute the same thing
        ours = ours[0] if isinstance(ours, tuple) else ours
        floor = floors[name]()
        agree = None
        if name in DETERMINISTIC:
            agree = _agreement(ours.reshape(floor.shape) if ours.size == floor.size else
                               ours.reshape(BATCH, 28, 28), floor)
        first = _timed(calls[name])[0] + _timed(floors[name])[0]
        times = ([], [])
        for r in range(_repeats(first, budget, min_repeats, max_repeats)):
            order = [(0, calls[name]), (1, floors[name])]
            for side, fn in (order if r % 2 == 0 else order[::-1]):
                times[side].append(_timed(fn)[0])
        ratio = statistics.median(a / b for a, b in zip(*times))
        rows.append((name, note, statistics.median(times[0]), statistics.median(times[1]), ratio,
                     min(times[0]) / min(times[1]), agree, len(times[0])))
    predict_time = statistics.median(_timed(lambda: adapter.predict(x))[0] for _ in range(10))
    return rows, predict_time


def markdown(rows, predict_time):
    lines = [
        "Trained MNIST CNN (`benchmarks/_models.trained_cnn`), batch %d, CPU; ours and the hand-written floor "
        "timed back to back in the same process, compilation excluded. Times are medians; `ratio` is the "
        "median of the per-pair ratios (the target is checked on it), `best-of ratio` the ratio of the fastest "
        "runs." % BATCH,
        "",
        "| method | work | ours (ms) | hand-written floor (ms) | ratio | best-of ratio | target | pairs "
        "| max rel. diff |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, note, ours, floor, ratio, best, agree, pairs in rows:
        target = TARGETS.get(name)
        verdict = "" if target is None else ("<= %.1fx %s" % (target, "ok" if ratio <= target else "MISS"))
        lines.append("| %s | %s | %.1f | %.1f | %.2fx | %.2fx | %s | %d | %s |" % (
            name, note, 1000 * ours, 1000 * floor, ratio, best, verdict, pairs,
            "%.1e" % agree if agree is not None else "random"))
    lines += ["", "`max rel. diff`: largest difference between the two results relative to the floor's largest "
              "value (random methods draw different noise/masks and are not compared).",
              "`explain()` adds one prediction pass to find the predicted class: %.1f ms for the batch."
              % (1000 * predict_time)]
    return "\n".join(lines) + "\n"


def _paths(out):
    """``(markdown, json)`` paths: ``out`` is a folder, or a ``.md`` file (the JSON goes beside it)."""
    if out.endswith(".md"):
        return out, out[:-3] + ".json"
    return os.path.join(out, "bench_gradients.md"), os.path.join(out, "bench_gradients.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timing per method (default 4)")
    parser.add_argument("--min-repeats", type=int, default=5)
    parser.add_argument("--max-repeats", type=int, default=40)
    parser.add_argument("--only", nargs="*", help="method names to run (default: all)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="folder for bench_gradients.md / .json, or a .md path (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    rows, predict_time = run(args.min_repeats, args.max_repeats, args.budget, args.only)
    table = markdown(rows, predict_time)
    print(table)
    md_path, json_path = _paths(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(md_path)), exist_ok=True)
    with open(md_path, "w") as fh:
        fh.write(table)
    keys = ("method", "work", "ours_s", "floor_s", "ratio", "best_of_ratio", "max_rel_diff", "pairs")
    records = [dict(zip(keys, (name, note, ours, floor, ratio, best, agree, pairs)), target=TARGETS.get(name))
               for name, note, ours, floor, ratio, best, agree, pairs in rows]
    with open(json_path, "w") as fh:
        json.dump({"batch": BATCH, "predict_s": predict_time, "rows": records}, fh, indent=2)
    print("written to %s and %s" % (md_path, json_path))


if __name__ == "__main__":
    main()
