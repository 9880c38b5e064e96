"""Checks shared by the evaluation modules: bootstrap settings, patient groups, the
options of a report and the frame of out-of-fold predictions."""

from numbers import Integral, Real

import numpy as np

from ._metrics import parse_metric
from ._predictions import PREDICTION_COLUMNS
from ._thresholds import check_threshold_policy


def _check_n_boot(n_boot):
    if isinstance(n_boot, bool) or not isinstance(n_boot, Integral) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1; got {n_boot!r}.")
    return int(n_boot)


def _check_level(confidence_level):
    if not isinstance(confidence_level, Real) or not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1); got {confidence_level!r}.")
    return float(confidence_level)


def _group_codes(groups, n_samples):
    """Integer code per sample (0..n_groups-1); each sample is its own group if None."""
    if groups is None:
        return np.arange(n_samples), n_samples
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_samples:
        raise ValueError(
            f"groups must have one entry per sample: expected shape ({n_samples},), got {groups.shape}."
        )
    _, codes = np.unique(groups, return_inverse=True)
    codes = codes.ravel()
    return codes, int(codes.max()) + 1


def _aligned(predictions):
    """Per-candidate arrays over the same samples, after checking the frame."""
    import pandas as pd

    missing = [
        c
        for c in ("sample", "fold", "candidate", "y_true", "score", "y_pred")
        if c not in predictions
    ]
    if missing:
        raise ValueError(
            f"predictions lack the columns {missing}; expected {list(PREDICTION_COLUMNS)}."
        )
    if len(predictions) == 0:
        raise ValueError("predictions are empty.")
    if isinstance(predictions["candidate"].dtype, pd.CategoricalDtype):
        candidates = [str(c) for c in predictions["candidate"].cat.categories]
    else:
        candidates = [str(c) for c in pd.unique(predictions["candidate"])]
    frame = predictions.assign(candidate=predictions["candidate"].astype(str))
    samples = np.unique(frame["sample"].to_numpy())
    by_candidate = {}
    for candidate in candidates:
        rows = frame[frame["candidate"] == candidate]
        if len(rows) == 0:
            raise ValueError(f"Candidate {candidate!r} has no predictions.")
        rows = rows.sort_values("sample")
        if rows["sample"].duplicated().any():
            raise ValueError(f"Candidate {candidate!r} has several predictions for one sample.")
        lacking = len(samples) - len(rows)
        if lacking:
            raise ValueError(
                f"Candidate {candidate!r} has no predictions for {lacking} of the {len(samples)} samples; "
                "paired comparison needs every candidate scored on the same samples."
            )
        if rows[["score", "y_pred"]].isna().any().any():
            raise ValueError(
                f"Candidate {candidate!r} has missing (NaN) scores or predicted labels."
            )
        by_candidate[candidate] = rows
    first = by_candidate[candidates[0]]
    y = first["y_true"].to_numpy()
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold binary 0/1 labels; got {np.unique(y)[:10].tolist()}.")
    for candidate, rows in by_candidate.items():
        if not np.array_equal(rows["y_true"].to_numpy(), y):
            raise ValueError(
                f"Candidate {candidate!r} disagrees with the others on the true labels."
            )
    groups = first["group"].to_numpy() if "group" in first else first["sample"].to_numpy()
    return {
        "candidates": candidates,
        "sample": first["sample"].to_numpy(),
        "y": y.astype(int),
        "groups": groups,
        "fold": first["fold"].to_numpy(),
        "folds": {c: rows["fold"].to_numpy() for c, rows in by_candidate.items()},
        "scores": np.vstack([by_candidate[c]["score"].to_numpy(dtype=float) for c in candidates]),
        "y_pred": np.vstack([by_candidate[c]["y_pred"].to_numpy(dtype=float) for c in candidates]),
    }


def _check_options(threshold, metrics, n_boot, ci_method, confidence_level, compare_metric):
    check_threshold_policy(threshold)
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric.")
    for m in metrics:
        parse_metric(m)
    _check_n_boot(n_boot)
    if ci_method not in ("bca", "percentile"):
        raise ValueError(f"ci_method must be 'bca' or 'percentile'; got {ci_method!r}.")
    _check_level(confidence_level)
    if compare_metric is not None and compare_metric not in metrics:
        raise ValueError(f"compare_metric {compare_metric!r} is not one of the metrics {metrics}.")
    return metrics
