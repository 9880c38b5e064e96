"""GaborFeatures: equality with a per-image skimage.filters.gabor reference, names,
masks, small images, bad input, kernel caching and threads."""

import importlib.util
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.signal import convolve2d
from skimage.filters import gabor, gabor_kernel

from skbreastcad.features import GaborFeatures
from skbreastcad.features._gabor_bank import _gabor_bank, _kernel_half_size

FREQS = (0.5, 0.25, 0.125, 0.1)


def _reference(image, frequencies=FREQS, n_orientations=8, bandwidth=1, n_stds=3, mask=None):
    """mean and population variance of hypot(real, imag) of skimage.filters.gabor."""
    image = np.asarray(image, dtype=np.float64)
    row = []
    for f in frequencies:
        for k in range(n_orientations):
            real, imag = gabor(
                image, f, theta=k * np.pi / n_orientations, bandwidth=bandwidth, n_stds=n_stds
            )
            mag = np.hypot(real, imag)
            if mask is not None:
                mag = mag[mask]
            row += [mag.mean(), mag.var()]
    return np.array(row)


def _images(n, shape, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape)).astype(dtype)


@pytest.mark.parametrize("shape", [(64, 64), (37, 51), (48, 35)])
def test_equals_skimage_for_all_32_kernels(shape):
    X = _images(2, shape, seed=shape[0])
    got = GaborFeatures().fit_transform(X)
    assert got.shape == (2, 64)
    for image, row in zip(X, got):
        assert_allclose(row, _reference(image), rtol=1e-6)


def test_equals_skimage_on_large_tiled_images_and_float_input():
    # 100x150 is filtered in band tiles along both axes.
    rng = np.random.default_rng(3)
    X = rng.normal(1000.0, 300.0, size=(1, 100, 150))
    est = GaborFeatures(frequencies=(0.5, 0.1), n_orientations=4, bandwidth=1.5, n_stds=2.5)
    got = est.fit_transform(X)[0]
    assert_allclose(got, _reference(X[0], (0.5, 0.1), 4, 1.5, 2.5), rtol=1e-6)


def test_uint16_input():
    X = _images(1, (40, 40), dtype=np.uint16) * 200
    got = GaborFeatures(frequencies=(0.5, 0.25)).fit_transform(X)[0]
    assert_allclose(got, _reference(X[0], (0.5, 0.25)), rtol=1e-6)


def test_kernel_support_matches_skimage():
    for f in FREQS:
        for k in range(8):
            y0, x0 = _kernel_half_size(f, k * np.pi / 8, 1, 3)
            assert gabor_kernel(f, k * np.pi / 8).shape == (2 * y0 + 1, 2 * x0 + 1)
    est = GaborFeatures().fit(_images(1, (64, 64)))
    assert est.kernel_shapes_.shape == (4, 8, 2)
    assert tuple(est.kernel_shapes_[3, 0]) == gabor_kernel(0.1).shape == (35, 35)


def test_feature_names():
    est = GaborFeatures(statistics=("mean", "var", "std")).fit(_images(2, (40, 40)))
    names = est.get_feature_names_out()
    assert len(names) == 96 == est.transform(_images(2, (40, 40))).shape[1]
    assert list(names[:4]) == [
        "gabor_theta0_freq0.5_mean",
        "gabor_theta0_freq0.5_var",
        "gabor_theta0_freq0.5_std",
        "gabor_theta1_freq0.5_mean",
    ]
    assert names[-1] == "gabor_theta7_freq0.1_std"
    one = GaborFeatures(frequencies=(0.25,), statistics="std").fit(_images(1, (40, 40)))
    assert list(one.get_feature_names_out()[:2]) == [
        "gabor_theta0_freq0.25_std",
        "gabor_theta1_freq0.25_std",
    ]


def test_std_is_sqrt_of_var():
    X = _images(3, (36, 36))
    both = GaborFeatures(statistics=("var", "std")).fit_transform(X)
    assert_allclose(both[:, 1::2], np.sqrt(both[:, ::2]))


def test_mask_takes_statistics_over_roi_pixels_of_the_full_response():
    X = _images(2, (40, 44))
    yy, xx = np.mgrid[:40, :44]
    mask = np.stack([(yy - 20) ** 2 + (xx - 22) ** 2 < 15**2, (xx > 5) & (yy < 30)])
    got = GaborFeatures(frequencies=(0.5, 0.125)).fit(X).transform(X, mask=mask)
    for image, m, row in zip(X, mask, got):
        assert_allclose(row, _reference(image, (0.5, 0.125), mask=m), rtol=1e-6)
    # a full mask is the same as no mask
    full = np.ones_like(mask)
    est = GaborFeatures(frequencies=(0.5,)).fit(X)
    assert_allclose(est.transform(X, mask=full), est.transform(X))


def test_empty_mask_is_an_error():
    X = _images(2, (20, 20))
    mask = np.ones(X.shape, dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match="mask of image 1 selects no pixel"):
        GaborFeatures(frequencies=(0.5,)).fit(X).transform(X, mask=mask)


def test_blank_images_skip_the_two_pass_variance(monkeypatch):
    # All-zero ROIs (padding, background) have all-zero responses: their variance is
    # exactly 0 and must not be recomputed image by image and kernel by kernel
    # (which made a batch of blank 64x64 ROIs about 40x slower than a textured one).
    from skbreastcad.features import _gabor_filter

    calls = []
    exact = _gabor_filter._exact_var
    monkeypatch.setattr(_gabor_filter, "_exact_var", lambda *args: calls.append(1) or exact(*args))
    X = np.zeros((3, 40, 40), dtype=np.uint8)
    got = GaborFeatures(frequencies=(0.5, 0.25)).fit_transform(X)
    assert_allclose(got, 0.0, atol=0)
    assert not calls


def test_constant_image_has_zero_variance():
    X = np.full((1, 40, 40), 7.0)
    got = GaborFeatures(frequencies=(0.5, 0.25)).fit_transform(X)[0]
    ref = _reference(X[0], (0.5, 0.25))
    assert_allclose(got[::2], ref[::2], rtol=1e-6)
    assert_allclose(got[1::2], ref[1::2], atol=1e-20)


def _padded_reference(image, frequencies=FREQS, n_orientations=8):
    """Same statistics from gabor_kernel and numpy's 'symmetric' padding (scipy.ndimage's
    'reflect'), convolved with scipy.signal: defined for any image size.

    Needed because scipy.ndimage.convolve (under skimage.filters.gabor; scipy 1.17)
    returns wrong values, read from outside the array, once a kernel overhangs an
    image side of 2 or more pixels by several periods (e.g. a 29x29 kernel on 3x2).
    """
    image = np.asarray(image, dtype=np.float64)
    row = []
    for f in frequencies:
        for k in range(n_orientations):
            kernel = gabor_kernel(f, theta=k * np.pi / n_orientations)
            ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
            padded = np.pad(image, ((ry, ry), (rx, rx)), mode="symmetric")
            mag = np.abs(convolve2d(padded, kernel, mode="valid"))
            row += [mag.mean(), mag.var()]
    return np.array(row)


def test_images_smaller_than_a_kernel():
    X = _images(2, (20, 30))
    with pytest.raises(
        ValueError, match=r"\(20, 30\).*frequency 0\.1.*\(35, 35\).*allow_small_images"
    ):
        GaborFeatures().fit(X)
    # allowed: repeated reflection, as skimage does where scipy.ndimage gets it right
    got = GaborFeatures(allow_small_images=True).fit_transform(X)
    assert_allclose(got[0], _reference(X[0]), rtol=1e-6)
    for shape in [(1, 9), (3, 2), (2, 5)]:
        X = _images(1, shape, seed=sum(shape))
        got = GaborFeatures(allow_small_images=True).fit_transform(X)[0]
        assert_allclose(got, _padded_reference(X[0]), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"statistics": ("mean", "median")}, r"statistics.*'mean', 'var', 'std'.*median"),
        ({"statistics": ("mean", "mean")}, "statistics must be distinct"),
        ({"statistics": ()}, "statistics"),
        ({"frequencies": (0.5, -0.1)}, "frequencies must be a non-empty sequence of positive"),
        ({"frequencies": (0.5, 0.5)}, "frequencies must be distinct"),
        ({"frequencies": ("a",)}, "frequencies"),
        ({"frequencies": ()}, "frequencies"),
        ({"n_orientations": 0}, "n_orientations"),
        ({"bandwidth": 0}, "bandwidth"),
        ({"n_stds": -1}, "n_stds"),
        ({"allow_small_images": "yes"}, "allow_small_images"),
    ],
)
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        GaborFeatures(**params).fit(_images(2, (40, 40)))


def test_wrong_mask_shape_and_not_fitted():
    X = _images(2, (40, 40))
    est = GaborFeatures(frequencies=(0.5,)).fit(X)
    with pytest.raises(ValueError, match="mask must have the shape"):
        est.transform(X, mask=np.ones((2, 40, 41), dtype=bool))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GaborFeatures().transform(X)


def test_kernels_are_built_once_and_cached():
    _gabor_bank.cache_clear()
    X = _images(20, (40, 40))
    est = GaborFeatures(frequencies=(0.5, 0.25)).fit(X)
    assert _gabor_bank.cache_info().misses == 1
    est.transform(X)
    est.transform(X[:3])
    GaborFeatures(frequencies=(0.5, 0.25)).fit(X[:2]).transform(X)
    info = _gabor_bank.cache_info()
    assert info.misses == 1 and info.hits >= 3


def test_n_jobs_gives_identical_results():
    X = _images(40, (40, 40))
    serial = GaborFeatures(frequencies=(0.5, 0.25), n_jobs=1).fit_transform(X)
    threaded = GaborFeatures(frequencies=(0.5, 0.25), n_jobs=2).fit_transform(X)
    assert_allclose(serial, threaded, rtol=1e-12)


def test_pairing_of_theta_and_pi_minus_theta_with_odd_orientation_count():
    X = _images(1, (40, 40))
    got = GaborFeatures(frequencies=(0.25,), n_orientations=5).fit_transform(X)[0]
    assert_allclose(got, _reference(X[0], (0.25,), 5), rtol=1e-6)
    assert math.isclose(got[0], _reference(X[0], (0.25,), 5)[0], rel_tol=1e-9)


# -- FFT path ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(37, 51), (64, 64), (6, 9)])
def test_fft_path_equals_spatial_path(shape):
    """Both filtering paths give the same statistics to 1e-10 relative (in practice
    ~1e-14), with and without a mask, also for images smaller than a kernel (repeated
    reflection)."""
    from skbreastcad.features._gabor_filter import _filter_chunk

    X = _images(3, shape, seed=4)
    mask = np.random.default_rng(4).random(X.shape) > 0.3
    mask[:, 0, 0] = True
    stats = ("mean", "var", "std")
    spatial = _gabor_bank(FREQS, 8, 1.0, 3.0, *shape, "spatial")
    fft = _gabor_bank(FREQS, 8, 1.0, 3.0, *shape, "fft")
    assert {g["method"] for g in spatial} == {"spatial"} and {g["method"] for g in fft} == {"fft"}
    for m in (None, mask):
        assert_allclose(
            _filter_chunk(X, m, fft, stats, 32), _filter_chunk(X, m, spatial, stats, 32), rtol=1e-10
        )
    if shape == (37, 51):
        assert_allclose(
            _filter_chunk(X[:1], None, fft, ("mean", "var"), 32)[0], _reference(X[0]), rtol=1e-6
        )


def test_automatic_choice_uses_both_paths_with_equal_results():
    """A large kernel on a large image goes to the FFT, small ones stay spatial."""
    from skbreastcad.features._gabor_filter import _filter_chunk

    X = _images(1, (256, 256), seed=5)
    est = GaborFeatures(frequencies=(0.25, 0.07), n_orientations=2).fit(X)
    methods = {g["method"] for g in est._bank()}
    assert methods == {"spatial", "fft"}
    got = est.transform(X)
    spatial = _gabor_bank((0.25, 0.07), 2, 1.0, 3.0, 256, 256, "spatial")
    assert_allclose(got, _filter_chunk(X, None, spatial, ("mean", "var"), 4), rtol=1e-10)
    assert_allclose(got[0], _reference(X[0], (0.25, 0.07), 2), rtol=1e-6)


def test_fft_is_chosen_only_where_the_cost_model_says_it_is_cheaper():
    from skbreastcad.features._gabor_bank import _choose_method

    small = _gabor_bank(FREQS, 8, 1.0, 3.0, 64, 64)
    assert {g["method"] for g in small} == {"spatial"}  # the study's bank on 64 px ROIs
    for group in _gabor_bank((0.03,), 2, 1.0, 3.0, 1024, 1024, "spatial"):
        assert _choose_method(group, 1024, 1024) == "fft"  # 115 px kernels on a 1024 px image


def test_numba_cost_model_weighs_the_shared_forward_fft():
    """The numba kernels' direct filtering is cheaper than the band matrices, so
    the study's bank stays direct at every size, 99-171 px kernels stay direct on
    1024 px images (measured: 99 px 74 ms direct against 96 ms with one group by
    FFT), and 227 px kernels go to the FFT (115 ms against 147 ms direct)."""
    for size in (64, 256, 512, 1024):
        bank = _gabor_bank(FREQS, 8, 1.0, 3.0, size, size)
        assert {g["numba_method"] for g in bank} == {"spatial"}
    for frequency, expected in [(0.035, "spatial"), (0.02, "spatial"), (0.015, "fft")]:
        bank = _gabor_bank((frequency,), 2, 1.0, 3.0, 1024, 1024)
        assert [g["numba_method"] for g in bank] == [expected, expected], frequency


def test_direct_taps_count_each_response_of_a_group():
    """The numba cost model's work per pixel: a real factor filters one image, a
    complex one two; theta = 0 has a real column factor, theta = pi / 2 a real row
    factor, and the other orientations pair up with complex factors."""
    groups = {g["members"]: g for g in _gabor_bank((0.25,), 4, 1.0, 3.0, 64, 64)}
    assert set(groups) == {(0,), (1, 3), (2,)}
    for members, (n_a, n_b) in {(0,): (1, 2), (1, 3): (2, 2), (2,): (2, 1)}.items():
        g = groups[members]
        assert g["direct_taps"] == n_a * len(g["a"]) + n_a * n_b * len(g["b"])


# -- the numba backend -------------------------------------------------------------
@pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="numba is not installed (pip install skbreastcad[fast])",
)
@pytest.mark.parametrize("seed", range(8))
def test_numba_sums_equal_the_numpy_code(seed, monkeypatch):
    """Spatial and FFT paths, masks, statistics subsets, banks with real and
    complex factors (2, 3 and 8 orientations) and odd shapes: the fused magnitude
    sums of the kernels equal NumPy's to rounding: the direct filtering adds the
    taps in another order than the band matrices, and the sums run in vector lanes."""
    from skbreastcad.features._gabor_filter import _filter_chunk
    from skbreastcad.utils._numba import use_numba

    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(3, 70, size=2))
    X = _images(int(rng.integers(1, 10)), shape, seed=seed).astype(np.float64)
    X[0, : shape[0] // 2] = 17.0  # a flat part: near-constant responses
    mask = None if seed % 2 else rng.random(X.shape) > 0.4
    if mask is not None:
        mask[:, 0, 0] = True
    stats = [("mean", "var"), ("mean",), ("std", "var")][seed % 3]
    freqs = [FREQS, (0.3, 0.07), (0.25,)][seed % 3]
    n_orientations = [8, 3, 2][seed % 3]
    for method in ("spatial", "fft"):
        bank = _gabor_bank(freqs, n_orientations, 1.0, 3.0, *shape, method)
        n_kernels = len(freqs) * n_orientations
        monkeypatch.setenv("SKBREASTCAD_NUMBA", "0")
        expected = _filter_chunk(X, mask, bank, stats, n_kernels)
        monkeypatch.setenv("SKBREASTCAD_NUMBA", "1")
        assert use_numba()  # installed but not importable would compare NumPy with NumPy
        got = _filter_chunk(X, mask, bank, stats, n_kernels)
        assert_allclose(got, expected, rtol=1e-12, atol=1e-300, err_msg=method)


@pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="numba is not installed (pip install skbreastcad[fast])",
)
def test_bank_cases_are_the_kernels_cases():
    """The bank names which factors are real without importing numba; the kernel
    must read the same numbers."""
    from skbreastcad.features import _gabor_bank as bank
    from skbreastcad.features import _gabor_kernels

    assert (
        bank._CASE_REAL,
        bank._CASE_A_REAL,
        bank._CASE_B_REAL,
        bank._CASE_COMPLEX,
    ) == (
        _gabor_kernels.GABOR_REAL,
        _gabor_kernels.GABOR_A_REAL,
        _gabor_kernels.GABOR_B_REAL,
        _gabor_kernels.GABOR_COMPLEX,
    )
    cases = {g["members"]: g["case"] for g in _gabor_bank((0.25,), 4, 1.0, 3.0, 64, 64)}
    assert cases == {
        (0,): _gabor_kernels.GABOR_A_REAL,  # theta = 0: the column factor is the bare Gaussian
        (1, 3): _gabor_kernels.GABOR_COMPLEX,
        (2,): _gabor_kernels.GABOR_B_REAL,  # theta = pi / 2
    }


@pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="numba is not installed (pip install skbreastcad[fast])",
)
@pytest.mark.parametrize("shape", [(64, 64), (1, 5), (70, 3), (9, 63), (2, 1100)])
def test_numba_direct_filtering_equals_scikit_image(shape, monkeypatch):
    """The numba kernels filter directly (no band matrices): compared with
    skimage.filters.gabor itself on a square ROI, and on strips thinner than the
    largest kernel (reflected many times over) with the padded scipy.signal
    reference, where scipy.ndimage under skimage reads outside the array. Eight
    63 px wide images make a 504-value chunk row, whose padded stride is moved off
    4 KiB; 1100 px rows are longer than a row-pass block, which then holds one row."""
    from skbreastcad.utils._numba import use_numba

    monkeypatch.setenv("SKBREASTCAD_NUMBA", "1")
    assert use_numba()
    X = _images(8 if shape == (9, 63) else 2, shape, seed=11)
    est = GaborFeatures(allow_small_images=True).fit(X)
    assert {g["numba_method"] for g in est._bank()} == {"spatial"}
    got = est.transform(X)
    reference = _reference if shape == (64, 64) else _padded_reference
    for i in range(len(X)):
        assert_allclose(got[i], reference(X[i]), rtol=1e-6, atol=1e-9)


@pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="numba is not installed (pip install skbreastcad[fast])",
)
def test_tiny_images_give_the_same_magnitudes_with_numba(monkeypatch):
    # squaring responses near 1e-160 underflows; hypot (NumPy's complex abs) does not
    X = _images(2, (32, 32), seed=3).astype(np.float64) * 1e-160
    est = GaborFeatures(frequencies=(0.25,), n_orientations=2).fit(X)
    monkeypatch.setenv("SKBREASTCAD_NUMBA", "0")
    expected = est.transform(X)
    monkeypatch.setenv("SKBREASTCAD_NUMBA", "1")
    got = est.transform(X)
    means = [i for i, name in enumerate(est.get_feature_names_out()) if "mean" in name]
    assert (expected[:, means] > 0).all()
    assert_allclose(got[:, means], expected[:, means], rtol=1e-12)
