"""Input validation of image sets read lazily (:class:`~skbreastcad.datasets.ImagePaths`), without reading them."""

from ..datasets import ImagePaths
from ..utils._validation import validate_image_set, validate_images

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
    return validate_image_set(estimator, X, reset=reset, image_shape=image_shape)
