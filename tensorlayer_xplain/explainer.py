"""``ModelExplainer``: one configurable object that explains a model with many methods."""
from .adapter import as_adapter, ModelAdapter
from .methods.registry import check_params, method_info
from .runner import explain as run_method
from .visualize._common import pick_targets

__all__ = ["ModelExplainer", "DEFAULT_METHODS"]

#: Methods used when ``ModelExplainer(model)`` is given none (the TL visualize tutorial's set).
DEFAULT_METHODS = ("gradient", "attention", "lime")


class ModelExplainer:
    """Explain a TensorLayer (or Keras, or callable) model with a list of configured methods.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or callable
    methods : list of str, optional
        Registered method names; default ``['gradient', 'attention', 'lime']``.
    config : dict of str -> dict, optional
        Per-method parameters, e.g. ``{'lime': {'num_samples': 1000}}``.
    class_names : sequence of str, optional
    image_shape : tuple of int, optional
        How inputs are drawn, e.g. ``(28, 28, 1)`` for a flat-784 MLP (guessed otherwise).
    output : {'logits', 'probabilities'}
        What is explained.
    batch_size : int
        Largest batch sent to the model at once.
    cache : bool
        Keep results of repeated calls (see issue "ModelExplainer complete").
    seed : int
        Default ``seed`` for every method that takes one.

    Examples
    --------
    >>> explainer = ModelExplainer(model, methods=['gradient'])   # doctest: +SKIP
    >>> exp = explainer.explain(X_test[:8])                        # doctest: +SKIP
    >>> exp.attributions.shape                                     # doctest: +SKIP
    (8, 784)
    """

    def __init__(self, model, methods=None, config=None, class_names=None, image_shape=None,
                 output="logits", batch_size=256, cache=True, seed=0):
        self.adapter = model if isinstance(model, ModelAdapter) else as_adapter(
            model, image_shape=image_shape, output=output, batch_size=batch_size)
        self.model = self.adapter.model
        self.methods = [method_info(m).name for m in (DEFAULT_METHODS if methods is None else methods)]
        config = dict(config or {})
        self.config = {}
        for name, params in config.items():
            if not isinstance(params, dict):
                raise TypeError("config[%r]: expected a dict of parameters, got %s" % (name, type(params).__name__))
            canonical = method_info(name).name
            check_params(canonical, params)
            self.config[canonical] = dict(params)
        self.class_names = list(class_names) if class_names is not None else None
        self.cache = cache
        self.seed = seed

    def method_params(self, method, **overrides):
        """The parameters ``method`` runs with: its config, the explainer's seed, then overrides."""
        spec = method_info(method)
        params = dict(self.config.get(spec.name, {}))
        if "seed" in spec.parameters and self.seed is not None:
            params.setdefault("seed", self.seed)
        params.update(overrides)
        check_params(spec.name, params)
        return spec.name, params

    def explain(self, inputs, method="gradient", targets=None, target_class=None, **overrides):
        """Explain ``inputs`` with one method.

        Parameters
        ----------
        inputs : array-like, shape (N, *input_shape) or images (N, H, W, C)
        method : str
            Any registered method (it need not be in ``methods``).
        targets : None, int, sequence of int or callable
            None explains the predicted class. ``target_class`` is another name for it.
        **overrides
            Method parameters for this call only.

        Returns
        -------
        Explanation
        """
        name, params = self.method_params(method, **overrides)
        return run_method(self.adapter, inputs, name, pick_targets(targets, target_class), **params)

    def __repr__(self):
        return "ModelExplainer(model=%s, methods=%s)" % (type(self.model).__name__, self.methods)
