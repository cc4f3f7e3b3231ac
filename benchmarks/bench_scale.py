"""Whole-dataset runs: in-memory ``explain`` vs ``explain_dataset`` to a Zarr store vs Ray with 2 workers.

10,000 MNIST test digits, the reference CNN (``benchmarks/_models.trained_cnn``),
``gradient`` and ``integrated_gradients`` (32 steps), batch and chunk size 256.
Each (path, method) runs in its own subprocess so peak RSS (``ru_maxrss`` of the
process; for Ray, the driver's plus the largest actor's) is its own; after one
warm-up call on 256 digits (compilation excluded) the whole 10,000 are timed
once. Because the machine may be shared, the store/in-memory time ratio is also
measured in one process, in back-to-back pairs of alternating order (median of
``--pairs``). Reported: digits per second, the ratio to the in-memory path, peak RSS and
the store's size on disk. A Ray job starts its actors (a process each, TensorFlow
import, model build, tracing) inside the call; that start-up is timed by the
actors themselves and also reported apart ("after start-up" = the rate once the
first chunk began).

Targets (issue "Explain a whole dataset"): the store within 1.15x of in-memory
throughput with flat memory; Ray within 1.3x of the single-process store.

Run::

    TENSORLAYER_XPLAIN_DATA=/work/shared/data python -m benchmarks.bench_scale [--n 10000]
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = {"integrated_gradients": {"steps": 32}}
PATHS = ("memory", "store", "ray")
METHODS = ("gradient", "integrated_gradients")


def _cnn_weights():
    """Trained weights as arrays (so Ray actors can rebuild the same model)."""
    from ._models import trained_cnn

    model, *_ = trained_cnn()
    return [w.numpy() for w in model.all_weights]


def _build(weights):
    import tensorlayer_xplain as tlxp

    model = tlxp.models.cnn(seed=0)
    for variable, value in zip(model.all_weights, weights):
        variable.assign(value)
    return model


def _du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def one(path_kind, method, n, workdir):
    """Run one configuration in this process; print a JSON line."""
    import tensorlayer_xplain as tlxp

    X_test = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))[4][:n]
    weights = _cnn_weights()
    model = _build(weights)
    explainer = tlxp.ModelExplainer(model, methods=[method], config=CONFIG, batch_size=256, cache=False)
    explainer.explain(X_test[:256], method)  # warm-up: compile
    store_path = os.path.join(workdir, "%s-%s.zarr" % (path_kind, method))
    shutil.rmtree(store_path, ignore_errors=True)
    extra_rss = 0
    if path_kind == "ray":
        import ray

        from tensorlayer_xplain.scale.ray import explain_with_ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}})
    start = time.perf_counter()
    if path_kind == "memory":
        exp = explainer.explain(X_test, method, progress=False)
        assert len(exp) == n
    elif path_kind == "store":
        explainer.explain_dataset(X_test, store_path, progress=False)
    else:
        store = explain_with_ray(tlxp.models.cnn, weights, X_test, store_path, [method], num_workers=2,
                                 config=CONFIG, progress=False)
    seconds = time.perf_counter() - start
    startup = store.timings["startup"] if path_kind == "ray" else 0.0
    if path_kind == "ray":
        import psutil

        workers = [p for p in psutil.process_iter(["name", "cmdline"]) if "ray::" in " ".join(p.info["cmdline"] or [])]
        extra_rss = max([p.memory_info().rss for p in workers] or [0])
    size = _du(store_path) if os.path.exists(store_path) else 0
    print(json.dumps({"path": path_kind, "method": method, "n": n, "seconds": seconds, "digits_per_s": n / seconds,
                      "steady_per_s": n / (seconds - startup), "startup_s": startup,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + extra_rss / 2 ** 20,
                      "store_mb": size / 2 ** 20}))
    shutil.rmtree(store_path, ignore_errors=True)


def paired(n, pairs, workdir):
    """Memory vs store in one process, back to back with alternating order: median time ratio per method."""
    import statistics

    import tensorlayer_xplain as tlxp

    X_test = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))[4][:n]
    explainer = tlxp.ModelExplainer(_build(_cnn_weights()), methods=list(METHODS), config=CONFIG, batch_size=256,
                                    cache=False)
    out = {}
    for method in METHODS:
        explainer.explain(X_test[:256], method)
        ratios = []
        for i in range(pairs):
            times = {}
            for kind in (("memory", "store") if i % 2 == 0 else ("store", "memory")):
                path = os.path.join(workdir, "paired.zarr")
                shutil.rmtree(path, ignore_errors=True)
                start = time.perf_counter()
                if kind == "memory":
                    explainer.explain(X_test, method, progress=False)
                else:
                    explainer.explain_dataset(X_test, path, methods=[method], progress=False)
                times[kind] = time.perf_counter() - start
            ratios.append(times["store"] / times["memory"])
        out[method] = statistics.median(ratios)
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--one", nargs=2, metavar=("PATH", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--pairs", type=int, default=3, help="memory/store pairs timed in one process (default 3)")
    parser.add_argument("--paired", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_scale_")
    if args.one:
        return one(args.one[0], args.one[1], args.n, workdir)
    if args.paired:
        return paired(args.n, args.pairs, workdir)
    _cnn_weights()  # train once (cached) before the timed subprocesses
    rows = []
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    for method in METHODS:
        for path_kind in PATHS:
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_scale", "--one", path_kind, method, "--n",
                                  str(args.n), "--workdir", workdir], env=env, capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                sys.exit("%s/%s failed:\n%s" % (path_kind, method, out.stderr[-3000:]))
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_scale", "--paired", "--n", str(args.n), "--pairs",
                          str(args.pairs), "--workdir", workdir], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit("paired run failed:\n%s" % out.stderr[-3000:])
    ratio = json.loads(out.stdout.strip().splitlines()[-1])
    print("| method | path | digits/s | time vs in-memory | after start-up: digits/s | vs store "
          "| start-up (s) | peak RSS (MB) | store (MB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        base = next(r for r in rows if r["method"] == row["method"] and r["path"] == "memory")
        store = next(r for r in rows if r["method"] == row["method"] and r["path"] == "store")
        print("| %s | %s | %.0f | %.2fx | %.0f | %.2fx | %.1f | %.0f | %s |" % (
            row["method"], row["path"], row["digits_per_s"], base["digits_per_s"] / row["digits_per_s"],
            row["steady_per_s"], store["steady_per_s"] / row["steady_per_s"], row["startup_s"], row["rss_mb"],
            "%.1f" % row["store_mb"] if row["store_mb"] else "-"))
    print()
    print("Store / in-memory time, %d back-to-back pairs in one process (median): %s" % (
        args.pairs, ", ".join("%s %.2fx" % kv for kv in ratio.items())))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
