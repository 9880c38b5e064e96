"""Checks of the statistics' inputs and flags of their degenerate results.

Every public statistic checks its inputs the way :mod:`sklearn.metrics` does
(binary labels, finite scores, matching lengths, p-values in [0, 1]) and fails
with a one-line ``ValueError`` that names the argument. A result that is
degenerate by construction (one patient, a handful of resamples, an interval
that excludes its own estimate, a model that predicts one class) is not an
error: it is returned with a flag and, where a reader could take it at face
value, a :class:`DegenerateResultWarning`.
"""

import warnings
from numbers import Integral

import numpy as np

__all__ = ["DegenerateResultWarning"]

#: Fewer resamples than this give percentile bounds that move from seed to seed.
MIN_RESAMPLES = 100


class DegenerateResultWarning(UserWarning):
    """A statistic was computed, but it is degenerate by construction.

    Raised (as a warning) for an interval over one patient, a bootstrap of
    fewer than 100 resamples, an interval that excludes its own estimate and
    a model that predicts one class for every sample. The same condition is
    recorded as a flag of the result (``BootstrapResult.flags``,
    ``Report.config["flags"]``), so a saved report keeps it.

    See Also
    --------
    skbreastcad.evaluation.bootstrap_metrics : Flags its result.
    skbreastcad.evaluation.evaluate : Flags the report.

    Examples
    --------
    >>> import warnings
    >>> from skbreastcad.evaluation import DegenerateResultWarning, bootstrap_metrics
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     res = bootstrap_metrics([0, 1, 0, 1], scores=[0.1, 0.9, 0.4, 0.6],
    ...                             metrics=["roc_auc"], n_boot=10, random_state=0)
    >>> caught[0].category is DegenerateResultWarning, sorted(res.flags)
    (True, ['few_resamples'])
    """


def _describe(values, k=5):
    """A few distinct values of an array, for an error message."""
    values = np.asarray(values).ravel()
    try:
        distinct = np.unique(values[~_isnan(values)])
    except TypeError:
        distinct = np.unique(values.astype(str))
    shown = [round(v, 4) if isinstance(v, float) else v for v in distinct[:k].tolist()]
    return f"{shown}{' ...' if len(distinct) > k else ''}"


def _isnan(values):
    """NaN (or None) mask of any array, numeric or not."""
    values = np.asarray(values)
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind == "O":
        import pandas as pd

        return np.asarray(pd.isna(values), dtype=bool)
    return np.zeros(values.shape, dtype=bool)


def check_1d(values, name, *, n=None, allow_empty=False):
    """``values`` as a 1-D array, non-empty and of length ``n`` when given."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, one value per sample; got shape {values.shape}.")
    if not allow_empty and len(values) == 0:
        raise ValueError(f"{name} is empty.")
    if n is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries, y_true has {n}: give one per sample.")
    return values


def check_finite(values, name):
    """``values`` as floats, refused if any is NaN or infinite (counted in the message)."""
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be numeric; got values such as {_describe(values)}."
        ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{name} holds {int(np.isnan(values).sum())} NaN and {int(np.isinf(values).sum())} "
            f"infinite value(s) of {values.size}."
        )
    return values


def check_binary(values, name, *, n=None, allow_empty=False):
    """``values`` as a 1-D int array of 0/1 labels (bool and 0.0/1.0 floats accepted)."""
    values = check_1d(values, name, n=n, allow_empty=allow_empty)
    if values.dtype.kind == "b":
        return values.astype(int)
    if values.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold binary 0/1 labels; got values such as {_describe(values)}."
        )
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError(
            f"{name} holds {int(np.isnan(values).sum())} NaN label(s) of {len(values)}."
        )
    if not np.isin(values, (0, 1)).all():
        hint = (
            ": these look like continuous scores, pass predicted labels"
            if values.dtype.kind == "f" and not np.equal(np.mod(values, 1), 0).all()
            else ""
        )
        raise ValueError(
            f"{name} must hold binary 0/1 labels; got values such as {_describe(values)}{hint}."
        )
    return values.astype(int)


def check_both_classes(y, name="y_true"):
    """Refuse labels of one class: ROC and paired statistics need both."""
    if y.all() or not y.any():
        raise ValueError(f"{name} holds one class only ({int(y[0])}): both classes are needed.")
    return y


def check_pvalues(pvalues, name="pvalues", *, nan_policy="omit"):
    """``pvalues`` as a 1-D float array in [0, 1]; NaN kept or refused by ``nan_policy``."""
    if nan_policy not in ("omit", "raise"):
        raise ValueError(f"nan_policy must be 'omit' or 'raise'; got {nan_policy!r}.")
    p = check_1d(pvalues, name, allow_empty=True)
    try:
        p = p.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric; got values such as {_describe(p)}.") from None
    nan = np.isnan(p)
    if nan_policy == "raise" and nan.any():
        raise ValueError(
            f"{name} holds {int(nan.sum())} NaN of {len(p)} (at index {np.flatnonzero(nan).tolist()[:5]}): "
            "a test that was not computed cannot join the family."
        )
    outside = ~nan & ((p < 0) | (p > 1))
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"{name} must lie in [0, 1]; got {float(p[k])!r} at index {k} "
            f"({int(outside.sum())} of {len(p)} outside)."
        )
    return p


def check_groups(groups, n):
    """Patients as a 1-D array of ``n`` entries, none of them NaN or None."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n:
        raise ValueError(
            f"groups must have one entry per sample: expected shape ({n},), got {groups.shape}."
        )
    missing = _isnan(groups)
    if missing.any():
        raise ValueError(
            f"groups holds {int(missing.sum())} missing (NaN/None) patient id(s) of {n}: "
            "they would all be pooled into one patient."
        )
    return groups


def check_candidates(scores, y_pred):
    """``scores`` and ``y_pred`` (2-D, one row per candidate) must describe the same candidates."""
    if scores is not None and y_pred is not None and len(scores) != len(y_pred):
        raise ValueError(
            f"scores has {len(scores)} candidate(s) and y_pred {len(y_pred)}: give both for "
            "every candidate, in the same order."
        )


def check_classifier(estimator, name="estimator"):
    """Refuse regressors and other non-classifiers before any fit."""
    from sklearn.base import is_classifier

    try:
        ok = is_classifier(estimator)
    except (AttributeError, TypeError):
        # no scikit-learn tags: accept what answers like a classifier
        ok = hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")
    if not ok:
        raise ValueError(
            f"{name} must be a classifier; got {type(estimator).__name__}, whose predict does not "
            "give class labels (binary evaluation needs scores and labels of two classes)."
        )


def check_evaluate_input(estimator, X, y):
    """What :func:`evaluate` needs before cross-validating: a classifier, samples, two classes."""
    from ._predictions import _read_search

    base = _read_search(estimator)[0]
    check_classifier(base, "estimator" if base is estimator else "the search's estimator")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, one label per sample; got shape {y.shape}.")
    if len(y) == 0:
        raise ValueError("y is empty: there is nothing to evaluate.")
    # shape first: len() of a sparse matrix is an error
    n_X = X.shape[0] if hasattr(X, "shape") else len(X)
    if n_X != len(y):
        raise ValueError(f"X has {n_X} samples and y {len(y)}: give one label per sample.")
    if n_X == 0:
        raise ValueError("X is empty: there is nothing to evaluate.")
    classes = np.unique(y[~_isnan(y)])
    if len(classes) == 1:
        raise ValueError(
            f"y must hold exactly two classes for binary evaluation; got one class {classes.tolist()}."
        )


def check_table_options(metrics, available, digits):
    """Metric names present in the results and a number of decimals that can be printed."""
    if isinstance(digits, bool) or not isinstance(digits, Integral) or digits < 1:
        raise ValueError(
            f"digits must be an integer >= 1 (the bounds get digits - 1 decimals); got {digits!r}."
        )
    if metrics is None:
        return
    if isinstance(metrics, str):
        raise ValueError(f"metrics must be a list of metric names; got the string {metrics!r}.")
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise ValueError(f"metrics {unknown} are not in the results; they hold {list(available)}.")


def _warn(flags, keys, stacklevel):
    messages = [flags[k] for k in keys if k in flags]
    if messages:
        warnings.warn(" ".join(messages), DegenerateResultWarning, stacklevel=stacklevel + 1)


def bootstrap_flags(result, *, stacklevel=2):
    """Flag (and warn about) the degenerate cases of a :class:`BootstrapResult`.

    Returns a dict of short code to message: ``one_group``, ``few_resamples``,
    ``ci_excludes_estimate`` (all three warned about) and ``redrawn`` (only
    flagged: redrawing one-class resamples is what makes ROC AUC defined).
    """
    flags = {}
    if result.n_groups == 1:
        flags["one_group"] = (
            "The data hold one patient (group): every resample is the data themselves, so each "
            "interval has zero width and says nothing about the uncertainty."
        )
    if result.n_boot < MIN_RESAMPLES:
        flags["few_resamples"] = (
            f"{result.n_boot} bootstrap resample(s), fewer than {MIN_RESAMPLES}: the interval's "
            "bounds change from seed to seed and may exclude the estimate."
        )
    excluded = []
    for m in result.metrics:
        estimate = np.asarray(result.estimate[m])
        low, high = np.asarray(result.ci_low[m]), np.asarray(result.ci_high[m])
        tol = 1e-12
        outside = (estimate < low - tol) | (estimate > high + tol)
        excluded += [f"{m} of candidate {c}" for c in np.flatnonzero(outside)]
    if excluded:
        flags["ci_excludes_estimate"] = (
            f"The interval excludes its own estimate for {', '.join(excluded[:5])}"
            f"{' ...' if len(excluded) > 5 else ''}: the bootstrap distribution is biased or too "
            "small."
        )
    if result.n_redrawn:
        flags["redrawn"] = (
            f"{result.n_redrawn} resample(s) held one class only and were drawn again: the "
            "intervals are conditional on both classes being present."
        )
    _warn(flags, ("one_group", "few_resamples", "ci_excludes_estimate"), stacklevel + 1)
    return flags


def one_class_candidates(candidates, y_pred):
    """``{candidate: class}`` of the candidates that predict one class for every sample."""
    return {
        candidate: int(row[0])
        for candidate, row in zip(candidates, np.asarray(y_pred))
        if len(row) and (row == row[0]).all()
    }


def prediction_flags(candidates, y_pred, *, stacklevel=2):
    """Flag (and warn about) candidates that predict one class for every sample."""
    flags = {}
    constant = [
        f"{candidate!r} (always {label})"
        for candidate, label in one_class_candidates(candidates, y_pred).items()
    ]
    if constant:
        flags["one_class_predictions"] = (
            f"Candidate(s) {', '.join(constant)} predict one class for every sample: their "
            "threshold metrics and McNemar's test are degenerate."
        )
    _warn(flags, ("one_class_predictions",), stacklevel + 1)
    return flags
