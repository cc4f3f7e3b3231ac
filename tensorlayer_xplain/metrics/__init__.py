"""Quality metrics for explanations: faithfulness, sanity, agreement.

Every metric takes a model (or :class:`~tensorlayer_xplain.ModelAdapter`) and an
:class:`~tensorlayer_xplain.Explanation` of any registered method, and sends all
its perturbed inputs through the model in batches of ``batch_size`` (built chunk
by chunk, so memory stays bounded whatever the number of inputs and steps).

* :func:`deletion` / :func:`insertion` (Petsiuk, Das & Saenko, 2018, RISE):
  remove (or insert) pixels in the order of the attribution map and follow the
  probability of the explained class; the area under that curve (AUC) is low for
  a faithful map under deletion and high under insertion.
* :func:`mu_fidelity` (Bhatt, Weller & Moura, 2020): correlation between the
  attribution mass of random pixel subsets and the output drop when those subsets
  are removed.
* :func:`randomization_sanity_check` (Adebayo et al., 2018): an explanation that
  does not change when the model's weights are randomized does not explain the
  model.
* :func:`method_agreement`: pairwise Spearman rank correlation and top-k IoU
  between methods.
* per-input metrics in Quantus's families, each named as Quantus names it and
  returning a :class:`MetricResult` (one score per input and the direction):
  complexity (:func:`sparseness`, :func:`complexity`,
  :func:`effective_complexity`), localisation against ``masks=``
  (:func:`pointing_game`, :func:`attribution_localisation`,
  :func:`top_k_intersection`, :func:`relevance_rank_accuracy`,
  :func:`relevance_mass_accuracy`, :func:`auc`), faithfulness
  (:func:`faithfulness_correlation`, :func:`pixel_flipping`,
  :func:`region_perturbation`, :func:`road`, :func:`monotonicity_correlation`,
  :func:`infidelity`), robustness (:func:`max_sensitivity`,
  :func:`avg_sensitivity`, :func:`local_lipschitz_estimate`,
  :func:`relative_input_stability`, :func:`relative_output_stability`),
  randomisation (:func:`random_logit`, :func:`model_parameter_randomisation`)
  and axiomatic (:func:`completeness`, :func:`non_sensitivity`,
  :func:`input_invariance`).
* :func:`evaluate`: a table (``pandas.DataFrame``) of methods x metrics, driven by
  a small registry (:func:`register_metric`), so a new metric needs no change
  elsewhere.

One module per family: ``faithfulness`` (deletion, insertion, mu-fidelity),
``sanity`` (randomization), ``agreement``, ``registry`` (the registry and
``evaluate``); ``results`` holds the result types and ``_common`` the shared
checks and batched scoring.

Pixels are the image pixels of the explanation's ``image_shape`` (H, W); a pixel
is removed or inserted with all its channels together, ranked by
``explanation.heatmap()``.

Examples
--------
>>> import tensorlayer_xplain as tlxp
>>> exp = tlxp.explain(model, x_test[:32], 'integrated_gradients')
>>> tlxp.metrics.deletion(model, exp).mean_auc  # doctest: +IGNORE_RESULT
0.12
>>> tlxp.metrics.evaluate(model, {'ig': exp, 'grad': tlxp.explain(model, x_test[:32])})  # doctest: +IGNORE_RESULT
metric  deletion  insertion  mu_fidelity
method
ig          0.12       0.71         0.35
grad        0.25       0.55         0.12
"""
from ._common import SCORES
from .agreement import method_agreement
from .axiomatic import completeness, input_invariance, non_sensitivity
from .complexity_metrics import complexity, effective_complexity, sparseness
from .faithfulness import deletion, insertion, mu_fidelity
from .faithfulness_curves import infidelity, monotonicity_correlation, pixel_flipping, region_perturbation
from .faithfulness_road import road
from .faithfulness_subsets import faithfulness_correlation
from .localisation import (
    attribution_localisation,
    auc,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    top_k_intersection,
)
from .randomisation import model_parameter_randomisation, random_logit
from .registry import (
    DEFAULT_METRICS,
    METRICS,
    MetricSpec,
    available_metrics,
    evaluate,
    metrics_of,
    register_metric,
)
from .results import (
    FAMILIES,
    Agreement,
    CurveResult,
    FidelityResult,
    MetricResult,
    SanityCheckResult,
)
from .robustness import avg_sensitivity, max_sensitivity
from .robustness_relative import local_lipschitz_estimate, relative_input_stability, relative_output_stability
from .sanity import SANITY_MODES, randomization_sanity_check

__all__ = [
    "CurveResult",
    "FidelityResult",
    "SanityCheckResult",
    "Agreement",
    "MetricResult",
    "FAMILIES",
    "MetricSpec",
    "METRICS",
    "SCORES",
    "SANITY_MODES",
    "DEFAULT_METRICS",
    "deletion",
    "insertion",
    "mu_fidelity",
    "randomization_sanity_check",
    "method_agreement",
    "register_metric",
    "available_metrics",
    "metrics_of",
    "evaluate",
    "sparseness",
    "complexity",
    "effective_complexity",
    "pointing_game",
    "attribution_localisation",
    "top_k_intersection",
    "relevance_rank_accuracy",
    "relevance_mass_accuracy",
    "auc",
    "completeness",
    "max_sensitivity",
    "avg_sensitivity",
    "random_logit",
    "faithfulness_correlation",
    "pixel_flipping",
    "region_perturbation",
    "road",
    "monotonicity_correlation",
    "infidelity",
    "local_lipschitz_estimate",
    "relative_input_stability",
    "relative_output_stability",
    "model_parameter_randomisation",
    "non_sensitivity",
    "input_invariance",
]
