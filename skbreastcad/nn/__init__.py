"""The deep-learning layer below :mod:`skbreastcad.features` and :mod:`skbreastcad.models`.

- :func:`list_backbones`, :func:`get_backbone_spec`, :func:`build_backbone`,
  :func:`list_layers`, :func:`register_backbone`, :class:`BackboneSpec` and
  :data:`VGG16_STUDY_LAYERS`: the backbone registry, with offline-capable
  weights.

Importing this package does not import torch: torch, torchvision and timm load
when a backbone is first looked up or built.
"""

from ._backbones import (
    VGG16_STUDY_LAYERS,
    BackboneSpec,
    build_backbone,
    get_backbone_spec,
    list_backbones,
    list_layers,
    register_backbone,
)

__all__ = [
    "VGG16_STUDY_LAYERS",
    "BackboneSpec",
    "build_backbone",
    "get_backbone_spec",
    "list_backbones",
    "list_layers",
    "register_backbone",
]
