"""Gabor filter-bank texture features, batched and exact to scikit-image.

The estimator; the bank and its cost model are in ``_gabor_bank``, the
filtering in ``_gabor_filter`` and its numba kernels in ``_gabor_kernels``.
"""

import math
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs

from ..utils._batching import map_chunks, single_threaded_blas
from ..utils._docstrings import substitute_docs
from ..utils._sklearn_compat import Interval
from ._base import BaseImageTransformer
from ._gabor_bank import _gabor_bank, _kernel_shapes
from ._gabor_filter import _filter_chunk

__all__ = ["GaborFeatures"]

_STATISTICS = ("mean", "var", "std")
# Largest working set of one chunk of images, in bytes.
_CHUNK_BYTES = 4 * 2**20
_CHUNK_IMAGES = 8


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
