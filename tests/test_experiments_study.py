"""The study's experiments (Tables 1-3, Fig. 6, ablations), the command line and Dask."""

import numpy as np
import pandas as pd
import pytest

from skbreastcad._cli import main
from skbreastcad.datasets import make_phantoms
from skbreastcad.experiments import (
    compare_ablations,
    compare_backbones,
    compare_feature_sets,
    compare_transfer,
    probe_layers,
)
from skbreastcad.features import CNNLayerFeatures, layer_features
from skbreastcad.models import TwoStageTransferClassifier

FAST = {"cv": 3, "n_boot": 200}
TINY = {"max_epochs": 2, "source_params": {"max_epochs": 2}, "batch_size": 16}


@pytest.fixture(scope="module")
def data():
    X, y = make_phantoms(48, image_size=24, random_state=0)
    groups = np.arange(len(y)) // 2  # two ROIs per "patient"
    return X, y, groups


def test_layer_features_equal_separate_cnn_layer_features_runs(data, tmp_path):
    X, _, _ = data
    layers = ["relu1", "relu2", "pool"]
    feats = layer_features(X, "tiny_cnn", layers, weights=None, random_state=0, memory=tmp_path)
    for layer in layers:
        ref = CNNLayerFeatures("tiny_cnn", layer=layer, weights=None, random_state=0, device="cpu")
        np.testing.assert_array_equal(feats[layer], ref.fit_transform(X))
    # the second call is read from the cache: equal, and a cache entry exists
    again = layer_features(X, "tiny_cnn", layers, weights=None, random_state=0, memory=tmp_path)
    np.testing.assert_array_equal(again["relu2"], feats["relu2"])
    assert any(tmp_path.rglob("output.pkl"))


def test_layer_features_refuses_unknown_and_reused_layers(data):
    X, _, _ = data
    with pytest.raises(ValueError, match="Unknown layer 'relu3'.*relu"):
        layer_features(X, "tiny_cnn", ["relu3"], weights=None)


def test_probe_layers_one_row_per_layer_on_grouped_folds(data):
    X, y, groups = data
    report = probe_layers(X, y, "tiny_cnn", ["relu1", "relu2"], groups=groups, weights=None, **FAST)
    assert report.candidates == ["relu1", "relu2"]
    assert report.config["resampled_units"] == "patients (groups)"
    pred = report.predictions
    # no patient is in two test folds
    assert (pred.groupby("group")["fold"].nunique() == 1).all()
    assert report.timings["features_s"] > 0


def test_probe_layers_nested_search(data):
    X, y, _ = data
    report = probe_layers(
        X, y, "tiny_cnn", ["relu2"], weights=None, param_grid={"C": [0.01, 1.0]}, **FAST
    )
    # the classifier step of the (only) candidate is the inner search: nested evaluation
    assert "GridSearchCV" in report.config["candidate_params"][0]["classifier"]
    assert "'C': [0.01, 1.0]" in report.config["param_grid"]


# a one-epoch tiny CNN may predict one class for every sample: the report warns and flags
# it (issue 21); these tests are about the rows of the table, not the model's quality
@pytest.mark.filterwarnings("ignore::skbreastcad.evaluation.DegenerateResultWarning")
def test_fine_tuned_classifier_is_a_row_of_the_feature_table(data):
    X, y, groups = data
    clf = TwoStageTransferClassifier(
        "tiny_cnn",
        transfer="none",
        weights=None,
        device="cpu",
        random_state=0,
        validation_fraction=None,
        **{k: v for k, v in TINY.items() if k != "source_params"},
    )
    from skbreastcad.experiments import make_feature_set

    report = compare_feature_sets(
        X, y, {"haar": make_feature_set("haar"), "fine-tuned": clf}, groups=groups, **FAST
    )
    assert report.candidates == ["haar", "fine-tuned"]
    assert report.predictions["score"].between(0, 1).all()


def test_compare_backbones_falls_back_and_says_so(data):
    X, y, _ = data
    report = compare_backbones(
        X,
        y,
        ["tiny_cnn", "inception_v3"],
        modes=["features"],
        fallback="random",
        input_size=32,
        device="cpu",
        **FAST,
    )
    assert report.candidates == ["tiny_cnn features", "inception_v3 features"]
    notes = " ".join(report.notes)
    # inception needs 75 px and its weights are not on this machine
    assert (
        "raised from 32 to 75" in notes
        and "inception_v3: ImageNet weights not available offline" in notes
    )
    with pytest.raises(FileNotFoundError, match="inception_v3.*not available offline"):
        compare_backbones(X, y, ["inception_v3"], modes=["features"], fallback=None, **FAST)


# a one-epoch tiny CNN may predict one class for every sample: the report warns and flags
# it (issue 21); these tests are about the rows of the table, not the model's quality
@pytest.mark.filterwarnings("ignore::skbreastcad.evaluation.DegenerateResultWarning")
def test_compare_transfer_rows_and_learning_curves(data, tmp_path):
    X, y, _ = data
    Xs, ys = make_phantoms(32, image_size=24, random_state=1)
    report = compare_transfer(
        X,
        y,
        ["tiny_cnn"],
        ["none", "two_stage"],
        source_data=(Xs, ys),
        fallback="random",
        deep_params=TINY,
        device="cpu",
        memory=tmp_path / "cache",
        **FAST,
    )
    assert report.candidates == ["tiny_cnn / none", "tiny_cnn / two_stage"]
    curves = report.curves
    assert set(curves["candidate"]) == set(report.candidates)
    # stage 2 of every fold (3 fits x 2 candidates) and stage 1 of the two-stage rows
    stage2 = curves[curves["stage"] == 2]
    assert stage2.groupby("candidate")["fit"].nunique().tolist() == [3, 3]
    assert (curves["stage"] == 1).any()
    folder = report.save(tmp_path / "transfer")
    assert (folder / "learning_curves.png").stat().st_size > 1000
    assert len(pd.read_csv(folder / "learning_curves.csv")) == len(curves)
    with pytest.raises(ValueError, match="source_data"):
        compare_transfer(X, y, ["tiny_cnn"], ["two_stage"], fallback="random", **FAST)


def test_ablation_rows(data):
    X, y, groups = data
    report = compare_ablations(X, y, "haar", groups=groups, **FAST)
    assert report.candidates == [
        "haar, up-sampling on, augmentation on",
        "haar, up-sampling on, augmentation off",
        "haar, up-sampling off, augmentation on",
        "haar, up-sampling off, augmentation off",
    ]
    assert report.search.cv_results_["mean_fit_time"].shape == (4,)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "tables"], "unknown experiment 'tables'"),
        (["run", "layers", "--data", "dicom:/x"], "unknown data spec"),
        (["run", "layers", "--data", "mias:/nonexistent"], "does not exist"),
        (["run", "layers", "--backbones", "vgg17"], "Unknown backbone 'vgg17'"),
        (["run", "features", "--n-samples", "12", "--cv", "5"], "fewer than the 5 folds"),
        (["layers", "nope"], "Unknown backbone 'nope'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def _folder(root, classes, n_per_class=6, n_patients=3):
    from PIL import Image

    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            image = np.full((8, 8), 20 * i + 5 * c, np.uint8)
            Image.fromarray(image).save(root / name / f"P{i % n_patients}_{c}_{i}.png")
    return root


def test_cli_one_class_and_too_few_patients(tmp_path, capsys):
    one = _folder(tmp_path / "one", ["benign"])
    assert main(["run", "ablation", "--data", f"folder:{one}", "--cv", "2"]) == 2
    assert "one class only" in capsys.readouterr().err
    two = _folder(tmp_path / "two", ["benign", "malignant"])
    argv = [
        "run",
        "ablation",
        "--data",
        f"folder:{two}",
        "--group-pattern",
        r"(P\d+)_",
        "--cv",
        "4",
    ]
    assert main(argv) == 2
    assert "3 patients (groups), fewer than the 4 folds" in capsys.readouterr().err


def test_cli_missing_weights_name_the_file(capsys):
    from skbreastcad.nn import weights_status

    available, detail = weights_status("vgg16")
    if available:
        pytest.skip("VGG16's ImageNet weights are on this machine")
    assert main(["run", "layers", "--no-fallback", "--n-samples", "30"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "vgg16-397923af.pth" in err and "download" in err


def test_cli_lists(capsys):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite0" in out and "weights offline" in out and "tiny_cnn" in out
    assert main(["layers", "vgg16"]) == 0
    assert "features.29  (study layer 17" in capsys.readouterr().out


def test_cli_run_writes_report(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "layers",
                "--backbones",
                "tiny_cnn",
                "--n-samples",
                "40",
                "--image-size",
                "24",
                "--cv",
                "3",
                "--n-boot",
                "100",
                "--output",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "layers" / "report.html").stat().st_size > 1000
    assert not list(tmp_path.glob(".*tmp*"))


def test_dask_local_cluster_equals_local_run(data):
    distributed = pytest.importorskip("dask.distributed")
    from joblib import parallel_config

    X, y, groups = data
    local = compare_ablations(X, y, "glcm", groups=groups, **FAST)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        with parallel_config(backend="dask"):
            remote = compare_ablations(X, y, "glcm", groups=groups, n_jobs=-1, **FAST)
    pd.testing.assert_frame_equal(local.predictions, remote.predictions)
    pd.testing.assert_frame_equal(local.results, remote.results)
