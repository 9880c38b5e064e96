"""The study's evaluation metrics as functions and scikit-learn scorers.

The study reports Accuracy, Precision, Sensitivity (recall), Specificity and
F1 (its Eqs. 1-5). Specificity is not in scikit-learn; we take it from
imbalanced-learn rather than re-deriving it.

:data:`CAD_METRICS` is the one home of the five names; :mod:`skbreastcad.evaluation`
imports it. imbalanced-learn loads on first use, so that importing the tuple
costs nothing.
"""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    make_scorer,
    precision_score,
    recall_score,
)

# specificity_score comes through __getattr__, so that the names load without imbalanced-learn
__all__ = ["CAD_METRICS", "cad_report", "cad_scoring", "specificity_score"]  # noqa: F822

#: Metric names in the order the study reports them.
CAD_METRICS = ("accuracy", "precision", "sensitivity", "specificity", "f1")


def __getattr__(name):
    if name == "specificity_score":
        from imblearn.metrics import specificity_score

        return specificity_score
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})


def cad_scoring(pos_label=1, roc_auc=False):
    """Build the study's scorers for ``cross_validate`` and ``GridSearchCV``.

    Parameters
    ----------
    pos_label : int or str, default=1
        The tumour (positive) class.
    roc_auc : bool, default=False
        Also score ROC AUC from ``predict_proba``/``decision_function``.

    Returns
    -------
    scoring : dict of str to scorer
        Keys are :data:`CAD_METRICS` (plus ``"roc_auc"``). When searching, pass
        one of them as ``refit``.

    See Also
    --------
    cad_report : The same metrics for one set of predictions.
    sklearn.model_selection.cross_validate : Score an estimator with these scorers.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import cross_validate
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = make_classification(random_state=0)
    >>> scores = cross_validate(GaussianNB(), X, y, scoring=cad_scoring())
    >>> sorted(k for k in scores if k.startswith("test_"))
    ['test_accuracy', 'test_f1', 'test_precision', 'test_sensitivity', 'test_specificity']
    """
    from imblearn.metrics import specificity_score

    scoring = {
        "accuracy": make_scorer(accuracy_score),
        "precision": make_scorer(precision_score, pos_label=pos_label, zero_division=0),
        "sensitivity": make_scorer(recall_score, pos_label=pos_label, zero_division=0),
        "specificity": make_scorer(specificity_score, pos_label=pos_label),
        "f1": make_scorer(f1_score, pos_label=pos_label, zero_division=0),
    }
    if roc_auc:
        scoring["roc_auc"] = "roc_auc"
    return scoring


def cad_report(y_true, y_pred, *, pos_label=1):
    """Compute the study's five metrics for one set of predictions.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : int or str, default=1
        The tumour (positive) class.

    Returns
    -------
    report : dict of str to float
        Keys in :data:`CAD_METRICS` order.

    See Also
    --------
    cad_scoring : The same metrics as scorers for cross-validation.

    Examples
    --------
    >>> cad_report([0, 0, 1, 1], [0, 1, 1, 1])
    {'accuracy': 0.75, 'precision': 0.6666666666666666, 'sensitivity': 1.0, 'specificity': 0.5, 'f1': 0.8}
    """
    from imblearn.metrics import specificity_score

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, pos_label=pos_label, zero_division=0)),
        "sensitivity": float(recall_score(y_true, y_pred, pos_label=pos_label, zero_division=0)),
        "specificity": float(specificity_score(y_true, y_pred, pos_label=pos_label)),
        "f1": float(f1_score(y_true, y_pred, pos_label=pos_label, zero_division=0)),
    }
