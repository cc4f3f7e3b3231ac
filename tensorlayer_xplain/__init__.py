"""tensorlayer_xplain: explainability for TensorLayer models, in the style of ``tl.visualize``.

The public API is re-exported here. The code is laid out by job: ``adapter`` (the only code that
touches a model), ``methods`` (one module per method or family, with the registry), ``explainer``
(:class:`ModelExplainer`), ``metrics``, ``visualize`` (TL-style figures), ``diagnosis``, ``scale``
(Zarr store, Ray), ``serve`` (FastAPI, Gradio), ``_compat`` (TensorLayer on today's stack) and
``_utils``. Old module paths (``tensorlayer_xplain.store``, ``.distributed``, ``.app``, ...) stay
importable as aliases of the moved modules (see ``_utils/aliases.py``).

Examples
--------
>>> import tensorlayer_xplain as tlxp
>>> explainer = tlxp.ModelExplainer(model, methods=['gradient'])
>>> exp = explainer.explain(X_test[:4])
>>> tlxp.gradient_visualization(model, X_test[:4], name='grad')
"""
from ._utils import quiet as _quiet

if _quiet.is_cli():  # before TensorFlow is imported: its native start-up lines would bury a one-line error
    _quiet.filter_native_logs()

from . import _compat
from ._utils import aliases as _aliases
from ._version import __version__

__getattr__ = _aliases.install(__name__)
_compat.apply_patches()

from . import (
    concepts,
    datasets,
    layers,
    methods,
    metrics,
    models,
    tensorboard,
    visualize,
)
from ._install import install, uninstall
from .adapter import ModelAdapter, TokenAdapter, as_adapter
from .adapter._seq2seq import Seq2seqAdapter
from .adapter.multi_input import MultiInputAdapter
from .concepts import CraftResult, craft, tcav
from .diagnosis import Diagnosis
from .explainer import ModelExplainer
from .explainer.diagnose import diagnose
from .explanation import Explanation, MultiInputExplanation
from .features import feature_visualization, objectives
from .layers import MultiHeadSelfAttention
from .methods.costs import Cost, estimate_cost
from .methods.registry import (
    available_methods,
    get_method,
    method_info,
    method_parameters,
    register_method,
    unregister_method,
)
from .methods.seq2seq import Seq2seqExplanation, explain_seq2seq
from .metrics import (
    available_metrics,
    deletion,
    evaluate,
    insertion,
    method_agreement,
    mu_fidelity,
    randomization_sanity_check,
    register_metric,
)
from .runner import explain
from .scale.store import ExplanationStore, open_store
from .visualize import *  # noqa: F403
from .visualize import __all__ as _visualize_all
from .weights import load_weights, save_weights

__all__ = [
    "__version__",
    "concepts",
    "tcav",
    "craft",
    "CraftResult",
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
    "TokenAdapter",
    "as_adapter",
    "MultiInputAdapter",
    "MultiInputExplanation",
    "Seq2seqAdapter",
    "Seq2seqExplanation",
    "explain_seq2seq",
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
    "feature_visualization",
    "objectives",
] + list(_visualize_all)
