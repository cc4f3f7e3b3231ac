"""TL-style figure functions (``saveable``, ``name``, ``fig_idx``, ``second``).

Each function computes (or takes) an :class:`~tensorlayer_xplain.Explanation`,
draws it, saves or shows it, closes the figure and returns what it computed.
"""
from .._utils.figure import figure_path, tl_figure
from .attributions import *  # noqa: F403
from .attributions import __all__ as _attributions_all
from .cam import *  # noqa: F403
from .cam import __all__ as _cam_all
from .compare import *  # noqa: F403
from .compare import __all__ as _compare_all
from .embedding import *  # noqa: F403
from .embedding import __all__ as _embedding_all
from .importance import *  # noqa: F403
from .importance import __all__ as _importance_all
from .metrics import *  # noqa: F403
from .metrics import __all__ as _metrics_all

__all__ = ["tl_figure", "figure_path"] + _attributions_all + _cam_all + _compare_all + _embedding_all + _importance_all
__all__ += _metrics_all

from .attention import *  # noqa: F403, E402
from .attention import __all__ as _attention_all  # noqa: E402

__all__ += _attention_all
from .lime_shap import *  # noqa: F403, E402
from .lime_shap import __all__ as _lime_shap_all  # noqa: E402

__all__ += _lime_shap_all
from .diagnosis import *  # noqa: F403, E402
from .diagnosis import __all__ as _diagnosis_all  # noqa: E402

__all__ += _diagnosis_all

from .classes import *  # noqa: F403, E402
from .classes import __all__ as _classes_all  # noqa: E402

__all__ += _classes_all

from .text import *  # noqa: F403, E402
from .text import __all__ as _text_all  # noqa: E402

__all__ += _text_all

from .features import *  # noqa: F403, E402
from .features import __all__ as _features_all  # noqa: E402

__all__ += _features_all

from .concepts import *  # noqa: F403, E402
from .concepts import __all__ as _concepts_all  # noqa: E402

__all__ += _concepts_all

from .seq2seq import *  # noqa: F403, E402
from .seq2seq import __all__ as _seq2seq_all  # noqa: E402

__all__ += _seq2seq_all
