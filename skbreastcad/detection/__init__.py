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

from .. import plotting as _plotting
from ..utils._deprecation import deprecated_alias as _deprecated_alias
from . import _froc, _overlay
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

plot_froc = _deprecated_alias(
    _plotting.plot_froc,
    "skbreastcad.detection.plot_froc",
    since="0.1",
    removed_in="0.2",
    adapter=_froc.plot_froc,
)
save_overlay = _deprecated_alias(
    _plotting.plot_overlay,
    "skbreastcad.detection.save_overlay",
    since="0.1",
    removed_in="0.2",
    adapter=_overlay.save_overlay,
)

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
