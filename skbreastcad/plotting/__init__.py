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

from ._base import save_figure
from ._evaluation import (
    plot_calibration_curves,
    plot_comparisons,
    plot_confusion_matrices,
    plot_learning_curves,
    plot_metric_bars,
    plot_roc_curves,
)
from ._froc import plot_froc
from ._images import plot_overlay, plot_roi_grid

__all__ = [
    "plot_calibration_curves",
    "plot_comparisons",
    "plot_confusion_matrices",
    "plot_froc",
    "plot_learning_curves",
    "plot_metric_bars",
    "plot_overlay",
    "plot_roc_curves",
    "plot_roi_grid",
    "save_figure",
]
