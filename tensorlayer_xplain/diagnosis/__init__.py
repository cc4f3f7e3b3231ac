"""Model diagnosis (``tlxp.diagnose``): why the model errs, which shortcuts it relies on, how sensitive each class is.

One call, :func:`diagnose` (or :meth:`ModelExplainer.diagnose`), returns a
:class:`Diagnosis` with DataFrames (``errors``, ``confusions``, ``reliance``,
``sensitivity``), figures and a report section. The modules each do one job:
``regions`` (object masks), ``errors`` (errors, confusions, profiles),
``reliance`` (outside-object share, counterfactual), ``probes`` (sensitivity),
``result`` (the Diagnosis), ``html`` (report sections), ``core`` (the pass).
"""
from .core import DEFAULT_METHODS, FLIP_THRESHOLD, RELIANCE_THRESHOLD, diagnose
from .probes import default_probes
from .regions import object_regions
from .reliance import outside_share, replace_region
from .result import Diagnosis

__all__ = ["diagnose", "Diagnosis", "object_regions", "default_probes", "outside_share", "replace_region",
           "DEFAULT_METHODS", "RELIANCE_THRESHOLD", "FLIP_THRESHOLD"]
