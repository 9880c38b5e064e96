"""Image features of grayscale ROIs: Gabor, GLCM and Haar-like textures, and CNN layers.

:class:`CNNLayerFeatures` (one layer, as a transformer) and
:func:`layer_features` (several layers from one forward pass) are imported on
first access, so that the texture features can be used without loading the
deep-learning stack.
"""

from ._gabor import GaborFeatures
from ._glcm import GLCM_FEATURE_NAMES, GLCMFeatures
from ._haar import HAAR_FEATURE_TYPES, HaarFeatures

__all__ = [
    "CNNLayerFeatures",
    "GLCM_FEATURE_NAMES",
    "GLCMFeatures",
    "GaborFeatures",
    "HAAR_FEATURE_TYPES",
    "HaarFeatures",
    "layer_features",
]


def __getattr__(name):
    if name in ("CNNLayerFeatures", "layer_features"):
        from . import _cnn

        return getattr(_cnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
