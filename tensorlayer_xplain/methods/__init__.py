"""Explanation methods, one module per family; importing this registers them all."""
from . import gradients  # noqa: F401
from . import cam, perturbation  # noqa: F401
from . import attention  # noqa: F401
from . import lime, shap  # noqa: F401
from . import costs, engine  # noqa: F401
from .registry import *  # noqa: F401,F403
from .registry import __all__ as _registry_all

__all__ = list(_registry_all)
