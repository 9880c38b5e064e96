"""Filtering a chunk of images with the Gabor bank, and the statistics of the magnitudes.

The NumPy code multiplies the bank's band matrices (or uses one FFT of the
chunk per kernel, for the groups the cost model sends there), in reused
scratch buffers; with numba (the ``fast`` extra) the compiled kernels of
``_gabor_kernels`` filter directly instead. ``SKBREASTCAD_NUMBA=0`` forces the
NumPy code.
"""

import numpy as np
import scipy.fft

from ..utils._numba import use_numba
from ._gabor_bank import _fft_shape


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
