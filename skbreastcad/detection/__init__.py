"""From ROIs to whole mammograms: lesion maps, candidate lesions, FROC and explanations.

- :func:`lesion_map`: any fitted ROI classifier or pipeline slid over a film.
- :func:`find_candidates`: peaks of a map with non-maximum suppression.
- :func:`froc`: lesion sensitivity against false positives per film, with
  patient-bootstrap intervals (drawn by :func:`skbreastcad.plotting.plot_froc`).
- :func:`evaluate_mias_froc`, :func:`mias_films`: the grouped
  train-on-ROIs / FROC-on-films evaluation of mini-MIAS, and its films.
- :func:`grad_cam`, :func:`occlusion_sensitivity`: explanations of a ROI
  classifier (drawn by :func:`skbreastcad.plotting.plot_overlay`).

``plot_froc`` and ``save_overlay`` moved to :mod:`skbreastcad.plotting`; the names
here are deprecated aliases with their old signatures, left out of ``__all__`` (a
name has one home) and removed in 0.2.
"""

from .. import plotting as _plotting
from ..utils._deprecation import deprecated_alias as _deprecated_alias
from . import _froc, _overlay
from ._candidates import find_candidates
from ._evaluate import evaluate_mias_froc, mias_films
from ._explain import grad_cam, occlusion_sensitivity
from ._froc import froc
from ._lesion_map import lesion_map, window_shape

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
    "evaluate_mias_froc",
    "find_candidates",
    "froc",
    "grad_cam",
    "lesion_map",
    "mias_films",
    "occlusion_sensitivity",
    "window_shape",
]
