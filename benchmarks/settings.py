"""The suite's settings, the one place: run sizes per mode, method parameters, which methods apply to a model."""
import numpy as np

from tensorlayer_xplain.methods.attention import attention_layer_names
from tensorlayer_xplain.methods.registry import method_info, method_parameters

#: Run settings per mode. ``batch``: test digits per timed call; ``min/max_repeats`` and
#: ``budget`` (seconds of timing per row): how many timed repeats (pairs with the baseline);
#: ``metric_images``: digits the quality metrics use; ``steps``: deletion/insertion steps;
#: ``n_subsets``: μ-fidelity subsets.
RUNS = {
    "full": {"batch": 64, "min_repeats": 5, "max_repeats": 40, "budget": 8.0,
             "metric_images": 16, "steps": 25, "n_subsets": 128},
    "quick": {"batch": 32, "min_repeats": 3, "max_repeats": 15, "budget": 1.5,
              "metric_images": 8, "steps": 10, "n_subsets": 32},
}


class Train:
    """Placeholder for ``n`` training rows of the model being benchmarked (a seeded sample)."""

    def __init__(self, n):
        self.n = int(n)

    def __repr__(self):
        return "%d train rows" % self.n


#: Method settings. Per method: ``full`` / ``quick`` parameters (``{}`` = the method's
#: defaults; ``Train(n)`` = n rows of the model's training set), ``images`` (timed
#: images per mode when fewer than the batch: methods that explain one image at a
#: time), ``inputs='flat'`` (only for models with flat inputs), and ``work``: the
#: parameters shown in the table. A registered method missing here runs with its
#: defaults.
METHODS = {
    "gradient": {},
    "gradient_x_input": {},
    "integrated_gradients": {"quick": {"steps": 16}, "work": ("steps",)},
    "smoothgrad": {"quick": {"n_samples": 8}, "work": ("n_samples",)},
    "vargrad": {"quick": {"n_samples": 8}, "work": ("n_samples",)},
    "guided_backprop": {},
    "gradcam": {},
    "gradcam_plus_plus": {},
    "scorecam": {},
    "occlusion": {"quick": {"stride": 4}, "work": ("window", "stride")},
    "rise": {"quick": {"n_masks": 250}, "work": ("n_masks",)},
    "layercam": {},
    "sobol": {"quick": {"nb_design": 8}, "work": ("grid_size", "nb_design")},
    "attention": {},
    "attention_rollout": {},
    "lime": {"quick": {"num_samples": 200}, "images": {"full": 8, "quick": 2}, "work": ("num_samples",)},
    "shap": {"full": {"background": Train(100)}, "quick": {"background": Train(20), "n_samples": 50},
             "work": ("n_samples", "background")},
    "shap_deep": {"full": {"background": Train(100)}, "quick": {"background": Train(20)},
                  "images": {"full": 16, "quick": 4}, "work": ("background",)},
    "shap_partition": {"quick": {"max_evals": 100}, "images": {"full": 16, "quick": 4}, "work": ("max_evals",)},
    "shap_kernel": {"full": {"background": Train(100)}, "quick": {"background": Train(20), "nsamples": 300,
                                                                   "max_background": 5},
                    "images": {"full": 8, "quick": 2}, "inputs": "flat", "work": ("nsamples", "max_background")},
    "lime_tabular": {"full": {"training_data": Train(1000)},
                     "quick": {"training_data": Train(1000), "num_samples": 500},
                     "images": {"full": 8, "quick": 2}, "inputs": "flat", "work": ("num_samples",)},
}


#: Why a method has no baseline column (methods not listed: "no baseline in benchmarks/").
NO_BASELINE = {
    "attention": "activation attention is one forward pass to a layer and a channel mean; nothing to compare with",
    "attention_rollout": "no upstream rollout implementation to compare with",
    "shap_deep": "wraps shap.DeepExplainer itself (ours adds guards and batching)",
    "shap_partition": "wraps shap.PartitionExplainer itself",
    "shap_kernel": "wraps shap.KernelExplainer itself",
    "lime_tabular": "wraps lime.lime_tabular itself",
}


SEED = 0


FLOOR_LABEL = "tf.function floor"


#: The user's path, timed against the same floor as the method: ``ModelExplainer(model, cache=False)
#: .explain(x, method)`` with targets=None (prediction and predicted class included), and its target ratio.
USER_PATH_TARGETS = {"gradient": 1.1, "gradcam": 1.3, "gradcam_plus_plus": 1.4}


def method_spec(name):
    """The suite's settings entry for ``name`` (an empty one for methods it does not list)."""
    return METHODS.get(name, {})


def resolve_params(name, mode, X_train):
    """``(params, resolved, work)``: the parameters the suite passes, all of them with defaults, the table text.

    ``Train(n)`` placeholders become ``n`` rows of ``X_train`` (seeded sample).
    """
    if mode not in RUNS:
        raise ValueError("mode: expected one of %s, got %r" % (sorted(RUNS), mode))
    given = dict(method_spec(name).get(mode, {}))
    for key, value in given.items():
        if isinstance(value, Train):
            rows = np.random.default_rng(SEED).choice(len(X_train), min(value.n, len(X_train)), replace=False)
            given[key] = X_train[np.sort(rows)]
    resolved = dict(method_parameters(name))
    resolved.update(given)
    shown = []
    for key in method_spec(name).get("work", ()):
        value = method_spec(name).get(mode, {}).get(key, resolved.get(key))
        shown.append("%s=%s" % (key, value))
    return given, resolved, ", ".join(shown)


def applies(name, adapter):
    """None when method ``name`` applies to the model behind ``adapter``, else the reason it does not."""
    spec = method_info(name)
    flat = len(adapter.input_shape) == 1
    if method_spec(name).get("inputs") == "flat" and not flat:
        return "for flat inputs (run on the MLP)"
    if spec.family == "cam" and not any(len(shape) == 3 for _, shape in adapter.layer_call_order()):
        return "needs a layer with a 4-D output"
    if name == "attention_rollout" and not attention_layer_names(adapter):
        return "needs self-attention layers"
    return None


#: Row order of the table (families not listed go last, then by name).
FAMILY_ORDER = ("gradient", "cam", "perturbation", "attention", "lime", "shap")


def _family_key(name):
    family = method_info(name).family
    return (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER), family, name)


def _model_methods(adapter, methods):
    run, skipped = [], []
    for name in sorted(methods, key=_family_key):
        reason = applies(name, adapter)
        (skipped if reason else run).append((name, reason))
    return [name for name, _ in run], skipped
