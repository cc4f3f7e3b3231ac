"""The suite's settings, the one place: run sizes per mode, method parameters, which methods apply to a model."""
import numpy as np

from tensorlayer_xplain.methods.registry import TrainingRows, method_info, method_parameters, skip_reason

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
    """The benchmark settings ``name`` declares (``register_method(..., benchmark=...)``; empty: its defaults).

    ``quick`` / ``full``: parameters per mode (``TrainingRows(n)`` = n rows of the
    model's training set); ``images``: timed images per mode when fewer than the
    batch (methods that explain one image at a time); ``inputs='flat'``: only for
    models with flat inputs; ``work``: the parameters shown in the table.
    """
    return method_info(name).benchmark


def resolve_params(name, mode, X_train):
    """``(params, resolved, work)``: the parameters the suite passes, all of them with defaults, the table text.

    ``TrainingRows(n)`` placeholders become ``n`` rows of ``X_train`` (seeded sample).
    """
    if mode not in RUNS:
        raise ValueError("mode: expected one of %s, got %r" % (sorted(RUNS), mode))
    given = dict(method_spec(name).get(mode, {}))
    for key, value in given.items():
        if isinstance(value, TrainingRows):
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
    """None when method ``name`` applies to the model behind ``adapter`` (its declaration), else the reason."""
    if method_spec(name).get("inputs") == "flat" and len(adapter.input_shape) != 1:
        return "for flat inputs (run on the MLP)"
    return skip_reason(adapter, name)


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
