"""What the deep estimators share: their settings, pre-fit checks, seeded model build and
batched inference."""

import os
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ..utils._optional import optional_import
from ..utils._sklearn_compat import Interval, StrOptions
from ._backbones import build_backbone, get_backbone_spec
from ._device import TorchDevice, autocast, resolve_device, use_amp, use_channels_last
from ._input import (
    check_unit_range,
    check_value_range,
    fixed_size_batches,
    to_unit_tensor,
    unit_scaling,
    validate_input_size,
    warn_far_from_unit_range,
)
from ._state import TorchStateMixin
from ._weights import check_weights

__all__ = ["BaseDeepEstimator"]


class BaseDeepEstimator(TorchStateMixin):
    """Mixin of the estimators that run a CNN backbone on grayscale images.

    It owns the parameters every deep estimator has (``backbone``,
    ``weights``, ``input_size``, ``value_range``, ``batch_size``, ``device``,
    ``amp``, ``channels_last``, ``random_state``, ``image_shape``,
    ``verbose``): their constraints, their checks before any long work, the
    seeded model build and the batched, fixed-size inference loop. Put it
    before the scikit-learn base classes; subclasses extend
    ``_parameter_constraints`` with their own entries.
    """

    _parameter_constraints = {
        "backbone": [str],
        "weights": [str, os.PathLike, None],
        "input_size": [
            Interval(Integral, 1, None, closed="left"),
            tuple,
            list,
            StrOptions({"native"}),
            None,
        ],
        "value_range": [StrOptions({"dtype"}), tuple, list],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        # TorchDevice, not torch.device: declaring it must not import torch
        "device": [str, TorchDevice],
        "amp": ["boolean", StrOptions({"auto"})],
        "channels_last": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        "image_shape": [None, tuple, list],
        "verbose": ["verbose"],
    }

    def _check_deep_settings(self, image_shape):
        """Check the shared settings against the images; set ``input_size_``.

        Everything that can fail does so here, before weights are loaded or
        training starts.

        Returns
        -------
        spec : BackboneSpec
        device : torch.device
        """
        # the first torch import of every deep estimator's fit: a missing extra is
        # reported with the estimator's name, not that of a helper deep inside
        with optional_import(type(self).__name__):
            import torch  # noqa: F401

        spec = get_backbone_spec(self.backbone)
        self._check_weights_setting(spec)
        check_value_range(self.value_range)
        device = resolve_device(self.device)
        self.input_size_ = validate_input_size(self.input_size, spec, image_shape)
        return spec, device

    def _record_input_scaling(self, images):
        """Remember how ``fit``'s images map to [0, 1]; prediction must map alike."""
        check_unit_range(images, self.value_range)
        warn_far_from_unit_range(images, self.value_range)
        self._input_scaling = (images.dtype.str, unit_scaling(images.dtype, self.value_range))

    def _check_input_scaling(self, images):
        """Refuse images whose dtype maps grey levels unlike ``fit``'s did.

        With ``value_range="dtype"``, uint8 images fitted on and the same
        images as float64 0-255 at prediction would be read as 255 times
        brighter, without any error.
        """
        fitted = getattr(self, "_input_scaling", None)
        if fitted is None:
            return
        dtype, scaling = fitted
        if unit_scaling(images.dtype, self.value_range) != scaling:
            raise ValueError(
                f"{type(self).__name__} was fitted on {np.dtype(dtype)} images, which "
                f"value_range={self.value_range!r} maps to [0, 1] differently from these "
                f"{images.dtype} images. Pass images of the fitted dtype, or fit with "
                "value_range=(low, high) so that any dtype maps alike."
            )

    def _check_weights_setting(self, spec):
        """Raise for ``weights`` the backbone cannot use (a subclass may refine this)."""
        check_weights(spec, self.weights)

    def _model_seed(self):
        """A seed for the model build drawn from ``random_state``."""
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _build_model(self, backbone, weights, seed, *, num_classes=None):
        """The backbone behind its input preprocessing, initialised from ``seed``.

        Sets ``_head``, the name of the classification layer. The global torch
        random state is left as it was.

        Returns
        -------
        model : ImageModel
        """
        with optional_import(type(self).__name__):
            import torch

        from ._image_model import ImageModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            built = build_backbone(backbone, weights, num_classes=num_classes)
        self._head = built.head
        return ImageModel(built.model, built.mean, built.std, self.input_size_)

    def _torch_architecture(self, name, *, num_classes=None):
        """The fitted network's architecture, freshly built (weights not loaded).

        Used to load saved tensors (a pickle, a model folder): the backbone
        is rebuilt from its name, without pretrained weights, behind the
        preprocessing of the fitted ``input_size_``.
        """
        spec = get_backbone_spec(self.backbone)
        return self._build_model(spec.name, None, 0, num_classes=num_classes)

    def _inference_setup(self):
        """The fitted model on the current ``device``, that device and whether to use bf16.

        Resolved at every call, so that ``set_params(device=...)`` after fitting
        moves inference (a GPU-fitted model predicts on a CPU-only machine).

        Returns
        -------
        model : torch.nn.Module
        device : torch.device
        amp : bool
        """
        device = resolve_device(self.device)
        model = self._model_on(device, use_channels_last(self.channels_last, device))
        return model, device, use_amp(self.amp, device)

    def _batched_inference(
        self, model, images, device, amp, forward, *, post=None, pad=True, desc=None, shard=False
    ):
        """Run ``forward(model, x)`` over fixed-size batches of unit tensors.

        Parameters
        ----------
        model : torch.nn.Module
        images : ndarray of shape (n_samples, height, width)
        device : torch.device
        amp : bool
            Run ``forward`` under bf16 autocast.
        forward : callable
            ``forward(model, x) -> tensor`` with one row per image of ``x``.
        post : callable or None, default=None
            Applied in float32, outside autocast, to the real rows of each batch.
        pad : bool, default=True
            Pad the last batch to ``batch_size`` images (see
            :func:`fixed_size_batches`).
        desc : str or None, default=None
            Progress-bar label, shown when ``verbose`` is positive.
        shard : bool, default=False
            Share the batches among the processes of :meth:`_inference_group`
            (every one of them must make the same call); each gets all the results.

        Returns
        -------
        out : ndarray of float64, shape (n_samples, ...)
        """
        with optional_import(type(self).__name__):
            import torch

        self._check_input_scaling(images)
        check_unit_range(images, self.value_range)
        warn_far_from_unit_range(images, self.value_range)
        batches = fixed_size_batches(images, self.batch_size, pad=pad)
        group = self._inference_group(device) if shard else None
        if group is not None:
            batches = (b for i, b in enumerate(batches) if group.mine(i))
        if desc is not None and self.verbose and len(images) > self.batch_size:
            from tqdm.auto import tqdm

            total = -(-len(images) // self.batch_size)
            if group is not None:
                total = len(range(group.rank, total, group.world_size))
            batches = tqdm(batches, desc=desc, unit="batch", total=total)
        out = []
        with torch.inference_mode():
            for n_real, batch in batches:
                x = to_unit_tensor(batch, self.value_range, device)
                with autocast(device, amp):
                    result = forward(model, x)
                result = result[:n_real].float()
                if post is not None:
                    result = post(result)
                out.append(result.cpu())
        if group is not None:
            out = group.gather(out)
        return torch.cat(out).numpy().astype(np.float64)

    def _inference_group(self, device):
        """The processes that share :meth:`_batched_inference` (None: this one alone).

        Estimators with an ``accelerator`` parameter that shard their
        inference override this.
        """
        return None
