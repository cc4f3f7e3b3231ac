"""tensorlayer_xplain: explainability for TensorLayer models, in the style of ``tl.visualize``.

Examples
--------
>>> import tensorlayer_xplain as tlxp
>>> explainer = tlxp.ModelExplainer(model, methods=['gradient'])
>>> exp = explainer.explain(X_test[:4])
>>> tlxp.gradient_visualization(model, X_test[:4], name='grad')
"""
__version__ = "0.1.0"

from . import _compat

_compat.apply_patches()

from . import datasets, methods, models, visualize  # noqa: E402
from . import layers  # noqa: E402
from .layers import MultiHeadSelfAttention  # noqa: E402
from .adapter import ModelAdapter, as_adapter  # noqa: E402
from .explainer import ModelExplainer  # noqa: E402
from .explanation import Explanation  # noqa: E402
from .multi_input import MultiInputAdapter, MultiInputExplanation  # noqa: E402
from .methods.registry import (  # noqa: E402
    available_methods,
    get_method,
    method_info,
    method_parameters,
    register_method,
    unregister_method,
)
from .methods.costs import Cost, estimate_cost  # noqa: E402
from ._install import install, uninstall  # noqa: E402
from .runner import explain  # noqa: E402
from .weights import load_weights, save_weights  # noqa: E402
from .store import ExplanationStore, open_store  # noqa: E402
from . import metrics  # noqa: E402
from .metrics import (  # noqa: E402
    available_metrics,
    deletion,
    evaluate,
    insertion,
    method_agreement,
    mu_fidelity,
    randomization_sanity_check,
    register_metric,
)
from .diagnosis import Diagnosis, diagnose  # noqa: E402
from .visualize import *  # noqa: E402,F401,F403
from .visualize import __all__ as _visualize_all  # noqa: E402

__all__ = [
    "__version__",
    "metrics",
    "deletion",
    "insertion",
    "mu_fidelity",
    "randomization_sanity_check",
    "method_agreement",
    "evaluate",
    "register_metric",
    "available_metrics",
    "ModelAdapter",
    "as_adapter",
    "MultiInputAdapter",
    "MultiInputExplanation",
    "ModelExplainer",
    "Explanation",
    "explain",
    "save_weights",
    "load_weights",
    "diagnose",
    "Diagnosis",
    "ExplanationStore",
    "open_store",
    "install",
    "uninstall",
    "register_method",
    "unregister_method",
    "get_method",
    "method_info",
    "method_parameters",
    "available_methods",
    "estimate_cost",
    "Cost",
    "datasets",
    "layers",
    "MultiHeadSelfAttention",
    "methods",
    "models",
    "visualize",
] + list(_visualize_all)
