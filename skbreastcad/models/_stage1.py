"""Stage 1 of two-stage transfer: what it depends on, and its ``memory=`` cache."""

import os
import pickle
import warnings

import joblib
import numpy as np
from sklearn.utils.validation import check_memory

from ..utils._optional import optional_import

__all__ = [
    "callbacks_key",
    "check_stage1_result",
    "run_stage1",
    "settings_of",
    "stage1_result",
    "stage1_settings",
    "weights_key",
]

# Bump when stage-1 training changes in a way the settings do not show: joblib
# invalidates entries when _stage1's own code changes, not when train_stage's does.
# 3: entries carry a digest of their weights; training stops on non-finite values.
_CACHE_VERSION = 3


def settings_of(obj):
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


def weights_key(weights):
    """``weights`` as a cache key: a checkpoint file by its path, size and modification time."""
    if weights is not None and os.path.isfile(weights):
        stat = os.stat(weights)
        return (os.path.abspath(weights), stat.st_size, stat.st_mtime_ns)
    return weights


def callbacks_key(callbacks):
    """``callbacks`` as a cache key: each by its parameters, not its fitted state."""
    return [
        (cb[0], settings_of(cb[1])) if isinstance(cb, tuple) else settings_of(cb)
        for cb in callbacks or []
    ]


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
    return dict(
        version=_CACHE_VERSION,
        backbone=spec.name,
        weights=weights_key(est.weights),
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
        augment=settings_of(est.augment),
        balance=est.balance,
        callbacks=callbacks_key(est.callbacks),
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
    return stage1_result(model, history, best)


def stage1_result(model, history, best):
    """Stage 1's plain result, with a digest of its weights to verify it on read."""
    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {
        "state_dict": state_dict,
        "history": _plain(list(history)),
        "best_epoch": best,
        "digest": _digest(state_dict),
    }


def _digest(state_dict):
    return joblib.hash({k: v.numpy() for k, v in state_dict.items()})


def check_stage1_result(result):
    """Raise ValueError unless ``result`` is a complete, unaltered stage-1 result."""
    with optional_import("TwoStageTransferClassifier"):
        import torch

    if not isinstance(result, dict) or not {"state_dict", "history", "best_epoch", "digest"} <= set(
        result
    ):
        raise ValueError("it is not a stage-1 result of this version")
    state = result["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("its weights are not a state dict of tensors")
    if _digest(state) != result["digest"]:
        raise ValueError("its weights do not match their digest")
    return result


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
    if cached.check_call_in_cache(settings, digest, train):
        entry = cached.call_and_shelve(settings, digest, train)
        try:
            return check_stage1_result(entry.get()), True
        except Exception as exc:
            # Unpickling a damaged file fails in many ways (EOFError,
            # UnpicklingError, KeyError, ...); whichever, the entry is useless
            # and training again is always correct.
            warnings.warn(
                f"The stage-1 cache entry {entry!r} is damaged ({type(exc).__name__}: {exc}); "
                "it is discarded and stage 1 is trained again.",
                UserWarning,
                stacklevel=2,
            )
            entry.clear()
    # joblib stores a result only when train() returns: an interrupted or
    # failed stage 1 is never cached
    return cached(settings, digest, train), False
