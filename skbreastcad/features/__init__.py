"""Image features of grayscale ROIs: Gabor, GLCM and Haar-like textures, and CNN layers.

:class:`CNNLayerFeatures` is imported on first access, so that the texture
features can be used without loading the deep-learning stack.
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
]


def __getattr__(name):
    if name == "CNNLayerFeatures":
        from ._cnn import CNNLayerFeatures

        return CNNLayerFeatures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
