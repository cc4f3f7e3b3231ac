"""Feature visualization: images that make a class, a channel, a unit or a layer respond (Olah et al., 2017).

``objectives`` (what to maximise, composable), ``parameterization`` (pixels, Lucid's decorrelated Fourier
basis, MaCo), ``transforms`` (seeded jitter, scale, rotation, padding), ``regularizers`` (L1, total
variation, blur) and ``optimise`` (the compiled loop, :func:`feature_visualization`). The model is
reached only through the adapter, which captures layer outputs and restores the model afterwards.
"""
from . import objectives, parameterization, regularizers, transforms
from .optimise import FeatureVisualization, feature_visualization, objective_values

__all__ = ["feature_visualization", "objective_values", "FeatureVisualization", "objectives", "parameterization",
           "regularizers", "transforms"]
