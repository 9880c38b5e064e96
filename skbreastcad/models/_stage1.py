"""Stage 1 of two-stage transfer: what it depends on, and its ``memory=`` cache."""

import os
import pickle
import warnings
from dataclasses import dataclass

import joblib
from sklearn.utils.validation import check_memory

from ..utils._faults import fault_point
from ..utils._hashing import data_fingerprint, settings_fingerprint
from ..utils._optional import optional_import
from ._history import plain

__all__ = [
    "Stage1Result",
    "callbacks_key",
    "check_memory_location",
    "check_stage1_result",
    "fit_stage1",
    "run_stage1",
    "settings_of",
    "stage1_result",
    "stage1_settings",
    "weights_key",
]

# Bump when stage-1 training changes in a way the settings do not show: joblib
# invalidates entries when _stage1's own code changes, not when train_stage's does.
# 3: entries carry a digest of their weights; training stops on non-finite values.
# 4: the source set and the weights are fingerprinted by utils._hashing (SHA-256).
_CACHE_VERSION = 4


def settings_of(obj):
    """What identifies a setting object in the cache key: its parameters when it
    has scikit-learn-style ones (its fitted state changes with use), else itself."""
    if hasattr(obj, "get_params"):
        return (type(obj).__qualname__, sorted(obj.get_params(deep=False).items(), key=str))
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


def stage1_settings(settings, seed):
    """Everything stage 1 depends on besides the source data, as plain values: the cache key.

    Parameters
    ----------
    settings : StageSettings
        Stage 1's settings.
    seed : int
        Stage 1's seed.

    Returns
    -------
    key : dict
    """
    return dict(
        version=_CACHE_VERSION,
        backbone=settings.backbone,
        weights=weights_key(settings.weights),
        source_freeze_depth=settings.freeze_depth,
        source_max_epochs=settings.max_epochs,
        source_lr=settings.lr,
        batch_size=settings.batch_size,
        optimizer=settings.optimizer,
        weight_decay=settings.weight_decay,
        lr_schedule=settings.lr_schedule,
        early_stopping=settings.early_stopping,
        validation_fraction=settings.validation_fraction,
        scoring=settings.scoring,
        augment=settings_of(settings.augment),
        balance=settings.balance,
        callbacks=callbacks_key(settings.callbacks),
        amp=settings.amp,
        input_size=settings.input_size,
        value_range=settings.value_range,
        # with random_state=None any earlier stage-1 result is as good as a new one
        seed=seed if settings.seeded else None,
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
        "history": plain(list(history)),
        "best_epoch": best,
        "digest": _digest(state_dict),
    }


def _digest(state_dict):
    names = sorted(state_dict)
    arrays = data_fingerprint(*(state_dict[k].numpy() for k in names))
    return settings_fingerprint((names, arrays))


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


def check_memory_location(memory):
    """Refuse a ``memory`` folder that is a file, or lies under one, before any training.

    joblib would fail only when it first writes, deep inside stage 1.

    Parameters
    ----------
    memory : None, str, path-like or joblib.Memory
        The ``memory`` parameter; other objects with a ``cache`` method are not checked.

    Raises
    ------
    ValueError
        Naming the path.
    """
    location = memory.location if isinstance(memory, joblib.Memory) else memory
    if not isinstance(location, (str, os.PathLike)):
        return
    path = os.fspath(location)
    # the folder itself, or the nearest of its parents that exists, must be a folder
    probe = path
    while not os.path.lexists(probe) and os.path.dirname(probe) not in ("", probe):
        probe = os.path.dirname(probe)
    if os.path.lexists(probe) and not os.path.isdir(probe):
        where = "is a file" if probe == path else f"lies under the file {probe!r}"
        raise ValueError(
            f"memory={path!r} {where}, not a folder: give the stage-1 cache a folder "
            "(created when missing), a joblib.Memory, or None."
        )


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
    digest = data_fingerprint(X_source, y_source)
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


@dataclass(frozen=True)
class Stage1Result:
    """What stage 1 hands to stage 2 and to the fitted attributes.

    Attributes
    ----------
    state_dict : dict of str to torch.Tensor
        The weights of stage 1's kept epoch, on the CPU.
    history : list of dict
        Its training history, as plain Python.
    best_epoch : int
        1-based epoch whose weights were kept.
    n_classes : int
        Classes of the source set (outputs of the network's head).
    from_cache : bool
        Whether the result was read from ``memory`` rather than trained.
    """

    state_dict: dict
    history: list
    best_epoch: int
    n_classes: int
    from_cache: bool


def fit_stage1(
    settings,
    X_source,
    y_source,
    n_classes,
    plan,
    *,
    build_model,
    device,
    augmenter,
    workdir,
    resumable,
    memory,
    train_stage=None,
    cache_tag=None,
):
    """Stage 1's result: saved by an interrupted fit, cached in ``memory``, or trained.

    Parameters
    ----------
    settings : StageSettings
        Stage 1's settings.
    X_source, y_source : ndarray
        The validated source images and encoded labels.
    n_classes : int
        Classes of the source set.
    plan : dict
        From :func:`~skbreastcad.models._planning.plan_stage`.
    build_model : callable
        ``build_model(backbone, weights, seed, num_classes=...) -> ImageModel``.
    device : torch.device
    augmenter : callable or None
    workdir : str
        The fit's folder; stage 1 works in its ``stage1`` sub-folder.
    resumable : bool
        Save the result in ``workdir`` (and read it back when a resumed fit
        finds it there).
    memory : None, str, path-like or joblib.Memory
        The stage-1 cache.
    train_stage : callable or None, default=None
        The training loop (None: :func:`~skbreastcad.models._net.train_stage`);
        a data-parallel fit passes its own.
    cache_tag : hashable or None, default=None
        Added to the cache key when not None: a data-parallel stage 1 is
        cached apart from the single-process one.

    Returns
    -------
    result : Stage1Result
    """
    from ..nn._weights import load_torch_file, save_torch_file

    if train_stage is None:
        from ._net import train_stage

    folder = os.path.join(workdir, "stage1")

    def train():
        model = build_model(
            settings.backbone, settings.weights, plan["seed"], num_classes=n_classes
        )
        model.freeze(settings.freeze_depth)
        return train_stage(
            settings,
            model,
            X_source,
            y_source,
            plan,
            device=device,
            augmenter=augmenter,
            workdir=folder,
            resumable=resumable,
        )

    saved = os.path.join(folder, "result.pt")
    result, from_cache = None, False
    if resumable and os.path.exists(saved):
        # a resumed fit whose stage 1 had finished
        try:
            result = check_stage1_result(load_torch_file(saved, what="stage-1 result"))
        except ValueError as exc:
            warnings.warn(f"{exc} Stage 1 is trained again.", UserWarning, stacklevel=3)
    if result is None:
        key = stage1_settings(settings, plan["seed"])
        if cache_tag is not None:
            key["parallel"] = cache_tag
        result, from_cache = run_stage1(memory, key, X_source, y_source, train)
        fault_point("stage1:trained")
        if resumable:
            os.makedirs(folder, exist_ok=True)
            save_torch_file(result, saved)
        fault_point("stage1:saved")
    return Stage1Result(
        state_dict=result["state_dict"],
        history=result["history"],
        best_epoch=result["best_epoch"],
        n_classes=n_classes,
        from_cache=from_cache,
    )
