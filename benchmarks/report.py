"""The suite's outputs: the Markdown table (with the machine and settings), the CSV and the plot."""
import argparse
import json
import os

import numpy as np

from .machine import _sharing
from .memory import RSS_HOW
from .settings import FLOOR_LABEL


def _fmt(value, spec, missing="—"):
    return missing if value is None or (isinstance(value, float) and not np.isfinite(value)) else spec % value


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
    from tensorlayer_xplain import tl_figure

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


def speed_memory_main(argv, tag, description, speed, memory, markdown):
    """The command line of a speed-and-memory benchmark: ``--budget`` seconds, ``--out`` folder for
    ``<tag>.md`` / ``<tag>.json``; prints the Markdown and returns ``(speed_rows, memory_rows)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timing per row (default: 4)")
    parser.add_argument("--out", default=None, help="folder for %s.md / .json (default: print only)" % tag)
    args = parser.parse_args(argv)
    speed_rows, memory_rows = speed(args.budget), memory()
    text = markdown(speed_rows, memory_rows)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "%s.md" % tag), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(args.out, "%s.json" % tag), "w") as f:
            json.dump({"speed": speed_rows, "memory": memory_rows}, f, indent=1)
    return speed_rows, memory_rows
