"""CNN backbones with offline-capable weights.

- :func:`list_backbones`, :func:`build_backbone`, :func:`list_layers`,
  :data:`VGG16_STUDY_LAYERS`: the backbone registry.
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
    "BackboneSpec",
    "VGG16_STUDY_LAYERS",
    "build_backbone",
    "get_backbone_spec",
    "list_backbones",
    "list_layers",
    "register_backbone",
]
