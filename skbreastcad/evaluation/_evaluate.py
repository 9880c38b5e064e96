"""From predictions to a report: metrics with bootstrap intervals, per-fold values and
paired comparisons (:func:`evaluate_predictions`), after cross-validation
(:func:`evaluate`)."""

import sys
import time

import numpy as np
from scipy.stats import norm

from ._bootstrap import bootstrap_metrics
from ._checks import check_evaluate_input, one_class_candidates, prediction_flags
from ._comparison import bootstrap_pvalue, delong_test, holm_correction, mcnemar_test
from ._metrics import DEFAULT_METRICS, parse_metric, weighted_metrics
from ._predictions import cross_val_predictions
from ._provenance import _versions, data_fingerprint
from ._report import Report
from ._thresholds import apply_threshold_policy
from ._validation import _aligned, _check_options

__all__ = ["evaluate", "evaluate_predictions"]

_RESULT_COLUMNS = ("candidate", "metric", "estimate", "ci_low", "ci_high", "mean", "sd", "per_fold")


def _per_fold(data, metrics):
    """Metric values of every fold (rows) and candidate (columns): fold indicators as weights."""
    fold = data["fold"]
    folds = np.unique(fold)
    W = (fold[None, :] == folds[:, None]).astype(float)
    out = weighted_metrics(
        W, data["y"], scores=data["scores"], y_pred=data["y_pred"], metrics=metrics
    )
    pos = W @ data["y"]
    neg = W.sum(axis=1) - pos
    for m in metrics:
        kind, _ = parse_metric(m)
        # a fold without positives (or negatives) has no value for these metrics
        undefined = (pos == 0) | (neg == 0) if kind != "threshold" else np.zeros(len(folds), bool)
        if m == "sensitivity":
            undefined = pos == 0
        elif m == "specificity":
            undefined = neg == 0
        out[m][undefined] = np.nan
    return folds, out


def evaluate_predictions(
    predictions,
    *,
    threshold="default",
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    ci_method="bca",
    confidence_level=0.95,
    compare_metric="roc_auc",
    reference=None,
    random_state=0,
    config=None,
    timings=None,
    search=None,
    title="Evaluation report",
):
    """Build a :class:`Report` from out-of-fold predictions.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Tidy predictions as :func:`cross_val_predictions` returns them:
        ``sample``, ``group``, ``fold``, ``candidate``, ``y_true`` (0/1),
        ``score``, ``y_pred`` (0/1). Every candidate must cover the same samples.
    threshold : "default", "youden", "specificity=S", "sensitivity=S" or float, default="default"
        Threshold policy, applied per fold with thresholds chosen on the other folds.
    metrics : sequence of str, default=DEFAULT_METRICS
        Metric names understood by :func:`~skbreastcad.evaluation.parse_metric`.
    n_boot : int, default=2000
        Bootstrap resamples (of groups when the predictions have them).
    ci_method : {"bca", "percentile"}, default="bca"
        Bootstrap interval: bias-corrected and accelerated, or percentile.
    confidence_level : float, default=0.95
        Coverage of the two-sided intervals, in (0, 1).
    compare_metric : str or None, default="roc_auc"
        Metric that picks the reference candidate (the best); ``None`` skips comparisons.
        A candidate that predicts one class for every sample is never picked
        while another candidate does not (it is flagged in the report's tables).
    reference : str, default=None
        Compare with this candidate instead of the best.
    random_state : int, default=0
        Seeds the bootstrap.
    config, timings : dict, default=None
        Merged into the report's configuration and timings.
    search : CrossValPredictions, default=None
        The run that made the predictions, kept as ``Report.search``.
    title : str, default="Evaluation report"
        Heading of the saved report.

    Returns
    -------
    report : Report
        Results with intervals, paired comparisons, the relabelled
        predictions, thresholds, configuration and timings.

    See Also
    --------
    evaluate : Cross-validate and build the report in one call.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile([0, 1], 20)
    >>> predictions = pd.concat([
    ...     pd.DataFrame({"sample": np.arange(40), "group": np.arange(40) // 2,
    ...                   "fold": np.arange(40) % 4, "candidate": name, "y_true": y,
    ...                   "score": y + rng.normal(scale=noise, size=40)})
    ...     for name, noise in [("sharp", 0.5), ("blurred", 2.0)]])
    >>> predictions["y_pred"] = (predictions["score"] > 0.5).astype(int)
    >>> report = evaluate_predictions(predictions, metrics=["roc_auc", "accuracy"], n_boot=100)
    >>> report.reference, report.candidates
    ('sharp', ['sharp', 'blurred'])
    >>> sorted(set(report.comparisons["test"]))
    ['DeLong', 'McNemar', 'paired bootstrap']
    """
    import pandas as pd

    metrics = _check_options(
        threshold, metrics, n_boot, ci_method, confidence_level, compare_metric
    )
    start = time.perf_counter()
    data = _aligned(predictions)
    if data["y"].all() or not data["y"].any():
        raise ValueError("The predictions hold one class only: binary metrics are undefined.")
    candidates = data["candidates"]
    if reference is not None and reference not in candidates:
        raise ValueError(f"reference {reference!r} is not one of the candidates {candidates}.")
    predictions, thresholds = apply_threshold_policy(predictions, threshold)
    data = _aligned(predictions)

    boot = bootstrap_metrics(
        data["y"],
        scores=data["scores"],
        y_pred=data["y_pred"],
        groups=data["groups"],
        metrics=metrics,
        n_boot=n_boot,
        method=ci_method,
        confidence_level=confidence_level,
        random_state=random_state,
    )
    flags = {**boot.flags, **prediction_flags(candidates, data["y_pred"], stacklevel=2)}
    folds, per_fold = _per_fold(data, metrics)
    rows = []
    for c, candidate in enumerate(candidates):
        for m in metrics:
            values = per_fold[m][:, c]
            finite = values[np.isfinite(values)]
            rows.append(
                {
                    "candidate": candidate,
                    "metric": m,
                    "estimate": float(boot.estimate[m][c]),
                    "ci_low": float(boot.ci_low[m][c]),
                    "ci_high": float(boot.ci_high[m][c]),
                    "mean": float(finite.mean()) if len(finite) else np.nan,
                    "sd": float(finite.std()) if len(finite) else np.nan,
                    "per_fold": [None if not np.isfinite(v) else float(v) for v in values],
                }
            )
    results = pd.DataFrame(rows, columns=list(_RESULT_COLUMNS))

    comparisons = pd.DataFrame(
        columns=[
            "candidate",
            "reference",
            "metric",
            "test",
            "difference",
            "ci_low",
            "ci_high",
            "pvalue",
            "pvalue_holm",
        ]
    )
    one_class = one_class_candidates(candidates, data["y_pred"])
    if reference is None and compare_metric is not None:
        # a model that answers one class for every sample is never the yardstick of the others
        usable = [c not in one_class for c in candidates]
        best = np.where(usable, boot.estimate[compare_metric], -np.inf) if any(usable) else None
        reference = candidates[
            int(np.argmax(boot.estimate[compare_metric] if best is None else best))
        ]
    if reference is None:
        reference = candidates[0]
    if compare_metric is not None and len(candidates) > 1:
        comparisons = _compare(data, boot, metrics, reference, confidence_level)
    bootstrap_s = time.perf_counter() - start

    config = {
        "threshold": threshold,
        "metrics": metrics,
        "n_boot": n_boot,
        "ci_method": ci_method,
        "confidence_level": confidence_level,
        "random_state": random_state,
        "compare_metric": compare_metric,
        "reference": reference,
        "n_samples": len(data["y"]),
        "n_positive": int(data["y"].sum()),
        "n_groups": int(boot.n_groups),
        "resampled_units": "patients (groups)" if boot.n_groups < len(data["y"]) else "samples",
        "n_folds": len(folds),
        "n_redrawn": int(boot.n_redrawn),
        "flags": flags,
        # flagged in every table of the report (see Report.format_table)
        "one_class_candidates": one_class,
        "candidates": candidates,
        "versions": _versions(),
        **(config or {}),
    }
    timings = {**(timings or {}), "bootstrap_s": bootstrap_s}
    return Report(
        results=results,
        comparisons=comparisons,
        predictions=predictions,
        thresholds=thresholds,
        config=config,
        timings=timings,
        reference=reference,
        search=search,
        title=title,
    )


def _compare(data, boot, metrics, reference, confidence_level):
    """Every candidate against the reference: paired bootstrap per metric, DeLong, McNemar."""
    import pandas as pd

    candidates = data["candidates"]
    r = candidates.index(reference)
    alpha = (1 - confidence_level) / 2
    rows = []
    for m in metrics:
        dist = boot.distribution[m]
        for c, candidate in enumerate(candidates):
            if c == r:
                continue
            # the resamples are shared by all candidates, so this is the paired bootstrap
            d = dist[:, r] - dist[:, c]
            low, high = np.quantile(d, [alpha, 1 - alpha])
            rows.append(
                {
                    "candidate": candidate,
                    "reference": reference,
                    "metric": m,
                    "test": "paired bootstrap",
                    "difference": float(boot.estimate[m][r] - boot.estimate[m][c]),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "pvalue": bootstrap_pvalue(d),
                }
            )
    others = [(c, candidate) for c, candidate in enumerate(candidates) if c != r]
    if "roc_auc" in metrics:
        z = float(norm.ppf(1 - alpha))
        for c, candidate in others:
            res = delong_test(data["y"], data["scores"][r], data["scores"][c])
            rows.append(
                {
                    "candidate": candidate,
                    "reference": reference,
                    "metric": "roc_auc",
                    "test": "DeLong",
                    "difference": res.difference,
                    "ci_low": res.difference - z * res.se,
                    "ci_high": res.difference + z * res.se,
                    "pvalue": res.pvalue,
                }
            )
    for c, candidate in others:
        res = mcnemar_test(data["y"], data["y_pred"][r], data["y_pred"][c])
        diff = float(
            np.mean(data["y_pred"][r] == data["y"]) - np.mean(data["y_pred"][c] == data["y"])
        )
        rows.append(
            {
                "candidate": candidate,
                "reference": reference,
                "metric": "accuracy",
                "test": "McNemar",
                "difference": diff,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "pvalue": res["pvalue"],
            }
        )
    frame = pd.DataFrame(rows)
    frame["pvalue_holm"] = np.nan
    for idx in frame.groupby(["metric", "test"], sort=False).groups.values():
        frame.loc[idx, "pvalue_holm"] = holm_correction(frame.loc[idx, "pvalue"].to_numpy())
    return frame


def evaluate(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=None,
    scoring=None,
    refit=None,
    candidate_names=None,
    pos_label=None,
    threshold="default",
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    ci_method="bca",
    confidence_level=0.95,
    compare_metric="roc_auc",
    random_state=0,
    n_jobs=None,
    verbose=0,
    fit_params=None,
    config=None,
    title="Evaluation report",
):
    """Cross-validate an estimator or every candidate of a search and report with CIs.

    One pass over candidates x folds (:func:`cross_val_predictions`) gives the
    search's results and the out-of-fold predictions; thresholds are chosen on
    training folds only; every metric gets a bootstrap interval that resamples
    patients when ``groups`` are given; every candidate is compared with the best.

    Parameters
    ----------
    estimator : estimator, GridSearchCV or RandomizedSearchCV
        A plain classifier is one candidate; a (not yet fitted) search gives its
        estimator, candidates, ``cv``, ``scoring``, ``refit`` and ``n_jobs``.
    X : array-like of shape (n_samples, ...)
        Images ``(n, H, W)``, rows, or anything the estimator accepts.
    y : array-like of shape (n_samples,)
        Binary labels.
    groups : array-like of shape (n_samples,), default=None
        Patient ids: they reach the splitter and are the bootstrap's units.
    cv : int, splitter or iterable, default=None
        Every sample must be in exactly one test fold; see
        :func:`cross_val_predictions`.
    scoring : str, callable, list or dict, default=None
        As in ``GridSearchCV``; ``None``: the search's, else the estimator's ``score``.
    refit : bool, str or callable, default=None
        As in ``GridSearchCV``; ``None``: the search's, else False.
    candidate_names : sequence of str, default=None
        Labels of the candidates; default labels are built from their parameters.
    pos_label : int or str, default=None
        The positive class; ``None`` takes the greater of the two labels.
    threshold : "default", "youden", "specificity=S", "sensitivity=S" or float, default="default"
        Threshold policy, applied per fold with thresholds chosen on the other
        folds; see :func:`check_threshold_policy`.
    metrics : sequence of str, default=DEFAULT_METRICS
        Metric names understood by :func:`~skbreastcad.evaluation.parse_metric`.
    n_boot : int, default=2000
        Bootstrap resamples (of patients when ``groups`` are given).
    ci_method : {"bca", "percentile"}, default="bca"
        Bootstrap interval: bias-corrected and accelerated, or percentile.
    confidence_level : float, default=0.95
        Coverage of the two-sided intervals, in (0, 1).
    compare_metric : str or None, default="roc_auc"
        Metric that picks the reference candidate (the best); ``None`` skips comparisons.
        A candidate that predicts one class for every sample is never picked
        while another candidate does not.
    random_state : int, default=0
        Seeds the bootstrap (the folds are seeded by ``cv``).
    n_jobs : int, default=None
        Parallel fits (joblib; ``parallel_config(backend="dask")`` runs them on Dask).
    verbose : int, default=0
        Timing of every fit when above 1; passed to joblib's ``Parallel``.
    fit_params : dict, default=None
        Passed to every ``fit``; per-sample arrays are sliced to the training fold.
    config : dict, default=None
        Extra entries for the report's configuration.
    title : str, default="Evaluation report"
        Heading of the saved report.

    Returns
    -------
    report : Report
        Results with intervals, paired comparisons, out-of-fold predictions,
        thresholds, configuration (with a fingerprint of the data) and timings;
        ``report.search`` holds the search's ``cv_results_``.

    See Also
    --------
    cross_val_predictions : The candidate x fold run alone.
    evaluate_predictions : The report from predictions made elsewhere.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = make_classification(120, random_state=0)
    >>> report = evaluate(GaussianNB(), X, y, cv=3, n_boot=200, metrics=["roc_auc", "f1"])
    >>> report.table().columns[:3].tolist()
    ['roc_auc', 'roc_auc_ci_low', 'roc_auc_ci_high']
    """
    metrics = _check_options(
        threshold, metrics, n_boot, ci_method, confidence_level, compare_metric
    )
    check_evaluate_input(estimator, X, y)
    y_arr = np.asarray(y)
    if groups is not None and np.shape(groups) != y_arr.shape:
        raise ValueError(
            f"groups must have shape {y_arr.shape}, one per sample; got {np.shape(groups)}."
        )
    start = time.perf_counter()
    search = cross_val_predictions(
        estimator,
        X,
        y,
        groups=groups,
        cv=cv,
        scoring=scoring,
        refit=refit,
        candidate_names=candidate_names,
        pos_label=pos_label,
        n_jobs=n_jobs,
        verbose=verbose,
        fit_params=fit_params,
    )
    cv_s = time.perf_counter() - start
    timings = {
        "cross_validation_s": cv_s,
        "mean_fit_time_s": dict(
            zip(search.candidates_, map(float, search.cv_results_["mean_fit_time"]))
        ),
    }
    if hasattr(search, "refit_time_"):
        timings["refit_s"] = search.refit_time_
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    run_config = {
        "estimator": repr(estimator),
        "parameters": {k: repr(v) for k, v in params.items()},
        "candidate_params": [
            {k: repr(v) for k, v in p.items()} for p in search.cv_results_["params"]
        ],
        "cv": repr(search.cv),
        "pos_label": repr(search.pos_label),
        "data_fingerprint": data_fingerprint(X, y, groups),
        "command": " ".join(sys.argv),
        **(config or {}),
    }
    report = evaluate_predictions(
        search.predictions,
        threshold=threshold,
        metrics=metrics,
        n_boot=n_boot,
        ci_method=ci_method,
        confidence_level=confidence_level,
        compare_metric=compare_metric,
        random_state=random_state,
        config=run_config,
        timings=timings,
        search=search,
        title=title,
    )
    report.timings["total_s"] = time.perf_counter() - start
    return report
