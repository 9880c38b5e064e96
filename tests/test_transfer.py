"""TwoStageTransferClassifier: the three transfers as one grid, stage 2 from
stage 1's best checkpoint (proved), caching, freezing (BatchNorm included),
training-only augmentation and balancing, callbacks, pickles, bad input and
scikit-learn / imbalanced-learn integration."""

import io
import os
import pickle
import tempfile

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

from skbreastcad.models import SourceData, TwoStageTransferClassifier, _transfer
from skbreastcad.models._augment import check_augment_range, make_augmenter
from skbreastcad.models._planning import plan_stage
from skbreastcad.models._settings import stage_settings
from skbreastcad.nn import build_backbone

# every stage-1 / stage-2 training start, across clones (module level on purpose)
TRAININGS = []


@pytest.fixture(autouse=True)
def _fresh_trainings():
    TRAININGS.clear()


class Recorder(Callback):
    """Snapshots the weights at the start of each stage and after every epoch."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        TRAININGS.append(
            {"stage": net.stage, "start": _state(net.module_), "epochs": [], "valid_idx": None}
        )
        TRAININGS[-1]["valid_idx"] = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        run = TRAININGS[-1]
        run["train_idx"] = dataset_train.indices.cpu().numpy()
        run["valid_idx"] = None if dataset_valid is None else dataset_valid.indices.cpu().numpy()

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            TRAININGS[-1].setdefault("y_batches", []).append(batch[1].cpu().numpy())

    def on_epoch_end(self, net, **kwargs):
        TRAININGS[-1]["epochs"].append(_state(net.module_))


def _state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny_cnn checkpoint playing the part of ImageNet weights."""
    torch.manual_seed(123)
    model = build_backbone("tiny_cnn", num_classes=7).model
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return str(path), {k: v.clone() for k, v in model.state_dict().items()}


def _settings(clf, stage=2):
    """The stage settings ``fit`` would train ``clf`` with on the CPU."""
    return stage_settings(clf.get_params(), stage, clf.backbone, None, torch.device("cpu"))


def test_fit_predict_and_determinism(_data, _clf):
    X, y = _data()
    labels = np.array(["benign", "malignant"])[y]
    clf = _clf().fit(X, labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert set(clf.predict(X)) <= set(labels) and list(clf.classes_) == ["benign", "malignant"]
    np.testing.assert_array_equal(_clf().fit(X, labels).predict_proba(X), proba)
    assert not np.allclose(_clf(random_state=1).fit(X, labels).predict_proba(X), proba)
    assert 1 <= clf.best_epoch_ <= 3 and len(clf.history_) == 3
    # an image's probabilities do not depend on the other images of the call
    np.testing.assert_array_equal(clf.predict_proba(X[5:6]), proba[5:6])


def test_stage2_starts_from_stage1_best_checkpoint(pretrained, _data, _clf):
    path, pre = pretrained
    X, y = _data()
    # a source set whose labels carry no signal: stage 1 overfits, and its
    # validation loss is best at an early epoch
    source = _data(n=48, n_classes=3, seed=1, shift=0)
    clf = _clf(
        transfer="two_stage",
        weights=path,
        source_data=SourceData(*source),
        source_params={"max_epochs": 6, "lr": 0.05},
        optimizer="sgd",
        lr_schedule="constant",
        callbacks=[Recorder()],
    ).fit(X, y)
    stage1, stage2 = TRAININGS
    assert (stage1["stage"], stage2["stage"]) == (1, 2)
    # stage 1 started from the pretrained weights (its head resized to 3 source classes)
    torch.testing.assert_close(stage1["start"]["backbone.conv1.weight"], pre["conv1.weight"])
    assert stage1["start"]["backbone.fc.weight"].shape[0] == 3
    best = clf.stage1_best_epoch_
    valid_loss = [row["valid_loss"] for row in clf.stage1_history_]
    assert best == int(np.argmin(valid_loss)) + 1
    # best and last weights differ, so the check below tells them apart
    assert best < len(valid_loss)
    best_state, last_state = stage1["epochs"][best - 1], stage1["epochs"][-1]
    body = [k for k in best_state if not k.startswith("backbone.fc.")]
    for key in body:
        torch.testing.assert_close(stage2["start"][key], best_state[key], rtol=0, atol=0)
    assert any(
        not torch.equal(best_state[k], last_state[k])
        for k in body
        if best_state[k].is_floating_point()
    )
    # ... and they are not the pretrained weights any more
    assert not torch.equal(stage2["start"]["backbone.conv2.weight"], pre["conv2.weight"])
    # a fresh classification layer for the 2 target classes
    assert stage2["start"]["backbone.fc.weight"].shape[0] == 2


def test_transfer_kinds_start_from_the_right_weights(pretrained, _data, _clf):
    path, pre = pretrained
    X, y = _data()
    _clf(transfer="imagenet", weights=path, callbacks=[Recorder()]).fit(X, y)
    torch.testing.assert_close(TRAININGS[-1]["start"]["backbone.conv1.weight"], pre["conv1.weight"])
    _clf(transfer="none", weights=path, callbacks=[Recorder()]).fit(X, y)
    assert not torch.equal(TRAININGS[-1]["start"]["backbone.conv1.weight"], pre["conv1.weight"])


def test_stage1_is_cached_across_stage2_settings_and_on_disk(pretrained, tmp_path, _data, _clf):
    path, _ = pretrained
    X, y = _data()
    source = SourceData(*_data(n=30, seed=2))
    params = dict(
        transfer="two_stage",
        weights=path,
        source_data=source,
        callbacks=[Recorder()],
        memory=str(tmp_path / "cache"),
    )
    first = _clf(**params).fit(X, y)
    second = _clf(**params, freeze_depth=1, lr=0.003, max_epochs=2).fit(X, y)
    assert not first.stage1_from_cache_ and second.stage1_from_cache_
    assert [run["stage"] for run in TRAININGS] == [1, 2, 2]
    assert second.stage1_best_epoch_ == first.stage1_best_epoch_
    # another stage-1 setting trains stage 1 again
    _clf(**params, source_params={"max_epochs": 3, "lr": 0.02}).fit(X, y)
    assert [run["stage"] for run in TRAININGS][-2:] == [1, 2]
    # a joblib.Memory or a path-like on the same folder (another process's) finds both results
    from joblib import Memory

    TRAININGS.clear()
    assert (
        _clf(**dict(params, memory=Memory(str(tmp_path / "cache"), verbose=0)))
        .fit(X, y)
        .stage1_from_cache_
    )
    assert (
        _clf(**dict(params, memory=tmp_path / "cache"), source_params={"max_epochs": 3, "lr": 0.02})
        .fit(X, y)
        .stage1_from_cache_
    )
    assert [run["stage"] for run in TRAININGS] == [2, 2]
    # memory=None (the default) caches nothing: stage 1 trains on every fit
    TRAININGS.clear()
    no_cache = dict(params, memory=None)
    assert not any(_clf(**no_cache).fit(X, y).stage1_from_cache_ for _ in range(2))
    assert [run["stage"] for run in TRAININGS] == [1, 2, 1, 2]


def test_freezing_freezes_weights_and_batchnorm_statistics(pretrained, _data, _clf):
    path, pre = pretrained
    X, y = _data()
    clf = _clf(transfer="imagenet", weights=path, freeze_depth=2, max_epochs=2).fit(X, y)
    state = clf.module_.backbone.state_dict()
    for key in (
        "conv1.weight",
        "conv1.bias",
        "bn1.weight",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
        "conv2.weight",
        "bn2.running_mean",
        "bn2.running_var",
        "bn2.num_batches_tracked",
    ):
        assert torch.equal(state[key], pre[key]), key
    assert clf.frozen_layers_ == ["conv1", "bn1", "conv2", "bn2"]
    # with one weight layer frozen, bn2 trains and its statistics move
    clf1 = _clf(transfer="imagenet", weights=path, freeze_depth=1, max_epochs=2).fit(X, y)
    state1 = clf1.module_.backbone.state_dict()
    assert torch.equal(state1["bn1.running_mean"], pre["bn1.running_mean"])
    assert not torch.equal(state1["bn2.running_mean"], pre["bn2.running_mean"])
    assert not torch.equal(state1["conv2.weight"], pre["conv2.weight"])


def _grey(img):
    """[0, 1] float image back to its uint8 bytes."""
    return np.rint(img * 255).astype(np.uint8).tobytes()


class RecordingAugmenter:
    """Identity augmentation that remembers every image it was given."""

    def __init__(self):
        self.seen = []

    def __call__(self, images, generator=None):
        self.seen.extend(images[:, 0].cpu().numpy())
        return images

    def __deepcopy__(self, memo):
        # clone() deep-copies parameters without get_params: let the clones of
        # a cross-validation record into this same list
        return self


def test_augmentation_and_oversampling_touch_only_training_data(_data, _clf):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = _data(n=40)
    y = (np.arange(40) % 4 == 0).astype(int)  # 10 positives : 30 negatives
    augmenter = RecordingAugmenter()
    clf = _clf(augment=augmenter, balance="oversample", max_epochs=2, callbacks=[Recorder()]).fit(
        X, y
    )
    run = TRAININGS[-1]
    train_idx, valid_idx = np.unique(run["train_idx"]), run["valid_idx"]
    assert len(np.intersect1d(train_idx, valid_idx)) == 0 and len(valid_idx) == 10
    # every augmented image is a training image, never a validation one
    seen = {_grey(img) for img in augmenter.seen}
    train_set = {X[i].tobytes() for i in train_idx}
    valid_set = {X[i].tobytes() for i in valid_idx}
    assert seen <= train_set and not seen & valid_set
    # over-sampling balanced the training batches, two epochs of them
    majority = np.bincount(y[train_idx]).max()
    assert np.bincount(y[train_idx]).min() < majority
    labels = np.concatenate(run["y_batches"])
    assert np.bincount(labels).tolist() == [2 * majority, 2 * majority]
    assert len(augmenter.seen) == 2 * 2 * majority
    # prediction neither augments nor resamples
    n_seen = len(augmenter.seen)
    assert clf.predict_proba(X).shape == (40, 2) and len(augmenter.seen) == n_seen

    # in cross-validation the test folds are never augmented either
    augmenter = RecordingAugmenter()
    cv = StratifiedKFold(n_splits=2)
    cross_val_score(_clf(augment=augmenter, validation_fraction=None, max_epochs=1), X, y, cv=cv)
    assert len(augmenter.seen) == 40  # one epoch over each 20-image training fold
    for k, (train, test) in enumerate(cv.split(X, y)):
        test_fold = {X[i].tobytes() for i in test}
        fold_seen = {_grey(img) for img in augmenter.seen[20 * k : 20 * (k + 1)]}
        assert not fold_seen & test_fold
        assert fold_seen == {X[i].tobytes() for i in train}


def test_class_weight_loss(_data, _clf):
    X, _ = _data(n=40)
    y = (np.arange(40) % 4 == 0).astype(int)
    weights = []

    class Spy(Callback):
        def on_train_begin(self, net, **kwargs):
            weights.append(net.criterion_.weight.cpu().numpy())

    _clf(balance="class_weight", max_epochs=1, validation_fraction=None, callbacks=[Spy()]).fit(
        X, y
    )
    np.testing.assert_allclose(weights[0], [40 / (2 * 30), 40 / (2 * 10)])


def test_each_fit_gets_its_own_checkpoint_folder(tmp_path, _data, _clf):
    X, y = _data()
    a = _clf(checkpoint_dir=str(tmp_path)).fit(X, y)
    b = _clf(checkpoint_dir=str(tmp_path)).fit(X, y)
    assert a.checkpoint_dir_ != b.checkpoint_dir_
    assert os.path.isfile(os.path.join(a.checkpoint_dir_, "stage2", "params.pt"))


def test_without_checkpoint_dir_the_temporary_folder_is_removed(tmp_path, monkeypatch, _data, _clf):
    X, y = _data()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert _clf().fit(X, y).checkpoint_dir_ is None
    assert list(tmp_path.iterdir()) == []


def test_early_stopping_ends_training_after_patience(_data, _clf):
    # a network that cannot improve (everything frozen but a head with a negligible
    # learning rate) stops after patience + 1 epochs; skorch's EarlyStopping stops by
    # raising KeyboardInterrupt, which must still end training normally
    X, y = _data()
    stopped = _clf(lr=1e-9, freeze_depth=-1, max_epochs=20, early_stopping=2).fit(X, y)
    assert len(stopped.history_) == 3


def test_cosine_schedule_lowers_the_learning_rate_every_epoch(_data, _clf):
    X, y = _data()
    lrs = [row["event_lr"] for row in _clf(max_epochs=4, lr_schedule="cosine").fit(X, y).history_]
    assert lrs[0] == pytest.approx(0.01) and lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.003


def test_verbose_shows_a_progress_bar(capsys, _data, _clf):
    X, y = _data()
    capsys.readouterr()
    _clf(verbose=1, max_epochs=1).fit(X, y)
    assert "it/s" in capsys.readouterr().err


def test_grouped_internal_validation_split(_data, _clf):
    X, y = _data(n=40)
    groups = np.arange(40) // 4
    _clf(callbacks=[Recorder()], max_epochs=1).fit(X, y, groups=groups)
    run = TRAININGS[-1]
    assert not set(groups[run["train_idx"]]) & set(groups[run["valid_idx"]])


def test_single_class_validation_split_fails_before_training(_data, _clf):
    # all positives belong to one patient: a grouped split puts them on one side
    X, _ = _data(n=40)
    y = np.zeros(40, dtype=int)
    y[:4] = 1
    groups = np.arange(40) // 4
    for seed in range(3):
        with pytest.raises(ValueError, match="split holds a single class"):
            _clf(
                scoring="roc_auc",
                validation_fraction=0.25,
                random_state=seed,
                callbacks=[Recorder()],
            ).fit(X, y, groups=groups)
    assert TRAININGS == []


def test_diverged_training_is_a_clear_error(tmp_path, monkeypatch, _data, _clf):
    X, y = _data()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # the loss is NaN from the first batch on: training stops there
    with pytest.raises(RuntimeError, match="Stage 2 diverged in epoch 1"):
        _clf(optimizer="sgd", lr=1e30).fit(X, y)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def one_epoch_net(_data, _clf):
    """A net fitted for one epoch on ``_data()``, shared by the tests that only read it."""
    X, y = _data()
    return _clf(max_epochs=1).fit(X, y)


def test_fitted_network_is_a_reusable_checkpoint(tmp_path, one_epoch_net, _data, _clf):
    # the recipe of docs/two_stage_transfer.md: save module_'s state dict, pass it as weights
    X, y = _data()
    clf = one_epoch_net
    path = tmp_path / "finetuned.pt"
    torch.save(clf.module_.state_dict(), path)
    _clf(transfer="imagenet", weights=str(path), max_epochs=1, callbacks=[Recorder()]).fit(X, y)
    start = TRAININGS[-1]["start"]
    for key, value in clf.module_.state_dict().items():
        if not key.startswith("backbone.fc."):  # a fresh classification layer
            assert torch.equal(start[key], value), key


def test_gpu_pickle_loads_on_a_cpu_only_machine(as_if_pickled_on_gpu, one_epoch_net, _data):
    X, y = _data()
    clf = one_epoch_net
    expected = clf.predict_proba(X)
    with as_if_pickled_on_gpu():
        payload = pickle.dumps(clf)
        raw = io.BytesIO()
        torch.save(clf.module_.state_dict(), raw)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(raw.getvalue()), weights_only=True)
    restored = pickle.loads(payload)
    np.testing.assert_allclose(restored.predict_proba(X), expected, rtol=1e-6)
    if not torch.cuda.is_available():
        # fitted with device="cuda": the error says how to predict on this machine
        with pytest.raises(ValueError, match=r"set_params\(device='cpu'\)"):
            restored.set_params(device="cuda").predict_proba(X)


# float grey levels 0..180 under value_range="dtype" on purpose: the warning
# about them is tested in test_cnn_features.py
@pytest.mark.filterwarnings("ignore:X holds float grey levels:UserWarning")
def test_bad_input_fails_before_any_training(pretrained, _data, _clf):
    path, _ = pretrained
    X, y = _data()
    with pytest.raises(
        ValueError, match="source_data holds images of shape \\(10, 10\\).*\\(12, 12\\)"
    ):
        _clf(
            transfer="two_stage",
            weights=path,
            source_data=SourceData(*_data(size=10)),
            callbacks=[Recorder()],
        ).fit(X, y)
    Xs, ys = _data(seed=3)
    Xs = Xs.astype(float)
    Xs[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _clf(
            transfer="two_stage",
            weights=path,
            source_data=SourceData(Xs, ys),
            callbacks=[Recorder()],
        ).fit(X, y)
    with pytest.raises(ValueError, match="needs source_data"):
        _clf(transfer="two_stage", weights=path, callbacks=[Recorder()]).fit(X, y)
    with pytest.raises(ValueError, match="too small for backbone 'vgg16'"):
        _clf(backbone="vgg16", input_size="native", callbacks=[Recorder()]).fit(X, y)
    with pytest.raises(ValueError, match="Unknown backbone 'vgg-16'.*Did you mean 'vgg16'"):
        _clf(backbone="vgg-16").fit(X, y)
    with pytest.raises(ValueError, match="cannot split"):
        _clf(validation_fraction=0.01, callbacks=[Recorder()]).fit(X[:6], y[:6])
    with pytest.raises(ValueError, match="scoring='auc'"):
        _clf(scoring="auc").fit(X, y)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        _clf(transfer="imagenet", weights="imagenet").fit(X, y)
    from skbreastcad.augmentation import ImageAugmenter

    with pytest.raises(ValueError, match="hflip.*must be a float in the range"):
        _clf(augment=ImageAugmenter(hflip=1.5), callbacks=[Recorder()]).fit(X, y)
    with pytest.raises(ValueError, match="input_size must be"):
        _clf(input_size=(12,), callbacks=[Recorder()]).fit(X, y)
    # float grey levels 0..180 taken as [0, 1]: the augmenter would clip the
    # training images but not the images given to predict
    with pytest.raises(
        ValueError, match=r"clips training images to \[0, 1\], but X maps to \[0, 1\d\d\]"
    ):
        _clf(augment=ImageAugmenter(), callbacks=[Recorder()]).fit(X.astype(np.float32), y)
    with pytest.raises(ValueError, match="but source_data maps to"):
        _clf(
            transfer="two_stage",
            weights=path,
            source_data=SourceData(X.astype(np.float32), y),
            augment=ImageAugmenter(),
        ).fit(X, y)
    assert TRAININGS == []
    # a named augmentation (the default) stops clipping instead, and clips data in [0, 1]
    for augment in ("default", "flips"):
        settings = _settings(_clf(augment=augment))
        outside, inside = make_augmenter(augment), make_augmenter(augment)
        check_augment_range(outside, X.astype(np.float32), settings, "X")
        check_augment_range(inside, X, settings, "X")
        assert not outside.clip and inside.clip
    # the same data with its range declared, or without clipping, train
    _clf(augment="default", value_range=(0, 255), max_epochs=1).fit(X.astype(np.float32), y)
    _clf(augment=ImageAugmenter(clip=False), max_epochs=1).fit(X.astype(np.float32), y)


def test_fig6_grid_with_groups_and_shared_stage1(pretrained, tmp_path, _data, _clf):
    from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

    path, _ = pretrained
    X, y = _data(n=48)
    groups = np.arange(48) // 2
    source = SourceData(*_data(n=30, seed=4))
    clf = _clf(
        weights=path,
        source_data=source,
        max_epochs=2,
        source_params={"max_epochs": 2},
        callbacks=[Recorder()],
        memory=str(tmp_path),
    )
    grid = GridSearchCV(
        clf,
        {"transfer": ["none", "imagenet", "two_stage"]},
        cv=GroupKFold(n_splits=2),
        scoring="roc_auc",
    ).fit(X, y, groups=groups)
    assert list(grid.cv_results_["param_transfer"]) == ["none", "imagenet", "two_stage"]
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    # one stage-1 training served both folds (and the refit, if two-stage won)
    assert [run["stage"] for run in TRAININGS].count(1) == 1
    scores = cross_val_score(_clf(max_epochs=1), X, y, groups=groups, cv=GroupKFold(n_splits=3))
    assert scores.shape == (3,)


def test_grid_search_in_parallel_writes_separate_checkpoints(tmp_path, _data, _clf):
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = _data(n=32)
    # concurrent fits share one parent folder; threads keep the test fast (loky
    # processes would need a fresh torch import each) and mkdtemp is atomic for both
    with parallel_backend("threading", n_jobs=2):
        grid = GridSearchCV(
            _clf(max_epochs=1, checkpoint_dir=str(tmp_path)), {"lr": [0.01, 0.001]}, cv=2, n_jobs=2
        ).fit(X, y)
    runs = sorted(tmp_path.iterdir())
    assert len(runs) == 2 * 2 + 1  # candidates x folds + refit
    assert all((run / "stage2" / "params.pt").is_file() for run in runs)
    assert grid.best_estimator_.checkpoint_dir_ in {str(r) for r in runs}


def test_in_an_imblearn_pipeline_with_the_image_oversampler(_data, _clf):
    from imblearn.pipeline import make_pipeline
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score

    from skbreastcad.sampling import RandomImageOverSampler

    X, _ = _data(n=40)
    y = (np.arange(40) % 4 == 0).astype(int)
    groups = np.arange(40) // 2
    pipe = make_pipeline(
        RandomImageOverSampler(random_state=0), _clf(max_epochs=1, validation_fraction=None)
    )
    pipe.fit(X, y)
    assert pipe.predict_proba(X).shape == (40, 2)
    flat = make_pipeline(
        RandomImageOverSampler(random_state=0),
        _clf(max_epochs=1, validation_fraction=None, image_shape=(12, 12)),
    )
    scores = cross_val_score(
        flat,
        X.reshape(40, -1),
        y,
        groups=groups,
        cv=StratifiedGroupKFold(n_splits=2),
        scoring="roc_auc",
    )
    assert scores.shape == (2,)


def test_amp_and_channels_last_training_on_cpu(_data, _clf):
    X, y = _data()
    clf = _clf(amp=True, channels_last=True, max_epochs=2).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and proba.shape == (40, 2)
    assert next(clf.module_.parameters()).is_contiguous()  # stored back in the default layout


def test_stage1_cache_key_covers_callbacks_amp_and_unhashable_augment(
    pretrained, tmp_path, _data, _clf
):
    from skorch.callbacks import GradientNormClipping

    path, _ = pretrained
    X, y = _data()
    params = dict(
        transfer="two_stage",
        weights=path,
        source_data=SourceData(*_data(n=30, seed=2)),
        max_epochs=1,
        memory=str(tmp_path),
    )
    _clf(**params, callbacks=[Recorder()]).fit(X, y)
    # settings that change stage 1's training train it again
    clipped = _clf(
        **params, callbacks=[Recorder(), GradientNormClipping(gradient_clip_value=0.01)]
    ).fit(X, y)
    bf16 = _clf(**params, callbacks=[Recorder()], amp=True).fit(X, y)
    assert not clipped.stage1_from_cache_ and not bf16.stage1_from_cache_
    assert [run["stage"] for run in TRAININGS] == [1, 2, 1, 2, 1, 2]
    # callbacks are compared by their parameters, also when passed with a name
    assert (
        _clf(**params, callbacks=[Recorder(), GradientNormClipping(gradient_clip_value=0.01)])
        .fit(X, y)
        .stage1_from_cache_
    )

    class EpochCounter(Callback):
        def on_epoch_end(self, net, **kwargs):
            self.epochs_ = getattr(self, "epochs_", 0) + 1

    named = [("rec", Recorder()), ("count", EpochCounter())]
    first = _clf(**params, callbacks=named).fit(X, y)
    assert not first.stage1_from_cache_ and named[1][1].epochs_ == 3 + 1
    # a used callback, its state changed, still finds the result of fresh ones
    assert _clf(**params, callbacks=named).fit(X, y).stage1_from_cache_
    # a lambda cannot be hashed: no cache, but a working fit
    flip = _clf(**params, augment=lambda images, generator=None: images.flip(-1))
    for _ in range(2):
        with pytest.warns(UserWarning, match="without the stage-1 cache"):
            assert not clone(flip).fit(X, y).stage1_from_cache_


def _previous_plan_balance(y, train, seed, n_classes, balance):
    """The over-sampling and class weights _plan computed before it used sampling/."""
    if balance == "oversample":
        rng = np.random.RandomState(seed)
        counts = np.bincount(y[train], minlength=n_classes)
        extra = [
            rng.choice(train[y[train] == c], counts.max() - counts[c], replace=True)
            for c in range(n_classes)
            if 0 < counts[c] < counts.max()
        ]
        return np.concatenate([train, *extra])
    counts = np.bincount(y[train], minlength=n_classes).astype(float)
    present = counts > 0
    weight = np.zeros(n_classes)
    weight[present] = counts[present].sum() / (present.sum() * counts[present])
    return weight


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("balance", ["oversample", "class_weight"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_balancing_through_sampling_draws_as_before(seed, balance, n_classes, _clf):
    rng = np.random.default_rng(seed)
    # uneven classes, one of them absent from the training split when n_classes=4
    p = [0.75, 0.25] if n_classes == 2 else [0.6, 0.3, 0.1]
    y = rng.choice(len(p), size=60, p=p)
    y[:6] = np.arange(6) % len(p)  # every present class in both splits
    settings = _settings(_clf(balance=balance, validation_fraction=0.25))
    plan = plan_stage(settings, y, None, seed, n_classes)
    previous = _previous_plan_balance(
        y,
        plan_stage(_settings(_clf(validation_fraction=0.25)), y, None, seed, n_classes)["train"],
        seed,
        n_classes,
        balance,
    )
    if balance == "oversample":
        np.testing.assert_array_equal(plan["train"], previous)
    else:
        np.testing.assert_array_equal(plan["class_weight"], previous)


def test_grey_levels_that_overflow_the_network_are_an_error_before_training():
    X = np.full((8, 16, 16), np.finfo(np.float32).max, dtype=np.float32)
    y = np.array([0, 1] * 4)
    clf = TwoStageTransferClassifier(
        "tiny_cnn",
        transfer="none",
        weights=None,
        max_epochs=1,
        validation_fraction=None,
        random_state=0,
        device="cpu",
    )
    with pytest.raises(ValueError, match="value_range"):
        clf.fit(X, y)
    fitted = clf.fit(np.zeros_like(X), y)
    with pytest.raises(ValueError, match="value_range"):
        fitted.predict_proba(X)


def test_augment_flips_draws_only_the_eight_symmetries_of_the_square(_clf):
    # augment="flips" is the plain loop's augmentation: flips and 90-degree turns,
    # each of the eight symmetries drawn, and no resampling or intensity change
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.random((400, 1, 9, 9), dtype=np.float32))

    def symmetries(img):
        turns = [np.rot90(img, k) for k in range(4)]
        return turns + [np.fliplr(t) for t in turns]

    def which(out, img):
        return [k for k, s in enumerate(symmetries(img)) if np.array_equal(out, s)]

    flips = make_augmenter("flips")
    out = flips(images.clone(), torch.Generator().manual_seed(0)).numpy()
    drawn = [which(o[0], i[0]) for o, i in zip(out, images.numpy())]
    assert all(len(k) == 1 for k in drawn)
    assert set(np.bincount([k[0] for k in drawn], minlength=8).nonzero()[0]) == set(range(8))

    full = make_augmenter("default")
    out = full(images.clone(), torch.Generator().manual_seed(0)).numpy()
    assert sum(not which(o[0], i[0]) for o, i in zip(out, images.numpy())) > 100


# float grey levels 0..180 under value_range="dtype" on purpose: the warning
# about them is tested in test_cnn_features.py
@pytest.mark.filterwarnings("ignore:X holds float grey levels:UserWarning")
def test_named_augmentation_clips_each_stage_by_its_own_data(pretrained, monkeypatch, _data, _clf):
    # source images in [0, 1] keep a clipping augmenter in stage 1 even when the
    # target images (float grey levels 0..180) stop stage 2's from clipping
    X, y = _data()
    checked = {}

    def spy(augmenter, images, settings, name):
        check_augment_range(augmenter, images, settings, name)
        checked[name] = augmenter

    monkeypatch.setattr(_transfer, "check_augment_range", spy)
    _clf(
        transfer="two_stage",
        weights=pretrained[0],
        source_data=SourceData(X, y),
        augment="default",
        validation_fraction=None,
        max_epochs=1,
        source_params={"max_epochs": 1},
    ).fit(X.astype(np.float32), y)
    assert checked["source_data"] is not checked["X"]
    assert checked["source_data"].clip and not checked["X"].clip
