"""Gabor filter-bank texture features, batched and exact to scikit-image."""

import math
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils._param_validation import Interval
from threadpoolctl import threadpool_limits

from ..utils._batching import map_chunks
from ._base import BaseImageTransformer

__all__ = ["GaborFeatures"]

_STATISTICS = ("mean", "var", "std")
# Output rows (or columns) per band-matrix tile. Larger images are filtered in
# tiles so that the cost grows with the kernel size, not with the image size.
_TILE = 64
# Target working-set size of one chunk of images, in bytes.
_CHUNK_BYTES = 4 * 2**20


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
                [2 * h + 1 for h in _kernel_half_size(f, k * math.pi / n_orientations, bandwidth, n_stds)]
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
    # A tile of t outputs reads t + 2 * radius inputs: small kernels gain from
    # small tiles, but matrix products lose efficiency below about 32 rows.
    t = 32 if radius <= 8 else 64
    return n if n <= t + 2 * radius else t


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
        np.add.at(block, (np.broadcast_to(rows - i0, src.shape), src - lo), np.broadcast_to(weights, src.shape))
        tiles.append((i0, i1, lo, hi, block))
    return tiles


def _is_real(factor):
    # cos(pi / 2) is 6e-17, not 0: a factor whose imaginary part is at rounding
    # level is real for every purpose here (phase error below 1e-14 rad).
    return bool(np.abs(factor.imag).max() <= 1e-12 * np.abs(factor).max())


@lru_cache(maxsize=8)
def _gabor_bank(frequencies, n_orientations, bandwidth, n_stds, height, width):
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
        One per (frequency, orientation pair): ``members`` (orientation index
        and output column of each kernel; the second, if any, uses ``conj(B)``),
        ``row_tiles`` (tiles of ``B.T``, real part then imaginary part unless
        ``b_is_real``), ``col_tiles`` (tiles of ``Re A`` and ``Im A``) and
        ``a_is_real``.
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
                _kernel_half_size(frequency, thetas[partner], bandwidth, n_stds) != (y0, x0) or b_is_real
            ):
                partner = None  # support sizes differ by a rounding tie: no pairing
            row_tiles = []
            for j0, j1, lo, hi, blk in _band_tiles(b, width):
                parts = [blk.real] if b_is_real else [blk.real, blk.imag]
                row_tiles.append((j0, j1, lo, hi, np.ascontiguousarray(np.concatenate(parts, axis=0).T)))
            col_tiles = tuple(
                (i0, i1, lo, hi, np.ascontiguousarray(blk.real), np.ascontiguousarray(blk.imag))
                for i0, i1, lo, hi, blk in _band_tiles(a, height)
            )
            members = [(k, f_index * n_orientations + k)]
            done.add(k)
            if partner is not None:
                members.append((partner, f_index * n_orientations + partner))
                done.add(partner)
            groups.append(
                {
                    "members": tuple(members),
                    "row_tiles": tuple(row_tiles),
                    "col_tiles": col_tiles,
                    "a_is_real": a_is_real,
                    "b_is_real": b_is_real,
                }
            )
    return tuple(groups)


def _row_pass(X2, row_tiles, n_parts, out):
    """``out = X2 @ B.T``, parts (real, imaginary) side by side, from B's tiles."""
    if len(row_tiles) == 1:
        np.matmul(X2, row_tiles[0][4], out=out)
        return
    width = X2.shape[1]
    for j0, j1, lo, hi, block in row_tiles:
        tile = X2[:, lo:hi] @ block
        n_out = j1 - j0
        for part in range(n_parts):
            out[:, part * width + j0 : part * width + j1] = tile[:, part * n_out : (part + 1) * n_out]


def _col_pass(block_index, col_tiles, T2, out):
    """``out = A_part @ T2`` for one part (0 real, 1 imaginary) of A's tiles."""
    for i0, i1, lo, hi, *blocks in col_tiles:
        np.matmul(blocks[block_index], T2[lo:hi], out=out[i0:i1])


def _filter_chunk(images, mask, groups, statistics, n_kernels):
    """Statistics of every kernel's response magnitude for a chunk of images."""
    n, height, width = images.shape
    # (H, n, W) layout: the row pass output is directly the right operand of
    # one large column-pass product for the whole chunk.
    X2 = np.ascontiguousarray(images.transpose(1, 0, 2), dtype=np.float64).reshape(height * n, width)
    if mask is None:
        weights = None
        count = np.full(n, float(height * width))
    else:
        weights = np.ascontiguousarray(mask.transpose(1, 0, 2), dtype=np.float64)
        count = weights.sum(axis=(0, 2))
    T = np.empty((height * n, 2 * width))
    Pr = np.empty((height, n, 2 * width))
    Pi = np.empty((height, n, 2 * width))
    z = np.empty((height, n, width), dtype=np.complex128)
    mag = np.empty((height, n, width))
    out = np.empty((n, n_kernels, len(statistics)))
    for group in groups:
        n_parts = 1 if group["b_is_real"] else 2
        Tg = T[:, : n_parts * width]
        _row_pass(X2, group["row_tiles"], n_parts, Tg)
        T2 = Tg.reshape(height, n * n_parts * width)
        Pr2 = Pr.reshape(-1)[: T2.size].reshape(height, -1)
        Pi2 = Pi.reshape(-1)[: T2.size].reshape(height, -1)
        _col_pass(0, group["col_tiles"], T2, Pr2)
        if not group["a_is_real"]:
            _col_pass(1, group["col_tiles"], T2, Pi2)
        Pr3 = Pr2.reshape(height, n, n_parts * width)
        Pi3 = Pi2.reshape(height, n, n_parts * width)
        for slot, (_, column) in enumerate(group["members"]):
            if group["b_is_real"]:
                # response = A @ X @ B.T with real B: (Re A T) + i (Im A T)
                z.real[...] = Pr3
                z.imag[...] = 0.0 if group["a_is_real"] else Pi3
            elif group["a_is_real"]:
                # conj(B) for the partner does not change the magnitude
                z.real[...] = Pr3[..., :width]
                z.imag[...] = Pr3[..., width:]
            else:
                rr, ri = Pr3[..., :width], Pr3[..., width:]
                ir, ii = Pi3[..., :width], Pi3[..., width:]
                if slot == 0:
                    np.subtract(rr, ii, out=z.real)
                    np.add(ri, ir, out=z.imag)
                else:  # conj(B): the imaginary parts of X @ B.T change sign
                    np.add(rr, ii, out=z.real)
                    np.subtract(ir, ri, out=z.imag)
            np.abs(z, out=mag)
            _statistics(mag, weights, count, statistics, out[:, column])
    return out.reshape(n, -1)


def _statistics(mag, weights, count, statistics, out):
    if weights is not None:
        mag *= weights
    total = np.einsum("hnw->n", mag)
    mean = total / count
    if any(s != "mean" for s in statistics):
        var = np.einsum("hnw,hnw->n", mag, mag) / count - mean * mean
        # One pass loses digits when the spread is tiny next to the mean; redo
        # those images with numpy's two-pass formula.
        unsure = var <= 1e-7 * mean * mean
        for i in np.flatnonzero(unsure):
            m = mag[:, i]
            m = m[weights[:, i] > 0] if weights is not None else m
            var[i] = np.var(m)
    for j, name in enumerate(statistics):
        out[:, j] = mean if name == "mean" else var if name == "var" else np.sqrt(var)


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
    statistics : tuple of str, default=("mean", "var")
        Summaries of each response magnitude, from ``"mean"``, ``"var"``
        (population variance) and ``"std"``.
    allow_small_images : bool, default=False
        Images smaller than a kernel are an error by default: the reflect
        boundary then repeats the image several times inside one kernel
        window, so the response describes the mirrored tiling more than the
        image. When True such images are filtered anyway, with the same
        repeated reflection as :func:`skimage.filters.gabor`.
    image_shape : tuple of (int, int), default=None
        ``(height, width)`` of flattened input rows; see
        :func:`skbreastcad.utils.validate_images`.
    n_jobs : int, default=None
        Threads over chunks of images (joblib's meaning: None is 1, -1 all cores).
    verbose : int, default=0
        Show a progress bar over chunks when positive.

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
    their products. Arithmetic is float64. Values equal
    ``skimage.filters.gabor(image.astype(float), frequency, theta,
    bandwidth=bandwidth, n_stds=n_stds)`` to about 1e-12 relative. (On integer
    images scikit-image returns the responses in the image's integer dtype,
    which truncates them; we always filter in floating point.)

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
        "statistics": ["array-like"],
        "allow_small_images": ["boolean"],
    }

    def __init__(
        self,
        frequencies=(0.5, 0.25, 0.125, 0.1),
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
            isinstance(f, Real) and not isinstance(f, bool) and math.isfinite(f) and f > 0 for f in freqs
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
            self.frequencies_, int(self.n_orientations), float(self.bandwidth), float(self.n_stds), height, width
        )

    # -- hooks -----------------------------------------------------------------
    def _check_images(self, images):
        freqs = self._frequencies()
        self._statistics()
        height, width = images.shape[1:]
        shapes = _kernel_shapes(freqs, self.n_orientations, self.bandwidth, self.n_stds)
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

    def _fit(self, images, y, mask):
        self.frequencies_ = self._frequencies()
        self.statistics_ = self._statistics()
        self.kernel_shapes_ = _kernel_shapes(self.frequencies_, self.n_orientations, self.bandwidth, self.n_stds)
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
        chunk_size = max(1, _CHUNK_BYTES // (32 * height * width))

        def run(sl):
            return _filter_chunk(images[sl], None if mask is None else mask[sl], groups, self.statistics_, n_kernels)

        kwargs = dict(chunk_size=chunk_size, n_jobs=self.n_jobs, verbose=self.verbose, desc="Gabor")
        if effective_n_jobs(self.n_jobs) > 1:
            # Parallel over chunks; BLAS threads inside each would oversubscribe.
            with threadpool_limits(limits=1, user_api="blas"):
                return map_chunks(run, len(images), **kwargs)
        return map_chunks(run, len(images), **kwargs)

    def _feature_names(self):
        return [
            f"gabor_theta{k}_freq{f:g}_{stat}"
            for f in self.frequencies_
            for k in range(self.n_orientations)
            for stat in self.statistics_
        ]
