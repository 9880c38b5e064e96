"""One classifier fitted with several seeds, its probabilities averaged."""

from numbers import Integral

from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state, get_tags

from ..utils._sklearn_compat import HasMethods, Interval, _fit_context
from ._averaged import _AveragingMixin, check_same_classes

__all__ = ["SeedEnsembleClassifier"]


def _seed_params(estimator, seed):
    """Every ``random_state`` of the estimator and its nested steps set to ``seed``."""
    return {
        name: seed
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    }


def _fit_member(estimator, X, y, fit_params):
    return estimator.fit(X, y, **fit_params)


class SeedEnsembleClassifier(_AveragingMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit one classifier with several seeds and average their probabilities.

    Fine-tuning a CNN on a few hundred ROIs depends on the seed (weight
    initialisation, batch order, augmentation); averaging the probabilities of
    a few seeds removes much of that variance. Every ``random_state`` of the
    estimator, nested pipeline steps included, gets each member's seed. An
    estimator whose fit does not use its ``random_state`` (a logistic
    regression with the lbfgs solver) gives identical members.

    Parameters
    ----------
    estimator : classifier
        A classifier with ``predict_proba`` and a ``random_state`` parameter
        (its own or a nested step's).
    n_estimators : int, default=5
        Number of seeds.
    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds; an int gives the same seeds every time.
    n_jobs : int or None, default=None
        Members fitted in parallel (joblib's meaning: None is 1, -1 all cores).

    Attributes
    ----------
    estimators_ : list of classifiers
        The fitted members.
    seeds_ : ndarray of shape (n_estimators,)
        The seed of each member.
    classes_ : ndarray of shape (n_classes,)
        The classes.

    See Also
    --------
    AveragedClassifier : Combines classifiers that are already fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skbreastcad.ensemble import SeedEnsembleClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 3)), np.array([0, 1] * 20)
    >>> ens = SeedEnsembleClassifier(SGDClassifier(loss="log_loss"), n_estimators=3, random_state=0)
    >>> ens.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
    }

    def __init__(self, estimator, *, n_estimators=5, random_state=None, n_jobs=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit one clone of the estimator per seed.

        Parameters
        ----------
        X : array-like
            Training input in the form the estimator takes.
        y : array-like of shape (n_samples,)
            Class labels.
        **fit_params : dict
            Passed to every member's ``fit`` (e.g. ``groups`` of a
            :class:`~skbreastcad.models.TwoStageTransferClassifier`).

        Returns
        -------
        self : SeedEnsembleClassifier
            The fitted ensemble.
        """
        if not _seed_params(self.estimator, 0):
            raise ValueError(
                f"{type(self.estimator).__name__} has no random_state parameter (nor has any "
                "of its steps): its members would all be the same model."
            )
        rng = check_random_state(self.random_state)
        self.seeds_ = rng.randint(0, 2**31 - 1, size=self.n_estimators)
        members = [
            clone(self.estimator).set_params(**_seed_params(self.estimator, int(seed)))
            for seed in self.seeds_
        ]
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(member, X, y, fit_params) for member in members
        )
        self.classes_ = check_same_classes(self.estimators_)
        if hasattr(self.estimators_[0], "n_features_in_"):
            self.n_features_in_ = self.estimators_[0].n_features_in_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags = inner.input_tags
        tags.non_deterministic = inner.non_deterministic
        return tags
