"""
A grid search over feature sets on Dask
=======================================

Every candidate x fold of an experiment is an independent fit. scikit-learn hands them to
joblib, and joblib's Dask backend spreads them over a cluster's workers: the same code runs
on a laptop or on a SLURM allocation (``dask_jobqueue.SLURMCluster``). Here a local cluster
of one worker process stands in for it; the result equals the one of a local run.
"""

# %%
import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from skbreastcad.datasets import make_phantoms
from skbreastcad.experiments import make_feature_pipeline, make_feature_set

X, y, groups = make_phantoms(60, image_size=32, return_groups=True, random_state=0)
names = ("glcm", "glcm+haar")
grid = {"features": [make_feature_set(name) for name in names]}
cv = StratifiedGroupKFold(3, shuffle=True, random_state=0)


def search():
    return GridSearchCV(make_feature_pipeline("glcm"), grid, scoring="roc_auc", cv=cv, n_jobs=-1)


# %%
# On Dask: one worker process, two threads (a real cluster is an address: ``Client("tcp://...")``)
with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
    with Client(cluster), joblib.parallel_backend("dask"):
        on_dask = search().fit(X, y, groups=groups)

local = search().fit(X, y, groups=groups)
for name, a, b in zip(
    names,
    on_dask.cv_results_["mean_test_score"],
    local.cv_results_["mean_test_score"],
):
    print(f"{name:10s} AUC on Dask {a:.3f}   locally {b:.3f}")
assert np.allclose(on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
