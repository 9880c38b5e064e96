"""Film preprocessing shared by every whole-film path: breast, pectoral muscle, side, intensities."""

from numbers import Real

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import Bunch

from ..utils._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["preprocess_film"]


def _block_mean(image, factor):
    h, w = image.shape
    hs, ws = h // factor, w // factor
    return image[: hs * factor, : ws * factor].reshape(hs, factor, ws, factor).mean(axis=(1, 3))


def _disk(radius):
    r = int(np.ceil(radius))
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= radius * radius


def _breast(small, cell_mm):
    """Breast at low resolution: threshold, cut thin bridges to labels, keep the largest blob."""
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(small, 1.0)
    if smooth.max() == smooth.min():
        return np.zeros(small.shape, bool)
    # 0.4 x Otsu keeps the faint fatty periphery that Otsu alone cuts off
    raw = smooth > 0.4 * threshold_otsu(smooth)
    # labels and scanner strips touch the breast only through thin bridges: erode ~3 mm,
    # keep the largest component, then grow it back inside the thresholded film
    cut = _disk(max(1.0, 3.0 / cell_mm))
    eroded = ndi.binary_erosion(raw, structure=cut)
    labels, n = ndi.label(eroded)
    if n == 0:
        labels, n = ndi.label(raw)
        if n == 0:
            return raw
        return ndi.binary_fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    core = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    grown = ndi.binary_dilation(core, structure=cut) & raw
    return ndi.binary_fill_holes(grown)


def _chest_wall_on_right(breast):
    # the chest wall is the side where the breast is widest: more breast pixels in that half
    w = breast.shape[1]
    return breast[:, w // 2 :].sum() > breast[:, : w // 2].sum()


def _pectoral(small, breast, cell_mm):
    """Pectoral muscle of an MLO view whose chest wall is on the left (top-left triangle).

    The brightest of three multi-Otsu classes of the breast, the component
    at the top of the chest wall, its boundary traced row by row from the
    chest wall until it closes or merges into glandular tissue, then
    fitted by a robust straight line; empty when the sanity rules fail.
    """
    from skimage.filters import threshold_multiotsu

    empty = np.zeros(breast.shape, bool)
    rows = np.flatnonzero(breast.any(axis=1))
    cols = np.flatnonzero(breast.any(axis=0))
    if len(rows) < 8 or len(cols) < 8:
        return empty, "no breast"
    top, bottom = rows[0], rows[-1]
    left = cols[0]
    height = bottom - top + 1
    width = cols[-1] - left + 1
    smooth = ndi.gaussian_filter(small, 2.0 / cell_mm)
    try:
        thresholds = threshold_multiotsu(smooth[breast], classes=3)
    except ValueError:
        return empty, "flat breast"
    bright = breast & (smooth > thresholds[-1])
    labels, n = ndi.label(bright)
    if n == 0:
        return empty, "no bright class"
    starts = np.where(breast.any(axis=1), np.argmax(breast, axis=1), -1)
    # the component at the top rows, next to the chest wall
    band = max(2, height // 20)
    seeds = [
        labels[r, starts[r] : starts[r] + max(2, width // 10)]
        for r in range(top, top + band)
        if starts[r] >= 0
    ]
    seeds = np.concatenate(seeds) if seeds else np.empty(0, int)
    seeds = seeds[seeds > 0]
    if len(seeds) == 0:
        return empty, "no bright corner"
    muscle = labels == np.bincount(seeds).argmax()
    r_idx, ends = [], []
    narrowest = np.inf
    for r in range(top, top + int(0.75 * height)):
        if starts[r] < 0:
            break
        line = muscle[r, starts[r] :]
        # the smoothed chest-wall edge is darker: the muscle may start a few cells in
        first = int(np.argmax(line[: max(3, width // 10)]))
        if not line[first]:
            break
        rest = line[first:]
        run = first + (int(np.argmin(rest)) if not rest.all() else len(rest))
        if run <= 1:
            break
        # a run that widens again has merged into glandular tissue: the muscle ended above
        if run > narrowest + 0.1 * width:
            break
        narrowest = min(narrowest, run)
        r_idx.append(r)
        ends.append(starts[r] + run)
    if len(r_idx) < 5:
        return empty, "too short"
    r_idx, ends = np.asarray(r_idx, float), np.asarray(ends, float)
    # least absolute deviations by reweighting: bright glands widen some rows
    weights = np.ones_like(r_idx)
    for _ in range(10):
        coef = np.polyfit(r_idx, ends, 1, w=weights)
        weights = 1.0 / np.maximum(np.abs(ends - np.polyval(coef, r_idx)), 1.0)
    slope, intercept = coef
    rr, cc = np.mgrid[: breast.shape[0], : breast.shape[1]]
    mask = breast & (cc < slope * rr + intercept) & (rr >= top)
    share = mask.sum() / breast.sum()
    if slope >= 0:
        return empty, "boundary not closing downwards"
    if not 0.01 <= share <= 0.35:
        return empty, f"area {share:.0%} of the breast"
    return mask, "fitted"


def _upsample(mask, factor, shape):
    full = np.zeros(shape, mask.dtype)
    up = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    full[: up.shape[0], : up.shape[1]] = up
    return full


@validate_params(
    {
        "film": ["array-like"],
        "view": [StrOptions({"MLO", "CC"})],
        "pixel_size_mm": [Interval(Real, 0, None, closed="neither")],
        "margin_mm": [Interval(Real, 0, None, closed="left")],
        "pectoral_margin_mm": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def preprocess_film(film, *, view="MLO", pixel_size_mm=0.2, margin_mm=2.0, pectoral_margin_mm=0.0):
    """Segment a mammogram and normalise it: the one preprocessing of every whole-film path.

    1. **Breast**: at about 0.8 mm per cell, the smoothed film thresholded at
       0.4 x Otsu, eroded by 3 mm so that labels, markers and scanner strips
       come loose, reduced to its largest component, grown back inside the
       threshold and its holes filled.
    2. **Side**: the chest wall is on the side holding more breast; the
       canonical orientation puts it on the left (``flipped``).
    3. **Pectoral muscle** (MLO only): the brightest of three multi-Otsu
       classes in the top-left 70 % of the breast, the component at the
       top of the chest wall, its boundary fitted by a robust straight line;
       kept only when the line closes downwards and the muscle covers 1-35 %
       of the breast, otherwise no muscle is removed (``pectoral_status``).
    4. **Margin**: breast pixels closer than ``margin_mm`` to the skin line
       are dropped (the chest-wall side, where the film ends, keeps its
       tissue: lesions lie against it), and so are those within
       ``pectoral_margin_mm`` of the muscle.
    5. **Intensities**: ``(film - median) / IQR`` of the kept breast pixels;
       outside the breast the film is set to the breast's 1st percentile so
       labels and the border carry no structure.

    Parameters
    ----------
    film : array-like of shape (height, width)
        A mammogram with bright tissue on a dark background.
    view : {"MLO", "CC"}, default="MLO"
        Only MLO views have a pectoral muscle to remove (every mini-MIAS film is MLO).
    pixel_size_mm : float, default=0.2
        Pixel edge in millimetres (mini-MIAS: 0.2).
    margin_mm : float, default=2.0
        Inward margin dropped along the breast's edge.
    pectoral_margin_mm : float, default=0.0
        Extra margin dropped around the muscle.

    Returns
    -------
    result : sklearn.utils.Bunch
        Every array is in the film's own coordinates and shape:

        - ``image``: float32, the normalised film.
        - ``breast``: bool, the breast before the margins (step 1).
        - ``pectoral``: bool, the muscle (empty on CC views or when not found).
        - ``mask``: bool, where lesions are searched: breast minus margin
          minus muscle.
        - ``distance_to_edge_mm``: float32, to the skin line (0 outside
          the breast); ``distance_to_pectoral_mm``: float32, to the muscle
          (``inf`` where none was found).
        - ``flipped``: bool, the chest wall was on the right (canonical
          orientation = ``image[:, ::-1]``).
        - ``pectoral_status``: str, ``"fitted"`` or why no muscle was removed.
        - ``removed``: dict of the share of the film each step removes
          (``background``, ``margin``, ``pectoral``).

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.detection import preprocess_film
    >>> rows, cols = np.ogrid[:256, :256]
    >>> film = np.where((rows - 128) ** 2 + (cols - 256) ** 2 < 200**2, 150, 5).astype(np.uint8)
    >>> result = preprocess_film(film, view="CC", pixel_size_mm=0.8)
    >>> bool(result.flipped), bool(result.mask[128, 200]), bool(result.mask[128, 20])
    (True, True, False)
    """
    film = np.asarray(film)
    if film.ndim != 2:
        raise ValueError(f"film must be a 2-D grayscale image; got an array of shape {film.shape}.")
    if min(film.shape) < 16:
        raise ValueError(f"film is too small to segment: shape {film.shape}.")
    image = film.astype(np.float32)
    # cells of about 0.8 mm: the segmentation needs no finer detail and runs in milliseconds
    factor = max(1, int(round(0.8 / pixel_size_mm)))
    cell_mm = factor * pixel_size_mm
    small = _block_mean(image, factor)
    breast_small = _breast(small, cell_mm)
    flipped = bool(_chest_wall_on_right(breast_small))
    canon = breast_small[:, ::-1] if flipped else breast_small
    small_canon = small[:, ::-1] if flipped else small
    if view == "MLO" and breast_small.any():
        pect_canon, status = _pectoral(small_canon, canon, cell_mm)
    else:
        pect_canon, status = np.zeros_like(canon), "not an MLO view"
    pect_small = pect_canon[:, ::-1] if flipped else pect_canon

    breast = _upsample(breast_small, factor, film.shape)
    pectoral = _upsample(pect_small, factor, film.shape)
    # the chest-wall side is where the film ends, not skin: count the film beyond it as
    # breast so the margin follows the skin line only (lesions lie against the chest wall)
    starts = np.where(canon.any(axis=1), np.argmax(canon, axis=1), 0)
    beyond = np.arange(canon.shape[1])[None, :] < starts[:, None]
    beyond = beyond[:, ::-1] if flipped else beyond
    # distances on the cells (0.8 mm steps), measured from cell centres
    edge_small = ndi.distance_transform_edt(breast_small | beyond) * cell_mm - cell_mm / 2
    edge_small[~breast_small] = 0.0
    to_edge = _upsample(edge_small.astype(np.float32), factor, film.shape)
    if pect_small.any():
        pect_dist = ndi.distance_transform_edt(~pect_small) * cell_mm - cell_mm / 2
        to_pect = _upsample(np.maximum(pect_dist, 0).astype(np.float32), factor, film.shape)
    else:
        to_pect = np.full(film.shape, np.inf, np.float32)
    inner = breast & (to_edge >= margin_mm)
    mask = inner & ~pectoral & (to_pect >= pectoral_margin_mm)
    kept = image[mask] if mask.any() else image[breast] if breast.any() else image.ravel()
    q1, median, q3 = np.percentile(kept, [25, 50, 75])
    scale = q3 - q1 if q3 > q1 else max(float(kept.std()), 1.0)
    normalised = (image - median) / scale
    normalised[~breast] = (np.percentile(kept, 1) - median) / scale
    n = film.size
    return Bunch(
        image=normalised.astype(np.float32),
        breast=breast,
        pectoral=pectoral,
        mask=mask,
        distance_to_edge_mm=to_edge,
        distance_to_pectoral_mm=to_pect,
        flipped=flipped,
        pectoral_status=status,
        removed={
            "background": float((~breast).sum() / n),
            "margin": float((breast & ~inner).sum() / n),
            "pectoral": float((inner & ~mask).sum() / n),
        },
    )
