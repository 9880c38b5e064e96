"""The study's feature experiments (its Tables 1 and 2) as scikit-learn searches.

Each feature set is one value of the ``features`` step of one pipeline, so a
comparison of feature sets, a fusion of CNN and hand-crafted features or a
layer-by-layer probe is a single :class:`~sklearn.model_selection.GridSearchCV`,
run by :func:`skbreastcad.evaluation.evaluate` so that it returns a
:class:`~skbreastcad.evaluation.Report` with confidence intervals.
"""

from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import StandardScaler

from ..evaluation import DEFAULT_METRICS, Report
from ..metrics import CAD_METRICS
from ..plotting import plot_metric_bars
from ..utils._deprecation import deprecated_alias
from ..utils._docstrings import substitute_docs
from ._common import EXPERIMENT_PARAMETERS

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
    image_shape : tuple of (int, int) or None, default=None
        Passed to every transformer, for flattened input.
    cnn_params : dict or None, default=None
        Keyword arguments of :class:`~skbreastcad.features.CNNLayerFeatures`
        for the ``"cnn"`` part (e.g. ``backbone``, ``layer``, ``weights``).

    Returns
    -------
    transformer : estimator
        An unfitted feature transformer, or a
        :class:`~sklearn.pipeline.FeatureUnion` of them named after the parts.

    Examples
    --------
    >>> make_feature_set("glcm")
    GLCMFeatures()
    >>> fused = make_feature_set("cnn+gabor", cnn_params={"backbone": "tiny_cnn", "weights": None})
    >>> [name for name, _ in fused.transformer_list]
    ['cnn', 'gabor']
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


def make_feature_pipeline(
    features="gabor", classifier=None, *, oversample=True, augment=False, random_state=0
):
    """Build the pipeline features -> scaling -> (random over-sampling) -> classifier.

    Over-sampling is a pipeline step, so imbalanced-learn applies it during
    ``fit`` only: test folds are never resampled. With ``augment``, the
    training images are first balanced (copies drawn at random) and every
    image gets an augmented copy, both before the features are computed
    (:class:`~skbreastcad.augmentation.AugmentingSampler`), so that the
    up-sampled copies differ from their originals.

    Parameters
    ----------
    features : str or transformer, default="gabor"
        A name understood by :func:`make_feature_set` or any transformer.
    classifier : estimator or None, default=None
        Defaults to a logistic regression.
    oversample : bool, default=True
        Balance the classes of each training fold by random up-sampling of
        the minority class, as the study does.
    augment : bool, default=False
        Add one augmented copy of every training image (see above).
    random_state : int, RandomState instance or None, default=0
        Seeds the over-sampler and the augmentation.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        The unfitted pipeline; its steps are named ``features``, ``scale``,
        ``oversample`` and ``classifier`` (``image_oversample``, ``augment``,
        ``features``, ``scale`` and ``classifier`` with ``augment``).

    Examples
    --------
    >>> pipe = make_feature_pipeline("glcm")
    >>> list(pipe.named_steps)
    ['features', 'scale', 'oversample', 'classifier']
    >>> list(make_feature_pipeline("glcm", augment=True).named_steps)
    ['image_oversample', 'augment', 'features', 'scale', 'classifier']
    """
    if augment:
        from ..augmentation import AugmentingSampler
        from ..sampling import RandomImageOverSampler

        if isinstance(features, str):
            features = make_feature_set(features)
        steps = []
        if oversample:
            steps.append(("image_oversample", RandomImageOverSampler(random_state=random_state)))
        steps += [
            ("augment", AugmentingSampler(random_state=random_state)),
            ("features", features),
            ("scale", StandardScaler()),
            (
                "classifier",
                classifier if classifier is not None else LogisticRegression(max_iter=2000),
            ),
        ]
        return Pipeline(steps)
    if isinstance(features, str):
        features = make_feature_set(features)
    if classifier is None:
        classifier = LogisticRegression(max_iter=2000)
    steps = [("features", features), ("scale", StandardScaler())]
    if oversample:
        steps.append(("oversample", RandomOverSampler(random_state=random_state)))
    steps.append(("classifier", classifier))
    return Pipeline(steps)


@substitute_docs(**EXPERIMENT_PARAMETERS)
def compare_feature_sets(
    X,
    y,
    feature_sets=_HAND_CRAFTED,
    *,
    groups=None,
    classifier=None,
    cv=5,
    oversample=True,
    threshold="default",
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    ci_method="bca",
    random_state=0,
    n_jobs=None,
    verbose=0,
):
    """Cross-validate one pipeline per feature set: the study's Table 1, with CIs.

    Every feature set is a candidate of one grid over the pipeline's ``features``
    step; the candidates are fitted fold by fold once, and their out-of-fold
    predictions give every metric a bootstrap confidence interval (resampling
    patients when ``groups`` are given) and a paired comparison with the best set.

    Parameters
    ----------
    X : array-like of shape (n_samples, height, width)
        ROI images.
    y : array-like of shape (n_samples,)
        1 = tumour.
    feature_sets : sequence of str or dict of str to estimator, default=("gabor", "glcm", "haar")
        Names for :func:`make_feature_set` (e.g. ``("gabor", "cnn+gabor")``),
        or ``{label: estimator}``. An estimator is a feature transformer
        (features -> scaling -> over-sampling -> ``classifier``), a classifier
        that takes the images themselves, such as a fine-tuned
        :class:`~skbreastcad.models.TwoStageTransferClassifier` (a row of the
        same table, scored on the same folds), or a dict of pipeline steps
        (``image_oversample``, ``augment``, ``features``, ``scale``,
        ``oversample``, ``classifier``).
    groups : array-like of shape (n_samples,) or None, default=None
        Patient ids: folds never split a patient (StratifiedGroupKFold), and the
        confidence intervals resample patients.
    classifier : estimator or None, default=None
        Classifier of the feature-transformer rows; defaults to a logistic
        regression.
    {cv}
    oversample : bool, default=True
        Balance the classes of each training fold by random up-sampling of
        the features of the minority class (feature-transformer rows only).
    threshold : str or float, default="default"
        Threshold policy of :func:`~skbreastcad.evaluation.evaluate`:
        ``"default"`` (the classifier's ``predict``), ``"youden"``,
        ``"specificity=S"``, ``"sensitivity=S"`` or a fixed threshold.
    metrics : sequence of str, default=DEFAULT_METRICS
        Metrics of the report (see :mod:`skbreastcad.metrics`).
    {n_boot}
    {ci_method}
    random_state : int, RandomState instance or None, default=0
        Seeds the fold split, the over-sampler and the bootstrap.
    n_jobs : int or None, default=None
        Parallel fits (candidates x folds), with joblib's meaning: None is 1
        unless in a :func:`joblib.parallel_backend` context, -1 is all cores.
    {verbose}

    Returns
    -------
    report : ExperimentReport
        ``report.table()`` has one row per feature set; ``report.search`` keeps
        the run (``cv_results_`` with every fold's scores of the study's metrics
        and ROC AUC).

    Examples
    --------
    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(40, image_size=32, random_state=0)[:2]
    >>> report = compare_feature_sets(X, y, ["glcm"], cv=2, n_boot=100, ci_method="percentile")
    >>> report.candidates
    ['glcm']
    >>> report.results.columns.tolist()[:5]
    ['candidate', 'metric', 'estimate', 'ci_low', 'ci_high']
    """
    from ._common import run_candidates

    if isinstance(feature_sets, dict):
        candidates = dict(feature_sets)
    else:
        candidates = {name: make_feature_set(name) for name in feature_sets}
    if not candidates:
        raise ValueError("feature_sets is empty: name at least one feature set.")
    return run_candidates(
        X,
        y,
        candidates,
        groups=groups,
        classifier=classifier,
        cv=cv,
        oversample=oversample,
        threshold=threshold,
        metrics=metrics,
        n_boot=n_boot,
        ci_method=ci_method,
        random_state=random_state,
        n_jobs=n_jobs,
        verbose=verbose,
        config={
            "experiment": "compare_feature_sets",
            "feature_sets": list(candidates),
            "oversample": oversample,
        },
        title="Feature comparison (the study's Table 1)",
    )


def _format_table(report, metrics=(*CAD_METRICS, "roc_auc")):
    """Render any report as text: ``estimate [CI low, CI high]`` per candidate and metric.

    Parameters
    ----------
    report : Report or pandas.DataFrame
        A :class:`~skbreastcad.evaluation.Report` (of any experiment), its
        ``results``, a ``pd.concat`` of several reports' results or tables
        (MultiIndex labels are joined with ``" / "``), or a wide table with
        ``m``/``m_ci_low``/``m_ci_high`` (or ``m``/``m_sd``) columns.
    metrics : sequence of str, default=CAD_METRICS + ("roc_auc",)
        Metrics to show; those the report lacks are left out.

    Returns
    -------
    text : str
        One row per candidate, one column per metric shown.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from skbreastcad.evaluation import Report
    >>> table = pd.DataFrame({"f1": [0.8, 0.7], "f1_sd": [0.05, 0.1]}, index=["gabor", "glcm"])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     text = format_table(table)
    >>> caught[0].category.__name__
    'FutureWarning'
    >>> text == Report.from_results(table).format_table(["f1"])
    True
    """
    report = Report.from_results(report)
    shown = [m for m in metrics if m in report.metrics] or report.metrics
    return report.format_table(shown)


def _plot_comparison(report, path, metrics=CAD_METRICS):
    """Save grouped bars of any report's metrics, with confidence intervals as error bars.

    Parameters
    ----------
    report : Report or pandas.DataFrame
        As for :meth:`Report.from_results <skbreastcad.evaluation.Report.from_results>`.
    path : str or path-like
        PNG file to write.
    metrics : sequence of str, default=CAD_METRICS
        Metrics to draw; those the report lacks are left out.

    Returns
    -------
    path : pathlib.Path
        The PNG file written.

    Examples
    --------
    >>> import tempfile
    >>> import warnings
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> table = pd.DataFrame({"f1": [0.8, 0.7], "f1_sd": [0.05, 0.1]}, index=["gabor", "glcm"])
    >>> with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     path = plot_comparison(table, Path(folder) / "comparison.png")
    ...     path.name, path.stat().st_size > 0
    ('comparison.png', True)
    """
    results = Report.from_results(report).results
    shown = [m for m in metrics if m in set(results["metric"])]
    return plot_metric_bars(
        results, metrics=shown or None, path=path, ylabel="cross-validated score"
    )


format_table = deprecated_alias(
    Report.format_table,
    "skbreastcad.experiments.format_table",
    since="0.1",
    removed_in="0.2",
    replacement="Report.format_table (Report.from_results(results).format_table() for "
    "several runs' results)",
    adapter=_format_table,
)
plot_comparison = deprecated_alias(
    plot_metric_bars,
    "skbreastcad.experiments.plot_comparison",
    since="0.1",
    removed_in="0.2",
    replacement="skbreastcad.plotting.plot_metric_bars",
    adapter=_plot_comparison,
)
