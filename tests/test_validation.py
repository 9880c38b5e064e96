import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError

from skbreastcad.features import GaborFeatures, HaarFeatures
from skbreastcad.utils import resolve_image_shape, validate_images, validate_masks


class _Probe(BaseEstimator):
    pass


@pytest.mark.parametrize(
    "n_features, image_shape, expected",
    [
        (16, None, (4, 4)),
        (12, (3, 4), (3, 4)),
        (12, (-1, 4), (3, 4)),
        (12, (3, -1), (3, 4)),
        (5, (1, -1), (1, 5)),
    ],
)
def test_resolve_image_shape(n_features, image_shape, expected):
    assert resolve_image_shape(n_features, image_shape) == expected


@pytest.mark.parametrize(
    "n_features, image_shape, match",
    [
        (15, None, "not a perfect square"),
        (12, (5, -1), "does not fit"),
        (12, (3, 5), "does not fit"),
        (12, (-1, -1), "only one dimension"),
    ],
)
def test_resolve_image_shape_errors(n_features, image_shape, match):
    with pytest.raises(ValueError, match=match):
        resolve_image_shape(n_features, image_shape)


def test_validate_images_round_trip_and_dtype_kept():
    X = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    est = _Probe()
    images = validate_images(est, X, reset=True)
    assert images.dtype == np.uint16 and images.shape == (2, 3, 4)
    assert est.n_features_in_ == 12 and est.image_shape_ == (3, 4)
    flat = validate_images(est, X.reshape(2, 12), reset=False, image_shape=(3, 4))
    np.testing.assert_array_equal(flat, X)


def test_validate_images_rejects_shape_change_and_bad_param():
    est = _Probe()
    validate_images(est, np.zeros((2, 4, 4)), reset=True)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(4, 4\)"):
        validate_images(est, np.zeros((2, 5, 5)), reset=False)
    with pytest.raises(InvalidParameterError, match="image_shape"):
        validate_images(_Probe(), np.zeros((2, 4, 4)), reset=True, image_shape=(0, 4))
    with pytest.raises(ValueError, match=r"image_shape=\(2, 8\)"):
        validate_images(_Probe(), np.zeros((2, 4, 4)), reset=True, image_shape=(2, 8))


def test_validate_images_object_arrays_follow_sklearn():
    X = np.ones((2, 4, 4)).astype(object)
    assert validate_images(_Probe(), X, reset=True).dtype == np.float64
    X[0, 0, 0] = "a"
    with pytest.raises(ValueError):
        validate_images(_Probe(), X, reset=True)


def test_validate_masks():
    images = np.zeros((2, 3, 3))
    mask = np.zeros((2, 3, 3), dtype=int)
    mask[0, 1, 1] = 1
    out = validate_masks(mask, images)
    assert out.dtype == bool and out.sum() == 1
    assert validate_masks(mask.reshape(2, 9), images).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="shape of the images"):
        validate_masks(np.zeros((2, 4, 4), bool), images)
    with pytest.raises(ValueError, match="only 0 and 1"):
        validate_masks(np.full((2, 3, 3), 2), images)
    assert validate_masks(None, images) is None


def test_transformers_without_mask_support_refuse_a_mask():
    from skbreastcad.features._base import BaseImageTransformer

    class Mean(BaseImageTransformer):
        _supports_mask = False

        def __init__(self, image_shape=None, n_jobs=None, verbose=0):
            self.image_shape, self.n_jobs, self.verbose = image_shape, n_jobs, verbose

        def _transform(self, images, mask):
            return images.mean(axis=(1, 2))[:, None]

        def _feature_names(self):
            return ["mean"]

    X = np.arange(32.0).reshape(2, 4, 4)
    mask = np.ones(X.shape, dtype=bool)
    with pytest.raises(ValueError, match="Mean does not use ROI masks"):
        Mean().fit(X, mask=mask)
    with pytest.raises(ValueError, match="Mean does not use ROI masks"):
        Mean().fit(X).transform(X, mask=mask)
    assert Mean().fit_transform(X).shape == (2, 1)


def test_nested_lists_of_images_are_array_like():
    X = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    np.testing.assert_array_equal(validate_images(_Probe(), X.tolist(), reset=True), X)
    np.testing.assert_array_equal(
        validate_images(_Probe(), X.reshape(2, -1).tolist(), reset=True, image_shape=(3, 4)), X
    )


@pytest.mark.parametrize(
    "estimator, checks",
    [
        (GaborFeatures(frequencies=(0.5, 0.25)), ("_frequencies", "_statistics")),
        (HaarFeatures(max_features=50, random_state=0), ("_types", "_window")),
    ],
    ids=["GaborFeatures", "HaarFeatures"],
)
def test_parameters_are_validated_once_per_fit(estimator, checks, monkeypatch):
    calls = []
    for name in checks:
        real = getattr(type(estimator), name)

        def counted(self, *args, _real=real, _name=name):
            calls.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(type(estimator), name, counted)
    X = np.random.default_rng(0).integers(0, 256, (2, 32, 32), dtype=np.uint8)
    estimator.fit(X)
    assert sorted(calls) == sorted(checks)


@pytest.mark.parametrize(
    "estimator", [GaborFeatures(frequencies=(0.5,)), HaarFeatures(max_features=20, random_state=0)]
)
def test_grey_levels_that_overflow_are_an_error_before_any_work(estimator):
    X = np.random.default_rng(0).random((2, 16, 16)) * 1e307
    with pytest.raises(ValueError, match="overflow"):
        estimator.fit(X)
    fitted = estimator.fit(X / 1e307)
    with pytest.raises(ValueError, match="overflow"):
        fitted.transform(X)
    # ordinary large values (16-bit, Hounsfield units) are fine
    assert np.isfinite(fitted.transform(X / 1e307 * 65535.0)).all()


@pytest.mark.parametrize("dtype", [">u2", ">u1", ">f8", ">i2"])
def test_images_come_back_in_native_byte_order(dtype):
    X = np.arange(2 * 4 * 4).reshape(2, 4, 4).astype(dtype)
    images = validate_images(_Probe(), X, reset=True)
    assert images.dtype.isnative and images.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(images, X)


@pytest.mark.parametrize("discretisation", ["none", "fixed_bin_number", "fixed_bin_width"])
def test_big_endian_uint16_gives_the_features_of_uint16(discretisation):
    from skbreastcad.features import GLCMFeatures

    X = np.random.default_rng(0).integers(0, 4096, (3, 16, 16)).astype(np.uint16)
    glcm = GLCMFeatures(discretisation=discretisation, bin_width=64)
    expected = glcm.fit_transform(X)
    np.testing.assert_array_equal(glcm.fit_transform(X.astype(">u2")), expected)
    # fitted on one byte order, transforming the other
    np.testing.assert_array_equal(glcm.fit(X).transform(X.astype(">u2")), expected)
    gabor = GaborFeatures(frequencies=(0.25,), n_orientations=2)
    np.testing.assert_array_equal(gabor.fit_transform(X.astype(">u2")), gabor.fit_transform(X))
