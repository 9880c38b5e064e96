"""``skbreastcad train`` -> ``predict`` -> ``detect`` on phantoms through model folders, and the
pickles every command refuses without running them."""

import json
import pathlib
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from skbreastcad._cli import main
from skbreastcad.persistence import load_model, read_model_card


class _TouchOnUnpickle:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _write_png(path, image):
    from PIL import Image

    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``skbreastcad train --evaluate`` of a Haar model on 40 phantoms of 32 px."""
    root = tmp_path_factory.mktemp("train")
    folder = root / "haar"
    argv = ["train", "--data", "phantoms", "--model", "haar", "--output", str(folder)]
    argv += ["--n-samples", "40", "--image-size", "32", "--evaluate", "--cv", "2"]
    argv += ["--n-boot", "100"]
    assert main(argv) == 0
    return folder


def test_train_writes_a_model_folder_with_its_card(trained, capsys):
    # the safe writer's marker, then the Hub layout
    assert sorted(p.name for p in trained.iterdir()) == [
        ".skbreastcad-folder.json",
        "README.md",
        "config.json",
        "estimator.skops",
        "model.safetensors",
    ]
    card = read_model_card(trained)
    assert card.training_data["images"] == 40 and card.training_data["patients"] == 10
    assert {m["metric"] for m in card.metrics} >= {"roc_auc", "sensitivity"}
    assert all(m["ci_low"] <= m["estimate"] <= m["ci_high"] for m in card.metrics)
    assert card.threshold is not None and card.threshold_policy.startswith("youden")
    assert card.command.startswith("skbreastcad train --data phantoms --model haar")
    config = json.loads((trained / "config.json").read_text())
    assert config["input"]["image_shape"] == [32, 32] and config["input"]["dtype"] == "uint8"
    assert "not a medical device" in (trained / "README.md").read_text()


def test_predict_then_detect_read_the_folder(trained, tmp_path, capsys):
    from skbreastcad.datasets import make_phantoms

    X, y = make_phantoms(6, image_size=32, random_state=3)
    images = [str(_write_png(tmp_path / f"roi{i}.png", x)) for i, x in enumerate(X)]
    out = tmp_path / "pred.csv"
    assert main(["predict", str(trained), *images, "--output", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.columns.tolist() == ["image", "proba_0", "proba_1", "label"]
    model = load_model(trained)
    np.testing.assert_allclose(table[["proba_0", "proba_1"]], model.predict_proba(X), rtol=1e-12)
    threshold = read_model_card(trained).threshold
    assert (table["label"] == (model.predict_proba(X)[:, 1] >= threshold)).all()

    film = _write_png(
        tmp_path / "film.png", np.random.default_rng(0).integers(60, 200, (96, 96)).astype(np.uint8)
    )
    det = tmp_path / "detect"
    argv = ["detect", str(trained), str(film), "--crop-size", "32", "--output-size", "32"]
    assert main([*argv, "--stride", "32", "--output", str(det)]) == 0
    assert (det / "candidates.csv").is_file() and (det / "film_lesion_map.png").is_file()

    wrong = _write_png(tmp_path / "big.png", np.zeros((40, 40), np.uint8))
    capsys.readouterr()
    assert main(["predict", str(trained), str(wrong), "--output", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "big.png is 40x40 pixels; the model takes 32x32" in err and "\n" not in err


def test_every_command_refuses_a_crafted_pickle_without_running_it(trained, tmp_path, capsys):
    marker = tmp_path / "marker"
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(_TouchOnUnpickle(str(marker))))
    image = _write_png(tmp_path / "roi.png", np.zeros((32, 32), np.uint8))
    for argv in (
        ["predict", str(evil), str(image), "--output", str(tmp_path / "p.csv")],
        ["detect", str(evil), str(image), "--crop-size", "32", "--output-size", "32"],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "runs whatever code it holds" in err and "--trust-pickle" in err
        assert "\n" not in err
        assert not marker.exists()
    assert not (tmp_path / "p.csv").exists()


def test_trust_pickle_is_the_explicit_escape(trained, tmp_path, capsys):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(load_model(trained), path)
    image = _write_png(tmp_path / "roi.png", np.zeros((32, 32), np.uint8))
    out = tmp_path / "p.csv"
    argv = ["predict", str(path), str(image), "--output", str(out)]
    assert main(argv) == 2
    with warnings.catch_warnings():
        # the command shows the warning as a note (the suite turns warnings into errors)
        warnings.filterwarnings("default", message="Loading the pickle")
        assert main([*argv, "--trust-pickle"]) == 0
    assert "note: Loading the pickle" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == 1


def test_train_mistakes_are_one_line_exit_2(trained, tmp_path, capsys):
    cases = [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model", str(tmp_path / "missing.json")], "cannot read the model config"),
        (["--output", str(trained)], "--overwrite"),
    ]
    for extra, message in cases:
        argv = ["train", "--data", "phantoms", "--model", "haar", "--output", str(tmp_path / "m")]
        argv += ["--n-samples", "20", "--image-size", "32", *extra]
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("skbreastcad train: error:") and message in err, err
    assert not (tmp_path / "m").exists()


def test_train_a_backbone_from_a_json_config(tmp_path, capsys):
    config = tmp_path / "model.json"
    config.write_text(
        json.dumps({"model": "tiny_cnn", "params": {"max_epochs": 1, "batch_size": 8}})
    )
    folder = tmp_path / "cnn"
    argv = ["train", "--data", "phantoms", "--model", str(config), "--output", str(folder)]
    assert main([*argv, "--n-samples", "16", "--image-size", "32", "--device", "cpu"]) == 0
    model = load_model(folder)
    assert model.max_epochs == 1 and model.backbone == "tiny_cnn"
    X = np.zeros((2, 32, 32), np.uint8)
    assert model.predict_proba(X).shape == (2, 2)


# -- the whole-film detector -----------------------------------------------------------------
def _mias_like(home):
    """Eight synthetic 1024 px films of four women in mini-MIAS layout, six with one mass."""
    from PIL import Image

    home.mkdir()
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:1024, :1024]
    lines = []
    for k in range(1, 9):
        reference = f"mdb{k:03d}"
        film = 100 + 10 * rng.standard_normal((1024, 1024))
        if k in (4, 7):
            lines.append(f"{reference} F NORM")
        else:
            row, col = int(rng.integers(300, 700)), int(rng.integers(100, 300))
            film += 70 * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * 14**2))
            # the mass (sigma 14 px) reaches about 40 px from its centre
            lines.append(f"{reference} F CIRC B {col} {1023 - row} 40")
        film[(rows - 512) ** 2 + cols**2 > 470**2] = 0
        Image.fromarray(film.clip(0, 255).astype(np.uint8)).save(home / f"{reference}.pgm")
    (home / "Info.txt").write_text("\n".join(lines) + "\n")
    return home


@pytest.fixture(scope="module")
def film_detector(tmp_path_factory):
    """``skbreastcad train --model film-detector --evaluate`` on the synthetic films."""
    root = tmp_path_factory.mktemp("film")
    home = _mias_like(root / "mias")
    folder = root / "detector"
    argv = ["train", "--data", f"mias:{home}", "--model", "film-detector"]
    argv += ["--output", str(folder), "--evaluate", "--cv", "2", "--n-boot", "50"]
    assert main(argv) == 0
    return home, folder


def test_train_then_detect_with_the_film_detector(film_detector, tmp_path, capsys):
    from skbreastcad.datasets import read_image
    from skbreastcad.detection import FilmLesionDetector

    home, folder = film_detector
    card = read_model_card(folder)
    assert card.training_data["films"] == 8 and card.training_data["women"] == 4
    assert card.training_data["lesions"] == 6 and card.training_data["films_with_lesions"] == 6
    assert card.training_data["lesion_classes"] == {"CIRC": 6}
    # FROC by folds of women, with bootstrap intervals over women
    assert card.evaluation["resampled_units"] == "women" and card.evaluation["n_splits"] == 2
    at_one = [m for m in card.metrics if m["metric"] == "sensitivity at 1 FP/film"]
    assert at_one and all(0 <= m["estimate"] <= 1 for m in at_one)
    assert all(m["ci_low"] <= m["estimate"] <= m["ci_high"] for m in at_one)
    assert (
        card.command.startswith("skbreastcad train --data mias:")
        and "film-detector" in card.command
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["task"] == "object-detection" and config["input"]["dtype"] == "uint8"
    readme = (folder / "README.md").read_text()
    assert 'pipeline_tag: "object-detection"' in readme
    assert "ranks candidate lesions by score" in readme and "most probable class" not in readme
    assert "Its sensitivities were measured on the films summarised above" in readme
    model = load_model(folder)
    assert isinstance(model, FilmLesionDetector) and model.memory is None

    paths = [home / "mdb001.pgm", home / "mdb002.pgm", home / "mdb003.pgm"]
    # predict takes ROI classifiers: the detector is refused with the command to use
    capsys.readouterr()
    out_csv = tmp_path / "p.csv"
    assert main(["predict", str(folder), str(paths[0]), "--output", str(out_csv)]) == 2
    err = capsys.readouterr().err.strip()
    assert "FilmLesionDetector" in err and "skbreastcad detect" in err and not out_csv.exists()

    out = tmp_path / "detect"
    argv = ["detect", str(folder), *map(str, paths), "--max-candidates", "5"]
    assert main([*argv, "--output", str(out)]) == 0
    for path in paths:
        assert (out / f"{path.stem}_lesion_map.png").is_file()
    table = pd.read_csv(out / "candidates.csv")
    assert table.columns[:5].tolist() == ["film", "row", "col", "radius", "score"]
    # the detector's own candidates: mdb001 and mdb002 as a pair, mdb003 alone
    films = [read_image(p) for p in paths]
    expected = [
        *model.predict_candidates(films[:2], contralateral=[1, 0]),
        *model.predict_candidates(films[2:]),
    ]
    for path, frame in zip(paths, expected, strict=True):
        got = table[table["film"] == path.name].reset_index(drop=True)
        want = frame.head(5)
        assert len(got) == len(want) > 0
        assert (got[["row", "col"]].to_numpy() == want[["row", "col"]].to_numpy()).all()
        np.testing.assert_allclose(got["score"], want["score"], rtol=1e-12)

    capsys.readouterr()
    assert main([*argv, "--explain", "occlusion", "--output", str(tmp_path / "x")]) == 2
    assert "whole-film detector" in capsys.readouterr().err and not (tmp_path / "x").exists()
