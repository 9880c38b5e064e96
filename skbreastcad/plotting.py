"""Figures: labelled ROI grids, and the evaluation figures of a report.

Every figure is drawn on a :class:`matplotlib.figure.Figure` with its own Agg
canvas: no ``pyplot`` state and no ``matplotlib.use``, so drawing works in
scripts, tests, worker threads and processes, and never changes the backend of
the user's session. Functions take plain arrays and frames (the evaluation layer
imports this module, not the reverse).
"""

import math
from pathlib import Path

import numpy as np

__all__ = [
    "plot_calibration_curves",
    "plot_confusion_matrices",
    "plot_metric_bars",
    "plot_roc_curves",
    "plot_roi_grid",
]


def plot_roi_grid(
    images,
    labels=None,
    *,
    target_names=None,
    titles=None,
    n_cols=None,
    image_shape=None,
    tile_size=1.3,
    vmin=None,
    vmax=None,
    path=None,
    dpi=100,
):
    """Draw ROIs in a grid, each titled with its label, and save it as a PNG.

    Drawn with matplotlib's Agg canvas directly (no ``pyplot`` state, no
    display needed), so it works in scripts, tests and worker threads.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width) or (n_images, height * width)
        Grayscale ROIs; flattened rows need ``image_shape`` unless square.
    labels : array-like of shape (n_images,), default=None
        Class of each ROI, written above it; positive labels (``1``) are
        framed in red, the others in blue.
    target_names : sequence of str, default=None
        Names of the classes, indexed by label (e.g. ``bunch.target_names``).
    titles : sequence of str, default=None
        Extra text per ROI (e.g. the source image reference), shown under
        the label.
    n_cols : int, default=None
        Tiles per row; ``None`` makes the grid roughly square.
    image_shape : tuple of (int, int), default=None
        ``(height, width)`` of flattened rows.
    tile_size : float, default=1.3
        Size of one tile in inches.
    vmin, vmax : float, default=None
        Grey-level range of the display. ``None`` shows uint8 images on
        0-255 (so contrast differences between ROIs stay visible) and other
        images each on their own min-max range.
    path : str or path-like, default=None
        Where to save the PNG; parent folders are created. ``None`` only
        returns the figure.
    dpi : int, default=100
        Resolution of the figure in dots per inch.

    Returns
    -------
    path_or_figure : pathlib.Path or matplotlib.figure.Figure
        The saved file's path, or the figure when ``path`` is None.

    Examples
    --------
    >>> from skbreastcad.datasets import make_phantoms
    >>> from skbreastcad.plotting import plot_roi_grid
    >>> X, y = make_phantoms(4, image_size=16, random_state=0)
    >>> fig = plot_roi_grid(X, y, target_names=["non-tumour", "tumour"])
    >>> [ax.get_title() for ax in fig.axes]
    ['tumour', 'non-tumour', 'non-tumour', 'non-tumour']
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .utils._validation import resolve_image_shape

    images = np.asarray(images)
    if images.ndim == 2:
        images = images.reshape(len(images), *resolve_image_shape(images.shape[1], image_shape))
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty batch of 2-D grayscale images; got shape {images.shape}."
        )
    n = len(images)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},); got {labels.shape}.")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have {n} entries; got {len(titles)}.")
    n_cols = int(n_cols) if n_cols else math.ceil(math.sqrt(n))
    n_rows = math.ceil(n / n_cols)

    fig = Figure(figsize=(tile_size * n_cols, (tile_size + 0.25) * n_rows), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.set_axis_off()
            continue
        image = images[k]
        lo, hi = vmin, vmax
        if lo is None and hi is None and image.dtype == np.uint8:
            lo, hi = 0, 255
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        text = []
        if labels is not None:
            label = labels[k]
            name = str(label)
            if (
                target_names is not None
                and np.issubdtype(type(label), np.integer)
                and 0 <= label < len(target_names)
            ):
                name = str(target_names[label])
            text.append(name)
            color = "tab:red" if label == 1 else "tab:blue"
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(2)
        if titles is not None:
            text.append(str(titles[k]))
        if text:
            ax.set_title("\n".join(text), fontsize=7)
    fig.tight_layout()
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _new_figure(figsize, dpi=100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path):
    fig.tight_layout()
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _label(value):
    # rows of a pd.concat of several reports carry tuples as labels
    return " / ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def plot_metric_bars(results, *, metrics=None, path=None, ylabel="score", dpi=110):
    """Draw grouped bars of metrics per candidate, with confidence intervals as error bars.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results with columns ``candidate``, ``metric``, ``estimate``,
        ``ci_low`` and ``ci_high`` (``Report.results``).
    metrics : sequence of str, default=None
        Metrics to draw, in order; all of them by default.
    path : str or path-like, default=None
        PNG to write; ``None`` returns the figure.
    ylabel : str, default="score"
        Label of the y axis.
    dpi : int, default=110
        Resolution of the figure in dots per inch.

    Returns
    -------
    path_or_figure : pathlib.Path or matplotlib.figure.Figure
        The saved file's path, or the figure when ``path`` is None.

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


def plot_roc_curves(curves, *, path=None, dpi=110):
    """Draw the ROC curves of several candidates with their confidence bands.

    Parameters
    ----------
    curves : dict of str to dict
        Per candidate: ``fpr`` and ``tpr`` (the curve), optionally ``grid``,
        ``low`` and ``high`` (a band of sensitivity over a false-positive-rate
        grid) and ``auc``, ``auc_low``, ``auc_high`` for the legend.
    path : str or path-like, default=None
        PNG to write; parent folders are created. ``None`` returns the figure.
    dpi : int, default=110
        Resolution of the figure in dots per inch.

    Returns
    -------
    path_or_figure : pathlib.Path or matplotlib.figure.Figure
        The saved file's path, or the figure when ``path`` is None.

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
    path : str or path-like, default=None
        PNG to write; parent folders are created. ``None`` returns the figure.
    dpi : int, default=110
        Resolution of the figure in dots per inch.

    Returns
    -------
    path_or_figure : pathlib.Path or matplotlib.figure.Figure
        The saved file's path, or the figure when ``path`` is None.

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


def plot_calibration_curves(curves, *, path=None, dpi=110):
    """Draw a reliability diagram: observed share of positives against mean predicted probability.

    Parameters
    ----------
    curves : dict of str to tuple of (ndarray, ndarray)
        Per candidate ``(mean_predicted, fraction_positive)`` per bin, as
        :func:`sklearn.calibration.calibration_curve` returns them (reversed).
    path : str or path-like, default=None
        PNG to write; parent folders are created. ``None`` returns the figure.
    dpi : int, default=110
        Resolution of the figure in dots per inch.

    Returns
    -------
    path_or_figure : pathlib.Path or matplotlib.figure.Figure
        The saved file's path, or the figure when ``path`` is None.

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
