"""TensorLayer's model zoo at 224x224x3 on CPU: time per image against a hand-written floor, and peak RSS.

For ``vgg16`` and ``MobileNetV1`` (``pretrained=False``: random weights, the
download host is unreachable), each applicable method explains one random
224x224 RGB image (uniform in [0, 1], seed 0, the predicted class). Per method:

* **time per image** of the method (called through the registry, as
  ``ModelExplainer`` does, without the extra prediction pass of ``explain``),
  after an untimed warm-up call that traces the compiled steps (with smaller
  sample counts for the perturbation methods);
* **the floor**, measured in the same process: a hand-written ``tf.function``
  doing the same number of passes at the best batch size — one
  forward+backward (``GradientTape``) per gradient evaluation, one forward per
  perturbed input — and the ratio method / floor;
* **peak RSS increase** of the timed call over the RSS right before it (the
  Linux peak mark is reset before each call: ``benchmarks/_rss.py``), and the
  RSS left over after it.

The floors of a model run in one subprocess, each method in its own (a fresh
process: memory kept by the allocator after one call does not hide the next
one's peak). Run through ``benchmarks/run.py --zoo``.
"""
import gc
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

#: ``name: (params, warm-up params, passes, kind)``: ``passes`` model passes of ``kind``
#: ('backward' = forward+backward, 'forward') per image.
METHODS = {
    "gradient": ({}, {}, 1, "backward"),
    "gradient_x_input": ({}, {}, 1, "backward"),
    "gradcam": ({}, {}, 1, "backward"),
    "integrated_gradients": ({"steps": 16}, {"steps": 2}, 17, "backward"),
    "smoothgrad": ({"n_samples": 8}, {"n_samples": 2}, 8, "backward"),
    "occlusion": ({"window": 56, "stride": 56}, {"window": 112, "stride": 112}, 17, "forward"),
    "rise": ({"n_masks": 64}, {"n_masks": 4}, 64, "forward"),
    "lime": ({"num_samples": 64}, {"num_samples": 4}, 64, "forward"),
    "shap_partition": ({"max_evals": 64}, {"max_evals": 8}, 65, "forward"),
}
#: Not run, with the reason.
SKIPPED = {"scorecam": "one forward pass per channel of the CAM layer (512 on vgg16, 1024 on MobileNetV1): "
                       "minutes per image on this machine"}
#: Batch sizes of the floors.
FORWARD_BATCH, BACKWARD_BATCH = 16, 8
MODELS = ("vgg16", "MobileNetV1")


def build(name):
    import tensorlayer as tl

    if name == "vgg16":
        return tl.models.vgg16(pretrained=False, mode="static")
    if name == "MobileNetV1":
        return tl.models.MobileNetV1(pretrained=False)
    raise ValueError("model: expected one of %s, got %r" % (MODELS, name))


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floors(model, target, repeats=3):
    """Seconds per image of a hand-written ``tf.function`` forward and forward+backward."""
    import numpy as np
    import tensorflow as tf

    model.eval()
    spec = tf.TensorSpec((None, 224, 224, 3), tf.float32)

    @tf.function(input_signature=[spec])
    def forward(x):
        return model(x)

    @tf.function(input_signature=[spec, tf.TensorSpec((None,), tf.int32)])
    def backward(x, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x), t, batch_dims=1)
        return tape.gradient(score, x)

    rng = np.random.default_rng(1)
    xf = tf.constant(rng.random((FORWARD_BATCH, 224, 224, 3), np.float32))
    xb = tf.constant(rng.random((BACKWARD_BATCH, 224, 224, 3), np.float32))
    x1 = xb[:1]
    tb = tf.fill((BACKWARD_BATCH,), int(target))
    for f, args in ((forward, (xf,)), (backward, (xb, tb)), (backward, (x1, tb[:1]))):
        f(*args)  # trace
    return {
        "forward": _median_time(lambda: forward(xf).numpy(), repeats) / FORWARD_BATCH,
        "backward": _median_time(lambda: backward(xb, tb).numpy(), repeats) / BACKWARD_BATCH,
        "backward_one": _median_time(lambda: backward(x1, tb[:1]).numpy(), repeats),
    }


def _setup(name):
    import numpy as np

    import tensorlayer_xplain as tlxp

    model = build(name)
    adapter = tlxp.ModelAdapter(model)
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    return model, adapter, x, adapter.resolve_targets(None, 1, adapter.predict(x))


def run_floors(name):
    """The floors of one model and the adapter's byte-bounded batch sizes."""
    model, adapter, _, target = _setup(name)
    return {"floors": floors(model, target[0]), "sample_mb": adapter.sample_bytes() / 2.0 ** 20,
            "batch_rows": {"forward": adapter.batch_rows(), "backward": adapter.batch_rows(backward=True)}}


def run_method(name, method):
    """One method on one model, in a fresh process: seconds and RSS over the RSS before its first call."""
    from benchmarks._rss import peak_mb, reset_peak, rss_mb
    from tensorlayer_xplain.methods.registry import method_info

    _, adapter, x, target = _setup(name)
    params, warm, passes, kind = METHODS[method]
    fn = method_info(method).fn
    gc.collect()
    reset_peak()
    base = rss_mb()
    fn(adapter, x, target, **warm)  # traces the compiled steps (counted in the peak: the user pays it too)
    repeats = 3 if passes == 1 else 1
    seconds = _median_time(lambda: fn(adapter, x, target, **params), repeats)
    peak = peak_mb() - base
    gc.collect()
    return {"seconds": seconds, "peak_mb": peak, "after_mb": rss_mb() - base}


def _child(args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__)] + list(args), capture_output=True, text=True,
                          env=env)
    out = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not out:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": "exit %d: %s" % (proc.returncode, tail[:300])}
    return json.loads(out[-1])


def measure(models=MODELS, methods=tuple(METHODS)):
    """Floors per model, then every method in its own subprocess; ``{model: result or {'error': ...}}``."""
    results = {}
    for name in models:
        res = results[name] = _child(["floors", name])
        if "error" in res:
            continue
        floor, res["rows"] = res["floors"], []
        for method in methods:
            params, _, passes, kind = METHODS[method]
            row = {"model": name, "method": method, "params": params, "passes": passes, "kind": kind}
            row.update(_child(["method", name, method]))
            if "error" not in row:
                unit = floor["backward_one"] if (kind == "backward" and passes == 1) else floor[kind]
                row["floor_seconds"] = passes * unit
                row["ratio"] = row["seconds"] / row["floor_seconds"]
                print("  %s/%s: %.2f s (floor %.2f s, %.2fx), peak +%.0f MB" % (
                    name, method, row["seconds"], row["floor_seconds"], row["ratio"], row["peak_mb"]), flush=True)
            else:
                print("  %s/%s: %s" % (name, method, row["error"]), flush=True)
            res["rows"].append(row)
    return results


TARGETS = ("gradient <= 1.2x its floor (one forward+backward); perturbation methods (occlusion, rise, lime, "
           "shap_partition) <= 1.3x (forward passes x the forward floor); peak RSS increase <= 2048 MB")


def _meets(row):
    if "ratio" not in row:
        return "—"
    ok = row["peak_mb"] <= 2048
    if row["method"] == "gradient":
        ok = ok and row["ratio"] <= 1.2
    elif row["kind"] == "forward":
        ok = ok and row["ratio"] <= 1.3
    return "yes" if ok else "**no**"


def markdown(results, header):
    """The zoo section of ``docs/benchmarks_table.md``."""
    lines = [header, "", "Targets: " + TARGETS + ".", "",
             "| model | method | settings | passes | s / image | floor s / image | ratio | peak RSS +MB | "
             "RSS after +MB | target met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    notes = []
    for name, res in results.items():
        if "error" in res:
            notes.append("- %s failed: %s" % (name, res["error"]))
            continue
        f = res["floors"]
        notes.append("- %s floors: forward %.3f s / image (batch %d), forward+backward %.3f s / image (batch %d), "
                     "%.3f s (batch 1); estimated %.0f MB per sample, %d rows forward / %d with gradients per "
                     "model call at the default max_batch_bytes" % (
                         name, f["forward"], FORWARD_BATCH, f["backward"], BACKWARD_BATCH, f["backward_one"],
                         res["sample_mb"], res["batch_rows"]["forward"], res["batch_rows"]["backward"]))
        for row in res["rows"]:
            settings = ", ".join("%s=%s" % kv for kv in row["params"].items()) or "defaults"
            if "error" in row:
                lines.append("| %s | %s | %s | — | failed: %s | — | — | — | — | — |" % (
                    name, row["method"], settings, row["error"].replace("|", "/")))
                continue
            lines.append("| %s | %s | %s | %d %s | %.2f | %.2f | %.2fx | %.0f | %.0f | %s |" % (
                name, row["method"], settings, row["passes"], row["kind"], row["seconds"], row["floor_seconds"],
                row["ratio"], row["peak_mb"], row["after_mb"], _meets(row)))
    notes += ["- %s not run: %s" % item for item in SKIPPED.items()]
    return "\n".join(lines + [""] + notes) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    what, rest = sys.argv[1], sys.argv[2:]
    print(json.dumps(run_floors(*rest) if what == "floors" else run_method(*rest)), flush=True)
