"""The training augmentation of each stage: built from ``augment``, and its clipping policy."""

from ..nn._input import unit_scaling

__all__ = ["check_augment_range", "make_augmenter"]


def make_augmenter(augment):
    """The augmenter ``augment`` names (a fresh one per call), validated now.

    Parameters
    ----------
    augment : {"default", "flips"}, callable or None

    Returns
    -------
    augmenter : callable or None
    """
    from ..augmentation import ImageAugmenter

    if augment is None:
        return None
    if augment == "flips":
        augmenter = ImageAugmenter(affine_p=0.0, brightness=0.0, contrast=0.0)
    elif augment == "default":
        augmenter = ImageAugmenter()
    else:
        augmenter = augment
    if isinstance(augmenter, ImageAugmenter):
        # bad settings fail here, not in the first training batch
        augmenter._validate()
    return augmenter


def check_augment_range(augmenter, images, settings, name):
    """An augmenter that clips to [0, 1] must not cut the data it trains on.

    The images given to ``predict`` are not clipped. A named augmentation
    (``settings.augment`` is ``"default"`` or ``"flips"``) stops clipping instead
    (``augmenter`` is changed in place); an augmenter given by the user is an
    error.

    Parameters
    ----------
    augmenter : callable or None
        From :func:`make_augmenter`.
    images : ndarray
        The stage's training images.
    settings : StageSettings
        Its ``augment`` (the setting ``augmenter`` was made from) and
        ``value_range`` apply.
    name : str
        The data's name in the message (``"X"``, ``"source_data"``).
    """
    from ..augmentation import ImageAugmenter

    if not isinstance(augmenter, ImageAugmenter) or not augmenter.clip:
        return
    augment, value_range = settings.augment, settings.value_range
    offset, scale = unit_scaling(images.dtype, value_range)
    low, high = ((float(v) - offset) * scale for v in (images.min(), images.max()))
    if low < -1e-6 or high > 1 + 1e-6:
        if isinstance(augment, str):
            augmenter.set_params(clip=False)
            return
        raise ValueError(
            f"augment clips training images to [0, 1], but {name} maps to "
            f"[{low:.4g}, {high:.4g}] with value_range={value_range!r}: training and "
            "prediction would see different images. Set value_range=(low, high) to the "
            "data's grey-level range, or use ImageAugmenter(clip=False)."
        )
