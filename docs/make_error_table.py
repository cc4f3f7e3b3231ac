"""Generate ``docs/errors_table.rst``: each bad input, the exception it gets and its real message.

Every row is produced by running the code shown in the table on two tiny
untrained models (a CNN for 28x28x1 images and an MLP for flat 784 vectors) and
catching what it raises, so the table states what the library really does.
``tests/test_docs.py`` regenerates the table in memory and checks that it equals
the committed file; after changing an error message, run::

    python docs/make_error_table.py

Temporary paths in messages are shown as ``<tmp>``.
"""
import os
import shutil
import sys
import tempfile
import textwrap

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "errors_table.rst")

#: (bad input, code run). The code sees ``tlxp``, ``np``, ``cnn`` (28x28x1 -> 10),
#: ``mlp`` (784 -> 10), ``x`` (2 images, a fresh copy per case), ``x_flat`` (the same,
#: flat) and ``tmp`` (a scratch folder holding a regular file ``a_file``).
CASES = [
    ("Wrong image size", "tlxp.explain(cnn, np.zeros((2, 32, 32, 1)))"),
    ("Wrong rank (flat vectors for a CNN)", "tlxp.explain(cnn, x.reshape(2, 784))"),
    ("Wrong shape for a flat MLP", "tlxp.explain(mlp, np.zeros((2, 28, 28, 3)))"),
    ("NaN in the inputs", "x[1, 5, 7, 0] = np.nan\ntlxp.explain(cnn, x)"),
    ("inf in the inputs", "x[0, 0, 0, 0] = np.inf\ntlxp.explain(cnn, x)"),
    ("Empty batch", "tlxp.explain(cnn, x[:0])"),
    ("Non-numeric dtype (strings)", "tlxp.explain(cnn, np.full((2, 28, 28, 1), 'a'))"),
    ("Target class out of range", "tlxp.explain(cnn, x, targets=10)"),
    ("Negative target class", "tlxp.explain(cnn, x, targets=[3, -1])"),
    ("Wrong number of targets", "tlxp.explain(cnn, x, targets=[1, 2, 3])"),
    ("Target that is not a class index", "tlxp.explain(cnn, x, targets='seven')"),
    ("Unknown layer name", "tlxp.explain(cnn, x, 'gradcam', layer_name='conv9')"),
    ("CAM layer without a 4-D output", "tlxp.explain(cnn, x, 'gradcam', layer_name='dense1')"),
    ("CAM method on a model without conv layers", "tlxp.explain(mlp, x_flat, 'gradcam')"),
    ("Attention rollout on a model without self-attention", "tlxp.explain(cnn, x, 'attention_rollout')"),
    ("Unknown method", "tlxp.explain(cnn, x, 'integrated_gradient')"),
    ("Unknown method in a ModelExplainer", "tlxp.ModelExplainer(cnn, methods=['gradient', 'gradcm'])"),
    ("Unknown parameter", "tlxp.explain(cnn, x, 'integrated_gradients', step=32)"),
    ("Unknown parameter in a config",
     "tlxp.ModelExplainer(cnn, methods=['lime'], config={'lime': {'n_samples': 500}})"),
    ("Wrong parameter type", "tlxp.explain(cnn, x, 'integrated_gradients', steps='64')"),
    ("Wrong parameter type in a config",
     "tlxp.ModelExplainer(cnn, methods=['lime'], config={'lime': {'num_samples': 1.5}})"),
    ("Parameter out of range", "tlxp.explain(cnn, x, 'occlusion', window=4, stride=6)"),
    ("``methods`` given as one string", "tlxp.ModelExplainer(cnn, methods='gradient')"),
    ("Non-callable model", "tlxp.explain('model.npz', x)"),
    ("Unknown ``output``", "tlxp.ModelExplainer(cnn, output='softmax')"),
    ("Invalid ``batch_size``", "tlxp.ModelExplainer(cnn, batch_size=0)"),
    ("``image_shape`` that does not fit the model", "tlxp.ModelExplainer(mlp, image_shape=(32, 32, 1))"),
    ("``save_path`` not writable",
     "explainer = tlxp.ModelExplainer(cnn, methods=['gradient'])\n"
     "explainer.visualize_all(x, save_path=tmp + '/a_file/figures')"),
    ("Figure ``name`` not writable", "tlxp.gradient_visualization(cnn, x, name=tmp + '/a_file/grad.png')"),
    ("Missing background for SHAP", "tlxp.explain(cnn, x, 'shap')"),
    ("Background of the wrong shape", "tlxp.explain(cnn, x, 'shap', background=np.zeros((10, 28, 28, 3)))"),
    ("Missing training data for tabular LIME", "tlxp.explain(mlp, x_flat, 'lime_tabular')"),
    ("Wrong ``feature_names`` length (tabular LIME)",
     "tlxp.explain(mlp, x_flat[:1], 'lime_tabular', training_data=x_flat, feature_names=['a', 'b'])"),
    ("Wrong ``feature_names`` length (feature importance)",
     "tlxp.feature_importance(mlp, x_flat, feature_names=['a', 'b'], method='gradient', name=tmp + '/fi.png')"),
    ("Unknown metric", "tlxp.evaluate(cnn, tlxp.explain(cnn, x), metrics=['auc'])"),
    ("Explanation where the sanity check wants inputs",
     "tlxp.randomization_sanity_check(cnn, tlxp.explain(cnn, x), 'gradient')"),
]

_MODELS = {}


def models():
    """``(cnn, mlp)``: tiny untrained TL models with fixed layer names (built once per process)."""
    if not _MODELS:
        import tensorflow as tf
        import tensorlayer as tl
        from tensorlayer.layers import Conv2d, Dense, Flatten, Input, MaxPool2d

        tf.random.set_seed(0)
        ni = Input([None, 28, 28, 1], name="image")
        nn = Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=1, name="conv1")(ni)
        nn = MaxPool2d((2, 2), (2, 2), padding="SAME", name="pool1")(nn)
        nn = Conv2d(8, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=4, name="conv2")(nn)
        nn = Flatten(name="flatten")(nn)
        nn = Dense(16, act=tf.nn.relu, in_channels=14 * 14 * 8, name="dense1")(nn)
        nn = Dense(10, in_channels=16, name="logits")(nn)
        cnn = tl.models.Model(inputs=ni, outputs=nn)
        ni = Input([None, 784], name="pixels")
        nn = Dense(16, act=tf.nn.relu, in_channels=784, name="hidden")(ni)
        nn = Dense(10, in_channels=16, name="scores")(nn)
        mlp = tl.models.Model(inputs=ni, outputs=nn)
        _MODELS.update(cnn=cnn, mlp=mlp)
    return _MODELS["cnn"], _MODELS["mlp"]


def _message(err):
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split())


def run_cases(cases=CASES):
    """Run every case; return ``[(bad input, code, exception type, message)]``."""
    import matplotlib

    matplotlib.use("Agg")
    import tensorlayer_xplain as tlxp

    cnn, mlp = models()
    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    tmp = tempfile.mkdtemp(prefix="xplain_errors_")
    rows = []
    try:
        open(os.path.join(tmp, "a_file"), "w").close()
        for label, code in cases:
            namespace = {"tlxp": tlxp, "np": np, "cnn": cnn, "mlp": mlp, "x": images.copy(),
                         "x_flat": images.reshape(2, 784).copy(), "tmp": tmp}
            try:
                exec(code, namespace)
            except Exception as err:  # recording what the library raises is the point
                rows.append((label, code, type(err).__name__, _message(err).replace(tmp, "<tmp>")))
            else:
                rows.append((label, code, "(no error)", ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _literal(text):
    """``text`` as an RST inline literal (backquote pairs cannot occur in it here)."""
    return "``%s``" % text if text else ""


def render(rows):
    """The rows as an RST ``list-table``."""
    lines = [
        ".. This file is generated by docs/make_error_table.py; do not edit it by hand.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 18 32 10 40",
        "   :class: error-table",
        "",
        "   * - Bad input",
        "     - Call",
        "     - Exception",
        "     - Message",
    ]
    for label, code, kind, message in rows:
        lines.append("   * - %s" % label)
        lines.append("     - .. code-block:: python")
        lines.append("")
        lines.extend(textwrap.indent(code, " " * 11).splitlines())
        lines.append("")
        lines.append("     - ``%s``" % kind if kind != "(no error)" else "     - (no error)")
        lines.append("     - %s" % _literal(message))
    return "\n".join(lines) + "\n"


def main(argv=None):
    rows = run_cases()
    text = render(rows)
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write(text)
    silent = [label for label, _, kind, _ in rows if kind == "(no error)"]
    print("wrote %s (%d rows)" % (OUTPUT, len(rows)))
    if silent:
        print("warning: no exception for: %s" % "; ".join(silent), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
