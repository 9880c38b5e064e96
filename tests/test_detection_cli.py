"""The ``detect`` and ``froc`` commands end to end on synthetic films, and one real mini-MIAS film."""

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skbreastcad.cli import main
from skbreastcad.datasets import read_image
from skbreastcad.detection import find_candidates, lesion_map
from skbreastcad.detection._evaluate import mias_films
from skbreastcad.features import CNNLayerFeatures, HaarFeatures


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
    with pytest.raises(ValueError, match="mias:DIR"):
        main(["froc", "--data", str(mias_like), "--output", str(out)])


def test_detect_command_writes_overlays_and_candidates(mias_like, tmp_path):
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
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
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
    with pytest.raises(ValueError, match="trained on 32x32"):
        main(
            [
                "detect",
                str(path),
                str(film),
                "--crop-size",
                "64",
                "--output-size",
                "64",
                "--output",
                str(out),
            ]
        )
    with pytest.raises(FileNotFoundError, match="not found"):
        main(["detect", str(tmp_path / "none.joblib"), str(film)])


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
