"""ImageAugmenter: batched, seedable, on the batch's device, geometry checked."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skbreastcad.augmentation import ImageAugmenter

NO_OP = dict(
    hflip=0.0, vflip=0.0, rot90=False, affine_p=0.0, brightness=0.0, contrast=0.0, noise=0.0
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_seeded_and_batched():
    x = torch.rand(16, 1, 24, 24)
    aug = ImageAugmenter(noise=0.01)
    a = aug(x, generator=_gen(1))
    b = aug(x, generator=_gen(1))
    c = aug(x, generator=_gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    # random_state seeds the internal generator, which advances between calls
    own1, own2 = ImageAugmenter(random_state=0), ImageAugmenter(random_state=0)
    first = own1(x)
    assert torch.equal(first, own2(x)) and not torch.equal(first, own1(x))


def test_accepts_three_dimensional_batches_and_numpy():
    x = np.random.default_rng(0).random((4, 10, 10)).astype(np.float32)
    out = ImageAugmenter(random_state=0)(x)
    assert isinstance(out, np.ndarray) and out.shape == x.shape
    assert ImageAugmenter()(torch.rand(3, 8, 12), generator=0).shape == (3, 8, 12)


def test_flips():
    x = torch.rand(5, 1, 6, 7)
    torch.testing.assert_close(ImageAugmenter(**{**NO_OP, "hflip": 1.0})(x, _gen()), x.flip(-1))
    torch.testing.assert_close(ImageAugmenter(**{**NO_OP, "vflip": 1.0})(x, _gen()), x.flip(-2))
    torch.testing.assert_close(ImageAugmenter(**NO_OP)(x, _gen()), x)


@pytest.mark.parametrize("shape, allowed", [((9, 9), (0, 1, 2, 3)), ((6, 9), (0, 2))])
def test_rot90_uses_only_shape_preserving_turns(shape, allowed):
    x = torch.rand(64, 1, *shape)
    out = ImageAugmenter(**{**NO_OP, "rot90": True})(x, _gen())
    seen = set()
    for xi, oi in zip(x, out):
        ks = [
            k
            for k in (0, 1, 2, 3)
            if torch.rot90(xi, k, dims=(-2, -1)).shape == oi.shape
            and torch.equal(torch.rot90(xi, k, dims=(-2, -1)), oi)
        ]
        assert ks and ks[0] in allowed
        seen.add(ks[0])
    assert seen == set(allowed)


def _bar_moments(img):
    ys, xs = np.nonzero(img > 0.5)
    w = img[ys, xs]
    cov = np.cov(np.vstack([xs, ys]), aweights=w)
    evals, evecs = np.linalg.eigh(cov)
    major = evecs[:, 1]
    angle = np.degrees(np.arctan2(major[1], major[0]))
    angle = (angle + 90) % 180 - 90
    return angle, np.sqrt(evals[1])


def test_affine_rotation_is_rigid_on_non_square_images():
    # a horizontal bar in a wide image: a rotation written in normalised
    # coordinates without the aspect correction would shear and stretch it
    x = torch.zeros(32, 1, 64, 128)
    x[:, :, 31:33, 34:94] = 1.0
    aug = ImageAugmenter(
        **{**NO_OP, "affine_p": 1.0, "degrees": 30.0, "translate": 0.0, "scale": (1.0, 1.0)},
        clip=False,
    )
    out = aug(x, _gen()).numpy()[:, 0]
    _, length0 = _bar_moments(x.numpy()[0, 0])
    angles = []
    for img in out:
        angle, length = _bar_moments(img)
        angles.append(angle)
        assert abs(angle) <= 30.5
        assert length == pytest.approx(length0, rel=0.05)
    assert np.ptp(angles) > 20  # rotations really vary across the batch


def test_affine_identity_and_zoom():
    x = torch.rand(4, 1, 16, 16)
    identity = ImageAugmenter(
        **{**NO_OP, "affine_p": 1.0, "degrees": 0.0, "translate": 0.0, "scale": (1.0, 1.0)}
    )
    torch.testing.assert_close(identity(x, _gen()), x, atol=1e-5, rtol=0)
    zoom = ImageAugmenter(
        **{**NO_OP, "affine_p": 1.0, "degrees": 0.0, "translate": 0.0, "scale": (2.0, 2.0)}
    )
    blob = torch.zeros(1, 1, 16, 16)
    blob[..., 6:10, 6:10] = 1
    assert float(zoom(blob, _gen()).sum()) == pytest.approx(4 * float(blob.sum()), rel=0.05)


def test_intensity_jitter():
    x = torch.rand(50, 1, 8, 8) * 0.5 + 0.25
    out = ImageAugmenter(**{**NO_OP, "brightness": 0.1}, clip=False)(x, _gen())
    offset = (out - x).flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-6)
    assert offset.abs().max() <= 0.1 and offset.std() > 0.02
    out = ImageAugmenter(**{**NO_OP, "contrast": 0.5}, clip=False)(x, _gen())
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))
    ratio = out.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert float(ratio.min()) >= 0.5 - 1e-4 and float(ratio.max()) <= 1.5 + 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_same_result_on_the_gpu():
    x = torch.rand(8, 1, 32, 32)
    aug = ImageAugmenter()
    cpu = aug(x, _gen(5))
    gpu = aug(x.cuda(), _gen(5))
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"hflip": 1.5}, "hflip"),
        ({"degrees": -1}, "degrees"),
        ({"scale": (1.2, 0.8)}, "scale"),
        ({"scale": 1.1}, "scale"),
        ({"scale": (0.9, 1.0, 1.1)}, "scale"),
        ({"contrast": 2}, "contrast"),
    ],
)
def test_bad_parameters(params, name):
    with pytest.raises(ValueError, match=name):
        ImageAugmenter(**params)(torch.rand(2, 1, 4, 4), 0)
    with pytest.raises(TypeError, match="floating-point"):
        ImageAugmenter()(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), 0)


def test_clone_and_nested_params():
    aug = ImageAugmenter(degrees=5.0)
    copy = clone(aug)
    assert copy is not aug and copy.get_params() == aug.get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        aug.set_params(colour=1)
    from skbreastcad.models import TwoStageTransferClassifier

    clf = TwoStageTransferClassifier(augment=ImageAugmenter())
    clf.set_params(augment__hflip=0.0)
    assert clf.get_params()["augment__hflip"] == 0.0


def test_parameters_are_validated_once_per_parameter_set(monkeypatch):
    from skbreastcad.augmentation import _augmenter

    calls = []
    real = _augmenter.validate_parameter_constraints
    monkeypatch.setattr(
        _augmenter,
        "validate_parameter_constraints",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    aug = ImageAugmenter()
    for _ in range(3):
        aug(torch.rand(2, 1, 4, 4), 0)
    assert len(calls) == 1
    # a changed parameter is checked again on the next batch
    aug.set_params(hflip=2.0)
    with pytest.raises(ValueError, match="hflip"):
        aug(torch.rand(2, 1, 4, 4), 0)


def test_numpy_generator_as_random_state():
    x = torch.rand(4, 1, 8, 8)
    a = ImageAugmenter(random_state=np.random.default_rng(3))(x)
    b = ImageAugmenter(random_state=np.random.default_rng(3))(x)
    torch.testing.assert_close(a, b)


def test_repr_shows_changed_parameters_only():
    assert repr(ImageAugmenter(degrees=5.0)) == "ImageAugmenter(degrees=5.0)"


def test_is_not_collected_as_an_estimator():
    from skbreastcad.utils import all_estimators

    assert "ImageAugmenter" not in dict(all_estimators())


def test_set_params_after_use_takes_effect():
    x = torch.rand(4, 1, 8, 8)
    aug = ImageAugmenter(random_state=0)
    aug(x)
    aug.set_params(random_state=1)
    torch.testing.assert_close(aug(x), ImageAugmenter(random_state=1)(x))
    # a list parameter changed in place is validated again
    aug = ImageAugmenter(scale=[0.9, 1.1])
    aug(x)
    aug.scale[0] = -5.0
    with pytest.raises(ValueError, match="scale"):
        aug(x)
