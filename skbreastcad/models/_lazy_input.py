"""Input validation of image sets read lazily (:class:`~skbreastcad.datasets.ImagePaths`), without reading them."""

from ..datasets import ImagePaths
from ..utils._validation import _check_image_shape_param, validate_images

__all__ = ["is_lazy", "validate_input"]


def is_lazy(X):
    """Whether ``X`` is an image set read from disk batch by batch."""
    return isinstance(X, ImagePaths)


def validate_input(estimator, X, *, reset, image_shape):
    """:func:`~skbreastcad.utils.validate_images`, but an ``ImagePaths`` is returned unread.

    Its shape is checked and recorded (``n_features_in_``, ``image_shape_``)
    as ``validate_images`` does for an array; its pixels are checked as they
    are read (:func:`~skbreastcad.datasets.read_image` refuses NaN and
    infinite values, :class:`~skbreastcad.datasets.ImagePaths` mixed pixel types).
    """
    if not is_lazy(X):
        return validate_images(estimator, X, reset=reset, image_shape=image_shape)
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
