"""Backbones (the study's Table 3), transfer learning (its Fig. 6) and the ablations."""

import json
import os
import warnings
from pathlib import Path

from ..evaluation import DEFAULT_METRICS
from ..utils._docstrings import substitute_docs
from ..utils._tempdirs import locked_tempdir
from ._common import EXPERIMENT_PARAMETERS

__all__ = ["compare_ablations", "compare_backbones", "compare_transfer"]

TRANSFERS = ("none", "imagenet", "two_stage")

# deprecated TwoStageTransferClassifier parameter -> its source_params key
_OLD_SOURCE_PARAMS = {
    "source_lr": "lr",
    "source_max_epochs": "max_epochs",
    "source_freeze_depth": "freeze_depth",
}


def read_histories(folder, candidates):
    """The recorded histories as a tidy frame (see :class:`ExperimentReport`)."""
    import pandas as pd

    rows = []
    for fit, path in enumerate(sorted(Path(folder).glob("*.json"))):
        record = json.loads(path.read_text())
        for h in record["history"]:
            rows.append(
                {"candidate": record["candidate"], "stage": record["stage"], "fit": fit, **h}
            )
    frame = pd.DataFrame(
        rows, columns=["candidate", "stage", "fit", "epoch", "train_loss", "valid_loss"]
    )
    order = {c: i for i, c in enumerate(candidates)}
    frame["valid_loss"] = frame["valid_loss"].astype(float)
    return frame.sort_values(
        ["candidate", "stage", "fit", "epoch"],
        key=lambda s: s.map(order) if s.name == "candidate" else s,
        kind="stable",
    ).reset_index(drop=True)


def _input_size_for(backbone, input_size, notes):
    """An input size the backbone accepts (InceptionV3 needs at least 75 px)."""
    from ..nn import get_backbone_spec

    if input_size is None or input_size == "native":
        return input_size
    minimum = get_backbone_spec(backbone).min_input_size
    side = input_size if isinstance(input_size, int) else min(input_size)
    if side >= minimum:
        return input_size
    notes.append(f"{backbone}: input size raised from {input_size} to {minimum} px, its minimum.")
    return minimum


def _transfer_title(candidates):
    """The transfer table's title, naming only the transfers that have a row in it."""
    names = {"none": "none", "imagenet": "ImageNet", "two_stage": "two-stage"}
    ran = [t for t in TRANSFERS if any(label.endswith(f" / {t}") for label in candidates)]
    return f"Transfer learning: {', '.join(names[t] for t in ran)} (the study's Fig. 6)"


def _fine_tuner(
    backbone,
    *,
    transfer,
    weights,
    input_size,
    random_state,
    device,
    deep_params,
    source_data=None,
    callbacks=None,
):
    from ..models import TwoStageTransferClassifier

    params = {
        "max_epochs": 5,
        "batch_size": 32,
        "lr": 1e-3,
        "balance": "oversample",
        "augment": "default",
        **(deep_params or {}),
    }
    # deep_params' source_params change the experiment's stage-1 defaults key by key
    source = {"max_epochs": 5, "lr": 1e-3, **(params.pop("source_params", None) or {})}
    for old, key in _OLD_SOURCE_PARAMS.items():
        if old in params:
            warnings.warn(
                f"deep_params[{old!r}] is deprecated since 0.1 and will be removed in 0.2: use "
                f"deep_params={{'source_params': {{{key!r}: ...}}}} instead.",
                FutureWarning,
                stacklevel=3,
            )
            source[key] = params.pop(old)
    params["source_params"] = source
    return TwoStageTransferClassifier(
        backbone,
        transfer=transfer,
        weights=weights,
        input_size=input_size,
        source_data=source_data,
        random_state=random_state,
        device=device,
        callbacks=callbacks,
        **params,
    )


def _common_kwargs(kw):
    keys = (
        "groups",
        "cv",
        "threshold",
        "metrics",
        "n_boot",
        "ci_method",
        "random_state",
        "n_jobs",
        "verbose",
    )
    return {k: kw[k] for k in keys}


@substitute_docs(**EXPERIMENT_PARAMETERS)
def compare_backbones(
    X,
    y,
    backbones=("vgg16", "resnet50", "inception_v3"),
    *,
    groups=None,
    modes=("features", "fine_tuned"),
    weights="imagenet",
    fallback="efficientnet_lite0",
    input_size=None,
    layer=None,
    pooling="avg",
    classifier=None,
    deep_params=None,
    memory=None,
    device="auto",
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
    """Each backbone as a feature extractor and fine-tuned: the study's Table 3, with CIs.

    Every backbone runs at an input size it accepts (``input_size`` is raised to
    InceptionV3's 75 px minimum for it alone), so one call covers the grid the
    study had to split by hand. Feature rows are frozen
    :class:`~skbreastcad.features.CNNLayerFeatures` + logistic regression;
    fine-tuned rows are :class:`~skbreastcad.models.TwoStageTransferClassifier`
    (``transfer="imagenet"``), all scored on the same folds.

    Parameters
    ----------
    {X}
    {y}
    backbones : sequence of str, default=("vgg16", "resnet50", "inception_v3")
        Backbone names (see :func:`skbreastcad.nn.list_backbones`).
    {groups}
    modes : sequence of {"features", "fine_tuned"} or dict, default=("features", "fine_tuned")
        For every backbone, or ``{backbone: modes}``.
    weights : {"imagenet"}, path or None, default="imagenet"
        Initial weights of every backbone; None is a random initialisation.
    fallback : str, "random" or None, default="efficientnet_lite0"
        Run instead when a backbone's ImageNet weights are not available
        offline (``"random"``: the same backbone with random weights; None:
        raise, naming the missing file). The report's notes say what ran.
    input_size : int, (int, int), "native" or None, default=None
        None uses each backbone's pretraining size.
    layer : str or None, default=None
        Probed layer of the feature rows; None takes the embedding.
    pooling : {"avg", "max", "avgmax", "flatten"}, default="avg"
        Pooling of the feature rows (see
        :class:`~skbreastcad.features.CNNLayerFeatures`).
    classifier : estimator, default=None
        Of the feature rows; logistic regression by default.
    deep_params : dict, default=None
        Extra :class:`~skbreastcad.models.TwoStageTransferClassifier`
        parameters (``max_epochs``, ``lr``, ``batch_size``...); the keys of its
        ``source_params`` replace those of the experiments' stage-1 defaults
        (``{"max_epochs": 5, "lr": 1e-3}``) one by one.
    memory : str, path-like, joblib.Memory or None, default=None
        Unused by the frozen feature rows (kept for a uniform signature).
    {device}
    {cv}
    oversample : bool, default=True
        Balance the classes of each training fold of the feature rows by
        random up-sampling of the minority class's features.
    {threshold}
    {metrics}
    {n_boot}
    {ci_method}
    {random_state}
    {n_jobs}
    {verbose}

    Returns
    -------
    report : ExperimentReport
        Rows ``"<backbone> features"`` and ``"<backbone> fine-tuned"``.

    Examples
    --------
    Frozen features only, so that no network is trained:

    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(40, image_size=32, random_state=0)[:2]
    >>> report = compare_backbones(X, y, ["tiny_cnn"], modes=("features",), weights=None,
    ...                            input_size="native", cv=2, n_boot=100, ci_method="percentile")
    >>> report.candidates
    ['tiny_cnn features']
    """
    from ..features import CNNLayerFeatures
    from ..nn import resolve_backbone
    from ._common import check_experiment_data, run_candidates

    X, y, groups = check_experiment_data(X, y, groups, cv)
    per_backbone = modes if isinstance(modes, dict) else dict.fromkeys(backbones, modes)
    for b, m in per_backbone.items():
        if set(m) - {"features", "fine_tuned"} or not m:
            raise ValueError(
                f"modes must be among 'features', 'fine_tuned'; got {list(m)} for {b!r}."
            )
    notes, candidates = [], {}
    for backbone in backbones:
        ran, ran_weights, note = resolve_backbone(backbone, weights, fallback)
        if note:
            notes.append(note)
        size = _input_size_for(ran, input_size, notes)
        label = ran if ran == backbone else f"{backbone}->{ran}"
        modes = per_backbone.get(backbone, ("features", "fine_tuned"))
        if "features" in modes:
            candidates[f"{label} features"] = CNNLayerFeatures(
                ran,
                layer=layer,
                pooling=pooling,
                weights=ran_weights,
                input_size=size,
                device=device,
                random_state=random_state,
            )
        if "fine_tuned" in modes:
            transfer = "imagenet" if ran_weights is not None else "none"
            candidates[f"{label} fine-tuned"] = _fine_tuner(
                ran,
                transfer=transfer,
                weights=ran_weights if ran_weights is not None else "imagenet",
                input_size=size,
                random_state=random_state,
                device=device,
                deep_params=deep_params,
            )
    return run_candidates(
        X,
        y,
        candidates,
        classifier=classifier,
        oversample=oversample,
        ci_method=ci_method,
        config={
            "experiment": "compare_backbones",
            "backbones": list(backbones),
            "modes": repr(per_backbone),
            "weights": repr(weights),
            "input_size": repr(input_size),
            "deep_params": repr(deep_params),
        },
        title="Backbone comparison (the study's Table 3)",
        notes=notes,
        **{k: v for k, v in _common_kwargs(locals()).items() if k != "ci_method"},
    )


@substitute_docs(**EXPERIMENT_PARAMETERS)
def compare_transfer(
    X,
    y,
    backbones=("efficientnet_lite0",),
    transfers=TRANSFERS,
    *,
    source_data=None,
    groups=None,
    weights="imagenet",
    fallback="efficientnet_lite0",
    input_size=None,
    deep_params=None,
    memory=None,
    device="auto",
    cv=5,
    threshold="default",
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    ci_method="bca",
    random_state=0,
    n_jobs=None,
    verbose=0,
):
    """No transfer, ImageNet transfer and two-stage transfer per backbone: the study's Fig. 6.

    Every (backbone, transfer) pair is a fine-tuned
    :class:`~skbreastcad.models.TwoStageTransferClassifier` scored on the same
    patient-grouped folds; the report adds the learning curves of every fit
    (``report.curves``, ``learning_curves.png``), from the training histories.

    Parameters
    ----------
    {X}
    {y}
    backbones : sequence of str, default=("efficientnet_lite0",)
        Backbone names (see :func:`skbreastcad.nn.list_backbones`).
    transfers : sequence of {"none", "imagenet", "two_stage"}, default=("none", "imagenet", "two_stage")
        The transfers to compare for every backbone.
    source_data : SourceData or (X_source, y_source), default=None
        Stage-1 data of the two-stage rows (required by them); a pair is
        wrapped in a :class:`~skbreastcad.models.SourceData` here.
    {groups}
    weights : {"imagenet"}, path or None, default="imagenet"
        As for :func:`compare_backbones`.
    fallback : str, "random" or None, default="efficientnet_lite0"
        As for :func:`compare_backbones`.
    input_size : int, (int, int), "native" or None, default=None
        As for :func:`compare_backbones`.
    deep_params : dict or None, default=None
        As for :func:`compare_backbones`.
    memory : str, path-like, joblib.Memory or None, default=None
        Caches stage 1, so that every fold reuses one stage-1 training.
    {device}
    {cv}
    {threshold}
    {metrics}
    {n_boot}
    {ci_method}
    {random_state}
    {n_jobs}
    {verbose}

    Returns
    -------
    report : ExperimentReport
        Rows ``"<backbone> / <transfer>"``; ``report.curves`` the histories.

    Examples
    --------
    Every row fine-tunes a network in every fold, which takes minutes, so
    the call is not run here:

    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(40, image_size=32, random_state=0)[:2]
    >>> report = compare_transfer(X, y, ["tiny_cnn"], ["none"], weights=None,
    ...                           deep_params={"max_epochs": 2}, cv=2)  # doctest: +SKIP
    >>> report.curves.columns.tolist()  # doctest: +SKIP
    ['candidate', 'stage', 'fit', 'epoch', 'train_loss', 'valid_loss']
    """
    from ..models import HistoryRecorder, SourceData
    from ..nn import resolve_backbone
    from ._common import check_experiment_data, run_candidates

    X, y, groups = check_experiment_data(X, y, groups, cv)
    bad = [t for t in transfers if t not in TRANSFERS]
    if bad or not transfers:
        raise ValueError(f"transfers must be among {TRANSFERS}; got {list(transfers)}.")
    if "two_stage" in transfers:
        if source_data is None:
            raise ValueError(
                "The two_stage rows need source_data=(X_source, y_source) for stage 1."
            )
        if not isinstance(source_data, SourceData):
            source_data = SourceData(*source_data)
    notes, candidates = [], {}
    # a locked folder: the next run removes it if this process is killed
    with locked_tempdir("skbreastcad-histories-") as folder:
        workdir = Path(folder)
        for backbone in backbones:
            ran, ran_weights, note = resolve_backbone(backbone, weights, fallback)
            if note:
                notes.append(note)
            size = _input_size_for(ran, input_size, notes)
            for transfer in transfers:
                label = f"{ran if ran == backbone else f'{backbone}->{ran}'} / {transfer}"
                if transfer == "imagenet" and ran_weights is None:
                    # it would train from scratch: the "none" row, a second time
                    notes.append(f"{label}: skipped, no pretrained weights to transfer.")
                    continue
                clf = _fine_tuner(
                    ran,
                    transfer=transfer,
                    weights=ran_weights,
                    input_size=size,
                    random_state=random_state,
                    device=device,
                    deep_params=deep_params,
                    source_data=source_data if transfer == "two_stage" else None,
                    callbacks=[("history", HistoryRecorder(os.fspath(workdir), label))],
                )
                candidates[label] = clf.set_params(memory=memory) if memory is not None else clf
        report = run_candidates(
            X,
            y,
            candidates,
            classifier=None,
            oversample=False,
            ci_method=ci_method,
            config={
                "experiment": "compare_transfer",
                "backbones": list(backbones),
                "transfers": list(transfers),
                "weights": repr(weights),
                "input_size": repr(input_size),
                "deep_params": repr(deep_params),
                "source_data": None if source_data is None else repr(source_data),
            },
            title=_transfer_title(candidates),
            notes=notes,
            **{k: v for k, v in _common_kwargs(locals()).items() if k != "ci_method"},
        )
        report.curves = read_histories(workdir, list(candidates))
        if not len(report.curves):
            report.notes.append(
                "No training histories reached this process (workers without a shared file "
                "system): the report has no learning curves."
            )
    return report


@substitute_docs(**EXPERIMENT_PARAMETERS)
def compare_ablations(
    X,
    y,
    features="glcm",
    *,
    fine_tuned=None,
    groups=None,
    classifier=None,
    augmenter=None,
    cv=5,
    threshold="default",
    metrics=DEFAULT_METRICS,
    n_boot=2000,
    ci_method="bca",
    random_state=0,
    n_jobs=None,
    verbose=0,
):
    """Up-sampling on/off x augmentation on/off, for a feature pipeline and a fine-tuned CNN.

    Feature rows balance the training images by random up-sampling
    (:class:`~skbreastcad.sampling.RandomImageOverSampler`) and add an augmented
    copy of each (:class:`~skbreastcad.augmentation.AugmentingSampler`), both
    before the features, or balance the features
    (:class:`imblearn.over_sampling.RandomOverSampler`) without augmentation.
    Fine-tuned rows switch the classifier's own ``balance`` and ``augment``. All
    of it happens on training folds only.

    Parameters
    ----------
    {X}
    {y}
    features : str or transformer, default="glcm"
        See :func:`make_feature_set`.
    fine_tuned : TwoStageTransferClassifier or None, default=None
        Adds four fine-tuned rows when given.
    {groups}
    classifier : estimator or None, default=None
        Classifier of the feature rows; logistic regression by default.
    augmenter : callable, default=None
        Of the feature rows' :class:`~skbreastcad.augmentation.AugmentingSampler`.
    {cv}
    {threshold}
    {metrics}
    {n_boot}
    {ci_method}
    {random_state}
    {n_jobs}
    {verbose}

    Returns
    -------
    report : ExperimentReport
        Rows ``"<features>, up-sampling on|off, augmentation on|off"`` (and
        ``"fine-tuned, ..."``).

    Examples
    --------
    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(40, image_size=32, random_state=0)[:2]
    >>> report = compare_ablations(X, y, "glcm", cv=2, n_boot=100, ci_method="percentile")
    >>> for name in report.candidates:
    ...     print(name)
    glcm, up-sampling on, augmentation on
    glcm, up-sampling on, augmentation off
    glcm, up-sampling off, augmentation on
    glcm, up-sampling off, augmentation off
    """
    from ._common import check_experiment_data, run_candidates

    X, y, groups = check_experiment_data(X, y, groups, cv)
    name = features if isinstance(features, str) else type(features).__name__
    candidates = ablation_candidates(
        features,
        fine_tuned=fine_tuned,
        classifier=classifier,
        augmenter=augmenter,
        random_state=random_state,
    )
    return run_candidates(
        X,
        y,
        candidates,
        classifier=None,
        oversample=False,
        ci_method=ci_method,
        config={
            "experiment": "compare_ablations",
            "features": name,
            "fine_tuned": None if fine_tuned is None else repr(fine_tuned),
        },
        title="Ablations: up-sampling and augmentation on training folds",
        notes=[],
        **{k: v for k, v in _common_kwargs(locals()).items() if k != "ci_method"},
    )


def ablation_candidates(
    features="glcm", *, fine_tuned=None, classifier=None, augmenter=None, random_state=0
):
    """The ablation's rows as pipeline steps: up-sampling on/off x augmentation on/off.

    Shared by :func:`compare_ablations` and the study's reproduction, so that
    both run the same four (or eight) candidates.
    """
    from imblearn.over_sampling import RandomOverSampler
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from ..augmentation import AugmentingSampler
    from ..sampling import RandomImageOverSampler
    from ._feature_comparison import make_feature_set

    name = features if isinstance(features, str) else type(features).__name__
    transformer = make_feature_set(features) if isinstance(features, str) else features
    clf = classifier if classifier is not None else LogisticRegression(max_iter=2000)
    candidates = {}
    for up in (True, False):
        for aug in (True, False):
            label = f"up-sampling {'on' if up else 'off'}, augmentation {'on' if aug else 'off'}"
            steps = {
                "features": clone(transformer),
                "scale": StandardScaler(),
                "classifier": clone(clf),
            }
            if aug:
                steps["augment"] = AugmentingSampler(augmenter=augmenter, random_state=random_state)
                if up:
                    steps["image_oversample"] = RandomImageOverSampler(random_state=random_state)
            elif up:
                steps["oversample"] = RandomOverSampler(random_state=random_state)
            candidates[f"{name}, {label}"] = steps
            if fine_tuned is not None:
                candidates[f"fine-tuned, {label}"] = clone(fine_tuned).set_params(
                    balance="oversample" if up else None, augment="default" if aug else None
                )
    return candidates
