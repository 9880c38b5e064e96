"""Heat-map overlays on ROIs and films, written as PNGs."""

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["save_overlay"]


def save_figure(fig, path, dpi=100):
    """Write a matplotlib figure as a PNG through a temporary file, so a crash leaves no half file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if not path.parent.is_dir():
        # else mkstemp's error names the hidden temporary file, not the user's folder
        raise FileNotFoundError(
            f"Cannot write {path.name}: the folder {str(path.parent)!r} does not exist."
        )
    FigureCanvasAgg(fig)
    fd, tmp = tempfile.mkstemp(suffix=".png", prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_overlay(
    image,
    heatmap,
    path,
    *,
    candidates=None,
    lesions=None,
    alpha=0.45,
    title=None,
    vmax=None,
    size=6.0,
):
    """Save a grayscale image with a heat map blended over it, as a PNG.

    Parameters
    ----------
    image : array-like of shape (height, width)
        A ROI or a film.
    heatmap : array-like of shape (height, width)
        Grad-CAM, occlusion sensitivity or a lesion map, same shape as the image.
    path : str or path-like
        PNG file, written atomically.
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

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from skbreastcad.detection import save_overlay
    >>> image = np.zeros((32, 32), dtype=np.uint8)
    >>> heat = np.outer(np.hanning(32), np.hanning(32))
    >>> save_overlay(image, heat, pathlib.Path(tempfile.mkdtemp()) / "o.png").suffix
    '.png'
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
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
    fig = Figure(figsize=(size, size * height / width + (0.4 if title else 0)))
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
    return save_figure(fig, path)
