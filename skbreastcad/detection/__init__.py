"""From ROIs to whole mammograms: lesion maps, candidate lesions, FROC and explanations.

- :func:`lesion_map`: any fitted ROI classifier or pipeline slid over a film.
- :func:`find_candidates`: peaks of a map with non-maximum suppression.
- :func:`froc`, :func:`plot_froc`: lesion sensitivity against false
  positives per film, with patient-bootstrap intervals.
- :func:`evaluate_mias_froc`, :func:`mias_films`: the grouped
  train-on-ROIs / FROC-on-films evaluation of mini-MIAS, and its films.
- :func:`grad_cam`, :func:`occlusion_sensitivity`, :func:`save_overlay`:
  explanations of a ROI classifier and their overlays.
"""

from ._candidates import find_candidates
from ._evaluate import evaluate_mias_froc, mias_films
from ._explain import grad_cam, occlusion_sensitivity
from ._froc import froc, plot_froc
from ._lesion_map import lesion_map, window_shape
from ._overlay import save_overlay

__all__ = [
    "evaluate_mias_froc",
    "find_candidates",
    "froc",
    "grad_cam",
    "lesion_map",
    "mias_films",
    "occlusion_sensitivity",
    "plot_froc",
    "save_overlay",
    "window_shape",
]
