"""Augmented copies of training images as an imbalanced-learn sampler."""

from numbers import Integral

import numpy as np
from imblearn.base import BaseSampler
from imblearn.utils import check_target_type
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length

from ..utils._optional import optional_import
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from ..utils._validation import validate_images

__all__ = ["AugmentingSampler"]


class AugmentingSampler(BaseSampler):
    """Add randomly augmented copies of every training image, as a pipeline step.

    The study augments the images before every classifier, including the ones
    trained on hand-crafted or CNN features. As a step of
    :class:`imblearn.pipeline.Pipeline` placed before the feature extractor,
    this sampler does that on training folds only: imbalanced-learn calls
    ``fit_resample`` while the pipeline is fitted and skips the step in
    ``predict``, so test folds are never augmented. Put a
    :class:`~skbreastcad.sampling.RandomImageOverSampler` before it to balance
    the classes with varied rather than identical copies.

    Parameters
    ----------
    augmenter : callable or None, default=None
        ``f(images, generator) -> images`` on float tensors ``(B, 1, H, W)``
        in [0, 1]; None uses :class:`ImageAugmenter` with its defaults.
    n_copies : int, default=1
        Augmented copies added per image: ``fit_resample`` returns
        ``(1 + n_copies) * n_samples`` images, the originals first.
    value_range : "dtype" or (float, float), default="dtype"
        How grey levels map to [0, 1] before augmentation and back after it
        (see :class:`~skbreastcad.features.CNNLayerFeatures`). Integer images
        are rounded back to their dtype.
    random_state : int, RandomState instance or None, default=None
        Seeds the augmentation: the same seed gives the same copies.
    image_shape : tuple of (int, int) or None, default=None
        ``(height, width)`` of flattened rows; they are returned as rows.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_samples_new,)
        Index, in the input, of the image each returned sample comes from.
    image_shape_ : tuple of (int, int)
        Shape of the images.
    n_features_in_ : int
        Pixels per image.

    See Also
    --------
    ImageAugmenter : The default augmentation.
    skbreastcad.models.TwoStageTransferClassifier : Augments batches on the device instead.

    Examples
    --------
    >>> import numpy as np
    >>> from skbreastcad.augmentation import AugmentingSampler
    >>> X = np.random.default_rng(0).integers(0, 256, (6, 16, 16), dtype=np.uint8)
    >>> y = np.array([0, 0, 0, 0, 1, 1])
    >>> X_res, y_res = AugmentingSampler(n_copies=2, random_state=0).fit_resample(X, y)
    >>> X_res.shape, X_res.dtype, y_res.tolist()[:8]
    ((18, 16, 16), dtype('uint8'), [0, 0, 0, 0, 1, 1, 0, 0])
    >>> bool((X_res[:6] == X).all())
    True
    """

    _sampling_type = "bypass"
    _parameter_constraints = {
        "augmenter": [None, HasMethods(["__call__"])],
        "n_copies": [Interval(Integral, 1, None, closed="left")],
        "value_range": [StrOptions({"dtype"}), tuple, list],
        "random_state": ["random_state"],
        "image_shape": [None, tuple, list],
    }

    def __init__(
        self,
        *,
        augmenter=None,
        n_copies=1,
        value_range="dtype",
        random_state=None,
        image_shape=None,
    ):
        super().__init__(sampling_strategy="auto")
        self.augmenter = augmenter
        self.n_copies = n_copies
        self.value_range = value_range
        self.random_state = random_state
        self.image_shape = image_shape

    def _check_X_y(self, X, y, accept_sparse=None):
        from ..nn._input import check_unit_range, check_value_range

        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        check_value_range(self.value_range)
        images = validate_images(self, X, reset=True, image_shape=self.image_shape)
        check_unit_range(images, self.value_range)
        check_consistent_length(images, y)
        self._flat_input = np.ndim(X) == 2
        return images, y, binarize_y

    def _fit_resample(self, X, y):
        with optional_import("AugmentingSampler"):
            import torch

        from ..nn._input import unit_scaling
        from ._augmenter import ImageAugmenter

        augmenter = ImageAugmenter() if self.augmenter is None else self.augmenter
        offset, scale = unit_scaling(X.dtype, self.value_range)
        # float64 images are augmented in float64, so that copies of untouched pixels stay exact
        work = np.float64 if X.dtype == np.float64 else np.float32
        unit = np.ascontiguousarray((X.astype(np.float64) - offset) * scale, dtype=work)
        unit = torch.from_numpy(unit)[:, None]
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        generator = torch.Generator().manual_seed(seed)
        copies = [X]
        for _ in range(self.n_copies):
            out = augmenter(unit, generator).numpy()[:, 0].astype(np.float64) / scale + offset
            if X.dtype.kind in "iub":
                info = np.iinfo(X.dtype) if X.dtype.kind != "b" else None
                out = np.rint(out)
                if info is not None:
                    out = np.clip(out, info.min, info.max)
            copies.append(out.astype(X.dtype, copy=False))
        n = len(X)
        self.sample_indices_ = np.tile(np.arange(n), self.n_copies + 1)
        X_res = np.concatenate(copies)
        if self._flat_input:
            X_res = X_res.reshape(len(X_res), -1)
        return X_res, y[self.sample_indices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        # augmentation works on dense images
        tags.input_tags.sparse = False
        tags.sampler_tags.sample_indices = True
        return tags
