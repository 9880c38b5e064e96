"""How TwoStageTransferClassifier.fit is put together: the settings object its training
helpers take instead of the estimator, the fit-folder context manager, stage-1 settings
in ``source_params`` (and the deprecated ``source_*`` names), the one history walk and
the SHA-256 fingerprints."""

import contextlib
import dataclasses
import json
import os
import pickle
import tempfile

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skbreastcad.models import SourceData, TwoStageTransferClassifier
from skbreastcad.models import _net as net_module
from skbreastcad.models._history import plain
from skbreastcad.models._run_dir import RUN_VERSION, FitFolder, RunDir, read_manifest
from skbreastcad.models._settings import (
    SOURCE_PARAM_DEFAULTS,
    StageSettings,
    fit_fingerprint,
    resolve_source_params,
    stage_settings,
)
from skbreastcad.models._stage1 import fit_stage1, stage1_settings
from skbreastcad.nn import build_backbone
from skbreastcad.utils._hashing import data_fingerprint, settings_fingerprint


def _data(n=24, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    return (rng.integers(0, 120, (n, 12, 12)) + 60 * y[:, None, None]).astype(np.uint8), y


def _clf(**params):
    base = dict(
        backbone="tiny_cnn",
        transfer="two_stage",
        weights=None,
        source_data=SourceData(*_data(n=20, n_classes=3, seed=1)),
        max_epochs=2,
        batch_size=8,
        lr=0.01,
        validation_fraction=None,
        augment=None,
        random_state=0,
        device="cpu",
    )
    return TwoStageTransferClassifier(**{**base, **params})


def _settings(stage=2, **params):
    """The settings fit would give a stage of ``_clf(**params)`` on the CPU."""
    source = dict(SOURCE_PARAM_DEFAULTS) if stage == 1 else None
    params = _clf(**params).get_params()
    return stage_settings(params, stage, "tiny_cnn", None, torch.device("cpu"), source)


# -- the settings object --------------------------------------------------------------
def test_stage_settings_are_frozen_plain_values():
    settings = _settings(lr=0.05, callbacks=None)
    assert isinstance(settings, StageSettings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.lr = 1.0
    assert (settings.stage, settings.lr, settings.max_epochs, settings.callbacks) == (
        2,
        0.05,
        2,
        (),
    )
    # stage 1 takes source_params; two-stage transfer's stage 2 starts from stage 1's weights
    stage1 = stage_settings(
        _clf(weights="imagenet").get_params(),
        1,
        "tiny_cnn",
        None,
        torch.device("cpu"),
        {"lr": 0.5, "max_epochs": 7, "freeze_depth": -1},
    )
    assert (stage1.lr, stage1.max_epochs, stage1.freeze_depth) == (0.5, 7, -1)
    assert stage1.weights == "imagenet" and _settings(weights="imagenet").weights is None
    assert _settings(transfer="imagenet", weights="imagenet").weights == "imagenet"


def test_training_helpers_run_on_settings_alone():
    """train_stage and stage1_settings take a StageSettings: no estimator anywhere."""
    X, y = _data()
    settings = StageSettings(
        stage=1,
        backbone="tiny_cnn",
        weights=None,
        lr=0.01,
        max_epochs=2,
        freeze_depth=0,
        batch_size=8,
        optimizer="adamw",
        weight_decay=0.0,
        lr_schedule="constant",
        early_stopping=None,
        validation_fraction=None,
        scoring="loss",
        balance=None,
        augment=None,
        callbacks=(),
        value_range="dtype",
        input_size=None,
        amp=False,
        channels_last=False,
        verbose=0,
        seeded=True,
    )
    from skbreastcad.nn._image_model import ImageModel

    built = build_backbone("tiny_cnn", None, num_classes=2)
    model = ImageModel(built.model, built.mean, built.std, None)
    plan = {"train": np.arange(len(y)), "valid": None, "class_weight": None, "seed": 0}
    with tempfile.TemporaryDirectory() as folder:
        model, history, best = net_module.train_stage(
            settings, model, X, y, plan, device=torch.device("cpu"), augmenter=None, workdir=folder
        )
    assert len(history) == 2 and best == 2 and not model.training
    key = stage1_settings(settings, seed=5)
    assert (key["source_lr"], key["source_max_epochs"], key["seed"]) == (0.01, 2, 5)
    assert stage1_settings(dataclasses.replace(settings, seeded=False), seed=5)["seed"] is None


def test_fit_hands_the_helpers_settings_not_itself(monkeypatch):
    seen = []
    real = net_module.train_stage

    def spy(settings, *args, **kwargs):
        seen.append(settings)
        return real(settings, *args, **kwargs)

    monkeypatch.setattr(net_module, "train_stage", spy)
    clf = _clf(lr=0.02, source_params={"lr": 0.03, "max_epochs": 1})
    clf.fit(*_data())
    assert [type(s) for s in seen] == [StageSettings, StageSettings]
    assert [(s.stage, s.lr, s.max_epochs) for s in seen] == [(1, 0.03, 1), (2, 0.02, 2)]
    # stage 1 returned its history; fit set the attributes
    assert len(clf.stage1_history_) == 1 and clf.stage1_best_epoch_ == 1
    assert clf.stage1_from_cache_ is False


# -- source_params and the deprecated source_* names -----------------------------------
def test_deprecated_source_names_warn_and_give_the_same_fit():
    X, y = _data()
    new = _clf(source_params={"lr": 0.02, "max_epochs": 2, "freeze_depth": 1}).fit(X, y)
    old = _clf(source_lr=0.02, source_max_epochs=2, source_freeze_depth=1)
    # constructing, cloning and set_params do not warn; fit does
    old = clone(old).set_params(source_lr=0.02)
    assert old.get_params()["source_lr"] == 0.02
    with pytest.warns(FutureWarning, match="is deprecated since 0.1") as record:
        old.fit(X, y)
    messages = {str(w.message).split(" ")[0]: str(w.message) for w in record}
    assert set(messages) == {"source_lr", "source_max_epochs", "source_freeze_depth"}
    assert "use source_params={'lr': 0.02} instead" in messages["source_lr"]
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))
    assert len(old.stage1_history_) == len(new.stage1_history_) == 2
    # both spellings find the same interrupted fit again
    params_old, params_new = old.get_params(), new.get_params()
    resolved = {"lr": 0.02, "max_epochs": 2, "freeze_depth": 1}
    arrays = (X, y, None, None, None)
    assert fit_fingerprint(params_old, resolved, arrays) == fit_fingerprint(
        params_new, resolved, arrays
    )


def test_source_params_are_checked():
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\]"):
        resolve_source_params({"learning_rate": 1.0}, {})
    with pytest.raises(ValueError, match="'max_epochs' parameter .* source_params must be"):
        resolve_source_params({"max_epochs": 0}, {})
    with pytest.raises(ValueError, match=r"both source_lr=0.1 and source_params\['lr'\]"):
        resolve_source_params({"lr": 0.2}, {"source_lr": 0.1})
    assert resolve_source_params(None, {}) == SOURCE_PARAM_DEFAULTS
    assert resolve_source_params({"lr": 0.5}, {})["max_epochs"] == 8
    with pytest.raises(ValueError, match="source_params"):
        _clf(source_params={"epochs": 3}).fit(*_data())


# -- the fit folder ---------------------------------------------------------------------
def test_fit_folder_removes_a_temporary_folder_on_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match="boom"):
        with FitFolder(None) as run:
            path = run.start([1, 2])
            assert os.path.isdir(path) and read_manifest(path)["status"] == "running"
            raise RuntimeError("boom")
    assert not os.path.exists(path) and list(tmp_path.iterdir()) == []
    with FitFolder(None) as run:
        path = run.start([1, 2])
    assert not os.path.exists(path) and run.kept_path is None


@pytest.mark.parametrize(
    "error, status",
    [(KeyboardInterrupt, "interrupted"), (RuntimeError, "failed"), (None, "complete")],
)
def test_fit_folder_keeps_a_kept_folder_with_its_status(tmp_path, error, status):
    with pytest.raises(error) if error else contextlib.nullcontext():
        with FitFolder(tmp_path, fingerprint="abc", resume=True) as run:
            path = run.start([3, 4])
            if error:
                raise error()
    manifest = read_manifest(path)
    assert manifest["status"] == status and manifest["seeds"] == [3, 4]
    assert manifest["version"] == RUN_VERSION and manifest["fingerprint"] == "abc"
    assert run.kept_path == (path if error is None else None)
    # released: another process may claim it
    claimed = RunDir.claim(path)
    assert claimed is not None
    claimed.release()
    # an interrupted fit is resumed with its own seeds; a failed or complete one is not
    with FitFolder(tmp_path, fingerprint="abc", resume=True) as again:
        assert again.resumed_seeds == ([3, 4] if status == "interrupted" else None)


def test_a_claimed_folder_is_left_as_found_when_planning_fails(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with FitFolder(tmp_path, fingerprint="abc", resume=True) as run:
            path = run.start([5, 6])
            raise KeyboardInterrupt
    before = read_manifest(path)
    with pytest.raises(ValueError, match="bad split"):
        with FitFolder(tmp_path, fingerprint="abc", resume=True) as run:
            assert run.path == path and run.resumed_seeds == [5, 6]
            raise ValueError("bad split")
    assert read_manifest(path) == before
    RunDir.claim(path).release()  # and released


def test_a_folder_of_the_old_format_is_not_resumed_and_says_so(tmp_path):
    old = RunDir.create(str(tmp_path))
    # the previous format: joblib.hash fingerprints, version 1
    old.write_manifest(version=1, fingerprint="0" * 32, seeds=[1, 2], status="interrupted")
    old.release()
    with pytest.warns(UserWarning, match="written in another format .* starts afresh"):
        with FitFolder(tmp_path, fingerprint="0" * 32, resume=True) as run:
            assert run.resumed_seeds is None
            path = run.start([7, 8])
    assert path != old.path and read_manifest(old.path)["status"] == "interrupted"


# -- one history walk -------------------------------------------------------------------
def test_one_walk_turns_numpy_and_torch_scalars_into_python():
    history = [
        {
            "epoch": np.int64(1),
            "train_loss": torch.tensor(0.5),
            "valid_loss": np.float32(0.25),
            "best": np.bool_(True),
            "batches": [{"train_loss": torch.tensor(0.75, requires_grad=True)}],
            "shape": (np.int32(2), np.array(3.0)),
        }
    ]
    out = plain(history)
    assert out == [
        {
            "epoch": 1,
            "train_loss": 0.5,
            "valid_loss": 0.25,
            "best": True,
            "batches": [{"train_loss": 0.75}],
            "shape": [2, 3.0],
        }
    ]
    row = out[0]
    assert type(row["epoch"]) is int and type(row["train_loss"]) is float
    assert type(row["best"]) is bool and type(row["shape"][1]) is float
    json.dumps(out)
    # arrays with a dimension stay arrays
    assert isinstance(plain(np.zeros(2)), np.ndarray)


def test_stage1_and_resume_files_share_the_walk():
    from skbreastcad.models import _callbacks, _stage1

    assert _callbacks.plain is plain and _stage1.plain is plain
    assert not hasattr(_stage1, "_plain")


# -- fingerprints -----------------------------------------------------------------------
def test_fingerprints_are_sha256_of_dtype_shape_and_bytes():
    a = np.arange(4, dtype=np.uint8)
    assert len(data_fingerprint(a)) == 64
    assert data_fingerprint(a) == data_fingerprint(a.copy())
    assert data_fingerprint(a) != data_fingerprint(a.astype(np.int8))
    assert data_fingerprint(a) != data_fingerprint(a.reshape(2, 2))
    assert data_fingerprint(a, None) != data_fingerprint(a)
    # equal settings hash alike however their strings are shared
    one = "adamw"
    other = "".join(["ada", "mw"])
    assert settings_fingerprint([one, one]) == settings_fingerprint([one, other])
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        settings_fingerprint(lambda: 0)


def test_fit_with_stage1_returns_a_result_not_attributes(tmp_path):
    X, y = _data(n=20, n_classes=3, seed=1)
    settings = _settings(stage=1)
    settings = dataclasses.replace(settings, max_epochs=1)
    plan = {"train": np.arange(len(y)), "valid": None, "class_weight": None, "seed": 0}
    clf = _clf()

    def build(backbone, weights, seed, num_classes):
        return clf._build_model(backbone, weights, seed, num_classes=num_classes)

    clf.input_size_ = None
    before = dict(vars(clf))
    result = fit_stage1(
        settings,
        X,
        y,
        3,
        plan,
        build_model=build,
        device=torch.device("cpu"),
        augmenter=None,
        workdir=str(tmp_path),
        resumable=False,
        memory=None,
    )
    assert (result.best_epoch, result.n_classes, result.from_cache) == (1, 3, False)
    assert len(result.history) == 1 and isinstance(result.history[0]["train_loss"], float)
    assert not any(k.startswith("stage1_") for k in set(vars(clf)) - set(before))
