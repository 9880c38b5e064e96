"""What every experiment shares: input checks before long work, patient-grouped folds,
offline weights and their fall-back, the one pipeline all candidates are values of, and
the report with notes and learning curves."""

import json
from numbers import Integral

import numpy as np

from ..evaluation import Report

# still importable from here by the command line (a private path: no warning); the public
# skbreastcad.experiments.weights_status alias warns (see __init__.py)
from ..nn import resolve_backbone  # noqa: F401
from ..utils._docstrings import substitute_docs

__all__ = ["ExperimentReport", "check_experiment_data", "make_cv"]

# The steps every candidate sets (the others stay "passthrough"): image-level balancing and
# augmentation act on training images before features exist; scaling and the tabular
# over-sampler act on features.
PIPELINE_STEPS = ("image_oversample", "augment", "features", "scale", "oversample", "classifier")


# Parameter descriptions the experiments share, written once (see utils/_docstrings.py).
EXPERIMENT_PARAMETERS = {
    "X": """\
X : ndarray of shape (n_samples, height, width)
    ROI images.""",
    "ci_method": """\
ci_method : {"bca", "percentile"}, default="bca"
    Bootstrap confidence interval method.""",
    "cv": """\
cv : int or cross-validation splitter, default=5
    Number of stratified, shuffled folds (grouped by patient with
    ``groups``), or a splitter.""",
    "device": """\
device : str or torch.device, default="auto"
    Torch device; "auto" picks CUDA when it is available.""",
    "groups": """\
groups : array-like of shape (n_samples,) or None, default=None
    Patient ids: grouped folds, patient-bootstrap CIs.""",
    "metrics": """\
metrics : sequence of str, default=DEFAULT_METRICS
    Metrics of the report.""",
    "n_boot": """\
n_boot : int, default=2000
    Bootstrap resamples for the confidence intervals.""",
    "n_jobs": """\
n_jobs : int or None, default=None
    Parallel fits (candidates x folds), with joblib's meaning.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=0
    Seeds the folds, the samplers, the networks' training and the bootstrap.""",
    "threshold": """\
threshold : str or float, default="default"
    Threshold policy; as for :func:`compare_feature_sets`.""",
    "verbose": """\
verbose : int, default=0
    Verbosity of the search and the evaluation.""",
    "y": """\
y : array-like of shape (n_samples,)
    Binary labels, 1 = tumour.""",
}


@substitute_docs(**EXPERIMENT_PARAMETERS)
def check_experiment_data(X, y, groups=None, cv=5):
    """Raise a clear error for data no experiment can run on, before any long work.

    Parameters
    ----------
    X : array-like of shape (n_samples, height, width)
        ROI images.
    {y}
    groups : array-like of shape (n_samples,) or None, default=None
        Patient ids, one per image; there must be at least as many patients
        as folds.
    cv : int or cross-validation splitter, default=5
        Number of folds, or a splitter whose ``n_splits`` is checked against
        the class and patient counts.

    Returns
    -------
    X, y, groups : ndarray
        The inputs as arrays; ``groups`` stays None when not given.

    Examples
    --------
    >>> import numpy as np
    >>> check_experiment_data(np.zeros((4, 8, 8)), [1, 1, 1, 1], cv=2)
    Traceback (most recent call last):
    ...
    ValueError: The labels hold one class only (1): the experiments need tumour and non-tumour images.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) == 0 or len(y) == 0:
        raise ValueError("The data set is empty: no images to evaluate.")
    if X.ndim != 3:
        raise ValueError(
            f"X must be images of shape (n_samples, height, width); got shape {X.shape}."
        )
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels.")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) == 1:
        raise ValueError(
            f"The labels hold one class only ({classes[0]}): the experiments need tumour and "
            "non-tumour images."
        )
    if len(classes) > 2:
        raise ValueError(
            f"The experiments are binary; y holds {len(classes)} classes {classes.tolist()}."
        )
    n_splits = cv if isinstance(cv, Integral) else getattr(cv, "n_splits", None)
    if isinstance(cv, Integral) and cv < 2:
        raise ValueError(f"cv must be at least 2 folds; got {cv}.")
    if n_splits is not None and counts.min() < n_splits:
        raise ValueError(
            f"The smaller class has {counts.min()} images, fewer than the {n_splits} folds: "
            "every test fold needs both classes."
        )
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(
                f"groups must hold one patient id per image; got shape {groups.shape}."
            )
        n_groups = len(np.unique(groups))
        if n_splits is not None and n_groups < n_splits:
            raise ValueError(
                f"The data has {n_groups} patients (groups), fewer than the {n_splits} folds: "
                "patient-grouped cross-validation needs at least one patient per fold."
            )
    return X, y, groups


def make_cv(cv, groups, random_state):
    """Make folds that never split a patient when ``groups`` are given (shuffled, seeded).

    Parameters
    ----------
    cv : int or cross-validation splitter
        Number of folds; a splitter is returned unchanged.
    groups : array-like of shape (n_samples,) or None
        Patient ids; when given, the folds are a
        :class:`~sklearn.model_selection.StratifiedGroupKFold`, otherwise a
        :class:`~sklearn.model_selection.StratifiedKFold`.
    random_state : int, RandomState instance or None
        Seeds the shuffling of the folds.

    Returns
    -------
    cv : cross-validation splitter
        Stratified, shuffled folds (grouped by patient when ``groups`` are
        given), or ``cv`` itself when it is already a splitter.

    Examples
    --------
    >>> make_cv(5, groups=None, random_state=0)
    StratifiedKFold(n_splits=5, random_state=0, shuffle=True)
    >>> make_cv(3, groups=[0, 0, 1, 1, 2, 2], random_state=0)
    StratifiedGroupKFold(n_splits=3, random_state=0, shuffle=True)
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if not isinstance(cv, Integral):
        return cv
    splitter = StratifiedGroupKFold if groups is not None else StratifiedKFold
    return splitter(n_splits=int(cv), shuffle=True, random_state=random_state)


def candidate_steps(candidate, *, classifier, oversample, random_state):
    """The pipeline steps a candidate sets: a feature transformer, a classifier or a step dict."""
    from imblearn.over_sampling import RandomOverSampler
    from sklearn.base import clone, is_classifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if isinstance(candidate, dict):
        unknown = set(candidate) - set(PIPELINE_STEPS)
        if unknown:
            raise ValueError(
                f"Unknown pipeline steps {sorted(unknown)}; the steps are {PIPELINE_STEPS}."
            )
        return dict(candidate)
    if is_classifier(candidate):
        # a classifier on the images themselves (a fine-tuned CNN): a row of the same table
        return {"classifier": candidate}
    steps = {"features": candidate, "scale": StandardScaler()}
    if oversample:
        steps["oversample"] = RandomOverSampler(random_state=random_state)
    steps["classifier"] = (
        clone(classifier) if classifier is not None else LogisticRegression(max_iter=2000)
    )
    return steps


def run_candidates(
    X,
    y,
    candidates,
    *,
    groups,
    classifier,
    cv,
    oversample,
    threshold,
    metrics,
    n_boot,
    ci_method,
    random_state,
    n_jobs,
    verbose,
    config,
    title,
    notes=(),
    curves=None,
    check_images=True,
):
    """Cross-validate every candidate as one grid over the steps of one pipeline; return its report."""
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    from ..evaluation import evaluate
    from ..metrics import cad_scoring

    if not candidates:
        raise ValueError("No candidates: name at least one feature set or classifier.")
    if check_images:
        X, y, groups = check_experiment_data(X, y, groups, cv)
    grid = []
    for candidate in candidates.values():
        steps = candidate_steps(
            candidate, classifier=classifier, oversample=oversample, random_state=random_state
        )
        grid.append({name: [steps.get(name, "passthrough")] for name in PIPELINE_STEPS})
    base = Pipeline(
        [(name, "passthrough") for name in PIPELINE_STEPS[:-1]]
        + [("classifier", LogisticRegression())]
    )
    search = GridSearchCV(
        base,
        grid,
        scoring=cad_scoring(roc_auc=True),
        refit=False,
        cv=make_cv(cv, groups, random_state),
        n_jobs=n_jobs,
        verbose=verbose,
    )
    report = evaluate(
        search,
        X,
        y,
        groups=groups,
        candidate_names=list(candidates),
        threshold=threshold,
        metrics=metrics,
        n_boot=n_boot,
        ci_method=ci_method,
        random_state=random_state,
        verbose=verbose,
        config=config,
        title=title,
    )
    return ExperimentReport.from_report(report, notes=notes, curves=curves)


def learning_curves_caption(curves):
    """The caption of ``learning_curves.png``: it names a validation curve only when one is drawn.

    Examples
    --------
    >>> import pandas as pd
    >>> curves = pd.DataFrame({"candidate": "net", "stage": 2, "epoch": [1, 2],
    ...                        "train_loss": [0.9, 0.6], "valid_loss": [float("nan")] * 2})
    >>> learning_curves_caption(curves)
    'Learning curves from the training histories: training loss per epoch, mean over the cross-validation fits (no internal validation split was used, so no validation curve is drawn).'
    """
    text = (
        "Learning curves from the training histories: training loss per epoch, mean over the "
        "cross-validation fits"
    )
    if curves["valid_loss"].notna().any():
        return text + " (solid: training, dashed: internal validation split)."
    return text + " (no internal validation split was used, so no validation curve is drawn)."


class ExperimentReport(Report):
    """A :class:`~skbreastcad.evaluation.Report` with notes and learning curves.

    Parameters
    ----------
    notes : list of str, default=()
        What the run changed or could not do (a backbone whose weights were
        not offline and what ran instead, ...); shown at the top of the report.
    curves : pandas.DataFrame or None, default=None
        Training histories: ``candidate``, ``stage``, ``fold_fit`` (one per
        fit), ``epoch``, ``train_loss``, ``valid_loss`` (NaN without a
        validation split). Saved as ``learning_curves.csv`` and drawn in
        ``learning_curves.png``.
    **kwargs
        The :class:`~skbreastcad.evaluation.Report` attributes.

    Attributes
    ----------
    notes : list of str
        The notes given, shown in the report's summary.
    curves : pandas.DataFrame or None
        The training histories given, if any.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skbreastcad.evaluation import evaluate_predictions
    >>> y = np.tile([0, 1], 10)
    >>> score = y + np.linspace(-0.6, 0.6, 20)
    >>> predictions = pd.DataFrame({"sample": np.arange(20), "fold": np.arange(20) % 2,
    ...                             "candidate": "model", "y_true": y, "score": score,
    ...                             "y_pred": (score > 0.5).astype(int)})
    >>> report = evaluate_predictions(predictions, metrics=["roc_auc"], n_boot=100)
    >>> report = ExperimentReport.from_report(report, notes=["A note for the reader."])
    >>> report.notes, report.candidates
    (['A note for the reader.'], ['model'])
    >>> report.to_dict()["notes"]
    ['A note for the reader.']
    """

    def __init__(self, *, notes=(), curves=None, **kwargs):
        super().__init__(**kwargs)
        self.notes = list(notes)
        self.curves = curves
        self.config["notes"] = self.notes

    @classmethod
    def from_report(cls, report, *, notes=(), curves=None):
        """Wrap a plain report, adding notes and learning curves.

        Parameters
        ----------
        report : Report
            A :class:`~skbreastcad.evaluation.Report`, whose attributes are
            taken over.
        notes : list of str, default=()
            See the class's ``notes``.
        curves : pandas.DataFrame or None, default=None
            See the class's ``curves``.

        Returns
        -------
        report : ExperimentReport
            A new report with the same results as ``report``.
        """
        fields = (
            "results",
            "comparisons",
            "predictions",
            "thresholds",
            "config",
            "timings",
            "reference",
            "search",
            "title",
        )
        return cls(notes=notes, curves=curves, **{f: getattr(report, f) for f in fields})

    def _summary(self):
        text = super()._summary()
        if self.notes:
            text += " Notes: " + " ".join(self.notes)
        return text

    def _figures(self, folder):
        figures = super()._figures(folder)
        if self.curves is not None and len(self.curves):
            self.curves.to_csv(folder / "learning_curves.csv", index=False)
            from ..plotting import plot_learning_curves

            plot_learning_curves(self.curves, path=folder / "learning_curves.png")
            figures["learning_curves.png"] = learning_curves_caption(self.curves)
        return figures

    def to_dict(self):
        """Return the report as JSON-ready data, with the notes and the learning curves.

        Returns
        -------
        data : dict
            As :meth:`Report.to_dict <skbreastcad.evaluation.Report.to_dict>`,
            plus ``notes`` and, with curves, ``learning_curves`` (a list of
            row records).
        """
        out = super().to_dict()
        out["notes"] = self.notes
        if self.curves is not None:
            out["learning_curves"] = json.loads(self.curves.to_json(orient="records"))
        return out
