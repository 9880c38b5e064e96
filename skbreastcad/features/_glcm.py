"""Grey-level co-occurrence matrix (GLCM) features, as the IBSI defines them.

The estimator; the work is done by its private modules, one job each:
``_glcm_discretise`` turns intensities into grey levels, ``_glcm_counting``
plans the chunks and counts the neighbour pairs of every matrix,
``_glcm_props`` computes the 25 features from the counted cells, and
``_glcm_kernels`` holds the numba twins of the last two (the ``fast`` extra;
``SKBREASTCAD_NUMBA=0`` forces the NumPy code).
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np

from ..utils._batching import map_chunks
from ..utils._docstrings import substitute_docs
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import BaseImageTransformer
from ._glcm_counting import _chunk_plan
from ._glcm_discretise import (
    _MAX_LEVELS,
    _check_integer_levels,
    _discretise,
    _fbs_level_count,
)
from ._glcm_props import (
    _CELL_FEATURES,
    _FEATURE_INDEX,
    GLCM_FEATURE_NAMES,
    _glcm_features,
    _nan_mean,
)

__all__ = ["GLCMFeatures", "GLCM_FEATURE_NAMES"]


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
            fbs_levels = _fbs_level_count(images, mask, self.bin_width, self.bin_min)
        if self.discretisation == "fixed_bin_number":
            n_levels = int(self.n_bins)
        elif self.discretisation == "none":
            # Only the levels present matter for the arrays' size; N_g stays n_levels_.
            n_levels = int(images.max()) + 1
        else:
            n_levels = int(fbs_levels.max(initial=1))

        merged = self.aggregation == "merged"
        blocks, chunk = _chunk_plan(
            (height, width), self.offsets_, n_levels, merged, n, self.n_jobs
        )
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

    def _discretise(self, images, mask, fbs_levels, sl):
        """Grey levels ``0..N_g-1``, the ROI mask (or None) and ``N_g`` per image."""
        return _discretise(
            images,
            mask,
            self.discretisation,
            n_bins=self.n_bins,
            bin_width=self.bin_width,
            bin_min=self.bin_min,
            n_levels=self.n_levels_,
            fbs_n_g=None if fbs_levels is None else fbs_levels[sl],
        )


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
