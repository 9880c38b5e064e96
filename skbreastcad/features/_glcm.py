"""Grey-level co-occurrence matrix (GLCM) features, as the IBSI defines them.

A chunk of the batch is processed at once: the neighbour pairs of every image,
distance and direction become integer cell codes in the smallest unsigned type,
one row per matrix, counted in one pass by the cheapest of ``np.bincount`` over
a table of every cell (few grey levels or large images; ordered pairs, the
table made symmetric afterwards), a row-wise radix sort of 16-bit codes (8-bit
levels) or NumPy's sort (more levels), chosen per chunk by a measured cost
model (:func:`_counting_method`). Features are evaluated on the non-zero cells
and on the 1-D marginal, sum and difference distributions, never on dense
``N_g x N_g`` matrices, so 256 or 65536 grey levels cost little more than 32.
With numba installed (the ``fast`` extra), compiled kernels count each matrix
in a table and compute its features in one pass (``_glcm_kernels.py``), with the
same values; ``SKBREASTCAD_NUMBA=0`` forces the NumPy code.
"""

import math
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from scipy.special import xlogy

from ..utils._batching import map_chunks
from ..utils._docstrings import substitute_docs
from ..utils._numba import ENV_VAR, use_numba
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import BaseImageTransformer

__all__ = ["GLCMFeatures", "GLCM_FEATURE_NAMES"]

#: The 25 IBSI GLCM features, in the manual's order, with their IBSI codes.
IBSI_CODES = {
    "joint_maximum": "GYBY",
    "joint_average": "60VM",
    "joint_variance": "UR99",
    "joint_entropy": "TU9B",
    "difference_average": "TF7R",
    "difference_variance": "D3YU",
    "difference_entropy": "NTRS",
    "sum_average": "ZGXS",
    "sum_variance": "OEEB",
    "sum_entropy": "P6QZ",
    "angular_second_moment": "8ZQL",
    "contrast": "ACUI",
    "dissimilarity": "8S9J",
    "inverse_difference": "IB1Z",
    "normalised_inverse_difference": "NDRX",
    "inverse_difference_moment": "WF0Z",
    "normalised_inverse_difference_moment": "1QCO",
    "inverse_variance": "E8JP",
    "correlation": "NI2N",
    "autocorrelation": "QWB0",
    "cluster_tendency": "DG8W",
    "cluster_shade": "7NFM",
    "cluster_prominence": "AE86",
    "information_correlation_1": "R8DG",
    "information_correlation_2": "JN9H",
}
GLCM_FEATURE_NAMES = tuple(IBSI_CODES)
"""The 25 IBSI GLCM feature names, in output order."""
_FEATURE_INDEX = {name: i for i, name in enumerate(GLCM_FEATURE_NAMES)}
# Features that need the individual matrix cells; all others follow from the
# marginal, sum and difference distributions, which are much cheaper.
_CELL_FEATURES = frozenset(
    {
        "joint_maximum",
        "joint_entropy",
        "angular_second_moment",
        "information_correlation_1",
        "information_correlation_2",
    }
)

_LN2 = math.log(2.0)
# Pixel pairs per chunk: enough to amortise NumPy's per-call cost over many
# matrices, few enough that a chunk's codes stay in cache.
_PAIR_BUDGET = 1 << 20
# Sorting and the per-cell feature arithmetic want a chunk's cells in the L2 cache.
_PAIR_BUDGET_SORT = 1 << 18
# Cost model of the counting (_counting_method), in ns on one core, measured
# with NumPy 2.4 on an AMD EPYC: np.bincount per pair and per table cell
# (allocation, zeroing and the scan for non-zero cells), a row-wise radix sort
# of 16-bit codes and NumPy's default sort of 32-bit codes, per pair.
_BINCOUNT_NS, _TABLE_CELL_NS, _RADIX_NS, _SORT_NS = 2.5, 4.0, 8.0, 16.0
# Table cells per block of matrices made symmetric at once.
_TABLE_BUDGET = 1 << 17
# Pixel pairs coded and counted at once by np.bincount: their intp codes stay
# in the L2 cache.
_PIECE_PAIRS = 1 << 15
# Elements of the per-matrix distributions (2 * N_g per matrix) per chunk.
_DENSE_BUDGET = 1 << 22
_MAX_LEVELS = 65536
# Largest bits of the levels that the numba kernels count (in a dense table of
# 4**bits cells; more levels are sorted by NumPy), and whose features they
# compute (from dense distributions of 2**bits entries).
_KERNEL_TABLE_BITS = 10
_KERNEL_FEATURE_BITS = 8
_NO_ROI = np.ones((1, 1, 1), dtype=bool)


@substitute_docs()
class GLCMFeatures(BaseImageTransformer):
    """The 25 IBSI grey-level co-occurrence matrix (GLCM) texture features.

    For each image (one 2-D slice) and each neighbour offset, the symmetric
    co-occurrence matrix ``M = M+ + M+^T`` of the discretised grey levels is
    counted over the pixel pairs whose two pixels both lie in the ROI mask,
    normalised to joint probabilities ``p_ij``, and summarised by the 25
    features of the IBSI reference manual, computed exactly as defined there
    (grey-level indices ``i, j = 1..N_g``, entropies in log2).

    Parameters
    ----------
    distances : array-like of int, default=(1,)
        Neighbour distances, each >= 1.
    angles : array-like of float, default=(0, pi/4, pi/2, 3*pi/4)
        Directions in radians, with scikit-image's convention: the neighbour
        of pixel ``(r, c)`` is ``(r + dr, c + dc)`` with ``dr`` from
        ``sin(angle)`` and ``dc`` from ``cos(angle)``. The default four
        directions are IBSI's 2-D directions. As the matrices are symmetric,
        ``angle`` and ``angle + pi`` give the same matrix.
    distance_metric : {"chebyshev", "euclidean"}, default="chebyshev"
        How a distance turns into a pixel offset. ``"chebyshev"`` (IBSI):
        ``(dr, dc) = distance * (round(sin), round(cos))``; angles must be
        multiples of pi/4, and a diagonal neighbour at distance 2 is
        ``(2, 2)``. ``"euclidean"`` (``skimage.feature.graycomatrix``):
        ``(dr, dc) = (round(distance * sin), round(distance * cos))`` for any
        angle, so the diagonal neighbour at distance 2 is ``(1, 1)``. Both
        agree for distance 1.
    discretisation : {"fixed_bin_number", "fixed_bin_width", "none"}, \
            default="fixed_bin_number"
        How intensities become grey levels ``1..N_g`` (IBSI section
        "Intensity discretisation"):

        - ``"fixed_bin_number"`` (FBN): ``n_bins`` equal bins between the
          minimum and the maximum intensity of each ROI,
          ``floor(n_bins * (x - min) / (max - min)) + 1`` (``n_bins`` at the
          maximum); ``N_g = n_bins``. Works for any real-valued input.
        - ``"fixed_bin_width"`` (FBS): bins of width ``bin_width`` starting
          at ``bin_min``, ``floor((x - bin_min) / bin_width) + 1``; ``N_g``
          is the bin of the ROI's maximum.
        - ``"none"``: the images already hold integer grey levels
          ``0..n_levels - 1``; level ``g`` is index ``i = g + 1`` and
          ``N_g = n_levels``. This is what ``skimage.feature.graycomatrix``
          and ``mahotas.features.haralick`` compute on.
    n_bins : int, default=32
        Number of bins of ``"fixed_bin_number"``, 1 to 65536.
    bin_width : float, default=8.0
        Bin width of ``"fixed_bin_width"``, in intensity units (8 gives 32
        bins over a 0..255 range).
    bin_min : float or None, default=None
        Lower edge of the first bin of ``"fixed_bin_width"``. ``None`` uses
        each ROI's minimum, as the IBSI does when no re-segmentation range is
        set. Pixels below ``bin_min`` are treated as outside the ROI, as
        IBSI re-segmentation does. At most 65536 bins may result.
    n_levels : int or None, default=None
        Number of grey levels for ``discretisation="none"``, 2 to 65536.
        ``None`` takes it from the dtype seen in ``fit``: 256 for uint8,
        65536 for uint16; other dtypes need it explicitly.
    aggregation : {"averaged", "merged", "none"}, default="averaged"
        How the directional matrices of one distance become one value:

        - ``"averaged"``: IBSI "2D, averaged" (BTW3): features of each
          direction's matrix, averaged over the directions.
        - ``"merged"``: IBSI "2D, slice-merged" (SUJT): the directional
          matrices are summed, features are computed once.
        - ``"none"``: one value per distance and angle, as
          ``skimage.feature.graycoprops`` returns.

        Each image is one slice; to reproduce IBSI's per-volume values,
        average the rows of a volume's slices.
    features : "all" or list of str, default="all"
        The features to output, by IBSI name in snake case:
        ``joint_maximum``, ``joint_average``, ``joint_variance``,
        ``joint_entropy``, ``difference_average``, ``difference_variance``,
        ``difference_entropy``, ``sum_average``, ``sum_variance``,
        ``sum_entropy``, ``angular_second_moment``, ``contrast``,
        ``dissimilarity``, ``inverse_difference``,
        ``normalised_inverse_difference``, ``inverse_difference_moment``,
        ``normalised_inverse_difference_moment``, ``inverse_variance``,
        ``correlation``, ``autocorrelation``, ``cluster_tendency``,
        ``cluster_shade``, ``cluster_prominence``,
        ``information_correlation_1``, ``information_correlation_2``
        ("all", in this order). Omitting ``joint_maximum``, ``joint_entropy``,
        ``angular_second_moment`` and the two information correlations skips
        counting individual matrix cells, the most expensive step.
    {image_shape}
    {n_jobs}
    {verbose}

    Attributes
    ----------
    n_features_in_ : int
        Number of values in one flattened input image.
    image_shape_ : tuple of (int, int)
        Shape of the images seen in ``fit``.
    offsets_ : ndarray of shape (n_distances, n_angles, 2)
        The ``(dr, dc)`` pixel offset of each distance and angle.
    features_ : list of str
        The IBSI feature names output, in output order within each block.
    n_levels_ : int or None
        ``N_g`` of ``discretisation="none"``; ``None`` for the others.

    See Also
    --------
    skimage.feature.graycomatrix : One image, one matrix per offset.
    skimage.feature.graycoprops : Six of these features (and their variants).

    Notes
    -----
    Output columns are named ``glcm_d{distance}_{feature}`` (aggregated) or
    ``glcm_d{distance}_a{degrees}_{feature}`` (``aggregation="none"``),
    distance-major.

    Degenerate ROIs never raise:

    - A matrix with no pixel pair (a fully masked ROI, a ROI of one pixel,
      a ROI too thin for an offset) has no defined feature: all its features
      are NaN and a ``UserWarning`` counts such images. NaN is used rather
      than a number because any number would be indistinguishable from a
      measured texture; ``sklearn.impute.SimpleImputer`` or
      ``HistGradientBoostingClassifier`` handle it downstream. With
      ``"averaged"``, directions without pairs are left out of the average,
      so a 1-pixel-high strip gets the values of its horizontal direction.
    - A matrix with a single grey level (a constant ROI) follows the
      formulas, except the two 0/0 cases: ``correlation = 1`` (as
      ``skimage.feature.graycoprops``, ``mahotas`` and pyradiomics) and
      ``information_correlation_1 = 0`` (as pyradiomics);
      ``information_correlation_2`` is 0 and the other features take their
      limits (``joint_maximum = 1``, ``contrast = 0``, ...).

    Because the matrices are symmetric, ``HXY1 = HXY2 = HX + HY`` holds
    exactly, and ``sum_variance`` equals ``cluster_tendency``.

    References
    ----------
    .. [1] Zwanenburg A, Leger S, Vallieres M, Lock S, et al., "Image
       biomarker standardisation initiative", arXiv:1612.07003; and
       Zwanenburg A, Vallieres M, et al., "The Image Biomarker
       Standardization Initiative", Radiology 2020;295:328-338,
       :doi:`10.1148/radiol.2020191145`.
    .. [2] Haralick RM, Shanmugam K, Dinstein I, "Textural features for image
       classification", IEEE Trans. Syst. Man Cybern. 1973;SMC-3(6):610-621,
       :doi:`10.1109/TSMC.1973.4309314`.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.features import GLCMFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(5, 32, 32), dtype=np.uint8)
    >>> glcm = GLCMFeatures(features=["contrast", "correlation"]).fit(X)
    >>> glcm.transform(X).shape
    (5, 2)
    >>> glcm.get_feature_names_out().tolist()
    ['glcm_d1_contrast', 'glcm_d1_correlation']
    >>> per_angle = GLCMFeatures(discretisation="none", aggregation="none",
    ...                          features=["contrast"]).fit(X)
    >>> per_angle.get_feature_names_out()[:2].tolist()
    ['glcm_d1_a0_contrast', 'glcm_d1_a45_contrast']
    """

    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "distances": ["array-like", Interval(Integral, 1, None, closed="left")],
        "angles": ["array-like", Interval(Real, None, None, closed="neither")],
        "distance_metric": [StrOptions({"chebyshev", "euclidean"})],
        "discretisation": [StrOptions({"fixed_bin_number", "fixed_bin_width", "none"})],
        "n_bins": [Interval(Integral, 1, _MAX_LEVELS, closed="both")],
        "bin_width": [Interval(Real, 0, None, closed="neither")],
        "bin_min": [None, Interval(Real, None, None, closed="neither")],
        "n_levels": [None, Interval(Integral, 2, _MAX_LEVELS, closed="both")],
        "aggregation": [StrOptions({"averaged", "merged", "none"})],
        "features": [StrOptions({"all"}), list, tuple],
    }

    def __init__(
        self,
        *,
        distances=(1,),
        angles=(0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4),
        distance_metric="chebyshev",
        discretisation="fixed_bin_number",
        n_bins=32,
        bin_width=8.0,
        bin_min=None,
        n_levels=None,
        aggregation="averaged",
        features="all",
        image_shape=None,
        n_jobs=None,
        verbose=0,
    ):
        self.distances = distances
        self.angles = angles
        self.distance_metric = distance_metric
        self.discretisation = discretisation
        self.n_bins = n_bins
        self.bin_width = bin_width
        self.bin_min = bin_min
        self.n_levels = n_levels
        self.aggregation = aggregation
        self.features = features
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- fit -------------------------------------------------------------------
    def _fit(self, images, y, mask):
        distances = _check_distances(self.distances)
        angles = _check_angles(self.angles, self.distance_metric)
        self.offsets_ = np.array(
            [[_offset(d, a, self.distance_metric) for a in angles] for d in distances],
            dtype=np.int64,
        ).reshape(len(distances), len(angles), 2)
        self.features_ = _check_features(self.features)
        self.n_levels_ = None
        if self.discretisation == "none":
            self.n_levels_ = self._levels_for_dtype(images.dtype)
            _check_integer_levels(images, self.n_levels_)
        self._distances = distances
        self._angle_labels = _angle_labels(angles)
        return self

    def _levels_for_dtype(self, dtype):
        if self.n_levels is not None:
            return int(self.n_levels)
        if dtype == np.uint8:
            return 256
        if dtype == np.uint16:
            return _MAX_LEVELS
        raise ValueError(
            "discretisation='none' with n_levels=None takes the number of grey levels "
            f"from a uint8 (256) or uint16 (65536) dtype; got images of dtype {dtype}. "
            "Pass n_levels, or use discretisation='fixed_bin_number'."
        )

    def _feature_names(self):
        names = []
        for d in self._distances:
            blocks = (
                [f"d{d}_a{a}" for a in self._angle_labels]
                if self.aggregation == "none"
                else [f"d{d}"]
            )
            names += [f"glcm_{block}_{f}" for block in blocks for f in self.features_]
        return names

    # -- transform -------------------------------------------------------------
    def _transform(self, images, mask):
        n, height, width = images.shape
        n_dist, n_ang = self.offsets_.shape[:2]
        if self.discretisation == "none":
            _check_integer_levels(images, self.n_levels_)
        fbs_levels = None
        if self.discretisation == "fixed_bin_width":
            fbs_levels = self._fbs_level_count(images, mask)
        if self.discretisation == "fixed_bin_number":
            n_levels = int(self.n_bins)
        elif self.discretisation == "none":
            # Only the levels present matter for the arrays' size; N_g stays n_levels_.
            n_levels = int(images.max()) + 1
        else:
            n_levels = int(fbs_levels.max(initial=1))
        n_levels = 1 << max(1, (n_levels - 1).bit_length())

        merged = self.aggregation == "merged"
        groups_per_image = n_dist if merged else n_dist * n_ang
        pairs = np.array(
            [
                [max(height - abs(dr), 0) * max(width - abs(dc), 0) for dr, dc in row]
                for row in self.offsets_
            ]
        )
        bits = max(1, (n_levels - 1).bit_length())
        per_group = pairs.sum() / groups_per_image
        budget = (
            _PAIR_BUDGET if _counting_method(bits, per_group) == "bincount" else _PAIR_BUDGET_SORT
        )
        blocks = _offset_blocks(pairs, budget, merged)
        block_pairs = max(pairs[d, a0:a1].sum() for d, a0, a1 in blocks)
        chunk = min(
            budget // max(block_pairs, 1), _DENSE_BUDGET // (groups_per_image * 2 * n_levels)
        )
        n_workers = effective_n_jobs(self.n_jobs)
        if n_workers > 1:
            chunk = min(chunk, math.ceil(n / n_workers))
        chunk = max(chunk, 1)
        need_cells = bool(_CELL_FEATURES.intersection(self.features_))
        columns = np.array([_FEATURE_INDEX[f] for f in self.features_])

        def compute(sl):
            levels, roi, n_g = self._discretise(
                images[sl], None if mask is None else mask[sl], fbs_levels, sl
            )
            # Matrices are independent (a merged one needs all angles of its
            # distance), so large images are done a few offsets at a time.
            per_group = np.concatenate(
                [
                    _glcm_features(
                        levels,
                        roi,
                        self.offsets_[d : d + 1, a0:a1],
                        merged=merged,
                        n_g=n_g,
                        need_cells=need_cells,
                    )
                    for d, a0, a1 in blocks
                ],
                axis=1,
            )
            per_group = per_group[:, :, columns]
            if self.aggregation == "averaged":
                per_group = _nan_mean(per_group.reshape(len(per_group), n_dist, n_ang, -1), axis=2)
            return per_group.reshape(len(per_group), -1)

        out = map_chunks(
            compute,
            n,
            chunk_size=chunk,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc="GLCM features",
        )
        n_undefined = int(np.isnan(out).any(axis=1).sum())
        if n_undefined:
            warnings.warn(
                f"GLCMFeatures: {n_undefined} of {n} images have a co-occurrence matrix "
                "without any pixel pair inside the ROI (fully masked, a single pixel, or "
                "too thin for an offset); their features for that matrix are NaN.",
                UserWarning,
                stacklevel=3,
            )
        return out

    def _fbs_level_count(self, images, mask):
        """``N_g`` of each image under fixed bin width (1 for an empty ROI)."""
        lo, hi = _roi_range(images, mask)
        bin_min = lo if self.bin_min is None else np.full_like(lo, float(self.bin_min))
        empty = ~(hi >= bin_min)
        with np.errstate(invalid="ignore", over="ignore"):
            n_g = np.floor((np.where(empty, 0.0, hi - bin_min)) / float(self.bin_width)) + 1
        if n_g.max(initial=1) > _MAX_LEVELS:
            raise ValueError(
                f"discretisation='fixed_bin_width' with bin_width={self.bin_width} gives "
                f"{int(n_g.max())} grey levels for some image, more than {_MAX_LEVELS}; "
                "increase bin_width or set bin_min."
            )
        return n_g

    def _discretise(self, images, mask, fbs_levels, sl):
        """Grey levels ``0..N_g-1``, the ROI mask (or None) and ``N_g`` per image."""
        if self.discretisation == "none":
            return images, mask, np.full(len(images), float(self.n_levels_))
        if self.discretisation == "fixed_bin_number" and images.dtype == np.uint8:
            return self._discretise_uint8(images, mask)
        x = images.astype(np.float64, copy=False)
        lo, hi = _roi_range(x, mask)
        empty = ~(lo <= hi)
        # Extreme floats may overflow to inf; those pixels land in the end bins.
        with np.errstate(invalid="ignore", over="ignore"):
            if self.discretisation == "fixed_bin_number":
                n_bins = int(self.n_bins)
                lo = np.where(empty, 0.0, lo)
                span = np.where(empty | (hi <= lo), 1.0, hi - lo)
                scaled = n_bins * (x - lo[:, None, None]) / span[:, None, None]
                scaled = np.nan_to_num(scaled, nan=0.0, posinf=n_bins, neginf=0.0)
                levels = np.clip(np.floor(scaled), 0, n_bins - 1).astype(np.int32)
                return levels, mask, np.full(len(images), float(n_bins))
            # fixed bin width
            n_g = fbs_levels[sl]
            bin_min = (
                np.where(empty, 0.0, lo)
                if self.bin_min is None
                else np.full(len(x), float(self.bin_min))
            )
            scaled = (x - bin_min[:, None, None]) / float(self.bin_width)
            scaled = np.nan_to_num(scaled, nan=-1.0, posinf=_MAX_LEVELS, neginf=-1.0)
        if self.bin_min is not None:
            inside = x >= bin_min[:, None, None]
            mask = inside if mask is None else mask & inside
        levels = np.clip(np.floor(scaled), 0, (n_g - 1)[:, None, None]).astype(np.int32)
        return levels, mask, n_g

    def _discretise_uint8(self, images, mask):
        """Fixed bin number of 8-bit images by a look-up table per image.

        The 256 possible values are binned with the same float64 arithmetic as
        the pixels would be, so the levels are identical, at the cost of one
        gather per pixel instead of a dozen floating-point passes.
        """
        n_bins = int(self.n_bins)
        lo, hi = _roi_range(images, mask)
        empty = ~(lo <= hi)
        lo = np.where(empty, 0.0, lo)
        span = np.where(empty | (hi <= lo), 1.0, hi - lo)
        scaled = n_bins * (np.arange(256, dtype=np.float64) - lo[:, None]) / span[:, None]
        level_type = np.uint8 if n_bins <= 256 else np.uint16
        table = np.clip(np.floor(scaled), 0, n_bins - 1).astype(level_type)
        index = images + (np.arange(len(images)) << 8)[:, None, None]
        return table.ravel()[index], mask, np.full(len(images), float(n_bins))


# -- parameter checks ----------------------------------------------------------
def _check_distances(distances):
    d = np.asarray(distances)
    if d.ndim == 0:
        d = d.reshape(1)
    ok = (
        d.ndim == 1
        and d.size > 0
        and d.dtype.kind in "iuf"
        and np.all(np.isfinite(d))
        and np.all(d == np.round(d))
        and np.all(d >= 1)
    )
    if not ok:
        raise ValueError(
            f"distances must be a non-empty list of integers >= 1, e.g. (1,) or (1, 2); got {distances!r}."
        )
    d = [int(v) for v in d]
    if len(set(d)) != len(d):
        raise ValueError(f"distances must be distinct; got {distances!r}.")
    return d


def _check_angles(angles, metric):
    a = np.asarray(angles)
    if a.ndim == 0:
        a = a.reshape(1)
    if not (a.ndim == 1 and a.size > 0 and a.dtype.kind in "iuf" and np.all(np.isfinite(a))):
        raise ValueError(
            "angles must be a non-empty list of finite angles in radians, e.g. "
            f"(0, np.pi/4, np.pi/2, 3*np.pi/4); got {angles!r}."
        )
    a = a.astype(np.float64)
    if metric == "chebyshev":
        quarter = a / (np.pi / 4)
        if not np.allclose(quarter, np.round(quarter), rtol=0, atol=1e-9):
            raise ValueError(
                "angles must be multiples of pi/4 with distance_metric='chebyshev' (IBSI "
                f"neighbourhoods); got {angles!r}. Use distance_metric='euclidean' for "
                "other angles."
            )
    labels = _angle_labels(a)
    if len(set(labels)) != len(labels):
        raise ValueError(f"angles must be distinct; got {angles!r}.")
    return a


def _angle_labels(angles):
    return [f"{np.degrees(a):.6g}" for a in angles]


def _offset(distance, angle, metric):
    if metric == "chebyshev":
        return (distance * round(math.sin(angle)), distance * round(math.cos(angle)))
    return (round(math.sin(angle) * distance), round(math.cos(angle) * distance))


def _check_features(features):
    if isinstance(features, str):
        return list(GLCM_FEATURE_NAMES)
    names = list(features)
    unknown = [f for f in names if not isinstance(f, str) or f not in _FEATURE_INDEX]
    if not names or unknown:
        raise ValueError(
            f"features must be 'all' or a non-empty list of GLCM feature names; unknown: {unknown!r}. "
            f"Valid names: {', '.join(GLCM_FEATURE_NAMES)}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"features must not repeat a name; got {names!r}.")
    return names


def _check_integer_levels(images, n_levels):
    if images.size == 0:
        return
    lo, hi = images.min(), images.max()
    integral = images.dtype.kind in "iub" or bool(np.all(images == np.floor(images)))
    if not integral or lo < 0 or hi >= n_levels:
        raise ValueError(
            f"discretisation='none' needs integer grey levels in [0, n_levels={n_levels}); "
            f"got {'non-integer ' if not integral else ''}values in [{lo}, {hi}]. "
            "Use discretisation='fixed_bin_number' or 'fixed_bin_width' for other images."
        )


# -- computation ---------------------------------------------------------------
def _offset_blocks(pairs, budget, merged):
    """Split the (distance, angle) offsets into ``(d, a0, a1)`` blocks of at most
    ``budget`` pixel pairs per image (one offset, or one merged distance, at least),
    keeping the output order."""
    n_dist, n_ang = pairs.shape
    blocks, total = [], budget + 1
    for d in range(n_dist):
        spans = [(0, n_ang)] if merged else [(a, a + 1) for a in range(n_ang)]
        for a0, a1 in spans:
            size = pairs[d, a0:a1].sum()
            if blocks and blocks[-1][0] == d and blocks[-1][2] == a0 and total + size <= budget:
                blocks[-1] = (d, blocks[-1][1], a1)
                total += size
            else:
                blocks.append((d, a0, a1))
                total = size
    return blocks


def _roi_range(images, mask):
    """Minimum and maximum intensity inside each ROI (+inf/-inf if empty)."""
    if mask is None:
        return (
            images.min(axis=(1, 2)).astype(np.float64),
            images.max(axis=(1, 2)).astype(np.float64),
        )
    lo = np.empty(len(images))
    hi = np.empty(len(images))
    step = max(1, _PAIR_BUDGET // max(images[0].size, 1))
    for start in range(0, len(images), step):
        x = images[start : start + step].astype(np.float64, copy=False)
        m = mask[start : start + step]
        lo[start : start + step] = np.where(m, x, np.inf).min(axis=(1, 2))
        hi[start : start + step] = np.where(m, x, -np.inf).max(axis=(1, 2))
    return lo, hi


def _nan_mean(values, axis):
    """Mean over ``axis`` ignoring NaN; NaN (no warning) where all are NaN."""
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _counting_method(bits, pairs_per_group):
    """``"bincount"``, ``"radix"`` or ``"sort"``: the cheapest way to count the cells.

    A table of ``4**bits`` cells per matrix costs its allocation and the scan
    for non-zero cells even where no pair falls; sorting costs per pair only.
    """
    sort_ns = _RADIX_NS if bits <= 8 else _SORT_NS
    table_ns = _BINCOUNT_NS * pairs_per_group + _TABLE_CELL_NS * (1 << (2 * bits))
    if table_ns <= sort_ns * pairs_per_group:
        return "bincount"
    return "radix" if bits <= 8 else "sort"


def _slots(shape, offsets, merged):
    """Where each offset's pairs go: ``(dr, dc, h, w, group, start)`` per offset
    with pairs (``h x w`` first pixels, from ``start`` in its group's row of
    codes), and the pairs of each group of an image."""
    height, width = shape
    n_dist, n_ang = offsets.shape[:2]
    slots, row_len = [], [0] * (n_dist if merged else n_dist * n_ang)
    for d in range(n_dist):
        for a in range(n_ang):
            dr, dc = (int(v) for v in offsets[d, a])
            h, w = height - abs(dr), width - abs(dc)
            if h <= 0 or w <= 0:
                continue
            g = d if merged else d * n_ang + a
            slots.append((dr, dc, h, w, g, row_len[g]))
            row_len[g] += h * w
    return slots, row_len


def _cells(levels, roi, offsets, merged, numba=None):
    """Distinct cells of every group's co-occurrence matrix, with their counts.

    A group is one matrix: ``image * per_image + distance * n_angles + angle``,
    or ``image * per_image + distance`` when ``merged``. Each unordered
    neighbour pair is one count of its upper-triangle cell ``(lo, hi)``,
    ``lo <= hi``; the symmetric matrix holds it in both orders, so it is
    derived, never counted twice.

    The pairs of the whole chunk become cell codes ``lo << bits | hi`` in the
    smallest unsigned type, one row per matrix, counted in one pass: by
    ``np.bincount`` over a table of all cells when the matrices are small next
    to their pairs (few grey levels, large images), otherwise by a row-wise
    sort (a radix sort for 16-bit codes) and run lengths.

    Returns
    -------
    base : ndarray of int64, shape (n_cells,)
        ``group << bits`` of each cell's group; groups ascend.
    first_cell : ndarray of int, shape (n_groups + 1,)
        Group ``g`` owns cells ``first_cell[g]:first_cell[g + 1]``.
    cell : ndarray of int64, shape (n_cells,)
        ``lo << bits | hi``.
    count : ndarray of int64, shape (n_cells,)
        Pairs in the cell; 0 for padding cells, which callers may ignore.
    bits : int
        ``lo`` and ``hi`` are below ``2**bits``.
    n_groups : int

    With numba (``numba=True``, or ``None`` and :func:`use_numba`), a compiled
    kernel counts each matrix in a table of its cells and returns the same
    cells in the same order, without cells of count 0.
    """
    n_images, height, width = levels.shape
    slots, row_len = _slots(levels.shape[1:], offsets, merged)
    per_image = len(row_len)
    n_groups = n_images * per_image
    bits = max(1, int(levels.max(initial=0)).bit_length())
    n_slots = max(row_len)
    if n_slots == 0:  # every offset is larger than the images
        nothing = np.zeros(0, dtype=np.int64)
        return nothing, np.zeros(n_groups + 1, dtype=np.int64), nothing, nothing, bits, n_groups
    if (use_numba() if numba is None else numba) and bits <= _KERNEL_TABLE_BITS:
        from . import _glcm_kernels

        first_cell, cell, count = _glcm_kernels.glcm_cells(
            *_kernel_arguments(levels, roi, slots, bits), per_image, bits
        )
        base = np.repeat(np.arange(n_groups, dtype=np.int64) << bits, np.diff(first_cell))
        return base, first_cell, cell, count, bits, n_groups
    method = _counting_method(bits, n_slots)
    level_type = np.uint8 if bits <= 8 else np.uint16
    cell_type = np.uint16 if 2 * bits <= 16 else np.uint32
    if method == "bincount":
        return _count_by_table(levels, roi, slots, n_images, per_image, bits, n_slots)
    work = levels.astype(level_type, copy=False)
    # 8-bit levels: the code lo << 8 | hi is written as its two bytes.
    interleave = bits <= 8 and sys.byteorder == "little"
    if interleave:
        bits, cell_type = 8, np.uint16
    codes = np.empty((n_images, per_image, n_slots), dtype=cell_type)
    # The padding code sorts last; with 8- or 16-bit levels it is also the
    # top cell (2**bits - 1, 2**bits - 1), so padding is subtracted below.
    pad = np.iinfo(cell_type).max
    for g, used in enumerate(row_len):
        codes[:, g, used:] = pad
    inside = np.broadcast_to(np.array(row_len), (n_images, per_image)).copy()
    for dr, dc, h, w, g, start in slots:
        r0, c0 = max(0, -dr), max(0, -dc)
        first = work[:, r0 : r0 + h, c0 : c0 + w]
        second = work[:, r0 + dr : r0 + dr + h, c0 + dc : c0 + dc + w]
        out = codes[:, g, start : start + h * w].reshape(n_images, h, w)
        if interleave:
            halves = out.view(np.uint8).reshape(n_images, h, w, 2)
            np.minimum(first, second, out=halves[..., 1])
            np.maximum(first, second, out=halves[..., 0])
        else:
            code = np.minimum(first, second).astype(cell_type)
            code <<= bits
            code |= np.maximum(first, second)
            out[...] = code
        if roi is not None:
            outside = ~(
                roi[:, r0 : r0 + h, c0 : c0 + w]
                & roi[:, r0 + dr : r0 + dr + h, c0 + dc : c0 + dc + w]
            )
            np.copyto(out, cell_type(pad), where=outside)
            inside[:, g] -= outside.sum(axis=(1, 2))
    codes = codes.reshape(n_groups, n_slots)
    codes.sort(axis=1, kind="stable" if method == "radix" else None)
    new_run = np.empty(codes.shape, dtype=bool)
    new_run[:, 0] = True
    np.not_equal(codes[:, 1:], codes[:, :-1], out=new_run[:, 1:])
    starts = np.flatnonzero(new_run)
    count = np.diff(starts, append=codes.size)
    cell = codes.ravel()[starts].astype(np.int64)
    first_cell = np.searchsorted(starts, np.arange(n_groups + 1) * n_slots)
    # The last run of a row holds its padding, if any.
    last = first_cell[1:] - 1
    padded = cell[last] == pad
    count[last[padded]] -= n_slots - inside.ravel()[padded]
    base = np.repeat(np.arange(n_groups, dtype=np.int64) << bits, np.diff(first_cell))
    return base, first_cell, cell, count, bits, n_groups


def _kernel_arguments(levels, roi, slots, bits):
    """``levels, roi, has_roi, slots`` as the numba kernels take them."""
    n_pairs = max(h * w for _dr, _dc, h, w, _g, _start in slots) * len(slots)
    if n_pairs >= 2**31:
        raise ValueError(
            f"{n_pairs} pixel pairs in one co-occurrence matrix: more than the compiled "
            f"counting's int32 counts hold; set the environment variable {ENV_VAR}=0."
        )
    # one compiled specialisation per level type: few, and the smallest reads
    work = np.ascontiguousarray(levels, dtype=np.uint8 if bits <= 8 else np.uint16)
    inside = _NO_ROI if roi is None else np.ascontiguousarray(roi, dtype=bool)
    slot_rows = np.array([slot[:5] for slot in slots], dtype=np.int64).reshape(-1, 5)
    return work, inside, roi is not None, slot_rows


def _count_by_table(levels, roi, slots, n_images, per_image, bits, pairs_per_group):
    """``_cells`` by ``np.bincount`` over a table of every cell of every matrix.

    The pairs are coded and counted a cache-sized piece at a time (a few
    images, or a band of rows of one image) and added into the table. Images
    are flat rows of pixels, so the pairs of one offset are one contiguous
    range of first pixels and the same range shifted by ``dr * width + dc``;
    the pairs that wrap around a row end go to an extra cell. When the table is
    small next to the pairs (half of them or less), ordered pairs ``first << bits | second`` are
    counted (one pass per pair; the shift is done once per pixel) and the table
    is made symmetric afterwards; otherwise the unordered ``min << bits | max``.
    """
    height, width = levels.shape[1:]
    n_pixels = height * width
    n_cells = 1 << (2 * bits)
    stride = n_cells + 1  # the last cell of each matrix takes pairs outside the ROI or wrapped
    directed = 2 * n_cells <= pairs_per_group
    work = levels.astype(np.intp, copy=False).reshape(n_images, n_pixels)
    inside_roi = None if roi is None else roi.reshape(n_images, n_pixels)
    table = np.zeros((n_images, per_image, stride), dtype=np.int64)
    piece = max(_PIECE_PAIRS, 4 * stride)
    if n_pixels <= piece:
        step = piece // n_pixels
        pieces = [(i0, min(i0 + step, n_images), 0, height) for i0 in range(0, n_images, step)]
    else:
        rows = max(1, piece // width)
        pieces = [
            (i, i + 1, a, min(a + rows, height))
            for i in range(n_images)
            for a in range(0, height, rows)
        ]
    buffer = np.empty(
        min(n_images, max(1, piece // n_pixels)) * (piece + 2 * width) + n_pixels, dtype=np.intp
    )
    for i0, i1, a, b in pieces:
        m = i1 - i0
        base = (np.arange(m) * stride)[:, None]
        if directed:
            shifted = work[i0:i1, a * width : b * width] << bits
            shifted += base
        for dr, dc, h, w, g, _start in slots:
            r0, c0 = max(0, -dr), max(0, -dc)
            ra, rb = max(a, r0), min(b, r0 + h)
            if ra >= rb:
                continue
            lo = ra * width + c0  # first pixel of the range
            n = (rb - ra - 1) * width + w
            second = work[i0:i1, lo + dr * width + dc : lo + dr * width + dc + n]
            out = buffer[: m * n].reshape(m, n)
            if directed:
                np.add(shifted[:, lo - a * width : lo - a * width + n], second, out=out)
            else:
                first = work[i0:i1, lo : lo + n]
                np.minimum(first, second, out=out)
                out <<= bits
                out |= np.maximum(first, second)
                out += base
            if w < width:  # pairs whose second pixel wrapped to the next row
                out[:, : (rb - ra - 1) * width].reshape(m, rb - ra - 1, width)[:, :, w:] = (
                    base[:, :, None] + n_cells
                )
            if inside_roi is not None:
                outside = ~(
                    inside_roi[i0:i1, lo : lo + n]
                    & inside_roi[i0:i1, lo + dr * width + dc : lo + dr * width + dc + n]
                )
                np.copyto(out, base + n_cells, where=outside)
            table[i0:i1, g] += np.bincount(out.ravel(), minlength=m * stride).reshape(m, stride)
    n_groups = n_images * per_image
    side = 1 << bits
    upper = np.triu(np.ones((side, side), dtype=bool)).ravel()
    table = table.reshape(n_groups, stride)
    groups, cells, counts = [], [], []
    block = max(1, _TABLE_BUDGET // stride)
    for g0 in range(0, n_groups, block):
        g1 = min(g0 + block, n_groups)
        counted = table[g0:g1, :n_cells]
        if directed:
            # unordered pairs: M+ + M+^T above the diagonal, M+ on it
            ordered = counted.reshape(g1 - g0, side, side)
            counted = ordered + ordered.transpose(0, 2, 1)
            diagonal = np.arange(side)
            counted[:, diagonal, diagonal] = ordered[:, diagonal, diagonal]
            counted = counted.reshape(g1 - g0, n_cells)
        # nonzero() of a boolean array skips zero words; of int64 it is ~5x slower
        where = np.flatnonzero((counted != 0) & upper)
        group = where >> (2 * bits)
        cell = where & (n_cells - 1)
        groups.append(g0 + group)
        cells.append(cell)
        counts.append(counted[group, cell])
    group, cell, count = np.concatenate(groups), np.concatenate(cells), np.concatenate(counts)
    first_cell = np.searchsorted(group, np.arange(n_groups + 1))
    return group << bits, first_cell, cell, count, bits, n_groups


def _glcm_features(levels, roi, offsets, *, merged, n_g, need_cells):
    """All 25 features of every (image, group) matrix: shape (n_images, n_groups, 25).

    ``levels`` are 0-based grey levels; ``n_g`` is IBSI's ``N_g`` of each
    image (used by the normalised inverse differences).
    """
    numba = use_numba()
    if numba:
        slots, row_len = _slots(levels.shape[1:], offsets, merged)
        bits = max(1, int(levels.max(initial=0)).bit_length())
        if bits <= _KERNEL_FEATURE_BITS and max(row_len) > 0:
            from . import _glcm_kernels

            out = _glcm_kernels.glcm_features(
                *_kernel_arguments(levels, roi, slots, bits),
                len(row_len),
                bits,
                np.asarray(n_g, dtype=np.float64),
                need_cells,
            )
            return out.reshape(len(levels), len(row_len), -1)
    base, first_cell, cell, count, bits, n_groups = _cells(levels, roi, offsets, merged, numba)
    per_image = n_groups // len(levels)
    low = (1 << bits) - 1
    lo = (cell >> bits) & low  # the padding cell of 32-bit codes is above every real cell
    base_lo = base + lo
    base_hi = base + (cell & low)
    weight = count.astype(np.float64)  # converted once, not by every np.bincount
    # Non-zero entries of the difference |i-j|, sum i+j and marginal pair-count
    # distributions of each group, whose index is (group << width_bits) + value.
    g_d, k, c_d = _distribution((base_hi - lo,), count, weight, bits, n_groups)
    g_s, s, c_s = _distribution((base_lo + base_hi,), count, weight, bits + 1, n_groups)
    g_m, i, c_m = _distribution((base_lo, base_hi), count, weight, bits, n_groups)
    s += 2  # i + j with 1-based indices
    i += 1

    def group_sum(group, values):
        return np.bincount(group, weights=values, minlength=n_groups)

    n_pairs = group_sum(g_d, c_d)
    empty = n_pairs == 0
    norm = np.where(empty, 1.0, n_pairs)
    p_d = c_d / norm[g_d]  # p_{x-y}(k)
    p_s = c_s / norm[g_s]  # p_{x+y}(k)
    p_m = c_m / (2.0 * norm[g_m])  # p_x(i) = p_y(i)
    n_g = np.repeat(np.asarray(n_g, dtype=np.float64), per_image)
    f = {}

    mu = group_sum(g_m, p_m * i)
    f["joint_average"] = mu
    f["joint_variance"] = group_sum(g_m, p_m * (i - mu[g_m]) ** 2)

    diff_average = group_sum(g_d, p_d * k)
    contrast = group_sum(g_d, p_d * k * k)
    f["difference_average"] = diff_average
    f["difference_variance"] = group_sum(g_d, p_d * (k - diff_average[g_d]) ** 2)
    f["difference_entropy"] = -group_sum(g_d, p_d * np.log2(p_d))
    f["contrast"] = contrast
    f["dissimilarity"] = diff_average
    f["inverse_difference"] = group_sum(g_d, p_d / (1 + k))
    f["normalised_inverse_difference"] = group_sum(g_d, p_d / (1 + k / n_g[g_d]))
    f["inverse_difference_moment"] = group_sum(g_d, p_d / (1 + k * k))
    f["normalised_inverse_difference_moment"] = group_sum(
        g_d, p_d / (1 + (k * k) / (n_g[g_d] ** 2))
    )
    f["inverse_variance"] = group_sum(
        g_d, np.divide(p_d, k * k, out=np.zeros_like(p_d), where=k > 0)
    )

    sum_average = group_sum(g_s, p_s * s)
    f["sum_average"] = sum_average
    f["sum_variance"] = group_sum(g_s, p_s * (s - sum_average[g_s]) ** 2)
    f["sum_entropy"] = -group_sum(g_s, p_s * np.log2(p_s))
    t = s - 2 * mu[g_s]
    t2 = t * t
    cluster_tendency = group_sum(g_s, p_s * t2)
    f["cluster_tendency"] = cluster_tendency
    f["cluster_shade"] = group_sum(g_s, p_s * t2 * t)
    f["cluster_prominence"] = group_sum(g_s, p_s * t2 * t2)

    # One grey level only: variance 0, and correlation / IMC1 are 0/0.
    single_level = np.bincount(g_m, minlength=n_groups) == 1
    # sigma^2 = (tendency + contrast) / 4 and covariance = (tendency - contrast) / 4
    # for a symmetric matrix; this form avoids cancellation against mu^2.
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = (cluster_tendency - contrast) / (cluster_tendency + contrast)
    f["correlation"] = np.where(single_level, 1.0, correlation)
    f["autocorrelation"] = (cluster_tendency - contrast) / 4 + mu * mu

    if need_cells:
        hx = -group_sum(g_m, p_m * np.log2(p_m))
        off_diagonal = 1 - group_sum(g_d, np.where(k == 0, p_d, 0.0))
        # An off-diagonal cell stands for two matrix entries of count c, a
        # diagonal one for one entry of count 2c (out of 2 * n_pairs).
        entry = count.copy()
        entry[base_lo == base_hi] *= 2
        owned = first_cell[1:] > first_cell[:-1]
        starts = first_cell[:-1][owned]
        peak, square, c_log_c = np.zeros((3, n_groups))
        if len(starts):
            peak[owned] = np.maximum.reduceat(entry, starts)
            square[owned] = np.add.reduceat(entry * count, starts)
            c_log_c[owned] = np.add.reduceat(_xlog2x(count), starts)
        f["joint_maximum"] = peak / (2 * norm)
        f["angular_second_moment"] = square / (2 * norm**2)
        # H = log2 n - sum(c log2 c) / n + (fraction of off-diagonal pairs)
        joint_entropy = np.log2(norm) - c_log_c / norm + off_diagonal
        joint_entropy = np.where(single_level, 0.0, np.maximum(joint_entropy, 0.0))
        f["joint_entropy"] = joint_entropy
        hxy1 = 2 * hx  # exact for symmetric matrices, = HXY2
        with np.errstate(invalid="ignore", divide="ignore"):
            imc1 = (joint_entropy - hxy1) / hx
        f["information_correlation_1"] = np.where(single_level, 0.0, imc1)
        # The square root magnifies rounding near 0; a single level is exactly 0.
        imc2 = np.sqrt(np.clip(1 - np.exp(-2 * (hxy1 - joint_entropy)), 0, None))
        f["information_correlation_2"] = np.where(single_level, 0.0, imc2)
    else:
        for name in _CELL_FEATURES:
            f[name] = np.zeros(n_groups)

    out = np.empty((n_groups, len(GLCM_FEATURE_NAMES)))
    for name, index in _FEATURE_INDEX.items():
        out[:, index] = f[name]
    out[empty] = np.nan
    return out.reshape(len(levels), per_image, -1)


def _distribution(indices, count, weight, width_bits, n_groups):
    """Non-zero entries of per-group histograms of integer counts.

    Each array of ``indices`` holds ``(group << width_bits) + value`` of every
    cell, which adds its ``count`` (``weight`` is the same as float64) to that
    entry. Few possible entries are counted densely; otherwise ``(index,
    count)`` pairs are packed into one integer and sorted, so the cost does not
    grow with the number of levels.

    Returns
    -------
    group : ndarray of int64
        Ascending.
    value : ndarray of float64
    total : ndarray of float64
        Sum of ``count`` over the entry; always positive.
    """
    size = n_groups << width_bits
    n_index = sum(len(index) for index in indices)
    if n_index == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    if size <= max(2 * n_index, 1 << 12):
        hist = np.bincount(indices[0], weights=weight, minlength=size)
        for index in indices[1:]:
            hist += np.bincount(index, weights=weight, minlength=size)
        where = np.flatnonzero(hist != 0)
        total = hist[where]
    else:
        # index < 2**31 (chunks are bounded by _DENSE_BUDGET) and count < 2**32
        packed = np.sort(np.concatenate([(index << 32) | count for index in indices]))
        key = packed >> 32
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        total = np.add.reduceat(packed & 0xFFFFFFFF, starts).astype(np.float64)
        where = key[starts]
        keep = total > 0
        where, total = where[keep], total[keep]
    return where >> width_bits, (where & ((1 << width_bits) - 1)).astype(np.float64), total


def _xlog2x(count):
    """``c * log2(c)`` of non-negative integer counts, by table look-up."""
    table = np.arange(int(count.max()) + 1, dtype=np.float64)
    table = xlogy(table, table) / _LN2
    return table[count]
