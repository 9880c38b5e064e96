"""Heat-map overlays on ROIs and films: drawn by :func:`skbreastcad.plotting.plot_overlay`.

``save_overlay`` keeps the old signature (``path`` required) for the command
module until it calls :mod:`skbreastcad.plotting` itself; the public
``skbreastcad.detection.save_overlay`` is a deprecated alias of it.
"""

from ..plotting import plot_overlay, save_figure

__all__ = ["save_figure", "save_overlay"]


def save_overlay(image, heatmap, path, **kwargs):
    """Save a grayscale image with a heat map blended over it, as a PNG.

    Parameters
    ----------
    image : array-like of shape (height, width)
        A ROI or a film.
    heatmap : array-like of shape (height, width)
        Grad-CAM, occlusion sensitivity or a lesion map, same shape as the image.
    path : str or path-like
        PNG file, written atomically.
    **kwargs
        ``candidates``, ``lesions``, ``alpha``, ``title``, ``vmax``, ``size``
        and ``dpi`` of :func:`skbreastcad.plotting.plot_overlay`.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, pathlib, warnings
    >>> import numpy as np
    >>> image = np.zeros((32, 32), dtype=np.uint8)
    >>> heat = np.outer(np.hanning(32), np.hanning(32))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)  # skbreastcad.detection's is deprecated
    ...     save_overlay(image, heat, pathlib.Path(tempfile.mkdtemp()) / "o.png").suffix
    '.png'
    """
    return plot_overlay(image, heatmap, path=path, **kwargs)
