"""Transfer-learning classifiers built on the backbones of :mod:`skbreastcad.nn`.

- :class:`TwoStageTransferClassifier`: none / ImageNet / two-stage transfer
  as one scikit-learn classifier.
- :class:`SourceData`: its stage-1 data set, shared (not copied) by ``clone``.

The backbone registry lives in :mod:`skbreastcad.nn`, layer features in
:class:`skbreastcad.features.CNNLayerFeatures`. Importing this package does
not import torch or skorch; fitting does.
"""

from ._source_data import SourceData
from ._transfer import TwoStageTransferClassifier

__all__ = ["SourceData", "TwoStageTransferClassifier"]
