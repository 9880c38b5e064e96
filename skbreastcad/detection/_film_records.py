"""Per-film records of the film detector: the preprocessed film at every scale, and context.

For each film, :func:`_record` keeps what every later step reads: the preprocessed film
reduced to each scale, its breast mask, the dense window features, the density of bright
specks (calcifications), and the context columns of a window (distance to the skin line
and the pectoral edge, position, the difference against the woman's other film).
"""

import numpy as np
from scipy import ndimage as ndi

from ..datasets._roi import breast_mask as _loader_breast_mask
from ._preprocess import _block_mean, preprocess_film

__all__ = []

CONTEXT_NAMES = [
    "speck_share",
    "speck_density_s2",
    "distance_to_edge_mm",
    "distance_to_pectoral_mm",
    "relative_row",
    "relative_col",
    "log2_scale",
    "asymmetry_s4",
    "asymmetry_s8",
]
# a lesion is matched to a scale when its radius lies within this factor of the scale's radius
_MATCH = 2.5


def _dense_step(model):
    """The model's first step when it can compute its features densely, else None."""
    steps = getattr(model, "steps", None)
    if steps and hasattr(steps[0][1], "dense_transform"):
        return steps[0][1]
    return None


def _base(film, pixel_size_mm, view, segmentation, scales):
    """Segmentation and the canonical (chest wall left) normalised film, reduced at each scale."""
    pre = preprocess_film(film, view=view, pixel_size_mm=pixel_size_mm)
    if not segmentation:
        # the ablation: the loaders' mask, no margin, no pectoral, no side, no normalisation
        small = _loader_breast_mask(np.asarray(film), factor=8)
        mask = np.zeros(pre.mask.shape, bool)
        up = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)
        mask[: up.shape[0], : up.shape[1]] = up
        image = (np.asarray(film, np.float32) - 128.0) / 64.0
        pre.update(mask=mask, image=image, flipped=False)
        pre.distance_to_pectoral_mm = np.full(mask.shape, np.inf, np.float32)
    flip = (lambda a: a[:, ::-1]) if pre.flipped else (lambda a: a)
    specks = _specks(pre.image, pre.mask, pixel_size_mm)
    out = {"shape": pre.image.shape, "flipped": pre.flipped}
    for f in scales:
        out[f] = {
            "image": _block_mean(flip(pre.image), f).astype(np.float32),
            "mask": _block_mean(flip(pre.mask).astype(np.float32), f) >= 0.5,
            "edge": _block_mean(np.minimum(flip(pre.distance_to_edge_mm), 50.0), f),
            "pectoral": _block_mean(np.minimum(flip(pre.distance_to_pectoral_mm), 50.0), f),
            "specks": _block_mean(flip(specks), f).astype(np.float32),
        }
    return out


def _specks(image, mask, pixel_size_mm):
    """Bright specks of calcification size: a full-resolution difference of Gaussians, thresholded.

    Calcifications are 1-2 px at 200 um and vanish from the reduced films
    the windows see; their density around a pixel is what marks a cluster.
    """
    small = max(0.2 / pixel_size_mm, 0.5)
    dog = ndi.gaussian_filter(image, small) - ndi.gaussian_filter(image, 3 * small)
    inside = dog[mask] if mask.any() else dog.ravel()
    spread = np.percentile(inside, 75) - np.percentile(inside, 25)
    return ((dog > np.median(inside) + 4 * spread) & mask).astype(np.float32)


def _bbox(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return 0, 0, max(mask.shape[0], 1), max(mask.shape[1], 1)
    return rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _record(base, other, scales, dense, context, stride):
    """Per scale: the pixels searched (canonical, scaled) and, when dense, their features."""
    out = {"shape": base["shape"], "flipped": base["flipped"], "scales": []}
    for f in scales:
        image, mask = base[f]["image"], base[f]["mask"]
        rows, cols = np.nonzero(mask)
        if stride > 1 and dense is None:
            keep = (rows % stride == 0) & (cols % stride == 0)
            rows, cols = rows[keep], cols[keep]
        entry = {"f": f, "rows": rows, "cols": cols, "image": image}
        if dense is not None:
            feats = dense.dense_transform(image)[rows, cols].astype(np.float32)
            if context:
                feats = np.column_stack(
                    [feats, _context(base[f], None if other is None else other[f], f, rows, cols)]
                )
            entry["features"] = feats
        out["scales"].append(entry)
    return out


def _context(base, other, f, rows, cols):
    image, mask = base["image"], base["mask"]
    top, left, height, width = _bbox(mask)
    rel_r = (rows - top) / height
    rel_c = (cols - left) / width
    asym = np.full((len(rows), 2), np.nan, np.float32)
    if other is not None:
        o_top, o_left, o_height, o_width = _bbox(other["mask"])
        coords = np.vstack([o_top + rel_r * o_height, o_left + rel_c * o_width])
        for j, s in enumerate((4.0, 8.0)):
            mine = ndi.gaussian_filter(image, s)
            theirs = ndi.gaussian_filter(other["image"], s)
            asym[:, j] = mine[rows, cols] - ndi.map_coordinates(
                theirs, coords, order=1, mode="nearest"
            )
    density = ndi.gaussian_filter(base["specks"], 2.0)
    return np.column_stack(
        [
            base["specks"][rows, cols],
            density[rows, cols],
            base["edge"][rows, cols],
            base["pectoral"][rows, cols],
            rel_r,
            rel_c,
            np.full(len(rows), np.log2(f)),
            asym,
        ]
    ).astype(np.float32)


def _to_film(entry, record, sel):
    """Film (row, col) of the scaled canonical pixels ``sel`` of a scale entry."""
    f = entry["f"]
    rows = entry["rows"][sel] * f + (f - 1) / 2
    cols = entry["cols"][sel] * f + (f - 1) / 2
    if record["flipped"]:
        cols = record["shape"][1] - 1 - cols
    return rows, cols


def _lesion_distance(entry, record, lesions):
    """(n_pixels, n_lesions) distances in film pixels from each searched pixel to each lesion."""
    rows, cols = _to_film(entry, record, slice(None))
    if len(lesions) == 0:
        return np.empty((len(rows), 0))
    return np.hypot(rows[:, None] - lesions[None, :, 0], cols[:, None] - lesions[None, :, 1])
