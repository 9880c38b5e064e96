"""Data loaders (mini-MIAS, CBIS-DDSM, Duke breast MRI, image folders) and synthetic breast phantoms.

Every loader returns a :class:`sklearn.utils.Bunch` with ``images``
``(n, H, W)``, ``target``, ``groups`` (one id per patient, for grouped
cross-validation), ``metadata`` (a pandas DataFrame, one row per ROI),
``target_names`` and ``DESCR``.
"""

from ._cbis_ddsm import load_cbis_ddsm
from ._duke_mri import load_duke_mri
from ._image_folder import load_image_folder
from ._lazy import ImagePaths
from ._mias import load_mias
from ._mias_info import read_mias_info
from ._phantoms import make_phantoms
from ._readers import read_image
from ._roi import cut_roi

__all__ = [
    "ImagePaths",
    "cut_roi",
    "load_cbis_ddsm",
    "load_duke_mri",
    "load_image_folder",
    "load_mias",
    "make_phantoms",
    "read_image",
    "read_mias_info",
]
