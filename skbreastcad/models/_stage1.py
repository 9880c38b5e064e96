"""Stage 1 of two-stage transfer: what it depends on, and its ``memory=`` cache."""

import os
import pickle
import warnings

import joblib
import numpy as np
from sklearn.utils.validation import check_memory

__all__ = ["run_stage1", "stage1_settings"]

# Bump when stage-1 training changes in a way the settings do not show: joblib
# invalidates entries when _stage1's own code changes, not when train_stage's does.
_CACHE_VERSION = 2


def _settings_of(obj):
    """What identifies a setting object in the cache key: its parameters when it
    has scikit-learn-style ones (its fitted state changes with use), else itself."""
    if hasattr(obj, "get_params"):
        return (type(obj).__qualname__, sorted(obj.get_params(deep=False).items(), key=str))
    return obj


def _plain(obj):
    """History rows with numpy scalars turned into Python ones (safe to load anywhere)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def stage1_settings(est, spec, seed, amp):
    """Everything stage 1 depends on besides the source data, as plain values.

    Parameters
    ----------
    est : TwoStageTransferClassifier
    spec : BackboneSpec
    seed : int
        Stage 1's seed.
    amp : bool
        Whether bf16 autocast is on.

    Returns
    -------
    settings : dict
    """
    weights = est.weights
    if weights is not None and os.path.isfile(weights):
        # a checkpoint file is known by its path, size and modification time
        stat = os.stat(weights)
        weights = (os.path.abspath(weights), stat.st_size, stat.st_mtime_ns)
    return dict(
        version=_CACHE_VERSION,
        backbone=spec.name,
        weights=weights,
        source_freeze_depth=est.source_freeze_depth,
        source_max_epochs=est.source_max_epochs,
        source_lr=est.source_lr,
        batch_size=est.batch_size,
        optimizer=est.optimizer,
        weight_decay=est.weight_decay,
        lr_schedule=est.lr_schedule,
        early_stopping=est.early_stopping,
        validation_fraction=est.validation_fraction,
        scoring=est.scoring,
        augment=_settings_of(est.augment),
        balance=est.balance,
        callbacks=[
            (cb[0], _settings_of(cb[1])) if isinstance(cb, tuple) else _settings_of(cb)
            for cb in est.callbacks or []
        ],
        amp=amp,
        input_size=est.input_size_,
        value_range=est.value_range,
        # with random_state=None any earlier stage-1 result is as good as a new one
        seed=None if est.random_state is None else seed,
    )


def _stage1(settings, source_digest, train):
    """The cached unit: train stage 1 and return its plain result.

    ``settings`` and ``source_digest`` (the hash of the source images and
    labels) are the cache key; ``train``, the training run itself, is ignored
    by the cache. The source set is hashed once per fit, here and not again
    by joblib for every lookup.
    """
    model, history, best = train()
    return {
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "history": _plain(list(history)),
        "best_epoch": best,
    }


def run_stage1(memory, settings, X_source, y_source, train):
    """Stage 1's result, from ``memory`` when it holds it, else trained (and stored).

    Parameters
    ----------
    memory : None, str, path-like or joblib.Memory
        As scikit-learn's ``memory`` parameters: None caches nothing.
    settings : dict
        From :func:`stage1_settings`.
    X_source, y_source : ndarray
        The validated source images and encoded labels.
    train : callable
        ``train() -> (model, history, best_epoch)``.

    Returns
    -------
    result : dict
        ``state_dict``, ``history`` (list of dict) and ``best_epoch``.
    from_cache : bool
        Whether the result was read from the cache.
    """
    if isinstance(memory, os.PathLike):
        # check_memory takes folders as str only
        memory = os.fspath(memory)
    memory = check_memory(memory)
    if isinstance(memory, joblib.Memory) and memory.location is None:
        return _stage1(settings, None, train), False
    try:
        joblib.hash(settings)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        warnings.warn(
            f"Stage 1 is trained without the stage-1 cache: its settings cannot be hashed "
            f"({exc}). Lambdas and local functions in augment or callbacks cause this; use "
            "module-level functions, functools.partial or an ImageAugmenter instead.",
            UserWarning,
            stacklevel=2,
        )
        return _stage1(settings, None, train), False
    digest = joblib.hash((X_source, y_source))
    cached = memory.cache(_stage1, ignore=["train"])
    from_cache = cached.check_call_in_cache(settings, digest, train)
    return cached(settings, digest, train), from_cache
