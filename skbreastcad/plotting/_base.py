"""What every figure shares: a pyplot-free Agg figure, the atomic PNG writer, the
one output convention (``path=None`` returns the figure) and its docstring text."""

import os
import uuid
from pathlib import Path

from ..utils._docstrings import substitute_docs
from ..utils._output_folder import new_file

__all__ = ["save_figure"]


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
#: the same, for figures drawn at 100 dpi by default
_figure_docs_100 = substitute_docs(**{**_FIGURE_DOCS, "dpi": _dpi_doc(100)})


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
        The figure, drawn by any function of this package or by the caller.
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
    >>> from skbreastcad.plotting import plot_calibration_curves, save_figure
    >>> fig = plot_calibration_curves({"model": ([0.2, 0.8], [0.1, 0.9])})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = save_figure(fig, Path(folder) / "sub" / "calibration.png")
    ...     out.name, out.stat().st_size > 0
    ('calibration.png', True)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not tempfile.mkstemp: its 0600 mode would survive the rename; new_file takes the umask's
    tmp = path.parent / f".{path.stem}-{uuid.uuid4().hex[:8]}.png"
    try:
        with new_file(tmp, "wb") as handle:
            fig.savefig(handle, format="png", dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _label(value):
    # rows of a pd.concat of several reports carry tuples as labels
    return " / ".join(map(str, value)) if isinstance(value, tuple) else str(value)
