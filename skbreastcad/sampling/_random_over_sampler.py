"""Random over-sampling of image batches, usable as an imbalanced-learn pipeline step."""

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_sampling_strategy, check_target_type
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length, validate_data

from ..utils._validation import _check_image_shape_param, resolve_image_shape, validate_images

__all__ = ["RandomImageOverSampler", "random_oversample_indices"]


class RandomImageOverSampler(BaseOverSampler):
    """Over-sample the minority class(es) of a batch of images by drawing with replacement.

    The image counterpart of :class:`imblearn.over_sampling.RandomOverSampler`,
    which rejects arrays with more than two dimensions: this sampler takes
    images as ``(n_samples, height, width)`` and returns them in that form,
    or flattened rows ``(n_samples, n_features)`` (images, or features
    computed from them; dense, sparse or a DataFrame), returned as rows. Drawn images are exact copies, so
    the study's "random upsampling" adds no new information; combine it with
    augmentation in the training folds to vary the copies.

    As a step of :class:`imblearn.pipeline.Pipeline` it resamples only while
    the pipeline is fitted, i.e. on training folds: ``predict`` and
    ``score`` see the untouched test images.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in imbalanced-learn: ``"auto"`` (every class but the majority
        up to the majority's count), ``"minority"``, ``"not minority"``,
        ``"not majority"``, ``"all"``, a float (minority / majority ratio
        after resampling, binary only), a dict ``{class: n_samples}`` or a
        callable ``y -> dict``.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.
    image_shape : tuple of (int, int) or None, default=None
        ``(height, width)`` of flattened rows. Only checked (a mismatch is
        an error): copying rows does not need the shape, so ``None``
        accepts rows of any length.

    Attributes
    ----------
    sampling_strategy_ : dict
        Number of samples to add per class.
    sample_indices_ : ndarray of shape (n_samples_new,)
        Index, in the input, of every returned sample.
    image_shape_ : tuple of (int, int)
        ``(height, width)`` of the images, when known (3-D input or
        ``image_shape`` given).
    n_features_in_ : int
        Pixels (or features) per sample.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of a DataFrame input with string column names.

    See Also
    --------
    imblearn.over_sampling.RandomOverSampler : The same draw on 2-D tabular data.
    skbreastcad.sampling.balanced_sample_weight : The class-weight alternative.

    Notes
    -----
    Over-sampling before splitting leaks copies of training images into
    test folds and inflates every metric; keep the sampler inside the
    pipeline that is cross-validated.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.sampling import RandomImageOverSampler
    >>> X = np.zeros((10, 8, 8), dtype=np.uint8)
    >>> y = np.array([1, 1] + [0] * 8)
    >>> X_res, y_res = RandomImageOverSampler(random_state=0).fit_resample(X, y)
    >>> X_res.shape, np.bincount(y_res).tolist()
    ((16, 8, 8), [8, 8])
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "image_shape": [None, tuple, list],
    }

    def __init__(self, *, sampling_strategy="auto", random_state=None, image_shape=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.image_shape = image_shape

    def _check_X_y(self, X, y, accept_sparse=None):
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        _check_image_shape_param(self.image_shape)
        ndim = 2 if hasattr(X, "iloc") else np.ndim(X)
        if ndim == 3:
            X = validate_images(self, X, reset=True, image_shape=self.image_shape)
        elif ndim == 2:
            X = validate_data(self, X, reset=True, accept_sparse=["csr", "csc"])
            if self.image_shape is not None:
                self.image_shape_ = resolve_image_shape(X.shape[1], self.image_shape)
            elif hasattr(self, "image_shape_"):
                del self.image_shape_  # from an earlier fit on images: no longer true
        else:
            # let the shared validation produce the project-wide message
            X = validate_images(self, X, reset=True, image_shape=self.image_shape)
        check_consistent_length(X, y)
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        self.sample_indices_ = _draw_indices(y, self.sampling_strategy_, self.random_state)
        return X[self.sample_indices_], y[self.sample_indices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = True  # flattened rows only: copying rows works on CSR/CSC too
        tags.sampler_tags.sample_indices = True
        return tags


def _draw_indices(y, n_new, random_state):
    """Every index of ``y``, then ``n_new[c]`` indices of class ``c`` drawn with replacement."""
    random_state = check_random_state(random_state)
    sample_indices = [np.arange(len(y))]
    for class_sample, num_samples in n_new.items():
        target_class_indices = np.flatnonzero(y == class_sample)
        sample_indices.append(
            random_state.choice(target_class_indices, size=num_samples, replace=True)
        )
    return np.concatenate(sample_indices)


def random_oversample_indices(y, *, sampling_strategy="auto", random_state=None):
    """Draw indices that over-sample the minority classes of ``y``, with replacement.

    The draw of :class:`RandomImageOverSampler`, for code that resamples by
    index (a training loop that keeps its images on a device, a data loader):
    ``y[indices]`` has the class counts the sampler's ``fit_resample`` would
    give, and for the same ``random_state`` the very same indices.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (of the training part only).
    sampling_strategy : float, str, dict or callable, default="auto"
        As in :class:`RandomImageOverSampler`; ``"auto"`` brings every class
        up to the majority's count.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    indices : ndarray of int, shape (n_samples_new,)
        ``0, 1, ..., n_samples - 1`` followed by the drawn indices, class by
        class in sorted class order.

    See Also
    --------
    RandomImageOverSampler : The same draw as a pipeline step.

    Examples
    --------
    >>> from skbreastcad.sampling import random_oversample_indices
    >>> y = [0, 0, 0, 1]
    >>> idx = random_oversample_indices(y, random_state=0)
    >>> idx.tolist()
    [0, 1, 2, 3, 3, 3]
    """
    y = np.asarray(y)
    n_new = check_sampling_strategy(sampling_strategy, y, "over-sampling")
    return _draw_indices(y, n_new, random_state)
