"""From ROIs to whole mammograms: lesion maps, candidate lesions, FROC and explanations.

- :func:`lesion_map`: any fitted ROI classifier or pipeline slid over a film.
- :func:`find_candidates`: peaks of a map with non-maximum suppression.
- :func:`froc`, :func:`plot_froc`: lesion sensitivity against false
  positives per film, with patient-bootstrap intervals.
- :func:`evaluate_mias_froc`: the grouped train-on-ROIs / FROC-on-films
  evaluation of mini-MIAS.
- :func:`preprocess_film`: breast, pectoral muscle, side and intensities of a film.
- :class:`FilmLesionDetector`: a detector trained on whole films (multi-scale
  positives, hard negatives, dense maps), with :class:`BlobWindowFeatures`.
- :func:`froc_by_class`, :func:`evaluate_froc`: per-class FROC, out of fold
  by woman or on another data set.
- :func:`grad_cam`, :func:`occlusion_sensitivity`, :func:`save_overlay`:
  explanations of a ROI classifier and their overlays.
"""

from ._blob_features import BlobWindowFeatures
from ._candidates import find_candidates
from ._detector import FilmLesionDetector
from ._evaluate_detector import (
    cbis_sample_detection_data,
    evaluate_froc,
    mias_detection_data,
    mias_pairs,
)
from ._explain import grad_cam, occlusion_sensitivity
from ._froc import froc, plot_froc
from ._froc_classes import LESION_CLASSES, froc_by_class
from ._lesion_map import lesion_map, window_shape
from ._overlay import save_overlay
from ._preprocess import preprocess_film

__all__ = [
    "LESION_CLASSES",
    "cbis_sample_detection_data",
    "BlobWindowFeatures",
    "FilmLesionDetector",
    "evaluate_froc",
    "find_candidates",
    "froc",
    "froc_by_class",
    "grad_cam",
    "lesion_map",
    "mias_detection_data",
    "mias_pairs",
    "occlusion_sensitivity",
    "plot_froc",
    "preprocess_film",
    "save_overlay",
    "window_shape",
]
