"""Images: labelled ROI grids and heat-map overlays on ROIs and films."""

import math

import numpy as np

from ._base import _figure_docs_100, _finish, _new_figure

__all__ = ["plot_overlay", "plot_roi_grid"]


@_figure_docs_100
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
    from ..utils._validation import resolve_image_shape

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

    fig = _new_figure((tile_size * n_cols, (tile_size + 0.25) * n_rows), dpi)
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


@_figure_docs_100
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
