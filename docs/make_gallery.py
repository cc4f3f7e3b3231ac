"""Generate the example gallery: small PNGs in ``docs/gallery/`` and ``docs/gallery.rst``.

Each figure is drawn by running the code shown under it in the gallery, on the
reference MNIST models the examples and benchmarks use (trained briefly, weights
cached in ``$TMPDIR/tensorlayer_xplain_bench``):

* ``cnn``: :func:`tensorlayer_xplain.models.cnn`, 1 epoch (``benchmarks/_models.trained_cnn``);
* ``mlp``: the TensorLayer tutorial MLP, 2 epochs (``benchmarks/_models.trained_mlp``);
* ``vit``: :func:`tensorlayer_xplain.models.attention_mnist`, 2 epochs with the
  warm-up + cosine schedule of ``examples/mnist_attention.py``.

Usage (MNIST from ``$TENSORLAYER_XPLAIN_DATA``)::

    python docs/make_gallery.py                 # every figure (a few minutes on 2 cores)
    python docs/make_gallery.py --only shap,lime
    python docs/make_gallery.py --list

Figures are saved at a modest resolution (``--dpi``, default 72) to keep the
committed images small.
"""
import argparse
import os
import sys
import time
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GALLERY = os.path.join(HERE, "gallery")
RST = os.path.join(HERE, "gallery.rst")

Item = namedtuple("Item", ["name", "title", "needs", "text", "code"])

#: The gallery, in page order. ``code`` runs with the working directory set to
#: ``docs/gallery`` and sees ``tlxp``, ``np``, the models named in ``needs``,
#: ``X_train``, ``X_test``, ``y_test`` (28x28x1 MNIST) and ``digits = X_test[:8]``.
ITEMS = [
    Item("mlp_gradient", "Gradient (saliency) of the tutorial MLP", ("mlp",),
         "The code path of ``examples/mnist_mlp.py``: the TensorLayer tutorial MLP takes flat 784-vectors and the "
         "maps are drawn as 28x28 images. ``|gradient|`` is sharp but speckled: it says which pixels the logit is "
         "most sensitive to, not which pixels the decision rests on.",
         "tlxp.gradient_visualization(mlp, digits[:3].reshape(3, 784), name='mlp_gradient.png')"),
    Item("saliency_ig", "Integrated gradients", ("cnn",),
         "Signed attributions (red for, blue against the class) next to ``|IG|`` over the input. The title shows the "
         "completeness gap: how far ``sum(attributions)`` is from ``f(x) - f(baseline)``.",
         "tlxp.saliency_visualization(cnn, digits[:3], 'integrated_gradients', steps=64,\n"
         "                           name='saliency_ig.png')"),
    Item("gradcam", "Grad-CAM", ("cnn",),
         "Grad-CAM of the last convolutional block (picked automatically), with a colorbar and superimposed on the "
         "input in jet, as in the Keras Grad-CAM recipe. The map is coarse (7x7 upsampled) by construction.",
         "tlxp.gradcam_visualization(cnn, digits[:3], name='gradcam.png')"),
    Item("gradcam_compare", "Grad-CAM class comparison", ("cnn",),
         "Several classes per input: each row shows the evidence for the predicted class and for the runner-up on "
         "one colour scale, and their signed difference (\"why 7 rather than 9\").",
         "top2 = np.argsort(-tlxp.as_adapter(cnn).predict(digits[:2]), axis=1)[:, :2]\n"
         "tlxp.gradcam_visualization(cnn, digits[:2], targets=top2, name='gradcam_compare.png')"),
    Item("compare_methods", "Comparing methods on the same digits", ("cnn",),
         "One grid, rows = inputs, columns = methods, each cell titled with its time per input. Signed methods use a "
         "diverging colormap, magnitudes a sequential one. The times include each compiled step's one-off tracing on "
         "its first use in the process, so they are not benchmarks (see :doc:`benchmarks`).",
         "tlxp.compare_methods(cnn, digits[:3], ['gradient', 'integrated_gradients', 'smoothgrad',\n"
         "                                      'guided_backprop', 'gradcam', 'occlusion', 'rise'],\n"
         "                    config={'rise': {'n_masks': 1000}}, name='compare_methods.png')"),
    Item("attention", "Self-attention and attention rollout (tiny ViT)", ("vit",),
         "The code path of ``examples/mnist_attention.py``: each head's class-token attention in the last block, "
         "their mean, the rollout over both blocks and the rollout over the input. The ViT is trained for 2 epochs "
         "only, so its attention is less focused than after the example's 4.",
         "tlxp.attention_visualization(vit, digits[:2], name='attention.png')"),
    Item("lime", "LIME on superpixels", ("cnn",),
         "LIME's local linear model on SLIC superpixels of the digit: the top superpixels outlined (green for, red "
         "against the class) and the per-pixel weight map.",
         "tlxp.lime_visualization(cnn, digits[:2], num_samples=500, seed=0, name='lime.png')"),
    Item("shap", "SHAP (expected gradients)", ("cnn",),
         "The layout of ``shap.image_plot``: one column per class (here the two most probable), red pushes the class "
         "up, blue down, on one symmetric scale.",
         "tlxp.shap_visualization(cnn, digits[:2], background=X_train[:100], top_k=2, seed=0,\n"
         "                       name='shap.png')"),
    Item("embedding", "Embedding of a layer's activations", ("cnn",),
         "What ``tl.visualize.tsne_embedding`` does, on the activations of the CNN's hidden dense layer (the default "
         "layer), for 500 test digits coloured by their label.",
         "tlxp.embedding_visualization(cnn, X_test[:500], y_test[:500], method='tsne', seed=0,\n"
         "                            name='embedding.png')"),
    Item("agreement", "Do the methods agree?", ("cnn",),
         "Spearman rank correlation of the maps and IoU of their top 10% pixels, averaged over 8 digits "
         "(:func:`tensorlayer_xplain.metrics.method_agreement`).",
         "methods = ['gradient', 'integrated_gradients', 'gradcam', 'occlusion', 'smoothgrad']\n"
         "exps = {m: tlxp.explain(cnn, digits, m) for m in methods}\n"
         "tlxp.method_agreement_visualization(exps, name='agreement.png')"),
]

CACHE = os.path.join(os.environ.get("TMPDIR") or "/tmp", "tensorlayer_xplain_bench")


def trained_vit(X_train, y_train, epochs=2):
    """The tiny ViT of ``examples/mnist_attention.py``, trained ``epochs`` epochs (weights cached)."""
    import numpy as np

    import tensorlayer_xplain as tlxp

    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        from mnist_attention import warmup_cosine
    finally:
        sys.path.pop(0)
    model = tlxp.models.attention_mnist(seed=0)
    path = os.path.join(CACHE, "vit_e%d_n%d_ordered.npz" % (epochs, len(X_train)))
    if os.path.exists(path):
        model.load_weights(path, format="npz")
    else:
        steps = epochs * int(np.ceil(len(X_train) / 128))
        tlxp.models.train(model, X_train, y_train, epochs=epochs, batch_size=128, seed=0, progress=False,
                         learning_rate=warmup_cosine(3e-3, steps))
        os.makedirs(CACHE, exist_ok=True)
        model.save_weights(path, format="npz")
    return model


def load_models(needs):
    """``{name: model}`` for the names in ``needs``, plus the data."""
    sys.path.insert(0, ROOT)
    try:
        from benchmarks._models import trained_cnn, trained_mlp
    finally:
        sys.path.pop(0)
    import numpy as np

    import tensorlayer_xplain as tlxp

    X_train, y_train, _, _, X_test, y_test = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))
    found = {"X_train": X_train, "X_test": X_test, "y_test": y_test, "digits": X_test[:8], "np": np, "tlxp": tlxp}
    if "cnn" in needs:
        found["cnn"] = trained_cnn()[0]
    if "mlp" in needs:
        found["mlp"] = trained_mlp()[0]
    if "vit" in needs:
        found["vit"] = trained_vit(X_train, y_train)
    for name in ("cnn", "mlp", "vit"):
        if name in found:
            print("%s: test accuracy %.4f" % (name, tlxp.models.accuracy(
                found[name], X_test.reshape(-1, 784) if name == "mlp" else X_test, y_test)))
    return found


def render(items=ITEMS):
    """``gallery.rst``: every item's title, text, code and image."""
    lines = [
        ".. This file is generated by docs/make_gallery.py; do not edit it by hand.",
        "",
        "Gallery",
        "=======",
        "",
        "Figures drawn by ``docs/make_gallery.py`` with the code shown under each one, on the reference",
        "MNIST models of the examples (a CNN trained 1 epoch, the tutorial MLP 2 epochs, the tiny ViT 2 epochs).",
        "Every figure function follows the :doc:`TensorLayer conventions <conventions>`: it saves ``name``,",
        "closes the figure and returns the explanation(s) it drew.",
        "",
    ]
    for item in items:
        lines += [".. _gallery-%s:" % item.name.replace("_", "-"), "", item.title, "-" * len(item.title), "",
                  item.text, "", ".. code-block:: python", ""]
        lines += ["   " + line for line in item.code.splitlines()]
        lines += ["", ".. image:: gallery/%s.png" % item.name, "   :alt: %s" % item.title, ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw the docs gallery into docs/gallery/ and write docs/gallery.rst.")
    parser.add_argument("--only", help="comma-separated figure names to redraw (default: all)")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")
    parser.add_argument("--dpi", type=int, default=72, help="resolution of the PNGs (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.list:
        for item in ITEMS:
            print("%-16s %s" % (item.name, item.title))
        return 0
    selected = ITEMS if not args.only else [i for i in ITEMS if i.name in args.only.split(",")]
    unknown = set(args.only.split(",")) - {i.name for i in ITEMS} if args.only else set()
    if unknown:
        parser.error("--only: unknown figure(s) %s" % sorted(unknown))

    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["savefig.dpi"] = args.dpi
    namespace = load_models({need for item in selected for need in item.needs})
    os.makedirs(GALLERY, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(GALLERY)
    try:
        for item in selected:
            start = time.perf_counter()
            exec(item.code, dict(namespace))
            size = os.path.getsize(item.name + ".png")
            print("%-16s %5.1f s  %4d KB" % (item.name, time.perf_counter() - start, size // 1024))
    finally:
        os.chdir(cwd)
    with open(RST, "w", encoding="utf-8") as f:
        f.write(render())
    total = sum(os.path.getsize(os.path.join(GALLERY, n)) for n in os.listdir(GALLERY) if n.endswith(".png"))
    print("wrote %s; gallery PNGs total %d KB" % (RST, total // 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
