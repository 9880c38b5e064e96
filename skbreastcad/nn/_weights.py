"""Weight files: checkpoints on disk, the torch hub cache, and early checks of ``weights``."""

import os
from pathlib import Path
from urllib.parse import urlparse

__all__ = [
    "check_weights",
    "hub_checkpoint_path",
    "is_checkpoint_path",
    "load_checkpoint",
    "read_checkpoint",
]


def hub_checkpoint_path(url):
    """Where torchvision keeps (or would download) the weight file at ``url``.

    Parameters
    ----------
    url : str

    Returns
    -------
    path : pathlib.Path
    """
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
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
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
        return
    if weights == "imagenet" and not spec.has_imagenet:
        raise ValueError(
            f"Backbone {spec.name!r} has no ImageNet weights; use weights=None or the "
            "path of a checkpoint."
        )
