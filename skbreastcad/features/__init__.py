"""Hand-crafted texture features of grayscale ROIs: Gabor, GLCM and Haar-like."""

__all__ = []
