"""Our ``lime`` and ``shap`` against the ``lime`` and ``shap`` packages used directly, on the MNIST CNN.

On the trained MNIST CNN (``benchmarks/_models.trained_cnn``), in one process,
interleaved, ``--repeats`` times after one warm-up call each (tracing excluded),
medians and their ratios:

* LIME: our ``lime`` vs ``lime_image.LimeImageExplainer().explain_instance`` with
  its defaults (``batch_size=10``, ``top_labels=5``) at the same ``num_samples``, the
  same SLIC segmentation and ``hide_color=0``; its ``classifier_fn`` is the same
  compiled ``adapter.predict`` ours uses, so the ratio measures only how the
  neighbourhood is built and batched. A third row runs ``lime_image`` tuned
  (``batch_size=256``, one label) and checks that its weights equal ours (same seed).
* SHAP: our ``shap`` (expected gradients, compiled and batched) vs
  ``shap.GradientExplainer`` on the TL model wrapped as a Keras model,
  ``shap_values(x, nsamples, ranked_outputs=1, rseed=seed)``: same background,
  same samples, same random draws — the values agree to float precision.

Targets (issue "LIME and SHAP"): LIME >= 5x faster than lime's defaults; SHAP no slower
than shap used directly.

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_lime_shap [--repeats 3] [--out DIR]
"""
import argparse
import contextlib
import io
import json
import os
import statistics
import time

import numpy as np

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.lime import segment_image
from tensorlayer_xplain.methods.shap import keras_model

from ._models import trained_cnn

LIME_IMAGES, LIME_SAMPLES = 4, 1000
SHAP_IMAGES, SHAP_SAMPLES, SHAP_BACKGROUND = 16, 200, 100
SEED = 0
TARGETS = {"lime": 5.0, "shap": 1.0}


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _quiet(fn):
    """Run ``fn`` with lime's tqdm progress bars (written to stderr) silenced."""
    with contextlib.redirect_stderr(io.StringIO()):
        return fn()


# ----------------------------------------------------------------------------- LIME
def lime_runs(adapter, x, num_samples=LIME_SAMPLES):
    """Three callables returning per-pixel weight maps (N, 28, 28): ours, lime defaults, lime tuned.

    All three draw ``num_samples`` perturbations per image (default: this script's ``LIME_SAMPLES``).
    """
    from lime import lime_image

    targets = np.argmax(adapter.predict(x), axis=1)

    def classifier_fn(images):
        return adapter.predict(np.asarray(images, np.float32)[..., :1])

    def segmentation_fn(rgb):
        return segment_image(rgb[..., :1])  # the same default SLIC as ours

    def ours():
        return tlxp.explain(adapter, x, "lime", num_samples=num_samples, seed=SEED, hide_color=0.0).heatmap()

    def reference(tuned=False):
        explainer = lime_image.LimeImageExplainer(random_state=SEED)
        maps = []
        for image, target in zip(x, targets):
            options = {"batch_size": adapter.batch_size, "labels": (int(target),), "top_labels": None} if tuned else {}
            exp = explainer.explain_instance(np.repeat(image, 3, axis=-1).astype(np.float64), classifier_fn,
                                             hide_color=0.0, num_samples=num_samples, segmentation_fn=segmentation_fn,
                                             random_seed=SEED, **options)
            segments = exp.segments
            weights = np.zeros(int(segments.max()) + 1)
            for feature, weight in exp.local_exp[int(target)]:
                weights[feature] = weight
            maps.append(weights[segments])
        return np.stack(maps)

    def defaults():
        return _quiet(reference)

    def tuned():
        return _quiet(lambda: reference(tuned=True))

    return ours, defaults, tuned, targets


# ----------------------------------------------------------------------------- SHAP
def shap_runs(adapter, x, background, n_samples=SHAP_SAMPLES):
    """Two callables returning SHAP values (N, 28, 28, 1) for the predicted class: ours, shap's.

    Both draw ``n_samples`` expected-gradients samples per image (default: this script's ``SHAP_SAMPLES``).
    """
    import shap

    def ours():
        return tlxp.explain(adapter, x, "shap", background=background, n_samples=n_samples, seed=SEED).attributions

    def direct():
        model = keras_model(adapter)  # the TL model wrapped as a small Keras model
        explainer = shap.GradientExplainer(model, background)
        state = np.random.get_state()
        try:
            with adapter.inference_mode():
                values, _ = explainer.shap_values(x, nsamples=n_samples, ranked_outputs=1, rseed=SEED)
        finally:
            np.random.set_state(state)
        return np.asarray(values)[..., 0]

    return ours, direct


# ----------------------------------------------------------------------------- driver
def _median_times(runs, repeats):
    """Warm up every callable once, then time them interleaved ``repeats`` times."""
    outputs = {name: fn() for name, fn in runs.items()}
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            seconds, outputs[name] = _timed(fn)
            times[name].append(seconds)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def _max_rel_diff(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-12))


def run(repeats=3):
    model, X_train, _, X_test, _ = trained_cnn()
    adapter = tlxp.as_adapter(model)
    rows = []

    ours, defaults, tuned, _ = lime_runs(adapter, X_test[:LIME_IMAGES])
    t, out = _median_times({"ours": ours, "defaults": defaults, "tuned": tuned}, repeats)
    rows.append({"task": "LIME, %d digits x %d samples" % (LIME_IMAGES, LIME_SAMPLES),
                 "ours": "`lime`", "reference": "`lime_image` defaults (batch_size=10, top_labels=5)",
                 "ours_s": t["ours"], "reference_s": t["defaults"], "speedup": t["defaults"] / t["ours"],
                 "target": TARGETS["lime"], "max_rel_diff": _max_rel_diff(out["ours"], out["defaults"])})
    rows.append({"task": "LIME, %d digits x %d samples" % (LIME_IMAGES, LIME_SAMPLES),
                 "ours": "`lime`", "reference": "`lime_image` tuned (batch_size=256, one label)",
                 "ours_s": t["ours"], "reference_s": t["tuned"], "speedup": t["tuned"] / t["ours"],
                 "target": None, "max_rel_diff": _max_rel_diff(out["ours"], out["tuned"])})

    background = X_train[np.random.default_rng(SEED).choice(len(X_train), SHAP_BACKGROUND, replace=False)]
    ours, direct = shap_runs(adapter, X_test[:SHAP_IMAGES], background)
    t, out = _median_times({"ours": ours, "direct": direct}, repeats)
    rows.append({"task": "SHAP expected gradients, %d digits x %d samples, %d background"
                         % (SHAP_IMAGES, SHAP_SAMPLES, SHAP_BACKGROUND),
                 "ours": "`shap`", "reference": "`shap.GradientExplainer` (TL model wrapped in Keras)",
                 "ours_s": t["ours"], "reference_s": t["direct"], "speedup": t["direct"] / t["ours"],
                 "target": TARGETS["shap"], "max_rel_diff": _max_rel_diff(out["ours"], out["direct"])})
    return rows


def markdown(rows, repeats):
    lines = [
        "LIME and SHAP on the trained MNIST CNN: ours vs the packages used directly "
        "(medians of %d interleaved runs after a warm-up; speed-up = reference / ours)." % repeats,
        "",
        "| task | ours | reference | ours (s) | reference (s) | speed-up | target | max rel. diff |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        target = "-" if r["target"] is None else (">= %.0fx" % r["target"] if r["target"] > 1 else ">= 1x")
        met = "" if r["target"] is None else (" (met)" if r["speedup"] >= r["target"] else " (MISSED)")
        lines.append("| %s | %s | %s | %.3f | %.3f | %.1fx%s | %s | %.1e |" % (
            r["task"], r["ours"], r["reference"], r["ours_s"], r["reference_s"], r["speedup"], met, target,
            r["max_rel_diff"]))
    lines.append("")
    lines.append("max rel. diff: max |ours - reference| / max |reference| of the weight maps / SHAP values "
                 "(LIME defaults fit 5 labels with the same draws, so the weights agree too).")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="folder for bench_lime_shap.md / .json (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    rows = run(args.repeats)
    table = markdown(rows, args.repeats)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_lime_shap.md"), "w") as fh:
        fh.write(table)
    with open(os.path.join(args.out, "bench_lime_shap.json"), "w") as fh:
        json.dump(rows, fh, indent=2)
    print("written to %s" % os.path.join(args.out, "bench_lime_shap.md"))
    return rows


if __name__ == "__main__":
    main()
