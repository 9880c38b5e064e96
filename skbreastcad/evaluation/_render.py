"""How a report looks: its text table, Markdown, self-contained HTML and figures.

The numbers come from :mod:`._curves` and the report; the drawing from
:mod:`skbreastcad.plotting`, imported only when figures are written.
"""

import ast
import base64
import html
import json
import math
import re

from ._checks import check_table_options
from ._curves import calibration_curves, confusion_matrices, roc_curves
from ._validation import _aligned


def _method_name(method):
    return {"bca": "BCa", "percentile": "percentile"}.get(method, str(method))


def resampled_units(config):
    """What the bootstrap resamples, in words: ``"patients"`` or ``"images"``."""
    units = str(config.get("resampled_units", ""))
    return "patients" if units.startswith("patients") else "images"


# ----------------------------------------------------------------------------- text formats
def md_escape(value):
    """``value`` as literal Markdown text: no emphasis, code, link, table cell or HTML in it.

    What ``html.escape`` is to ``report.html``: a candidate called ``a|b*<script>`` shows
    as written instead of splitting a table row, starting emphasis or running a script.
    """
    # a newline would end a table row or a paragraph
    text = html.escape(" ".join(str(value).split()), quote=False)
    return re.sub(r"([\\`*_\[\]|~#!])", r"\\\1", text)


def _fence(text):
    """A backtick fence longer than any run of backticks in ``text``: nothing closes it early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _fenced(text, info=""):
    fence = _fence(text)
    return [fence + info, text, fence]


def format_difference(value):
    """A difference to 3 significant digits, with its sign: ``+0.0412``, ``-0.125``, ``0``."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:+.3g}"


def format_pvalue(p):
    """``p = 0.041`` or ``p < 0.001``."""
    if not math.isfinite(p):
        return "n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _readable(value):
    """Config values as a reader wants them: reprs of literals as values, reprs on one line."""
    if isinstance(value, dict):
        return {str(k): _readable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_readable(v) for v in value]
    if not isinstance(value, str):
        return value
    # numpy scalars' reprs: np.int64(1) reads as 1
    text = re.sub(r"\bnp\.\w+\(([^()]*)\)", r"\1", value)
    try:
        literal = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        # an estimator's repr, wrapped by scikit-learn over several indented lines
        return " ".join(text.split())
    if literal is None or isinstance(literal, (bool, int, float, str)):
        return literal if not (isinstance(literal, float) and not math.isfinite(literal)) else text
    return " ".join(text.split())


def readable_config(config):
    """The configuration as indented JSON, one readable value per line (no ``\\n`` escapes)."""
    return json.dumps(_readable(config), indent=2, default=str, ensure_ascii=False)


# ----------------------------------------------------------------------------- results
def _results_grid(results):
    """``(rows, columns, cell)``: the longer of candidates and metrics runs down the page.

    A table grows downwards without limit but not sideways: with more metrics than
    candidates the metrics become the rows, so the table fits the page.
    """
    import pandas as pd

    metrics = [str(m) for m in pd.unique(results["metric"])]
    candidates = list(pd.unique(results["candidate"]))
    frame = results.set_index(["candidate", "metric"])
    if len(metrics) > len(candidates):
        return ("metric", metrics, candidates, lambda r, c: frame.loc[(c, r)])
    return ("candidate", candidates, metrics, lambda r, c: frame.loc[(r, c)])


def _label(value):
    return " / ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _breakable(label):
    """An escaped name that may wrap after ``@ _ / + :`` (``sensitivity@`` / ``specificity=0.9``)."""
    return re.sub(r"([@_/+:])", r"\1<wbr>", html.escape(_label(label)))


def _flagged_html(label, one_class):
    """A candidate's escaped name, with its ``[always k]`` mark when it predicts one class."""
    name = _breakable(label)
    if _label(label) in one_class:
        mark = one_class_mark(one_class[_label(label)])
        name += f" <span class='flag' title='{html.escape(ONE_CLASS_NOTE)}'>{mark}</span>"
    return name


def _ci_html_table(results, one_class=None):
    one_class = one_class or {}
    corner, rows, columns, cell = _results_grid(results)
    # the candidates are the rows or the columns, whichever are more
    row_name = (lambda v: _flagged_html(v, one_class)) if corner == "candidate" else _breakable
    column_name = _breakable if corner == "candidate" else (lambda v: _flagged_html(v, one_class))
    head = f"<tr><th>{corner}</th>" + "".join(f"<th>{column_name(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            r = cell(row, column)
            cells.append(
                f"<td><b>{r['estimate']:.3f}</b> "
                f"<span class='ci'>[{r['ci_low']:.3f},&nbsp;{r['ci_high']:.3f}]</span></td>"
            )
        body.append(f"<tr><th class='name'>{row_name(row)}</th>{''.join(cells)}</tr>")
    table = f"<table class='results'>{head}</tr>{''.join(body)}</table>"
    if any(_label(c) in one_class for c in set(results["candidate"])):
        table += f"<p class='flag'>{one_class_mark('k')}: {html.escape(ONE_CLASS_NOTE)}</p>"
    return table


# ----------------------------------------------------------------------------- comparisons
def comparison_rows(report):
    """One row per metric, candidate and test: the difference *candidate minus reference*.

    ``report.comparisons`` stores reference minus candidate; a reader expects a
    positive number to mean the candidate scores higher, so the sign and the
    interval are turned round here.
    """
    c = report.comparisons
    if len(c) == 0:
        return c
    return c.assign(
        difference=-c["difference"],
        ci_low=-c["ci_high"],
        ci_high=-c["ci_low"],
    )


def _comparison_tables(report):
    """``{metric: [row dicts]}`` of formatted cells, one table per metric; no all-NaN column."""
    import pandas as pd

    rows = comparison_rows(report)
    level = f"{report.config.get('confidence_level', 0.95):.0%}"
    alpha = 1 - float(report.config.get("confidence_level", 0.95))
    one_class = _one_class(report)
    tables = {}
    for metric in pd.unique(rows["metric"]):
        sub = rows[rows["metric"] == metric]
        with_ci = sub["ci_low"].notna() & sub["ci_high"].notna()
        table = []
        for (_, r), has_ci in zip(sub.iterrows(), with_ci):
            name = _label(r["candidate"])
            if name in one_class:
                name = f"{name} {one_class_mark(one_class[name])}"
            cell = {
                "candidate": name,
                "test": str(r["test"]),
                "candidate - reference": format_difference(r["difference"]),
            }
            if with_ci.any():
                # McNemar's test has no interval: its cell says so instead of NaN
                cell[f"{level} CI"] = (
                    f"[{format_difference(r['ci_low'])}, {format_difference(r['ci_high'])}]"
                    if has_ci
                    else "(test without interval)"
                )
            cell["p"] = format_pvalue(r["pvalue"])
            cell["p (Holm)"] = format_pvalue(r["pvalue_holm"])
            cell["_significant"] = bool(r["pvalue_holm"] < alpha)
            table.append(cell)
        tables[str(metric)] = table
    return tables


def _comparisons_html(report):
    parts = []
    for metric, table in _comparison_tables(report).items():
        columns = [k for k in table[0] if not k.startswith("_")]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr"
            + (" class='significant'" if row["_significant"] else "")
            + ">"
            + "".join(f"<td>{html.escape(row[c])}</td>" for c in columns)
            + "</tr>"
            for row in table
        )
        parts.append(
            f"<table class='comparison'><caption>{html.escape(metric)}</caption>"
            f"<tr>{head}</tr>{body}</table>"
        )
    return "<div class='comparisons'>" + "".join(parts) + "</div>"


def _comparisons_markdown(report):
    lines = []
    for metric, table in _comparison_tables(report).items():
        columns = [k for k in table[0] if not k.startswith("_")]
        lines += [f"**{md_escape(metric)}**", ""]
        lines.append("| " + " | ".join(md_escape(c) for c in columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in table:
            # names are escaped; the numbers are ours, formatted above
            cells = [md_escape(row["candidate"]), md_escape(row["test"])] + [
                row[c] for c in columns[2:]
            ]
            if row["_significant"]:
                cells = [f"**{cells[0]}**", *cells[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _comparisons_intro(report, escape):
    level = report.config.get("confidence_level", 0.95)
    return (
        f"Every candidate against the reference, {escape(report.reference)} (the best by "
        f"{escape(report.config.get('compare_metric'))}), one table per metric: the difference "
        "is the candidate minus the reference, so a positive difference means the candidate "
        f"scores higher. p-values are Holm-adjusted within each metric and test; rows with an "
        f"adjusted p below {1 - level:.2g} are in bold."
    )


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


def one_class_mark(label):
    """What follows a candidate's name wherever it predicts ``label`` for every sample."""
    return f"[always {label}]"


ONE_CLASS_NOTE = (
    "predicts one class for every sample: its threshold metrics (F1, sensitivity, "
    "specificity...) are degenerate and it is never the reference."
)


def one_class_labels(one_class):
    """``{candidate label: class}`` from a report's ``config["one_class_candidates"]``."""
    return {_label(k): v for k, v in (one_class or {}).items()}


def _one_class(report):
    return one_class_labels(report.config.get("one_class_candidates"))


def format_text(results, metrics=None, *, digits=3, one_class=None):
    """Text table of tidy results: ``estimate [ci_low, ci_high]`` (:meth:`Report.format_table`).

    A candidate of ``one_class`` (``{label: class}``) is marked ``[always k]``, and a
    note under the table says why.
    """
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
    one_class = one_class or {}
    names = {
        label: f"{label} {one_class_mark(one_class[label])}" if label in one_class else label
        for label in labels
    }
    cells = {}
    for label, candidate in zip(labels, pd.unique(results["candidate"])):
        for m in metrics:
            r = frame.loc[(candidate, m)]
            cells[label, m] = (
                f"{r['estimate']:.{digits}f} [{r['ci_low']:.{digits - 1}f}, {r['ci_high']:.{digits - 1}f}]"
            )
    width = max(len(v) for v in cells.values())
    name_width = max(10, *(len(name) for name in names.values())) + 2
    headers = [
        m if len(m) <= width else m.replace("sensitivity", "sens").replace("specificity", "spec")
        for m in metrics
    ]
    col = max(width, *(len(h) for h in headers)) + 2
    lines = [f"{'candidate':<{name_width}}" + "".join(f"{h:>{col}}" for h in headers)]
    lines.append("-" * len(lines[0]))
    for label in labels:
        lines.append(
            f"{names[label]:<{name_width}}" + "".join(f"{cells[label, m]:>{col}}" for m in metrics)
        )
    if any(label in one_class for label in labels):
        lines.append(f"{one_class_mark('k')}: {ONE_CLASS_NOTE}")
    return "\n".join(lines)


def summary(report):
    """One paragraph: samples, patients, folds, candidates, threshold policy and bootstrap."""
    c = report.config
    if resampled_units(c) == "images":
        units = f"{c.get('n_samples')} images (no patient groups: confidence intervals by resampling images)"
    else:
        units = (
            f"{c.get('n_samples')} images from {c.get('n_groups')} patients "
            "(confidence intervals by resampling patients)"
        )
    return (
        f"{units}, {c.get('n_positive')} positive; {c.get('n_folds')} folds; "
        f"{len(report.candidates)} candidates; "
        f"threshold policy {c.get('threshold')!r}; {c.get('n_boot')} bootstrap resamples "
        f"({c.get('n_redrawn')} redrawn because they held one class only); seed {c.get('random_state')}."
    )


#: the forest plot of the comparisons, shown beside their tables rather than with the figures
FOREST = "comparisons.png"


def _results_intro(report):
    return (
        "Estimate on the pooled out-of-fold predictions, with its "
        f"{report.config['confidence_level']:.0%} {_method_name(report.config['ci_method'])} "
        f"bootstrap interval (resampling {resampled_units(report.config)})."
    )


def markdown(report, figures):
    """The report as Markdown, figures linked by file name; everything embedded is escaped."""
    table = report.format_table()
    config = readable_config(report.config)
    timings = json.dumps(report.timings, indent=2)
    lines = [
        f"# {md_escape(report.title)}",
        "",
        md_escape(report._summary()),
        "",
        "## Results",
        "",
        _results_intro(report),
        "",
        *_fenced(table),
        "",
        "## Paired comparisons",
        "",
    ]
    if len(report.comparisons):
        lines += [_comparisons_intro(report, lambda v: f"**{md_escape(v)}**"), ""]
        if FOREST in figures:
            caption = md_escape(figures[FOREST])
            lines += [f"![{caption}]({FOREST})", "", f"*{caption}*", ""]
        lines += _comparisons_markdown(report)
    else:
        lines += ["(none)", ""]
    lines += ["## Figures", ""]
    for name, caption in figures.items():
        if name == FOREST:
            continue
        lines += [f"![{md_escape(caption)}]({name})", "", f"*{md_escape(caption)}*", ""]
    lines += [
        "## Configuration",
        "",
        *_fenced(config, "json"),
        "",
        "## Timings (s)",
        "",
        *_fenced(timings, "json"),
        "",
    ]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:1em 0;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}"
    # long names break rather than push the table sideways
    "th{background:#f0f0f0;overflow-wrap:anywhere}"
    "th.name{overflow-wrap:normal;text-align:left}"
    ".ci{color:#555;font-size:12px;white-space:nowrap}"
    ".wide{overflow-x:auto}"
    ".comparisons{display:flex;flex-wrap:wrap;gap:0 2em}"
    ".comparison caption{font-weight:bold;text-align:left;padding:0 0 3px}"
    ".comparison td{white-space:nowrap}"
    ".comparison td:first-child,.comparison td:nth-child(2),"
    ".comparison th:first-child,.comparison th:nth-child(2){text-align:left}"
    ".results tr>th:first-child{text-align:left}"
    ".significant td{font-weight:bold}"
    ".flag{color:#b00020}"
    "img{max-width:100%;border:1px solid #eee}"
    "pre{background:#f7f7f7;padding:1em;font-size:12px;white-space:pre-wrap;"
    "overflow-wrap:anywhere}"
)


def _figure_html(folder, name, caption):
    data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def html_page(report, folder, figures):
    """The report as one self-contained HTML page, figures read from ``folder`` and embedded."""
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p>{html.escape(report._summary())}</p>",
        "<h2>Results</h2>",
        f"<p>{html.escape(_results_intro(report))}</p>",
        f"<div class='wide'>{_ci_html_table(report.results, _one_class(report))}</div>",
        "<h2>Paired comparisons</h2>",
    ]
    if len(report.comparisons):
        intro = _comparisons_intro(report, lambda v: f"<b>{html.escape(str(v))}</b>")
        parts.append(f"<p>{intro}</p>")
        if FOREST in figures:
            parts.append(_figure_html(folder, FOREST, figures[FOREST]))
        parts.append(_comparisons_html(report))
    else:
        parts.append("<p>(none)</p>")
    parts.append("<h2>Figures</h2>")
    parts += [_figure_html(folder, n, c) for n, c in figures.items() if n != FOREST]
    parts += [
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(readable_config(report.config))}</pre>",
        "<h2>Timings (s)</h2>",
        f"<pre>{html.escape(json.dumps(report.timings, indent=2))}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_figures(report, folder):
    """Write every figure of ``report`` into ``folder``; return ``{file name: caption}``."""
    from ..plotting import (
        plot_calibration_curves,
        plot_comparisons,
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
        f"bootstrap resamples (resampling {resampled_units(config)})."
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
    forest = _forest_rows(report)
    if len(forest):
        plot_comparisons(forest, reference=_label(report.reference), path=folder / FOREST)
        tests = ", ".join(sorted(set(forest["test"])))
        figures[FOREST] = (
            f"Difference of each candidate minus the reference {_label(report.reference)} per "
            f"metric, with its {config['confidence_level']:.0%} interval ({tests}); right of the "
            "dotted line the candidate scores higher."
        )
    return figures


def _forest_rows(report):
    """Per metric and candidate, the comparison with an interval (the paired bootstrap first)."""
    rows = comparison_rows(report)
    if len(rows) == 0:
        return rows
    rows = rows[rows["ci_low"].notna() & rows["ci_high"].notna()]
    rank = (rows["test"] != "paired bootstrap").astype(int)
    return (
        rows.assign(_rank=rank)
        .sort_values("_rank", kind="stable")
        .drop_duplicates(["metric", "candidate"])
        .drop(columns="_rank")
        .sort_index()
    )
