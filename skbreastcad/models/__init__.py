"""CNN backbones with offline-capable weights, and transfer-learning classifiers.

- :func:`list_backbones`, :func:`build_backbone`, :func:`list_layers`,
  :data:`VGG16_STUDY_LAYERS`: the backbone registry.
- :class:`TwoStageTransferClassifier`: none / ImageNet / two-stage transfer
  as one scikit-learn classifier.
- :class:`~skbreastcad.features.CNNLayerFeatures` (also importable from here):
  pooled activations of one layer.
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
from ._transfer import TwoStageTransferClassifier, clear_stage1_cache

__all__ = [
    "BackboneSpec",
    "CNNLayerFeatures",
    "TwoStageTransferClassifier",
    "VGG16_STUDY_LAYERS",
    "build_backbone",
    "clear_stage1_cache",
    "get_backbone_spec",
    "list_backbones",
    "list_layers",
    "register_backbone",
]


def __getattr__(name):
    # skbreastcad.features imports this package; import lazily to avoid a cycle
    if name == "CNNLayerFeatures":
        from ..features._cnn import CNNLayerFeatures

        return CNNLayerFeatures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
