"""The study's experiments as a few lines of scikit-learn."""

from ._feature_comparison import (
    compare_feature_sets,
    format_table,
    make_feature_pipeline,
    make_feature_set,
    plot_comparison,
)

__all__ = [
    "compare_feature_sets",
    "format_table",
    "make_feature_pipeline",
    "make_feature_set",
    "plot_comparison",
]
