"""Baseline on real data: logistic regression on GLCM + Gabor features, mini-MIAS tumour task.

Lesion ROIs against 4x as many non-tumour ROIs (``load_mias`` defaults: 128-px
crops at 200 micron, resampled to 64 px), patient-grouped stratified 5-fold
cross-validation (a woman's two films never straddle a fold), ROC AUC per fold.

    .venv/bin/python benchmarks/baseline_mias.py [--mias ../shared/data/mias]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_validate
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from skbreastcad.datasets import load_mias
from skbreastcad.features import GaborFeatures, GLCMFeatures

DEFAULT_MIAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mias"


def make_pipeline():
    return Pipeline(
        [
            ("features", FeatureUnion([("glcm", GLCMFeatures()), ("gabor", GaborFeatures())])),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=5000)),
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mias", type=Path, default=DEFAULT_MIAS)
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the non-tumour ROIs and the fold shuffle"
    )
    parser.add_argument("--output-size", type=int, default=64)
    parser.add_argument("--n-jobs", type=int, default=None)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_mias(
            args.mias, task="tumour", output_size=args.output_size, random_state=args.seed
        )
    for w in caught:
        print(f"load_mias warning: {w.message}")
    X, y, groups = data.images, data.target, data.groups
    print(
        f"{len(y)} ROIs ({int(y.sum())} tumour : {int((y == 0).sum())} non-tumour) of "
        f"{len(np.unique(groups))} women, {X.shape[1]}x{X.shape[2]} px, "
        f"loaded in {time.perf_counter() - start:.1f} s"
    )

    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=args.seed)
    for train, test in cv.split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])
    start = time.perf_counter()
    scores = cross_validate(
        make_pipeline(), X, y, groups=groups, cv=cv, scoring="roc_auc", n_jobs=args.n_jobs
    )
    auc = scores["test_score"]
    pipe = make_pipeline().fit(X[:10], y[:10])
    n_features = len(pipe.named_steps["features"].get_feature_names_out())
    print(
        f"GLCM + Gabor ({n_features} features) -> StandardScaler -> LogisticRegression, "
        f"StratifiedGroupKFold(5) by woman ({time.perf_counter() - start:.1f} s)"
    )
    print("ROC AUC per fold: " + ", ".join(f"{a:.3f}" for a in auc))
    print(f"ROC AUC: {auc.mean():.3f} ± {auc.std(ddof=1):.3f} (mean ± sd over 5 folds)")
    return auc


if __name__ == "__main__":
    main()
