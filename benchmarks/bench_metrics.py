"""Per-input metrics against Quantus 0.6.0, side by side in one process, with the ratio.

For the trained MNIST CNN (``benchmarks/_models.trained_cnn``, 64 test digits) and
TensorLayer's VGG16 (random weights, 224x224x3, 8 inputs), each implemented
metric runs through ``tensorlayer_xplain.metrics`` and through the matching
Quantus metric on the same attributions (``gradient``), masks (MNIST: the digit's
pixels above 0.5; VGG16: a centred box) and, for the robustness metrics, the same
noise (``np.random.seed(seed)`` before Quantus, ``seed=`` for ours). Quantus
calls the TL model through a functional Keras model around it (a ``Lambda``
layer and a linear top), and re-explains through ``tensorlayer_xplain.explain`` (its
``explain_func``), so both sides use the same gradient code: the difference is
how the work is batched. Each side is timed as the best of ``--repeats`` runs
after one warm-up; ``max |diff|`` compares the scores (NaN-aware).

Goal (issue 27): >= 10x faster than Quantus for the metrics that call the model.

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_metrics [--repeats 3]
        [--nr-samples 10] [--skip-vgg]
"""
import argparse
import time
import warnings

import numpy as np

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics as M


def _best(fn, repeats):
    fn()  # warm-up (compilation, Quantus's model wrapper)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def _keras_around(tl_model, image_shape):
    import keras
    import tensorflow as tf

    inputs = keras.Input(image_shape)
    outputs = keras.layers.Lambda(lambda t: tl_model(tf.cast(t, tf.float32), is_train=False))(inputs)
    outputs = keras.layers.Activation("linear")(outputs)  # Quantus reads the top layer's activation
    return keras.Model(inputs, outputs)


def _cases(model, keras_model, x, exp, masks, nr_samples, quantus):
    """(name, ours(), theirs()) for every implemented metric Quantus also has."""
    n, (h, w, c) = len(x), exp.image_shape
    xq = np.moveaxis(x.reshape(n, h, w, c), -1, 1).astype(np.float32)  # Quantus: channel first
    aq = exp.heatmap()[:, None].astype(np.float64)
    sq = masks[:, None].astype(np.float64)
    y = np.asarray(exp.targets)
    k = min(1000, h * w // 4)
    n_classes = int(np.asarray(exp.predictions).shape[-1])
    per_input = {"normalise_func_kwargs": {"normalise_axes": (1, 2, 3)}}

    def explain_func(model, inputs, targets, **kwargs):
        # Quantus hands a TF model's inputs over channel-last here while its a_batch must be channel-first:
        # with C > 1 the two flatten in different orders, so Quantus is given channel-summed maps (N, H, W)
        images = np.asarray(inputs)
        if images.shape[1:] != (h, w, c):
            images = np.moveaxis(images, 1, -1)
        return tlxp.explain(tl_model, images, "gradient", targets=np.asarray(targets)).heatmap()

    tl_model = model

    def q(cls, a=aq, s=None, mdl=None, seed=None, **kwargs):
        def run():
            if seed is not None:
                np.random.seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric = cls(disable_warnings=True, **kwargs)
                if mdl is None:
                    scores = metric(model=None, x_batch=xq, y_batch=y, a_batch=a, s_batch=s, channel_first=True)
                else:  # the Keras model takes channel-last inputs
                    scores = metric(model=mdl, x_batch=x.reshape(n, h, w, c), y_batch=y, a_batch=a,
                                    channel_first=False, explain_func=explain_func)
                return np.asarray(scores, np.float64)
        return run

    aq_full = aq  # see explain_func: Quantus compares channel-summed maps (ours: all channels; equal when C == 1)
    return [
        ("sparseness", lambda: M.sparseness(exp).scores, q(quantus.Sparseness, **per_input)),
        ("complexity", lambda: M.complexity(exp).scores, q(quantus.Complexity, **per_input)),
        ("effective_complexity", lambda: M.effective_complexity(exp).scores,
         q(quantus.EffectiveComplexity, **per_input)),
        ("pointing_game", lambda: M.pointing_game(exp, masks=masks).scores,
         q(quantus.PointingGame, s=sq, **per_input)),
        ("attribution_localisation", lambda: M.attribution_localisation(exp, masks=masks).scores,
         q(quantus.AttributionLocalisation, s=sq, **per_input)),
        ("top_k_intersection", lambda: M.top_k_intersection(exp, masks=masks, k=k).scores,
         q(quantus.TopKIntersection, s=sq, k=k, **per_input)),
        ("relevance_rank_accuracy", lambda: M.relevance_rank_accuracy(exp, masks=masks).scores,
         q(quantus.RelevanceRankAccuracy, s=sq, **per_input)),
        ("relevance_mass_accuracy", lambda: M.relevance_mass_accuracy(exp, masks=masks).scores,
         q(quantus.RelevanceMassAccuracy, s=sq, **per_input)),
        ("auc", lambda: M.auc(exp, masks=masks).scores, q(quantus.AUC, s=sq, **per_input)),
        # model-calling: Quantus returns a bool for completeness (sum == delta); timed, scores not compared
        ("completeness*", lambda: M.completeness(exp, model=model).scores,
         q(quantus.Completeness, a=aq_full, mdl=keras_model, normalise=False)),
        ("max_sensitivity", lambda: M.max_sensitivity(exp, model=model, nr_samples=nr_samples, seed=3).scores,
         q(quantus.MaxSensitivity, a=aq_full, mdl=keras_model, seed=3, nr_samples=nr_samples)),
        ("avg_sensitivity", lambda: M.avg_sensitivity(exp, model=model, nr_samples=nr_samples, seed=3).scores,
         q(quantus.AvgSensitivity, a=aq_full, mdl=keras_model, seed=3, nr_samples=nr_samples)),
        ("random_logit", lambda: M.random_logit(exp, model=model, num_classes=n_classes).scores,
         q(quantus.RandomLogit, a=aq_full, mdl=keras_model, num_classes=n_classes, seed=42, **per_input)),
    ]


def run_model(label, model, x, masks, nr_samples, repeats, quantus):
    exp = tlxp.explain(model, x, "gradient")
    keras_model = _keras_around(model, exp.image_shape)
    print("\n%s: %d inputs %s, gradient maps, nr_samples=%d" % (label, len(x), exp.image_shape, nr_samples))
    print("%-26s %10s %10s %8s %12s" % ("metric", "ours s", "quantus s", "ratio", "max |diff|"))
    rows = []
    for name, ours, theirs in _cases(model, keras_model, x, exp, masks, nr_samples, quantus):
        t_ours, s_ours = _best(ours, repeats)
        t_q, s_q = _best(theirs, repeats)
        summed = exp.image_shape[-1] > 1 and name in ("max_sensitivity", "avg_sensitivity", "random_logit")
        if name.endswith("*") or summed:
            diff = float("nan")
        else:
            both = ~(np.isnan(s_ours) | np.isnan(s_q))
            diff = float(np.max(np.abs(s_ours[both] - s_q[both]))) if both.any() else float("nan")
        rows.append((label, name, t_ours, t_q, t_q / t_ours, diff))
        print("%-26s %10.4f %10.4f %7.1fx %12.2e" % (name, t_ours, t_q, t_q / t_ours, diff), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nr-samples", type=int, default=10)
    parser.add_argument("--skip-vgg", action="store_true")
    parser.add_argument("--skip-mnist", action="store_true")
    args = parser.parse_args(argv)
    import quantus

    from benchmarks._models import trained_cnn

    rows = []
    if not args.skip_mnist:
        model, _, _, X_test, _ = trained_cnn()
        x = X_test[:64]
        masks = x.reshape(64, 28, 28) > 0.5
        rows += run_model("MNIST CNN", model, x, masks, args.nr_samples, args.repeats, quantus)
    if not args.skip_vgg:
        import tensorlayer as tl

        vgg = tl.models.vgg16(pretrained=False, mode="static")
        xv = np.random.default_rng(0).uniform(size=(8, 224, 224, 3)).astype(np.float32)
        box = np.zeros((8, 224, 224), bool)
        box[:, 56:168, 56:168] = True
        rows += run_model("VGG16", vgg, xv, box, max(1, args.nr_samples // 5), max(1, args.repeats - 2), quantus)
    return rows


if __name__ == "__main__":
    main()
