"""Tumour and non-tumour ROIs from breast DCE-MRI in the Duke-Breast-Cancer-MRI layout."""

import os
import re
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from ..utils._optional import optional_import
from ..utils._sklearn_compat import Interval, StrOptions, validate_params
from ._roi import cut_roi, roi_bunch, sample_background_box

__all__ = ["load_duke_mri"]

ANNOTATIONS = "Annotation_Boxes.csv"
_BOX_COLUMNS = (
    "Patient ID",
    "Start Row",
    "End Row",
    "Start Column",
    "End Column",
    "Start Slice",
    "End Slice",
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def _phase_of(description):
    """The contrast phase a series description names: 0 pre-contrast, k the k-th post-contrast pass.

    Duke's series are described as ``ax dyn pre`` / ``ax 3d dyn pre`` and
    ``ax dyn 1st pass`` ... ``4th pass`` (or ``ph1``... ``ph4``); anything
    else (localisers, T1 without fat saturation) gives None.
    """
    text = description.lower()
    if re.search(r"\bpre\b", text):
        return 0
    match = re.search(r"\b(\d)(?:st|nd|rd|th)\s*pass\b", text)
    if match:
        return int(match.group(1))
    match = re.search(r"\b(first|second|third|fourth)\s*pass\b", text)
    if match:
        return _ORDINALS[match.group(1)]
    match = re.search(r"\bph(?:ase)?\s*(\d)\b", text)
    if match:
        return int(match.group(1))
    return None


def _dicom_files(folder):
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() == ".dcm")


def _series_folders(patient_dir):
    """Every folder under ``patient_dir`` that holds DICOM files (TCIA: patient / study / series)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(patient_dir):
        dirnames.sort()
        if any(name.lower().endswith(".dcm") for name in filenames):
            found.append(Path(dirpath))
    return found


def _header(path):
    with optional_import("load_duke_mri"):
        import pydicom
        from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise ValueError(f"cannot read the DICOM file {path}: {exc}") from None


def _find_phases(patient_dir, wanted):
    """Map each wanted phase to its series folder, refusing two series for one phase."""
    series = {}
    for folder in _series_folders(patient_dir):
        files = _dicom_files(folder)
        description = str(getattr(_header(files[0]), "SeriesDescription", ""))
        phase = _phase_of(description)
        if phase not in wanted:
            continue
        if phase in series:
            raise ValueError(
                f"two series of {patient_dir} are phase {phase} ({_phase_name(phase)}): "
                f"{series[phase]} and {folder}; keep one of them in the folder"
            )
        series[phase] = folder
    return series


def _phase_name(phase):
    return "pre-contrast" if phase == 0 else f"post-contrast pass {phase}"


def _read_series(folder):
    """The series as a float32 volume ordered by ``InstanceNumber``, with those numbers.

    Rescale slope and intercept are applied. Duplicate or missing instance
    numbers and slices of different sizes are errors naming the folder:
    a gap would silently shift every slice of the box below it.
    """
    with optional_import("load_duke_mri"):
        import pydicom

    slices = []
    for path in _dicom_files(folder):
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:  # pydicom raises many types for one damaged file
            raise ValueError(f"cannot read the DICOM file {path}: {exc}") from None
        if "InstanceNumber" not in ds or ds.InstanceNumber is None:
            raise ValueError(f"{path} has no InstanceNumber: the slice order is unknown")
        pixels = ds.pixel_array.astype(np.float32)
        slope = float(getattr(ds, "RescaleSlope", 1) or 1)
        intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
        slices.append((int(ds.InstanceNumber), pixels * slope + intercept, path))
    slices.sort(key=lambda item: item[0])
    numbers = np.array([number for number, _, _ in slices])
    repeated = numbers[1:][numbers[1:] == numbers[:-1]]
    if repeated.size:
        raise ValueError(f"the series {folder} holds InstanceNumber {int(repeated[0])} twice")
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers.tolist()))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ValueError(
            f"the series {folder} misses slice(s) {shown} between InstanceNumber "
            f"{numbers[0]} and {numbers[-1]}: the slices below a gap cannot be matched to the "
            "annotation boxes"
        )
    shapes = {pixels.shape for _, pixels, _ in slices}
    if len(shapes) > 1:
        raise ValueError(f"the slices of {folder} have different sizes: {sorted(shapes)}")
    return np.stack([pixels for _, pixels, _ in slices]), numbers


def read_annotation_boxes(path):
    """Read Duke's ``Annotation_Boxes.csv``: one tumour box per patient, 1-based and inclusive."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no annotation file {path}")
    table = pd.read_csv(path, encoding="utf-8-sig")
    table.columns = [str(c).strip() for c in table.columns]
    absent = [c for c in _BOX_COLUMNS if c not in table.columns]
    if absent:
        raise ValueError(f"{path} lacks the column(s) {absent}; expected {list(_BOX_COLUMNS)}")
    table = table[list(_BOX_COLUMNS)].copy()
    for column in _BOX_COLUMNS[1:]:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any() or (values < 1).any() or (values % 1 != 0).any():
            row = int(
                np.flatnonzero((values.isna() | (values < 1) | (values % 1 != 0)).to_numpy())[0]
            )
            raise ValueError(
                f"{path}, data row {row + 1}: {column!r} must be a positive whole number "
                f"(the boxes count from 1), got {table[column].iloc[row]!r}"
            )
        table[column] = values.astype(int)
    bad = table[
        (table["End Row"] < table["Start Row"])
        | (table["End Column"] < table["Start Column"])
        | (table["End Slice"] < table["Start Slice"])
    ]
    if len(bad):
        raise ValueError(f"{path}: the box of {bad['Patient ID'].iloc[0]} ends before it starts")
    if table["Patient ID"].duplicated().any():
        twice = table["Patient ID"][table["Patient ID"].duplicated()].iloc[0]
        raise ValueError(f"{path} lists {twice} twice; one box per patient is expected")
    return table.set_index("Patient ID")


def _breast_region(pre_slice):
    """Breast tissue of an axial slice: the body, anterior to the sternum.

    The body is the pre-contrast slice smoothed and thresholded at Otsu's
    level (air is dark), its largest component with holes filled. Both
    breasts lie anterior (towards row 0) to the chest wall; the bottom of
    the cleft between them (the deepest first body row over the central 40 %
    of the columns, at the sternum) bounds them, so the heart and chest,
    which enhance strongly after contrast, never give non-tumour ROIs.
    """
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(pre_slice.astype(np.float64), 2.0)
    if smooth.max() == smooth.min():
        return np.zeros(pre_slice.shape, dtype=bool)
    body = smooth > threshold_otsu(smooth)
    labels, n = ndi.label(body)
    if n == 0:
        return body
    body = ndi.binary_fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    width = body.shape[1]
    centre = body[:, int(width * 0.3) : int(np.ceil(width * 0.7))]
    reached = centre.any(axis=0)
    if reached.any():
        # the deepest point of the cleft: the first body row of each central column, at its lowest
        body[int(centre.argmax(axis=0)[reached].max()) :] = False
    return body


def _normalise(volume, scale):
    return np.clip(volume / scale, 0.0, 1.0).astype(np.float32)


@validate_params(
    {
        "data_home": [str, os.PathLike],
        "annotations": [str, os.PathLike, None],
        "image": [StrOptions({"subtraction", "pre", "post"})],
        "phase": [Interval(Integral, 1, None, closed="left")],
        "roi_size": [Interval(Integral, 8, None, closed="left")],
        "output_size": [Interval(Integral, 8, None, closed="left"), None],
        "negatives_per_positive": [Interval(Real, 0, None, closed="left")],
        "intensity": [StrOptions({"unit", "raw"})],
        "missing": [StrOptions({"warn", "raise"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_duke_mri(
    data_home,
    *,
    annotations=None,
    image="subtraction",
    phase=1,
    roi_size=64,
    output_size=64,
    negatives_per_positive=4,
    intensity="unit",
    missing="warn",
    random_state=0,
):
    """Load tumour and non-tumour ROIs from breast DCE-MRI in the Duke-Breast-Cancer-MRI layout.

    ``data_home`` holds one folder per patient as The Cancer Imaging
    Archive downloads them (``Breast_MRI_001/<study>/<series>/1-NNN.dcm``;
    folder names with spaces are fine) and the collection's official
    ``Annotation_Boxes.csv``. In each patient's exam the pre-contrast series
    and the chosen post-contrast phase are found by their series
    description (``ax dyn pre``, ``ax dyn 1st pass`` ...), their slices
    ordered by ``InstanceNumber`` (not by file name) and rescaled by the
    DICOM rescale slope and intercept.

    Every slice of the patient's tumour box gives one tumour ROI centred on
    the box. Non-tumour ROIs, ``negatives_per_positive`` per tumour ROI of
    the patient (the study's 1:4), are drawn at random from breast tissue of
    the same patient's slices (see Notes), never overlapping the tumour box
    enlarged by ``roi_size / 2`` in the slice plane and by 4 slices across.

    Parameters
    ----------
    data_home : str or path-like
        Folder with the patient folders and (unless ``annotations`` is
        given) ``Annotation_Boxes.csv``.
    annotations : str or path-like, default=None
        The box file, when it is not ``data_home/Annotation_Boxes.csv``.
        Its rows, columns and slices count from 1 and include both ends;
        slices are ``InstanceNumber`` values.
    image : {"subtraction", "pre", "post"}, default="subtraction"
        What the ROIs show: the subtraction image (post-contrast phase
        ``phase`` minus pre-contrast, where enhancing tissue such as a
        tumour is bright), or either phase alone.
    phase : int, default=1
        The post-contrast pass used by ``"subtraction"`` and ``"post"``
        (1 = first pass after the contrast injection).
    roi_size : int, default=64
        Side of the square ROI in slice pixels (Duke's pixels are about
        0.7 mm: 64 px is about 45 mm).
    output_size : int or None, default=64
        Side of the returned ROIs, resampled with anti-aliasing; ``None``
        keeps ``roi_size``.
    negatives_per_positive : float, default=4
        Non-tumour ROIs per tumour ROI, per patient.
    intensity : {"unit", "raw"}, default="unit"
        ``"unit"`` divides each patient's images by the 99.5th percentile of
        the post-contrast phase inside the breast and clips to [0, 1], the
        value range every estimator of this package assumes for float
        images; negative subtraction values (noise, motion) become 0.
        ``"raw"`` keeps the scanner's units (the subtraction may be
        negative).
    missing : {"warn", "raise"}, default="warn"
        A patient folder without a box, whose box lies outside the slices
        present, or whose exam lacks a needed phase: left out with a warning
        that names it, or an error.
    random_state : int, RandomState instance or None, default=0
        Seeds the placement of non-tumour ROIs.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``images``: ndarray of float32, shape (n_rois, output_size,
          output_size).
        - ``target``: ndarray of int, 1 for tumour, 0 for non-tumour.
        - ``groups``: ndarray of str, the patient id of every ROI: pass it
          to ``GroupKFold`` so no patient is in two folds.
        - ``metadata``: pandas.DataFrame, one row per ROI: ``patient``,
          ``slice`` (``InstanceNumber``), ``center_row``, ``center_col``
          (0-based array indices), ``crop_size``, ``kind``
          (tumour/background), ``series`` (the folder of the image).
        - ``target_names``: ``["non-tumour", "tumour"]``.
        - ``skipped``: pandas.DataFrame (``item``, ``reason``).
        - ``DESCR``: str.

    Raises
    ------
    FileNotFoundError
        If ``data_home`` or the annotation file is missing.
    ValueError
        For a series with a missing or repeated slice, slices of different
        sizes, two series of one phase, or phases whose slices differ (the
        folder is named); for a malformed annotation file; when no tumour
        ROI remains; and, with ``missing="raise"``, for a patient left out.

    Warns
    -----
    UserWarning
        Naming every patient left out and the reason, with ``missing="warn"``.

    Notes
    -----
    The breast of a slice is the body (the pre-contrast slice smoothed and
    thresholded at Otsu's level, largest component) anterior to the
    sternum, found as the bottom of the cleft between the breasts (the
    deepest first body row over the central 40 % of the columns). The
    heart and chest wall, which enhance after contrast, are thus never
    non-tumour ROIs, and neither is air. Non-tumour centres lie in the
    breast and 95 % of each box is breast.

    One exam gives ROIs to test a pipeline end to end; it gives no score.
    The collection (922 patients) is Saha et al., "A machine learning
    approach to radiogenomics of breast cancer", British Journal of Cancer
    119, 2018, published by The Cancer Imaging Archive under CC BY-NC 4.0.

    Examples
    --------
    >>> from skbreastcad.datasets import load_duke_mri
    >>> rois = load_duke_mri("data/duke")  # doctest: +SKIP
    >>> rois.images.shape, rois.target.mean()  # doctest: +SKIP
    ((90, 64, 64), 0.2)
    """
    from sklearn.utils import check_random_state

    data_home = Path(data_home)
    if not data_home.is_dir():
        raise FileNotFoundError(f"data_home {data_home} is not a folder")
    boxes = read_annotation_boxes(
        annotations if annotations is not None else data_home / ANNOTATIONS
    )
    rng = check_random_state(random_state)
    wanted = {0} if image == "pre" else {0, phase}
    rois, records, skipped = [], [], []

    def leave_out(item, reason):
        if missing == "raise":
            raise ValueError(f"{item}: {reason}")
        skipped.append((item, reason))

    patients = sorted(p for p in data_home.iterdir() if p.is_dir() and _series_folders(p))
    if not patients:
        raise FileNotFoundError(f"no patient folder with DICOM series in {data_home}")
    for patient_dir in patients:
        patient = patient_dir.name
        if patient not in boxes.index:
            leave_out(str(patient_dir), "no tumour box in the annotation file")
            continue
        series = _find_phases(patient_dir, wanted)
        absent = sorted(wanted - set(series))
        if absent:
            names = ", ".join(_phase_name(p) for p in absent)
            leave_out(str(patient_dir), f"no series of the {names} phase (matched by description)")
            continue
        volumes = {p: _read_series(folder) for p, folder in series.items()}
        numbers = volumes[0][1]
        for p, (volume, other) in volumes.items():
            if other.shape != numbers.shape or (other != numbers).any():
                raise ValueError(
                    f"the phases of {patient_dir} hold different slices: {series[0]} has "
                    f"InstanceNumber {numbers[0]}-{numbers[-1]}, {series[p]} has "
                    f"{other[0]}-{other[-1]}"
                )
            if volume.shape != volumes[0][0].shape:
                raise ValueError(
                    f"the phases of {patient_dir} differ in size: {volumes[0][0].shape[1:]} in "
                    f"{series[0]}, {volume.shape[1:]} in {series[p]}"
                )
        pre = volumes[0][0]
        if image == "pre":
            shown, folder = pre, series[0]
        elif image == "post":
            shown, folder = volumes[phase][0], series[phase]
        else:
            shown, folder = volumes[phase][0] - pre, series[phase]

        box = boxes.loc[patient]
        inside = (numbers >= box["Start Slice"]) & (numbers <= box["End Slice"])
        if not inside.any():
            leave_out(
                str(patient_dir),
                f"its box (slices {box['Start Slice']}-{box['End Slice']}) lies outside the slices "
                f"present ({numbers[0]}-{numbers[-1]})",
            )
            continue
        height, width = pre.shape[1:]
        r0, r1 = box["Start Row"] - 1, box["End Row"] - 1
        c0, c1 = box["Start Column"] - 1, box["End Column"] - 1
        if r1 >= height or c1 >= width:
            leave_out(
                str(patient_dir),
                f"its box (rows {r0 + 1}-{r1 + 1}, columns {c0 + 1}-{c1 + 1}) passes the "
                f"{height}x{width} slices",
            )
            continue
        regions = [_breast_region(s) for s in pre]
        if intensity == "unit":
            post = volumes.get(phase, (pre, None))[0]
            tissue = post[np.stack(regions)] if any(r.any() for r in regions) else post.ravel()
            scale = float(np.percentile(tissue, 99.5)) or 1.0
            shown = _normalise(shown, scale)

        centre = ((r0 + r1) / 2, (c0 + c1) / 2)
        n_tumour = 0
        for k in np.flatnonzero(inside):
            roi, crop = cut_roi(shown[k], *centre, roi_size, output_size)
            rois.append(roi)
            records.append(_record(patient, numbers[k], centre, roi_size, "tumour", folder))
            n_tumour += 1

        # the box enlarged so no non-tumour ROI overlaps the tumour in the plane or across slices
        half = (max(r1 - r0, c1 - c0) + 1) / 2 * np.sqrt(2) + roi_size / 2
        near = (numbers >= box["Start Slice"] - 4) & (numbers <= box["End Slice"] + 4)
        wanted_negatives = int(round(negatives_per_positive * n_tumour))
        taken = {k: [] for k in range(len(numbers))}
        placed, attempts = 0, 0
        while placed < wanted_negatives and attempts < 20 * max(wanted_negatives, 1):
            attempts += 1
            k = int(rng.randint(len(numbers)))
            circles = [(*centre, half)] if near[k] else []
            where = sample_background_box(regions[k], 1, roi_size, circles, taken[k], rng)
            if where is None:
                continue
            row, col = where
            roi, crop = cut_roi(shown[k], row, col, roi_size, output_size)
            taken[k].append(crop)
            rois.append(roi)
            records.append(_record(patient, numbers[k], (row, col), roi_size, "background", folder))
            placed += 1
        if placed < wanted_negatives:
            skipped.append(
                (
                    patient,
                    f"{wanted_negatives - placed} non-tumour ROI(s) found no room in the breast",
                )
            )

    if not any(r["kind"] == "tumour" for r in records):
        raise ValueError(f"no tumour ROI in {data_home}: every patient was left out ({skipped})")
    return _bunch(rois, records, skipped, data_home, image, phase)


def _record(patient, number, centre, side, kind, folder):
    return {
        "patient": patient,
        "slice": int(number),
        "center_row": float(centre[0]),
        "center_col": float(centre[1]),
        "crop_size": int(side),
        "kind": kind,
        "series": str(folder),
    }


def _bunch(rois, records, skipped, data_home, image, phase):
    import pandas as pd

    metadata = pd.DataFrame.from_records(records)
    target = (metadata["kind"] == "tumour").to_numpy().astype(int)
    shown = {"subtraction": f"subtraction (pass {phase} - pre)", "pre": "pre-contrast"}
    shown = shown.get(image, f"post-contrast pass {phase}")

    def describe(counts):
        return (
            f"Duke-Breast-Cancer-MRI ROIs from {data_home} (Saha et al. 2018, TCIA, CC BY-NC 4.0)\n"
            f"{len(target)} ROIs ({counts}) of the {shown} images of "
            f"{metadata['patient'].nunique()} patient(s). Items left out: {len(skipped)}"
            + "".join(f"\n  - {item}: {reason}" for item, reason in skipped)
        )

    return roi_bunch(
        f"load_duke_mri({str(data_home)!r})",
        rois=rois,
        sources=list(metadata["series"]),
        target=target,
        groups=metadata["patient"].to_numpy(),
        metadata=metadata,
        target_names=["non-tumour", "tumour"],
        skipped=skipped,
        describe=describe,
    )
