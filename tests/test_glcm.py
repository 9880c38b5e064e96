"""GLCMFeatures against references we did not write: the IBSI digital phantom,
scikit-image's graycomatrix/graycoprops and mahotas' Haralick features."""

import csv
import importlib.util
import math
import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skbreastcad.features import GLCM_FEATURE_NAMES, GLCMFeatures

ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
HAS_NUMBA = importlib.util.find_spec("numba") is not None
requires_numba = pytest.mark.skipif(
    not HAS_NUMBA, reason="numba is not installed (pip install skbreastcad[fast])"
)


def _per_matrix(est, X, mask=None):
    """Transform and reshape to (n_images, n_blocks, n_features)."""
    out = est.transform(X, mask=mask)
    return out.reshape(len(out), -1, len(est.features_))


def _column(est, name):
    return est.features_.index(name)


# -- IBSI digital phantom ---------------------------------------------------------
def _ibsi_reference(ibsi_dir, config):
    with open(ibsi_dir / "glcm_reference.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["config"] == config]
    assert len(rows) == 25
    return {
        r["feature_name"].lower().replace(" ", "_"): (float(r["value"]), float(r["tolerance"]))
        for r in rows
    }


@pytest.mark.parametrize(
    "aggregation, config", [("averaged", "2D, averaged"), ("merged", "2D, slice-merged")]
)
@pytest.mark.parametrize(
    "discretisation",
    # IBSI: a fixed bin number of 6 or a bin width of 1 leaves the phantom's levels 1..6 unchanged
    [
        {"discretisation": "fixed_bin_number", "n_bins": 6},
        {"discretisation": "fixed_bin_width", "bin_width": 1},
    ],
    ids=["fbn6", "fbs1"],
)
def test_ibsi_digital_phantom_reference_values(ibsi_dir, aggregation, config, discretisation):
    phantom = np.load(ibsi_dir / "digital_phantom.npy")  # (z, y, x): 4 slices of 4 x 5
    mask = np.load(ibsi_dir / "digital_phantom_mask.npy")
    reference = _ibsi_reference(ibsi_dir, config)
    est = GLCMFeatures(aggregation=aggregation, **discretisation).fit(phantom, mask=mask)
    # one row per slice; IBSI averages the 2-D values over the slices
    values = est.transform(phantom, mask=mask).mean(axis=0)
    assert set(reference) == set(est.features_) == set(GLCM_FEATURE_NAMES)
    off = {
        name: (values[_column(est, name)], ref, tol)
        for name, (ref, tol) in reference.items()
        if not abs(values[_column(est, name)] - ref) <= tol
    }
    assert not off, f"features outside IBSI tolerance (value, reference, tolerance): {off}"


def test_ibsi_phantom_averaged_is_the_mean_of_per_angle_values(ibsi_dir):
    phantom = np.load(ibsi_dir / "digital_phantom.npy")
    mask = np.load(ibsi_dir / "digital_phantom_mask.npy")
    averaged = GLCMFeatures(n_bins=6).fit(phantom, mask=mask).transform(phantom, mask=mask)
    per_angle = _per_matrix(GLCMFeatures(n_bins=6, aggregation="none").fit(phantom), phantom, mask)
    np.testing.assert_allclose(averaged, per_angle.mean(axis=1), rtol=1e-12)


# -- scikit-image -------------------------------------------------------------------
# graycoprops property -> (our feature, map from skimage's value to ours): skimage
# indexes grey levels from 0 (IBSI from 1) and uses the natural logarithm.
SKIMAGE_PROPS = {
    "contrast": ("contrast", lambda v: v),
    "dissimilarity": ("dissimilarity", lambda v: v),
    "homogeneity": ("inverse_difference_moment", lambda v: v),
    "ASM": ("angular_second_moment", lambda v: v),
    "energy": ("angular_second_moment", lambda v: v**2),
    "correlation": ("correlation", lambda v: v),
    "mean": ("joint_average", lambda v: v + 1),
    "variance": ("joint_variance", lambda v: v),
    "std": ("joint_variance", lambda v: v**2),
    "entropy": ("joint_entropy", lambda v: v / math.log(2)),
}


def _skimage_images(seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(5, 23, 19), dtype=np.uint8)
    X[1] //= 64  # 4 levels: the dense counting path
    X[2] = 7  # constant: correlation is 1 by convention
    X[3, :, :10] = 200  # large flat area and strong texture
    return X


@pytest.mark.parametrize(
    "metric, distances, angles",
    [
        ("euclidean", (1, 2, 3), ANGLES),  # graycomatrix's own offsets at any distance
        ("euclidean", (2,), (np.pi / 6, 2.0, -np.pi / 3)),  # arbitrary angles
        ("chebyshev", (1,), ANGLES + (np.pi,)),  # IBSI and skimage agree at distance 1
    ],
)
def test_equals_skimage_graycoprops(global_random_seed, metric, distances, angles):
    from skimage.feature import graycomatrix, graycoprops

    X = _skimage_images(global_random_seed)
    est = GLCMFeatures(
        distances=distances,
        angles=angles,
        distance_metric=metric,
        discretisation="none",
        aggregation="none",
    ).fit(X)
    ours = _per_matrix(est, X).reshape(len(X), len(distances), len(angles), -1)
    for b, image in enumerate(X):
        P = graycomatrix(image, distances, angles, levels=256, symmetric=True, normed=True)
        for prop, (name, to_ours) in SKIMAGE_PROPS.items():
            np.testing.assert_allclose(
                ours[b, :, :, _column(est, name)],
                to_ours(graycoprops(P, prop)),
                rtol=1e-10,
                atol=1e-12,
                err_msg=f"{prop} of image {b}",
            )


def test_merged_equals_skimage_on_the_summed_matrices_of_large_images():
    """Large images are processed a few offsets at a time; merged sums all angles."""
    from skimage.feature import graycomatrix, graycoprops

    rng = np.random.default_rng(12)
    X = rng.integers(0, 256, size=(2, 150, 140), dtype=np.uint8)
    distances = (1, 3)
    params = {"distances": distances, "distance_metric": "euclidean", "discretisation": "none"}
    per_angle = GLCMFeatures(aggregation="none", **params).fit(X)
    merged = GLCMFeatures(aggregation="merged", **params).fit(X)
    ours_none = _per_matrix(per_angle, X).reshape(len(X), len(distances), len(ANGLES), -1)
    ours_merged = _per_matrix(merged, X)
    for b, image in enumerate(X):
        P = graycomatrix(image, distances, ANGLES, levels=256, symmetric=True)
        P_merged = P.sum(axis=3, keepdims=True).astype(np.float64)
        P_merged /= P_merged.sum(axis=(0, 1), keepdims=True)
        P = P / P.sum(axis=(0, 1), keepdims=True)
        for prop, (name, to_ours) in SKIMAGE_PROPS.items():
            expected = to_ours(graycoprops(P, prop))
            np.testing.assert_allclose(
                ours_none[b, :, :, _column(per_angle, name)], expected, rtol=1e-10
            )
            expected = to_ours(graycoprops(P_merged, prop))[:, 0]
            np.testing.assert_allclose(
                ours_merged[b, :, _column(merged, name)], expected, rtol=1e-10
            )


def test_equals_skimage_on_16_bit_images(global_random_seed):
    from skimage.feature import graycomatrix, graycoprops

    rng = np.random.default_rng(global_random_seed)
    X = rng.integers(0, 300, size=(3, 16, 16)).astype(np.uint16)
    est = GLCMFeatures(discretisation="none", n_levels=300, aggregation="none").fit(X)
    ours = _per_matrix(est, X)
    for b, image in enumerate(X):
        P = graycomatrix(image, (1,), ANGLES, levels=300, symmetric=True, normed=True)
        for prop, (name, to_ours) in SKIMAGE_PROPS.items():
            np.testing.assert_allclose(
                ours[b, :, _column(est, name)],
                to_ours(graycoprops(P, prop))[0],
                rtol=1e-10,
                atol=1e-12,
            )


def test_masked_roi_equals_skimage_on_the_roi_pairs(global_random_seed):
    from skimage.feature import graycomatrix, graycoprops

    rng = np.random.default_rng(global_random_seed)
    X = rng.integers(0, 16, size=(4, 20, 20), dtype=np.uint8)
    mask = rng.random(X.shape) < 0.7
    est = GLCMFeatures(discretisation="none", n_levels=16, aggregation="none").fit(X, mask=mask)
    ours = _per_matrix(est, X, mask)
    for b in range(len(X)):
        # outside pixels become an extra level 16, whose row and column are then dropped
        P = graycomatrix(
            np.where(mask[b], X[b], 16).astype(np.uint8), (1,), ANGLES, levels=17, symmetric=True
        )
        P = P[:16, :16].astype(np.float64)
        P /= P.sum(axis=(0, 1), keepdims=True)
        for prop, (name, to_ours) in SKIMAGE_PROPS.items():
            np.testing.assert_allclose(
                ours[b, :, _column(est, name)],
                to_ours(graycoprops(P, prop))[0],
                rtol=1e-10,
                atol=1e-12,
            )


# -- mahotas ----------------------------------------------------------------------
# mahotas.features.haralick column -> (our feature, map from mahotas' value to ours)
MAHOTAS_COLUMNS = {
    0: ("angular_second_moment", lambda v: v),
    1: ("contrast", lambda v: v),
    2: ("correlation", lambda v: v),
    3: ("joint_variance", lambda v: v),  # "sum of squares: variance"
    4: ("inverse_difference_moment", lambda v: v),
    5: ("sum_average", lambda v: v + 2),  # i + j from 0 (IBSI: from 2)
    6: ("sum_variance", lambda v: v),
    7: ("sum_entropy", lambda v: v),
    8: ("joint_entropy", lambda v: v),
    9: ("difference_variance", lambda v: v),  # with use_x_minus_y_variance=True
    10: ("difference_entropy", lambda v: v),
    11: ("information_correlation_1", lambda v: v),
    12: ("information_correlation_2", lambda v: v),
}


def test_equals_mahotas_haralick(global_random_seed):
    mahotas = pytest.importorskip("mahotas")
    X = _skimage_images(global_random_seed)
    # mahotas' directions (0,1), (1,1), (1,0), (1,-1) are our 0, pi/4, pi/2, 3pi/4
    est = GLCMFeatures(discretisation="none", aggregation="none").fit(X)
    ours = _per_matrix(est, X)
    for b, image in enumerate(X):
        reference = mahotas.features.haralick(image, use_x_minus_y_variance=True)
        for column, (name, to_ours) in MAHOTAS_COLUMNS.items():
            np.testing.assert_allclose(
                ours[b, :, _column(est, name)],
                to_ours(reference[:, column]),
                rtol=1e-9,
                atol=1e-12,
                err_msg=f"mahotas column {column} ({name}) of image {b}",
            )


# -- internal consistency ---------------------------------------------------------
def test_dense_and_sorted_counting_agree():
    """Few levels are counted densely, many by sorting: shifting the levels switches path."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(4, 18, 18)).astype(np.uint16)
    shift = 3000
    names = [
        f
        for f in GLCM_FEATURE_NAMES
        if f not in ("joint_average", "sum_average", "autocorrelation")
    ]
    names = [f for f in names if not f.startswith("normalised") and not f.startswith("cluster_")]
    small = GLCMFeatures(
        discretisation="none", n_levels=4000, features=names, aggregation="none"
    ).fit(X)
    large = GLCMFeatures(discretisation="none", n_levels=4000, aggregation="none").fit(X + shift)
    np.testing.assert_allclose(
        _per_matrix(small, X),
        _per_matrix(large, X + shift)[:, :, [_column(large, f) for f in names]],
        rtol=1e-10,
    )
    avg = _column(large, "joint_average")
    np.testing.assert_allclose(
        _per_matrix(large, X + shift)[:, :, avg],
        _per_matrix(
            GLCMFeatures(discretisation="none", n_levels=4000, aggregation="none").fit(X), X
        )[:, :, avg]
        + shift,
    )


def test_feature_subset_equals_columns_of_all():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(6, 24, 24), dtype=np.uint8)
    mask = rng.random(X.shape) < 0.8
    for discretisation in ("fixed_bin_number", "none"):  # dense and sorted counting
        everything = GLCMFeatures(distances=(1, 3), discretisation=discretisation).fit(X)
        for subset in (
            ["contrast", "correlation"],
            ["joint_entropy", "sum_average", "joint_maximum"],
        ):
            est = GLCMFeatures(
                distances=(1, 3), discretisation=discretisation, features=subset
            ).fit(X)
            for m in (None, mask):
                full = _per_matrix(everything, X, m)[:, :, [_column(everything, f) for f in subset]]
                np.testing.assert_allclose(_per_matrix(est, X, m), full, rtol=1e-12)
            assert list(est.get_feature_names_out()) == [
                f"glcm_d{d}_{f}" for d in (1, 3) for f in subset
            ]


def test_merged_with_one_angle_equals_per_angle():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(3, 16, 16), dtype=np.uint8)
    merged = GLCMFeatures(angles=(np.pi / 2,), aggregation="merged").fit(X).transform(X)
    none = GLCMFeatures(angles=(np.pi / 2,), aggregation="none").fit(X).transform(X)
    np.testing.assert_allclose(merged, none, rtol=1e-12)


def test_16_bit_and_float_input_give_the_same_fixed_bin_number_features():
    rng = np.random.default_rng(3)
    X8 = rng.integers(0, 256, size=(4, 20, 20), dtype=np.uint8)
    X16 = X8.astype(np.uint16) * 256  # exact scaling: identical bins
    ref = GLCMFeatures().fit(X8).transform(X8)
    np.testing.assert_allclose(GLCMFeatures().fit(X16).transform(X16), ref, rtol=1e-12)
    np.testing.assert_allclose(GLCMFeatures().fit(X16 / 7.0).transform(X16 / 7.0), ref, rtol=1e-12)


def test_16_bit_levels_without_discretisation():
    """uint16 defaults to N_g = 65536; contrast scales with the square of the level step."""
    rng = np.random.default_rng(4)
    X = rng.integers(0, 200, size=(3, 16, 16), dtype=np.uint8)
    Y = X.astype(np.uint16) * 300  # levels up to 59700
    small = GLCMFeatures(discretisation="none", n_levels=256).fit(X)
    large = GLCMFeatures(discretisation="none").fit(Y)
    assert large.n_levels_ == 65536
    a, b = small.transform(X), large.transform(Y)
    col = {f: _column(large, f) for f in GLCM_FEATURE_NAMES}
    for name in (
        "joint_entropy",
        "angular_second_moment",
        "correlation",
        "joint_maximum",
        "sum_entropy",
        "difference_entropy",
        "information_correlation_1",
        "information_correlation_2",
    ):
        np.testing.assert_allclose(b[:, col[name]], a[:, col[name]], rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(b[:, col["contrast"]], a[:, col["contrast"]] * 300**2, rtol=1e-10)
    np.testing.assert_allclose(
        b[:, col["joint_average"]] - 1, (a[:, col["joint_average"]] - 1) * 300, rtol=1e-10
    )


def test_fixed_bin_width_equals_pre_binned_levels():
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1000, size=(4, 20, 20))
    X[:, 0, 0] = 999.0  # every ROI reaches bin 39 of width 25 from 0: N_g = 40
    names = list(GLCM_FEATURE_NAMES)
    fbs = GLCMFeatures(discretisation="fixed_bin_width", bin_width=25, bin_min=0.0).fit(X)
    binned = np.floor(X / 25)
    none = GLCMFeatures(discretisation="none", n_levels=40).fit(binned)
    np.testing.assert_allclose(fbs.transform(X), none.transform(binned), rtol=1e-12)
    assert names == fbs.features_


def test_fixed_bin_width_excludes_pixels_below_bin_min():
    rng = np.random.default_rng(6)
    X = rng.uniform(0, 100, size=(3, 16, 16))
    est = GLCMFeatures(discretisation="fixed_bin_width", bin_width=10, bin_min=30.0).fit(X)
    masked = GLCMFeatures(discretisation="fixed_bin_width", bin_width=10, bin_min=30.0).fit(X)
    np.testing.assert_allclose(est.transform(X), masked.transform(X, mask=X >= 30), rtol=1e-12)


def test_mask_as_rectangle_equals_cropping():
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, size=(3, 20, 20), dtype=np.uint8)
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, 3:15, 5:18] = True
    est = GLCMFeatures(distances=(1, 2))
    full = est.fit(X, mask=mask).transform(X, mask=mask)
    crop = X[:, 3:15, 5:18]
    np.testing.assert_allclose(
        full, GLCMFeatures(distances=(1, 2)).fit(crop).transform(crop), rtol=1e-12
    )
    # a flattened mask is the same mask
    np.testing.assert_allclose(
        est.transform(X, mask=mask.reshape(3, -1).astype(int)), full, rtol=1e-12
    )


def test_mask_travels_through_a_pipeline_with_metadata_routing():
    from sklearn import config_context
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(8)
    X = rng.integers(0, 256, size=(6, 16, 16), dtype=np.uint8)
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, 4:12, 4:12] = True
    with config_context(enable_metadata_routing=True):
        glcm = GLCMFeatures().set_fit_request(mask=True).set_transform_request(mask=True)
        pipe = make_pipeline(glcm, StandardScaler()).fit(X, mask=mask)
        expected = StandardScaler().fit_transform(GLCMFeatures().fit(X).transform(X, mask=mask))
        np.testing.assert_allclose(pipe.transform(X, mask=mask), expected, rtol=1e-10)


def test_n_jobs_and_chunking_do_not_change_values():
    rng = np.random.default_rng(9)
    X = rng.integers(0, 256, size=(70, 40, 40), dtype=np.uint8)  # several chunks
    mask = rng.random(X.shape) < 0.9
    serial = GLCMFeatures(discretisation="none", n_jobs=1).fit(X).transform(X, mask=mask)
    parallel = GLCMFeatures(discretisation="none", n_jobs=2).fit(X).transform(X, mask=mask)
    one_by_one = np.vstack(
        [
            GLCMFeatures(discretisation="none").fit(x[None]).transform(x[None], mask=m[None])
            for x, m in zip(X[:5], mask[:5])
        ]
    )
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_allclose(serial[:5], one_by_one, rtol=1e-12)


# -- degenerate ROIs ------------------------------------------------------------------
def test_constant_roi_gets_the_documented_values():
    X = np.full((2, 8, 8), 37, dtype=np.uint8)
    est = GLCMFeatures(discretisation="none").fit(X)
    values = dict(zip(est.features_, est.transform(X)[0]))
    expected = {
        "joint_maximum": 1.0,
        "joint_average": 38.0,
        "joint_variance": 0.0,
        "joint_entropy": 0.0,
        "difference_average": 0.0,
        "difference_variance": 0.0,
        "difference_entropy": 0.0,
        "sum_average": 76.0,
        "sum_variance": 0.0,
        "sum_entropy": 0.0,
        "angular_second_moment": 1.0,
        "contrast": 0.0,
        "dissimilarity": 0.0,
        "inverse_difference": 1.0,
        "normalised_inverse_difference": 1.0,
        "inverse_difference_moment": 1.0,
        "normalised_inverse_difference_moment": 1.0,
        "inverse_variance": 0.0,
        "correlation": 1.0,
        "autocorrelation": 38.0**2,
        "cluster_tendency": 0.0,
        "cluster_shade": 0.0,
        "cluster_prominence": 0.0,
        "information_correlation_1": 0.0,
        "information_correlation_2": 0.0,
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, abs=1e-12), name
    # fixed bin number maps a constant ROI to level 1
    fbn = GLCMFeatures(features=["joint_average", "correlation"]).fit(X.astype(float))
    np.testing.assert_allclose(fbn.transform(X.astype(float)), [[1.0, 1.0]] * 2)


def test_rois_without_pairs_are_nan_with_a_warning_and_do_not_disturb_the_batch():
    rng = np.random.default_rng(10)
    X = rng.integers(0, 256, size=(5, 12, 12), dtype=np.uint8)
    mask = np.ones(X.shape, dtype=bool)
    mask[1] = False  # fully masked
    mask[3] = False
    mask[3, 5, 5] = True  # a single pixel
    est = GLCMFeatures(distances=(1, 2)).fit(X)
    with pytest.warns(UserWarning, match="2 of 5 images"):
        out = est.transform(X, mask=mask)
    assert np.isnan(out[[1, 3]]).all()
    alone = GLCMFeatures(distances=(1, 2)).fit(X).transform(X[[0, 2, 4]])
    np.testing.assert_allclose(out[[0, 2, 4]], alone, rtol=1e-12)
    # images smaller than every offset
    tiny = np.zeros((2, 1, 1), dtype=np.uint8)
    for params in (
        {},
        {"features": ["contrast"]},
        {"discretisation": "none", "aggregation": "merged"},
    ):
        with pytest.warns(UserWarning, match="2 of 2 images"):
            assert np.isnan(GLCMFeatures(**params).fit(tiny).transform(tiny)).all()


def test_thin_rois_average_over_the_directions_that_have_pairs():
    rng = np.random.default_rng(11)
    X = rng.uniform(size=(3, 1, 30))  # 1-pixel-high strips: horizontal pairs only
    averaged = GLCMFeatures().fit(X).transform(X)
    horizontal = GLCMFeatures(angles=(0.0,)).fit(X).transform(X)
    np.testing.assert_allclose(averaged, horizontal, rtol=1e-12)
    with pytest.warns(UserWarning, match="3 of 3 images"):
        per_angle = GLCMFeatures(aggregation="none").fit(X).transform(X)
    assert np.isnan(per_angle[:, len(GLCM_FEATURE_NAMES) :]).all()
    assert not np.isnan(per_angle[:, : len(GLCM_FEATURE_NAMES)]).any()


# -- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"discretisation": "equal"}, "discretisation"),
        ({"aggregation": "mean"}, "aggregation"),
        ({"distance_metric": "manhattan"}, "distance_metric"),
        ({"distances": (0,)}, "distances"),
        ({"distances": (1.5,)}, "distances"),
        ({"distances": (1, 1)}, "distances must be distinct"),
        ({"distances": ()}, "distances"),
        ({"angles": (0.3,)}, "multiples of pi/4"),
        ({"angles": (0.0, 0.0)}, "angles must be distinct"),
        ({"angles": (np.nan,)}, "angles"),
        ({"n_bins": 0}, "n_bins"),
        ({"bin_width": 0}, "bin_width"),
        ({"n_levels": 1}, "n_levels"),
        ({"features": ["contrast", "energy"]}, "unknown: \\['energy'\\]"),
        ({"features": []}, "features"),
        ({"features": "some"}, "features"),
    ],
)
def test_bad_parameters_are_clear_errors(params, match):
    X = np.zeros((2, 8, 8), dtype=np.uint8)
    with pytest.raises((ValueError, TypeError), match=match):
        GLCMFeatures(**params).fit(X)


def test_invalid_option_is_an_invalid_parameter_error():
    with pytest.raises(InvalidParameterError, match="discretisation"):
        GLCMFeatures(discretisation="fixed_bin_size").fit(np.zeros((2, 8, 8)))


def test_bad_data_is_a_clear_error():
    X = np.arange(2 * 8 * 8, dtype=np.float64).reshape(2, 8, 8)
    with pytest.raises(ValueError, match="uint8 .* or uint16"):
        GLCMFeatures(discretisation="none").fit(X)
    with pytest.raises(ValueError, match="integer grey levels in \\[0, n_levels=100\\)"):
        GLCMFeatures(discretisation="none", n_levels=100).fit(X)
    with pytest.raises(ValueError, match="non-integer"):
        GLCMFeatures(discretisation="none", n_levels=1000).fit(X + 0.5)
    est = GLCMFeatures(discretisation="none", n_levels=200).fit(X)
    with pytest.raises(ValueError, match="n_levels=200"):
        est.transform(X + 100)
    with pytest.raises(ValueError, match="mask must have the shape"):
        GLCMFeatures().fit(X).transform(X, mask=np.ones((2, 8, 7), dtype=bool))
    with pytest.raises(ValueError, match="more than 65536"):
        GLCMFeatures(discretisation="fixed_bin_width", bin_width=1e-4).fit(X).transform(X)


# -- counting paths ----------------------------------------------------------------
@pytest.mark.parametrize("levels", [6, 32, 256, 600])
@pytest.mark.parametrize("masked", [False, True])
def test_every_counting_method_gives_the_same_cells(levels, masked):
    """np.bincount, the radix sort of 16-bit codes, the general sort and the numba
    table (if installed) count the same cells, including the top cell (which the
    padding code of the sorts shares with 8-bit levels) and with masks; checked
    against a plain dictionary count."""
    from skbreastcad.features import _glcm_counting

    rng = np.random.default_rng(levels)
    X = rng.integers(0, levels, size=(3, 17, 23))
    X[0, :4, :4] = levels - 1  # many pairs in the top cell (levels - 1, levels - 1)
    roi = rng.random(X.shape) > 0.25 if masked else None
    offsets = np.array([[(0, 1), (1, 1), (1, 0), (1, -1)], [(0, 2), (2, 2), (2, 0), (2, -2)]])
    methods = ["bincount", "radix", "sort"] if levels <= 256 else ["bincount", "sort"]
    if HAS_NUMBA:
        methods.append("numba")
    expected = {}
    for b in range(3):
        for g, (dr, dc) in enumerate(offsets.reshape(-1, 2)):
            for r in range(17):
                for c in range(23):
                    r2, c2 = r + dr, c + dc
                    if not (0 <= r2 < 17 and 0 <= c2 < 23) or (
                        roi is not None and not (roi[b, r, c] and roi[b, r2, c2])
                    ):
                        continue
                    key = (b * 8 + g, min(X[b, r, c], X[b, r2, c2]), max(X[b, r, c], X[b, r2, c2]))
                    expected[key] = expected.get(key, 0) + 1
    for method in methods:
        original = _glcm_counting._counting_method
        try:
            _glcm_counting._counting_method = lambda bits, pairs, method=method: method
            base, first_cell, cell, count, bits, n_groups = _glcm_counting._cells(
                X, roi, offsets, False, numba=method == "numba"
            )
        finally:
            _glcm_counting._counting_method = original
        group = base >> bits
        low = (1 << bits) - 1
        got = {
            (int(g), int((c >> bits) & low), int(c & low)): int(n)
            for g, c, n in zip(group, cell, count)
            if n > 0
        }
        assert got == expected, method
        assert n_groups == 24 and np.all(np.diff(group) >= 0)
        assert all(np.all(group[first_cell[g] : first_cell[g + 1]] == g) for g in range(n_groups))


def test_transform_is_the_same_whichever_counting_method(monkeypatch):
    from skbreastcad.features import _glcm_counting

    monkeypatch.setenv("SKBREASTCAD_NUMBA", "0")  # NumPy's methods
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(5, 40, 40), dtype=np.uint8)
    mask = rng.random(X.shape) > 0.2
    results = []
    for method in ["bincount", "radix", "sort"]:
        monkeypatch.setattr(_glcm_counting, "_counting_method", lambda bits, pairs, m=method: m)
        est = GLCMFeatures(discretisation="none", aggregation="none").fit(X)
        results.append(est.transform(X, mask=mask))
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-12, atol=1e-15)


def test_fixed_bin_number_of_uint8_by_table_equals_float_arithmetic():
    """The look-up table of 8-bit images gives the levels of the float formula."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, size=(6, 30, 30), dtype=np.uint8)
    X[1] = 7  # constant ROI
    mask = rng.random(X.shape) > 0.3
    for n_bins in (3, 32, 256, 1000):
        est = GLCMFeatures(n_bins=n_bins).fit(X)
        for m in (None, mask):
            np.testing.assert_array_equal(
                est._discretise(X, m, None, slice(None))[0],
                est._discretise(X.astype(np.float32), m, None, slice(None))[0],
            )


@pytest.mark.parametrize("levels", [32, 256])
def test_table_counting_in_row_bands_of_large_images_equals_sorting(levels, monkeypatch):
    """Images larger than a counting piece are counted in bands of rows."""
    from skbreastcad.features import _glcm_counting

    rng = np.random.default_rng(levels)
    X = rng.integers(0, levels, size=(2, 190, 230))
    roi = rng.random(X.shape) > 0.1
    offsets = np.array([[(0, 1), (1, 1), (1, 0), (1, -1)], [(0, -3), (-3, 3), (3, 0), (3, -3)]])
    monkeypatch.setattr(_glcm_counting, "_PIECE_PAIRS", 1 << 12)  # bands of 17 rows
    monkeypatch.setenv("SKBREASTCAD_NUMBA", "0")  # NumPy's methods
    got = {}
    for method in ("bincount", "sort"):
        monkeypatch.setattr(
            _glcm_counting, "_counting_method", lambda bits, pairs, method=method: method
        )
        for mask in (None, roi):
            base, first_cell, cell, count, bits, _ = _glcm_counting._cells(X, mask, offsets, True)
            keep = count > 0
            low = (1 << bits) - 1
            got[method, mask is None] = sorted(
                zip((base >> bits)[keep], (cell >> bits)[keep] & low, cell[keep] & low, count[keep])
            )
    assert got["bincount", True] == got["sort", True]
    assert got["bincount", False] == got["sort", False]


# -- the numba backend -------------------------------------------------------------
def _both_backends(est, X, mask, monkeypatch):
    """``transform`` with the NumPy code and with the numba kernels."""
    from skbreastcad.utils._numba import use_numba

    out = []
    for flag in ("0", "1"):
        monkeypatch.setenv("SKBREASTCAD_NUMBA", flag)
        # installed but not importable would compare NumPy with NumPy
        assert use_numba() == (flag == "1")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # NaN rows of pairless ROIs
            out.append(est.transform(X, mask=mask))
    return out


def _assert_backends_agree(numpy_out, numba_out, names):
    """Equal to the last bits: the kernels sum in NumPy's order, except the cell
    sums of the joint entropy (NumPy's reduceat adds pairwise), which the
    information correlations can magnify near 0."""
    numpy_out = numpy_out.reshape(len(numpy_out), -1, len(names))
    numba_out = numba_out.reshape(numpy_out.shape)
    np.testing.assert_array_equal(np.isnan(numpy_out), np.isnan(numba_out))
    for j, name in enumerate(names):
        loose = name in ("joint_entropy", "information_correlation_1", "information_correlation_2")
        np.testing.assert_allclose(
            numba_out[..., j],
            numpy_out[..., j],
            rtol=1e-12 if loose else 1e-14,
            atol=1e-13 if loose else 1e-15,
            err_msg=name,
        )


@requires_numba
@pytest.mark.parametrize("seed", range(40))
def test_numba_kernels_equal_the_numpy_code(seed, monkeypatch):
    """Random sizes (tiny, non-square), masks (empty, sparse, full), distances,
    angles, aggregations, discretisations and dtypes: both backends agree."""
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(1, 48, size=2))
    n = int(rng.integers(1, 6))
    kind = ["fbn", "fbs", "none8", "none16"][seed % 4]
    if kind == "fbn":
        dtype = [np.uint8, np.uint16, np.float32, np.float64][seed // 4 % 4]
        X = rng.integers(0, 256 if dtype == np.uint8 else 5000, size=(n, height, width))
        X = X.astype(dtype)
        params = {"n_bins": int(rng.choice([1, 2, 6, 32, 256, 1000]))}
    elif kind == "fbs":
        X = rng.normal(100, 30, size=(n, height, width))
        params = {"discretisation": "fixed_bin_width", "bin_width": float(rng.choice([1, 7, 40]))}
        if seed % 3 == 0:
            params["bin_min"] = 80.0
    elif kind == "none8":
        X = rng.integers(0, int(rng.choice([2, 9, 256])), size=(n, height, width)).astype(np.uint8)
        params = {"discretisation": "none"}
    else:  # 16-bit levels: 600 counted by numba's table, 65536 sorted by NumPy
        top = int(rng.choice([600, 65536]))
        X = rng.integers(0, top, size=(n, height, width)).astype(np.uint16)
        params = {"discretisation": "none", "n_levels": 65536}
    if seed % 5 == 0:
        X[:, : height // 2] = X.flat[0]  # large flat regions: few cells, big counts
    mask = [None, 0.0, 0.3, 0.95, 1.0][seed % 5]
    if mask is not None:
        mask = rng.random(X.shape) >= mask  # 1.0: empty masks
    metric = "euclidean" if seed % 7 == 0 else "chebyshev"
    angles = ANGLES if seed % 3 else (0.0, np.pi / 2, 5 * np.pi / 4)
    distances = [(1,), (1, 2), (3,), (2, 5)][seed % 4]
    est = GLCMFeatures(
        distances=distances,
        angles=angles,
        distance_metric=metric,
        aggregation=["averaged", "merged", "none"][seed % 3],
        features="all" if seed % 2 else ["contrast", "joint_average", "correlation"],
        **params,
    ).fit(X)
    numpy_out, numba_out = _both_backends(est, X, mask, monkeypatch)
    _assert_backends_agree(numpy_out, numba_out, est.features_)


@requires_numba
@pytest.mark.parametrize("levels", [32, 256])
def test_numba_kernels_equal_the_numpy_code_on_large_images(levels, monkeypatch):
    """Tables scanned whole (many pairs per cell) and read through their bitmap."""
    rng = np.random.default_rng(levels)
    X = rng.integers(0, levels, size=(2, 300, 260)).astype(np.uint8)
    X[0, 100:] //= 16  # a smooth part: few cells with large counts
    mask = rng.random(X.shape) > 0.05
    est = GLCMFeatures(discretisation="none", n_levels=256, aggregation="none").fit(X)
    for m in (None, mask):
        _assert_backends_agree(*_both_backends(est, X, m, monkeypatch), est.features_)


@requires_numba
def test_numba_kernels_run_in_parallel_threads_with_the_same_values(monkeypatch):
    monkeypatch.setenv("SKBREASTCAD_NUMBA", "1")
    rng = np.random.default_rng(11)
    X = rng.integers(0, 256, size=(40, 33, 31), dtype=np.uint8)
    serial = GLCMFeatures(n_jobs=1).fit(X).transform(X)
    threaded = GLCMFeatures(n_jobs=2).fit(X).transform(X)
    np.testing.assert_array_equal(serial, threaded)


def test_backend_switch_rejects_unknown_values(monkeypatch):
    X = np.zeros((1, 8, 8), dtype=np.uint8)
    est = GLCMFeatures().fit(X)
    monkeypatch.setenv("SKBREASTCAD_NUMBA", "fast")
    with pytest.raises(ValueError, match="SKBREASTCAD_NUMBA must be 0"):
        est.transform(X)
