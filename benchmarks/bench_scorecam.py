"""Faster Score-CAM against full Score-CAM on VGG16 at 224x224: speed-up and agreement of the maps.

Score-CAM scores the input once per channel of the CAM layer (512 on VGG16's last
pooled block); Faster Score-CAM (``scorecam(max_channels=k)``, tf-keras-vis
``Scorecam(max_N=k)``) scores only the ``k`` channels of largest spatial variance.
For ``tl.models.vgg16(pretrained=False)`` (random weights: the download host is
unreachable) and random 224x224x3 images (uniform in [0, 1], seed 0, the predicted
class), this measures in one process, after an untraced warm-up call:

* seconds per image of full Score-CAM and of each ``k``, and the speed-up;
* peak RSS growth of each call (Linux peak mark reset before it);
* agreement of each ``k``'s map with the full map, per image: Spearman rank
  correlation of the pixels, and the IoU of the top 10% pixels (mean over images).

Run::

    python -m benchmarks.bench_scorecam [--images 2] [--k 16 32 64 128] [--model vgg16]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from scipy.stats import spearmanr

import tensorlayer_xplain as tlxp

from .bench_zoo import build
from .memory import peak_mb, reset_peak, rss_mb

#: Fraction of pixels in the top-k IoU.
TOP_FRACTION = 0.1


def top_iou(a, b, fraction=TOP_FRACTION):
    """IoU of the ``fraction`` largest pixels of two maps (ties broken by position)."""
    k = max(1, int(round(fraction * a.size)))
    top_a = set(np.argsort(-a.ravel(), kind="stable")[:k])
    top_b = set(np.argsort(-b.ravel(), kind="stable")[:k])
    return len(top_a & top_b) / len(top_a | top_b)


def agreement(maps, full):
    """Mean Spearman correlation and mean top-10% IoU of ``maps`` with ``full`` (N, H, W), per image."""
    rho = [spearmanr(m.ravel(), f.ravel())[0] for m, f in zip(maps, full)]
    iou = [top_iou(m, f) for m, f in zip(maps, full)]
    return float(np.nanmean(rho)), float(np.mean(iou))


def timed(fn):
    """``(seconds, peak RSS growth MB, result)`` of one call."""
    reset_peak()
    base = rss_mb()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, peak_mb() - base, out


def measure(model_name="vgg16", n_images=2, ks=(16, 32, 64, 128), log=print):
    """Rows ``{'k', 'seconds_per_image', 'speedup', 'spearman', 'top10_iou', 'peak_mb'}`` (k=None: full)."""
    model = build(model_name)
    adapter = tlxp.ModelAdapter(model)
    x = np.random.default_rng(0).random((n_images, 224, 224, 3), dtype=np.float32)
    t = adapter.resolve_targets(None, n_images, adapter.predict(x))
    scorecam = tlxp.get_method("scorecam")
    scorecam(adapter, x[:1], t[:1], max_channels=1)  # warm-up: traces the capture and the masked-scoring steps
    seconds, peak, (full, meta) = timed(lambda: scorecam(adapter, x, t))
    channels = meta["weights"].shape[1]
    rows = [{"k": None, "channels": channels, "seconds_per_image": seconds / n_images, "speedup": 1.0,
             "spearman": 1.0, "top10_iou": 1.0, "peak_mb": peak}]
    log("full Score-CAM (%d channels of %s): %.1f s / image, peak RSS +%.0f MB"
        % (channels, meta["layer_name"], seconds / n_images, peak), flush=True)
    for k in ks:
        seconds_k, peak_k, (maps, _) = timed(lambda k=k: scorecam(adapter, x, t, max_channels=k))
        rho, iou = agreement(maps, full)
        rows.append({"k": k, "channels": channels, "seconds_per_image": seconds_k / n_images,
                     "speedup": seconds / seconds_k, "spearman": rho, "top10_iou": iou, "peak_mb": peak_k})
        log("max_channels=%-4d %.2f s / image, %.1fx faster, Spearman %.3f, top-10%% IoU %.3f, peak RSS +%.0f MB"
            % (k, seconds_k / n_images, seconds / seconds_k, rho, iou, peak_k), flush=True)
    return rows


def markdown(rows, model_name, n_images):
    lines = ["Faster Score-CAM vs full Score-CAM, %s at 224x224 (random weights), %d image(s), CPU" % (
        model_name, n_images), "",
        "| max_channels | s / image | speed-up | Spearman vs full | top-10% IoU vs full | peak RSS +MB |",
        "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append("| %s | %.2f | %.1fx | %.3f | %.3f | %.0f |" % (
            "None (all %d)" % r["channels"] if r["k"] is None else r["k"], r["seconds_per_image"], r["speedup"],
            r["spearman"], r["top10_iou"], r["peak_mb"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16", help="zoo model (default: %(default)s)")
    parser.add_argument("--images", type=int, default=2, help="random 224x224 images (default: %(default)s)")
    parser.add_argument("--k", type=int, nargs="*", default=[16, 32, 64, 128], help="max_channels values")
    args = parser.parse_args(argv)
    if not 1 <= args.images <= 16:
        parser.error("--images: expected 1 to 16")
    rows = measure(args.model, args.images, tuple(args.k))
    print()
    print(markdown(rows, args.model, args.images))
    return rows


if __name__ == "__main__":
    main()
