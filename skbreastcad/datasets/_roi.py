"""Square ROIs cut from mammograms, shared by every loader.

Cropping (with the even-size rule), mask boxes, resampling and stacking, the
breast mask, the placement of non-tumour ROIs, and the returned ``Bunch``.
Nothing here reads a file: that is :mod:`._readers`' job.
"""

import inspect
import math
import os
import warnings

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import Bunch

__all__ = []


def crop_square(image, center_row, center_col, side):
    """Cut a ``side`` x ``side`` square centred on ``(center_row, center_col)``, zero-padded outside the image.

    The centre may fall between pixels (the centre of an even-sized box or
    image): the crop is then placed exactly around it when the parities
    allow, so a box of ``side`` pixels comes out whole. An integer centre
    lands on pixel ``side // 2`` of the crop.

    Returns the crop and its box ``(top, left, bottom, right)`` (half-open,
    in the image's row/column indices; it may extend past the borders).
    """
    side = int(side)
    # Not round(center) - side // 2: half-integer centres would follow Python's
    # round-half-to-even and shift every other crop by one pixel off its box.
    top = math.floor(center_row - side / 2 + 0.5)
    left = math.floor(center_col - side / 2 + 0.5)
    bottom, right = top + side, left + side
    out = np.zeros((side, side), dtype=image.dtype)
    h, w = image.shape
    r0, r1 = max(top, 0), min(bottom, h)
    c0, c1 = max(left, 0), min(right, w)
    if r0 < r1 and c0 < c1:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = image[r0:r1, c0:c1]
    return out, (top, left, bottom, right)


def resize_roi(roi, output_size):
    """Resample a square ROI to ``output_size`` pixels, keeping its dtype.

    Linear interpolation, with a Gaussian anti-aliasing filter when
    shrinking, so large and small crops reach the same resolution without
    aliasing. ``None`` returns the ROI unchanged.
    """
    if output_size is None or roi.shape == (output_size, output_size):
        return roi
    from skimage.transform import resize

    shrinking = roi.shape[0] > output_size
    out = resize(
        roi, (output_size, output_size), order=1, anti_aliasing=shrinking, preserve_range=True
    )
    if roi.dtype.kind in "ui":
        info = np.iinfo(roi.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(roi.dtype)


def cut_roi(image, center_row, center_col, side, output_size):
    """Cut a square ROI around a point and resample it, as the loaders cut theirs.

    The same crop (zero-padded past the image's edge) and anti-aliased
    resampling that :func:`load_mias` applies, so that a model trained on
    the loaders' ROIs sees a point of a whole film as it saw them.

    Parameters
    ----------
    image : ndarray of shape (height, width)
        A grayscale image (a whole film).
    center_row, center_col : float
        The centre of the ROI in pixels; it may fall between pixels.
    side : int
        Side of the square cut from ``image``.
    output_size : int or None
        Side of the returned ROI; None keeps ``side``.

    Returns
    -------
    roi : ndarray of shape (output_size, output_size)
        The ROI, with ``image``'s dtype.
    box : tuple of int
        ``(top, left, bottom, right)`` of the cut in ``image`` (half-open; it
        may extend past the borders).

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.datasets import cut_roi
    >>> film = np.arange(100, dtype=np.uint8).reshape(10, 10)
    >>> roi, box = cut_roi(film, 0, 0, 4, 2)
    >>> roi.shape, box
    ((2, 2), (-2, -2, 2, 2))
    """
    roi, box = crop_square(image, center_row, center_col, side)
    return resize_roi(roi, output_size), box


def mask_box(mask, margin):
    """Square box around the mask's non-zero pixels, enlarged by ``margin`` on every side.

    Returns ``(center_row, center_col, side)`` (the centre may be a
    half-integer, see :func:`crop_square`) or None for an empty mask.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    side = int(np.ceil(max(height, width) * (1 + 2 * margin)))
    return (rows[0] + rows[-1] + 1) / 2 - 0.5, (cols[0] + cols[-1] + 1) / 2 - 0.5, max(side, 1)


def stack_rois(rois, sources):
    """Stack ROIs into one array, refusing to mix bit depths or sizes silently.

    ``sources`` names the file of each ROI, for the error message.
    """
    check_one_dtype([roi.dtype for roi in rois], sources)
    shapes = {roi.shape for roi in rois}
    if len(shapes) > 1:
        raise ValueError(
            f"ROIs of different sizes {sorted(shapes)}: set output_size to resample them to one size."
        )
    return np.stack(rois)


def check_one_dtype(dtypes, sources):
    """Refuse ROIs of several pixel types; ``sources`` names the file of each, for the error."""
    if len(set(dtypes)) > 1:
        examples = {}
        for dtype, source in zip(dtypes, sources, strict=True):
            examples.setdefault(dtype, source)
        listed = ", ".join(f"{dtype} (e.g. {source})" for dtype, source in examples.items())
        raise ValueError(
            f"The images mix pixel types: {listed}. Stacking would promote 8-bit grey levels into a 16-bit "
            "range without rescaling them; convert the images to one bit depth first."
        )


def breast_mask(image, *, factor=4):
    """A boolean mask of the breast in a mammogram, computed at ``1/factor`` resolution.

    The film is thresholded at 0.4 x Otsu's threshold of the smoothed
    image (Otsu alone cuts off the faint fatty periphery), opened to cut
    thin bridges to film labels, reduced to its largest connected component
    (labels, markers and scanner artefacts are separate blobs), its holes
    filled and its edge eroded by one cell (the smoothing pushes it
    outwards).

    Returns
    -------
    mask : ndarray of bool, shape (height // factor, width // factor)
    """
    from skimage.filters import threshold_otsu

    h, w = image.shape
    hs, ws = h // factor, w // factor
    small = np.zeros((hs, ws), dtype=np.float64)
    for i in range(factor):
        for j in range(factor):
            small += image[i : hs * factor : factor, j : ws * factor : factor]
    small /= factor * factor
    small = ndi.gaussian_filter(small, 1.0)
    if small.max() == small.min():
        return np.zeros((hs, ws), dtype=bool)
    mask = small > 0.4 * threshold_otsu(small)
    mask = ndi.binary_opening(mask, structure=np.ones((3, 3)), iterations=2)
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    # smoothing and block averaging push the edge outwards: pull it back by one cell
    return ndi.binary_erosion(ndi.binary_fill_holes(labels == largest))


def _cells(side, factor):
    # rounding up keeps every full-resolution box inside the image
    return max(1, -(-int(side) // factor))


def box_fractions(mask, factor, side):
    """Fraction of breast under a ``side``-pixel box at every low-resolution top-left corner."""
    s = _cells(side, factor)
    hs, ws = mask.shape
    if s > hs or s > ws:
        return np.zeros((0, 0))
    integral = np.pad(mask.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (integral[s:, s:] - integral[:-s, s:] - integral[s:, :-s] + integral[:-s, :-s]) / (s * s)


def breast_fraction(mask, factor, top, left, side):
    """Fraction of breast under the full-resolution box ``(top, left, side)``, on the mask's grid.

    Uses the same ``ceil(side / factor)`` cells as :func:`box_fractions`, so
    lesion and background crops are measured alike; cells outside the image
    count as background.
    """
    s = _cells(side, factor)
    r0, c0 = int(top) // factor, int(left) // factor
    hs, ws = mask.shape
    covered = mask[max(r0, 0) : min(r0 + s, hs), max(c0, 0) : min(c0 + s, ws)]
    return float(covered.sum()) / (s * s)


def distance_to_breast(mask, factor, row, col):
    """Distance in full-resolution pixels from ``(row, col)`` to the nearest breast cell of ``mask``."""
    r = min(max(int(row) // factor, 0), mask.shape[0] - 1)
    c = min(max(int(col) // factor, 0), mask.shape[1] - 1)
    if mask[r, c]:
        return 0.0
    if not mask.any():
        return np.inf
    rows, cols = np.nonzero(mask)
    return float(np.sqrt(np.min((rows - r) ** 2 + (cols - c) ** 2))) * factor


def sample_background_box(mask, factor, side, circles, taken, rng, *, inside=(0.95, 1.0)):
    """Draw the centre of a ``side``-pixel square centred in the breast, clear of lesions.

    Parameters
    ----------
    mask : ndarray of bool
        Breast mask at ``1/factor`` resolution (see :func:`breast_mask`).
    factor : int
    side : int
        Box side in full-resolution pixels.
    circles : list of (row, col, radius)
        Regions (full resolution) the box must not touch.
    taken : list of (top, left, bottom, right)
        Boxes already drawn in this image; the new box must not overlap them.
    rng : numpy.random.RandomState
    inside : tuple of (float, float)
        Range of the fraction of the box that must be breast.

    Returns
    -------
    center : tuple of (int, int) or None
        Full-resolution ``(row, col)``, or None when no position fits.
    """
    fractions = box_fractions(mask, factor, side)
    if fractions.size == 0:
        return None
    s = _cells(side, factor)
    # the box centre itself must be breast tissue
    centred = mask[s // 2 : s // 2 + fractions.shape[0], s // 2 : s // 2 + fractions.shape[1]]
    ok = (fractions >= inside[0] - 1e-9) & (fractions <= inside[1] + 1e-9) & centred
    if not ok.any():
        return None
    tops, lefts = np.nonzero(ok)
    top = tops * factor
    left = lefts * factor
    keep = np.ones(len(tops), dtype=bool)
    for row, col, radius in circles:
        # distance from the circle centre to the nearest point of the box
        dr = np.maximum(np.maximum(top - row, row - (top + side)), 0)
        dc = np.maximum(np.maximum(left - col, col - (left + side)), 0)
        keep &= dr**2 + dc**2 > radius**2
    for t, lft, b, r in taken:
        keep &= (top >= b) | (top + side <= t) | (left >= r) | (left + side <= lft)
    if not keep.any():
        return None
    k = rng.choice(np.flatnonzero(keep))
    return int(top[k] + side // 2), int(left[k] + side // 2)


class Film:
    """A mammogram on which non-tumour ROIs may be placed.

    Parameters
    ----------
    image : ndarray of shape (height, width)
    factor : int
        Resolution of the breast mask: one cell per ``factor`` x ``factor``
        pixels.
    keep_away : list of (row, col, radius), default=()
        Circles (full-resolution pixels) that no non-tumour ROI may touch:
        the annotated lesions, enlarged by the loader's margin.
    """

    def __init__(self, image, *, factor, keep_away=()):
        self.image = image
        self.factor = factor
        self.keep_away = list(keep_away)
        self._breast = None

    @property
    def breast(self):
        """The breast mask (:func:`breast_mask`), computed once, on first use."""
        if self._breast is None:
            self._breast = breast_mask(self.image, factor=self.factor)
        return self._breast

    def breast_fraction(self, box):
        """Share of breast under a square ``(top, left, bottom, right)`` box."""
        top, left, bottom, _ = box
        return breast_fraction(self.breast, self.factor, top, left, bottom - top)


def _breast_ranges(fraction, match_breast_fraction):
    if not match_breast_fraction or fraction >= 0.95:
        return [(0.95, 1.0)]
    # a lesion crop that takes in the film's black padding: a non-tumour crop must
    # match it, else the padding alone would tell the classes apart; failing that,
    # any crop wholly in the breast
    return [(fraction - 0.05, fraction + 0.05), (0.95, 1.0)]


def place_negatives(n_negatives, films, templates, rng, *, attempts=1, match_breast_fraction=False):
    """Place non-tumour ROIs round-robin over the films, centred in the breast, clear of lesions.

    The films are visited in a random order, one ROI per film per round;
    a film on which a ROI finds no room is dropped from later rounds. Each
    ROI copies the crop size (and, with ``match_breast_fraction``, the
    share of breast) of a lesion crop drawn at random, so that neither the
    resampling scale nor the film's black padding reveals the class. ROIs
    on one film never overlap.

    Parameters
    ----------
    n_negatives : int
        How many ROIs to place.
    films : list of Film
    templates : list of (int, float)
        ``(side, breast_fraction)`` of each lesion crop.
    rng : numpy.random.RandomState
    attempts : int, default=1
        Lesion crops drawn per film and round before the film is given up.
    match_breast_fraction : bool, default=False
        Whether a ROI copies its template's share of breast (within 0.05)
        when that share is below 0.95; otherwise every ROI is at least 95 %
        breast.

    Returns
    -------
    placed : list of (int, int, int, int)
        ``(film_index, center_row, center_col, side)`` in placement order;
        shorter than ``n_negatives`` when the films run out of room.
    """
    placed = []
    if n_negatives == 0:
        return placed
    taken = [[] for _ in films]
    open_films = list(rng.permutation(len(films)))
    while len(placed) < n_negatives and open_films:
        still_open = []
        for k in open_films:
            if len(placed) == n_negatives:
                break
            film = films[k]
            center, side = None, None
            for t in rng.randint(0, len(templates), size=attempts):
                side, fraction = templates[t]
                side = int(side)
                for inside in _breast_ranges(fraction, match_breast_fraction):
                    center = sample_background_box(
                        film.breast, film.factor, side, film.keep_away, taken[k], rng, inside=inside
                    )
                    if center is not None:
                        break
                if center is not None:
                    break
            if center is None:
                continue
            top, left = center[0] - side // 2, center[1] - side // 2
            taken[k].append((top, left, top + side, left + side))
            placed.append((k, center[0], center[1], side))
            still_open.append(k)
        open_films = still_open
    return placed


def _user_stacklevel():
    """The stack level of the first frame outside this package and ``validate_params``' wrapper.

    As pandas' ``find_stack_level``: the warning then points at the user's
    call of the loader however deep in the loader it is raised.
    """
    from ..utils._sklearn_compat import validate_params

    # validate_params' wrapper lives in scikit-learn's _param_validation module
    wrapper = validate_params.__code__.co_filename
    ours = (os.path.dirname(os.path.dirname(__file__)) + os.sep, wrapper)
    frame, level = inspect.currentframe(), 0
    while frame is not None and frame.f_code.co_filename.startswith(ours):
        frame, level = frame.f_back, level + 1
    return level


def warn_skipped(what, skipped):
    """Warn once about items left out, with their count and the reasons, at the user's call."""
    if not skipped:
        return
    lines = [f"  - {item}: {reason}" for item, reason in skipped[:10]]
    if len(skipped) > 10:
        lines.append(f"  - ... and {len(skipped) - 10} more")
    message = f"{what}: skipped {len(skipped)} item(s):\n" + "\n".join(lines)
    warnings.warn(message, UserWarning, stacklevel=_user_stacklevel())


def count_classes(target, target_names):
    """``"3 benign, 2 malignant"``: the class counts for a ``DESCR``."""
    return ", ".join(f"{int((target == k).sum())} {name}" for k, name in enumerate(target_names))


def roi_bunch(
    what, *, rois, sources, target, groups, metadata, target_names, skipped, describe, images=None
):
    """Stack the ROIs, warn about what was left out and return the loaders' ``Bunch``.

    Parameters
    ----------
    what : str
        The call, e.g. ``"load_mias('data/mias')"``, opening the warning.
    rois : list of ndarray
    sources : list of str
        The file of each ROI, for :func:`stack_rois`' errors.
    target, groups : ndarray
    metadata : pandas.DataFrame
    target_names : sequence of str
    skipped : list of (str, str)
        ``(item, reason)`` of everything left out.
    describe : callable
        ``describe(counts)`` returns ``DESCR`` from the class counts
        (:func:`count_classes`).
    images : array-like or None, default=None
        The images to return instead of stacking ``rois`` (an
        :class:`~skbreastcad.datasets.ImagePaths`); ``rois`` is then ignored.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images``, ``target``, ``groups``, ``metadata``, ``target_names``,
        ``skipped`` (a DataFrame ``item``, ``reason``) and ``DESCR``.
    """
    import pandas as pd

    if images is None:
        images = stack_rois(rois, sources)
    target_names = np.array(target_names)
    warn_skipped(what, skipped)
    return Bunch(
        images=images,
        target=target,
        groups=groups,
        metadata=metadata,
        target_names=target_names,
        skipped=pd.DataFrame(skipped, columns=["item", "reason"]),
        DESCR=describe(count_classes(target, target_names)),
    )
