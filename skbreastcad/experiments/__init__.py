"""The study's experiments, each returning a :class:`~skbreastcad.evaluation.Report`.

- :func:`compare_feature_sets`: hand-crafted, CNN and fused features and fine-tuned
  classifiers as rows of one table (the study's Table 1);
- :func:`probe_layers`: every layer of a backbone from one forward pass (Table 2);
- :func:`compare_backbones`: backbones as feature extractors and fine-tuned (Table 3);
- :func:`compare_transfer`: none, ImageNet and two-stage transfer, with learning curves (Fig. 6);
- :func:`compare_ablations`: up-sampling and augmentation on and off;
- :func:`reproduce_study`: all of them as the study's protocol, one claim per row,
  resumable unit by unit (``skbreastcad reproduce``).

``HistoryRecorder``, ``layer_features`` and ``weights_status`` moved to
:mod:`skbreastcad.models`, :mod:`skbreastcad.features` and :mod:`skbreastcad.nn`;
their old names here still work, with a FutureWarning, until 0.2.
"""

import warnings

from ._common import ExperimentReport, check_experiment_data, make_cv
from ._deep import compare_ablations, compare_backbones, compare_transfer
from ._feature_comparison import (
    compare_feature_sets,
    make_feature_pipeline,
    make_feature_set,
)

# deprecated aliases (removed in 0.2), importable but left out of __all__:
# Report.format_table and plotting.plot_metric_bars replace them
from ._feature_comparison import format_table as format_table
from ._feature_comparison import plot_comparison as plot_comparison
from ._layers import probe_layers
from ._reproduce import (
    STUDY_MODES,
    StudyData,
    StudyReproduction,
    check_reproduction,
    reproduce_study,
    study_settings,
)

__all__ = [
    "STUDY_MODES",
    "ExperimentReport",
    "StudyData",
    "StudyReproduction",
    "check_experiment_data",
    "check_reproduction",
    "compare_ablations",
    "compare_backbones",
    "compare_feature_sets",
    "compare_transfer",
    "make_cv",
    "make_feature_pipeline",
    "make_feature_set",
    "probe_layers",
    "reproduce_study",
    "study_settings",
]

# deprecated in 0.1, removed in 0.2: name -> its new home
_MOVED = {
    "HistoryRecorder": "skbreastcad.models",
    "layer_features": "skbreastcad.features",
    "weights_status": "skbreastcad.nn",
}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        home = _MOVED[name]
        warnings.warn(
            f"skbreastcad.experiments.{name} is deprecated since 0.1 and will be removed in "
            f"0.2: import it from {home} instead.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
