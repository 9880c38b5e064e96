"""Image file readers shared by the loaders: PNG, PGM, TIFF, JPEG, BMP (Pillow) and DICOM (pydicom)."""

from pathlib import Path

import numpy as np

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
        The image file. DICOM is recognised by its extension (``.dcm``,
        ``.dicom``) or its ``DICM`` preamble, whatever the name.

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

    See Also
    --------
    load_image_folder : ROIs from a folder of such images.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.datasets import read_image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> Image.fromarray(np.full((4, 6), 40000, np.uint16)).save(path)
    >>> image = read_image(path)
    >>> image.shape, image.dtype, int(image.max())
    ((4, 6), dtype('uint16'), 40000)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    if _is_dicom(path):
        return _read_dicom(path)
    return _read_pillow(path)
