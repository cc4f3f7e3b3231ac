"""TensorLayer's model zoo at 224x224x3 on CPU: time per image against a hand-written floor, and peak RSS.

For ``vgg16``, ``MobileNetV1`` and ``ResNet50`` (``pretrained=False``: random weights, the
download host is unreachable), each applicable method explains one random
224x224 RGB image (uniform in [0, 1], seed 0, the predicted class). Per method:

* **time per image** of the method (called through the registry, as
  ``ModelExplainer`` does, without the extra prediction pass of ``explain``),
  after an untimed warm-up call that traces the compiled steps (with smaller
  sample counts for the perturbation methods);
* **the floor**, measured right after in the same process: a hand-written
  ``tf.function`` doing the same number of passes — one forward+backward
  (``GradientTape``) per gradient evaluation, one forward per perturbed input,
  at batch 1 for one-pass methods and 16 (forward) / 8 (backward) otherwise —
  and the ratio method / floor (median of three alternating pairs for
  one-pass methods, one pair otherwise);
* **peak RSS increase** of the warm-up and timed calls over the RSS right
  before them (the Linux peak mark is reset: ``benchmarks/memory.py``), and the
  RSS left over after them.

Each (model, method) runs in its own subprocess: memory the allocator keeps
after one method does not hide the next one's peak. Run through
``python -m benchmarks.run --zoo``.
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
    "smoothgrad": ({"n_samples": 8}, {"n_samples": 8}, 8, "backward"),  # fewer rows would trace another step
    "occlusion": ({"window": 56, "stride": 56}, {"window": 112, "stride": 112}, 17, "forward"),
    "rise": ({"n_masks": 64}, {"n_masks": 4}, 64, "forward"),
    "lime": ({"num_samples": 64}, {"num_samples": 4}, 64, "forward"),
    "shap_partition": ({"max_evals": 64}, {"max_evals": 8}, 65, "forward"),
    "lrp": ({"rule": "epsilon_plus"}, {"rule": "epsilon_plus"}, 1, "backward"),
    "deeplift": ({}, {}, 2, "backward"),  # the input and its baseline: two rows through one backward pass
    "layercam": ({}, {}, 1, "backward"),
    # Faster Score-CAM: the 32 most varied channels (full Score-CAM, one pass per channel: bench_scorecam.py)
    "scorecam": ({"max_channels": 32}, {"max_channels": 2}, 33, "forward"),
    "sobol": ({"grid_size": 4, "nb_design": 4}, {"grid_size": 2, "nb_design": 2}, 72, "forward"),
}
#: Not run, with the reason.
SKIPPED = {}
#: Batch sizes of the floors.
FORWARD_BATCH, BACKWARD_BATCH = 16, 8
MODELS = ("vgg16", "MobileNetV1", "ResNet50")


def build(name):
    import tensorlayer as tl

    if name == "vgg16":
        return tl.models.vgg16(pretrained=False, mode="static")
    if name == "MobileNetV1":
        return tl.models.MobileNetV1(pretrained=False)
    if name == "ResNet50":
        return tl.models.ResNet50(pretrained=False)
    raise ValueError("model: expected one of %s, got %r" % (MODELS, name))


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor_call(model, kind, batch, target):
    """A hand-written ``tf.function`` call (already traced): ``batch`` images forward, or forward+backward."""
    import numpy as np
    import tensorflow as tf

    model.eval()
    spec = tf.TensorSpec((None, 224, 224, 3), tf.float32)
    x = tf.constant(np.random.default_rng(1).random((batch, 224, 224, 3), np.float32))
    t = tf.fill((batch,), int(target))

    @tf.function(input_signature=[spec])
    def forward(xb):
        return model(xb)

    @tf.function(input_signature=[spec, tf.TensorSpec((None,), tf.int32)])
    def backward(xb, tb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            score = tf.gather(model(xb), tb, batch_dims=1)
        return tape.gradient(score, xb)

    call = (lambda: forward(x).numpy()) if kind == "forward" else (lambda: backward(x, t).numpy())
    call()  # trace
    return call


def _setup(name):
    import numpy as np

    import tensorlayer_xplain as tlxp

    model = build(name)
    adapter = tlxp.ModelAdapter(model)
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    return model, adapter, x, adapter.resolve_targets(None, 1, adapter.predict(x))


def run_method(name, method):
    """One method on one model in a fresh process: peak RSS over the RSS before its first call, then its time
    next to the floor's, measured back to back in this process."""
    from tensorlayer_xplain.methods.registry import method_info

    from .memory import peak_mb, reset_peak, rss_mb

    model, adapter, x, target = _setup(name)
    params, warm, passes, kind = METHODS[method]
    fn = method_info(method).fn
    gc.collect()
    reset_peak()
    base = rss_mb()
    fn(adapter, x, target, **warm)  # traces the compiled steps (counted in the peak: the user pays it too)
    first = _median_time(lambda: fn(adapter, x, target, **params), 1)
    peak = peak_mb() - base
    gc.collect()
    after = rss_mb() - base
    batch = 1 if passes == 1 else FORWARD_BATCH if kind == "forward" else BACKWARD_BATCH
    floor = floor_call(model, kind, batch, target[0])
    pairs = [(first, _median_time(floor, 2) / batch * passes)]
    for _ in range(2 if passes == 1 else 0):  # cheap methods: two more alternating pairs
        pairs.append((_median_time(lambda: fn(adapter, x, target, **params), 1), _median_time(floor, 1) * passes))
    return {"seconds": statistics.median(p[0] for p in pairs), "floor_seconds": statistics.median(p[1] for p in pairs),
            "ratio": statistics.median(p[0] / p[1] for p in pairs), "floor_batch": batch, "peak_mb": peak,
            "after_mb": after, "sample_mb": adapter.sample_bytes() / 2.0 ** 20,
            "batch_rows": {"forward": adapter.batch_rows(), "backward": adapter.batch_rows(backward=True)}}


def _child(args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_zoo"] + list(args), capture_output=True, text=True,
                          env=env, cwd=os.path.dirname(HERE))
    out = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not out:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": "exit %d: %s" % (proc.returncode, tail[:300])}
    return json.loads(out[-1])


def measure(models=MODELS, methods=tuple(METHODS)):
    """Every (model, method) in its own subprocess; ``{model: [row, ...]}``."""
    results = {}
    for name in models:
        rows = results[name] = []
        for method in methods:
            params, _, passes, kind = METHODS[method]
            row = {"model": name, "method": method, "params": params, "passes": passes, "kind": kind}
            row.update(_child([name, method]))
            rows.append(row)
            if "error" in row:
                print("  %s/%s: %s" % (name, method, row["error"]), flush=True)
                if row["error"].startswith("exit") and method == methods[0]:
                    break  # the model itself does not build or run: no use trying the other methods
                continue
            print("  %s/%s: %.2f s (floor %.2f s, %.2fx), peak +%.0f MB, after +%.0f MB" % (
                name, method, row["seconds"], row["floor_seconds"], row["ratio"], row["peak_mb"], row["after_mb"]),
                flush=True)
            print("  row " + json.dumps(row), flush=True)  # kept in the log even if the run is cut short
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
             "| model | method | settings | passes / image | s / image | floor s / image | ratio | peak RSS +MB | "
             "RSS after +MB | target met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    notes = []
    for name, rows in results.items():
        done = [row for row in rows if "sample_mb" in row]
        if done:
            notes.append("- %s: estimated %.0f MB per sample; %d rows per model call forward, %d with gradients, at "
                         "the default max_batch_bytes" % (name, done[0]["sample_mb"], done[0]["batch_rows"]["forward"],
                                                          done[0]["batch_rows"]["backward"]))
        for row in rows:
            settings = ", ".join("%s=%s" % kv for kv in row["params"].items()) or "defaults"
            if "error" in row:
                lines.append("| %s | %s | %s | — | failed: %s | — | — | — | — | — |" % (
                    name, row["method"], settings, row["error"].replace("|", "/")))
                continue
            batch = 1 if row["passes"] == 1 else FORWARD_BATCH if row["kind"] == "forward" else BACKWARD_BATCH
            after = "%.0f" % row["after_mb"] if "after_mb" in row else "—"
            lines.append("| %s | %s | %s | %d %s | %.2f | %.2f (batch %d) | %.2fx | %.0f | %s | %s |" % (
                name, row["method"], settings, row["passes"], row["kind"], row["seconds"], row["floor_seconds"],
                batch, row["ratio"], row["peak_mb"], after, _meets(row)))
    notes += ["- %s not run: %s" % item for item in SKIPPED.items()]
    return "\n".join(lines + [""] + notes) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.bench_zoo MODEL METHOD  (one measurement in a fresh process; the table: "
                 "python -m benchmarks.run --zoo)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(json.dumps(run_method(sys.argv[1], sys.argv[2])), flush=True)
