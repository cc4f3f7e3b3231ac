"""Find a planted concept with TCAV and CRAFT: the corner square the shortcut CNN learned for one class.

The diagnosis example (``mnist_shortcut.py``) draws a small bright square in one corner of 95% of
one class's training digits; the CNN learns to use it. Here two CNNs are trained, one on those
digits and one on the clean digits (same seed), and asked about the square as a *concept*:

* **TCAV** at the last hidden layer (the dense ReLU layer before the logits): the concept set is
  digits of every class with the square drawn, against sets of random clean digits. The planted
  class's score should be high and significant on the shortcut model, with the largest mean
  directional derivative of all classes; on the clean model it should not be significantly above the
  random CAVs'. The square's measured effect on each class's own logit (adding it to that class's
  digits) is printed beside: TCAV's score is a share of *signs*, so a class whose logit the square
  also raises, a little, scores high too.
* **CRAFT** at the same layer, on the planted class's digits (with the square, as the shortcut
  model saw them in training), with crops kept in place (``crop_mode='mask'``: resizing a 12-pixel
  crop of a 28-pixel digit to 28 pixels shows the model a square more than twice its size). The
  measure: the share of the most important concept's best crops that contain the square, next to the
  share of all crops that do, and that concept's importance against the others'.

**Class visualizations** (``tlxp.feature_visualization``, activation maximization) of both models
are drawn too, with the mean value of the class-7 image in the square's region: a model that reads the
square paints it.

Every measured number is printed; figures go to ``--out`` (default: a new temporary folder). The
exit code is 1 when the planted concept is not found. Run ``python examples/mnist_concepts.py --help``.
"""
import argparse
import os
import tempfile
import time

import numpy as np
from mnist_shortcut import plant, square_mask  # the diagnosis example's planted shortcut (same folder)

import tensorlayer_xplain as tlxp

#: --quick: a reduced run for the test suite (about a minute on 2 cores).
QUICK = {"train": 8000, "epochs": 2, "runs": 20, "set_size": 40, "per_class": 20, "craft_inputs": 30}
#: Clean test digits the random sets are drawn from.
RANDOM_POOL = 1000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train the MNIST CNN with and without a planted corner square "
                                     "and look for the square with TCAV and CRAFT; print the measures, write figures.")
    parser.add_argument("--data", default=None,
                        help="folder containing mnist/ (default: $TENSORLAYER_XPLAIN_DATA, then data/)")
    parser.add_argument("--out", default=None, help="output folder for the figures (default: a new temporary folder)")
    parser.add_argument("--planted", type=int, default=7, help="class that carries the square (default: %(default)s)")
    parser.add_argument("--share", type=float, default=0.95,
                        help="share of that class's training digits with the square (default: %(default)s)")
    parser.add_argument("--square", type=int, default=4, help="side of the square in pixels (default: %(default)s)")
    parser.add_argument("--train", type=int, default=12000, help="training digits used (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=30,
                        help="TCAV runs (random sets drawn from %d clean digits) (default: %%(default)s)" % RANDOM_POOL)
    parser.add_argument("--set-size", type=int, default=50,
                        help="examples per concept and random set (default: %(default)s)")
    parser.add_argument("--per-class", type=int, default=30,
                        help="test digits per class whose sensitivity TCAV tests (default: %(default)s)")
    parser.add_argument("--craft-inputs", type=int, default=50,
                        help="digits of the planted class CRAFT factorises (default: %(default)s)")
    parser.add_argument("--fv-steps", type=int, default=128,
                        help="steps of the class visualizations (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes for a fast check: %s" % QUICK)
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def hidden_layer(model):
    """The name of the layer feeding the logits (the MNIST CNN's 64-unit dense ReLU layer)."""
    return tlxp.as_adapter(model).layer_call_order()[-2][0]


def square_effect(model, data, mask):
    """Per class: the mean change of the class's own logit when the square is drawn on its digits."""
    x, t = data["inputs"], data["targets"]
    adapter = tlxp.as_adapter(model)
    change = adapter.predict(np.where(mask[None, :, :, None], x.max(), x)) - adapter.predict(x)
    return {int(k): float(change[t == k, k].mean()) for k in np.unique(t)}


def tcav_check(name, model, data, mask, args):
    """TCAV of the square concept for every class; print the table and return the measures."""
    layer = hidden_layer(model)
    start = time.perf_counter()
    df = tlxp.tcav(model, layer, data["inputs"], data["targets"], concepts={"square": data["concept"]},
                   random_sets=data["randoms"], n_runs=args.runs, seed=args.seed)
    seconds = time.perf_counter() - start
    df.attrs["seconds"] = seconds
    print("\n== TCAV, %s model, layer %s (%d runs, %d inputs, %.1f s; significant: p < %.2g, Bonferroni over "
          "%d tests)" % (name, layer, args.runs, len(data["inputs"]), seconds, df.attrs["threshold"], len(df)))
    effect = square_effect(model, data, mask)
    table = df[["class", "score", "score_std", "random_score", "random_std", "p_value", "significant", "derivative",
                "random_derivative", "cav_accuracy"]].copy()
    table["square_effect"] = [effect[int(k)] for k in table["class"]]
    print(table.to_string(index=False, float_format=lambda v: "%.3g" % v))
    print("(square_effect: mean change of the class's own logit when the square is drawn on its digits)")
    row = df.set_index("class").loc[args.planted]
    others = df[df["class"] != args.planted]
    high_others = others[others["significant"] & (others["score"] > others["random_score"])]
    found = {
        "score": float(row["score"]), "p_value": float(row["p_value"]), "significant": bool(row["significant"]),
        "random_score": float(row["random_score"]), "cav_accuracy": float(row["cav_accuracy"]),
        "other_significant_high": sorted(int(k) for k in high_others["class"]),
        "max_other_score": float(others["score"].max()), "seconds": seconds,
        "derivative": float(row["derivative"]), "max_other_derivative": float(others["derivative"].max()),
        "square_effect": effect[args.planted],
        "max_other_square_effect": max(v for k, v in effect.items() if k != args.planted),
    }
    print("class %d: TCAV score %.3f (random %.3f), p = %.3g, significant %s; other classes significantly above "
          "random: %s; highest other score %.3f"
          % (args.planted, found["score"], found["random_score"], found["p_value"], found["significant"],
             found["other_significant_high"] or "none", found["max_other_score"]))
    print("class %d: mean directional derivative %.3g (largest of the other classes %.3g); the square changes its "
          "logit by %+.2f (largest other class: %+.2f)"
          % (args.planted, found["derivative"], found["max_other_derivative"], found["square_effect"],
             found["max_other_square_effect"]))
    return df, found


def square_overlap(result, mask, index=None):
    """Share of crops (all, or ``index``) containing at least half of the square's pixels."""
    origins = result.crop_origins if index is None else result.crop_origins[index]
    p = result.patch_size
    inside = [mask[r:r + p, c:c + p].sum() >= mask.sum() / 2 for _, r, c in origins]
    return float(np.mean(inside))


def craft_check(name, model, images, mask, args, n_best=20):
    """CRAFT on the planted class's digits with the square; print importances and the square overlap."""
    layer = hidden_layer(model)
    start = time.perf_counter()
    res = tlxp.craft(model, images, layer, n_concepts=5, patch_size=12, stride=8, class_index=args.planted,
                     nb_design=32, seed=args.seed, crop_mode="mask")
    seconds = time.perf_counter() - start
    top = int(res.order[0])
    found = {
        "top_concept": top, "importances": res.importances.round(3).tolist(),
        "reconstruction_error": res.reconstruction_error,
        "top_overlap": square_overlap(res, mask, res.best_crops(top, n_best)),
        "base_overlap": square_overlap(res, mask), "seconds": seconds,
    }
    found["other_overlaps"] = [square_overlap(res, mask, res.best_crops(int(c), n_best)) for c in res.order[1:]]
    overlaps = [found["top_overlap"]] + found["other_overlaps"]
    square_rank = int(np.argmax(overlaps))  # the concept whose best crops hold the square most often
    found["square_concept_rank"] = square_rank + 1
    found["square_concept_importance"] = float(res.importances[res.order[square_rank]])
    found["top_importance"] = float(res.importances[top])
    found["max_other_importance"] = float(np.max(res.importances[res.order[1:]])) if len(res.order) > 1 else 0.0
    print("\n== CRAFT, %s model, class %d at layer %s (%d digits, %d crops of 12 px, %.1f s)"
          % (name, args.planted, layer, len(images), len(res.crops), seconds))
    print("concept importances (Sobol total, by concept):", found["importances"], "; order:", res.order.tolist())
    print("NMF relative reconstruction error: %.3f" % found["reconstruction_error"])
    print("top concept %d: %.0f%% of its %d best crops contain the square (all crops: %.0f%%; the other concepts' "
          "best crops: %s)" % (top, 100 * found["top_overlap"], n_best, 100 * found["base_overlap"],
                               ", ".join("%.0f%%" % (100 * v) for v in found["other_overlaps"])))
    print("the square's concept (best crops with the square: %.0f%%) ranks %d of %d, importance %.3f; top concept "
          "%.3f, next %.3f" % (100 * max(overlaps), found["square_concept_rank"], len(overlaps),
                               found["square_concept_importance"], found["top_importance"],
                               found["max_other_importance"]))
    return res, found


def class_visualizations(name, model, mask, args, out):
    """Class visualizations (activation maximization) of the ten classes; the square region's brightness."""
    start = time.perf_counter()
    res = tlxp.feature_visualization(model, [tlxp.objectives.class_logit(k) for k in range(10)],
                                     steps=args.fv_steps, seed=args.seed)
    seconds = time.perf_counter() - start
    images = np.asarray(res.images)[..., 0]
    corner, rest = images[:, mask].mean(axis=1), images[:, ~mask].mean(axis=1)
    tlxp.feature_visualization_figure(res, name=os.path.join(out, "classes_%s.png" % name))
    print("\n== class visualizations, %s model (%d steps, %.1f s): mean value in the square's region / elsewhere"
          % (name, args.fv_steps, seconds))
    print("  " + "  ".join("%d: %.2f/%.2f" % (k, corner[k], rest[k]) for k in range(10)))
    found = {"corner": float(corner[args.planted]), "rest": float(rest[args.planted]), "seconds": seconds}
    conv = [n for n, _ in tlxp.adapter.spatial_layers(tlxp.as_adapter(model)) if n.startswith("conv")][-1]
    start = time.perf_counter()
    channels = tlxp.feature_visualization(model, [tlxp.objectives.channel(conv, c) for c in range(32)],
                                          steps=args.fv_steps // 2, seed=args.seed)
    tlxp.feature_visualization_figure(channels, name=os.path.join(out, "channels_%s.png" % name))
    print("  and the 32 channels of %s in %.1f s (figure channels_%s.png)" % (conv, time.perf_counter() - start, name))
    return found


def load(args):
    X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(path=args.data)
    X_train, y_train = X_train[:args.train], y_train[:args.train]
    rng = np.random.default_rng(args.seed)
    mask = square_mask(args.square)
    X_shortcut, patched = plant(X_train, y_train, args.planted, args.share, mask, args.seed)
    print("planted a %dx%d square on %d of %d training digits of class %d"
          % (args.square, args.square, patched.sum(), (y_train == args.planted).sum(), args.planted))
    # disjoint parts of the test set: TCAV inputs, the concept's examples, random sets, CRAFT's digits
    order = rng.permutation(len(X_test))
    inputs = np.concatenate([order[y_test[order] == k][:args.per_class] for k in range(10)])
    rest = np.setdiff1d(order, inputs)
    rest = rest[rng.permutation(len(rest))]
    concept = rest[:args.set_size]
    randoms = rest[args.set_size:args.set_size + RANDOM_POOL]
    used = args.set_size + RANDOM_POOL
    sevens = rest[used:][y_test[rest[used:]] == args.planted][:args.craft_inputs]
    square = np.where(mask[None, :, :, None], X_test.max(), X_test)  # every test digit with the square
    data = {"inputs": X_test[inputs], "targets": y_test[inputs], "concept": square[concept],
            "randoms": X_test[randoms]}
    return X_shortcut, X_train, y_train, data, square[sevens], mask


def main(argv=None):
    args = parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="mnist_concepts_")
    start = time.perf_counter()
    X_shortcut, X_clean, y_train, data, sevens, mask = load(args)
    models = {}
    for name, X in (("shortcut", X_shortcut), ("clean", X_clean)):
        model = tlxp.models.cnn(seed=args.seed)
        t0 = time.perf_counter()
        tlxp.models.train(model, X, y_train, epochs=args.epochs, seed=args.seed, progress=False)
        models[name] = model
        print("trained the %s CNN in %.1f s: test accuracy %.3f on clean digits, %.3f of the planted class's "
              "digits with the square predicted as %d"
              % (name, time.perf_counter() - t0, tlxp.models.accuracy(model, data["inputs"], data["targets"]),
                 float(np.mean(tlxp.as_adapter(model).predict(sevens).argmax(1) == args.planted)), args.planted))
    results = {}
    for name, model in models.items():
        df, found = tcav_check(name, model, data, mask, args)
        tlxp.tcav_visualization(df, name=os.path.join(out, "tcav_%s.png" % name),
                                title="TCAV of 'square', %s model" % name)
        res, craft_found = craft_check(name, model, sevens, mask, args)
        res.plot(name=os.path.join(out, "craft_%s.png" % name), n_concepts=3, n_crops=8, n_images=6)
        results[name] = {"tcav": found, "craft": craft_found,
                         "classes": class_visualizations(name, model, mask, args, out)}
    shortcut, clean = results["shortcut"], results["clean"]
    tcav_ok = (shortcut["tcav"]["significant"] and shortcut["tcav"]["score"] >= 0.9
               and shortcut["tcav"]["derivative"] > 2 * max(shortcut["tcav"]["max_other_derivative"], 0)
               and not (clean["tcav"]["significant"] and clean["tcav"]["score"] > clean["tcav"]["random_score"]))
    craft_ok = (shortcut["craft"]["top_overlap"] >= 0.5 > shortcut["craft"]["base_overlap"]
                and shortcut["craft"]["top_importance"] > 2 * shortcut["craft"]["max_other_importance"])
    print("\nsummary: TCAV class %d score %.3f (p %.2g) on the shortcut model vs %.3f (p %.2g) on the clean one; "
          "CRAFT's top concept holds the square in %.0f%% of its best crops (importance %.3f vs %.3f for the square's "
          "concept on the clean model)"
          % (args.planted, shortcut["tcav"]["score"], shortcut["tcav"]["p_value"], clean["tcav"]["score"],
             clean["tcav"]["p_value"], 100 * shortcut["craft"]["top_overlap"], shortcut["craft"]["top_importance"],
             clean["craft"]["square_concept_importance"]))
    print("class %d visualization, mean value in the square's region / elsewhere: shortcut %.2f / %.2f, clean "
          "%.2f / %.2f" % (args.planted, shortcut["classes"]["corner"], shortcut["classes"]["rest"],
                           clean["classes"]["corner"], clean["classes"]["rest"]))
    print("planted concept found by TCAV: %s" % ("yes" if tcav_ok else "NO"))
    print("planted concept found by CRAFT: %s" % ("yes" if craft_ok else "NO"))
    print("figures in %s; total time %.1f s" % (out, time.perf_counter() - start))
    return results, tcav_ok and craft_ok


if __name__ == "__main__":
    raise SystemExit(0 if main()[1] else 1)
