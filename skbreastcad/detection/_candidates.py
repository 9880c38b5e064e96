"""Candidate lesions: peaks of a lesion map after non-maximum suppression."""

from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi

from ..utils._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["find_candidates"]

CANDIDATE_COLUMNS = ["row", "col", "radius", "score"]


def _half_max_radius(probability, row, col, score):
    """Radius of the disc with the area of the peak's connected region above half its score."""
    labels, _ = ndi.label(probability >= score / 2)
    area = np.count_nonzero(labels == labels[row, col])
    return float(np.sqrt(area / np.pi))


@validate_params(
    {
        "probability": ["array-like"],
        "min_distance": [Interval(Real, 0, None, closed="left")],
        "threshold": [Interval(Real, 0, None, closed="left")],
        "max_candidates": [Interval(Integral, 1, None, closed="left"), None],
        "radius": [Interval(Real, 0, None, closed="neither"), StrOptions({"half_max"})],
    },
    prefer_skip_nested_validation=True,
)
def find_candidates(
    probability, *, min_distance=64, threshold=0.0, max_candidates=None, radius="half_max"
):
    """Candidate lesions of a film: local maxima of its lesion map, non-maximum suppressed.

    Every local maximum (a pixel no lower than its 8 neighbours) above
    ``threshold`` is a peak; peaks are visited from the highest score down
    and a peak closer than ``min_distance`` pixels to one already kept is
    suppressed (greedy non-maximum suppression of points, as for
    detection in whole-slide and mammography images). Of a flat plateau
    only its first pixel in row-major order is kept.

    Parameters
    ----------
    probability : array-like of shape (height, width)
        A lesion map, e.g. ``lesion_map(...).probability``.
    min_distance : float, default=64
        Smallest distance in pixels between two candidates (e.g. half the
        window side).
    threshold : float, default=0.0
        Peaks at or below it are dropped (0 drops the background).
    max_candidates : int or None, default=None
        Keep at most this many, the highest scoring.
    radius : "half_max" or float, default="half_max"
        Candidate radius: ``"half_max"`` is the radius of a disc with the
        area of the connected region around the peak where the map is at
        least half the peak's score; a number gives every candidate that radius.

    Returns
    -------
    candidates : pandas.DataFrame
        Columns ``row``, ``col`` (int, array indices, origin top-left),
        ``radius`` and ``score`` (float), by decreasing score.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.detection import find_candidates
    >>> p = np.zeros((50, 50))
    >>> p[10, 10], p[12, 12], p[40, 30] = 0.9, 0.8, 0.5
    >>> find_candidates(p, min_distance=5, radius=3.0)
       row  col  radius  score
    0   10   10     3.0    0.9
    1   40   30     3.0    0.5
    """
    import pandas as pd

    probability = np.asarray(probability, dtype=np.float64)
    if probability.ndim != 2:
        raise ValueError(f"probability must be a 2-D map; got shape {probability.shape}.")
    if not np.isfinite(probability).all():
        raise ValueError("probability holds NaN or infinite values.")
    peaks = (probability == ndi.maximum_filter(probability, size=3, mode="nearest")) & (
        probability > threshold
    )
    # adjacent local maxima are equal (a plateau): keep its first pixel in row-major order
    labels, _ = ndi.label(peaks, structure=np.ones((3, 3)))
    flat = np.flatnonzero(peaks)
    _, first = np.unique(labels.ravel()[flat], return_index=True)
    rows, cols = np.unravel_index(flat[np.sort(first)], probability.shape)
    scores = probability[rows, cols]
    # stable sort: equal scores keep row-major order, so plateaus resolve deterministically
    order = np.argsort(-scores, kind="stable")
    rows, cols, scores = rows[order], cols[order], scores[order]
    kept = []
    min_d2 = float(min_distance) ** 2
    for k in range(len(rows)):
        if max_candidates is not None and len(kept) == max_candidates:
            break
        if kept:
            idx = np.asarray(kept)
            d2 = (rows[idx] - rows[k]) ** 2 + (cols[idx] - cols[k]) ** 2
            if np.any(d2 < min_d2):
                continue
        kept.append(k)
    kept = np.asarray(kept, dtype=int)
    rows, cols, scores = rows[kept], cols[kept], scores[kept]
    if radius == "half_max":
        radii = [
            _half_max_radius(probability, r, c, s)
            for r, c, s in zip(rows, cols, scores, strict=True)
        ]
    else:
        radii = np.full(len(rows), float(radius))
    return pd.DataFrame(
        {
            "row": rows.astype(int),
            "col": cols.astype(int),
            "radius": np.asarray(radii, dtype=float),
            "score": scores.astype(float),
        },
        columns=CANDIDATE_COLUMNS,
    )


def suppress(rows, cols, radii, order, kept, factor, cap, pick):
    """Greedy non-maximum suppression: ``kept`` extended by the peaks of ``order`` that no
    kept candidate covers (distance below ``factor * pick(its radius, theirs)``), up to ``cap``."""
    kept = list(kept)
    for k in order:
        if len(kept) == cap:
            break
        if kept:
            idx = np.asarray(kept)
            d = np.hypot(rows[idx] - rows[k], cols[idx] - cols[k])
            if np.any(d < factor * pick(radii[idx], radii[k])):
                continue
        kept.append(k)
    return kept
