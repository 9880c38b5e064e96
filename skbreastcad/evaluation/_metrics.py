"""Binary metrics under many weightings at once: the engine behind every interval.

A bootstrap resample, a jackknife leave-one-out set and the original data are all
the same thing here: a vector of non-negative weights, one per sample (how often
the sample is in the set). Stacking them as rows of a matrix ``W`` turns every
count a metric needs into a matrix product (``W @ is_true_positive``) and every
rank-based metric into cumulative sums over samples sorted once by score, so
thousands of resamples cost a few BLAS calls instead of a Python loop.
"""

import re

import numpy as np

__all__ = ["DEFAULT_METRICS", "THRESHOLD_METRICS", "parse_metric", "weighted_metrics"]

#: Metrics computed from predicted labels at a threshold (the study's Eqs. 1-5).
THRESHOLD_METRICS = ("accuracy", "precision", "sensitivity", "specificity", "f1")
#: Metrics computed from the continuous scores, free of any threshold.
RANKING_METRICS = ("roc_auc", "average_precision")

#: What a report shows unless told otherwise.
DEFAULT_METRICS = (
    *THRESHOLD_METRICS,
    "roc_auc",
    "average_precision",
    "sensitivity@specificity=0.9",
    "specificity@sensitivity=0.9",
)

_AT = re.compile(r"^(sensitivity|specificity)@(specificity|sensitivity)=([0-9.eE+-]+)$")

# Rows of W handled at once: bounds memory at about _CHUNK * n_samples * 8 bytes per array.
_CHUNK = 256


def parse_metric(name):
    """Split a metric name into its kind and its fixed operating point.

    Parameters
    ----------
    name : str
        One of :data:`THRESHOLD_METRICS`, ``"roc_auc"``, ``"average_precision"``,
        ``"sensitivity@specificity=S"`` or ``"specificity@sensitivity=S"`` with
        ``0 < S < 1``.

    Returns
    -------
    kind : str
        ``"threshold"``, ``"ranking"``, ``"sens_at_spec"`` or ``"spec_at_sens"``.
    level : float or None
        The fixed specificity or sensitivity of the last two kinds.

    Examples
    --------
    >>> parse_metric("sensitivity@specificity=0.95")
    ('sens_at_spec', 0.95)
    """
    if not isinstance(name, str):
        raise TypeError(f"A metric name must be a string; got {name!r}.")
    if name in THRESHOLD_METRICS:
        return "threshold", None
    if name in RANKING_METRICS:
        return "ranking", None
    match = _AT.match(name)
    if match and match.group(1) != match.group(2):
        try:
            level = float(match.group(3))
        except ValueError:
            level = np.nan
        if not 0 < level < 1:
            raise ValueError(
                f"The fixed {match.group(2)} of metric {name!r} must lie in (0, 1); got {match.group(3)}."
            )
        return ("sens_at_spec" if match.group(1) == "sensitivity" else "spec_at_sens"), level
    raise ValueError(
        f"Unknown metric {name!r}; valid names are {list(THRESHOLD_METRICS + RANKING_METRICS)} "
        "and 'sensitivity@specificity=S' / 'specificity@sensitivity=S' with 0 < S < 1."
    )


def _divide(num, den):
    # zero_division=0, as scikit-learn's precision/recall/f1 use in cad_report
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _threshold_metrics(W, y, y_pred, names):
    """Confusion counts for every (weighting, candidate) pair by matrix products."""
    pos = W @ y  # (B,)
    neg = W.sum(axis=1) - pos
    tp = W @ (y[:, None] * y_pred.T)  # (B, C)
    fp = W @ ((1.0 - y)[:, None] * y_pred.T)
    fn = pos[:, None] - tp
    tn = neg[:, None] - fp
    out = {}
    for name in names:
        if name == "accuracy":
            out[name] = _divide(tp + tn, (pos + neg)[:, None])
        elif name == "precision":
            out[name] = _divide(tp, tp + fp)
        elif name == "sensitivity":
            out[name] = _divide(tp, np.broadcast_to(pos[:, None], tp.shape))
        elif name == "specificity":
            out[name] = _divide(tn, np.broadcast_to(neg[:, None], tn.shape))
        elif name == "f1":
            out[name] = _divide(2 * tp, 2 * tp + fp + fn)
    return out


def _ranking_metrics(W, y, score, specs):
    """Rank-based metrics of one candidate for every weighting (row of ``W``).

    Samples are sorted once by decreasing score; tied scores form one bin, so
    ties count one half in the AUC exactly as in the Mann-Whitney statistic and
    in scikit-learn's ``roc_auc_score``.
    """
    order = np.argsort(-score, kind="stable")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    Ws = W[:, order]
    ys = y[order]
    P_bin = np.add.reduceat(Ws * ys, starts, axis=1)  # (B, U) positives per distinct score
    N_bin = np.add.reduceat(Ws * (1.0 - ys), starts, axis=1)
    tps = np.cumsum(P_bin, axis=1)
    fps = np.cumsum(N_bin, axis=1)
    P = tps[:, -1:]
    N = fps[:, -1:]
    tpr = _divide(tps, P)
    fpr = _divide(fps, N)
    out = {}
    for name, (kind, level) in specs.items():
        if name == "roc_auc":
            # each negative beats every positive above it, and half of those tied with it
            num = np.sum(N_bin * (tps - 0.5 * P_bin), axis=1)
            out[name] = _divide(num, (P * N)[:, 0])
        elif name == "average_precision":
            # scikit-learn's step-wise sum: recall increments times precision at each threshold
            precision = _divide(tps, tps + fps)
            out[name] = _divide(np.sum(P_bin * precision, axis=1), P[:, 0])
        elif kind == "sens_at_spec":
            # best sensitivity among thresholds whose specificity reaches the level;
            # the threshold above every score (sensitivity 0) always qualifies
            ok = fpr <= 1 - level + 1e-12
            out[name] = np.max(np.where(ok, tpr, 0.0), axis=1)
        elif kind == "spec_at_sens":
            ok = tpr >= level - 1e-12
            out[name] = np.max(np.where(ok, 1 - fpr, 0.0), axis=1)
    return out


def weighted_metrics(W, y, *, scores=None, y_pred=None, metrics=DEFAULT_METRICS):
    """Binary metrics of several candidates under every weighting in ``W``.

    Parameters
    ----------
    W : ndarray of shape (n_weightings, n_samples)
        Non-negative sample weights, one row per resample (bootstrap counts,
        jackknife indicators, or a row of ones for the data as they are).
    y : ndarray of shape (n_samples,)
        True labels as 0/1 (1 = positive).
    scores : ndarray of shape (n_candidates, n_samples), default=None
        Continuous scores, higher meaning more positive; needed by ranking metrics.
    y_pred : ndarray of shape (n_candidates, n_samples), default=None
        Predicted 0/1 labels; needed by threshold metrics.
    metrics : sequence of str, default=DEFAULT_METRICS
        Names understood by :func:`parse_metric`.

    Returns
    -------
    values : dict of str to ndarray of shape (n_weightings, n_candidates)
        Weighted metric values; a row of ones gives scikit-learn's value
        (``zero_division=0``), integer counts give the value on the data with
        each sample repeated that many times.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1])
    >>> W = np.array([[1, 1, 1, 1], [2, 0, 1, 1]])
    >>> out = weighted_metrics(W, y, scores=np.array([[0.1, 0.6, 0.4, 0.9]]), metrics=["roc_auc"])
    >>> out["roc_auc"][:, 0].tolist()
    [0.75, 1.0]
    """
    W = np.asarray(W, dtype=float)
    y = np.asarray(y, dtype=float)
    specs = {name: parse_metric(name) for name in metrics}
    threshold_names = [m for m, (kind, _) in specs.items() if kind == "threshold"]
    ranking_specs = {m: s for m, s in specs.items() if s[0] != "threshold"}
    if threshold_names and y_pred is None:
        raise ValueError(f"Metrics {threshold_names} need predicted labels (y_pred).")
    if ranking_specs and scores is None:
        raise ValueError(f"Metrics {list(ranking_specs)} need continuous scores.")
    n_candidates = len(y_pred if y_pred is not None else scores)
    out = {m: np.empty((len(W), n_candidates)) for m in specs}
    y_pred = None if y_pred is None else np.asarray(y_pred, dtype=float)
    scores = None if scores is None else np.asarray(scores, dtype=float)
    for start in range(0, len(W), _CHUNK):
        block = W[start : start + _CHUNK]
        rows = slice(start, start + len(block))
        if threshold_names:
            for name, values in _threshold_metrics(block, y, y_pred, threshold_names).items():
                out[name][rows] = values
        if ranking_specs:
            for c in range(n_candidates):
                for name, values in _ranking_metrics(block, y, scores[c], ranking_specs).items():
                    out[name][rows, c] = values
    return out
