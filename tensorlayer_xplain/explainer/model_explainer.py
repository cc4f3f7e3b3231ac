"""``ModelExplainer``: one configurable object that explains a model with many methods.

It validates its configuration up front, dispatches to any registered method
(user methods included, see :func:`~tensorlayer_xplain.register_method`),
caches results, streams large inputs in batches, draws every method, compares
them, evaluates them and writes a self-contained HTML report.
"""
import inspect
import os

import numpy as np

from ..adapter import ModelAdapter, as_adapter
from ..methods.applicability import Explanations
from ..methods.costs import check_budget, check_max_cost, estimate_cost
from ..methods.registry import method_info
from ..methods.seq2seq import SEQ2SEQ_PARAMETERS
from ..runner import explain as run_method
from ..runner import pick_targets
from . import _output as output
from ._chunks import chunks, explain_chunks, is_stream, n_inputs
from ._config import check_config, check_methods, check_seed, make_cache, validate_params
from .cache import DEFAULT_CACHE_BYTES, fingerprint

__all__ = ["ModelExplainer", "DEFAULT_METHODS"]

#: Methods used when ``ModelExplainer(model)`` is given none (the TL visualize tutorial's set).
DEFAULT_METHODS = ("gradient", "attention", "lime")


class ModelExplainer:
    """Explain a TensorLayer (or Keras, or callable) model with a list of configured methods.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    methods : list of str, optional
        Registered method names; default ``['gradient', 'attention', 'lime']``.
    config : dict of str -> dict, optional
        Per-method parameters, e.g. ``{'lime': {'num_samples': 1000},
        'shap': {'background': X_train[:100]}}``. Validated at construction:
        unknown methods or parameters (with a did-you-mean) and wrong types raise.
    class_names : sequence of str, optional
        Used in figures and the report.
    image_shape : tuple of int, optional
        How inputs are drawn, e.g. ``(28, 28, 1)`` for a flat-784 MLP (guessed otherwise).
    output : {'logits', 'probabilities'}
        What is explained.
    batch_size : int
        Largest batch sent to the model at once; also the chunk size when
        streaming a dataset.
    max_batch_bytes : int, optional
        Memory budget of one model call (default 1 GiB): rows in flight are capped
        so that their estimated bytes stay within it (see :class:`ModelAdapter`; an
        encoder-decoder counts source sequences, see
        :class:`~tensorlayer_xplain.adapter.Seq2seqAdapter`). Ignored when ``model``
        is already an adapter.
    cache : bool or int
        Cache results (LRU of 128 entries, or of the given size); False disables.
    cache_bytes : int
        Byte budget of the cache (default 256 MiB): least recently used results
        are dropped beyond it, and a result bigger than the budget (a large
        streamed chunk) is not cached.
    seed : int or None
        Default ``seed`` for every method that takes one.
    strategy : tf.distribute.Strategy, optional
        E.g. ``tf.distribute.MirroredStrategy()``: every compiled step (gradients,
        captures, predictions) splits its batch across the strategy's replicas.
    max_cost : int, optional
        Budget of one :meth:`explain` call in model passes (rows through the
        model, a backward pass counting as one more; see
        :func:`~tensorlayer_xplain.estimate_cost`). A call over it raises
        ``ValueError`` before any model call; for a stream, each chunk is checked.
        None: no budget.
    vocab : list, dict or str, optional
        Token models: shows words instead of ids in figures and the report, and
        lets the HTTP service take text (a list id -> word, a dict id -> word or
        word -> id, or a vocabulary file: see :func:`~tensorlayer_xplain.vocab.load_vocabulary`).
    sos, seq_length : int, optional
        Encoder-decoders (``tl.models.Seq2seq``, ``Seq2seqLuongAttention``, a Keras model with
        the inputs ``[src, decoder_inputs]``): the start-of-sequence id and the output length of
        the greedy decoding that is explained when :meth:`explain` gets no ``decoder_inputs``
        (also what :meth:`explain_dataset` and the HTTP service explain).

    Examples
    --------
    >>> explainer = ModelExplainer(model, methods=['gradient', 'gradcam', 'lime'],
    ...                            config={'lime': {'num_samples': 500}})
    >>> exp = explainer.explain(X_test[:8], method='gradcam')
    >>> exps = explainer.explain_all(X_test[:8])
    >>> explainer.visualize_all(X_test[:8], save_path='out/')
    >>> explainer.report(X_test[:8], 'out/report.html')

    A user-defined method is one decorator away:

    >>> @tlxp.register_method('input_x_gradient_squared', signed=False)
    ... def input_x_gradient_squared(adapter, inputs, targets, power=2.0):
    ...     return np.abs(inputs * adapter.gradients(inputs, targets)) ** power
    >>> ModelExplainer(model, methods=['input_x_gradient_squared'],
    ...                config={'input_x_gradient_squared': {'power': 1.0}})
    >>> tlxp.unregister_method('input_x_gradient_squared')
    """

    def __init__(self, model, methods=None, config=None, class_names=None, image_shape=None,
                 output="logits", batch_size=256, cache=True, seed=0, cache_bytes=DEFAULT_CACHE_BYTES,
                 strategy=None, max_cost=None, vocab=None, sos=None, seq_length=None, max_batch_bytes=None):
        self.adapter = model if isinstance(model, ModelAdapter) else as_adapter(
            model, image_shape=image_shape, output=output, batch_size=batch_size, strategy=strategy, sos=sos,
            seq_length=seq_length, max_batch_bytes=max_batch_bytes)
        self.model = self.adapter.model
        self.methods = check_methods(methods, DEFAULT_METHODS)
        self.config = check_config(config, self.adapter)
        self.class_names = list(class_names) if class_names is not None else None
        if isinstance(vocab, (str, os.PathLike)):
            from ..vocab import load_vocabulary

            vocab = load_vocabulary(vocab)
        if vocab is not None and not isinstance(vocab, (list, tuple, dict)):
            raise TypeError("vocab: expected a list (id -> word), a dict (id -> word or word -> id) or a vocabulary "
                            "file path, got %s" % type(vocab).__name__)
        self.vocab = vocab
        self.seed = check_seed(seed)
        self.max_cost = check_max_cost(max_cost)
        self._cache = make_cache(cache, cache_bytes)
        #: The tidy table of the last :meth:`evaluate` (shown by :meth:`report`), None before.
        self.last_evaluation = None

    # ------------------------------------------------------------------ config
    def method_params(self, method, **overrides):
        """``(name, params)`` a method runs with: its config, the explainer's seed, then overrides.

        Parameters
        ----------
        method : str
            A registered method name or alias.
        **overrides
            Parameters for one call; they win over the config and the seed.

        Returns
        -------
        name : str
            The canonical method name.
        params : dict
            The validated parameters.

        Examples
        --------
        >>> ModelExplainer(model, methods=['lime']).method_params('lime', num_samples=2000)
        ('lime', {'seed': 0, 'num_samples': 2000})
        """
        spec = method_info(method)
        params = dict(self.config.get(spec.name, {}))
        from ..methods.tokens import implementation

        fn = implementation(self.adapter, spec.name) or spec.fn
        if "seed" in inspect.signature(fn).parameters and self.seed is not None:
            params.setdefault("seed", self.seed)
        params.update(overrides)
        validate_params(spec.name, params, self.adapter)
        return spec.name, params

    # ------------------------------------------------------------------ cache
    @property
    def cache_info(self):
        """Cache statistics.

        Returns
        -------
        dict or None
            ``{'hits', 'misses', 'size', 'maxsize', 'bytes', 'max_bytes', 'too_big'}``;
            None when caching is off.

        Examples
        --------
        >>> explainer.explain(x); explainer.explain(x)
        >>> explainer.cache_info  # doctest: +IGNORE_RESULT
        {'hits': 1, 'misses': 1, 'size': 1, 'maxsize': 128, 'bytes': 12928, 'max_bytes': 268435456, 'too_big': 0}
        """
        return self._cache.stats() if self._cache is not None else None

    def clear_cache(self):
        """Forget every cached explanation (the hit/miss counters are kept).

        Returns
        -------
        None

        Examples
        --------
        >>> explainer.clear_cache()
        >>> explainer.cache_info['size']
        0
        """
        if self._cache is not None:
            self._cache.clear()

    def _cache_key(self, name, params, targets, x, weights=None):
        return (name, fingerprint(params), fingerprint(targets), fingerprint(x),
                self.adapter.output, weights or self.adapter.weights_fingerprint())

    # ------------------------------------------------------------------ explain
    def check_cost(self, name, params, n_inputs, max_cost=None):
        """The :class:`~tensorlayer_xplain.Cost` of explaining ``n_inputs`` inputs; ``ValueError`` over budget.

        Parameters
        ----------
        name : str
            Method name.
        params : dict
            Its parameters (as :meth:`method_params` returns them).
        n_inputs : int
        max_cost : int, optional
            A budget of the caller (e.g. the service's), checked with the explainer's own.

        Returns
        -------
        Cost

        Examples
        --------
        >>> ModelExplainer(model, max_cost=1000).check_cost('integrated_gradients', {'steps': 10000}, 1)
        Traceback (most recent call last):
        ValueError: max_cost: integrated_gradients on 1 input(s) with steps=10000 costs 20002 model passes ...
        """
        cost = estimate_cost(self.adapter, name, n_inputs, **params)
        for limit in (self.max_cost, max_cost):
            check_budget(cost, limit, params)
        return cost

    def _checked_chunks(self, chunks, name, params):
        """Streamed chunks, each checked against the budget before it runs."""
        for x, t in chunks:
            self.check_cost(name, params, n_inputs(self.adapter, x))
            yield x, t

    def _explain_batch(self, x, name, targets, params):
        key = None
        if self._cache is not None:
            key = self._cache_key(name, params, targets, x)
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        exp = run_method(self.adapter, x, name, targets, **params)
        if key is not None:
            self._cache.put(key, exp)  # stored only once the whole run succeeded
        return exp

    def explain(self, inputs, method="gradient", targets=None, target_class=None, progress=None, **overrides):
        """Explain ``inputs`` with one method.

        Parameters
        ----------
        inputs : array-like (N, *input_shape) or images (N, H, W, C), or a ``tf.data.Dataset``
            / iterable of batches (elements ``x`` or ``(x, y)``). More than
            ``batch_size`` samples are streamed in chunks with a progress bar.
        method : str
            Any registered method (it need not be in ``methods``).
        targets : None, int, sequence of int or callable
            None explains the predicted class. ``target_class`` is another name for it.
        progress : bool, optional
            Show a tqdm bar when streaming; default: when there is more than one chunk.
        **overrides
            Method parameters for this call only.

        Returns
        -------
        Explanation
            Cached: the same object is returned for the same inputs, method,
            parameters, targets and weights.

        Examples
        --------
        >>> exp = explainer.explain(X_test[:8], method='integrated_gradients', steps=128)
        >>> exp = explainer.explain(X_test[:8], method='gradcam', target_class=3)
        >>> exp = explainer.explain(tf.data.Dataset.from_tensor_slices(X_test).batch(512))
        """
        seq2seq = {k: overrides.pop(k) for k in SEQ2SEQ_PARAMETERS if k in overrides}
        name, params = self.method_params(method, **overrides)
        targets = pick_targets(targets, target_class)
        if getattr(self.adapter, "seq2seq", False):
            return self._explain_seq2seq(inputs, name, targets, params, seq2seq)
        if seq2seq:
            raise TypeError("%s: only an encoder-decoder takes it (a seq2seq model, explained position by position); "
                            "this model is explained by %s" % (", ".join(seq2seq), type(self.adapter).__name__))
        if self.max_cost is not None and not is_stream(inputs):
            self.check_cost(name, params, n_inputs(self.adapter, inputs))  # the whole call, before any model call
        if getattr(self.adapter, "n_inputs", 1) > 1:  # one list of batches, explained at once (not cached)
            from ..methods.multi_input import explain_multi

            return explain_multi(self.adapter, inputs, name, targets, **params)
        if isinstance(targets, list):
            targets = np.asarray(targets)
        pieces = chunks(self.adapter, inputs, targets)
        if self.max_cost is not None and is_stream(inputs):
            pieces = self._checked_chunks(pieces, name, params)
        return explain_chunks(pieces, lambda x, t: self._explain_batch(x, name, t, params), name, progress)

    def _explain_seq2seq(self, inputs, name, targets, params, seq2seq):
        """:meth:`explain` of an encoder-decoder: one :class:`Seq2seqExplanation` ``(N, T_out, T_src)``, cached."""
        if is_stream(inputs):
            raise TypeError("inputs: an encoder-decoder is explained on an array of source ids (N, T_src); for a "
                            "dataset use explain_dataset, got %s" % type(inputs).__name__)
        if self.max_cost is not None:
            self.check_cost(name, params, n_inputs(self.adapter, inputs))
        key = None
        if self._cache is not None:
            key = self._cache_key(name, dict(params, **seq2seq), targets, inputs)
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        exp = run_method(self.adapter, inputs, name, targets, **params, **seq2seq)
        if key is not None:
            self._cache.put(key, exp)
        return exp

    def explain_dataset(self, data, path, methods=None, targets=None, chunk_size=None, resume=True, progress=None,
                        store_inputs=False, labels=None):
        """Explain a whole dataset chunk by chunk into a resumable Zarr store (memory stays flat).

        Parameters
        ----------
        data : array-like (N, ...), tf.data.Dataset or iterable of batches
            Dataset elements are batches ``x`` or ``(x, y)``; ``y`` is stored as labels.
        path : str or os.PathLike
            The store: a local folder or an fsspec URL (``s3://...``).
        methods : list of str, optional
            Default: the explainer's ``methods``.
        targets : None, int, array (N,) or callable
            None explains the predicted class.
        chunk_size : int, optional
            Samples per chunk (the unit of storage and of resume); default ``batch_size``.
        resume : bool
            True: skip the chunks an earlier run of the same call completed (a run
            with different parameters, weights, version or input shape is
            refused); False: overwrite an existing store, with a warning.
        progress : bool, optional
            tqdm bar (samples, total, ETA); None: shown when the run lasts over 2 s.
        store_inputs : bool
            Also store the inputs (for reports that need no data).
        labels : array-like (N,), optional
            Labels of an array ``data``.

        Returns
        -------
        ExplanationStore
            See :func:`tensorlayer_xplain.open_store`.

        Examples
        --------
        >>> store = explainer.explain_dataset(X_test, 'out.zarr', methods=['gradient', 'gradcam'])
        >>> store['gradcam'][:8].heatmap().shape
        (8, 28, 28)
        """
        from ..scale.writer import explain_to_store

        return explain_to_store(self, data, path, methods=methods, targets=targets, labels=labels,
                                chunk_size=chunk_size, resume=resume, progress=progress, store_inputs=store_inputs)

    def explain_all(self, inputs, targets=None, methods=None, **kwargs):
        """Explain ``inputs`` with every configured method.

        Parameters
        ----------
        inputs : array-like, tf.data.Dataset or iterable of batches
            As for :meth:`explain` (a one-shot iterator is read once and reused).
        targets : None, int, sequence of int or callable
        methods : list of str, optional
            Default: the explainer's ``methods``.
        **kwargs
            Passed to :meth:`explain` (e.g. ``progress``).

        Returns
        -------
        Explanations
            dict of str -> Explanation, in the order of ``methods``; ``.skipped`` maps
            each method that does not apply to the model (skipped with a warning: a CAM
            on an MLP, ``gradcam`` on token ids) to the reason.

        Examples
        --------
        >>> exps = explainer.explain_all(X_test[:8])
        >>> {name: exp.heatmap().shape for name, exp in exps.items()}  # doctest: +IGNORE_RESULT
        {'gradient': (8, 28, 28), 'attention': (8, 28, 28), 'lime': (8, 28, 28)}
        """
        if not isinstance(inputs, np.ndarray) and is_stream(inputs):
            inputs = list(inputs)  # a one-shot iterator must serve every method
            inputs = np.concatenate([np.asarray(e[0] if isinstance(e, (tuple, list)) else e) for e in inputs])
        names, skipped = output.applicable(self, inputs, methods)
        return Explanations({name: self.explain(inputs, name, targets, **kwargs) for name in names}, skipped)

    # ------------------------------------------------------------------ figures
    def visualize_all(self, inputs, save_path="xplain_out", targets=None, methods=None, format="png",
                      compare=True, decoder_inputs=None):
        """Write one TL-style figure per method and a comparison grid.

        Parameters
        ----------
        inputs : array-like (N, ...)
        save_path : str
            Folder (created if needed); files are ``<save_path>/<method>.<format>``
            and ``<save_path>/compare_methods.<format>``.
        format : {'png', 'pdf', 'svg'}
        compare : bool
            Also draw the ``compare_methods`` grid.
        decoder_inputs : array-like of int (N, T_out), optional
            Encoder-decoders: the teacher-forcing ids (default: the greedy decoding from
            the explainer's ``sos``); each method's figure then shows the ``(T_out, T_src)``
            maps with the tokens on both axes.

        Returns
        -------
        Explanations
            dict of str -> Explanation; ``.skipped`` maps each method that does
            not apply to the model (skipped with a warning: e.g. a CAM on an MLP)
            to the reason.

        Examples
        --------
        >>> exps = explainer.visualize_all(X_test[:4], save_path='xplain_out')
        >>> sorted(os.listdir('xplain_out'))  # doctest: +IGNORE_RESULT
        ['attention.png', 'compare_methods.png', 'gradient.png', 'lime.png']
        """
        return output.visualize_all(self, inputs, save_path, targets, methods, format, compare, decoder_inputs)

    # ------------------------------------------------------------------ metrics / report
    def evaluate(self, inputs, metrics=("deletion", "insertion"), methods=None, targets=None, tidy=True,
                 **metric_params):
        """Score each method's explanations with the registered metrics: one tidy table to choose a method.

        Parameters
        ----------
        inputs : array-like (N, ...)
        metrics : str or sequence of str
            ``'all'``, a family (``'faithfulness'``, ``'robustness'``,
            ``'localisation'``, ``'complexity'``, ``'randomisation'``,
            ``'axiomatic'``) or registered metric names
            (:func:`~tensorlayer_xplain.metrics.available_metrics`). Localisation
            metrics need ``masks=`` (left out of ``'all'`` / a family without it).
        methods : list of str, optional
            Default: the explainer's ``methods``.
        targets : None, int, sequence of int or callable
        tidy : bool
            Long table (default) or the wide methods x metrics table of means.
        **metric_params
            Routed to the metrics as in :func:`tensorlayer_xplain.metrics.evaluate`
            (``masks=...``, ``nr_samples=20``, ``top_k_intersection={'k': 100}``).

        Returns
        -------
        pandas.DataFrame
            One row per (method, metric): ``method, metric, family, direction,
            mean, spread, n`` (``spread``: standard deviation over the inputs);
            with ``tidy=False``, rows = methods and columns = metrics (means).
            Draw it with :func:`~tensorlayer_xplain.visualize.metric_ranking_visualization`.
            The tidy table is also kept as ``explainer.last_evaluation``, which
            :meth:`report` shows (tables per family and the ranking figure).

        Examples
        --------
        >>> explainer.evaluate(X_test[:8], metrics='complexity')   # doctest: +IGNORE_RESULT
             method                metric      family direction   mean  spread  n
        0  gradient            sparseness  complexity    higher  0.61   0.05   8
        """
        from .. import metrics as metrics_module

        explanations = self.explain_all(inputs, targets, methods)
        metrics = metrics if isinstance(metrics, str) else list(metrics)
        table = metrics_module.evaluate(self.adapter, explanations, metrics=metrics, tidy=tidy, **metric_params)
        if tidy:
            self.last_evaluation = table
        return table

    def model_name(self):
        """The model's own name (TL ``model.name``, Keras ``model.name``), else its class name.

        Returns
        -------
        str

        Examples
        --------
        >>> ni = tl.layers.Input([None, 784])
        >>> nn = tl.layers.Dense(10, in_channels=784)(ni)
        >>> ModelExplainer(tl.models.Model(inputs=ni, outputs=nn, name='mnist_mlp')).model_name()
        'mnist_mlp (Model)'
        """
        name = getattr(self.model, "name", None)
        if not isinstance(name, str) or not name:
            name = getattr(self.model, "__name__", None) or type(self.model).__name__
        return "%s (%s)" % (name, type(self.model).__name__) if name != type(self.model).__name__ else name

    def report(self, inputs, path="xplain_report.html", targets=None, methods=None, metrics=None, title=None,
               labels=None, sections=None, evaluation=None, decoder_inputs=None):
        """Write a self-contained HTML report (images embedded) and return its path.

        Per input: the image, the prediction, the true label (``labels``), the
        top classes and each method's map (with a note for constant maps); per
        method: its map kind, warm time per input (tracing excluded, compile time
        apart) and every parameter it ran with, defaults included (methods that
        do not apply to the model are listed with the reason); the metrics
        table with each metric's direction and, for ``deletion`` / ``insertion``,
        one curve plot per method. Readable at phone width.

        Parameters
        ----------
        inputs : array-like (N, ...)
        path : str
            The HTML file to write (folders are created; written atomically).
        targets : None, int, sequence of int or callable
        methods : list of str, optional
            Default: the explainer's ``methods``.
        metrics : sequence of str, optional
            Metrics to compute and show in a table (e.g. ``['deletion', 'insertion']``).
        title : str, optional
            Default: ``'tensorlayer-xplain report: <model name>'``.
        labels : array-like of int (N,), optional
            True classes of ``inputs``.
        sections : list of (str, str), optional
            Extra ``(title, html)`` sections (see :mod:`tensorlayer_xplain.report`).
        evaluation : pandas.DataFrame, None or False
            An evaluation section (one table per metric family, with mean,
            spread and direction, and the ranking figure): the tidy table of
            :meth:`evaluate`; None (default) uses the last one :meth:`evaluate`
            computed on this explainer, if any (call it on the same inputs);
            False leaves the section out.
        decoder_inputs : array-like of int (N, T_out), optional
            Encoder-decoders: as in :meth:`visualize_all`.

        Returns
        -------
        str
            ``path``.

        Examples
        --------
        >>> explainer.report(X_test[:8], 'out/report.html', labels=y_test[:8],
        ...                  metrics=['deletion', 'insertion'])
        'out/report.html'
        """
        return output.report(self, inputs, path, targets, methods, metrics, title, labels, sections, evaluation,
                             decoder_inputs)

    def diagnose(self, x, y, methods=None, regions=None, top_k=20, **kwargs):
        """Diagnose the model on labelled inputs with this explainer's config and cache.

        See :func:`tensorlayer_xplain.diagnose` for the parameters; ``methods``
        defaults to ``('gradcam', 'integrated_gradients')``.

        Returns
        -------
        Diagnosis

        Examples
        --------
        >>> d = explainer.diagnose(X_test[:1000], y_test[:1000])
        >>> d.report('out/diagnosis.html')
        """
        from ..diagnosis.core import DEFAULT_METHODS, diagnose_with

        for ignored in ("config", "batch_size"):  # this explainer's own are used
            kwargs.pop(ignored, None)
        return diagnose_with(self, x, y, methods=DEFAULT_METHODS if methods is None else methods, regions=regions,
                             top_k=top_k, **kwargs)

    def __repr__(self):
        return "ModelExplainer(model=%s, methods=%s, cache=%s)" % (
            type(self.model).__name__, self.methods, self.cache_info)
