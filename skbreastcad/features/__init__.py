"""Hand-crafted texture features of grayscale ROIs: Gabor, GLCM and Haar-like."""

from ._gabor import GaborFeatures
from ._haar import HaarFeatures

__all__ = ["GaborFeatures", "HaarFeatures"]
