"""ROIs from a folder of images, one subfolder per class, with optional lesion masks."""

import re
from numbers import Integral, Real
from pathlib import Path

from sklearn.utils._param_validation import Interval, validate_params

from ._readers import IMAGE_EXTENSIONS, read_image
from ._roi import cut_roi, mask_box, roi_bunch

__all__ = ["load_image_folder"]

_MASK = re.compile(r"^(?P<stem>.+)_mask(?P<index>\d*)$", re.IGNORECASE)


@validate_params(
    {
        "root": [str, Path],
        "classes": [list, tuple, None],
        "output_size": [Interval(Integral, 1, None, closed="left"), None],
        "margin": [Interval(Real, 0, None, closed="left")],
        "group_pattern": [str, None],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(root, *, classes=None, output_size=64, margin=0.1, group_pattern=None):
    """Load ROIs from ``root/<class>/<image>``, cropped around lesion masks when present.

    Each subfolder of ``root`` is a class (searched recursively). Images
    may be PNG, JPEG, PGM/PNM, TIFF, BMP or DICOM; colour images are
    converted to grayscale and 16-bit images stay 16-bit. A lesion mask
    sits next to its image as ``<name>_mask.<ext>``, or ``<name>_mask1``,
    ``<name>_mask2``... for several lesions: each mask gives one ROI, the
    square around its non-zero pixels enlarged by ``margin`` (zero-padded
    past the image edge). An image without a mask gives one ROI: the
    whole image.

    Parameters
    ----------
    root : str or path-like
        Folder with one subfolder per class.
    classes : sequence of str, default=None
        Class folders to load, in the order that defines the targets
        ``0, 1, ...``; ``None`` takes every subfolder, sorted by name.
    output_size : int or None, default=64
        Side of the returned ROIs (resampled with anti-aliasing). ``None``
        keeps the crops as they are, which must then share one size.
    margin : float, default=0.1
        Context added around a mask's bounding box on every side, as a
        fraction of its longer side.
    group_pattern : str, default=None
        Regular expression applied to each image path relative to ``root``
        whose first group is the patient id (e.g. ``r"(P_\\d+)"``), for
        grouped cross-validation. ``None`` makes every image its own group
        (ROIs of one image always share a group).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (n_rois, output_size, output_size) with the images'
        dtype, ``target``, ``groups``, ``metadata`` (``file``, ``mask_file``,
        ``class``, ``group``, ``center_row``, ``center_col``, ``crop_size``,
        ``image_height``, ``image_width``), ``target_names``, ``skipped``
        and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or a requested class folder is missing.
    ValueError
        If an image or mask cannot be read, a mask's size differs from its
        image's (both files named), the images mix bit depths, no image is
        found, or ``group_pattern`` does not match an image path.

    Warns
    -----
    UserWarning
        Counting what was left out: empty masks, masks without an image,
        files that are not images, and images sharing their name (case
        aside) with another image of the same folder (e.g. ``x.png`` and
        ``x.tif``): masks pair with images by name, so only the first in
        sorted order is loaded.

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
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {root}")
    if classes is None:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise ValueError(f"{root} has no class subfolders (expected root/<class>/<image>).")
    else:
        classes = [str(c) for c in classes]
        for name in classes:
            if not (root / name).is_dir():
                raise FileNotFoundError(f"Class folder not found: {root / name}")
    pattern = re.compile(group_pattern) if group_pattern is not None else None

    skipped, rois, records = [], [], []
    group_ids = {}
    for label, name in enumerate(classes):
        images, masks = {}, {}
        for path in sorted((root / name).rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append((str(path.relative_to(root)), "not an image file"))
                continue
            match = _MASK.match(path.stem)
            if match:
                key = (path.parent, match["stem"].lower())
                masks.setdefault(key, []).append(path)
            elif (path.parent, path.stem.lower()) in images:
                # masks pair with images by name, so only one file per name can be used
                kept = images[(path.parent, path.stem.lower())]
                skipped.append((str(path.relative_to(root)), f"same name as {kept.name}, which is loaded instead"))
            else:
                images[(path.parent, path.stem.lower())] = path
        for key in sorted(set(masks) - set(images)):
            for mask_path in masks[key]:
                skipped.append((str(mask_path.relative_to(root)), "mask without an image of the same name"))
        for key, path in sorted(images.items()):
            relative = str(path.relative_to(root))
            if pattern is None:
                group_key = relative
            else:
                found = pattern.search(relative)
                if found is None:
                    raise ValueError(f"group_pattern {group_pattern!r} does not match {relative}.")
                group_key = found.group(1) if pattern.groups else found.group(0)
            group = group_ids.setdefault(group_key, len(group_ids))
            image = read_image(path)
            boxes = []
            for mask_path in sorted(masks.get(key, [])):
                mask = read_image(mask_path)
                if mask.shape != image.shape:
                    raise ValueError(
                        f"Mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} pixels but its image {path} is "
                        f"{image.shape[1]}x{image.shape[0]}."
                    )
                box = mask_box(mask > 0, margin)
                if box is None:
                    skipped.append((str(mask_path.relative_to(root)), "empty mask (no lesion pixel)"))
                    continue
                boxes.append((mask_path, box))
            if not masks.get(key):
                side = max(image.shape)
                boxes.append((None, ((image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2, side)))
            for mask_path, (row, col, side) in boxes:
                roi, _ = cut_roi(image, row, col, side, output_size)
                rois.append(roi)
                records.append(dict(
                    file=relative, mask_file=None if mask_path is None else str(mask_path.relative_to(root)),
                    **{"class": name}, group=group_key, center_row=int(round(row)), center_col=int(round(col)),
                    crop_size=int(side), image_height=image.shape[0], image_width=image.shape[1],
                    target=label, group_id=group,
                ))
    if not rois:
        raise ValueError(f"No image found under {root} in class folders {classes}.")
    import pandas as pd

    metadata = pd.DataFrame.from_records(records)
    target = metadata.pop("target").to_numpy()
    groups = metadata.pop("group_id").to_numpy()
    return roi_bunch(
        f"load_image_folder({str(root)!r})", rois=rois, sources=[r["file"] for r in records], target=target,
        groups=groups, metadata=metadata, target_names=classes, skipped=skipped,
        describe=lambda counts: f"Image folder {root}: {len(target)} ROIs ({counts}), {len(group_ids)} groups, "
        f"output_size={output_size}, margin={margin}. Items left out: {len(skipped)}.",
    )
