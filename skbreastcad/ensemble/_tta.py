"""Test-time augmentation: probabilities averaged over flips and 90-degree turns."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin
from sklearn.utils.validation import check_is_fitted

from ..utils._sklearn_compat import HasMethods, StrOptions, _fit_context
from ..utils._validation import _check_image_shape_param, validate_images

__all__ = ["TTAClassifier"]

# The eight symmetries of the square, as functions of an (n, H, W) batch.
_TRANSFORMS = {
    "identity": lambda x: x,
    "hflip": lambda x: x[:, :, ::-1],
    "vflip": lambda x: x[:, ::-1, :],
    "rot180": lambda x: x[:, ::-1, ::-1],
    "rot90": lambda x: np.rot90(x, 1, axes=(1, 2)),
    "rot270": lambda x: np.rot90(x, 3, axes=(1, 2)),
    "transpose": lambda x: x.transpose(0, 2, 1),
    "antitranspose": lambda x: x[:, ::-1, ::-1].transpose(0, 2, 1),
}
# Those that keep a non-square image's shape.
_SHAPE_KEEPING = ("identity", "hflip", "vflip", "rot180")
_SETS = {"flips": _SHAPE_KEEPING, "dihedral": tuple(_TRANSFORMS)}


class TTAClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Average a classifier's probabilities over flips and 90-degree turns of each image.

    Test-time augmentation for any image classifier: a fine-tuned
    :class:`~skbreastcad.models.TwoStageTransferClassifier`, or a pipeline
    starting with :class:`~skbreastcad.features.CNNLayerFeatures` or a texture
    transformer. ``fit`` fits the classifier on the images as given (training
    augmentation is the classifier's own business); ``predict_proba``
    averages its probabilities over the transformed copies of each image.

    Parameters
    ----------
    estimator : classifier
        Takes images ``(n_samples, height, width)`` or flattened rows, and has
        ``predict_proba``.
    transforms : {"dihedral", "flips"} or list of str, default="dihedral"
        ``"dihedral"``: the eight symmetries of the square (identity, flips,
        90/180/270-degree turns, transposes); ``"flips"``: identity,
        left-right, up-down and 180-degree turn. Or a list of names from
        those eight (``"identity"``, ``"hflip"``, ``"vflip"``, ``"rot180"``,
        ``"rot90"``, ``"rot270"``, ``"transpose"``, ``"antitranspose"``). On
        non-square images the four that would change the shape are left out.
    image_shape : tuple of (int, int) or None, default=None
        ``(height, width)`` of flattened input rows; None takes the
        classifier's fitted ``image_shape_``, or square images.

    Attributes
    ----------
    estimator_ : classifier
        The fitted classifier.
    classes_ : ndarray of shape (n_classes,)
        Its classes.
    n_features_in_ : int
        Number of pixels of the images seen in ``fit``.
    image_shape_ : tuple of (int, int)
        Shape of the images seen in ``fit``.

    See Also
    --------
    skbreastcad.augmentation.ImageAugmenter : Augmentation of training batches.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skbreastcad.ensemble import TTAClassifier
    >>> from skbreastcad.features import GLCMFeatures
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8), np.array([0, 1] * 10)
    >>> pipe = make_pipeline(GLCMFeatures(), StandardScaler(), LogisticRegression())
    >>> tta = TTAClassifier(pipe, transforms="flips")
    >>> tta.fit(X, y).predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "transforms": [StrOptions(set(_SETS)), list, tuple],
        "image_shape": [None, tuple, list],
    }

    def __init__(self, estimator, *, transforms="dihedral", image_shape=None):
        self.estimator = estimator
        self.transforms = transforms
        self.image_shape = image_shape

    def _transform_names(self):
        if isinstance(self.transforms, str):
            return _SETS[self.transforms]
        names = tuple(self.transforms)
        unknown = [t for t in names if t not in _TRANSFORMS]
        if not names or unknown or len(set(names)) != len(names):
            raise ValueError(
                f"transforms must be 'dihedral', 'flips' or distinct names from "
                f"{list(_TRANSFORMS)}; got {self.transforms!r}."
            )
        return names

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit the classifier on the images as given.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Training images.
        y : array-like of shape (n_samples,)
            Class labels.
        **fit_params : dict
            Passed to the classifier's ``fit``.

        Returns
        -------
        self : TTAClassifier
            The fitted classifier.
        """
        from sklearn.base import clone

        names = self._transform_names()
        _check_image_shape_param(self.image_shape)
        if not (hasattr(X, "iloc") or sp.issparse(X)):
            X = np.asarray(X)
        # images and a given shape are checked before a possibly long fit; flattened
        # rows without one take the fitted classifier's image_shape_ afterwards.
        # Either way this sets n_features_in_ and image_shape_, which predict checks.
        early = X.ndim == 3 or self.image_shape is not None
        if early:
            images = validate_images(self, X, reset=True, image_shape=self.image_shape)
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        shape = self.image_shape
        if shape is None:
            shape = getattr(self.estimator_, "image_shape_", None)
        self._image_shape = shape
        if not early:
            images = validate_images(self, X, reset=True, image_shape=shape)
        if images.shape[1] != images.shape[2] and not set(names) & set(_SHAPE_KEEPING):
            raise ValueError(
                f"transforms={self.transforms!r} all change the shape of the {images.shape[1]}x"
                f"{images.shape[2]} images; non-square images take only {list(_SHAPE_KEEPING)}."
            )
        return self

    def predict_proba(self, X):
        """Class probabilities averaged over the transformed copies of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Mean probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = X if hasattr(X, "iloc") else np.asarray(X)
        flat = X.ndim == 2
        images = validate_images(self, X, reset=False, image_shape=self._image_shape)
        names = self._transform_names()
        if images.shape[1] != images.shape[2]:
            names = [n for n in names if n in _SHAPE_KEEPING]
        total = 0.0
        for name in names:
            t = np.ascontiguousarray(_TRANSFORMS[name](images))
            total = total + np.asarray(
                self.estimator_.predict_proba(t.reshape(len(t), -1) if flat else t),
                dtype=np.float64,
            )
        return total / len(names)

    def predict(self, X):
        """Class with the highest averaged probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted classes.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
