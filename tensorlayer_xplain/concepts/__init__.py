"""Concept explanations: does the model use a human concept (TCAV), which concepts does a class rest on (CRAFT).

* :func:`tcav` (Kim et al. 2018): concept activation vectors at a layer, TCAV scores per class and
  a t-test against random directions, as a table.
* :func:`craft` (Fel et al. 2023): concepts of one class from a non-negative factorisation of crop
  activations, ranked by Sobol importance, with their best crops and maps.

Both read a layer's activations and gradients through the adapter (:mod:`.activations`), so TL
static and dynamic models and Keras models work alike and are left unchanged. Figures:
:func:`~tensorlayer_xplain.visualize.tcav_visualization` and
:func:`~tensorlayer_xplain.visualize.craft_visualization`.
"""
from .activations import layer_activations, layer_gradients, scores_from_layer
from .cav import CAV, train_cav
from .craft import CraftResult, craft
from .sobol import jansen_total_indices, replicated_design
from .tcav import TCAV_COLUMNS, tcav

__all__ = ["tcav", "craft", "CraftResult", "CAV", "train_cav", "TCAV_COLUMNS", "layer_activations",
           "layer_gradients", "scores_from_layer", "replicated_design", "jansen_total_indices"]
