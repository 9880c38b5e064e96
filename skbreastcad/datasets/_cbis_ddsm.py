"""CBIS-DDSM: description CSVs, full mammograms and lesion masks (DICOM or PNG copies)."""

import os
import re
from numbers import Integral, Real
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._image_folder import mask_box, stack_rois
from ._readers import (
    IMAGE_EXTENSIONS,
    breast_mask,
    crop_square,
    read_image,
    resize_roi,
    sample_background_box,
    warn_skipped,
)

__all__ = ["load_cbis_ddsm"]

_REQUIRED = ("patient_id", "abnormality id", "pathology", "image file path", "ROI mask file path")
_PATHOLOGY = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
_LOW_RES = 256  # breast masks are computed on a grid of about this many cells
_UID = re.compile(r"^\d+(\.\d+){3,}$")


def _normalise_columns(frame):
    # the mass CSVs say "breast_density", the calcification CSVs "breast density"
    frame.columns = [" ".join(str(c).replace("_", " ").split()) for c in frame.columns]
    return frame.rename(columns={"patient id": "patient_id"})


def _read_descriptions(root, abnormality, split):
    csvs = sorted(p for p in root.rglob("*.csv") if "case_description" in p.name.lower())
    if not csvs:
        raise FileNotFoundError(
            f"No CBIS-DDSM description CSV (*case_description*.csv, e.g. mass_case_description_train_set.csv) "
            f"under {root}."
        )
    frames = []
    for csv in csvs:
        name = csv.name.lower()
        kind = "mass" if "mass" in name else "calc" if "calc" in name else None
        part = "train" if "train" in name else "test" if "test" in name else None
        if abnormality != "both" and kind != abnormality:
            continue
        if split != "both" and part != split:
            continue
        frame = _normalise_columns(pd.read_csv(csv, dtype=str, keep_default_na=False))
        missing = [c for c in _REQUIRED if c not in frame.columns]
        if missing:
            raise ValueError(f"{csv} lacks the column(s) {missing} of a CBIS-DDSM description file.")
        frame["csv_file"] = csv.name
        frame["csv_line"] = np.arange(2, len(frame) + 2)  # line 1 is the header
        frame["split"] = part
        frames.append(frame)
    if not frames:
        raise ValueError(f"No description CSV under {root} matches abnormality={abnormality!r}, split={split!r}.")
    table = pd.concat(frames, ignore_index=True)
    for column in ("image file path", "ROI mask file path", "cropped image file path"):
        if column in table:
            # the published CSVs end some paths with a newline inside the quotes
            table[column] = table[column].str.strip()
    bad = ~table["pathology"].str.strip().str.upper().isin(list(_PATHOLOGY))
    if bad.any():
        row = table[bad].iloc[0]
        raise ValueError(
            f"{row['csv_file']}, line {row['csv_line']}: unknown pathology {row['pathology']!r}; expected one of "
            f"{', '.join(_PATHOLOGY)}."
        )
    return table


class _Resolver:
    """Find the file a CSV path names, in the published layout or the layouts downloads produce.

    The CSV paths (``<case>/<study UID>/<series UID>/000000.dcm``) do not match
    the TCIA download (``<case>/<date-study>/<n-series name>/1-1.dcm``) or the
    JPEG/PNG conversions (``<series UID>/<name>.png``): when the path itself is
    absent, a folder named after one of its UIDs, or else after its case
    (first component), is looked up anywhere under ``root`` and searched for
    image files.
    """

    def __init__(self, root):
        self.root = root
        self._folders = None

    def folders(self):
        if self._folders is None:
            self._folders = {}
            for dirpath, dirnames, _ in os.walk(self.root):
                for name in dirnames:
                    self._folders.setdefault(name, []).append(Path(dirpath) / name)
        return self._folders

    def candidates(self, relative):
        path = PurePosixPath(relative.replace("\\", "/"))
        direct = self.root / path
        for candidate in [direct] + [direct.with_suffix(ext) for ext in (".png", ".tif", ".tiff", ".jpg")]:
            if candidate.is_file():
                return [candidate]
        # only names that identify one case or series: the case folder and the DICOM UIDs
        folders = [part for part in reversed(path.parts[1:-1]) if _UID.match(part)] + list(path.parts[:1])
        for folder in folders:
            found = self.folders().get(folder, [])
            files = sorted(
                f for d in found for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
            )
            if files:
                return files
        return []


@validate_params(
    {
        "root": [str, Path],
        "task": [StrOptions({"malignancy", "tumour"})],
        "abnormality": [StrOptions({"mass", "calc", "both"})],
        "split": [StrOptions({"train", "test", "both"})],
        "output_size": [Interval(Integral, 1, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="left")],
        "negatives_per_positive": [Interval(Real, 0, None, closed="left")],
        "missing": [StrOptions({"warn", "raise"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_cbis_ddsm(
    root,
    *,
    task="malignancy",
    abnormality="both",
    split="both",
    output_size=64,
    margin=0.1,
    negatives_per_positive=4,
    missing="warn",
    random_state=0,
):
    """Load lesion ROIs of CBIS-DDSM, cut around the curated ROI masks.

    Reads the description CSVs (``mass_case_description_train_set.csv``
    and the like) found under ``root``, then each row's full mammogram and
    ROI mask: DICOM files as downloaded from TCIA (read with pydicom) or
    PNG/TIFF/JPEG copies. The ROI is the square around the mask's
    non-zero pixels, enlarged by ``margin``, resampled to ``output_size``.

    The CSVs' paths do not match the TCIA download layout (the folders are
    renamed and the files numbered ``1-1.dcm``, ``1-2.dcm``); the loader
    falls back to the case folder named in the path. A ROI folder holds the
    mask and a cropped image in no fixed order (the CSVs swap them for
    some cases): the mask is the file with the full mammogram's size.

    Parameters
    ----------
    root : str or path-like
        Folder holding the CSVs and the images (in any subfolders).
    task : {"malignancy", "tumour"}, default="malignancy"
        ``"malignancy"``: lesion ROIs, benign (0, including
        BENIGN_WITHOUT_CALLBACK) against malignant (1). ``"tumour"``:
        lesion ROIs (1) against non-tumour ROIs (0) placed in the breast
        of the same mammograms, clear of every mask of that mammogram,
        each copying the size of a random lesion crop. A mammogram
        published twice (under ``Mass-...`` and ``Calc-...``) is one
        film: its masks are pooled by patient, breast and view and its
        negatives come from one copy. A mammogram with a lesion left out
        (missing or empty mask) gives no negatives. Only the masks of the
        CSVs read are known: use ``abnormality="both"`` so that negatives
        also avoid the lesions of the other kind.
    abnormality : {"mass", "calc", "both"}, default="both"
        Which description files to read.
    split : {"train", "test", "both"}, default="both"
        The official split; kept in ``metadata["split"]``.
    output_size : int, default=64
    margin : float, default=0.1
        Context around a mask's bounding box on every side, as a fraction
        of its longer side.
    negatives_per_positive : float, default=4
        For ``task="tumour"``.
    missing : {"warn", "raise"}, default="warn"
        What to do with CSV rows whose image or mask is not under ``root``
        (a partial download): leave them out with a counting warning, or
        raise an error naming the file.
    random_state : int, RandomState instance or None, default=0
        Seeds the non-tumour ROIs.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (n_rois, output_size, output_size) with the files'
        dtype (uint16 for the DICOMs), ``target``, ``groups`` (one id per
        patient: both breasts and both views), ``metadata`` (``patient_id``,
        ``split``, ``abnormality_type``, ``breast``, ``view``,
        ``abnormality_id``, ``pathology``, ``image_file``, ``mask_file``,
        ``center_row``, ``center_col``, ``crop_size``, ``kind``,
        ``csv_file``, ``csv_line``), ``target_names``, ``skipped`` and
        ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or the CSVs are missing, or a file with
        ``missing="raise"``.
    ValueError
        For a CSV without the expected columns or with an unknown
        pathology (file and line named), an unreadable image, or a mask
        whose size differs from its mammogram's (both files named).

    References
    ----------
    .. [1] R. S. Lee et al., "A curated mammography data set for use in
       computer-aided detection and diagnosis research", Scientific Data 4,
       170177, 2017. doi:10.1038/sdata.2017.177
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CBIS-DDSM folder not found: {root}")
    rng = check_random_state(random_state)
    table = _read_descriptions(root, abnormality, split)
    resolver = _Resolver(root)
    skipped, rois, records = [], [], []

    def where(row):
        return f"{row['csv_file']}, line {row['csv_line']}"

    def missing_file(row, column):
        message = f"{where(row)}: {column} {row[column]!r} not found under {root}"
        if missing == "raise":
            raise FileNotFoundError(message)
        skipped.append((where(row), f"{column} not found"))

    # The same mammogram is published once per abnormality type (Mass-... and Calc-...
    # folders): its lesion boxes are pooled under (patient, breast, view), so that
    # non-tumour ROIs keep clear of its masses and calcifications alike.
    view_columns = [c for c in ("patient_id", "left or right breast", "image view") if c in table]
    mammograms, incomplete = {}, set()
    for image_path_text, rows in table.groupby("image file path", sort=False):
        key = tuple(rows.iloc[0][c] for c in view_columns) if len(view_columns) == 3 else image_path_text
        images = resolver.candidates(image_path_text)
        if not images:
            for _, row in rows.iterrows():
                missing_file(row, "image file path")
            incomplete.add(key)
            continue
        image_path = images[0]
        image = read_image(image_path)
        entries = []
        for _, row in rows.iterrows():
            candidates = resolver.candidates(row["ROI mask file path"])
            if not candidates:
                missing_file(row, "ROI mask file path")
                incomplete.add(key)
                continue
            mask_path, mask = None, None
            for candidate in candidates:
                data = read_image(candidate)
                if data.shape == image.shape:
                    mask_path, mask = candidate, data
                    break
            if mask is None:
                shapes = ", ".join(f"{c.name}: {read_image(c).shape[1]}x{read_image(c).shape[0]}" for c in candidates)
                raise ValueError(
                    f"{where(row)}: no ROI mask of the size of its mammogram {image_path} "
                    f"({image.shape[1]}x{image.shape[0]}); found {shapes}."
                )
            box = mask_box(mask > 0, margin)
            if box is None:
                skipped.append((where(row), "empty ROI mask"))
                incomplete.add(key)
                continue
            entries.append((row, mask_path, box))
        for row, mask_path, (center_row, center_col, side) in entries:
            roi, _ = crop_square(image, center_row, center_col, side)
            rois.append(resize_roi(roi, output_size))
            records.append(_record(row, root, image_path, mask_path, center_row, center_col, side, "lesion"))
        if task == "tumour" and entries:
            # kept until the negatives are placed: the mammogram, its lesion boxes, a record to copy
            boxes = [box for _, _, box in entries]
            if key in mammograms and mammograms[key][0].shape != image.shape:
                key = image_path_text  # not a copy of the same film after all
            if key in mammograms:
                mammograms[key][1].extend(boxes)
            else:
                mammograms[key] = (image, boxes, records[-1])

    if not records:
        raise ValueError(f"No lesion ROI could be loaded from {root}.")

    if task == "tumour":
        for key in mammograms:
            if key in incomplete:
                skipped.append((
                    " ".join(key) if isinstance(key, tuple) else key,
                    "a lesion of this mammogram was left out: no non-tumour ROI placed on it",
                ))
        films = [film for key, film in mammograms.items() if key not in incomplete]
        _add_negatives(records, rois, films, negatives_per_positive, output_size, rng, skipped)

    X = stack_rois(rois, [r["image_file"] for r in records])
    metadata = pd.DataFrame.from_records(records)
    if task == "malignancy":
        target = metadata["pathology"].str.upper().map(_PATHOLOGY).to_numpy().astype(int)
        target_names = np.array(["benign", "malignant"])
    else:
        target = (metadata["kind"] == "lesion").to_numpy().astype(int)
        target_names = np.array(["non-tumour", "tumour"])
    patients = {p: k for k, p in enumerate(dict.fromkeys(metadata["patient_id"]))}
    groups = metadata["patient_id"].map(patients).to_numpy()
    warn_skipped(f"load_cbis_ddsm({str(root)!r})", skipped)
    counts = ", ".join(f"{int((target == k).sum())} {name}" for k, name in enumerate(target_names))
    return Bunch(
        images=X, target=target, groups=groups, metadata=metadata, target_names=target_names,
        skipped=pd.DataFrame(skipped, columns=["item", "reason"]),
        DESCR=f"CBIS-DDSM ROIs from {root} (Lee et al. 2017), task={task!r}: {len(target)} ROIs ({counts}) of "
        f"{len(patients)} patients; output_size={output_size}, margin={margin}. Items left out: {len(skipped)}.",
    )


def _record(row, root, image_path, mask_path, center_row, center_col, side, kind):
    def get(column):
        return row[column] if column in row.index else None

    return dict(
        patient_id=row["patient_id"], split=row["split"], abnormality_type=get("abnormality type"),
        breast=get("left or right breast"), view=get("image view"), abnormality_id=row["abnormality id"],
        pathology=row["pathology"].strip().upper() if kind == "lesion" else None,
        image_file=str(image_path.relative_to(root)),
        mask_file=None if mask_path is None else str(mask_path.relative_to(root)),
        center_row=int(round(center_row)), center_col=int(round(center_col)), crop_size=int(side), kind=kind,
        csv_file=row["csv_file"], csv_line=int(row["csv_line"]),
    )


def _add_negatives(records, rois, films, ratio, output_size, rng, skipped):
    """Place non-tumour ROIs round-robin over the mammograms, in the breast, clear of every lesion box."""
    sides = [r["crop_size"] for r in records if r["kind"] == "lesion"]
    n_negatives = int(round(ratio * len(sides)))
    taken = [[] for _ in films]
    breasts = {}
    open_films = list(rng.permutation(len(films)))
    placed = 0
    while placed < n_negatives and open_films:
        still_open = []
        for k in open_films:
            if placed == n_negatives:
                break
            image, boxes, template = films[k]
            factor = max(1, max(image.shape) // _LOW_RES)
            if k not in breasts:
                breasts[k] = breast_mask(image, factor=factor)
            # the circle through the corners of each lesion box
            circles = [(r, c, side / np.sqrt(2)) for r, c, side in boxes]
            side = int(sides[rng.randint(len(sides))])
            center = sample_background_box(breasts[k], factor, side, circles, taken[k], rng)
            if center is None:
                continue
            top, left = center[0] - side // 2, center[1] - side // 2
            taken[k].append((top, left, top + side, left + side))
            roi, _ = crop_square(image, center[0], center[1], side)
            rois.append(resize_roi(roi, output_size))
            records.append({**template, "pathology": None, "mask_file": None, "abnormality_id": None,
                            "abnormality_type": None,
                            "center_row": center[0], "center_col": center[1], "crop_size": side,
                            "kind": "background"})
            placed += 1
            still_open.append(k)
        open_films = still_open
    if placed < n_negatives:
        skipped.append((f"{n_negatives - placed} non-tumour ROI(s)", "no room left in the breast tissue"))
