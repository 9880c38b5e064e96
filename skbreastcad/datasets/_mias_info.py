"""The mini-MIAS ``Info.txt``: its rows parsed strictly, checked for contradictions, decoded.

The film geometry the loader needs (``MIAS_SIZE``) and the tables of tissue, abnormality
and severity codes live here too, beside the format that defines them.
"""

import math
import re
from pathlib import Path

import numpy as np

MIAS_SIZE = 1024
# Breast masks are computed at 1/8 resolution: 8 px = 1.6 mm, ample for placing ROIs.
_MASK_FACTOR = 8
TISSUES = {"F": "fatty", "G": "fatty-glandular", "D": "dense-glandular"}
ABNORMALITIES = {
    "CALC": "calcification",
    "CIRC": "well-defined/circumscribed mass",
    "SPIC": "spiculated mass",
    "MISC": "other, ill-defined mass",
    "ARCH": "architectural distortion",
    "ASYM": "asymmetry",
}
SEVERITIES = {"B": "benign", "M": "malignant"}
_REFERENCE = re.compile(r"^mdb(\d{3})$")
_ROW_FORM = "'mdbNNN TISSUE CLASS [SEVERITY [X Y RADIUS]]'"
# Extension preference when one reference has several copies (e.g. .pgm and .png).
_EXTENSION_RANK = {
    ext: k
    for k, ext in enumerate((".pgm", ".png", ".tif", ".tiff", ".pnm", ".bmp", ".jpg", ".jpeg"))
}
_INFO_COLUMNS = [
    "reference",
    "tissue",
    "abnormality",
    "severity",
    "x",
    "y",
    "radius",
    "note",
    "line",
]


class _InfoError(ValueError):
    def __init__(self, path, line, message):
        super().__init__(f"{path}, line {line}: {message}")


# ASCII digits only: float() also takes "5_35" (535), "1e2", "nan" and other scripts' digits
_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


def _parse_number(text, path, line, name):
    if not _NUMBER.match(text):
        raise _InfoError(
            path, line, f"{name} {text!r} is not a number (digits, with an optional decimal point)."
        )
    return float(text)


def _parse_row(tokens, path, line):
    reference = tokens[0].lower()
    if not _REFERENCE.match(reference):
        raise _InfoError(
            path, line, f"reference {tokens[0]!r} is not of the form mdbNNN; expected {_ROW_FORM}."
        )
    if len(tokens) < 3:
        raise _InfoError(
            path, line, f"expected at least 3 columns {_ROW_FORM}; got {' '.join(tokens)!r}."
        )
    tissue, abnormality = tokens[1].upper(), tokens[2].upper()
    if tissue not in TISSUES:
        raise _InfoError(
            path, line, f"unknown background tissue {tokens[1]!r}; expected one of F, G, D."
        )
    row = dict(
        reference=reference,
        tissue=tissue,
        abnormality=abnormality,
        severity=None,
        x=np.nan,
        y=np.nan,
        radius=np.nan,
        note=None,
        line=line,
    )
    if abnormality == "NORM":
        if len(tokens) > 3:
            raise _InfoError(
                path,
                line,
                f"a NORM film has no severity or coordinates; got {' '.join(tokens[3:])!r}.",
            )
        return row
    if abnormality not in ABNORMALITIES:
        raise _InfoError(
            path,
            line,
            f"unknown class of abnormality {tokens[2]!r}; expected one of "
            f"{', '.join(ABNORMALITIES)} or NORM.",
        )
    if len(tokens) < 4:
        raise _InfoError(path, line, f"the {abnormality} abnormality has no severity (B or M).")
    severity = tokens[3].upper()
    if severity not in SEVERITIES:
        raise _InfoError(path, line, f"unknown severity {tokens[3]!r}; expected B or M.")
    row["severity"] = severity
    rest = tokens[4:]
    if rest and (rest[0].startswith("*") or "NOTE" in rest[0].upper()):
        # a pointer to a header note in place of the coordinates (note 4: widely distributed calcifications)
        row["note"] = " ".join(rest)
        return row
    if len(rest) not in (0, 3):
        raise _InfoError(
            path,
            line,
            f"expected x, y and radius after the severity (or none of them); got {' '.join(rest)!r}.",
        )
    if rest:
        x = _parse_number(rest[0], path, line, "x")
        y = _parse_number(rest[1], path, line, "y")
        radius = _parse_number(rest[2], path, line, "radius")
        for name, value in (("x", x), ("y", y)):
            if not 0 <= value < MIAS_SIZE:
                raise _InfoError(
                    path,
                    line,
                    f"{name}={rest[0] if name == 'x' else rest[1]} lies outside the "
                    f"{MIAS_SIZE}x{MIAS_SIZE} image matrix.",
                )
        if radius <= 0:
            raise _InfoError(path, line, f"radius must be positive; got {rest[2]}.")
        row.update(x=x, y=y, radius=radius)
    return row


def read_mias_info(path):
    """Parse the mini-MIAS ``Info.txt`` into one row per film or abnormality.

    The header (everything before the first ``mdbNNN`` row) and the footer
    are skipped. A film with several abnormalities has several rows. The
    file may be ASCII/Latin-1, UTF-8 or UTF-16 text; byte-order marks are
    ignored.
    Every row is checked; a malformed or inconsistent one is an error that
    names the file and the line.

    Parameters
    ----------
    path : str or path-like
        The ``Info.txt`` file.

    Returns
    -------
    info : pandas.DataFrame
        Columns ``reference`` (``"mdb001"``), ``tissue`` (F, G, D),
        ``abnormality`` (CALC, CIRC, SPIC, MISC, ARCH, ASYM, NORM),
        ``severity`` (B, M, missing for NORM), ``x``, ``y`` (origin at the
        bottom-left corner, as in the file), ``radius`` (missing where the
        file omits them), ``note`` (a note pointer found in place of the
        coordinates) and ``line`` (1-based line number in the file).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For a malformed row (unknown code, partial coordinates or ones
        that are not plain decimal numbers, coordinates outside the
        1024x1024 matrix, non-positive radius, severity on a NORM film or
        missing on an abnormal one), an exact duplicate row, one lesion
        listed as benign and as malignant (same film and centre, or same
        film and class without coordinates: the film and both lines are
        named), rows of one film that disagree on the tissue type or mix
        NORM with abnormalities, text in an encoding other than
        ASCII/Latin-1, UTF-8 or UTF-16, or a file without rows.

    See Also
    --------
    load_mias : ROIs cut from the films at these coordinates.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skbreastcad.datasets import read_mias_info
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "Info.txt"
    >>> _ = path.write_text("mdb001 G CIRC B 535 425 197\\nmdb002 G NORM\\n")
    >>> read_mias_info(path)[["reference", "abnormality", "x", "y", "radius"]]
      reference abnormality      x      y  radius
    0    mdb001        CIRC  535.0  425.0   197.0
    1    mdb002        NORM    NaN    NaN     NaN
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mini-MIAS description file not found: {path}")
    text = _decode_info(path)
    lines = [(k, line.split()) for k, line in enumerate(text.splitlines(), start=1)]
    data = [k for k, tokens in lines if tokens and tokens[0].lower().startswith("mdb")]
    if not data:
        raise ValueError(
            f"{path}: no film rows ({_ROW_FORM}) found. It is read as ASCII/Latin-1, UTF-8 or "
            "UTF-16 text (with or without a byte-order mark)."
        )
    rows = []
    for k, tokens in lines[data[0] - 1 : data[-1]]:
        if not tokens:
            continue
        if not tokens[0].lower().startswith("mdb"):
            raise _InfoError(path, k, f"expected a film row {_ROW_FORM}; got {' '.join(tokens)!r}.")
        rows.append(_parse_row(tokens, path, k))

    seen = {}
    by_reference = {}
    lesions = {}
    for row in rows:
        key = (
            row["reference"],
            row["abnormality"],
            row["severity"],
            row["x"],
            row["y"],
            row["radius"],
        )
        key = tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in key)
        if key in seen:
            raise _InfoError(path, row["line"], f"duplicate of line {seen[key]}.")
        seen[key] = row["line"]
        _check_agrees(row, lesions, path)
        first = by_reference.setdefault(row["reference"], row)
        if first is row:
            continue
        if row["tissue"] != first["tissue"]:
            raise _InfoError(
                path,
                row["line"],
                f"{row['reference']} has tissue {row['tissue']} here but {first['tissue']} "
                f"on line {first['line']}.",
            )
        if "NORM" in (row["abnormality"], first["abnormality"]):
            raise _InfoError(
                path,
                row["line"],
                f"{row['reference']} is listed as NORM and as abnormal (line {first['line']}).",
            )
    import pandas as pd

    info = pd.DataFrame(rows, columns=_INFO_COLUMNS)
    for column in ("x", "y", "radius"):
        info[column] = info[column].astype(float)
    return info


def _check_agrees(row, lesions, path):
    """Refuse one lesion listed twice with opposite severities.

    Both rows would give the same ROI, once labelled benign and once
    malignant. A lesion is its film and centre; a lesion without
    coordinates, its film and abnormality class.
    """
    if row["severity"] is None:
        return
    if math.isnan(row["x"]):
        key = (row["reference"], row["abnormality"])
    else:
        key = (row["reference"], row["x"], row["y"])
    first = lesions.setdefault(key, row)
    if first["severity"] != row["severity"]:
        where = (
            f"without coordinates, as {row['abnormality']}"
            if math.isnan(row["x"])
            else f"at x={row['x']:g}, y={row['y']:g}"
        )
        raise _InfoError(
            path,
            row["line"],
            f"{row['reference']} lists one lesion {where} as {SEVERITIES[row['severity']]} "
            f"({row['severity']}) here but as {SEVERITIES[first['severity']]} "
            f"({first['severity']}) on line {first['line']}: the two rows would give one ROI "
            "with both labels.",
        )


# UTF-16 text starts with its byte-order mark; without one, NUL bytes give it away
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _decode_info(path):
    """The text of ``Info.txt``: Latin-1 (ASCII in practice), UTF-8 or UTF-16.

    Byte-order marks are dropped wherever they are (a file pasted together
    from two may carry one in the middle): left in place, the one before the
    first row would hide that row's ``mdbNNN``.
    """
    raw = path.read_bytes()
    if raw.startswith(_UTF16_BOMS) or b"\x00" in raw:
        if raw.startswith(_UTF16_BOMS):
            encoding = "utf-16"
        else:
            # ASCII text in UTF-16 has its NULs in the high bytes: odd offsets for little-endian
            encoding = "utf-16-le" if raw[1::2].count(0) >= raw[::2].count(0) else "utf-16-be"
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path} holds NUL bytes but is not UTF-16 text ({exc}); save it as ASCII or "
                "UTF-8 text."
            ) from None
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Latin-1 decodes any byte (a header in an old code page)
            text = raw.replace(b"\xef\xbb\xbf", b"").decode("latin-1")
    return text.replace("\ufeff", "")


def _find_info(data_home):
    for name in ("Info.txt", "info.txt", "INFO.TXT"):
        if (data_home / name).is_file():
            return data_home / name
    raise FileNotFoundError(
        f"No Info.txt in {data_home}: load_mias needs the database's own description file next to the images."
    )
