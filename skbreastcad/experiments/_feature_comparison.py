"""The study's feature experiments (its Tables 1 and 2) as scikit-learn searches.

Each feature set is one value of the ``features`` step of one pipeline, so a
comparison of feature sets, a fusion of CNN and hand-crafted features or a
layer-by-layer probe is a single :class:`~sklearn.model_selection.GridSearchCV`.
"""

import time
from numbers import Integral

import numpy as np
import pandas as pd
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import StandardScaler

from ..metrics import CAD_METRICS, cad_scoring

__all__ = [
    "compare_feature_sets",
    "format_table",
    "make_feature_pipeline",
    "make_feature_set",
    "plot_comparison",
]

_HAND_CRAFTED = ("gabor", "glcm", "haar")


def make_feature_set(name, *, image_shape=None, cnn_params=None):
    """Build a named feature transformer; ``+`` fuses sets with a FeatureUnion.

    Parameters
    ----------
    name : str
        ``"gabor"``, ``"glcm"``, ``"haar"``, ``"cnn"`` or a fusion such as
        ``"cnn+gabor"`` (the study's V+Gabor).
    image_shape : tuple of int, optional
        Passed to every transformer, for flattened input.
    cnn_params : dict, optional
        Keyword arguments of :class:`~skbreastcad.features.CNNLayerFeatures`
        for the ``"cnn"`` part (e.g. ``backbone``, ``layer``, ``weights``).

    Returns
    -------
    transformer : estimator
    """
    from .. import features

    parts = name.split("+")
    builders = {
        "gabor": lambda: features.GaborFeatures(image_shape=image_shape),
        "glcm": lambda: features.GLCMFeatures(image_shape=image_shape),
        "haar": lambda: features.HaarFeatures(image_shape=image_shape),
        "cnn": lambda: features.CNNLayerFeatures(image_shape=image_shape, **(cnn_params or {})),
    }
    unknown = [p for p in parts if p not in builders]
    if unknown:
        raise ValueError(
            f"Unknown feature set {unknown[0]!r} in {name!r}; valid names are "
            f"{sorted(builders)}, joined with '+' to fuse them."
        )
    if len(parts) == 1:
        return builders[parts[0]]()
    return FeatureUnion([(p, builders[p]()) for p in parts])


def make_feature_pipeline(features="gabor", classifier=None, *, oversample=True, random_state=0):
    """Features -> scaling -> (random over-sampling) -> classifier.

    Over-sampling is a pipeline step, so imbalanced-learn applies it during
    ``fit`` only: test folds are never resampled.

    Parameters
    ----------
    features : str or transformer, default="gabor"
        A name understood by :func:`make_feature_set` or any transformer.
    classifier : estimator, optional
        Defaults to a logistic regression.
    oversample : bool, default=True
        Balance the classes of each training fold by random up-sampling of
        the minority class, as the study does.
    random_state : int, RandomState instance or None, default=0

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
    """
    if isinstance(features, str):
        features = make_feature_set(features)
    if classifier is None:
        classifier = LogisticRegression(max_iter=2000)
    steps = [("features", features), ("scale", StandardScaler())]
    if oversample:
        steps.append(("oversample", RandomOverSampler(random_state=random_state)))
    steps.append(("classifier", classifier))
    return Pipeline(steps)


def compare_feature_sets(
    X,
    y,
    feature_sets=_HAND_CRAFTED,
    *,
    groups=None,
    classifier=None,
    cv=5,
    oversample=True,
    random_state=0,
    n_jobs=None,
    verbose=0,
):
    """Cross-validate one pipeline per feature set: the study's Table 1.

    Parameters
    ----------
    X : array-like of shape (n_samples, height, width)
        ROI images.
    y : array-like of shape (n_samples,)
        1 = tumour.
    feature_sets : sequence of str or dict of str to transformer
        Names for :func:`make_feature_set` (e.g. ``("gabor", "cnn+gabor")``),
        or ``{label: transformer}``.
    groups : array-like of shape (n_samples,), optional
        Patient ids: folds never split a patient (StratifiedGroupKFold).
    classifier : estimator, optional
        Defaults to a logistic regression.
    cv : int or cross-validation splitter, default=5
    oversample : bool, default=True
    random_state : int, default=0
        Seeds the fold split and the over-sampler.
    n_jobs : int, optional
        Parallel fits in the search.
    verbose : int, default=0

    Returns
    -------
    table : pandas.DataFrame
        One row per feature set; for each of the study's metrics its mean
        and standard deviation over folds, and the fit time.
    search : GridSearchCV
        The fitted search (``cv_results_`` has every fold's scores).
    """
    if isinstance(feature_sets, dict):
        candidates = dict(feature_sets)
    else:
        candidates = {name: make_feature_set(name) for name in feature_sets}
    if isinstance(cv, Integral):
        splitter = StratifiedGroupKFold if groups is not None else StratifiedKFold
        cv = splitter(n_splits=cv, shuffle=True, random_state=random_state)
    pipeline = make_feature_pipeline(
        next(iter(candidates.values())), classifier, oversample=oversample, random_state=random_state
    )
    search = GridSearchCV(
        pipeline,
        {"features": [clone(t) for t in candidates.values()]},
        scoring=cad_scoring(roc_auc=True),
        refit=False,
        cv=cv,
        n_jobs=n_jobs,
        verbose=verbose,
        error_score="raise",
    )
    start = time.perf_counter()
    search.fit(X, y, groups=groups)
    elapsed = time.perf_counter() - start
    results = search.cv_results_
    rows = []
    for i, label in enumerate(candidates):
        row = {"features": label}
        for metric in (*CAD_METRICS, "roc_auc"):
            row[metric] = results[f"mean_test_{metric}"][i]
            row[f"{metric}_sd"] = results[f"std_test_{metric}"][i]
        row["fit_time_s"] = results["mean_fit_time"][i]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("features")
    table.attrs["elapsed_s"] = elapsed
    return table, search


def format_table(table, metrics=(*CAD_METRICS, "roc_auc")):
    """Render a :func:`compare_feature_sets` table as ``mean ± sd`` text."""
    lines = []
    header = f"{'features':<18}" + "".join(f"{m:>17}" for m in metrics)
    lines.append(header)
    lines.append("-" * len(header))
    for label, row in table.iterrows():
        cells = "".join(f"{row[m]:>10.3f} ± {row[m + '_sd']:.3f}" for m in metrics)
        lines.append(f"{label:<18}{cells}")
    return "\n".join(lines)


def plot_comparison(table, path, metrics=CAD_METRICS):
    """Save a grouped bar chart (with fold sd as error bars) of a comparison table.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`compare_feature_sets`.
    path : str or path-like
        PNG file to write.
    metrics : sequence of str, default=CAD_METRICS

    Returns
    -------
    path : str or path-like
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_sets = len(table)
    width = 0.8 / max(n_sets, 1)
    x = np.arange(len(metrics))
    fig, ax = plt.subplots(figsize=(1.6 * len(metrics) + 2, 4))
    for i, (label, row) in enumerate(table.iterrows()):
        ax.bar(
            x + (i - (n_sets - 1) / 2) * width,
            [row[m] for m in metrics],
            width,
            yerr=[row[m + "_sd"] for m in metrics],
            label=str(label),
            capsize=2,
        )
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("cross-validated score")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
