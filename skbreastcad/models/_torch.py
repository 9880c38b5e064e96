"""Torch plumbing shared by the deep estimators: devices, input scaling, the
image-model wrapper, batched inference and CPU-safe pickling."""

import contextlib
import io
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ImageModel",
    "TorchStateMixin",
    "autocast",
    "fixed_size_batches",
    "check_value_range",
    "resolve_device",
    "to_unit_tensor",
    "use_amp",
    "use_channels_last",
    "validate_input_size",
]

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
_WEIGHT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


def resolve_device(device):
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; validates the rest."""
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
    return device.type == "cuda" if channels_last == "auto" else bool(channels_last)


def autocast(device, enabled):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def check_value_range(value_range):
    if value_range == "dtype":
        return
    ok = (
        isinstance(value_range, (tuple, list))
        and len(value_range) == 2
        and all(isinstance(v, Real) for v in value_range)
        and value_range[1] > value_range[0]
    )
    if not ok:
        raise ValueError(
            f"value_range must be 'dtype' or a pair (low, high) with low < high; got {value_range!r}."
        )


def unit_scaling(dtype, value_range):
    """``(offset, scale)`` such that ``(x - offset) * scale`` maps grey levels to [0, 1]."""
    if value_range != "dtype":
        low, high = value_range
        return float(low), 1.0 / (float(high) - float(low))
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 0.0, 1.0 / 255.0
    if dtype == np.uint16:
        return 0.0, 1.0 / 65535.0
    return 0.0, 1.0


def to_unit_tensor(images, value_range, device=None):
    """(n, H, W) array -> float32 tensor (n, 1, H, W) on ``device`` in [0, 1] units."""
    offset, scale = unit_scaling(images.dtype, value_range)
    arr = np.ascontiguousarray(images)
    if arr.dtype not in (np.uint8, np.float32):
        arr = arr.astype(np.float32)
    # joblib hands read-only memmaps to GridSearchCV(n_jobs>1) workers, which
    # torch.from_numpy warns about: copy those (torch.tensor) instead of sharing
    x = torch.from_numpy(arr) if arr.flags.writeable else torch.tensor(arr)
    # convert on the device: uint8 travels 4x lighter than float32
    x = x.to(device=device).to(torch.float32)
    if offset:
        x = x - offset
    if scale != 1.0:
        x = x * scale
    return x.unsqueeze(1)


def validate_input_size(input_size, spec, image_shape):
    """Resolve ``input_size`` to the size fed to the network; raise if too small.

    Returns
    -------
    size : tuple of (int, int) or None
        None when images keep their own size.
    """
    if input_size is None:
        size = spec.input_size
    elif input_size == "native":
        size = None
    elif isinstance(input_size, (int, np.integer)):
        size = (int(input_size), int(input_size))
    elif len(input_size) == 2 and all(isinstance(v, (int, np.integer)) and v >= 1 for v in input_size):
        size = (int(input_size[0]), int(input_size[1]))
    else:
        raise ValueError(
            "input_size must be None, 'native', a positive int or a pair (height, width) "
            f"of positive ints; got {input_size!r}."
        )
    effective = size if size is not None else tuple(image_shape)
    if min(effective) < spec.min_input_size:
        what = "input_size" if size is not None else "images"
        raise ValueError(
            f"The {what} {effective[0]}x{effective[1]} is too small for backbone "
            f"{spec.name!r}, which needs at least {spec.min_input_size}x"
            f"{spec.min_input_size} pixels. Use larger images or resize them with "
            "input_size=(height, width)."
        )
    return size


class ImageModel(nn.Module):
    """Grayscale [0, 1] images -> backbone: resize, grey -> 3 channels, normalise.

    Parameters
    ----------
    backbone : nn.Module
    mean, std : tuple of 3 float
        The weight set's normalisation.
    input_size : tuple of (int, int) or None
        Resize to this size; None keeps the input size.
    channels_last : bool
        Feed the backbone channels-last tensors (faster convolutions on GPU).
    """

    def __init__(self, backbone, mean, std, input_size=None, channels_last=False):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.input_size = None if input_size is None else tuple(input_size)
        self.channels_last = bool(channels_last)
        self.frozen_ = []

    def forward(self, x):
        if self.input_size is not None and tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        # broadcasting the single grey channel against 3 means gives 3 channels
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def freeze(self, depth):
        """Freeze the first ``depth`` weight layers and the norm layers among them.

        Weight layers are the convolutions and linear layers in registration
        order (see :func:`weight_layers`); a negative ``depth`` leaves the last
        ``-depth`` of them trainable. The normalisation layers after a frozen
        weight layer (up to the next trainable one) are frozen too and stay in
        eval mode, so their running statistics do not move. Parameters a
        container holds itself (a class token, a layer scale) are frozen with
        the weight layer that follows them.

        Returns
        -------
        frozen : list of str
            Names of the frozen leaf modules.
        """
        layers = weight_layers(self.backbone)
        n = len(layers) + depth if depth < 0 else depth
        # the classification layer always stays trainable
        n = max(0, min(n, len(layers) - 1))
        frozen = []
        seen = 0
        # A container's own parameters (a ViT class token, a ConvNeXt layer
        # scale) come before its children in named_modules(): they wait for the
        # next weight layer and are frozen with it, not regardless of it.
        pending = []
        # depth 0 freezes nothing, not even norm layers before the first weight layer
        modules = self.backbone.named_modules() if n > 0 else ()
        for name, module in modules:
            if isinstance(module, _WEIGHT_TYPES):
                seen += 1
                if seen > n:
                    break
                group, pending = [*pending, (name, module)], []
            elif isinstance(module, _NORM_TYPES):
                group = [(name, module)]
            else:
                if any(True for _ in module.parameters(recurse=False)):
                    pending.append((name, module))
                continue
            for member_name, member in group:
                for p in member.parameters(recurse=False):
                    p.requires_grad_(False)
                frozen.append(member_name)
        self.frozen_ = [name for name in frozen if isinstance(self.backbone.get_submodule(name), _NORM_TYPES)]
        self.train(self.training)
        return frozen

    def train(self, mode=True):
        super().train(mode)
        for name in self.frozen_:
            self.backbone.get_submodule(name).eval()
        return self


def weight_layers(model):
    """Names of the convolution and linear layers, in registration order."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, _WEIGHT_TYPES)
    ]


def fixed_size_batches(images, batch_size, pad=True):
    """Yield ``(n_real, batch)``: consecutive batches of exactly ``batch_size`` images.

    The last batch is padded with blank images. Every forward pass then has
    the same shape, so the kernels (whose summation order depends on the
    batch size) treat each image identically: an image's output is bitwise
    the same whatever other images share the call, e.g. in different
    cross-validation folds.
    """
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        n_real = len(batch)
        if pad and n_real < batch_size:
            blank = np.zeros((batch_size - n_real, *batch.shape[1:]), dtype=batch.dtype)
            batch = np.concatenate([batch, blank])
        yield n_real, batch


class TorchStateMixin:
    """Pickle the torch modules of an estimator so that they load on any device.

    Each attribute in ``_torch_attributes`` is serialised with ``torch.save``
    and restored with ``map_location="cpu"``: a model fitted (and pickled)
    on a GPU machine unpickles on a CPU-only one. Device copies of the model,
    cached for speed in ``_device_cache``, are never pickled.
    """

    _torch_attributes = ()

    def __getstate__(self):
        # object.__getstate__ may hand back the live __dict__: never edit it
        state = dict(super().__getstate__())
        state.pop("_device_cache", None)
        for name in self._torch_attributes:
            if name in state and state[name] is not None:
                buffer = io.BytesIO()
                torch.save(state[name], buffer)
                state[name] = _TorchBytes(buffer.getvalue())
        return state

    def __setstate__(self, state):
        for name in self._torch_attributes:
            value = state.get(name)
            if isinstance(value, _TorchBytes):
                state[name] = torch.load(io.BytesIO(value.data), map_location="cpu", weights_only=False)
        super().__setstate__(state)

    def _model_on(self, device, channels_last=False):
        """The fitted model on ``device`` (cached; the CPU master copy stays put)."""
        model = self._torch_model()
        if device.type == "cpu" and not channels_last:
            return model
        key = (str(device), bool(channels_last))
        cache = getattr(self, "_device_cache", None)
        if cache is None or cache[0] != key or cache[1] is not model:
            import copy

            moved = copy.deepcopy(model).to(device)
            if channels_last:
                moved = moved.to(memory_format=torch.channels_last)
            if isinstance(moved, ImageModel):
                moved.channels_last = bool(channels_last)
            self._device_cache = (key, model, moved)
            cache = self._device_cache
        return cache[2]


class _TorchBytes:
    """A torch.save payload inside a pickle."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

    def __getstate__(self):
        return self.data

    def __setstate__(self, data):
        self.data = data
