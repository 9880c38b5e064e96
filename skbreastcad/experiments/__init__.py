"""The study's experiments, each returning a :class:`~skbreastcad.evaluation.Report`.

- :func:`compare_feature_sets`: hand-crafted, CNN and fused features and fine-tuned
  classifiers as rows of one table (the study's Table 1);
- :func:`probe_layers`: every layer of a backbone from one forward pass (Table 2);
- :func:`compare_backbones`: backbones as feature extractors and fine-tuned (Table 3);
- :func:`compare_transfer`: none, ImageNet and two-stage transfer, with learning curves (Fig. 6);
- :func:`compare_ablations`: up-sampling and augmentation on and off.
"""

from ._common import (
    ExperimentReport,
    check_experiment_data,
    make_cv,
    resolve_backbone,
    weights_status,
)
from ._deep import HistoryRecorder, compare_ablations, compare_backbones, compare_transfer
from ._feature_comparison import (
    compare_feature_sets,
    format_table,
    make_feature_pipeline,
    make_feature_set,
    plot_comparison,
)
from ._layers import layer_features, probe_layers

__all__ = [
    "ExperimentReport",
    "HistoryRecorder",
    "check_experiment_data",
    "compare_ablations",
    "compare_backbones",
    "compare_feature_sets",
    "compare_transfer",
    "format_table",
    "layer_features",
    "make_cv",
    "make_feature_pipeline",
    "make_feature_set",
    "plot_comparison",
    "probe_layers",
    "resolve_backbone",
    "weights_status",
]
