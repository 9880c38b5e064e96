"""Class weights: the alternative to over-sampling for classifiers that accept weights."""

import numpy as np
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

__all__ = ["balanced_class_weight", "balanced_sample_weight"]


def balanced_class_weight(y):
    """Weight of each class, inversely proportional to its frequency.

    ``n_samples / (n_classes * count(class))``, scikit-learn's
    ``class_weight="balanced"`` rule [1]_, as a dict usable as a
    ``class_weight`` parameter or a loss weight (e.g. ``torch``'s
    ``CrossEntropyLoss(weight=...)`` in class order).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (of the training fold only).

    Returns
    -------
    class_weight : dict
        ``{class: weight}``.

    References
    ----------
    .. [1] G. King and L. Zeng, "Logistic Regression in Rare Events Data",
       Political Analysis 9(2), 137-163, 2001.

    Examples
    --------
    >>> from skbreastcad.sampling import balanced_class_weight
    >>> balanced_class_weight([0, 0, 0, 0, 1])
    {0: 0.625, 1: 2.5}
    """
    y = np.asarray(y)
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return {c.item() if hasattr(c, "item") else c: float(w) for c, w in zip(classes, weights)}


def balanced_sample_weight(y):
    """Per-sample weights giving every class the same total weight.

    Pass them to ``fit(X, y, sample_weight=...)`` of any estimator that
    accepts sample weights; inside a pipeline, route them to the final step
    (``pipe.fit(X, y, clf__sample_weight=w)``). Equivalent to
    ``class_weight="balanced"`` for the estimators that have that option.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (of the training fold only).

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,)
        The weight of each sample's class.

    Examples
    --------
    >>> from skbreastcad.sampling import balanced_sample_weight
    >>> balanced_sample_weight([0, 0, 0, 0, 1]).tolist()
    [0.625, 0.625, 0.625, 0.625, 2.5]
    """
    return compute_sample_weight("balanced", np.asarray(y))
