"""Devices and their speed switches: ``device="auto"``, bf16 autocast, channels-last."""

import contextlib
import sys

from ..utils._optional import optional_import

__all__ = ["TorchDevice", "autocast", "resolve_device", "use_amp", "use_channels_last"]


class _TorchDeviceMeta(type):
    def __instancecheck__(cls, obj):
        # an object cannot be a torch.device before torch is imported
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(obj, torch.device)


class TorchDevice(metaclass=_TorchDeviceMeta):
    """Stands for ``torch.device`` in ``isinstance`` checks without importing torch.

    Used as a parameter constraint (``"device": [str, TorchDevice]``), so that
    declaring the constraints of the deep estimators does not import torch.
    """


# scikit-learn names the type in its error messages: make it read torch.device
TorchDevice.__module__ = "torch"
TorchDevice.__qualname__ = "device"


def resolve_device(device):
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; validates the rest.

    Parameters
    ----------
    device : str or torch.device

    Returns
    -------
    device : torch.device
    """
    with optional_import("A torch device"):
        import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({exc}).") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine. A "
            "model fitted on a GPU runs here after set_params(device='cpu') (or 'auto')."
        )
    return dev


def use_amp(amp, device):
    """bf16 autocast: on by default on GPU only (bf16 on CPU is slow on most CPUs)."""
    return device.type == "cuda" if amp == "auto" else bool(amp)


def use_channels_last(channels_last, device):
    """Channels-last memory format: on by default on GPU and CPU.

    On the CPU, oneDNN's channels-last convolutions trained EfficientNet-Lite0
    at 128 px 1.3-1.46x faster and ran its inference at 224 px 1.45-1.66x
    faster than the default layout (2 cores, batch 32); other devices (MPS)
    keep the default layout unless asked.
    """
    if channels_last == "auto":
        return device.type in ("cuda", "cpu")
    return bool(channels_last)


def autocast(device, enabled):
    """bf16 autocast on ``device`` when ``enabled``, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    with optional_import("skbreastcad's deep-learning code"):
        import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
