"""The image-model wrapper: grey [0, 1] images in, backbone logits out; layer freezing."""

from ..utils._optional import optional_import

with optional_import("skbreastcad's deep-learning code"):
    import torch
    import torch.nn.functional as F
    from torch import nn

__all__ = ["ImageModel", "weight_layers"]

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
_WEIGHT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


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
        self.frozen_ = [
            name for name in frozen if isinstance(self.backbone.get_submodule(name), _NORM_TYPES)
        ]
        self.train(self.training)
        return frozen

    def train(self, mode=True):
        super().train(mode)
        for name in self.frozen_:
            self.backbone.get_submodule(name).eval()
        return self


def weight_layers(model):
    """Names of the convolution and linear layers, in registration order."""
    return [name for name, module in model.named_modules() if isinstance(module, _WEIGHT_TYPES)]
