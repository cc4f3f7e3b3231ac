"""One benchmark suite: every registered method on the trained MNIST CNN and MLP, in one table.

For each model (``benchmarks/_models.trained_cnn`` / ``trained_mlp``) and each
registered method that applies to it (CAM methods need a layer with a 4-D
output, ``attention_rollout`` needs self-attention layers, ``lime_tabular`` and
``shap_kernel`` are for flat inputs), the suite measures, on CPU:

* **time per image**: the method on a batch of test digits (64 in the full run;
  fewer for the methods that explain one image at a time, see the ``images``
  column), median of repeats after one warm-up call (tracing excluded);
* **ratio to its baseline**, measured in the same run, in back-to-back pairs
  whose order alternates (median of the per-pair ratios, robust to the drift of
  a shared machine): the hand-written ``tf.function`` / ``GradientTape`` floors of
  ``benchmarks/bench_gradients.py`` for the gradient, CAM and perturbation
  methods (same work: same steps, samples, windows and masks), and for LIME/SHAP
  ``lime_image`` with its defaults and ``shap.GradientExplainer`` used directly
  (``benchmarks/bench_lime_shap.py``). Methods without a natural baseline get '—';
* **the user's path** for ``gradient``, ``gradcam`` and ``gradcam_plus_plus``
  (:data:`USER_PATH_TARGETS`): ``ModelExplainer(model, cache=False).explain(x, method)``
  with ``targets=None`` against the same floor, in its own table with the target
  ratio (CSV ``suite[_quick]_user_path.csv``);
* **peak memory** of one extra (untimed) call: Python-side allocations
  (``tracemalloc`` peak, numpy arrays included, TensorFlow's C++ allocator not)
  and the growth of the process's peak RSS during the call;
* **quality** on a fixed subset of the batch (the first ``metric_images`` digits,
  explaining the predicted class) with :mod:`tensorlayer_xplain.metrics`:
  deletion AUC (lower is better), insertion AUC and μ-fidelity (higher is
  better). A ``random`` row (uniform random attributions) gives the chance level.

Method settings come from each method's ``benchmark`` declaration (the methods' defaults in the full
run, smaller work in ``--quick``); run settings from :data:`benchmarks.settings.RUNS`. This module builds
the table (baselines, quality, the user's path) and runs the command line; timing, memory, machine facts
and the outputs are in ``benchmarks.timing``, ``memory``, ``machine`` and ``report``.

Outputs in ``--out`` (default ``benchmarks/results/``, not committed):
``suite[_quick].md`` (the table with the machine and settings), ``suite[_quick].csv``
(pandas, every number unrounded) and ``suite[_quick].png`` (time per image vs
insertion minus deletion AUC, one panel per model).

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.run [--quick] [--out DIR]
"""
import argparse
import functools
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pandas as pd
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics
from tensorlayer_xplain.methods.registry import method_info
from tensorlayer_xplain.methods.sobol import default_grid_size

from .machine import _sharing, machine, usage_since, usage_start
from .memory import peak_memory
from .report import markdown, write_outputs
from .settings import (
    FLOOR_LABEL,
    NO_BASELINE,
    RUNS,
    SEED,
    USER_PATH_TARGETS,
    _model_methods,
    method_spec,
    resolve_params,
)
from .timing import time_pairs

HERE = os.path.dirname(os.path.abspath(__file__))


def _max_rel_diff(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if ours.size != ref.size:
        return float("nan")
    return float(np.abs(ours.reshape(ref.shape) - ref).max() / max(np.abs(ref).max(), 1e-12))


def quality(adapter, exp, run):
    """Deletion AUC, insertion AUC and μ-fidelity of ``exp`` (seeded, batched)."""
    return {
        "deletion_auc": metrics.deletion(adapter, exp, steps=run["steps"], seed=SEED).mean_auc,
        "insertion_auc": metrics.insertion(adapter, exp, steps=run["steps"], seed=SEED).mean_auc,
        "mu_fidelity": metrics.mu_fidelity(adapter, exp, n_subsets=run["n_subsets"], seed=SEED).mean,
    }


def random_explanation(adapter, x, t, seed=SEED):
    """Uniform random attributions of ``x`` for targets ``t``: the chance level of the metrics."""
    rng = np.random.default_rng(seed)
    return tlxp.Explanation("random", rng.random(x.shape).astype(np.float32), x, t, adapter.predict(x),
                           adapter.image_shape)


def _floor_kwargs(params, image_shape):
    """``bench_gradients.make_floors`` keyword arguments matching the methods' resolved settings."""
    ig, sg, vg = params["integrated_gradients"], params["smoothgrad"], params["vargrad"]
    occ, rise, sobol = params["occlusion"], params["rise"], params["sobol"]
    if (vg["n_samples"], vg["noise_level"]) != (sg["n_samples"], sg["noise_level"]):
        raise ValueError("benchmark settings: smoothgrad and vargrad share one floor setting; give them the same "
                         "n_samples and noise_level, got %r and %r" % (sg, vg))
    return {"ig_steps": ig["steps"], "sg_samples": sg["n_samples"], "noise_level": sg["noise_level"],
            "occlusion_window": occ["window"], "occlusion_stride": occ["stride"], "rise_n_masks": rise["n_masks"],
            "rise_mask_size": rise["mask_size"], "rise_p_keep": rise["p_keep"],
            "sobol_grid": sobol["grid_size"] or default_grid_size(image_shape),
            "sobol_nb_design": sobol["nb_design"], "sobol_seed": sobol["seed"]}


def _floors_match(name, params):
    """None when bench_gradients' floor does the same work as ``name`` with ``params``, else why not."""
    fixed = {"integrated_gradients": {"baseline": "zeros"}, "smoothgrad": {"base_method": "gradient"},
             "vargrad": {"base_method": "gradient"}, "gradient": {"absolute": True},
             "occlusion": {"baseline_value": 0.0}, "rise": {"seed": 0, "use_probabilities": True},
             "scorecam": {"use_probabilities": True, "max_channels": None}, "gradcam": {"layer_name": None},
             "layercam": {"layer_name": None}, "sobol": {"perturbation": "inpainting"}}
    for key, value in fixed.get(name, {}).items():
        if params.get(key) != value:
            return "the floor computes %s=%r, the suite runs %s=%r" % (key, value, key, params.get(key))
    return None


def make_baselines(model, adapter, x, t, params, resolved, settings_images):
    """``{method: (label, ours_fn or None, baseline_fn, comparable)}`` for the methods with a baseline here.

    ``settings_images``: ``{method: images timed}`` of the methods being run.

    Gradient/CAM/perturbation methods: the floors of ``bench_gradients.make_floors`` (built
    for the CNN; on other models, none). LIME and SHAP: ``bench_lime_shap.lime_runs`` /
    ``shap_runs``, which also supply our side of the pair (through ``tlxp.explain``).
    ``comparable``: both sides compute the same numbers (not random draws of noise).
    Returns the reasons for missing baselines as a second dict.
    """
    from . import bench_gradients, bench_lime_shap

    pairs, why = {}, {}
    image_model = len(adapter.input_shape) == 3
    if not image_model:
        why["*"] = "bench_gradients' floors and bench_lime_shap's lime_runs are written for the CNN's image inputs"
    floors = {}
    if image_model:
        try:
            floors = bench_gradients.make_floors(model, x, t, **_floor_kwargs(resolved, adapter.image_shape))
        except Exception as err:  # the floors are hand-written for the MNIST CNN's layout
            why["floors"] = "bench_gradients floors do not fit this model (%s: %s)" % (type(err).__name__, err)
    for name, fn in floors.items():
        mismatch = _floors_match(name, resolved.get(name, {}))
        if mismatch:
            why[name] = mismatch
        else:
            pairs[name] = (FLOOR_LABEL, None, fn)
    for name in ("lrp", "deeplift"):  # one (modified) backward pass: the plain gradient pass is their floor
        if "gradient" in floors and name in settings_images:
            pairs[name] = (FLOOR_LABEL, None, floors["gradient"])
    if "lime" in settings_images and image_model and adapter.image_shape[-1] == 1:
        n = settings_images.get("lime", len(x))
        lime_params = dict(params.get("lime", {}))
        if set(lime_params) <= {"num_samples"}:
            ours, defaults, _, _ = bench_lime_shap.lime_runs(adapter, x[:n], **lime_params)
            pairs["lime"] = ("lime_image defaults", ours, defaults)
        else:
            why["lime"] = "bench_lime_shap.lime_runs takes num_samples only, the suite sets %s" % sorted(lime_params)
    shap_params = dict(params.get("shap", {}))
    if "shap" in settings_images and set(shap_params) <= {"background", "n_samples"} and "background" in shap_params:
        n = settings_images.get("shap", len(x))
        ours, direct = bench_lime_shap.shap_runs(adapter, x[:n], shap_params.pop("background"), **shap_params)
        pairs["shap"] = ("shap.GradientExplainer", ours, direct)
    comparable = set(bench_gradients.DETERMINISTIC) | {"lime", "shap"}  # same result up to float error
    return {name: pair + (name in comparable,) for name, pair in pairs.items()}, why


def build_table(models, mode="full", methods=None, run=None, baselines=True, log=print):
    """Measure every (model, method) pair; returns ``(DataFrame, notes)``.

    Parameters
    ----------
    models : dict of str -> (model, X_train, X_test)
        Models to benchmark under a short label (``'cnn'``, ``'mlp'``).
    mode : {'full', 'quick'}
        Which settings of the methods' ``benchmark`` declarations to use.
    methods : sequence of str, optional
        Method names (default: ``tlxp.available_methods()``).
    run : dict, optional
        Run settings (default ``RUNS[mode]``).
    baselines : bool
        Time the baselines (floors, lime_image, shap) next to ours.
    log : callable
        Progress lines (``print``; ``None`` for silence).

    Returns
    -------
    pandas.DataFrame
        One row per measured (model, method) plus a ``random`` reference row per model.
    list of str
        Notes: skipped methods, missing baselines.
    """

    run = dict(RUNS[mode] if run is None else run)
    methods = list(tlxp.available_methods() if methods is None else methods)
    log = log or (lambda *a, **k: None)
    rows, notes, user_rows = [], [], []
    for label, (model, X_train, X_test) in models.items():
        adapter = tlxp.as_adapter(model)
        x = np.asarray(X_test[:run["batch"]], np.float32)
        t = np.argmax(adapter.predict(x), axis=1).astype(np.int32)
        m = min(run["metric_images"], len(x))
        names, skipped = _model_methods(adapter, methods)
        notes += ["%s: %s skipped (%s)" % (label, name, reason) for name, reason in skipped]
        params, resolved, work = {}, {}, {}
        for name in sorted(set(methods) | set(tlxp.available_methods())):  # the floors need every setting
            params[name], resolved[name], work[name] = resolve_params(name, mode, X_train)
        images = {name: min(len(x), method_spec(name).get("images", {}).get(mode, len(x))) for name in names}
        pairs, why = make_baselines(model, adapter, x, t, params, resolved, images) if baselines and names \
            else ({}, {})
        if "floors" in why:
            notes.append("%s: %s" % (label, why.pop("floors")))
        for name in names:
            n = images[name]
            fn = tlxp.get_method(name)
            direct = functools.partial(fn, adapter, x[:n], t[:n], **params[name])
            base_label, ours, base, comparable = pairs.get(name, (None, None, None, False))
            ours = ours or direct
            start = time.perf_counter()
            try:
                timing = time_pairs(ours, base, run["budget"], run["min_repeats"], run["max_repeats"])
                py_mb, rss_mb = peak_memory(ours)
                exp = tlxp.explain(adapter, x[:m], name, targets=t[:m], **params[name])
                q = quality(adapter, exp, run)
            except Exception as err:  # one failing method (e.g. a user's) must not sink the whole table
                notes.append("%s: %s failed (%s: %s)" % (label, name, type(err).__name__, str(err)[:200]))
                log("  %-4s %-22s FAILED: %s" % (label, name, notes[-1]), flush=True)
                continue
            note = "" if base is not None else (
                NO_BASELINE.get(name) or why.get(name) or why.get("*") or "no baseline in benchmarks/")
            ours_s = statistics.median(timing["ours"])
            base_s = statistics.median(timing["baseline"]) if base is not None else float("nan")
            rows.append({
                "model": label, "method": name, "family": method_info(name).family, "work": work[name],
                "images": n, "repeats": len(timing["ours"]),
                "ours_ms_per_image": 1000.0 * ours_s / n,
                "baseline": base_label or "—",
                "baseline_ms_per_image": 1000.0 * base_s / n,
                "ratio": timing["ratio"] if timing["ratio"] is not None else float("nan"),
                "baseline_max_rel_diff": _max_rel_diff(*timing["outputs"]) if comparable else float("nan"),
                "python_peak_mb": py_mb, "rss_peak_mb": rss_mb,
                **q,
                "note": note,
            })
            r = rows[-1]
            log("  %-4s %-22s %8.2f ms/img  ratio %-6s  del %.3f  ins %.3f  mu %.3f  (%.0f s)" % (
                label, name, r["ours_ms_per_image"], "%.2fx" % r["ratio"] if base is not None else "—",
                q["deletion_auc"], q["insertion_auc"], q["mu_fidelity"], time.perf_counter() - start), flush=True)
            if name in USER_PATH_TARGETS and base_label == FLOOR_LABEL:
                user_rows.append(user_path_row(label, name, model, x[:n], params[name], base, run))
                log("  %-4s %-22s %8.2f ms/img  ratio %.2fx  (user path, target <= %.1fx)" % (
                    label, name, user_rows[-1]["ours_ms_per_image"], user_rows[-1]["ratio"],
                    USER_PATH_TARGETS[name]), flush=True)
        q = quality(adapter, random_explanation(adapter, x[:m], t[:m]), run)
        rows.append({"model": label, "method": "random", "family": "reference", "work": "uniform noise",
                     "images": m, "repeats": 0, "ours_ms_per_image": float("nan"), "baseline": "—",
                     "baseline_ms_per_image": float("nan"), "ratio": float("nan"),
                     "baseline_max_rel_diff": float("nan"), "python_peak_mb": float("nan"),
                     "rss_peak_mb": float("nan"), **q, "note": "chance level of the metrics"})
    table = pd.DataFrame(rows)
    table["ins_minus_del"] = table["insertion_auc"] - table["deletion_auc"]
    table.attrs["user_path"] = user_rows  # the user-path rows (see user_path_row), shown in their own table
    return table, notes


def user_path_row(label, name, model, x, params, floor, run):
    """Time the user's path for ``name`` against the method's floor, in interleaved pairs.

    The user's path is ``ModelExplainer(model, methods=[name], cache=False).explain(x, name)``
    with ``targets=None``: input checks, the predicted class and the predictions
    are part of it (the method-only row gets the targets and skips all that).
    """
    explainer = tlxp.ModelExplainer(model, methods=[name], config={name: params} if params else None, cache=False)
    timing = time_pairs(lambda: explainer.explain(x, name).attributions, floor, run["budget"], run["min_repeats"],
                        run["max_repeats"])
    ratio, target = timing["ratio"], USER_PATH_TARGETS[name]
    return {"model": label, "method": name, "path": "ModelExplainer.explain (cache off, targets=None)",
            "images": len(x), "repeats": len(timing["ours"]),
            "ours_ms_per_image": 1000.0 * statistics.median(timing["ours"]) / len(x),
            "baseline_ms_per_image": 1000.0 * statistics.median(timing["baseline"]) / len(x),
            "ratio": ratio, "target": target, "met": bool(ratio <= target)}


def zoo(args):
    """The ``--zoo`` section: writes ``zoo.md`` under ``--out``; returns the per-model results."""
    from . import bench_zoo

    started = usage_start()
    info = machine()
    results = bench_zoo.measure(models=args.models or bench_zoo.MODELS, methods=args.only or tuple(bench_zoo.METHODS))
    header = ("## Model zoo at 224x224 (CPU)\n\nMachine: %(cpu)s, %(cores)d cores, TensorFlow %(tensorflow)s, "
              "TensorLayer %(tensorlayer)s, commit %(commit)s, %(date)s. " % info
              + "Load: " + _sharing(usage_since(started), info["cores"]) + ". Command: "
              "`TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.run --zoo`. One random 224x224x3 "
              "image, random weights, default adapter (batch_size=256, max_batch_bytes=1 GiB).")
    page = bench_zoo.markdown(results, header)
    print(page)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "zoo.md"), "w") as fh:
        fh.write(page)
    with open(os.path.join(args.out, "zoo.json"), "w") as fh:
        json.dump(results, fh)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats, smaller steps/samples")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="output folder (default: %(default)s)")
    parser.add_argument("--only", nargs="*", help="method names to run (default: every registered method)")
    parser.add_argument("--zoo", action="store_true", help="only the model-zoo section: vgg16 and MobileNetV1 at "
                        "224x224, time per image vs a tf.function floor and peak RSS (benchmarks/bench_zoo.py)")
    parser.add_argument("--models", nargs="*", help="with --zoo: zoo models to run (default: vgg16 MobileNetV1)")
    args = parser.parse_args(argv)
    if args.zoo:
        return zoo(args)
    mode = "quick" if args.quick else "full"
    tf.get_logger().setLevel("ERROR")  # shap's explainers retrace their own tf.functions per call and say so
    started = usage_start()
    info = machine()
    print("Machine: %(cpu)s, %(cores)d cores (%(usable_cores)d usable), Python %(python)s, TensorFlow "
          "%(tensorflow)s, numpy %(numpy)s, TensorLayer %(tensorlayer)s, commit %(commit)s" % info, flush=True)
    from ._models import trained_cnn, trained_mlp

    cnn, cnn_train, _, cnn_test, _ = trained_cnn()
    mlp, mlp_train, _, mlp_test, _ = trained_mlp()
    print("Mode %s; models loaded (%.0f s); measuring..." % (mode, time.perf_counter() - started["wall"]), flush=True)
    table, notes = build_table({"cnn": (cnn, cnn_train, cnn_test), "mlp": (mlp, mlp_train, mlp_test)}, mode,
                               methods=args.only)
    page = markdown(table, notes, info, mode, RUNS[mode], usage_since(started))
    print()
    print(page)
    paths = write_outputs(table, page, args.out, "suite" if mode == "full" else "suite_quick")
    print("written: %s" % ", ".join(paths))
    return table


if __name__ == "__main__":
    main()
