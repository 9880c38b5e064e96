"""A report's figures: metric bars, ROC curves with bands, confusion matrices,
reliability diagrams and learning curves. They take the numbers as plain arrays and
frames; :mod:`skbreastcad.evaluation` computes them."""

import math

import numpy as np

from ._base import _figure_docs, _finish, _label, _new_figure

__all__ = [
    "plot_calibration_curves",
    "plot_comparisons",
    "plot_confusion_matrices",
    "plot_learning_curves",
    "plot_metric_bars",
    "plot_roc_curves",
]


@_figure_docs
def plot_metric_bars(results, *, metrics=None, path=None, ylabel="score", dpi=110):
    """Draw grouped bars of metrics per candidate, with confidence intervals as error bars.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results with columns ``candidate``, ``metric``, ``estimate``,
        ``ci_low`` and ``ci_high`` (``Report.results``).
    metrics : sequence of str, default=None
        Metrics to draw, in order; all of them by default.
    {path}
    ylabel : str, default="score"
        Label of the y axis.
    {dpi}

    Returns
    -------
    {figure_or_path}

    Examples
    --------
    >>> import pandas as pd
    >>> results = pd.DataFrame({"candidate": ["a", "b"], "metric": ["f1", "f1"],
    ...                         "estimate": [0.8, 0.7], "ci_low": [0.7, 0.6], "ci_high": [0.9, 0.8]})
    >>> fig = plot_metric_bars(results)
    >>> len(fig.axes[0].patches)
    2
    """
    import pandas as pd

    missing = {"candidate", "metric", "estimate", "ci_low", "ci_high"} - set(results.columns)
    if missing:
        raise ValueError(f"results lack the columns {sorted(missing)}.")
    if metrics is None:
        metrics = list(pd.unique(results["metric"]))
    candidates = list(pd.unique(results["candidate"]))
    frame = results.set_index(["candidate", "metric"])
    fig = _new_figure((min(14.0, max(6.0, 1.2 * len(metrics) + 3.5)), 4.2), dpi)
    ax = fig.subplots()
    width = 0.8 / max(len(candidates), 1)
    x = np.arange(len(metrics))
    for i, candidate in enumerate(candidates):
        rows = frame.loc[candidate].reindex(metrics)
        est = rows["estimate"].to_numpy(dtype=float)
        err = np.vstack(
            [
                est - rows["ci_low"].to_numpy(dtype=float),
                rows["ci_high"].to_numpy(dtype=float) - est,
            ]
        )
        ax.bar(
            x + (i - (len(candidates) - 1) / 2) * width,
            est,
            width,
            yerr=np.clip(err, 0, None),
            label=_label(candidate),
            capsize=2,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(x, [m.replace("@", "\n@") for m in metrics], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    # outside the axes: inside, the legend hides bars whatever corner it takes
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return _finish(fig, path)


@_figure_docs
def plot_comparisons(comparisons, *, reference=None, path=None, dpi=110):
    """Draw a forest plot: each candidate's difference from the reference per metric, with CIs.

    One row per metric, one colour per candidate; a dotted line marks no
    difference, so a point right of it is a candidate that scores higher than
    the reference.

    Parameters
    ----------
    comparisons : pandas.DataFrame
        Columns ``candidate``, ``metric``, ``difference`` (candidate minus
        reference), ``ci_low`` and ``ci_high``; one row per candidate and
        metric.
    reference : str, default=None
        Name of the reference, written on the x axis.
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    Examples
    --------
    >>> import pandas as pd
    >>> comparisons = pd.DataFrame({"candidate": ["a", "a", "b", "b"],
    ...                             "metric": ["f1", "roc_auc", "f1", "roc_auc"],
    ...                             "difference": [0.05, -0.01, -0.1, 0.02],
    ...                             "ci_low": [0.01, -0.04, -0.2, -0.01],
    ...                             "ci_high": [0.09, 0.02, 0.0, 0.05]})
    >>> fig = plot_comparisons(comparisons, reference="c")
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['f1', 'roc_auc']
    >>> fig.axes[0].get_xlabel()
    'difference: candidate minus reference (c)'
    """
    import pandas as pd

    missing = {"candidate", "metric", "difference", "ci_low", "ci_high"} - set(comparisons.columns)
    if missing:
        raise ValueError(f"comparisons lack the columns {sorted(missing)}.")
    metrics = list(pd.unique(comparisons["metric"]))
    candidates = list(pd.unique(comparisons["candidate"]))
    frame = comparisons.set_index(["candidate", "metric"])
    # the legend sits right of the axes: wider for long candidate names, so the axes keep ~5 in
    longest = max((len(_label(c)) for c in candidates), default=0)
    width = min(16.0, 7.0 + 0.07 * longest)
    fig = _new_figure((width, min(12.0, 1.2 + 0.28 * len(metrics) * max(len(candidates), 2))), dpi)
    ax = fig.subplots()
    height = 0.7 / max(len(candidates), 1)
    for i, candidate in enumerate(candidates):
        rows = frame.loc[candidate].reindex(metrics)
        est = rows["difference"].to_numpy(dtype=float)
        err = np.vstack(
            [
                est - rows["ci_low"].to_numpy(dtype=float),
                rows["ci_high"].to_numpy(dtype=float) - est,
            ]
        )
        # the first metric at the top, candidates in legend order within it
        y = -np.arange(len(metrics)) - (i - (len(candidates) - 1) / 2) * height
        ax.errorbar(
            est,
            y,
            xerr=np.clip(np.nan_to_num(err), 0, None),
            fmt="o",
            markersize=4,
            capsize=2,
            elinewidth=1,
            label=_label(candidate),
        )
    ax.axvline(0, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(-np.arange(len(metrics)), metrics, fontsize=8)
    for k in range(1, len(metrics)):
        ax.axhline(-k + 0.5, color="#eee", linewidth=0.8)
    ax.set_ylim(-len(metrics) + 0.5, 0.5)
    xlabel = "difference: candidate minus reference"
    ax.set_xlabel(f"{xlabel} ({_label(reference)})" if reference is not None else xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return _finish(fig, path)


@_figure_docs
def plot_roc_curves(curves, *, path=None, dpi=110):
    """Draw the ROC curves of several candidates with their confidence bands.

    Parameters
    ----------
    curves : dict of str to dict
        Per candidate: ``fpr`` and ``tpr`` (the curve), optionally ``grid``,
        ``low`` and ``high`` (a band of sensitivity over a false-positive-rate
        grid) and ``auc``, ``auc_low``, ``auc_high`` for the legend.
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    See Also
    --------
    sklearn.metrics.roc_curve : The ``fpr`` and ``tpr`` of one candidate.

    Examples
    --------
    >>> curves = {"a": {"fpr": [0.0, 0.0, 1.0], "tpr": [0.0, 1.0, 1.0], "auc": 1.0},
    ...           "b": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.5, 1.0], "auc": 0.5}}
    >>> fig = plot_roc_curves(curves)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['a  AUC 1.000', 'b  AUC 0.500']
    """
    fig = _new_figure((5.6, 5.2), dpi)
    ax = fig.subplots()
    colors = [f"C{i % 10}" for i in range(len(curves))]
    for color, (label, c) in zip(colors, curves.items()):
        text = _label(label)
        if "auc" in c:
            text += f"  AUC {c['auc']:.3f}"
            if "auc_low" in c:
                text += f" [{c['auc_low']:.3f}, {c['auc_high']:.3f}]"
        if "grid" in c:
            ax.fill_between(
                c["grid"], c["low"], c["high"], color=color, alpha=0.15, step="post", linewidth=0
            )
        ax.step(c["fpr"], c["tpr"], where="post", color=color, label=text, linewidth=1.5)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.legend(loc="lower right", fontsize="x-small", framealpha=0.9)
    return _finish(fig, path)


@_figure_docs
def plot_confusion_matrices(
    matrices, *, class_names=("negative", "positive"), titles=None, path=None, dpi=110
):
    """Draw one 2 x 2 confusion matrix per candidate, counts and row shares written in.

    Parameters
    ----------
    matrices : dict of str to array-like of shape (2, 2)
        Rows are true classes, columns predicted classes (scikit-learn's layout).
    class_names : sequence of str, default=("negative", "positive")
        Names of the classes 0 and 1, written on the axes.
    titles : dict of str to str, default=None
        Extra line under each candidate's name (e.g. its threshold).
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    See Also
    --------
    sklearn.metrics.confusion_matrix : The matrix of one candidate.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> matrices = {"a": [[8, 2], [1, 9]], "b": [[6, 4], [3, 7]]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_confusion_matrices(matrices, path=Path(folder) / "confusion.png")
    ...     out.name, out.stat().st_size > 0
    ('confusion.png', True)
    """
    n = len(matrices)
    n_cols = min(n, 4)
    n_rows = math.ceil(n / n_cols)
    fig = _new_figure((3.0 * n_cols, 3.0 * n_rows), dpi)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (label, cm) in zip(axes, matrices.items()):
        cm = np.asarray(cm, dtype=float)
        shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}\n{shares[i, j]:.0%}",
                    ha="center",
                    va="center",
                    color="white" if shares[i, j] > 0.6 else "black",
                    fontsize=9,
                )
        ax.set_xticks([0, 1], [f"pred. {c}" for c in class_names], fontsize=7)
        ax.set_yticks(
            [0, 1], [f"true {c}" for c in class_names], fontsize=7, rotation=90, va="center"
        )
        title = _label(label)
        if titles and label in titles:
            title += "\n" + titles[label]
        ax.set_title(title, fontsize=8)
    for ax in axes[n:]:
        ax.set_axis_off()
    return _finish(fig, path)


@_figure_docs
def plot_calibration_curves(curves, *, path=None, dpi=110):
    """Draw a reliability diagram: observed share of positives against mean predicted probability.

    Parameters
    ----------
    curves : dict of str to tuple of (ndarray, ndarray)
        Per candidate ``(mean_predicted, fraction_positive)`` per bin, as
        :func:`sklearn.calibration.calibration_curve` returns them (reversed).
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    See Also
    --------
    sklearn.calibration.calibration_curve : The bins of one candidate.

    Examples
    --------
    >>> curves = {"model": ([0.1, 0.5, 0.9], [0.0, 0.4, 1.0])}
    >>> fig = plot_calibration_curves(curves)
    >>> len(fig.axes[0].get_lines())  # the diagonal and one curve
    2
    """
    fig = _new_figure((5.2, 5.0), dpi)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfectly calibrated")
    for label, (mean_predicted, fraction_positive) in curves.items():
        ax.plot(
            mean_predicted,
            fraction_positive,
            marker="o",
            markersize=3,
            linewidth=1.2,
            label=_label(label),
        )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of positives")
    ax.legend(loc="upper left", fontsize="x-small", framealpha=0.9)
    return _finish(fig, path)


@_figure_docs
def plot_learning_curves(curves, *, path=None, dpi=110):
    """Draw the mean training and validation loss per epoch, one panel per stage.

    Parameters
    ----------
    curves : pandas.DataFrame
        Training histories with columns ``candidate``, ``stage`` (1: source
        data, 2: target data), ``epoch``, ``train_loss`` and ``valid_loss``
        (NaN without a validation split); rows of several fits of a candidate
        are averaged per epoch.
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    Examples
    --------
    >>> import pandas as pd
    >>> curves = pd.DataFrame({"candidate": "net", "stage": [2, 2, 2], "epoch": [1, 2, 3],
    ...                        "train_loss": [0.9, 0.6, 0.4], "valid_loss": [1.0, 0.8, 0.7]})
    >>> fig = plot_learning_curves(curves)
    >>> fig.axes[0].get_title(), len(fig.axes[0].get_lines())
    ('stage 2 (target data)', 2)
    """
    missing = {"candidate", "stage", "epoch", "train_loss", "valid_loss"} - set(curves.columns)
    if missing:
        raise ValueError(f"curves lack the columns {sorted(missing)}.")
    stages = sorted(curves["stage"].unique())
    fig = _new_figure((5.5 * len(stages), 4), dpi)
    for i, stage in enumerate(stages):
        ax = fig.add_subplot(1, len(stages), i + 1)
        rows = curves[curves["stage"] == stage]
        for j, (candidate, sub) in enumerate(rows.groupby("candidate", sort=False)):
            mean = sub.groupby("epoch")[["train_loss", "valid_loss"]].mean()
            color = f"C{j}"
            ax.plot(mean.index, mean["train_loss"], color=color, label=str(candidate))
            if mean["valid_loss"].notna().any():
                ax.plot(mean.index, mean["valid_loss"], color=color, linestyle="--")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss")
        ax.set_title("stage 1 (source data)" if stage == 1 else "stage 2 (target data)")
        ax.legend(fontsize=8)
    return _finish(fig, path)
