"""Names that moved to their one home: the new home exports them, the old name warns
(FutureWarning) and delegates until 0.2."""

import numpy as np
import pytest

import skbreastcad.experiments as experiments
import skbreastcad.features as features
import skbreastcad.models as models
import skbreastcad.nn as nn


@pytest.mark.parametrize(
    "name, home",
    [("HistoryRecorder", models), ("layer_features", features), ("weights_status", nn)],
)
def test_old_experiments_names_warn_and_are_the_new_ones(name, home):
    with pytest.warns(FutureWarning, match=rf"experiments.{name} is deprecated.*{home.__name__}"):
        old = getattr(experiments, name)
    assert old is getattr(home, name)
    assert name in home.__all__ and name not in experiments.__all__
    with pytest.warns(FutureWarning):
        from skbreastcad.experiments import weights_status  # noqa: F401


def test_old_names_still_work(tmp_path):
    from types import SimpleNamespace

    X = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    with pytest.warns(FutureWarning):
        feats = experiments.layer_features(X, "tiny_cnn", ["relu1"], weights=None, random_state=0)
    np.testing.assert_array_equal(
        feats["relu1"],
        features.layer_features(X, "tiny_cnn", ["relu1"], weights=None, random_state=0)["relu1"],
    )
    with pytest.warns(FutureWarning):
        assert experiments.weights_status("tiny_cnn") == nn.weights_status("tiny_cnn")
    with pytest.warns(FutureWarning):
        recorder = experiments.HistoryRecorder(tmp_path, "label")
    recorder.on_train_end(SimpleNamespace(stage=1, history=[{"epoch": np.int64(1)}]))
    (written,) = tmp_path.glob("*.json")
    assert '"epoch": 1' in written.read_text()


def test_unknown_names_are_still_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'HistoryRecorders'"):
        experiments.HistoryRecorders  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'Recorder'"):
        models.Recorder  # noqa: B018


def test_history_recorder_is_exported_lazily_from_models():
    assert "HistoryRecorder" in dir(models)
    from skbreastcad.models._callbacks import HistoryRecorder, StageCheckpoint

    assert models.HistoryRecorder is HistoryRecorder
    # beside the other skorch callbacks of the package
    assert HistoryRecorder.__module__ == StageCheckpoint.__module__


def test_resolve_backbone_lives_in_nn():
    assert nn.resolve_backbone("tiny_cnn", None, None) == ("tiny_cnn", None, None)
    backbone, weights, note = nn.resolve_backbone("tiny_cnn", "imagenet", None)
    assert weights is None and "no ImageNet weights" in note
    # the command line's private import path keeps working, without a warning
    from skbreastcad.experiments._common import resolve_backbone

    assert resolve_backbone is nn.resolve_backbone


def test_old_source_keys_of_deep_params_warn_and_still_apply():
    from skbreastcad.experiments._deep import _fine_tuner

    common = dict(transfer="none", weights=None, input_size=None, random_state=0, device="cpu")
    with pytest.warns(FutureWarning, match=r"deep_params\['source_lr'\] is deprecated"):
        clf = _fine_tuner("tiny_cnn", **common, deep_params={"source_lr": 0.5})
    assert clf.source_params == {"max_epochs": 5, "lr": 0.5}
    assert clf.source_lr == "deprecated"
    clf = _fine_tuner("tiny_cnn", **common, deep_params={"source_params": {"max_epochs": 2}})
    assert clf.source_params == {"max_epochs": 2, "lr": 1e-3}
