"""The deep-learning layer below :mod:`skbreastcad.features` and :mod:`skbreastcad.models`.

- :func:`list_backbones`, :func:`get_backbone_spec`, :func:`build_backbone`,
  :func:`list_layers`, :func:`register_backbone`, :class:`BackboneSpec` and
  :data:`VGG16_STUDY_LAYERS`: the backbone registry, with offline-capable
  weights;
- :func:`weights_status` and :func:`resolve_backbone`: whether a backbone's
  ImageNet weights are on this machine, and what runs instead when they are not.

Beside this public registry, the package holds the package-internal torch layer
that :mod:`~skbreastcad.features`, :mod:`~skbreastcad.models` and
:mod:`~skbreastcad.augmentation` import privately (as scikit-image's
``_shared``): ``_base`` (``BaseDeepEstimator``, the deep estimators' shared
parameters, checks, model build and batched inference), ``_device`` (device,
autocast and memory-format resolution), ``_input`` (grey levels to unit
tensors, input sizes, fixed-size batches) and ``_weights`` (atomic, verified
checkpoint files, the torch hub cache and early checks of ``weights``). They
are not public API: their names may change without deprecation.

Importing this package does not import torch: torch, torchvision and timm load
when a backbone is first looked up or built.
"""

from ._availability import resolve_backbone, weights_status
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
    "resolve_backbone",
    "weights_status",
]
