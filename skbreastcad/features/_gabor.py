"""Gabor filter-bank texture features, batched and exact to scikit-image."""

import math
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
import scipy.fft
from joblib import effective_n_jobs

from ..utils._batching import map_chunks, single_threaded_blas
from ..utils._docstrings import substitute_docs
from ..utils._numba import use_numba
from ..utils._sklearn_compat import Interval
from ._base import BaseImageTransformer

__all__ = ["GaborFeatures"]

_STATISTICS = ("mean", "var", "std")
# Which factors of a group are real (the numba kernels' GABOR_* cases, kept here
# so that building a bank does not import numba).
_CASE_REAL, _CASE_A_REAL, _CASE_B_REAL, _CASE_COMPLEX = range(4)
# Output rows (or columns) per band-matrix tile. Larger images are filtered in
# tiles so that the cost grows with the kernel size, not with the image size.
_TILE = 32
# Largest working set of one chunk of images, in bytes.
_CHUNK_BYTES = 4 * 2**20
_CHUNK_IMAGES = 8
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


class _Buffers:
    """Work arrays of one chunk, reused by every group."""

    def __init__(self, height, n, width):
        self.C = np.empty((2, height, n * width))
        self.Rr = np.empty(2 * height * n * width)
        self.Ri = np.empty_like(self.Rr)
        self.z = np.empty(height * n * width, dtype=np.complex128)
        self.mag = np.empty(height * n * width)


def _group_products(X2d, height, n, width, group, buf):
    """Yield ``(j0, j1, a, b, c, d)`` per column tile of a group's band-matrix products.

    ``X2d`` is the chunk as ``(height, n * width)``. Column pass first:
    ``C = [Re A @ X; Im A @ X]``, shared by ``theta`` and ``pi - theta``; then the
    row pass of each tile, ``R = C @ B_tile``: ``a = Re A X Re B``, ``b = Re A X
    Im B``, ``c = Im A X Re B``, ``d = Im A X Im B``, each a contiguous ``(height *
    n, j1 - j0)`` view into ``buf`` (rows ``y * n + image``), or None where ``A``
    or ``B`` is real; valid until the next iteration.
    """
    a_imag = group["a_tiles"][0][5] is not None
    n_a = 2 if a_imag else 1
    for i0, i1, lo, hi, a_re, a_im in group["a_tiles"]:
        np.matmul(a_re, X2d[lo:hi], out=buf.C[0, i0:i1])
        if a_imag:
            np.matmul(a_im, X2d[lo:hi], out=buf.C[1, i0:i1])
    C2 = buf.C[:n_a].reshape(n_a * height * n, width)
    half = height * n
    for j0, j1, lo, hi, b_re, b_im in group["b_tiles"]:
        t = j1 - j0
        rows = C2.shape[0]
        Rr = buf.Rr[: rows * t].reshape(rows, t)
        np.matmul(C2[:, lo:hi], b_re, out=Rr)
        a, c = Rr[:half], (Rr[half:] if a_imag else None)
        if b_im is not None:
            Ri = buf.Ri[: rows * t].reshape(rows, t)
            np.matmul(C2[:, lo:hi], b_im, out=Ri)
            b, d = Ri[:half], (Ri[half:] if a_imag else None)
        else:
            b = d = None
        yield j0, j1, a, b, c, d


def _group_magnitudes(X2d, height, n, width, group, buf):
    """Yield ``(j0, j1, slot, magnitude)`` per column tile and member kernel of a group.

    The products of :func:`_group_products` make the complex responses. Every
    block of them is a contiguous ``(height * n, tile width)`` array, so the
    complex arithmetic below runs on long contiguous runs. ``magnitude`` is a
    ``(height, n, j1 - j0)`` view into ``buf``, valid (and free to overwrite)
    until the next iteration.
    """
    half = height * n
    for j0, j1, a, b, c, d in _group_products(X2d, height, n, width, group, buf):
        t = j1 - j0
        z = buf.z[: half * t].reshape(half, t)
        mag = buf.mag[: half * t].reshape(half, t)
        for slot in range(len(group["members"])):
            if b is None and c is None:
                np.abs(a, out=mag)
            elif c is None:  # A real: theta and pi - theta have the same magnitude
                _cabs(a, b, z, mag)
            elif b is None:  # B real
                _cabs(a, c, z, mag)
            elif slot == 0:  # A X B = (a - d) + i (b + c)
                np.subtract(a, d, out=z.real)
                np.add(b, c, out=z.imag)
                np.abs(z, out=mag)
            else:  # A X conj(B) = (a + d) + i (c - b)
                np.add(a, d, out=z.real)
                np.subtract(c, b, out=z.imag)
                np.abs(z, out=mag)
            yield j0, j1, slot, mag.reshape(height, n, t)


def _cabs(re, im, z, mag):
    # np.abs of complex numbers is several times faster than np.hypot
    z.real[...] = re
    z.imag[...] = im
    np.abs(z, out=mag)


def _fft_responses(images, groups):
    """Yield ``(column, response)`` of every kernel of the FFT ``groups``.

    The chunk is reflect-padded (numpy's ``'symmetric'``, to any depth, as the
    band matrices fold it) by the largest radius of these groups and
    transformed once. A kernel ``a(y) b(x)`` has the separable spectrum
    ``A(u) B(v)``, so no 2-D kernel is stored; each kernel costs one inverse
    FFT, whose valid part is the response: a complex ``(n, height, width)``
    view, valid until the next iteration.
    """
    n, height, width = images.shape
    y_pad = max(g["radius"][0] for g in groups)
    x_pad = max(g["radius"][1] for g in groups)
    shape = _fft_shape(y_pad, x_pad, height, width)
    padded = np.pad(
        np.asarray(images, dtype=np.float64),
        ((0, 0), (y_pad, y_pad), (x_pad, x_pad)),
        mode="symmetric",
    )
    spectrum = scipy.fft.fft2(padded, s=shape, workers=1)
    # A kernel of radius r placed at [pad - r, pad + r]: output pixel i is the
    # full convolution's index i + 2 * pad.
    rows = slice(2 * y_pad, 2 * y_pad + height)
    cols = slice(2 * x_pad, 2 * x_pad + width)

    def placed(weights, pad, size):
        r = len(weights) // 2
        frame = np.zeros(size, dtype=np.complex128)
        frame[pad - r : pad + r + 1] = weights
        return scipy.fft.fft(frame, workers=1)

    # Work arrays reused by every kernel: fresh multi-megabyte arrays cost a
    # page fault per 4 KiB.
    column_filtered = np.empty_like(spectrum)
    product = np.empty_like(spectrum)
    for group in groups:
        np.multiply(spectrum, placed(group["a"], y_pad, shape[0])[:, None], out=column_filtered)
        b = group["b"]
        for column, weights in zip(group["members"], (b, np.conj(b))):
            np.multiply(column_filtered, placed(weights, x_pad, shape[1]), out=product)
            response = scipy.fft.ifft2(product, workers=1, overwrite_x=True)
            yield column, response[:, rows, cols]


def _fft_magnitudes(images, groups):
    """Yield ``(column, magnitude)`` of every kernel of the FFT ``groups``.

    ``magnitude`` is an ``(n, height, width)`` array, reused by every kernel.
    """
    magnitude = np.empty(images.shape)
    for column, response in _fft_responses(images, groups):
        np.abs(response, out=magnitude)
        yield column, magnitude


def _filter_chunk(images, mask, groups, statistics, n_kernels):
    """Statistics of every kernel's response magnitude for a chunk of images."""
    n, height, width = images.shape
    # the kernels' sqrt(re^2 + im^2) underflows for responses below ~1e-154, where
    # NumPy's hypot does not: images that small take the NumPy code
    peak = max(-float(images.min(initial=0.0)), float(images.max(initial=0.0)))  # no copy
    compiled = use_numba() and not 0.0 < peak < 1e-100
    key = "numba_method" if compiled else "method"
    fft_groups = [g for g in groups if g[key] == "fft"]
    groups = [g for g in groups if g[key] != "fft"]
    if compiled and not groups:
        X2d = None  # every group goes to the FFT, which reads the images
    elif compiled:
        # rows a multiple of 4 KiB apart would evict each other from L1 in the column pass
        stride = n * width + 8
        stride += 8 if stride % 512 == 0 else 0
        X2d = np.empty((height, stride))
        X2d[:, : n * width].reshape(height, n, width)[...] = images.transpose(1, 0, 2)
    else:
        X2d = np.ascontiguousarray(images.transpose(1, 0, 2), dtype=np.float64).reshape(
            height, n * width
        )
    if mask is None:
        weights, count = None, np.full(n, float(height * width))
    else:
        weights = np.ascontiguousarray(mask.transpose(1, 0, 2), dtype=np.float64)
        count = weights.sum(axis=(0, 2))
    need_var = any(s != "mean" for s in statistics)
    sums = np.zeros((n_kernels, 2, n))
    if compiled:
        _compiled_sums(images, mask, X2d, weights, groups, fft_groups, sums)
    else:
        buf = _Buffers(height, n, width)
        _numpy_sums(images, mask, X2d, weights, groups, fft_groups, buf, sums, need_var)
    groups = groups + fft_groups  # for the two-pass variance below
    mean = sums[:, 0] / count
    var = np.maximum(sums[:, 1] / count - mean * mean, 0.0)
    if need_var:
        # One pass loses digits when the spread is tiny next to the mean; redo
        # those (rare: near-constant responses) with numpy's two-pass formula.
        # A zero mean needs no redo: every magnitude is 0, and so is the variance.
        for column, i in zip(*np.nonzero((var <= 1e-7 * mean * mean) & (mean > 0))):
            var[column, i] = _exact_var(
                images[i], None if mask is None else mask[i], groups, column
            )
    out = np.empty((n, n_kernels, len(statistics)))
    for j, name in enumerate(statistics):
        out[:, :, j] = (mean if name == "mean" else var if name == "var" else np.sqrt(var)).T
    return out.reshape(n, -1)


def _numpy_sums(images, mask, X2d, weights, groups, fft_groups, buf, sums, need_var):
    """Add each kernel's per-image sums of magnitudes (and squares) to ``sums``."""
    n, height, width = images.shape
    tile_weights = {}
    ones = np.ones(height)
    for group in groups:
        for j0, j1, slot, mag in _group_magnitudes(X2d, height, n, width, group, buf):
            if weights is not None:
                if (j0, j1) not in tile_weights:
                    tile_weights[j0, j1] = np.ascontiguousarray(weights[:, :, j0:j1])
                mag *= tile_weights[j0, j1]
            column = group["members"][slot]
            # per-image sums: a matrix-vector product over rows, then the tile
            sums[column, 0] += (ones @ mag.reshape(height, -1)).reshape(n, -1).sum(axis=1)
            if need_var:
                np.square(mag, out=mag)
                sums[column, 1] += (ones @ mag.reshape(height, -1)).reshape(n, -1).sum(axis=1)
    if fft_groups:
        roi = None if mask is None else mask.astype(np.float64)
        for column, mag in _fft_magnitudes(images, fft_groups):
            if roi is not None:
                mag *= roi
            flat = mag.reshape(n, -1)
            sums[column, 0] += flat.sum(axis=1)
            if need_var:
                sums[column, 1] += np.einsum("ij,ij->i", flat, flat)


def _compiled_sums(images, mask, X2d, weights, groups, fft_groups, sums):
    """:func:`_numpy_sums` with numba: direct separable filtering (no band
    matrices), the magnitudes and both sums in one pass, without temporaries.
    ``X2d`` is the chunk's rows, each padded to a stride that is not a multiple
    of 4 KiB."""
    from . import _gabor_kernels

    n, height, width = images.shape
    if groups:
        _gabor_kernels.gabor_sums(
            X2d.reshape(-1),
            X2d.shape[1],
            n,
            width,
            np.concatenate([g["a_taps"] for g in groups]),
            np.cumsum([0] + [len(g["a_taps"]) for g in groups]),
            np.concatenate([g["b_taps"] for g in groups]),
            np.cumsum([0] + [len(g["b_taps"]) for g in groups]),
            np.array([g["case"] for g in groups], dtype=np.int64),
            np.array([(g["members"] + (-1,))[:2] for g in groups], dtype=np.int64),
            np.ones((1, 1, 1)) if weights is None else weights,
            weights is not None,
            sums,
        )
    if fft_groups:
        roi = np.ones((1, 1, 1)) if mask is None else mask.astype(np.float64)
        for column, response in _fft_responses(images, fft_groups):
            _gabor_kernels.complex_abs_sums(response, roi, mask is not None, sums[column])


def _exact_var(image, mask, groups, column):
    """Two-pass variance of one kernel's response magnitude on one image."""
    height, width = image.shape
    group = next(g for g in groups if column in g["members"])
    slot = group["members"].index(column)
    X2d = np.asarray(image, dtype=np.float64)
    full = np.empty((height, width))
    for j0, j1, s, mag in _group_magnitudes(
        X2d, height, 1, width, group, _Buffers(height, 1, width)
    ):
        if s == slot:
            full[:, j0:j1] = mag[:, 0]
    return float(np.var(full if mask is None else full[mask]))


@substitute_docs()
class GaborFeatures(BaseImageTransformer):
    """Mean and variance of Gabor filter-bank response magnitudes.

    Each image is filtered with the complex Gabor kernels of
    :func:`skimage.filters.gabor_kernel` for ``n_orientations`` orientations
    ``theta = k * pi / n_orientations`` and every frequency in ``frequencies``,
    with the reflect boundary of :func:`skimage.filters.gabor`. For each
    kernel the magnitude ``hypot(real, imag)`` of the response is summarised by
    ``statistics``. The defaults are the study's: 8 orientations x 4
    frequencies x (mean, variance) = 64 features.

    Parameters
    ----------
    frequencies : array-like of float, default=(0.5, 0.25, 0.125, 0.1)
        Spatial frequencies of the harmonic, in cycles per pixel (distinct and
        positive).
    n_orientations : int, default=8
        Number of orientations, evenly spaced over ``[0, pi)``.
    bandwidth : float, default=1
        Bandwidth in octaves; sets the Gaussian envelope's standard deviation
        as in :func:`skimage.filters.gabor_kernel`.
    n_stds : float, default=3
        The kernel extends ``n_stds`` standard deviations of the envelope, as in
        :func:`skimage.filters.gabor_kernel`.
    statistics : str or tuple of str, default=("mean", "var")
        Summaries of each response magnitude, from ``"mean"``, ``"var"``
        (population variance) and ``"std"``.
    allow_small_images : bool, default=False
        Images smaller than a kernel are an error by default: the reflect
        boundary then repeats the image several times inside one kernel
        window, so the response describes the mirrored tiling more than the
        image. When True such images are filtered anyway, with repeated
        reflection (numpy's ``'symmetric'`` padding, to any depth), which is
        what :func:`skimage.filters.gabor` computes wherever
        :func:`scipy.ndimage.convolve` gets it right (see Notes).
    {image_shape}
    {n_jobs}
    {verbose}

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels of the images seen in ``fit``.
    image_shape_ : tuple of (int, int)
        Image shape seen in ``fit``.
    kernel_shapes_ : ndarray of shape (n_frequencies, n_orientations, 2)
        ``(height, width)`` of each kernel.

    See Also
    --------
    skimage.filters.gabor : Per-image Gabor filtering, the reference these
        values equal.

    Notes
    -----
    The envelope is isotropic, so each kernel is the outer product of a
    vertical and a horizontal complex 1-D filter and the response of a whole
    batch is two matrix products, ``A @ X @ B``, with the reflect boundary folded
    into the banded matrices ``A`` and ``B``. These are built once per settings
    and image shape and cached; orientations ``theta`` and ``pi - theta`` share
    their products. With numba installed (``skbreastcad[fast]``), compiled
    kernels filter with the same 1-D factors directly instead, folding their
    symmetric and antisymmetric halves (docs/gabor.md). Arithmetic is float64. Values equal
    ``skimage.filters.gabor(image.astype(float), frequency, theta,
    bandwidth=bandwidth, n_stds=n_stds)`` to about 1e-12 relative. (On integer
    images scikit-image returns the responses in the image's integer dtype,
    which truncates them; we always filter in floating point.)

    For images much smaller than a kernel, :func:`scipy.ndimage.convolve`
    (under :func:`skimage.filters.gabor`; seen with scipy 1.17) returns wrong
    values read from outside the array once a kernel overhangs a side of 2 or
    more pixels by several periods (e.g. a 29x29 kernel on a 3x2 image); our
    values there equal numpy's ``'symmetric'`` padding followed by a direct
    convolution.

    With ``mask``, the whole image is filtered and the statistics are taken
    over the ROI pixels only, so pixels just outside the ROI still inform the
    response at its border. A mask that selects no pixel is an error.

    References
    ----------
    .. [1] A. K. Jain and F. Farrokhnia, "Unsupervised texture segmentation
       using Gabor filters", Pattern Recognition 24(12):1167-1186, 1991.
       :doi:`10.1016/0031-3203(91)90143-S`
    .. [2] S. van der Walt et al., "scikit-image: image processing in Python",
       PeerJ 2:e453, 2014. :doi:`10.7717/peerj.453`

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.features import GaborFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(5, 64, 64), dtype=np.uint8)
    >>> gabor = GaborFeatures().fit(X)
    >>> gabor.transform(X).shape
    (5, 64)
    >>> gabor.get_feature_names_out()[:3].tolist()
    ['gabor_theta0_freq0.5_mean', 'gabor_theta0_freq0.5_var', 'gabor_theta1_freq0.5_mean']
    """

    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "frequencies": ["array-like"],
        "n_orientations": [Interval(Integral, 1, None, closed="left")],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "n_stds": [Interval(Real, 0, None, closed="neither")],
        "statistics": [str, "array-like"],
        "allow_small_images": ["boolean"],
    }

    def __init__(
        self,
        frequencies=(0.5, 0.25, 0.125, 0.1),
        *,
        n_orientations=8,
        bandwidth=1,
        n_stds=3,
        statistics=("mean", "var"),
        allow_small_images=False,
        image_shape=None,
        n_jobs=None,
        verbose=0,
    ):
        self.frequencies = frequencies
        self.n_orientations = n_orientations
        self.bandwidth = bandwidth
        self.n_stds = n_stds
        self.statistics = statistics
        self.allow_small_images = allow_small_images
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- parameters ------------------------------------------------------------
    def _frequencies(self):
        freqs = np.asarray(self.frequencies, dtype=object).ravel()
        if freqs.size == 0 or not all(
            isinstance(f, Real) and not isinstance(f, bool) and math.isfinite(f) and f > 0
            for f in freqs
        ):
            raise ValueError(
                "frequencies must be a non-empty sequence of positive finite floats "
                f"(cycles per pixel, e.g. (0.5, 0.25, 0.125, 0.1)); got {self.frequencies!r}."
            )
        freqs = tuple(float(f) for f in freqs)
        if len(set(freqs)) != len(freqs):
            raise ValueError(f"frequencies must be distinct; got {self.frequencies!r}.")
        return freqs

    def _statistics(self):
        stats = (self.statistics,) if isinstance(self.statistics, str) else tuple(self.statistics)
        unknown = [s for s in stats if not isinstance(s, str) or s not in _STATISTICS]
        if not stats or unknown or len(set(stats)) != len(stats):
            raise ValueError(
                f"statistics must be distinct names from {list(_STATISTICS)}; got "
                f"{self.statistics!r}" + (f" (unknown: {unknown})." if unknown else ".")
            )
        return stats

    def _bank(self):
        height, width = self.image_shape_
        return _gabor_bank(
            self.frequencies_,
            int(self.n_orientations),
            float(self.bandwidth),
            float(self.n_stds),
            height,
            width,
        )

    # -- hooks -----------------------------------------------------------------
    def _value_limit(self, image_shape):
        # Sums of squared responses over all pixels; a response is at most the
        # grey level times the kernel's L1 norm (below 4 for any bank).
        return math.sqrt(np.finfo(np.float64).max / max(1, math.prod(image_shape))) / 4

    def _fit(self, images, y, mask):
        freqs = self._frequencies()
        statistics = self._statistics()
        shapes = _kernel_shapes(freqs, self.n_orientations, self.bandwidth, self.n_stds)
        height, width = images.shape[1:]
        if not self.allow_small_images:
            too_big = (shapes[..., 0] > height) | (shapes[..., 1] > width)
            if too_big.any():
                # Name the largest kernel: the size the images must reach.
                fi, k = np.unravel_index(np.argmax(shapes.prod(axis=-1)), too_big.shape)
                raise ValueError(
                    f"Images of shape {(height, width)} are smaller than the Gabor kernel "
                    f"of frequency {freqs[fi]:g} (theta index {k}), which is "
                    f"{tuple(int(v) for v in shapes[fi, k])} pixels. Use larger images or "
                    "higher frequencies, or set allow_small_images=True to filter them "
                    "with repeated reflection as skimage.filters.gabor does."
                )
        self.frequencies_ = freqs
        self.statistics_ = statistics
        self.kernel_shapes_ = shapes
        self._bank()  # build and cache the filter bank now, not in the first transform

    def _transform(self, images, mask):
        if mask is not None:
            empty = np.flatnonzero(~mask.any(axis=(1, 2)))
            if empty.size:
                raise ValueError(
                    f"The mask of image {int(empty[0])} selects no pixel; Gabor statistics "
                    "need at least one ROI pixel per image."
                )
        groups = self._bank()
        n_kernels = len(self.frequencies_) * self.n_orientations
        height, width = images.shape[1:]
        # About 8 images amortise the NumPy code's per-group Python work (and give
        # the numba kernels long rows); fewer for large images.
        chunk_size = max(1, min(_CHUNK_IMAGES, _CHUNK_BYTES // (32 * height * width)))

        def run(sl):
            return _filter_chunk(
                images[sl], None if mask is None else mask[sl], groups, self.statistics_, n_kernels
            )

        kwargs = dict(chunk_size=chunk_size, n_jobs=self.n_jobs, verbose=self.verbose, desc="Gabor")
        if effective_n_jobs(self.n_jobs) > 1:
            # Parallel over chunks; BLAS threads inside each would oversubscribe.
            with single_threaded_blas():
                return map_chunks(run, len(images), **kwargs)
        return map_chunks(run, len(images), **kwargs)

    def _feature_names(self):
        return [
            f"gabor_theta{k}_freq{f:g}_{stat}"
            for f in self.frequencies_
            for k in range(self.n_orientations)
            for stat in self.statistics_
        ]
