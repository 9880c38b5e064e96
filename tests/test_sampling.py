import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline
from imblearn.utils.estimator_checks import parametrize_with_checks
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import FunctionTransformer

from skbreastcad.datasets import make_phantoms
from skbreastcad.sampling import (
    RandomImageOverSampler,
    balanced_class_weight,
    balanced_sample_weight,
)

# imbalanced-learn's own checks (its sampler checks and scikit-learn's API checks,
# which test_common.py skips for samplers). Default parameters: flattened rows of any
# length are accepted, so the tabular checks run on the real code path.
EXPECTED_FAILED_CHECKS = {}

_checks = parametrize_with_checks(
    [
        RandomImageOverSampler(random_state=0),
        RandomImageOverSampler(random_state=0, image_shape=(1, -1)),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
# imblearn hands pytest a generator, which pytest >= 9 deprecates: materialise it.
_checks = pytest.mark.parametrize(_checks.args[0], list(_checks.args[1]), **_checks.kwargs)


@_checks
def test_imblearn_checks(estimator, check):
    check(estimator)


def _ids(n=30, minority=6, size=8):
    """Images whose every pixel is their own index, so any copy can be traced back."""
    X = np.repeat(np.arange(n, dtype=np.uint16), size * size).reshape(n, size, size)
    y = np.r_[np.ones(minority, int), np.zeros(n - minority, int)]
    return X, y


def test_images_keep_their_shape_and_copies_are_exact():
    X, y = _ids()
    sampler = RandomImageOverSampler(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert X_res.shape == (48, 8, 8) and X_res.dtype == X.dtype
    assert np.bincount(y_res).tolist() == [24, 24]
    np.testing.assert_array_equal(X_res[:30], X)  # originals first, untouched
    np.testing.assert_array_equal(X_res, X[sampler.sample_indices_])
    assert set(sampler.sample_indices_[30:]) <= set(np.flatnonzero(y == 1))
    assert sampler.image_shape_ == (8, 8) and sampler.n_features_in_ == 64


def test_flattened_images_give_the_same_draw():
    X, y = _ids()
    X3, y3 = RandomImageOverSampler(random_state=3).fit_resample(X, y)
    X2, y2 = RandomImageOverSampler(random_state=3, image_shape=(8, 8)).fit_resample(
        X.reshape(30, -1), y
    )
    np.testing.assert_array_equal(X3.reshape(len(X3), -1), X2)
    np.testing.assert_array_equal(y3, y2)


def test_imblearn_random_over_sampler_rejects_images():
    # the reason this sampler exists (imbalanced-learn#966)
    X, y = _ids()
    with pytest.raises(ValueError, match="dim"):
        RandomOverSampler(random_state=0).fit_resample(X, y)


def test_sampling_strategy_float_and_dict():
    X, y = _ids()
    _, y_res = RandomImageOverSampler(sampling_strategy=0.5, random_state=0).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [24, 12]
    _, y_res = RandomImageOverSampler(sampling_strategy={1: 10}, random_state=0).fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [24, 10]


def test_bad_input():
    X, y = _ids()
    with pytest.raises(ValueError, match="grayscale images"):
        RandomImageOverSampler().fit_resample(X[..., None], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RandomImageOverSampler().fit_resample(X, y[:-1])
    with pytest.raises(ValueError, match="does not fit"):
        RandomImageOverSampler(image_shape=(7, 7)).fit_resample(X.reshape(30, -1), y)
    with pytest.raises(ValueError, match="image_shape"):
        RandomImageOverSampler(image_shape=(3, 3)).fit_resample(X, y)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority class and logs which images it was fitted on and asked about."""

    log = []

    def fit(self, X, y):
        ids = X[:, 0].astype(int)
        self.classes_ = np.unique(y)
        self.log.append(("fit", ids, np.asarray(y)))
        return self

    def predict(self, X):
        self.log.append(("predict", X[:, 0].astype(int), None))
        return np.zeros(len(X), dtype=int)


def test_resampling_touches_only_training_folds_in_grid_search():
    X, y = _ids(n=40, minority=8)
    _Recorder.log.clear()
    pipe = Pipeline(
        [
            ("oversample", RandomImageOverSampler(random_state=0)),
            ("flatten", FunctionTransformer(lambda images: images.reshape(len(images), -1))),
            ("clf", _Recorder()),
        ]
    )
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipe, {"oversample__sampling_strategy": ["auto", 0.5]}, cv=cv, scoring="accuracy"
    )
    search.fit(X, y)
    splits = list(cv.split(X, y))
    fits = [entry for entry in _Recorder.log if entry[0] == "fit"]
    predicts = [entry for entry in _Recorder.log if entry[0] == "predict"]
    assert len(fits) == 2 * 4 + 1  # every candidate on every fold, then the refit
    for k, (_, ids, _y_fit) in enumerate(fits[:-1]):
        train, test = splits[k % 4]
        assert set(ids) <= set(train) and not set(ids) & set(
            test
        )  # copies come from training images only
        assert len(ids) > len(train)  # ...and there were copies
    for k, (_, ids, _) in enumerate(predicts):
        train, test = splits[k % 4]
        np.testing.assert_array_equal(np.sort(ids), np.sort(test))  # test fold as it is: no copies
    _, ids, y_refit = fits[-1]
    assert np.bincount(y_refit).tolist() == [
        32,
        32 if search.best_params_["oversample__sampling_strategy"] == "auto" else 16,
    ]


def test_class_weight_route_equals_balanced_class_weight():
    X, y = make_phantoms(100, image_size=16, random_state=0)
    features = np.c_[X.mean(axis=(1, 2)), X.std(axis=(1, 2)), X.max(axis=(1, 2))]
    weights = balanced_sample_weight(y)
    assert np.isclose(weights[y == 1].sum(), weights[y == 0].sum())
    a = LogisticRegression(class_weight="balanced", max_iter=1000).fit(features, y)
    b = LogisticRegression(max_iter=1000).fit(features, y, sample_weight=weights)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-4)
    cw = balanced_class_weight(y)
    assert cw == pytest.approx({0: 100 / (2 * 80), 1: 100 / (2 * 20)})


def test_refit_on_rows_forgets_the_image_shape_of_an_earlier_fit():
    X, y = _ids()
    sampler = RandomImageOverSampler(random_state=0)
    sampler.fit_resample(X, y)
    assert sampler.image_shape_ == (8, 8)
    sampler.fit_resample(X[:, :5, 0], y)  # rows of 5 features, no image_shape
    assert sampler.n_features_in_ == 5 and not hasattr(sampler, "image_shape_")


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("counts", [(30, 10), (5, 12, 12, 3), (4, 4), (9, 1, 5)])
def test_random_oversample_indices_draws_what_imblearn_draws(seed, counts):
    from skbreastcad.sampling import random_oversample_indices

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    indices = random_oversample_indices(y, random_state=seed)
    # imbalanced-learn's tabular sampler, given the same seed, picks the same rows
    sampler = RandomOverSampler(random_state=seed)
    sampler.fit_resample(np.zeros((len(y), 1)), y)
    np.testing.assert_array_equal(indices, sampler.sample_indices_)
    assert np.bincount(y[indices]).tolist() == [max(counts)] * len(counts)
