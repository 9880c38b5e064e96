"""Save a labelled grid of ROIs as a PNG, so users see what they loaded."""

import math
from pathlib import Path

import numpy as np

__all__ = ["plot_roi_grid"]


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

    Returns
    -------
    path_or_figure : pathlib.Path or matplotlib.figure.Figure
        The saved file's path, or the figure when ``path`` is None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skbreastcad.datasets import make_phantoms
    >>> from skbreastcad.plotting import plot_roi_grid
    >>> X, y = make_phantoms(8, image_size=32, random_state=0)
    >>> out = plot_roi_grid(X, y, target_names=["non-tumour", "tumour"],
    ...                     path=pathlib.Path(tempfile.mkdtemp()) / "rois.png")
    >>> out.suffix
    '.png'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .utils._validation import resolve_image_shape

    images = np.asarray(images)
    if images.ndim == 2:
        images = images.reshape(len(images), *resolve_image_shape(images.shape[1], image_shape))
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must be a non-empty batch of 2-D grayscale images; got shape {images.shape}.")
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
            if target_names is not None and np.issubdtype(type(label), np.integer) and 0 <= label < len(target_names):
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
