"""Model diagnosis (``tlxp.diagnose``): why the model errs, which shortcuts it relies on, how sensitive each class is.

One call, :func:`tensorlayer_xplain.diagnose` (or :meth:`ModelExplainer.diagnose`), returns a
:class:`Diagnosis` with DataFrames (``errors``, ``confusions``, ``reliance``,
``sensitivity``), figures and a report section. The modules each do one job:
``regions`` (object masks), ``errors`` (errors, confusions, profiles),
``reliance`` (outside-object share, counterfactual), ``probes`` (sensitivity),
``result`` (the Diagnosis), ``html`` (report sections), ``core`` (the pass, given an explainer;
:mod:`tensorlayer_xplain.explainer.diagnose` builds the explainer from a model).
"""
from .core import DEFAULT_METHODS, FLIP_THRESHOLD, RELIANCE_THRESHOLD, diagnose_with
from .probes import default_probes
from .regions import object_regions
from .reliance import outside_share, replace_region
from .result import Diagnosis

__all__ = ["diagnose_with", "Diagnosis", "object_regions", "default_probes", "outside_share", "replace_region",
           "DEFAULT_METHODS", "RELIANCE_THRESHOLD", "FLIP_THRESHOLD"]
