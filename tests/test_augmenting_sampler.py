import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from imblearn.utils.estimator_checks import parametrize_with_checks
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from skbreastcad.augmentation import AugmentingSampler, ImageAugmenter
from skbreastcad.sampling import RandomImageOverSampler

# imbalanced-learn's own checks, on flattened 1-pixel-high strips
EXPECTED_FAILED_CHECKS = {
    # the check ignores input_tags.sparse=False; images are dense, and a sparse frame is refused
    # with scikit-learn's "Sparse data was passed ... dense data is required" TypeError
    "check_samplers_pandas_sparse": "augmentation works on dense images",
}
_checks = parametrize_with_checks(
    [AugmentingSampler(random_state=0, image_shape=(1, -1))],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
_checks = pytest.mark.parametrize(_checks.args[0], list(_checks.args[1]), **_checks.kwargs)


@_checks
def test_imblearn_checks(estimator, check):
    check(estimator)


def _images(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    y = np.r_[np.ones(n // 3, int), np.zeros(n - n // 3, int)]
    return X, y


def test_originals_first_then_copies_with_their_labels():
    X, y = _images()
    X_res, y_res = AugmentingSampler(n_copies=3, random_state=0).fit_resample(X, y)
    assert X_res.shape == (4 * len(X), *X.shape[1:]) and X_res.dtype == np.uint8
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res, np.tile(y, 4))
    # the copies are augmented, not exact
    assert (X_res[len(X) :] != np.tile(X, (3, 1, 1))).mean() > 0.5


def test_copies_are_what_the_augmenter_returns_in_unit_range():
    X, y = _images()
    # a pure left-right flip: the copy must be np.fliplr of each image (a reference we did not write)
    flip = ImageAugmenter(
        hflip=1.0, vflip=0.0, rot90=False, affine_p=0.0, brightness=0.0, contrast=0.0
    )
    X_res, _ = AugmentingSampler(augmenter=flip, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(X_res[len(X) :], X[:, :, ::-1])
    # uint16 with an explicit value range round-trips exactly as well
    X16 = X.astype(np.uint16) * 16
    X_res, _ = AugmentingSampler(augmenter=flip, value_range=(0, 4095)).fit_resample(X16, y)
    np.testing.assert_array_equal(X_res[len(X) :], X16[:, :, ::-1])


def test_seeded_and_rows_in_rows_out():
    X, y = _images()
    a, _ = AugmentingSampler(random_state=3).fit_resample(X, y)
    b, _ = clone(AugmentingSampler(random_state=3)).fit_resample(X, y)
    c, _ = AugmentingSampler(random_state=4).fit_resample(X, y)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    rows, _ = AugmentingSampler(random_state=3).fit_resample(X.reshape(len(X), -1), y)
    np.testing.assert_array_equal(rows.reshape(a.shape), a)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Remembers what it was fitted and asked to predict on."""

    def fit(self, X, y):
        self.fit_X_ = np.asarray(X).copy()
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        self.predict_X_ = np.asarray(X).copy()
        return np.full(len(X), self.classes_[0])


def test_pipeline_augments_training_folds_only():
    X, y = _images()
    pipe = Pipeline(
        [
            ("oversample", RandomImageOverSampler(random_state=0)),
            ("augment", AugmentingSampler(random_state=0)),
            ("classifier", _Recorder()),
        ]
    ).fit(X, y)
    rec = pipe.named_steps["classifier"]
    n_balanced = 2 * np.bincount(y).max()
    assert len(rec.fit_X_) == 2 * n_balanced
    pipe.predict(X)
    np.testing.assert_array_equal(rec.predict_X_, X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_copies": 0}, "n_copies"),
        ({"value_range": (1, 0)}, "value_range"),
        ({"augmenter": 3}, "augmenter"),
    ],
)
def test_bad_parameters_raise_before_any_work(params, match):
    X, y = _images()
    with pytest.raises(ValueError, match=match):
        AugmentingSampler(**params).fit_resample(X, y)
