"""Explain TensorLayer's BatchNorm models (the CIFAR-10 tutorial CNN, MobileNetV1, ResNet50) with six methods.

Random weights (``pretrained=False``: the weights' download host is unreachable), with the
BatchNorm statistics calibrated on a few random images (TensorLayer starts them at zero
variance, which makes an untrained model explode). The explained image is synthetic: a red
disc and a green square on blue, so the figures show whether RGB is drawn as RGB. Slow on
CPU at 224x224 (about three minutes per zoo model on two cores)::

    python examples/zoo_explain.py --model MobileNetV1 --out figures
"""
import argparse
import os

import numpy as np
import tensorlayer as tl

import tensorlayer_xplain as tlxp

BUILDERS = {
    "cifar10_batchnorm": (lambda: tlxp.models.cifar10_batchnorm(seed=0), 24),
    "MobileNetV1": (lambda: tl.models.MobileNetV1(pretrained=False), 224),
    "ResNet50": (lambda: tl.models.ResNet50(pretrained=False), 224),
}
METHODS = ["gradient", "gradcam", "integrated_gradients", "occlusion", "lime", "shap"]


def picture(size):
    """A (size, size, 3) RGB image in [0, 1]: a red disc (top left) and a green square (bottom right) on blue."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size, 3), np.float32)
    image[..., 2] = 0.8
    image[(yy - 0.35) ** 2 + (xx - 0.35) ** 2 < 0.04] = [0.9, 0.1, 0.1]
    image[(yy > 0.55) & (yy < 0.85) & (xx > 0.55) & (xx < 0.85)] = [0.1, 0.8, 0.1]
    return image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(BUILDERS), default="cifar10_batchnorm")
    parser.add_argument("--out", default="figures")
    args = parser.parse_args(argv)
    build, size = BUILDERS[args.model]
    model = build()
    rng = np.random.default_rng(0)
    tlxp.models.calibrate_batchnorm(model, rng.random((4, size, size, 3), dtype=np.float32))
    x = picture(size)[None]
    window = max(4, size // 7)
    config = {"integrated_gradients": {"steps": 16}, "occlusion": {"window": window, "stride": window},
              "lime": {"num_samples": 100},
              "shap": {"background": rng.random((2, size, size, 3), dtype=np.float32), "n_samples": 8}}
    explainer = tlxp.ModelExplainer(model, methods=METHODS, config=config, batch_size=16)
    explanations = {method: explainer.explain(x, method=method) for method in METHODS}
    for method, exp in explanations.items():
        print("%-22s %6.1f s  %s" % (method, exp.timings["total"], exp.meta.get("layer_name", "")))
    os.makedirs(args.out, exist_ok=True)
    tlxp.compare_methods(model, explanations, name=os.path.join(args.out, "%s_compare.png" % args.model))
    tlxp.gradcam_visualization(model, x, name=os.path.join(args.out, "%s_gradcam.png" % args.model))


if __name__ == "__main__":
    main()
