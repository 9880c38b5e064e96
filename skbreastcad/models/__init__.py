"""Transfer-learning classifiers built on the backbones of :mod:`skbreastcad.nn`.

- :class:`TwoStageTransferClassifier`: none / ImageNet / two-stage transfer
  as one scikit-learn classifier.
- :class:`SourceData`: its stage-1 data set, shared (not copied) by ``clone``.
- :class:`HistoryRecorder`: a skorch callback that keeps each training
  stage's history for learning curves (every skorch callback of the package
  lives in this package).

The backbone registry lives in :mod:`skbreastcad.nn`, layer features in
:mod:`skbreastcad.features`. Importing this package does not import torch or
skorch; fitting, or first access to :class:`HistoryRecorder`, does.
"""

from ._source_data import SourceData
from ._transfer import TwoStageTransferClassifier

__all__ = ["HistoryRecorder", "SourceData", "TwoStageTransferClassifier"]


def __getattr__(name):
    if name == "HistoryRecorder":
        from ._callbacks import HistoryRecorder

        return HistoryRecorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
