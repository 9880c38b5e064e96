"""Haar-like rectangle features, batched as one sparse product with integral images."""

import math
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._batching import map_chunks
from ..utils._docstrings import substitute_docs
from ..utils._sklearn_compat import Interval, RealNotInt, StrOptions
from ._base import BaseImageTransformer

__all__ = ["HAAR_FEATURE_TYPES", "HaarFeatures"]

# skimage.feature.haar_like_feature_coord's types. Each rectangle is given as
# (row offset, column offset) in units of the rectangle size (h, w), in
# skimage's order; a feature is the sum of the odd-indexed rectangles minus the
# sum of the even-indexed ones.
_RECTANGLES = {
    "type-2-x": ((0, 0), (0, 1)),
    "type-2-y": ((0, 0), (1, 0)),
    "type-3-x": ((0, 0), (0, 1), (0, 2)),
    "type-3-y": ((0, 0), (1, 0), (2, 0)),
    "type-4": ((0, 0), (0, 1), (1, 1), (1, 0)),
}
HAAR_FEATURE_TYPES = tuple(_RECTANGLES)
"""The five feature types, in scikit-image's names and order."""
# Above this many enumerated features the coordinate arrays and the sparse
# matrix take gigabytes: ask for a coarser grid instead.
_MAX_ENUMERATED = 5_000_000
# Target size of one chunk's integral images plus features, in bytes.
_CHUNK_BYTES = 32 * 2**20
_TRANSPOSE_BLOCK = 4096

# Ints are pixels, floats fractions of the window; RealNotInt keeps the two apart.
_SIZE_CONSTRAINT = [
    Interval(Integral, 1, None, closed="left"),
    Interval(RealNotInt, 0, 1, closed="right"),
]


def _pixels(value, side):
    """An int is pixels; a float is a fraction of the window side (at least 1 pixel)."""
    if isinstance(value, Integral):
        return int(value)
    return max(1, int(round(value * side)))


def _extent(type_):
    rects = np.array(_RECTANGLES[type_])
    return int(rects[:, 0].max()) + 1, int(rects[:, 1].max()) + 1


def _axis_grid(side, units, min_size, size_step, step):
    """Valid (position, size) pairs along one axis: ``pos + units * size <= side``."""
    sizes = np.arange(min_size, side // units + 1, size_step)
    positions = [np.arange(0, side - units * s + 1, step) for s in sizes]
    return sizes, positions


def _count(height, width, types, min_size, size_step, step):
    total = 0
    for type_ in types:
        my, mx = _extent(type_)
        _, ys = _axis_grid(height, my, min_size[0], size_step[0], step[0])
        _, xs = _axis_grid(width, mx, min_size[1], size_step[1], step[1])
        total += sum(len(p) for p in ys) * sum(len(p) for p in xs)
    return total


def _enumerate(height, width, type_, min_size, size_step, step):
    """``(y, x, h, w)`` of every feature of one type, in skimage's order.

    skimage loops over ``y, x, dy, dx`` (rectangle height ``dy`` and width
    ``dx``); with ``min_size=1, size_step=1, step=1`` this is exactly
    :func:`skimage.feature.haar_like_feature_coord`.
    """
    my, mx = _extent(type_)
    hs, ys = _axis_grid(height, my, min_size[0], size_step[0], step[0])
    ws, xs = _axis_grid(width, mx, min_size[1], size_step[1], step[1])
    # (position, size) pairs along each axis, then their outer product.
    y_pos = np.concatenate(ys + [np.empty(0, int)]).astype(np.int32)
    y_size = np.repeat(hs, [len(p) for p in ys]).astype(np.int32)
    x_pos = np.concatenate(xs + [np.empty(0, int)]).astype(np.int32)
    x_size = np.repeat(ws, [len(p) for p in xs]).astype(np.int32)
    iy, ix = np.meshgrid(np.arange(len(y_pos)), np.arange(len(x_pos)), indexing="ij")
    iy, ix = iy.ravel(), ix.ravel()
    y, h, x, w = y_pos[iy], y_size[iy], x_pos[ix], x_size[ix]
    order = np.lexsort((w, h, x, y))
    return np.stack([y[order], x[order], h[order], w[order]], axis=1)


def _feature_matrix(types, coords, height, width):
    """Sparse matrix of +-1 corner weights, and the integral-image corners it reads.

    With ``S`` the zero-padded integral image (``S[i, j]`` = sum of
    ``image[:i, :j]``), a rectangle's sum is ``S[b, r] - S[t, r] - S[b, l] + S[t, l]``,
    so every Haar-like feature is a fixed signed combination of corner values.
    Only the rows and columns of ``S`` that some corner uses are kept (on a
    coarse grid that is a few dozen values instead of ``(H + 1) * (W + 1)``).

    Returns
    -------
    matrix : CSR matrix of shape (n_features, (len(row_starts) + 1) * (len(col_starts) + 1))
    row_starts, col_starts : ndarray of int
        Block starts for :func:`_integral_images`.
    """
    rows, cols, vals = [], [], []
    index = np.arange(len(coords))
    for type_ in np.unique(types):
        sel = np.flatnonzero(types == type_)
        y, x, h, w = (coords[sel, j].astype(np.int64) for j in range(4))
        for k, (oy, ox) in enumerate(_RECTANGLES[type_]):
            sign = 1.0 if k % 2 else -1.0
            top, left = y + oy * h, x + ox * w
            bottom, right = top + h, left + w
            for r, c, s in (
                (bottom, right, 1.0),
                (top, right, -1.0),
                (bottom, left, -1.0),
                (top, left, 1.0),
            ):
                rows.append(index[sel])
                cols.append(np.stack([r, c]))
                vals.append(np.full(len(sel), sign * s))
    corners = np.concatenate(cols, axis=1)
    row_starts, row_pos = _compact(corners[0], height)
    col_starts, col_pos = _compact(corners[1], width)
    matrix = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), row_pos * (len(col_starts) + 1) + col_pos)),
        shape=(len(coords), (len(row_starts) + 1) * (len(col_starts) + 1)),
    ).tocsr()  # sums the corners that adjacent rectangles share
    matrix.eliminate_zeros()
    return matrix, row_starts, col_starts


def _compact(edges, side):
    """Block starts covering the used integral-image lines ``edges`` (0..side), and
    each edge's index in the compact integral image."""
    used = np.unique(edges)
    starts = np.concatenate([[0], used[(used > 0) & (used < side)]])
    # S line 0 is zero; line starts[k] (k >= 1) sums blocks 0..k-1; line side sums all.
    position = np.searchsorted(starts, edges)
    position[edges == side] = len(starts)
    return starts, position


def _integral_images(images, row_starts, col_starts):
    """``(P, n)`` integral images at the used corners only, one column per image."""
    n = len(images)
    blocks = np.add.reduceat(images, row_starts, axis=1, dtype=np.float64)
    blocks = np.add.reduceat(blocks, col_starts, axis=2)
    S = np.zeros((len(row_starts) + 1, len(col_starts) + 1, n))
    np.cumsum(blocks.transpose(1, 2, 0), axis=0, out=S[1:, 1:])
    np.cumsum(S[1:, 1:], axis=1, out=S[1:, 1:])
    return S.reshape(-1, n)


@substitute_docs()
class HaarFeatures(BaseImageTransformer):
    """Haar-like features: signed sums of adjacent rectangles, batched.

    The five standard types of :func:`skimage.feature.haar_like_feature_coord`
    (``'type-2-x'``, ``'type-2-y'``, ``'type-3-x'``, ``'type-3-y'``,
    ``'type-4'``) are enumerated on a bounded grid inside a detection window:
    rectangle sides ``min_size, min_size + size_step, ...`` and top-left
    positions every ``step`` pixels. Each value equals
    :func:`skimage.feature.haar_like_feature` for the same coordinates: the sum
    of the odd-indexed rectangles minus the sum of the even-indexed ones
    (``'type-2-x'``: right minus left; ``'type-3-x'``: middle minus the two
    sides; ``'type-4'``: top-right plus bottom-left minus the other two).

    Parameters
    ----------
    feature_types : str or tuple of str, default=("type-2-x", "type-2-y", "type-3-x", "type-3-y", "type-4")
        Types to enumerate.
    window_shape : tuple of (int, int), default=None
        ``(height, width)`` of the detection window, centred in the image.
        None uses the whole image, which suits ROIs of any size. Images smaller
        than the window are an error.
    min_size : int or float, default=0.125
        Smallest side of one rectangle: pixels if int, a fraction of the
        window's side (rounded, at least 1 pixel) if float.
    size_step : int or float, default=None
        Increment between rectangle sides, in the same units; None means
        ``min_size``.
    step : int or float, default=0.125
        Stride between top-left positions, in the same units.
        ``min_size=1, size_step=1, step=1`` enumerates every feature, as
        scikit-image does (162,336 for a 24x24 window). The defaults give 2,056
        features on any square window whose side is a multiple of 8.
    max_features : int, default=None
        Keep at most this many enumerated features, chosen in ``fit`` by
        ``selection``; None keeps them all.
    selection : {"random", "variance"}, default="random"
        How ``fit`` chooses ``max_features`` features: ``"random"`` draws them
        uniformly without replacement with ``random_state``; ``"variance"``
        keeps those with the largest variance over the images given to
        ``fit`` (ties go to the earlier enumerated feature). The kept features
        stay in enumeration order.
    random_state : int, RandomState instance or None, default=None
        Seed of the ``"random"`` selection.
    {image_shape}
    {n_jobs}
    {verbose}

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels of the images seen in ``fit``.
    image_shape_ : tuple of (int, int)
        Image shape seen in ``fit``.
    window_ : tuple of int
        ``(top, left, height, width)`` of the detection window in the image.
    feature_types_ : ndarray of str, shape (n_features_out,)
        Type of each output feature.
    feature_coords_ : ndarray of int, shape (n_features_out, 4)
        ``(y, x, h, w)`` of each output feature, relative to the window: the
        top-left pixel of its first rectangle and the height and width of one
        rectangle.
    n_features_enumerated_ : int
        Number of features on the grid before selection. The method
        :meth:`skimage_feature_coord` gives the kept features in scikit-image's
        ``feature_coord`` format.

    See Also
    --------
    skimage.feature.haar_like_feature : Per-image reference these values equal.

    Notes
    -----
    The zero-padded integral images of a whole chunk are computed at once, and
    since every feature is a fixed signed combination of integral-image corner
    values (weights +-1, +-2, +-4), all features of the chunk are one product
    with a sparse matrix built in ``fit`` (and rebuilt, not pickled, after
    unpickling). Only the integral-image rows and columns that some corner
    uses are computed, from block sums of the image: on the default grid that
    is 81 values per image whatever its size. Sums are in float64, exact for
    integer images.

    ROI masks are not supported: a Haar-like feature is a sum over fixed
    rectangles of the window, so crop or resample ROIs to the window instead
    (or zero the background yourself). Passing ``mask`` is an error.

    References
    ----------
    .. [1] P. Viola and M. Jones, "Rapid object detection using a boosted
       cascade of simple features", Proc. CVPR 2001, I-511-I-518.
       :doi:`10.1109/CVPR.2001.990517`
    .. [2] S. van der Walt et al., "scikit-image: image processing in Python",
       PeerJ 2:e453, 2014. :doi:`10.7717/peerj.453`

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.features import HaarFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(5, 64, 64), dtype=np.uint8)
    >>> haar = HaarFeatures().fit(X)
    >>> haar.transform(X).shape
    (5, 2056)
    >>> haar.get_feature_names_out()[0]
    'haar_type-2-x_y0_x0_h8_w8'
    >>> HaarFeatures(max_features=100, random_state=0).fit_transform(X).shape
    (5, 100)
    """

    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "feature_types": [str, "array-like"],
        "window_shape": [None, tuple, list],
        "min_size": list(_SIZE_CONSTRAINT),
        "size_step": [None, *_SIZE_CONSTRAINT],
        "step": list(_SIZE_CONSTRAINT),
        "max_features": [None, Interval(Integral, 1, None, closed="left")],
        "selection": [StrOptions({"random", "variance"})],
        "random_state": ["random_state"],
    }
    _supports_mask = False

    def __init__(
        self,
        feature_types=HAAR_FEATURE_TYPES,
        *,
        window_shape=None,
        min_size=0.125,
        size_step=None,
        step=0.125,
        max_features=None,
        selection="random",
        random_state=None,
        image_shape=None,
        n_jobs=None,
        verbose=0,
    ):
        self.feature_types = feature_types
        self.window_shape = window_shape
        self.min_size = min_size
        self.size_step = size_step
        self.step = step
        self.max_features = max_features
        self.selection = selection
        self.random_state = random_state
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- parameters ------------------------------------------------------------
    def _types(self):
        types = (
            (self.feature_types,)
            if isinstance(self.feature_types, str)
            else tuple(self.feature_types)
        )
        unknown = [t for t in types if not isinstance(t, str) or t not in _RECTANGLES]
        if not types or unknown or len(set(types)) != len(types):
            raise ValueError(
                f"feature_types must be distinct names from {list(HAAR_FEATURE_TYPES)}; got "
                f"{self.feature_types!r}" + (f" (unknown: {unknown})." if unknown else ".")
            )
        return types

    def _window(self, height, width):
        if self.window_shape is None:
            return 0, 0, height, width
        ws = self.window_shape
        if not (
            isinstance(ws, (tuple, list))
            and len(ws) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in ws)
        ):
            raise ValueError(
                f"window_shape must be None or (height, width) of positive ints; got {ws!r}."
            )
        wh, ww = int(ws[0]), int(ws[1])
        if wh > height or ww > width:
            raise ValueError(
                f"Images of shape {(height, width)} are smaller than the Haar detection "
                f"window {(wh, ww)}. Use larger images, a smaller window_shape, or "
                "window_shape=None for the whole image."
            )
        return (height - wh) // 2, (width - ww) // 2, wh, ww

    def _grid(self, wh, ww):
        size_step = self.min_size if self.size_step is None else self.size_step
        return (
            (_pixels(self.min_size, wh), _pixels(self.min_size, ww)),
            (_pixels(size_step, wh), _pixels(size_step, ww)),
            (_pixels(self.step, wh), _pixels(self.step, ww)),
        )

    # -- hooks -----------------------------------------------------------------
    def _value_limit(self, image_shape):
        # Integral images sum every pixel; a feature weighs rectangle sums by at most 2.
        return np.finfo(np.float64).max / (4 * max(1, math.prod(image_shape)))

    def _fit(self, images, y, mask):
        types = self._types()
        top, left, wh, ww = self._window(*images.shape[1:])
        grid = self._grid(wh, ww)
        total = _count(wh, ww, types, *grid)
        if total == 0:
            raise ValueError(
                f"No Haar-like feature of types {list(types)} fits a window of shape "
                f"{(wh, ww)} ({wh * ww} feature(s) of flattened input) with "
                f"min_size={self.min_size!r}: each needs at least 2 "
                "rectangles of min_size pixels along x or y. Use a larger window or a "
                "smaller min_size."
            )
        if total > _MAX_ENUMERATED:
            raise ValueError(
                f"{total} Haar-like features would be enumerated on a {(wh, ww)} window "
                f"(more than {_MAX_ENUMERATED}); raise step, min_size or size_step."
            )
        coords = [_enumerate(wh, ww, t, *grid) for t in types]
        feature_types = np.repeat(np.array(types, dtype=object), [len(c) for c in coords])
        coords = np.concatenate(coords)
        self.window_ = (top, left, wh, ww)
        self.n_features_enumerated_ = len(coords)
        if self.max_features is not None and self.max_features < len(coords):
            if self.selection == "random":
                rng = check_random_state(self.random_state)
                keep = rng.choice(len(coords), self.max_features, replace=False)
            else:
                variance = self._variance(images, _feature_matrix(feature_types, coords, wh, ww))
                keep = np.argsort(-variance, kind="stable")[: self.max_features]
            keep = np.sort(keep)
            coords, feature_types = coords[keep], feature_types[keep]
        self.feature_coords_ = coords
        self.feature_types_ = feature_types
        self._matrix = _feature_matrix(feature_types, coords, wh, ww)

    def _compute(self, images, matrix_and_starts):
        matrix, *starts = matrix_and_starts
        top, left, wh, ww = self.window_
        window = images[:, top : top + wh, left : left + ww]
        n_features = matrix.shape[0]
        n_values = matrix.shape[1] + n_features
        # Enough images per chunk for the sparse product's inner loop over them
        # to vectorise, few enough that a chunk stays in memory comfortably.
        chunk_size = max(1, min(64, _CHUNK_BYTES // (8 * n_values)))
        out = np.empty((len(images), n_features))

        def run(sl):
            values = matrix @ _integral_images(
                window[sl], starts[0], starts[1]
            )  # (n_features, chunk)
            # Blocked transpose into the output: a plain .T copy of a tall,
            # thin array is several times slower.
            for j in range(0, n_features, _TRANSPOSE_BLOCK):
                out[sl, j : j + _TRANSPOSE_BLOCK] = values[j : j + _TRANSPOSE_BLOCK].T
            return np.empty((sl.stop - sl.start, 0))

        map_chunks(
            run,
            len(images),
            chunk_size=chunk_size,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc="Haar",
        )
        return out

    def _variance(self, images, matrix_and_starts):
        """Per-feature variance over ``images``, chunk by chunk (memory stays small)."""
        matrix, *starts = matrix_and_starts
        top, left, wh, ww = self.window_
        window = images[:, top : top + wh, left : left + ww]
        chunk_size = max(1, min(64, _CHUNK_BYTES // (8 * (matrix.shape[1] + matrix.shape[0]))))
        # Moments about the first image's values: no cancellation for features
        # whose spread is small next to their mean.
        shift = matrix @ _integral_images(window[:1], *starts)[:, 0]
        sums = np.zeros((2, matrix.shape[0]))
        for start in range(0, len(images), chunk_size):
            values = (
                matrix @ _integral_images(window[start : start + chunk_size], *starts)
                - shift[:, None]
            )
            sums[0] += values.sum(axis=1)
            sums[1] += np.einsum("ij,ij->i", values, values)
        mean = sums[0] / len(images)
        return sums[1] / len(images) - mean * mean

    def _transform(self, images, mask):
        if getattr(self, "_matrix", None) is None:  # after unpickling
            self._matrix = _feature_matrix(
                self.feature_types_, self.feature_coords_, *self.window_[2:]
            )
        return self._compute(images, self._matrix)

    def skimage_feature_coord(self):
        """The output features in :func:`skimage.feature.haar_like_feature_coord`'s format.

        Returns
        -------
        feature_coord : ndarray of list, shape (n_features_out,)
            For each feature, the ``[(top, left), (bottom, right)]`` corners
            (inclusive) of its rectangles, relative to the window.
        feature_type : ndarray of str, shape (n_features_out,)
            The type of each feature.

        Examples
        --------
        >>> import numpy as np
        >>> from skbreastcad.features import HaarFeatures
        >>> haar = HaarFeatures(feature_types="type-2-x", min_size=1, step=1).fit(np.zeros((1, 1, 2)))
        >>> coord, types = haar.skimage_feature_coord()
        >>> coord[0], types[0]
        ([[(0, 0), (0, 0)], [(0, 1), (0, 1)]], 'type-2-x')
        """
        check_is_fitted(self)
        coord = np.empty(len(self.feature_coords_), dtype=object)
        for i, (type_, (y, x, h, w)) in enumerate(
            zip(self.feature_types_, self.feature_coords_.tolist())
        ):
            coord[i] = [
                [(y + oy * h, x + ox * w), (y + (oy + 1) * h - 1, x + (ox + 1) * w - 1)]
                for oy, ox in _RECTANGLES[type_]
            ]
        return coord, self.feature_types_.copy()

    def _feature_names(self):
        return [
            f"haar_{t}_y{y}_x{x}_h{h}_w{w}"
            for t, (y, x, h, w) in zip(self.feature_types_, self.feature_coords_)
        ]

    def __getstate__(self):
        # The sparse matrix is derived from feature_coords_ and can be large.
        state = super().__getstate__()
        state.pop("_matrix", None)
        return state
