"""Pickling fitted torch modules so that they load on any device."""

import copy
import io

from ..utils._optional import optional_import

__all__ = ["TorchStateMixin"]


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
                with optional_import(f"Pickling a fitted {type(self).__name__}"):
                    import torch

                buffer = io.BytesIO()
                torch.save(state[name], buffer)
                state[name] = _TorchBytes(buffer.getvalue())
        return state

    def __setstate__(self, state):
        for name in self._torch_attributes:
            value = state.get(name)
            if isinstance(value, _TorchBytes):
                with optional_import(f"Loading a fitted {type(self).__name__}"):
                    import torch

                state[name] = torch.load(
                    io.BytesIO(value.data), map_location="cpu", weights_only=False
                )
        super().__setstate__(state)

    def _model_on(self, device, channels_last=False):
        """The fitted model on ``device`` (cached; the CPU master copy stays put)."""
        model = self._torch_model()
        if device.type == "cpu" and not channels_last:
            return model
        key = (str(device), bool(channels_last))
        cache = getattr(self, "_device_cache", None)
        if cache is None or cache[0] != key or cache[1] is not model:
            with optional_import(type(self).__name__):
                import torch

            from ._image_model import ImageModel

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
