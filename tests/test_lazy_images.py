"""Image sets read lazily (ImagePaths): equal to the eager loader's array, indexed like it, and
TwoStageTransferClassifier fitted on them equal to the fit on the array, in and out of sklearn's
model selection."""

import os

import numpy as np
import pytest
from PIL import Image

from skbreastcad.datasets import ImagePaths, load_image_folder, make_phantoms

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402

from skbreastcad.models import TwoStageTransferClassifier  # noqa: E402

SIZE = 20
# sizes of the phantom films on disk: larger and smaller than SIZE, square and not,
# odd and even, so that cropping to a square and resampling both come into play
SHAPES = [(32, 32), (28, 36), (40, 26), (17, 17), (20, 20), (33, 24)]
PARAMS = dict(
    backbone="tiny_cnn",
    transfer="none",
    input_size="native",
    max_epochs=2,
    batch_size=5,
    lr=0.05,
    optimizer="sgd",
    random_state=0,
    device="cpu",
)


@pytest.fixture
def folder(tmp_path):
    """A class folder of 16 phantom PNGs (benign, malignant) and its files in the loader's order."""
    phantoms, labels = make_phantoms(16, image_size=48, imbalance_ratio=1.0, random_state=0)
    files = []
    for i, (image, label) in enumerate(zip(phantoms, labels, strict=True)):
        h, w = SHAPES[i % len(SHAPES)]
        path = tmp_path / ("benign", "malignant")[label] / f"film{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(image[:h, :w]).save(path)
        files.append((label, path.name, path))
    # load_image_folder takes classes in name order, files sorted within each class
    files.sort(key=lambda item: item[:2])
    return tmp_path, [str(p) for _, _, p in files], np.array([label for label, _, _ in files])


def test_equals_the_eager_loader(folder):
    root, files, y = folder
    eager = load_image_folder(root, output_size=SIZE)
    lazy = ImagePaths(files, output_size=SIZE, num_workers=0)
    assert lazy.shape == eager.images.shape == (16, SIZE, SIZE)
    assert lazy.dtype == eager.images.dtype and lazy.ndim == 3 and lazy.size == eager.images.size
    np.testing.assert_array_equal(y, eager.target)
    np.testing.assert_array_equal(np.asarray(lazy), eager.images)
    assert lazy.min() == eager.images.min() and lazy.max() == eager.images.max()
    # read in worker processes: the same batches, in the order asked for
    batches = [[3, 1], [0], [15, 2, 9]]
    for batch, images in zip(
        batches,
        ImagePaths(files, output_size=SIZE, num_workers=2).iter_batches(batches),
        strict=True,
    ):
        np.testing.assert_array_equal(images, eager.images[batch])


def test_indexing_keeps_subsets_lazy(folder):
    _, files, _ = folder
    lazy = ImagePaths(files, output_size=SIZE, num_workers=0)
    eager = np.asarray(lazy)
    assert len(lazy) == 16 and repr(lazy).startswith("ImagePaths(<16 files>")
    np.testing.assert_array_equal(lazy[3], eager[3])
    np.testing.assert_array_equal(lazy[-1], eager[-1])
    mask = np.arange(16) % 3 == 0
    for key in (slice(2, 11, 3), [5, 0, 5], np.array([7, 1]), mask, np.array([], dtype=int)):
        subset = lazy[key]
        assert isinstance(subset, ImagePaths)
        assert subset.paths == tuple(np.array(files)[key])
        np.testing.assert_array_equal(np.asarray(subset), eager[key])
    # a subset of a subset; scikit-learn's _safe_indexing asks for images[rows, ...]
    nested = lazy[[9, 4, 2, 7]][np.array([3, 0]), ...]
    assert nested.paths == (files[7], files[9])
    np.testing.assert_array_equal(np.asarray(nested), eager[[7, 9]])
    with pytest.raises(IndexError, match="one value per image"):
        lazy[np.ones(3, bool)]
    with pytest.raises(IndexError, match="integers or booleans"):
        lazy[np.array([0.5])]
    with pytest.raises(IndexError, match="indexed by image only"):
        lazy[0, 1]
    with pytest.raises(IndexError):
        lazy[16]


def test_missing_unreadable_and_mixed_files_are_named(folder, tmp_path):
    _, files, _ = folder
    missing = str(tmp_path / "benign" / "gone.png")
    with pytest.raises(FileNotFoundError, match="gone.png"):
        ImagePaths([*files, missing])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        ImagePaths([broken, *files])
    # found only when read: by a worker process too
    lazy = ImagePaths([*files, broken], output_size=SIZE, num_workers=2)
    with pytest.raises(ValueError, match="broken.png"):
        list(lazy.iter_batches([[0, 1], [16]]))
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(deep)
    with pytest.raises(ValueError, match=r"deep\.png holds uint16 pixels.*uint8"):
        np.asarray(ImagePaths([*files, deep], output_size=SIZE, num_workers=0))
    with pytest.raises(TypeError, match="sequence of image files"):
        ImagePaths(files[0])
    with pytest.raises(ValueError, match="at least one image"):
        ImagePaths([])


def test_fingerprint_follows_the_files(folder):
    _, files, _ = folder
    lazy = ImagePaths(files, output_size=SIZE, num_workers=0)
    key = lazy.fingerprint_key()
    assert key == ImagePaths(files, output_size=SIZE).fingerprint_key()
    assert key != ImagePaths(files, output_size=SIZE + 1).fingerprint_key()
    assert lazy[:3].fingerprint_key() == key[:4]
    stat = os.stat(files[2])
    os.utime(files[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert lazy.fingerprint_key() != key


def _with_masks(root):
    """Add lesion masks to ``folder``'s films: one, two (one image, two ROIs), an empty one
    (whole image kept) and a mask reaching past the edge (zero-padded crop)."""
    benign = sorted((root / "benign").glob("film*.png"))
    malignant = sorted((root / "malignant").glob("film*.png"))

    def mask(path, box):
        h, w = np.asarray(Image.open(path)).shape
        m = np.zeros((h, w), np.uint8)
        top, left, bottom, right = box
        m[top:bottom, left:right] = 255
        return m

    Image.fromarray(mask(benign[0], (3, 4, 12, 10))).save(
        root / "benign" / f"{benign[0].stem}_mask.png"
    )
    Image.fromarray(mask(malignant[0], (2, 2, 9, 7))).save(
        root / "malignant" / f"{malignant[0].stem}_mask1.png"
    )
    Image.fromarray(mask(malignant[0], (10, 8, 16, 16))).save(
        root / "malignant" / f"{malignant[0].stem}_mask2.png"
    )
    Image.fromarray(mask(malignant[1], (0, 0, 0, 0))).save(
        root / "malignant" / f"{malignant[1].stem}_mask.png"
    )
    Image.fromarray(mask(benign[1], (0, 0, 5, 4))).save(
        root / "benign" / f"{benign[1].stem}_mask.png"
    )


@pytest.mark.parametrize("masks", [False, True], ids=["whole images", "masks"])
def test_loader_returns_a_lazy_set_equal_to_its_array(folder, masks):
    root, _, _ = folder
    if masks:
        _with_masks(root)
    eager = load_image_folder(root, output_size=SIZE, margin=0.2)
    data = load_image_folder(root, output_size=SIZE, margin=0.2, lazy=True)
    assert isinstance(data.images, ImagePaths)
    assert len(data.images) == (17 if masks else 16)  # one film has two lesions
    if masks:
        assert (eager.metadata["crop"] == "mask").sum() == 4
    np.testing.assert_array_equal(np.asarray(data.images), eager.images)
    np.testing.assert_array_equal(data.target, eager.target)
    np.testing.assert_array_equal(data.groups, eager.groups)
    np.testing.assert_array_equal(data.target_names, eager.target_names)
    assert data.metadata.equals(eager.metadata) and data.skipped.equals(eager.skipped)
    assert data.DESCR == eager.DESCR
    # read in workers, and as subsets, the crops follow their files
    data.images.num_workers = 2
    np.testing.assert_array_equal(np.asarray(data.images[::-3]), eager.images[::-3])
    batches = [[1, 0], [len(eager.target) - 1, 2]]
    for batch, images in zip(batches, data.images.iter_batches(batches), strict=True):
        np.testing.assert_array_equal(images, eager.images[batch])


def test_lazy_loader_refusals_and_crop_checks(folder):
    root, files, _ = folder
    with pytest.raises(ValueError, match=r"lazy=True\) needs an integer output_size"):
        load_image_folder(root, output_size=None, lazy=True)
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(root / "benign" / "zdeep.png")
    with pytest.raises(ValueError, match=r"mix pixel types.*zdeep\.png"):
        load_image_folder(root, output_size=SIZE, lazy=True)
    with pytest.raises(ValueError, match=r"shape \(16, 3\); got shape \(2, 3\)"):
        ImagePaths(files, crops=[(1, 1, 4)] * 2)
    with pytest.raises(ValueError, match="row 1 has side 2.5"):
        ImagePaths(files[:2], crops=[(1, 1, 4), (1, 1, 2.5)])
    with pytest.raises(ValueError, match="NaN or infinite"):
        ImagePaths(files[:1], crops=[(np.nan, 1, 4)])
    # the crop is part of what identifies the data
    one = ImagePaths(files[:1], output_size=SIZE, crops=[(5, 5, 8)])
    other = ImagePaths(files[:1], output_size=SIZE, crops=[(5, 6, 8)])
    assert one.fingerprint_key() != other.fingerprint_key()
    assert not np.array_equal(np.asarray(one), np.asarray(other))


def test_cnn_features_of_an_image_set_read_batch_by_batch(folder, monkeypatch):
    from skbreastcad.features import CNNLayerFeatures

    _, files, _ = folder
    lazy = ImagePaths(files, output_size=SIZE, num_workers=2)
    eager = np.asarray(ImagePaths(files, output_size=SIZE, num_workers=0))
    params = dict(layer="relu2", weights=None, random_state=0, device="cpu", batch_size=5)
    expected = CNNLayerFeatures("tiny_cnn", **params).fit(eager).transform(eager)

    def unread(self, dtype=None, copy=None):
        raise AssertionError("the image set was read into memory as a whole")

    monkeypatch.setattr(ImagePaths, "__array__", unread)
    cnn = CNNLayerFeatures("tiny_cnn", **params).fit(lazy)
    assert cnn.image_shape_ == (SIZE, SIZE) and cnn.n_features_in_ == SIZE * SIZE
    np.testing.assert_array_equal(cnn.transform(lazy), expected)
    np.testing.assert_array_equal(cnn.transform(lazy[[3, 0]]), expected[[3, 0]])
    # the features of a set read lazily under sklearn's fit_transform, the same
    np.testing.assert_array_equal(
        CNNLayerFeatures("tiny_cnn", **params).fit_transform(lazy), expected
    )
    with pytest.raises(ValueError, match=r"shape \(21, 21\), but CNNLayerFeatures was fitted"):
        cnn.transform(ImagePaths(files, output_size=SIZE + 1, num_workers=0))
    with pytest.raises(ValueError, match="image_shape"):
        CNNLayerFeatures("tiny_cnn", image_shape=(4, 4), **params).fit(lazy)


def _state(clf):
    return {k: v.clone() for k, v in clf.module_.state_dict().items()}


def test_fit_equals_the_in_memory_fit(folder, monkeypatch):
    _, files, y = folder
    eager = np.asarray(ImagePaths(files, output_size=SIZE, num_workers=0))
    # a validation split, the default augmentation and class weights in play
    params = dict(PARAMS, validation_fraction=0.25, early_stopping=None)
    reference = TwoStageTransferClassifier(**params).fit(eager, y)
    # reading every image into memory at once is what the lazy path must never do
    monkeypatch.setattr(ImagePaths, "__array__", _refuse_to_materialise)
    lazy = ImagePaths(files, output_size=SIZE, num_workers=2)
    clf = TwoStageTransferClassifier(**params).fit(lazy, y)
    expected, got = _state(reference), _state(clf)
    assert expected.keys() == got.keys()
    for name in expected:
        # the same batches of the same values through the same CPU kernels: bit for bit
        assert torch.equal(expected[name], got[name]), name
    assert clf.history_[:, "valid_loss"] == reference.history_[:, "valid_loss"]
    assert clf.n_features_in_ == SIZE * SIZE and clf.image_shape_ == (SIZE, SIZE)
    np.testing.assert_array_equal(clf.predict_proba(lazy[5:]), reference.predict_proba(eager[5:]))
    np.testing.assert_array_equal(clf.predict_proba(lazy), clf.predict_proba(eager))
    with pytest.raises(ValueError, match=r"fitted on images of shape \(20, 20\)"):
        clf.predict(ImagePaths(files, output_size=SIZE + 2, num_workers=0))


def _refuse_to_materialise(self, dtype=None, copy=None):
    raise AssertionError("the whole image set was read into memory")


def test_model_selection_on_lazy_images(folder):
    _, files, y = folder
    lazy = ImagePaths(files, output_size=SIZE, num_workers=0)
    eager = np.asarray(lazy)
    params = dict(PARAMS, max_epochs=1, augment=None)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(TwoStageTransferClassifier(**params), lazy, y, cv=cv)
    np.testing.assert_array_equal(
        scores, cross_val_score(TwoStageTransferClassifier(**params), eager, y, cv=cv)
    )
    grid = {"lr": [0.01, 0.1]}
    search = GridSearchCV(TwoStageTransferClassifier(**params), grid, cv=cv, scoring="roc_auc")
    search.fit(lazy, y)
    reference = GridSearchCV(TwoStageTransferClassifier(**params), grid, cv=cv, scoring="roc_auc")
    reference.fit(eager, y)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    assert search.best_params_ == reference.best_params_
    assert search.predict(lazy).shape == (16,)


def test_resumable_fit_fingerprints_the_files_unread(folder, tmp_path, monkeypatch):
    _, files, y = folder
    params = dict(PARAMS, max_epochs=1, checkpoint_dir=tmp_path / "runs", resume=True)
    monkeypatch.setattr(ImagePaths, "__array__", _refuse_to_materialise)
    lazy = ImagePaths(files, output_size=SIZE, num_workers=0)
    clf = TwoStageTransferClassifier(**params)
    first = clf._fingerprint({}, lazy, y, None, None)
    assert first == clf._fingerprint({}, ImagePaths(files, output_size=SIZE), y, None, None)
    stat = os.stat(files[0])
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert clf._fingerprint({}, lazy, y, None, None) != first
    clf.fit(lazy, y)
    assert os.path.isdir(clf.checkpoint_dir_)


@pytest.mark.slow
def test_workers_start_inside_joblib_workers(folder):
    # a loky worker's own start method cannot start torch's reading processes
    _, files, y = folder
    params = dict(PARAMS, max_epochs=1, augment=None)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    lazy = ImagePaths(files, output_size=SIZE, num_workers=1)
    scores = cross_val_score(TwoStageTransferClassifier(**params), lazy, y, cv=cv, n_jobs=2)
    eager = np.asarray(ImagePaths(files, output_size=SIZE, num_workers=0))
    np.testing.assert_array_equal(
        scores, cross_val_score(TwoStageTransferClassifier(**params), eager, y, cv=cv)
    )


def test_two_stage_fit_reads_its_source_set_lazily(folder, tmp_path, monkeypatch):
    # stage 1's source set stays on disk as well: the same weights as from arrays, and the
    # stage-1 cache keyed by the files, not by reading their pixels
    from skbreastcad.models import SourceData

    _, files, y = folder
    source_files, target_files = files[::2], files[1::2]
    ys, yt = y[::2], y[1::2]
    eager_source = np.asarray(ImagePaths(source_files, output_size=SIZE, num_workers=0))
    eager_target = np.asarray(ImagePaths(target_files, output_size=SIZE, num_workers=0))
    params = dict(PARAMS, transfer="two_stage", weights=None, source_params={"max_epochs": 2})
    reference = TwoStageTransferClassifier(**params, source_data=SourceData(eager_source, ys)).fit(
        eager_target, yt
    )
    monkeypatch.setattr(ImagePaths, "__array__", _refuse_to_materialise)
    lazy_source = ImagePaths(source_files, output_size=SIZE, num_workers=1)
    source = SourceData(lazy_source, ys)
    assert source.X is lazy_source and "read from disk" in repr(source)
    lazy_target = ImagePaths(target_files, output_size=SIZE, num_workers=0)
    memory = tmp_path / "cache"
    clf = TwoStageTransferClassifier(**params, source_data=source, memory=memory)
    clf.fit(lazy_target, yt)
    expected, got = _state(reference), _state(clf)
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert not clf.stage1_from_cache_
    again = TwoStageTransferClassifier(**params, source_data=source, memory=memory)
    again.fit(lazy_target, yt)
    assert again.stage1_from_cache_
    np.testing.assert_array_equal(again.predict_proba(lazy_target), clf.predict_proba(lazy_target))
    # a source set of another shape is refused by name, still unread
    with pytest.raises(ValueError, match="source_data holds images of shape"):
        TwoStageTransferClassifier(
            **params, source_data=SourceData(ImagePaths(source_files, output_size=SIZE + 2), ys)
        ).fit(lazy_target, yt)


def test_estimator_contract_on_lazy_images(folder, monkeypatch):
    # what scikit-learn's common checks ask of an estimator, with X an ImagePaths (the
    # checks themselves build their own arrays): unfitted error, clone, idempotent fit,
    # a pickled fitted model, predictions of the right shape and classes, bad shapes refused
    import pickle

    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    _, files, y = folder
    monkeypatch.setattr(ImagePaths, "__array__", _refuse_to_materialise)
    lazy = ImagePaths(files, output_size=SIZE, num_workers=0)
    clf = TwoStageTransferClassifier(**dict(PARAMS, max_epochs=1))
    with pytest.raises(NotFittedError):
        clf.predict(lazy)
    first = clf.fit(lazy, y).predict_proba(lazy)
    assert first.shape == (16, 2) and np.allclose(first.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.fit(lazy, y).predict_proba(lazy), first)
    np.testing.assert_array_equal(clone(clf).fit(lazy, y).predict_proba(lazy), first)
    assert set(clf.predict(lazy[::3])) <= set(clf.classes_)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(lazy), first)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        clf.predict_proba(ImagePaths(files, output_size=SIZE + 1, num_workers=0))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clone(clf).fit(lazy, y[:-1])
