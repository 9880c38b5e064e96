"""CBIS-DDSM: description CSVs, full mammograms and lesion masks (DICOM or PNG copies)."""

import os
import re
import warnings
from numbers import Integral, Real
from pathlib import Path, PurePosixPath

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, StrOptions, validate_params
from ._readers import IMAGE_EXTENSIONS, read_image
from ._roi import Film, cut_roi, mask_box, place_negatives, roi_bunch

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
    import pandas as pd

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
        frame = _normalise_columns(_read_csv(csv))
        missing = [c for c in _REQUIRED if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{csv} lacks the column(s) {missing} of a CBIS-DDSM description file."
            )
        frame["csv_file"] = csv.name
        frame["csv_line"] = np.arange(2, len(frame) + 2)  # line 1 is the header
        frame["split"] = part
        frames.append(frame)
    if not frames:
        raise ValueError(
            f"No description CSV under {root} matches abnormality={abnormality!r}, split={split!r}."
        )
    table = pd.concat(frames, ignore_index=True)
    for column in ("image file path", "ROI mask file path", "cropped image file path"):
        if column in table:
            # the published CSVs end some paths with a newline inside the quotes
            table[column] = table[column].str.strip()
    table, skipped = _drop_repeated_rows(table)
    bad = ~table["pathology"].str.strip().str.upper().isin(list(_PATHOLOGY))
    if bad.any():
        row = table[bad].iloc[0]
        raise ValueError(
            f"{row['csv_file']}, line {row['csv_line']}: unknown pathology {row['pathology']!r}; expected one of "
            f"{', '.join(_PATHOLOGY)}."
        )
    return table, skipped


def _read_csv(csv):
    """One description file as strings, or an error naming it (pandas' own errors do not)."""
    import pandas as pd

    try:
        with warnings.catch_warnings():
            # index_col=False: a first row with one field too many would otherwise become the
            # index and shift every column by one; pandas then warns that data is lost
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(csv, dtype=str, keep_default_na=False, index_col=False)
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
    ) as exc:
        raise ValueError(f"Cannot parse the CBIS-DDSM description file {csv}: {exc}") from exc


def _drop_repeated_rows(table):
    """Keep one row per lesion ``(image file path, abnormality id)``; count the repeats, refuse conflicts.

    A repeat comes from a CSV listed twice (a second copy in a subfolder) or a
    row pasted twice: loading it would give the same ROI twice.
    """
    key = ["image file path", "abnormality id"]
    repeated = table.duplicated(key, keep="first")
    if not repeated.any():
        return table, []
    first = table[~repeated].set_index(key)
    skipped = []
    for _, row in table[repeated].iterrows():
        kept = first.loc[(row["image file path"], row["abnormality id"])]
        for column in ("pathology", "ROI mask file path"):
            if kept[column].strip().upper() != row[column].strip().upper():
                raise ValueError(
                    f"{_where(row)} repeats lesion {row['abnormality id']} of {row['image file path']} from "
                    f"{_where(kept)} with another {column}: {row[column]!r} against {kept[column]!r}."
                )
        skipped.append((_where(row), f"repeats {_where(kept)} (the same lesion): loaded once"))
    return table[~repeated].reset_index(drop=True), skipped


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
        for candidate in [direct] + [
            direct.with_suffix(ext) for ext in (".png", ".tif", ".tiff", ".jpg")
        ]:
            if candidate.is_file():
                return [candidate]
        # only names that identify one case or series: the case folder and the DICOM UIDs
        folders = [part for part in reversed(path.parts[1:-1]) if _UID.match(part)] + list(
            path.parts[:1]
        )
        for folder in folders:
            found = self.folders().get(folder, [])
            files = sorted(
                f
                for d in found
                for f in d.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
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
        Side of the returned ROIs; crops are resampled with anti-aliasing.
    margin : float, default=0.1
        Context around a mask's bounding box on every side, as a fraction
        of its longer side.
    negatives_per_positive : float, default=4
        Non-tumour ROIs per lesion ROI for ``task="tumour"``, spread
        round-robin over the mammograms, centred in the breast (at least
        95 % of each crop), never overlapping one another.
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
        For a CSV that cannot be parsed (an unterminated quote, a row
        with more fields than the header, not UTF-8, empty), without the
        expected columns, with an unknown pathology or repeating a lesion
        with another pathology or mask (file and line named), an
        unreadable image, a mask whose size differs from its mammogram's
        (both files named), or when no lesion ROI can be loaded (the
        reasons counted in the message).

    Warns
    -----
    UserWarning
        Counting every item left out: CSV rows whose files are missing,
        rows repeating a lesion already read (a CSV present twice under
        ``root``: it is loaded once), empty masks, mammograms that give
        no non-tumour ROI, non-tumour ROIs that found no room.

    See Also
    --------
    load_mias : The same tasks on the mini-MIAS films.
    load_image_folder : ROIs from any folder of images and masks.

    References
    ----------
    .. [1] R. S. Lee et al., "A curated mammography data set for use in
       computer-aided detection and diagnosis research", Scientific Data 4,
       170177, 2017. doi:10.1038/sdata.2017.177

    Examples
    --------
    A description CSV whose paths name a mammogram and its lesion mask:

    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.datasets import load_cbis_ddsm
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> image = np.zeros((200, 120), np.uint16)
    >>> image[10:190, :100] = 20000  # the breast
    >>> image[50:70, 40:60] = 50000  # the lesion
    >>> Image.fromarray(image).save(root / "full.png")
    >>> Image.fromarray(((image == 50000) * 255).astype(np.uint8)).save(root / "mask.png")
    >>> _ = (root / "mass_case_description_train_set.csv").write_text(
    ...     "patient_id,abnormality id,pathology,image file path,ROI mask file path\\n"
    ...     "P_00001,1,MALIGNANT,full.png,mask.png\\n"
    ... )
    >>> data = load_cbis_ddsm(root, output_size=32)  # crop: 20 px + 2 x 10 % margin
    >>> data.images.shape, data.images.dtype, data.target.tolist()
    ((1, 32, 32), dtype('uint16'), [1])
    >>> data.metadata[["patient_id", "split", "crop_size", "kind"]]
      patient_id  split  crop_size    kind
    0    P_00001  train         24  lesion
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CBIS-DDSM folder not found: {root}")
    rng = check_random_state(random_state)
    table, skipped = _read_descriptions(root, abnormality, split)
    resolver = _Resolver(root)
    rois, films, incomplete = [], {}, set()
    for image_path_text, rows in table.groupby("image file path", sort=False):
        key = _view_key(rows, image_path_text)
        image_path, image, lesions, left_out = _read_view(
            resolver, image_path_text, rows, root, missing, margin
        )
        skipped += left_out
        if left_out:
            incomplete.add(key)
        rois += [
            _lesion_roi(image, row, root, image_path, mask_path, box, output_size)
            for row, mask_path, box in lesions
        ]
        if task == "tumour" and lesions:
            # kept until the negatives are placed: the mammogram, its lesion boxes, a record to copy
            if key in films and films[key][0].image.shape != image.shape:
                key = image_path_text  # not a copy of the same film after all
            if key in films:
                films[key][0].keep_away.extend(_keep_away(lesions))
            else:
                factor = max(1, max(image.shape) // _LOW_RES)
                films[key] = (
                    Film(image, factor=factor, keep_away=_keep_away(lesions)),
                    rois[-1][0],
                )
    if not rois:
        raise ValueError(
            f"No lesion ROI could be loaded from {root}: {_left_out_summary(skipped)}."
        )

    if task == "tumour":
        skipped += [
            (
                " ".join(key) if isinstance(key, tuple) else key,
                "a lesion of this mammogram was left out: no non-tumour ROI placed on it",
            )
            for key in films
            if key in incomplete
        ]
        usable = [film for key, film in films.items() if key not in incomplete]
        sides = [record["crop_size"] for record, _ in rois]
        n_negatives = int(round(negatives_per_positive * len(sides)))
        placed = place_negatives(
            n_negatives, [film for film, _ in usable], [(side, 1.0) for side in sides], rng
        )
        rois += [
            _background_roi(*usable[k], row, col, side, output_size) for k, row, col, side in placed
        ]
        if len(placed) < n_negatives:
            skipped.append(
                (
                    f"{n_negatives - len(placed)} non-tumour ROI(s)",
                    "no room left in the breast tissue",
                )
            )
    return _bunch(rois, task, skipped, root, output_size, margin)


def _left_out_summary(skipped):
    """``"3568 CSV rows left out (3568 image file path not found), e.g. ..."``: why nothing was loaded."""
    if not skipped:
        return "no CSV row selected"
    reasons = {}
    for _, reason in skipped:
        reasons[reason] = reasons.get(reason, 0) + 1
    counts = ", ".join(f"{n} {reason}" for reason, n in reasons.items())
    return f"{len(skipped)} item(s) left out ({counts}), e.g. {skipped[0][0]}: {skipped[0][1]}"


def _where(row):
    return f"{row['csv_file']}, line {row['csv_line']}"


def _view_key(rows, image_path_text):
    """The mammogram a CSV image path shows, the same for its Mass-... and Calc-... copies."""
    # The same mammogram is published once per abnormality type (Mass-... and Calc-...
    # folders): its lesion boxes are pooled under (patient, breast, view), so that
    # non-tumour ROIs keep clear of its masses and calcifications alike.
    columns = ("patient_id", "left or right breast", "image view")
    if all(c in rows for c in columns):
        return tuple(rows.iloc[0][c] for c in columns)
    return image_path_text


def _not_found(row, column, root, missing):
    """The skipped item of a CSV row whose file is absent, or the error with ``missing="raise"``."""
    if missing == "raise":
        raise FileNotFoundError(f"{_where(row)}: {column} {row[column]!r} not found under {root}")
    return _where(row), f"{column} not found"


def _find_mask(resolver, row, image, image_path):
    """The ROI mask of a CSV row: of the files found, the one of its mammogram's size (None if none found)."""
    candidates = resolver.candidates(row["ROI mask file path"])
    for candidate in candidates:
        data = read_image(candidate)
        if data.shape == image.shape:
            return candidate, data
    if candidates:
        shapes = ", ".join(
            f"{c.name}: {read_image(c).shape[1]}x{read_image(c).shape[0]}" for c in candidates
        )
        raise ValueError(
            f"{_where(row)}: no ROI mask of the size of its mammogram {image_path} "
            f"({image.shape[1]}x{image.shape[0]}); found {shapes}."
        )
    return None, None


def _read_view(resolver, image_path_text, rows, root, missing, margin):
    """One mammogram and the lesion boxes of its CSV rows.

    Returns the image path and array (None when not found), the lesions
    ``(row, mask_path, (center_row, center_col, side))`` and the items left out.
    """
    images = resolver.candidates(image_path_text)
    if not images:
        return (
            None,
            None,
            [],
            [_not_found(row, "image file path", root, missing) for _, row in rows.iterrows()],
        )
    image_path = images[0]
    image = read_image(image_path)
    lesions, skipped = [], []
    for _, row in rows.iterrows():
        mask_path, mask = _find_mask(resolver, row, image, image_path)
        if mask is None:
            skipped.append(_not_found(row, "ROI mask file path", root, missing))
            continue
        box = mask_box(mask > 0, margin)
        if box is None:
            skipped.append((_where(row), "empty ROI mask"))
            continue
        lesions.append((row, mask_path, box))
    return image_path, image, lesions, skipped


def _keep_away(lesions):
    # the circle through the corners of each lesion box
    return [(row, col, side / np.sqrt(2)) for _, _, (row, col, side) in lesions]


def _lesion_roi(image, row, root, image_path, mask_path, box, output_size):
    center_row, center_col, side = box
    roi, _ = cut_roi(image, center_row, center_col, side, output_size)
    return _record(row, root, image_path, mask_path, center_row, center_col, side, "lesion"), roi


def _background_roi(film, template, center_row, center_col, side, output_size):
    """A non-tumour ROI: only the fields of its film are copied from a lesion record of that film."""
    roi, _ = cut_roi(film.image, center_row, center_col, side, output_size)
    record = {
        **template,
        "pathology": None,
        "mask_file": None,
        "abnormality_id": None,
        "abnormality_type": None,
        "center_row": center_row,
        "center_col": center_col,
        "crop_size": side,
        "kind": "background",
    }
    return record, roi


def _bunch(rois, task, skipped, root, output_size, margin):
    import pandas as pd

    records = [record for record, _ in rois]
    metadata = pd.DataFrame.from_records(records)
    if task == "malignancy":
        target = metadata["pathology"].str.upper().map(_PATHOLOGY).to_numpy().astype(int)
        target_names = ["benign", "malignant"]
    else:
        target = (metadata["kind"] == "lesion").to_numpy().astype(int)
        target_names = ["non-tumour", "tumour"]
    patients = {p: k for k, p in enumerate(dict.fromkeys(metadata["patient_id"]))}

    def describe(counts):
        return (
            f"CBIS-DDSM ROIs from {root} (Lee et al. 2017), task={task!r}: {len(target)} ROIs ({counts}) of "
            f"{len(patients)} patients; output_size={output_size}, margin={margin}. Items left out: {len(skipped)}."
        )

    return roi_bunch(
        f"load_cbis_ddsm({str(root)!r})",
        rois=[roi for _, roi in rois],
        sources=[r["image_file"] for r in records],
        target=target,
        groups=metadata["patient_id"].map(patients).to_numpy(),
        metadata=metadata,
        target_names=target_names,
        skipped=skipped,
        describe=describe,
    )


def _record(row, root, image_path, mask_path, center_row, center_col, side, kind):
    def get(column):
        return row[column] if column in row.index else None

    return dict(
        patient_id=row["patient_id"],
        split=row["split"],
        abnormality_type=get("abnormality type"),
        breast=get("left or right breast"),
        view=get("image view"),
        abnormality_id=row["abnormality id"],
        pathology=row["pathology"].strip().upper() if kind == "lesion" else None,
        image_file=str(image_path.relative_to(root)),
        mask_file=None if mask_path is None else str(mask_path.relative_to(root)),
        center_row=int(round(center_row)),
        center_col=int(round(center_col)),
        crop_size=int(side),
        kind=kind,
        csv_file=row["csv_file"],
        csv_line=int(row["csv_line"]),
    )
