"""
The study's Table 1: hand-crafted texture features and their fusion
===================================================================

Gabor, GLCM and Haar-like features, alone and fused, each in a pipeline that scales the
features, up-samples the minority class on the training folds only and fits a logistic
regression. One :func:`~skbreastcad.evaluation.evaluate` call cross-validates every
candidate of the grid with folds grouped by patient, and reports each metric with a
patient-bootstrap confidence interval.
"""

# %%
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from skbreastcad.datasets import make_phantoms
from skbreastcad.evaluation import evaluate
from skbreastcad.experiments import make_feature_pipeline, make_feature_set
from skbreastcad.metrics import cad_scoring
from skbreastcad.plotting import plot_metric_bars

X, y, groups = make_phantoms(120, image_size=48, return_groups=True, random_state=0)

names = ["gabor", "glcm", "haar", "gabor+glcm"]
search = GridSearchCV(
    make_feature_pipeline("glcm"),
    {"features": [make_feature_set(name) for name in names]},
    scoring=cad_scoring(),
    refit="f1",
    cv=StratifiedGroupKFold(3, shuffle=True, random_state=0),
)
report = evaluate(
    search,
    X,
    y,
    groups=groups,
    cv=StratifiedGroupKFold(3, shuffle=True, random_state=1),
    candidate_names=names,
    metrics=("accuracy", "precision", "sensitivity", "specificity", "f1", "roc_auc"),
    n_boot=200,
)
print(report.format_table())

# %%
# The same numbers as bars with their intervals: ``report.results`` holds one row per
# candidate and metric.
fig = plot_metric_bars(report.results, metrics=["sensitivity", "specificity", "f1", "roc_auc"])
