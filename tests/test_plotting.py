import numpy as np
import pytest
from PIL import Image

from skbreastcad.datasets import make_phantoms
from skbreastcad.plotting import plot_roi_grid


def test_grid_png_is_written_with_one_tile_per_roi(tmp_path):
    X, y = make_phantoms(10, image_size=32, random_state=0)
    out = plot_roi_grid(
        X,
        y,
        target_names=["non-tumour", "tumour"],
        titles=[f"roi{i}" for i in range(10)],
        path=tmp_path / "sub" / "grid.png",
        n_cols=5,
    )
    assert out == tmp_path / "sub" / "grid.png"
    with Image.open(out) as png:
        assert png.format == "PNG"
        assert png.size[0] > png.size[1]  # 5 columns x 2 rows


def test_figure_returned_without_path_and_labels_shown():
    X, y = make_phantoms(4, image_size=16, imbalance_ratio=1.0, random_state=0)
    fig = plot_roi_grid(X.reshape(4, -1), y, target_names=["non-tumour", "tumour"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert sorted(titles) == sorted(["non-tumour", "tumour"][label] for label in y)


def test_uint16_and_float_images(tmp_path):
    rng = np.random.default_rng(0)
    plot_roi_grid(rng.integers(0, 4096, (3, 8, 8)).astype(np.uint16), path=tmp_path / "a.png")
    plot_roi_grid(rng.random((3, 8, 8)), path=tmp_path / "b.png")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "b.png").stat().st_size > 0


def test_bad_input():
    with pytest.raises(ValueError, match="labels"):
        plot_roi_grid(np.zeros((3, 8, 8)), [0, 1])
    with pytest.raises(ValueError, match="grayscale"):
        plot_roi_grid(np.zeros((3, 8, 8, 3)))
    with pytest.raises(ValueError, match="perfect square"):
        plot_roi_grid(np.zeros((3, 10)))
