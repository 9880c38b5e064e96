"""The Report every experiment returns: results, comparisons, predictions, configuration
and timings in one container, and :meth:`Report.save`, which writes it atomically.

What a report looks like is :mod:`._render`'s job; how it is computed,
:mod:`._evaluate`'s.
"""

import json
from pathlib import Path

from ..utils._deprecation import deprecated_alias
from ..utils._output_folder import write_folder
from ._render import (
    format_text,
    html_page,
    markdown,
    one_class_labels,
    resampled_units,
    results_table,
    summary,
    write_figures,
)

__all__ = ["Report"]

# Bump when what a saved report folder holds changes (recorded in its marker file).
REPORT_VERSION = 1


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
        minus candidate, as ``comparisons.csv`` holds it; the saved report shows
        candidate minus reference), its CI, ``pvalue`` and ``pvalue_holm`` (Holm-adjusted
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
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skbreastcad.evaluation import evaluate_predictions
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
            f"{self.config.get('n_boot')} bootstrap resamples, resampling "
            f"{resampled_units(self.config)})"
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

        The one table formatter of the package: the saved reports, the
        command line and :meth:`from_results` tables of several runs all use it.
        A candidate that predicts one class ``k`` for every sample
        (``config["one_class_candidates"]``) is marked ``[always k]``, with a
        note under the table.

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

        Raises
        ------
        ValueError
            When a metric asked for is not in the report.
        """
        return format_text(
            self.results,
            metrics,
            digits=digits,
            one_class=one_class_labels(self.config.get("one_class_candidates")),
        )

    @classmethod
    def from_results(cls, results, *, title="Results"):
        """Build a report that holds results alone, for tables and bar charts.

        Parameters
        ----------
        results : Report or pandas.DataFrame
            A report (whose results are taken), tidy results (``candidate``,
            ``metric``, ``estimate``, ``ci_low``, ``ci_high``), a ``pd.concat``
            of several reports' results or tables with keys (their labels are
            joined with ``" / "``), or a wide table with ``m`` and
            ``m_ci_low``/``m_ci_high`` (or ``m_sd``) columns.
        title : str, default="Results"
            The report's title.

        Returns
        -------
        report : Report
            A report with these results and no predictions, comparisons or
            thresholds: :meth:`format_table` and :meth:`table` work, :meth:`save`
            does not.

        Examples
        --------
        >>> import pandas as pd
        >>> table = pd.DataFrame({"f1": [0.8, 0.7], "f1_sd": [0.05, 0.1]}, index=["gabor", "glcm"])
        >>> print(Report.from_results(table).format_table())
        candidate                     f1
        --------------------------------
        gabor         0.800 [0.75, 0.85]
        glcm          0.700 [0.60, 0.80]
        """
        import pandas as pd

        tidy = _tidy_results(results)
        empty = pd.DataFrame()
        # a report's one-class candidates stay marked in its tables
        flagged = getattr(results, "config", {}).get("one_class_candidates")
        return cls(
            results=tidy,
            comparisons=empty,
            predictions=empty,
            thresholds=empty,
            config={"one_class_candidates": flagged} if flagged else {},
            timings={},
            reference=None,
            title=title,
        )

    # ------------------------------------------------------------------ saving
    def _summary(self):
        return summary(self)

    def _figures(self, folder):
        """Write every figure into ``folder``; return ``{file name: caption}``."""
        return write_figures(self, folder)

    def _markdown(self, figures):
        return markdown(self, figures)

    def _html(self, folder, figures):
        return html_page(self, folder, figures)

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

    def save(self, folder, *, overwrite=True, protect=()):
        """Write the report folder, atomically.

        Writes ``report.md``, a self-contained ``report.html`` (figures embedded),
        ``results.csv``, ``results.json``, ``comparisons.csv``, ``predictions.csv``
        and the figures (``metrics.png``, ``roc.png``, ``confusion.png``,
        ``calibration.png`` when scores are probabilities, ``comparisons.png``
        with comparisons). Everything goes to a temporary sibling folder renamed
        to ``folder`` at the end, so an interrupted or failed save leaves
        nothing behind (see :func:`skbreastcad.utils.write_folder`).

        Parameters
        ----------
        folder : str or path-like
            The report folder to write; its parent folders are created. It may
            exist only as an empty folder or a report folder saved before.
        overwrite : bool, default=True
            Replace a report folder saved before (recognised by its marker
            file); False refuses it too. A folder or file that is not a saved
            report is never replaced.
        protect : sequence of str or path-like, default=()
            Paths that must survive, such as the input data: ``folder`` may
            not be, hold or lie inside one of them.

        Returns
        -------
        folder : pathlib.Path
            The written folder.

        Raises
        ------
        ValueError
            When ``folder`` is a regular file, the working directory or one of
            its parents, a folder that is not a saved report, or a saved
            report with ``overwrite=False`` (an
            :class:`~skbreastcad.utils.UnsafeOutputError`).
        """
        with write_folder(
            folder, kind="report", version=REPORT_VERSION, overwrite=overwrite, protect=protect
        ) as tmp:
            figures = self._figures(tmp)
            results = self.results.assign(per_fold=self.results["per_fold"].map(json.dumps))
            results.to_csv(tmp / "results.csv", index=False)
            self.comparisons.to_csv(tmp / "comparisons.csv", index=False)
            self.predictions.to_csv(tmp / "predictions.csv", index=False)
            (tmp / "results.json").write_text(json.dumps(self.to_dict(), indent=2, default=str))
            (tmp / "report.md").write_text(self._markdown(figures))
            (tmp / "report.html").write_text(self._html(tmp, figures))
        return Path(folder)


def _format_results(results, metrics=None, *, digits=3):
    """Text table of tidy results: ``estimate [ci_low, ci_high]``."""
    return Report.from_results(results).format_table(metrics, digits=digits)


format_results = deprecated_alias(
    Report.format_table,
    "skbreastcad.evaluation._report.format_results",
    since="0.1",
    removed_in="0.2",
    replacement="skbreastcad.evaluation.Report.format_table",
    adapter=_format_results,
)


def _tidy_results(report_or_table):
    """Tidy results from a Report, a Report's results, or a legacy wide mean/sd table."""
    import pandas as pd

    if hasattr(report_or_table, "results"):
        return report_or_table.results
    if not isinstance(report_or_table, pd.DataFrame):
        raise TypeError(
            f"Expected a Report or a pandas DataFrame; got {type(report_or_table).__name__}."
        )
    frame = report_or_table
    if {"candidate", "metric", "estimate"} <= set(frame.columns):
        if isinstance(frame.index, pd.MultiIndex):
            # pd.concat({"run a": report_a.results, ...}): the keys tell equal candidate names apart
            keys = frame.index.droplevel(-1)
            frame = frame.assign(
                candidate=[
                    " / ".join(map(str, (*(k if isinstance(k, tuple) else (k,)), c)))
                    for k, c in zip(keys, frame["candidate"])
                ]
            )
        if frame.duplicated(["candidate", "metric"]).any():
            raise ValueError(
                "A candidate has several rows for one metric: when concatenating reports' results, "
                "pass keys (pd.concat({'run a': ra.results, 'run b': rb.results})) to tell them apart."
            )
        return frame.reset_index(drop=True)
    # a wide table (one row per candidate): m with m_ci_low/m_ci_high, or m with m_sd
    rows = []
    metrics = [
        c for c in frame.columns if f"{c}_ci_low" in frame.columns or f"{c}_sd" in frame.columns
    ]
    if not metrics:
        raise ValueError(
            "The table has neither tidy results (candidate, metric, estimate, ci_low, ci_high) nor "
            "wide metric columns with '_ci_low'/'_ci_high' or '_sd' companions."
        )
    for label, row in frame.iterrows():
        label = " / ".join(map(str, label)) if isinstance(label, tuple) else label
        for m in metrics:
            if f"{m}_ci_low" in frame.columns:
                low, high = row[f"{m}_ci_low"], row[f"{m}_ci_high"]
            else:
                low, high = row[m] - row[f"{m}_sd"], row[m] + row[f"{m}_sd"]
            rows.append(
                {
                    "candidate": label,
                    "metric": m,
                    "estimate": row[m],
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)
