"""The Report every experiment returns, and the functions that build it."""

import base64
import hashlib
import html
import json
import os
import platform
import shutil
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ._bootstrap import (
    _check_level,
    _check_n_boot,
    _group_codes,
    bootstrap_counts,
    bootstrap_metrics,
)
from ._checks import check_evaluate_input, check_table_options, prediction_flags
from ._comparison import bootstrap_pvalue, delong_test, holm_correction, mcnemar_test
from ._metrics import DEFAULT_METRICS, _score_bins, parse_metric, weighted_metrics
from ._predictions import PREDICTION_COLUMNS, cross_val_predictions
from ._thresholds import apply_threshold_policy, check_threshold_policy

__all__ = ["Report", "evaluate", "evaluate_predictions"]

_RESULT_COLUMNS = ("candidate", "metric", "estimate", "ci_low", "ci_high", "mean", "sd", "per_fold")


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in (
        "skbreastcad",
        "numpy",
        "scipy",
        "scikit-learn",
        "imbalanced-learn",
        "pandas",
        "matplotlib",
        "joblib",
        "torch",
        "skorch",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def data_fingerprint(*arrays):
    """SHA-256 of arrays' shapes, dtypes and bytes: equal fingerprints, equal data.

    Parameters
    ----------
    *arrays : array-like or None
        The data to fingerprint, in order; None is hashed as a marker.

    Returns
    -------
    fingerprint : str
        Hex digest.

    Examples
    --------
    >>> data_fingerprint([1, 2, 3]) == data_fingerprint(np.array([1, 2, 3]))
    True
    """
    digest = hashlib.sha256()
    for a in arrays:
        if a is None:
            digest.update(b"None")
            continue
        a = np.ascontiguousarray(np.asarray(a))
        if a.dtype == object:
            digest.update(repr(a.tolist()).encode())
        else:
            digest.update(f"{a.shape}{a.dtype.str}".encode())
            digest.update(a.tobytes())
    return digest.hexdigest()


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


class Report:
    """Everything an evaluation produced: results with CIs, predictions, configuration, timings.

    Built by :func:`evaluate` or :func:`evaluate_predictions`; every experiment of
    :mod:`skbreastcad.experiments` returns one. Every parameter is stored as an
    attribute of the same name.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy: one row per candidate and metric with ``estimate`` (on the pooled
        out-of-fold predictions), ``ci_low``/``ci_high`` (bootstrap interval of
        the estimate), ``mean``/``sd`` over folds and ``per_fold`` values.
    comparisons : pandas.DataFrame
        Every candidate against the reference (the best by ``compare_metric``):
        ``test`` (paired bootstrap, DeLong or McNemar), ``difference`` (reference
        minus candidate), its CI, ``pvalue`` and ``pvalue_holm`` (Holm-adjusted
        within each metric and test).
    predictions : pandas.DataFrame
        Out-of-fold predictions, ``y_pred`` at the chosen threshold policy.
    thresholds : pandas.DataFrame
        Threshold used for each candidate and fold.
    config : dict
        Parameters, seeds, package versions and a fingerprint of the data.
    timings : dict of str to float
        Seconds spent in each stage.
    reference : str
        The candidate others are compared with.
    search : CrossValPredictions or None, default=None
        The candidate x fold run (``cv_results_``, ``best_estimator_``...).
    title : str, default="Evaluation report"
        Heading of the saved report.

    Attributes
    ----------
    candidates : list of str
        Candidate labels, in order.
    metrics : list of str
        Metric names, in order.

    See Also
    --------
    evaluate : Cross-validate an estimator or a search and build its report.
    evaluate_predictions : Build a report from out-of-fold predictions.

    Examples
    --------
    >>> import pandas as pd
    >>> y = np.tile([0, 1], 10)
    >>> score = y + np.linspace(-0.6, 0.6, 20)
    >>> predictions = pd.DataFrame({"sample": np.arange(20), "fold": np.arange(20) % 2,
    ...                             "candidate": "model", "y_true": y, "score": score,
    ...                             "y_pred": (score > 0.5).astype(int)})
    >>> report = evaluate_predictions(predictions, metrics=["roc_auc", "f1"], n_boot=100)
    >>> report.candidates, report.metrics
    (['model'], ['roc_auc', 'f1'])
    >>> report.results.columns.tolist()
    ['candidate', 'metric', 'estimate', 'ci_low', 'ci_high', 'mean', 'sd', 'per_fold']
    """

    def __init__(
        self,
        *,
        results,
        comparisons,
        predictions,
        thresholds,
        config,
        timings,
        reference,
        search=None,
        title="Evaluation report",
    ):
        self.results = results
        self.comparisons = comparisons
        self.predictions = predictions
        self.thresholds = thresholds
        self.config = config
        self.timings = timings
        self.reference = reference
        self.search = search
        self.title = title

    @property
    def candidates(self):
        """Candidate labels, in order."""
        import pandas as pd

        return [str(c) for c in pd.unique(self.results["candidate"])]

    @property
    def metrics(self):
        """Metric names, in order."""
        import pandas as pd

        return list(pd.unique(self.results["metric"]))

    def __repr__(self):
        return (
            f"Report({len(self.candidates)} candidates, {len(self.metrics)} metrics, "
            f"{self.config.get('n_boot')} bootstrap resamples of {self.config.get('resampled_units')})"
        )

    def table(self, metrics=None):
        """Wide table: one row per candidate; per metric its estimate, CI, fold mean and sd.

        Parameters
        ----------
        metrics : sequence of str, default=None
            All of the report's metrics by default.

        Returns
        -------
        table : pandas.DataFrame
            Columns ``m``, ``m_ci_low``, ``m_ci_high``, ``m_mean``, ``m_sd`` for each
            metric ``m``, indexed by candidate.
        """
        return results_table(self.results, metrics)

    def format_table(self, metrics=None, *, digits=3):
        """Format the results as text: ``estimate [ci_low, ci_high]`` per candidate and metric.

        Parameters
        ----------
        metrics : sequence of str, default=None
            Columns of the table, in order; all of the report's metrics by default.
        digits : int, default=3
            Decimals of the estimates; the bounds get one fewer.

        Returns
        -------
        text : str
            A fixed-width table, one line per candidate under a header line.
        """
        return format_results(self.results, metrics, digits=digits)

    # ------------------------------------------------------------------ saving
    def _figures(self, folder):
        """Write every figure into ``folder``; return ``{file name: caption}``."""
        from sklearn.calibration import calibration_curve
        from sklearn.metrics import confusion_matrix, roc_curve

        from ..plotting import (
            plot_calibration_curves,
            plot_confusion_matrices,
            plot_metric_bars,
            plot_roc_curves,
        )

        data = _aligned(self.predictions)
        figures = {}
        plot_metric_bars(self.results, path=folder / "metrics.png")
        ci = f"{self.config['confidence_level']:.0%} {_method_name(self.config['ci_method'])} bootstrap CIs"
        figures["metrics.png"] = f"Metrics per candidate with {ci} as error bars."
        codes, n_groups = _group_codes(data["groups"], len(data["y"]))
        grid = np.linspace(0, 1, 101)
        curves = {}
        auc = self.results[self.results["metric"] == "roc_auc"].set_index("candidate")
        n_band = min(int(self.config["n_boot"]), 500)
        for c, candidate in enumerate(data["candidates"]):
            fpr, tpr, _ = roc_curve(data["y"], data["scores"][c])
            low, high = _roc_band(
                data["y"].astype(float),
                data["scores"][c],
                codes,
                n_groups,
                n_band,
                self.config["random_state"],
                grid,
            )
            curve = {"fpr": fpr, "tpr": tpr, "grid": grid, "low": low, "high": high}
            if candidate in auc.index:
                row = auc.loc[candidate]
                curve.update(auc=row["estimate"], auc_low=row["ci_low"], auc_high=row["ci_high"])
            curves[candidate] = curve
        plot_roc_curves(curves, path=folder / "roc.png")
        figures["roc.png"] = (
            f"Pooled out-of-fold ROC curves; shaded: pointwise 95% band of sensitivity over {n_band} "
            f"bootstrap resamples of {self.config['resampled_units']}."
        )
        matrices, titles = {}, {}
        thresholds = self.thresholds.assign(candidate=self.thresholds["candidate"].astype(str))
        for c, candidate in enumerate(data["candidates"]):
            matrices[candidate] = confusion_matrix(
                data["y"], data["y_pred"][c].astype(int), labels=[0, 1]
            )
            t = thresholds.loc[thresholds["candidate"] == candidate, "threshold"].to_numpy(
                dtype=float
            )
            titles[candidate] = (
                "estimator's predict"
                if np.isnan(t).all()
                else (
                    f"threshold {np.nanmin(t):.3g}"
                    + (f" to {np.nanmax(t):.3g} over folds" if np.nanmax(t) > np.nanmin(t) else "")
                )
            )
        plot_confusion_matrices(matrices, titles=titles, path=folder / "confusion.png")
        figures["confusion.png"] = (
            f"Confusion matrices of the pooled out-of-fold predictions at the threshold policy "
            f"{self.config['threshold']!r} (chosen per fold on the other folds)."
        )
        scores = data["scores"]
        if scores.min() >= 0 and scores.max() <= 1:
            cal = {}
            for c, candidate in enumerate(data["candidates"]):
                fraction, mean_predicted = calibration_curve(
                    data["y"], scores[c], n_bins=10, strategy="quantile"
                )
                cal[candidate] = (mean_predicted, fraction)
            plot_calibration_curves(cal, path=folder / "calibration.png")
            figures["calibration.png"] = (
                "Calibration of the out-of-fold probabilities (10 quantile bins)."
            )
        return figures

    def to_dict(self):
        """Return results, comparisons, thresholds, configuration and timings as JSON-ready data.

        Returns
        -------
        data : dict
            ``title``, ``reference``, ``results``, ``comparisons`` and
            ``thresholds`` (each a list of row records), ``config`` and
            ``timings``; what ``results.json`` of :meth:`save` holds.
        """

        def records(frame):
            return json.loads(frame.to_json(orient="records"))

        return {
            "title": self.title,
            "reference": self.reference,
            "results": records(self.results),
            "comparisons": records(self.comparisons),
            "thresholds": records(
                self.thresholds.assign(candidate=self.thresholds["candidate"].astype(str))
            ),
            "config": self.config,
            "timings": self.timings,
        }

    def _markdown(self, figures):
        intro = (
            "Estimate on the pooled out-of-fold predictions, with its "
            f"{self.config['confidence_level']:.0%} {_method_name(self.config['ci_method'])} "
            f"bootstrap interval (resampling {self.config['resampled_units']})."
        )
        lines = [
            f"# {self.title}",
            "",
            self._summary(),
            "",
            "## Results",
            "",
            intro,
            "",
            "```",
            self.format_table(),
            "```",
            "",
            "## Paired comparisons",
            "",
            f"Reference: **{self.reference}**.",
            "",
            _frame_markdown(self.comparisons),
            "",
        ]
        lines += ["## Figures", ""]
        for name, caption in figures.items():
            lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
        lines += [
            "## Configuration",
            "",
            "```json",
            json.dumps(self.config, indent=2, default=str),
            "```",
            "",
            "## Timings (s)",
            "",
            "```json",
            json.dumps(self.timings, indent=2),
            "```",
            "",
        ]
        return "\n".join(lines)

    def _summary(self):
        c = self.config
        if c.get("resampled_units") == "samples":
            units = f"{c.get('n_samples')} samples (no patient groups: intervals resample samples)"
        else:
            units = f"{c.get('n_samples')} samples from {c.get('n_groups')} patients (intervals resample patients)"
        return (
            f"{units}, {c.get('n_positive')} positive; {c.get('n_folds')} folds; "
            f"{len(self.candidates)} candidates; "
            f"threshold policy {c.get('threshold')!r}; {c.get('n_boot')} bootstrap resamples "
            f"({c.get('n_redrawn')} redrawn because they held one class only); seed {c.get('random_state')}."
        )

    def _html(self, folder, figures):
        style = (
            "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
            "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}"
            ".wide{overflow-x:auto}"
            "th{background:#f0f0f0}img{max-width:100%;border:1px solid #eee}"
            "pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}"
        )
        results_intro = (
            f"<p>Estimate on the pooled out-of-fold predictions [{self.config['confidence_level']:.0%} "
            f"{_method_name(self.config['ci_method'])} bootstrap interval, resampling "
            f"{html.escape(str(self.config['resampled_units']))}].</p>"
        )
        comparisons_intro = (
            f"<p>Every candidate against the reference, <b>{html.escape(self.reference)}</b> (the best "
            f"by {html.escape(str(self.config.get('compare_metric')))}): difference reference minus "
            "candidate; p-values Holm-adjusted within each metric and test.</p>"
        )
        parts = [
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
            f"<style>{style}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
            f"<p>{html.escape(self._summary())}</p>",
            "<h2>Results</h2>",
            results_intro,
            f"<div class='wide'>{_ci_html_table(self.results)}</div>",
            "<h2>Paired comparisons</h2>",
            comparisons_intro,
            "<div class='wide'>"
            + self.comparisons.to_html(index=False, float_format=lambda v: f"{v:.4g}")
            + "</div>",
            "<h2>Figures</h2>",
        ]
        for name, caption in figures.items():
            data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
            parts.append(
                f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        parts += [
            "<h2>Configuration</h2>",
            f"<pre>{html.escape(json.dumps(self.config, indent=2, default=str))}</pre>",
            "<h2>Timings (s)</h2>",
            f"<pre>{html.escape(json.dumps(self.timings, indent=2))}</pre>",
            "</body></html>",
        ]
        return "\n".join(parts)

    def save(self, folder):
        """Write the report folder, atomically.

        Writes ``report.md``, a self-contained ``report.html`` (figures embedded),
        ``results.csv``, ``results.json``, ``comparisons.csv``, ``predictions.csv``
        and the figures (``metrics.png``, ``roc.png``, ``confusion.png``,
        ``calibration.png`` when scores are probabilities). Everything goes to a
        temporary sibling folder renamed to ``folder`` at the end, so an
        interrupted run leaves no folder that looks complete; an existing
        ``folder`` is replaced.

        Parameters
        ----------
        folder : str or path-like
            The report folder to write; its parent folders are created.

        Returns
        -------
        folder : pathlib.Path
            The written folder.
        """
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            figures = self._figures(tmp)
            results = self.results.assign(per_fold=self.results["per_fold"].map(json.dumps))
            results.to_csv(tmp / "results.csv", index=False)
            self.comparisons.to_csv(tmp / "comparisons.csv", index=False)
            self.predictions.to_csv(tmp / "predictions.csv", index=False)
            (tmp / "results.json").write_text(json.dumps(self.to_dict(), indent=2, default=str))
            (tmp / "report.md").write_text(self._markdown(figures))
            (tmp / "report.html").write_text(self._html(tmp, figures))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if folder.exists():
            # a directory cannot be os.replace'd over a non-empty one: move the old one aside first
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
        return folder


def _method_name(method):
    return {"bca": "BCa", "percentile": "percentile"}.get(method, str(method))


def _frame_markdown(frame):
    if len(frame) == 0:
        return "(none)"
    cols = list(frame.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        out.append(
            "| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |"
        )
    return "\n".join(out)


def _ci_html_table(results):
    import pandas as pd

    metrics = list(pd.unique(results["metric"]))
    frame = results.set_index(["candidate", "metric"])
    head = (
        "<tr><th>candidate</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + "</tr>"
    )
    rows = []
    for candidate in pd.unique(results["candidate"]):
        cells = []
        for m in metrics:
            r = frame.loc[(candidate, m)]
            cells.append(f"<td>{r['estimate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]</td>")
        rows.append(f"<tr><th>{html.escape(str(candidate))}</th>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def results_table(results, metrics=None):
    """Wide table of tidy results (see :meth:`Report.table`)."""
    import pandas as pd

    if metrics is None:
        metrics = list(pd.unique(results["metric"]))
    out = {}
    for m in metrics:
        rows = results[results["metric"] == m].set_index("candidate")
        if len(rows) == 0:
            raise ValueError(
                f"No results for metric {m!r}; the report has {list(pd.unique(results['metric']))}."
            )
        out[m] = rows["estimate"]
        out[f"{m}_ci_low"] = rows["ci_low"]
        out[f"{m}_ci_high"] = rows["ci_high"]
        out[f"{m}_mean"] = rows["mean"]
        out[f"{m}_sd"] = rows["sd"]
    table = pd.DataFrame(out)
    table.index.name = "candidate"
    return table.loc[list(pd.unique(results["candidate"]))]


def format_results(results, metrics=None, *, digits=3):
    """Text table of tidy results: ``estimate [ci_low, ci_high]``."""
    import pandas as pd

    check_table_options(metrics, pd.unique(results["metric"]), digits)
    if metrics is None:
        metrics = list(pd.unique(results["metric"]))
    frame = results.set_index(["candidate", "metric"])
    labels = [
        " / ".join(map(str, c)) if isinstance(c, tuple) else str(c)
        for c in pd.unique(results["candidate"])
    ]
    cells = {}
    for label, candidate in zip(labels, pd.unique(results["candidate"])):
        for m in metrics:
            r = frame.loc[(candidate, m)]
            cells[label, m] = (
                f"{r['estimate']:.{digits}f} [{r['ci_low']:.{digits - 1}f}, {r['ci_high']:.{digits - 1}f}]"
            )
    width = max(len(v) for v in cells.values())
    name_width = max(10, *(len(label) for label in labels)) + 2
    headers = [
        m if len(m) <= width else m.replace("sensitivity", "sens").replace("specificity", "spec")
        for m in metrics
    ]
    col = max(width, *(len(h) for h in headers)) + 2
    lines = [f"{'candidate':<{name_width}}" + "".join(f"{h:>{col}}" for h in headers)]
    lines.append("-" * len(lines[0]))
    for label in labels:
        lines.append(
            f"{label:<{name_width}}" + "".join(f"{cells[label, m]:>{col}}" for m in metrics)
        )
    return "\n".join(lines)


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
    if reference is None and compare_metric is not None:
        reference = candidates[int(np.argmax(boot.estimate[compare_metric]))]
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
