"""Explanation methods, one module per family; importing this registers them all."""
# The import order below is the registration order, which available_methods() lists: keep it.
# isort: off
from . import gradients  # noqa: F401
from . import cam, perturbation  # noqa: F401
from . import layercam, sobol  # noqa: F401
from . import attention  # noqa: F401
from . import lime, shap  # noqa: F401
from . import lrp, deeplift  # noqa: F401
from . import costs, engine  # noqa: F401
# isort: on
from .registry import *  # noqa: F403
from .registry import __all__ as _registry_all

__all__ = list(_registry_all)
