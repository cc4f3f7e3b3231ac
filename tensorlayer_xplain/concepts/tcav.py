"""TCAV: testing with concept activation vectors (Kim et al., ICML 2018).

For a layer ``l`` and a concept ``C`` given by example inputs:

1. a CAV ``v`` is the unit normal of a linear classifier between the layer activations of ``C``'s
   examples and those of a set of random examples (:func:`~.cav.train_cav`);
2. the conceptual sensitivity of input ``x`` for class ``k`` is the directional derivative
   ``S(x) = grad_l score_k(x) . v``;
3. the TCAV score of ``(C, k)`` is the share of ``k``'s inputs with ``S(x) > 0``.

Steps 1-3 are repeated ``n_runs`` times against different random sets; the same is done for CAVs
between two *random* sets, and a two-sided t-test (:func:`scipy.stats.ttest_ind`) of the concept's
scores against the random ones says whether the concept's score is more than what a random direction
gives. As the reference (``tensorflow/tcav``), the gradient of the class's logit is used (the
reference counts negative derivatives of the loss, the same sign). Gradients are computed once per
input (one batched, compiled backward pass to the layer); every CAV is then a dot product.
"""
import warnings

import numpy as np

from ..adapter import as_adapter
from .activations import check_layer, check_set, layer_activations, layer_gradients
from .cav import train_cav

__all__ = ["tcav", "TCAV_COLUMNS", "MAX_RUNS"]

#: The columns of :func:`tcav`'s table, in order.
TCAV_COLUMNS = ("concept", "class", "layer", "score", "score_std", "random_score", "random_std", "p_value",
                "significant", "derivative", "random_derivative", "cav_accuracy", "n_inputs", "n_runs")
#: Largest ``n_runs``.
MAX_RUNS = 500
#: Largest ``seed`` (run ``i`` seeds its CAV with ``seed + i``, which scikit-learn wants below 2**32).
MAX_SEED = 2 ** 31
#: Fewest examples in a concept or random set (the CAV is fitted on two thirds of them).
MIN_SET = 6
CORRECTIONS = ("bonferroni", None)


def _check_params(n_runs, alpha, correction, seed):
    if n_runs is not None and (isinstance(n_runs, bool) or not isinstance(n_runs, (int, np.integer))
                               or not 2 <= n_runs <= MAX_RUNS):
        raise ValueError("n_runs: expected an int in [2, %d] (at least two runs for the t-test), got %r"
                         % (MAX_RUNS, n_runs))
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError("alpha: expected a significance level in (0, 1), got %r" % (alpha,))
    if correction not in CORRECTIONS:
        raise ValueError("correction: expected 'bonferroni' or None, got %r" % (correction,))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError("seed: expected an int in [0, %d], got %r" % (MAX_SEED, seed))


def _random_sets(adapter, random_sets, n_runs, size, rng):
    """The random sets, as arrays: a list given as is, or ``n_runs + 1`` sets drawn from one pool."""
    if isinstance(random_sets, (list, tuple)):
        if len(random_sets) < 2:
            raise ValueError("random_sets: expected at least 2 sets of random examples (or one array to draw "
                             "them from), got %d" % len(random_sets))
        sets = [check_set(adapter, s, "random_sets[%d]" % i, MIN_SET) for i, s in enumerate(random_sets)]
        n_runs = len(sets) if n_runs is None else n_runs
        if n_runs > len(sets):
            raise ValueError("n_runs: expected at most len(random_sets) = %d runs (one random set each), got %d"
                             % (len(sets), n_runs))
        return sets, n_runs
    pool = check_set(adapter, random_sets, "random_sets", MIN_SET)
    n_runs = 10 if n_runs is None else n_runs
    take = min(size, len(pool))
    return [pool[np.sort(rng.choice(len(pool), take, replace=False))] for _ in range(n_runs + 1)], n_runs


def _scores(grads, direction, targets, classes):
    """Per class: the TCAV score (share of its inputs with a positive directional derivative) and the mean
    directional derivative, shape (2, n_classes)."""
    derivative = grads @ direction
    return np.array([[np.mean(derivative[targets == k] > 0) for k in classes],
                     [np.mean(derivative[targets == k]) for k in classes]])


def _t_test(concept_scores, random_scores):
    """Two-sided Student t-test p-value (``ttest_ind``), with constant samples handled explicitly."""
    from scipy.stats import ttest_ind

    if np.ptp(concept_scores) == 0 and np.ptp(random_scores) == 0:
        # no spread on either side: the t statistic is undefined; equal means are no evidence, different ones are
        return 1.0 if concept_scores[0] == random_scores[0] else 0.0
    with warnings.catch_warnings():  # scipy warns about precision when one side is constant; the p-value holds
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(concept_scores, random_scores).pvalue)


def tcav(model, layer_name, inputs, targets, concepts, random_sets, n_runs=None, seed=0, alpha=0.05,
         correction="bonferroni", cav_model="linear", cav_alpha=0.01, batch_size=None):
    """TCAV scores of concepts for classes at one layer, with a t-test against random directions.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or ModelAdapter
        A model with named layers.
    layer_name : str
        The layer whose activation space the concepts are sought in (any shape; flattened).
    inputs : ndarray, shape (N, ...)
        The inputs whose sensitivity is tested (in the model's input shape or as images).
    targets : int or array of int, shape (N,)
        The class of each input: the score of class ``k`` is taken over the inputs with target ``k``.
    concepts : dict of str -> ndarray (M, ...)
        Each concept's example inputs (at least 6).
    random_sets : list of ndarray, or ndarray
        Sets of random example inputs (at least 2, each at least 6 examples): run ``i`` trains the
        concept's CAV against ``random_sets[i]`` and a random CAV between ``random_sets[i]`` and
        ``random_sets[i + 1]`` (cyclically). One array is a pool from which ``n_runs + 1`` random
        sets of the largest concept's size are drawn (seeded).
    n_runs : int in [2, 500], optional
        CAVs per concept (and random CAVs). Default: ``len(random_sets)``, or 10 with a pool.
    seed : int
        Seeds the random sets drawn from a pool and each CAV's train/test split and SGD.
    alpha : float in (0, 1)
        Significance level of the two-sided t-test.
    correction : {'bonferroni', None}
        ``'bonferroni'``: a row is significant when ``p_value < alpha / (number of rows)`` (one test
        per concept and class); None: when ``p_value < alpha``.
    cav_model : {'linear', 'logistic'}
        ``SGDClassifier`` (the reference's default) or ``LogisticRegression``.
    cav_alpha : float in (0, 10]
        The linear model's regularisation (see :func:`~tensorlayer_xplain.concepts.cav.train_cav`).
    batch_size : int, optional
        Upper bound on rows per model call.

    Returns
    -------
    pandas.DataFrame
        One row per (concept, class), columns ``concept``, ``class``, ``layer``, ``score`` (mean TCAV
        score over the runs), ``score_std``, ``random_score`` / ``random_std`` (the random CAVs'
        scores for that class), ``p_value``, ``significant``, ``derivative`` / ``random_derivative``
        (the mean directional derivative over the class's inputs and the runs, along the unit CAV:
        the size of the sensitivity, which the score, a share of signs, leaves out), ``cav_accuracy``
        (mean held-out accuracy of the concept's CAVs), ``n_inputs``, ``n_runs``. ``df.attrs`` holds the per-run
        scores (``'run_scores'``: ``{(concept, class): array}``, ``'random_run_scores'``:
        ``{class: array}``), ``'alpha'``, ``'threshold'`` (the p-value bound used) and
        ``'correction'``.

    Raises
    ------
    KeyError
        ``layer_name`` is not a layer of the model.
    ValueError
        An empty concept dict or concept set, too few random sets, ``targets`` not one class per
        input, parameters out of range.

    Examples
    --------
    >>> hidden = tlxp.as_adapter(model).layer_call_order()[-2][0]   # the dense layer before the logits
    >>> bright = np.clip(X_train[:8] + 0.5, 0, 1)                    # a concept: brighter digits
    >>> df = tlxp.tcav(model, hidden, X_test, y_test, concepts={'bright': bright},
    ...                random_sets=X_train, n_runs=4)                # 5 random sets drawn from X_train
    >>> list(df.columns[:7])
    ['concept', 'class', 'layer', 'score', 'score_std', 'random_score', 'random_std']
    >>> len(df) == len(np.unique(y_test)), df['score'].between(0, 1).all()
    (True, True)

    On MNIST (``examples/mnist_concepts.py``), the corner square planted in the 7s scores 1.00
    for class 7 (p = 5e-06) at the shortcut model's hidden layer.
    """
    import pandas as pd

    _check_params(n_runs, alpha, correction, seed)
    adapter = as_adapter(model)
    layer_name = check_layer(adapter, layer_name)
    if not isinstance(concepts, dict):
        raise TypeError("concepts: expected a dict {name: examples}, got %s" % type(concepts).__name__)
    if not concepts:
        raise ValueError("concepts: expected at least one concept {name: examples}, got an empty dict")
    x = check_set(adapter, inputs, "inputs", 1)
    if targets is None or callable(targets):
        raise TypeError("targets: expected the class of each input (an int or one int per input), got %s"
                        % ("None" if targets is None else "a callable"))
    n_classes = adapter.predict(x[:1], batch_size=batch_size).shape[1]
    t = adapter.resolve_targets(targets, len(x), predictions=np.zeros((1, n_classes))).astype(np.int64)
    concept_sets = {str(name): check_set(adapter, examples, "concepts[%r]" % (name,), MIN_SET)
                    for name, examples in concepts.items()}
    rng = np.random.default_rng(seed)
    size = max(len(s) for s in concept_sets.values())
    randoms, n_runs = _random_sets(adapter, random_sets, n_runs, size, rng)

    _, grads = layer_gradients(adapter, x, layer_name, t, batch_size=batch_size)
    grads = grads.reshape(len(x), -1).astype(np.float64)
    # every random set in one batched pass, then split
    stacked = layer_activations(adapter, np.concatenate(randoms), layer_name, batch_size, "random_sets")
    random_acts = np.split(stacked.reshape(len(stacked), -1), np.cumsum([len(s) for s in randoms])[:-1])
    classes = np.unique(t)
    m = len(randoms)
    random_scores = np.array([
        _scores(grads, train_cav(random_acts[i % m], random_acts[(i + 1) % m], cav_model, cav_alpha,
                                 seed + i).direction, t, classes)
        for i in range(n_runs)])  # (n_runs, 2, n_classes)
    random_derivatives, random_scores = random_scores[:, 1], random_scores[:, 0]
    rows, run_scores = [], {}
    for name, examples in concept_sets.items():
        acts = layer_activations(adapter, examples, layer_name, batch_size, "concepts[%r]" % name)
        acts = acts.reshape(len(examples), -1)
        cavs = [train_cav(acts, random_acts[i % m], cav_model, cav_alpha, seed + i) for i in range(n_runs)]
        scores = np.array([_scores(grads, c.direction, t, classes) for c in cavs])
        derivatives, scores = scores[:, 1], scores[:, 0]
        accuracy = float(np.mean([c.accuracy for c in cavs]))
        for j, k in enumerate(classes):
            run_scores[(name, int(k))] = scores[:, j]
            rows.append({
                "concept": name, "class": int(k), "layer": layer_name,
                "score": float(scores[:, j].mean()), "score_std": float(scores[:, j].std()),
                "random_score": float(random_scores[:, j].mean()), "random_std": float(random_scores[:, j].std()),
                "p_value": _t_test(scores[:, j], random_scores[:, j]),
                "derivative": float(derivatives[:, j].mean()),
                "random_derivative": float(random_derivatives[:, j].mean()),
                "cav_accuracy": accuracy, "n_inputs": int((t == k).sum()), "n_runs": int(n_runs),
            })
    threshold = alpha / len(rows) if correction == "bonferroni" else alpha
    df = pd.DataFrame(rows)
    df["significant"] = df["p_value"] < threshold
    df = df[list(TCAV_COLUMNS)]
    df.attrs.update(run_scores=run_scores, alpha=alpha, threshold=threshold, correction=correction,
                    random_run_scores={int(k): random_scores[:, j] for j, k in enumerate(classes)})
    return df
