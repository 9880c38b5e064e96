"""Evaluation a reviewer can trust: out-of-fold predictions, patient-level bootstrap CIs,
paired comparisons, threshold policies chosen on training folds, and the :class:`Report`
that every experiment returns.

``evaluation`` builds on :mod:`skbreastcad.metrics`, :mod:`skbreastcad.plotting` and
:mod:`skbreastcad.utils`; :mod:`skbreastcad.experiments` and the command line build on it.
"""

from ._bootstrap import BootstrapResult, bootstrap_counts, bootstrap_metrics, confidence_interval
from ._checks import DegenerateResultWarning
from ._comparison import (
    DeLongResult,
    bootstrap_pvalue,
    delong_covariance,
    delong_test,
    holm_correction,
    mcnemar_test,
    paired_bootstrap_test,
)
from ._evaluate import evaluate, evaluate_predictions
from ._metrics import DEFAULT_METRICS, THRESHOLD_METRICS, parse_metric, weighted_metrics
from ._predictions import CrossValPredictions, cross_val_predictions, positive_scores
from ._provenance import data_fingerprint
from ._report import Report
from ._thresholds import apply_threshold_policy, check_threshold_policy, choose_threshold

__all__ = [
    "DEFAULT_METRICS",
    "THRESHOLD_METRICS",
    "BootstrapResult",
    "CrossValPredictions",
    "DeLongResult",
    "DegenerateResultWarning",
    "Report",
    "apply_threshold_policy",
    "bootstrap_counts",
    "bootstrap_metrics",
    "bootstrap_pvalue",
    "check_threshold_policy",
    "choose_threshold",
    "confidence_interval",
    "cross_val_predictions",
    "data_fingerprint",
    "delong_covariance",
    "delong_test",
    "evaluate",
    "evaluate_predictions",
    "holm_correction",
    "mcnemar_test",
    "paired_bootstrap_test",
    "parse_metric",
    "positive_scores",
    "weighted_metrics",
]
