"""Grad-CAM against the ``grad-cam`` package, and occlusion sensitivity against hand-made cases."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from skbreastcad.detection import grad_cam, occlusion_sensitivity
from skbreastcad.features import CNNLayerFeatures, HaarFeatures
from skbreastcad.models import TwoStageTransferClassifier
from skbreastcad.plotting import plot_overlay

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


@pytest.fixture(scope="module")
def rois():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 32, 32), dtype=np.uint8)
    y = np.arange(24) % 2
    # a bright blob in the positives, so the networks have something to find
    X[y == 1, 8:20, 10:22] = np.clip(X[y == 1, 8:20, 10:22].astype(int) + 80, 0, 255)
    return X, y


def _reference(model, layer, x, target):
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(target)] * len(x))


@pytest.mark.parametrize("backbone, layer", [("tiny_cnn", "relu2"), ("resnet18", "layer4")])
def test_grad_cam_transfer_classifier_matches_grad_cam_package(rois, backbone, layer):
    X, y = rois
    clf = TwoStageTransferClassifier(
        backbone=backbone,
        transfer="none",
        weights=None,
        max_epochs=1,
        batch_size=8,
        # a training that leaves every one of the four maps non-trivial, so that the
        # comparison below covers four maps (the CAM of an image can be all zero)
        lr=1e-4,
        optimizer="adam",
        weight_decay=0.0,
        balance=None,
        device="cpu",
        input_size="native" if backbone == "tiny_cnn" else 64,
        random_state=0,
    ).fit(X, y)
    ours = grad_cam(clf, X[:4], target_layer=layer)
    model = clf.module_.eval()
    x = torch.as_tensor(X[:4], dtype=torch.float32).unsqueeze(1) / 255.0
    ref = _reference(model, model.backbone.get_submodule(layer), x, 1)
    assert ours.shape == ref.shape == (4, 32, 32)
    # the maps are not trivial, and they agree with the package to float32 precision
    assert (ours.max(axis=(1, 2)) > 0.99).all() and ours.std() > 0.05
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_grad_cam_default_layer_is_the_last_spatial_one(rois):
    X, y = rois
    clf = TwoStageTransferClassifier(
        backbone="resnet18",
        transfer="none",
        weights=None,
        max_epochs=1,
        batch_size=8,
        device="cpu",
        input_size=64,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_array_equal(grad_cam(clf, X[:2]), grad_cam(clf, X[:2], target_layer="layer4"))


class _Score(torch.nn.Module):
    """Logistic regression's decision on the scaled, average-pooled layer: an independent torch head."""

    def __init__(self, model, layer, scaler, clf):
        super().__init__()
        self.model, self.layer = model, model.backbone.get_submodule(layer)
        self.mean = torch.as_tensor(scaler.mean_, dtype=torch.float32)
        self.scale = torch.as_tensor(scaler.scale_, dtype=torch.float32)
        self.coef = torch.as_tensor(clf.coef_[0], dtype=torch.float32)
        self.intercept = float(clf.intercept_[0])

    def forward(self, x):
        store = {}
        handle = self.layer.register_forward_hook(lambda m, a, out: store.setdefault("a", out))
        try:
            self.model(x)
        finally:
            handle.remove()
        pooled = store["a"].mean(dim=(2, 3))
        decision = ((pooled - self.mean) / self.scale) @ self.coef + self.intercept
        # two "logits": 0 for class 0, the decision for class 1
        return torch.stack([torch.zeros_like(decision), decision], dim=1)


@pytest.mark.parametrize("union", [False, True])
def test_grad_cam_cnn_pipeline_matches_grad_cam_package(rois, union):
    X, y = rois
    cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0, device="cpu")
    features = FeatureUnion([("cnn", cnn), ("haar", HaarFeatures())]) if union else cnn
    pipe = make_pipeline(features, StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    ours = grad_cam(pipe, X[:4], target_layer="conv2")
    fitted_cnn = pipe[0].transformer_list[0][1] if union else pipe[0]
    n_cnn = fitted_cnn.n_features_out_
    scaler, clf = pipe[1], pipe[2]

    class _Sliced:
        mean_, scale_ = scaler.mean_[:n_cnn], scaler.scale_[:n_cnn]

    class _Coef:
        coef_, intercept_ = clf.coef_[:, :n_cnn], clf.intercept_

    head = _Score(fitted_cnn.model_.eval(), "relu2", _Sliced, _Coef)
    x = torch.as_tensor(X[:4], dtype=torch.float32).unsqueeze(1) / 255.0
    ref = _reference(head, fitted_cnn.model_.backbone.conv2, x, 1)
    assert ours.std() > 0.05
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    # the other class's map: the negated score
    ref0 = _reference(_Negate(head), fitted_cnn.model_.backbone.conv2, x, 1)
    np.testing.assert_allclose(
        grad_cam(pipe, X[:4], target_layer="conv2", pos_label=0), ref0, atol=2e-5
    )


class _Negate(torch.nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, x):
        return -self.head(x)


def test_grad_cam_refuses_what_it_cannot_explain(rois):
    X, y = rois
    with pytest.raises(ValueError, match="no network to explain"):
        grad_cam(LogisticRegression().fit(X.reshape(24, -1), y), X[:1])
    with pytest.raises(ValueError, match="no CNNLayerFeatures"):
        grad_cam(make_pipeline(HaarFeatures(), LogisticRegression()).fit(X, y), X[:1])
    cnn = CNNLayerFeatures("tiny_cnn", layer="relu1", weights=None, random_state=0, device="cpu")
    pipe = make_pipeline(cnn, LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="does not run before"):
        grad_cam(pipe, X[:1], target_layer="conv2")
    # by default, the last spatial layer the features depend on
    np.testing.assert_array_equal(
        grad_cam(pipe, X[:2]), grad_cam(pipe, X[:2], target_layer="relu1")
    )
    with pytest.raises(ValueError, match="not a module"):
        grad_cam(pipe, X[:1], target_layer="nope")
    with pytest.raises(ValueError, match="pos_label"):
        grad_cam(pipe, X[:1], pos_label=7)


class _RegionMean:
    """Probability = sigmoid of the mean grey level of rows 8-15, cols 4-11: a known receptive field."""

    classes_ = np.array([0, 1])

    def predict_proba(self, images):
        p = 1 / (1 + np.exp(-(images[:, 8:16, 4:12].mean(axis=(1, 2)) - 0.5) * 8))
        return np.column_stack([1 - p, p])


def test_occlusion_sensitivity_finds_the_region_and_its_value():
    image = np.ones((1, 24, 24))
    maps = occlusion_sensitivity(_RegionMean(), image, patch_size=4, stride=4, fill=0.0)
    # patches tile the image exactly: a patch inside the region hides 16 of its 64 pixels
    base = 1 / (1 + np.exp(-0.5 * 8))
    hidden = 1 / (1 + np.exp(-(48 / 64 - 0.5) * 8))
    np.testing.assert_allclose(maps[0, 8:16, 4:12], base - hidden)
    outside = np.ones((24, 24), bool)
    outside[8:16, 4:12] = False
    np.testing.assert_allclose(maps[0][outside], 0.0)


def test_occlusion_sensitivity_overlapping_patches_average():
    image = np.ones((1, 8, 8))
    # with stride 1 every pixel is covered by several patches: the map is their mean drop
    maps = occlusion_sensitivity(
        _RegionMean(), np.ones((1, 24, 24)), patch_size=3, stride=1, fill=0.0
    )
    assert maps.shape == (1, 24, 24) and maps[0, 11, 7] > maps[0, 20, 20] == 0
    with pytest.raises(ValueError, match="exceeds"):
        occlusion_sensitivity(_RegionMean(), image, patch_size=9)
    with pytest.raises(ValueError, match="pos_label"):
        occlusion_sensitivity(_RegionMean(), image, pos_label=3)


def test_overlays_are_written(rois, tmp_path):
    X, y = rois
    cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0, device="cpu")
    pipe = make_pipeline(cnn, StandardScaler(), LogisticRegression()).fit(X, y)
    cam = grad_cam(pipe, X[1:2])[0]
    occ = occlusion_sensitivity(pipe, X[1:2], patch_size=8)[0]
    for name, heat in (("cam.png", cam), ("occ.png", occ)):
        path = plot_overlay(X[1], heat, path=tmp_path / name, title=name)
        assert path.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.png", "occ.png"]
    with pytest.raises(ValueError, match="one shape"):
        plot_overlay(X[1], cam[:4], path=tmp_path / "bad.png")
