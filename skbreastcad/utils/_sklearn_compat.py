"""The private scikit-learn APIs skbreastcad relies on, in one place.

scikit-learn does not promise to keep these stable. Importing them only from
here means a scikit-learn release that moves one breaks a single module, and
the list below is what to check when raising the supported range (oldest
supported: scikit-learn 1.6, the first with ``validate_data`` and
``__sklearn_tags__``; imbalanced-learn >= 0.13 needs it too).

- ``sklearn.base._fit_context``: validates ``_parameter_constraints`` once per
  ``fit`` and skips nested validation (every estimator's ``fit``).
- ``sklearn.utils._param_validation``: the constraint types (``Interval``,
  ``StrOptions``, ``HasMethods``, ``RealNotInt``, ``Hidden`` for deprecated values), ``validate_params`` for
  public functions, ``validate_parameter_constraints`` for objects that are
  not fitted (``ImageAugmenter``) and ``InvalidParameterError``.
- ``sklearn.utils.validation._check_y``: the label checks of ``fit``.
- ``sklearn.utils._safe_indexing`` and ``sklearn.model_selection._search.BaseSearchCV``:
  the candidate x fold loop of :func:`skbreastcad.evaluation.cross_val_predictions`
  (indexing any array-like, recognising any search object).
"""

from sklearn.base import _fit_context
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)
from sklearn.utils.validation import _check_y

__all__ = [
    "BaseSearchCV",
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "RealNotInt",
    "StrOptions",
    "_check_y",
    "_fit_context",
    "_safe_indexing",
    "validate_parameter_constraints",
    "validate_params",
]
