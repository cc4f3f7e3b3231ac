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

Method settings come from each method's declaration (``register_method(...,
benchmark={...})``: the methods' defaults in the full run, smaller work in
``--quick``); run settings from :data:`RUNS`.

Outputs in ``--out`` (default ``benchmarks/results/``, not committed):
``suite[_quick].md`` (the table with the machine and settings), ``suite[_quick].csv``
(pandas, every number unrounded) and ``suite[_quick].png`` (time per image vs
insertion minus deletion AUC, one panel per model).

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python benchmarks/run.py [--quick] [--out DIR]
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import tensorlayer_xplain as tlxp  # noqa: E402
from tensorlayer_xplain import metrics  # noqa: E402
from tensorlayer_xplain.methods.registry import TrainingRows, method_info, method_parameters, skip_reason  # noqa: E402

# ============================================================================ settings (the one place)
#: Run settings per mode. ``batch``: test digits per timed call; ``min/max_repeats`` and
#: ``budget`` (seconds of timing per row): how many timed repeats (pairs with the baseline);
#: ``metric_images``: digits the quality metrics use; ``steps``: deletion/insertion steps;
#: ``n_subsets``: μ-fidelity subsets.
RUNS = {
    "full": {"batch": 64, "min_repeats": 5, "max_repeats": 40, "budget": 8.0,
             "metric_images": 16, "steps": 25, "n_subsets": 128},
    "quick": {"batch": 32, "min_repeats": 3, "max_repeats": 15, "budget": 1.5,
              "metric_images": 8, "steps": 10, "n_subsets": 32},
}


#: Why a method has no baseline column (methods not listed: "no baseline in benchmarks/").
NO_BASELINE = {
    "attention": "activation attention is one forward pass to a layer and a channel mean; nothing to compare with",
    "attention_rollout": "no upstream rollout implementation to compare with",
    "shap_deep": "wraps shap.DeepExplainer itself (ours adds guards and batching)",
    "shap_partition": "wraps shap.PartitionExplainer itself",
    "shap_kernel": "wraps shap.KernelExplainer itself",
    "lime_tabular": "wraps lime.lime_tabular itself",
}

SEED = 0
FLOOR_LABEL = "tf.function floor"
#: The user's path, timed against the same floor as the method: ``ModelExplainer(model, cache=False)
#: .explain(x, method)`` with targets=None (prediction and predicted class included), and its target ratio.
USER_PATH_TARGETS = {"gradient": 1.1, "gradcam": 1.3, "gradcam_plus_plus": 1.4}


# ============================================================================ settings -> parameters
def method_spec(name):
    """The benchmark settings ``name`` declares (``register_method(..., benchmark=...)``; empty: its defaults).

    ``quick`` / ``full``: parameters per mode (``TrainingRows(n)`` = n rows of the
    model's training set); ``images``: timed images per mode when fewer than the
    batch (methods that explain one image at a time); ``inputs='flat'``: only for
    models with flat inputs; ``work``: the parameters shown in the table.
    """
    return method_info(name).benchmark


def resolve_params(name, mode, X_train):
    """``(params, resolved, work)``: the parameters the suite passes, all of them with defaults, the table text.

    ``TrainingRows(n)`` placeholders become ``n`` rows of ``X_train`` (seeded sample).
    """
    if mode not in RUNS:
        raise ValueError("mode: expected one of %s, got %r" % (sorted(RUNS), mode))
    given = dict(method_spec(name).get(mode, {}))
    for key, value in given.items():
        if isinstance(value, TrainingRows):
            rows = np.random.default_rng(SEED).choice(len(X_train), min(value.n, len(X_train)), replace=False)
            given[key] = X_train[np.sort(rows)]
    resolved = dict(method_parameters(name))
    resolved.update(given)
    shown = []
    for key in method_spec(name).get("work", ()):
        value = method_spec(name).get(mode, {}).get(key, resolved.get(key))
        shown.append("%s=%s" % (key, value))
    return given, resolved, ", ".join(shown)


def applies(name, adapter):
    """None when method ``name`` applies to the model behind ``adapter`` (its declaration), else the reason."""
    if method_spec(name).get("inputs") == "flat" and len(adapter.input_shape) != 1:
        return "for flat inputs (run on the MLP)"
    return skip_reason(adapter, name)


# ============================================================================ measuring
def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def time_pairs(ours, baseline, budget, min_repeats, max_repeats):
    """Time ``ours`` (and ``baseline``) after one warm-up call each, interleaved, order alternating.

    Returns
    -------
    dict
        ``ours`` / ``baseline``: lists of seconds; ``ratio``: median of per-pair ratios
        (None without a baseline); ``outputs``: the warm-up results (ours, baseline).
    """
    outputs = (_first(ours()), _first(baseline()) if baseline is not None else None)
    first = _timed(ours)[0] + (_timed(baseline)[0] if baseline is not None else 0.0)
    repeats = int(min(max_repeats, max(min_repeats, budget / max(first, 1e-6))))
    times = {"ours": [], "baseline": []}
    for r in range(repeats):
        sides = [("ours", ours)] + ([("baseline", baseline)] if baseline is not None else [])
        for side, fn in (sides if r % 2 == 0 else sides[::-1]):
            times[side].append(_timed(fn)[0])
    ratio = statistics.median(a / b for a, b in zip(times["ours"], times["baseline"])) if baseline else None
    return {"ours": times["ours"], "baseline": times["baseline"], "ratio": ratio, "outputs": outputs}


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark of this process (Linux: ``/proc/self/clear_refs`` 5); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


#: How the RSS column is measured on this machine (stated in the table header).
RSS_HOW = ("peak RSS growth during the call (Linux peak mark reset via /proc/self/clear_refs, "
           "read with resource.getrusage maxrss)" if _reset_peak_rss() else
           "growth of the process's resource.getrusage maxrss during the call (0 unless a new process peak)")


def peak_memory(fn):
    """``(python_peak_mb, rss_growth_mb)`` of one call of ``fn`` (two separate calls, one per measurement)."""
    _reset_peak_rss()
    before = _maxrss_mb()
    fn()
    rss = max(0.0, _maxrss_mb() - before)
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2.0 ** 20, rss


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


# ============================================================================ baselines
def _floor_kwargs(params):
    """``bench_gradients.make_floors`` keyword arguments matching the methods' resolved settings."""
    ig, sg, vg = params["integrated_gradients"], params["smoothgrad"], params["vargrad"]
    occ, rise = params["occlusion"], params["rise"]
    if (vg["n_samples"], vg["noise_level"]) != (sg["n_samples"], sg["noise_level"]):
        raise ValueError("benchmark settings: smoothgrad and vargrad share one floor setting; give them the same "
                         "n_samples and noise_level, got %r and %r" % (sg, vg))
    return {"ig_steps": ig["steps"], "sg_samples": sg["n_samples"], "noise_level": sg["noise_level"],
            "occlusion_window": occ["window"], "occlusion_stride": occ["stride"], "rise_n_masks": rise["n_masks"],
            "rise_mask_size": rise["mask_size"], "rise_p_keep": rise["p_keep"]}


def _floors_match(name, params):
    """None when bench_gradients' floor does the same work as ``name`` with ``params``, else why not."""
    fixed = {"integrated_gradients": {"baseline": "zeros"}, "smoothgrad": {"base_method": "gradient"},
             "vargrad": {"base_method": "gradient"}, "gradient": {"absolute": True},
             "occlusion": {"baseline_value": 0.0}, "rise": {"seed": 0, "use_probabilities": True},
             "scorecam": {"use_probabilities": True}, "gradcam": {"layer_name": None}}
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
    from benchmarks import bench_gradients, bench_lime_shap

    pairs, why = {}, {}
    image_model = len(adapter.input_shape) == 3
    if not image_model:
        why["*"] = "bench_gradients' floors and bench_lime_shap's lime_runs are written for the CNN's image inputs"
    floors = {}
    if image_model:
        try:
            floors = bench_gradients.make_floors(model, x, t, **_floor_kwargs(resolved))
        except Exception as err:  # the floors are hand-written for the MNIST CNN's layout
            why["floors"] = "bench_gradients floors do not fit this model (%s: %s)" % (type(err).__name__, err)
    for name, fn in floors.items():
        mismatch = _floors_match(name, resolved.get(name, {}))
        if mismatch:
            why[name] = mismatch
        else:
            pairs[name] = (FLOOR_LABEL, None, fn)
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


# ============================================================================ the table
#: Row order of the table (families not listed go last, then by name).
FAMILY_ORDER = ("gradient", "cam", "perturbation", "attention", "lime", "shap")


def _family_key(name):
    family = method_info(name).family
    return (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER), family, name)


def _model_methods(adapter, methods):
    run, skipped = [], []
    for name in sorted(methods, key=_family_key):
        reason = applies(name, adapter)
        (skipped if reason else run).append((name, reason))
    return [name for name, _ in run], skipped


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
    import pandas as pd

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
            direct = (lambda fn=fn, n=n, p=params[name]: fn(adapter, x[:n], t[:n], **p))
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


def user_path_markdown(user_rows):
    """The user-path table (empty list of lines when there are no such rows)."""
    if not user_rows:
        return []
    lines = ["", "User path: `ModelExplainer(model, cache=False).explain(x, method)` with targets=None (input "
             "checks, predicted class and predictions included), against the same `%s` in back-to-back pairs:"
             % FLOOR_LABEL, "",
             "| model | method | images | user path (ms/img) | floor (ms/img) | ratio | target | met |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in user_rows:
        lines.append("| %s | %s | %d | %.2f | %.2f | %.2fx | ≤ %.1fx | %s |" % (
            r["model"], r["method"], r["images"], r["ours_ms_per_image"], r["baseline_ms_per_image"], r["ratio"],
            r["target"], "yes" if r["met"] else "**no**"))
    return lines


# ============================================================================ machine, markdown, csv, plot
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine():
    """A dict describing the machine and the library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import tensorlayer

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
            "python": platform.python_version(), "tensorflow": tf.__version__, "numpy": np.__version__,
            "tensorlayer": tensorlayer.__version__, "tensorlayer_xplain": tlxp.__version__,
            "os": platform.platform(), "commit": _commit(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}


def _fmt(value, spec, missing="—"):
    return missing if value is None or (isinstance(value, float) and not np.isfinite(value)) else spec % value


def _busy_seconds():
    """CPU seconds all processes of the machine have spent busy (``/proc/stat``), or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / float(os.sysconf("SC_CLK_TCK"))


def usage_start():
    """Snapshot for :func:`usage_since`: wall clock, this process's CPU time, the machine's busy time, load."""
    times = os.times()
    return {"wall": time.perf_counter(), "own": times.user + times.system, "busy": _busy_seconds(),
            "load": os.getloadavg()[0]}


def usage_since(start):
    """How busy the machine was since ``start`` apart from this process.

    Returns
    -------
    dict
        ``wall`` (s), ``load_start`` / ``load_end`` (1-min load average), ``others_cores``: the
        average number of cores other processes kept busy (None off Linux).
    """
    now = usage_start()
    wall = now["wall"] - start["wall"]
    others = None
    if start["busy"] is not None and now["busy"] is not None and wall > 0:
        others = max(0.0, (now["busy"] - start["busy"]) - (now["own"] - start["own"])) / wall
    return {"wall": wall, "load_start": start["load"], "load_end": now["load"], "others_cores": others}


def _sharing(use, cores):
    if use["others_cores"] is None:
        return "1-min load average %.2f at start, %.2f at end (this run included)" % (
            use["load_start"], use["load_end"])
    shared = use["others_cores"] > 0.1
    return ("other processes kept %.2f of the %d cores busy on average during the run (from /proc/stat, this "
            "process excluded)%s; 1-min load average %.2f at start, %.2f at end (this run included)" % (
                use["others_cores"], cores, " — the machine was shared while measuring" if shared else
                " — the machine was otherwise idle", use["load_start"], use["load_end"]))


def markdown(table, notes, info, mode, run, use):
    """The Markdown page: machine, settings, the table, notes (``use``: :func:`usage_since`)."""
    lines = [
        "Machine: %s, %d cores (%d usable); Python %s, TensorFlow %s, numpy %s, TensorLayer %s, "
        "tensorlayer-xplain %s (commit %s); %s." % (
            info["cpu"], info["cores"], info["usable_cores"], info["python"], info["tensorflow"], info["numpy"],
            info["tensorlayer"], info["tensorlayer_xplain"], info["commit"], info["date"]),
        "Load: %s. Suite wall time: %.0f s." % (_sharing(use, info["cores"]), use["wall"]),
        "",
        "Mode `%s`: batch of %d test digits per timed call (fewer where the `images` column says so), "
        "median of %d–%d repeats after one warm-up call (tracing excluded), ours and the baseline interleaved in "
        "back-to-back pairs with alternating order; `ratio` = median of the per-pair ratios ours / baseline "
        "(< 1: ours is faster). Quality on the first %d digits (predicted class): deletion / insertion AUC "
        "with %d steps (deletion to black, insertion from a blur; lower / higher is better), μ-fidelity with "
        "%d subsets of 20%% of the pixels (higher is better). Memory of one extra call: `py peak` = tracemalloc "
        "peak (Python and numpy allocations; TensorFlow's allocator is not seen), `RSS peak` = %s." % (
            mode, run["batch"], run["min_repeats"], run["max_repeats"], run["metric_images"], run["steps"],
            run["n_subsets"], RSS_HOW),
        "",
        "| model | method | work | images | ours (ms/img) | baseline | baseline (ms/img) | ratio "
        "| py peak (MB) | RSS peak (MB) | deletion AUC ↓ | insertion AUC ↑ | μ-fidelity ↑ |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in table.to_dict("records"):
        lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %.3f | %.3f | %s |" % (
            r["model"], r["method"], r["work"] or "defaults", r["images"], _fmt(r["ours_ms_per_image"], "%.2f"),
            r["baseline"], _fmt(r["baseline_ms_per_image"], "%.2f"), _fmt(r["ratio"], "%.2fx"),
            _fmt(r["python_peak_mb"], "%.1f"), _fmt(r["rss_peak_mb"], "%.1f"), r["deletion_auc"],
            r["insertion_auc"], _fmt(r["mu_fidelity"], "%.3f", "n/a")))
    lines += ["", "Baselines: `%s` = the hand-written tf.function / GradientTape of "
              "benchmarks/bench_gradients.py doing the same work; `lime_image defaults` = "
              "`lime_image.LimeImageExplainer().explain_instance` with its defaults (batch_size=10, top_labels=5) "
              "at the same num_samples, and `shap.GradientExplainer` = shap used directly on the TL model wrapped "
              "as Keras, same background and samples (benchmarks/bench_lime_shap.py; our side of those pairs goes "
              "through `tlxp.explain`, which adds one prediction pass for methods that do not compute the "
              "predictions themselves). The CSV has `baseline_max_rel_diff`, the "
              "largest difference of the two results (random methods draw different noise)." % FLOOR_LABEL]
    lines += user_path_markdown(table.attrs.get("user_path", []))
    without = {}
    for r in table.to_dict("records"):
        if r["baseline"] == "—" and r["method"] != "random":
            without.setdefault(r["note"], []).append("%s/%s" % (r["model"], r["method"]))
    if without:
        lines += ["", "No baseline ('—'):"]
        lines += ["- %s: %s" % (", ".join(names), note) for note, names in without.items()]
    if notes:
        lines += ["", "Not run or failed:"] + ["- %s" % note for note in notes]
    return "\n".join(lines) + "\n"


#: Label positions tried around a point (offset in points, horizontal alignment), first free one wins.
_LABEL_SPOTS = tuple((dx, dy, "left" if dx > 0 else "right")
                     for dy in (3, -9, 10, -16, 17, -23, 24, -30, 31, -37, 38, -44)
                     for dx in (4, -4, 24, -24))


def _label_points(fig, ax, part):
    """Name every point at the first spot where the label overlaps no other label or point and stays inside."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    records = sorted(part.to_dict("records"), key=lambda r: (r["ours_ms_per_image"], r["ins_minus_del"]))
    xy = [(r["ours_ms_per_image"], r["ins_minus_del"]) for r in records]
    points = [Bbox.from_extents(px - 4, py - 4, px + 4, py + 4) for px, py in ax.transData.transform(xy)]
    inside = ax.get_window_extent(renderer)
    placed = []
    for k, r in enumerate(records):
        others = points[:k] + points[k + 1:]
        best = None
        for dx, dy, ha in _LABEL_SPOTS:
            far = abs(dy) > 10 or abs(dx) > 10  # a thin leader line says which point a displaced label names
            text = ax.annotate(r["method"], xy[k], fontsize=7, xytext=(dx, dy), textcoords="offset points", ha=ha,
                               arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if far else None)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).padded(3)  # the text alone (no leader line), kept apart
            outside = not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))
            # a label over another label is worse than over a point; outside the axes worst
            clashes = (3 * sum(box.overlaps(other) for other in placed) + sum(box.overlaps(p) for p in others)
                       + 10 * outside)
            if best is None or clashes < best[0]:
                if best is not None:
                    best[1].remove()
                best = (clashes, text, box)
            else:
                text.remove()
            if clashes == 0:
                break
        placed.append(best[2])


def plot(table, path):
    """Time per image (log x) vs insertion minus deletion AUC, one panel per model, TL figure conventions."""
    from tensorlayer_xplain.visualize._figure import tl_figure

    labels = list(dict.fromkeys(table["model"]))
    families = sorted(set(table["family"]) - {"reference"})
    colors = dict(zip(families, ["C%d" % i for i in range(10)]))
    with tl_figure(saveable=True, name=path, fig_idx=8801, figsize=(6.2 * len(labels), 5.5)) as fig:
        for k, label in enumerate(labels):
            ax = fig.add_subplot(1, len(labels), k + 1)
            part = table[table["model"] == label]
            for r in part.to_dict("records"):
                if r["method"] == "random":
                    ax.axhline(r["ins_minus_del"], color="0.5", ls="--", lw=1)
                    ax.text(0.01, r["ins_minus_del"], " random", color="0.4", fontsize=8, va="bottom",
                            transform=ax.get_yaxis_transform())
                    continue
                ax.scatter(r["ours_ms_per_image"], r["ins_minus_del"], color=colors[r["family"]], s=36,
                           label=r["family"], zorder=3)
            ax.set_xscale("log")
            ax.margins(x=0.1, y=0.1)
            ax.autoscale_view()  # final limits now, so the label placement sees the final layout
            low, high = ax.get_xlim()
            ax.set_xlim(low, high * 4)  # room for the labels of the slowest methods
            low, high = ax.get_ylim()
            ax.set_ylim(low, high + 0.08 * (high - low))  # and of the best ones
            _label_points(fig, ax, part[part["method"] != "random"])
            ax.set_xlabel("time per image (ms, log scale)")
            ax.set_ylabel("insertion AUC − deletion AUC (higher is better)")
            ax.set_title("MNIST %s" % label.upper())
            ax.grid(True, which="both", alpha=0.3)
            handles, names = ax.get_legend_handles_labels()
            unique = dict(zip(names, handles))
            ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    return path


def write_outputs(table, page, out, tag):
    """Write ``<tag>.md``, ``<tag>.csv`` and ``<tag>.png`` into ``out``; returns their paths."""
    os.makedirs(out, exist_ok=True)
    md, csv, png = (os.path.join(out, tag + ext) for ext in (".md", ".csv", ".png"))
    with open(md, "w") as fh:
        fh.write(page)
    table.to_csv(csv, index=False)
    if table.attrs.get("user_path"):
        import pandas as pd

        pd.DataFrame(table.attrs["user_path"]).to_csv(os.path.join(out, tag + "_user_path.csv"), index=False)
    plot(table, png)
    return md, csv, png


def zoo(args):
    """The ``--zoo`` section: writes ``zoo.md`` under ``--out``; returns the per-model results."""
    from benchmarks import bench_zoo

    started = usage_start()
    info = machine()
    results = bench_zoo.measure(models=args.models or bench_zoo.MODELS, methods=args.only or tuple(bench_zoo.METHODS))
    header = ("## Model zoo at 224x224 (CPU)\n\nMachine: %(cpu)s, %(cores)d cores, TensorFlow %(tensorflow)s, "
              "TensorLayer %(tensorlayer)s, commit %(commit)s, %(date)s. " % info
              + "Load: " + _sharing(usage_since(started), info["cores"]) + ". Command: "
              "`TENSORLAYER_XPLAIN_DATA=/work/shared/data python benchmarks/run.py --zoo`. One random 224x224x3 "
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
    from benchmarks._models import trained_cnn, trained_mlp

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
