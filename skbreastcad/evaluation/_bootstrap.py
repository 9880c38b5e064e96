"""Bootstrap confidence intervals that resample patients, vectorised over resamples.

A resample is a vector of counts, one per patient (group): how often the patient was
drawn. Every ROI of a patient drawn twice counts twice, which is what ``np.isin`` on
the drawn ids gets wrong. :func:`~skbreastcad.evaluation._metrics.weighted_metrics`
turns a block of count rows into metric values with matrix products, so no Python
code runs per resample.
"""

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from scipy.special import ndtr, ndtri
from sklearn.utils import check_random_state

from ._checks import bootstrap_flags, check_candidates, check_finite, check_groups
from ._metrics import DEFAULT_METRICS, weighted_metrics
from ._validation import _check_level, _check_n_boot, _group_codes

__all__ = ["BootstrapResult", "bootstrap_counts", "bootstrap_metrics", "confidence_interval"]

_MAX_REDRAW_ROUNDS = 1000
# jackknife weightings built at once: bounds their memory to _JACKKNIFE_BLOCK * n_groups floats
_JACKKNIFE_BLOCK = 1024


def bootstrap_counts(codes, n_groups, n_boot, *, y=None, random_state=None):
    """Draw groups with replacement: how often each group is in each resample.

    Parameters
    ----------
    codes : ndarray of shape (n_samples,)
        Group code (``0 .. n_groups - 1``) of every sample.
    n_groups : int
        Number of groups, ``codes.max() + 1``; each resample draws this many.
    n_boot : int
        Number of resamples, each of ``n_groups`` draws.
    y : ndarray of shape (n_samples,), default=None
        0/1 labels. When given, a resample without both classes (where ROC AUC
        is undefined) is redrawn from the same generator.
    random_state : int, RandomState instance, Generator or None, default=None
        An int seeds :func:`numpy.random.default_rng`, so the draws equal
        ``default_rng(seed).integers(0, n_groups, (n_boot, n_groups))`` when no
        resample is redrawn (the draws of :func:`scipy.stats.bootstrap`).

    Returns
    -------
    counts : ndarray of shape (n_boot, n_groups)
        Times each group was drawn in each resample.
    n_redrawn : int
        Resamples drawn again because they held one class only.

    Examples
    --------
    >>> counts, n_redrawn = bootstrap_counts(np.array([0, 0, 1, 2]), 3, 4, random_state=0)
    >>> counts.shape, counts.sum(axis=1).tolist(), n_redrawn
    ((4, 3), [3, 3, 3, 3], 0)
    """
    n_boot = _check_n_boot(n_boot)
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    elif random_state is None or isinstance(random_state, Integral):
        rng = np.random.default_rng(random_state)
    else:
        rng = check_random_state(random_state)

    def draw(n):
        if isinstance(rng, np.random.Generator):
            idx = rng.integers(0, n_groups, (n, n_groups))
        else:
            idx = rng.randint(0, n_groups, (n, n_groups))
        offsets = (np.arange(n) * n_groups)[:, None]
        return np.bincount((idx + offsets).ravel(), minlength=n * n_groups).reshape(n, n_groups)

    counts = draw(n_boot)
    n_redrawn = 0
    if y is not None:
        y = np.asarray(y)
        pos_per_group = np.bincount(codes, weights=y == 1, minlength=n_groups)
        neg_per_group = np.bincount(codes, weights=y != 1, minlength=n_groups)
        if not pos_per_group.any() or not neg_per_group.any():
            raise ValueError("The data hold one class only: no resample can hold both.")
        for _ in range(_MAX_REDRAW_ROUNDS):
            bad = np.flatnonzero((counts @ pos_per_group == 0) | (counts @ neg_per_group == 0))
            if len(bad) == 0:
                break
            n_redrawn += len(bad)
            counts[bad] = draw(len(bad))
        else:
            raise RuntimeError(
                f"After {_MAX_REDRAW_ROUNDS} rounds, resamples still held one class only: "
                "the positives sit in too few groups for a bootstrap."
            )
    return counts, n_redrawn


def confidence_interval(
    distribution, estimate, *, method="bca", confidence_level=0.95, jackknife=None
):
    """Percentile or BCa interval from a bootstrap distribution.

    Parameters
    ----------
    distribution : ndarray of shape (n_boot, ...)
        The statistic on every resample; at least one, all finite (a NaN
        resample is an error, not a silently NaN bound).
    estimate : ndarray of shape (...)
        The statistic on the data as they are, finite.
    method : {"bca", "percentile"}, default="bca"
        Bias-corrected and accelerated interval, or the plain percentile one.
    confidence_level : float, default=0.95
        Coverage of the two-sided interval, in (0, 1).
    jackknife : ndarray of shape (n_groups, ...), default=None
        Leave-one-group-out values of the statistic; required by ``"bca"``.

    Returns
    -------
    low, high : ndarray of shape (...)
        Lower and upper bounds of the interval, one per entry of ``estimate``.

    See Also
    --------
    bootstrap_metrics : Intervals of several metrics, resampling patients.
    scipy.stats.bootstrap : The same intervals for an arbitrary statistic.

    Notes
    -----
    Follows Efron & Tibshirani (1993), Eqs. 14.14 and 14.15, with the same
    conventions as :func:`scipy.stats.bootstrap` (bias correction from the mean
    of the strict and weak percentile of the estimate, linear quantiles), so
    both give the same interval on the same resamples.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap",
       Chapman & Hall, 1993.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> distribution = rng.normal(loc=1.0, scale=0.1, size=1000)
    >>> low, high = confidence_interval(distribution, 1.0, method="percentile")
    >>> bool(0.7 < low < 1.0 < high < 1.3)
    True
    """
    confidence_level = _check_level(confidence_level)
    distribution = check_finite(distribution, "distribution")
    if distribution.ndim == 0 or len(distribution) == 0:
        raise ValueError(
            f"distribution must hold at least one resample; got shape {distribution.shape}."
        )
    estimate = check_finite(estimate, "estimate")
    alpha = (1 - confidence_level) / 2
    if method == "percentile":
        q = np.quantile(distribution, [alpha, 1 - alpha], axis=0)
        return q[0], q[1]
    if method != "bca":
        raise ValueError(f"method must be 'bca' or 'percentile'; got {method!r}.")
    if jackknife is None:
        raise ValueError("The BCa interval needs the jackknife values of the statistic.")
    jackknife = check_finite(jackknife, "jackknife")
    B = len(distribution)
    below = np.count_nonzero(distribution < estimate, axis=0)
    at_or_below = np.count_nonzero(distribution <= estimate, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = ndtri((below + at_or_below) / (2 * B))
        dev = jackknife.mean(axis=0) - jackknife
        a = np.sum(dev**3, axis=0) / (6 * np.sum(dev**2, axis=0) ** 1.5)
        # a degenerate (constant) statistic has no skewness to correct
        a = np.where(np.isfinite(a), a, 0.0)
        z = ndtri(np.array([alpha, 1 - alpha]))
        levels = [ndtr(z0 + (z0 + zk) / (1 - a * (z0 + zk))) for zk in z]
    low, high = np.empty_like(estimate), np.empty_like(estimate)
    flat_low, flat_high = low.reshape(-1), high.reshape(-1)
    flat_dist = distribution.reshape(B, -1)
    for k, (lo, hi) in enumerate(zip(np.ravel(levels[0]), np.ravel(levels[1]))):
        if not (np.isfinite(lo) and np.isfinite(hi)):
            # every resample on one side of the estimate: BCa is undefined,
            # fall back to the percentile interval rather than return NaN
            lo, hi = alpha, 1 - alpha
        flat_low[k], flat_high[k] = np.quantile(flat_dist[:, k], [lo, hi])
    return low, high


@dataclass
class BootstrapResult:
    """Estimates, intervals and bootstrap distributions of several metrics.

    Returned by :func:`bootstrap_metrics`; every parameter is stored as an
    attribute of the same name.

    Parameters
    ----------
    metrics : list of str
        Names of the metrics, the keys of the dicts below.
    estimate : dict of str to ndarray of shape (n_candidates,)
        Each metric on the data as they are.
    ci_low : dict of str to ndarray of shape (n_candidates,)
        Lower bound of each metric's interval.
    ci_high : dict of str to ndarray of shape (n_candidates,)
        Upper bound of each metric's interval.
    distribution : dict of str to ndarray of shape (n_boot, n_candidates)
        Each metric on every resample.
    n_boot : int, default=0
        Number of resamples.
    n_redrawn : int, default=0
        Resamples drawn again because they held one class only.
    n_groups : int, default=0
        Units resampled (patients, or samples when there are no groups).
    method : str, default="bca"
        Interval method, ``"bca"`` or ``"percentile"``.
    confidence_level : float, default=0.95
        Coverage of the two-sided intervals.
    flags : dict of str to str, default={}
        Degenerate cases, by code: ``"one_group"`` (one patient),
        ``"few_resamples"`` (fewer than 100), ``"ci_excludes_estimate"``,
        ``"redrawn"`` (resamples of one class drawn again); each maps to a
        sentence. Empty when the result is not degenerate.

    See Also
    --------
    bootstrap_metrics : Build this result from labels, scores and groups.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    >>> s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.6, 0.9])
    >>> res = bootstrap_metrics(y, scores=s, metrics=["roc_auc"], n_boot=100, random_state=0)
    >>> res.metrics, res.n_boot, res.distribution["roc_auc"].shape
    (['roc_auc'], 100, (100, 1))
    """

    metrics: list
    estimate: dict
    ci_low: dict
    ci_high: dict
    distribution: dict = field(repr=False)
    n_boot: int = 0
    n_redrawn: int = 0
    n_groups: int = 0
    method: str = "bca"
    confidence_level: float = 0.95
    flags: dict = field(default_factory=dict)


def _evaluate(counts, codes, y, scores, y_pred, metrics):
    """Metrics under every row of per-group counts."""
    return weighted_metrics(counts, y, scores=scores, y_pred=y_pred, metrics=metrics, codes=codes)


def _evaluate_jackknife(codes, n_groups, y, scores, y_pred, metrics):
    """Metrics with each group left out in turn, in blocks (n_groups^2 weights at most)."""
    parts = []
    for start in range(0, n_groups, _JACKKNIFE_BLOCK):
        left_out = np.arange(start, min(start + _JACKKNIFE_BLOCK, n_groups))
        block = (np.arange(n_groups)[None, :] != left_out[:, None]).astype(float)
        parts.append(_evaluate(block, codes, y, scores, y_pred, metrics))
    return {m: np.concatenate([p[m] for p in parts]) for m in metrics}


def bootstrap_metrics(
    y_true,
    *,
    scores=None,
    y_pred=None,
    groups=None,
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    method="bca",
    confidence_level=0.95,
    random_state=None,
):
    """Bootstrap confidence intervals of binary metrics, resampling patients.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels (1 = positive, e.g. tumour).
    scores : array-like of shape (n_samples,) or (n_candidates, n_samples), default=None
        Continuous scores (needed by ``roc_auc`` and the other ranking metrics).
    y_pred : array-like of shape (n_samples,) or (n_candidates, n_samples), default=None
        Predicted 0/1 labels (needed by the study's five metrics).
    groups : array-like of shape (n_samples,), default=None
        Patient of each sample: patients are resampled and all their samples
        follow. ``None`` resamples samples.
    metrics : sequence of str, default=DEFAULT_METRICS
        Metric names understood by :func:`~skbreastcad.evaluation.parse_metric`.
    n_boot : int, default=2000
        Number of resamples.
    method : {"bca", "percentile"}, default="bca"
        Bias-corrected and accelerated interval, or the plain percentile one.
    confidence_level : float, default=0.95
        Coverage of the two-sided intervals, in (0, 1).
    random_state : int, Generator or None, default=None
        Seeds the resampling (see :func:`bootstrap_counts`); pass an int for
        reproducible intervals.

    Returns
    -------
    result : BootstrapResult
        Estimates, intervals and the bootstrap distribution of every metric,
        one column per candidate; degenerate cases in ``result.flags``.

    Warns
    -----
    DegenerateResultWarning
        With one patient, fewer than 100 resamples, or an interval that
        excludes its estimate (also recorded in ``result.flags``).

    See Also
    --------
    confidence_interval : The interval of one bootstrap distribution.
    paired_bootstrap_test : The difference of a metric between two candidates.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> s = y + rng.normal(size=200)
    >>> res = bootstrap_metrics(y, scores=s, metrics=["roc_auc"], n_boot=500, random_state=0)
    >>> bool(res.ci_low["roc_auc"][0] < res.estimate["roc_auc"][0] < res.ci_high["roc_auc"][0])
    True
    """
    n_boot = _check_n_boot(n_boot)
    confidence_level = _check_level(confidence_level)
    if method not in ("bca", "percentile"):
        raise ValueError(f"method must be 'bca' or 'percentile'; got {method!r}.")
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D; got shape {y.shape}.")
    if len(y) == 0:
        raise ValueError("y_true is empty.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(
            f"y_true must hold binary 0/1 labels; got values {np.unique(y)[:10].tolist()}."
        )
    n = len(y)

    def as_2d(a, name):
        if a is None:
            return None
        a = np.asarray(a, dtype=float)
        a = a[None, :] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[1] != n:
            raise ValueError(f"{name} must have {n} entries per candidate; got shape {a.shape}.")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contain NaN or infinite values.")
        return a

    scores, y_pred = as_2d(scores, "scores"), as_2d(y_pred, "y_pred")
    if y_pred is not None and not np.isin(y_pred, (0, 1)).all():
        raise ValueError("y_pred must hold binary 0/1 labels.")
    check_candidates(scores, y_pred)
    codes, n_groups = _group_codes(check_groups(groups, n), n)
    # validates every name before any resampling work
    weighted_metrics(np.ones((1, n)), y, scores=scores, y_pred=y_pred, metrics=metrics)
    metrics = list(metrics)

    counts, n_redrawn = bootstrap_counts(codes, n_groups, n_boot, y=y, random_state=random_state)
    ones = np.ones((1, n))
    full = weighted_metrics(ones, y, scores=scores, y_pred=y_pred, metrics=metrics)
    estimate = {m: full[m][0] for m in metrics}
    distribution = _evaluate(counts, codes, y, scores, y_pred, metrics)
    jackknife = None
    if method == "bca":
        jackknife = _evaluate_jackknife(codes, n_groups, y, scores, y_pred, metrics)
    ci_low, ci_high = {}, {}
    for m in metrics:
        ci_low[m], ci_high[m] = confidence_interval(
            distribution[m],
            estimate[m],
            method=method,
            confidence_level=confidence_level,
            jackknife=None if jackknife is None else jackknife[m],
        )
    result = BootstrapResult(
        metrics=metrics,
        estimate=estimate,
        ci_low=ci_low,
        ci_high=ci_high,
        distribution=distribution,
        n_boot=n_boot,
        n_redrawn=n_redrawn,
        n_groups=n_groups,
        method=method,
        confidence_level=confidence_level,
    )
    result.flags = bootstrap_flags(result, stacklevel=2)
    return result
