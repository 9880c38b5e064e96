"""Stage 1 of two-stage transfer: what it depends on, and its ``memory=`` cache."""

import hashlib
import json
import math
import os
import pickle
import shutil
import uuid
import warnings
from dataclasses import dataclass

import numpy as np

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

# Bump when stage-1 training, or what a cache entry holds, changes in a way the settings
# do not show: nothing else invalidates old entries.
# 3: entries carry a digest of their weights; training stops on non-finite values.
# 4: the source set and the weights are fingerprinted by utils._hashing (SHA-256).
# 5: entries are safetensors and JSON, never pickles; the key holds the device type and
#    channels_last, which change the trained weights' bits.
_CACHE_VERSION = 5

# The stage-1 cache inside the memory folder: one folder per key, holding the weights
# and a JSON record. Nothing in it is ever unpickled (see docs/models.md).
CACHE_FOLDER = "skbreastcad-stage1"
_WEIGHTS = "weights.safetensors"
_RECORD = "entry.json"
_RECORD_FORMAT = "skbreastcad stage-1 cache entry"


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


def stage1_settings(settings, seed, device_type=None):
    """Everything stage 1 depends on besides the source data, as plain values: the cache key.

    Parameters
    ----------
    settings : StageSettings
        Stage 1's settings.
    seed : int
        Stage 1's seed.
    device_type : str or None, default=None
        The training device's type (``"cpu"``, ``"cuda"``...): the same
        seed gives other weights on another device.

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
        channels_last=settings.channels_last,
        device_type=device_type,
        input_size=settings.input_size,
        value_range=settings.value_range,
        # with random_state=None any earlier stage-1 result is as good as a new one
        seed=seed if settings.seeded else None,
    )


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


def _location(memory):
    """The folder of ``memory``: a str or path-like itself, a joblib.Memory's ``location``.

    None for ``memory=None``, a joblib.Memory without a folder, and any other
    object without a ``location``.
    """
    if memory is None or isinstance(memory, (str, os.PathLike)):
        location = memory
    else:
        # joblib.Memory, and objects like it
        location = getattr(memory, "location", None)
    if isinstance(location, (str, os.PathLike)) and os.fspath(location):
        return os.fspath(location)
    return None


def check_memory_location(memory):
    """Refuse a ``memory`` folder that is a file, or lies under one, before any training.

    Writing the cache would otherwise fail only at the end of stage 1.

    Parameters
    ----------
    memory : None, str, path-like or joblib.Memory
        The ``memory`` parameter; a joblib.Memory is checked by its ``location``.

    Raises
    ------
    ValueError
        Naming the path.
    """
    path = _location(memory)
    if path is None:
        return
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


def _cache_key(settings, source_digest):
    """SHA-256 of the settings and the source set's fingerprint: an entry's folder name.

    joblib's hasher pickles into a digest (nothing is ever unpickled): it sorts
    sets and hashes arrays by content, so equal settings give one key in every
    process. Raises what pickling raises for lambdas and local functions.
    """
    from joblib.hashing import NumpyHasher

    return NumpyHasher(hash_name="sha256").hash([settings, source_digest])


def _json_value(value):
    """``value`` as JSON for a human reading the record: plain values kept, others repr'd."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _write_entry(root, key, settings, source_digest, result):
    """Store ``result`` under ``root/key``: written in a hidden folder, then renamed.

    A reader sees a complete entry or none; when another process stored the
    same key first, its entry is kept. Returns the entry's folder.
    """
    from safetensors.torch import save

    from ..utils._output_folder import set_umask_mode

    state = result["state_dict"]
    # safetensors takes contiguous tensors only (channels_last weights are not)
    payload = save({k: v.contiguous() for k, v in state.items()}, metadata={"format": "pt"})
    record = {
        "format": _RECORD_FORMAT,
        "version": _CACHE_VERSION,
        "key": key,
        "settings": _json_value(settings),
        "source_sha256": source_digest,
        "weights": {
            "file": _WEIGHTS,
            "sha256": _sha256(payload),
            "size": len(payload),
            # load_state_dict does not care, but the result keeps the module's order
            "names": list(state),
        },
        "state_digest": result["digest"],
        "best_epoch": int(result["best_epoch"]),
        "history": result["history"],
    }
    # before anything is written: a history that is not plain JSON is not cached
    text = json.dumps(record, indent=1)
    final = os.path.join(root, key)
    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f".{key}.{uuid.uuid4().hex}.partial")
    os.mkdir(tmp)
    try:
        with open(os.path.join(tmp, _WEIGHTS), "wb") as f:
            f.write(payload)
        with open(os.path.join(tmp, _RECORD), "w", encoding="utf-8") as f:
            f.write(text)
        set_umask_mode(os.path.join(tmp, _WEIGHTS))
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            # another process stored this key first: its entry is as good as ours
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return final


def _read_entry(folder, key):
    """The stage-1 result stored in ``folder``, verified; ValueError naming what is wrong.

    Only JSON and safetensors are parsed, and the tensor file only after its
    SHA-256 matched the record's.
    """
    from safetensors.torch import load

    try:
        with open(os.path.join(folder, _RECORD), encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"it has no {_RECORD}") from None
    except ValueError as exc:
        raise ValueError(f"its {_RECORD} is not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT:
        raise ValueError(f"its {_RECORD} is not a stage-1 cache record")
    if record.get("version") != _CACHE_VERSION or record.get("key") != key:
        raise ValueError(
            f"its {_RECORD} is of cache version {record.get('version')!r} and key "
            f"{record.get('key')!r}, not {_CACHE_VERSION} and the folder's"
        )
    weights = record.get("weights")
    if not isinstance(weights, dict) or not isinstance(weights.get("names"), list):
        raise ValueError(f"its {_RECORD} does not describe the weights")
    with open(os.path.join(folder, _WEIGHTS), "rb") as f:
        payload = f.read()
    if len(payload) != weights.get("size") or _sha256(payload) != weights.get("sha256"):
        raise ValueError(
            f"{_WEIGHTS} has {len(payload)} bytes and does not match the SHA-256 in {_RECORD}"
        )
    try:
        tensors = load(payload)
    except Exception as exc:
        # safetensors raises its own error type; the digest matched, so the writer erred
        raise ValueError(f"{_WEIGHTS} cannot be read as safetensors ({exc})") from None
    names = weights["names"]
    if sorted(names) != sorted(tensors):
        raise ValueError(f"{_WEIGHTS} does not hold the tensors its record names")
    best = record.get("best_epoch")
    if not isinstance(best, int) or not isinstance(record.get("history"), list):
        raise ValueError(f"its {_RECORD} lacks the history or the best epoch")
    return check_stage1_result(
        {
            "state_dict": {k: tensors[k] for k in names},
            "history": record["history"],
            "best_epoch": best,
            "digest": record.get("state_digest"),
        }
    )


def run_stage1(memory, settings, X_source, y_source, train):
    """Stage 1's result, from ``memory`` when it holds it, else trained (and stored).

    An entry is a folder ``<memory>/skbreastcad-stage1/<key>`` holding
    ``weights.safetensors`` and ``entry.json`` (the key's settings, the
    history, the best epoch and the weights' SHA-256). Nothing in the cache
    is ever unpickled: a damaged or altered entry is discarded with a
    warning and stage 1 is trained again.

    Parameters
    ----------
    memory : None, str, path-like or joblib.Memory
        As scikit-learn's ``memory`` parameters: None caches nothing; a
        joblib.Memory is used by its ``location``.
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
    location = _location(memory)
    if location is None:
        if memory is not None and not hasattr(memory, "location"):
            warnings.warn(
                f"Stage 1 is trained without the stage-1 cache: memory={memory!r} has no "
                "location folder, and the cache keeps its entries as files in a folder. "
                "Give a folder or a joblib.Memory.",
                UserWarning,
                stacklevel=2,
            )
        return stage1_result(*train()), False
    if hasattr(X_source, "fingerprint_key"):
        # an ImagePaths: its files' paths, sizes and modification times (and crop boxes),
        # as the resume fingerprint; hashing the pixels would read the set once more
        X_source = np.array(X_source.fingerprint_key(), dtype=object)
    source_digest = data_fingerprint(X_source, y_source)
    try:
        key = _cache_key(settings, source_digest)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        warnings.warn(
            f"Stage 1 is trained without the stage-1 cache: its settings cannot be hashed "
            f"({exc}). Lambdas and local functions in augment or callbacks cause this; use "
            "module-level functions, functools.partial or an ImageAugmenter instead.",
            UserWarning,
            stacklevel=2,
        )
        return stage1_result(*train()), False
    root = os.path.join(location, CACHE_FOLDER)
    folder = os.path.join(root, key)
    if os.path.lexists(folder):
        try:
            return _read_entry(folder, key), True
        except (OSError, ValueError) as exc:
            # whatever is wrong, the entry is useless and training again is always correct
            warnings.warn(
                f"The stage-1 cache entry {folder} is damaged ({exc}); it is discarded and "
                "stage 1 is trained again.",
                UserWarning,
                stacklevel=2,
            )
            if os.path.isdir(folder) and not os.path.islink(folder):
                shutil.rmtree(folder)
            else:
                os.remove(folder)
    # stored only once train() returns: an interrupted or failed stage 1 is never cached
    result = stage1_result(*train())
    try:
        _write_entry(root, key, settings, source_digest, result)
    except (OSError, TypeError, ValueError) as exc:
        warnings.warn(
            f"Stage 1's result could not be stored in the stage-1 cache under {root} "
            f"({type(exc).__name__}: {exc}); the fit goes on without it.",
            UserWarning,
            stacklevel=2,
        )
    return result, False


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
        key = stage1_settings(settings, plan["seed"], getattr(device, "type", device))
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
