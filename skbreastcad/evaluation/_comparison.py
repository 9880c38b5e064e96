"""Paired comparison of candidates scored on the same samples.

Two pipelines cross-validated on the same folds make correlated errors: the hard
ROIs are hard for both. Tests for independent samples overstate the uncertainty of
their difference; these tests use the pairing.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, chi2, norm, rankdata

from ._bootstrap import _evaluate, _evaluate_jackknife, bootstrap_counts, confidence_interval
from ._checks import (
    check_binary,
    check_finite,
    check_groups,
    check_pvalues,
)
from ._metrics import parse_metric, weighted_metrics
from ._validation import _check_level, _group_codes

__all__ = [
    "DeLongResult",
    "bootstrap_pvalue",
    "delong_test",
    "holm_correction",
    "mcnemar_test",
    "paired_bootstrap_test",
]


def _binary_labels(y_true):
    y = check_binary(y_true, "y_true")
    if y.all() or not y.any():
        raise ValueError("y_true holds one class only: ROC AUC is undefined.")
    return y.astype(bool)


def _paired(a, name, n):
    a = np.asarray(a)
    if a.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},), one value per sample of y_true; got {a.shape}."
        )
    return check_finite(a, name)


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated ROC AUCs.

    Returned by :func:`delong_test`; every parameter is stored as an attribute
    of the same name.

    Parameters
    ----------
    auc_a : float
        ROC AUC of candidate A.
    auc_b : float
        ROC AUC of candidate B.
    difference : float
        ``auc_a - auc_b``.
    se : float
        Standard error of the difference.
    statistic : float
        ``difference / se`` (a standard normal deviate under the null).
    pvalue : float
        Two-sided p-value of "equal AUCs".
    covariance : ndarray of shape (2, 2)
        DeLong's covariance matrix of the two AUCs.

    See Also
    --------
    delong_test : Build this result from labels and two candidates' scores.

    Examples
    --------
    >>> res = delong_test([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.8, 0.7, 0.2, 0.9],
    ...                   [0.2, 0.6, 0.5, 0.7, 0.4, 0.3])
    >>> res.auc_a, round(res.auc_b, 3), res.covariance.shape
    (1.0, 0.667, (2, 2))
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    statistic: float
    pvalue: float
    covariance: np.ndarray


def delong_covariance(y_true, scores):
    """Compute AUCs and DeLong's covariance matrix by the fast algorithm of Sun & Xu (2014).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    scores : array-like of shape (n_candidates, n_samples)
        Every candidate's scores for the same samples; a single 1-D array is one
        candidate.

    Returns
    -------
    aucs : ndarray of shape (n_candidates,)
        ROC AUC of every candidate.
    covariance : ndarray of shape (n_candidates, n_candidates)
        DeLong's estimate of the covariance matrix of the AUCs.

    See Also
    --------
    delong_test : Test the difference of two AUCs with this covariance.

    References
    ----------
    .. [1] E. R. DeLong, D. M. DeLong and D. L. Clarke-Pearson, "Comparing the areas
       under two or more correlated receiver operating characteristic curves: a
       nonparametric approach", Biometrics 44(3), 837-845, 1988.
    .. [2] X. Sun and W. Xu, "Fast implementation of DeLong's algorithm for comparing
       the areas under correlated receiver operating characteristic curves", IEEE
       Signal Processing Letters 21(11), 1389-1393, 2014.

    Examples
    --------
    >>> aucs, cov = delong_covariance([0, 0, 1, 1], [[0.1, 0.4, 0.35, 0.8], [0.1, 0.2, 0.3, 0.4]])
    >>> aucs.tolist(), cov.shape
    ([0.75, 1.0], (2, 2))
    """
    y = _binary_labels(y_true)
    scores = check_finite(np.atleast_2d(scores), "scores")
    if scores.ndim != 2 or scores.shape[1] != len(y):
        raise ValueError(
            f"scores must have shape (n_candidates, {len(y)}), one row per candidate; "
            f"got {scores.shape}."
        )
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        # np.cov of one sample is NaN: the variance, and so the test, would be undefined
        raise ValueError(
            f"DeLong's covariance needs at least two positives and two negatives in y_true; "
            f"got {m} and {n}."
        )
    # midranks within positives, within negatives, and over both (Sun & Xu, Algorithm 2)
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n  # structural components of the positives
    v01 = 1.0 - (tz[:, m:] - ty) / m  # and of the negatives
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def delong_test(y_true, scores_a, scores_b):
    """Test the difference of two correlated ROC AUCs (DeLong's test).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    scores_a, scores_b : array-like of shape (n_samples,)
        Two candidates' scores for the same samples.

    Returns
    -------
    result : DeLongResult
        Both AUCs, their difference with its standard error, the z statistic
        and the two-sided p-value.

    See Also
    --------
    paired_bootstrap_test : Patient-level comparison by the bootstrap.

    Notes
    -----
    The samples are treated as independent: with several ROIs per patient the
    variance is underestimated. Use :func:`paired_bootstrap_test` with
    ``groups`` for patient-level inference.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(50), np.ones(50)].astype(int)
    >>> a = y + rng.normal(size=100)
    >>> b = y + rng.normal(scale=3, size=100)
    >>> res = delong_test(y, a, b)
    >>> bool(res.auc_a > res.auc_b), bool(res.pvalue < 0.05)
    (True, True)
    """
    y = _binary_labels(y_true)
    a = _paired(scores_a, "scores_a", len(y))
    b = _paired(scores_b, "scores_b", len(y))
    aucs, cov = delong_covariance(y, np.vstack([a, b]))
    diff = aucs[0] - aucs[1]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    se = float(np.sqrt(max(var, 0.0)))
    if se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:
        # identical rankings: no difference and no evidence of one
        z, p = 0.0, 1.0
    return DeLongResult(float(aucs[0]), float(aucs[1]), float(diff), se, float(z), p, cov)


def mcnemar_test(y_true, y_pred_a, y_pred_b, *, exact=True, correction=True):
    """Test that two classifiers have the same accuracy on the same samples (McNemar's test).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True 0/1 labels (one class is allowed).
    y_pred_a : array-like of shape (n_samples,)
        0/1 labels predicted by classifier A, not its scores.
    y_pred_b : array-like of shape (n_samples,)
        0/1 labels predicted by classifier B.
    exact : bool, default=True
        Exact binomial test on the discordant pairs; otherwise the chi-square
        statistic.
    correction : bool, default=True
        Edwards' continuity correction of the chi-square statistic.

    Returns
    -------
    result : dict
        ``b`` (only A right), ``c`` (only B right), ``statistic`` and ``pvalue``
        (two-sided).

    Examples
    --------
    >>> mcnemar_test([1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 1, 0])
    {'b': 2, 'c': 0, 'statistic': 0.0, 'pvalue': 0.5}
    """
    y = check_binary(y_true, "y_true")
    a, b_ = np.asarray(y_pred_a), np.asarray(y_pred_b)
    if a.shape != y.shape or b_.shape != y.shape:
        raise ValueError(
            f"y_pred_a and y_pred_b must have the shape of y_true {y.shape}; got {a.shape} and {b_.shape}."
        )
    a, b_ = check_binary(a, "y_pred_a"), check_binary(b_, "y_pred_b")
    right_a, right_b = a == y, b_ == y
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    if b + c == 0:
        return {"b": b, "c": c, "statistic": 0.0, "pvalue": 1.0}
    if exact:
        return {
            "b": b,
            "c": c,
            "statistic": float(min(b, c)),
            "pvalue": float(binomtest(min(b, c), b + c).pvalue),
        }
    stat = (max(abs(b - c) - (1 if correction else 0), 0)) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(stat), "pvalue": float(chi2.sf(stat, 1))}


def holm_correction(pvalues, *, nan_policy="omit"):
    """Adjust p-values for multiple comparisons by Holm's step-down procedure.

    Parameters
    ----------
    pvalues : array-like of shape (n_tests,)
        P-values in [0, 1].
    nan_policy : {"omit", "raise"}, default="omit"
        ``"omit"``: NaN entries mark rows that are no test (e.g. the
        reference row compared with itself); they are left NaN and do not
        count in the family, so the other p-values are multiplied by the
        number of non-NaN entries only. ``"raise"``: a NaN is an error, for
        a family in which every entry is a test that must be counted.

    Returns
    -------
    adjusted : ndarray of shape (n_tests,)
        Reject at level alpha where ``adjusted <= alpha``; controls the
        family-wise error rate. Each adjusted p-value is at least its raw one,
        at most 1, and the adjusted values keep the order of the raw ones.

    References
    ----------
    .. [1] S. Holm, "A simple sequentially rejective multiple test procedure",
       Scandinavian Journal of Statistics 6(2), 65-70, 1979.

    Examples
    --------
    >>> holm_correction([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = check_pvalues(pvalues, "pvalues", nan_policy=nan_policy)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    k = len(order)
    adjusted = np.maximum.accumulate((k - np.arange(k)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def bootstrap_pvalue(differences):
    """Two-sided p-value of "no difference" from bootstrapped differences.

    Twice the smaller share of resampled differences on either side of 0, counted
    as ``(k + 1) / (B + 1)`` so that a finite number of resamples never claims
    ``p = 0`` (Davison & Hinkley, 1997, Eq. 4.11).

    Parameters
    ----------
    differences : array-like of shape (n_boot,)
        The bootstrapped differences of a statistic between two candidates;
        at least one, all finite.

    Returns
    -------
    pvalue : float
        Two-sided p-value, in ``(0, 1]``.

    Examples
    --------
    >>> bootstrap_pvalue(np.ones(999))
    0.002
    """
    d = check_finite(differences, "differences")
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(
            f"differences must be a non-empty 1-D array of bootstrapped differences; got shape {d.shape}."
        )
    k = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0))
    return float(min(1.0, 2 * (k + 1) / (len(d) + 1)))


def paired_bootstrap_test(
    y_true,
    *,
    scores=None,
    y_pred=None,
    metric="roc_auc",
    groups=None,
    n_boot=2000,
    method="percentile",
    confidence_level=0.95,
    random_state=None,
):
    """Bootstrap the difference of a metric between two candidates on the same resamples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    scores : array-like of shape (2, n_samples), default=None
        Scores of candidates A and B (for ranking metrics).
    y_pred : array-like of shape (2, n_samples), default=None
        Labels of candidates A and B (for threshold metrics).
    metric : str, default="roc_auc"
        Any name of :func:`~skbreastcad.evaluation.parse_metric`.
    groups : array-like of shape (n_samples,), default=None
        Patients: resampled as wholes, the same patients for both candidates.
    n_boot : int, default=2000
        Number of resamples.
    method : {"percentile", "bca"}, default="percentile"
        Interval of the difference: percentile, or bias-corrected and accelerated.
    confidence_level : float, default=0.95
        Coverage of the two-sided interval, in (0, 1).
    random_state : int, Generator or None, default=None
        Seeds the resampling (see :func:`bootstrap_counts`); pass an int for
        reproducible results.

    Returns
    -------
    result : dict
        ``difference`` (A - B), ``ci_low``, ``ci_high``, ``pvalue`` (see
        :func:`bootstrap_pvalue`), ``n_redrawn``.

    See Also
    --------
    delong_test : Analytic test of two AUCs, samples taken as independent.
    bootstrap_pvalue : The p-value from the bootstrapped differences.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    >>> scores = np.vstack([y + rng.normal(size=80), y + rng.normal(scale=3, size=80)])
    >>> res = paired_bootstrap_test(y, scores=scores, groups=np.arange(80) // 2,
    ...                             n_boot=200, random_state=0)
    >>> bool(res["ci_low"] < res["difference"] < res["ci_high"]), sorted(res)
    (True, ['ci_high', 'ci_low', 'difference', 'n_redrawn', 'pvalue'])
    """
    y = _binary_labels(y_true)
    n = len(y)
    kind, _ = parse_metric(metric)
    needed = y_pred if kind == "threshold" else scores
    if needed is None:
        raise ValueError(
            f"Metric {metric!r} needs {'y_pred' if kind == 'threshold' else 'scores'}."
        )
    name = "y_pred" if kind == "threshold" else "scores"
    needed = np.asarray(needed)
    if needed.shape != (2, n):
        raise ValueError(
            f"Give both candidates' {name} as an array of shape (2, {n}); got {needed.shape}."
        )
    needed = check_finite(needed, name)
    if kind == "threshold":
        for row, label in zip(needed, ("A", "B")):
            check_binary(row, f"y_pred of candidate {label}")
    groups = check_groups(groups, n)
    _check_level(confidence_level)
    scores_, y_pred_ = (None, needed) if kind == "threshold" else (needed, None)
    codes, n_groups = _group_codes(groups, n)
    counts, n_redrawn = bootstrap_counts(codes, n_groups, n_boot, y=y, random_state=random_state)
    full = weighted_metrics(np.ones((1, n)), y, scores=scores_, y_pred=y_pred_, metrics=[metric])[
        metric
    ][0]
    diff = full[0] - full[1]
    dist = _evaluate(counts, codes, y, scores_, y_pred_, [metric])[metric]
    d = dist[:, 0] - dist[:, 1]
    jack = None
    if method == "bca":
        j = _evaluate_jackknife(codes, n_groups, y, scores_, y_pred_, [metric])[metric]
        jack = j[:, 0] - j[:, 1]
    low, high = confidence_interval(
        d, diff, method=method, confidence_level=confidence_level, jackknife=jack
    )
    p = bootstrap_pvalue(d)
    return {
        "difference": float(diff),
        "ci_low": float(low),
        "ci_high": float(high),
        "pvalue": float(p),
        "n_redrawn": n_redrawn,
    }
