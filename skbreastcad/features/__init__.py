"""Hand-crafted texture features of grayscale ROIs: Gabor, GLCM and Haar-like."""

from ._gabor import GaborFeatures

__all__ = ["GaborFeatures"]
