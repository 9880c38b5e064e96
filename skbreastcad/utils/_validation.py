"""Input validation shared by every skbreastcad estimator.

The project-wide input convention: ``X`` is a batch of 2-D grayscale images,
either ``(n_samples, height, width)`` or flattened ``(n_samples, height * width)``
together with an ``image_shape`` parameter. Flattened input is what lets stock
scikit-learn tooling (``check_estimator``, ``FeatureUnion`` with tabular steps,
``imblearn`` samplers) run against our estimators for real.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import validate_data

from ._sklearn_compat import InvalidParameterError

__all__ = ["resolve_image_shape", "validate_images", "validate_masks"]

_EXPECTED_FORM = (
    "Expected a batch of 2-D grayscale images as an array of shape "
    "(n_samples, height, width), or flattened images of shape "
    "(n_samples, height * width) together with image_shape=(height, width)"
)


def resolve_image_shape(n_features, image_shape):
    """Return the ``(height, width)`` of flattened rows of length ``n_features``.

    Parameters
    ----------
    n_features : int
        Length of one flattened image.
    image_shape : tuple of two int or None
        ``(height, width)``; one of the two may be ``-1`` to infer it, as in
        :func:`numpy.reshape`. ``None`` infers a square image and fails when
        ``n_features`` is not a perfect square.

    Returns
    -------
    shape : tuple of (int, int)
        The resolved ``(height, width)``.

    Examples
    --------
    >>> from skbreastcad.utils import resolve_image_shape
    >>> resolve_image_shape(12, (3, -1))
    (3, 4)
    >>> resolve_image_shape(16, None)
    (4, 4)
    """
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"Cannot infer the image shape of flattened rows of {n_features} "
                "values: it is not a perfect square. Pass image_shape=(height, "
                "width), e.g. image_shape=(1, -1) for 1-pixel-high strips."
            )
        return side, side
    height, width = image_shape
    if height == -1 and width == -1:
        raise ValueError("image_shape may infer only one dimension (-1), not both.")
    if height == -1:
        height = n_features // width if n_features % width == 0 else -1
    elif width == -1:
        width = n_features // height if n_features % height == 0 else -1
    if height < 1 or width < 1 or height * width != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)} does not fit flattened rows of {n_features} values."
        )
    return int(height), int(width)


def _check_image_shape_param(image_shape):
    if image_shape is None:
        return
    ok = (
        isinstance(image_shape, (tuple, list))
        and len(image_shape) == 2
        and all(isinstance(v, Integral) and (v >= 1 or v == -1) for v in image_shape)
    )
    if not ok:
        raise InvalidParameterError(
            "The 'image_shape' parameter must be None or a pair (height, width) of "
            f"positive ints, one of which may be -1; got {image_shape!r}."
        )


def validate_image_set(estimator, X, *, reset, image_shape=None):
    """:func:`validate_images` for an image set read from disk, which stays unread.

    Checks ``image_shape`` and the set's ``(height, width)`` (``X.shape[1:]``),
    and records (``reset=True``) or compares them with the fitted
    ``n_features_in_`` and ``image_shape_`` as :func:`validate_images` does
    for an array. The pixels are checked as they are read.
    """
    _check_image_shape_param(image_shape)
    shape = tuple(X.shape[1:])
    if image_shape is not None and -1 not in image_shape and tuple(image_shape) != shape:
        raise ValueError(f"X holds images of shape {shape} but image_shape={tuple(image_shape)}.")
    if reset:
        estimator.n_features_in_ = shape[0] * shape[1]
        estimator.image_shape_ = shape
        if hasattr(estimator, "feature_names_in_"):
            # as validate_data forgets the column names of an earlier fit on a DataFrame
            del estimator.feature_names_in_
    elif shape != tuple(estimator.image_shape_):
        raise ValueError(
            f"X holds images of shape {shape}, but {type(estimator).__name__} was "
            f"fitted on images of shape {tuple(estimator.image_shape_)}."
        )
    return X


def validate_images(estimator, X, *, reset, dtype="numeric", image_shape=None):
    """Validate a batch of images and return it as ``(n_samples, height, width)``.

    Runs scikit-learn's ``validate_data`` on the flattened batch, so NaN/inf,
    complex data, empty batches and ``n_features_in_`` are handled exactly as
    for any scikit-learn estimator. On ``reset=True`` it sets
    ``estimator.image_shape_``; on ``reset=False`` it checks the images have
    the shape seen in ``fit``.

    Parameters
    ----------
    estimator : estimator instance
        The estimator whose ``n_features_in_`` and ``image_shape_`` are set
        (``reset=True``) or checked.
    X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
        The images, or flattened rows.
    reset : bool
        True in ``fit``, False in ``transform``/``predict``.
    dtype : str, type or list of types, default="numeric"
        Passed to ``validate_data``. ``"numeric"`` keeps uint8/uint16/float
        data as they are, so quantisation can see the original grey levels.
    image_shape : tuple or None, default=None
        The estimator's ``image_shape`` parameter.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width)
        The validated batch, as images, in the machine's byte order
        (big-endian ``>u2`` becomes ``uint16``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skbreastcad.utils import validate_images
    >>> validate_images(BaseEstimator(), np.zeros((2, 12)), reset=True, image_shape=(3, 4)).shape
    (2, 3, 4)
    """
    _check_image_shape_param(image_shape)
    if (hasattr(X, "__array__") or isinstance(X, (list, tuple))) and not hasattr(X, "iloc"):
        X_arr = np.asarray(X)
        if X_arr.dtype.kind == "c":
            raise ValueError(f"Complex data not supported. {_EXPECTED_FORM}.")
        ndim = X_arr.ndim
    else:
        X_arr = X
        ndim = np.ndim(X) if not hasattr(X, "iloc") else 2
    if ndim == 3:
        n, height, width = X_arr.shape
        if (
            image_shape is not None
            and -1 not in image_shape
            and (tuple(image_shape) != (height, width))
        ):
            raise ValueError(
                f"X holds images of shape {(height, width)} but image_shape={tuple(image_shape)}."
            )
        fitted_shape = getattr(estimator, "image_shape_", None)
        if not reset and fitted_shape is not None and (height, width) != tuple(fitted_shape):
            raise ValueError(
                f"X holds images of shape {(height, width)}, but "
                f"{type(estimator).__name__} was fitted on images of shape "
                f"{tuple(fitted_shape)}."
            )
        flat = X_arr.reshape(n, height * width)
    elif ndim == 2:
        flat = X_arr
    else:
        shape = getattr(X_arr, "shape", None)
        hint = ""
        if ndim == 1:
            # scikit-learn's own wording, which its estimator checks look for
            hint = " Reshape your data: one image per row, e.g. X.reshape(1, -1) for a single flattened image."
        if ndim == 4:
            hint = (
                " Colour or multi-channel images must be converted to grayscale "
                "first (e.g. skimage.color.rgb2gray)."
            )
        raise ValueError(
            f"{_EXPECTED_FORM}; got an array with {ndim} dimension(s)"
            f"{'' if shape is None else f' and shape {shape}'}.{hint}"
        )

    flat = validate_data(estimator, flat, reset=reset, dtype=dtype)
    if not flat.dtype.isnative:
        # big-endian uint16 (FITS, some TIFF and DICOM readers) holds the same grey levels
        # as uint16, but compares unequal to it: checks by dtype would refuse or misread it
        flat = flat.astype(flat.dtype.newbyteorder("="))
    if ndim == 3:
        shape = (height, width)
    else:
        shape = resolve_image_shape(flat.shape[1], image_shape)
    if reset:
        estimator.image_shape_ = shape
    elif tuple(shape) != tuple(estimator.image_shape_):
        raise ValueError(
            f"X holds images of shape {shape}, but {type(estimator).__name__} was "
            f"fitted on images of shape {tuple(estimator.image_shape_)}."
        )
    return flat.reshape(flat.shape[0], *shape)


def validate_masks(mask, images):
    """Validate per-image ROI masks against a validated image batch.

    Parameters
    ----------
    mask : array-like of shape (n_samples, height, width) or (n_samples, height * width), or None
        Truthy pixels belong to the region of interest. 0/1 integers are
        accepted; any other value is an error.
    images : ndarray of shape (n_samples, height, width)
        The validated images the masks belong to.

    Returns
    -------
    mask : ndarray of bool, shape (n_samples, height, width), or None
        The masks as booleans in the images' shape; None when ``mask`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.utils import validate_masks
    >>> validate_masks([[1, 0, 0, 1]], np.zeros((1, 2, 2))).tolist()
    [[[True, False], [False, True]]]
    """
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != images.shape:
        if (
            mask.ndim == 2
            and mask.shape[0] == images.shape[0]
            and (mask.shape[1] == images.shape[1] * images.shape[2])
        ):
            mask = mask.reshape(images.shape)
        else:
            raise ValueError(
                f"mask must have the shape of the images {images.shape} (or the "
                f"flattened {(images.shape[0], images.shape[1] * images.shape[2])}); "
                f"got {mask.shape}."
            )
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
            raise ValueError(
                f"mask must be boolean, or hold only 0 and 1; got values of dtype {mask.dtype}."
            )
        mask = mask.astype(bool)
    return mask
