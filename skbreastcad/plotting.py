"""Every figure of skbreastcad: ROI grids, a report's figures, learning curves, FROC
curves and heat-map overlays.

Every function has one signature for its output: ``path=None`` returns the
:class:`matplotlib.figure.Figure`; a path writes the PNG (atomically, through a
temporary file, parent folders created) and returns the path, keeping no
reference to the figure. Figures are drawn on their own Agg canvas: no ``pyplot``
state and no ``matplotlib.use``, so drawing works in scripts, tests, worker
threads and processes, and never changes the backend of the user's session.
Functions take plain arrays, frames and bunches: the evaluation, experiments and
detection layers import this module, never the reverse.
"""

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .utils._docstrings import substitute_docs

__all__ = [
    "plot_calibration_curves",
    "plot_confusion_matrices",
    "plot_froc",
    "plot_learning_curves",
    "plot_metric_bars",
    "plot_overlay",
    "plot_roc_curves",
    "plot_roi_grid",
    "save_figure",
]


def _dpi_doc(default):
    return f"""\
dpi : int, default={default}
    Resolution of the figure in dots per inch."""


_FIGURE_DOCS = {
    "path": """\
path : str or path-like, default=None
    PNG to write (atomically; parent folders are created). ``None`` returns
    the figure.""",
    "dpi": _dpi_doc(110),
    "figure_or_path": """\
path_or_figure : pathlib.Path or matplotlib.figure.Figure
    The saved file's path, or the figure when ``path`` is None.""",
}
_figure_docs = substitute_docs(**_FIGURE_DOCS)


@substitute_docs(**{**_FIGURE_DOCS, "dpi": _dpi_doc(100)})
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
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

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
    return _finish(fig, path)


def _new_figure(figsize, dpi=100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path, *, layout=True, dpi="figure"):
    if layout:
        fig.tight_layout()
    if path is None:
        return fig
    return save_figure(fig, path, dpi=dpi)


def save_figure(fig, path, *, dpi="figure"):
    """Write a figure as a PNG through a temporary file, so a crash leaves no half file.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, drawn by any function of this module or by the caller.
    path : str or path-like
        The PNG to write; parent folders are created and an existing file is
        replaced only once the new one is complete.
    dpi : float or "figure", default="figure"
        Resolution in dots per inch; ``"figure"`` keeps the figure's own.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> fig = plot_calibration_curves({"model": ([0.2, 0.8], [0.1, 0.9])})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = save_figure(fig, Path(folder) / "sub" / "calibration.png")
    ...     out.name, out.stat().st_size > 0
    ('calibration.png', True)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _label(value):
    # rows of a pd.concat of several reports carry tuples as labels
    return " / ".join(map(str, value)) if isinstance(value, tuple) else str(value)


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


@substitute_docs(**{**_FIGURE_DOCS, "dpi": _dpi_doc(100)})
def plot_froc(results, *, ax=None, max_fp=None, path=None, dpi=100):
    """Draw FROC curves with the reported rates and their confidence intervals.

    Parameters
    ----------
    results : Bunch or dict of str to Bunch
        One :func:`skbreastcad.detection.froc` result, or several by label.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw in; None makes a new figure.
    max_fp : float, default=None
        Right end of the x axis; None: twice the largest reported rate.
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    See Also
    --------
    skbreastcad.detection.froc : The curve, the reported rates and their intervals.

    Examples
    --------
    >>> from skbreastcad.detection import froc
    >>> candidates = {"film": ["a", "b"], "row": [10, 90], "col": [10, 90], "radius": [5, 5],
    ...               "score": [0.9, 0.7]}
    >>> lesions = {"film": ["a"], "row": [12], "col": [10], "radius": [8]}
    >>> result = froc(candidates, lesions, ["a", "b"], n_bootstraps=20)
    >>> plot_froc({"model": result}).axes[0].get_ylabel()
    'lesion sensitivity'
    """
    from matplotlib.ticker import NullLocator

    if not isinstance(results, dict):
        results = {"": results}
    own = ax is None
    if own:
        ax = _new_figure((5.5, 4.2), dpi).add_subplot()
    largest = 0.0
    for label, result in results.items():
        curve = result.curve
        # the curve as operating points joined by steps, from (0, 0)
        x = np.concatenate([[0.0], curve["fp_per_film"].to_numpy()])
        y = np.concatenate([[0.0], curve["sensitivity"].to_numpy()])
        line = ax.step(x, y, where="post", label=label or None)[0]
        table = result.table
        rates = table.index.to_numpy(dtype=float)
        largest = max(largest, rates.max())
        err = np.vstack(
            [table["sensitivity"] - table["ci_low"], table["ci_high"] - table["sensitivity"]]
        )
        ax.errorbar(
            rates,
            table["sensitivity"],
            yerr=np.nan_to_num(err),
            fmt="o",
            color=line.get_color(),
            capsize=3,
            ms=4,
        )
    ax.set_xscale("symlog", linthresh=0.25, linscale=0.5)
    ax.set_xlim(0, max_fp if max_fp is not None else 2 * largest)
    ticks = sorted({0.0, *(float(r) for res in results.values() for r in res.table.index)})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean false positives per film")
    ax.set_ylabel("lesion sensitivity")
    ax.grid(alpha=0.3)
    if any(results):
        ax.legend(loc="upper left", fontsize="small")
    # a caller's figure keeps its own layout and resolution
    return _finish(ax.figure, path, layout=own, dpi="figure" if own else dpi)


@substitute_docs(**{**_FIGURE_DOCS, "dpi": _dpi_doc(100)})
def plot_overlay(
    image,
    heatmap,
    *,
    candidates=None,
    lesions=None,
    alpha=0.45,
    title=None,
    vmax=None,
    size=6.0,
    path=None,
    dpi=100,
):
    """Draw a grayscale image with a heat map blended over it.

    Parameters
    ----------
    image : array-like of shape (height, width)
        A ROI or a film.
    heatmap : array-like of shape (height, width)
        Grad-CAM, occlusion sensitivity or a lesion map, same shape as the image.
    candidates : pandas.DataFrame, default=None
        ``row``, ``col``, ``radius``, ``score``: drawn as numbered cyan circles.
    lesions : pandas.DataFrame, default=None
        ``row``, ``col``, ``radius``: the annotated circles, drawn in dashed white.
    alpha : float, default=0.45
        Opacity of the heat map where it is highest (it fades to clear at 0).
    title : str, default=None
        Text above the image.
    vmax : float, default=None
        Value shown at full colour; None: the map's maximum.
    size : float, default=6.0
        Figure width in inches.
    {path}
    {dpi}

    Returns
    -------
    {figure_or_path}

    See Also
    --------
    skbreastcad.detection.grad_cam : A heat map of what a ROI classifier looks at.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> image = np.zeros((32, 32), dtype=np.uint8)
    >>> heat = np.outer(np.hanning(32), np.hanning(32))
    >>> plot_overlay(image, heat, path=pathlib.Path(tempfile.mkdtemp()) / "o.png").suffix
    '.png'
    """
    from matplotlib import colormaps
    from matplotlib.patches import Circle

    image = np.asarray(image, dtype=float)
    heatmap = np.asarray(heatmap, dtype=float)
    if image.ndim != 2 or heatmap.shape != image.shape:
        raise ValueError(
            f"image {image.shape} and heatmap {heatmap.shape} must be 2-D of one shape."
        )
    top = float(np.nanmax(heatmap)) if vmax is None else float(vmax)
    level = np.clip(np.nan_to_num(heatmap) / top, 0, 1) if top > 0 else np.zeros_like(heatmap)
    rgba = colormaps["jet"](level)
    rgba[..., 3] = alpha * level
    height, width = image.shape
    fig = _new_figure((size, size * height / width + (0.4 if title else 0)), dpi)
    ax = fig.add_axes((0, 0, 1, 1 if not title else 1 - 0.4 / fig.get_figheight()))
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.imshow(rgba, interpolation="nearest")
    if lesions is not None:
        for row in lesions.itertuples():
            ax.add_patch(
                Circle((row.col, row.row), row.radius, fill=False, ec="white", ls="--", lw=1.2)
            )
    if candidates is not None:
        for k, row in enumerate(candidates.itertuples(), start=1):
            ax.add_patch(
                Circle((row.col, row.row), max(row.radius, 3), fill=False, ec="cyan", lw=1.0)
            )
            ax.text(row.col, row.row, f"{k}:{row.score:.2f}", color="cyan", fontsize=7, ha="center")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    # the axes fill the figure by hand: tight_layout would shrink them
    return _finish(fig, path, layout=False)
