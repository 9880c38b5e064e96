"""The stage-1 data set of two-stage transfer, as a handle that ``clone`` shares."""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length

from ..nn._input import check_unit_range
from ..utils._sklearn_compat import InvalidParameterError, _check_y
from ._lazy_input import is_lazy, validate_input

__all__ = ["SourceData", "check_source_data_type", "validate_source_data"]


def _read_only(array):
    view = array.view()
    view.flags.writeable = False
    return view


def _describe(array):
    kind = "image set read from disk" if is_lazy(array) else "array"
    return f"<{array.dtype} {kind} of shape {array.shape}>"


class SourceData:
    """A source data set handed to estimators by reference: ``clone`` never copies it.

    :func:`sklearn.base.clone` deep-copies every constructor parameter, so a
    plain ``(X, y)`` tuple given as
    ``TwoStageTransferClassifier(source_data=...)`` is copied for every
    candidate and fold of a search. A ``SourceData`` is immutable (it holds
    read-only views of the arrays) and its copies are itself, so every clone
    shares the one data set.

    Parameters
    ----------
    X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
        Source images in the project's input convention (flattened rows take
        the estimator's ``image_shape``). An ndarray (or memmap) is not copied.
    y : array-like of shape (n_samples,)
        Their class labels, which need not be the target's classes.

    Attributes
    ----------
    X : ndarray
        Read-only view of the images.
    y : ndarray
        Read-only view of the labels.

    See Also
    --------
    skbreastcad.models.TwoStageTransferClassifier : Takes it as ``source_data``.

    Notes
    -----
    The images are validated by the estimator that uses them, in its ``fit``.
    The views are read-only, but an array the caller still holds stays
    writable: changing it changes the source data of every clone. Equality
    is identity. Pickling (e.g. to the worker processes of
    ``GridSearchCV(n_jobs=4)``) sends the arrays, which joblib memory-maps
    when they are large.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import clone
    >>> from skbreastcad.models import SourceData, TwoStageTransferClassifier
    >>> source = SourceData(np.zeros((100, 32, 32), dtype=np.uint8), np.arange(100) % 2)
    >>> source
    SourceData(X=<uint8 array of shape (100, 32, 32)>, y=<int64 array of shape (100,)>)
    >>> clf = TwoStageTransferClassifier("tiny_cnn", transfer="two_stage", source_data=source)
    >>> clone(clf).source_data is source
    True
    >>> X_source, y_source = source
    """

    def __init__(self, X, y):
        # an ImagePaths stays on disk: stage 1 reads it batch by batch, as fit reads X
        self._X = X if is_lazy(X) else _read_only(np.asarray(X))
        self._y = _read_only(np.asarray(y))

    @property
    def X(self):
        """Read-only view of the images."""
        return self._X

    @property
    def y(self):
        """Read-only view of the labels."""
        return self._y

    def __iter__(self):
        # unpacks like the (X, y) pair it replaces
        return iter((self._X, self._y))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return type(self), (self._X, self._y)

    def __repr__(self):
        return f"{type(self).__name__}(X={_describe(self._X)}, y={_describe(self._y)})"


class _SourceImages(BaseEstimator):
    """Receives what ``validate_images`` records, so that the estimator's own
    ``n_features_in_`` and ``image_shape_`` describe its target data only."""


def check_source_data_type(source_data, caller="TwoStageTransferClassifier"):
    """Refuse a plain ``(X, y)`` pair, saying how to wrap it.

    Parameters
    ----------
    source_data : object
        The ``source_data`` parameter.
    caller : str, default="TwoStageTransferClassifier"
        Named in the message.

    Raises
    ------
    InvalidParameterError
        (a ``ValueError`` and a ``TypeError``) if ``source_data`` is a tuple or a list.
    """
    if isinstance(source_data, (tuple, list)):
        raise InvalidParameterError(
            f"The 'source_data' parameter of {caller} must be a SourceData or None, not a "
            f"{type(source_data).__name__}: wrap the pair as "
            "source_data=SourceData(X_source, y_source) (from skbreastcad.models), which "
            "clone shares instead of copying the arrays for every candidate and fold of a "
            "search."
        )


def validate_source_data(source_data, target_shape, *, estimator):
    """Validate the stage-1 data set through the project's image validation.

    Parameters
    ----------
    source_data : SourceData or None
    target_shape : tuple of (int, int)
        Shape of the target images; the source images must have it.
    estimator : estimator instance
        Whose ``image_shape`` (for flattened source rows) and
        ``value_range`` apply; named in the messages of the label checks.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width) or ImagePaths
        An :class:`~skbreastcad.datasets.ImagePaths` is returned unread.
    y_encoded : ndarray of int, shape (n_samples,)
    n_classes : int
    """
    if source_data is None:
        raise ValueError(
            "transfer='two_stage' needs source_data=SourceData(X_source, y_source), the "
            "stage-1 data set."
        )
    # again here: parameter validation may be switched off (skip_parameter_validation)
    check_source_data_type(source_data, type(estimator).__name__)
    Xs, ys = source_data
    record = _SourceImages()
    try:
        images = validate_input(record, Xs, reset=True, image_shape=estimator.image_shape)
    except ValueError as exc:
        raise ValueError(f"source_data: {exc}") from None
    if tuple(record.image_shape_) != tuple(target_shape):
        raise ValueError(
            f"source_data holds images of shape {tuple(record.image_shape_)} but X holds "
            f"images of shape {tuple(target_shape)}; resize one set to the other's shape."
        )
    ys = _check_y(ys, estimator=estimator)
    check_consistent_length(images, ys)
    check_classification_targets(ys)
    classes, ys_enc = np.unique(ys, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            "source_data needs samples of at least 2 classes; it contains only one class."
        )
    check_unit_range(images, estimator.value_range, name="source_data")
    return images, ys_enc, len(classes)
