"""How a report looks: its text table, Markdown, self-contained HTML and figures.

The numbers come from :mod:`._curves` and the report; the drawing from
:mod:`skbreastcad.plotting`, imported only when figures are written.
"""

import base64
import html
import json

from ._checks import check_table_options
from ._curves import calibration_curves, confusion_matrices, roc_curves
from ._validation import _aligned


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


def format_text(results, metrics=None, *, digits=3):
    """Text table of tidy results: ``estimate [ci_low, ci_high]`` (:meth:`Report.format_table`)."""
    import pandas as pd

    present = list(pd.unique(results["metric"]))
    # digits, and a bare string for a list; unknown names are reported just below
    check_table_options(metrics if isinstance(metrics, str) else None, present, digits)
    metrics = present if metrics is None else list(metrics)
    unknown = [m for m in metrics if m not in present]
    if unknown or not metrics:
        raise ValueError(
            f"No results for the metrics {unknown or metrics}; the report has {present}."
        )
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


def summary(report):
    """One paragraph: samples, patients, folds, candidates, threshold policy and bootstrap."""
    c = report.config
    if c.get("resampled_units") == "samples":
        units = f"{c.get('n_samples')} samples (no patient groups: intervals resample samples)"
    else:
        units = f"{c.get('n_samples')} samples from {c.get('n_groups')} patients (intervals resample patients)"
    return (
        f"{units}, {c.get('n_positive')} positive; {c.get('n_folds')} folds; "
        f"{len(report.candidates)} candidates; "
        f"threshold policy {c.get('threshold')!r}; {c.get('n_boot')} bootstrap resamples "
        f"({c.get('n_redrawn')} redrawn because they held one class only); seed {c.get('random_state')}."
    )


def markdown(report, figures):
    """The report as Markdown, figures linked by file name."""
    intro = (
        "Estimate on the pooled out-of-fold predictions, with its "
        f"{report.config['confidence_level']:.0%} {_method_name(report.config['ci_method'])} "
        f"bootstrap interval (resampling {report.config['resampled_units']})."
    )
    lines = [
        f"# {report.title}",
        "",
        report._summary(),
        "",
        "## Results",
        "",
        intro,
        "",
        "```",
        report.format_table(),
        "```",
        "",
        "## Paired comparisons",
        "",
        f"Reference: **{report.reference}**.",
        "",
        _frame_markdown(report.comparisons),
        "",
    ]
    lines += ["## Figures", ""]
    for name, caption in figures.items():
        lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    lines += [
        "## Configuration",
        "",
        "```json",
        json.dumps(report.config, indent=2, default=str),
        "```",
        "",
        "## Timings (s)",
        "",
        "```json",
        json.dumps(report.timings, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def html_page(report, folder, figures):
    """The report as one self-contained HTML page, figures read from ``folder`` and embedded."""
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}"
        ".wide{overflow-x:auto}"
        "th{background:#f0f0f0}img{max-width:100%;border:1px solid #eee}"
        "pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}"
    )
    results_intro = (
        f"<p>Estimate on the pooled out-of-fold predictions [{report.config['confidence_level']:.0%} "
        f"{_method_name(report.config['ci_method'])} bootstrap interval, resampling "
        f"{html.escape(str(report.config['resampled_units']))}].</p>"
    )
    comparisons_intro = (
        f"<p>Every candidate against the reference, <b>{html.escape(report.reference)}</b> (the best "
        f"by {html.escape(str(report.config.get('compare_metric')))}): difference reference minus "
        "candidate; p-values Holm-adjusted within each metric and test.</p>"
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title>",
        f"<style>{style}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p>{html.escape(report._summary())}</p>",
        "<h2>Results</h2>",
        results_intro,
        f"<div class='wide'>{_ci_html_table(report.results)}</div>",
        "<h2>Paired comparisons</h2>",
        comparisons_intro,
        "<div class='wide'>"
        + report.comparisons.to_html(index=False, float_format=lambda v: f"{v:.4g}")
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
        f"<pre>{html.escape(json.dumps(report.config, indent=2, default=str))}</pre>",
        "<h2>Timings (s)</h2>",
        f"<pre>{html.escape(json.dumps(report.timings, indent=2))}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_figures(report, folder):
    """Write every figure of ``report`` into ``folder``; return ``{file name: caption}``."""
    from ..plotting import (
        plot_calibration_curves,
        plot_confusion_matrices,
        plot_metric_bars,
        plot_roc_curves,
    )

    config = report.config
    data = _aligned(report.predictions)
    figures = {}
    plot_metric_bars(report.results, path=folder / "metrics.png")
    ci = f"{config['confidence_level']:.0%} {_method_name(config['ci_method'])} bootstrap CIs"
    figures["metrics.png"] = f"Metrics per candidate with {ci} as error bars."
    n_band = min(int(config["n_boot"]), 500)
    curves = roc_curves(report.results, data, n_boot=n_band, random_state=config["random_state"])
    plot_roc_curves(curves, path=folder / "roc.png")
    figures["roc.png"] = (
        f"Pooled out-of-fold ROC curves; shaded: pointwise 95% band of sensitivity over {n_band} "
        f"bootstrap resamples of {config['resampled_units']}."
    )
    matrices, titles = confusion_matrices(report.thresholds, data)
    plot_confusion_matrices(matrices, titles=titles, path=folder / "confusion.png")
    figures["confusion.png"] = (
        f"Confusion matrices of the pooled out-of-fold predictions at the threshold policy "
        f"{config['threshold']!r} (chosen per fold on the other folds)."
    )
    calibration = calibration_curves(data)
    if calibration is not None:
        plot_calibration_curves(calibration, path=folder / "calibration.png")
        figures["calibration.png"] = (
            "Calibration of the out-of-fold probabilities (10 quantile bins)."
        )
    return figures
