"""tensorlayer_xplain: explainability for TensorLayer models, in the style of ``tl.visualize``.

The public API is re-exported here. The code is laid out by job: ``adapter`` (the only code that
touches a model), ``methods`` (one module per method or family, with the registry), ``explainer``
(:class:`ModelExplainer`), ``metrics``, ``visualize`` (TL-style figures), ``diagnosis``, ``scale``
(Zarr store, Ray), ``serve`` (FastAPI, Gradio), ``_compat`` (TensorLayer on today's stack) and
``_utils``. Old module paths (``tensorlayer_xplain.store``, ``.distributed``, ``.app``, ...) stay
importable as aliases of the moved modules (see ``_utils/aliases.py``).

Examples
--------
>>> import tensorlayer_xplain as tlxp                              # doctest: +SKIP
>>> explainer = tlxp.ModelExplainer(model, methods=['gradient'])   # doctest: +SKIP
>>> exp = explainer.explain(X_test[:4])                           # doctest: +SKIP
>>> tlxp.gradient_visualization(model, X_test[:4], name='grad')    # doctest: +SKIP
"""
from ._version import __version__
from ._utils import aliases as _aliases
from . import _compat

__getattr__ = _aliases.install(__name__)
_compat.apply_patches()

from . import datasets, methods, models, visualize  # noqa: E402
from . import layers  # noqa: E402
from .layers import MultiHeadSelfAttention  # noqa: E402
from .adapter import ModelAdapter, as_adapter  # noqa: E402
from .adapter.multi_input import MultiInputAdapter  # noqa: E402
from .explainer import ModelExplainer  # noqa: E402
from .explanation import Explanation, MultiInputExplanation  # noqa: E402
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
from .scale.store import ExplanationStore, open_store  # noqa: E402
from . import metrics  # noqa: E402
from . import tensorboard  # noqa: E402  (imports the tensorboard package only when used)
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
from .diagnosis import Diagnosis  # noqa: E402
from .explainer.diagnose import diagnose  # noqa: E402
from .visualize import *  # noqa: E402,F401,F403
from .visualize import __all__ as _visualize_all  # noqa: E402

__all__ = [
    "__version__",
    "metrics",
    "tensorboard",
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
