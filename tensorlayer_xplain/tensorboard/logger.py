"""Explanations while a model trains: TensorBoard logging for TensorLayer loops and Keras ``fit``.

:class:`ExplanationLogger` watches a fixed batch of inputs. Called from any
training loop (``logger.log(model, step)``) or as a Keras callback
(``logger.keras_callback()``), it explains the batch with the configured
methods through one :class:`~tensorlayer_xplain.ModelExplainer` (so compiled
steps are traced once and reused at every step) and writes with ``tf.summary``:

* ``explanations/<method>``: an image grid of the watched inputs with their
  heatmap overlaid (the colours of :func:`~tensorlayer_xplain.visualize` overlays);
* ``attributions/<method>``: a histogram of the attribution values;
* ``metrics/<metric>/<method>``: each registered metric (default ``deletion``),
  the mean over the watched inputs;
* ``completeness/<method>``: integrated gradients' mean relative completeness gap;
* ``agreement/spearman/<a>_vs_<b>`` and ``agreement/top_k_iou/<a>_vs_<b>``: agreement
  between methods (:func:`~tensorlayer_xplain.metrics.method_agreement`);
* ``drift/<method>/previous`` and ``drift/<method>/first``: explanation drift, the
  mean Spearman rank correlation of each map with the same input's map at the
  previous logged step and at the first;
* ``watched/accuracy`` (with ``labels``) and ``logger/seconds``;
* ``parameters/<method>`` and ``parameters/logger``: text with the parameters used.

The model's train/eval flags, weights and optimizer state are left as they were
and no random state used by training is consumed, so a run with the logger
trains the same weights as a run without it.

``tensorboard`` is an optional dependency: ``pip install tensorlayer-xplain[tensorboard]``.

Examples
--------
>>> logger = tlxp.tensorboard.ExplanationLogger('runs/mnist', X_test[:8], labels=y_test[:8])
>>> for epoch in range(2):
...     # ... one epoch of training ...
...     scalars = logger.log(model, epoch)
>>> sorted(scalars)[:2]
['agreement/spearman/gradient_vs_gradcam', 'agreement/top_k_iou/gradient_vs_gradcam']

With Keras, ``model.fit(x, y, epochs=5, callbacks=[logger.keras_callback()])``.
"""
import numbers
import random
import time

import numpy as np
import tensorflow as tf

from ..explainer._config import check_config, check_methods, check_seed
from ..explainer.model_explainer import ModelExplainer
from ..metrics._common import _check_int, _spearman_rows
from ..metrics.agreement import method_agreement
from ..metrics.registry import _metric_spec
from .summaries import (
    MAX_IMAGES,
    _check_bounded,
    _check_logdir,
    _check_step,
    _params_markdown,
    _require_tensorboard,
    _write_explanations,
)

__all__ = ["ExplanationLogger"]

#: Largest watched batch (every logged step explains all of it with every method).
MAX_WATCHED = 512
_UPDATE_FREQS = ("epoch", "batch")

# ---------------------------------------------------------------------------- random state
class _RandomState:
    """Saves and restores the random state a training loop may draw from (numpy, ``random``, TF eager seeds).

    The package's methods use their own seeded generators; this guards against
    user-registered methods or metrics that draw from the global ones, so that
    logging never shifts training's random numbers (dropout masks, shuffles).
    """

    def __enter__(self):
        self.numpy = np.random.get_state()
        self.python = random.getstate()
        context = _eager_context()
        self.tf = context._rng.getstate() if context is not None and getattr(context, "_rng", None) else None
        return self

    def __exit__(self, *exc):
        np.random.set_state(self.numpy)
        random.setstate(self.python)
        context = _eager_context()
        if self.tf is not None and context is not None and getattr(context, "_rng", None):
            context._rng.setstate(self.tf)
        return False


def _eager_context():
    try:
        from tensorflow.python.eager import context
    except ImportError:  # pragma: no cover - a TF without the private module
        return None
    return context.context()


# ---------------------------------------------------------------------------- logger
class ExplanationLogger:
    """Log explanations of a fixed batch, and their quality, to TensorBoard while a model trains.

    Parameters
    ----------
    logdir : str or os.PathLike
        Folder of the event files (created). Open it with ``tensorboard --logdir``.
    inputs : array-like, shape (N, *input_shape) or images (N, H, W, C)
        The watched batch, 1 <= N <= 512, copied once: every logged step explains
        these inputs.
    methods : sequence of str
        Registered methods (default ``('gradient', 'gradcam')``).
    targets : None, int, array-like of int (N,) or callable
        Classes to explain. None: ``labels`` when given (so the maps of every step
        explain the same class), else each step's predicted class.
    labels : array-like of int (N,), optional
        True classes; also written as ``watched/accuracy``.
    every : int
        Log at the first call of :meth:`log` and then every ``every``-th call
        (epochs or batches, see :meth:`keras_callback`), >= 1.
    metrics : sequence of str
        Registered metrics (:func:`~tensorlayer_xplain.metrics.available_metrics`),
        each written as its mean over the watched inputs; default ``('deletion',)``.
    config : dict of str -> dict, optional
        Per-method parameters, as for :class:`~tensorlayer_xplain.ModelExplainer`.
    max_images : int
        Inputs drawn in each method's image grid, 1 to 64.
    metric_params : dict, optional
        Parameters of the metrics, routed as in :func:`~tensorlayer_xplain.metrics.evaluate`
        (e.g. ``{'steps': 10}`` or ``{'deletion': {'baseline_value': 'blur'}}``).
    image_shape : tuple of int, optional
        How inputs are drawn (e.g. ``(28, 28, 1)`` for a flat-784 MLP).
    seed : int
        Seed of the methods and metrics that take one (fixed across steps, so
        drift measures the model, not the sampling).
    batch_size : int
        Largest batch sent to the model by the explainer.

    Attributes
    ----------
    history : list of dict
        One entry per logged step: ``{'step': int, 'scalars': {tag: value}}``.
    explainer : ModelExplainer or None
        The explainer of the model last logged (reused while the model is the same).

    Raises
    ------
    ValueError
        No inputs, non-finite inputs, ``every`` < 1, labels or targets of the wrong length.
    KeyError
        An unknown method or metric.
    ImportError
        ``tensorboard`` is not installed (``pip install tensorlayer-xplain[tensorboard]``).

    Examples
    --------
    The TensorLayer tutorial's own loop, with two lines added:

    >>> network = model
    >>> optimizer = tf.optimizers.Adam(1e-3)
    >>> def train_step(X_batch, y_batch):
    ...     network.train()
    ...     with tf.GradientTape() as tape:
    ...         loss = tl.cost.cross_entropy(network(X_batch), y_batch)
    ...     grads = tape.gradient(loss, network.trainable_weights)
    ...     optimizer.apply_gradients(zip(grads, network.trainable_weights))
    >>> logger = tlxp.tensorboard.ExplanationLogger('runs/mnist', X_test[:8], labels=y_test[:8])
    >>> for epoch in range(2):
    ...     for X_batch, y_batch in tl.iterate.minibatches(X_train, y_train, 16, shuffle=True):
    ...         train_step(X_batch, y_batch)
    ...     _ = logger.log(network, epoch)
    >>> -1 <= logger.history[-1]['scalars']['drift/gradcam/previous'] <= 1
    True
    """

    def __init__(self, logdir, inputs, methods=("gradient", "gradcam"), targets=None, labels=None, every=1,
                 metrics=("deletion",), config=None, max_images=8, metric_params=None, image_shape=None, seed=0,
                 batch_size=256):
        _require_tensorboard()
        self.logdir = _check_logdir(logdir)
        self.inputs = self._check_inputs(inputs)
        n = len(self.inputs)
        self.methods = check_methods(methods, ())
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("methods: expected distinct methods, got %s" % (self.methods,))
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metrics = [_metric_spec(name).name for name in metrics]
        self.config = check_config(config)
        self.metric_params = self._check_metric_params(metric_params)
        self.labels = None if labels is None else self._check_classes("labels", labels, n)
        if targets is not None and not callable(targets) and not isinstance(targets, numbers.Integral):
            targets = self._check_classes("targets", targets, n)
        self.targets = targets
        self.every = _check_int("every", every, 1)
        self.max_images = _check_bounded("max_images", max_images, 1, MAX_IMAGES)
        self.image_shape = image_shape
        self.seed = check_seed(seed)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.explainer = None
        self.history = []
        self._calls = 0
        self._first = {}
        self._previous = {}
        self._writer = tf.summary.create_file_writer(self.logdir)

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_inputs(inputs):
        if inputs is None:
            raise ValueError("inputs: expected a non-empty batch of inputs to watch, got None")
        try:
            x = np.array(inputs, dtype=np.float32)  # a copy: the watched batch stays fixed
        except (TypeError, ValueError):
            raise TypeError("inputs: expected a numeric array (N, ...), got %s" % type(inputs).__name__) from None
        if x.ndim < 2 or len(x) == 0:
            raise ValueError("inputs: expected a non-empty batch (N, ...) with N >= 1, got shape %s" % (x.shape,))
        if len(x) > MAX_WATCHED:
            raise ValueError("inputs: expected at most %d watched inputs (each logged step explains all of "
                             "them), got %d" % (MAX_WATCHED, len(x)))
        if not np.isfinite(x).all():
            raise ValueError("inputs: expected finite values, got NaN or inf")
        return x

    @staticmethod
    def _check_classes(name, values, n):
        values = np.asarray(values)
        if values.shape != (n,) or values.dtype.kind not in "iu":
            raise ValueError("%s: expected %d integer classes (one per watched input), got %s of shape %s"
                             % (name, n, values.dtype, values.shape))
        return values.astype(np.int64)

    def _check_metric_params(self, metric_params):
        if metric_params is None:
            return {}
        if not isinstance(metric_params, dict):
            raise TypeError("metric_params: expected a dict, got %s" % type(metric_params).__name__)
        from ..metrics.registry import _route_params

        specs = [_metric_spec(name) for name in self.metrics]
        if not specs and metric_params:
            raise ValueError("metric_params: given but metrics is empty")
        return _route_params(specs, dict(metric_params))

    # ------------------------------------------------------------------ logging
    def _explainer_for(self, model):
        current = self.explainer
        if current is not None and (current.adapter is model or current.model is model):
            return current
        self.explainer = ModelExplainer(model, methods=self.methods, config=self.config, image_shape=self.image_shape,
                                        batch_size=self.batch_size, cache=False, seed=self.seed)
        return self.explainer

    def should_log(self):
        """Whether the next :meth:`log` call writes (the first call, then every ``every``-th).

        Returns
        -------
        bool

        Examples
        --------
        >>> logger = tlxp.tensorboard.ExplanationLogger('runs/demo', X_test[:4], every=2)
        >>> logger.should_log()
        True
        """
        return self._calls % self.every == 0

    def log(self, model, step, force=False):
        """Explain the watched inputs with ``model`` as it is now and write everything at ``step``.

        Call it from any training loop (TensorLayer static or dynamic, Keras,
        plain TF). Only every ``every``-th call writes (the first one does).

        Parameters
        ----------
        model : tl.models.Model, keras.Model, callable or ModelAdapter
            The model being trained. The same model object reuses the same
            explainer and compiled steps at every call.
        step : int
            Step of the summaries (epoch or global batch), >= 0.
        force : bool
            Write now even when this call is not an ``every``-th one.

        Returns
        -------
        dict or None
            ``{tag: value}`` of the scalars written, or None when this call did not log.

        Examples
        --------
        >>> logger = tlxp.tensorboard.ExplanationLogger('runs/demo', X_test[:4])
        >>> 0 <= logger.log(model, step=0)['metrics/deletion/gradient'] <= 1
        True
        """
        step = _check_step(step)
        due = self.should_log()
        self._calls += 1
        if not (due or force):
            return None
        start = time.perf_counter()
        with _RandomState():
            explainer = self._explainer_for(model)
            targets = self.targets if self.targets is not None else self.labels
            explanations = {name: explainer.explain(self.inputs, name, targets) for name in self.methods}
            scalars = self._scalars(explainer, explanations)
        first = not self.history
        with self._writer.as_default():
            _write_explanations(explanations, step, self.max_images, 0.4, text=first)
            if first:
                tf.summary.text("parameters/logger", _params_markdown("ExplanationLogger", self._logger_params()),
                                step=step)
            scalars["logger/seconds"] = time.perf_counter() - start
            for tag, value in scalars.items():
                tf.summary.scalar(tag, value, step=step)
        self._writer.flush()
        self.history.append({"step": step, "scalars": scalars})
        return scalars

    def _logger_params(self):
        return {"methods": self.methods, "metrics": self.metrics, "every": self.every,
                "watched inputs": len(self.inputs),
                "targets": ("labels" if self.labels is not None else "predicted class") if self.targets is None
                else self.targets, "seed": self.seed, "metric_params": self.metric_params}

    def _scalars(self, explainer, explanations):
        scalars = {}
        if self.labels is not None:
            predicted = next(iter(explanations.values())).predicted
            scalars["watched/accuracy"] = float(np.mean(predicted == self.labels))
        for metric in self.metrics:
            spec = _metric_spec(metric)
            params = self.metric_params.get(metric, {})
            for name, exp in explanations.items():
                result = spec.fn(explainer.adapter, exp, **params)
                scalars["metrics/%s/%s" % (metric, name)] = float(spec.summary(result))
        for name, exp in explanations.items():
            gap = exp.meta.get("completeness_gap")
            if gap is not None:
                scalars["completeness/%s" % name] = float(np.mean(gap))
        if len(explanations) > 1:
            rho, iou = method_agreement(explanations, seed=self.seed or 0)
            names = list(explanations)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    scalars["agreement/spearman/%s_vs_%s" % (a, b)] = float(rho.loc[a, b])
                    scalars["agreement/top_k_iou/%s_vs_%s" % (a, b)] = float(iou.loc[a, b])
        for name, exp in explanations.items():
            heat = np.abs(exp.heatmap()).reshape(len(exp), -1).astype(np.float32)
            if name in self._previous:
                scalars["drift/%s/previous" % name] = float(np.mean(_spearman_rows(self._previous[name], heat)))
                scalars["drift/%s/first" % name] = float(np.mean(_spearman_rows(self._first[name], heat)))
            else:
                self._first[name] = heat
            self._previous[name] = heat
        return scalars

    # ------------------------------------------------------------------ Keras
    def keras_callback(self, update_freq="epoch"):
        """A ``keras.callbacks.Callback`` that logs during ``model.fit``.

        Parameters
        ----------
        update_freq : {'epoch', 'batch'}
            Call :meth:`log` at the end of each epoch (step = epoch index) or of
            each training batch (step = global batch index); ``every`` then counts
            epochs or batches.

        Returns
        -------
        keras.callbacks.Callback

        Examples
        --------
        >>> import keras
        >>> net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        >>> net.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> logger = ExplanationLogger('runs/k', X_test[:4], methods=['gradient'])
        >>> _ = net.fit(X_train, y_train, epochs=2, verbose=0, callbacks=[logger.keras_callback()])
        >>> [entry['step'] for entry in logger.history]
        [0, 1]

        Every 100 batches instead: ``ExplanationLogger('runs/k', x[:8], every=100)`` and
        ``keras_callback(update_freq='batch')``.
        """
        if update_freq not in _UPDATE_FREQS:
            raise ValueError("update_freq: expected one of %s, got %r" % (_UPDATE_FREQS, update_freq))
        return _keras_callback_class()(self, update_freq)

    # ------------------------------------------------------------------ lifetime
    @property
    def writer(self):
        """The ``tf.summary`` writer of ``logdir``, to log the loop's own values in the same run.

        Returns
        -------
        tf.summary.SummaryWriter

        Examples
        --------
        >>> logger = tlxp.tensorboard.ExplanationLogger('runs/demo', X_test[:4])
        >>> with logger.writer.as_default():
        ...     written = tf.summary.scalar('training/val_accuracy', 0.9, step=0)
        """
        return self._writer

    def flush(self):
        """Write pending events to disk.

        Returns
        -------
        None

        Examples
        --------
        >>> logger = tlxp.tensorboard.ExplanationLogger('runs/demo', X_test[:4])
        >>> logger.flush()
        """
        self._writer.flush()

    def close(self):
        """Flush and close the event file (the logger cannot write afterwards).

        Returns
        -------
        None

        Examples
        --------
        >>> logger = tlxp.tensorboard.ExplanationLogger('runs/demo', X_test[:4])
        >>> logger.close()
        """
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "ExplanationLogger(logdir=%r, inputs=%d, methods=%s, metrics=%s, every=%d, logged=%d)" % (
            self.logdir, len(self.inputs), self.methods, self.metrics, self.every, len(self.history))


_CALLBACK_CLASS = []


def _keras_callback_class():
    """The Keras callback class, defined on first use (Keras is imported only then)."""
    if not _CALLBACK_CLASS:
        import keras

        class ExplanationCallback(keras.callbacks.Callback):
            """Calls :meth:`ExplanationLogger.log` at the end of epochs or training batches."""

            def __init__(self, logger, update_freq):
                super().__init__()
                self.logger = logger
                self.update_freq = update_freq
                self.batches = 0

            def on_train_batch_end(self, batch, logs=None):
                if self.update_freq == "batch":
                    self.logger.log(self.model, self.batches)
                self.batches += 1

            def on_epoch_end(self, epoch, logs=None):
                if self.update_freq == "epoch":
                    self.logger.log(self.model, epoch)

            def on_train_end(self, logs=None):
                self.logger.flush()

        _CALLBACK_CLASS.append(ExplanationCallback)
    return _CALLBACK_CLASS[0]
