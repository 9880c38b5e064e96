"""From grey levels to network inputs: value ranges, unit tensors, sizes and fixed-size batches."""

import os
import sys
import warnings
from numbers import Real

import numpy as np

from ..utils._optional import optional_import

__all__ = [
    "check_value_range",
    "fixed_size_batches",
    "to_unit_tensor",
    "unit_scaling",
    "validate_input_size",
    "warn_far_from_unit_range",
]


def check_value_range(value_range):
    """Raise unless ``value_range`` is ``"dtype"`` or a pair ``(low, high)`` with low < high."""
    if value_range == "dtype":
        return
    ok = (
        isinstance(value_range, (tuple, list))
        and len(value_range) == 2
        and all(isinstance(v, Real) for v in value_range)
        and value_range[1] > value_range[0]
    )
    if not ok:
        raise ValueError(
            f"value_range must be 'dtype' or a pair (low, high) with low < high; got {value_range!r}."
        )


# Unit values past this magnitude overflow float32 activations within a few
# layers, and mean that value_range does not describe the data.
MAX_UNIT_MAGNITUDE = 1e6
# Float images are taken as [0, 1] under value_range="dtype"; grey levels this far
# past it (0..255 kept as float, or z-scores) mean the convention was missed.
_FLOAT_UNIT_LIMITS = (-1.0, 2.0)
# Larger sides are a typo (100000) rather than a film: each image would be
# resampled to gigabytes before the network even runs.
MAX_INPUT_SIZE = 8192


def unit_scaling(dtype, value_range):
    """``(offset, scale)`` such that ``(x - offset) * scale`` maps grey levels to [0, 1].

    With ``value_range="dtype"`` 8- and 16-bit integer images map their
    dtype's whole range to [0, 1] (uint8 by 255, uint16 by 65535, int16 from
    -32768 to 32767), booleans are 0 and 1, and float images are taken as
    already in [0, 1]. Wider integers (int32, int64: numpy's default for
    ``np.array([[0, 255]])``) have no natural grey-level range -- their dtype's
    range would squeeze any real image to one grey -- so they need an explicit
    ``value_range``.
    """
    if value_range != "dtype":
        low, high = value_range
        return float(low), 1.0 / (float(high) - float(low))
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        if dtype.itemsize > 2:
            raise ValueError(
                f"{dtype} images have no natural grey-level range for value_range='dtype'. "
                "Set value_range=(low, high) to the grey levels' range, e.g. (0, 255) for "
                "8-bit images, or cast them to uint8/uint16."
            )
        info = np.iinfo(dtype)
        return float(info.min), 1.0 / (float(info.max) - float(info.min))
    return 0.0, 1.0


def check_unit_range(images, value_range, name="X"):
    """Raise unless the grey levels scale to finite values of moderate size.

    Called before any batch runs, so that a batch never fails or turns to NaN
    half-way (float32 activations overflow long before float64 does).
    """
    if images.size == 0:
        return
    offset, scale = unit_scaling(images.dtype, value_range)
    lo, hi = (float(v) for v in (images.min(), images.max()))
    with np.errstate(over="ignore", invalid="ignore"):
        low, high = ((np.float64(v) - offset) * scale for v in (lo, hi))
    if (
        not (np.isfinite(low) and np.isfinite(high))
        or max(abs(low), abs(high)) > MAX_UNIT_MAGNITUDE
    ):
        raise ValueError(
            f"{name} holds grey levels from {lo:.4g} to {hi:.4g}, which value_range="
            f"{value_range!r} maps to [{low:.4g}, {high:.4g}]: far outside [0, 1] (beyond "
            f"+-{MAX_UNIT_MAGNITUDE:g} the network's float32 activations overflow). Set "
            "value_range=(low, high) to the data's grey-level range, or rescale the images."
        )


def warn_far_from_unit_range(images, value_range, name="X"):
    """Warn when ``value_range="dtype"`` takes float images far outside [0, 1] as unit values.

    The deep estimators' networks are trained or defined on [0, 1]; float
    images holding 0..255 (or z-scores) were taken as such without a word.
    """
    if value_range != "dtype" or images.dtype.kind != "f" or images.size == 0:
        return
    lo, hi = (float(v) for v in (images.min(), images.max()))
    if lo < _FLOAT_UNIT_LIMITS[0] or hi > _FLOAT_UNIT_LIMITS[1]:
        warnings.warn(
            f"{name} holds float grey levels from {lo:.4g} to {hi:.4g}, but value_range="
            "'dtype' takes float images as [0, 1]: the network sees them far outside "
            "the range it was trained or defined on. Set value_range=(low, high) to the "
            "data's grey-level range (e.g. (0, 255)), or rescale the images to [0, 1].",
            UserWarning,
            stacklevel=_caller_stacklevel(),
        )


def _caller_stacklevel():
    """The stack level of the first frame outside skbreastcad and scikit-learn's wrappers."""
    import sklearn

    ours = (
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
        os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep,
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(ours):
        frame, level = frame.f_back, level + 1
    return level


def to_unit_tensor(images, value_range, device=None):
    """(n, H, W) array -> float32 tensor (n, 1, H, W) on ``device`` in [0, 1] units."""
    with optional_import("skbreastcad's deep-learning code"):
        import torch

    offset, scale = unit_scaling(images.dtype, value_range)
    arr = np.ascontiguousarray(images)
    if offset and arr.dtype != np.uint8:
        # map in float64: in float32, x * scale - offset * scale cancels
        # catastrophically for a large offset (value_range=(1e7, 1e7 + 64)),
        # and x - offset overflows for a wide one (value_range=(-3e38, 3e38))
        arr = ((arr.astype(np.float64) - offset) * scale).astype(np.float32)
        offset, scale = 0.0, 1.0
    elif arr.dtype not in (np.uint8, np.float32):
        arr = arr.astype(np.float32)
    # joblib hands read-only memmaps to GridSearchCV(n_jobs>1) workers, which
    # torch.from_numpy warns about: copy those (torch.tensor) instead of sharing
    x = torch.from_numpy(arr) if arr.flags.writeable else torch.tensor(arr)
    # convert on the device: uint8 travels 4x lighter than float32
    x = x.to(device=device).to(torch.float32)
    # scale first: x - offset can overflow float32 where both terms are finite
    # (value_range=(-3e38, 3e38)); x * scale - offset * scale cannot
    if scale != 1.0:
        x = x * scale
    if offset:
        x = x - offset * scale
    return x.unsqueeze(1)


def validate_input_size(input_size, spec, image_shape):
    """Resolve ``input_size`` to the size fed to the network; raise if too small.

    Parameters
    ----------
    input_size : int, (int, int), "native" or None
    spec : BackboneSpec
    image_shape : tuple of (int, int)
        The images' own size.

    Returns
    -------
    size : tuple of (int, int) or None
        None when images keep their own size.

    Raises
    ------
    ValueError
        If ``input_size`` is malformed, smaller than the backbone needs, or
        larger than ``MAX_INPUT_SIZE`` pixels per side.
    """
    if input_size is None:
        size = spec.input_size
    elif input_size == "native":
        size = None
    elif isinstance(input_size, (int, np.integer)):
        size = (int(input_size), int(input_size))
    elif len(input_size) == 2 and all(
        isinstance(v, (int, np.integer)) and v >= 1 for v in input_size
    ):
        size = (int(input_size[0]), int(input_size[1]))
    else:
        raise ValueError(
            "input_size must be None, 'native', a positive int or a pair (height, width) "
            f"of positive ints; got {input_size!r}."
        )
    if size is not None and max(size) > MAX_INPUT_SIZE:
        # refused before any resampling allocates size[0] x size[1] floats per image
        gigabytes = 3 * 4 * size[0] * size[1] / 1e9
        raise ValueError(
            f"input_size {size[0]}x{size[1]} exceeds the limit of {MAX_INPUT_SIZE} pixels per "
            f"side: every image would be resampled to {gigabytes:.3g} GB (three float32 "
            "channels) before the network runs. Use a smaller input_size, or 'native' to keep "
            "the images' own size."
        )
    effective = size if size is not None else tuple(image_shape)
    if min(effective) < spec.min_input_size:
        what = "input_size" if size is not None else "images"
        raise ValueError(
            f"The {what} {effective[0]}x{effective[1]} is too small for backbone "
            f"{spec.name!r}, which needs at least {spec.min_input_size}x"
            f"{spec.min_input_size} pixels. Use larger images or resize them with "
            "input_size=(height, width)."
        )
    return size


def fixed_size_batches(images, batch_size, pad=True):
    """Yield ``(n_real, batch)``: consecutive batches of exactly ``batch_size`` images.

    The last batch is padded with blank images. Every forward pass then has
    the same shape, so the kernels (whose summation order depends on the
    batch size) treat each image identically: an image's output is bitwise
    the same whatever other images share the call, e.g. in different
    cross-validation folds. An array-like with an ``iter_batches`` method
    (:class:`~skbreastcad.datasets.ImagePaths`) is read batch by batch with it.
    """
    starts = range(0, len(images), batch_size)
    read = getattr(images, "iter_batches", None)
    if read is not None:
        # an image set on disk (ImagePaths) reads its batches ahead, in worker processes
        batches = read(np.arange(s, min(s + batch_size, len(images))) for s in starts)
    else:
        batches = (images[s : s + batch_size] for s in starts)
    for batch in batches:
        n_real = len(batch)
        if pad and n_real < batch_size:
            blank = np.zeros((batch_size - n_real, *batch.shape[1:]), dtype=batch.dtype)
            batch = np.concatenate([batch, blank])
        yield n_real, batch
