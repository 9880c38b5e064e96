"""IBSI intensity discretisation: images to grey levels ``0..N_g - 1`` for the GLCM.

Fixed bin number (FBN) bins each ROI's range into ``n_bins``; fixed bin width
(FBS) cuts bins of ``bin_width`` from ``bin_min`` (or each ROI's minimum);
``"none"`` takes integer images as they are. Levels are 0-based here; the
features use the IBSI's 1-based indices.
"""

import numpy as np

from ._glcm_counting import _PAIR_BUDGET

_MAX_LEVELS = 65536


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


def _fbs_level_count(images, mask, bin_width, bin_min):
    """``N_g`` of each image under fixed bin width (1 for an empty ROI)."""
    lo, hi = _roi_range(images, mask)
    bin_min = lo if bin_min is None else np.full_like(lo, float(bin_min))
    empty = ~(hi >= bin_min)
    with np.errstate(invalid="ignore", over="ignore"):
        n_g = np.floor((np.where(empty, 0.0, hi - bin_min)) / float(bin_width)) + 1
    if n_g.max(initial=1) > _MAX_LEVELS:
        raise ValueError(
            f"discretisation='fixed_bin_width' with bin_width={bin_width} gives "
            f"{int(n_g.max())} grey levels for some image, more than {_MAX_LEVELS}; "
            "increase bin_width or set bin_min."
        )
    return n_g


def _discretise(images, mask, discretisation, *, n_bins, bin_width, bin_min, n_levels, fbs_n_g):
    """Grey levels ``0..N_g-1``, the ROI mask (or None) and ``N_g`` per image.

    ``n_levels`` is ``N_g`` of ``"none"``; ``fbs_n_g`` is that of each image
    under ``"fixed_bin_width"`` (:func:`_fbs_level_count`), None otherwise.
    """
    if discretisation == "none":
        return images, mask, np.full(len(images), float(n_levels))
    if discretisation == "fixed_bin_number" and images.dtype == np.uint8:
        return _discretise_uint8(images, mask, n_bins)
    x = images.astype(np.float64, copy=False)
    lo, hi = _roi_range(x, mask)
    empty = ~(lo <= hi)
    # Extreme floats may overflow to inf; those pixels land in the end bins.
    with np.errstate(invalid="ignore", over="ignore"):
        if discretisation == "fixed_bin_number":
            n_bins = int(n_bins)
            lo = np.where(empty, 0.0, lo)
            span = np.where(empty | (hi <= lo), 1.0, hi - lo)
            scaled = n_bins * (x - lo[:, None, None]) / span[:, None, None]
            scaled = np.nan_to_num(scaled, nan=0.0, posinf=n_bins, neginf=0.0)
            levels = np.clip(np.floor(scaled), 0, n_bins - 1).astype(np.int32)
            return levels, mask, np.full(len(images), float(n_bins))
        # fixed bin width
        n_g = fbs_n_g
        first = np.where(empty, 0.0, lo) if bin_min is None else np.full(len(x), float(bin_min))
        scaled = (x - first[:, None, None]) / float(bin_width)
        scaled = np.nan_to_num(scaled, nan=-1.0, posinf=_MAX_LEVELS, neginf=-1.0)
    if bin_min is not None:
        inside = x >= first[:, None, None]
        mask = inside if mask is None else mask & inside
    levels = np.clip(np.floor(scaled), 0, (n_g - 1)[:, None, None]).astype(np.int32)
    return levels, mask, n_g


def _discretise_uint8(images, mask, n_bins):
    """Fixed bin number of 8-bit images by a look-up table per image.

    The 256 possible values are binned with the same float64 arithmetic as
    the pixels would be, so the levels are identical, at the cost of one
    gather per pixel instead of a dozen floating-point passes.
    """
    n_bins = int(n_bins)
    lo, hi = _roi_range(images, mask)
    empty = ~(lo <= hi)
    lo = np.where(empty, 0.0, lo)
    span = np.where(empty | (hi <= lo), 1.0, hi - lo)
    scaled = n_bins * (np.arange(256, dtype=np.float64) - lo[:, None]) / span[:, None]
    level_type = np.uint8 if n_bins <= 256 else np.uint16
    table = np.clip(np.floor(scaled), 0, n_bins - 1).astype(level_type)
    index = images + (np.arange(len(images)) << 8)[:, None, None]
    return table.ravel()[index], mask, np.full(len(images), float(n_bins))


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
