"""ROIs from a folder of images, one subfolder per class, with optional lesion masks."""

import os
import re
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ..utils._sklearn_compat import Interval, StrOptions, validate_params
from ._lazy import ImagePaths
from ._readers import IMAGE_EXTENSIONS, _is_dicom, read_image
from ._roi import _user_stacklevel, check_one_dtype, cut_roi, mask_box, roi_bunch

__all__ = ["load_image_folder"]

# <name>_mask, <name>_mask2 and BUSI's <name>_mask_1
_MASK = re.compile(r"^(?P<stem>.+)_mask(?:_?\d+)?$", re.IGNORECASE)
# A crop past this many image sides is zero padding around a speck; far past it,
# an allocation that fails (margin=1e9)
_MAX_CROP_FACTOR = 4


@validate_params(
    {
        "root": [str, Path],
        "classes": [list, tuple, None],
        "output_size": [Interval(Integral, 1, None, closed="left"), None],
        "margin": [Interval(Real, 0, None, closed="left")],
        "group_pattern": [str, None],
        "empty_mask": [StrOptions({"whole_image", "skip", "error"})],
        "lazy": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(
    root,
    *,
    classes=None,
    output_size=64,
    margin=0.1,
    group_pattern=None,
    empty_mask="whole_image",
    lazy=False,
):
    """Load ROIs from ``root/<class>/<image>``, cropped around lesion masks when present.

    Each subfolder of ``root`` is a class (searched recursively, following
    symbolic links). Images may be PNG, JPEG, PGM/PNM, TIFF, BMP or DICOM;
    colour images are converted to grayscale and 16-bit images stay
    16-bit. A lesion mask sits next to its image as ``<name>_mask.<ext>``,
    or ``<name>_mask1``, ``<name>_mask2``... (or BUSI's ``<name>_mask_1``)
    for several lesions: each mask gives one ROI, the square around its
    non-zero pixels enlarged by ``margin`` (zero-padded past the image
    edge). An image without a mask gives one ROI: the whole image.

    A colour mask marks its lesion where any channel is non-zero (a blue
    value of 1, which grey conversion rounds to 0, counts); a mask with a
    varying alpha channel marks it where alpha is non-zero. Each image
    file is loaded once: the same file reached twice, through a symbolic
    or hard link, is an error, since it would sit in two patient groups.

    Parameters
    ----------
    root : str or path-like
        Folder with one subfolder per class.
    classes : sequence of str, default=None
        Class folders to load, in the order that defines the targets
        ``0, 1, ...``; ``None`` takes every subfolder, sorted by name.
        Each is a path relative to ``root`` that stays inside it (no
        absolute path, no ``..``).
    output_size : int or None, default=64
        Side of the returned ROIs (resampled with anti-aliasing). ``None``
        keeps the crops as they are, which must then share one size.
    margin : float, default=0.1
        Context added around a mask's bounding box on every side, as a
        fraction of its longer side. A crop may be at most 4 times its
        image's longer side (past that it is almost all padding).
    group_pattern : str, default=None
        Regular expression applied to each image path relative to ``root``
        whose first group is the patient id (e.g. ``r"(P_\\d+)"``), for
        grouped cross-validation. ``None`` makes every image its own group
        (ROIs of one image always share a group).
    empty_mask : {"whole_image", "skip", "error"}, default="whole_image"
        What an image whose masks are all empty (no non-zero pixel) gives.
        Data sets such as BUSI store such a mask beside every image that
        shows no lesion (their ``normal`` class). ``"whole_image"``: one
        ROI, the whole image, as for an image without a mask, so that the
        class is kept. ``"skip"``: no ROI; each empty mask is counted in
        the warning. ``"error"``: any empty mask is an error naming it.
        An empty mask beside non-empty masks of the same image is left
        out and counted (the image's lesions give its ROIs) unless
        ``"error"``.
    lazy : bool, default=False
        Return ``images`` as an :class:`ImagePaths` that holds each ROI's
        file and crop box and reads them only when needed (equal, once
        read, to the array of ``lazy=False``), for sets larger than memory.
        Every image and mask is still read once here, one at a time, to
        find the ROIs, check the masks and fill ``metadata``; no pixels are
        kept. Needs an integer ``output_size``.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (n_rois, output_size, output_size) with the images'
        dtype (an :class:`ImagePaths` with ``lazy=True``), ``target``, ``groups``, ``metadata`` (``file``, ``mask_file``,
        ``class``, ``group``, ``center_row``, ``center_col``, ``crop_size``,
        ``image_height``, ``image_width``, ``crop``: ``"mask"`` or
        ``"whole image"``; a whole image taken for empty masks keeps the
        first of them in ``mask_file``), ``target_names``, ``skipped``
        and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or a requested class folder is missing.
    ValueError
        If an image or mask cannot be read or holds NaN or infinite
        values (file named), one image file is reached twice through a
        symbolic or hard link (both paths named), a mask's size differs
        from its image's (both files named), a crop would exceed 4 times
        its image's longer side (``margin`` too large), the images mix bit
        depths, no image is found, ``classes`` names a folder twice or a
        folder outside ``root``, a
        mask is empty with ``empty_mask="error"``, or ``group_pattern`` is
        not a regular expression, does not match an image path or
        captures an empty patient id (pattern and path named).

    Warns
    -----
    UserWarning
        Counting what was left out: empty masks (see ``empty_mask``),
        masks without an image, files that are not images, images sharing
        their name (case aside) with another image of the same folder
        (e.g. ``x.png`` and ``x.tif``: masks pair with images by name, so
        only the first in sorted order is loaded), folders that cannot be
        read, broken symbolic links and other non-regular files, folders
        reached a second time through a link, images lying in ``root``
        outside any class folder, and classes that give no ROI. A
        second warning names the masks whose lesion would look empty in
        grey (held in the alpha channel, or in colour values that grey
        conversion rounds to 0), read from the channel that holds it.

    See Also
    --------
    read_image : How each file is read.
    load_cbis_ddsm : The CBIS-DDSM layout and description files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.datasets import load_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for label in ("benign", "malignant"):
    ...     (root / label).mkdir()
    ...     Image.fromarray(np.full((40, 40), 90, np.uint8)).save(root / label / "a.png")
    >>> data = load_image_folder(root, output_size=16)
    >>> data.images.shape, data.target.tolist(), data.target_names.tolist()
    ((2, 16, 16), [0, 1], ['benign', 'malignant'])
    """
    root = Path(root)
    if lazy and output_size is None:
        # an ImagePaths holds images of one size; crops kept as they are need not share one
        raise ValueError(
            "load_image_folder(lazy=True) needs an integer output_size: with output_size=None "
            "the crops keep their own sizes, which a lazily read image set cannot hold. "
            "Set output_size, or load with lazy=False."
        )
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {root}")
    skipped = []
    classes = _class_folders(root, classes, skipped)
    pattern = _compile_group_pattern(group_pattern)

    # every class is listed before any image is read: a file reached twice is an
    # error before the loader has spent minutes reading the others
    listed, seen_folders, seen_files = [], {}, {}
    for name in classes:
        images, masks = _pair_files(
            root, _class_files(root, root / name, skipped, seen_folders), skipped
        )
        for path in images.values():
            _check_not_seen(path, root, seen_files)
        listed.append((images, masks))

    # lazy: the file and crop box of each ROI, and its image's pixel type, instead of its pixels
    rois, records, hidden, boxes, dtypes = [], [], [], [], []
    group_ids = {}
    for label, (name, (images, masks)) in enumerate(zip(classes, listed, strict=True)):
        n_before = len(records)
        for key, path in sorted(images.items()):
            relative = _relative(path, root)
            group_key = relative if pattern is None else _group_key(pattern, relative)
            group = group_ids.setdefault(group_key, len(group_ids))
            image = read_image(path)
            for mask_path, crop, (row, col, side) in _rois_of_image(
                image, path, sorted(masks.get(key, [])), margin, empty_mask, root, skipped, hidden
            ):
                if lazy:
                    boxes.append((str(path), (row, col, side)))
                    dtypes.append(image.dtype)
                else:
                    roi, _ = cut_roi(image, row, col, side, output_size)
                    rois.append(roi)
                records.append(
                    dict(
                        file=relative,
                        mask_file=None if mask_path is None else _relative(mask_path, root),
                        **{"class": name},
                        group=group_key,
                        center_row=int(round(row)),
                        center_col=int(round(col)),
                        crop_size=int(side),
                        image_height=image.shape[0],
                        image_width=image.shape[1],
                        crop=crop,
                        target=label,
                        group_id=group,
                    )
                )
        if len(records) == n_before:
            reason = f"class {name!r} (target {label}) gives no ROI: it is absent from the data"
            skipped.append((f"{name}{os.sep}", reason))
    if hidden:
        warnings.warn(
            f"load_image_folder({str(root)!r}): {len(hidden)} mask(s) hold their lesion only in "
            "the alpha channel or in colour values that conversion to grey rounds to 0, so they "
            f"look empty in a grey viewer (e.g. {', '.join(hidden[:3])}); each was read from "
            "the channel that holds its lesion.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    if not records:
        raise ValueError(f"No image found under {root} in class folders {classes}.")
    import pandas as pd

    metadata = pd.DataFrame.from_records(records)
    target = metadata.pop("target").to_numpy()
    groups = metadata.pop("group_id").to_numpy()
    images = None
    if lazy:
        check_one_dtype(dtypes, [r["file"] for r in records])
        images = ImagePaths(
            [path for path, _ in boxes],
            output_size=output_size,
            crops=[box for _, box in boxes],
        )
    return roi_bunch(
        f"load_image_folder({str(root)!r})",
        rois=rois,
        sources=[r["file"] for r in records],
        target=target,
        groups=groups,
        metadata=metadata,
        target_names=classes,
        skipped=skipped,
        images=images,
        describe=lambda counts: (
            f"Image folder {root}: {len(target)} ROIs ({counts}), {len(group_ids)} groups, "
            f"output_size={output_size}, margin={margin}. Items left out: {len(skipped)}."
        ),
    )


def _pair_files(root, files, skipped):
    """``(images, masks)`` of one class: ``{(folder, stem): path}`` and ``{(folder, stem): [mask paths]}``."""
    images, masks = {}, {}
    for path in files:
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((_relative(path, root), "not an image file"))
            continue
        match = _MASK.match(path.stem)
        if match:
            key = (path.parent, match["stem"].lower())
            masks.setdefault(key, []).append(path)
        elif (path.parent, path.stem.lower()) in images:
            # masks pair with images by name, so only one file per name can be used
            kept = images[(path.parent, path.stem.lower())]
            skipped.append(
                (_relative(path, root), f"same name as {kept.name}, which is loaded instead")
            )
        else:
            images[(path.parent, path.stem.lower())] = path
    for key in sorted(set(masks) - set(images)):
        for mask_path in masks[key]:
            skipped.append((_relative(mask_path, root), "mask without an image of the same name"))
    return images, masks


def _check_not_seen(path, root, seen_files):
    """Refuse an image file reached a second time, through a symbolic or hard link.

    Loaded twice it would give two ROIs, in two patient groups (and maybe two
    classes): the same image on both sides of a cross-validation split.
    """
    status = path.stat()
    key = (status.st_dev, status.st_ino)
    first = seen_files.setdefault(key, path)
    if first is not path:
        raise ValueError(
            f"{_relative(first, root)} and {_relative(path, root)} are the same file (reached "
            "through a symbolic or hard link): loaded twice, it would sit in two patient groups "
            "and leak across cross-validation folds. Remove one of the links."
        )


def _relative(path, root):
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _class_folders(root, classes, skipped):
    """The class folders to load; at ``root`` itself, images and broken links are counted in ``skipped``."""
    entries = sorted(root.iterdir())
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() and not entry.exists():
            skipped.append((entry.name, f"broken symbolic link (to {os.readlink(entry)})"))
        elif entry.is_file() and entry.suffix.lower() in IMAGE_EXTENSIONS:
            skipped.append(
                (entry.name, "image outside any class folder (expected root/<class>/<image>)")
            )
    if classes is None:
        classes = [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]
        if not classes:
            raise ValueError(f"{root} has no class subfolders (expected root/<class>/<image>).")
        return classes
    classes = [str(c) for c in classes]
    for name in classes:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            # root / "/abs" is "/abs", and "../x" climbs out: the data would come from elsewhere
            raise ValueError(
                f"classes must name subfolders of {root}; {name!r} "
                f"{'is the root itself' if not parts else 'leads outside it'}."
            )
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        # each listing would load the same images again under another target
        raise ValueError(f"classes lists {repeated} more than once; got {classes}.")
    for name in classes:
        if not (root / name).is_dir():
            raise FileNotFoundError(f"Class folder not found: {root / name}")
    return classes


def _class_files(root, folder, skipped, seen_folders):
    """The regular files under ``folder``, sorted, following symbolic links.

    Unreadable folders, broken links, other special files and folders
    reached a second time through a link (a loop, or an alias of a folder
    already loaded) are counted in ``skipped``; ``seen_folders`` maps the
    real path of every folder read so far (across classes) to its name.
    """

    def unreadable(error):
        skipped.append(
            (
                _relative(error.filename, root) + os.sep,
                f"folder cannot be read ({error.strerror or error}): its files are not loaded",
            )
        )

    files = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_folders:
            dirnames[:] = []
            skipped.append(
                (
                    _relative(dirpath, root) + os.sep,
                    f"the same folder as {seen_folders[real]} (a symbolic link), which is loaded once",
                )
            )
            continue
        seen_folders[real] = _relative(dirpath, root) + os.sep
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                files.append(path)
            elif path.is_symlink() and not path.exists():
                skipped.append(
                    (_relative(path, root), f"broken symbolic link (to {os.readlink(path)})")
                )
            else:
                skipped.append((_relative(path, root), "not a regular file"))
    return sorted(files)


def _compile_group_pattern(group_pattern):
    if group_pattern is None:
        return None
    try:
        return re.compile(group_pattern)
    except re.error as exc:
        raise ValueError(
            f"group_pattern {group_pattern!r} is not a valid regular expression: {exc}."
        ) from None


def _group_key(pattern, relative):
    found = pattern.search(relative)
    if found is None:
        raise ValueError(f"group_pattern {pattern.pattern!r} does not match {relative}.")
    key = found.group(1) if pattern.groups else found.group(0)
    if not key:
        # None (an optional group) or "" would put every such image in one anonymous group
        raise ValueError(
            f"group_pattern {pattern.pattern!r} matches {relative} but captures no patient id "
            f"(its {'first group' if pattern.groups else 'match'} is empty)."
        )
    return key


def _rois_of_image(image, path, mask_paths, margin, empty_mask, root, skipped, hidden):
    """``(mask_path, crop, (center_row, center_col, side))`` of each ROI of one image.

    One per non-empty mask; the whole image when it has no mask or, with
    ``empty_mask="whole_image"``, when every mask is empty (the image then
    shows no lesion, as BUSI's normal images). Masks whose lesion would look
    empty in grey are named in ``hidden``.
    """
    boxes, empty = [], []
    for mask_path in mask_paths:
        mask, looks_empty = _read_mask(mask_path)
        if mask.shape != image.shape:
            raise ValueError(
                f"Mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} pixels but its image {path} is "
                f"{image.shape[1]}x{image.shape[0]}."
            )
        if looks_empty:
            hidden.append(_relative(mask_path, root))
        box = mask_box(mask, margin)
        if box is not None and box[2] > _MAX_CROP_FACTOR * max(image.shape):
            # checked before the crop is allocated: margin=1e9 would ask for petabytes
            raise ValueError(
                f"margin={margin!r} gives a {box[2]}-pixel crop around mask {mask_path}, more than "
                f"{_MAX_CROP_FACTOR} times its image's longer side ({max(image.shape)} px). margin is "
                "a fraction of the mask's longer side: 0.1 adds 10 % on every side."
            )
        if box is not None:
            boxes.append((mask_path, "mask", box))
        elif empty_mask == "error":
            raise ValueError(
                f"Mask {mask_path} is empty (no non-zero pixel). empty_mask='whole_image' takes the whole "
                f"image {path.name} as its ROI, empty_mask='skip' leaves the image out."
            )
        else:
            empty.append(mask_path)
    whole = ((image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2, max(image.shape))
    if not mask_paths:
        return [(None, "whole image", whole)]
    if boxes:
        skipped += [
            (_relative(m, root), "empty mask (no lesion pixel) beside non-empty masks of its image")
            for m in empty
        ]
        return boxes
    if empty_mask == "whole_image":
        return [(empty[0], "whole image", whole)]
    skipped += [
        (
            _relative(m, root),
            "empty mask (no lesion pixel): its image gives no ROI (empty_mask='skip')",
        )
        for m in empty
    ]
    return []


def _read_mask(path):
    """The lesion pixels of a mask file, and whether they would look empty once made grey.

    A colour mask marks its lesion wherever any channel is non-zero: the
    grey conversion rounds a blue value of 1 to 0. A mask with a varying
    alpha channel marks it where alpha is non-zero (a lesion drawn on a
    transparent layer; its colour may be anything, even black). Other masks
    are read as images (:func:`read_image`), non-zero meaning lesion.
    """
    grey = read_image(path) > 0
    if _is_dicom(path):
        return grey, False
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode not in ("RGB", "RGBA", "LA"):
            return grey, False
        channels = np.asarray(im)
    alpha = channels[..., -1] if im.mode in ("RGBA", "LA") else None
    if alpha is not None and alpha.min() != alpha.max():
        lesion = alpha > 0
    else:
        colour = channels if alpha is None else channels[..., :-1]
        lesion = (colour > 0).any(axis=-1)
    return lesion, bool(lesion.any()) and not grey.any()
