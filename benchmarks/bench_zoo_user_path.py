"""The user path on the zoo at 224x224, side by side with the hand-written floor, in one process.

For one model and one method (``benchmarks/bench_zoo.py``'s settings and floors:
``pretrained=False`` random weights, one random 224x224x3 image, the predicted
class; the floor is a hand-written ``tf.function``, one forward+backward per
gradient evaluation at batch 1, or one forward per perturbed input at batch 16),
``--rounds`` rounds each call, in turn and after one untimed warm-up call each:

* ``floor``: the hand-written ``tf.function`` (scaled to the method's passes);
* ``fn``: the method through the registry, as ``bench_zoo`` times it;
* ``explain``: ``tlxp.explain(model, x, method)``;
* ``explainer_nocache``: ``ModelExplainer(model, cache=False).explain(x, method)``;
* ``explainer``: ``ModelExplainer(model).explain(x_new, method)`` with its default
  cache and a new image per call (the cache key, weights fingerprint included, is
  computed every call and never hits).

Printed per variant: the median wall time and its ratio to the floor's, the
fastest wall time and its ratio (the least disturbed by other processes), and the
median process CPU time and its ratio (all threads; the steadiest on a loaded
machine). Peak RSS of the process is printed too.

Run from the repository root::

    python -m benchmarks.bench_zoo_user_path vgg16 gradient --rounds 11
    python -m benchmarks.bench_zoo_user_path MobileNetV1 lime --rounds 7 --variants floor,fn,explain
"""
import argparse
import os
import resource
import statistics
import time

VARIANTS = ("floor", "fn", "explain", "explainer_nocache", "explainer")


def measure(name, method, rounds=7, variants=VARIANTS):
    """``{variant: {'wall': [...], 'cpu': [...]}}`` in seconds per image, the floor scaled to the method's passes."""
    import numpy as np

    import tensorlayer_xplain as tlxp
    from benchmarks.bench_zoo import BACKWARD_BATCH, FORWARD_BATCH, METHODS, build, floor_call
    from tensorlayer_xplain.methods.registry import method_info

    model = build(name)
    adapter = tlxp.as_adapter(model)
    rng = np.random.default_rng(0)
    x = rng.random((1, 224, 224, 3), dtype=np.float32)
    target = adapter.resolve_targets(None, 1, adapter.predict(x))
    params, _, passes, kind = METHODS[method]
    batch = 1 if passes == 1 else FORWARD_BATCH if kind == "forward" else BACKWARD_BATCH
    floor = floor_call(model, kind, batch, target[0])
    floor_calls = max(1, passes // batch)
    scale = passes / float(batch * floor_calls)  # seconds of `floor_calls` calls -> seconds of `passes` passes
    fn = method_info(method).fn
    without_cache = tlxp.ModelExplainer(model, methods=[method], cache=False)
    explainer = tlxp.ModelExplainer(model, methods=[method])
    calls = {
        "floor": lambda: [floor() for _ in range(floor_calls)],
        "fn": lambda: fn(adapter, x, target, **params),
        "explain": lambda: tlxp.explain(model, x, method, **params),
        "explainer_nocache": lambda: without_cache.explain(x, method, **params),
        "explainer": lambda: explainer.explain(rng.random((1, 224, 224, 3), dtype=np.float32), method, **params),
    }
    for v in variants:  # warm-up: traces
        calls[v]()
    out = {v: {"wall": [], "cpu": []} for v in variants}
    for _ in range(rounds):
        for v in variants:
            cpu, wall = time.process_time(), time.perf_counter()
            calls[v]()
            factor = scale if v == "floor" else 1.0
            out[v]["wall"].append((time.perf_counter() - wall) * factor)
            out[v]["cpu"].append((time.process_time() - cpu) * factor)
    return out


def report(name, method, times):
    floor = times["floor"]
    ref = {"median": statistics.median(floor["wall"]), "min": min(floor["wall"]),
           "cpu": statistics.median(floor["cpu"])}
    lines = ["%s/%s, %d rounds, peak RSS %.0f MB" % (name, method, len(floor["wall"]),
                                                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)]
    for v, t in times.items():
        med, low, cpu = statistics.median(t["wall"]), min(t["wall"]), statistics.median(t["cpu"])
        lines.append("  %-18s wall median %.4f s %.3fx | wall min %.4f s %.3fx | cpu median %.4f s %.3fx" % (
            v, med, med / ref["median"], low, low / ref["min"], cpu, cpu / ref["cpu"]))
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("vgg16", "MobileNetV1", "ResNet50"))
    parser.add_argument("method")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = tuple(args.variants.split(","))
    if "floor" not in variants:
        parser.error("--variants: must include floor (the ratios' reference), got %s" % args.variants)
    print(report(args.model, args.method, measure(args.model, args.method, args.rounds, variants)), flush=True)
