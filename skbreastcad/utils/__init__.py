"""Utilities shared across skbreastcad: input validation, estimator discovery and
the one safe writer of output folders."""

from ._output_folder import UnsafeOutputError, write_folder
from ._validation import resolve_image_shape, validate_images, validate_masks
from .discovery import all_estimators

__all__ = [
    "UnsafeOutputError",
    "all_estimators",
    "resolve_image_shape",
    "validate_images",
    "validate_masks",
    "write_folder",
]
