"""Concept activation vectors: a linear classifier between two sets of layer activations.

As in the TCAV reference (``tcav/cav.py``, Kim et al. 2018): the activations are flattened, the two
sets truncated to the size of the smaller one (balanced classes), divided by their overall RMS (one
scalar: directions are unchanged, the regularisation means the same at any activation scale), split
2:1 into train and test (stratified), and a scikit-learn linear model is fitted (``'linear'``:
``SGDClassifier`` with hinge loss and L2 penalty ``alpha``; ``'logistic'``: ``LogisticRegression``).
The CAV is the normal of the separating hyperplane, oriented towards the concept (the first set)
and scaled to unit length.
"""
from collections import namedtuple

import numpy as np

__all__ = ["CAV", "train_cav", "CAV_MODELS"]

#: Linear models a CAV can be trained with.
CAV_MODELS = ("linear", "logistic")

CAV = namedtuple("CAV", ["direction", "intercept", "accuracy"])
CAV.__doc__ = """A concept activation vector.

direction : ndarray, float32, shape (D,)
    Unit normal of the hyperplane between the two sets, pointing towards the concept.
intercept : float
    The classifier's offset along ``direction`` (in the units of the unit-length direction).
accuracy : float
    Share of the held-out third of both sets the classifier puts on the right side.
"""


def _check_cav_params(model_type, alpha, max_iter, tol):
    if model_type not in CAV_MODELS:
        raise ValueError("cav_model: expected one of %s, got %r" % (CAV_MODELS, model_type))
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 10:
        raise ValueError("cav_alpha: expected a regularisation strength in (0, 10], got %r" % (alpha,))
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or not 1 <= max_iter <= 100_000:
        raise ValueError("max_iter: expected an int in [1, 100000], got %r" % (max_iter,))
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError("tol: expected a tolerance in (0, 1), got %r" % (tol,))


def train_cav(concept_acts, other_acts, model_type="linear", alpha=0.01, seed=0, max_iter=1000, tol=1e-3):
    """Fit a linear classifier between two activation sets and return the CAV of the first.

    Parameters
    ----------
    concept_acts : ndarray, shape (M, ...)
        Activations of the concept's examples (positive set).
    other_acts : ndarray, shape (M2, ...)
        Activations of the counterpart (random examples).
    model_type : {'linear', 'logistic'}
        ``sklearn.linear_model.SGDClassifier`` (the reference's default) or ``LogisticRegression``.
    alpha : float in (0, 10]
        Regularisation: SGD's ``alpha``, or ``C = 1 / alpha`` for logistic regression.
    seed : int
        Seeds the train/test split and the SGD shuffling.
    max_iter : int in [1, 100000]
    tol : float in (0, 1)

    Returns
    -------
    CAV
        ``direction`` (D,) of unit length, ``intercept``, held-out ``accuracy``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> concept = rng.normal(size=(40, 3)) + [8.0, 0.0, 0.0]
    >>> others = rng.normal(size=(40, 3))
    >>> cav = train_cav(concept, others)
    >>> cav.accuracy, bool(cav.direction[0] > 0.9)
    (1.0, True)
    """
    from sklearn import linear_model
    from sklearn.model_selection import train_test_split

    _check_cav_params(model_type, alpha, max_iter, tol)
    pos = np.asarray(concept_acts, np.float64).reshape(len(concept_acts), -1)
    neg = np.asarray(other_acts, np.float64).reshape(len(other_acts), -1)
    if pos.shape[1] != neg.shape[1]:
        raise ValueError("other_acts: expected activations of %d values per example like concept_acts, got %d"
                         % (pos.shape[1], neg.shape[1]))
    m = min(len(pos), len(neg))
    if m < 3:
        raise ValueError("concept_acts, other_acts: expected at least 3 examples in each set, got %d and %d"
                         % (len(pos), len(neg)))
    x = np.concatenate([pos[:m], neg[:m]])
    # one scale for every feature (their overall RMS): the hyperplane's direction keeps its meaning, and
    # ``alpha`` means the same at a layer whose activations are 1e-3 as at one where they are 1e3
    x = x / max(float(np.sqrt(np.mean(x ** 2))), 1e-30)
    y = np.repeat([1, 0], m)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.33, stratify=y, random_state=seed)
    if model_type == "linear":
        lm = linear_model.SGDClassifier(alpha=alpha, max_iter=max_iter, tol=tol, random_state=seed)
    else:
        lm = linear_model.LogisticRegression(C=1.0 / alpha, max_iter=max_iter, tol=tol)
    lm.fit(x_train, y_train)
    accuracy = float(np.mean(lm.predict(x_test) == y_test))
    coef = lm.coef_[0]  # label 1 (the concept) is the positive side
    norm = float(np.linalg.norm(coef))
    if norm == 0.0:
        raise ValueError("concept_acts: the classifier found no direction between the two sets (zero weights); "
                         "are the activations all equal?")
    return CAV((coef / norm).astype(np.float32), float(lm.intercept_[0]) / norm, accuracy)
