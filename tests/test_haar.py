"""HaarFeatures: equality with skimage.feature.haar_like_feature, enumeration, selection,
names, windows, bad input and threads."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skimage.feature import haar_like_feature, haar_like_feature_coord
from skimage.transform import integral_image

from skbreastcad.features import HaarFeatures
from skbreastcad.features._haar import _RECTANGLES


def _images(n, shape, seed=0, high=256, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, high, size=(n, *shape)).astype(dtype)


def _skimage_coords(est, index=slice(None)):
    """Our (type, y, x, h, w) as skimage's feature_coord lists."""
    types, ours = est.feature_types_[index], est.feature_coords_[index]
    coords = np.empty(len(ours), dtype=object)
    for i, (t, (y, x, h, w)) in enumerate(zip(types, ours)):
        coords[i] = [
            [(y + oy * h, x + ox * w), (y + (oy + 1) * h - 1, x + (ox + 1) * w - 1)]
            for oy, ox in _RECTANGLES[t]
        ]
    return coords


def _skimage_values(est, image):
    height, width = image.shape
    return haar_like_feature(
        integral_image(image),
        0,
        0,
        width,
        height,
        feature_type=est.feature_types_,
        feature_coord=_skimage_coords(est),
    )


def test_every_feature_of_a_24x24_window_equals_skimage():
    X = _images(2, (24, 24))
    est = HaarFeatures(min_size=1, step=1).fit(X)
    assert est.n_features_enumerated_ == 162_336 == len(est.get_feature_names_out())
    coords, types = haar_like_feature_coord(24, 24)
    assert_array_equal(est.feature_types_, types)
    mine = _skimage_coords(est, slice(None, None, 97))
    assert all(list(map(list, a)) == list(map(list, b)) for a, b in zip(mine, coords[::97]))
    public, public_types = est.skimage_feature_coord()
    assert_array_equal(public_types, types)
    assert all(a == [list(r) for r in b] for a, b in zip(public[::97], coords[::97]))
    got = est.transform(X)
    for image, row in zip(X, got):
        assert_array_equal(row, haar_like_feature(integral_image(image), 0, 0, 24, 24))


@pytest.mark.parametrize(
    "shape, params",
    [
        ((13, 17), {"min_size": 2, "size_step": 3, "step": 2}),
        ((9, 11), {"feature_types": "type-4", "min_size": 1, "step": 1}),
        ((20, 16), {"feature_types": ("type-3-y", "type-2-x"), "min_size": 0.2, "step": 0.25}),
        ((32, 32), {}),
    ],
)
def test_values_equal_skimage_for_the_same_coordinates(shape, params):
    X = _images(2, shape, seed=shape[0])
    est = HaarFeatures(**params).fit(X)
    got = est.transform(X)
    for image, row in zip(X, got):
        assert_array_equal(row, _skimage_values(est, image))
    # float images: same sums up to rounding
    Xf = np.random.default_rng(1).normal(size=(1, *shape))
    assert_allclose(est.transform(Xf)[0], _skimage_values(est, Xf[0]), rtol=1e-9, atol=1e-9)


def test_sign_conventions():
    # left half 0, right half 1: type-2-x at full size is +(right sum)
    image = np.zeros((1, 4, 4))
    image[0, :, 2:] = 1
    est = HaarFeatures(feature_types="type-2-x", min_size=2, step=4).fit(image)
    assert list(est.get_feature_names_out()) == [
        "haar_type-2-x_y0_x0_h2_w2",
        "haar_type-2-x_y0_x0_h4_w2",
    ]
    assert_array_equal(est.transform(image), [[4.0, 8.0]])
    # type-4: top-right + bottom-left - top-left - bottom-right
    image = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    est = HaarFeatures(feature_types="type-4", min_size=1, step=1).fit(image)
    assert_array_equal(est.transform(image), [[2.0 + 3.0 - 1.0 - 4.0]])


def test_default_counts_are_moderate_and_size_independent():
    for side in (24, 64, 128):
        est = HaarFeatures().fit(_images(1, (side, side)))
        assert est.n_features_enumerated_ == 2056
        # corners on multiples of side/8 only: a 9x9 integral image per image
        assert est._matrix[0].shape[1] == 81
    assert (
        HaarFeatures(step=0.25, min_size=0.125).fit(_images(1, (64, 64))).n_features_enumerated_
        == 700
    )


def test_feature_names_say_type_and_coordinates():
    est = HaarFeatures(feature_types=("type-3-x",), min_size=2, step=2).fit(_images(1, (12, 12)))
    names = est.get_feature_names_out()
    y, x, h, w = est.feature_coords_[5]
    assert names[5] == f"haar_type-3-x_y{y}_x{x}_h{h}_w{w}"
    assert len(set(names)) == len(names)


def test_centred_window_equals_features_of_the_cropped_centre():
    X = _images(3, (30, 27))
    est = HaarFeatures(window_shape=(24, 20), min_size=2, step=3).fit(X)
    assert est.window_ == (3, 3, 24, 20)
    full = HaarFeatures(min_size=2, step=3).fit(X[:, 3:27, 3:23])
    assert_array_equal(est.transform(X), full.transform(X[:, 3:27, 3:23]))
    with pytest.raises(
        ValueError, match=r"\(30, 27\) are smaller than the Haar detection window \(31, 20\)"
    ):
        HaarFeatures(window_shape=(31, 20)).fit(X)
    with pytest.raises(ValueError, match="window_shape must be None or"):
        HaarFeatures(window_shape=(0, 5)).fit(X)


def test_random_selection_is_seeded_and_keeps_enumeration_order(global_random_seed):
    X = _images(4, (32, 32))
    a = HaarFeatures(max_features=50, random_state=global_random_seed).fit(X)
    b = HaarFeatures(max_features=50, random_state=global_random_seed).fit(X)
    c = HaarFeatures(max_features=50, random_state=global_random_seed + 1).fit(X)
    assert_array_equal(a.get_feature_names_out(), b.get_feature_names_out())
    assert list(a.get_feature_names_out()) != list(c.get_feature_names_out())
    assert a.transform(X).shape == (4, 50) and a.n_features_enumerated_ == 2056
    full = HaarFeatures().fit(X)
    index = {n: i for i, n in enumerate(full.get_feature_names_out())}
    picked = [index[n] for n in a.get_feature_names_out()]
    assert picked == sorted(picked)
    assert_array_equal(a.transform(X), full.transform(X)[:, picked])
    # random_state is stored as given
    rs = np.random.RandomState(0)
    assert HaarFeatures(max_features=5, random_state=rs).fit(X).random_state is rs


def test_variance_selection_keeps_the_most_variable_features():
    X = _images(10, (16, 16))
    full = HaarFeatures(min_size=2, step=2).fit(X)
    values = full.transform(X)
    est = HaarFeatures(min_size=2, step=2, max_features=20, selection="variance").fit(X)
    kept = est.transform(X)
    assert kept.shape == (10, 20)
    assert kept.var(axis=0).min() >= np.sort(values.var(axis=0))[-20]
    # more than available keeps all
    assert HaarFeatures(max_features=10**6).fit(X).transform(X).shape == (10, 2056)


def test_masks_are_rejected_clearly():
    X = _images(2, (16, 16))
    mask = np.ones(X.shape, dtype=bool)
    with pytest.raises(ValueError, match="does not use ROI masks"):
        HaarFeatures().fit(X, mask=mask)
    with pytest.raises(ValueError, match="does not use ROI masks"):
        HaarFeatures().fit(X).transform(X, mask=mask)


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"feature_types": ("type-2-x", "type-5")},
            r"feature_types.*'type-2-x'.*'type-4'.*unknown: \['type-5'\]",
        ),
        ({"feature_types": "edge"}, "feature_types must be distinct names from"),
        ({"feature_types": ()}, "feature_types"),
        ({"min_size": 0}, "min_size"),
        ({"min_size": 1.5}, "min_size"),
        ({"step": -1}, "step"),
        ({"size_step": 0.0}, "size_step"),
        ({"max_features": 0}, "max_features"),
        ({"selection": "best"}, "selection"),
        ({"min_size": 20}, "No Haar-like feature of types"),
        ({"min_size": 1, "step": 1}, "raise step, min_size or size_step"),
    ],
)
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        HaarFeatures(**params).fit(
            _images(1, (80, 80))
            if "step" in params and params["step"] == 1
            else _images(1, (16, 16))
        )


def test_pickle_drops_the_sparse_matrix_and_rebuilds_it():
    X = _images(3, (24, 24))
    est = HaarFeatures(min_size=2, step=2).fit(X)
    state = pickle.dumps(est)
    assert b"_matrix" not in state
    restored = pickle.loads(state)
    assert_array_equal(restored.transform(X), est.transform(X))


def test_n_jobs_and_large_integer_images():
    X = _images(70, (24, 24), high=65536, dtype=np.uint16)
    serial = HaarFeatures(min_size=1, step=2, n_jobs=1).fit(X)
    threaded = HaarFeatures(min_size=1, step=2, n_jobs=2).fit(X)
    got = serial.transform(X)
    assert_array_equal(got, threaded.transform(X))
    assert_array_equal(got[0], _skimage_values(serial, X[0]))
    coord, types = serial.skimage_feature_coord()
    assert_array_equal(got[1], haar_like_feature(integral_image(X[1]), 0, 0, 24, 24, types, coord))
