"""The numbers behind a report's figures: ROC curves with bootstrap bands, confusion
matrices at the threshold policy and calibration bins. Drawing is
:mod:`skbreastcad.plotting`'s job; :mod:`._render` joins the two."""

import numpy as np

from ._bootstrap import bootstrap_counts
from ._metrics import _score_bins
from ._validation import _group_codes


def _roc_band(y, score, codes, n_groups, n_boot, random_state, grid):
    """Pointwise percentile band of sensitivity over a grid of false positive rates."""
    counts, _ = bootstrap_counts(codes, n_groups, n_boot, y=y, random_state=random_state)
    pos_inc, neg_inc = _score_bins(score, y, codes, n_groups)
    WT = np.ascontiguousarray(counts.T, dtype=float)
    tps = np.cumsum(pos_inc @ WT, axis=0).T  # (B, U)
    fps = np.cumsum(neg_inc @ WT, axis=0).T
    B = len(counts)
    tpr = np.hstack([np.zeros((B, 1)), tps / tps[:, -1:]])
    fpr = np.hstack([np.zeros((B, 1)), fps / fps[:, -1:]])
    # highest sensitivity at a false positive rate <= each grid point, all rows in one
    # searchsorted: rows are offset by 2 so that every row's values stay in their own range
    offset = 2.0 * np.arange(B)[:, None]
    idx = (
        np.searchsorted((fpr + offset).ravel(), (grid[None, :] + offset).ravel(), side="right") - 1
    )
    values = tpr.ravel()[idx].reshape(B, len(grid))
    return np.quantile(values, [0.025, 0.975], axis=0)


def roc_curves(results, data, *, n_boot, random_state, grid=None):
    """Pooled ROC curve of every candidate, with its band and its AUC interval.

    ``data`` is the aligned predictions (:func:`._validation._aligned`);
    ``results`` the report's tidy results, whose ``roc_auc`` rows (if any) go
    into the legend. Returns ``{candidate: dict}`` as
    :func:`skbreastcad.plotting.plot_roc_curves` takes it.
    """
    from sklearn.metrics import roc_curve

    grid = np.linspace(0, 1, 101) if grid is None else grid
    codes, n_groups = _group_codes(data["groups"], len(data["y"]))
    auc = results[results["metric"] == "roc_auc"].set_index("candidate")
    curves = {}
    for c, candidate in enumerate(data["candidates"]):
        fpr, tpr, _ = roc_curve(data["y"], data["scores"][c])
        low, high = _roc_band(
            data["y"].astype(float),
            data["scores"][c],
            codes,
            n_groups,
            n_boot,
            random_state,
            grid,
        )
        curve = {"fpr": fpr, "tpr": tpr, "grid": grid, "low": low, "high": high}
        if candidate in auc.index:
            row = auc.loc[candidate]
            curve.update(auc=row["estimate"], auc_low=row["ci_low"], auc_high=row["ci_high"])
        curves[candidate] = curve
    return curves


def confusion_matrices(thresholds, data):
    """Confusion matrix of every candidate's pooled predictions, and a title naming its threshold.

    Returns ``(matrices, titles)``, dicts by candidate, as
    :func:`skbreastcad.plotting.plot_confusion_matrices` takes them.
    """
    from sklearn.metrics import confusion_matrix

    matrices, titles = {}, {}
    thresholds = thresholds.assign(candidate=thresholds["candidate"].astype(str))
    for c, candidate in enumerate(data["candidates"]):
        matrices[candidate] = confusion_matrix(
            data["y"], data["y_pred"][c].astype(int), labels=[0, 1]
        )
        t = thresholds.loc[thresholds["candidate"] == candidate, "threshold"].to_numpy(dtype=float)
        titles[candidate] = (
            "estimator's predict"
            if np.isnan(t).all()
            else (
                f"threshold {np.nanmin(t):.3g}"
                + (f" to {np.nanmax(t):.3g} over folds" if np.nanmax(t) > np.nanmin(t) else "")
            )
        )
    return matrices, titles


def calibration_curves(data, n_bins=10):
    """Quantile-binned reliability curve of every candidate, or None when scores are not probabilities.

    Returns ``{candidate: (mean_predicted, fraction_positive)}`` as
    :func:`skbreastcad.plotting.plot_calibration_curves` takes it.
    """
    from sklearn.calibration import calibration_curve

    scores = data["scores"]
    if not (scores.min() >= 0 and scores.max() <= 1):
        return None
    curves = {}
    for c, candidate in enumerate(data["candidates"]):
        fraction, mean_predicted = calibration_curve(
            data["y"], scores[c], n_bins=n_bins, strategy="quantile"
        )
        curves[candidate] = (mean_predicted, fraction)
    return curves
