"""FROC curves of a detector, with the reported rates and their intervals."""

import numpy as np

from ._base import _figure_docs_100, _finish, _new_figure

__all__ = ["plot_froc"]


@_figure_docs_100
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
