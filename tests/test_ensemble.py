"""Seed and fold ensembles, and test-time augmentation, against hand-computed averages."""

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbreastcad.ensemble import AveragedClassifier, SeedEnsembleClassifier, TTAClassifier
from skbreastcad.features import GLCMFeatures


def _tabular(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_seed_ensemble_averages_members_fitted_with_their_own_seeds():
    X, y = _tabular()
    sgd = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=1))
    ens = SeedEnsembleClassifier(sgd, n_estimators=4, random_state=0).fit(X, y)
    assert len(set(ens.seeds_.tolist())) == 4
    for member, seed in zip(ens.estimators_, ens.seeds_):
        assert member.get_params()["sgdclassifier__random_state"] == seed
        reference = clone(sgd).set_params(sgdclassifier__random_state=int(seed)).fit(X, y)
        np.testing.assert_allclose(member.predict_proba(X), reference.predict_proba(X))
    mean = np.mean([m.predict_proba(X) for m in ens.estimators_], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), mean)
    assert not np.allclose(ens.estimators_[0].predict_proba(X), ens.estimators_[1].predict_proba(X))
    restored = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(restored.predict(X), ens.predict(X))
    # the same seeds every time for an int random_state, in parallel too
    again = SeedEnsembleClassifier(sgd, n_estimators=4, random_state=0, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), ens.predict_proba(X))


def test_seed_ensemble_of_a_deep_classifier():
    from skbreastcad.models import TwoStageTransferClassifier

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16, 12, 12), dtype=np.uint8)
    y = np.array([0, 1] * 8)
    clf = TwoStageTransferClassifier(
        "tiny_cnn",
        transfer="none",
        weights=None,
        max_epochs=1,
        validation_fraction=None,
        device="cpu",
    )
    ens = SeedEnsembleClassifier(clf, n_estimators=2, random_state=0).fit(X, y)
    proba = ens.predict_proba(X)
    assert proba.shape == (16, 2) and np.allclose(proba.sum(axis=1), 1)
    # each member got its own seed, and the seeds made different networks
    assert [m.random_state for m in ens.estimators_] == ens.seeds_.tolist()
    a, b = (m.predict_proba(X) for m in ens.estimators_)
    assert not np.allclose(a, b)
    np.testing.assert_allclose(proba, (a + b) / 2)


def test_seed_ensemble_needs_a_random_state_to_vary():
    X, y = _tabular()
    with pytest.raises(ValueError, match="no random_state"):
        SeedEnsembleClassifier(make_pipeline(StandardScaler(), _NoSeed())).fit(X, y)


class _NoSeed(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


def test_fold_models_become_one_estimator():
    X, y = _tabular()
    folds = cross_validate(LogisticRegression(), X, y, cv=4, return_estimator=True)["estimator"]
    ens = AveragedClassifier.from_fitted(folds)
    mean = np.mean([est.predict_proba(X) for est in folds], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), mean)
    np.testing.assert_array_equal(ens.predict(X), ens.classes_[mean.argmax(axis=1)])
    # clones keep the fitted members (frozen), pickles predict the same
    np.testing.assert_allclose(clone(ens).fit().predict_proba(X), mean)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(ens)).predict_proba(X), mean)


def test_fold_models_with_other_classes_cannot_be_averaged():
    X, y = _tabular()
    a = LogisticRegression().fit(X, y)
    b = LogisticRegression().fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="same classes"):
        AveragedClassifier.from_fitted([a, b])
    with pytest.raises(ValueError, match="at least one"):
        AveragedClassifier([]).fit()
    with pytest.raises(TypeError, match="predict_proba"):
        AveragedClassifier([StandardScaler().fit(X)]).fit()


def test_unfitted_averaged_classifier_says_so():
    from sklearn.exceptions import NotFittedError

    X, y = _tabular()
    with pytest.raises(NotFittedError):
        AveragedClassifier([LogisticRegression().fit(X, y)]).predict(X)


class _TopLeft(ClassifierMixin, BaseEstimator):
    """Probability of class 1 is the top-left grey level: not invariant to any flip."""

    pixels = ((0, 0),)

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.image_shape_ = (4, 6) if np.ndim(X) == 2 else np.shape(X)[1:]
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float).reshape(len(X), *self.image_shape_)
        p = np.mean([X[:, r, c] for r, c in self.pixels], axis=0) / 255.0
        return np.column_stack([1 - p, p])


class _TopRow(_TopLeft):
    """Reads (0, 0) and (0, 1): tells every one of the eight symmetries apart."""

    pixels = ((0, 0), (0, 1))


@pytest.mark.parametrize("size", [(5, 5), (4, 6)])
def test_tta_averages_over_the_symmetries_of_the_image(size):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (7, *size)).astype(float)
    y = np.array([0, 1, 0, 1, 0, 1, 0])
    tta = TTAClassifier(_TopLeft()).fit(X, y)
    corners = [X[:, 0, 0], X[:, 0, -1], X[:, -1, 0], X[:, -1, -1]]
    if size[0] == size[1]:
        # the eight symmetries bring each corner to the top left twice
        expected = np.mean(corners + corners, axis=0) / 255.0
    else:
        # non-square: identity and the three flips only, one corner each
        expected = np.mean(corners, axis=0) / 255.0
    np.testing.assert_allclose(tta.predict_proba(X)[:, 1], expected)
    only = TTAClassifier(_TopLeft(), transforms=["identity"]).fit(X, y)
    np.testing.assert_allclose(only.predict_proba(X)[:, 1], X[:, 0, 0] / 255.0)


def test_each_named_symmetry_is_the_one_numpy_computes():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (5, 6, 6)).astype(float)
    y = np.array([0, 1, 0, 1, 0])
    reference = {
        "identity": X,
        "hflip": X[:, :, ::-1],
        "vflip": X[:, ::-1, :],
        "rot180": np.rot90(X, 2, axes=(1, 2)),
        "rot90": np.rot90(X, 1, axes=(1, 2)),
        "rot270": np.rot90(X, 3, axes=(1, 2)),
        "transpose": X.transpose(0, 2, 1),
        "antitranspose": np.rot90(X, 2, axes=(1, 2)).transpose(0, 2, 1),
    }
    for name, image in reference.items():
        tta = TTAClassifier(_TopRow(), transforms=[name]).fit(X, y)
        expected = (image[:, 0, 0] + image[:, 0, 1]) / 2 / 255.0
        np.testing.assert_allclose(tta.predict_proba(X)[:, 1], expected, err_msg=name)


def test_non_square_images_need_a_shape_keeping_transform():
    X = np.zeros((4, 4, 6))
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="non-square"):
        TTAClassifier(_TopLeft(), transforms=["rot90", "transpose"]).fit(X, y)


def test_tta_on_flattened_rows_and_a_real_pipeline():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (7, 4, 6)).astype(float)
    y = np.array([0, 1, 0, 1, 0, 1, 0])
    flat = TTAClassifier(_TopLeft(), transforms="flips").fit(X.reshape(7, -1), y)
    images = TTAClassifier(_TopLeft(), transforms="flips").fit(X, y)
    np.testing.assert_allclose(flat.predict_proba(X.reshape(7, -1)), images.predict_proba(X))

    Xi = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8)
    yi = np.array([0, 1] * 10)
    pipe = make_pipeline(GLCMFeatures(n_bins=8), StandardScaler(), LogisticRegression())
    tta = TTAClassifier(pipe, transforms="flips").fit(Xi, yi)
    fitted = tta.estimator_
    manual = np.mean(
        [
            fitted.predict_proba(np.ascontiguousarray(t))
            for t in (Xi, Xi[:, :, ::-1], Xi[:, ::-1, :], Xi[:, ::-1, ::-1])
        ],
        axis=0,
    )
    np.testing.assert_allclose(tta.predict_proba(Xi), manual)


def test_tta_bad_transforms_are_clear_errors():
    X = np.zeros((4, 5, 5))
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="transforms"):
        TTAClassifier(_TopLeft(), transforms=["hflip", "spin"]).fit(X, y)
    with pytest.raises(ValueError, match="transforms"):
        TTAClassifier(_TopLeft(), transforms="rotations").fit(X, y)
