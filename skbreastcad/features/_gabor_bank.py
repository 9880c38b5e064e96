"""The Gabor filter bank: kernel geometry, separable factors and the cost model.

Each kernel of :func:`skimage.filters.gabor_kernel` with an isotropic envelope
is the outer product of a vertical and a horizontal complex 1-D filter. The
bank holds, per (frequency, orientation pair), those factors as band-matrix
tiles (the NumPy code), as correlation taps (the numba kernels) and as the
1-D filters (the FFT path), with the path a measured cost model chooses for
each. The filtering itself is in ``_gabor_filter``.
"""

import math
from functools import lru_cache

import numpy as np
import scipy.fft

# Which factors of a group are real (the numba kernels' GABOR_* cases, kept here
# so that building a bank does not import numba; a test checks they agree).
_CASE_REAL, _CASE_A_REAL, _CASE_B_REAL, _CASE_COMPLEX = range(4)
# Output rows (or columns) per band-matrix tile. Larger images are filtered in
# tiles so that the cost grows with the kernel size, not with the image size.
_TILE = 32
# Cost model of the two filtering paths (_choose_method), in ns on one core,
# fitted to both paths' times for 64-384 px images and 9-69 px kernels with
# NumPy 2.4 / SciPy 1.17 (OpenBLAS, pocketfft) on an AMD EPYC: per
# multiply-add of the band-matrix products and per pixel and kernel for the
# magnitude and its sums on the spatial path; per element and log2(size) of
# the padded spectrum and per pixel and kernel on the FFT path.
_MAC_NS, _MAGNITUDE_NS, _FFT_NS, _FFT_MAGNITUDE_NS = 0.063, 16.0, 1.2, 6.0
# The same for the numba kernels: per tap and response of the direct filtering
# (each tap counted, although folding halves the multiplies) and per pixel and
# kernel for the magnitude and its sums, measured on 64-256 px images with the
# default bank on the same machine.
_DIRECT_TAP_NS, _DIRECT_MAGNITUDE_NS = 0.09, 1.5


def _sigma(frequency, bandwidth):
    # skimage.filters._gabor._sigma_prefactor(bandwidth) / frequency
    b = bandwidth
    return 1.0 / math.pi * math.sqrt(math.log(2) / 2.0) * (2.0**b + 1) / (2.0**b - 1) / frequency


def _kernel_half_size(frequency, theta, bandwidth, n_stds):
    """``(y0, x0)`` of ``skimage.filters.gabor_kernel``: the kernel is ``(2*y0+1, 2*x0+1)``."""
    sigma = _sigma(frequency, bandwidth)
    ct, st = math.cos(theta), math.sin(theta)
    x0 = math.ceil(max(abs(n_stds * sigma * ct), abs(n_stds * sigma * st), 1))
    y0 = math.ceil(max(abs(n_stds * sigma * ct), abs(n_stds * sigma * st), 1))
    return y0, x0


def _kernel_shapes(frequencies, n_orientations, bandwidth, n_stds):
    """``(n_frequencies, n_orientations, 2)`` kernel ``(height, width)``."""
    return np.array(
        [
            [
                [
                    2 * h + 1
                    for h in _kernel_half_size(f, k * math.pi / n_orientations, bandwidth, n_stds)
                ]
                for k in range(n_orientations)
            ]
            for f in frequencies
        ]
    )


def _reflect(index, n):
    """``scipy.ndimage`` 'reflect' (numpy 'symmetric') index mapping, for any overhang."""
    index = np.mod(index, 2 * n)
    return np.where(index >= n, 2 * n - 1 - index, index)


def _tile_size(radius, n):
    # A tile of t outputs reads t + 2 * radius inputs: smaller tiles waste less
    # on the band's zeros, but matrix products lose efficiency below about 32
    # rows (32 measured best for 64x64 and 128x128 with the default bank).
    return n if n <= _TILE + 2 * radius else _TILE


def _band_tiles(weights, n):
    """Tiles of the ``(n, n)`` matrix of a 1-D convolution with reflect boundary.

    ``out[i] = sum_j weights[j] * x[reflect(i + r - j)]`` with ``r = len(weights) // 2``,
    which is ``scipy.ndimage.convolve1d(x, weights, mode="reflect")``. The matrix is
    banded (plus the reflected corners), so it is kept as row tiles, each with the
    contiguous range of input indices it reads: ``(i0, i1, lo, hi, block)`` with
    ``out[i0:i1] = block @ x[lo:hi]``.
    """
    r = len(weights) // 2
    size = _tile_size(r, n)
    tiles = []
    for i0 in range(0, n, size):
        i1 = min(i0 + size, n)
        rows = np.arange(i0, i1)[:, None]
        src = _reflect(rows + r - np.arange(len(weights))[None, :], n)
        lo, hi = int(src.min()), int(src.max()) + 1
        block = np.zeros((i1 - i0, hi - lo), dtype=weights.dtype)
        # Reflection can send several taps to one input pixel: accumulate.
        np.add.at(
            block,
            (np.broadcast_to(rows - i0, src.shape), src - lo),
            np.broadcast_to(weights, src.shape),
        )
        tiles.append((i0, i1, lo, hi, block))
    return tiles


def _is_real(factor):
    # cos(pi / 2) is 6e-17, not 0: a factor whose imaginary part is at rounding
    # level is real for every purpose here (phase error below 1e-14 rad).
    return bool(np.abs(factor.imag).max() <= 1e-12 * np.abs(factor).max())


def _fft_shape(y0, x0, height, width):
    """FFT size that holds an image reflect-padded by ``(y0, x0)`` without wrap-around."""
    return (
        scipy.fft.next_fast_len(height + 2 * y0, real=False),
        scipy.fft.next_fast_len(width + 2 * x0, real=False),
    )


def _fft_transform_ns(group, height, width):
    """Estimated cost of one FFT of the padded image for this group's kernels."""
    size = math.prod(_fft_shape(*group["radius"], height, width))
    return _FFT_NS * size * math.log2(size)


def _choose_method(group, height, width):
    """``"spatial"`` or ``"fft"``: the path this group's kernels are cheaper on.

    The band-matrix products cost in proportion to the kernel size; one
    inverse FFT per kernel costs ``size * log2(size)`` of the padded image,
    whatever the kernel. The forward FFT of the image is shared by all FFT
    groups and left out.
    """
    members = len(group["members"])
    spatial = _MAC_NS * group["macs"] + _MAGNITUDE_NS * members * height * width
    fft = members * (_fft_transform_ns(group, height, width) + _FFT_MAGNITUDE_NS * height * width)
    return "fft" if fft < spatial else "spatial"


def _choose_numba_methods(groups, height, width):
    """:func:`_choose_method` for the numba kernels, for all groups at once.

    Direct filtering is cheap enough that the shared forward FFT decides: the
    groups whose inverse FFTs and magnitudes cost less than their direct
    filtering go to the FFT only if, together, they save more than one forward
    FFT of the image padded for the largest of them.
    """
    saving = []
    for group in groups:
        members = len(group["members"])
        direct = (_DIRECT_TAP_NS * group["direct_taps"] + _DIRECT_MAGNITUDE_NS * members) * (
            height * width
        )
        fft = members * (
            _fft_transform_ns(group, height, width) + _FFT_MAGNITUDE_NS * height * width
        )
        saving.append(direct - fft)
    chosen = [g for g, s in zip(groups, saving) if s > 0]
    forward = max((_fft_transform_ns(g, height, width) for g in chosen), default=0.0)
    go = bool(chosen) and sum(s for s in saving if s > 0) > forward
    return ["fft" if go and s > 0 else "spatial" for s in saving]


def _tile_macs(tiles, n_other, parts):
    return sum(parts * (i1 - i0) * (hi - lo) * n_other for i0, i1, lo, hi, *_ in tiles)


@lru_cache(maxsize=8)
def _gabor_bank(frequencies, n_orientations, bandwidth, n_stds, height, width, method="auto"):
    """Build (once per settings and image shape) the separable filter bank.

    A Gabor kernel with an isotropic Gaussian envelope, as
    ``skimage.filters.gabor_kernel`` builds when only ``bandwidth`` is given, is an
    outer product ``a(y) * b(x)`` with ``a(y) = exp(-y**2 / 2 sigma**2 + 2j pi f y
    sin(theta))`` and ``b(x) = exp(-x**2 / 2 sigma**2 + 2j pi f x cos(theta)) / (2 pi
    sigma**2)``, on skimage's rectangular support. So the response of an image ``X``
    is ``A @ X @ B.T``, with the reflect boundary folded into the banded matrices
    ``A`` and ``B``. Orientations ``theta`` and ``pi - theta`` share ``A`` and have
    conjugate ``B``, so one set of real products serves both.

    Returns
    -------
    groups : tuple of dict
        One per (frequency, orientation pair): ``members`` (output column of
        each kernel; the second, if any, uses ``conj(B)``), ``a_tiles`` (row
        tiles ``(i0, i1, lo, hi, Re A block, Im A block or None)``), ``b_tiles``
        (``(j0, j1, lo, hi, Re B block.T, Im B block.T or None)``); an imaginary
        part is None when it is zero; ``a`` and ``b`` (the 1-D filters),
        ``radius`` (``(y0, x0)``), ``macs`` (multiply-adds of the band-matrix
        products per image) and ``method`` (``"spatial"`` or ``"fft"``: the
        given ``method``, or with ``"auto"`` the cheaper one by
        :func:`_choose_method`); for the numba kernels, ``a_taps`` and
        ``b_taps`` (correlation weights ``[Re, Im]``), ``case`` (which
        factors are real), ``direct_taps`` (taps per pixel of direct
        filtering) and ``numba_method`` (the same choice with their costs,
        by :func:`_choose_numba_methods`).
    """
    groups = []
    for f_index, frequency in enumerate(frequencies):
        sigma = _sigma(frequency, bandwidth)
        thetas = [k * math.pi / n_orientations for k in range(n_orientations)]
        done = set()
        for k, theta in enumerate(thetas):
            if k in done:
                continue
            y0, x0 = _kernel_half_size(frequency, theta, bandwidth, n_stds)
            x = np.arange(-x0, x0 + 1)
            y = np.arange(-y0, y0 + 1)
            b = np.exp(-0.5 * x**2 / sigma**2 + 2j * math.pi * frequency * math.cos(theta) * x)
            b /= 2 * math.pi * sigma * sigma
            a = np.exp(-0.5 * y**2 / sigma**2 + 2j * math.pi * frequency * math.sin(theta) * y)
            a_is_real, b_is_real = _is_real(a), _is_real(b)
            partner = n_orientations - k if 0 < k < n_orientations - k else None
            if partner is not None and (
                _kernel_half_size(frequency, thetas[partner], bandwidth, n_stds) != (y0, x0)
                or b_is_real
            ):
                partner = None  # support sizes differ by a rounding tie: no pairing
            a_tiles = tuple(
                (
                    i0,
                    i1,
                    lo,
                    hi,
                    np.ascontiguousarray(blk.real),
                    None if a_is_real else np.ascontiguousarray(blk.imag),
                )
                for i0, i1, lo, hi, blk in _band_tiles(a, height)
            )
            b_tiles = tuple(
                (
                    j0,
                    j1,
                    lo,
                    hi,
                    np.ascontiguousarray(blk.real.T),
                    None if b_is_real else np.ascontiguousarray(blk.imag.T),
                )
                for j0, j1, lo, hi, blk in _band_tiles(b, width)
            )
            members = [f_index * n_orientations + k]
            done.add(k)
            if partner is not None:
                members.append(f_index * n_orientations + partner)
                done.add(partner)
            n_a = 1 if a_is_real else 2
            macs = _tile_macs(a_tiles, width, n_a) + _tile_macs(
                b_tiles, height, n_a * (1 if b_is_real else 2)
            )
            n_b = 1 if b_is_real else 2
            group = {
                "members": tuple(members),
                "a_tiles": a_tiles,
                "b_tiles": b_tiles,
                "a": a,
                "b": b,
                "radius": (y0, x0),
                "macs": macs,
                # correlation weights [Re, Im] of the flipped factors, for the
                # numba kernels (Re is symmetric and Im antisymmetric: exactly so,
                # cos and sin of -x being those of x to the bit)
                "a_taps": np.concatenate([a.real[::-1], a.imag[::-1]]),
                "b_taps": np.concatenate([b.real[::-1], b.imag[::-1]]),
                "case": (
                    (_CASE_REAL if b_is_real else _CASE_A_REAL)
                    if a_is_real
                    else (_CASE_B_REAL if b_is_real else _CASE_COMPLEX)
                ),
                "direct_taps": n_a * len(a) + n_a * n_b * len(b),
            }
            group["method"] = _choose_method(group, height, width) if method == "auto" else method
            groups.append(group)
    numba_methods = (
        _choose_numba_methods(groups, height, width) if method == "auto" else [method] * len(groups)
    )
    for group, numba_method in zip(groups, numba_methods):
        group["numba_method"] = numba_method
    return tuple(groups)
