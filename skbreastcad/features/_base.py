"""Base class of the image feature transformers."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..utils._sklearn_compat import _fit_context
from ..utils._validation import validate_image_set, validate_images, validate_masks


def _is_image_set(X):
    """Whether ``X`` is an image set read batch by batch (:class:`~skbreastcad.datasets.ImagePaths`).

    Duck-typed (``iter_batches`` and a 3-D ``shape``): features sit below datasets.
    """
    return hasattr(X, "iter_batches") and len(getattr(X, "shape", ())) == 3


class BaseImageTransformer(TransformerMixin, BaseEstimator):
    """Common ``fit``/``transform`` plumbing for image -> feature-vector transformers.

    Subclasses implement ``_fit(images, y, mask)`` (optional), ``_transform(images,
    mask)`` and ``_feature_names()``. Validation follows the project input
    convention (see :func:`skbreastcad.utils.validate_images`).

    Masks travel as the ``mask`` argument of ``fit``/``transform``; inside a
    :class:`~sklearn.pipeline.Pipeline` request them with scikit-learn's metadata
    routing (``sklearn.set_config(enable_metadata_routing=True)`` and
    ``.set_fit_request(mask=True).set_transform_request(mask=True)``).
    """

    _parameter_constraints = {
        "image_shape": [None, tuple, list],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }
    # Subclasses that cannot use ROI masks set this to False: fit and transform
    # then refuse a mask rather than silently computing on the whole image.
    _supports_mask = True
    # Subclasses that read their images batch by batch set this to True: an image set read
    # from disk (ImagePaths) then reaches them unread instead of as one in-memory array.
    _reads_image_sets = False

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, mask=None):
        """Validate the images and fit the transformer.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Grayscale images (uint8, uint16 or float). Flattened rows need
            ``image_shape``.
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like of bool, same shape as X, default=None
            Per-image region-of-interest masks.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        self._check_mask_support(mask)
        images = self._validate_images(X, reset=True)
        mask = validate_masks(mask, images)
        self._check_value_range(images)
        self._check_images(images)
        self._fit(images, y, mask)
        return self

    def transform(self, X, mask=None):
        """Compute the features of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.
        mask : array-like of bool, same shape as X, default=None
            Per-image region-of-interest masks.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            One row of features per image, in the order of
            :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        self._check_mask_support(mask)
        images = self._validate_images(X, reset=False)
        mask = validate_masks(mask, images)
        self._check_value_range(images)
        return self._transform(images, mask)

    def fit_transform(self, X, y=None, mask=None):
        """Fit to the images, then transform them.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Grayscale images (uint8, uint16 or float). Flattened rows need
            ``image_shape``.
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like of bool, same shape as X, default=None
            Per-image region-of-interest masks.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            One row of features per image.
        """
        return self.fit(X, y, mask=mask).transform(X, mask=mask)

    def get_feature_names_out(self, input_features=None):
        """Get the names of the output features.

        Parameters
        ----------
        input_features : Ignored
            The output names do not depend on input names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.
        """
        check_is_fitted(self)
        return np.asarray(self._feature_names(), dtype=object)

    def _validate_images(self, X, reset):
        """:func:`validate_images`, but an image set read from disk reaches ``_reads_image_sets``
        subclasses unread, its shape checked and recorded as for an array."""
        if not (self._reads_image_sets and _is_image_set(X)):
            return validate_images(self, X, reset=reset, image_shape=self.image_shape)
        return validate_image_set(self, X, reset=reset, image_shape=self.image_shape)

    def _check_mask_support(self, mask):
        if mask is not None and not self._supports_mask:
            raise ValueError(
                f"{type(self).__name__} does not use ROI masks: crop or resample the ROIs "
                "to the images it takes (or zero the background with X * mask) and pass mask=None."
            )

    def _check_value_range(self, images):
        """Refuse float grey levels so large that the features overflow float64.

        Checked before any work, so that a batch never ends half-computed or
        filled with silent infinities and NaNs.
        """
        limit = self._value_limit(images.shape[1:])
        if limit is None or images.dtype.kind != "f" or images.size == 0:
            return
        largest = float(np.max(np.abs(images)))
        if largest > limit:
            raise ValueError(
                f"{type(self).__name__}: grey levels up to {largest:.3g} in magnitude overflow "
                f"its float64 computation (at most {limit:.3g} for {images.shape[1]}x"
                f"{images.shape[2]} images). Rescale the images, e.g. to [0, 1]."
            )

    # -- hooks -----------------------------------------------------------------
    def _value_limit(self, image_shape):
        """Largest grey-level magnitude the computation keeps finite; None: any."""
        return None

    def _check_images(self, images):
        """Raise if the images cannot be processed with these parameters."""

    def _fit(self, images, y, mask):
        """Learn anything the transform needs; default: nothing."""

    def _transform(self, images, mask):  # pragma: no cover - abstract
        raise NotImplementedError

    def _feature_names(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags
