"""From ROIs to whole mammograms: lesion maps, candidate lesions, FROC and explanations.

- :func:`lesion_map`: any fitted ROI classifier or pipeline slid over a film.
- :func:`find_candidates`: peaks of a map with non-maximum suppression.
- :func:`froc`: lesion sensitivity against false positives per film, with
  patient-bootstrap intervals (drawn by :func:`skbreastcad.plotting.plot_froc`).
- :func:`evaluate_mias_froc`, :func:`mias_films`: the grouped
  train-on-ROIs / FROC-on-films evaluation of mini-MIAS, and its films.
- :func:`preprocess_film`: breast, pectoral muscle, side and intensities of a film.
- :class:`FilmLesionDetector`: a detector trained on whole films (multi-scale
  positives, hard negatives, dense maps), with :class:`BlobWindowFeatures`.
- :func:`froc_by_class`, :func:`evaluate_froc`: per-class FROC, out of fold
  by woman or on another data set.
- :func:`grad_cam`, :func:`occlusion_sensitivity`: explanations of a ROI
  classifier (drawn by :func:`skbreastcad.plotting.plot_overlay`).

``plot_froc`` and ``save_overlay`` moved to :mod:`skbreastcad.plotting`; the names
here are deprecated aliases with their old signatures, left out of ``__all__`` (a
name has one home) and removed in 0.2.
"""

from ..utils._deprecation import deprecated_alias as _deprecated_alias
from ._blob_features import BlobWindowFeatures
from ._candidates import find_candidates
from ._detector import FilmLesionDetector
from ._evaluate import evaluate_mias_froc, mias_films
from ._evaluate_detector import (
    cbis_sample_detection_data,
    evaluate_froc,
    mias_detection_data,
    mias_pairs,
)
from ._explain import grad_cam, occlusion_sensitivity
from ._froc import froc
from ._froc_classes import LESION_CLASSES, froc_by_class
from ._lesion_map import lesion_map, window_shape
from ._preprocess import preprocess_film


def _plotting():
    # Only the two deprecated aliases below draw anything: they load the plotting package
    # on first use, so detection itself depends on datasets and utils alone.
    import importlib

    return importlib.import_module("skbreastcad.plotting")


def _old_plot_froc(results, path=None, *, ax=None, max_fp=None):
    """Draw FROC curves and return the axes; ``path`` saves them as a PNG (the old signature)."""
    plotting = _plotting()
    fig = plotting.plot_froc(results, ax=ax, max_fp=max_fp)
    if path is not None:
        plotting.save_figure(fig, path)
    return fig.axes[0] if ax is None else ax


def _old_save_overlay(image, heatmap, path, **kwargs):
    """Save an image with a heat map blended over it as a PNG (the old signature)."""
    return _plotting().plot_overlay(image, heatmap, path=path, **kwargs)


_ALIASES = {
    "plot_froc": ("plot_froc", _old_plot_froc),
    "save_overlay": ("plot_overlay", _old_save_overlay),
}


def __getattr__(name):
    if name not in _ALIASES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new_name, adapter = _ALIASES[name]
    alias = _deprecated_alias(
        getattr(_plotting(), new_name),
        f"skbreastcad.detection.{name}",
        since="0.1",
        removed_in="0.2",
        adapter=adapter,
    )
    globals()[name] = alias
    return alias


__all__ = [
    "LESION_CLASSES",
    "cbis_sample_detection_data",
    "BlobWindowFeatures",
    "FilmLesionDetector",
    "evaluate_froc",
    "evaluate_mias_froc",
    "find_candidates",
    "froc",
    "froc_by_class",
    "grad_cam",
    "lesion_map",
    "mias_detection_data",
    "mias_films",
    "mias_pairs",
    "occlusion_sensitivity",
    "preprocess_film",
    "window_shape",
]
