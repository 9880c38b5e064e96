"""Threshold policies: turning out-of-fold scores into labels without peeking.

The threshold applied to fold ``k`` is chosen on the out-of-fold scores of the
*other* folds only: samples that fold ``k``'s model was trained on. Fold ``k``'s own
scores and labels never enter the choice, so a threshold tuned for a fixed
specificity cannot flatter the fold it is scored on.
"""

import re
from numbers import Real

import numpy as np

from ._checks import check_1d, check_binary, check_finite

__all__ = ["apply_threshold_policy", "check_threshold_policy", "choose_threshold"]

_SPEC = re.compile(r"^(specificity|sensitivity)=(.+)$")


def check_threshold_policy(policy):
    """Validate a threshold policy and return it in canonical form.

    Parameters
    ----------
    policy : "default", "youden", "specificity=S", "sensitivity=S" or float
        ``"default"`` keeps the estimator's own ``predict``; a float is a fixed
        threshold on the score (e.g. ``0.5`` on probabilities); ``"youden"``
        maximises sensitivity + specificity - 1; ``"specificity=S"`` is the
        lowest threshold whose specificity on the training folds is at least
        ``S`` (the most sensitive such threshold); ``"sensitivity=S"`` the
        highest threshold reaching sensitivity ``S``.

    Returns
    -------
    kind : str
        ``"default"``, ``"fixed"``, ``"youden"``, ``"specificity"`` or ``"sensitivity"``.
    value : float or None
        The fixed threshold, specificity or sensitivity; None for ``"default"``
        and ``"youden"``.

    Examples
    --------
    >>> check_threshold_policy("specificity=0.9")
    ('specificity', 0.9)
    """
    if isinstance(policy, Real) and not isinstance(policy, bool):
        if not np.isfinite(policy):
            raise ValueError(f"A fixed threshold must be finite; got {policy!r}.")
        return "fixed", float(policy)
    if policy in ("default", "youden"):
        return policy, None
    match = _SPEC.match(policy) if isinstance(policy, str) else None
    if match:
        try:
            level = float(match.group(2))
        except ValueError:
            level = np.nan
        if not 0 < level < 1:
            raise ValueError(
                f"The fixed {match.group(1)} of threshold policy {policy!r} must lie in (0, 1); "
                f"got {match.group(2)}."
            )
        return match.group(1), level
    raise ValueError(
        f"Unknown threshold policy {policy!r}; use 'default', 'youden', a float threshold, "
        "'specificity=S' or 'sensitivity=S' with 0 < S < 1."
    )


def choose_threshold(y_true, scores, policy):
    """Choose a threshold on scores (predict positive when ``score >= threshold``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels of the samples the threshold is chosen on, both classes.
    scores : array-like of shape (n_samples,)
        Finite continuous scores of the same samples, higher meaning more likely
        positive.
    policy : str or float
        See :func:`check_threshold_policy`; ``"default"`` returns NaN.

    Returns
    -------
    threshold : float
        One of the scores (the thresholds of :func:`sklearn.metrics.roc_curve`),
        or ``inf`` when no score reaches the required specificity.

    Examples
    --------
    >>> choose_threshold([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.6, 0.9], "specificity=0.75")
    0.6
    >>> choose_threshold([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.6, 0.9], "youden")
    0.6
    """
    kind, value = check_threshold_policy(policy)
    if kind == "default":
        return np.nan
    if kind == "fixed":
        return value
    y = check_binary(y_true, "y_true") == 1
    s = check_finite(check_1d(scores, "scores", n=len(y)), "scores")
    if y.all() or not y.any():
        raise ValueError(f"Threshold policy {policy!r} needs both classes in the training folds.")
    if kind == "specificity":
        neg = np.sort(s[~y])
        k = int(np.ceil(value * len(neg) - 1e-9))  # negatives that must fall below the threshold
        above = s[s > neg[k - 1]]
        return float(above.min()) if len(above) else np.inf
    if kind == "sensitivity":
        pos = np.sort(s[y])[::-1]
        k = int(np.ceil(value * len(pos) - 1e-9))  # positives that must reach the threshold
        return float(pos[k - 1])
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    return float(thresholds[np.argmax(tpr - fpr)])


def apply_threshold_policy(predictions, policy):
    """Relabel out-of-fold predictions with thresholds chosen on the other folds.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Tidy out-of-fold predictions with columns ``candidate``, ``fold``,
        ``y_true``, ``score`` and ``y_pred``.
    policy : str or float
        See :func:`check_threshold_policy`.

    Returns
    -------
    predictions : pandas.DataFrame
        A copy whose ``y_pred`` applies, in every fold, the threshold chosen on
        that candidate's other folds (unchanged for ``"default"``).
    thresholds : pandas.DataFrame
        One row per candidate and fold: the threshold used (NaN for ``"default"``).

    See Also
    --------
    choose_threshold : The threshold chosen on one set of scores.

    Examples
    --------
    >>> import pandas as pd
    >>> predictions = pd.DataFrame({
    ...     "candidate": "a", "fold": [0, 0, 0, 1, 1, 1], "y_true": [0, 1, 1, 0, 0, 1],
    ...     "score": [0.2, 0.6, 0.9, 0.1, 0.7, 0.8], "y_pred": [0, 1, 1, 0, 1, 1]})
    >>> relabelled, thresholds = apply_threshold_policy(predictions, "youden")
    >>> thresholds["threshold"].tolist()
    [0.8, 0.6]
    >>> relabelled["y_pred"].tolist()
    [0, 0, 1, 0, 1, 1]
    """
    import pandas as pd

    kind, _ = check_threshold_policy(policy)
    predictions = predictions.copy()
    rows = []
    for candidate, frame in predictions.groupby("candidate", sort=False):
        folds = frame["fold"].to_numpy()
        y = frame["y_true"].to_numpy()
        s = frame["score"].to_numpy()
        for fold in np.unique(folds):
            test = folds == fold
            if kind == "default":
                threshold = np.nan
            elif kind == "fixed" or test.all():
                threshold = choose_threshold(y, s, policy) if kind == "fixed" else np.nan
            else:
                threshold = choose_threshold(y[~test], s[~test], policy)
            if not np.isnan(threshold):
                predictions.loc[frame.index[test], "y_pred"] = (s[test] >= threshold).astype(int)
            rows.append({"candidate": candidate, "fold": int(fold), "threshold": threshold})
    return predictions, pd.DataFrame(rows)
