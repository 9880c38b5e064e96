"""Data loaders (mini-MIAS, CBIS-DDSM, image folders) and synthetic breast phantoms."""

from ._phantoms import make_phantoms

__all__ = ["make_phantoms"]
