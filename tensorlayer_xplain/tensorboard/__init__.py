"""TensorBoard logging of explanations for TensorLayer training loops and Keras ``fit``.

:class:`ExplanationLogger` (module :mod:`.logger`) explains a fixed batch while the model trains;
:func:`log_explanations` and :func:`log_class_means` (module :mod:`.summaries`) write explanations
already computed and a store's per-class means. ``tensorboard`` is an optional dependency:
``pip install tensorlayer-xplain[tensorboard]``.
"""
from .logger import MAX_WATCHED, ExplanationLogger
from .summaries import INSTALL_HINT, MAX_IMAGES, image_grid, log_class_means, log_explanations

__all__ = ["ExplanationLogger", "log_explanations", "log_class_means", "image_grid", "INSTALL_HINT",
           "MAX_WATCHED", "MAX_IMAGES"]
