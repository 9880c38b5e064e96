"""Weight files: checkpoints on disk, the torch hub cache, and early checks of ``weights``."""

import os
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

from ..utils._optional import optional_import

__all__ = [
    "check_weights",
    "hub_checkpoint_path",
    "is_checkpoint_path",
    "load_checkpoint",
    "load_torch_file",
    "read_checkpoint",
    "save_torch_file",
]

# torch.save writes a zip archive; a file that starts like one but has no
# central directory at its end was cut short
_ZIP_MAGIC = b"PK\x03\x04"


def save_torch_file(obj, path):
    """``torch.save`` that never leaves a partial file at ``path``.

    The payload goes to a temporary file in the same folder, is flushed to
    disk and then renamed over ``path`` (``os.replace`` is atomic), so a
    process killed mid-write leaves either the old file or the new one.

    Parameters
    ----------
    obj : object
        What to save (tensors, state dicts, plain Python values).
    path : str or path-like
    """
    with optional_import("Saving a torch checkpoint"):
        import torch

    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_torch_file(path, *, what="checkpoint file"):
    """Load a file written by ``torch.save`` after verifying it.

    The zip archive's CRC-32 checksums are checked first: ``torch.load``
    itself reads a truncated archive with an obscure message and a file
    with flipped bytes without any. Only tensors and plain Python values
    are unpickled (``weights_only=True``).

    Parameters
    ----------
    path : str or path-like
    what : str, default="checkpoint file"
        How the error message names the file.

    Returns
    -------
    obj : object

    Raises
    ------
    ValueError
        If the file is truncated, damaged or not a torch file; the message
        names it.
    """
    with optional_import("Loading a torch checkpoint"):
        import torch

    path = os.fspath(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"checksum mismatch in member {bad!r}")
        else:
            _check_not_truncated_zip(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"The {what} {path!r} is damaged (truncated or modified after it was written) "
            f"or is not a torch file: {exc}"
        ) from exc


def _check_not_truncated_zip(path):
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if head == _ZIP_MAGIC:
        raise ValueError("a zip archive without its central directory (truncated)")


def hub_checkpoint_path(url):
    """Where torchvision keeps (or would download) the weight file at ``url``.

    Parameters
    ----------
    url : str

    Returns
    -------
    path : pathlib.Path
    """
    with optional_import("Locating the torch weight cache"):
        import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def read_checkpoint(path):
    """The state dict of a checkpoint file, with wrapper keys and prefixes removed.

    Parameters
    ----------
    path : str

    Returns
    -------
    state : dict of str to torch.Tensor
    """
    with optional_import("Reading a checkpoint"):
        import torch

    state = load_torch_file(path, what="weights file")
    if isinstance(state, dict):
        for key in ("state_dict", "model_state_dict", "model", "module"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors.")
    if any(key.startswith("backbone.") for key in state):
        # a fitted estimator's network (``module_``, ``model_``): the backbone
        # next to our own input normalisation buffers, which the spec provides
        state = {k: v for k, v in state.items() if k not in ("mean", "std")}
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    return out


def load_checkpoint(model, path, head):
    """Load a checkpoint into ``model``; a classification layer of another size is skipped.

    Parameters
    ----------
    model : torch.nn.Module
    path : str
    head : str
        Name of the classification layer.

    Returns
    -------
    model : torch.nn.Module
    """
    state = {
        k: v
        for k, v in read_checkpoint(path).items()
        if not k.startswith(("AuxLogits.", "aux1.", "aux2."))
    }
    own = model.state_dict()
    head_keys = {k for k in own if k.startswith(head + ".")}
    # the classification layer may come from a task with other classes
    state = {k: v for k, v in state.items() if not (k in head_keys and v.shape != own[k].shape)}
    missing = sorted(set(own) - set(state) - head_keys)
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if missing or unexpected or mismatched:
        raise ValueError(
            f"Checkpoint {path} does not fit this backbone: missing {missing[:10]}, "
            f"unexpected {unexpected[:10]}, wrong shape {mismatched[:10]}."
        )
    model.load_state_dict(state, strict=False)
    return model


def is_checkpoint_path(weights):
    """Whether ``weights`` names a checkpoint file rather than a weight set."""
    if isinstance(weights, os.PathLike):
        return True
    return (
        isinstance(weights, str)
        and weights != "imagenet"
        and (
            os.path.isfile(weights)
            or os.path.sep in weights
            or weights.endswith((".pt", ".pth", ".bin", ".ckpt"))
        )
    )


def check_weights(spec, weights):
    """Raise early for ``weights`` the backbone cannot use.

    Parameters
    ----------
    spec : BackboneSpec
    weights : {"imagenet"}, str, path-like or None
    """
    if weights is None:
        return
    if is_checkpoint_path(weights):
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"weights: no checkpoint file at {os.fspath(weights)!r}.")
        try:
            # cheap (the end of the file only): a cut-short download or copy
            # fails here, before any training, rather than inside torch.load
            if not zipfile.is_zipfile(weights):
                _check_not_truncated_zip(weights)
        except ValueError as exc:
            raise ValueError(
                f"weights: the checkpoint file {os.fspath(weights)!r} is damaged: {exc}."
            ) from None
        return
    if weights == "imagenet" and not spec.has_imagenet:
        raise ValueError(
            f"Backbone {spec.name!r} has no ImageNet weights; use weights=None or the "
            "path of a checkpoint."
        )
