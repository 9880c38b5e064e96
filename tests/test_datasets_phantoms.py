import time

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from skbreastcad.datasets import make_phantoms


def _spectral_exponent(images):
    """Slope of the radially averaged power spectrum, fitted over mid frequencies."""
    images = images.astype(float) - images.mean(axis=(1, 2), keepdims=True)
    size = images.shape[1]
    power = (np.abs(np.fft.fft2(images)) ** 2).mean(axis=0)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    f = np.hypot(fx, fy)
    band = (f > 2.0 / size) & (f < 0.15)
    slope, _ = np.polyfit(np.log(f[band]), np.log(power[band]), 1)
    return -slope


def test_shapes_counts_and_dtype():
    X, y, groups = make_phantoms(200, image_size=48, random_state=0, return_groups=True)
    assert X.shape == (200, 48, 48) and X.dtype == np.uint8
    assert y.shape == groups.shape == (200,)
    assert int(y.sum()) == 40  # 1 : 4
    X, y = make_phantoms(60, imbalance_ratio=1.0, random_state=0)
    assert int(y.sum()) == 30


def test_seeded_and_fast():
    start = time.process_time()  # CPU time: robust to a busy machine
    X1, y1 = make_phantoms(200, image_size=64, random_state=3)
    assert time.process_time() - start < 1.0
    X2, y2 = make_phantoms(200, image_size=64, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = make_phantoms(200, image_size=64, random_state=4)
    assert not np.array_equal(X1, X3)


def test_background_is_power_law_with_beta_about_3():
    X, y = make_phantoms(300, image_size=64, random_state=0)
    beta = _spectral_exponent(X[y == 0])
    assert 2.5 < beta < 3.5, beta


def test_lesions_are_brighter_than_the_background_at_the_centre():
    X, y = make_phantoms(400, image_size=64, random_state=0)
    centre = X[:, 20:44, 20:44].astype(float).max(axis=(1, 2)) - np.median(X, axis=(1, 2))
    assert centre[y == 1].mean() > centre[y == 0].mean() + 10


@pytest.mark.parametrize("kind", ["circumscribed", "spiculated", "calcification"])
def test_each_lesion_kind_can_be_drawn_alone(kind):
    X, y = make_phantoms(
        20, image_size=32, lesion_types=(kind,), imbalance_ratio=1.0, random_state=0
    )
    assert (
        X[y == 1].astype(float).max(axis=(1, 2)).mean()
        > X[y == 0].astype(float).max(axis=(1, 2)).mean()
    )


def test_mri_is_a_different_domain():
    Xm, _ = make_phantoms(200, modality="mri", random_state=0)
    Xx, _ = make_phantoms(200, modality="mammography", random_state=0)
    assert abs(Xm.mean() - Xx.mean()) > 15
    assert _spectral_exponent(Xm) < _spectral_exponent(Xx)


def test_groups_keep_a_patient_in_one_fold():
    X, y, groups = make_phantoms(100, n_patients=20, random_state=0, return_groups=True)
    assert len(np.unique(groups)) == 20
    for train, test in GroupKFold(5).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])
    # ...and grouping matters: a patient's tissue density sets the grey level of all her
    # ROIs, so the ROI means vary far less within a patient than across patients
    means = X[y == 0].mean(axis=(1, 2))
    within = np.mean([means[groups[y == 0] == g].var() for g in np.unique(groups[y == 0])])
    assert within < 0.05 * means.var()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modality": "ct"}, "modality"),
        ({"image_size": 4}, "image_size"),
        ({"imbalance_ratio": -1}, "imbalance_ratio"),
        ({"lesion_types": ("blob",)}, "lesion_types"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_phantoms(10, **kwargs)


@pytest.mark.parametrize("name", ["n_samples", "image_size", "n_patients"])
def test_a_bool_is_not_taken_for_an_int(name):
    kwargs = {"n_samples": 10, name: True}
    with pytest.raises(ValueError, match=f"'{name}' parameter of make_phantoms must be an int"):
        make_phantoms(**kwargs)


@pytest.mark.parametrize(
    "n_samples, imbalance_ratio, missing",
    [
        (2, 4.0, "no tumour"),
        (1, 1.0, "no tumour"),
        (5, 0.0, "no non-tumour"),
        (20, 100.0, "no tumour"),
    ],
)
def test_a_single_class_is_refused(n_samples, imbalance_ratio, missing):
    with pytest.raises(ValueError, match=f"gives {missing} ROI .* a single class"):
        make_phantoms(n_samples, imbalance_ratio=imbalance_ratio, random_state=0)
    # the smallest set with both classes is fine
    _, y = make_phantoms(4, image_size=8, random_state=0)
    assert sorted(set(y.tolist())) == [0, 1]
