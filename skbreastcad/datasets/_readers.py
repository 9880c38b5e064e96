"""Image file readers shared by the loaders: PNG, PGM, TIFF, JPEG, BMP (Pillow) and DICOM (pydicom)."""

import os
import re
from pathlib import Path

import numpy as np

from ..utils._optional import optional_import

__all__ = ["read_image"]

IMAGE_EXTENSIONS = (
    ".png",
    ".pgm",
    ".pnm",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".dcm",
    ".dicom",
)
DICOM_EXTENSIONS = (".dcm", ".dicom")


def _is_dicom(path):
    if path.suffix.lower() in DICOM_EXTENSIONS:
        return True
    with open(path, "rb") as f:
        f.seek(128)
        return f.read(4) == b"DICM"


def _read_dicom(path):
    with optional_import(f"Reading the DICOM file {path}"):
        import pydicom
        from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    # pydicom raises RuntimeError or NotImplementedError when no installed plugin decodes
    # the transfer syntax (JPEG 2000 without pylibjpeg, ...)
    except (
        InvalidDicomError,
        AttributeError,
        ValueError,
        KeyError,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
    ) as exc:
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
    if pixels.dtype.kind == "f":
        pixels = _finite(pixels, path)
    return np.ascontiguousarray(pixels)


_PNM_MAGICS = {
    b"P2": 1,
    b"P3": 3,
    b"P5": 1,
    b"P6": 3,
}  # grey or colour; P1/P4 bitmaps have no maxval


def _pnm_header(head, path):
    """``(width, height, maxval, data offset)`` of a PGM/PPM header (comments allowed)."""
    tokens, pos = [], 2
    while len(tokens) < 3:
        while pos < len(head) and head[pos : pos + 1].isspace():
            pos += 1
        if head[pos : pos + 1] == b"#":
            end = head.find(b"\n", pos)
            pos = len(head) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(head) and not head[pos : pos + 1].isspace() and head[pos : pos + 1] != b"#":
            pos += 1
        if start == pos:
            raise ValueError(
                f"Cannot read image {path}: its PGM/PPM header ends before width, height and maxval."
            )
        tokens.append(head[start:pos])
    try:
        width, height, maxval = (int(token) for token in tokens)
    except ValueError:
        raise ValueError(
            f"Cannot read image {path}: its PGM/PPM header gives width, height and maxval "
            f"{b' '.join(tokens).decode('latin-1')!r}, which are not integers."
        ) from None
    return width, height, maxval, pos + 1  # one whitespace character ends the header


def _check_pnm(path):
    """Refuse what Pillow reads from a PGM/PPM without naming the file, or reads wrongly without a word.

    A maxval outside 1..65535 (Pillow's bare ``maxval must be greater
    than 0``), in a binary file grey levels above maxval, which Pillow
    would clip to white, and data after the pixels (a second image, or
    the wrong width or height in the header), which Pillow ignores.

    Returns
    -------
    header : tuple or None
        ``(magic, width, height, maxval, offset)`` of a PGM/PPM file; None
        for any other format.
    """
    with open(path, "rb") as f:
        head = f.read(1024)
        magic = head[:2]
        if magic not in _PNM_MAGICS or not head[2:3].isspace():
            return None
        width, height, maxval, offset = _pnm_header(head, path)
        if not 0 < maxval < 65536:
            raise ValueError(
                f"Cannot read image {path}: its PGM/PPM header gives maxval {maxval} (the white level); "
                "it must be 1..65535."
            )
        header = (magic, width, height, maxval, offset)
        if magic in (b"P2", b"P3"):
            return header  # Pillow checks ASCII values itself; _ascii_pnm_tokens checks the rest
        dtype = np.dtype(">u2" if maxval > 255 else "u1")
        count = width * height * _PNM_MAGICS[magic]
        f.seek(offset + count * dtype.itemsize)
        # whitespace after the pixels is harmless (some writers end with a newline)
        trailing = f.read().rstrip(b" \t\r\n\v\f")
        if trailing:
            raise ValueError(
                f"Cannot read image {path}: {len(trailing)} byte(s) follow the {width}x{height} pixels "
                "its header announces (a second image, or a wrong width or height); Pillow would "
                "ignore them."
            )
        if maxval in (255, 65535):
            return header  # no 8/16-bit value exceeds 255/65535
        f.seek(offset)
        values = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
    if values.size and values.max() > maxval:
        raise ValueError(
            f"Cannot read image {path}: it holds grey level {values.max()} above its header's maxval {maxval}; "
            "the file is malformed (Pillow would clip it to white)."
        )
    return header


def _ascii_pnm_tokens(path, header):
    """The value tokens of an ASCII PGM/PPM (P2/P3), refusing any past the pixels the header announces."""
    magic, width, height, _, offset = header
    with open(path, "rb") as f:
        f.seek(offset)
        body = f.read()
    # comments are allowed only in the header, but a stray one must not count as values
    tokens = re.sub(rb"#[^\n]*", b" ", body).split()
    count = width * height * _PNM_MAGICS[magic]
    if len(tokens) > count:
        raise ValueError(
            f"Cannot read image {path}: {len(tokens) - count} value(s) follow the {width}x{height} "
            "pixels its header announces (a second image, or a wrong width or height); Pillow "
            "would ignore them."
        )
    return tokens


def _file_levels(path, header, pixels):
    """The grey levels a PGM stores when its maxval is not 255 or 65535; ``pixels`` otherwise.

    Pillow stretches such files to the full 8- or 16-bit range (maxval
    1023 becomes 65535), which changes every grey level; the file's own
    levels are what its scanner or writer measured. ``pixels`` is Pillow's
    reading, which has checked the file's structure.
    """
    if header is None:
        return pixels
    magic, width, height, maxval, offset = header
    tokens = _ascii_pnm_tokens(path, header) if magic in (b"P2", b"P3") else None
    if magic not in (b"P2", b"P5") or maxval in (255, 65535):
        return pixels  # colour PPMs stay as Pillow converts them
    if tokens is not None:
        levels = np.array([int(t) for t in tokens])
    else:
        raw = np.dtype(">u2" if maxval > 255 else "u1")
        with open(path, "rb") as f:
            f.seek(offset)
            levels = np.frombuffer(f.read(width * height * raw.itemsize), dtype=raw)
    return levels.astype(np.uint8 if maxval <= 255 else np.uint16).reshape(height, width)


def _read_pillow(path):
    from PIL import Image, UnidentifiedImageError

    header = _check_pnm(path)
    try:
        with Image.open(path) as im:
            n_frames = getattr(im, "n_frames", 1)
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
                pixels = np.asarray(im, dtype=np.uint16).copy()
            elif mode in ("I", "F"):
                pixels = np.asarray(im).copy()
            else:
                pixels = np.asarray(im if mode == "L" else im.convert("L"), dtype=np.uint8).copy()
    # Pillow raises ValueError (bad PGM values, ...) and DecompressionBombError without the file name
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValueError(f"Cannot read image {path}: {exc}") from exc
    if n_frames > 1:
        # Pillow would give the first frame only: the other pages would be lost without a word
        raise ValueError(
            f"Image {path} holds {n_frames} frames (pages); only single-frame images are supported."
        )
    if mode == "I":
        if pixels.min() < 0 or pixels.max() > 65535:
            raise ValueError(f"32-bit integer image {path} has values outside 0..65535.")
        pixels = pixels.astype(np.uint16)
    elif mode == "F":
        pixels = _finite(pixels.astype(np.float32), path)
    # Pillow has checked the file's structure; a PGM's levels are taken as stored
    return _file_levels(path, header, pixels)


def _finite(pixels, path):
    """``pixels``, unless NaN or infinite values would pass into ROIs and features unnoticed."""
    bad = ~np.isfinite(pixels)
    if bad.any():
        raise ValueError(
            f"Image {path} holds {int(bad.sum())} NaN or infinite value(s) of {pixels.size} "
            "pixels; fill or mask them before loading."
        )
    return pixels


def read_image(path):
    """Read one image file as a 2-D grayscale array.

    PNG, PGM/PNM, JPEG, TIFF and BMP are read with Pillow, DICOM with
    pydicom. Colour images are converted to grayscale (ITU-R 601 luma);
    16-bit data (PNG, TIFF, PGM, DICOM) stays 16-bit (``uint16``); DICOM
    ``MONOCHROME1`` images are inverted so that dense tissue is bright.
    A PGM keeps the grey levels its file stores, whatever its maxval
    (the white level): maxval 1023 gives ``uint16`` values 0..1023, not
    values stretched to 0..65535.

    Parameters
    ----------
    path : str or path-like
        The image file. DICOM is recognised by its extension (``.dcm``,
        ``.dicom``) or its ``DICM`` preamble, whatever the name.

    Returns
    -------
    image : ndarray of shape (height, width)
        ``uint8``, ``uint16`` or (32-bit float TIFF) ``float32``. A PGM
        with maxval up to 255 gives ``uint8``, above 255 ``uint16``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist or is a broken symbolic link.
    IsADirectoryError
        If the path is a folder (even one named like an image file).
    ValueError
        If the file is not a readable image (unknown format, truncated,
        a DICOM without decodable pixel data), holds several frames
        (a multi-page TIFF, a multi-frame DICOM: only the first would be
        read), holds NaN or infinite values, or is a PGM/PPM whose maxval
        is outside 1..65535, whose grey levels exceed it, or with data
        after the pixels its header announces (trailing whitespace aside).
        The message names the file.

    See Also
    --------
    load_image_folder : ROIs from a folder of such images.

    Notes
    -----
    Keeping a PGM's own levels means that a 10-bit film (maxval 1023)
    fills only 0..1023 of its ``uint16`` range: give such images to a
    deep estimator with ``value_range=(0, 1023)``. A colour PPM whose
    maxval is not 255 or 65535 is scaled by Pillow to 0..255 before its
    conversion to grey.

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
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder, not an image file.")
        if path.is_symlink():
            raise FileNotFoundError(
                f"Image file {path} is a broken symbolic link (to {os.readlink(path)})."
            )
        raise FileNotFoundError(f"Image file not found: {path}")
    if _is_dicom(path):
        return _read_dicom(path)
    return _read_pillow(path)
