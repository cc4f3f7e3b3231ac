"""A user's integrated gradients on the public engine against the built-in one, side by side in one process.

The user's method is the recipe of ``docs/architecture.rst`` ("Add a method"):
a registered function whose per-pair step goes through
:func:`tensorlayer_xplain.methods.engine.sum_over_samples`. It evaluates the
same number of gradients as the built-in ``integrated_gradients`` (``steps + 1``
points: the user's rule takes ``steps + 1`` midpoints, the built-in the
trapezoid's ``steps + 1`` nodes), on the same CNN, batch and targets. Both run
after one warm-up call each, in back-to-back pairs whose order alternates; the
ratio printed is the median of the per-pair ratios (user / built-in).

Target (issue 23, item 4): the user's method within 1.1x of the built-in.

Run::

    python -m benchmarks.bench_engine [--batch 64] [--steps 32] [--repeats 15]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods import engine

TARGET = 1.1


def register_user_ig():
    """The docs recipe: integrated gradients from a zero baseline, midpoint rule, on the public engine."""

    @tlxp.register_method("user_ig", signed=True, overwrite=True,
                          cost=lambda adapter, n, steps=32, **_: (n * steps, n * steps))
    def user_ig(adapter, inputs, targets, steps=32):
        x = np.asarray(inputs, np.float32)
        alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps

        def one_pair(xb, alpha, t):
            grads, _ = adapter.differentiate(engine.expand(alpha, xb) * xb, t)
            return grads / steps

        return x * engine.sum_over_samples(adapter, "user_ig", one_pair, (x,), (alphas,), targets)

    return user_ig


def measure(batch=64, steps=32, repeats=15, seed=0):
    """``{'builtin': [s], 'user': [s], 'ratio': median user/builtin, 'max_rel_diff': ...}``."""
    register_user_ig()
    try:
        model = tlxp.models.cnn(seed=seed)
        x = np.random.default_rng(seed).random((batch, 28, 28, 1), np.float32)
        adapter = tlxp.as_adapter(model)
        t = adapter.predict(x).argmax(1)
        builtin = tlxp.get_method("integrated_gradients")
        user = tlxp.get_method("user_ig")
        prepared, _ = adapter.prepare(x)

        def run_builtin():
            return builtin(adapter, prepared, t, steps=steps)[0]

        def run_user():
            return user(adapter, prepared, t, steps=steps + 1)  # same number of gradient evaluations

        a, b = run_builtin(), run_user()
        diff = float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))
        times = {"builtin": [], "user": []}
        for r in range(repeats):
            for name, fn in ((("builtin", run_builtin), ("user", run_user)) if r % 2 == 0
                             else (("user", run_user), ("builtin", run_builtin))):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        ratio = statistics.median(u / v for u, v in zip(times["user"], times["builtin"]))
        return dict(times, ratio=ratio, max_rel_diff=diff)
    finally:
        tlxp.unregister_method("user_ig")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    result = measure(args.batch, args.steps, args.repeats)
    print("integrated gradients, CNN, %d images x %d steps, %d pairs" % (args.batch, args.steps + 1, args.repeats))
    print("  built-in : median %.1f ms" % (1e3 * statistics.median(result["builtin"])))
    print("  user     : median %.1f ms" % (1e3 * statistics.median(result["user"])))
    print("  ratio user / built-in (median of pairs): %.3f  (target <= %.1f) %s"
          % (result["ratio"], TARGET, "OK" if result["ratio"] <= TARGET else "OVER"))
    print("  max rel. difference of the maps (midpoint vs trapezoid rule): %.3g" % result["max_rel_diff"])
    return result


if __name__ == "__main__":
    main()
