"""Generate ``docs/layer_table.inc``: every ``tensorlayer.layers`` class inside ``tf.function``.

Each layer class is built in a tiny static model (the code is in :data:`CASES`),
put in eval mode and called on a batch of two samples three ways: eagerly, and
compiled with ``tf.function`` with an open batch dimension (as the explainers
compile their steps). The compiled output must equal the eager one to 1e-5.
Each case runs twice, in fresh processes: with TensorLayer 2.2.5 alone, and after
``import tensorlayer_xplain`` (whose ``_compat`` patches are then applied), so the
table shows what the patches fix and what still fails. Run::

    python docs/make_layer_table.py

It takes about a minute. ``tests/test_compat_layers.py`` runs the normalization rows
again and checks them against the committed table.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "layer_table.inc")

#: (layer class, input shape without batch, input dtype, code building ``out`` from ``ni``).
#: The code sees ``tl``, ``tf``, ``L`` (``tensorlayer.layers``) and ``ni``, the model's input.
CASES = [
    ("AverageEmbedding", (5,), "int32", "L.AverageEmbedding(vocabulary_size=10, embedding_size=4)(ni)"),
    ("BatchNorm", (4, 4, 3), "float32", "L.BatchNorm()(ni)"),
    ("BatchNorm1d", (6, 3), "float32", "L.BatchNorm1d()(ni)"),
    ("BatchNorm2d", (4, 4, 3), "float32", "L.BatchNorm2d(num_features=3)(ni)"),
    ("BatchNorm3d", (2, 4, 4, 3), "float32", "L.BatchNorm3d()(ni)"),
    ("BiRNN", (5, 3), "float32",
     "L.BiRNN(fw_cell=tf.keras.layers.LSTMCell(4), bw_cell=tf.keras.layers.GRUCell(3), in_channels=3)(ni)"),
    ("BinaryConv2d", (8, 8, 3), "float32", "L.BinaryConv2d(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("BinaryDense", (6,), "float32", "L.BinaryDense(n_units=4, in_channels=6)(ni)"),
    ("Concat", (6,), "float32", "L.Concat(concat_dim=-1)([ni, L.Dense(n_units=2, in_channels=6)(ni)])"),
    ("Conv1d", (8, 3), "float32", "L.Conv1d(n_filter=4, filter_size=3, in_channels=3)(ni)"),
    ("Conv1dLayer", (8, 3), "float32", "L.Conv1dLayer(shape=(3, 3, 4))(ni)"),
    ("Conv2d", (8, 8, 3), "float32", "L.Conv2d(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("Conv2dLayer", (8, 8, 3), "float32", "L.Conv2dLayer(shape=(3, 3, 3, 4))(ni)"),
    ("Conv3d", (4, 6, 6, 3), "float32", "L.Conv3d(n_filter=4, filter_size=(3, 3, 3), in_channels=3)(ni)"),
    ("Conv3dLayer", (4, 6, 6, 3), "float32", "L.Conv3dLayer(shape=(2, 2, 2, 3, 4))(ni)"),
    ("CornerPool2d", (6, 6, 3), "float32", "L.CornerPool2d(mode='TopLeft')(ni)"),
    ("DeConv1dLayer", (8, 3), "float32",
     "L.DeConv1dLayer(shape=(3, 4, 3), outputs_shape=(2, 16, 4), strides=(1, 2, 1))(ni)"),
    ("DeConv2d", (8, 8, 3), "float32", "L.DeConv2d(n_filter=4, filter_size=(3, 3), strides=(2, 2), in_channels=3)(ni)"),
    ("DeConv2dLayer", (8, 8, 3), "float32",
     "L.DeConv2dLayer(shape=(3, 3, 4, 3), outputs_shape=(2, 16, 16, 4), strides=(1, 2, 2, 1))(ni)"),
    ("DeConv3d", (4, 6, 6, 3), "float32",
     "L.DeConv3d(n_filter=4, filter_size=(2, 2, 2), strides=(2, 2, 2), in_channels=3)(ni)"),
    ("DeConv3dLayer", (4, 6, 6, 3), "float32",
     "L.DeConv3dLayer(shape=(2, 2, 2, 4, 3), outputs_shape=(2, 8, 12, 12, 4), strides=(1, 2, 2, 2, 1))(ni)"),
    ("DeformableConv2d", (8, 8, 3), "float32",
     "offset = L.Conv2d(n_filter=18, filter_size=(3, 3), in_channels=3)(ni)\n"
     "out = L.DeformableConv2d(offset_layer=offset, n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("Dense", (6,), "float32", "L.Dense(n_units=4, in_channels=6)(ni)"),
    ("DepthwiseConv2d", (8, 8, 3), "float32", "L.DepthwiseConv2d(filter_size=(3, 3), in_channels=3)(ni)"),
    ("DorefaConv2d", (8, 8, 3), "float32", "L.DorefaConv2d(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("DorefaDense", (6,), "float32", "L.DorefaDense(n_units=4, in_channels=6)(ni)"),
    ("DownSampling2d", (8, 8, 3), "float32", "L.DownSampling2d(scale=(2, 2))(ni)"),
    ("DropconnectDense", (6,), "float32", "L.DropconnectDense(n_units=4, in_channels=6)(ni)"),
    ("Dropout", (6,), "float32", "L.Dropout(keep=0.8)(ni)"),
    ("Elementwise", (6,), "float32",
     "L.Elementwise(combine_fn=tf.minimum)([ni, L.Dense(n_units=6, in_channels=6)(ni)])"),
    ("ElementwiseLambda", (6,), "float32",
     "L.ElementwiseLambda(fn=lambda a, b: a * b)([ni, L.Dense(n_units=6, in_channels=6)(ni)])"),
    ("Embedding", (5,), "int32", "L.Embedding(vocabulary_size=10, embedding_size=4)(ni)"),
    ("ExpandDims", (6,), "float32", "L.ExpandDims(axis=1)(ni)"),
    ("Flatten", (4, 4, 3), "float32", "L.Flatten()(ni)"),
    ("GaussianNoise", (6,), "float32", "L.GaussianNoise(stddev=0.1)(ni)"),
    ("GlobalMaxPool1d", (8, 3), "float32", "L.GlobalMaxPool1d()(ni)"),
    ("GlobalMaxPool2d", (8, 8, 3), "float32", "L.GlobalMaxPool2d()(ni)"),
    ("GlobalMaxPool3d", (4, 6, 6, 3), "float32", "L.GlobalMaxPool3d()(ni)"),
    ("GlobalMeanPool1d", (8, 3), "float32", "L.GlobalMeanPool1d()(ni)"),
    ("GlobalMeanPool2d", (8, 8, 3), "float32", "L.GlobalMeanPool2d()(ni)"),
    ("GlobalMeanPool3d", (4, 6, 6, 3), "float32", "L.GlobalMeanPool3d()(ni)"),
    ("GRURNN", (5, 3), "float32", "L.GRURNN(units=4, in_channels=3, return_last_state=False)(ni)"),
    ("GroupConv2d", (8, 8, 4), "float32",
     "L.GroupConv2d(n_filter=4, filter_size=(3, 3), n_group=2, in_channels=4)(ni)"),
    ("GroupNorm", (4, 4, 4), "float32", "L.GroupNorm(groups=2)(ni)"),
    ("InstanceNorm", (4, 4, 3), "float32", "L.InstanceNorm()(ni)"),
    ("InstanceNorm1d", (6, 3), "float32", "L.InstanceNorm1d()(ni)"),
    ("InstanceNorm2d", (4, 4, 3), "float32", "L.InstanceNorm2d(num_features=3)(ni)"),
    ("InstanceNorm3d", (2, 4, 4, 3), "float32", "L.InstanceNorm3d()(ni)"),
    ("Lambda", (6,), "float32", "L.Lambda(fn=tf.nn.relu)(ni)"),
    ("LayerList", (6,), "float32",
     "L.LayerList([L.Dense(n_units=4, in_channels=6), L.BatchNorm1d(num_features=4)])(ni)"),
    ("LSTMRNN", (5, 3), "float32",
     "L.LSTMRNN(units=4, in_channels=3, return_last_output=True, return_last_state=False)(ni)"),
    ("LayerNorm", (4, 4, 3), "float32", "L.LayerNorm()(ni)"),
    ("LocalResponseNorm", (4, 4, 3), "float32",
     "L.LocalResponseNorm(depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75)(ni)"),
    ("MaxPool1d", (8, 3), "float32", "L.MaxPool1d(filter_size=2, strides=2)(ni)"),
    ("MaxPool2d", (8, 8, 3), "float32", "L.MaxPool2d()(ni)"),
    ("MaxPool3d", (4, 6, 6, 3), "float32", "L.MaxPool3d()(ni)"),
    ("MeanPool1d", (8, 3), "float32", "L.MeanPool1d(filter_size=2, strides=2)(ni)"),
    ("MeanPool2d", (8, 8, 3), "float32", "L.MeanPool2d()(ni)"),
    ("MeanPool3d", (4, 6, 6, 3), "float32", "L.MeanPool3d()(ni)"),
    ("ModelLayer", (6,), "float32",
     "inner_in = L.Input([None, 6])\n"
     "inner = tl.models.Model(inner_in, L.BatchNorm()(L.Dense(n_units=4, in_channels=6)(inner_in)))\n"
     "out = L.ModelLayer(inner)(ni)"),
    ("OneHot", (5,), "int32", "L.OneHot(depth=4)(ni)"),
    ("PRelu", (4, 4, 3), "float32", "L.PRelu(in_channels=3)(ni)"),
    ("PRelu6", (4, 4, 3), "float32", "L.PRelu6(in_channels=3)(ni)"),
    ("PTRelu6", (4, 4, 3), "float32", "L.PTRelu6(in_channels=3)(ni)"),
    ("PadLayer", (4, 4, 3), "float32", "L.PadLayer(padding=[[0, 0], [1, 1], [1, 1], [0, 0]])(ni)"),
    ("PoolLayer", (8, 8, 3), "float32", "L.PoolLayer()(ni)"),
    ("QuanConv2d", (8, 8, 3), "float32", "L.QuanConv2d(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("QuanConv2dWithBN", (8, 8, 3), "float32",
     "L.QuanConv2dWithBN(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("QuanDense", (6,), "float32", "L.QuanDense(n_units=4, in_channels=6)(ni)"),
    ("QuanDenseWithBN", (6,), "float32", "L.QuanDenseWithBN(n_units=4, in_channels=6)(ni)"),
    ("RNN", (5, 3), "float32",
     "L.RNN(cell=tf.keras.layers.LSTMCell(4), in_channels=3, return_last_output=True, return_last_state=False)(ni)"),
    ("Reshape", (4, 4, 3), "float32", "L.Reshape(shape=(-1, 48))(ni)"),
    ("Scale", (6,), "float32", "L.Scale()(ni)"),
    ("SeparableConv1d", (8, 3), "float32", "L.SeparableConv1d(n_filter=4, filter_size=3, in_channels=3)(ni)"),
    ("SeparableConv2d", (8, 8, 3), "float32", "L.SeparableConv2d(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("Shuffle", (4, 4, 4), "float32", "L.Shuffle(group=2)(ni)"),
    ("Sign", (6,), "float32", "L.Sign()(ni)"),
    ("SimpleRNN", (5, 3), "float32", "L.SimpleRNN(units=4, in_channels=3, return_last_state=False)(ni)"),
    ("SpatialTransformer2dAffine", (8, 8, 3), "float32",
     "L.SpatialTransformer2dAffine(out_size=(4, 4), in_channels=192)([L.Flatten()(ni), ni])"),
    ("Stack", (6,), "float32", "L.Stack(axis=1)([ni, L.Dense(n_units=6, in_channels=6)(ni)])"),
    ("SubpixelConv1d", (8, 4), "float32", "L.SubpixelConv1d(scale=2, in_channels=4)(ni)"),
    ("SubpixelConv2d", (4, 4, 4), "float32", "L.SubpixelConv2d(scale=2, n_out_channels=1)(ni)"),
    ("SwitchNorm", (4, 4, 3), "float32", "L.SwitchNorm()(ni)"),
    ("TernaryConv2d", (8, 8, 3), "float32", "L.TernaryConv2d(n_filter=4, filter_size=(3, 3), in_channels=3)(ni)"),
    ("TernaryDense", (6,), "float32", "L.TernaryDense(n_units=4, in_channels=6)(ni)"),
    ("Tile", (6, 3), "float32", "L.Tile(multiples=[1, 2, 1])(ni)"),
    ("Transpose", (4, 5, 3), "float32", "L.Transpose(perm=[0, 2, 1, 3])(ni)"),
    ("UnStack", (2, 6), "float32", "L.UnStack(axis=1)(ni)[0]"),
    ("UpSampling2d", (4, 4, 3), "float32", "L.UpSampling2d(scale=(2, 2))(ni)"),
    ("Word2vecEmbedding", (5,), "int32",
     "L.Word2vecEmbedding(vocabulary_size=10, embedding_size=4, activate_nce_loss=False)(ni)"),
    ("ZeroPad1d", (8, 3), "float32", "L.ZeroPad1d(padding=1)(ni)"),
    ("ZeroPad2d", (4, 4, 3), "float32", "L.ZeroPad2d(padding=1)(ni)"),
    ("ZeroPad3d", (2, 4, 4, 3), "float32", "L.ZeroPad3d(padding=1)(ni)"),
]

#: What to do about the layers that still fail (the table's last column).
NOTES = {
    "DeConv1dLayer": "``outputs_shape`` fixes the batch size, and a static model is built on a batch of 1, so "
                     "other batches fail (also eagerly). Not patched: give the batch size the model will see.",
    "DeConv2dLayer": "As ``DeConv1dLayer``; use ``DeConv2d``, which has no fixed batch size.",
    "DeConv3dLayer": "As ``DeConv1dLayer``; use ``DeConv3d``.",
    "DeformableConv2d": "Reshapes to the batch size it was built with, so only that batch size runs (also "
                        "eagerly). Not patched.",
    "DropconnectDense": "Patched (``dropconnect_eval``): TensorLayer drops weights in eval mode too.",
    "ElementwiseLambda": "TensorLayer bug when ``fn_weights`` is None: pass ``fn_weights=[]``.",
    "GaussianNoise": "Patched to compile (``gaussiannoise_dynamic_shape``); it adds noise in eval mode unless "
                     "built with ``is_always=False``, so explanations differ run to run.",
    "GroupNorm": "Patched (``groupnorm_batch``): TensorLayer keeps the build batch size.",
    "QuanConv2dWithBN": "Updates its moving statistics on every call, eval mode included (the variance with the "
                        "batch mean): each forward pass changes the model. Not patched; explain a model "
                        "without it.",
    "QuanDenseWithBN": "As ``QuanConv2dWithBN``.",
    "SeparableConv1d": "``build`` uses ``np.float``, removed in numpy 1.24. Not patched: use ``DepthwiseConv2d`` "
                       "(or a 1-D depthwise convolution) followed by a 1x1 convolution.",
    "SeparableConv2d": "As ``SeparableConv1d``: ``DepthwiseConv2d`` then a 1x1 ``Conv2d``.",
    "SpatialTransformer2dAffine": "``build`` calls ``np.reshape(..., newshape=)``, removed in numpy 2.1, and "
                                  "``forward`` reshapes with the static batch size. Not patched.",
}
for _name in ("BatchNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerList", "ModelLayer"):
    NOTES.setdefault(_name, "Patched (``batchnorm_tf_function``)." if "Norm" in _name else
                     "Failed because of the ``BatchNorm`` inside; patched with it.")
for _name in ("InstanceNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"):
    NOTES[_name] = "Patched (``instancenorm_batch``): TensorLayer fails on batches of more than one sample."
NOTES["LayerNorm"] = "Patched (``layernorm_batch``): TensorLayer fails on batches of more than one sample."
for _name in ("RNN", "SimpleRNN", "GRURNN", "LSTMRNN"):
    NOTES[_name] = ("Patched (``rnn_keras3_cells``): TensorLayer called ``cell.get_initial_state(inputs)``, which "
                    "takes a batch size on Keras 3 cells. Equals ``keras.layers.RNN`` over the same cell to 1e-5, "
                    "``sequence_length`` included.")
NOTES["BiRNN"] = ("Patched (``birnn_keras3_cells``), as ``RNN``; the backward half stays in TensorLayer's order "
                  "(Keras' ``Bidirectional`` reverses it back).")

#: Layer classes not audited, and why (shown under the table).
NOT_AUDITED = {
    "Layer, _InputLayer": "the base class and the input placeholder (every row uses them)",
}


def _first_line(err):
    """The error's own message: autograph's 'in user code' preamble and stack dropped."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    prefix = type(err).__name__ + ": "
    text = text[len(prefix):] if text.startswith(prefix) else text
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)  # TF's kernel location, not the message
    text = text if len(text) <= 140 else text[:140].rstrip() + "..."
    return "%s: %s" % (type(err).__name__, text)


def run_case(code, shape, dtype):
    """Build, run eagerly and compiled; return ``(status, detail)``.

    ``status`` is one of 'ok', 'build fails', 'eager fails', 'not deterministic' (two
    eager calls differ), 'compile fails', 'mismatch'.
    """
    import numpy as np
    import tensorflow as tf
    import tensorlayer as tl
    from tensorlayer import layers as L

    rng = np.random.default_rng(0)
    namespace = {"tl": tl, "tf": tf, "L": L}
    try:
        namespace["ni"] = L.Input([None] + list(shape), dtype=getattr(tf, dtype))
        body = code if "\n" in code else "out = " + code
        exec(body, namespace)
        model = tl.models.Model(inputs=namespace["ni"], outputs=namespace["out"])
        model.eval()
    except Exception as err:  # recording what TensorLayer raises is the point
        return "build fails", _first_line(err)
    if dtype.startswith("int"):
        x = rng.integers(0, 4, size=(2,) + tuple(shape)).astype(dtype)
    else:
        x = rng.standard_normal((2,) + tuple(shape)).astype(dtype)
    try:
        eager = np.asarray(model(tf.constant(x)))
    except Exception as err:
        return "eager fails", _first_line(err)
    random = not np.array_equal(eager, np.asarray(model(tf.constant(x))))
    step = tf.function(lambda b: model(b), input_signature=[tf.TensorSpec((None,) + tuple(shape), getattr(tf, dtype))])
    try:
        compiled = np.asarray(step(tf.constant(x)))
    except Exception as err:
        return "compile fails", _first_line(err) + ("; not deterministic in eval mode" if random else "")
    if random:
        return "not deterministic", "two eager calls in eval mode differ; compiles"
    if compiled.shape != eager.shape or not np.allclose(compiled, eager, atol=1e-5, rtol=1e-5):
        return "mismatch", "compiled output differs from eager (max |diff| %.3g)" % float(
            np.max(np.abs(compiled - eager)) if compiled.shape == eager.shape else np.inf)
    return "ok", ""


def run_cases(cases=CASES, patched=True):
    """Run ``cases`` in this process; return ``{layer: (status, detail)}``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if patched:
        import tensorlayer_xplain  # noqa: F401 - applies the _compat patches
    import logging

    logging.getLogger("tensorlayer").setLevel(logging.ERROR)
    return {name: run_case(code, shape, dtype) for name, shape, dtype, code in cases}


def run_in_subprocess(patched, names=None):
    """:func:`run_cases` in a fresh interpreter (patches cannot be undone in-process)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    args = [sys.executable, os.path.abspath(__file__), "--json", "--patched" if patched else "--unpatched"]
    out = subprocess.run(args + list(names or []), env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _cell(status, detail):
    return status if not detail else "%s: ``%s``" % (status, detail.replace("`", "'"))


def render(raw, patched):
    """The two runs as an RST ``list-table``."""
    lines = [
        ".. This file is generated by docs/make_layer_table.py; do not edit it by hand.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 14 30 18 38",
        "   :class: layer-table",
        "",
        "   * - Layer",
        "     - TensorLayer 2.2.5 alone",
        "     - after ``import tensorlayer_xplain``",
        "     - Note",
    ]
    for name, _, _, _ in CASES:
        lines.append("   * - ``%s``" % name)
        lines.append("     - %s" % _cell(*raw[name]))
        lines.append("     - %s" % _cell(*patched[name]))
        lines.append("     - %s" % NOTES.get(name, ""))
    lines.append("")
    lines.append("Not audited:")
    lines.append("")
    for names, why in NOT_AUDITED.items():
        lines.append("* ``%s``: %s." % (names, why))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--json" in argv:
        names = [a for a in argv if not a.startswith("--")]
        cases = [c for c in CASES if not names or c[0] in names]
        print(json.dumps(run_cases(cases, patched="--unpatched" not in argv)))
        return 0
    raw, patched = run_in_subprocess(False), run_in_subprocess(True)
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write(render(raw, patched))
    failing = sorted(name for name, (status, _) in patched.items() if status != "ok")
    print("wrote %s (%d layers; still failing after the patches: %s)"
          % (OUTPUT, len(CASES), ", ".join(failing) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
