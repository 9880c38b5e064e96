"""Utilities shared across skbreastcad: input validation and estimator discovery."""

from ._validation import resolve_image_shape, validate_images, validate_masks
from .discovery import all_estimators

__all__ = ["all_estimators", "resolve_image_shape", "validate_images", "validate_masks"]
