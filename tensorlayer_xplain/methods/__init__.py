"""Explanation methods, one module per family; importing this registers them all."""
# The import order below is the registration order, which available_methods() lists: keep it.
# isort: off
from . import gradients  # noqa: F401
from . import cam, perturbation  # noqa: F401
from . import layercam, sobol  # noqa: F401
from . import attention  # noqa: F401
from . import lime, shap  # noqa: F401
from . import costs
# isort: on

costs.install_builtin_costs()
from .registry import *  # noqa: E402,F403
from .registry import __all__ as _registry_all  # noqa: E402

__all__ = list(_registry_all)
