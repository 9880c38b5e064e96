"""Readers and ROI helpers shared by the loaders: image files, square crops, breast masks."""

import math
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

__all__ = ["read_image"]

IMAGE_EXTENSIONS = (".png", ".pgm", ".pnm", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")
DICOM_EXTENSIONS = (".dcm", ".dicom")


def _is_dicom(path):
    if path.suffix.lower() in DICOM_EXTENSIONS:
        return True
    with open(path, "rb") as f:
        f.seek(128)
        return f.read(4) == b"DICM"


def _read_dicom(path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except (InvalidDicomError, AttributeError, ValueError, KeyError, OSError, EOFError) as exc:
        raise ValueError(f"Cannot read DICOM image {path}: {exc}") from exc
    if pixels.ndim != 2:
        raise ValueError(
            f"DICOM image {path} holds an array of shape {pixels.shape}; only single-frame grayscale "
            "images are supported."
        )
    if pixels.dtype.kind == "i":
        # signed storage of non-negative data is common; keep values, use the unsigned type
        if pixels.min() < 0:
            raise ValueError(f"DICOM image {path} holds negative pixel values; rescale it first.")
        pixels = pixels.astype(np.uint16 if pixels.dtype.itemsize > 1 else np.uint8)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        # MONOCHROME1 stores dense tissue dark; invert so that tissue is bright as everywhere else
        bits = int(getattr(ds, "BitsStored", pixels.dtype.itemsize * 8))
        pixels = (2**bits - 1 - pixels.astype(np.int64)).astype(pixels.dtype)
    return np.ascontiguousarray(pixels)


def _read_pillow(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
                return np.asarray(im, dtype=np.uint16).copy()
            if mode == "I":
                pixels = np.asarray(im)
                if pixels.min() < 0 or pixels.max() > 65535:
                    raise ValueError(f"32-bit integer image {path} has values outside 0..65535.")
                return pixels.astype(np.uint16)
            if mode == "F":
                return np.asarray(im, dtype=np.float32).copy()
            if mode != "L":
                im = im.convert("L")
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"Cannot read image {path}: {exc}") from exc


def read_image(path):
    """Read one image file as a 2-D grayscale array.

    PNG, PGM/PNM, JPEG, TIFF and BMP are read with Pillow, DICOM with
    pydicom. Colour images are converted to grayscale (ITU-R 601 luma);
    16-bit data (PNG, TIFF, PGM, DICOM) stays 16-bit (``uint16``); DICOM
    ``MONOCHROME1`` images are inverted so that dense tissue is bright.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    image : ndarray of shape (height, width)
        ``uint8``, ``uint16`` or (32-bit float TIFF) ``float32``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable image; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    if _is_dicom(path):
        return _read_dicom(path)
    return _read_pillow(path)


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
    aliasing.
    """
    if output_size is None or roi.shape == (output_size, output_size):
        return roi
    from skimage.transform import resize

    shrinking = roi.shape[0] > output_size
    out = resize(roi, (output_size, output_size), order=1, anti_aliasing=shrinking, preserve_range=True)
    if roi.dtype.kind in "ui":
        info = np.iinfo(roi.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(roi.dtype)


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


def box_fractions(mask, factor, side):
    """Fraction of breast under a ``side``-pixel box at every low-resolution top-left corner."""
    # rounding up keeps every full-resolution box inside the image
    s = max(1, -(-int(side) // factor))
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
    s = max(1, -(-int(side) // factor))
    r0, c0 = int(top) // factor, int(left) // factor
    hs, ws = mask.shape
    covered = mask[max(r0, 0) : min(r0 + s, hs), max(c0, 0) : min(c0 + s, ws)]
    return float(covered.sum()) / (s * s)


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
    s = max(1, -(-int(side) // factor))
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


def warn_skipped(what, skipped):
    """Warn once about items left out, with their count and the reasons.

    The stack level points at the caller of a loader wrapped by
    ``validate_params``.
    """
    if not skipped:
        return
    lines = [f"  - {item}: {reason}" for item, reason in skipped[:10]]
    if len(skipped) > 10:
        lines.append(f"  - ... and {len(skipped) - 10} more")
    warnings.warn(f"{what}: skipped {len(skipped)} item(s):\n" + "\n".join(lines), UserWarning, stacklevel=4)
