"""API-wide tests: every skbreastcad estimator, found by discovery, meets the
scikit-learn contract for real.

Our estimators take images. scikit-learn's checks feed small tabular arrays,
so each estimator is built here with ``image_shape=(1, -1)``: every row is a
1-pixel-high image strip, which exercises the real computation rather than
skipping it (``input_tags.two_d_array`` stays True). Settings that keep the
checks fast and valid on such strips are in ``INIT_PARAMS``; checks that
cannot pass are in ``EXPECTED_FAILED_CHECKS`` with the reason.

To add an estimator: give it an entry in ``INIT_PARAMS`` (and in
``IMAGE_PARAMS`` for the image-level tests below). Every estimator has both:
one that cannot pass a check lists it, with the reason, in
``EXPECTED_FAILED_CHECKS`` (the checks then run as strict xfails, so the list
stays exact), as scikit-learn's ``PER_ESTIMATOR_XFAIL_CHECKS`` does.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.dummy import DummyClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skbreastcad.ensemble import TTAClassifier
from skbreastcad.features import GLCMFeatures
from skbreastcad.utils import all_estimators


def _images(n=12, size=32, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    y = np.array([0, 1] * (n // 2))
    return X, y


def _flatten(images):
    # module level, so that pickling a member that uses it works
    return np.asarray(images).reshape(len(images), -1)


def _fitted_members(kind):
    """Fitted, frozen members for AveragedClassifier, whose fit trains nothing.

    For the checks, DummyClassifiers: they predict any number of features
    (each check draws its own). For the image tests, TTAClassifiers over a
    LogisticRegression of the flattened images: they predict images and
    flattened square images alike.
    """
    if kind == "checks":
        X, y = np.zeros((4, 1)), np.array([0, 1, 0, 1])
        members = [DummyClassifier(strategy=s).fit(X, y) for s in ("prior", "most_frequent")]
    else:
        X, y = _images()
        members = [
            TTAClassifier(
                make_pipeline(FunctionTransformer(_flatten), LogisticRegression(C=c)),
                transforms="flips",
            ).fit(X, y)
            for c in (0.1, 1.0)
        ]
    return [FrozenEstimator(est) for est in members]


# Constructor settings for the scikit-learn checks (1-pixel-high strips).
INIT_PARAMS = {
    # tiny_cnn takes any input down to 1x1 pixels; weights=None needs a seed
    # the checks feed int64 too, which has no natural grey-level range: name one
    "CNNLayerFeatures": {
        "backbone": "tiny_cnn",
        "weights": None,
        "random_state": 0,
        "image_shape": (1, -1),
        "device": "cpu",
        "value_range": (0, 1),
    },
    # 15 epochs at lr=0.03 reach check_classifiers_train's accuracy on blobs; turning or
    # shearing a 1-pixel strip of blob coordinates would make a different data set
    "TwoStageTransferClassifier": {
        "backbone": "tiny_cnn",
        "transfer": "none",
        "weights": None,
        "augment": None,
        "max_epochs": 15,
        "lr": 0.03,
        "batch_size": 128,
        "validation_fraction": None,
        "random_state": 0,
        "image_shape": (1, -1),
        "device": "cpu",
        "value_range": (0, 1),
    },
    # a 1-pixel-high strip has only horizontal neighbours
    "GLCMFeatures": {"image_shape": (1, -1), "angles": (0.0,), "n_bins": 8},
    # samplers skip the sklearn checks here: tests/test_sampling.py runs imblearn's checks on it
    "RandomImageOverSampler": {"random_state": 0},
    # a sampler too: tests/test_augmenting_sampler.py runs imblearn's checks on it
    "AugmentingSampler": {"random_state": 0, "image_shape": (1, -1)},
    # strips are thinner than any kernel: filter them by repeated reflection
    "GaborFeatures": {
        "image_shape": (1, -1),
        "frequencies": (0.5, 0.25),
        "n_orientations": 4,
        "allow_small_images": True,
    },
    # on strips only the x-types fit; defaults scale the grid to the strip's length
    "HaarFeatures": {"image_shape": (1, -1), "random_state": 0},
    # meta-estimators over a tabular classifier; strips have no symmetry to average over
    "SeedEnsembleClassifier": {"estimator": LogisticRegression(random_state=0), "n_estimators": 2},
    "TTAClassifier": {
        "estimator": LogisticRegression(),
        "transforms": ["identity"],
        "image_shape": (1, -1),
    },
    # members fitted elsewhere; frozen, so that the checks' clones keep them fitted
    "AveragedClassifier": {"estimators": _fitted_members("checks")},
    # takes odd square windows (2 * half_width + 1), not strips: its windowed and dense
    # features are checked against each other in tests/test_detection_film.py
    "BlobWindowFeatures": None,
    # fits on whole films and lesion circles, not on (X, y): tests/test_detection_film.py
    "FilmLesionDetector": None,
}

# Settings for the image-level tests (32x32 uint8 images).
IMAGE_PARAMS = {
    "CNNLayerFeatures": {
        "backbone": "tiny_cnn",
        "weights": None,
        "random_state": 0,
        "device": "cpu",
    },
    "TwoStageTransferClassifier": {
        "backbone": "tiny_cnn",
        "transfer": "none",
        "weights": None,
        "max_epochs": 2,
        "validation_fraction": None,
        "random_state": 0,
        "device": "cpu",
    },
    "GLCMFeatures": {},
    "RandomImageOverSampler": {"random_state": 0},
    "AugmentingSampler": {"random_state": 0},
    "GaborFeatures": {"frequencies": (0.5, 0.25)},  # kernels up to 15x15 fit 32x32 images
    "HaarFeatures": {"max_features": 500, "random_state": 0},
    "SeedEnsembleClassifier": {
        "estimator": make_pipeline(
            GLCMFeatures(n_bins=8), StandardScaler(), LogisticRegression(random_state=0)
        ),
        "n_estimators": 2,
    },
    "TTAClassifier": {
        "estimator": make_pipeline(GLCMFeatures(n_bins=8), StandardScaler(), LogisticRegression()),
        "transforms": "flips",
    },
    "AveragedClassifier": {"estimators": _fitted_members("images")},
    "BlobWindowFeatures": None,
    "FilmLesionDetector": None,
}

# AveragedClassifier.fit learns nothing: it checks members fitted elsewhere and
# records their classes; X and y are accepted for the API and never read.
_IGNORES_X = "fit never reads X (the members were fitted elsewhere), so it cannot reject it"
_IGNORES_Y = "fit never reads y (the members were fitted elsewhere), so it cannot reject it"
_LEARNS_NOTHING = (
    "fit learns nothing from the data: the members were fitted elsewhere, on classes [0, 1]"
)

# {estimator name: {check name: why it cannot pass}}
EXPECTED_FAILED_CHECKS = {
    "AveragedClassifier": {
        "check_complex_data": _IGNORES_X,
        "check_dtype_object": _IGNORES_X,
        "check_estimators_empty_data_messages": _IGNORES_X,
        "check_estimators_nan_inf": _IGNORES_X,
        "check_estimator_sparse_tag": _IGNORES_X,
        "check_estimator_sparse_array": _IGNORES_X,
        "check_estimator_sparse_matrix": _IGNORES_X,
        "check_fit1d": _IGNORES_X,
        "check_n_features_in": "fit never reads X, so it has no n_features_in_ to record",
        "check_n_features_in_after_fitting": (
            "fit never reads X, so it has no n_features_in_ to record"
        ),
        "check_fit2d_predict1d": (
            "predictions are the members' own: the DummyClassifier members used here take any X"
        ),
        "check_classifiers_regression_target": _IGNORES_Y,
        "check_supervised_y_no_nan": _IGNORES_Y,
        "check_supervised_y_2d": _IGNORES_Y,
        "check_classifiers_one_label": _LEARNS_NOTHING,
        "check_classifiers_classes": _LEARNS_NOTHING,
        "check_classifiers_train": _LEARNS_NOTHING,
    },
}

# {estimator name: {test of this module: why it does not apply}}
NOT_APPLICABLE = {
    "AveragedClassifier": {
        "test_bad_image_input_is_rejected_with_the_expected_form": (
            "fit never reads X; its members check images when they predict"
        ),
    },
}


def _skip_if_not_applicable(estimator, test):
    reason = NOT_APPLICABLE.get(type(estimator).__name__, {}).get(test)
    if reason:
        pytest.skip(reason)


ESTIMATORS = all_estimators()


def _is_sampler(cls):
    return hasattr(cls, "fit_resample")


def _instances(kind):
    params = INIT_PARAMS if kind == "checks" else IMAGE_PARAMS
    out = []
    for name, cls in ESTIMATORS:
        # None: checked by its own tests, named where its entry is set
        if (_is_sampler(cls) and kind == "checks") or params.get(name, {}) is None:
            continue
        out.append(cls(**params.get(name, {})))
    return out


def test_every_estimator_has_common_test_params():
    missing = [
        name for name, _ in ESTIMATORS if name not in INIT_PARAMS or name not in IMAGE_PARAMS
    ]
    assert not missing, f"add {missing} to INIT_PARAMS and IMAGE_PARAMS in tests/test_common.py"


@parametrize_with_checks(
    _instances("checks"),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "estimator", _instances("checks"), ids=[type(e).__name__ for e in _instances("checks")]
)
def test_param_validation(estimator):
    # scikit-learn runs this in its own test_common, not in parametrize_with_checks:
    # every parameter has a constraint, and a bad type or value is a clear error.
    check_param_validation(type(estimator).__name__, estimator)


IMAGE_ESTIMATORS = [est for est in _instances("images")]
IMAGE_IDS = [type(est).__name__ for est in IMAGE_ESTIMATORS]
TRANSFORMERS = [
    est for est in IMAGE_ESTIMATORS if hasattr(est, "transform") and not _is_sampler(type(est))
]
TRANSFORMER_IDS = [type(est).__name__ for est in TRANSFORMERS]


@pytest.mark.parametrize("estimator", TRANSFORMERS, ids=TRANSFORMER_IDS)
def test_feature_names_and_pandas_output(estimator):
    pd = pytest.importorskip("pandas")
    X, y = _images()
    est = clone(estimator).fit(X, y)
    names = est.get_feature_names_out()
    Xt = est.transform(X)
    assert Xt.shape == (len(X), len(names))
    assert len(set(names)) == len(names), "feature names must be unique"
    assert all(isinstance(n, str) for n in names)
    df = clone(estimator).set_output(transform="pandas").fit(X, y).transform(X)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(names)
    np.testing.assert_allclose(df.to_numpy(), Xt)


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=IMAGE_IDS)
def test_flattened_input_equals_image_input(estimator):
    X, y = _images()
    if _is_sampler(type(estimator)):
        pytest.skip("samplers are checked in tests/test_sampling.py")
    est3 = clone(estimator).fit(X, y)
    # meta-estimators pass the shape on to the image steps they wrap
    shape_params = [k for k in estimator.get_params() if k.split("__")[-1] == "image_shape"]
    est2 = clone(estimator).set_params(**dict.fromkeys(shape_params, X.shape[1:]))
    est2.fit(X.reshape(len(X), -1), y)
    method = "transform" if hasattr(est3, "transform") else "predict_proba"
    np.testing.assert_allclose(
        getattr(est3, method)(X), getattr(est2, method)(X.reshape(len(X), -1)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=IMAGE_IDS)
def test_clone_and_pickle_round_trip(estimator):
    X, y = _images()
    if _is_sampler(type(estimator)):
        Xr, yr = clone(estimator).fit_resample(X, y)
        restored = pickle.loads(pickle.dumps(clone(estimator)))
        Xr2, yr2 = restored.fit_resample(X, y)
        np.testing.assert_array_equal(Xr, Xr2)
        return
    est = clone(estimator).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    method = "transform" if hasattr(est, "transform") else "predict_proba"
    np.testing.assert_allclose(getattr(est, method)(X), getattr(restored, method)(X), rtol=1e-6)

    # nested estimators (and pipeline steps) are compared by their parameters, not identity
    def plain(params):
        return {k: repr(v) for k, v in params.items()}

    assert plain(clone(est).get_params()) == plain(est.get_params())


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=IMAGE_IDS)
def test_unknown_option_is_a_clear_error(estimator):
    X, y = _images()
    params = estimator.get_params(deep=False)
    string_params = [k for k, v in params.items() if isinstance(v, str)]
    if not string_params:
        pytest.skip("no string options")
    key = string_params[0]
    bad = clone(estimator).set_params(**{key: "no-such-option"})
    fit = bad.fit_resample if _is_sampler(type(bad)) else bad.fit
    with pytest.raises((ValueError, TypeError), match=key):
        fit(X, y)


@pytest.mark.parametrize(
    "estimator",
    [est for est in IMAGE_ESTIMATORS if "n_jobs" in est.get_params()],
    ids=[type(est).__name__ for est in IMAGE_ESTIMATORS if "n_jobs" in est.get_params()],
)
def test_n_jobs_gives_identical_results(estimator):
    X, y = _images(n=40)
    serial = clone(estimator).set_params(n_jobs=1).fit(X, y)
    parallel = clone(estimator).set_params(n_jobs=2).fit(X, y)
    method = "transform" if hasattr(serial, "transform") else "predict_proba"
    np.testing.assert_allclose(getattr(serial, method)(X), getattr(parallel, method)(X), rtol=1e-10)


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=IMAGE_IDS)
def test_bad_image_input_is_rejected_with_the_expected_form(estimator):
    _skip_if_not_applicable(estimator, "test_bad_image_input_is_rejected_with_the_expected_form")
    if _is_sampler(type(estimator)):
        pytest.skip("samplers are checked in tests/test_sampling.py")
    X, y = _images()
    est = clone(estimator)
    with pytest.raises(ValueError, match="grayscale images"):
        est.fit(X[..., None].repeat(3, axis=-1), y)
    Xf = X.astype(float)
    Xf[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(estimator).fit(Xf, y)
    with pytest.raises(ValueError, match="[Cc]omplex"):
        clone(estimator).fit(X.astype(complex), y)
    with pytest.raises(ValueError, match="0 sample"):
        clone(estimator).fit(X[:0], y[:0])
    if not is_classifier(estimator):
        fitted = clone(estimator).fit(X, y)
        with pytest.raises(ValueError, match="fitted on images of shape"):
            fitted.transform(X[:, :-1, :-1].copy())
