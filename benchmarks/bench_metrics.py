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


def _peak_mb():
    """Peak resident memory of this process so far, in MB (both sides run in it)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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


def _keras_channel_first(tl_model, image_shape):
    """As :func:`_keras_around`, taking channel-first inputs (N, C, H, W).

    Quantus 0.6.0's relative stabilities call ``model.predict`` on their
    channel-first batch without reshaping it for the model, so they only run on a
    model that takes channel-first inputs.
    """
    import keras
    import tensorflow as tf

    h, w, c = image_shape
    inputs = keras.Input((c, h, w))
    outputs = keras.layers.Lambda(lambda t: tl_model(tf.transpose(tf.cast(t, tf.float32), (0, 2, 3, 1)),
                                                     is_train=False))(inputs)
    return keras.Model(inputs, keras.layers.Activation("linear")(outputs))


def _cases(model, keras_model, x, exp, masks, nr_samples, quantus, small=False):
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
                if isinstance(scores, dict):  # ROAD: {percentage: accuracy over the inputs}
                    scores = list(scores.values())
                return np.asarray(scores, np.float64)
        return run

    def q_cf(cls, seed=None, **kwargs):
        """Quantus on the channel-first Keras wrapper (its relative stabilities need one)."""
        cf_model = _keras_channel_first(tl_model, (h, w, c))

        def run():
            if seed is not None:
                np.random.seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric = cls(disable_warnings=True, **kwargs)
                return np.asarray(metric(model=cf_model, x_batch=xq, y_batch=y, a_batch=aq, channel_first=True,
                                         explain_func=explain_func), np.float64)
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
    ] + _new_cases(model, keras_model, exp, nr_samples, quantus, q, q_cf, per_input, small)


def _new_cases(model, keras_model, exp, nr_samples, quantus, q, q_cf, per_input, small):
    """The metrics of issue 27's second part, at settings both sides run in minutes (Quantus's defaults otherwise).

    Scores are compared where Quantus's definition matches for the model's channels (one channel: MNIST);
    Quantus's infidelity repeats its deterministic patch perturbation ``n_perturb_samples`` times: it gets 1.
    """
    h, w, c = exp.image_shape
    step = (h * w) // (2 if small else 28)  # pixel flipping: 28 steps on MNIST, 6 on VGG16 (Quantus: H*W % step == 0)
    patch = 56 if small else 4
    regions = 8 if small else 49
    percentages = [10, 50, 90] if small else list(range(1, 100, 2))
    mono_step, mono_samples = ((h * w) // 4, 2) if small else (28, 10)
    return [
        ("pixel_flipping", lambda: M.pixel_flipping(exp, model=model, features_in_step=step).scores,
         _auc(q(quantus.PixelFlipping, a=aq_of(exp), mdl=keras_model, features_in_step=step, **per_input))),
        ("region_perturbation", lambda: M.region_perturbation(exp, model=model, patch_size=patch,
                                                              regions_evaluation=regions).scores,
         _auc(q(quantus.RegionPerturbation, a=aq_of(exp), mdl=keras_model, patch_size=patch,
                regions_evaluation=regions, **per_input))),
        ("road*", lambda: M.road(exp, model=model, percentages=percentages, seed=0).scores,
         q(quantus.ROAD, a=aq_of(exp), mdl=keras_model, percentages=percentages, seed=0, **per_input)),
        ("monotonicity_correlation", lambda: M.monotonicity_correlation(
            exp, model=model, nr_samples=mono_samples, features_in_step=mono_step, seed=0).scores,
         q(quantus.MonotonicityCorrelation, a=aq_of(exp), mdl=keras_model, nr_samples=mono_samples,
           features_in_step=mono_step, seed=0, **per_input)),
        ("infidelity", lambda: M.infidelity(exp, model=model, perturb_patch_sizes=[patch]).scores,
         q(quantus.Infidelity, a=aq_of(exp), mdl=keras_model, perturb_patch_sizes=[patch], n_perturb_samples=1)),
        ("local_lipschitz_estimate", lambda: M.local_lipschitz_estimate(exp, model=model, nr_samples=nr_samples,
                                                                        seed=3).scores,
         q(quantus.LocalLipschitzEstimate, a=aq_of(exp), mdl=keras_model, seed=3, nr_samples=nr_samples,
           **per_input)),
        ("relative_input_stability", lambda: M.relative_input_stability(exp, model=model, nr_samples=nr_samples,
                                                                        seed=3).scores,
         q_cf(quantus.RelativeInputStability, seed=3, nr_samples=nr_samples)),
        ("relative_output_stability", lambda: M.relative_output_stability(exp, model=model, nr_samples=nr_samples,
                                                                          seed=3).scores,
         q_cf(quantus.RelativeOutputStability, seed=3, nr_samples=nr_samples)),
    ] + ([] if small else [
        ("non_sensitivity", lambda: M.non_sensitivity(exp, model=model).scores,
         q(quantus.NonSensitivity, a=aq_of(exp), mdl=keras_model, **per_input)),
    ])


def aq_of(exp):
    """Quantus's a_batch: the channel-summed map, channel-first (N, 1, H, W)."""
    return exp.heatmap()[:, None].astype(np.float64)


def _auc(run):
    """Quantus's curves (N, steps) to their per-input trapezoid, as ours (its return_auc_per_sample needs np.trapz)."""
    return lambda: np.trapezoid(run(), axis=1)


def run_model(label, model, x, masks, nr_samples, repeats, quantus, only=None, small=False):
    exp = tlxp.explain(model, x, "gradient")
    keras_model = _keras_around(model, exp.image_shape)
    print("\n%s: %d inputs %s, gradient maps, nr_samples=%d" % (label, len(x), exp.image_shape, nr_samples))
    print("%-26s %10s %10s %8s %12s %10s" % ("metric", "ours s", "quantus s", "ratio", "max |diff|", "peak MB"))
    rows = []
    for name, ours, theirs in _cases(model, keras_model, x, exp, masks, nr_samples, quantus, small):
        if only and name.rstrip("*") not in only:
            continue
        t_ours, s_ours = _best(ours, repeats)
        try:
            t_q, s_q = _best(theirs, repeats)
        except Exception as error:  # Quantus 0.6.0 fails on some settings (e.g. several channels): say so
            print("%-26s %10.4f %10s   quantus fails: %s" % (name, t_ours, "-", str(error).split("\n")[0][:80]),
                  flush=True)
            rows.append((label, name, t_ours, float("nan"), float("nan"), float("nan")))
            continue
        summed = exp.image_shape[-1] > 1 and name not in ("sparseness", "complexity", "effective_complexity",
                                                          "pointing_game", "attribution_localisation",
                                                          "top_k_intersection", "relevance_rank_accuracy",
                                                          "relevance_mass_accuracy", "auc")
        if name.endswith("*") or summed:
            diff = float("nan")
        else:
            both = ~(np.isnan(s_ours) | np.isnan(s_q))
            diff = float(np.max(np.abs(s_ours[both] - s_q[both]))) if both.any() else float("nan")
        rows.append((label, name, t_ours, t_q, t_q / t_ours, diff))
        print("%-26s %10.4f %10.4f %7.1fx %12.2e %10.0f" % (name, t_ours, t_q, t_q / t_ours, diff, _peak_mb()),
              flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nr-samples", type=int, default=10)
    parser.add_argument("--skip-vgg", action="store_true")
    parser.add_argument("--skip-mnist", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated metric names to run (default: all)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    import quantus

    from benchmarks._models import trained_cnn

    rows = []
    if not args.skip_mnist:
        model, _, _, X_test, _ = trained_cnn()
        x = X_test[:64]
        masks = x.reshape(64, 28, 28) > 0.5
        rows += run_model("MNIST CNN", model, x, masks, args.nr_samples, args.repeats, quantus, only)
    if not args.skip_vgg:
        import tensorlayer as tl

        vgg = tl.models.vgg16(pretrained=False, mode="static")
        xv = np.random.default_rng(0).uniform(size=(8, 224, 224, 3)).astype(np.float32)
        box = np.zeros((8, 224, 224), bool)
        box[:, 56:168, 56:168] = True
        rows += run_model("VGG16", vgg, xv, box, max(1, args.nr_samples // 5), max(1, args.repeats - 2), quantus, only,
                          small=True)
    return rows


if __name__ == "__main__":
    main()
