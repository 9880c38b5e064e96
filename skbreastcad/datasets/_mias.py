"""The mini-MIAS database: its ``Info.txt`` and tumour / malignancy ROIs cut from its films."""

import math
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, StrOptions, validate_params
from ._mias_info import (
    _EXTENSION_RANK,
    _MASK_FACTOR,
    ABNORMALITIES,
    MIAS_SIZE,
    _find_info,
    read_mias_info,
)
from ._readers import read_image
from ._roi import Film, cut_roi, distance_to_breast, place_negatives, roi_bunch

__all__ = ["load_mias", "read_mias_info"]


def _image_files(data_home):
    """The image file of each film (the preferred extension) and the copies left unread."""
    found = {}
    for path in sorted(data_home.iterdir()):
        if path.suffix.lower() in _EXTENSION_RANK and path.is_file():
            found.setdefault(path.stem.lower(), []).append(path)
    files, copies = {}, []
    for stem, paths in found.items():
        paths.sort(key=lambda p: (_EXTENSION_RANK[p.suffix.lower()], p.name))
        files[stem] = paths[0]
        copies += [(p, paths[0]) for p in paths[1:]]
    return files, copies


def _woman(reference):
    # Note 1: films come in pairs, left (even number) and right (odd number) of one woman.
    number = int(reference[3:])
    return (number + 1) // 2, ("left" if number % 2 == 0 else "right")


def _lesion_side(radius, roi_size, output_size):
    if roi_size == "lesion":
        return max(int(output_size), int(math.ceil(2 * 1.2 * radius)))
    return int(roi_size)


@validate_params(
    {
        "data_home": [str, Path],
        "task": [StrOptions({"tumour", "malignancy"})],
        "roi_size": [Interval(Integral, 8, MIAS_SIZE, closed="both"), StrOptions({"lesion"})],
        "output_size": [Interval(Integral, 8, None, closed="left"), None],
        "negatives_per_positive": [Interval(Real, 0, None, closed="left")],
        "abnormality_classes": [list, tuple, None],
        "references": [list, tuple, None],
        "missing": [StrOptions({"warn", "raise"})],
        "lesions_outside_breast": [StrOptions({"skip", "keep"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_mias(
    data_home,
    *,
    task="tumour",
    roi_size=128,
    output_size=64,
    negatives_per_positive=4,
    abnormality_classes=None,
    references=None,
    missing="warn",
    lesions_outside_breast="skip",
    random_state=0,
):
    """Load square ROIs cut from the mini-MIAS mammograms.

    Reads ``Info.txt`` and the films (PGM as distributed, or PNG/TIFF
    copies with the same names) from ``data_home``, which may hold any
    subset of the database's 322 films.

    Geometry follows the file's header notes: coordinates have their
    origin at the **bottom-left** corner (note 3), so a lesion at ``(x, y)``
    is at array row ``1023 - y``, column ``x``; every film is the
    1024x1024 matrix (note 2); a film may have several abnormalities, one
    row each; calcifications spread over the whole breast have no
    coordinates (note 4); films come in pairs, left (even number) and
    right (odd number) of one woman (note 1), which gives ``groups``.

    Parameters
    ----------
    data_home : str or path-like
        Folder with ``Info.txt`` and the images ``mdbNNN.pgm`` (or
        ``.png``, ``.tif``...).
    task : {"tumour", "malignancy"}, default="tumour"
        ``"tumour"``: every lesion ROI (1) against non-tumour ROIs (0)
        sampled from breast tissue of any film, clear of every annotated
        lesion. ``"malignancy"``: lesion ROIs only, benign (0) against
        malignant (1).
    roi_size : int or "lesion", default=128
        Side of the square cut around each lesion centre, in pixels of the
        film (200 micron each; 128 px = 25.6 mm). A fixed size keeps every
        ROI at the same physical scale, which texture features (GLCM,
        Gabor) depend on; it shows the interior of the largest masses only
        (radii in mini-MIAS run from 3 to about 200 px). ``"lesion"`` cuts
        ``max(output_size, 2.4 x radius)``, the lesion's circle with a 20 %
        margin, and resamples it to ``output_size``; non-tumour crops then
        draw their sizes from the lesion crops' sizes, so that the scale
        of the resampling does not reveal the class.
    output_size : int or None, default=64
        Side of the returned ROIs; crops are resampled with anti-aliasing.
        ``None`` keeps the crop size (only with an int ``roi_size``).
    negatives_per_positive : float, default=4
        Non-tumour ROIs per lesion ROI for ``task="tumour"`` (the study's
        1:4). They are spread evenly over all usable films (normal and
        abnormal, both breasts), never overlap one another, are centred in
        the breast (the film thresholded at 0.4 x Otsu, largest connected
        component: film labels and background excluded) and keep clear of
        every annotated lesion circle enlarged to ``1.25 x radius + 8`` px.
        Each copies the crop size and the share of breast in the crop of a
        random lesion ROI: most lesion crops lie wholly in the breast, but
        lesions at the chest-wall edge of the film include some of its
        black padding, and that must not give the class away.
    abnormality_classes : sequence of str, default=None
        The abnormality classes (CALC, CIRC, SPIC, MISC, ARCH, ASYM) that
        give lesion ROIs; ``None`` means all. Non-tumour ROIs keep clear of
        every annotated lesion regardless.
    references : sequence of str, default=None
        Films to use (e.g. ``["mdb001", "mdb002"]``); each must be listed
        in ``Info.txt`` and present. ``None`` uses every film present.
    missing : {"warn", "raise"}, default="warn"
        What to do when ``Info.txt`` lists films that are not in
        ``data_home`` (with ``references=None``): leave them out with a
        warning that counts them, or raise.
    lesions_outside_breast : {"skip", "keep"}, default="skip"
        A lesion whose circle does not reach the breast mask at all (its
        crop would be film background: a suspect annotation) is left out
        with a warning by ``"skip"``, or cut as annotated by ``"keep"``.
    random_state : int, RandomState instance or None, default=0
        Seeds the placement of non-tumour ROIs; the result is identical for
        an identical seed and folder.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``images``: ndarray of shape (n_rois, output_size, output_size),
          dtype of the films (uint8 for mini-MIAS).
        - ``target``: ndarray of int, shape (n_rois,).
        - ``groups``: ndarray of int, shape (n_rois,), one id per woman
          (her two films share it): pass it to ``GroupKFold``.
        - ``metadata``: pandas.DataFrame, one row per ROI: ``reference``,
          ``file``, ``woman``, ``breast`` (left/right), ``tissue``,
          ``abnormality`` and ``severity`` (missing for non-tumour ROIs),
          ``x``, ``y``, ``radius`` (as in ``Info.txt``, origin
          bottom-left), ``center_row``, ``center_col`` (array indices,
          origin top-left), ``crop_top``, ``crop_left``, ``crop_bottom``,
          ``crop_right`` (half-open box in array indices; it may pass the
          film's edge, where the crop is zero-padded), ``crop_size``,
          ``breast_fraction`` (share of the crop inside the breast mask),
          ``kind`` (lesion/background) and ``info_line``.
        - ``target_names``: ndarray of str.
        - ``skipped``: pandas.DataFrame (``item``, ``reason``) of
          everything left out; also reported in a warning.
        - ``DESCR``: str.

    Raises
    ------
    FileNotFoundError
        If ``data_home`` or ``Info.txt`` is missing, or a film in
        ``references`` (or any listed film with ``missing="raise"``).
    ValueError
        For a malformed ``Info.txt`` row (file and line named), an
        unreadable image or one that is not 1024x1024 (file named), or
        when no lesion ROI remains.

    Warns
    -----
    UserWarning
        Counting every item left out: lesions without coordinates or
        outside the breast, films
        excluded from non-tumour sampling, films not present, image files
        without a row, further copies of a film (``mdb001.png`` beside
        ``mdb001.pgm``: the PGM is read), non-tumour ROIs that found no room.

    See Also
    --------
    read_mias_info : The parsed ``Info.txt``.

    References
    ----------
    .. [1] J. Suckling et al., "The Mammographic Image Analysis Society
       Digital Mammogram Database", Excerpta Medica, International Congress
       Series 1069, pp. 375-378, 1994.

    Examples
    --------
    Two synthetic films, each with a half-disc breast and one mass:

    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.datasets import load_mias
    >>> home = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (home / "Info.txt").write_text("mdb001 G CIRC B 300 500 20\\nmdb002 G CIRC M 200 520 25\\n")
    >>> rows, cols = np.ogrid[:1024, :1024]
    >>> film = np.where((rows - 512) ** 2 + cols**2 < 480**2, 120, 0).astype(np.uint8)
    >>> for reference in ("mdb001", "mdb002"):
    ...     Image.fromarray(film).save(home / f"{reference}.pgm")
    >>> data = load_mias(home, task="tumour", negatives_per_positive=2, output_size=32)
    >>> data.images.shape, np.bincount(data.target).tolist(), data.target_names.tolist()
    ((6, 32, 32), [4, 2], ['non-tumour', 'tumour'])
    >>> data.groups.tolist()  # films 1 and 2 are the two breasts of woman 1
    [1, 1, 1, 1, 1, 1]
    """
    data_home = Path(data_home)
    if not data_home.is_dir():
        raise FileNotFoundError(f"mini-MIAS folder not found: {data_home}")
    if roi_size == "lesion" and output_size is None:
        raise ValueError("roi_size='lesion' cuts crops of varying size: set output_size to an int.")
    classes = _check_classes(abnormality_classes)
    rng = check_random_state(random_state)

    info_path = _find_info(data_home)
    info = read_mias_info(info_path)
    files, skipped = _select_films(info, info_path, data_home, references, missing)
    info = info[info["reference"].isin(files)]
    circles = _keep_away(info)
    # every film is read now: an unreadable one is an error even if unused
    films = {
        reference: Film(_read_film(path), factor=_MASK_FACTOR, keep_away=circles.get(reference, []))
        for reference, path in files.items()
    }
    fields = _film_fields(info, files)

    lesions = info[info["abnormality"] != "NORM"]
    no_coordinates = lesions[lesions["x"].isna()]
    skipped += [
        (_lesion_name(row), "no coordinates (widely distributed, Info.txt note 4): no lesion ROI")
        for row in no_coordinates.itertuples()
    ]
    usable = lesions[lesions["x"].notna() & lesions["abnormality"].isin(classes)]
    if lesions_outside_breast == "skip":
        outside = np.array(
            [
                _distance_to_breast(films[row.reference], row) > row.radius
                for row in usable.itertuples()
            ],
            dtype=bool,
        )
        skipped += [
            (_lesion_name(row), _OUTSIDE_BREAST.format(row=row))
            for row in usable[outside].itertuples()
        ]
        usable = usable[~outside]
    rois = [
        _lesion_roi(films[row.reference], fields[row.reference], row, roi_size, output_size)
        for row in usable.itertuples()
    ]
    if not rois:
        raise ValueError(
            f"No lesion ROI in {data_home} for abnormality classes {classes}: nothing to learn from."
        )

    if task == "tumour":
        excluded = set(no_coordinates["reference"])
        skipped += [
            (
                reference,
                "calcifications without coordinates: no non-tumour ROI can be placed safely",
            )
            for reference in sorted(excluded)
        ]
        candidates = [r for r in files if r not in excluded]
        n_negatives = int(round(negatives_per_positive * len(rois)))
        templates = [(record["crop_size"], record["breast_fraction"]) for record, _ in rois]
        placed = place_negatives(
            n_negatives,
            [films[r] for r in candidates],
            templates,
            rng,
            attempts=3,
            match_breast_fraction=True,
        )
        rois += [
            _roi(films[candidates[k]], fields[candidates[k]], row, col, side, output_size)
            for k, row, col, side in placed
        ]
        if len(placed) < n_negatives:
            skipped.append(
                (
                    f"{n_negatives - len(placed)} non-tumour ROI(s)",
                    f"no room left in the breast tissue of {len(candidates)} films",
                )
            )
    settings = (
        f"roi_size={roi_size!r} px of 200 micron, output_size={output_size}, "
        f"negatives_per_positive={negatives_per_positive}, random_state={random_state!r}"
    )
    return _bunch(rois, task, skipped, data_home, files, settings, classes)


_OUTSIDE_BREAST = (
    "its circle (x={row.x:g}, y={row.y:g}, radius={row.radius:g}) lies outside the breast, in the film "
    "background: suspect annotation, no lesion ROI (lesions_outside_breast='keep' keeps it)"
)


def _check_classes(abnormality_classes):
    classes = (
        tuple(ABNORMALITIES)
        if abnormality_classes is None
        else tuple(c.upper() for c in abnormality_classes)
    )
    unknown = sorted(set(classes) - set(ABNORMALITIES))
    if unknown or not classes:
        raise ValueError(
            f"abnormality_classes must be a non-empty subset of {tuple(ABNORMALITIES)}; got {abnormality_classes!r}."
        )
    return classes


def _select_films(info, info_path, data_home, references, missing):
    """The image file of each film to load, in ``Info.txt`` order, and the items left out."""
    files, copies = _image_files(data_home)
    listed = list(dict.fromkeys(info["reference"]))
    skipped = []
    if references is not None:
        wanted = list(dict.fromkeys(str(r).lower() for r in references))
        not_listed = [r for r in wanted if r not in set(listed)]
        if not_listed:
            raise ValueError(f"references not listed in {info_path}: {not_listed}")
        absent = [r for r in wanted if r not in files]
        if absent:
            raise FileNotFoundError(f"Image file(s) for {absent} not found in {data_home}.")
        # Info.txt order, not the caller's: the same films give the same ROIs
        films = [r for r in listed if r in set(wanted)]
    else:
        absent = [r for r in listed if r not in files]
        if absent and missing == "raise":
            raise FileNotFoundError(
                f"{len(absent)} film(s) listed in {info_path} have no image in {data_home}, e.g. "
                f"{absent[:5]} (missing='warn' loads the subset present)."
            )
        skipped += [(r, "listed in Info.txt, image file not present") for r in absent]
        skipped += [
            (files[r].name, "image file without a row in Info.txt")
            for r in sorted(set(files) - set(listed))
        ]
        films = [r for r in listed if r in files]
    if not films:
        raise ValueError(f"No mini-MIAS film of {info_path} is present in {data_home}.")
    skipped += [
        (copy.name, f"another copy of {used.name}, which is read")
        for copy, used in copies
        if used.stem.lower() in set(films)
    ]
    return {r: files[r] for r in films}, skipped


def _read_film(path):
    image = read_image(path)
    if image.shape != (MIAS_SIZE, MIAS_SIZE):
        raise ValueError(
            f"{path} is {image.shape[1]}x{image.shape[0]} pixels, but Info.txt coordinates "
            f"refer to the {MIAS_SIZE}x{MIAS_SIZE} matrix of every mini-MIAS film (its note 2)."
        )
    return image


def _center(row):
    # Note 3: the origin is the bottom-left corner; array rows count from the top.
    return MIAS_SIZE - 1 - row.y, row.x


def _keep_away(info):
    """The annotated lesion circles of each film, enlarged: non-tumour ROIs keep clear of them all."""
    lesions = info[info["x"].notna()]
    return {
        reference: [(*_center(row), 1.25 * row.radius + 8) for row in group.itertuples()]
        for reference, group in lesions.groupby("reference")
    }


def _lesion_name(row):
    return f"{row.reference} {row.abnormality} (line {row.line})"


def _distance_to_breast(film, row):
    return distance_to_breast(film.breast, film.factor, *_center(row))


def _film_fields(info, files):
    """The metadata every ROI of a film carries, by reference."""
    tissue = dict(zip(info["reference"], info["tissue"], strict=True))
    fields = {}
    for reference, path in files.items():
        woman, breast = _woman(reference)
        fields[reference] = dict(
            reference=reference,
            file=path.name,
            woman=woman,
            breast=breast,
            tissue=tissue[reference],
        )
    return fields


def _roi(film, fields, row, col, side, output_size, lesion=None):
    """One ROI and its metadata record (``lesion`` is its ``Info.txt`` row, None for a non-tumour ROI)."""
    roi, box = cut_roi(film.image, row, col, side, output_size)
    record = dict(
        **fields,
        abnormality=None if lesion is None else lesion.abnormality,
        severity=None if lesion is None else lesion.severity,
        x=np.nan if lesion is None else lesion.x,
        y=np.nan if lesion is None else lesion.y,
        radius=np.nan if lesion is None else lesion.radius,
        center_row=int(row),
        center_col=int(col),
        crop_top=box[0],
        crop_left=box[1],
        crop_bottom=box[2],
        crop_right=box[3],
        crop_size=int(side),
        breast_fraction=film.breast_fraction(box),
        kind="background" if lesion is None else "lesion",
        info_line=np.nan if lesion is None else lesion.line,
    )
    return record, roi


def _lesion_roi(film, fields, lesion, roi_size, output_size):
    side = _lesion_side(lesion.radius, roi_size, output_size or roi_size)
    return _roi(film, fields, *_center(lesion), side, output_size, lesion)


def _bunch(rois, task, skipped, data_home, files, settings, classes):
    import pandas as pd

    metadata = pd.DataFrame.from_records([record for record, _ in rois])
    # one order whatever the placement order: by film, its lesions in Info.txt order, then the others
    order = metadata.sort_values(
        ["reference", "kind", "info_line", "center_row", "center_col"],
        ascending=[True, False, True, True, True],
        kind="stable",
    ).index.to_numpy()
    metadata = metadata.loc[order].reset_index(drop=True)
    metadata["info_line"] = metadata["info_line"].astype("Int64")
    if task == "tumour":
        target = (metadata["kind"] == "lesion").to_numpy().astype(int)
        target_names = ["non-tumour", "tumour"]
    else:
        target = (metadata["severity"] == "M").to_numpy().astype(int)
        target_names = ["benign", "malignant"]

    def describe(counts):
        return (
            f"mini-MIAS ROIs from {data_home} (Suckling et al. 1994)\n"
            f"task={task!r}: {len(target)} ROIs ({counts}) from {len(files)} films of "
            f"{len({_woman(r)[0] for r in files})} women.\n{settings}.\n"
            f"Lesion classes: {', '.join(classes)}. Items left out: {len(skipped)}"
            + "".join(f"\n  - {item}: {reason}" for item, reason in skipped)
        )

    return roi_bunch(
        f"load_mias({str(data_home)!r})",
        rois=[rois[k][1] for k in order],
        sources=list(metadata["file"]),
        target=target,
        groups=metadata["woman"].to_numpy(),
        metadata=metadata,
        target_names=target_names,
        skipped=skipped,
        describe=describe,
    )
