"""``ModelExplainer``: one configurable object that explains a model with many methods.

``model_explainer`` holds the class; ``_config`` validates its configuration, ``_chunks`` explains
large inputs chunk by chunk, ``_output`` draws figures and writes reports, ``cache`` keeps results
(:class:`~tensorlayer_xplain.explainer.cache.ExplanationCache`), ``diagnose`` runs
:func:`tensorlayer_xplain.diagnose` with an explainer.
"""
from .model_explainer import DEFAULT_METHODS, ModelExplainer

__all__ = ["ModelExplainer", "DEFAULT_METHODS"]
