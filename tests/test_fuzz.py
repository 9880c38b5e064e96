"""Property-based tests of the shared input convention, for every estimator.

Any batch of images -- any shape, dtype and value range, as ``(n, H, W)`` or
as flattened rows with a right or wrong ``image_shape``, with or without ROI
masks -- must give a correct result or a clear ``ValueError``/``TypeError``:
never another exception, never an infinite value, and never a NaN without a
warning. The search is bounded and derandomised, so CI runs the same examples
every time.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skbreastcad.utils import all_estimators

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


# The meta-estimators' members: cheap, so that the examples exercise the
# meta-estimator's own input handling rather than a feature extractor (which
# has its own entry). Module-level functions, so that the members pickle.
def _flat_pixels(images):
    """Each image's pixels as one row, squashed into (-1, 1): any dtype, no overflow."""
    return np.tanh(np.asarray(images, dtype=float).reshape(len(images), -1) / 255)


def _grey_summary(images):
    """Mean and spread of each image's squashed pixels: two features for any image size."""
    pixels = _flat_pixels(images)
    return np.column_stack([pixels.mean(axis=1), pixels.std(axis=1)])


def _cheap_member(features=_flat_pixels, **lr_params):
    return make_pipeline(FunctionTransformer(features), LogisticRegression(**lr_params))


def _fitted_members():
    """Frozen members for AveragedClassifier: fitted once, on images of one size,
    they predict images of any size (the fuzzed fit never trains them)."""
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 256, (8, 6, 6), dtype=np.uint8), np.arange(8) % 2
    return [FrozenEstimator(_cheap_member(_grey_summary, C=c).fit(X, y)) for c in (0.1, 1.0)]


# Small, fast settings per estimator; every estimator needs an entry.
PARAMS = {
    "CNNLayerFeatures": {
        "backbone": "tiny_cnn",
        "weights": None,
        "random_state": 0,
        "device": "cpu",
    },
    "GLCMFeatures": {"n_bins": 8},
    "GaborFeatures": {"frequencies": (0.5,), "n_orientations": 2, "allow_small_images": True},
    "HaarFeatures": {"max_features": 20, "random_state": 0},
    "RandomImageOverSampler": {"random_state": 0},
    "SeedEnsembleClassifier": {"estimator": _cheap_member(random_state=0), "n_estimators": 2},
    "TTAClassifier": {"estimator": _cheap_member()},
    # fit reads no training data: the examples reach the members' predictions
    "AveragedClassifier": {"estimators": _fitted_members()},
    "AugmentingSampler": {"random_state": 0},
    "TwoStageTransferClassifier": {
        "backbone": "tiny_cnn",
        "transfer": "none",
        "weights": None,
        "max_epochs": 1,
        "batch_size": 8,
        "validation_fraction": None,
        "random_state": 0,
        "device": "cpu",
    },
}
EXAMPLES = {
    "TwoStageTransferClassifier": 20,
    "CNNLayerFeatures": 30,
    "SeedEnsembleClassifier": 25,
    "TTAClassifier": 30,
}
DEFAULT_EXAMPLES = 50

ESTIMATORS = dict(all_estimators())

DTYPES = ["uint8", "uint16", "int16", "int32", "int64", "float32", "float64", "bool"]


@st.composite
def batches(draw):
    """``(X, y, mask, image_shape, valid)`` in one of the input layouts."""
    # a quarter of the draws are ordinary 8-bit ROIs, which must give a result
    ordinary = draw(st.integers(0, 3)) == 0
    n = draw(st.integers(1, 6))
    if ordinary or draw(st.booleans()):
        n = max(n, 2)
        y = np.arange(n) % 2  # both classes
    else:
        y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    low = 4 if ordinary else 1
    h, w = draw(st.integers(low, 20)), draw(st.integers(low, 20))
    dtype = np.dtype("uint8" if ordinary else draw(st.sampled_from(DTYPES)))
    regime = (
        "grey levels"
        if ordinary
        else draw(st.sampled_from(["grey levels", "dtype range", "extremes", "non-finite"]))
    )
    if dtype.kind == "b":
        elements = st.booleans()
    elif regime == "grey levels":
        elements = (
            st.integers(0, 255).map(dtype.type) if dtype.kind in "iu" else st.floats(0, 1, width=32)
        )
    elif regime == "extremes" and dtype.kind in "iuf":
        info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
        elements = st.sampled_from([info.max, info.min]).map(dtype.type)
    else:
        elements = hnp.from_dtype(
            dtype, allow_nan=regime == "non-finite", allow_infinity=regime == "non-finite"
        )
    X = draw(hnp.arrays(dtype, (n, h, w), elements=elements))
    mask = "none" if ordinary else draw(st.sampled_from(["none", "random", "empty", "wrong shape"]))
    if mask == "none":
        mask = None
    elif mask == "random":
        mask = draw(hnp.arrays(np.bool_, (n, h, w)))
    elif mask == "empty":
        mask = np.zeros((n, h, w), dtype=bool)
    else:
        mask = np.ones((n, h + 1, w), dtype=bool)
    layouts = ["images", "flat"] if ordinary else ["images", "flat", "flat -1", "flat wrong"]
    layout = draw(st.sampled_from(layouts))
    image_shape = None
    if layout != "images":
        X = X.reshape(n, h * w)
        image_shape = {"flat": (h, w), "flat -1": (-1, w), "flat wrong": (h + 1, w)}[layout]
    # ordinary 8-bit ROIs in a right layout, no mask, both classes: these must give a result
    valid = (
        dtype == np.uint8
        and regime == "grey levels"
        and layout in ("images", "flat")
        and mask is None
        and len(set(y.tolist())) == 2
        and min(h, w) >= 4
    )
    return X, y, mask, image_shape, valid


def _output(est, X, y, mask):
    if hasattr(est, "fit_resample"):
        Xr, yr = est.fit_resample(X, y)
        if "n_copies" in est.get_params():
            # AugmentingSampler: the originals and n_copies augmented copies of each
            return np.asarray(Xr, dtype=float).reshape(len(Xr), -1), len(X) * (1 + est.n_copies)
        return np.asarray(Xr, dtype=float).reshape(len(Xr), -1), len(X) + max(
            0, 2 * np.bincount(y).max() - len(X)
        )
    kwargs = {} if mask is None else {"mask": mask}
    est.fit(X, y, **kwargs)
    if hasattr(est, "transform"):
        return est.transform(X, **kwargs), len(X)
    return est.predict_proba(X), len(X)


def _check(name, X, y, mask, image_shape, valid):
    est = ESTIMATORS[name](**PARAMS[name])
    shape_params = [k for k in est.get_params() if k.split("__")[-1] == "image_shape"]
    est.set_params(**dict.fromkeys(shape_params, image_shape))
    uses_mask = getattr(est, "_supports_mask", False)
    if not uses_mask:
        mask = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, n_out = _output(est, X, y, mask)
        except (ValueError, TypeError) as exc:
            assert not valid, f"{name} refused ordinary 8-bit ROIs: {exc}"
            assert str(exc).strip(), "an error must say what is wrong"
            event(f"clear {type(exc).__name__}")
            return
    event("result")
    out = np.asarray(out, dtype=float)
    assert out.shape[0] == n_out
    assert not np.isinf(out).any(), "infinite output"
    if np.isnan(out).any():
        # a numpy RuntimeWarning (overflow, invalid value) is not telling the user anything
        silent = (RuntimeWarning, DeprecationWarning, ConvergenceWarning)
        told = [w for w in caught if not issubclass(w.category, silent)]
        assert told, f"{name} returned NaN without a warning"


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_any_input_gives_a_result_or_a_clear_error(name):
    assert name in PARAMS, f"add {name} to PARAMS in tests/test_fuzz.py"

    @settings(
        max_examples=EXAMPLES.get(name, DEFAULT_EXAMPLES),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=batches())
    def run(batch):
        _check(name, *batch)

    run()
