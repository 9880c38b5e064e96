"""Each stage's plan, fixed before any training: validation split, over-sampling, class weights."""

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit

from ..sampling import balanced_class_weight, random_oversample_indices

__all__ = ["check_scoring", "plan_stage", "split_stage"]


def split_stage(y, groups, seed, *, validation_fraction, scoring, name="X"):
    """Train/validation indices of one stage (validation None without a split).

    Parameters
    ----------
    y : ndarray of int, shape (n_samples,)
        Encoded labels.
    groups : ndarray of shape (n_samples,) or None
        Patient ids; a patient's images stay on one side.
    seed : int
    validation_fraction : float or None
    scoring : str
        A scorer (anything but ``"loss"``) needs every class on the validation side.
    name : str, default="X"
        The data's name in the messages.

    Returns
    -------
    train : ndarray of int
    valid : ndarray of int or None
    """
    n = len(y)
    if validation_fraction is None:
        return np.arange(n), None
    try:
        if groups is not None:
            n_splits = max(2, int(round(1 / validation_fraction)))
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            train, valid = next(splitter.split(np.zeros(n), y, groups))
        else:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=validation_fraction, random_state=seed
            )
            train, valid = next(splitter.split(np.zeros(n), y))
    except ValueError as exc:
        raise ValueError(
            f"validation_fraction={validation_fraction} cannot split {n} samples "
            f"into stratified training and validation parts ({exc}). Use more data or "
            "validation_fraction=None."
        ) from None
    if len(np.unique(y[train])) < 2:
        raise ValueError(
            "The training split holds a single class; use more data or validation_fraction=None."
        )
    if scoring != "loss" and len(np.unique(y[valid])) < 2:
        # a scorer cannot rank epochs on one class (roc_auc is NaN in every epoch)
        raise ValueError(
            f"The validation split holds a single class, on which scoring={scoring!r} "
            "cannot pick the best epoch; use more patient groups, a larger "
            "validation_fraction, scoring='loss' or validation_fraction=None."
        )
    missing = np.setdiff1d(np.unique(y), y[valid])
    if scoring != "loss" and missing.size:
        # multi-class scorers (roc_auc_ovr, log loss) fail mid-training on it
        raise ValueError(
            f"The validation split of {name} holds no sample of {missing.size} of its "
            f"{len(np.unique(y))} classes, on which scoring={scoring!r} cannot score "
            "every class; use a larger validation_fraction, more samples of the rare "
            "classes, scoring='loss' or validation_fraction=None."
        )
    return train, valid


def plan_stage(settings, y, groups, seed, n_classes, name="X"):
    """Indices and class weights of one stage, fixed before any training.

    Parameters
    ----------
    settings : StageSettings
        Its ``validation_fraction``, ``scoring`` and ``balance`` apply.
    y, groups, seed, name
        As for :func:`split_stage`.
    n_classes : int
        Classes of the stage (a class missing from the training split gets weight 0).

    Returns
    -------
    plan : dict
        ``train`` and ``valid`` indices, ``class_weight`` (ndarray or None) and ``seed``.
    """
    train, valid = split_stage(
        y,
        groups,
        seed,
        validation_fraction=settings.validation_fraction,
        scoring=settings.scoring,
        name=name,
    )
    class_weight = None
    if settings.balance == "oversample":
        train = train[random_oversample_indices(y[train], random_state=seed)]
    elif settings.balance == "class_weight":
        class_weight = np.zeros(n_classes)
        for label, weight in balanced_class_weight(y[train]).items():
            class_weight[label] = weight
    return {"train": train, "valid": valid, "class_weight": class_weight, "seed": seed}


def check_scoring(scoring):
    """Raise ValueError unless ``scoring`` is ``"loss"`` or a scikit-learn scorer name."""
    if scoring == "loss":
        return
    from sklearn.metrics import get_scorer_names

    if scoring not in get_scorer_names():
        raise ValueError(
            f"scoring={scoring!r} is neither 'loss' nor a scikit-learn scorer name "
            "(see sklearn.metrics.get_scorer_names())."
        )
