"""Hand-crafted texture features of grayscale ROIs: Gabor, GLCM and Haar-like."""

from ._cnn import CNNLayerFeatures
from ._gabor import GaborFeatures
from ._glcm import GLCMFeatures
from ._haar import HaarFeatures

__all__ = ["CNNLayerFeatures", "GaborFeatures", "GLCMFeatures", "HaarFeatures"]
