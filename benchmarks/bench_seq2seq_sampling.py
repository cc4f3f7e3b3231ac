"""Seq2seq LIME and SHAP: every output position from one sample set, against one run per position.

The model and data of ``bench_seq2seq``: TensorLayer's ``Seq2seqLuongAttention`` (GRU, hidden
128, embedding 64, vocabulary 2000), source sequences of 30 ids (a quarter padded), 10
teacher-forced output positions, CPU.

``ours`` is :func:`tensorlayer_xplain.explain` with ``lime``, ``shap_kernel`` or
``shap_partition``: per source sequence one set of masked sources, scored at all 10
positions in one batched pass, then lime's ``LimeTextExplainer`` fits every position
(``labels=range(10)``) and shap's Kernel / Partition explainers take the 10-output function.
The *per-position* baseline is what a user of the token version does without it: for every
position, the same library explainer on a one-output function (the score of that position's
token), with the same sample count, the model called through ``Seq2seqAdapter.teacher_forced``.
Both run after a warm-up, in back-to-back pairs whose order alternates; the ratio is the
median of the per-pair ratios. ``max diff`` compares the two results (LIME and kernel SHAP
draw the same samples whatever the outputs, so they agree; partition SHAP's traversal follows
all outputs at once, so it differs within its ``max_evals`` budget).

``smoothgrad`` and ``shap`` (expected gradients, 16 samples each) are timed against
``gradient`` on the same sequences (medians of 5 interleaved runs): their samples are rows of
one compiled gradient call, so the cost per sample is below one ``gradient`` call.

Run::

    python -m benchmarks.bench_seq2seq_sampling [--budget 4] [--n 4]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import tensorlayer_xplain as tlxp
from benchmarks.bench_seq2seq import T_OUT, T_SRC, make_data, make_model
from benchmarks.memory import RSS_HOW, peak_memory
from benchmarks.timing import time_pairs

SETTINGS = {"lime": {"num_samples": 1000}, "shap_kernel": {"nsamples": 500}, "shap_partition": {"max_evals": 500}}
SAMPLES = 16
REPEATS = 5


def per_position(adapter, name, src, dec, targets, params, seed=0):
    """The library explainer once per (sequence, output position), on that position's score alone."""
    import shap
    from lime.lime_text import LimeTextExplainer
    from scipy.cluster.hierarchy import linkage

    out = np.zeros((len(src), T_OUT, T_SRC))
    for i in range(len(src)):
        positions = np.flatnonzero(src[i] != 0)
        m = len(positions)

        def masked(keep, i=i, positions=positions):
            batch = np.repeat(src[i:i + 1], len(keep), 0)
            batch[:, positions] = np.where(np.asarray(keep) > 0.5, src[i, positions], 0)
            return batch

        for t in range(T_OUT):
            def score(batch, i=i, t=t):
                logits = adapter.teacher_forced(batch, np.repeat(dec[i:i + 1], len(batch), 0))
                return logits[:, t, targets[i, t]].astype(np.float64)

            if name == "lime":
                def classifier(texts, i=i, positions=positions, score=score):
                    batch = np.repeat(src[i:i + 1], len(texts), 0)
                    batch[:, positions] = [[int(w) for w in text.split()] for text in texts]
                    return score(batch)[:, None]

                exp = LimeTextExplainer(kernel_width=25.0, bow=False, mask_string="0", split_expression=r"\s+",
                                        feature_selection="none", random_state=seed).explain_instance(
                    " ".join(str(v) for v in src[i, positions]), classifier, labels=(0,), num_features=m,
                    num_samples=params["num_samples"])
                for feature, weight in exp.local_exp[0]:
                    out[i, t, positions[feature]] = weight
                continue
            np.random.seed(seed)
            f = lambda z, score=score, masked=masked: score(masked(z))  # noqa: E731
            if name == "shap_kernel":
                values = shap.KernelExplainer(f, np.zeros((1, m))).shap_values(
                    np.ones((1, m)), nsamples=params["nsamples"], l1_reg=False, silent=True)
            else:
                # adjacent tokens joined bottom-up (Ward on the positions), as the method's own tree does
                tree = linkage(np.arange(m, dtype=np.float64)[:, None], method="ward")
                masker = shap.maskers.Partition(np.zeros((1, m)), clustering=tree)
                values = shap.PartitionExplainer(f, masker)(np.ones((1, m)), max_evals=params["max_evals"],
                                                            silent=True).values
            out[i, t, positions] = np.asarray(values).reshape(-1)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of repeats per method")
    parser.add_argument("--n", type=int, default=4, help="source sequences")
    args = parser.parse_args(argv)
    model = make_model()
    src, dec = make_data(args.n)
    adapter = tlxp.Seq2seqAdapter(model)
    targets = tlxp.explain(adapter, src, "gradient", decoder_inputs=dec).targets
    print("Seq2seq sampling methods: %d sources x %d ids, %d output positions (%s)" % (args.n, T_SRC, T_OUT, RSS_HOW))
    print("%-16s %10s %14s %8s %10s %14s" % ("method", "ours s", "per-position s", "ratio", "max diff",
                                             "peak RSS MB"))
    for name, params in SETTINGS.items():
        ours = lambda name=name, params=params: tlxp.explain(  # noqa: E731
            adapter, src, name, decoder_inputs=dec, targets=targets, seed=0, **params).attributions
        base = lambda name=name, params=params: per_position(adapter, name, src, dec, targets, params)  # noqa: E731
        timed = time_pairs(ours, base, args.budget, 1, 3)
        a, b = timed["outputs"]
        diff = np.abs(a - b).max() / max(1e-12, np.abs(b).max())
        _, rss = peak_memory(ours)
        print("%-16s %10.2f %14.2f %7.2fx %10.1e %14.0f" % (name, np.median(timed["ours"]),
                                                            np.median(timed["baseline"]), timed["ratio"], diff, rss))
    run = {name: (lambda name=name: tlxp.explain(adapter, src, name, decoder_inputs=dec, targets=targets,
                                                 n_samples=SAMPLES))
           for name in ("smoothgrad", "shap")}
    run["gradient"] = lambda: tlxp.explain(adapter, src, "gradient", decoder_inputs=dec, targets=targets)
    for fn in run.values():
        fn()  # warm-up: traces
    seconds = {name: [] for name in run}
    for _ in range(REPEATS):  # interleaved
        for name, fn in run.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    seconds = {name: float(np.median(times)) for name, times in seconds.items()}
    for name in ("smoothgrad", "shap"):
        print("%-16s %10.2f s for %d samples = %.1f gradient calls (%.2f per sample)"
              % (name, seconds[name], SAMPLES, seconds[name] / seconds["gradient"],
                 seconds[name] / seconds["gradient"] / SAMPLES))


if __name__ == "__main__":
    main()
