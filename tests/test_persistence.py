"""Model folders: exact round trips of every public estimator, the trust model, the manifest
checks, refused pickles, safe writes, the model card, and pickles without weights_only=False."""

import hashlib
import json
import os
import pathlib
import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbreastcad
from skbreastcad.ensemble import AveragedClassifier, SeedEnsembleClassifier, TTAClassifier
from skbreastcad.experiments import make_feature_pipeline
from skbreastcad.features import CNNLayerFeatures, GaborFeatures, GLCMFeatures, HaarFeatures
from skbreastcad.models import SourceData, TwoStageTransferClassifier
from skbreastcad.persistence import (
    FORMAT_VERSION,
    ModelCard,
    ModelFolderError,
    UntrustedTypesError,
    load_model,
    read_model_card,
    save_model,
)

torch = pytest.importorskip("torch")


def _images(n=16, size=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    y = np.array([0, 1] * (n // 2))
    # a visible class signal, so that the classifiers are not constant
    X[y == 1, 8:16, 8:16] //= 2
    return X, y


def _tiny_transfer(**params):
    defaults = dict(
        transfer="none",
        weights=None,
        max_epochs=1,
        batch_size=8,
        device="cpu",
        random_state=0,
    )
    return TwoStageTransferClassifier("tiny_cnn", **{**defaults, **params})


def _output(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.transform(X)


def _round_trip(est, folder, X, **save_params):
    save_model(est, folder, **save_params)
    loaded = load_model(folder)
    assert type(loaded) is type(est)
    assert_array_equal(_output(loaded, X), _output(est, X))
    return loaded


def _reseal(folder):
    """Recompute the manifest's digests, as an attacker (or a careless edit) would."""
    from skbreastcad.persistence._folder import _config_digest

    config_path = os.path.join(folder, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    for name in config["files"]:
        data = pathlib.Path(folder, name).read_bytes()
        config["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    config["manifest_sha256"] = _config_digest(config)
    with open(config_path, "w") as f:
        json.dump(config, f)


# -- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "est",
    [GLCMFeatures(), GaborFeatures(frequencies=(0.25, 0.5)), HaarFeatures()],
    ids=lambda e: type(e).__name__,
)
def test_texture_features_round_trip_exactly(est, tmp_path):
    X, _ = _images()
    est.fit(X)
    loaded = _round_trip(est, tmp_path / "model", X)
    assert_array_equal(loaded.get_feature_names_out(), est.get_feature_names_out())
    with open(tmp_path / "model" / "config.json") as f:
        config = json.load(f)
    # no network: an empty tensor file, and the layout stays the same
    assert config["tensors"]["count"] == 0
    assert config["input"]["image_shape"] == [24, 24]


@pytest.mark.parametrize("augment", [False, True])
def test_feature_pipeline_with_its_sampler_round_trips_exactly(augment, tmp_path):
    X, y = _images()
    pipe = make_feature_pipeline("glcm+haar", augment=augment).fit(X, y)
    loaded = _round_trip(pipe, tmp_path / "model", X, input_convention={"dtype": X.dtype})
    assert_array_equal(loaded.predict(X), pipe.predict(X))
    with open(tmp_path / "model" / "config.json") as f:
        config = json.load(f)
    assert config["estimator"]["class"] == "imblearn.pipeline.Pipeline"
    assert config["input"]["dtype"] == "uint8"
    assert config["classes"] == [0, 1]


def test_cnn_layer_features_round_trip_exactly(tmp_path):
    X, _ = _images()
    est = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0).fit(X)
    loaded = _round_trip(est, tmp_path / "model", X)
    assert loaded.model_ is not est.model_
    for (key, a), (key_b, b) in zip(
        est.model_.state_dict().items(), loaded.model_.state_dict().items()
    ):
        assert key == key_b and torch.equal(a, b)
    assert loaded.model_.training is est.model_.training is False
    assert loaded.get_feature_names_out().tolist() == est.get_feature_names_out().tolist()


def test_two_stage_transfer_round_trips_exactly(tmp_path):
    X, y = _images()
    rng = np.random.default_rng(1)
    source = SourceData(rng.integers(0, 256, (12, 24, 24), dtype=np.uint8), np.arange(12) % 3)
    clf = _tiny_transfer(
        transfer="two_stage", source_data=source, source_params={"max_epochs": 1}, freeze_depth=1
    ).fit(X, y)
    loaded = _round_trip(clf, tmp_path / "model", X)
    assert_array_equal(loaded.predict(X), clf.predict(X))
    assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.frozen_layers_ == clf.frozen_layers_
    assert list(loaded.history_[:, "train_loss"]) == list(clf.history_[:, "train_loss"])
    frozen = [n for n, p in clf.module_.named_parameters() if not p.requires_grad]
    assert frozen and frozen == [
        n for n, p in loaded.module_.named_parameters() if not p.requires_grad
    ]
    assert loaded.module_.frozen_ == clf.module_.frozen_
    assert_array_equal(loaded.source_data.X, source.X)


def test_ensembles_and_tta_round_trip_exactly(tmp_path):
    X, y = _images()
    seeds = SeedEnsembleClassifier(_tiny_transfer(), n_estimators=2, random_state=0).fit(X, y)
    _round_trip(seeds, tmp_path / "seeds", X)
    members = [make_feature_pipeline("haar").fit(X, y), _tiny_transfer().fit(X, y)]
    averaged = AveragedClassifier(members).fit()
    _round_trip(averaged, tmp_path / "averaged", X)
    tta = TTAClassifier(make_pipeline(HaarFeatures(), LogisticRegression())).fit(X, y)
    _round_trip(tta, tmp_path / "tta", X)
    with open(tmp_path / "seeds" / "config.json") as f:
        modules = json.load(f)["tensors"]["modules"]
    assert len(modules) == 2 and len({m["prefix"] for m in modules}) == 2


def _films(n=6, size=256, seed=0):
    """Films with one bright blob each, as in FilmLesionDetector's example."""
    rng = np.random.default_rng(seed)
    rows, cols = np.ogrid[:size, :size]
    films, lesions = [], []
    for k in range(n):
        film = np.where((rows - size // 2) ** 2 + cols**2 < (0.9 * size) ** 2, 90.0, 0.0)
        film += rng.normal(0, 4, film.shape) * (film > 0)
        r, c = 80 + 20 * k, 100
        film += 60 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 8.0**2))
        films.append(film.clip(0, 255).astype(np.uint8))
        lesions.append(np.array([[r, c, 16.0]]))
    return films, lesions


@pytest.mark.parametrize("window", ["dense", "cut windows"])
def test_the_film_detector_round_trips_exactly(window, tmp_path):
    pd = pytest.importorskip("pandas")
    from skbreastcad.detection import FilmLesionDetector

    films, lesions = _films()
    roi_model = (
        None
        if window == "dense"
        else make_pipeline(HaarFeatures(), StandardScaler(), LogisticRegression(max_iter=1000))
    )
    cache = tmp_path / "feature-cache"
    detector = FilmLesionDetector(
        roi_model,
        scales=(2, 4),
        pixel_size_mm=0.4,
        hard_negative_rounds=1,
        negatives_per_film=20,
        view="CC",
        memory=str(cache),
    ).fit(films[:4], lesions[:4], contralateral=[1, 0, 3, 2])
    # trusted by default: no warning at save, no trusted=[...] at load
    save_model(detector, tmp_path / "detector")
    loaded = load_model(tmp_path / "detector")
    assert type(loaded) is FilmLesionDetector
    test = films[4:]
    for before, after in zip(
        detector.predict_candidates(test, contralateral=[1, 0]),
        loaded.predict_candidates(test, contralateral=[1, 0]),
        strict=True,
    ):
        assert len(before) > 0
        pd.testing.assert_frame_equal(after, before, check_exact=True)
    for before, after in zip(detector.decision_maps(test), loaded.decision_maps(test), strict=True):
        for a, b in zip(before, after, strict=True):
            assert_array_equal(b, a)
    assert loaded.hard_negative_films_ == detector.hard_negative_films_
    assert (loaded.n_positives_, loaded.n_negatives_) == (
        detector.n_positives_,
        detector.n_negatives_,
    )
    # the cache folder is the machine's, not the model's: saved as None, the user's kept
    assert loaded.memory is None and detector.memory == str(cache)
    config = json.loads((tmp_path / "detector" / "config.json").read_text())
    assert config["estimator"]["params"]["memory"] is None
    assert config["task"] == "object-detection"
    assert 'pipeline_tag: "object-detection"' in (tmp_path / "detector" / "README.md").read_text()


def test_the_detection_types_trusted_by_name_are_the_classes():
    from skbreastcad.detection import FilmLesionDetector
    from skbreastcad.detection._blob_features import BlobWindowFeatures
    from skbreastcad.persistence import default_trusted_types
    from skbreastcad.persistence._trust import type_name

    trusted = default_trusted_types()
    assert type_name(FilmLesionDetector) in trusted and type_name(BlobWindowFeatures) in trusted


# -- the card ------------------------------------------------------------------------------
def test_card_is_written_as_readme_and_json(tmp_path):
    from skbreastcad.evaluation import evaluate_predictions

    pd = pytest.importorskip("pandas")
    X, y = _images()
    pipe = make_feature_pipeline("haar").fit(X, y)
    rng = np.random.default_rng(0)
    score = y + rng.normal(0, 0.6, len(y))
    predictions = pd.DataFrame(
        {
            "sample": np.arange(len(y)),
            "fold": np.arange(len(y)) % 2,
            "candidate": "haar",
            "y_true": y,
            "score": score,
            "y_pred": (score > 0.5).astype(int),
            "group": np.arange(len(y)) // 2,
        }
    )
    report = evaluate_predictions(predictions, metrics=["roc_auc", "sensitivity"], n_boot=100)
    card = ModelCard(
        name="Haar phantom model",
        training_data={
            "images": 16,
            "patients": 8,
            "classes": {"0": 8, "1": 8},
            "modality": "phantom",
        },
        metrics=report,
        threshold=0.5,
        threshold_policy="youden",
        command="skbreastcad train --data phantoms --model haar --output model",
    )
    save_model(pipe, tmp_path / "model", card=card)
    readme = (tmp_path / "model" / "README.md").read_text()
    assert readme.startswith("---\n")
    front = readme.split("---\n")[1]
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "skbreastcad" and "research-only" in meta["tags"]
    auc = report.results.set_index("metric").loc["roc_auc"]
    reported = meta["model-index"][0]["results"][0]["metrics"][0]
    assert reported["type"] == "roc_auc" and reported["value"] == pytest.approx(auc["estimate"])
    assert "not a medical device" in readme and "skbreastcad train --data phantoms" in readme
    assert f"{auc['ci_low']:.3f}, {auc['ci_high']:.3f}" in readme

    read = read_model_card(tmp_path / "model")
    assert read.name == "Haar phantom model" and read.threshold == 0.5
    assert read.training_data["patients"] == 8
    assert {m["metric"] for m in read.metrics} == {"roc_auc", "sensitivity"}
    assert read.evaluation["resampled_units"] == report.config["resampled_units"]
    with open(tmp_path / "model" / "config.json") as f:
        config = json.load(f)
    assert config["threshold"] == {"value": 0.5, "policy": "youden"}
    assert config["card"]["metrics"] == read.metrics
    # the report's wide table gives the same figures
    wide = ModelCard(metrics=report.table()).to_dict()["metrics"]
    key = ("candidate", "metric", "estimate", "ci_low", "ci_high")
    assert [[m[k] for k in key] for m in wide] == [[m[k] for k in key] for m in read.metrics]


# -- pickles are refused -------------------------------------------------------------------
class _TouchOnUnpickle:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps(_TouchOnUnpickle(str(marker)))
    file = tmp_path / "model.pkl"
    file.write_bytes(payload)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(payload)
    for path in (file, folder):
        with pytest.raises(ModelFolderError, match="runs whatever code it holds.*trust_pickle"):
            load_model(path)
        assert not marker.exists()
    with pytest.raises(ModelFolderError, match="runs whatever code"):
        read_model_card(file)
    assert not marker.exists()
    # the explicit escape does load it (and so runs it)
    with pytest.warns(UserWarning, match="trust_pickle=True"):
        load_model(file, trust_pickle=True)
    assert marker.exists()


def test_a_pickle_next_to_a_valid_manifest_is_refused(tmp_path):
    X, y = _images()
    folder = tmp_path / "model"
    save_model(make_feature_pipeline("haar").fit(X, y), folder)
    (folder / "extra.pkl").write_bytes(pickle.dumps(_TouchOnUnpickle(str(tmp_path / "m"))))
    with pytest.raises(ModelFolderError, match="extra.pkl"):
        load_model(folder)


# -- the manifest ---------------------------------------------------------------------------
@pytest.fixture
def saved_cnn(tmp_path):
    X, _ = _images()
    est = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0).fit(X)
    folder = tmp_path / "model"
    save_model(est, folder)
    return folder


def test_an_edited_file_or_manifest_is_refused(saved_cnn):
    skops_file = saved_cnn / "estimator.skops"
    original = skops_file.read_bytes()
    skops_file.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ModelFolderError, match="estimator.skops does not match its SHA-256"):
        load_model(saved_cnn)
    skops_file.write_bytes(original)
    load_model(saved_cnn)

    readme = saved_cnn / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    with pytest.raises(ModelFolderError, match="README.md has .* bytes"):
        load_model(saved_cnn)
    _reseal(saved_cnn)
    load_model(saved_cnn)

    config_path = saved_cnn / "config.json"
    config = json.loads(config_path.read_text())
    config["classes"] = ["benign", "malignant"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match="config.json was changed after saving"):
        load_model(saved_cnn)


def test_a_truncated_tensor_file_is_refused(saved_cnn):
    file = saved_cnn / "model.safetensors"
    file.write_bytes(file.read_bytes()[:-100])
    with pytest.raises(ModelFolderError, match="model.safetensors has .* bytes.*truncated"):
        load_model(saved_cnn)
    _reseal(saved_cnn)
    with pytest.raises(ModelFolderError, match="model.safetensors cannot be read"):
        load_model(saved_cnn)


def test_a_missing_tensor_is_refused(saved_cnn):
    from safetensors.torch import load_file, save_file

    file = saved_cnn / "model.safetensors"
    tensors = load_file(file)
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, file)
    _reseal(saved_cnn)
    with pytest.raises(ModelFolderError, match="holds 17 tensors; the manifest says 18"):
        load_model(saved_cnn)
    config = json.loads((saved_cnn / "config.json").read_text())
    config["tensors"]["count"] -= 1
    (saved_cnn / "config.json").write_text(json.dumps(config))
    _reseal(saved_cnn)
    with pytest.raises(ValueError, match=f"lacks 1 tensor.*{dropped.rpartition('.')[0]}"):
        load_model(saved_cnn)


def test_a_newer_format_is_refused(saved_cnn):
    config = json.loads((saved_cnn / "config.json").read_text())
    config["skbreastcad_model_format"] = FORMAT_VERSION + 1
    (saved_cnn / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match=f"format {FORMAT_VERSION + 1}.*Upgrade"):
        load_model(saved_cnn)


def test_an_older_format_is_read_or_refused_with_the_reason(saved_cnn, monkeypatch):
    from skbreastcad.persistence import _folder

    config = json.loads((saved_cnn / "config.json").read_text())
    config["skbreastcad_model_format"] = 0
    (saved_cnn / "config.json").write_text(json.dumps(config))
    _reseal(saved_cnn)
    with pytest.raises(ModelFolderError, match="invalid format version 0"):
        load_model(saved_cnn)
    # a format this release once wrote: read through its upgrade, or refused with why
    monkeypatch.setattr(_folder, "FORMAT_VERSION", 2)
    config["skbreastcad_model_format"] = 1
    (saved_cnn / "config.json").write_text(json.dumps(config))
    _reseal(saved_cnn)
    monkeypatch.setattr(_folder, "_UNREADABLE", {1: "its tensors were float16."})
    with pytest.raises(ModelFolderError, match="format 1, which this release cannot read: its"):
        load_model(saved_cnn)
    monkeypatch.setattr(_folder, "_UNREADABLE", {})
    monkeypatch.setattr(_folder, "_UPGRADES", {1: lambda c: {**c, "skbreastcad_model_format": 2}})
    load_model(saved_cnn)


# -- the trust model -----------------------------------------------------------------------
def test_an_unknown_type_is_refused_by_name_and_loads_when_trusted(tmp_path):
    from imblearn.over_sampling import SMOTE

    X, y = _images()
    pipe = make_feature_pipeline("haar")
    pipe.steps[2] = ("oversample", SMOTE(k_neighbors=2, random_state=0))
    pipe.fit(X, y)
    name = f"{SMOTE.__module__}.SMOTE"
    with pytest.warns(UserWarning, match="load_model will need trusted"):
        save_model(pipe, tmp_path / "model")
    with pytest.raises(UntrustedTypesError, match=f"{name}.*trusted=") as info:
        load_model(tmp_path / "model")
    assert name in info.value.types
    loaded = load_model(tmp_path / "model", trusted=[name])
    assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    assert isinstance(load_model(tmp_path / "model", trusted=[SMOTE]).steps[2][1], SMOTE)


# -- safe writes ---------------------------------------------------------------------------
def test_save_never_replaces_a_file_or_an_unrelated_folder(tmp_path):
    X, y = _images()
    pipe = make_feature_pipeline("haar").fit(X, y)
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    with pytest.raises(FileExistsError, match="is a file"):
        save_model(pipe, file)
    assert file.read_text() == "mine"
    other = tmp_path / "results"
    other.mkdir()
    (other / "table.csv").write_text("a,b")
    with pytest.raises(FileExistsError, match="not a skbreastcad model folder"):
        save_model(pipe, other, overwrite=True)
    assert os.listdir(other) == ["table.csv"]

    folder = tmp_path / "model"
    save_model(pipe, folder)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(pipe, folder)
    before = (folder / "config.json").read_text()
    save_model(pipe, folder, card=ModelCard(name="second"), overwrite=True)
    assert (folder / "config.json").read_text() != before
    assert read_model_card(folder).name == "second"
    # no temporary or backup folder is left behind
    assert sorted(os.listdir(tmp_path)) == ["model", "notes.txt", "results"]


def test_a_network_its_settings_do_not_build_is_refused_at_save(tmp_path):
    X, _ = _images()
    est = CNNLayerFeatures("tiny_cnn", weights=None, random_state=0).fit(X)
    est.model_.backbone.fc = torch.nn.Linear(est.model_.backbone.fc.in_features, 7)
    with pytest.raises(ValueError, match="not the network its settings build.*backbone.fc"):
        save_model(est, tmp_path / "model")
    assert not (tmp_path / "model").exists() and os.listdir(tmp_path) == []


def test_an_unfitted_estimator_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_model(GLCMFeatures(), tmp_path / "model")


# -- plain pickles ------------------------------------------------------------------------
def test_deep_estimators_pickle_exactly_without_pickled_torch_modules(tmp_path):
    X, y = _images()
    cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0).fit(X)
    clf = _tiny_transfer(freeze_depth=1).fit(X, y)
    for est in (cnn, clf):
        restored = pickle.loads(pickle.dumps(est))
        assert_array_equal(_output(restored, X), _output(est, X))
        joblib.dump(est, tmp_path / "est.joblib")
        assert_array_equal(_output(joblib.load(tmp_path / "est.joblib"), X), _output(est, X))
    frozen = [n for n, p in restored.module_.named_parameters() if not p.requires_grad]
    assert frozen == [n for n, p in clf.module_.named_parameters() if not p.requires_grad]
    # the payload holds a state dict that loads with weights_only=True, no module class
    ref = clf.__getstate__()["module_"]
    state = torch.load(__import__("io").BytesIO(ref.payload), weights_only=True)
    assert set(state) == set(clf.module_.state_dict())


def test_a_pickle_from_an_older_release_is_a_clear_error():
    from skbreastcad.nn._state import _TorchBytes

    X, _ = _images()
    est = CNNLayerFeatures("tiny_cnn", weights=None, random_state=0).fit(X)
    state = est.__getstate__()
    old = _TorchBytes.__new__(_TorchBytes)
    old.__setstate__(b"whole-module pickle")
    state["model_"] = old
    with pytest.raises(ValueError, match="older skbreastcad.*save_model"):
        CNNLayerFeatures.__new__(CNNLayerFeatures).__setstate__(state)


def test_no_loader_in_the_package_unpickles_torch_objects():
    root = pathlib.Path(skbreastcad.__file__).parent
    hits = [
        f"{path.relative_to(root)}:{i}"
        for path in root.rglob("*.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if "weights_only=False" in line
    ]
    assert hits == []


def test_a_texture_model_saves_and_loads_without_torch(tmp_path):
    """torch is becoming optional: a model without a network must not need it."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys

        class NoTorch:
            # an install without torch: importing it fails
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "torchvision", "skorch"):
                    raise ImportError(f"No module named {{name!r}}")

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        from skbreastcad.experiments import make_feature_pipeline
        from skbreastcad.persistence import load_model, save_model

        rng = np.random.default_rng(0)
        X = rng.integers(0, 256, (12, 24, 24), dtype=np.uint8)
        y = np.array([0, 1] * 6)
        pipe = make_feature_pipeline("glcm").fit(X, y)
        save_model(pipe, {str(tmp_path / "model")!r})
        loaded = load_model({str(tmp_path / "model")!r})
        assert (loaded.predict_proba(X) == pipe.predict_proba(X)).all()
        print(sorted(m for m in ("torch", "torchvision", "skorch") if m in sys.modules))
        """
    )
    root = pathlib.Path(skbreastcad.__file__).parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
