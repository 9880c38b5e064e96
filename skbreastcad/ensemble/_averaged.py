"""Fitted classifiers combined into one model that averages their probabilities."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin
from sklearn.utils.validation import check_is_fitted

from ..utils._sklearn_compat import _fit_context

__all__ = ["AveragedClassifier"]


def average_proba(estimators, X):
    """Mean of the members' ``predict_proba``; every member must share ``classes_``."""
    total = None
    for est in estimators:
        proba = np.asarray(est.predict_proba(X), dtype=np.float64)
        total = proba if total is None else total + proba
    return total / len(estimators)


def check_same_classes(estimators):
    """Return the members' common ``classes_``; raise if they differ."""
    classes = [np.asarray(est.classes_) for est in estimators]
    for i, c in enumerate(classes[1:], start=1):
        if c.shape != classes[0].shape or not np.array_equal(c, classes[0]):
            raise ValueError(
                f"Member 0 predicts classes {classes[0].tolist()} but member {i} predicts "
                f"{c.tolist()}: averaging needs the same classes in the same order (a fold "
                "without one class cannot join the ensemble)."
            )
    return classes[0]


class _AveragingMixin:
    """``predict_proba`` and ``predict`` of an ensemble that averages ``estimators_``."""

    def predict_proba(self, X):
        """Mean class probabilities of the members.

        Parameters
        ----------
        X : array-like
            Input in the form the members take (images, flattened rows, features).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Mean of the members' probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return average_proba(self.estimators_, X)

    def predict(self, X):
        """Class with the highest mean probability.

        Parameters
        ----------
        X : array-like
            Input in the form the members take (images, flattened rows, features).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted classes.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class AveragedClassifier(_AveragingMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Average the class probabilities of classifiers that are already fitted.

    The fold models of a cross-validation (``cross_validate(...,
    return_estimator=True)["estimator"]``) or models trained elsewhere become
    one estimator that predicts and pickles like a single model. ``fit``
    learns nothing: it checks the members and records their classes.

    Parameters
    ----------
    estimators : list of fitted classifiers
        Classifiers with ``predict_proba`` and the same ``classes_``. Wrap them
        in :class:`sklearn.frozen.FrozenEstimator` (as :meth:`from_fitted`
        does) for ``clone`` and grid searches to keep them fitted: ``clone``
        otherwise returns unfitted copies.

    Attributes
    ----------
    estimators_ : list of classifiers
        The members.
    classes_ : ndarray of shape (n_classes,)
        Their common classes.

    See Also
    --------
    SeedEnsembleClassifier : Fits one classifier with several seeds.
    sklearn.ensemble.VotingClassifier : Fits its members itself.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from skbreastcad.ensemble import AveragedClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 3)), np.array([0, 1] * 20)
    >>> folds = cross_validate(LogisticRegression(), X, y, cv=4, return_estimator=True)
    >>> ensemble = AveragedClassifier.from_fitted(folds["estimator"])
    >>> ensemble.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {"estimators": [list, tuple]}

    def __init__(self, estimators):
        self.estimators = estimators

    @classmethod
    def from_fitted(cls, estimators):
        """Build the ensemble of fitted classifiers, ready to predict.

        Parameters
        ----------
        estimators : list of fitted classifiers
            Classifiers with ``predict_proba`` and the same ``classes_``.

        Returns
        -------
        ensemble : AveragedClassifier
            The fitted ensemble; its members are wrapped in
            :class:`sklearn.frozen.FrozenEstimator`, so clones share them.
        """
        from sklearn.frozen import FrozenEstimator

        return cls([FrozenEstimator(est) for est in estimators]).fit()

    # members are fitted already: fit calls no nested estimator's fit to validate
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Check the members and record their classes; nothing is trained.

        Parameters
        ----------
        X : Ignored
            Not used, present for API consistency by convention.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : AveragedClassifier
            The ensemble.
        """
        if not self.estimators:
            raise ValueError("AveragedClassifier needs at least one fitted classifier.")
        for i, est in enumerate(self.estimators):
            if not hasattr(est, "predict_proba"):
                raise TypeError(f"Member {i} ({type(est).__name__}) has no predict_proba.")
            check_is_fitted(est)
        self.classes_ = check_same_classes(self.estimators)
        self.estimators_ = list(self.estimators)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
